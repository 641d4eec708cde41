"""Audio input handling: reading files with soundfile, validation with clear errors, mono downmix, resampling.

The caller's arrays are never modified: every function returns new tensors.
"""

from __future__ import annotations

import contextlib
import os
import struct
import uuid
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

DEFAULT_MAX_SECONDS = 60.0
MIN_SECONDS = 0.1
SILENCE_PEAK = 1e-4  # about -80 dBFS
# libsndfile keeps a WAV string tag of up to ~2045 characters and silently drops every tag beyond that
MAX_TAG_CHARS = 2000


class AudioInputError(ValueError):
    """Raised for audio a user can fix: unreadable, empty, NaN, silent, too short or too long."""


def load_audio(path: str | os.PathLike, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file with soundfile as float32 `(num_samples,)` or `(num_samples, num_channels)`.

    The header is checked before any sample is read, so a huge file is refused without loading it.

    Args:
        path (`str` or `os.PathLike`): a file soundfile reads (WAV, FLAC, OGG, ...).
        max_seconds (`float`, *optional*): refuse files longer than this.

    Raises:
        AudioInputError: the file is missing, empty, not audio, truncated (its header declares more samples than it
            holds), or longer than `max_seconds`.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"audio file not found: {path}" + (" (it is a directory)" if path.is_dir() else ""))
    if path.stat().st_size == 0:
        raise AudioInputError(f"audio file is empty (0 bytes): {path}")
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        reason = getattr(e, "error_string", None) or str(e)
        raise AudioInputError(f"cannot read {path} as audio: {reason}; expected a WAV, FLAC or OGG file") from None
    if info.frames <= 0:
        raise AudioInputError(f"audio file holds no samples (0 frames): {path}")
    duration = info.frames / info.samplerate
    if max_seconds is not None and duration > max_seconds:
        raise AudioInputError(
            f"{path} is too long: {duration:.1f} s > {max_seconds:g} s; cut it into segments (or edit a part of it)"
        )
    declared_frames = _declared_wav_frames(path) if info.format in ("WAV", "WAVEX") else None
    if declared_frames is not None and declared_frames > info.frames:
        raise AudioInputError(
            f"{path} is truncated: its header declares {declared_frames / info.samplerate:.2f} s of audio but the "
            f"file holds {duration:.2f} s (an interrupted copy or download?)"
        )
    try:
        audio, sampling_rate = sf.read(path, dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        reason = getattr(e, "error_string", None) or str(e)
        raise AudioInputError(f"cannot read {path} as audio: {reason}; expected a WAV, FLAC or OGG file") from None
    return audio, int(sampling_rate)


def _declared_wav_frames(path: Path) -> int | None:
    """Frames the `data` chunk of a RIFF/WAVE header declares; None when unknown. libsndfile silently reads what is
    there, so this is the only way to tell a truncated file from a short one."""
    with open(path, "rb") as f:
        if f.read(4) != b"RIFF" or not f.read(4) or f.read(4) != b"WAVE":
            return None
        block_align = None
        for _ in range(64):  # a WAV has a handful of chunks; a bound keeps a corrupt file from looping
            header = f.read(8)
            if len(header) < 8:
                return None
            chunk_id, size = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk_id == b"fmt ":
                fmt = f.read(size + (size & 1))
                block_align = struct.unpack("<H", fmt[12:14])[0] if len(fmt) >= 14 else None
            elif chunk_id == b"data":
                # 0 and 0xFFFFFFFF are what streaming writers leave when they cannot seek back: not truncation.
                if not block_align or size in (0, 0xFFFFFFFF):
                    return None
                return size // block_align
            else:
                f.seek(size + (size & 1), os.SEEK_CUR)
    return None


def save_audio(
    path: str | os.PathLike,
    audio: np.ndarray,
    sampling_rate: int,
    tags: dict[str, str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write mono audio atomically: into a temporary file in the same folder, then `os.replace`, so a failure never
    leaves a half-written file under `path`. The format follows the extension (`.wav`, `.flac`, `.ogg`, ...).

    Args:
        path (`str` or `os.PathLike`): the output file; its folder is created.
        audio (`np.ndarray` of shape `(num_samples,)`): samples, clipped to [-1, 1].
        sampling_rate (`int`): the rate to write.
        tags (`dict[str, str]`, *optional*): libsndfile string tags (`title`, `software`, `comment`, `date`, ...).
            WAV keeps at most about 2 kB per string and drops all of them beyond that, so longer values are refused.
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing file.

    Raises:
        FileExistsError: `path` exists and `overwrite` is False.
        ValueError: the extension is not a format soundfile writes, or a tag is too long.
    """
    path = Path(path)
    file_format = output_format(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    for key, value in (tags or {}).items():
        if len(value) > MAX_TAG_CHARS:
            raise ValueError(f"audio tag `{key}` has {len(value)} characters; at most {MAX_TAG_CHARS} survive in WAV")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary, sf.SoundFile(temporary, "w", int(sampling_rate), 1,
                                                        format=file_format) as f:
        for key, value in (tags or {}).items():
            setattr(f, key, value)  # before the samples: FLAC refuses tags once audio is written
        f.write(np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0))
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike):
    """Yields a temporary path in `path`'s folder; when the block succeeds it replaces `path` (`os.replace` is atomic
    within a file system), when it fails it is removed. Readers never see half a file."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def output_format(path: str | os.PathLike) -> str:
    """The soundfile format name for an output file's extension, e.g. `"WAV"` for `out.wav`."""
    extension = Path(path).suffix.lstrip(".").upper()
    extension = {"OGA": "OGG", "AIF": "AIFF"}.get(extension, extension)
    if extension not in sf.available_formats():
        raise ValueError(f"cannot write `{Path(path).name}`: unknown audio extension; use .wav or .flac")
    return extension


def read_audio_tags(path: str | os.PathLike) -> dict[str, str]:
    """The libsndfile string tags of an audio file (`title`, `software`, `comment`, ...); empty ones are left out."""
    try:
        with sf.SoundFile(path) as f:
            return f.copy_metadata()
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        reason = getattr(e, "error_string", None) or str(e)
        raise AudioInputError(f"cannot read {path} as audio: {reason}") from None


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
