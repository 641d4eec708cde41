#!/usr/bin/env python
"""Validate the harmonic octave check (`metrics.harmonic_octave_classes`) on renderings whose octave is known: each
real clip resynthesized by WORLD (Harvest F0, CheapTrick envelope, D4C aperiodicity) with its F0 moved by a known
amount, judged against an asked shift of +-3 st. A rendering at the asked F0 should be called "at target" or
aperiodic, almost never an octave off; one 12 st above or below the asked F0 should be called an octave above /
below on most of its periodic frames; one left at the source's F0 (the edit not landing) or white noise should be
aperiodic at the asked scale, not an octave error.

    python docs/benchmark/octave_check/validate.py OUT.json lv cast tts    # sets as in ../octave_repair/independent_check.py

Prints and writes, per set and rendering, the share of the source's voiced frames in each class, and plots them
beside the JSON (OUT.png); `validate.py OUT.json --plot` redraws the plot from a written OUT.json."""
import json
import sys
from pathlib import Path

import numpy as np
import pyworld
import torch

from latentdiff_edit.attributes import moved_f0
from latentdiff_edit.evaluation.benchmark.clips import read_clip, read_clips
from latentdiff_edit.evaluation.metrics import f0_contour, harmonic_octave_classes

sys.path.insert(0, "docs/benchmark")
from gate_sets import SETS  # noqa: E402

torch.set_num_threads(1)
SR = 24000
# (asked shift, rendered shift): rendered None = white noise of the clip's RMS
RENDERINGS = {"source at its own F0": (0, 0), "+3 rendered +3": (3, 3), "+3 rendered +15 (octave above)": (3, 15),
              "+3 rendered -9 (octave below)": (3, -9), "+3 rendered 0 (not landed)": (3, 0),
              "-3 rendered -3": (-3, -3), "-3 rendered +9 (octave above)": (-3, 9),
              "-3 rendered -15 (octave below)": (-3, -15), "+3 white noise": (3, None)}
NAMES = {2: "at_target", -1: "octave_below", 1: "octave_above", 0: "aperiodic"}


def world_shift(audio, semitones):
    x = audio.astype(np.float64)
    f0, t = pyworld.harvest(x, SR, frame_period=5.0)
    sp, ap = pyworld.cheaptrick(x, f0, t, SR), pyworld.d4c(x, f0, t, SR)
    return pyworld.synthesize(f0 * 2 ** (semitones / 12), sp, ap, SR, 5.0)


def plot(results: dict, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"at_target": "tab:green", "octave_below": "tab:blue", "octave_above": "tab:red", "aperiodic": "0.8"}
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4.6), squeeze=False, sharey=True)
    for ax, (name, rows) in zip(axes[0], results.items()):
        labels = list(rows)
        left = np.zeros(len(labels))
        for key, color in colors.items():
            values = np.array([rows[label][key] for label in labels])
            ax.barh(range(len(labels)), values, left=left, color=color, label=key.replace("_", " "))
            left += values
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("share of the source's voiced frames", fontsize=8)
        ax.set_title(f"{name} ({rows[labels[0]]['frames']} frames)", fontsize=9)
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle("harmonic octave check on WORLD resyntheses of known octave", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=72)


if sys.argv[2:] == ["--plot"]:
    plot(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[1]).with_suffix(".png"))
    sys.exit(0)
out = {}
for name in sys.argv[2:]:
    counts = {r: dict.fromkeys(NAMES.values(), 0) for r in RENDERINGS}
    for clip in read_clips(Path(SETS[name])):
        audio = read_clip(clip["path"], SR, 60.0).astype(np.float64)
        source_f0 = f0_contour(audio, SR).astype(np.float64)
        for label, (asked, rendered) in RENDERINGS.items():
            if rendered is None:
                y = np.random.default_rng(0).normal(size=len(audio)) * audio.std()
            else:
                y = audio if rendered == 0 else world_shift(audio, rendered)
            classes = harmonic_octave_classes(y, SR, moved_f0(source_f0, asked))
            for c, key in NAMES.items():
                counts[label][key] += int(np.sum(classes == c))
    out[name] = {label: {k: round(v / max(1, sum(c.values())), 3) for k, v in c.items()} | {
        "frames": sum(c.values())} for label, c in counts.items()}
    for label, shares in out[name].items():
        print(f"{name:5s} {label:34s}", " ".join(f"{k} {v}" for k, v in shares.items()), flush=True)
Path(sys.argv[1]).write_text(json.dumps(out, indent=1) + "\n")
plot(out, Path(sys.argv[1]).with_suffix(".png"))
