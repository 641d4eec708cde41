"""Measured speech attributes: frame-level F0 and energy contours, and clip-level summaries.

F0 comes from Praat's autocorrelation tracker (through parselmouth), the reference tracker of speech research. Every
function here takes a mono float waveform and its sampling rate, and never modifies its input.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import parselmouth

F0_FLOOR_HZ = 50.0
F0_CEILING_HZ = 600.0
SILENCE_DB = -50.0
# A pause: a frame this far below the loudest one (tighter than `SILENCE_DB`, which keeps a real recording's noise floor).
PAUSE_DB = -35.0


def hz_to_semitones(f0_hz: np.ndarray, reference_hz: float = 100.0) -> np.ndarray:
    """Semitones relative to `reference_hz`; unvoiced frames (f0 <= 0) map to NaN."""
    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f0_hz > 0, 12.0 * np.log2(f0_hz / reference_hz), np.nan)


def semitones_to_hz(semitones: np.ndarray, reference_hz: float = 100.0) -> np.ndarray:
    return reference_hz * np.power(2.0, np.asarray(semitones, dtype=np.float64) / 12.0)


def extract_f0(
    audio: np.ndarray,
    sampling_rate: int,
    hop_length: int | None = None,
    num_frames: int | None = None,
    f0_floor: float = F0_FLOOR_HZ,
    f0_ceiling: float = F0_CEILING_HZ,
) -> np.ndarray:
    """F0 contour in Hz (0 where unvoiced) with Praat's `To Pitch (ac)`.

    With `hop_length` the contour is sampled at the centres of frames of that hop, `(frame + 0.5) * hop`, which is
    where EnCodec latent frames sit; `num_frames` defaults to `ceil(len(audio) / hop_length)`. Without it, Praat's
    own 10 ms frames are returned.
    """
    audio = np.asarray(audio, dtype=np.float64)
    sound = parselmouth.Sound(audio, sampling_frequency=sampling_rate)
    time_step = (hop_length / sampling_rate) if hop_length else 0.01
    # Praat needs 3 periods of the floor in its window; short clips get a higher floor instead of an exception.
    duration = len(audio) / sampling_rate
    f0_floor = max(f0_floor, 3.0 / max(duration, 1e-3) + 1.0)
    pitch = sound.to_pitch_ac(time_step=time_step, pitch_floor=f0_floor, pitch_ceiling=f0_ceiling)
    values = pitch.selected_array["frequency"]  # (num_praat_frames,), 0 = unvoiced
    if hop_length is None:
        return values.astype(np.float32)
    if num_frames is None:
        num_frames = math.ceil(len(audio) / hop_length)
    times = pitch.xs()
    centres = (np.arange(num_frames) + 0.5) * hop_length / sampling_rate
    if len(times) == 0:
        return np.zeros(num_frames, dtype=np.float32)
    # nearest Praat frame for each latent frame: keeps voicing decisions sharp instead of smearing them.
    index = np.clip(np.searchsorted(times, centres), 1, len(times) - 1) if len(times) > 1 else np.zeros_like(centres)
    index = np.asarray(index, dtype=np.int64)
    if len(times) > 1:
        left_closer = np.abs(centres - times[index - 1]) < np.abs(centres - times[index])
        index = index - left_closer.astype(np.int64)
    return values[index].astype(np.float32)


def frame_energy_db(audio: np.ndarray, hop_length: int, num_frames: int | None = None) -> np.ndarray:
    """Log-RMS energy in dBFS per frame (window of two hops centred on each frame centre)."""
    audio = np.asarray(audio, dtype=np.float64)
    if num_frames is None:
        num_frames = math.ceil(len(audio) / hop_length)
    padded = np.pad(audio, (hop_length // 2, num_frames * hop_length + 2 * hop_length - len(audio)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, 2 * hop_length)[::hop_length][:num_frames]
    rms = np.sqrt(np.mean(frames**2, axis=-1) + 1e-10)
    return (20.0 * np.log10(rms)).astype(np.float32)


ENVELOPE_COEFFICIENTS = 12


def spectral_envelope(
    audio: np.ndarray, sampling_rate: int, hop_length: int, num_frames: int | None = None,
    num_coefficients: int = ENVELOPE_COEFFICIENTS,
) -> np.ndarray:
    """The spectral envelope per frame `(num_coefficients, frames)`: mel-frequency cepstral coefficients 1 to
    `num_coefficients` (40 mel bands, 50 Hz to 400 Hz below Nyquist, windows of four hops or 512 samples, the longer,
    centred on each frame; c0,
    the level, is left out). What is said lives in the envelope, while F0 lives in the harmonics it smooths over, so
    an edit that keeps the source's envelope and moves its F0 keeps the words (`envelope` frame attribute)."""
    import torch

    audio = np.asarray(audio, dtype=np.float32)
    if num_frames is None:
        num_frames = math.ceil(len(audio) / hop_length)
    with torch.no_grad():
        coefficients = _mfcc(sampling_rate, hop_length, num_coefficients)(torch.from_numpy(audio))[1:].numpy()  # (num_coefficients, ceil(len / hop) + 1)
    out = np.empty((num_coefficients, num_frames), dtype=np.float32)
    n = min(num_frames, coefficients.shape[1])
    out[:, :n] = coefficients[:, :n]
    out[:, n:] = coefficients[:, n - 1 : n] if n else 0.0  # held at the end
    return out


@functools.lru_cache(maxsize=8)
def _mfcc(sampling_rate: int, hop_length: int, num_coefficients: int):
    """The MFCC transform of `spectral_envelope`, built once per configuration (its mel filterbank and DCT)."""
    import torchaudio

    return torchaudio.transforms.MFCC(
        sample_rate=sampling_rate, n_mfcc=num_coefficients + 1, log_mels=False,
        melkwargs={"n_fft": max(4 * hop_length, 512), "hop_length": hop_length, "n_mels": 40, "f_min": 50.0,
                   "f_max": sampling_rate / 2 - 400.0, "center": True, "mel_scale": "slaney", "norm": "slaney"},
    )


def speech_frames(energy_db: np.ndarray, silence_db: float = SILENCE_DB) -> np.ndarray:
    """Which frames count as speech: those within `-silence_db` dB (default 50, `SILENCE_DB`) of the loudest frame,
    and above -70 dBFS. Real recordings have a noise floor 35-45 dB below their peak, where 50 dB keeps every frame;
    a measure of pauses passes a tighter `silence_db`."""
    energy_db = np.asarray(energy_db)
    return energy_db > max(energy_db.max() + silence_db, -70.0)


def voiced_runs(voiced: np.ndarray) -> int:
    voiced = np.asarray(voiced, dtype=bool)
    return int(np.sum(voiced[1:] & ~voiced[:-1]) + (1 if len(voiced) and voiced[0] else 0))


def measure_attributes(audio: np.ndarray, sampling_rate: int) -> dict[str, float]:
    """Clip-level labels measured on the audio.

    - `f0_median_hz`: median F0 over voiced frames;
    - `f0_spread_st`: standard deviation of F0 in semitones (intonation / expressiveness);
    - `speech_duration_s`: time from the first to the last frame within 50 dB of the loudest frame;
    - `rate`: voiced segments (a syllable-nucleus proxy) per second of speech;
    - `loudness_db`: RMS level of the speech frames in dBFS.
    """
    hop = int(round(0.01 * sampling_rate))
    f0 = extract_f0(audio, sampling_rate, hop_length=hop)
    energy = frame_energy_db(audio, hop, num_frames=len(f0))
    active = speech_frames(energy)
    if active.any():
        first, last = np.argmax(active), len(active) - 1 - np.argmax(active[::-1])
        speech_duration = (last - first + 1) * hop / sampling_rate
    else:
        speech_duration = 0.0
    voiced = f0 > 0
    semitones = hz_to_semitones(f0[voiced])
    # octave jumps of the tracker would dominate a spread: drop frames more than 10 st from the median
    semitones = semitones[np.abs(semitones - np.median(semitones)) < 10.0] if voiced.any() else semitones
    return {
        "f0_median_hz": float(np.median(f0[voiced])) if voiced.any() else 0.0,
        "f0_spread_st": float(np.std(semitones)) if len(semitones) > 1 else 0.0,
        "speech_duration_s": float(speech_duration),
        "rate": float(voiced_runs(voiced) / speech_duration) if speech_duration > 0 else 0.0,
        "loudness_db": float(10 * np.log10(np.mean(10 ** (energy[active] / 10)))) if active.any() else -100.0,
    }


def harmonics_to_noise_db(audio: np.ndarray, sampling_rate: int) -> float:
    """Mean harmonics-to-noise ratio (dB) over frames Praat finds periodic: near 0 dB for a codec that lost voicing."""
    sound = parselmouth.Sound(np.asarray(audio, dtype=np.float64), sampling_frequency=sampling_rate)
    values = sound.to_harmonicity_cc(time_step=0.01, minimum_pitch=F0_FLOOR_HZ).values[0]
    values = values[values > -199]  # Praat marks unvoiced frames with -200
    return float(values.mean()) if len(values) else 0.0


def voiced_semitone_differences(source: np.ndarray, edited: np.ndarray, sampling_rate: int) -> np.ndarray:
    """Per-frame `12 log2(f0_edited / f0_source)` on 10 ms frames voiced in both clips, paired on time (for clips of
    equal timing: codec round trips and inverted edits). `latentdiff_edit.evaluation.pitch_shift_semitones` also
    aligns clips of different lengths."""
    hop = sampling_rate // 100
    num_frames = math.ceil(len(source) / hop)
    f0_source = extract_f0(source, sampling_rate, hop, num_frames)
    f0_edited = extract_f0(edited, sampling_rate, hop, num_frames)
    both = (f0_source > 0) & (f0_edited > 0)
    return hz_to_semitones(f0_edited[both]) - hz_to_semitones(f0_source[both])
