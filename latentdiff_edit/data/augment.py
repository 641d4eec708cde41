"""Augmentation toward real recordings, from `audiomentations` (rooms via `pyroomacoustics`, EQ, noise, MP3, gain)
and speaker variety (pitch and formants moved together by resampling, as a vocal-tract-length change does).

A codec must reproduce what it is given, so an augmented clip is its own target: the corpus recipe writes augmented
copies as new rows of the manifest (their attributes measured on the augmented audio), and the original stays.

    >>> augment = real_recording_augmentation(seed=0)
    >>> noisy = augment(samples=audio, sample_rate=16000)
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
    out = augment(samples=audio.astype(np.float32), sample_rate=sampling_rate)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > 0.98:
        out = out * (0.98 / peak)
    if not np.all(np.isfinite(out)):
        raise ValueError("augmentation produced non-finite samples")
    return out.astype(np.float32)
