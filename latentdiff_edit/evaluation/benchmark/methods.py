"""What the benchmark compares: the edits it requests (`--edits`) and the methods that make them (`--methods`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ...attributes import MEASURABLE, direction_endpoints
from ...defaults import default_edit_region
from ...octave_repair import candidate_inversions, repair_octave_errors
from ..baselines import BASELINES

if TYPE_CHECKING:
    from ...pipelines import VoiceEditPipeline

METHODS = ("cfg", "direction", "world", "psola", "phase_vocoder", "codec")
MODEL_METHODS = ("cfg", "direction")
DEFAULT_EDITS = ("pitch:-6,-3,+3,+6", "intonation:0.5,1.5")


@dataclass(frozen=True)
class Edit:
    """
    One requested edit.

    Args:
        kind (`str`): `"pitch"` (a shift in semitones), `"intonation"` (a scale of the F0 excursions around the
            clip's mean), `"none"` (the codec round trip), or the name of a clip-level attribute of the model.
        value (`float` or `str`): the shift, the scale, or the attribute's target value.
    """

    kind: str
    value: float | str = 0.0

    @property
    def label(self) -> str:
        if self.kind == "pitch":
            return f"pitch:{self.value:+g}"
        if self.kind == "none":
            return "none"
        return f"{self.kind}:{self.value:g}" if isinstance(self.value, float) else f"{self.kind}:{self.value}"

    @property
    def pitch_shift(self) -> float:
        return float(self.value) if self.kind == "pitch" else 0.0

    @property
    def intonation_scale(self) -> float:
        return float(self.value) if self.kind == "intonation" else 1.0

    @property
    def attributes(self) -> dict:
        return {} if self.kind in ("pitch", "intonation", "none") else {self.kind: self.value}


NO_EDIT = Edit("none")


def parse_edits(specs: Sequence[str]) -> list[Edit]:
    """`["pitch:-3,+3", "style:neutral"]` → `[Edit("pitch", -3.0), Edit("pitch", 3.0), Edit("style", "neutral")]`.
    Attribute values stay strings until `resolve_edits` knows the model's schema."""
    edits = []
    for spec in specs:
        kind, _, values = spec.partition(":")
        kind = kind.strip()
        if not kind or not values.strip():
            raise ValueError(f"{spec!r} is not KIND:VALUE[,VALUE...]")
        for text in values.split(","):
            text = text.strip()
            if kind in ("pitch", "intonation"):
                try:
                    value = float(text)
                except ValueError:
                    raise ValueError(f"{kind} value {text!r} in {spec!r} is not a number") from None
                if not math.isfinite(value):
                    raise ValueError(f"{kind} value {text!r} in {spec!r} must be finite")
                if kind == "intonation" and value < 0:
                    raise ValueError(f"intonation scale {text!r} in {spec!r} must be >= 0")
                edits.append(Edit(kind, value))
            elif text:
                edits.append(Edit(kind, text))
    return list(dict.fromkeys(edits))  # drop repeats, keep the order


def resolve_edits(edits: Sequence[Edit], schema) -> list[Edit]:
    """Checks attribute edits against the model's schema (before any clip is read) and types their values."""
    resolved = []
    for edit in edits:
        if edit.kind in ("pitch", "intonation"):
            resolved.append(edit)
            continue
        if edit.kind not in schema:
            raise ValueError(f"--edits: `{edit.kind}` is not an attribute of this model; it knows {schema.names}")
        spec = schema.by_name[edit.kind]
        if spec["type"] == "frame":
            raise ValueError(f"--edits: `{edit.kind}` is a frame attribute; edit F0 with pitch: or intonation:")
        value = float(edit.value) if spec["type"] == "continuous" else edit.value
        schema.check_value(edit.kind, value)
        resolved.append(Edit(edit.kind, value))
    return resolved


def not_applicable(method: str, edit: Edit, schema) -> str | None:
    """Why `method` cannot make `edit`, or None when it can."""
    if method in ("world", "psola"):
        return None if edit.kind in ("pitch", "intonation") else f"{method} has no control for `{edit.kind}`"
    if method == "phase_vocoder":
        return None if edit.kind == "pitch" else "the phase vocoder only shifts pitch"
    if method == "codec":
        return "the codec round trip edits nothing (it is reported once per clip as edit `none`)"
    if edit.kind in ("pitch", "intonation") and "f0" not in schema:
        return "the model has no `f0` condition"
    if method == "direction":
        if edit.kind == "pitch":
            return ("a pitch shift moves the F0 contour, a frame attribute; a clip-level direction cannot express it "
                    "(use cfg)")
        if edit.kind not in schema:
            return f"the model has no clip-level `{edit.kind}` attribute to build a direction from"
    return None


def source_labels(schema, clip: dict) -> dict:
    """Labels the manifest gives for the clip's unmeasurable categorical attributes (e.g. its `style`), passed to
    `invert` so that the source condition of the edit and of the reconstruction is the clip's true one."""
    labels = {}
    for spec in schema.specs:
        value = clip.get(spec["name"])
        if spec["type"] == "categorical" and spec["name"] not in MEASURABLE and value in spec["categories"]:
            labels[spec["name"]] = value
    return labels


def direction_target(edit: Edit, source_values: dict) -> dict:
    """The target of a direction edit: the attribute's value, or for intonation the source's F0 spread scaled."""
    if edit.kind != "intonation":
        return {edit.kind: edit.value}
    start = source_values.get("intonation")
    if start is None or not math.isfinite(start):
        raise ValueError("the source's intonation is unknown (no voiced frames): nothing to scale")
    return {"intonation": float(start) * edit.intonation_scale}


def run_method(pipe: VoiceEditPipeline, method: str, edit: Edit, source: np.ndarray, inversion, args,
               invert_other=None) -> tuple:
    """The edited audio `(num_samples,)` at the pipeline's rate, and details worth recording (or an empty dict).
    With `args.octave_repair` > 0 and `invert_other(method, seed)` (another inversion of the clip), a `"cfg"` edit
    goes through the octave repair as on the command line (`octave_repair.repair_octave_errors`)."""
    if method in BASELINES:
        audio = BASELINES[method](source, pipe.sampling_rate, pitch_shift=edit.pitch_shift,
                                  intonation_scale=edit.intonation_scale)
        return np.asarray(audio, dtype=np.float32), {}
    generator = torch.Generator("cpu").manual_seed(args.seed)
    region = args.edit_region
    if region == "auto":  # as the command line (`apps.editing.job_settings`)
        region = default_edit_region(method == "cfg" and edit.kind in ("pitch", "intonation"))
    common = dict(inversion=inversion, guidance_scale=args.guidance, guidance_reference=args.guidance_reference,
                  generator=generator, output_type="np", edit_region=region)
    if method == "cfg":
        common["harmonic_guidance"] = getattr(args, "harmonic_guidance", 0.0)
        tries = getattr(args, "octave_repair", 0)
        if tries > 0 and invert_other is not None:
            common["output_type"] = "latent"
        output = pipe(pitch_shift=edit.pitch_shift, intonation_scale=edit.intonation_scale,
                      attributes=edit.attributes or None, **common)
        if common["output_type"] != "latent":
            return output.audios[0, : output.num_samples[0]], {}
        options = candidate_inversions(inversion.method, args.seed, tries)

        def other(k):
            method_k, seed = options[k]
            regenerated = pipe(pitch_shift=edit.pitch_shift, intonation_scale=edit.intonation_scale,
                               attributes=edit.attributes or None, **{**common, "inversion": invert_other(method_k, seed)})
            return regenerated.audios, f"{method_k} seed {seed}"

        audios, infos = repair_octave_errors(pipe, output.audios, output.num_samples,
                                             [output.attributes[0].f0_hz], other, max_tries=len(options))
        return audios[0], {"octave_repair": infos[0].as_dict()}
    if method == "direction":
        source_values = inversion.source_attributes[0].values
        start, target = direction_endpoints(pipe.schema, source_values, direction_target(edit, source_values))
        direction = pipe.construct_direction([start], [target], space="condition")
        output = pipe(direction=direction, strength=1.0, **common)
        return output.audios[0, : output.num_samples[0]], {"direction_from": start, "direction_to": target}
    raise ValueError(f"unknown method {method!r}")
