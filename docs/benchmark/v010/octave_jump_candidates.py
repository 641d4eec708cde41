#!/usr/bin/env python
"""Where the octave jumps of +-3 st pitch edits come from: each clip edited four ways at the command-line defaults
(12 steps, guidance 2 against the source, depth 0.7 lowering / 0.8 raising) -- "default" (voiced frames, inversion
auto: DDPM to lower, DDIM to raise), "region_all" (every frame regenerated), "ddpm_seed1" (DDPM inversion with other
noise maps, both directions), "other_method" (DDIM to lower, DDPM to raise) -- and the extra octave jumps of each
counted by Praat (`extra_octave_jumps`, the benchmark's figure) and by WORLD's Harvest tracker.

    python docs/benchmark/v010/octave_jump_candidates.py OUT.json lv cast    # MODEL=DIR: another pipeline folder

SET: lv (the LibriVox clips), tts, ast, ctts, cast (the manifests of docs/benchmark/v071/make_tts_male_test14.py)."""
import json
import sys
from pathlib import Path

import torch

from latentdiff_edit.defaults import auto_inversion_depth
from latentdiff_edit.evaluation.benchmark.clips import read_clip, read_clips
from latentdiff_edit.evaluation.metrics import OCTAVE_JUMP_SEMITONES, _f0_jumps, extra_octave_jumps, world_f0
from latentdiff_edit.inversion import auto_inversion_method

sys.path.insert(0, "docs/benchmark")
from gate_sets import SETS, load_model  # noqa: E402

pipe = load_model()
sr = pipe.sampling_rate



def jumps_world(audio):
    """F0 jumps as `extra_octave_jumps` counts them (same threshold and gap), on WORLD Harvest's contour."""
    return _f0_jumps(world_f0(audio, sr, method="harvest"), OCTAVE_JUMP_SEMITONES, max_gap_frames=3)


out = {}
for name in sys.argv[2:]:
    for clip in read_clips(Path(SETS[name])):
        source = read_clip(clip["path"], sr, 30.0)
        src_world = jumps_world(source)
        inversions = {}

        def inv(method, depth, seed=0, source=source, inversions=inversions):
            key = (method, depth, seed)
            if key not in inversions:
                inversions[key] = pipe.invert(torch.from_numpy(source), sr, num_inference_steps=12,
                                              inversion_depth=depth, method=method,
                                              generator=torch.Generator("cpu").manual_seed(seed))
            return inversions[key]
        for shift in (-3.0, 3.0):
            method, depth = auto_inversion_method(shift), auto_inversion_depth(shift)
            other = "ddim" if method == "ddpm" else "ddpm"
            cands = {"default": (inv(method, depth), "voiced"), "region_all": (inv(method, depth), "all"),
                     "ddpm_seed1": (inv("ddpm", depth, 1), "voiced"), "other_method": (inv(other, depth), "voiced")}
            row = {}
            for label, (inversion, region) in cands.items():
                o = pipe(inversion=inversion, pitch_shift=shift, guidance_scale=2.0, guidance_reference="source",
                         generator=torch.Generator("cpu").manual_seed(0), output_type="np", edit_region=region)
                audio = o.audios[0, : o.num_samples[0]]
                row[label] = {"praat": extra_octave_jumps(source, audio, sr),
                              "world": max(0, jumps_world(audio) - src_world)}
            out[f"{name}/{clip['clip_id']}/{shift:+g}"] = row
            print(name, clip["clip_id"][:30], shift, {k: (v["praat"], v["world"]) for k, v in row.items()}, flush=True)
        json.dump(out, open(sys.argv[1], "w"), indent=1)
tot = {k: sum(r[k]["praat"] for r in out.values()) for k in next(iter(out.values()))}
print("TOTAL praat", tot, "world", {k: sum(r[k]["world"] for r in out.values()) for k in tot})
