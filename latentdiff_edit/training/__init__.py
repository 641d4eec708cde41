"""Data and losses shared by the training recipes in `scripts/` (any manifest of audio paths + attribute columns)."""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio

from ..audio import load_audio, prepare_audio
from ..data.manifest import read_manifest  # noqa: F401  (re-exported for the recipes)


def load_clip(path: str, sampling_rate: int, max_seconds: float | None = None) -> torch.Tensor:
    audio, sr = load_audio(path)
    return prepare_audio(audio, sr, sampling_rate, max_seconds=max_seconds, name=str(path))


class AudioSegmentDataset(torch.utils.data.Dataset):
    """Random fixed-length crops of the manifest's clips, held in memory at the target rate (codec training)."""

    def __init__(self, rows: list[dict], sampling_rate: int, segment_seconds: float, seed: int = 0):
        self.segment = int(segment_seconds * sampling_rate)
        self.clips = [load_clip(r["path"], sampling_rate) for r in rows]
        self.rng = random.Random(seed)

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, index):
        clip = self.clips[index]
        if clip.numel() <= self.segment:
            return F.pad(clip, (0, self.segment - clip.numel()))
        start = self.rng.randrange(0, clip.numel() - self.segment)
        return clip[start : start + self.segment]


class MultiResolutionSTFTLoss(torch.nn.Module):
    """Spectral convergence + log-magnitude L1 (Yamamoto et al., Parallel WaveGAN, 2020), plus an L1 on the complex
    STFT so that phase, and with it periodicity, is also penalized (magnitude-only objectives let a codec turn
    voiced speech into noise with the right envelope)."""

    def __init__(self, fft_sizes=(256, 512, 1024, 2048), complex_weight: float = 1.0):
        super().__init__()
        self.fft_sizes = fft_sizes
        self.complex_weight = complex_weight
        for n_fft in fft_sizes:
            self.register_buffer(f"window_{n_fft}", torch.hann_window(n_fft), persistent=False)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = prediction.new_zeros(())
        for n_fft in self.fft_sizes:
            window = getattr(self, f"window_{n_fft}")
            spec_p = torch.stft(prediction, n_fft, n_fft // 4, window=window, return_complex=True)
            spec_t = torch.stft(target, n_fft, n_fft // 4, window=window, return_complex=True)
            mag_p, mag_t = spec_p.abs().clamp_min(1e-5), spec_t.abs().clamp_min(1e-5)
            convergence = torch.linalg.norm(mag_t - mag_p) / torch.linalg.norm(mag_t).clamp_min(1e-5)
            log_magnitude = F.l1_loss(mag_p.log(), mag_t.log())
            complex_l1 = F.l1_loss(torch.view_as_real(spec_p), torch.view_as_real(spec_t)) * math.sqrt(4 / n_fft)
            loss = loss + convergence + log_magnitude + self.complex_weight * complex_l1
        return loss / len(self.fft_sizes)


class MelLoss(torch.nn.Module):
    """L1 between log-mel spectrograms at several window sizes (as EnCodec's multi-scale mel loss)."""

    def __init__(self, sampling_rate: int, n_mels: int = 64, fft_sizes=(512, 1024, 2048)):
        super().__init__()
        self.mels = torch.nn.ModuleList(
            torchaudio.transforms.MelSpectrogram(sampling_rate, n_fft=n, hop_length=n // 4, n_mels=n_mels, power=1.0)
            for n in fft_sizes
        )

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = prediction.new_zeros(())
        for mel in self.mels:
            loss = loss + F.l1_loss(mel(prediction).clamp_min(1e-5).log(), mel(target).clamp_min(1e-5).log())
        return loss / len(self.mels)


def hinge_discriminator_loss(real_logits: list[torch.Tensor], fake_logits: list[torch.Tensor]) -> torch.Tensor:
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real_logits, fake_logits)) / len(real_logits)


def hinge_generator_loss(fake_logits: list[torch.Tensor]) -> torch.Tensor:
    return sum(F.relu(1 - f).mean() for f in fake_logits) / len(fake_logits)


def feature_matching_loss(real_features: list[list[torch.Tensor]], fake_features: list[list[torch.Tensor]]):
    total, count = 0.0, 0
    for real_maps, fake_maps in zip(real_features, fake_features):
        for r, f in zip(real_maps, fake_maps):
            total = total + F.l1_loss(f, r.detach()) / r.detach().abs().mean().clamp_min(1e-5)
            count += 1
    return total / max(count, 1)


def write_log_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def plot_log(path: Path, rows: list[dict], keys: list[str], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in keys if any(k in r for r in rows)]
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.2 * max(len(keys), 1)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        points = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
        if points:
            ax.plot(*zip(*points), marker="." if len(points) < 50 else None)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    axes[0, 0].set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def scheduler_config(num_train_timesteps: int = 1000, prediction_type: str = "epsilon") -> dict:
    """The DDIM configuration every pipeline of this project uses (leading spacing, alpha_0 = 1 so that the last
    sampling step and the first inversion step meet at the clean latents). `prediction_type` "v_prediction"
    (Salimans & Ho, 2022) keeps the x0 estimate well conditioned at high noise, where an epsilon model must be
    exact to 1/sqrt(alpha_bar) to say anything about the clean latents, and the F0 contour matters most."""
    if prediction_type not in ("epsilon", "v_prediction"):
        raise ValueError(f"prediction_type must be 'epsilon' or 'v_prediction', got {prediction_type!r}")
    return dict(
        num_train_timesteps=num_train_timesteps, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
        prediction_type=prediction_type, clip_sample=False, set_alpha_to_one=True, steps_offset=1,
        timestep_spacing="leading",
    )
