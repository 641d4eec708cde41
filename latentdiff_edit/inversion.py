# Copyright 2026 The latentdiff-edit developers. Licensed under the Apache License, Version 2.0.
"""Inversion beyond plain DDIM: the math behind `VoiceEditPipeline.invert(method=...)`.

- `"null-opt"`: null-condition optimization (Mokady et al., "Null-text Inversion for Editing Real Images using Guided
  Diffusion Models", CVPR 2023). DDIM inversion at guidance 1 gives a pivot trajectory; then, step by step, the
  reference branch's condition (the null condition for classifier-free guidance against the null, the source's
  condition when guiding against the source) gets an additive embedding, optimized so that the guided DDIM step
  lands on the pivot. Regenerating with those embeddings retraces the pivot, at any guidance scale. The embedding is
  per frame by default (added to the frame condition embedding, as null-text inversion optimizes one embedding per
  text token): one global embedding cannot steer every frame (8 dB against 41 dB on a LibriVox clip, see the
  README).
- `"latent-opt"`: the inverted latents themselves are optimized, warm-started from DDIM inversion. First, per step, the
  fixed point `z_t = argmin |step(z_t) - z_{t-1}|` of the guided sampler (the implicit equation DDIM inversion
  approximates by evaluating the denoiser at the wrong point; Pan et al., "Effective Real Image Editing with
  Accelerated Iterative Diffusion Inversion", ICCV 2023; Garibi et al., "ReNoise", ECCV 2024), solved with the
  sampler's own linear part as the preconditioner; then, optionally, gradient descent on the start latents through
  the whole sampler on the codec-latent reconstruction error.
- `"encoder"`: amortized inversion. [`InversionEncoder`] predicts the DDIM-inverted latents from the clean latents
  and the frame attributes in one pass; it is trained on DDIM-inversion pairs by `scripts/train_inversion_encoder.py`
  and saved in a pipeline folder as `inversion_encoder/`.

The functions take the pipeline (for its denoiser, schedulers, condition branches and guided prediction) and never
change its components.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

INVERSION_METHODS = ("ddim", "ddpm", "null-opt", "latent-opt", "encoder")


def auto_inversion_method(pitch_shift: float, rate: float = 1.0) -> str:
    """What `"auto"` inversion runs for an edit: edit-friendly DDPM inversion when it lowers the pitch in place (its
    noise maps carry the source's fine structure, where DDIM noise lets the model fall an octave short of a low F0),
    DDIM otherwise (`latentdiff_edit.defaults.DEFAULT_INVERSION` has the measurements)."""
    return "ddpm" if pitch_shift < 0 and rate == 1.0 else "ddim"


def prediction_to_epsilon(
    prediction: torch.Tensor, sample: torch.Tensor, alpha_prod: torch.Tensor, prediction_type: str
) -> torch.Tensor:
    """The epsilon estimate of a denoiser output for `sample` at the noise level `alpha_prod` (alpha-bar)."""
    if prediction_type == "epsilon":
        return prediction
    alpha_prod = alpha_prod.to(sample)
    if prediction_type == "v_prediction":  # v = sqrt(a) eps - sqrt(1 - a) x0 (Salimans & Ho, 2022, sec. 4)
        return alpha_prod.sqrt() * prediction + (1 - alpha_prod).sqrt() * sample
    if prediction_type == "sample":
        return (sample - alpha_prod.sqrt() * prediction) / (1 - alpha_prod).sqrt()
    raise ValueError(f"unsupported prediction_type {prediction_type!r}")


def _masked_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-item mean squared error over real frames: `(B,)`."""
    weight = mask[:, None].to(a.dtype)
    return ((a - b) * weight).pow(2).sum((1, 2)) / (weight.sum((1, 2)) * a.shape[1]).clamp_min(1)


def latent_snr(reference: torch.Tensor, test: torch.Tensor, mask: torch.Tensor) -> list[float]:
    """Per-item latent SNR in dB over real frames (`10 log10 |ref|^2 / |ref - test|^2`)."""
    weight = mask[:, None].to(reference.dtype)
    signal = (reference * weight).pow(2).sum((1, 2))
    error = ((reference - test) * weight).pow(2).sum((1, 2)).clamp_min(1e-20)
    return (10 * torch.log10(signal / error)).tolist()


# ----------------------------------------------------------------------------------------------------------------------
# The sampler as the pipeline runs it


@dataclass
class GuidedSampler:
    """
    The guided DDIM sampler of an unedited regeneration (target = source), exactly as `pipe(inversion=...)` runs it:
    the same condition branches, scales, windows and scheduler, so that what is optimized here is what regenerates.

    Args:
        pipe (`VoiceEditPipeline`): the pipeline (its components are only read).
        branches (`list[dict]`), scales (`list[float]`), offsets (`list`): from the pipeline's `_build_branches`.
        padding_mask (`torch.Tensor` of shape `(batch_size, num_frames)`): True on real frames.
        plan (*optional*): the pipeline's window plan (None: each clip in one pass).
        guidance_reference (`str`): `"null"` or `"source"` (where a reference offset goes, see [`branch_offsets`]).
    """

    pipe: object
    branches: list
    scales: list
    offsets: list
    padding_mask: torch.Tensor
    plan: object = None
    guidance_reference: str = "null"

    @classmethod
    def for_regeneration(cls, pipe, conditioned, num_frames, padding_mask, plan, guidance_scale, guidance_reference):
        """`conditioned`: the source attributes per clip (per window with a plan), `num_frames` their length."""
        branches, scales, offsets = pipe._build_branches(conditioned, conditioned, num_frames, guidance_scale,
                                                         guidance_reference, None, None)
        return cls(pipe, branches, scales, offsets, padding_mask, plan, guidance_reference)

    def predict(self, latents, t, reference_offset=None) -> torch.Tensor:
        offsets, frame_offsets = branch_offsets(self.offsets, reference_offset, self.guidance_reference, self.plan)
        model_input = self.pipe.scheduler.scale_model_input(latents, t)
        return self.pipe._predict(model_input, t, self.branches, self.scales, self.padding_mask, offsets, self.plan,
                                  frame_offsets)

    def step(self, latents, t, reference_offset=None) -> torch.Tensor:
        """One sampling step, `latents` at `t` → the previous timestep (eq. 12 of DDIM, by the scheduler)."""
        prediction = self.predict(latents, t, reference_offset)
        return self.pipe.scheduler.step(prediction, t, latents).prev_sample * self.padding_mask[:, None]

    def slope(self, t, latents) -> float:
        """`d step(x, t) / d x` with the denoiser output held fixed: the DDIM step is linear in the sample, so this
        scalar is the sampler's Jacobian up to the denoiser's own sensitivity (the fixed-point preconditioner)."""
        zero = torch.zeros_like(latents[:1, :1, :1])
        step = self.pipe.scheduler.step
        return float(step(zero, t, torch.ones_like(zero)).prev_sample - step(zero, t, zero).prev_sample)


def branch_offsets(offsets: list, reference_offset: torch.Tensor | None, guidance_reference: str,
                   plan=None) -> tuple[list, list | None]:
    """Add an optimized reference embedding to the condition offsets of one step: `(global, per_frame)`, the
    per-branch global offsets and the per-branch frame offsets (None when there are none).

    A `(B, hidden_size)` embedding is added to the global offsets; a `(B, hidden_size, num_frames)` one becomes
    the frame offsets. Against the null condition (classifier-free guidance) it goes to the null branch only, as
    null-text inversion does; against the source, every branch describes the source with some attributes replaced,
    so it goes to all of them and an unedited regeneration stays on the pivot whatever the scale. A single branch
    always gets it. With a window plan, each window gets its clip's embedding (its frames of it, per frame):
    `(num_windows, hidden_size[, width])`.
    """
    if reference_offset is None:
        return offsets, None
    targets = range(len(offsets)) if guidance_reference == "source" or len(offsets) == 1 else [0]
    if reference_offset.ndim == 3:
        if plan is not None:
            reference_offset = plan.unfold(reference_offset)
        return offsets, [reference_offset if i in targets else None for i in range(len(offsets))]
    if plan is not None:
        reference_offset = reference_offset[torch.as_tensor(plan.items, device=reference_offset.device)]
    return [(o if o is not None else 0) + reference_offset if i in targets else o for i, o in enumerate(offsets)], None


@torch.no_grad()
def ddim_trajectory(pipe, source_latents, padding_mask, num_inference_steps: int, inversion_depth: float,
                    sampler: GuidedSampler) -> list[torch.Tensor]:
    """DDIM inversion that keeps every step: `[x_0, z_1, ..., z_N]`, each `(B, C, T)`, with `sampler`'s branches.
    The denoiser output is converted to epsilon at the timestep it was given, as `VoiceEditPipeline.invert` does."""
    prediction_type = (pipe.inverse_scheduler or pipe.scheduler).config.prediction_type
    inverse_scheduler = pipe._inverse_scheduler()
    inverse_scheduler.set_timesteps(num_inference_steps, device=source_latents.device)
    num_steps = max(1, round(inversion_depth * num_inference_steps))
    latents = source_latents.to(pipe.denoiser.dtype)
    trajectory = [latents]
    with pipe.progress_bar(total=num_steps) as progress_bar:
        for t in inverse_scheduler.timesteps[:num_steps]:
            prediction = pipe._predict(latents, t, sampler.branches, sampler.scales, padding_mask, sampler.offsets,
                                       sampler.plan)
            epsilon = prediction_to_epsilon(prediction, latents, inverse_scheduler.alphas_cumprod[int(t)],
                                            prediction_type)
            latents = inverse_scheduler.step(epsilon, t, latents).prev_sample * padding_mask[:, None]
            trajectory.append(latents)
            progress_bar.update()
    return trajectory


# ----------------------------------------------------------------------------------------------------------------------
# Null-condition optimization


@torch.no_grad()
def null_condition_optimization(
    sampler: GuidedSampler,
    trajectory: list[torch.Tensor],
    timesteps: torch.Tensor,
    num_inner_steps: int = 20,
    learning_rate: float | None = None,
    tolerance: float = 1e-7,
    per_frame: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Per-step reference embeddings that make the guided sampler retrace a DDIM pivot trajectory (null-text inversion,
    Mokady et al. 2023, algorithm 1, with the null text embedding replaced by an additive offset of the reference
    branch's frame condition embedding: `hidden_size` numbers per frame and step, as null-text inversion has one
    embedding per token; or, with `per_frame=False`, of its global condition: `hidden_size` numbers per step).

    Args:
        sampler ([`GuidedSampler`]): the regeneration's sampler (its guidance scale and reference).
        trajectory (`list[torch.Tensor]`): `[x_0, z_1, ..., z_N]` from [`ddim_trajectory`] at guidance 1.
        timesteps (`torch.Tensor`): the `N` descending sampling timesteps (`pipe._timesteps`).
        num_inner_steps (`int`, *optional*, defaults to 20): Adam steps per sampling step (the paper's N is 10).
            Measured at 25 steps and guidance 3 on two 3 s LibriVox clips (`scripts/benchmark_inversion.py`,
            docs/benchmark/inversion/): 10 -> 20 raised the latent SNR 40.0 -> 46.9 dB on v0.7, 38.1 -> 43.2 dB on
            v0.10 and 38.8 -> 43.7 dB on v0.13/v0.14 (whose latents and denoiser are the same), at 2.1-2.4x the
            time (about 34 s per second of audio on 2 CPU cores); with 10 the last two fell short of 40 dB.
        learning_rate (`float`, *optional*): Adam's step, decayed linearly to a tenth over the schedule as in the
            paper; default 2e-2 per frame (41.4 dB on a 3 s LibriVox clip at 25 steps, guidance 3, against 39.8 dB
            at 5e-2), 5e-2 global (the paper's 1e-2 moved the global embedding too little: 4.0 against 6.0 dB).
        tolerance (`float`, *optional*, defaults to 1e-7): a step stops early below this mean squared error.
        per_frame (`bool`, *optional*, defaults to `True`): one embedding per frame, or one per clip and step.

    Returns:
        `(offsets, latents)`: offsets `(N, batch_size, hidden_size, num_frames)` (per frame) or
        `(N, batch_size, hidden_size)`, one per sampling step, and the regenerated latents
        `(batch_size, latent_channels, num_frames)` the last step reached.
    """
    padding_mask = sampler.padding_mask
    pipe = sampler.pipe
    if learning_rate is None:
        learning_rate = 2e-2 if per_frame else 5e-2
    shape = (padding_mask.shape[0], pipe.denoiser.config.hidden_size) + ((padding_mask.shape[1],) if per_frame else ())
    offset = torch.zeros(shape, device=padding_mask.device, dtype=pipe.denoiser.dtype)
    latents = trajectory[-1]
    offsets = []
    with pipe.progress_bar(total=len(timesteps)) as progress_bar:
        for i, t in enumerate(timesteps):
            target = trajectory[-2 - i]
            offset = offset.clone().requires_grad_(True)  # warm start: the previous step's embedding
            decay = 1.0 - 0.9 * i / max(len(timesteps) - 1, 1)
            optimizer = torch.optim.Adam([offset], lr=learning_rate * decay)
            with torch.enable_grad():
                for _ in range(num_inner_steps):
                    loss = _masked_mse(sampler.step(latents, t, offset), target, padding_mask)
                    if float(loss.detach().max()) < tolerance:
                        break
                    (offset.grad,) = torch.autograd.grad(loss.sum(), [offset])
                    optimizer.step()
            offset = offset.detach()
            offsets.append(offset)
            latents = sampler.step(latents, t, offset)
            progress_bar.update()
    return torch.stack(offsets), latents


# ----------------------------------------------------------------------------------------------------------------------
# Latent optimization


def _rms(x: torch.Tensor, mask: torch.Tensor) -> float:
    return float(_masked_mse(x, torch.zeros_like(x), mask).max().sqrt())


def _anderson_solve(residual_fn, start, slope, mask, num_steps: int, tolerance: float, history: int = 5):
    """Solve `residual_fn(z) = 0` by the fixed-point map `z - residual(z) / slope` with Anderson acceleration
    (Walker & Ni, "Anderson Acceleration for Fixed-Point Iterations", 2011), per batch item. Returns the best
    iterate and its residual rms."""
    current, best, best_rms = start, start, math.inf
    values, differences = [], []  # G(z_i) and G(z_i) - z_i, flattened per item: (B, N)
    for _ in range(num_steps):
        residual = residual_fn(current)
        rms = _rms(residual, mask)
        if rms < best_rms:
            best, best_rms = current, rms
        if rms < tolerance:
            break
        mapped = (current - residual / slope) * mask[:, None]
        values.append(mapped.flatten(1))
        differences.append((mapped - current).flatten(1))
        values, differences = values[-history:], differences[-history:]
        if len(differences) == 1:
            current = mapped
            continue
        stacked = torch.stack(differences, -1)  # (B, N, k)
        delta = stacked[..., 1:] - stacked[..., :-1]  # (B, N, k - 1)
        gamma = torch.linalg.lstsq(delta, stacked[..., -1:]).solution  # (B, k - 1, 1)
        mixed = torch.stack(values, -1)
        mixed = mixed[..., -1:] - (mixed[..., 1:] - mixed[..., :-1]) @ gamma  # (B, N, 1)
        current = mixed.reshape(start.shape) * mask[:, None]
    return best, best_rms


def _least_squares_solve(residual_fn, start, mask, max_iterations: int):
    """Minimize `|residual_fn(z)|^2` with L-BFGS and the true gradient, where the fixed-point map stalls (the
    low-noise steps, where the denoiser's Jacobian is far from the sampler's linear part)."""
    latents = start.detach().clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([latents], lr=1.0, max_iter=max_iterations, history_size=20,
                                  line_search_fn="strong_wolfe", tolerance_change=1e-12, tolerance_grad=1e-12)

    def closure():
        optimizer.zero_grad()
        with torch.enable_grad():
            loss = residual_fn(latents).pow(2).sum()
            (latents.grad,) = torch.autograd.grad(loss, [latents])
        return loss.detach()

    optimizer.step(closure)
    latents = latents.detach() * mask[:, None]
    return latents, _rms(residual_fn(latents), mask)


@torch.no_grad()
def latent_optimization(
    sampler: GuidedSampler,
    trajectory: list[torch.Tensor],
    timesteps: torch.Tensor,
    num_fixed_point_steps: int = 12,
    num_least_squares_steps: int = 150,
    tolerance: float = 2e-5,
    num_optimization_steps: int = 0,
    learning_rate: float = 1e-3,
) -> torch.Tensor:
    """
    Inverted latents optimized so that the guided sampler regenerates the source latents, warm-started from DDIM.

    Stage 1, step by step from the clean end: starting from the DDIM-inverted `z_t`, solve the implicit inversion
    equation `step(z_t) = z_{t-1}` at the regeneration's guidance (DDIM inversion's approximation evaluates the
    denoiser at `z_{t-1}` instead of `z_t`). Anderson-accelerated fixed-point iterations
    `z_t <- z_t - (step(z_t) - z_{t-1}) / (d step / d z_t)`, preconditioned by the sampler's linear slope (see
    [`GuidedSampler.slope`]), converge in a few denoiser calls at most steps; where they stall (residual rms above
    `tolerance`), L-BFGS with the true gradient takes over. Stage 2 (optional): `num_optimization_steps` of Adam on
    the start latents through the whole sampler (each step rematerialized), on the masked MSE to the source latents.

    Args:
        sampler ([`GuidedSampler`]): the regeneration's sampler (its guidance scale and reference).
        trajectory (`list[torch.Tensor]`): `[x_0, z_1, ..., z_N]` from [`ddim_trajectory`] (the warm start).
        timesteps (`torch.Tensor`): the `N` descending sampling timesteps.
        num_fixed_point_steps (`int`, *optional*, defaults to 12): stage-1 fixed-point iterations per step.
        num_least_squares_steps (`int`, *optional*, defaults to 150): L-BFGS iterations for a stalled step (0:
            none); 40 gave 37.2 dB on a LibriVox clip at guidance 3, 150 gave 42.3 dB (25 steps).
        tolerance (`float`, *optional*, defaults to 2e-5): residual rms (normalized latents) at which a step is
            solved; the steps' residuals add up, so 1e-4 held 50 steps at guidance 3 to 38.8 dB, 2e-5 gave 53.5 dB.
        num_optimization_steps (`int`, *optional*, defaults to 0): stage-2 Adam steps.
        learning_rate (`float`, *optional*, defaults to 1e-3): stage-2 Adam's step.

    Returns:
        `torch.Tensor` of shape `(batch_size, latent_channels, num_frames)`: the optimized start latents.
    """
    pipe, padding_mask = sampler.pipe, sampler.padding_mask
    mask = padding_mask[:, None]
    source = trajectory[0]
    solved = [source]
    ascending = list(reversed(timesteps))  # the sampling step that leaves z_k runs at ascending[k - 1]
    with pipe.progress_bar(total=len(ascending)) as progress_bar:
        for k, t in enumerate(ascending, start=1):
            target = solved[-1]
            warm_start = (trajectory[k] - trajectory[k - 1] + target) * mask

            def residual_fn(latents, t=t, target=target):
                return sampler.step(latents, t) - target

            current, rms = _anderson_solve(residual_fn, warm_start, sampler.slope(t, warm_start), padding_mask,
                                           num_fixed_point_steps, tolerance)
            if rms > tolerance and num_least_squares_steps > 0:
                refined, refined_rms = _least_squares_solve(residual_fn, current, padding_mask,
                                                            num_least_squares_steps)
                if refined_rms < rms:
                    current = refined
            solved.append(current)
            progress_bar.update()
    start = solved[-1]
    if num_optimization_steps <= 0:
        return start
    start = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([start], lr=learning_rate)
    best, best_loss = start.detach().clone(), math.inf
    with torch.enable_grad(), pipe.progress_bar(total=num_optimization_steps) as progress_bar:
        for _ in range(num_optimization_steps):
            current = start
            for t in timesteps:
                current = torch.utils.checkpoint.checkpoint(sampler.step, current, t, use_reentrant=False)
            loss = _masked_mse(current, source, padding_mask).sum()
            if float(loss.detach()) < best_loss:
                best, best_loss = start.detach().clone(), float(loss)
            (start.grad,) = torch.autograd.grad(loss, [start])
            optimizer.step()
            progress_bar.update()
    return best


# ----------------------------------------------------------------------------------------------------------------------
# Encoder-based (amortized) inversion


@dataclass
class InversionEncoderOutput(BaseOutput):
    """
    Args:
        sample (`torch.Tensor` of shape `(batch_size, latent_channels, num_frames)`): the predicted inverted latents.
    """

    sample: torch.Tensor


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.norm = nn.GroupNorm(1, channels)
        self.conv1 = nn.Conv1d(channels, channels, 5, padding=2 * dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, 1)

    def forward(self, x, mask):
        return x + self.conv2(F.gelu(self.conv1(self.norm(x) * mask))) * mask


class InversionEncoder(ModelMixin, ConfigMixin):
    r"""
    Amortized DDIM inversion: clean normalized latents and frame attributes → the DDIM-inverted latents at
    `inversion_depth` in one pass (a stack of dilated residual convolutions, receptive field ~2 s at 125 frames/s).

    The output adds a learned correction to the noise-free part `sqrt(alpha_bar_T) x_0` of the inverted latents.

    Args:
        latent_channels (`int`, *optional*, defaults to 64): channels of the codec latents.
        condition_channels (`int`, *optional*, defaults to 3): channels of the frame attributes (f0: 2, energy: 1).
        hidden_channels (`int`, *optional*, defaults to 128): width.
        num_layers (`int`, *optional*, defaults to 8): residual blocks; dilations cycle 1, 2, 4, 8.
        num_inference_steps (`int`, *optional*, defaults to 50): the DDIM steps of the teacher inversions.
        inversion_depth (`float`, *optional*, defaults to 1.0): the depth of the teacher inversions.
        signal_scale (`float`, *optional*, defaults to 0.0): `sqrt(alpha_bar)` at that depth (set by the recipe).
        training_info (`dict`, *optional*): free-form provenance.
    """

    @register_to_config
    def __init__(
        self,
        latent_channels: int = 64,
        condition_channels: int = 3,
        hidden_channels: int = 128,
        num_layers: int = 8,
        num_inference_steps: int = 50,
        inversion_depth: float = 1.0,
        signal_scale: float = 0.0,
        training_info: dict | None = None,
    ):
        super().__init__()
        self.input_proj = nn.Conv1d(latent_channels + condition_channels, hidden_channels, 3, padding=1)
        self.blocks = nn.ModuleList(_ResidualBlock(hidden_channels, 2 ** (i % 4)) for i in range(num_layers))
        self.output_norm = nn.GroupNorm(1, hidden_channels)
        self.output_proj = nn.Conv1d(hidden_channels, latent_channels, 3, padding=1)

    def forward(
        self,
        latents: torch.Tensor,
        frame_conditions: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> InversionEncoderOutput | tuple:
        r"""
        Args:
            latents (`torch.Tensor` of shape `(batch_size, latent_channels, num_frames)`): clean normalized latents.
            frame_conditions (`torch.Tensor` of shape `(batch_size, condition_channels, num_frames)`): the frame
                attributes as `AttributeSchema.encode` normalizes them, concatenated (see [`frame_condition_tensor`]).
            padding_mask (`torch.Tensor` of shape `(batch_size, num_frames)`, *optional*): True on real frames.
            return_dict (`bool`, *optional*, defaults to `True`): return an `InversionEncoderOutput` or a tuple.
        """
        if latents.shape[1] != self.config.latent_channels:
            raise ValueError(f"`latents` has {latents.shape[1]} channels, expected {self.config.latent_channels}")
        if frame_conditions.shape[1] != self.config.condition_channels or frame_conditions.shape[-1] != latents.shape[-1]:
            raise ValueError(f"`frame_conditions` has shape {tuple(frame_conditions.shape)}, expected "
                             f"(batch, {self.config.condition_channels}, {latents.shape[-1]})")
        if padding_mask is None:
            padding_mask = torch.ones(latents.shape[0], latents.shape[-1], dtype=torch.bool, device=latents.device)
        mask = padding_mask[:, None].to(latents.dtype)  # (B, 1, T)
        inputs = torch.cat([latents, torch.nan_to_num(frame_conditions.to(latents.dtype))], dim=1) * mask
        hidden = self.input_proj(inputs)  # (B, H, T)
        for block in self.blocks:
            hidden = block(hidden, mask)
        correction = self.output_proj(F.gelu(self.output_norm(hidden)) * mask)
        sample = (self.config.signal_scale * latents + correction) * mask
        if not return_dict:
            return (sample,)
        return InversionEncoderOutput(sample=sample)


def frame_condition_tensor(pipe, sources, num_frames: int) -> torch.Tensor:
    """The frame attributes of `sources` as the denoiser sees them, concatenated: `(B, sum of dims, num_frames)`."""
    conditions = pipe.encode_conditions(sources, num_frames)
    names = [spec["name"] for spec in pipe.schema.specs if spec["type"] == "frame"]
    if not names:
        return torch.zeros(len(sources), 0, num_frames, device=pipe._execution_device)
    return torch.cat([conditions[name] for name in names], dim=1)


@torch.no_grad()
def encoder_inversion(pipe, encoder: InversionEncoder, source_latents, padding_mask, sources) -> torch.Tensor:
    """The encoder's one-pass prediction of the inverted latents `(B, C, T)` (zero past each clip)."""
    conditions = frame_condition_tensor(pipe, sources, source_latents.shape[-1])
    return encoder(source_latents.to(encoder.dtype), conditions.to(encoder.dtype), padding_mask).sample


def inversion_signal_scale(scheduler, num_inference_steps: int, inversion_depth: float) -> float:
    """`sqrt(alpha_bar)` at the deepest timestep an inversion of `num_inference_steps` reaches at `inversion_depth`."""
    scheduler = type(scheduler).from_config(scheduler.config)
    scheduler.set_timesteps(num_inference_steps)
    num_steps = max(1, round(inversion_depth * num_inference_steps))
    t = int(scheduler.timesteps[num_inference_steps - num_steps])
    return math.sqrt(float(scheduler.alphas_cumprod[t]))


# ----------------------------------------------------------------------------------------------------------------------
# Dispatch from `VoiceEditPipeline.invert`

_OPTIONS = {
    "null-opt": {"num_inner_steps", "learning_rate", "tolerance", "per_frame", "pivot_guidance_scale"},
    "latent-opt": {"num_fixed_point_steps", "num_least_squares_steps", "tolerance", "num_optimization_steps",
                   "learning_rate"},
    "encoder": set(),
}


def check_method(pipe, method: str, inversion_depth: float, options: dict | None) -> None:
    """Refuse an unknown method, options it does not take, and what it cannot run with."""
    if method not in INVERSION_METHODS:
        raise ValueError(f"`method` must be 'ddim' or 'ddpm', or an optimized or amortized inversion ('null-opt', "
                         f"'latent-opt', 'encoder'), got {method!r}")
    unknown = set(options or {}) - _OPTIONS.get(method, set())
    if unknown:
        raise ValueError(f"`inversion_options` {sorted(unknown)} do not apply to method {method!r} (it takes "
                         f"{sorted(_OPTIONS.get(method, set())) or 'none'})")
    if method in ("null-opt", "latent-opt") and type(pipe.scheduler).__name__ != "DDIMScheduler":
        raise ValueError(f"method {method!r} optimizes against the deterministic DDIM sampler; this pipeline has a "
                         f"`{type(pipe.scheduler).__name__}`")
    if method == "encoder":
        encoder = getattr(pipe, "inversion_encoder", None)
        if encoder is None:
            raise ValueError("method 'encoder' needs an `inversion_encoder` component (train one with "
                             "scripts/train_inversion_encoder.py and save it in the pipeline folder)")
        if abs(encoder.config.inversion_depth - inversion_depth) > 1e-6:
            raise ValueError(f"the inversion encoder was trained at depth {encoder.config.inversion_depth}, "
                             f"got `inversion_depth`={inversion_depth}")


def invert_with(
    pipe,
    method: str,
    source_latents: torch.Tensor,
    padding_mask: torch.Tensor,
    sources,
    conditioned,
    num_condition_frames: int,
    plan,
    num_inference_steps: int,
    inversion_depth: float,
    guidance_scale: float,
    guidance_reference: str,
    options: dict | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """
    Run `"null-opt"`, `"latent-opt"` or `"encoder"` inversion for `VoiceEditPipeline.invert`.

    Args:
        source_latents (`torch.Tensor` of shape `(batch_size, latent_channels, num_frames)`): clean normalized latents.
        padding_mask (`torch.Tensor` of shape `(batch_size, num_frames)`): True on real frames.
        sources (`list[SourceAttributes]`): measured attributes per clip.
        conditioned (`list[SourceAttributes]`): the same per denoiser window (`sources` without a window plan).
        num_condition_frames (`int`): frames of the condition tensors (the window width with a plan).
        plan: the pipeline's window plan, or None.
        guidance_scale (`float`), guidance_reference (`str`): of the regeneration the inversion is made for.
        options (`dict`, *optional*): keyword arguments of [`null_condition_optimization`] or
            [`latent_optimization`].

    Returns:
        `(latents, reference_offsets)`: the inverted latents `(batch_size, latent_channels, num_frames)` and, for
        `"null-opt"`, the per-step reference embeddings `(num_steps, batch_size, hidden_size, num_frames)` (per
        frame) or `(num_steps, batch_size, hidden_size)` (else None).
    """
    options = dict(options or {})
    if method == "encoder":
        return encoder_inversion(pipe, pipe.inversion_encoder, source_latents, padding_mask, sources), None
    timesteps = pipe._timesteps(num_inference_steps, inversion_depth, source_latents.device)
    regeneration = GuidedSampler.for_regeneration(pipe, conditioned, num_condition_frames, padding_mask, plan,
                                                  guidance_scale, guidance_reference)
    if method == "null-opt":
        # the paper's pivot, DDIM inversion at guidance 1, for per-frame embeddings (39.8 against 38.2 dB with the
        # regeneration's guidance); one global embedding per step cannot pull a guided step that far, so its pivot is
        # the inversion at the regeneration's own guidance
        pivot_scale = options.pop("pivot_guidance_scale", 1.0 if options.get("per_frame", True) else None)
        pivot = regeneration if pivot_scale is None else GuidedSampler.for_regeneration(
            pipe, conditioned, num_condition_frames, padding_mask, plan, pivot_scale, guidance_reference)
        trajectory = ddim_trajectory(pipe, source_latents, padding_mask, num_inference_steps, inversion_depth, pivot)
        offsets, _ = null_condition_optimization(regeneration, trajectory, timesteps, **options)
        return trajectory[-1], offsets
    trajectory = ddim_trajectory(pipe, source_latents, padding_mask, num_inference_steps, inversion_depth,
                                 regeneration)
    return latent_optimization(regeneration, trajectory, timesteps, **options), None
