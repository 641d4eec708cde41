"""Signal-processing baselines for pitch and intonation edits, through well-kept libraries (no DSP written here).

- WORLD (Morise et al., 2016) through `pyworld`: analysis (Harvest F0, CheapTrick envelope, D4C aperiodicity),
  F0 modified, resynthesis. Needs the `[eval]` extra.
- TD-PSOLA (Moulines & Charpentier, 1990) through Praat's Manipulation object (`parselmouth`, a core dependency):
  the PitchTier is modified and the sound resynthesised by overlap-add.
- Phase vocoder time stretch + resampling (Laroche & Dolson, 1999) through `torchaudio.functional.pitch_shift`
  (core dependency). It moves the formants with the pitch and has no intonation control.

Every function takes a mono float waveform and returns a float32 waveform of the same length. `BASELINES` maps a
name to a function of the common signature `(audio, sampling_rate, pitch_shift=0.0, intonation_scale=1.0)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import parselmouth
import torch
import torchaudio
from parselmouth.praat import call

from ..features import F0_CEILING_HZ, F0_FLOOR_HZ
from ._optional import import_optional
from .metrics import as_mono


def _fit_length(audio: np.ndarray, num_samples: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if len(audio) >= num_samples:
        return audio[:num_samples]
    return np.pad(audio, (0, num_samples - len(audio)))


def _check_edit(pitch_shift: float, intonation_scale: float) -> None:
    if not math.isfinite(pitch_shift):
        raise ValueError(f"`pitch_shift` must be a finite number of semitones, got {pitch_shift}.")
    if not (math.isfinite(intonation_scale) and intonation_scale >= 0):
        raise ValueError(f"`intonation_scale` must be a finite number >= 0, got {intonation_scale}.")


def world_pitch_shift(
    audio: np.ndarray,
    sampling_rate: int,
    semitones: float = 0.0,
    f0_scale: float = 1.0,
    frame_period: float = 5.0,
    f0_floor: float = F0_FLOOR_HZ,
    f0_ceiling: float = F0_CEILING_HZ,
) -> np.ndarray:
    """Pitch shift and intonation scaling with the WORLD vocoder (pyworld).

    On voiced frames the log-F0 becomes `mean + f0_scale * (log f0 - mean) + semitones`, in semitones, where `mean`
    is the clip's mean log-F0: the spectral envelope (formants) and aperiodicity are kept.

    Args:
        audio (`np.ndarray`):
            Mono waveform of shape `(num_samples,)`.
        sampling_rate (`int`):
            Sampling rate of `audio` in Hz.
        semitones (`float`, *optional*, defaults to 0.0):
            Pitch shift in semitones.
        f0_scale (`float`, *optional*, defaults to 1.0):
            Intonation factor: the spread of log-F0 around its mean is multiplied by it (0 = monotone).
        frame_period (`float`, *optional*, defaults to 5.0):
            WORLD analysis hop in milliseconds.
        f0_floor (`float`, *optional*, defaults to 50.0):
            Lowest F0 searched by Harvest, in Hz.
        f0_ceiling (`float`, *optional*, defaults to 600.0):
            Highest F0 searched by Harvest, in Hz.

    Returns:
        `np.ndarray`: the edited waveform, float32, shape `(num_samples,)`.
    """
    _check_edit(semitones, f0_scale)
    pyworld = import_optional("pyworld", "`world_pitch_shift`")
    audio = np.ascontiguousarray(as_mono(audio))
    f0, times = pyworld.harvest(audio, sampling_rate, f0_floor=f0_floor, f0_ceil=f0_ceiling, frame_period=frame_period)
    envelope = pyworld.cheaptrick(audio, f0, times, sampling_rate)
    # threshold 0: Harvest's F0 decides voicing; D4C's own default (0.85) marks every frame aperiodic below 16 kHz
    aperiodicity = pyworld.d4c(audio, f0, times, sampling_rate, threshold=0.0)
    voiced = f0 > 0
    if voiced.any():
        log_f0 = np.log2(f0[voiced])
        mean_log_f0 = log_f0.mean()
        f0 = f0.copy()
        f0[voiced] = 2.0 ** (mean_log_f0 + f0_scale * (log_f0 - mean_log_f0) + semitones / 12.0)
    edited = pyworld.synthesize(f0, envelope, aperiodicity, sampling_rate, frame_period=frame_period)
    return _fit_length(edited, len(audio))


def world_intonation_scale(audio: np.ndarray, sampling_rate: int, scale: float) -> np.ndarray:
    """Scales the intonation (log-F0 around its mean) with WORLD, keeping the mean pitch; see `world_pitch_shift`.

    Args:
        audio (`np.ndarray`):
            Mono waveform of shape `(num_samples,)`.
        sampling_rate (`int`):
            Sampling rate of `audio` in Hz.
        scale (`float`):
            Factor on the log-F0 deviations from the mean (0 = monotone, 1 = unchanged, 2 = twice the range).
    """
    return world_pitch_shift(audio, sampling_rate, semitones=0.0, f0_scale=scale)


def psola_pitch_shift(
    audio: np.ndarray,
    sampling_rate: int,
    semitones: float = 0.0,
    f0_scale: float = 1.0,
    f0_floor: float = 75.0,
    f0_ceiling: float = F0_CEILING_HZ,
) -> np.ndarray:
    """Pitch shift and intonation scaling by TD-PSOLA in Praat (`To Manipulation`, PitchTier `Formula`,
    `Get resynthesis (overlap-add)`).

    Each PitchTier point becomes `centre * (f0 / centre) ** f0_scale * 2 ** (semitones / 12)`, with `centre` the
    geometric mean of the points, i.e. the same log-domain edit as `world_pitch_shift`.

    Args:
        audio (`np.ndarray`):
            Mono waveform of shape `(num_samples,)`.
        sampling_rate (`int`):
            Sampling rate of `audio` in Hz.
        semitones (`float`, *optional*, defaults to 0.0):
            Pitch shift in semitones.
        f0_scale (`float`, *optional*, defaults to 1.0):
            Intonation factor on the log-F0 deviations from the mean.
        f0_floor (`float`, *optional*, defaults to 75.0):
            Pitch floor of the Manipulation analysis in Hz (Praat's default; it sets the analysis window).
        f0_ceiling (`float`, *optional*, defaults to 600.0):
            Pitch ceiling of the Manipulation analysis in Hz.

    Returns:
        `np.ndarray`: the edited waveform, float32, shape `(num_samples,)`.
    """
    _check_edit(semitones, f0_scale)
    audio = as_mono(audio)
    sound = parselmouth.Sound(audio, sampling_frequency=sampling_rate)
    manipulation = call(sound, "To Manipulation", 0.01, f0_floor, f0_ceiling)
    pitch_tier = call(manipulation, "Extract pitch tier")
    num_points = call(pitch_tier, "Get number of points")
    if num_points > 0:
        points_hz = np.array([call(pitch_tier, "Get value at index", index) for index in range(1, num_points + 1)])
        centre_hz = float(np.exp(np.mean(np.log(points_hz))))
        shift = 2.0 ** (semitones / 12.0)
        call(pitch_tier, "Formula", f"{centre_hz!r} * (self / {centre_hz!r}) ^ {f0_scale!r} * {shift!r}")
        call([manipulation, pitch_tier], "Replace pitch tier")
    # an unvoiced clip has no pitch points to move: the resynthesis then returns it unchanged
    edited = call(manipulation, "Get resynthesis (overlap-add)")
    return _fit_length(edited.values[0], len(audio))


def psola_intonation_scale(audio: np.ndarray, sampling_rate: int, scale: float) -> np.ndarray:
    """Scales the intonation (log-F0 around its mean) with PSOLA, keeping the mean pitch; see `psola_pitch_shift`.

    Args:
        audio (`np.ndarray`):
            Mono waveform of shape `(num_samples,)`.
        sampling_rate (`int`):
            Sampling rate of `audio` in Hz.
        scale (`float`):
            Factor on the log-F0 deviations from the mean (0 = monotone, 1 = unchanged, 2 = twice the range).
    """
    return psola_pitch_shift(audio, sampling_rate, semitones=0.0, f0_scale=scale)


def _resampling_rate(cents: int, sampling_rate: int, tolerance_cents: float = 0.1) -> int:
    """The `sample_rate` to hand to `torchaudio.functional.pitch_shift` so that its final resampling is fast.

    `pitch_shift` uses `sample_rate` only in that last step, `resample(stretched, int(sample_rate / rate),
    sample_rate)` with `rate = 2 ** (-n_steps / bins_per_octave)`, whose cost grows with the reduced terms of that
    ratio: at 16 kHz, +3 st gives 19027 / 16000 (coprime) and took ~13 s for 5 s of audio on one CPU core. Any
    `sample_rate` whose ratio is within `tolerance_cents` of the exact one gives the same pitch; the smallest such one
    (37 for +3 st) took 0.03 s.
    """
    rate = 2.0 ** (-float(cents) / 1200)  # the same expression as torchaudio's
    candidates = np.arange(1, sampling_rate + 1)
    orig_freq = np.floor(candidates / rate).astype(np.int64)  # torchaudio's int(sample_rate / rate)
    error_cents = np.abs(1200.0 * np.log2(np.maximum(orig_freq, 1) * rate / candidates))
    good = np.flatnonzero((orig_freq >= 1) & (error_cents <= tolerance_cents))
    return int(candidates[good[0]]) if len(good) else sampling_rate


def phase_vocoder_pitch_shift(audio: np.ndarray, sampling_rate: int, semitones: float) -> np.ndarray:
    """Pitch shift with `torchaudio.functional.pitch_shift` (phase-vocoder time stretch, then resampling).

    Fractional shifts are expressed in cents (`n_steps = round(100 * semitones)`, `bins_per_octave = 1200`) since
    torchaudio takes an integer number of steps. The FFT spans ~32 ms whatever the sampling rate.

    Args:
        audio (`np.ndarray`):
            Mono waveform of shape `(num_samples,)`.
        sampling_rate (`int`):
            Sampling rate of `audio` in Hz.
        semitones (`float`):
            Pitch shift in semitones (resolution: one cent).

    Returns:
        `np.ndarray`: the edited waveform, float32, shape `(num_samples,)`.
    """
    _check_edit(semitones, 1.0)
    audio = as_mono(audio)
    cents = int(round(100.0 * semitones))
    if cents == 0:
        return audio.astype(np.float32)
    n_fft = 2 ** round(math.log2(0.032 * sampling_rate))
    waveform = torch.from_numpy(audio.astype(np.float32))[None]  # (1, num_samples)
    edited = torchaudio.functional.pitch_shift(
        waveform, _resampling_rate(cents, sampling_rate), cents, bins_per_octave=1200, n_fft=n_fft
    )
    return _fit_length(edited[0].numpy(), len(audio))


def _world_baseline(
    audio: np.ndarray, sampling_rate: int, pitch_shift: float = 0.0, intonation_scale: float = 1.0
) -> np.ndarray:
    return world_pitch_shift(audio, sampling_rate, semitones=pitch_shift, f0_scale=intonation_scale)


def _psola_baseline(
    audio: np.ndarray, sampling_rate: int, pitch_shift: float = 0.0, intonation_scale: float = 1.0
) -> np.ndarray:
    return psola_pitch_shift(audio, sampling_rate, semitones=pitch_shift, f0_scale=intonation_scale)


def _phase_vocoder_baseline(
    audio: np.ndarray, sampling_rate: int, pitch_shift: float = 0.0, intonation_scale: float = 1.0
) -> np.ndarray:
    if intonation_scale != 1.0:
        raise ValueError("The phase-vocoder baseline can only shift pitch: `intonation_scale` must be 1.0.")
    return phase_vocoder_pitch_shift(audio, sampling_rate, semitones=pitch_shift)


# name -> (audio, sampling_rate, pitch_shift=0.0, intonation_scale=1.0) -> float32 waveform of the same length
BASELINES: dict[str, Callable[..., np.ndarray]] = {
    "world": _world_baseline,
    "psola": _psola_baseline,
    "phase_vocoder": _phase_vocoder_baseline,
}
