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
from latentdiff_edit import directions as directions_lib
from latentdiff_edit import harmonic_guidance as harmonic_lib
from latentdiff_edit import inversion as inversion_methods
from latentdiff_edit import latent_ops
from latentdiff_edit.attributes import MEASURABLE, AttributeSchema, SourceAttributes, measure_source_attributes
from latentdiff_edit.audio import DEFAULT_MAX_SECONDS, prepare_audio
from latentdiff_edit.defaults import DEFAULT_GUIDANCE_SCALE, DEFAULT_INVERSION_DEPTH  # noqa: F401
from latentdiff_edit.features import (
    PAUSE_DB,
    extract_f0,
    frame_energy_db,
    hz_to_semitones,
    semitones_to_hz,
    spectral_envelope,
    speech_frames,
)
from latentdiff_edit.features import measure_attributes as measure_clip_attributes
from latentdiff_edit.inversion import InversionEncoder
from latentdiff_edit.latents import latent_snr_db
from latentdiff_edit.models.denoiser import LatentDenoiser1D
from latentdiff_edit.models.vocoder import MAX_MAGNITUDE, VocosVocoder

logger = logging.get_logger(__name__)

# Long clips are processed in windows (see `latentdiff_edit.latent_ops`): the denoiser sees windows of
# `window_seconds` (it was trained on crops of about a second and a half, and attention grows with the square of the
# length), the codec windows of `CODEC_WINDOW_SECONDS`; neighbours overlap and are cross-faded, so memory is bounded
# by the window, not by the clip.
# 3 s windows sharing 0.25 s: on LibriVox clips as accurate as whole clips, 0.47 CPU-s per audio second at 12 steps
# against 0.53 for 4 s / 0.5 s (scripts/measure_editing.py --sections speed).
DEFAULT_WINDOW_SECONDS = 3.0
WINDOW_OVERLAP_SECONDS = 0.25
CODEC_WINDOW_SECONDS = 30.0
CODEC_OVERLAP_SECONDS = 1.0
WINDOWS_PER_PASS = 8  # denoiser windows evaluated in one forward pass
# An `edit_mask` span ramps from the source to the edit over this long, inside the span.
MASK_RAMP_SECONDS = 0.05
# `edit_region`: the source's frames that are speech (not a pause: within `PAUSE_DB` of its loudest frame) or voiced
# (F0 > 0), widened on each side by the mask's ramp, so that every frame of the region gets the whole edit and the
# ramp to the source lies in the pause.
EDIT_REGIONS = ("speech", "voiced")
EDIT_REGION_MARGIN_SECONDS = MASK_RAMP_SECONDS
RATE_RANGE = (0.5, 2.0)
RATE_WARP_MODE = "linear"  # how latent frames are resampled for a speaking-rate edit (`latent_ops.time_warp_latents`)
# How the command line regenerates a rate edit (measured with scripts/measure_editing.py on LibriVox clips, shipped
# model: depth 0.5 and guidance 4 against the null condition drift 0.4 st in median F0, against 1-2 st unguided).
RATE_INVERSION_DEPTH = 0.5
RATE_GUIDANCE_SCALE = 4.0

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

        >>> # only 1.0-2.5 s, edited inside the latent trajectory (outside: the codec's rendering of the source)
        >>> part = pipe(inversion=inversion, pitch_shift=3.0, guidance_scale=2.0, edit_mask=(1.0, 2.5)).audios[0]
        >>> # 25 % faster (any length: long recordings are processed in windows)
        >>> faster = pipe(audio=audio, sampling_rate=sr, rate=1.25, guidance_scale=4.0, guidance_reference="null")
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
        method (`str`): `"ddim"`, `"ddpm"` (edit-friendly DDPM inversion), `"null-opt"`, `"latent-opt"` or
            `"encoder"` (see `invert`).
        noise_maps (`torch.Tensor` of shape `(num_steps, batch_size, latent_channels, num_frames)`, *optional*):
            for `"ddpm"`: per sampling step, what the stochastic step adds to the predicted mean (the scaled
            edit-friendly noise); regeneration adds them back.
        rate (`float`, defaults to 1.0): the speaking-rate factor the latents were time-warped by (lengths, contours
            and `num_samples` are those of the output).
        window_frames (`int`, *optional*): latent frames per denoiser window (None: each clip in one pass).
        window_overlap (`int`): frames shared by neighbouring windows.
        window_values (`list[list[dict]]`, *optional*): per clip, per window, the clip-level attributes measured on
            that window (a long or multi-speaker recording is conditioned window by window).
        reference_offsets (`torch.Tensor` of shape `(num_steps, batch_size, hidden_size, num_frames)`, *optional*):
            for `"null-opt"`: per sampling step, the optimized embedding `__call__` adds to the reference branch's
            frame conditions (`(num_steps, batch_size, hidden_size)`: to its global condition, `per_frame=False`).
        guidance_scale (`float`, defaults to 1.0), guidance_reference (`str`, defaults to `"null"`): the regeneration
            an optimized inversion (`"null-opt"`, `"latent-opt"`) was made for.
        timbre_condition (`bool`, defaults to `True`): whether the denoiser's timbre condition (models with a timbre
            encoder) was computed from `source_latents`; `__call__` regenerates the same way unless told otherwise.
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
    rate: float = 1.0
    window_frames: int | None = None
    window_overlap: int = 0
    window_values: list[list[dict]] | None = None
    reference_offsets: torch.Tensor | None = None
    guidance_scale: float = 1.0
    guidance_reference: str = "null"
    timbre_condition: bool = True


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


@dataclass
class _WindowPlan:
    """Denoiser windows over a batch: window `k` covers frames `spans[k]` of clip `items[k]` (its `index[k]`-th)."""

    items: list[int]
    spans: list[tuple[int, int]]
    index: list[int]
    weights: list[torch.Tensor]
    width: int
    padding_mask: torch.Tensor  # (num_windows, width), True on real frames
    active: list[int]  # the windows evaluated

    def unfold(self, latents: torch.Tensor) -> torch.Tensor:
        """`(B, C, T)` → `(num_windows, C, width)`."""
        out = latents.new_zeros(len(self.spans), latents.shape[1], self.width)
        for k, (item, (start, end)) in enumerate(zip(self.items, self.spans)):
            out[k, :, : end - start] = latents[item, :, start:end]
        return out

    def fold(self, windows: torch.Tensor, shape) -> torch.Tensor:
        """`(num_windows, C, width)` → `(B, C, T)`, the active windows cross-faded (frames no active window covers
        are 0)."""
        out = windows.new_zeros(shape)
        for item in sorted(set(self.items)):
            ks = [k for k in self.active if self.items[k] == item]
            if ks:
                out[item] = latent_ops.fold_windows(windows[ks], [self.spans[k] for k in ks],
                                                    [self.weights[k] for k in ks], shape[-1])
        return out


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
        inversion_encoder ([`~latentdiff_edit.inversion.InversionEncoder`], *optional*): amortized inversion for
            `invert(method="encoder")`.
    """

    model_cpu_offload_seq = "denoiser->codec->vocoder"
    _optional_components = ["inverse_scheduler", "vocoder", "inversion_encoder"]
    _callback_tensor_inputs = ["latents"]

    def __init__(
        self,
        codec: EncodecModel,
        denoiser: LatentDenoiser1D,
        scheduler: DDIMScheduler,
        inverse_scheduler: DDIMInverseScheduler | None = None,
        vocoder: VocosVocoder | None = None,
        inversion_encoder: InversionEncoder | None = None,
    ):
        super().__init__()
        self.register_modules(
            codec=codec, denoiser=denoiser, scheduler=scheduler, inverse_scheduler=inverse_scheduler, vocoder=vocoder,
            inversion_encoder=inversion_encoder,
        )
        if vocoder is not None and codec is not None and vocoder.config.hop_length != codec.config.hop_length:
            raise ValueError(
                f"`vocoder` hop_length {vocoder.config.hop_length} differs from the codec's {codec.config.hop_length}"
            )
        self.sampling_rate = codec.config.sampling_rate if getattr(self, "codec", None) else 24000
        self._timbre = None  # (reference latents, mask) of the clips in the current call, see `_set_timbre`

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
        latents = [self._encode_clip(clip.to(device)) for clip in clips]  # (C, T_i)
        frames = [z.shape[-1] for z in latents]
        batch = torch.zeros(len(clips), latents[0].shape[0], max(frames), device=device, dtype=latents[0].dtype)
        mask = torch.zeros(len(clips), max(frames), dtype=torch.bool, device=device)
        for i, z in enumerate(latents):
            batch[i, :, : z.shape[-1]] = self.normalize_latents(z[None])[0]
            mask[i, : z.shape[-1]] = True
        return batch, mask, [c.numel() for c in clips]

    def _codec_windows(self, num_frames: int) -> tuple[list[tuple[int, int]], int]:
        frame_rate = self.sampling_rate / self.hop_length
        overlap = max(1, round(CODEC_OVERLAP_SECONDS * frame_rate))
        return latent_ops.window_spans(num_frames, round(CODEC_WINDOW_SECONDS * frame_rate), overlap), overlap

    def _encode_clip(self, clip: torch.Tensor) -> torch.Tensor:
        """One clip `(num_samples,)` → latents `(C, ceil(num_samples / hop))`, window by window for long clips."""
        hop = self.hop_length
        spans, overlap = self._codec_windows(math.ceil(clip.numel() / hop))
        chunks = [codec_utils.encode(self.codec, clip[None, start * hop : end * hop])[0] for start, end in spans]
        return latent_ops.overlap_add(chunks, spans, spans[-1][1], overlap)

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor, num_samples: list[int]) -> torch.Tensor:
        """Normalized latents → audio `(B, max(num_samples))`, each clip decoded alone (window by window when long,
        cross-faded) and zero past its end."""
        hop = self.hop_length
        audio = torch.zeros(latents.shape[0], max(num_samples), device=latents.device)
        griffin_lim = self.vocoder is not None and self.vocoder.config.phase == "griffin_lim"
        for i, n in enumerate(num_samples):
            spans, overlap = self._codec_windows(codec_utils.num_latent_frames(self.codec, n))
            z = self.denormalize_latents(latents[i : i + 1, :, : spans[-1][1]])
            if griffin_lim:  # cross-fade the windows' magnitudes, then recover one phase for the whole clip
                chunks = [self.vocoder.log_magnitude(z[:, :, start:end].to(self.vocoder.dtype))[0, :, : end - start]
                          for start, end in spans]  # (bins, end - start)
                log_magnitude = latent_ops.overlap_add(chunks, spans, spans[-1][1], overlap)
                magnitude = torch.nn.functional.pad(log_magnitude[None], (0, 1), mode="replicate").exp()
                audio[i, :n] = self.vocoder.griffin_lim(magnitude.clamp(max=MAX_MAGNITUDE), n)[0].float()
                continue
            chunks = [codec_utils.decode(self.codec, z[:, :, start:end], vocoder=self.vocoder).float()
                      for start, end in spans]  # (1, (end - start) * hop)
            samples = [(start * hop, end * hop) for start, end in spans]
            audio[i, :n] = latent_ops.overlap_add(chunks, samples, spans[-1][1] * hop, overlap * hop)[0, :n]
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
        """Condition tensors for a batch (see `AttributeSchema.encode`); `None` items are fully null. Continuous values
        outside the schema's range are clamped to it: they are measured on a recording, or derived from measured ones
        (a target a user asks for is checked by `check_inputs` before it gets here)."""
        attributes = [None if a is None else self._clamped(a) for a in attributes]
        conditions = self.schema.encode(attributes, num_frames, drop=drop)
        return {k: v.to(self._execution_device) for k, v in conditions.items()}

    def _out_of_range(self, values: Mapping) -> dict[str, tuple[float, float, float]]:
        """`{name: (value, min, max)}` for the continuous values outside the schema's range."""
        out = {}
        for name, value in values.items():
            spec = self.schema.by_name.get(name)
            if spec is None or spec["type"] != "continuous" or not isinstance(value, (int, float)) or \
                    not math.isfinite(value):
                continue
            low, high = spec.get("min", -math.inf), spec.get("max", math.inf)
            if not low <= value <= high:
                out[name] = (float(value), low, high)
        return out

    def _clamped(self, attributes: SourceAttributes) -> SourceAttributes:
        outside = self._out_of_range(attributes.values)
        if not outside:
            return attributes
        values = dict(attributes.values)
        values.update({name: float(np.clip(value, low, high)) for name, (value, low, high) in outside.items()})
        return SourceAttributes(attributes.f0_hz, attributes.energy_db, values, attributes.envelope)

    def _warn_out_of_range(self, window_values: list[dict], what: str) -> None:
        """One warning per attribute naming the attribute and the range, for values that will be clamped."""
        found: dict[str, list[float]] = {}
        for values in window_values:
            for name, (value, low, high) in self._out_of_range(values).items():
                found.setdefault(name, [low, high])
                found[name].append(value)
        for name, (low, high, *values) in found.items():
            where = f" in {len(values)} of {len(window_values)} windows" if len(window_values) > 1 else ""
            extreme = max(values, key=lambda v: abs(v - np.clip(v, low, high)))
            logger.warning(f"{what} `{name}`={extreme:.3g}{where} is outside the range [{low:.3g}, {high:.3g}] this "
                           f"model was trained on; it is clamped to the range")

    def _measure(self, clip: torch.Tensor, num_frames: int, rate: float, spans: list[tuple[int, int]]):
        """One clip: F0 and energy contours (and the spectral envelope, for a model conditioned on it) at the latent
        frame rate (time-warped to `num_frames` for a speaking-rate edit), each measured once, and the clip-level
        attributes of each window's stretch of the recording."""
        audio = clip.double().cpu().numpy()
        hop, sampling_rate = self.hop_length, self.sampling_rate
        source_frames = math.ceil(len(audio) / hop)
        f0 = extract_f0(audio, sampling_rate, hop_length=hop, num_frames=source_frames)
        energy = frame_energy_db(audio, hop, num_frames=source_frames)
        envelope = spectral_envelope(audio, sampling_rate, hop, source_frames) if "envelope" in self.schema else None
        if rate != 1.0:
            f0, energy = latent_ops.time_warp_f0(f0, num_frames), latent_ops.time_warp_contour(energy, num_frames)
            if envelope is not None:
                envelope = np.stack([latent_ops.time_warp_contour(row, num_frames) for row in envelope])
        window_values = []
        for start, end in spans:
            first, last = round(start * hop * rate), min(len(audio), round(end * hop * rate))
            measured = measure_clip_attributes(audio[first:last], sampling_rate)
            values = {name: measured[key] for name, key in MEASURABLE.items()}
            if "rate" in values:
                values["rate"] *= rate
            window_values.append(values)
        if len(window_values) == 1:
            values = dict(window_values[0])
        else:  # the clip's figures: the windows' weighted by their length
            lengths = np.array([end - start for start, end in spans], dtype=np.float64)
            values = {name: float(np.average([v[name] for v in window_values], weights=lengths))
                      for name in window_values[0]}
        return SourceAttributes(f0, energy, values, envelope), window_values

    def _window_size(self, window_seconds: float | None) -> tuple[int | None, int]:
        if window_seconds is None:
            return None, 0
        if not (math.isfinite(window_seconds) and window_seconds > 0):
            raise ValueError(f"`window_seconds` must be a positive number of seconds or None, got {window_seconds}")
        frame_rate = self.sampling_rate / self.hop_length
        window = max(2, round(window_seconds * frame_rate))
        return window, min(round(WINDOW_OVERLAP_SECONDS * frame_rate), window // 4)

    @staticmethod
    def _spans(num_frames: int, window: int | None, overlap: int) -> list[tuple[int, int]]:
        return [(0, num_frames)] if window is None else latent_ops.window_spans(num_frames, window, overlap)

    def _window_plan(self, frames: Sequence[int], window: int | None, overlap: int, frame_mask=None):
        """The denoiser windows of a batch, or None when every clip fits in one window (the batch then goes through
        the denoiser as it is). Windows where `frame_mask` is all zero are not evaluated."""
        if window is None or max(frames) <= window:
            return None
        items, spans, index, weights = [], [], [], []
        for item, num_frames in enumerate(frames):
            item_spans = self._spans(num_frames, window, overlap)
            weights += latent_ops.window_weights(item_spans, num_frames, overlap)
            items += [item] * len(item_spans)
            index += list(range(len(item_spans)))
            spans += item_spans
        width = max(end - start for start, end in spans)
        device = self._execution_device
        padding_mask = torch.zeros(len(spans), width, dtype=torch.bool, device=device)
        for k, (start, end) in enumerate(spans):
            padding_mask[k, : end - start] = True
        active = [k for k, (item, (start, end)) in enumerate(zip(items, spans))
                  if frame_mask is None or bool(frame_mask[item, start:end].max() > 0)]
        return _WindowPlan(items, spans, index, weights, width, padding_mask, active)

    def _predict(self, latents, t, branches, scales, padding_mask, offsets, plan=None, frame_offsets=None):
        """`_guided_prediction` over the whole batch, or window by window (`plan`), at most `WINDOWS_PER_PASS`
        windows per forward pass, the windows' predictions cross-faded where they overlap (MultiDiffusion).
        `frame_offsets`: per branch, None or a per-frame condition offset `(B or num_windows, hidden_size, T)`."""
        if plan is None:
            return self._guided_prediction(latents, t, branches, scales, padding_mask, offsets, None, frame_offsets)
        windows = plan.unfold(latents)  # (num_windows, C, width)
        predictions = torch.zeros_like(windows)
        for first in range(0, len(plan.active), WINDOWS_PER_PASS):
            index = torch.tensor(plan.active[first : first + WINDOWS_PER_PASS], device=latents.device)
            chunk = [{k: v[index.to(v.device)] for k, v in branch.items()} for branch in branches]
            chunk_offsets = [o[index] if o is not None and o.ndim == 2 else o for o in offsets]  # per-window
            chunk_frames = None if frame_offsets is None else [o if o is None else o[index] for o in frame_offsets]
            items = [plan.items[k] for k in plan.active[first : first + WINDOWS_PER_PASS]]  # each window's clip
            predictions[index] = self._guided_prediction(windows[index], t, chunk, scales, plan.padding_mask[index],
                                                         chunk_offsets, items, chunk_frames)
        return plan.fold(predictions, latents.shape)

    def _window_attributes(self, attributes: Sequence[SourceAttributes | None], window_values, plan):
        """Per window: the clip's contours over the window's frames and the window's own clip-level values."""
        out = []
        for item, index, (start, end) in zip(plan.items, plan.index, plan.spans):
            clip = attributes[item]
            if clip is None:
                out.append(None)
                continue
            values = clip.values if window_values is None else window_values[item][index]
            out.append(clip.frames(start, end, values))
        return out

    def _time_warp(self, latents, padding_mask, num_samples, rate):
        """Resample each clip's latents to `1 / rate` of its duration (`num_samples` become the output's)."""
        hop = self.hop_length
        samples = [max(1, round(n / rate)) for n in num_samples]
        frames = [math.ceil(n / hop) for n in samples]
        warped = latents.new_zeros(latents.shape[0], latents.shape[1], max(frames))
        mask = torch.zeros(latents.shape[0], max(frames), dtype=torch.bool, device=latents.device)
        for i, num_frames in enumerate(frames):
            clip = latents[i : i + 1, :, : int(padding_mask[i].sum())]
            warped[i, :, :num_frames] = latent_ops.time_warp_latents(clip, num_frames, mode=RATE_WARP_MODE)[0]
            mask[i, :num_frames] = True
        return warped, mask, samples

    def _region_masks(self, edit_region: str | None, frames: Sequence[int],
                      source: Sequence[SourceAttributes]) -> torch.Tensor | None:
        """`edit_region` → per-frame weights `(B, T_max)` in [0, 1] (see `__call__`), or None for the whole clip."""
        if edit_region is None or edit_region == "all":
            return None
        if edit_region not in EDIT_REGIONS:
            raise ValueError(f"`edit_region` must be one of {('all', *EDIT_REGIONS)}, got {edit_region!r}")
        frame_rate = self.sampling_rate / self.hop_length
        weights = torch.zeros(len(frames), max(frames))
        for i, num_frames in enumerate(frames):
            region = source[i].f0_hz > 0 if edit_region == "voiced" else \
                speech_frames(source[i].energy_db, silence_db=PAUSE_DB)
            spans = latent_ops.active_spans(region[:num_frames], EDIT_REGION_MARGIN_SECONDS * frame_rate)
            if spans:
                weights[i, :num_frames] = latent_ops.smooth_frame_mask(num_frames, spans, MASK_RAMP_SECONDS * frame_rate)
        return weights.to(self._execution_device)

    def _frame_masks(self, edit_mask, frames: Sequence[int]) -> torch.Tensor | None:
        """`edit_mask` → per-frame weights `(B, T_max)` in [0, 1] (see `__call__`), or None."""
        if edit_mask is None:
            return None
        batch, device = len(frames), self._execution_device
        if isinstance(edit_mask, (torch.Tensor, np.ndarray)):
            weights = torch.as_tensor(np.asarray(edit_mask) if isinstance(edit_mask, np.ndarray) else edit_mask)
            weights = weights.float().reshape(-1 if weights.ndim == 1 else weights.shape[0], weights.shape[-1])
            if weights.shape != (batch, max(frames)) and weights.shape != (1, max(frames)):
                raise ValueError(f"`edit_mask` as frame weights must have shape ({batch}, {max(frames)}), got "
                                 f"{tuple(weights.shape)}")
            if not torch.isfinite(weights).all():
                raise ValueError("`edit_mask` frame weights must be finite")
            return weights.clamp(0, 1).expand(batch, -1).to(device)
        items = [edit_mask] * batch if isinstance(edit_mask, tuple) else list(edit_mask)  # a tuple: every clip
        if len(items) != batch:
            raise ValueError(f"`edit_mask` has {len(items)} items for a batch of {batch}")
        if all(item is None for item in items):
            return None
        frame_rate = self.sampling_rate / self.hop_length
        ramp = MASK_RAMP_SECONDS * frame_rate
        weights = torch.zeros(batch, max(frames))
        for i, (item, num_frames) in enumerate(zip(items, frames)):
            if item is None:
                weights[i, :num_frames] = 1.0
                continue
            spans = [item] if len(item) == 2 and not isinstance(item[0], (tuple, list)) else list(item)
            duration = num_frames / frame_rate
            frame_spans = []
            for span in spans:
                start, end = (0.0 if span[0] is None else float(span[0])), (duration if span[1] is None else
                                                                             float(span[1]))
                if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end and start < duration):
                    raise ValueError(f"`edit_mask` span ({span[0]}, {span[1]}) s is not inside clip {i} "
                                     f"(0-{duration:.2f} s)")
                frame_spans.append((start * frame_rate, min(end, duration) * frame_rate))
            weights[i, :num_frames] = latent_ops.smooth_frame_mask(num_frames, frame_spans, ramp)
        return weights.to(device)

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

    def timbre_reference(self, source_latents: torch.Tensor | None, padding_mask: torch.Tensor | None,
                         enabled: bool = True) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The timbre reference of clips: per clip, a centred crop of at most the denoiser's `timbre_max_frames` of
        its clean normalized latents, as `(latents (B, C, W), mask (B, W))`. None (the learned null timbre) when
        the denoiser has no timbre encoder, when `enabled` is False, or without source latents (generation)."""
        if source_latents is None or not enabled or not getattr(self.denoiser, "has_timbre", False):
            return None
        width = self.denoiser.config.timbre_max_frames
        frames = padding_mask.sum(-1).tolist()
        reference = source_latents.new_zeros(source_latents.shape[0], source_latents.shape[1], min(width, max(frames)))
        mask = torch.zeros(reference.shape[0], reference.shape[-1], dtype=torch.bool, device=source_latents.device)
        for i, n in enumerate(frames):
            length = min(width, int(n))
            start = (int(n) - length) // 2
            reference[i, :, :length] = source_latents[i, :, start : start + length]
            mask[i, :length] = True
        return reference, mask

    def _set_timbre(self, source_latents: torch.Tensor | None, padding_mask: torch.Tensor | None,
                    enabled: bool = True) -> None:
        """The `timbre_reference` of the clips this call works on. Every branch, guidance reference included, gets
        the same timbre: guidance moves the attributes, never the voice."""
        self._timbre = self.timbre_reference(source_latents, padding_mask, enabled)

    def _timbre_inputs(self, rows: Sequence[int] | None, repeat: int, timbre=None) -> dict:
        """Denoiser keyword arguments for a forward pass over `repeat` branches of the clips `rows` (None: all),
        from `timbre` (a `timbre_reference`) or the current call's."""
        timbre = timbre if timbre is not None else getattr(self, "_timbre", None)
        if timbre is None:
            return {}
        reference, mask = timbre
        if rows is not None:
            index = torch.as_tensor(list(rows), device=reference.device)
            reference, mask = reference[index], mask[index]
        return {"timbre_latents": reference.repeat(repeat, 1, 1), "timbre_mask": mask.repeat(repeat, 1)}

    def _guided_prediction(self, latents, t, branches, scales, padding_mask, offsets, rows=None, frame_offsets=None):
        """One batched forward pass over all condition branches, then compositional guidance
        (Liu et al., "Compositional Visual Generation with Composable Diffusion Models", 2022):
        `pred = pred_ref + sum_g scale_g * (pred_g - pred_ref)`; with a single branch it is that branch's prediction.
        `rows`: the clip of each row of `latents` (windows), for the timbre condition."""
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
        frame_offset = None
        if frame_offsets is not None and any(o is not None for o in frame_offsets):
            zeros = latents.new_zeros(batch, self.denoiser.config.hidden_size, latents.shape[-1])
            frame_offset = torch.cat([o if o is not None else zeros for o in frame_offsets])
        prediction = self.denoiser(
            latents.repeat(n, 1, 1), t, conditions=conditions, padding_mask=padding_mask.repeat(n, 1),
            condition_offset=offset, frame_condition_offset=frame_offset, **self._timbre_inputs(rows, n),
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

    def _ddim_invert(self, source_latents, padding_mask, num_inference_steps, inversion_depth, branches, scales,
                     plan=None):
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
                pred = self._predict(latents, t, branches, scales, padding_mask, [None] * len(branches), plan)
                pred = _to_epsilon(pred, latents, inverse_scheduler.alphas_cumprod[int(t)], prediction_type)
                latents = inverse_scheduler.step(pred, t, latents).prev_sample * padding_mask[:, None]
                progress_bar.update()
        return latents

    def _ddpm_noise_maps(self, source_latents, padding_mask, num_inference_steps, inversion_depth, branches, scales,
                         generator, plan=None):
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
                pred = self._predict(noisy[i], t, branches, scales, padding_mask, [None] * len(branches), plan)
                mean = self._stochastic_step(pred, t, noisy[i]).prev_sample
                maps.append((noisy[i + 1] - mean) * mask)
                progress_bar.update()
        return noisy[0], torch.stack(maps)

    def _forward_noised(self, source_latents, padding_mask, num_inference_steps, inversion_depth, generator):
        """SDEdit (Meng et al., ICLR 2022): `x_t ~ q(x_t | x_0)` at the first sampling timestep, eq. 4 of DDPM; for a
        time-warped input, whose smeared detail an exact inversion would keep, the sampler regenerates it."""
        t_start = self._timesteps(num_inference_steps, inversion_depth, source_latents.device)[0]
        alpha_prod = self._inverse_scheduler().alphas_cumprod[int(t_start)].to(source_latents)
        noise = randn_tensor(source_latents.shape, generator=generator, device=source_latents.device,
                             dtype=source_latents.dtype)
        return (alpha_prod.sqrt() * source_latents + (1 - alpha_prod).sqrt() * noise) * padding_mask[:, None]

    def _stochastic_step(self, prediction, t, latents):
        """The eta = 1 (DDPM-like) DDIM step from `latents` at `t` without its noise: `prev_sample` is the step's mean,
        `pred_original_sample` its clean estimate."""
        return self.scheduler.step(prediction, t, latents, eta=1.0, variance_noise=torch.zeros_like(latents))

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
        max_seconds: float | None = None,
        method: str = "ddim",
        rate: float = 1.0,
        window_seconds: float | None = DEFAULT_WINDOW_SECONDS,
        guidance_reference: str = "null",
        inversion_options: dict | None = None,
        timbre_condition: bool = True,
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
        `method="null-opt"`, `"latent-opt"` and `"encoder"` are in `latentdiff_edit.inversion`: per-step optimization
        of the reference condition (null-text inversion), optimization of the inverted latents themselves (both for
        the regeneration at `guidance_scale` against `guidance_reference`, which `__call__` must then use), and the
        one-pass `inversion_encoder` component.

        A speaking-rate edit (`rate != 1`) time-warps the clean latents and the F0 and energy contours to `1 / rate`
        of the duration, then noises the warped latents to `inversion_depth` (SDEdit) instead of inverting them
        exactly, so that regeneration replaces the detail the resampling smeared.

        Long clips are processed in windows of `window_seconds` (the codec in windows of `CODEC_WINDOW_SECONDS`):
        memory is bounded by the window, and the clip-level attributes are measured window by window, so one part
        of a long or multi-speaker recording does not set the conditions of the rest. Measured values outside the
        range the model was trained on are clamped to it, with a warning.

        Args:
            audio (`np.ndarray`, `torch.Tensor` or a list of them): one clip `(num_samples,)` or
                `(num_channels, num_samples)` (downmixed), or a list of clips (a batch).
            sampling_rate (`int` or `list[int]`): the input rate(s); audio is resampled to the codec's rate.
            attributes (`dict` or `list[dict]`, *optional*): clip-level labels of the source that cannot be
                measured (e.g. `{"voice": ...}`); measurable ones are measured.
            num_inference_steps (`int`, *optional*, defaults to 50): steps of the full schedule.
            inversion_depth (`float`, *optional*, defaults to 1.0): fraction of the schedule to invert.
            guidance_scale (`float`, *optional*, defaults to 1.0): CFG against the null condition (1 = off).
            generator (`torch.Generator`, *optional*): the noise of `method="ddpm"` and of a rate edit.
            max_seconds (`float`, *optional*): longer clips are refused (no limit by default).
            method (`str`, *optional*, defaults to `"ddim"`): `"ddim"` or `"ddpm"` (see above).
            rate (`float`, *optional*, defaults to 1.0): speaking-rate factor, 1.25 = 25 % faster (duration / 1.25),
                in `RATE_RANGE`.
            window_seconds (`float`, *optional*, defaults to `DEFAULT_WINDOW_SECONDS`): denoiser window; None runs
                each clip through the denoiser whole.
            guidance_reference (`str`, *optional*, defaults to `"null"`): for `"null-opt"` and `"latent-opt"`, the
                reference of the regeneration they are optimized for (`"null"` or `"source"`).
            inversion_options (`dict`, *optional*): options of the `"null-opt"` / `"latent-opt"` optimization (see
                `latentdiff_edit.inversion`).
            timbre_condition (`bool`, *optional*, defaults to `True`): for a denoiser with a timbre encoder, condition
                on the voice of the clip itself (its clean latents); False uses the null timbre.
            return_dict (`bool`, *optional*, defaults to `True`): return a `VoiceInversionOutput` or a tuple.
        """
        # 1. Check inputs
        self.check_inputs(num_inference_steps, inversion_depth, guidance_scale, guidance_reference, None,
                          attributes, "latent", None)
        inversion_methods.check_method(self, method, inversion_depth, inversion_options)
        if method == "ddpm" and not isinstance(self.scheduler, DDIMScheduler):
            raise ValueError(f"edit-friendly DDPM inversion steps a `DDIMScheduler` (eta = 1), this pipeline has a "
                             f"`{type(self.scheduler).__name__}`; use method='ddim'")
        if not (isinstance(rate, (int, float)) and RATE_RANGE[0] <= rate <= RATE_RANGE[1]):
            raise ValueError(f"`rate` must be a factor in [{RATE_RANGE[0]}, {RATE_RANGE[1]}], got {rate!r}")
        window, overlap = self._window_size(window_seconds)
        # 2. Encode (time-warped for a rate edit) and measure, window by window
        clips = self._prepare_audio_batch(audio, sampling_rate, max_seconds)
        source_latents, padding_mask, num_samples = self.encode_audio(clips)
        if rate != 1.0:
            source_latents, padding_mask, num_samples = self._time_warp(source_latents, padding_mask, num_samples,
                                                                        rate)
        frames = padding_mask.sum(-1).tolist()
        self._set_timbre(source_latents, padding_mask, timbre_condition)
        labels = _per_item(attributes, len(clips), "attributes")
        _refuse_frame_attributes(self.schema, labels)
        sources, window_values = [], []
        for i, (clip, num_frames) in enumerate(zip(clips, frames)):
            source, values = self._measure(clip, num_frames, rate, self._spans(num_frames, window, overlap))
            source.values.update(labels[i])
            for item in values:
                item.update(labels[i])
            self._warn_out_of_range(values, f"measured (audio[{i}])" if len(clips) > 1 else "measured")
            sources.append(source)
            window_values.append(values)
        plan = self._window_plan(frames, window, overlap)
        if plan is None:
            conditioned, num_condition_frames = sources, source_latents.shape[-1]
        else:
            conditioned, num_condition_frames = self._window_attributes(sources, window_values, plan), plan.width
        branches = [self.encode_conditions(conditioned, num_condition_frames)]
        scales = []
        if guidance_scale != 1.0:
            branches = [self.encode_conditions([None] * len(conditioned), num_condition_frames)] + branches
            scales = [guidance_scale]
        # 3. Inversion: the deterministic DDIM path, edit-friendly DDPM noise maps, or (rate edits) SDEdit noising
        reference_offsets = None  # null-opt's per-step reference embeddings
        if rate != 1.0:
            latents, noise_maps = self._forward_noised(source_latents, padding_mask, num_inference_steps,
                                                       inversion_depth, generator), None
        elif method == "ddpm":
            latents, noise_maps = self._ddpm_noise_maps(source_latents, padding_mask, num_inference_steps,
                                                        inversion_depth, branches, scales, generator, plan)
        elif method != "ddim":
            latents, reference_offsets = inversion_methods.invert_with(
                self, method, source_latents, padding_mask, sources, conditioned, num_condition_frames, plan,
                num_inference_steps, inversion_depth, guidance_scale, guidance_reference, inversion_options)
            noise_maps = None
        else:
            latents, noise_maps = self._ddim_invert(source_latents, padding_mask, num_inference_steps,
                                                    inversion_depth, branches, scales, plan), None
        self.maybe_free_model_hooks()
        self._timbre = None  # no tensors of this call stay on the pipeline
        num_steps = max(1, round(inversion_depth * num_inference_steps))
        output = VoiceInversionOutput(latents, source_latents, sources, padding_mask, num_samples,
                                      num_inference_steps, num_steps / num_inference_steps, method, noise_maps,
                                      rate=float(rate), window_frames=window, window_overlap=overlap,
                                      window_values=window_values,
                                      reference_offsets=reference_offsets,
                                      guidance_scale=float(guidance_scale), guidance_reference=guidance_reference,
                                      timbre_condition=bool(timbre_condition))
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
        direction: EditDirection | str | directions_lib.Direction | None = None,
        strength: float = 1.0,
        num_inference_steps: int = 50,
        inversion_depth: float | None = None,
        guidance_scale: float = 1.0,
        guidance_reference: str = "source",
        attribute_guidance_scales: Mapping[str, float] | None = None,
        num_frames: int | None = None,
        batch_size: int = 1,
        rate: float | None = None,
        edit_mask=None,
        edit_region: str | None = None,
        window_seconds: float | None = DEFAULT_WINDOW_SECONDS,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] = ["latents"],
        timbre_condition: bool | None = None,
        harmonic_guidance: float = 0.0,
        harmonic_guidance_iterations: int = harmonic_lib.DEFAULT_ITERATIONS,
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
            direction (`EditDirection`, `str` or `Direction`, *optional*): from `construct_direction`, applied with
                `strength`; or a saved direction (its name, see `load_directions`, or a
                `latentdiff_edit.directions.Direction`), whose `strength` is calibrated (1.0 = its measured unit).
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
            rate (`float`, *optional*): speaking-rate factor (1.25 = 25 % faster: the output lasts `1 / 1.25` of the
                input), applied when `audio` is inverted (see `invert`); with an `inversion`, the rate it was made with.
            edit_mask (`tuple`, `list` or `torch.Tensor`, *optional*): where to edit. A tuple `(start, end)` in seconds
                (either may be None: from the start, to the end) for every clip; a list with, per clip, such a span,
                a list of spans, or None (the whole clip); or frame weights `(batch_size, num_frames)` in [0, 1]. Per step, the
                latents outside the mask are replaced by the source's (as DiffEdit and inpainting do; the mask ramps
                over `MASK_RAMP_SECONDS` inside each span), so outside it the output is the codec's rendering of the
                source and the seams are smooth; the target contours are the source's outside the mask.
            edit_region (`str`, *optional*, defaults to `"all"`): which of the source's frames to edit (inside
                `edit_mask`, which it narrows): `"all"`; `"speech"`, the frames that are not pauses (within 35 dB,
                `PAUSE_DB`, of the source's loudest frame); or `"voiced"`, those with an F0; each region widened by
                `EDIT_REGION_MARGIN_SECONDS`, so that pauses (and with `"voiced"` voiceless consonants) stay the
                codec's rendering of the source, as with `edit_mask`.
            window_seconds (`float`, *optional*, defaults to `DEFAULT_WINDOW_SECONDS`): denoiser window when this call
                inverts `audio` or generates (see `invert`); an `inversion` brings its own.
            generator (`torch.Generator`, *optional*): for the initial noise when generating.
            latents (`torch.Tensor`, *optional*): initial noise latents `(batch_size, latent_channels, num_frames)`.
            output_type (`str`, *optional*, defaults to `"np"`): `"np"`, `"pt"` or `"latent"`.
            return_dict (`bool`, *optional*, defaults to `True`): return a `VoiceEditPipelineOutput` or a tuple.
            callback_on_step_end (`Callable`, *optional*): `fn(pipe, step, timestep, callback_kwargs) -> dict`;
                a returned `"latents"` replaces the latents.
            callback_on_step_end_tensor_inputs (`list[str]`, *optional*): tensors passed to the callback.
            timbre_condition (`bool`, *optional*): for a denoiser with a timbre encoder, keep the source's voice as a
                fixed condition while the attributes move (default: True, or what `inversion` was made with); False
                uses the null timbre. Ignored when generating from noise.
            harmonic_guidance (`float`, *optional*, defaults to 0.0): keep the edited voice periodic at the asked F0
                (`latentdiff_edit.harmonic_guidance`): at every step the denoiser's clean estimate is moved along the
                gradient of how far its voiced frames fall short of the source's harmonicity at the asked contour, by
                this scale (0 = off; edits of a source only, with a `DDIMScheduler`).
            harmonic_guidance_iterations (`int`, *optional*, defaults to 2): gradient steps per sampling step.

        Examples:
        """
        # 1. Check inputs (a named or calibrated direction becomes what it runs: contour edits or a vector)
        if isinstance(direction, (str, directions_lib.Direction)):
            named = direction if isinstance(direction, directions_lib.Direction) else \
                directions_lib.resolve_direction(self.load_directions(reload=False), direction)
            resolved = named.call_arguments(strength, pitch_shift, intonation_scale, energy_shift)
            pitch_shift, intonation_scale, energy_shift, strength = (
                resolved[k] for k in ("pitch_shift", "intonation_scale", "energy_shift", "strength"))
            direction = None if resolved["vector"] is None else EditDirection(resolved["vector"], resolved["space"])
        self.check_inputs(num_inference_steps, inversion_depth, guidance_scale, guidance_reference,
                          attribute_guidance_scales, attributes, output_type, callback_on_step_end_tensor_inputs,
                          strength, direction)
        if audio is not None and inversion is not None:
            raise ValueError("pass either `audio` or `inversion`, not both")
        if not math.isfinite(harmonic_guidance) or harmonic_guidance < 0:
            raise ValueError(f"`harmonic_guidance` must be a finite number >= 0, got {harmonic_guidance}")
        if harmonic_guidance > 0:
            if audio is None and inversion is None:
                raise ValueError("`harmonic_guidance` keeps an edit of a source harmonic: pass `audio` or `inversion`")
            if not isinstance(self.scheduler, DDIMScheduler):
                raise ValueError(f"`harmonic_guidance` corrects DDIM's clean estimate; this pipeline has a "
                                 f"`{type(self.scheduler).__name__}`")
        device = self._execution_device

        # 2. Encode: invert the audio, or take a given inversion; per clip (and per window of a long clip) the source
        # attributes and the target ones
        if audio is not None:
            if sampling_rate is None:
                raise ValueError("`sampling_rate` is required with `audio`")
            inversion = self.invert(audio, sampling_rate, num_inference_steps=num_inference_steps,
                                    inversion_depth=inversion_depth or DEFAULT_INVERSION_DEPTH, generator=generator,
                                    rate=1.0 if rate is None else rate, window_seconds=window_seconds,
                                    timbre_condition=True if timbre_condition is None else timbre_condition)
            inversion_depth = None  # the depth the inversion reached (a whole number of steps), not the one asked
        frame_mask = None
        if inversion is not None:
            if latents is not None:
                raise ValueError("`latents` come from `inversion`; pass one of them")
            if inversion_depth is not None and abs(inversion_depth - inversion.inversion_depth) > 1e-6:
                raise ValueError(f"`inversion_depth`={inversion_depth} differs from the inversion's "
                                 f"{inversion.inversion_depth}; invert again at the depth you want")
            if rate is not None and abs(rate - inversion.rate) > 1e-9:
                raise ValueError(f"`rate`={rate} differs from the inversion's {inversion.rate}; invert again with "
                                 "`rate`")
            num_inference_steps, inversion_depth = inversion.num_inference_steps, inversion.inversion_depth
            batch = inversion.latents.shape[0]
            source = inversion.source_attributes
            values = _per_item(attributes, batch, "attributes")
            _refuse_frame_attributes(self.schema, values)
            edits = [(_item(pitch_shift, i, batch, "pitch_shift"), _item(intonation_scale, i, batch, "intonation_scale"),
                      _item(energy_shift, i, batch, "energy_shift")) for i in range(batch)]
            target = [s.edited(*edits[i], values[i]) for i, s in enumerate(source)]
            frames = inversion.padding_mask.sum(-1).tolist()
            frame_mask = self._frame_masks(edit_mask, frames)
            region_mask = self._region_masks(edit_region, frames, source)
            if region_mask is not None:
                frame_mask = region_mask if frame_mask is None else frame_mask * region_mask
            if frame_mask is not None:
                if inversion.rate != 1.0:
                    raise ValueError("`edit_mask` and `edit_region` edit in place; a speaking-rate edit retimes the "
                                     "whole clip")
                if not hasattr(self.scheduler, "alphas_cumprod"):
                    raise ValueError(f"`edit_mask` needs a scheduler with `alphas_cumprod` (DDIM, Euler, ...), this "
                                     f"pipeline has a `{type(self.scheduler).__name__}`")
                target = [_blend_contours(s, t, frame_mask[i, : frames[i]].cpu().numpy())
                          for i, (s, t) in enumerate(zip(source, target))]
            window, overlap, window_values = inversion.window_frames, inversion.window_overlap, inversion.window_values
            target_values = None if window_values is None else [
                [SourceAttributes(np.zeros(0), np.zeros(0), v).edited(*edits[i], values[i]).values for v in item]
                for i, item in enumerate(window_values)]
            for i in range(batch):  # values an edit derives from measured ones (intonation x scale) may leave the range
                derived = target_values[i] if target_values is not None else [target[i].values]
                measured = window_values[i] if window_values is not None else [source[i].values]
                self._warn_out_of_range([{k: v for k, v in d.items() if k not in values[i] and v != m.get(k)}
                                         for d, m in zip(derived, measured)],
                                        "target" + (f" (clip {i})" if batch > 1 else ""))
            if inversion.reference_offsets is not None and guidance_reference != inversion.guidance_reference:
                raise ValueError(f"this 'null-opt' inversion was optimized for `guidance_reference`="
                                 f"{inversion.guidance_reference!r}, got {guidance_reference!r}")
            latents = inversion.latents.clone()
            self._set_timbre(inversion.source_latents.to(device), inversion.padding_mask.to(device),
                             inversion.timbre_condition if timbre_condition is None else timbre_condition)
            noise_maps = inversion.noise_maps
            padding_mask, num_samples = inversion.padding_mask, inversion.num_samples
        else:
            # generation from noise: target attributes are given, the reference is the null condition
            if any(np.any(np.asarray(v) != d) for v, d in ((pitch_shift, 0.0), (intonation_scale, 1.0), (energy_shift, 0.0))):
                raise ValueError("`pitch_shift`/`intonation_scale`/`energy_shift` edit a source: pass `audio` or `inversion`")
            if rate not in (None, 1.0) or edit_mask is not None or edit_region not in (None, "all"):
                raise ValueError("`rate`, `edit_mask` and `edit_region` edit a source: pass `audio` or `inversion`")
            guidance_reference, inversion_depth = "null", 1.0
            self._set_timbre(None, None)
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
                f0, energy, envelope = v.get("f0"), v.get("energy"), v.get("envelope")
                for name, contour in (("f0", f0), ("energy", energy), ("envelope", envelope)):
                    if contour is not None and np.shape(contour)[-1] != num_frames:
                        raise ValueError(f"`{name}` contour has {np.shape(contour)[-1]} frames, expected {num_frames}")
                clip_values = {k: x for k, x in v.items() if k not in ("f0", "energy", "envelope")}
                target.append(SourceAttributes(np.asarray(f0, dtype=np.float32) if f0 is not None else None,
                                               np.asarray(energy, dtype=np.float32) if energy is not None else None,
                                               clip_values,
                                               np.asarray(envelope, dtype=np.float32) if envelope is not None else None))
            source, noise_maps = [None] * batch, None
            padding_mask = torch.ones(batch, num_frames, dtype=torch.bool, device=device)
            num_samples = [num_frames * self.hop_length] * batch
            (window, overlap), frames, window_values, target_values = self._window_size(window_seconds), \
                [num_frames] * batch, None, None
        plan = self._window_plan(frames, window, overlap, frame_mask)
        if plan is None:
            condition_source, condition_target, condition_frames = source, target, padding_mask.shape[-1]
        else:
            condition_source = self._window_attributes(source, window_values, plan)
            condition_target = self._window_attributes(target, target_values, plan)
            condition_frames = plan.width

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
            condition_source, condition_target, condition_frames, guidance_scale, guidance_reference,
            attribute_guidance_scales, condition_offset,
        )
        if frame_mask is not None:  # the source's trajectory: its latents noised with the inversion's own noise
            source_x0 = inversion.source_latents.to(latents)
            alpha_prod = self._inverse_scheduler().alphas_cumprod[int(timesteps[0])].to(latents)
            source_noise = (inversion.latents.to(latents) - alpha_prod.sqrt() * source_x0) / (1 - alpha_prod).sqrt()
            blend = frame_mask[:, None].to(latents)  # (B, 1, T)
        harmonic = None
        if harmonic_guidance > 0:
            harmonic = self.harmonic_guidance(inversion, target, frame_mask, harmonic_guidance,
                                              harmonic_guidance_iterations)
            final_alpha = self.scheduler.final_alpha_cumprod.to(latents)
            step_ratio = self.scheduler.config.num_train_timesteps // self.scheduler.num_inference_steps
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
                step_offsets, frame_offsets = offsets, None
                if inversion is not None and inversion.reference_offsets is not None:  # null-opt: per step
                    step_offsets, frame_offsets = inversion_methods.branch_offsets(
                        offsets, inversion.reference_offsets[i].to(latents), guidance_reference, plan)
                if len(scales) == 1 and scales[0] == 1.0:  # guidance at 1: the reference branch cancels out
                    pred = self._predict(latent_model_input, t, branches[1:], [], padding_mask, step_offsets[1:], plan,
                                         None if frame_offsets is None else frame_offsets[1:])
                else:
                    pred = self._predict(latent_model_input, t, branches, scales, padding_mask, step_offsets, plan,
                                         frame_offsets)
                if noise_maps is not None:  # edit-friendly DDPM: the eta = 1 mean plus the inverted noise
                    step = self._stochastic_step(pred, t, latents)
                    step_latents = step.prev_sample + noise_maps[i]
                else:
                    step = self.scheduler.step(pred, t, latents)
                    step_latents = step.prev_sample
                if harmonic is not None:
                    # the corrected clean estimate with the same noise estimate: the step moves by alpha-bar(prev)^0.5
                    # times the correction (eta = 0 and eta = 1 alike)
                    x0 = step.pred_original_sample
                    prev_t = int(t) - step_ratio
                    alpha_prev = self.scheduler.alphas_cumprod[prev_t].to(latents) if prev_t >= 0 else final_alpha
                    step_latents = step_latents + alpha_prev.sqrt() * (harmonic.correct(x0) - x0)
                latents = step_latents * padding_mask[:, None]
                if frame_mask is not None:
                    # outside the mask, the source noised to the next timestep (the inpainting pipelines' blend;
                    # DiffEdit, Couairon et al., ICLR 2023, eq. 5); after the last step, the source itself
                    source_t = source_x0 if i == len(timesteps) - 1 else \
                        self.scheduler.add_noise(source_x0, source_noise, timesteps[i + 1 : i + 2])
                    latents = (source_t + blend * (latents - source_t)) * padding_mask[:, None]
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
        self._timbre = None  # no tensors of this call stay on the pipeline
        if not return_dict:
            return (audio_out,)
        return VoiceEditPipelineOutput(audios=audio_out, num_samples=num_samples, sampling_rate=self.sampling_rate,
                                       attributes=target)

    def harmonic_spectrum(self) -> tuple[Callable, int, int]:
        """A differentiable spectrum of normalized latents for harmonic guidance: `(fn, sampling_rate, n_fft)`, `fn`
        mapping `(B, C, T)` to natural-log magnitudes `(B, bins, >= T)` whose frame `j` is centred on latent frame `j`:
        a griffin-lim vocoder's own magnitude head, else the STFT (about 32 ms windows) of the decoded audio."""
        vocoder = self.vocoder
        if vocoder is not None and vocoder.config.phase == "griffin_lim":
            def spectrum(latents):
                return vocoder.log_magnitude(self.denormalize_latents(latents).to(vocoder.dtype)).float()
            return spectrum, int(vocoder.config.sampling_rate), int(vocoder.config.n_fft)
        n_fft = 1 << (round(0.032 * self.sampling_rate) - 1).bit_length()

        def spectrum(latents):
            audio = codec_utils.decode(self.codec, self.denormalize_latents(latents), vocoder=vocoder).float()
            window = torch.hann_window(n_fft, device=audio.device)
            stft = torch.stft(audio, n_fft, hop_length=self.hop_length, window=window, center=True,
                              return_complex=True)
            return stft.abs().clamp_min(1e-5).log()
        return spectrum, int(self.sampling_rate), n_fft

    def harmonic_guidance(self, inversion: VoiceInversionOutput, target: Sequence[SourceAttributes],
                          frame_mask: torch.Tensor | None, scale: float,
                          iterations: int = harmonic_lib.DEFAULT_ITERATIONS) -> harmonic_lib.HarmonicGuidance:
        """The harmonic guidance of an edit of `inversion` toward the `target` contours (see `__call__`)."""
        spectrum, sampling_rate, n_fft = self.harmonic_spectrum()
        return harmonic_lib.HarmonicGuidance(
            spectrum, sampling_rate, n_fft, inversion.source_latents.to(self._execution_device),
            [s.f0_hz for s in inversion.source_attributes], [t.f0_hz for t in target], frame_mask, scale, iterations,
            reach=harmonic_lib.DEFAULT_REACH)

    def load_directions(self, path=None, reload: bool = True) -> dict:
        r"""
        The directions saved in `path/directions/` (see `latentdiff_edit.directions.save_directions`), by name; they
        are kept for `__call__(direction=NAME)`.

        Args:
            path (`str` or `os.PathLike`, *optional*): a pipeline folder; defaults to the one this pipeline was
                loaded from.
            reload (`bool`, *optional*, defaults to `True`): read the folder again even if directions were loaded.
        """
        if reload or getattr(self, "_directions", None) is None:
            folder = path or getattr(self, "name_or_path", None)
            self._directions = directions_lib.load_directions(folder) if folder else {}
        return self._directions

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


def _blend_contours(source: SourceAttributes, target: SourceAttributes, weight: np.ndarray) -> SourceAttributes:
    """The target's contours where `weight` (per frame, in [0, 1]) is 1, the source's where it is 0, in between in
    semitones (F0) and dB (energy); voicing is the target's where the weight is at least one half."""
    f0_source, f0_target = source.f0_hz.astype(np.float64), target.f0_hz.astype(np.float64)
    both = (f0_source > 0) & (f0_target > 0)
    f0 = np.where(weight >= 0.5, f0_target, f0_source)
    semitones = hz_to_semitones(f0_source[both]) + weight[both] * (hz_to_semitones(f0_target[both]) -
                                                                   hz_to_semitones(f0_source[both]))
    f0[both] = semitones_to_hz(semitones)
    energy = source.energy_db + weight * (target.energy_db - source.energy_db)
    return SourceAttributes(f0.astype(np.float32), energy.astype(np.float32), dict(target.values), source.envelope)


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
