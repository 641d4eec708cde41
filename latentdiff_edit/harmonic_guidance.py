# Copyright 2026 The latentdiff-edit developers. Licensed under the Apache License, Version 2.0.
"""Harmonic guidance: keep an F0 edit periodic at the F0 it asks for, not an octave off.

The denoiser sometimes draws a voiced stretch of a pitch or intonation edit at twice (or half) the asked F0: its frame
condition says 80 Hz, the spectrum it draws has harmonics only every 160 Hz. Such a stretch is caught in the decoded
spectrum itself: at the asked F0, its odd multiples (1, 3, 5 x F0) lie far below its even ones (an octave above), or
its half multiples (0.5, 1.5 ... x F0) carry as much power as the whole ones (an octave below).

Harmonic guidance corrects the denoiser's clean estimate at every sampling step (manifold-preserving guided diffusion:
He et al., "Manifold Preserving Guided Diffusion", ICLR 2024, which steps the clean estimate `x0` along the gradient of
a loss on it and keeps the predicted noise, so the denoiser itself is never differentiated). The loss reads the
vocoder's differentiable magnitude spectrum of `x0` at the asked contour and asks each voiced frame to be as harmonic
at its asked F0 as the source's codec rendering is at the source's F0 (`harmonic_contrasts`), less a tolerance: frames
the source itself renders ambiguously (creak, low voices whose harmonics the STFT does not resolve) ask for nothing.

The contrasts are read on the vocoder's own STFT (`n_fft` 512 at 16 kHz on the shipped model, a 32 ms window), not on
the 85 ms window of the benchmark's tracker-free check (`evaluation.metrics.harmonic_octave_classes`), and against
the source rather than fixed thresholds, so the check stays an outside measure of what the guidance does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

# Multiples of the asked F0 read from the spectrum: whole and half (an octave below shows power at the half ones),
# odd and even (an octave above lacks the odd ones).
WHOLE_MULTIPLES = (1.0, 2.0, 3.0, 4.0)
HALF_MULTIPLES = (0.5, 1.5, 2.5, 3.5)
ODD_MULTIPLES = (1.0, 3.0, 5.0)
EVEN_MULTIPLES = (2.0, 4.0, 6.0)
# How far (dB) a frame's contrast may fall below the source's before the loss asks for more, and the most it asks
# for (a source frame 40 dB above its own half multiples does not make 40 dB a requirement).
DEFAULT_TOLERANCE_DB = 3.0
MAX_REFERENCE_DB = 15.0
# Gradient steps on the clean estimate per sampling step. Each moves a clip's (unit-variance) latents by a
# root-mean-square of STEP_SIZE x scale x the share of its guided frames that fall short (`HarmonicGuidance.correct`).
DEFAULT_ITERATIONS = 2
STEP_SIZE = 0.1
# The pipeline's `reach` (see `HarmonicGuidance`): None moves every latent frame the gradient reaches (measured against
# 2 on the tuning clips, docs/benchmark/harmonic_guidance/README.md: no better).
DEFAULT_REACH = None


def _power_at(power: torch.Tensor, frequencies: torch.Tensor, bin_hz: float) -> torch.Tensor:
    """`power` `(B, bins, F)` read at `frequencies` `(B, K, F)` in Hz by linear interpolation between bins; `(B, K, F)`
    (0 past the last bin)."""
    position = frequencies / bin_hz
    low = position.floor().clamp(0, power.shape[1] - 1)
    frac = (position - low).clamp(0, 1)
    low = low.long()
    high = (low + 1).clamp(max=power.shape[1] - 1)
    value = (1 - frac) * power.gather(1, low) + frac * power.gather(1, high)
    return torch.where(position < power.shape[1] - 1, value, torch.zeros_like(value))


def harmonic_contrasts(log_magnitude: torch.Tensor, f0_hz: torch.Tensor, sampling_rate: int,
                       n_fft: int) -> tuple[torch.Tensor, torch.Tensor]:
    """How periodic each frame of a spectrum is at a given F0, in dB (differentiable in `log_magnitude`).

    Args:
        log_magnitude (`torch.Tensor` of shape `(batch, n_fft // 2 + 1, frames)`): natural-log STFT magnitudes.
        f0_hz (`torch.Tensor` of shape `(batch, frames)`): the F0 to read each frame at (any value where unvoiced;
            the caller masks those frames).
        sampling_rate (`int`), n_fft (`int`): of the STFT.

    Returns:
        `(whole_over_half, odd_over_even)`, each `(batch, frames)`: the power at the whole multiples of F0 over that
        at the half multiples (low or negative: periodic an octave below), and the power at the odd multiples over
        that at the even ones (very negative: periodic an octave above).
    """
    power = (2.0 * log_magnitude).exp()
    bin_hz = sampling_rate / n_fft
    f0 = f0_hz.to(power)[:, None, :]
    tiny = 1e-10 * power.detach().amax(dim=(1, 2), keepdim=True)[:, :, 0].clamp_min(1e-20)

    def level(multiples):
        m = torch.tensor(multiples, dtype=power.dtype, device=power.device)[None, :, None]
        return 10.0 * torch.log10(_power_at(power, m * f0, bin_hz).sum(1) + tiny)

    return level(WHOLE_MULTIPLES) - level(HALF_MULTIPLES), level(ODD_MULTIPLES) - level(EVEN_MULTIPLES)


class HarmonicGuidance:
    """
    The loss and the clean-estimate correction of harmonic guidance (see the module docs) for one batch of edits.

    Args:
        spectrum (`Callable`): normalized latents `(B, C, T)` → natural-log magnitudes `(B, bins, >= T)` whose frame
            `j` is centred on latent frame `j` (differentiable; e.g. a griffin-lim vocoder's `log_magnitude` after
            denormalizing).
        sampling_rate (`int`), n_fft (`int`): of that spectrum.
        source_latents (`torch.Tensor` of shape `(B, C, T)`): the sources' normalized latents.
        source_f0 (`Sequence[np.ndarray]`), target_f0 (`Sequence[np.ndarray]`): per clip, the source's F0 contour and
            the asked one at the latent frame rate (Hz, 0 unvoiced).
        frame_weight (`torch.Tensor` of shape `(B, T)`, *optional*): where the edit applies (an edit mask); frames
            outside it are not guided.
        scale (`float`): the size of each step (see `correct`).
        iterations (`int`): gradient steps per sampling step.
        tolerance_db (`float`): how far below the source's contrast a frame may stay unguided.
        reach (`int`, *optional*): move only the latent frames within this many frames of a frame that falls short
            (None: every frame the gradient reaches, i.e. the spectrum model's receptive field).
    """

    def __init__(self, spectrum: Callable, sampling_rate: int, n_fft: int, source_latents: torch.Tensor,
                 source_f0: Sequence[np.ndarray], target_f0: Sequence[np.ndarray],
                 frame_weight: torch.Tensor | None = None, scale: float = 1.0, iterations: int = DEFAULT_ITERATIONS,
                 tolerance_db: float = DEFAULT_TOLERANCE_DB, reach: int | None = None):
        if not np.isfinite(scale) or scale < 0:
            raise ValueError(f"the harmonic guidance scale must be a finite number >= 0, got {scale}")
        if iterations < 1:
            raise ValueError(f"harmonic guidance needs at least one iteration, got {iterations}")
        self.spectrum, self.sampling_rate, self.n_fft = spectrum, sampling_rate, n_fft
        self.scale, self.iterations = float(scale), int(iterations)
        self.reach = None if reach is None else int(reach)
        batch, _, frames = source_latents.shape
        device = source_latents.device

        def contour(values):
            out = torch.zeros(batch, frames, device=device)
            for i, f0 in enumerate(values):
                f0 = np.asarray(f0, dtype=np.float32)[:frames]
                out[i, : len(f0)] = torch.from_numpy(f0)
            return out

        self.source_f0, self.target_f0 = contour(source_f0), contour(target_f0)
        voiced = (self.source_f0 > 0) & (self.target_f0 > 0)
        if frame_weight is not None:
            voiced &= frame_weight.to(device)[:, :frames] > 0.5
        with torch.no_grad():
            below, above = self.contrasts(source_latents, self.source_f0)
        # what each frame is asked for: the source's own contrast (capped) less the tolerance
        self.want_below = below.clamp(max=MAX_REFERENCE_DB) - tolerance_db
        self.want_above = above.clamp(max=MAX_REFERENCE_DB) - tolerance_db
        self.mask = voiced.float()

    def contrasts(self, latents: torch.Tensor, f0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_magnitude = self.spectrum(latents)[..., : latents.shape[-1]]
        return harmonic_contrasts(log_magnitude, f0.clamp_min(1.0), self.sampling_rate, self.n_fft)

    def frame_losses(self, latents: torch.Tensor) -> torch.Tensor:
        """Per frame `(B, T)`: how many dB the frame falls short of what it is asked for (0 where it does not, and
        outside the guided frames)."""
        below, above = self.contrasts(latents, self.target_f0)
        shortfall = torch.relu(self.want_below - below) + torch.relu(self.want_above - above)
        return shortfall * self.mask

    def loss(self, latents: torch.Tensor) -> torch.Tensor:
        """Per clip `(B,)`: the mean shortfall in dB over the guided frames."""
        return self.frame_losses(latents).sum(-1) / self.mask.sum(-1).clamp_min(1.0)

    def correct(self, x0: torch.Tensor) -> torch.Tensor:
        """`iterations` normalized gradient steps on the clean estimate `x0` `(B, C, T)`; a new tensor.

        Each step moves a clip's latents along the loss's gradient by a root-mean-square of `STEP_SIZE x scale x` the
        share of its guided frames that fall short (so a clip that is already harmonic everywhere does not move)."""
        x = x0.detach().clone()
        if self.scale == 0 or not bool(self.mask.any()):
            return x
        for _ in range(self.iterations):
            with torch.enable_grad():
                x.requires_grad_(True)
                frame_losses = self.frame_losses(x)
                total = frame_losses.sum()
                if float(total.detach()) <= 0:
                    break
                (grad,) = torch.autograd.grad(total, x)
            x = x.detach()
            falls_short = (frame_losses.detach() > 0).float()  # (B, T)
            short = falls_short.sum(-1) / self.mask.sum(-1).clamp_min(1.0)  # (B,)
            if self.reach is not None:  # only the frames around those that fall short
                width = 2 * self.reach + 1
                near = torch.nn.functional.max_pool1d(falls_short[:, None], width, stride=1, padding=self.reach)
                grad = grad * near[:, :, : grad.shape[-1]]
            rms = grad.pow(2).mean(dim=(1, 2)).sqrt().clamp_min(1e-12)
            x = x - (STEP_SIZE * self.scale * short / rms)[:, None, None] * grad
        return x.detach()
