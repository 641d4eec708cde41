"""Measures in the denoiser's latent space, shared by the pipeline, the training recipe, the tuning sweep and the
evaluation suite, so that every figure of inversion fidelity is computed the same way."""

from __future__ import annotations

import math

import numpy as np
import torch


def latent_snr_db(
    reference_latents: torch.Tensor | np.ndarray,
    test_latents: torch.Tensor | np.ndarray,
    padding_mask: torch.Tensor | np.ndarray | None = None,
) -> float:
    """
    Reconstruction SNR of latents in dB, `10 * log10(|ref|^2 / |ref - test|^2)`, summed over every element (of the
    real frames when `padding_mask` is given). For one figure per clip, call it once per clip.

    Args:
        reference_latents (`torch.Tensor` or `np.ndarray`):
            The original latents, e.g. `(batch_size, latent_channels, num_frames)` or `(latent_channels, num_frames)`.
        test_latents (`torch.Tensor` or `np.ndarray`):
            The reconstruction (e.g. after inversion and regeneration), same shape.
        padding_mask (`torch.Tensor` or `np.ndarray`, *optional*):
            `(batch_size, num_frames)` or `(num_frames,)`, True on real frames; padded frames are left out.

    Returns:
        `float`: SNR in dB; `inf` for an exact reconstruction, `-inf` for an all-zero reference.
    """
    reference = torch.as_tensor(reference_latents).detach().double().cpu()
    test = torch.as_tensor(test_latents).detach().double().cpu()
    if reference.shape != test.shape:
        raise ValueError(f"`test_latents` has shape {tuple(test.shape)}, expected {tuple(reference.shape)}.")
    if padding_mask is not None:
        mask = torch.as_tensor(padding_mask).detach().cpu().to(torch.float64).unsqueeze(-2)  # (..., 1, num_frames)
        if mask.shape[-1] != reference.shape[-1]:
            raise ValueError(f"`padding_mask` covers {mask.shape[-1]} frames, the latents {reference.shape[-1]}.")
        reference, test = reference * mask, test * mask
    signal_energy = float(reference.pow(2).sum())
    error_energy = float((reference - test).pow(2).sum())
    if error_energy == 0.0:
        return math.inf
    if signal_energy == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal_energy / error_energy)
