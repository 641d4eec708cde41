"""Audio input handling: reading files with soundfile, validation with clear errors, mono downmix, resampling.

The caller's arrays are never modified: every function returns new tensors.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

DEFAULT_MAX_SECONDS = 60.0
MIN_SECONDS = 0.1
SILENCE_PEAK = 1e-4  # about -80 dBFS


class AudioInputError(ValueError):
    """Raised for audio a user can fix: unreadable, empty, NaN, silent, too short or too long."""


def load_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read an audio file with soundfile as float32 `(num_samples,)` or `(num_samples, num_channels)`.

    Raises:
        AudioInputError: the file is missing, empty, or not a format soundfile reads (WAV, FLAC, OGG, ...).
    """
    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"audio file not found: {path}")
    if path.stat().st_size == 0:
        raise AudioInputError(f"audio file is empty (0 bytes): {path}")
    try:
        audio, sampling_rate = sf.read(path, dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioInputError(f"cannot read {path} as audio ({e}); expected WAV, FLAC or OGG") from None
    return audio, int(sampling_rate)


def to_mono_tensor(audio, channels_first: bool | None = None) -> torch.Tensor:
    """`(num_samples,)`, `(num_channels, num_samples)` or `(num_samples, num_channels)` → float32 `(num_samples,)`.

    Channel layout is guessed as the smaller dimension when `channels_first` is None (soundfile returns
    channels last, torch/torchaudio channels first).
    """
    audio = torch.as_tensor(np.asarray(audio) if not torch.is_tensor(audio) else audio).detach()
    audio = audio.to(torch.float32).clone()
    if audio.ndim == 1:
        return audio
    if audio.ndim != 2:
        raise AudioInputError(f"audio must be 1-D or 2-D (channels × samples), got shape {tuple(audio.shape)}")
    if channels_first is None:
        channels_first = audio.shape[0] <= audio.shape[1]
    return audio.mean(dim=0 if channels_first else 1)


def prepare_audio(
    audio,
    sampling_rate: int,
    target_sampling_rate: int,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    min_seconds: float = MIN_SECONDS,
    name: str = "audio",
) -> torch.Tensor:
    """Validate one clip and bring it to `target_sampling_rate` mono float32 `(num_samples,)`.

    Raises:
        AudioInputError: empty audio, NaN/inf samples, silence, a clip shorter than `min_seconds` or longer than
            `max_seconds`, or a non-positive sampling rate. The message names `name` and the problem.
    """
    if sampling_rate is None or int(sampling_rate) <= 0:
        raise AudioInputError(f"`sampling_rate` for {name} must be a positive integer, got {sampling_rate!r}")
    sampling_rate = int(sampling_rate)
    mono = to_mono_tensor(audio)
    if mono.numel() == 0:
        raise AudioInputError(f"{name} is empty (0 samples)")
    if not torch.isfinite(mono).all():
        raise AudioInputError(f"{name} contains NaN or infinite samples")
    duration = mono.numel() / sampling_rate
    if duration < min_seconds:
        raise AudioInputError(f"{name} is too short: {duration:.3f} s < {min_seconds} s")
    if max_seconds is not None and duration > max_seconds:
        raise AudioInputError(
            f"{name} is too long: {duration:.1f} s > {max_seconds} s; cut it into segments or raise `max_seconds`"
        )
    if mono.abs().max() < SILENCE_PEAK:
        raise AudioInputError(f"{name} is silent (peak below -80 dBFS): there is no voice to edit")
    if sampling_rate != target_sampling_rate:
        mono = AF.resample(mono, sampling_rate, target_sampling_rate)
    return mono
