"""The benchmark's figures (matplotlib's object-oriented API: no pyplot global state)."""

from __future__ import annotations

import textwrap
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

from ..metrics import f0_contour
from .measures import finite_median
from .methods import METHODS
from .report import example_name, file_label

# Before/after figures are drawn for this many clips.
NUM_EXAMPLE_CLIPS = 2


def _figure(width: float, height: float, command: str):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    # every figure carries the command that produced it
    footer = "\n".join(textwrap.wrap(command, width=int(width * 17))) or " "
    figure.supxlabel(footer, x=0.005, ha="left", fontsize=5.5, family="monospace", color="0.35")
    return figure


def plot_accuracy(path: Path, outputs: list[dict], kind: str, key: str, ylabel: str, command: str) -> bool:
    """Achieved vs requested value per method (dots: clips; line: medians) with the identity line."""
    by_method = defaultdict(lambda: defaultdict(list))
    for output in outputs:
        if output["kind"] == kind and output.get(key) is not None:
            by_method[output["method"]][float(output["value"])].append(output[key])
    if not by_method:
        return False
    figure = _figure(6.5, 5.0, command)
    axis = figure.subplots()
    requested = sorted({value for points in by_method.values() for value in points})
    step = float(np.min(np.diff(requested))) if len(requested) > 1 else 1.0
    span = [requested[0] - step / 2, requested[-1] + step / 2]
    axis.plot(span, span, color="0.6", linestyle="--", label="identity (requested)")
    spacing = 0.06 * step  # methods side by side at each requested value
    for offset, (method, points) in enumerate(by_method.items()):
        jitter = (offset - (len(by_method) - 1) / 2) * spacing
        values = sorted(points)
        (line,) = axis.plot([v + jitter for v in values], [np.median(points[v]) for v in values], marker="o",
                            label=method)
        for value in values:
            axis.scatter([value + jitter] * len(points[value]), points[value], s=10, alpha=0.4, color=line.get_color())
    axis.set_xlabel(f"requested {kind}")
    axis.set_ylabel(ylabel)
    axis.set_title(f"{kind}: achieved vs requested")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.savefig(path, dpi=110)
    return True


def plot_bars(path: Path, outputs: list[dict], key: str, ylabel: str, command: str, reference=None) -> bool:
    """Median (bar) and interquartile range (whisker) of one figure per method, over all its edits and clips."""
    values = defaultdict(list)
    for output in outputs:
        if output.get(key) is not None:
            values[output["method"]].append(output[key])
    methods = [m for m in METHODS if values.get(m)]
    if not methods:
        return False
    figure = _figure(6.5, 4.2, command)
    axis = figure.subplots()
    medians = [np.median(values[m]) for m in methods]
    low = [medians[i] - np.percentile(values[m], 25) for i, m in enumerate(methods)]
    high = [np.percentile(values[m], 75) - medians[i] for i, m in enumerate(methods)]
    axis.bar(methods, medians, yerr=[low, high], capsize=4, color="tab:blue", alpha=0.8)
    for i, m in enumerate(methods):
        axis.annotate(f"n={len(values[m])}", (i, 0), ha="center", va="bottom", fontsize=7, color="white")
    if reference is not None:
        axis.axhline(reference, color="tab:red", linestyle="--", label="source")
        axis.legend(fontsize=8)
    axis.set_ylabel(ylabel)
    axis.set_title(f"{ylabel} per method (median, IQR)")
    axis.grid(axis="y", alpha=0.3)
    figure.savefig(path, dpi=110)
    return True


def plot_example(path: Path, folder: Path, files: list[dict], edit: str, title: str, command: str) -> None:
    """Spectrograms of the source and of each method's output for one edit, and all their F0 contours."""
    chosen = [f for f in files if f["method"] == "source"] + [f for f in files if f["edit"] == edit]
    clips = [(f["method"], *sf.read(folder / f["path"], dtype="float32")) for f in chosen]
    figure = _figure(9.0, 1.5 * len(clips) + 2.4, command)
    axes = figure.subplots(len(clips) + 1, 1, sharex=True)
    for axis, (method, audio, sr) in zip(axes, clips):
        hop = round(0.01 * sr)
        with np.errstate(divide="ignore"):  # digital silence is -inf dB, drawn as the floor
            axis.specgram(audio, NFFT=4 * hop, Fs=sr, noverlap=3 * hop, cmap="magma", scale="dB")
        axis.set_ylabel(f"{method}\nHz", fontsize=8)
    for method, audio, sr in clips:
        f0 = f0_contour(audio, sr)
        times = (np.arange(len(f0)) + 0.5) * 0.01
        axes[-1].plot(times, np.where(f0 > 0, f0, np.nan), "-" if method == "source" else "--", label=method)
    axes[-1].set_ylabel("F0 (Hz)", fontsize=8)
    axes[-1].set_xlabel("time (s)")
    axes[-1].legend(fontsize=7, ncol=3)
    figure.suptitle(title)
    figure.savefig(path, dpi=90)


def write_plots(output_dir: Path, report: dict, command: str) -> list[str]:
    clips = [c for c in report["clips"] if "error" not in c]
    outputs = [o for c in clips for o in c.get("outputs", []) if o.get("status") == "ok"]
    written = []
    if plot_accuracy(output_dir / "pitch_accuracy.png", outputs, "pitch", "achieved_shift_st",
                     "achieved shift (semitones)", command):
        written.append("pitch_accuracy.png")
    if plot_accuracy(output_dir / "intonation_accuracy.png", outputs, "intonation", "spread_ratio",
                     "achieved F0 spread ratio", command):
        written.append("intonation_accuracy.png")
    if plot_bars(output_dir / "speaker_similarity.png", outputs, "speaker_similarity",
                 "speaker similarity to source", command):
        written.append("speaker_similarity.png")
    source_wer = finite_median(c["source"].get("wer") for c in clips)
    if plot_bars(output_dir / "wer.png", outputs, "wer", "WER", command, reference=source_wer):
        written.append("wer.png")
    for clip in [c for c in clips if c.get("examples")][:NUM_EXAMPLE_CLIPS]:
        folder = output_dir / "examples" / example_name(clip)
        edits = list(dict.fromkeys(f["edit"] for f in clip["examples"] if f["method"] != "source"))
        for edit in edits:
            name = f"example_{example_name(clip)}_{file_label(edit)}.png"
            plot_example(output_dir / name, folder, clip["examples"], edit, f"{clip['clip_id']}: {edit}", command)
            written.append(name)
    return written
