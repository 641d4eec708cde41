# Copyright 2026 The latentdiff-edit developers. Licensed under the Apache License, Version 2.0.
"""`VoiceEditPipeline`: invert a recording into the noise latents of a latent diffusion model over EnCodec latents,
then regenerate it with edited attributes (classifier-free guidance toward target attributes, or a direction)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import DDIMInverseScheduler, DDIMScheduler, DiffusionPipeline
from diffusers.utils import BaseOutput, logging, replace_example_docstring
from diffusers.utils.torch_utils import randn_tensor
from transformers import EncodecModel

from latentdiff_edit import codec as codec_utils
from latentdiff_edit.attributes import AttributeSchema, SourceAttributes, measure_source_attributes
from latentdiff_edit.audio import DEFAULT_MAX_SECONDS, prepare_audio
from latentdiff_edit.defaults import DEFAULT_GUIDANCE_SCALE, DEFAULT_INVERSION_DEPTH  # noqa: F401
from latentdiff_edit.latents import latent_snr_db
from latentdiff_edit.models.denoiser import LatentDenoiser1D
from latentdiff_edit.models.vocoder import VocosVocoder

logger = logging.get_logger(__name__)

EXAMPLE_DOC_STRING = """
    Examples:
        ```py
        >>> import soundfile as sf
        >>> from latentdiff_edit import VoiceEditPipeline

        >>> pipe = VoiceEditPipeline.from_pretrained("path/or/hub-id")  # or load_default_pipeline()
        >>> audio, sr = sf.read("speech.wav")
        >>> inversion = pipe.invert(audio, sampling_rate=sr, num_inference_steps=50)
        >>> edited = pipe(inversion=inversion, pitch_shift=3.0, guidance_scale=2.0).audios[0]
        >>> sf.write("speech_up3.wav", edited, pipe.sampling_rate)
        ```
"""


@dataclass
class VoiceInversionOutput(BaseOutput):
    """
    Output of [`VoiceEditPipeline.invert`]; pass it back as `__call__(inversion=...)`.

    Args:
        latents (`torch.Tensor` of shape `(batch_size, latent_channels, num_frames)`):
            The inverted (noisy) latents at `inversion_depth`.
        source_latents (`torch.Tensor` of shape `(batch_size, latent_channels, num_frames)`):
            The normalized clean latents of the input, for reconstruction checks.
        source_attributes (`list[SourceAttributes]`): measured F0/energy contours and clip-level attributes.
        padding_mask (`torch.Tensor` of shape `(batch_size, num_frames)`): True on real frames.
        num_samples (`list[int]`): each clip's length in samples at the codec's rate.
        num_inference_steps (`int`): steps of the full schedule the inversion used.
        inversion_depth (`float`): fraction of the schedule inverted (1.0 = to pure noise).
        method (`str`): `"ddim"` or `"ddpm"` (edit-friendly DDPM inversion).
        noise_maps (`torch.Tensor` of shape `(num_steps, batch_size, latent_channels, num_frames)`, *optional*):
            for `"ddpm"`: per sampling step, what the stochastic step adds to the predicted mean (the scaled
            edit-friendly noise); regeneration adds them back.
    """

    latents: torch.Tensor
    source_latents: torch.Tensor
    source_attributes: list[SourceAttributes]
    padding_mask: torch.Tensor
    num_samples: list[int]
    num_inference_steps: int
    inversion_depth: float
    method: str = "ddim"
    noise_maps: torch.Tensor | None = None


@dataclass
class EditDirection(BaseOutput):
    """
    A direction from [`VoiceEditPipeline.construct_direction`].

    Args:
        vector (`torch.Tensor`): `(hidden_size,)` in condition space, `(latent_channels, 1)` in noise space.
        space (`str`): `"condition"` (added to the denoiser's global condition) or `"noise"` (added to the
            inverted latents).
    """

    vector: torch.Tensor
    space: str


@dataclass
class VoiceEditPipelineOutput(BaseOutput):
    """
    Args:
        audios (`np.ndarray` or `torch.Tensor`): `(batch_size, num_samples)` audio at `sampling_rate`, zero-padded
            after each clip's own length; or the normalized latents `(batch_size, latent_channels, num_frames)` for
            `output_type="latent"`.
        num_samples (`list[int]`): each clip's length in samples.
        sampling_rate (`int`): the codec's sampling rate.
        attributes (`list[SourceAttributes]`): the target attributes each clip was generated with.
    """

    audios: np.ndarray | torch.Tensor
    num_samples: list[int]
    sampling_rate: int
    attributes: list[SourceAttributes] | None = None


@dataclass
class ReconstructionOutput(BaseOutput):
    """
    Args:
        snr_db (`list[float]`): latent SNR of invert → regenerate against the source latents, per clip (dB).
        latents (`torch.Tensor`): the regenerated normalized latents.
    """

    snr_db: list[float]
    latents: torch.Tensor


class VoiceEditPipeline(DiffusionPipeline):
    r"""
    Edit the attributes of a voice recording by DDIM inversion in the latent space of an EnCodec codec.

    Args:
        codec ([`~transformers.EncodecModel`]): the codec; its encoder output before quantization is the latent space.
        denoiser ([`LatentDenoiser1D`]): the attribute-conditioned denoiser; its config holds the attribute schema
            and the latent normalization statistics.
        scheduler ([`~diffusers.DDIMScheduler`]): sampling scheduler.
        inverse_scheduler ([`~diffusers.DDIMInverseScheduler`], *optional*): inversion scheduler; when absent,
            `invert` builds one from the scheduler's config for each call (the registered components never change).
        vocoder ([`VocosVocoder`], *optional*): a Vocos decoder trained on the codec's latents; when absent the
            codec's own decoder renders audio.
    """

    model_cpu_offload_seq = "denoiser->codec->vocoder"
    _optional_components = ["inverse_scheduler", "vocoder"]
    _callback_tensor_inputs = ["latents"]

    def __init__(
        self,
        codec: EncodecModel,
        denoiser: LatentDenoiser1D,
        scheduler: DDIMScheduler,
        inverse_scheduler: DDIMInverseScheduler | None = None,
        vocoder: VocosVocoder | None = None,
    ):
        super().__init__()
        self.register_modules(
            codec=codec, denoiser=denoiser, scheduler=scheduler, inverse_scheduler=inverse_scheduler, vocoder=vocoder
        )
        if vocoder is not None and codec is not None and vocoder.config.hop_length != codec.config.hop_length:
            raise ValueError(
                f"`vocoder` hop_length {vocoder.config.hop_length} differs from the codec's {codec.config.hop_length}"
            )
        self.sampling_rate = codec.config.sampling_rate if getattr(self, "codec", None) else 24000

    @classmethod
    def load_config(cls, *args, **kwargs):
        # A published folder names its class `[module file, class]` (see `latentdiff_edit.apps.hub.prepare_for_hub`)
        # so that plain `DiffusionPipeline.from_pretrained` loads the copied source; loading through this class
        # itself means the installed code, so the entry is read as this class's name.
        output = super().load_config(*args, **kwargs)
        config = output[0] if isinstance(output, tuple) else output
        class_name = config.get("_class_name")
        if isinstance(class_name, (list, tuple)) and list(class_name)[-1] == cls.__name__:
            config["_class_name"] = cls.__name__
        return output

    # ----------------------------------------------------------------------------------------------------------
    # Helpers: schema, latent normalization, audio preparation

    @property
    def schema(self) -> AttributeSchema:
        return AttributeSchema(self.denoiser.config.attributes or [])

    @property
    def hop_length(self) -> int:
        return codec_utils.hop_length(self.codec)

    @property
    def guidance_scale(self) -> float:
        """The guidance scale of the running (or last) `__call__`; a step-end callback may change `_guidance_scale`."""
        return self._guidance_scale

    @property
    def do_classifier_free_guidance(self) -> bool:
        """Whether the running (or last) `__call__` evaluates more than one condition branch per step."""
        return self._do_classifier_free_guidance

    @property
    def num_timesteps(self) -> int:
        """Denoising steps of the running (or last) `__call__` (`inversion_depth` of `num_inference_steps`)."""
        return self._num_timesteps

    @property
    def interrupt(self) -> bool:
        """Set `pipe._interrupt = True` in a step-end callback to skip the remaining steps."""
        return self._interrupt

    def _latent_stats(self, device, dtype):
        channels = self.denoiser.config.latent_channels
        mean = self.denoiser.config.latents_mean or [0.0] * channels
        std = self.denoiser.config.latents_std or [1.0] * channels
        to = dict(device=device, dtype=dtype)
        return torch.tensor(mean, **to)[None, :, None], torch.tensor(std, **to)[None, :, None]

    def normalize_latents(self, latents: torch.Tensor) -> torch.Tensor:
        mean, std = self._latent_stats(latents.device, latents.dtype)
        return (latents - mean) / std

    def denormalize_latents(self, latents: torch.Tensor) -> torch.Tensor:
        mean, std = self._latent_stats(latents.device, latents.dtype)
        return latents * std + mean

    def _prepare_audio_batch(self, audio, sampling_rate, max_seconds) -> list[torch.Tensor]:
        """A list is a batch; anything else is one clip (a 2-D array is one multi-channel clip, downmixed)."""
        clips = list(audio) if isinstance(audio, (list, tuple)) else [audio]
        if not clips:
            raise ValueError("`audio` is an empty list")
        rates = list(sampling_rate) if isinstance(sampling_rate, (list, tuple)) else [sampling_rate] * len(clips)
        if len(rates) != len(clips):
            raise ValueError(f"`sampling_rate` has {len(rates)} entries for {len(clips)} clips")
        return [
            prepare_audio(clip, rate, self.sampling_rate, max_seconds=max_seconds, name=f"audio[{i}]")
            for i, (clip, rate) in enumerate(zip(clips, rates))
        ]

    @torch.no_grad()
    def encode_audio(self, clips: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """Mono clips at the codec rate → normalized latents `(B, C, T_max)` (zero past each clip), padding mask
        `(B, T_max)`, and lengths. Clips are encoded one by one so a batch equals its items."""
        device = self._execution_device
        latents = [codec_utils.encode(self.codec, clip[None].to(device))[0] for clip in clips]  # (C, T_i)
        frames = [z.shape[-1] for z in latents]
        batch = torch.zeros(len(clips), latents[0].shape[0], max(frames), device=device, dtype=latents[0].dtype)
        mask = torch.zeros(len(clips), max(frames), dtype=torch.bool, device=device)
        for i, z in enumerate(latents):
            batch[i, :, : z.shape[-1]] = self.normalize_latents(z[None])[0]
            mask[i, : z.shape[-1]] = True
        return batch, mask, [c.numel() for c in clips]

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor, num_samples: list[int]) -> torch.Tensor:
        """Normalized latents → audio `(B, max(num_samples))`, each clip decoded alone and zero past its end."""
        audio = torch.zeros(latents.shape[0], max(num_samples), device=latents.device)
        for i, n in enumerate(num_samples):
            frames = codec_utils.num_latent_frames(self.codec, n)
            z = self.denormalize_latents(latents[i : i + 1, :, :frames])
            audio[i, :n] = codec_utils.decode(self.codec, z, n, vocoder=self.vocoder)[0].float()
        return audio

    def measure_attributes(self, clips: list[torch.Tensor], frames: Sequence[int]) -> list[SourceAttributes]:
        """F0/energy contours at the latent frame rate and clip-level attributes, measured once per input."""
        return [
            measure_source_attributes(clip.double().cpu().numpy(), self.sampling_rate, self.hop_length, n)
            for clip, n in zip(clips, frames)
        ]

    def encode_conditions(
        self, attributes: Sequence[SourceAttributes | None], num_frames: int, drop: Sequence[str] = ()
    ) -> dict[str, torch.Tensor]:
        """Condition tensors for a batch (see `AttributeSchema.encode`); `None` items are fully null."""
        conditions = self.schema.encode(attributes, num_frames, drop=drop)
        return {k: v.to(self._execution_device) for k, v in conditions.items()}

    # ----------------------------------------------------------------------------------------------------------

    def check_inputs(
        self,
        num_inference_steps,
        inversion_depth,
        guidance_scale,
        guidance_reference,
        attribute_guidance_scales,
        attributes,
        output_type,
        callback_on_step_end_tensor_inputs,
        strength=1.0,
        direction=None,
    ):
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"`num_inference_steps` must be a positive integer, got {num_inference_steps!r}")
        if inversion_depth is not None and not 0.0 < inversion_depth <= 1.0:
            raise ValueError(f"`inversion_depth` must be in (0, 1], got {inversion_depth}")
        if not math.isfinite(guidance_scale) or guidance_scale < 0:
            raise ValueError(f"`guidance_scale` must be a finite number >= 0, got {guidance_scale}")
        if guidance_reference not in ("null", "source"):
            raise ValueError(f"`guidance_reference` must be 'null' or 'source', got {guidance_reference!r}")
        schema = self.schema
        schema.check_names(attribute_guidance_scales or {}, "attribute_guidance_scales")
        for items in ([attributes] if isinstance(attributes, Mapping) else attributes or []):
            schema.check_names(items, "attributes")
            for name, value in items.items():
                if schema.by_name[name]["type"] != "frame":
                    schema.check_value(name, value)
        if output_type not in ("pt", "np", "latent"):
            raise ValueError(f"`output_type` must be 'pt', 'np' or 'latent', got {output_type!r}")
        if callback_on_step_end_tensor_inputs is not None and not all(
            k in self._callback_tensor_inputs for k in callback_on_step_end_tensor_inputs
        ):
            raise ValueError(f"`callback_on_step_end_tensor_inputs` must be a subset of {self._callback_tensor_inputs}")
        if not math.isfinite(strength):
            raise ValueError(f"`strength` must be finite, got {strength}")
        if direction is not None and not isinstance(direction, EditDirection):
            raise ValueError("`direction` must be an `EditDirection` from `construct_direction`")

    def _timesteps(self, num_inference_steps: int, inversion_depth: float, device) -> torch.Tensor:
        """The descending timesteps from `inversion_depth` of the schedule down to 0 (as img2img's `get_timesteps`:
        a scheduler of order 2 has two entries per step, and `set_begin_index` starts its step counter there)."""
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        t_start = num_inference_steps - max(1, round(inversion_depth * num_inference_steps))
        if hasattr(self.scheduler, "set_begin_index"):
            self.scheduler.set_begin_index(t_start * self.scheduler.order)
        return self.scheduler.timesteps[t_start * self.scheduler.order :]

    def _model_input_scale(self, timestep, device, dtype) -> torch.Tensor:
        """The factor `scheduler.scale_model_input` applies at `timestep`: 1 for DDIM, `1 / sqrt(sigma^2 + 1)` for
        Euler/LMS-type schedulers, whose samples are the denoiser's (variance-preserving) inputs divided by it."""
        return self.scheduler.scale_model_input(torch.ones((), device=device, dtype=dtype), timestep)

    def _inverse_scheduler(self) -> DDIMInverseScheduler:
        """A fresh DDIM inverse scheduler for one inversion, configured like the registered inverse scheduler or,
        when there is none, like the sampling scheduler; it steps epsilon (see `_ddim_invert`)."""
        config = (self.inverse_scheduler or self.scheduler).config
        return DDIMInverseScheduler.from_config(config, prediction_type="epsilon")

    def _guided_prediction(self, latents, t, branches, scales, padding_mask, offsets):
        """One batched forward pass over all condition branches, then compositional guidance
        (Liu et al., "Compositional Visual Generation with Composable Diffusion Models", 2022):
        `pred = pred_ref + sum_g scale_g * (pred_g - pred_ref)`; with a single branch it is that branch's prediction."""
        n = len(branches)
        batch = latents.shape[0]
        conditions = {k: torch.cat([b[k] for b in branches]) for k in branches[0]}
        offset = None
        if any(o is not None for o in offsets):
            hidden = self.denoiser.config.hidden_size
            offset = torch.cat([
                (o if o is not None else torch.zeros(hidden, device=latents.device)).expand(batch, hidden)
                for o in offsets
            ])
        prediction = self.denoiser(
            latents.repeat(n, 1, 1), t, conditions=conditions, padding_mask=padding_mask.repeat(n, 1),
            condition_offset=offset,
        ).sample.chunk(n)
        if n == 1:
            return prediction[0]
        guided = prediction[0]
        for scale, branch_pred in zip(scales, prediction[1:]):
            guided = guided + scale * (branch_pred - prediction[0])
        return guided

    def _build_branches(self, source, target, num_frames, guidance_scale, guidance_reference,
                        attribute_guidance_scales, condition_offset):
        """Condition branches `[reference, group_1, ...]` and their scales. A group replaces the reference's
        values by the target's for its attributes; attributes without their own scale form one group at
        `guidance_scale`. A single group at scale 1 needs no reference branch."""
        branches, scales, offsets, _ = self._branch_plan(source, target, num_frames, guidance_scale,
                                                         guidance_reference, attribute_guidance_scales,
                                                         condition_offset)
        return branches, scales, offsets

    def _branch_plan(self, source, target, num_frames, guidance_scale, guidance_reference,
                     attribute_guidance_scales, condition_offset):
        """`_build_branches`, plus the index in `scales` of the group guided at `guidance_scale` (None when every
        changed attribute has its own scale): the one a step-end callback changes through `pipe._guidance_scale`."""
        reference = source if guidance_reference == "source" else [None] * len(target)
        ref_cond = self.encode_conditions(reference, num_frames)
        tgt_cond = self.encode_conditions(target, num_frames)
        changed = [k for k in ref_cond if not torch.equal(torch.nan_to_num(ref_cond[k], nan=-1e9),
                                                          torch.nan_to_num(tgt_cond[k], nan=-1e9))]
        per_attribute = dict(attribute_guidance_scales or {})
        groups = [([k], per_attribute[k]) for k in changed if k in per_attribute]
        rest = [k for k in changed if k not in per_attribute]
        global_index = None
        if rest or condition_offset is not None or not groups:
            global_index = len(groups)
            groups.append((rest, guidance_scale))
        branches = [{k: (tgt_cond[k] if k in keys else v) for k, v in ref_cond.items()} for keys, _ in groups]
        scales = [scale for _, scale in groups]
        if len(branches) == 1 and scales[0] == 1.0:
            return branches, [], [condition_offset], None
        return [ref_cond, *branches], scales, [None] + [condition_offset] * len(branches), global_index

    def _ddim_invert(self, source_latents, padding_mask, num_inference_steps, inversion_depth, branches, scales):
        """DDIM inversion: the ascending inverse schedule, truncated at the depth. The inverse step evaluates the
        denoiser at the next (noisier) timestep t but converts its output at the current level; for epsilon that is
        DDIM inversion's usual approximation, for v or x0 outputs it would also mix two noise levels. So the output
        is converted to epsilon here, at the t the denoiser was given, and an epsilon copy of the scheduler steps."""
        prediction_type = (self.inverse_scheduler or self.scheduler).config.prediction_type
        inverse_scheduler = self._inverse_scheduler()
        inverse_scheduler.set_timesteps(num_inference_steps, device=source_latents.device)
        num_steps = max(1, round(inversion_depth * num_inference_steps))
        latents = source_latents.to(self.denoiser.dtype)
        with self.progress_bar(total=num_steps) as progress_bar:
            for t in inverse_scheduler.timesteps[:num_steps]:
                pred = self._guided_prediction(latents, t, branches, scales, padding_mask, [None] * len(branches))
                pred = _to_epsilon(pred, latents, inverse_scheduler.alphas_cumprod[int(t)], prediction_type)
                latents = inverse_scheduler.step(pred, t, latents).prev_sample * padding_mask[:, None]
                progress_bar.update()
        return latents

    def _ddpm_noise_maps(self, source_latents, padding_mask, num_inference_steps, inversion_depth, branches, scales,
                         generator):
        """Edit-friendly DDPM inversion: `x_t ~ q(x_t | x_0)` drawn independently for every sampling timestep, then
        per step the residual `x_{t-1} - mean(x_t)` of the eta = 1 sampler (`sigma_t * z_t` in the paper's terms;
        kept unscaled so that the last step, where sigma is 0, reconstructs exactly too)."""
        timesteps = self._timesteps(num_inference_steps, inversion_depth, source_latents.device)
        mask = padding_mask[:, None].to(source_latents.dtype)
        x0 = source_latents.to(self.denoiser.dtype)
        noisy = []
        for t in timesteps:
            noise = randn_tensor(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
            noisy.append(self.scheduler.add_noise(x0, noise, t.reshape(1)) * mask)
        noisy.append(x0)
        maps = []
        with self.progress_bar(total=len(timesteps)) as progress_bar:
            for i, t in enumerate(timesteps):
                pred = self._guided_prediction(noisy[i], t, branches, scales, padding_mask, [None] * len(branches))
                mean = self._stochastic_mean(pred, t, noisy[i])
                maps.append((noisy[i + 1] - mean) * mask)
                progress_bar.update()
        return noisy[0], torch.stack(maps)

    def _stochastic_mean(self, prediction, t, latents):
        """The mean of the eta = 1 (DDPM-like) DDIM step from `latents` at `t`."""
        return self.scheduler.step(prediction, t, latents, eta=1.0, variance_noise=torch.zeros_like(latents)).prev_sample

    # ----------------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def invert(
        self,
        audio,
        sampling_rate: int | Sequence[int],
        attributes: Mapping | Sequence[Mapping] | None = None,
        num_inference_steps: int = 50,
        inversion_depth: float = 1.0,
        guidance_scale: float = 1.0,
        generator: torch.Generator | None = None,
        max_seconds: float | None = DEFAULT_MAX_SECONDS,
        method: str = "ddim",
        return_dict: bool = True,
    ) -> VoiceInversionOutput | tuple:
        r"""
        Map recordings to the noise latents at `inversion_depth`.

        `method="ddim"`: DDIM inversion (Song et al., 2021; as in pix2pix-zero and DiffEdit), the deterministic
        sampler run backwards from the clean latents; it drifts where the denoiser is imperfect. `method="ddpm"`:
        edit-friendly DDPM inversion (Huberman-Spiegelglas et al., "An Edit Friendly DDPM Noise Space", CVPR 2024;
        used for audio by Manor & Michaeli, ICML 2024): noisy latents drawn independently at every step with
        `generator`, and the noise maps that make the stochastic (eta = 1) sampler pass through them; regenerating
        with the source attributes is exact whatever the denoiser, and edits change the predicted means.

        Args:
            audio (`np.ndarray`, `torch.Tensor` or a list of them): one clip `(num_samples,)` or
                `(num_channels, num_samples)` (downmixed), or a list of clips (a batch).
            sampling_rate (`int` or `list[int]`): the input rate(s); audio is resampled to the codec's rate.
            attributes (`dict` or `list[dict]`, *optional*): clip-level labels of the source that cannot be
                measured (e.g. `{"voice": ...}`); measurable ones are measured.
            num_inference_steps (`int`, *optional*, defaults to 50): steps of the full schedule.
            inversion_depth (`float`, *optional*, defaults to 1.0): fraction of the schedule to invert.
            guidance_scale (`float`, *optional*, defaults to 1.0): CFG against the null condition (1 = off).
            generator (`torch.Generator`, *optional*): the noise of `method="ddpm"` (unused by DDIM).
            max_seconds (`float`, *optional*, defaults to 60): longer clips are refused.
            method (`str`, *optional*, defaults to `"ddim"`): `"ddim"` or `"ddpm"` (see above).
            return_dict (`bool`, *optional*, defaults to `True`): return a `VoiceInversionOutput` or a tuple.
        """
        # 1. Check inputs
        self.check_inputs(num_inference_steps, inversion_depth, guidance_scale, "null", None,
                          attributes, "latent", None)
        if method not in ("ddim", "ddpm"):
            raise ValueError(f"`method` must be 'ddim' or 'ddpm', got {method!r}")
        if method == "ddpm" and not isinstance(self.scheduler, DDIMScheduler):
            raise ValueError(f"edit-friendly DDPM inversion steps a `DDIMScheduler` (eta = 1), this pipeline has a "
                             f"`{type(self.scheduler).__name__}`; use method='ddim'")
        # 2. Encode and measure
        clips = self._prepare_audio_batch(audio, sampling_rate, max_seconds)
        source_latents, padding_mask, num_samples = self.encode_audio(clips)
        frames = padding_mask.sum(-1).tolist()
        sources = self.measure_attributes(clips, frames)
        labels = _per_item(attributes, len(clips), "attributes")
        _refuse_frame_attributes(self.schema, labels)
        for src, extra in zip(sources, labels):
            src.values.update(extra)
        branches = [self.encode_conditions(sources, source_latents.shape[-1])]
        scales = []
        if guidance_scale != 1.0:
            branches = [self.encode_conditions([None] * len(sources), source_latents.shape[-1])] + branches
            scales = [guidance_scale]
        # 3. Inversion: the deterministic DDIM path, or edit-friendly DDPM noise maps
        if method == "ddpm":
            latents, noise_maps = self._ddpm_noise_maps(source_latents, padding_mask, num_inference_steps,
                                                        inversion_depth, branches, scales, generator)
        else:
            latents, noise_maps = self._ddim_invert(source_latents, padding_mask, num_inference_steps,
                                                    inversion_depth, branches, scales), None
        self.maybe_free_model_hooks()
        num_steps = max(1, round(inversion_depth * num_inference_steps))
        output = VoiceInversionOutput(latents, source_latents, sources, padding_mask, num_samples,
                                      num_inference_steps, num_steps / num_inference_steps, method, noise_maps)
        return output if return_dict else output.to_tuple()

    @torch.no_grad()
    def construct_direction(
        self,
        source: Sequence[Mapping] | Sequence,
        target: Sequence[Mapping] | Sequence,
        space: str = "condition",
        sampling_rate: int | None = None,
        num_inference_steps: int = 50,
    ) -> EditDirection:
        r"""
        The mean difference between two sets (as pix2pix-zero's `construct_direction`).

        Args:
            source, target (`list[dict]` or `list[np.ndarray]`): two sets of clip-level attribute values (e.g.
                `[{"style": "low-flat-slow"}]`), or two sets of recordings (then `sampling_rate` is required).
            space (`str`, *optional*, defaults to `"condition"`): `"condition"`: mean difference of the denoiser's
                global condition embeddings; `"noise"`: mean difference of the time-averaged inverted latents
                (recordings only), i.e. moving the inverted latent along a learned direction.
            sampling_rate (`int`, *optional*): rate of the recordings.
            num_inference_steps (`int`, *optional*, defaults to 50): inversion steps for `"noise"`.
        """
        if space not in ("condition", "noise"):
            raise ValueError(f"`space` must be 'condition' or 'noise', got {space!r}")
        if not len(source) or not len(target):
            raise ValueError("`source` and `target` must each hold at least one item")
        recordings = not isinstance(source[0], Mapping)
        if recordings != (not isinstance(target[0], Mapping)):
            raise ValueError("`source` and `target` must both be attribute dicts or both be recordings")
        if space == "noise" and not recordings:
            raise ValueError("a noise-space direction needs recordings, not attribute values")
        if recordings and sampling_rate is None:
            raise ValueError("`sampling_rate` is required with recordings")

        def mean_vector(items):
            if space == "noise":
                inversion = self.invert(list(items), sampling_rate, num_inference_steps=num_inference_steps)
                mask = inversion.padding_mask[:, None].to(inversion.latents.dtype)
                per_clip = (inversion.latents * mask).sum(-1) / mask.sum(-1)  # (B, C)
                return per_clip.mean(0)[:, None]  # (C, 1)
            if recordings:
                clips = self._prepare_audio_batch(list(items), sampling_rate, DEFAULT_MAX_SECONDS)
                attrs = [SourceAttributes(np.zeros(0), np.zeros(0), a.values)
                         for a in self.measure_attributes(clips, [1] * len(clips))]
            else:
                self.schema.check_names({k for item in items for k in item}, "source/target")
                attrs = [SourceAttributes(np.zeros(0), np.zeros(0), dict(item)) for item in items]
            # frame attributes are not part of a clip-level direction: drop them
            frame_names = [s["name"] for s in self.schema.specs if s["type"] == "frame"]
            cond = self.encode_conditions(attrs, 1, drop=frame_names)  # (B, ...), frame attributes null
            global_emb, _ = self.denoiser.embed_conditions(cond, len(attrs), 1)
            return global_emb.mean(0)

        return EditDirection(vector=mean_vector(target) - mean_vector(source), space=space)

    @torch.no_grad()
    @replace_example_docstring(EXAMPLE_DOC_STRING)
    def __call__(
        self,
        audio=None,
        sampling_rate: int | Sequence[int] | None = None,
        inversion: VoiceInversionOutput | None = None,
        attributes: Mapping | Sequence[Mapping] | None = None,
        pitch_shift: float | Sequence[float] = 0.0,
        intonation_scale: float | Sequence[float] = 1.0,
        energy_shift: float | Sequence[float] = 0.0,
        direction: EditDirection | None = None,
        strength: float = 1.0,
        num_inference_steps: int = 50,
        inversion_depth: float | None = None,
        guidance_scale: float = 1.0,
        guidance_reference: str = "source",
        attribute_guidance_scales: Mapping[str, float] | None = None,
        num_frames: int | None = None,
        batch_size: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] = ["latents"],
    ) -> VoiceEditPipelineOutput | tuple:
        r"""
        Edit recordings (from `audio` or a prior `inversion`), or generate from noise when neither is given.

        Args:
            audio (`np.ndarray`, `torch.Tensor` or a list, *optional*): clip(s) to invert then edit in one call.
            sampling_rate (`int` or `list[int]`, *optional*): rate of `audio`.
            inversion (`VoiceInversionOutput`, *optional*): the output of `invert`; its latents, source attributes,
                steps and depth are reused.
            attributes (`dict` or `list[dict]`, *optional*): target clip-level attribute values (edits), e.g.
                `{"style": "high-wide-fast"}`; when generating, frame contours (`"f0"` in Hz per latent frame) too.
            pitch_shift (`float` or `list[float]`, *optional*, defaults to 0.0): semitones added to the F0 contour.
            intonation_scale (`float` or `list[float]`, *optional*, defaults to 1.0): scales F0 excursions
                (semitones) around the clip's mean; >1 is more expressive, <1 flatter.
            energy_shift (`float` or `list[float]`, *optional*, defaults to 0.0): dB added to the energy contour.
            direction (`EditDirection`, *optional*): from `construct_direction`, applied with `strength`.
            strength (`float`, *optional*, defaults to 1.0): direction strength; 0 equals no direction.
            num_inference_steps (`int`, *optional*, defaults to 50): steps of the full schedule.
            inversion_depth (`float`, *optional*): fraction of the schedule to invert when `audio` is given
                (defaults to `DEFAULT_INVERSION_DEPTH`); taken from `inversion` when given.
            guidance_scale (`float`, *optional*, defaults to 1.0): guidance toward the target attributes.
            guidance_reference (`str`, *optional*, defaults to `"source"`): guide against the source's attributes
                (`"source"`) or the null condition (`"null"`); generation always uses `"null"`.
            attribute_guidance_scales (`dict[str, float]`, *optional*): per-attribute guidance scales.
            num_frames (`int`, *optional*): latent frames to generate (generation only).
            batch_size (`int`, *optional*, defaults to 1): clips to generate (generation only).
            generator (`torch.Generator`, *optional*): for the initial noise when generating.
            latents (`torch.Tensor`, *optional*): initial noise latents `(batch_size, latent_channels, num_frames)`.
            output_type (`str`, *optional*, defaults to `"np"`): `"np"`, `"pt"` or `"latent"`.
            return_dict (`bool`, *optional*, defaults to `True`): return a `VoiceEditPipelineOutput` or a tuple.
            callback_on_step_end (`Callable`, *optional*): `fn(pipe, step, timestep, callback_kwargs) -> dict`;
                a returned `"latents"` replaces the latents.
            callback_on_step_end_tensor_inputs (`list[str]`, *optional*): tensors passed to the callback.

        Examples:
        """
        # 1. Check inputs
        self.check_inputs(num_inference_steps, inversion_depth, guidance_scale, guidance_reference,
                          attribute_guidance_scales, attributes, output_type, callback_on_step_end_tensor_inputs,
                          strength, direction)
        if audio is not None and inversion is not None:
            raise ValueError("pass either `audio` or `inversion`, not both")
        device = self._execution_device

        # 2. Encode: invert the audio, or take a given inversion
        if audio is not None:
            if sampling_rate is None:
                raise ValueError("`sampling_rate` is required with `audio`")
            inversion = self.invert(audio, sampling_rate, num_inference_steps=num_inference_steps,
                                    inversion_depth=inversion_depth or DEFAULT_INVERSION_DEPTH)
        if inversion is not None:
            if latents is not None:
                raise ValueError("`latents` come from `inversion`; pass one of them")
            if inversion_depth is not None and abs(inversion_depth - inversion.inversion_depth) > 1e-6:
                raise ValueError(f"`inversion_depth`={inversion_depth} differs from the inversion's "
                                 f"{inversion.inversion_depth}; invert again at the depth you want")
            num_inference_steps, inversion_depth = inversion.num_inference_steps, inversion.inversion_depth
            batch = inversion.latents.shape[0]
            source = inversion.source_attributes
            values = _per_item(attributes, batch, "attributes")
            _refuse_frame_attributes(self.schema, values)
            target = [
                s.edited(_item(pitch_shift, i, batch, "pitch_shift"), _item(intonation_scale, i, batch, "intonation_scale"),
                         _item(energy_shift, i, batch, "energy_shift"), values[i])
                for i, s in enumerate(source)
            ]
            latents = inversion.latents.clone()
            noise_maps = inversion.noise_maps
            padding_mask, num_samples = inversion.padding_mask, inversion.num_samples
        else:
            # generation from noise: target attributes are given, the reference is the null condition
            if any(np.any(np.asarray(v) != d) for v, d in ((pitch_shift, 0.0), (intonation_scale, 1.0), (energy_shift, 0.0))):
                raise ValueError("`pitch_shift`/`intonation_scale`/`energy_shift` edit a source: pass `audio` or `inversion`")
            guidance_reference, inversion_depth = "null", 1.0
            values = _per_item(attributes, batch_size if latents is None else latents.shape[0], "attributes")
            batch = len(values)
            if latents is None and num_frames is None:
                frame_lengths = [len(v["f0"]) for v in values if "f0" in v]
                if not frame_lengths:
                    raise ValueError("pass `num_frames` (or an `f0` contour) to generate")
                num_frames = frame_lengths[0]
            num_frames = latents.shape[-1] if latents is not None else num_frames
            target = []
            for v in values:
                f0, energy = v.get("f0"), v.get("energy")
                for name, contour in (("f0", f0), ("energy", energy)):
                    if contour is not None and len(contour) != num_frames:
                        raise ValueError(f"`{name}` contour has {len(contour)} frames, expected {num_frames}")
                clip_values = {k: x for k, x in v.items() if k not in ("f0", "energy")}
                target.append(SourceAttributes(np.asarray(f0, dtype=np.float32) if f0 is not None else None,
                                               np.asarray(energy, dtype=np.float32) if energy is not None else None,
                                               clip_values))
            source, noise_maps = [None] * batch, None
            padding_mask = torch.ones(batch, num_frames, dtype=torch.bool, device=device)
            num_samples = [num_frames * self.hop_length] * batch

        # 3. Timesteps
        timesteps = self._timesteps(num_inference_steps, inversion_depth, device)
        self._num_timesteps = len(timesteps)
        if noise_maps is not None and not isinstance(self.scheduler, DDIMScheduler):
            raise ValueError(f"an edit-friendly DDPM inversion regenerates with a `DDIMScheduler`, this pipeline has "
                             f"a `{type(self.scheduler).__name__}`; invert with method='ddim'")

        # 4. Latents: noise (scaled by the scheduler's `init_noise_sigma`), or the inverted latents, which are the
        # denoiser's variance-preserving inputs, brought into the scheduler's own sample space
        shape = (batch, self.denoiser.config.latent_channels, padding_mask.shape[-1])
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=self.denoiser.dtype)
        elif tuple(latents.shape) != shape:
            raise ValueError(f"`latents` must have shape {shape}, got {tuple(latents.shape)}")
        latents = latents.to(device, self.denoiser.dtype)
        condition_offset = None
        if direction is not None:
            vector = direction.vector.to(device, latents.dtype)
            if direction.space == "noise":
                latents = latents + strength * vector[None] * padding_mask[:, None]
            else:
                condition_offset = strength * vector
        if inversion is None:
            latents = latents * self.scheduler.init_noise_sigma
        else:
            latents = latents / self._model_input_scale(timesteps[0], device, latents.dtype)
        branches, scales, offsets, global_index = self._branch_plan(
            source, target, padding_mask.shape[-1], guidance_scale, guidance_reference, attribute_guidance_scales,
            condition_offset,
        )
        self._guidance_scale = guidance_scale
        self._do_classifier_free_guidance = len(branches) > 1
        self._interrupt = False

        # 5. Denoising loop
        with self.progress_bar(total=len(timesteps)) as progress_bar:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    continue
                if global_index is not None:  # a step-end callback may have changed `pipe._guidance_scale`
                    scales[global_index] = self._guidance_scale
                latent_model_input = self.scheduler.scale_model_input(latents, t)
                pred = self._guided_prediction(latent_model_input, t, branches, scales, padding_mask, offsets)
                if noise_maps is not None:  # edit-friendly DDPM: the eta = 1 mean plus the inverted noise
                    latents = (self._stochastic_mean(pred, t, latents) + noise_maps[i]) * padding_mask[:, None]
                else:
                    latents = self.scheduler.step(pred, t, latents).prev_sample * padding_mask[:, None]
                if callback_on_step_end is not None:
                    callback_kwargs = {}
                    for k in callback_on_step_end_tensor_inputs:
                        callback_kwargs[k] = locals()[k]
                    callback_outputs = callback_on_step_end(self, i, t, callback_kwargs)
                    latents = callback_outputs.pop("latents", latents)
                progress_bar.update()

        # 6. Decode
        if output_type == "latent":
            audio_out = latents
        else:
            audio_out = self.decode_latents(latents, num_samples)
            if output_type == "np":
                audio_out = audio_out.cpu().numpy()
        self.maybe_free_model_hooks()
        if not return_dict:
            return (audio_out,)
        return VoiceEditPipelineOutput(audios=audio_out, num_samples=num_samples, sampling_rate=self.sampling_rate,
                                       attributes=target)

    @torch.no_grad()
    def check_reconstruction(
        self,
        audio,
        sampling_rate: int | Sequence[int],
        num_inference_steps: int = 50,
        inversion_depth: float = 1.0,
        method: str = "ddim",
        generator: torch.Generator | None = None,
        return_dict: bool = True,
    ) -> ReconstructionOutput | tuple:
        r"""
        Invert, regenerate with the source attributes (no edit), and report the latent SNR in dB against the
        source latents: how faithful inversion is before an edit is trusted (25 dB and above is near-transparent).
        """
        inversion = self.invert(audio, sampling_rate, num_inference_steps=num_inference_steps,
                                inversion_depth=inversion_depth, method=method, generator=generator)
        regenerated = self(inversion=inversion, output_type="latent").audios
        snr = [latent_snr_db(source, regen, mask) for source, regen, mask in
               zip(inversion.source_latents, regenerated, inversion.padding_mask)]
        output = ReconstructionOutput(snr_db=snr, latents=regenerated)
        return output if return_dict else output.to_tuple()


def _to_epsilon(prediction: torch.Tensor, sample: torch.Tensor, alpha_prod: torch.Tensor,
                prediction_type: str) -> torch.Tensor:
    """The epsilon estimate of a denoiser output for `sample` at the noise level `alpha_prod` (alpha-bar)."""
    if prediction_type == "epsilon":
        return prediction
    alpha_prod = alpha_prod.to(sample)
    if prediction_type == "v_prediction":
        return alpha_prod.sqrt() * prediction + (1 - alpha_prod).sqrt() * sample
    if prediction_type == "sample":
        return (sample - alpha_prod.sqrt() * prediction) / (1 - alpha_prod).sqrt()
    raise ValueError(f"unsupported prediction_type {prediction_type!r}")


def _refuse_frame_attributes(schema: AttributeSchema, items: list[dict]) -> None:
    frame = [k for item in items for k in item if k in schema and schema.by_name[k]["type"] == "frame"]
    if frame:
        raise ValueError(f"`attributes` cannot set frame attribute(s) {sorted(set(frame))} of a recording: they are "
                         "measured; edit them with `pitch_shift`, `intonation_scale` or `energy_shift`")


def _per_item(values, batch: int, name: str) -> list[dict]:
    if values is None:
        return [{} for _ in range(batch)]
    if isinstance(values, Mapping):
        return [dict(values) for _ in range(batch)]
    values = [dict(v) for v in values]
    if len(values) != batch:
        raise ValueError(f"`{name}` has {len(values)} items for a batch of {batch}")
    return values


def _item(value, index: int, batch: int, name: str) -> float:
    if isinstance(value, (list, tuple, np.ndarray, torch.Tensor)):
        if len(value) != batch:
            raise ValueError(f"`{name}` has {len(value)} values for a batch of {batch}")
        return float(value[index])
    return float(value)
