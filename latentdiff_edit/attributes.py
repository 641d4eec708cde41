"""The attribute schema a denoiser is conditioned on, and the source-attribute transforms that express edits.

Three kinds of attributes, each droppable to a learned null embedding (classifier-free guidance):

- `frame`: aligned with the latent frames. `f0` is special: the schema turns an F0 contour in Hz (0 = unvoiced) into
  two features per frame, normalized log-F0 (interpolated through unvoiced gaps) and a voicing flag. `energy` is
  frame log-RMS in dB. `envelope` is the spectral envelope (`features.spectral_envelope`: 12 mel-cepstral
  coefficients per frame, each normalized by its own entry of the schema's mean/std lists): the content condition,
  which every edit keeps from the source so that the words stay while F0 moves. Other frame attributes are used as
  given, normalized by the schema's mean/std.
- `continuous`: one scalar per clip (e.g. `rate`, `intonation`), normalized by the schema's mean/std.
- `categorical`: one label per clip (e.g. `style`, `voice`) from a fixed list.

A schema is a list of plain dicts (JSON-serializable, stored in the denoiser's config):
`{"name": "f0", "type": "frame", "dim": 2, "mean": 0.0, "std": 12.0}`,
`{"name": "rate", "type": "continuous", "mean": 3.0, "std": 1.0, "min": 0.5, "max": 8.0}`,
`{"name": "style", "type": "categorical", "categories": ["neutral", "low-flat-slow"]}`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .features import (
    ENVELOPE_COEFFICIENTS,
    extract_f0,
    frame_energy_db,
    hz_to_semitones,
    measure_attributes,
    semitones_to_hz,
)

ATTRIBUTE_TYPES = ("frame", "continuous", "categorical")
# Clip-level continuous attributes the toolkit can measure on audio (name -> key of `measure_attributes`).
MEASURABLE = {"intonation": "f0_spread_st", "rate": "rate", "loudness": "loudness_db", "pitch": "f0_median_hz"}


def validate_schema(schema: Sequence[Mapping]) -> list[dict]:
    names = set()
    out = []
    for spec in schema:
        spec = dict(spec)
        name, kind = spec.get("name"), spec.get("type")
        if not name or kind not in ATTRIBUTE_TYPES:
            raise ValueError(f"attribute spec needs a `name` and a `type` in {ATTRIBUTE_TYPES}, got {spec}")
        if name in names:
            raise ValueError(f"attribute `{name}` is declared twice in the schema")
        names.add(name)
        if kind == "categorical" and not spec.get("categories"):
            raise ValueError(f"categorical attribute `{name}` needs a non-empty `categories` list")
        if kind == "frame":
            spec.setdefault("dim", {"f0": 2, "envelope": ENVELOPE_COEFFICIENTS}.get(name, 1))
        if kind in ("frame", "continuous"):
            spec.setdefault("mean", 0.0)
            spec.setdefault("std", 1.0)
            for stat in ("mean", "std"):  # a frame attribute may give one per feature
                if isinstance(spec[stat], (list, tuple)) and (kind != "frame" or len(spec[stat]) != spec["dim"]):
                    raise ValueError(f"attribute `{name}`: `{stat}` must be a number or one per feature "
                                     f"({spec.get('dim')}), got {spec[stat]}")
            if not np.all(np.asarray(spec["std"]) > 0):
                raise ValueError(f"attribute `{name}` has a non-positive std {spec['std']}")
        out.append(spec)
    return out


def f0_features(f0_hz: np.ndarray, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    """F0 contour (Hz, 0 = unvoiced) `(frames,)` → `(2, frames)`: normalized log-F0 (semitones re 100 Hz, linearly
    interpolated through unvoiced gaps, held at the ends) and a voicing flag in {-1, 1}."""
    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    voiced = f0_hz > 0
    semitones = hz_to_semitones(f0_hz)
    if voiced.any():
        frames = np.arange(len(f0_hz))
        semitones = np.interp(frames, frames[voiced], semitones[voiced])
    else:
        semitones = np.full(len(f0_hz), mean)
    return np.stack([(semitones - mean) / std, np.where(voiced, 1.0, -1.0)]).astype(np.float32)


def moved_f0(f0_hz: np.ndarray, pitch_shift: float = 0.0, intonation_scale: float = 1.0) -> np.ndarray:
    """An F0 contour (Hz, 0 where unvoiced) as an in-place edit asks for it: shifted by `pitch_shift` semitones, its
    excursions around the voiced frames' mean (in semitones) scaled by `intonation_scale`; float64, a new array."""
    f0 = np.asarray(f0_hz, dtype=np.float64).copy()
    voiced = f0 > 0
    if voiced.any() and (pitch_shift != 0.0 or intonation_scale != 1.0):
        semitones = hz_to_semitones(f0[voiced])
        centre = float(np.mean(semitones))
        f0[voiced] = semitones_to_hz(centre + intonation_scale * (semitones - centre) + pitch_shift)
    return f0


@dataclass
class SourceAttributes:
    """What an edit starts from: the measured attributes of one clip, in natural units.

    Attributes:
        f0_hz (`np.ndarray` of shape `(frames,)`): F0 contour at the latent frame rate, 0 where unvoiced.
        energy_db (`np.ndarray` of shape `(frames,)`): frame energy in dBFS.
        values (`dict`): clip-level attributes (measured ones, plus labels the caller supplied).
        envelope (`np.ndarray` of shape `(coefficients, frames)`, *optional*): the spectral envelope
            (`features.spectral_envelope`), measured for models with an `envelope` attribute; edits keep it.
    """

    f0_hz: np.ndarray
    energy_db: np.ndarray
    values: dict = field(default_factory=dict)
    envelope: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return len(self.f0_hz)

    def edited(
        self,
        pitch_shift: float = 0.0,
        intonation_scale: float = 1.0,
        energy_shift: float = 0.0,
        values: Mapping | None = None,
    ) -> SourceAttributes:
        """A transformed copy: F0 shifted by `pitch_shift` semitones and its excursions around the clip's mean
        (in semitones) scaled by `intonation_scale`; energy shifted by `energy_shift` dB; `values` override clip-level
        attributes. Derived clip-level values (pitch, intonation) follow the new contour; the envelope is kept."""
        f0 = moved_f0(self.f0_hz, pitch_shift, intonation_scale)
        new_values = dict(self.values)
        if "pitch" in new_values and new_values["pitch"] is not None:
            new_values["pitch"] = float(new_values["pitch"]) * 2 ** (pitch_shift / 12)
        if "intonation" in new_values and new_values["intonation"] is not None:
            new_values["intonation"] = float(new_values["intonation"]) * abs(intonation_scale)
        new_values.update(values or {})
        return SourceAttributes(f0.astype(np.float32), self.energy_db + energy_shift, new_values, self.envelope)

    def frames(self, start: int, end: int, values: dict | None = None) -> SourceAttributes:
        """The contours (and envelope) over frames `start:end`, with `values` (default: these) as clip-level values."""
        def cut(contour):
            return None if contour is None else contour[..., start:end]

        return SourceAttributes(cut(self.f0_hz), cut(self.energy_db), dict(self.values if values is None else values),
                                cut(self.envelope))


def measure_source_attributes(audio: np.ndarray, sampling_rate: int, hop_length: int, num_frames: int) -> SourceAttributes:
    """Measure F0 and energy contours at the latent frame rate, and the measurable clip-level attributes."""
    f0 = extract_f0(audio, sampling_rate, hop_length=hop_length, num_frames=num_frames)
    energy = frame_energy_db(audio, hop_length, num_frames=num_frames)
    measured = measure_attributes(audio, sampling_rate)
    values = {name: measured[key] for name, key in MEASURABLE.items()}
    return SourceAttributes(f0, energy, values)


class AttributeSchema:
    """Turns attribute values into the denoiser's condition tensors, validating names and ranges."""

    def __init__(self, schema: Sequence[Mapping]):
        self.specs = validate_schema(schema)
        self.by_name = {s["name"]: s for s in self.specs}

    def __contains__(self, name):
        return name in self.by_name

    @property
    def names(self) -> list[str]:
        return list(self.by_name)

    def check_names(self, names, argument: str = "attributes") -> None:
        unknown = [n for n in names if n not in self.by_name]
        if unknown:
            raise ValueError(f"`{argument}` has unknown attribute(s) {unknown}; this model knows {self.names}")

    def check_value(self, name: str, value) -> None:
        spec = self.by_name[name]
        if spec["type"] == "categorical":
            if value not in spec["categories"]:
                raise ValueError(f"`{name}`={value!r} is not one of {spec['categories']}")
        elif spec["type"] == "continuous":
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"`{name}` must be a finite number, got {value!r}")
            lo, hi = spec.get("min"), spec.get("max")
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                raise ValueError(f"`{name}`={value} is outside the range [{lo}, {hi}] this model was trained on")

    def describe(self, name: str) -> str:
        """The values `name` takes, in words (for `latentdiff-edit info` and model cards)."""
        spec = self.by_name[name]
        if spec["type"] == "categorical":
            return ", ".join(spec["categories"])
        if spec["type"] == "continuous":
            return (f"range [{spec.get('min', '-inf')}, {spec.get('max', 'inf')}], mean {spec['mean']:g}, "
                    f"std {spec['std']:g}")
        return f"{spec['dim']} feature(s) per latent frame, measured on the source"

    def frame_tensor(self, name: str, contour: np.ndarray) -> torch.Tensor:
        """One clip's frame attribute in natural units `(frames,)` or `(dim, frames)` → normalized features
        `(dim, frames)`."""
        spec = self.by_name[name]
        if name == "f0":
            return torch.from_numpy(f0_features(contour, spec["mean"], spec["std"]))
        contour = np.asarray(contour, dtype=np.float32).reshape(spec["dim"], -1)
        mean = np.asarray(spec["mean"], dtype=np.float32).reshape(-1, 1)
        std = np.asarray(spec["std"], dtype=np.float32).reshape(-1, 1)
        return torch.from_numpy((contour - mean) / std)

    def encode(
        self, sources: Sequence[SourceAttributes | None], num_frames: int, drop: Sequence[str] = ()
    ) -> dict[str, torch.Tensor]:
        """Condition tensors for a batch; every attribute of the schema gets a key.

        Returns frame attributes `(batch, dim, num_frames)` (features zero-padded past each clip's end; all-NaN rows
        = null), continuous `(batch,)` normalized floats (NaN = null) and categorical `(batch,)` long indices
        (-1 = null). A `None` item, an attribute in `drop`, or a missing value gives the null.
        """
        conditions: dict[str, torch.Tensor] = {}
        for spec in self.specs:
            name, kind = spec["name"], spec["type"]
            values = [None if (s is None or name in drop) else _value(s, name) for s in sources]
            if kind == "frame":
                out = torch.zeros(len(sources), spec["dim"], num_frames)
                for i, contour in enumerate(values):
                    if contour is None:
                        out[i] = float("nan")
                    else:
                        features = self.frame_tensor(name, contour)[:, :num_frames]
                        out[i, :, : features.shape[-1]] = features
                conditions[name] = out
                continue
            for v in values:
                if v is not None:
                    self.check_value(name, v)
            if kind == "continuous":
                conditions[name] = torch.tensor(
                    [float("nan") if v is None else (float(v) - spec["mean"]) / spec["std"] for v in values]
                )
            else:
                conditions[name] = torch.tensor(
                    [-1 if v is None else spec["categories"].index(v) for v in values], dtype=torch.long
                )
        return conditions


def direction_endpoints(
    schema: AttributeSchema, source_values: Mapping, target_values: Mapping
) -> tuple[dict, dict]:
    """
    The clip-level values a condition-space direction goes from and to, for `construct_direction([start], [end])`.

    It starts at the source's value of each target attribute (measured, or a label the caller gave), or at the null
    condition when that is unknown; continuous values are clipped to the range the model was trained on, which the
    schema refuses to leave (a measured value can lie outside it).

    Returns:
        `tuple[dict, dict]`: the start and end values.
    """
    start, end = {}, {}
    for name, target in target_values.items():
        spec = schema.by_name[name]
        value = _value(SourceAttributes(None, None, dict(source_values)), name)
        if spec["type"] == "continuous":
            low, high = spec.get("min", -math.inf), spec.get("max", math.inf)
            if value is not None:
                start[name] = float(np.clip(float(value), low, high))
            end[name] = float(np.clip(float(target), low, high))
        else:
            if value is not None and value in spec.get("categories", ()):
                start[name] = value
            end[name] = target
    return start, end


def _value(source: SourceAttributes, name: str):
    if name == "f0":
        return source.f0_hz
    if name == "energy":
        return source.energy_db
    if name == "envelope":
        return source.envelope
    value = source.values.get(name)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value
