"""Editing files with a [`VoiceEditPipeline`]: what the command line (`latentdiff_edit.apps.cli`) and batch jobs
(`latentdiff_edit.apps.batch`) share. Read and validate a file, edit a batch of clips (of any length: the pipeline works
in windows; or a segment of each, edited inside the latent trajectory with a smooth mask), measure what the edit did, and
write the result atomically with its provenance in the file's tags.

    >>> settings = EditSettings(num_inference_steps=50)
    >>> job = prepare_job("speech.wav", pipe.sampling_rate, settings, ClipEdit(pitch_shift=3.0))
    >>> result = edit_jobs(pipe, [job], settings)[0]
    >>> write_output("speech_up3.wav", result.audio, pipe.sampling_rate, provenance_record("my/model", job, settings))
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..attributes import MEASURABLE, direction_endpoints
from ..audio import (
    MAX_TAG_CHARS,
    AudioInputError,
    atomic_output,
    load_audio,
    prepare_audio,
    read_audio_tags,
    save_audio,
)
from ..defaults import (
    DEFAULT_FIT_STRENGTH,
    DEFAULT_GUIDANCE_SCALE,
    DEFAULT_HARMONIC_GUIDANCE,
    DEFAULT_INVERSION,
    DEFAULT_NUM_INFERENCE_STEPS,
    DEFAULT_OCTAVE_REPAIR,
    auto_inversion_depth,
    default_edit_region,
)
from ..evaluation import alignment_drift, f0_spread_semitones, pitch_shift_semitones
from ..evaluation.metrics import extra_octave_jumps
from ..features import measure_attributes
from ..inversion import INVERSION_METHODS, auto_inversion_method
from ..octave_repair import candidate_inversions, repair_octave_errors
from ..pipelines.pipeline_voice_edit import (
    DEFAULT_WINDOW_SECONDS,
    EDIT_REGIONS,
    RATE_GUIDANCE_SCALE,
    RATE_INVERSION_DEPTH,
    RATE_RANGE,
)
from .credentials import SigningKey, resolve_signing_key, sign_file
from .credentials import mime_type as credentials_mime_type

EDIT_MODES = ("cfg", "direction")
EDIT_REGION_CHOICES = ("all", *EDIT_REGIONS)
INVERSION_CHOICES = ("auto", *INVERSION_METHODS)  # auto: DDPM for an edit that lowers the pitch, else DDIM
GUIDANCE_REFERENCES = ("source", "null")
OPTIMIZED_INVERSIONS = ("null-opt", "latent-opt")
# Peaks at or above this count as clipped (16-bit full scale is 32767 / 32768 = 0.99997).
CLIPPING_PEAK = 0.999
SOFTWARE_NAME = "latentdiff-edit"


@dataclass
class ClipEdit:
    """
    The edit of one clip.

    Args:
        pitch_shift (`float`, *optional*, defaults to 0.0): semitones added to the F0 contour.
        intonation_scale (`float`, *optional*, defaults to 1.0): scale of F0 excursions around the clip's mean.
        attributes (`dict`, *optional*): target clip-level attribute values, e.g. `{"style": "high-wide-fast"}`.
        rate (`float`, *optional*, defaults to 1.0): speaking-rate factor (1.25 = 25 % faster, duration / 1.25).
    """

    pitch_shift: float = 0.0
    intonation_scale: float = 1.0
    attributes: dict = field(default_factory=dict)
    rate: float = 1.0


@dataclass
class EditSettings:
    """
    How every clip of a run is edited.

    Args:
        mode (`str`, *optional*, defaults to `"cfg"`): `"cfg"` guides toward the target attributes;
            `"direction"` adds a condition-space direction from the source's measured values to the targets.
        strength (`float`, *optional*, defaults to 1.0): direction strength (`"direction"` mode, or `direction`).
        direction (`str`, *optional*): a saved direction of the model (`pipe.load_directions`) applied by name at
            `strength` (calibrated: 1.0 = the direction's measured unit), together with the other edits.
        guidance_scale (`float`, *optional*, defaults to `DEFAULT_GUIDANCE_SCALE`): guidance toward the targets.
        guidance_reference (`str`, *optional*, defaults to `"source"`): guide against the source's attributes
            (`"source"`) or the null condition (`"null"`, classic classifier-free guidance).
        num_inference_steps (`int`, *optional*, defaults to `DEFAULT_NUM_INFERENCE_STEPS`): steps of the full DDIM
            schedule.
        inversion_depth (`float`, *optional*): fraction of it inverted. None (the default) is
            `LOWERING_INVERSION_DEPTH` (0.7) for an edit that lowers the pitch and `DEFAULT_INVERSION_DEPTH` (0.8) for
            any other (`job_settings`; `latentdiff_edit.defaults` has the measurements).
        seed (`int`, *optional*, defaults to 0): seed of the pipeline's generator (and of DDPM inversion's noise).
        inversion (`str`, *optional*, defaults to `DEFAULT_INVERSION`, `"auto"`): `"ddim"`, `"ddpm"` (edit-friendly
            DDPM inversion: exact reconstruction whatever the model), `"null-opt"` or `"latent-opt"` (optimized for
            the edit's guidance and reference), `"encoder"` (the model's inversion encoder; see
            `latentdiff_edit.inversion`), or `"auto"`: DDPM for an edit that lowers the pitch, DDIM otherwise
            (`job_settings`).
        max_seconds (`float`, *optional*): refuse files longer than this (no limit by default: long files are
            edited window by window, with memory bounded by the window).
        segment (`tuple[float | None, float | None]`, *optional*): edit only `(start, end)` seconds of each file;
            the rest of the file is the codec's rendering of the source.
        window_seconds (`float`, *optional*, defaults to the pipeline's `DEFAULT_WINDOW_SECONDS`): denoiser window.
        timbre (`bool`, *optional*, defaults to `True`): for a model with a timbre condition, hold the source's voice
            fixed while the attributes move; False edits with the null timbre.
        region (`str`, *optional*): which frames of the source (or of its segment) are edited: `"all"`, `"speech"`
            (pauses stay the codec's rendering of the source) or `"voiced"` (so do voiceless consonants); the
            pipeline's `edit_region`. Defaults to `"voiced"` for an edit that moves only F0 (pitch, intonation),
            `"speech"` for any other, and `"all"` for a speaking-rate edit, which retimes every frame
            (`latentdiff_edit.defaults` has the measurements).
        fit_strength (`int`, *optional*): for `direction`, up to this many extra regenerations that adjust its
            strength to the clip until the measured change of its attribute is within `fit_tolerance` of the asked
            one (`directions.fit_strength`). None (the default) is `DEFAULT_FIT_STRENGTH` for a calibrated direction
            and 0 for an uncalibrated one (`resolve_fit_strength`); 0 applies the calibration's mean response alone.
        fit_tolerance (`float`, *optional*, defaults to 0.1): relative error that ends the fit.
        octave_repair (`int`, *optional*, defaults to `DEFAULT_OCTAVE_REPAIR`): for an in-place `"cfg"` edit, up to
            this many other regenerations (other inversions) from which the voiced segments the edit drew an octave
            off the asked F0 are redrawn (`latentdiff_edit.octave_repair`); they are made only when such a segment
            is found. 0 turns the check off.
        harmonic_guidance (`float`, *optional*, defaults to `DEFAULT_HARMONIC_GUIDANCE`): the pipeline's
            `harmonic_guidance`: at every step, move the denoiser's clean estimate toward a spectrum as harmonic at the
            asked F0 as the source's is at its own (`latentdiff_edit.harmonic_guidance`); 0 turns it off.
    """

    mode: str = "cfg"
    strength: float = 1.0
    guidance_scale: float = DEFAULT_GUIDANCE_SCALE
    guidance_reference: str = "source"
    num_inference_steps: int = DEFAULT_NUM_INFERENCE_STEPS
    inversion_depth: float | None = None
    seed: int = 0
    inversion: str = DEFAULT_INVERSION
    max_seconds: float | None = None
    segment: tuple[float | None, float | None] | None = None
    window_seconds: float | None = DEFAULT_WINDOW_SECONDS
    direction: str | None = None
    timbre: bool = True
    region: str | None = None
    fit_strength: int | None = None
    fit_tolerance: float = 0.1
    octave_repair: int = DEFAULT_OCTAVE_REPAIR
    harmonic_guidance: float = DEFAULT_HARMONIC_GUIDANCE


@dataclass
class EditJob:
    """One file, read and validated: the whole file as mono audio at the pipeline's rate, and the span to edit."""

    path: Path
    source: np.ndarray  # (num_samples,) float32 at the pipeline's rate
    sampling_rate: int
    start: int
    end: int
    edit: ClipEdit
    input_sampling_rate: int
    input_channels: int
    warnings: list[str] = field(default_factory=list)

    @property
    def edited_span(self) -> np.ndarray:
        return self.source[self.start : self.end]


@dataclass
class EditResult:
    """
    Args:
        audio (`np.ndarray` of shape `(num_samples,)`): the output file's samples.
        edited_span (`np.ndarray`): the output over the edited span (the whole output without a segment).
        source_values (`dict`): clip-level attributes the pipeline measured on the source span.
        report (`dict`, *optional*): the disentanglement report (see `edit_report_for`).
        fit (`dict`, *optional*): how a named direction's strength was fitted (`directions.FittedEdit.as_dict`).
        octave (`dict`, *optional*): what the octave check and repair did (`octave_repair.OctaveRepairInfo`).
    """

    audio: np.ndarray
    edited_span: np.ndarray
    source_values: dict
    report: dict | None = None
    fit: dict | None = None
    octave: dict | None = None


def parse_attribute_values(schema, values: Mapping | Sequence[str], argument: str = "--set") -> dict:
    """
    Typed, validated target attribute values from `NAME=VALUE` strings (the command line) or a mapping (a manifest
    row, whose CSV cells may be strings or numbers).

    Raises:
        ValueError: malformed pair, unknown name, frame attribute, non-number, or a value outside the model's range.
    """
    if not isinstance(values, Mapping):
        pairs = {}
        for item in values:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"`{argument}` expects NAME=VALUE, got {item!r}")
            pairs[name.strip()] = value.strip()
        values = pairs
    schema.check_names(values, argument)
    parsed = {}
    for name, value in values.items():
        spec = schema.by_name[name]
        if spec["type"] == "frame":
            hint = "; use --pitch / --intonation" if name == "f0" else ""
            raise ValueError(f"`{name}` is a frame-level contour, not a value to set{hint}")
        if spec["type"] == "continuous":
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"`{name}` must be a number, got {value!r}") from None
        else:
            value = str(value)
        schema.check_value(name, value)
        parsed[name] = value
    return parsed


def check_clip_edit(edit: ClipEdit) -> None:
    """Refuse pitch and intonation values that are not numbers or far outside what a voice can do."""
    if not (math.isfinite(edit.pitch_shift) and abs(edit.pitch_shift) <= 24):
        raise ValueError(f"pitch shift must be between -24 and +24 semitones, got {edit.pitch_shift}")
    if not (math.isfinite(edit.intonation_scale) and 0 <= edit.intonation_scale <= 4):
        raise ValueError(f"intonation scale must be between 0 (flat) and 4, got {edit.intonation_scale}")
    if not (math.isfinite(edit.rate) and RATE_RANGE[0] <= edit.rate <= RATE_RANGE[1]):
        raise ValueError(f"rate must be a factor between {RATE_RANGE[0]:g} and {RATE_RANGE[1]:g}, got {edit.rate}")


def check_settings(settings: EditSettings) -> None:
    """Refuse bad settings before a model is loaded or a file read, naming the command-line flags. The pipeline's
    `check_inputs` checks the same values again for library callers, under its own argument names; the app checks
    first so that a typo costs no model load and a batch job fails once, not once per item."""
    if settings.mode not in EDIT_MODES:
        raise ValueError(f"mode must be one of {EDIT_MODES}, got {settings.mode!r}")
    if settings.guidance_reference not in GUIDANCE_REFERENCES:
        raise ValueError(f"guidance reference must be one of {GUIDANCE_REFERENCES}, got {settings.guidance_reference!r}")
    if settings.inversion not in INVERSION_CHOICES:
        raise ValueError(f"inversion must be one of {INVERSION_CHOICES}, got {settings.inversion!r}")
    if settings.num_inference_steps < 1:
        raise ValueError(f"steps must be a positive integer, got {settings.num_inference_steps}")
    if settings.inversion_depth is not None and not 0 < settings.inversion_depth <= 1:
        raise ValueError(f"depth must be in (0, 1], got {settings.inversion_depth}")
    if not (math.isfinite(settings.guidance_scale) and settings.guidance_scale >= 0):
        raise ValueError(f"guidance must be a number >= 0, got {settings.guidance_scale}")
    if not math.isfinite(settings.strength):
        raise ValueError(f"strength must be a finite number, got {settings.strength}")
    if settings.max_seconds is not None and not settings.max_seconds > 0:
        raise ValueError(f"max_seconds must be a positive number of seconds, got {settings.max_seconds}")
    if settings.window_seconds is not None and not (math.isfinite(settings.window_seconds) and
                                                    settings.window_seconds > 0):
        raise ValueError(f"window must be a positive number of seconds, got {settings.window_seconds}")
    if settings.fit_strength is not None and not (isinstance(settings.fit_strength, int) and
                                                  settings.fit_strength >= 0):
        raise ValueError(f"fit-strength must be a whole number of tries >= 0, got {settings.fit_strength!r}")
    if settings.fit_strength and settings.direction is None:
        raise ValueError("fit-strength fits the strength of a saved direction: give --direction NAME")
    if not (math.isfinite(settings.fit_tolerance) and settings.fit_tolerance > 0):
        raise ValueError(f"fit tolerance must be a positive number, got {settings.fit_tolerance}")
    if not (isinstance(settings.octave_repair, int) and settings.octave_repair >= 0):
        raise ValueError(f"octave-repair must be a whole number of regenerations >= 0, got {settings.octave_repair!r}")
    if not (math.isfinite(settings.harmonic_guidance) and settings.harmonic_guidance >= 0):
        raise ValueError(f"harmonic-guidance must be a number >= 0, got {settings.harmonic_guidance}")
    if settings.region is not None and settings.region not in EDIT_REGION_CHOICES:
        raise ValueError(f"region must be one of {EDIT_REGION_CHOICES}, got {settings.region!r}")
    if settings.segment is not None:
        start, end = settings.segment
        if start is not None and not start >= 0:
            raise ValueError(f"segment start must be >= 0 s, got {start}")
        if start is not None and end is not None and not end > start:
            raise ValueError(f"segment end ({end} s) must come after its start ({start} s)")


def prepare_job(path: str | os.PathLike, sampling_rate: int, settings: EditSettings, edit: ClipEdit) -> EditJob:
    """
    Read and validate one file for editing at `sampling_rate` (mono downmix, resampling).

    Raises:
        AudioInputError: unreadable, empty, truncated, NaN, silent, too short or too long audio, or a segment outside
            the file; the message names the file.
    """
    path = Path(path)
    if settings.segment is not None and edit.rate != 1.0:
        raise ValueError("--rate retimes the whole file; it cannot be combined with --start/--end")
    if settings.region not in (None, "all") and edit.rate != 1.0:
        raise ValueError(f"--rate retimes the whole file; it cannot be combined with --region {settings.region}")
    audio, input_rate = load_audio(path, max_seconds=settings.max_seconds)
    source = prepare_audio(audio, input_rate, sampling_rate, max_seconds=settings.max_seconds, name=str(path)).numpy()
    start, end = 0, len(source)
    if settings.segment is not None:
        duration = len(source) / sampling_rate
        segment_start = settings.segment[0] or 0.0
        segment_end = duration if settings.segment[1] is None else settings.segment[1]
        if not segment_start < segment_end <= duration + 1e-6:
            raise AudioInputError(
                f"segment {segment_start:g}-{segment_end:g} s is not inside {path} (0-{duration:.2f} s)"
            )
        start, end = round(segment_start * sampling_rate), min(round(segment_end * sampling_rate), len(source))
    job = EditJob(path, source, sampling_rate, start, end, edit, input_rate, 1 if audio.ndim == 1 else audio.shape[1])
    clipped = float(np.mean(np.abs(audio) >= CLIPPING_PEAK))
    if clipped > 0.001:
        job.warnings.append(f"{path} is clipped ({100 * clipped:.1f}% of samples at full scale); the edit keeps "
                            "the distortion")
    return job


def resolve_fit_strength(pipe, settings: EditSettings) -> EditSettings:
    """`settings` with `fit_strength` decided: kept when given; when None, `DEFAULT_FIT_STRENGTH` tries for a calibrated
    named direction of `pipe` (the calibration maps strength to the mean change of its clips, and a clip may respond
    by a third more or less) and 0 otherwise. Unknown direction names fail here (`resolve_direction`)."""
    if settings.fit_strength is not None:
        return settings
    tries = 0
    if settings.direction is not None:
        from ..directions import resolve_direction

        direction = resolve_direction(pipe.load_directions(reload=False), settings.direction)
        tries = DEFAULT_FIT_STRENGTH if direction.calibrated else 0
    return replace(settings, fit_strength=tries)


def edit_jobs(pipe, jobs: Sequence[EditJob], settings: EditSettings, report: bool = True) -> list[EditResult]:
    """
    Edit prepared jobs with `pipe`: one batched inversion and one batched call per speaking rate in `"cfg"` mode; one
    clip at a time in `"direction"` mode, because each clip's direction starts from its own measured attributes.
    Whole files go through the pipeline (in windows when long); a segment is edited through the pipeline's
    `edit_mask`, so outside it the output is the codec's rendering of the source. With `report`, each result carries
    its disentanglement report (`edit_report_for`).
    """
    settings = resolve_fit_strength(pipe, settings)
    if settings.mode == "direction":
        results = [_edit_with_direction(pipe, job, settings) for job in jobs]
        return [_with_report(pipe, job, result, settings) if report else result for job, result in zip(jobs, results)]
    if settings.direction is not None and settings.fit_strength > 0:
        results = [_edit_fitted(pipe, job, settings) for job in jobs]
        return [_with_report(pipe, job, result, settings) if report else result for job, result in zip(jobs, results)]
    results = {}
    run_settings = settings
    resolved = [job_settings(settings, job.edit) for job in jobs]
    keys = [(job.edit.rate, s.inversion, s.inversion_depth, s.region) for job, s in zip(jobs, resolved)]  # a call each
    for key in dict.fromkeys(keys):
        group = [i for i, k in enumerate(keys) if k == key]
        settings = resolved[group[0]]
        group_jobs = [jobs[i] for i in group]
        inversion = _invert(pipe, group_jobs, settings)
        repair = settings.octave_repair > 0 and key[0] == 1.0  # in place: the asked contour is the source's frames

        def regenerate(inversion, seed, output_type, group_jobs=group_jobs, settings=settings):
            return pipe(
                inversion=inversion,
                pitch_shift=[job.edit.pitch_shift for job in group_jobs],
                intonation_scale=[job.edit.intonation_scale for job in group_jobs],
                attributes=[job.edit.attributes for job in group_jobs],
                edit_mask=[_mask(job) for job in group_jobs],
                edit_region=settings.region,
                direction=settings.direction,
                strength=settings.strength,
                guidance_scale=settings.guidance_scale,
                guidance_reference=settings.guidance_reference,
                generator=torch.Generator("cpu").manual_seed(seed),
                output_type=output_type,
                harmonic_guidance=settings.harmonic_guidance,
            )

        output = regenerate(inversion, settings.seed, "latent" if repair else "np")
        if repair:
            options = candidate_inversions(settings.inversion, settings.seed, settings.octave_repair)

            def other(k, options=options, group_jobs=group_jobs, settings=settings, regenerate=regenerate):
                method, seed = options[k]
                candidate = _invert(pipe, group_jobs, replace(settings, inversion=method, seed=seed))
                return regenerate(candidate, seed, "latent").audios, f"{method} seed {seed}"

            audios, infos = repair_octave_errors(pipe, output.audios, output.num_samples,
                                                 [a.f0_hz for a in output.attributes], other,
                                                 max_tries=len(options))
        else:
            audios = [output.audios[k, : output.num_samples[k]] for k in range(len(group))]
        for k, i in enumerate(group):
            results[i] = _result(jobs[i], audios[k], inversion.source_attributes[k].values)
            if repair:
                results[i].octave = infos[k].as_dict() | {"summary": infos[k].describe()}
    return [_with_report(pipe, jobs[i], results[i], run_settings) if report else results[i] for i in range(len(jobs))]


def job_settings(settings: EditSettings, edit: ClipEdit) -> EditSettings:
    """
    The settings one clip's edit runs with. A speaking-rate edit regenerates every frame from a DDIM inversion at its
    own depth, with guidance against the null condition (the time-warped source is no recording to guide against),
    as measured by `scripts/measure_editing.py`. An in-place edit with no region set regenerates the voiced frames
    when it moves only F0 (pitch, intonation) and the speech frames otherwise, `inversion="auto"` becomes
    edit-friendly DDPM inversion when the edit lowers the pitch, DDIM otherwise, and an unset `inversion_depth`
    becomes 0.7 when it lowers the pitch, 0.8 otherwise (`latentdiff_edit.defaults` has the measurements).
    """
    if edit.rate != 1.0:
        return replace(settings, inversion_depth=RATE_INVERSION_DEPTH, guidance_reference="null",
                       guidance_scale=max(settings.guidance_scale, RATE_GUIDANCE_SCALE), region="all",
                       inversion=auto_inversion_method(edit.pitch_shift, edit.rate) if settings.inversion == "auto"
                       else settings.inversion)
    inversion = auto_inversion_method(edit.pitch_shift) if settings.inversion == "auto" else settings.inversion
    moves_f0_only = settings.mode == "cfg" and settings.direction is None and not edit.attributes
    region = default_edit_region(moves_f0_only) if settings.region is None else settings.region
    depth = auto_inversion_depth(edit.pitch_shift) if settings.inversion_depth is None else settings.inversion_depth
    return replace(settings, region=region, inversion=inversion, inversion_depth=depth)


def _invert(pipe, jobs: Sequence[EditJob], settings: EditSettings):
    return pipe.invert([torch.from_numpy(job.source) for job in jobs], pipe.sampling_rate,
                       num_inference_steps=settings.num_inference_steps, inversion_depth=settings.inversion_depth,
                       max_seconds=settings.max_seconds, method=settings.inversion, rate=jobs[0].edit.rate,
                       window_seconds=settings.window_seconds, timbre_condition=settings.timbre,
                       generator=torch.Generator("cpu").manual_seed(settings.seed),
                       # optimized inversions are made for the regeneration the edit runs
                       guidance_scale=settings.guidance_scale if settings.inversion in OPTIMIZED_INVERSIONS else 1.0,
                       guidance_reference=settings.guidance_reference if settings.inversion in OPTIMIZED_INVERSIONS
                       else "null")


def _mask(job: EditJob) -> tuple[float, float] | None:
    if (job.start, job.end) == (0, len(job.source)):
        return None
    return (job.start / job.sampling_rate, job.end / job.sampling_rate)


def _edit_with_direction(pipe, job: EditJob, settings: EditSettings) -> EditResult:
    if not job.edit.attributes:
        raise ValueError("direction mode needs at least one target attribute (--set NAME=VALUE)")
    settings = job_settings(settings, job.edit)
    inversion = _invert(pipe, [job], settings)
    measured = inversion.source_attributes[0].values
    start, end = direction_endpoints(pipe.schema, measured, job.edit.attributes)
    direction = pipe.construct_direction([start], [end], space="condition")
    output = pipe(
        inversion=inversion,
        pitch_shift=job.edit.pitch_shift,
        intonation_scale=job.edit.intonation_scale,
        edit_mask=[_mask(job)],
        edit_region=settings.region,
        direction=direction,
        strength=settings.strength,
        guidance_scale=settings.guidance_scale,
        guidance_reference=settings.guidance_reference,
        generator=torch.Generator("cpu").manual_seed(settings.seed),
        output_type="np",
        harmonic_guidance=settings.harmonic_guidance,
    )
    return _result(job, output.audios[0, : output.num_samples[0]], measured)


def _edit_fitted(pipe, job: EditJob, settings: EditSettings) -> EditResult:
    """One clip's named-direction edit with its raw strength fitted to the clip (`EditSettings.fit_strength`)."""
    from ..directions import fit_strength, resolve_direction

    settings = job_settings(settings, job.edit)
    direction = resolve_direction(pipe.load_directions(reload=False), settings.direction)
    inversion = _invert(pipe, [job], settings)
    retimed = job.edit.rate != 1.0
    fitted = fit_strength(
        pipe, inversion, direction, settings.strength,
        reference=job.source if retimed else job.edited_span,
        max_iterations=settings.fit_strength, tolerance=settings.fit_tolerance, seed=settings.seed,
        span=None if retimed else (job.start, job.end),
        edit_kwargs=dict(pitch_shift=job.edit.pitch_shift, intonation_scale=job.edit.intonation_scale,
                         attributes=[job.edit.attributes], edit_mask=[_mask(job)], edit_region=settings.region,
                         guidance_scale=settings.guidance_scale, guidance_reference=settings.guidance_reference,
                         harmonic_guidance=settings.harmonic_guidance),
    )
    result = _result(job, fitted.audio, inversion.source_attributes[0].values)
    result.fit = fitted.as_dict()
    return result


def _result(job: EditJob, audio: np.ndarray, source_values: dict) -> EditResult:
    audio = np.asarray(audio, dtype=np.float32)
    edited_span = audio if job.edit.rate != 1.0 else audio[job.start : job.end]
    return EditResult(audio, edited_span, dict(source_values))


def edit_report_for(pipe, job: EditJob, result: EditResult, settings: EditSettings) -> dict | None:
    """
    The disentanglement report of one edit (`latentdiff_edit.evaluation.report.edit_report`): requested and measured
    change of pitch, F0 spread, loudness, rate, duration and speaker similarity, asked or not. A named direction's
    calibrated request is added to the attribute it moves. None when the evaluation package is not importable.
    """
    try:
        from ..evaluation.report import edit_report
    except Exception:  # the evaluation package is optional: a failing import only costs the report
        return None
    pitch, scale, energy = job.edit.pitch_shift, job.edit.intonation_scale, 0.0
    if settings.direction is not None:
        named = pipe.load_directions(reload=False).get(settings.direction)
        if named is not None and named.attribute is not None and named.unit is not None:
            asked = settings.strength * named.unit  # in the attribute's terms: log ratio, semitones or dB
            if named.attribute == "f0_spread":
                scale *= math.exp(asked)
            elif named.attribute == "pitch":
                pitch += asked
            elif named.attribute == "loudness":
                energy += asked
    source = job.source if job.edit.rate != 1.0 else job.edited_span
    report = edit_report(source, result.edited_span, job.sampling_rate, pitch_shift=pitch, intonation_scale=scale,
                         energy_shift=energy, rate=job.edit.rate, attributes=job.edit.attributes)
    if settings.direction is not None:
        report["direction"] = {"name": settings.direction, "strength": settings.strength}
        if result.fit is not None:
            report["direction"]["fit"] = {k: v for k, v in result.fit.items() if k != "trace"}
    return report


def _with_report(pipe, job: EditJob, result: EditResult, settings: EditSettings) -> EditResult:
    result.report = edit_report_for(pipe, job, result, settings)
    return result


def measure_result(job: EditJob, result: EditResult, sampling_rate: int) -> dict:
    """
    What the source was and what the edit did: the source's median F0 (Hz), F0 spread (semitones) and rate, the
    measured pitch shift and intonation scale, the octave jumps the edit added to the F0 contour (not for a rate
    edit), and the edited clip's value of every measurable attribute that was set. NaN (nothing voiced) becomes None.
    """
    values = result.source_values
    figures = {"source_f0_hz": values.get("pitch"), "source_f0_spread_st": values.get("intonation"),
               "source_rate": values.get("rate")}
    figures["pitch_shift_st"] = pitch_shift_semitones(job.edited_span, result.edited_span, sampling_rate)
    if job.edit.rate == 1.0:  # F0 jumps of about an octave that the edit added (the model drew part of it an octave off)
        figures["extra_octave_jumps"] = extra_octave_jumps(job.edited_span, result.edited_span, sampling_rate)
    if job.edit.rate != 1.0:  # achieved speaking-rate factor: the inverse slope of the DTW path
        figures["rate_factor"] = 1.0 / alignment_drift(job.edited_span, result.edited_span, sampling_rate)
    if job.edit.intonation_scale != 1.0 and values.get("intonation"):
        figures["intonation_scale"] = f0_spread_semitones(result.edited_span, sampling_rate) / values["intonation"]
    measurable = [name for name in job.edit.attributes if name in MEASURABLE]
    if measurable:
        edited = measure_attributes(result.edited_span.astype(np.float64), sampling_rate)
        figures.update({f"edited_{name}": edited[MEASURABLE[name]] for name in measurable})
    return {k: (None if v is None or not math.isfinite(v) else round(float(v), 4)) for k, v in figures.items()}


def provenance_record(model: str, job: EditJob, settings: EditSettings, operation: str = "edit",
                      measured: dict | None = None, octave: dict | None = None) -> dict:
    """The provenance an output carries: toolkit version, model, source file, edits, seed, steps, depth; with
    `octave` (`EditResult.octave`), the regenerations an octave repair took voiced segments from."""
    settings = job_settings(settings, job.edit)  # what the edit actually ran with
    record = {"tool": SOFTWARE_NAME, "version": __version__, "operation": operation, "model": str(model),
              "source": job.path.name}
    if operation == "edit":
        record.update(pitch=job.edit.pitch_shift, intonation=job.edit.intonation_scale,
                      attributes=job.edit.attributes, mode=settings.mode, guidance=settings.guidance_scale,
                      guidance_reference=settings.guidance_reference)
        if job.edit.rate != 1.0:
            record["rate"] = job.edit.rate
        if settings.mode == "direction" or settings.direction is not None:
            record["strength"] = settings.strength
        if settings.direction is not None:
            record["direction"] = settings.direction
        if settings.fit_strength:
            record["fit_strength"] = settings.fit_strength
        if settings.harmonic_guidance > 0:
            record["harmonic_guidance"] = settings.harmonic_guidance
    record.update(seed=settings.seed, steps=settings.num_inference_steps, depth=settings.inversion_depth,
                  inversion=settings.inversion)
    if not settings.timbre:
        record["timbre"] = False
    if settings.region != "all":
        record["region"] = settings.region
    if settings.segment is not None:
        record["segment"] = [round(job.start / job.sampling_rate, 3), round(job.end / job.sampling_rate, 3)]
    if octave and octave.get("kept"):
        record["octave_repair"] = {"segments_redrawn": octave["segments_redrawn"], "segments": octave["segments"],
                                   "from": list(octave["candidates"])}
    if measured:
        record["measured"] = measured
    record["created"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return record


def provenance_tags(record: dict) -> dict[str, str]:
    """libsndfile tags for a provenance record: compact JSON in `comment`, the toolkit in `software`."""
    record = dict(record)
    comment = json.dumps(record, separators=(",", ":"))
    # WAV drops every tag past ~2 kB: shed the least important fields rather than lose the record.
    for optional in ("measured", "source"):
        if len(comment) > MAX_TAG_CHARS:
            record.pop(optional, None)
            comment = json.dumps(record, separators=(",", ":"))
    if len(comment) > MAX_TAG_CHARS:
        record["model"] = "..." + record["model"][-200:]
        comment = json.dumps(record, separators=(",", ":"))
    return {"software": f"{SOFTWARE_NAME} {__version__}", "comment": comment, "date": record.get("created", "")}


def write_output(path: str | os.PathLike, audio: np.ndarray, sampling_rate: int, record: dict,
                 overwrite: bool = False, credentials: SigningKey | bool = True,
                 parent: str | os.PathLike | None = None) -> Path:
    """
    Write an output atomically with its provenance: the record as plain-text tags (see
    `latentdiff_edit.audio.save_audio`) and, unless `credentials` is False, a signed C2PA manifest (see
    `latentdiff_edit.apps.credentials`).

    Args:
        credentials (`SigningKey` or `bool`, *optional*, defaults to `True`): the key to sign with; True signs with
            `resolve_signing_key()` (the user's key from the environment or config file, else the local self-signed
            one); False writes no manifest.
        parent (`str` or `os.PathLike`, *optional*): the input file: the manifest's parent ingredient.

    Raises:
        FileExistsError: `path` exists and `overwrite` is False.
        ValueError: `path` is `parent`, its format cannot carry a manifest (WAV, FLAC and MP3 can), or signing failed.
    """
    tags = provenance_tags(record)
    if credentials is False:
        return save_audio(path, audio, sampling_rate, tags=tags, overwrite=overwrite)
    path = Path(path)
    format = credentials_mime_type(path)
    if parent is not None and path.resolve() == Path(parent).resolve():
        raise ValueError(f"refusing to overwrite the input file {parent}; choose another output")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    signing_key = resolve_signing_key() if credentials is True else credentials
    # samples and tags go to a temporary file; its signed copy then replaces `path` in one `os.replace`
    unsigned = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.unsigned{path.suffix}")
    try:
        save_audio(unsigned, audio, sampling_rate, tags=tags)
        with atomic_output(path) as temporary:
            sign_file(unsigned, temporary, record, signing_key, parent=parent, format=format)
    finally:
        unsigned.unlink(missing_ok=True)
    return path


def read_provenance(path: str | os.PathLike) -> dict | None:
    """The provenance record of a file written by this toolkit, or None when it carries none."""
    tags = read_audio_tags(path)
    if not tags.get("software", "").startswith(SOFTWARE_NAME):
        return None
    try:
        return json.loads(tags.get("comment", ""))
    except json.JSONDecodeError:
        return None


def describe_edit(edit: ClipEdit, settings: EditSettings) -> str:
    """One line for people: what is being done (with the settings it runs with, `job_settings`)."""
    settings = job_settings(settings, edit)
    parts = [f"pitch {edit.pitch_shift:+g} st", f"intonation x{edit.intonation_scale:g}"]
    parts += [f"rate x{edit.rate:g}"] if edit.rate != 1.0 else []
    parts += [f"{name}={value}" for name, value in edit.attributes.items()]
    if settings.direction is not None:
        parts.append(f"direction {settings.direction} at strength {settings.strength:g}" + (
            f" (fitted to the clip, up to {settings.fit_strength} more tries)" if settings.fit_strength else ""))
    how = (f"direction, strength {settings.strength:g}" if settings.mode == "direction" else "cfg") + (
        f", guidance {settings.guidance_scale:g} against {settings.guidance_reference}") + (
        f", harmonic guidance {settings.harmonic_guidance:g}" if settings.harmonic_guidance > 0 else "")
    region = {"all": "", "speech": "; pauses kept", "voiced": "; voiced frames only"}[settings.region]
    return (f"{', '.join(parts)} ({how}; {settings.inversion.upper()} inversion, {settings.num_inference_steps} steps, "
            f"depth {settings.inversion_depth:g}, seed {settings.seed}{region})")
