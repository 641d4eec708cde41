"""The disentanglement report of one edit: for every attribute, what was asked and what was measured, including the
attributes that were not asked to change. One function, used by the command line, batch jobs and the demo.

    >>> report = edit_report(source, edited, 16000, pitch_shift=2.0, intonation_scale=1.3)
    >>> print(format_report(report))
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ..features import measure_attributes
from ._optional import is_available
from .metrics import pitch_shift_semitones, speaker_similarity, speech_duration

# attribute -> (unit, how the requested value reads when the attribute is not asked to change)
REPORT_ATTRIBUTES = {
    "pitch": ("st", 0.0),  # median shift of F0 over frames voiced in both clips
    "f0_spread": ("ratio", 1.0),  # F0 standard deviation in semitones, edited / source (intonation)
    "loudness": ("dB", 0.0),  # RMS level of the speech frames, edited - source
    "rate": ("ratio", 1.0),  # voiced segments per second of speech, edited / source
    "duration": ("ratio", 1.0),  # speech duration (silence trimmed), edited / source
    "speaker_similarity": ("cosine", 1.0),  # Resemblyzer embeddings of source and edit (needs `resemblyzer`)
}


def edit_report(
    source: np.ndarray,
    edited: np.ndarray,
    sampling_rate: int,
    pitch_shift: float = 0.0,
    intonation_scale: float = 1.0,
    energy_shift: float = 0.0,
    rate: float = 1.0,
    attributes: Mapping | None = None,
    speaker: bool = True,
) -> dict:
    """
    What an edit asked for and what it did, attribute by attribute.

    Args:
        source (`np.ndarray`): the unedited clip `(num_samples,)` (the span that was edited).
        edited (`np.ndarray`): the edit's output for it.
        sampling_rate (`int`): rate of both.
        pitch_shift (`float`, *optional*, defaults to 0.0): requested semitones.
        intonation_scale (`float`, *optional*, defaults to 1.0): requested F0-spread ratio.
        energy_shift (`float`, *optional*, defaults to 0.0): requested loudness change in dB.
        rate (`float`, *optional*, defaults to 1.0): requested speaking-rate factor (duration ratio `1 / rate`).
        attributes (`dict`, *optional*): other requested target values (e.g. `{"style": "high-wide-fast"}`), reported
            as requested; a measurable one (`rate`, `intonation`) also gets the edit's measured absolute value.
        speaker (`bool`, *optional*, defaults to `True`): measure speaker similarity when `resemblyzer` is installed.

    Returns:
        `dict`: `{"attributes": {name: {"requested", "measured", "unit", "asked", "source", "edited"}}, "targets":
        {name: {"requested", "measured"}}}`; a value that cannot be measured (nothing voiced, no resemblyzer) is None.
    """
    source = np.asarray(source, dtype=np.float64)
    edited = np.asarray(edited, dtype=np.float64)
    before, after = measure_attributes(source, sampling_rate), measure_attributes(edited, sampling_rate)
    requested = {"pitch": pitch_shift, "f0_spread": intonation_scale, "loudness": energy_shift, "rate": rate,
                 "duration": 1.0 / rate, "speaker_similarity": None}
    measured = {
        "pitch": _safe(lambda: pitch_shift_semitones(source, edited, sampling_rate)),
        "f0_spread": _ratio(after["f0_spread_st"], before["f0_spread_st"]),
        "loudness": after["loudness_db"] - before["loudness_db"],
        "rate": _ratio(after["rate"], before["rate"]),
        "duration": _ratio(_safe(lambda: speech_duration(edited, sampling_rate)),
                           _safe(lambda: speech_duration(source, sampling_rate))),
        "speaker_similarity": _safe(lambda: speaker_similarity(source, edited, sampling_rate))
        if speaker and is_available("resemblyzer") else None,
    }
    absolute = {"pitch": ("f0_median_hz", "Hz"), "f0_spread": ("f0_spread_st", "st"), "loudness": ("loudness_db", "dB"),
                "rate": ("rate", "/s"), "duration": ("speech_duration_s", "s")}
    report = {"attributes": {}, "targets": {}}
    for name, (unit, identity) in REPORT_ATTRIBUTES.items():
        entry = {"requested": requested[name], "measured": _clean(measured[name]), "unit": unit,
                 "asked": requested[name] is not None and requested[name] != identity}
        if name in absolute:
            key, absolute_unit = absolute[name]
            entry.update(source=_clean(before[key]), edited=_clean(after[key]), absolute_unit=absolute_unit)
        report["attributes"][name] = entry
    measurable = {"intonation": "f0_spread_st", "rate": "rate", "pitch": "f0_median_hz", "loudness": "loudness_db"}
    for name, value in (attributes or {}).items():
        report["targets"][name] = {"requested": value,
                                   "measured": _clean(after[measurable[name]]) if name in measurable else None}
    return report


def format_report(report: dict) -> str:
    """The report as a table for a terminal: one row per attribute, asked ones marked with `*`."""
    lines = [f"{'attribute':<20}{'requested':>11}{'measured':>11}  unit     source -> edited"]
    for name, entry in report["attributes"].items():
        requested = "n/a" if entry["requested"] is None else f"{entry['requested']:+.2f}" if entry["unit"] in (
            "st", "dB") else f"x{entry['requested']:.2f}"
        measured = "n/a" if entry["measured"] is None else f"{entry['measured']:+.2f}" if entry["unit"] in (
            "st", "dB") else (f"{entry['measured']:.2f}" if entry["unit"] == "cosine" else f"x{entry['measured']:.2f}")
        if entry["unit"] == "cosine":
            requested = "-"
        detail = ""
        if "source" in entry:
            detail = f"{_text(entry['source'])} -> {_text(entry['edited'])} {entry['absolute_unit']}"
        mark = "*" if entry["asked"] else " "
        lines.append(f"{mark}{name:<19}{requested:>11}{measured:>11}  {entry['unit']:<8} {detail}")
    for name, entry in report["targets"].items():
        lines.append(f"*{name:<19}{str(entry['requested']):>11}{_text(entry['measured']):>11}  (set)")
    return "\n".join(lines)


def _text(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _ratio(numerator, denominator):
    if numerator is None or denominator is None or not (denominator > 0) or not math.isfinite(numerator):
        return None
    return numerator / denominator


def _safe(fn):
    # A tracker failing on an odd clip leaves its figure empty; it never fails the edit.
    try:
        value = float(fn())
    except Exception:
        return None
    return value if math.isfinite(value) else None


def _clean(value):
    if value is None:
        return None
    value = float(value)
    return round(value, 4) if math.isfinite(value) else None
