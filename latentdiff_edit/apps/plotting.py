"""A before/after figure of an edit: both spectrograms and both F0 contours."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..audio import atomic_output
from ..features import extract_f0

F0_HOP_SECONDS = 0.01


def plot_edit(
    path: str | os.PathLike, source: np.ndarray, edited: np.ndarray, sampling_rate: int, title: str | None = None
) -> Path:
    """
    Save a figure (PNG, or any format matplotlib infers from the extension) with the spectrograms of `source` and
    `edited` and their Praat F0 contours on one axis. Written atomically like the audio outputs.

    Args:
        path (`str` or `os.PathLike`): the image file.
        source, edited (`np.ndarray` of shape `(num_samples,)`): mono audio at `sampling_rate`.
        sampling_rate (`int`): their rate.
        title (`str`, *optional*): the figure's title, e.g. the edit.
    """
    # The object-oriented API draws with the Agg canvas and leaves pyplot's global backend state alone.
    from matplotlib.figure import Figure

    path = Path(path)
    figure = Figure(figsize=(10, 7), layout="constrained")
    spectrogram_axes = figure.subplots(3, 1, sharex=True)
    hop = round(F0_HOP_SECONDS * sampling_rate)
    window = 4 * hop
    for axis, audio, label in ((spectrogram_axes[0], source, "source"), (spectrogram_axes[1], edited, "edited")):
        axis.specgram(audio, NFFT=window, Fs=sampling_rate, noverlap=window - hop, cmap="magma", scale="dB")
        axis.set_ylabel(f"{label}\nfrequency (Hz)")
    f0_axis = spectrogram_axes[2]
    for audio, label, style in ((source, "source", "-"), (edited, "edited", "--")):
        f0 = extract_f0(audio, sampling_rate, hop_length=hop)
        times = (np.arange(len(f0)) + 0.5) * hop / sampling_rate
        f0_axis.plot(times, np.where(f0 > 0, f0, np.nan), style, label=label)
    f0_axis.set_ylabel("F0 (Hz)")
    f0_axis.set_xlabel("time (s)")
    f0_axis.legend(loc="upper right")
    if title:
        figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format=path.suffix.lstrip(".") or "png", dpi=100)
    return path
