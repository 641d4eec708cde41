#!/usr/bin/env python
"""The octave repair checked with a tracker it does not use: each clip edited +-3 st through the command line's code
(`apps.editing.edit_jobs`, defaults) with `octave_repair` 0 and 2, and each output's F0 tracked by WORLD's Harvest
(the repair and the benchmark track with Praat): the extra octave jumps Harvest sees (against the source's own) and the
share of frames voiced in both the output and the source whose F0 lies more than 6 st from the source's shifted by
the asked amount. With TRACKERS=praat,harvest,crepe the same figures also come from CREPE (torchcrepe's bundled `full`
model, or CREPE_MODEL=tiny; per-frame weighted-argmax decoding, since Viterbi decoding would smooth the very jumps it is
asked to count; voiced where its periodicity, median-filtered over 3 frames, is at least 0.21 and the frame is above
-60 dB: torchcrepe's documented recipe). CREPE is a third tracker trained on annotated real pitch, neither Praat's
autocorrelation nor WORLD's. HARMONIC=1 adds the tracker-free check of the evaluation suite
(`metrics.octave_off_frames`: which octave of the asked F0 the output's spectrum is periodic at, frame by frame).

    python docs/benchmark/octave_repair/independent_check.py OUT.json lv cast   # MODEL=DIR: another pipeline folder
    pip install torchcrepe && TRACKERS=praat,harvest,crepe python docs/benchmark/octave_repair/independent_check.py OUT.json lv cast
    COMPARE=harmonic HARMONIC=1 TRACKERS=praat,harvest,crepe python docs/benchmark/octave_repair/independent_check.py ...

SET: lv (the LibriVox clips) or a manifest of docs/benchmark/v071/make_tts_male_test14.py (tts, ast, ctts, cast)."""
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from latentdiff_edit.apps.editing import ClipEdit, EditSettings, edit_jobs, prepare_job
from latentdiff_edit.defaults import DEFAULT_HARMONIC_GUIDANCE
from latentdiff_edit.evaluation.benchmark.clips import read_clips
from latentdiff_edit.evaluation.metrics import (
    F0_CEILING_HZ,
    F0_FLOOR_HZ,
    OCTAVE_JUMP_SEMITONES,
    _f0_jumps,
    f0_contour,
    octave_off_frames,
    world_f0,
)

sys.path.insert(0, "docs/benchmark")
from gate_sets import SETS, load_model  # noqa: E402

pipe = load_model()
sr = pipe.sampling_rate


def harvest(audio):
    return world_f0(audio, sr, method="harvest")


def crepe(audio):
    import torchcrepe

    hop = sr // 100
    f0, periodicity = torchcrepe.predict(torch.as_tensor(audio, dtype=torch.float32)[None], sr, hop, fmin=F0_FLOOR_HZ,
                                         fmax=F0_CEILING_HZ, model=os.environ.get("CREPE_MODEL", "full"), batch_size=512,
                                         decoder=torchcrepe.decode.weighted_argmax, return_periodicity=True)
    periodicity = torchcrepe.filter.median(periodicity, 3)
    periodicity = torchcrepe.threshold.Silence(-60.0)(periodicity, torch.as_tensor(audio, dtype=torch.float32)[None],
                                                      sr, hop)
    f0 = torchcrepe.threshold.At(0.21)(f0, periodicity)
    return torch.nan_to_num(f0, nan=0.0)[0].numpy().astype(np.float64)


# The two settings compared, under the keys of the first run ("r0": repair off, "r2": two tries), both without harmonic
# guidance; COMPARE=harmonic compares harmonic guidance off ("r0") and at the command line's default ("r2") instead.
VARIANTS = {"r0": {"octave_repair": 0, "harmonic_guidance": 0.0}, "r2": {"octave_repair": 2, "harmonic_guidance": 0.0}}
if os.environ.get("COMPARE") == "harmonic":
    VARIANTS = {"r0": {"harmonic_guidance": 0.0}, "r2": {"harmonic_guidance": DEFAULT_HARMONIC_GUIDANCE}}
TRACKERS = {"harvest": harvest, "crepe": crepe, "praat": lambda audio: f0_contour(audio, sr)}
USED = os.environ.get("TRACKERS", "harvest").split(",")
FIGURES = [f"{t}_{m}" for t in USED for m in ("extra_jumps", "off_frames", "voiced_frames")] + (
    [f"harmonic_{m}" for m in ("voiced_frames", "octave_below", "octave_above", "aperiodic", "source_octave_off")]
    if os.environ.get("HARMONIC") else [])


def tracker_figures(tracker, source_f0, output, shift):
    f0 = TRACKERS[tracker](output)
    n = min(len(f0), len(source_f0))
    asked, f0 = source_f0[:n] * 2 ** (shift / 12), f0[:n]
    both = (asked > 0) & (f0 > 0)
    off = 12 * np.abs(np.log2(f0[both] / asked[both])) > 6.0
    jumps = _f0_jumps(f0, OCTAVE_JUMP_SEMITONES, max_gap_frames=3) - _f0_jumps(source_f0, OCTAVE_JUMP_SEMITONES, 3)
    return {f"{tracker}_extra_jumps": max(0, int(jumps)), f"{tracker}_off_frames": int(off.sum()),
            f"{tracker}_voiced_frames": int(both.sum())}


def figures(source_f0s, output, shift, source):
    out = {}
    if os.environ.get("HARMONIC"):
        out |= {f"harmonic_{k}": v for k, v in octave_off_frames(source, output, sr, pitch_shift=shift).items()}
    for tracker in USED:
        out |= tracker_figures(tracker, source_f0s[tracker], output, shift)
    if "harvest" in USED:  # the keys of the first run (Harvest only), kept for its JSON files
        out["off_frames"], out["voiced_frames"] = out["harvest_off_frames"], out["harvest_voiced_frames"]
    return out


out = {}
for name in sys.argv[2:]:
    for clip in read_clips(Path(SETS[name])):
        source_f0s = None
        for shift in (-3.0, 3.0):
            row = {}
            for key, variant in VARIANTS.items():
                settings = EditSettings(**variant)
                job = prepare_job(clip["path"], sr, settings, ClipEdit(pitch_shift=shift))
                started = time.perf_counter()
                result = edit_jobs(pipe, [job], settings, report=False)[0]
                seconds = round(time.perf_counter() - started, 2)
                if source_f0s is None:
                    source_f0s = {t: TRACKERS[t](job.source) for t in USED}
                row[key] = figures(source_f0s, result.audio, shift, job.source) | {"seconds": seconds}
                if result.octave is not None:
                    row[key]["repair"] = {k: result.octave[k] for k in ("kept", "tries", "segments_redrawn")}
            out[f"{name}/{clip['clip_id']}/{shift:+g}"] = row
            print(name, clip["clip_id"][-24:], f"{shift:+g}", {k: {t: (v[f"{t}_extra_jumps"], v[f"{t}_off_frames"])
                                                                   for t in USED} | ({"harmonic below/above": (v["harmonic_octave_below"], v["harmonic_octave_above"])}
                                                                   if "harmonic_octave_below" in v else {})
                                                  for k, v in row.items()}, flush=True)
        Path(sys.argv[1]).write_text(json.dumps(out, indent=1) + "\n")
total = {k: {m: sum(r[k][m] for r in out.values()) for m in FIGURES} for k in ("r0", "r2")}
seconds = {k: round(float(np.median([r[k]["seconds"] for r in out.values()])), 2) for k in ("r0", "r2")}
print("TOTAL", total, "median seconds per edit", seconds)
Path(sys.argv[1]).write_text(json.dumps({"edits": out, "total": total, "median_seconds": seconds}, indent=1) + "\n")
