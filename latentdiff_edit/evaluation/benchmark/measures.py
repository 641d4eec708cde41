"""The benchmark's measurements of a source and of each output: metrics that may fail one by one (each failure is
recorded, never fatal), time and memory."""

from __future__ import annotations

import math
import resource
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
import torch

from ...attributes import MEASURABLE
from ...features import measure_attributes
from ..metrics import (
    alignment_drift,
    dnsmos,
    extra_octave_jumps,
    f0_spread_semitones,
    log_mel_distance,
    median_f0,
    mel_cepstral_distance,
    normalize_text,
    octave_off_frames,
    pesq_wb,
    pitch_shift_semitones,
    silent_frame_energy_excess_db,
    speaker_similarity,
    speech_duration,
    stoi,
    transcribe,
    word_error_rate,
)
from .methods import Edit


def clean_value(value):
    """JSON-ready: numpy scalars to floats, NaN and infinities to None, rounded so the file stays readable."""
    if isinstance(value, dict):
        return {k: clean_value(v) for k, v in value.items()}
    if isinstance(value, (float, np.floating)):
        return round(float(value), 5) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def record_metric(record: dict, name: str, metric: Callable, *args):
    """`record[name] = metric(*args)`. A metric that fails (a missing `[eval]` package, an unvoiced output, ...)
    leaves None and its error under `record["metric_errors"]`: one bad figure never stops the benchmark."""
    try:
        value = metric(*args)
    except Exception as error:
        record[name] = None
        record.setdefault("metric_errors", {})[name] = f"{type(error).__name__}: {error}"[:300]
        return None
    record[name] = clean_value(value)
    return value


def _ratio(numerator, denominator):
    if numerator is None or denominator is None or not denominator or not math.isfinite(numerator / denominator):
        return None
    return numerator / denominator


def _reset_peak_rss() -> bool:
    # Linux lets a process reset its own peak RSS (VmHWM) by writing 5 to clear_refs, so each method gets its own
    # peak; elsewhere only the process-lifetime peak of getrusage is known.
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _memory_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    if field == "VmHWM":
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024.0  # bytes on macOS, kB on Linux
    return None


@contextmanager
def measure_cost(record: dict, audio_seconds: float, device: torch.device, extra_seconds: float = 0.0):
    """Wall time, real-time factor `(seconds + extra_seconds) / audio_seconds`, and peak memory of the block: the
    process's peak resident memory and its rise over the start of the block (CPU), or the peak allocated by torch
    (GPU)."""
    per_block = _reset_peak_rss()
    rss_before = _memory_mb("VmRSS")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    yield
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    peak = _memory_mb("VmHWM")
    record["seconds"] = clean_value(seconds + extra_seconds)
    record["rtf"] = clean_value((seconds + extra_seconds) / audio_seconds)
    record["peak_rss_mb"] = clean_value(peak)
    if per_block and rss_before is not None and peak is not None:
        record["peak_rss_increase_mb"] = clean_value(max(peak - rss_before, 0.0))
    if device.type == "cuda":
        record["cuda_peak_mb"] = clean_value(torch.cuda.max_memory_allocated(device) / 2**20)


def measure_source(source: np.ndarray, sampling_rate: int, text: str | None, asr: str) -> dict:
    figures = {}
    record_metric(figures, "median_f0_hz", median_f0, source, sampling_rate)
    record_metric(figures, "f0_spread_st", f0_spread_semitones, source, sampling_rate)
    record_metric(figures, "speech_duration_s", speech_duration, source, sampling_rate)
    _measure_dnsmos(figures, source, sampling_rate)
    if text and asr != "none":
        transcript = record_metric(figures, "transcript", transcribe, source, sampling_rate, asr)
        if transcript is not None:
            record_metric(figures, "wer", word_error_rate, text, transcript)
            figures["reference_words"] = len(normalize_text(text).split())
    return figures


def _measure_dnsmos(record: dict, audio: np.ndarray, sampling_rate: int) -> None:
    scores = record_metric(record, "dnsmos", dnsmos, audio, sampling_rate)
    record.pop("dnsmos")
    for key in ("ovrl", "sig", "bak", "p808"):
        record[f"dnsmos_{key}"] = clean_value(scores[f"{key}_mos"]) if scores else None


def measure_output(
    source: np.ndarray,
    output: np.ndarray,
    sampling_rate: int,
    edit: Edit,
    source_figures: dict,
    text: str | None,
    asr: str,
    reference_based: bool = False,
    codec_audio: np.ndarray | None = None,
) -> dict:
    """Every figure of one output against its source; see the module docstring. With `codec_audio` (the codec round
    trip of the source), also the pauses (`silent_energy_excess_db`: how much louder the output's pauses are than
    the round trip's; None when the source has no pause or the edit retimes it) and `extra_octave_jumps`. For pitch and
    intonation edits and the round trip itself, the tracker-free `octave_check` (`metrics.octave_off_frames`) with its
    `octave_off_share`."""
    m = {}
    if codec_audio is not None:
        try:
            m["silent_energy_excess_db"] = clean_value(
                silent_frame_energy_excess_db(source, output, codec_audio, sampling_rate))
        except ValueError:
            m["silent_energy_excess_db"] = None
        record_metric(m, "extra_octave_jumps", extra_octave_jumps, source, output, sampling_rate)
    if edit.kind in ("pitch", "intonation", "none"):  # the asked F0 is the source's (moved): judge the octave
        check = record_metric(m, "octave_check", octave_off_frames, source, output, sampling_rate,
                              edit.pitch_shift, edit.intonation_scale)
        m["octave_off_share"] = clean_value(check["extra_share"]) if check is not None else None
    achieved = record_metric(m, "achieved_shift_st", pitch_shift_semitones, source, output, sampling_rate)
    m["shift_error_st"] = clean_value(abs(achieved - edit.pitch_shift)) if achieved is not None else None
    spread = record_metric(m, "f0_spread_st", f0_spread_semitones, output, sampling_rate)
    source_spread = source_figures.get("f0_spread_st")
    m["spread_ratio"] = clean_value(_ratio(spread, source_spread))
    m["spread_change_st"] = clean_value(spread - source_spread) if None not in (spread, source_spread) else None
    if edit.kind == "intonation" and m["spread_ratio"] is not None:
        m["intonation_error"] = clean_value(abs(m["spread_ratio"] - edit.intonation_scale))
    if edit.kind in MEASURABLE and edit.kind not in ("pitch", "intonation"):
        # an absolute target of a measurable attribute (e.g. rate): what the output measures
        record_metric(m, "achieved_value", lambda: measure_attributes(np.asarray(output, np.float64), sampling_rate)[
            MEASURABLE[edit.kind]])
    record_metric(m, "speaker_similarity", speaker_similarity, source, output, sampling_rate)
    duration = record_metric(m, "speech_duration_s", speech_duration, output, sampling_rate)
    m["duration_ratio"] = clean_value(_ratio(duration, source_figures.get("speech_duration_s")))
    record_metric(m, "alignment_drift", alignment_drift, source, output, sampling_rate)
    record_metric(m, "mcd_db", mel_cepstral_distance, source, output, sampling_rate)
    _measure_dnsmos(m, output, sampling_rate)
    if reference_based:
        record_metric(m, "stoi", stoi, source, output, sampling_rate)
        record_metric(m, "pesq", pesq_wb, source, output, sampling_rate)
        record_metric(m, "log_mel_vs_source", log_mel_distance, source, output, sampling_rate)
    if text and asr != "none":
        transcript = record_metric(m, "transcript", transcribe, output, sampling_rate, asr)
        if transcript is not None:
            record_metric(m, "wer", word_error_rate, text, transcript)
            m["reference_words"] = len(normalize_text(text).split())
    return m


def finite_median(values) -> float | None:
    values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(np.median(values)) if values else None
