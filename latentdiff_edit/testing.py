"""Tiny, randomly initialized real components for tests and smoke runs (no downloads)."""

from __future__ import annotations

import numpy as np
import torch
from diffusers import DDIMInverseScheduler, DDIMScheduler
from transformers import EncodecConfig, EncodecModel

from .models.denoiser import LatentDenoiser1D
from .models.vocoder import VocosVocoder
from .training import scheduler_config

TINY_SCHEMA = [
    {"name": "f0", "type": "frame", "dim": 2, "mean": 0.0, "std": 12.0},
    {"name": "energy", "type": "frame", "dim": 1, "mean": -30.0, "std": 10.0},
    {"name": "rate", "type": "continuous", "mean": 3.0, "std": 1.0, "min": 0.0, "max": 12.0},
    {"name": "intonation", "type": "continuous", "mean": 2.0, "std": 1.5, "min": 0.0, "max": 15.0},
    {"name": "style", "type": "categorical", "categories": ["neutral", "low-flat-slow", "high-wide-fast"]},
]


def tiny_codec(sampling_rate: int = 8000) -> EncodecModel:
    torch.manual_seed(0)
    config = EncodecConfig(
        sampling_rate=sampling_rate, audio_channels=1, hidden_size=8, num_filters=4, num_residual_layers=1,
        upsampling_ratios=[4, 2], num_lstm_layers=1, codebook_size=16, chunk_length_s=None, overlap=None,
        normalize=False, use_causal_conv=False, target_bandwidths=[1.0],
    )
    return EncodecModel(config).eval()


def tiny_vocoder(
    latent_channels: int = 8, hop_length: int = 8, sampling_rate: int = 8000, phase: str = "learned"
) -> VocosVocoder:
    """A Vocos decoder for `tiny_codec`'s latents (hop 8)."""
    torch.manual_seed(0)
    return VocosVocoder(latent_channels=latent_channels, dim=16, intermediate_dim=32, num_layers=1,
                        n_fft=4 * hop_length, hop_length=hop_length, sampling_rate=sampling_rate, phase=phase).eval()


def tiny_denoiser(latent_channels: int = 8, schema=TINY_SCHEMA, frame_fourier_features: int = 2) -> LatentDenoiser1D:
    torch.manual_seed(0)
    return LatentDenoiser1D(
        latent_channels=latent_channels, hidden_size=32, num_layers=2, num_heads=2, mlp_ratio=2.0,
        attributes=list(schema), frame_fourier_features=frame_fourier_features, latents_mean=[0.01] * latent_channels, latents_std=[0.5] * latent_channels,
    ).eval()


def tiny_components(prediction_type: str = "epsilon") -> dict:
    scheduler = DDIMScheduler(**scheduler_config(prediction_type=prediction_type))
    return {
        "codec": tiny_codec(),
        "denoiser": tiny_denoiser(),
        "scheduler": scheduler,
        "inverse_scheduler": DDIMInverseScheduler.from_config(scheduler.config),
    }


def harmonic_tone(f0_hz: float = 150.0, seconds: float = 0.5, sampling_rate: int = 8000, seed: int = 0) -> np.ndarray:
    """A voiced-like test signal: harmonics of a slightly gliding F0 with an amplitude envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sampling_rate)) / sampling_rate
    f0 = f0_hz * (1 + 0.05 * np.sin(2 * np.pi * 2 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sampling_rate
    audio = sum(np.sin(k * phase) / k for k in range(1, 6)) * np.hanning(len(t)) ** 0.3
    return (0.3 * audio + 0.003 * rng.standard_normal(len(t))).astype(np.float32)
