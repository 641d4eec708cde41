#!/usr/bin/env python
"""One edit the harmonic octave check flags, drawn: the source and its edit (the command line's defaults) as
spectrograms up to 1.5 kHz, the asked F0 and its multiples overlaid, the frames the check calls an octave above /
below marked, and the mean spectrum of those frames against the asked F0's harmonics.

    python docs/benchmark/octave_check/example.py CLIP.wav SHIFT OUT.png [--save EDIT.wav]   # MODEL=DIR: another model
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
from latentdiff_edit.evaluation.metrics import f0_contour, harmonic_octave_classes  # noqa: E402

sys.path.insert(0, "docs/benchmark")
from gate_sets import load_model  # noqa: E402

torch.set_num_threads(1)
path, shift, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
pipe = load_model()
sr = pipe.sampling_rate
settings = EditSettings()
job = prepare_job(path, sr, settings, ClipEdit(pitch_shift=shift))
edited = edit_jobs(pipe, [job], settings, report=False)[0].audio
if "--save" in sys.argv:
    import soundfile as sf

    sf.write(sys.argv[sys.argv.index("--save") + 1], edited, sr)
source = job.source
target = moved_f0(f0_contour(source, sr).astype(np.float64), shift)
classes = harmonic_octave_classes(edited, sr, target)
off = np.flatnonzero(np.abs(classes) == 1)
print(f"{len(off)} of {int(np.sum(target > 0))} voiced frames an octave off "
      f"({int(np.sum(classes == 1))} above, {int(np.sum(classes == -1))} below)")

fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw={"width_ratios": [2, 2, 1.3]})
hop, n_fft = sr // 100, 2048
times = (np.arange(len(target)) + 0.5) / 100
for ax, audio, title in ((axes[0], source, "source"), (axes[1], edited, f"edit {shift:+g} st")):
    spec = librosa.amplitude_to_db(np.abs(librosa.stft(audio, n_fft=n_fft, hop_length=hop)), ref=np.max)
    ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=-70, vmax=0,
              extent=[0, spec.shape[1] / 100, 0, sr / 2])
    ax.set_ylim(0, 1500)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("s")
    asked = np.where(target > 0, target, np.nan)
    ax.plot(times, asked, color="cyan", lw=0.8, label="asked F0")
    ax.plot(times, 2 * asked, color="cyan", lw=0.6, ls=":", label="2 x asked")
axes[1].scatter(times[off], np.full(len(off), 1450), s=6, color="red", marker="|", label="octave off (check)")
axes[1].legend(fontsize=7, loc="upper left")
axes[0].set_ylabel("Hz")
if len(off):
    spec = np.abs(librosa.stft(edited[hop // 2:], n_fft=n_fft, hop_length=hop)) ** 2
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    frames = off[off < spec.shape[1]]
    f0 = float(np.median(target[frames]))
    axes[2].plot(freqs, 10 * np.log10(spec[:, frames].mean(axis=1) + 1e-12), color="black", lw=0.8)
    for k in range(1, 9):
        axes[2].axvline(k * f0, color="tab:green" if k % 2 == 0 else "tab:orange", lw=0.6, ls="--")
    axes[2].set_xlim(0, 9 * f0)
    axes[2].set_title(f"mean spectrum of the flagged frames\nasked F0 ~{f0:.0f} Hz: odd (orange) / even (green) "
                      "multiples", fontsize=8)
    axes[2].set_xlabel("Hz")
fig.tight_layout()
fig.savefig(out, dpi=72)
