"""`LatentDenoiser1D`: a DiT-style transformer over codec latents `(batch, channels, frames)`, conditioned on an
attribute schema (frame-level contours, clip-level scalars and labels) with a learned null per attribute.

Backbone choice: a transformer with adaLN-Zero-style modulation (Peebles & Xie, "Scalable Diffusion Models with
Transformers", 2023) and a depthwise convolution per block for local, length-independent position information. Global
attention lets the whole utterance agree on voice and style; the convolution gives the frame-level alignment that
F0 conditioning needs; nothing depends on a maximum length, so any clip length works, and a key padding mask makes
a batch of unequal lengths give the same result as its items one by one. Frame attributes (the F0 contour above all)
are added to the input frames, which is what lets a pitch edit land after a full DDIM inversion: the inverted noise
keeps the source pitch, so the model must take pitch from the contour, not from the noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

from ..attributes import validate_schema


@dataclass
class LatentDenoiserOutput(BaseOutput):
    """
    Args:
        sample (`torch.Tensor` of shape `(batch_size, latent_channels, num_frames)`):
            The model prediction (v, epsilon or x0, as the scheduler's `prediction_type` says).
    """

    sample: torch.Tensor


def _modulate(x, shift, scale):
    return x * (1 + scale[:, None]) + shift[:, None]


class DenoiserBlock(nn.Module):
    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float, conv_kernel_size: int):
        super().__init__()
        self.num_heads = num_heads
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.proj = nn.Linear(hidden_size, hidden_size)
        self.conv = nn.Conv1d(hidden_size, hidden_size, conv_kernel_size, padding=conv_kernel_size // 2,
                              groups=hidden_size)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(hidden_size, int(hidden_size * mlp_ratio)), nn.GELU(approximate="tanh"),
                                 nn.Linear(int(hidden_size * mlp_ratio), hidden_size))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size))

    def forward(self, x, cond, key_mask, frame_mask):
        # x: (B, T, D); cond: (B, D); key_mask: (B, 1, 1, T) bool, True = attend; frame_mask: (B, T, 1)
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(cond).chunk(6, dim=-1)
        batch, frames, dim = x.shape
        h = _modulate(self.norm1(x), shift1, scale1)
        q, k, v = self.qkv(h).view(batch, frames, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)  # (B, nh, T, hs)
        x = x + gate1[:, None] * self.proj(h.transpose(1, 2).reshape(batch, frames, dim))
        x = x + self.conv((x * frame_mask).transpose(1, 2)).transpose(1, 2)  # local mixing, zeros past the end
        x = x + gate2[:, None] * self.mlp(_modulate(self.norm2(x), shift2, scale2))
        return x


class TimbreEncoder(nn.Module):
    r"""
    A global voice embedding from clean latents of the voice's own recording: convolutions over the latent frames,
    then the mean and standard deviation over the real frames (statistics pooling, as speaker encoders and global
    style tokens do), projected to the denoiser width. The projection starts at zero, so a denoiser that gains a
    timbre encoder begins as it was.
    """

    def __init__(self, latent_channels: int, hidden_size: int, num_layers: int, kernel_size: int = 5):
        super().__init__()
        self.input_proj = nn.Conv1d(latent_channels, hidden_size, kernel_size, padding=kernel_size // 2)
        self.layers = nn.ModuleList(
            nn.Sequential(nn.SiLU(), nn.Conv1d(hidden_size, hidden_size, kernel_size, padding=kernel_size // 2))
            for _ in range(num_layers - 1)
        )
        self.output_proj = nn.Linear(2 * hidden_size, hidden_size)
        nn.init.zeros_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def forward(self, latents: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """`(B, C, T)` normalized latents and `(B, T)` True on real frames → `(B, hidden_size)`."""
        weight = mask[:, None].to(latents.dtype)  # (B, 1, T)
        h = self.input_proj(latents * weight) * weight
        for layer in self.layers:
            h = (h + layer(h)) * weight
        count = weight.sum(-1).clamp_min(1.0)
        mean = h.sum(-1) / count
        std = ((((h - mean[..., None]) * weight) ** 2).sum(-1) / count).clamp_min(1e-6).sqrt()
        return self.output_proj(torch.cat([mean, std], dim=-1))


def octave_safe_frequencies(num_pairs: int, f0_std_semitones: float) -> list[float]:
    """Fourier frequencies (cycles per normalized unit) for frame attributes whose log-F0 channel is normalized by
    `f0_std_semitones`: (k + 1/2) cycles per octave for k = 0 ... `num_pairs` - 1, so that every sine/cosine pair
    changes sign between an F0 and the F0 an octave away (periods of 24, 8, 4.8, 3.4, 2.7 st for five pairs) and the
    condition cannot mistake one for the other; the value itself tells the two octaves of a double octave apart."""
    if num_pairs < 0 or not f0_std_semitones > 0:
        raise ValueError(f"need num_pairs >= 0 and a positive std, got {num_pairs} and {f0_std_semitones}")
    return [(k + 0.5) * f0_std_semitones / 12.0 for k in range(num_pairs)]


class LatentDenoiser1D(ModelMixin, ConfigMixin):
    r"""
    A conditional denoiser over continuous codec latents.

    Args:
        latent_channels (`int`, *optional*, defaults to 64): channels of the codec latents.
        hidden_size (`int`, *optional*, defaults to 256): transformer width.
        num_layers (`int`, *optional*, defaults to 6): number of transformer blocks.
        num_heads (`int`, *optional*, defaults to 4): attention heads.
        mlp_ratio (`float`, *optional*, defaults to 4.0): feed-forward width / `hidden_size`.
        conv_kernel_size (`int`, *optional*, defaults to 5): depthwise convolution kernel in each block.
        attributes (`list[dict]`, *optional*): the attribute schema (see `latentdiff_edit.attributes`).
        frame_fourier_features (`int`, *optional*, defaults to 0): sine/cosine pairs added per frame-attribute channel
            (periods from 4 down to 4 / 2**(n-1) normalized units) before the frame embedding. A linear embedding of
            normalized log-F0 makes a 3 semitone change a small, linear nudge of the input; Fourier features let the
            network respond sharply to it (Tancik et al., 2020).
        frame_fourier_frequencies (`list[float]`, *optional*): the pairs' frequencies in cycles per normalized unit.
            None: 0.25 * 2**k, whose periods (4, 2, 1, ... units) all divide 4 units; with log-F0 normalized by a
            std near 6.5 st that puts every pair but the first nearly in phase 13 st apart, so the embedding of an F0
            13 st above the asked one lies closer to it than one 2 st away, and one 12 st above as close (measured on
            v0.10's denoiser, docs/benchmark/fourier_octave/).
            `octave_safe_frequencies` gives frequencies that turn every pair half a cycle over an octave.
        timbre_layers (`int`, *optional*, defaults to 0): convolution layers of a [`TimbreEncoder`] that turns clean
            latents of the speaker's own recording (`timbre_latents`) into a global condition, kept fixed while an
            edit moves F0 so that the voice is not redrawn (NaturalSpeech 2's prompt encoder, global style tokens).
            0: no timbre condition.
        timbre_max_frames (`int`, *optional*, defaults to 500): longest reference the pipeline passes (a centred
            crop of the source); training draws references up to this length.
        latents_mean (`list[float]`, *optional*): per-channel mean of the codec latents (normalization).
        latents_std (`list[float]`, *optional*): per-channel std of the codec latents (normalization).
        training_info (`dict`, *optional*): free-form provenance (data, steps) kept with the weights.
    """

    @register_to_config
    def __init__(
        self,
        latent_channels: int = 64,
        hidden_size: int = 256,
        num_layers: int = 6,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        conv_kernel_size: int = 5,
        attributes: list[dict] | None = None,
        frame_fourier_features: int = 0,
        frame_fourier_frequencies: list[float] | None = None,
        timbre_layers: int = 0,
        timbre_max_frames: int = 500,
        latents_mean: list[float] | None = None,
        latents_std: list[float] | None = None,
        training_info: dict | None = None,
    ):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"`hidden_size` ({hidden_size}) must be divisible by `num_heads` ({num_heads})")
        specs = validate_schema(attributes or [])
        if frame_fourier_frequencies is not None and len(frame_fourier_frequencies) != frame_fourier_features:
            raise ValueError(f"`frame_fourier_frequencies` needs {frame_fourier_features} values (one per pair), got "
                             f"{len(frame_fourier_frequencies)}")
        for stat in (latents_mean, latents_std):
            if stat is not None and len(stat) != latent_channels:
                raise ValueError(f"latent statistics need {latent_channels} values, got {len(stat)}")
        self.time_proj = Timesteps(hidden_size, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(hidden_size, hidden_size)
        self.input_proj = nn.Conv1d(latent_channels, hidden_size, 3, padding=1)

        self.frame_embedders = nn.ModuleDict()
        self.global_embedders = nn.ModuleDict()
        self.null_embeddings = nn.ParameterDict()
        for spec in specs:
            name = spec["name"]
            if spec["type"] == "frame":
                in_dim = spec["dim"] * (1 + 2 * frame_fourier_features)
                self.frame_embedders[name] = nn.Conv1d(in_dim, hidden_size, 3, padding=1)
            elif spec["type"] == "continuous":
                self.global_embedders[name] = nn.Sequential(
                    nn.Linear(1, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size)
                )
            else:
                self.global_embedders[name] = nn.Embedding(len(spec["categories"]), hidden_size)
            self.null_embeddings[name] = nn.Parameter(torch.randn(hidden_size) * 0.02)

        if timbre_layers < 0 or timbre_max_frames < 1:
            raise ValueError(f"`timbre_layers` must be >= 0 and `timbre_max_frames` >= 1, got {timbre_layers}, "
                             f"{timbre_max_frames}")
        if timbre_layers:
            self.timbre_encoder = TimbreEncoder(latent_channels, hidden_size, timbre_layers)
            self.timbre_null = nn.Parameter(torch.randn(hidden_size) * 0.02)

        self.blocks = nn.ModuleList(
            DenoiserBlock(hidden_size, num_heads, mlp_ratio, conv_kernel_size) for _ in range(num_layers)
        )
        self.final_norm = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))
        self.output_proj = nn.Linear(hidden_size, latent_channels)

    def _fourier(self, value: torch.Tensor) -> torch.Tensor:
        """`(B, dim, T)` → `(B, dim * (1 + 2 * n), T)`: the values and their sine/cosine features."""
        n = self.config.frame_fourier_features
        if not n:
            return value
        cycles = self.config.frame_fourier_frequencies
        if cycles is None:
            frequencies = 0.5 * torch.pi * 2.0 ** torch.arange(n, device=value.device, dtype=value.dtype)  # 2π·0.25·2^k
        else:
            frequencies = 2 * torch.pi * torch.tensor(cycles, device=value.device, dtype=value.dtype)
        angles = value[:, :, None] * frequencies[None, None, :, None]  # (B, dim, n, T)
        features = torch.cat([angles.sin(), angles.cos()], dim=2).flatten(1, 2)
        return torch.cat([value, features], dim=1)

    def embed_conditions(
        self, conditions: dict[str, torch.Tensor] | None, batch_size: int, num_frames: int,
        padding_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Condition tensors (see `AttributeSchema.encode`) → a global embedding `(B, D)` and a frame embedding
        `(B, D, T)`. A missing attribute, NaN (continuous) or -1 (categorical) selects that attribute's null.
        Frame features past `padding_mask` (True on real frames) are zeroed, so padding never reaches real frames."""
        conditions = conditions or {}
        unknown = set(conditions) - set(self.null_embeddings)
        if unknown:
            raise ValueError(f"unknown attribute(s) {sorted(unknown)}; the denoiser knows {list(self.null_embeddings)}")
        dim = self.config.hidden_size
        # `self.dtype` is the compute dtype: under `enable_layerwise_casting` the weights are stored in float8 and
        # cast per layer, so a weight's own dtype is not what the embeddings are computed in
        device, dtype = self.device, self.dtype
        global_emb = torch.zeros(batch_size, dim, device=device, dtype=dtype)
        frame_emb = torch.zeros(batch_size, dim, num_frames, device=device, dtype=dtype)
        for name, null in self.null_embeddings.items():
            value = conditions.get(name)
            if name in self.frame_embedders:
                if value is None:
                    frame_emb = frame_emb + null[None, :, None]
                    continue
                if value.shape[0] != batch_size or value.shape[-1] != num_frames:
                    raise ValueError(f"frame attribute `{name}` has shape {tuple(value.shape)}, expected "
                                     f"({batch_size}, dim, {num_frames})")
                value = value.to(device, dtype)
                keep = ~torch.isnan(value).flatten(1).all(dim=1)  # an all-NaN row is that item's null
                features = self._fourier(torch.nan_to_num(value))
                if padding_mask is not None:
                    features = features * padding_mask[:, None, :].to(features)
                emb = self.frame_embedders[name](features)
                frame_emb = frame_emb + torch.where(keep[:, None, None], emb, null[None, :, None])
                continue
            if value is None:
                global_emb = global_emb + null
                continue
            if isinstance(self.global_embedders[name], nn.Embedding):
                keep = value >= 0
                emb = self.global_embedders[name](value.clamp_min(0).to(device))
            else:
                keep = torch.isfinite(value)
                emb = self.global_embedders[name](torch.nan_to_num(value).to(device, dtype)[:, None])
            global_emb = global_emb + torch.where(keep.to(device)[:, None], emb, null[None])
        return global_emb, frame_emb

    @property
    def has_timbre(self) -> bool:
        """Whether the model takes a timbre condition (`timbre_latents`)."""
        return self.config.timbre_layers > 0

    def with_attributes(self, specs: list[dict]) -> LatentDenoiser1D:
        """
        A copy conditioned on more attributes: `specs` (schema entries, see `latentdiff_edit.attributes`) are added,
        their embeddings and nulls zero-initialized, so the copy predicts exactly what this model does, given the new
        attributes or not, until training teaches it to use them (ControlNet's zero convolutions).
        """
        names = [s["name"] for s in specs]
        known = set(self.null_embeddings)
        if not names or known & set(names):
            raise ValueError(f"`with_attributes` adds new attributes; got {names}, the model knows {sorted(known)}")
        config = {k: v for k, v in self.config.items() if not k.startswith("_")}
        config["attributes"] = [*self.config.attributes, *specs]
        extended = type(self).from_config(config)
        missing, unexpected = extended.load_state_dict(self.state_dict(), strict=False)
        if unexpected or any(not any(f".{name}" in m for name in names) for m in missing):
            raise RuntimeError(f"unexpected weights when extending the model: missing {missing}, extra {unexpected}")
        with torch.no_grad():
            for name in names:
                embedder = extended.frame_embedders[name] if name in extended.frame_embedders else \
                    extended.global_embedders[name]
                last = embedder[-1] if isinstance(embedder, nn.Sequential) else embedder  # gradients still flow
                for parameter in last.parameters():
                    parameter.zero_()
                extended.null_embeddings[name].zero_()
        return extended.to(self.device, self.dtype)

    def embed_timbre(
        self, batch_size: int, timbre_latents: torch.Tensor | None = None, timbre_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The timbre embedding `(B, D)`: the encoder's, or the learned null for a missing reference and for rows
        whose `timbre_mask` has no real frame (condition dropout in training, `timbre_condition=False` in edits)."""
        null = self.timbre_null[None].expand(batch_size, -1)
        if timbre_latents is None:
            return null
        if timbre_latents.shape[0] != batch_size or timbre_latents.shape[1] != self.config.latent_channels:
            raise ValueError(f"`timbre_latents` has shape {tuple(timbre_latents.shape)}, expected "
                             f"({batch_size}, {self.config.latent_channels}, frames)")
        if timbre_mask is None:
            timbre_mask = torch.ones(batch_size, timbre_latents.shape[-1], dtype=torch.bool)
        timbre_mask = timbre_mask.to(self.device, torch.bool)
        emb = self.timbre_encoder(timbre_latents.to(self.device, self.dtype), timbre_mask)
        return torch.where(timbre_mask.any(-1)[:, None], emb, null)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        conditions: dict[str, torch.Tensor] | None = None,
        padding_mask: torch.Tensor | None = None,
        condition_offset: torch.Tensor | None = None,
        timbre_latents: torch.Tensor | None = None,
        timbre_mask: torch.Tensor | None = None,
        frame_condition_offset: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> LatentDenoiserOutput | tuple:
        r"""
        Args:
            sample (`torch.Tensor` of shape `(batch_size, latent_channels, num_frames)`): noisy normalized latents.
            timestep (`torch.Tensor` or `int`): diffusion timestep(s), a scalar or `(batch_size,)`.
            conditions (`dict[str, torch.Tensor]`, *optional*): attribute tensors from `AttributeSchema.encode`.
            padding_mask (`torch.Tensor` of shape `(batch_size, num_frames)`, *optional*): True on real frames.
            condition_offset (`torch.Tensor` of shape `(batch_size, hidden_size)` or `(hidden_size,)`, *optional*):
                added to the global condition embedding (direction edits in condition space).
            timbre_latents (`torch.Tensor` of shape `(batch_size, latent_channels, reference_frames)`, *optional*):
                clean normalized latents of the speaker's recording (models with `timbre_layers` > 0; None: null).
            timbre_mask (`torch.Tensor` of shape `(batch_size, reference_frames)`, *optional*): True on the
                reference's real frames; a row without any selects that item's null timbre.
            frame_condition_offset (`torch.Tensor` of shape `(batch_size, hidden_size, num_frames)`, *optional*):
                added to the frame condition embedding, frame by frame (null-condition inversion's per-frame
                reference embeddings).
            return_dict (`bool`, *optional*, defaults to `True`): return a `LatentDenoiserOutput` or a tuple.
        """
        batch, _, frames = sample.shape
        if not torch.is_tensor(timestep):
            timestep = torch.tensor([timestep], device=sample.device)
        timestep = timestep.reshape(-1).expand(batch).to(sample.device)
        if padding_mask is None:
            padding_mask = torch.ones(batch, frames, dtype=torch.bool, device=sample.device)
        padding_mask = padding_mask.to(sample.device, torch.bool)

        t_emb = self.time_embedding(self.time_proj(timestep).to(sample.dtype))  # (B, D)
        global_emb, frame_emb = self.embed_conditions(conditions, batch, frames, padding_mask)
        cond = t_emb + global_emb
        if self.has_timbre:
            cond = cond + self.embed_timbre(batch, timbre_latents, timbre_mask).to(cond.dtype)
        elif timbre_latents is not None:
            raise ValueError("this denoiser has no timbre condition (timbre_layers=0); pass timbre_latents=None")
        if condition_offset is not None:
            cond = cond + condition_offset.to(cond.dtype)
        if frame_condition_offset is not None:
            if frame_condition_offset.shape != frame_emb.shape:
                raise ValueError(f"`frame_condition_offset` must have shape {tuple(frame_emb.shape)} (batch_size, "
                                 f"hidden_size, num_frames), got {tuple(frame_condition_offset.shape)}")
            frame_emb = frame_emb + frame_condition_offset.to(frame_emb.dtype)

        frame_mask = padding_mask[:, :, None].to(sample.dtype)  # (B, T, 1)
        x = (self.input_proj(sample * frame_mask.transpose(1, 2)) + frame_emb).transpose(1, 2)  # (B, T, D)
        # (B, 1, 1, T); None when nothing is padded, which lets attention take its faster unmasked kernels
        key_mask = None if bool(padding_mask.all()) else padding_mask[:, None, None, :]
        for block in self.blocks:
            x = block(x, cond, key_mask, frame_mask)
        shift, scale = self.final_modulation(cond).chunk(2, dim=-1)
        out = self.output_proj(_modulate(self.final_norm(x), shift, scale)) * frame_mask  # (B, T, C)
        out = out.transpose(1, 2)
        if not return_dict:
            return (out,)
        return LatentDenoiserOutput(sample=out)
