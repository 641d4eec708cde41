#!/usr/bin/env python
"""The octave repair checked with a tracker it does not use: each clip edited +-3 st through the command line's code
(`apps.editing.edit_jobs`, defaults) with `octave_repair` 0 and 2, and each output's F0 tracked by WORLD's Harvest
(the repair and the benchmark track with Praat): the extra octave jumps Harvest sees (against the source's own) and the
share of frames voiced in both the output and the source whose F0 lies more than 6 st from the source's shifted by
the asked amount.

    python docs/benchmark/octave_repair/independent_check.py OUT.json lv cast   # MODEL=DIR: another pipeline folder

SET: lv (the LibriVox clips) or a manifest of docs/benchmark/v071/make_tts_male_test14.py (tts, ast, ctts, cast)."""
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from latentdiff_edit import load_default_pipeline
from latentdiff_edit.apps.editing import ClipEdit, EditSettings, edit_jobs, prepare_job
from latentdiff_edit.evaluation.benchmark.clips import read_clips
from latentdiff_edit.evaluation.metrics import OCTAVE_JUMP_SEMITONES, _f0_jumps, world_f0
from latentdiff_edit.loading import load_pipeline

torch.set_num_threads(1)
pipe = load_pipeline(os.environ["MODEL"]) if os.environ.get("MODEL") else load_default_pipeline()
pipe.set_progress_bar_config(disable=True)
sr = pipe.sampling_rate
SETS = {"lv": "/usr/share/pocketsphinx/test/data/librivox", "tts": "runs/tts_male_test14.jsonl",
        "ast": "runs/asterisk_test10.jsonl", "ctts": "runs/confirm_test20.jsonl", "cast": "runs/asterisk_confirm12.jsonl"}


def harvest(audio):
    return world_f0(audio, sr, method="harvest")


def figures(source_f0, output, shift):
    f0 = harvest(output)
    n = min(len(f0), len(source_f0))
    asked, f0 = source_f0[:n] * 2 ** (shift / 12), f0[:n]
    both = (asked > 0) & (f0 > 0)
    off = 12 * np.abs(np.log2(f0[both] / asked[both])) > 6.0
    jumps = _f0_jumps(f0, OCTAVE_JUMP_SEMITONES, max_gap_frames=3) - _f0_jumps(source_f0, OCTAVE_JUMP_SEMITONES, 3)
    return {"harvest_extra_jumps": max(0, int(jumps)), "off_frames": int(off.sum()), "voiced_frames": int(both.sum())}


out = {}
for name in sys.argv[2:]:
    for clip in read_clips(Path(SETS[name])):
        for shift in (-3.0, 3.0):
            row = {}
            for tries in (0, 2):
                settings = EditSettings(octave_repair=tries)
                job = prepare_job(clip["path"], sr, settings, ClipEdit(pitch_shift=shift))
                started = time.perf_counter()
                result = edit_jobs(pipe, [job], settings, report=False)[0]
                row[f"r{tries}"] = figures(harvest(job.source), result.audio, shift) | {
                    "seconds": round(time.perf_counter() - started, 2)}
                if result.octave is not None:
                    row[f"r{tries}"]["repair"] = {k: result.octave[k] for k in ("kept", "tries", "segments_redrawn")}
            out[f"{name}/{clip['clip_id']}/{shift:+g}"] = row
            print(name, clip["clip_id"][-24:], f"{shift:+g}", {k: (v["harvest_extra_jumps"], v["off_frames"])
                                                               for k, v in row.items()}, flush=True)
        Path(sys.argv[1]).write_text(json.dumps(out, indent=1) + "\n")
total = {k: {m: sum(r[k][m] for r in out.values()) for m in ("harvest_extra_jumps", "off_frames", "voiced_frames")}
         for k in ("r0", "r2")}
seconds = {k: round(float(np.median([r[k]["seconds"] for r in out.values()])), 2) for k in ("r0", "r2")}
print("TOTAL", total, "median seconds per edit", seconds)
Path(sys.argv[1]).write_text(json.dumps({"edits": out, "total": total, "median_seconds": seconds}, indent=1) + "\n")
