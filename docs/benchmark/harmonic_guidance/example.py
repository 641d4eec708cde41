#!/usr/bin/env python
"""One edit with and without harmonic guidance, drawn: the source and the edit (the command line's other defaults)
at `--harmonic-guidance 0` and at S, as spectrograms up to 1 kHz with the asked F0 and twice it overlaid, the frames
the tracker-free octave check (`metrics.harmonic_octave_classes`) calls an octave off marked in red.

    python docs/benchmark/harmonic_guidance/example.py CLIP.wav SHIFT S OUT.png   # MODEL=DIR: another model
"""
import sys

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")
import librosa  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from latentdiff_edit.apps.editing import ClipEdit, EditSettings, edit_jobs, prepare_job  # noqa: E402
from latentdiff_edit.attributes import moved_f0  # noqa: E402
from latentdiff_edit.evaluation.metrics import extra_octave_jumps, f0_contour, harmonic_octave_classes  # noqa: E402

sys.path.insert(0, "docs/benchmark")
from gate_sets import load_model  # noqa: E402

torch.set_num_threads(1)
path, shift, scale, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
pipe = load_model()
sr = pipe.sampling_rate
job = prepare_job(path, sr, EditSettings(), ClipEdit(pitch_shift=shift))
source = job.source
target = moved_f0(f0_contour(source, sr).astype(np.float64), shift)
panels = [(source, "source", None)]
for s in (0.0, scale):
    edited = edit_jobs(pipe, [job], EditSettings(harmonic_guidance=s), report=False)[0].audio
    classes = harmonic_octave_classes(edited, sr, target)
    off = np.flatnonzero(np.abs(classes) == 1)
    jumps = extra_octave_jumps(source, edited, sr)
    label = f"edit {shift:+g} st, harmonic guidance {s:g}:\n{len(off)} of {int(np.sum(target > 0))} voiced frames " \
            f"an octave off, {jumps} extra Praat jumps"
    print(label.replace(chr(10), ' '))
    panels.append((edited, label, off))

fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
hop, n_fft = sr // 100, 2048
times = (np.arange(len(target)) + 0.5) / 100
asked = np.where(target > 0, target, np.nan)
for ax, (audio, title, off) in zip(axes, panels):
    spec = librosa.amplitude_to_db(np.abs(librosa.stft(audio, n_fft=n_fft, hop_length=hop)), ref=np.max)
    ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=-70, vmax=0,
              extent=[0, spec.shape[1] / 100, 0, sr / 2])
    ax.set_ylim(0, 1000)
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("s")
    if off is not None:
        ax.plot(times, asked, color="cyan", lw=0.8, label="asked F0")
        ax.plot(times, 2 * asked, color="cyan", lw=0.6, ls=":", label="2 x asked")
        ax.scatter(times[off], np.full(len(off), 960), s=8, color="red", marker="|", label="octave off (check)")
        ax.legend(fontsize=7, loc="upper right")
axes[0].set_ylabel("Hz")
fig.tight_layout()
fig.savefig(out, dpi=60)
from PIL import Image  # noqa: E402  (a 256-colour palette keeps the PNG small enough for the repository)

Image.open(out).convert("RGB").quantize(colors=128).save(out, optimize=True)
