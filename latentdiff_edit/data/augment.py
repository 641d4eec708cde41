"""Augmentation toward real recordings, from `audiomentations` (rooms via `pyroomacoustics`, EQ, noise, MP3, gain)
and speaker variety (pitch and formants moved together by resampling, as a vocal-tract-length change does), and
new voices derived from real recordings: Praat's "Change gender" (PSOLA pitch + formant scaling, through
`parselmouth`) moves a recorded speaker's median F0 to a target, e.g. a 200 Hz female voice to an 80 Hz male one,
so that real speech covers pitch ranges that no recorded speaker of the corpus has.

A codec must reproduce what it is given, so an augmented clip is its own target: the corpus recipe writes augmented
copies as new rows of the manifest (their attributes measured on the augmented audio), and the original stays.

    >>> augment = real_recording_augmentation(seed=0)
    >>> noisy = augment(samples=audio, sample_rate=16000)
    >>> lower = shift_voice(audio, 16000, source_f0_hz=200.0, target_f0_hz=80.0)
"""

from __future__ import annotations

import random

import numpy as np


def real_recording_augmentation(seed: int = 0, p: float = 1.0):
    """An `audiomentations.Compose` that turns a clean clip into one that sounds recorded: a simulated room, a
    microphone/EQ colour, background noise at 20–40 dB SNR, low-bitrate MP3, a gain change, and (for speaker
    variety) a pitch/formant shift of up to ±2.5 semitones. Each part is applied with its own probability."""
    from audiomentations import (
        AddColorNoise,
        Compose,
        Gain,
        Mp3Compression,
        PitchShift,
        RoomSimulator,
        SevenBandParametricEQ,
    )

    random.seed(seed)
    np.random.seed(seed)
    return Compose(
        [
            PitchShift(min_semitones=-2.5, max_semitones=2.5, p=0.25),
            RoomSimulator(min_absorption_value=0.15, max_absorption_value=0.6, max_order=6, leave_length_unchanged=True,
                          p=0.35),
            SevenBandParametricEQ(min_gain_db=-6.0, max_gain_db=6.0, p=0.4),
            AddColorNoise(min_snr_db=20.0, max_snr_db=40.0, p=0.4),
            Mp3Compression(min_bitrate=32, max_bitrate=96, p=0.25),
            Gain(min_gain_db=-8.0, max_gain_db=4.0, p=0.5),
        ],
        p=p,
    )


def augment_clip(audio: np.ndarray, sampling_rate: int, augment) -> np.ndarray:
    """Apply `augment` and keep the result inside full scale (a room or EQ can push peaks over 1)."""
    return _within_full_scale(augment(samples=audio.astype(np.float32), sample_rate=sampling_rate), "augmentation")


def _within_full_scale(out: np.ndarray, what: str) -> np.ndarray:
    """`out` as float32, scaled down to a 0.98 peak if it goes over; non-finite samples are an error."""
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{what} produced non-finite samples")
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    return (out * (0.98 / peak) if peak > 0.98 else out).astype(np.float32)


def formant_ratio_for(source_f0_hz: float, target_f0_hz: float, exponent: float = 0.2) -> float:
    """The vocal-tract scaling that goes with an F0 change: formants move as `(target / source) ** exponent`
    (about 0.83 for an octave down: adult male formants sit some 15-20 % below female ones while F0 is an octave
    lower), kept within [0.8, 1.25] where Praat's resampling stays natural."""
    if source_f0_hz <= 0 or target_f0_hz <= 0:
        raise ValueError(f"F0 must be positive, got source {source_f0_hz} Hz and target {target_f0_hz} Hz")
    return float(np.clip((target_f0_hz / source_f0_hz) ** exponent, 0.8, 1.25))


def shift_voice(audio: np.ndarray, sampling_rate: int, source_f0_hz: float, target_f0_hz: float,
                formant_ratio: float | None = None, pitch_floor_hz: float = 75.0,
                pitch_ceiling_hz: float = 600.0) -> np.ndarray:
    """A new voice from a recording: Praat's "Change gender" (PSOLA) sets the median F0 to `target_f0_hz` and
    scales the formants by `formant_ratio` (default `formant_ratio_for(source_f0_hz, target_f0_hz)`); the pitch
    range in semitones and the timing are kept. `source_f0_hz` is the speaker's median F0 (used for the formant
    ratio; the pitch analysis finds the clip's own median)."""
    import parselmouth
    from parselmouth.praat import call

    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1:
        raise ValueError(f"shift_voice takes mono audio, got shape {audio.shape}")
    ratio = formant_ratio_for(source_f0_hz, target_f0_hz) if formant_ratio is None else float(formant_ratio)
    sound = parselmouth.Sound(audio, sampling_frequency=sampling_rate)
    out = call(sound, "Change gender", pitch_floor_hz, pitch_ceiling_hz, ratio, float(target_f0_hz), 1.0, 1.0)
    shifted = out.values[0][: len(audio)]
    if len(shifted) < len(audio):
        shifted = np.pad(shifted, (0, len(audio) - len(shifted)))
    return _within_full_scale(shifted, "voice shift")
