# Copyright 2026 The latentdiff-edit developers. Licensed under the Apache License, Version 2.0.
"""Edit directions that are measured: supervised directions calibrated so that `strength` maps to a measured change,
unsupervised directions (principal components of inverted latents across clips; principal directions of the
denoiser's posterior around one clip, as ZEUS), saved as `directions/` in a pipeline folder and applied by name.

A [`Direction`] lives in one of three spaces:

- `"condition"`: an offset of the denoiser's global condition embedding `(hidden_size,)` (pix2pix-zero's mean
  difference, `VoiceEditPipeline.construct_direction`);
- `"noise"`: an offset of the inverted latents, `(latent_channels, 1)` (any length) or `(latent_channels, num_frames)`
  (one clip's posterior direction);
- `"contour"`: a move of the frame-attribute condition the model follows most, the F0 and energy contours:
  `(log intonation scale, pitch shift in semitones, energy shift in dB)` per unit of strength. On the shipped model the
  global-condition and noise-space mean differences do not move F0 spread measurably (strength ±4 of the
  `intonation` condition direction gave ratios 1.01-2.20 in no order), so intonation is a contour direction.

Calibration (`calibrate`) edits calibration clips at a grid of raw strengths, measures the attribute the direction is
named for, and stores the mean response; `strength` is then the measured change in units of `unit` (e.g. +1.0 = the
F0-spread change between the two sets a supervised direction was built from), and applying inverts the response
curve by interpolation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .features import hz_to_semitones, measure_attributes

DIRECTION_SPACES = ("condition", "noise", "contour")
DIRECTIONS_FOLDER = "directions"
# The largest pitch change (semitones of median F0) a fitted try of a direction not named for pitch may make
# (`fit_strength`): measured on v0.10, the calibrated intonation direction at strength +0.5 raised the reader's pitch by
# a median 4.1 st, past the calibration's saturation, while strengths up to 0.25 moved it 0.1 st.
MAX_FIT_PITCH_LEAK_ST = 1.0
# Measured attributes a direction can be calibrated on: name -> (key of `measure_attributes`, how a change is
# expressed: "log" = log ratio, "semitones" = 12 log2 ratio, "difference").
MEASURES = {
    "f0_spread": ("f0_spread_st", "log"),
    "pitch": ("f0_median_hz", "semitones"),
    "loudness": ("loudness_db", "difference"),
    "rate": ("rate", "log"),
    "duration": ("speech_duration_s", "log"),
}


@dataclass
class Direction:
    """
    A named edit direction.

    Args:
        name (`str`): how it is applied (`--direction NAME`).
        space (`str`): `"condition"`, `"noise"` or `"contour"` (see the module docs).
        vector (`torch.Tensor`): the direction per unit of raw strength: `(hidden_size,)`, `(latent_channels, 1)`,
            `(latent_channels, num_frames)`, or `(3,)` for a contour direction.
        attribute (`str`, *optional*): the measured attribute it is named and calibrated for (a key of `MEASURES`).
        unit (`float`, *optional*): the measured change (log ratio, semitones or difference, see `MEASURES`) that
            strength 1 asks for.
        calibration (`dict`, *optional*): `raw` strengths and the `measured` mean change at each (from `calibrate`),
            plus the clips and settings used.
        description (`str`, *optional*): what it is, for people.
    """

    name: str
    space: str
    vector: torch.Tensor
    attribute: str | None = None
    unit: float | None = None
    calibration: dict = field(default_factory=dict)
    description: str = ""

    def __post_init__(self):
        if self.space not in DIRECTION_SPACES:
            raise ValueError(f"direction `space` must be one of {DIRECTION_SPACES}, got {self.space!r}")
        if self.attribute is not None and self.attribute not in MEASURES:
            raise ValueError(f"direction `attribute` must be one of {sorted(MEASURES)}, got {self.attribute!r}")
        if self.space == "contour" and tuple(self.vector.shape) != (3,):
            raise ValueError(f"a contour direction has 3 components, got shape {tuple(self.vector.shape)}")

    @property
    def calibrated(self) -> bool:
        return bool(self.calibration.get("raw")) and self.unit is not None

    def raw_strength(self, strength: float) -> float:
        """The raw strength that gives the measured change `strength * unit`: the calibration curve, made monotone
        (pool-adjacent-violators: measurement noise must not reverse a direction), inverted by linear interpolation;
        past the measured range, along the secant from the origin to the curve's end (a change the model did not
        reach in calibration is asked proportionally harder). A change of a sign the calibration never measured
        (e.g. a decrease, when every raw strength raised the attribute) is refused: no raw strength is known to give
        it, and extrapolating through a wrong-signed end would push the edit the other way, as far as it goes.
        Uncalibrated directions use `strength` as it is."""
        if not math.isfinite(strength):
            raise ValueError(f"`strength` must be finite, got {strength}")
        if not self.calibrated:
            return float(strength)
        raw, measured = _monotone_curve(self.calibration["raw"], self.calibration["measured"])
        wanted = strength * self.unit
        for end in (0, -1):
            if wanted < measured[0] if end == 0 else wanted > measured[-1]:
                if measured[end] * wanted <= 0:
                    raise ValueError(
                        f"direction `{self.name}` cannot give strength {strength:g} (a measured change of "
                        f"{wanted:+.3f} of {self.attribute or 'its attribute'}): its calibration measured only {measured[0]:+.3f} to "
                        f"{measured[-1]:+.3f} over raw strengths {raw[0]:g} to {raw[-1]:g}; ask for a change of the "
                        f"other sign, or recalibrate it on clips where it works")
                return float(raw[end] * wanted / measured[end])
        # a flat run of the curve keeps its two ends: a change above its level interpolates from its right end, one
        # below from its left (never from a raw strength on the run's far side, which may have the other sign)
        flat = np.diff(measured) <= 0
        keep = ~(np.concatenate([[False], flat]) & np.concatenate([flat, [False]]))
        return float(np.interp(wanted, measured[keep], raw[keep]))

    def call_arguments(self, strength: float, pitch_shift=0.0, intonation_scale=1.0, energy_shift=0.0) -> dict:
        """What `VoiceEditPipeline.__call__` runs for this direction at the calibrated `strength`, merged with the
        call's other edits (scalars or per-clip lists): a contour direction adds to `pitch_shift` and `energy_shift`
        and multiplies `intonation_scale`; a condition or noise direction returns its `vector` and `space` with the
        raw `strength`."""
        raw = self.raw_strength(strength)
        out = {"vector": None, "space": None, "strength": 1.0, "pitch_shift": pitch_shift,
               "intonation_scale": intonation_scale, "energy_shift": energy_shift}
        if self.space != "contour":
            out.update(vector=self.vector, space=self.space, strength=raw)
            return out
        log_scale, pitch, energy = (float(x) * raw for x in self.vector)
        out["pitch_shift"] = _elementwise(pitch_shift, lambda v: v + pitch)
        out["energy_shift"] = _elementwise(energy_shift, lambda v: v + energy)
        out["intonation_scale"] = _elementwise(intonation_scale, lambda v: v * math.exp(log_scale))
        return out


def _monotone_curve(raw, measured) -> tuple[np.ndarray, np.ndarray]:
    """`measured` as a non-decreasing function of `raw` (pool-adjacent-violators, equal weights)."""
    order = np.argsort(raw)
    raw, values = np.asarray(raw, dtype=np.float64)[order], list(np.asarray(measured, dtype=np.float64)[order])
    blocks = [[v, 1] for v in values]  # (mean, size)
    i = 0
    while i < len(blocks) - 1:
        if blocks[i][0] > blocks[i + 1][0]:
            total = blocks[i][0] * blocks[i][1] + blocks[i + 1][0] * blocks[i + 1][1]
            size = blocks[i][1] + blocks[i + 1][1]
            blocks[i : i + 2] = [[total / size, size]]
            i = max(i - 1, 0)
        else:
            i += 1
    return raw, np.concatenate([[mean] * size for mean, size in blocks])


def _elementwise(value, fn):
    if isinstance(value, (list, tuple, np.ndarray, torch.Tensor)):
        return [fn(float(v)) for v in value]
    return fn(float(value))


# ----------------------------------------------------------------------------------------------------------------------
# Saving and loading: `directions/` in a pipeline folder


def save_directions(directions: Mapping[str, Direction] | Sequence[Direction], folder: str | Path) -> Path:
    """Write `folder/directions/directions.json` (metadata) and `directions.safetensors` (vectors); `folder` is a
    pipeline folder, so the directions load with the model. Returns the `directions` folder."""
    items = list(directions.values()) if isinstance(directions, Mapping) else list(directions)
    names = [d.name for d in items]
    if len(set(names)) != len(names):
        raise ValueError(f"direction names must be unique, got {names}")
    path = Path(folder) / DIRECTIONS_FOLDER
    path.mkdir(parents=True, exist_ok=True)
    save_file({d.name: d.vector.detach().float().cpu().contiguous() for d in items},
              str(path / "directions.safetensors"))
    metadata = [{k: v for k, v in asdict(d).items() if k != "vector"} for d in items]
    (path / "directions.json").write_text(json.dumps(metadata, indent=2) + "\n")
    return path


def load_directions(folder: str | Path) -> dict[str, Direction]:
    """The directions saved in `folder/directions/` (or in `folder` itself), by name; `{}` when there are none."""
    folder = Path(folder)
    path = folder / DIRECTIONS_FOLDER if (folder / DIRECTIONS_FOLDER).is_dir() else folder
    if not (path / "directions.json").is_file():
        return {}
    vectors = load_file(str(path / "directions.safetensors"))
    out = {}
    for item in json.loads((path / "directions.json").read_text()):
        if item["name"] not in vectors:
            raise ValueError(f"{path}: direction {item['name']!r} has no vector in directions.safetensors")
        out[item["name"]] = Direction(vector=vectors[item["name"]], **item)
    return out


def resolve_direction(directions: Mapping[str, Direction], name: str) -> Direction:
    if name not in directions:
        known = ", ".join(sorted(directions)) or "none (save some with `save_directions`)"
        raise ValueError(f"unknown direction {name!r}; this model has: {known}")
    return directions[name]


# ----------------------------------------------------------------------------------------------------------------------
# Measuring


def measure(audio: np.ndarray, sampling_rate: int) -> dict[str, float]:
    """The measured attributes of `MEASURES` for one clip."""
    values = measure_attributes(np.asarray(audio, dtype=np.float64), sampling_rate)
    return {name: float(values[key]) for name, (key, _) in MEASURES.items()}


def change(attribute: str, before: float, after: float) -> float:
    """The change of `attribute` from `before` to `after` in its own terms (log ratio, semitones or difference);
    NaN when a ratio is undefined."""
    kind = MEASURES[attribute][1]
    if kind == "difference":
        return float(after - before)
    if not (before > 0 and after > 0):
        return float("nan")
    return float(12 * math.log2(after / before)) if kind == "semitones" else float(math.log(after / before))


# ----------------------------------------------------------------------------------------------------------------------
# Supervised directions


def contour_direction(name: str, source_clips: Sequence[np.ndarray], target_clips: Sequence[np.ndarray],
                      sampling_rate: int, attribute: str = "f0_spread", description: str = "") -> Direction:
    """
    A contour direction from two sets of recordings: per unit, the set means' log F0-spread ratio (intonation scale),
    median-F0 difference (semitones) and loudness difference (dB) — only the component of `attribute` is kept, so the
    direction moves what it is named for. Its `unit` is the same difference of the sets, so strength +1.0 asks for
    the change between the two sets (`calibrate` then makes it so).
    """
    if not source_clips or not target_clips:
        raise ValueError("`source_clips` and `target_clips` must each hold at least one recording")
    source = [measure(c, sampling_rate) for c in source_clips]
    target = [measure(c, sampling_rate) for c in target_clips]

    def mean(rows, key):
        values = [r[key] for r in rows if math.isfinite(r[key]) and (key == "loudness" or r[key] > 0)]
        if not values:
            raise ValueError(f"no clip of a set has a measurable {key}")
        return float(np.mean(values))

    components = {
        "f0_spread": math.log(mean(target, "f0_spread") / mean(source, "f0_spread")),
        "pitch": float(hz_to_semitones(np.array([mean(target, "pitch")]), mean(source, "pitch"))[0]),
        "loudness": mean(target, "loudness") - mean(source, "loudness"),
    }
    if attribute not in components:
        raise ValueError(f"a contour direction moves f0_spread, pitch or loudness, got {attribute!r}")
    vector = torch.zeros(3)
    vector[("f0_spread", "pitch", "loudness").index(attribute)] = components[attribute]
    return Direction(name, "contour", vector, attribute=attribute, unit=components[attribute],
                     description=description or f"{attribute}: from {len(source)} to {len(target)} recordings")


def calibrate(
    pipe,
    direction: Direction,
    clips: Sequence[np.ndarray],
    sampling_rate: int,
    raw_strengths: Sequence[float] = (-1.0, -0.5, 0.5, 1.0),
    edit_kwargs: Mapping | None = None,
    invert_kwargs: Mapping | None = None,
) -> Direction:
    """
    Edit `clips` at each raw strength, measure the change of `direction.attribute` against the unedited regeneration
    (strength 0, so that the codec's and the sampler's own changes are not counted), and store the mean response
    curve in `direction.calibration`. Returns the direction (changed in place).

    Args:
        raw_strengths (`list[float]`, *optional*): the grid (0 is added).
        edit_kwargs (`dict`, *optional*): other `__call__` arguments (guidance, reference, other edits).
        invert_kwargs (`dict`, *optional*): `invert` arguments (steps, depth, method).
    """
    if direction.attribute is None:
        raise ValueError(f"direction {direction.name!r} names no measured `attribute` to calibrate on")
    if not clips:
        raise ValueError("`clips` is empty")
    grid = sorted(set(float(s) for s in raw_strengths) | {0.0})
    uncalibrated = _uncalibrated(direction)
    responses = {s: [] for s in grid}
    for clip in clips:
        inversion = pipe.invert(clip, sampling_rate, **dict(invert_kwargs or {}))
        values = {}
        for s in grid:
            audio = pipe(inversion=inversion, direction=uncalibrated, strength=s, output_type="np",
                         **dict(edit_kwargs or {})).audios[0, : inversion.num_samples[0]]
            values[s] = measure(audio, pipe.sampling_rate)[direction.attribute]
        for s in grid:
            responses[s].append(change(direction.attribute, values[0.0], values[s]))
    measured = [float(np.nanmean(responses[s])) if np.isfinite(responses[s]).any() else 0.0 for s in grid]
    direction.calibration = {"raw": grid, "measured": measured, "per_clip": [responses[s] for s in grid],
                             "num_clips": len(clips), "edit_kwargs": dict(edit_kwargs or {}),
                             "invert_kwargs": dict(invert_kwargs or {})}
    if direction.unit is None:
        direction.unit = measured[-1] / grid[-1] if grid[-1] else 1.0
    return direction


def _uncalibrated(direction: Direction) -> Direction:
    """The same direction with no calibration: `strength` is then the raw strength."""
    return Direction(**{**asdict(direction), "vector": direction.vector, "calibration": {}})


@dataclass
class FittedEdit:
    """
    A direction edit whose raw strength was fitted to one clip (`fit_strength`).

    Args:
        audio (`np.ndarray`): the edit closest to the asked change, `(num_samples,)` at the pipeline's rate.
        raw_strength (`float`): the raw strength that made it.
        asked (`float`): the asked change of the direction's attribute (`strength * unit`, in its terms).
        measured (`float`): its measured change (NaN when unmeasurable).
        trace (`list[dict]`): every try, `{"raw_strength", "measured", "pitch_change_st", "leaked"}`, in order.
        converged (`bool`): whether `measured` is within the tolerance of `asked` (by a try without a pitch leak).
    """

    audio: np.ndarray
    raw_strength: float
    asked: float
    measured: float
    trace: list
    converged: bool

    def as_dict(self) -> dict:
        return {"raw_strength": self.raw_strength, "asked": self.asked, "measured": self.measured,
                "tries": len(self.trace), "converged": self.converged, "trace": self.trace}


@torch.no_grad()
def fit_strength(
    pipe,
    inversion,
    direction: Direction,
    strength: float,
    reference: np.ndarray,
    max_iterations: int = 3,
    tolerance: float = 0.1,
    edit_kwargs: Mapping | None = None,
    seed: int | None = None,
    span: tuple[int, int] | None = None,
    max_pitch_leak: float | None = MAX_FIT_PITCH_LEAK_ST,
) -> FittedEdit:
    """
    Edit one inverted clip along a calibrated direction so that the measured change of its attribute is the asked
    one on *this* clip: the calibration's mean response is the first try, then up to `max_iterations` more tries by
    the secant method on the raw strength (starting from the point "raw 0 = no change"), stopping once the measured
    change is within `tolerance` (relative) of the asked one. The calibration alone maps strength to the mean change
    of its calibration clips; clips respond differently (a flat reader's contour moves less than a lively one's),
    and this closes that gap at the cost of one regeneration per try. A try whose response has the wrong slope
    (noise, or a clip the direction does not move) ends the search; the returned edit is always the closest try.

    Asked past what the model draws, a direction also moves what it is not named for: an intonation direction pushed
    past its calibration's saturation raises the pitch by several semitones. A try whose median F0 moves by more than
    `max_pitch_leak` semitones more than the call asks for (`pitch_shift` in `edit_kwargs`; for a direction not named
    for pitch) is a leak: the search goes back halfway toward the last try without one, and a leaking try is returned
    only when every try leaked.

    Args:
        inversion: one clip's `VoiceInversionOutput` (`pipe.invert`).
        direction (`Direction`): calibrated (`calibrate`), with an `attribute`.
        strength (`float`): calibrated strength (the change asked is `strength * direction.unit`).
        reference (`np.ndarray`): the audio the change is measured against: the source for what a listener compares
            with, or the unedited regeneration (as `calibrate` measures).
        max_iterations (`int`, *optional*, defaults to 3): tries after the first.
        tolerance (`float`, *optional*, defaults to 0.1): relative error that ends the search.
        edit_kwargs (`dict`, *optional*): the call's other `__call__` arguments (other edits, guidance, masks).
        seed (`int`, *optional*): every try gets a `torch.Generator` seeded with it, so tries differ only in strength.
        span (`tuple[int, int]`, *optional*): the samples of the output that are measured (an edited segment);
            `reference` is that span of the source.
        max_pitch_leak (`float`, *optional*, defaults to `MAX_FIT_PITCH_LEAK_ST`): the largest median-F0 change,
            in semitones beyond the asked `pitch_shift`, a try of a direction not named for pitch may make; None
            turns the guard off.
    """
    if not direction.calibrated or direction.attribute is None:
        raise ValueError(f"direction {direction.name!r} is not calibrated: fitting its strength needs a calibration "
                         f"(`calibrate`) and a measured `attribute`")
    if max_iterations < 0 or not tolerance > 0:
        raise ValueError(f"`max_iterations` must be >= 0 and `tolerance` > 0, got {max_iterations} and {tolerance}")
    if len(inversion.num_samples) != 1:
        raise ValueError(f"fit_strength edits one clip, got an inversion of {len(inversion.num_samples)}")
    attribute, asked = direction.attribute, strength * direction.unit
    source_values = measure(reference, pipe.sampling_rate)
    before = source_values[attribute]
    guard = max_pitch_leak is not None and attribute != "pitch"
    kwargs = dict(edit_kwargs or {})
    asked_shift = kwargs.get("pitch_shift") or 0.0  # a pitch edit asked in the same call is not a leak
    asked_shift = float(asked_shift[0] if isinstance(asked_shift, (list, tuple)) else asked_shift)
    raw_direction, num_samples = _uncalibrated(direction), inversion.num_samples[0]
    # the calibration's raw strengths bound the search (4x its widest): past them the model is far off its data
    limit = 4 * max(abs(r) for r in direction.calibration["raw"])
    points, trace, best = [(0.0, 0.0)], [], None
    clean_raw, leak_raw = 0.0, None  # the last try without a pitch leak (0: no edit) and the nearest one with
    raw = direction.raw_strength(strength)
    for _ in range(max_iterations + 1 if asked != 0 else 1):
        if seed is not None:
            kwargs["generator"] = torch.Generator("cpu").manual_seed(seed)
        audio = pipe(inversion=inversion, direction=raw_direction, strength=raw, output_type="np",
                     **kwargs).audios[0, :num_samples]
        measured_audio = audio if span is None else audio[span[0] : span[1]]
        values = measure(measured_audio, pipe.sampling_rate)
        got = change(attribute, before, values[attribute])
        pitch_change = change("pitch", source_values["pitch"], values["pitch"])
        leaked = bool(guard and math.isfinite(pitch_change) and abs(pitch_change - asked_shift) > max_pitch_leak)
        trace.append({"raw_strength": float(raw), "measured": float(got), "pitch_change_st": float(pitch_change),
                      "leaked": leaked})
        error = abs(got - asked) if math.isfinite(got) else math.inf
        if best is None or (leaked, error) < best[:2]:  # a try without a leak beats any with one
            best = (leaked, error, audio, raw, got)
        if leaked:  # back halfway toward the last try that kept the pitch
            leak_raw = raw if leak_raw is None or abs(raw - clean_raw) < abs(leak_raw - clean_raw) else leak_raw
            raw = (clean_raw + raw) / 2
            if abs(raw - clean_raw) < 1e-3:
                break
            continue
        clean_raw = raw
        if error <= tolerance * abs(asked) or not math.isfinite(got):
            break
        (r0, g0), (r1, g1) = points[-1], (raw, got)
        points.append((raw, got))
        slope = (g1 - g0) / (r1 - r0) if r1 != r0 else 0.0
        if not slope > 0:  # calibrated curves rise with raw strength (`raw_strength`); this one did not
            break
        raw = float(np.clip(r1 + (asked - g1) / slope, -limit, limit))
        if leak_raw is not None and (raw - r1) * (leak_raw - r1) > 0 and abs(raw - r1) >= abs(leak_raw - r1):
            raw = (r1 + leak_raw) / 2  # not into the leak again: halfway toward it
        if raw == r1:
            break
    leaked, error, audio, raw, got = best
    return FittedEdit(np.asarray(audio, dtype=np.float32), float(raw), float(asked), float(got), trace,
                      bool(not leaked and error <= tolerance * abs(asked)))


# ----------------------------------------------------------------------------------------------------------------------
# Unsupervised directions


@torch.no_grad()
def pca_directions(pipe, clips: Sequence[np.ndarray], sampling_rate: int, num_directions: int = 5,
                   prefix: str = "pc", **invert_kwargs) -> list[Direction]:
    """
    Principal components of the inverted latents across `clips` (each clip's latents averaged over its frames, so a
    component is a `(latent_channels, 1)` noise-space offset that applies to any length): the directions in which
    recordings' inversions differ most. Each is scaled to one standard deviation of the clips along it.
    """
    if len(clips) < 2:
        raise ValueError("principal components need at least two clips")
    inversion = pipe.invert(list(clips), sampling_rate, **invert_kwargs)
    mask = inversion.padding_mask[:, None].to(inversion.latents.dtype)
    means = ((inversion.latents * mask).sum(-1) / mask.sum(-1)).double().cpu()  # (B, C)
    centred = means - means.mean(0)
    _, singular, components = torch.linalg.svd(centred, full_matrices=False)  # components: (k, C)
    num = min(num_directions, len(singular))
    scale = singular[:num] / math.sqrt(max(len(clips) - 1, 1))
    explained = (singular**2 / (singular**2).sum()).tolist()
    return [Direction(f"{prefix}{i + 1}", "noise", (components[i] * scale[i]).float()[:, None],
                      description=f"principal component {i + 1} of time-averaged inverted latents over "
                                  f"{len(clips)} clips ({100 * explained[i]:.0f}% of their variance)")
            for i in range(num)]


def posterior_directions(pipe, inversion, num_directions: int = 5, num_iterations: int = 8,
                         prefix: str = "posterior", seed: int = 0) -> list[Direction]:
    """
    The principal directions of the denoiser's posterior around one clip (Manor & Michaeli, "Zero-Shot Unsupervised
    and Text-Based Audio Editing Using DDPM Inversion" (ZEUS), ICML 2024): at the first sampling timestep of the
    inversion, the top right-singular vectors of the Jacobian of the predicted clean latents with respect to the noisy
    latents (the posterior covariance's principal components, up to the noise level), by subspace iteration on
    `J^T J` (finite-difference Jacobian-vector products, autograd vector-Jacobian products). Each is a `(latent_channels, num_frames)` noise-space direction for this clip, scaled
    to the posterior standard deviation along it (`sigma_t * sqrt(eigenvalue)`, eq. 7 of the paper).
    """
    if inversion.latents.shape[0] != 1:
        raise ValueError("posterior directions are computed around one clip at a time")
    if inversion.window_frames is not None and inversion.padding_mask.shape[-1] > inversion.window_frames:
        raise ValueError("posterior directions need the clip in one denoiser window (invert with window_seconds=None)")
    device = inversion.latents.device
    timestep = pipe._timesteps(inversion.num_inference_steps, inversion.inversion_depth, device)[0]
    alpha_prod = pipe._inverse_scheduler().alphas_cumprod[int(timestep)].to(inversion.latents)
    prediction_type = pipe.scheduler.config.prediction_type
    conditions = pipe.encode_conditions(inversion.source_attributes, inversion.latents.shape[-1])
    mask = inversion.padding_mask
    point = inversion.latents.to(pipe.denoiser.dtype)
    # the posterior of this voice
    timbre = pipe._timbre_inputs(None, 1, pipe.timbre_reference(inversion.source_latents, mask,
                                                                inversion.timbre_condition))

    def clean_prediction(latents):  # x0 estimate (eq. 12 of DDIM)
        output = pipe.denoiser(latents, timestep, conditions=conditions, padding_mask=mask, **timbre).sample
        if prediction_type == "epsilon":
            return (latents - (1 - alpha_prod).sqrt() * output) / alpha_prod.sqrt()
        if prediction_type == "v_prediction":
            return alpha_prod.sqrt() * latents - (1 - alpha_prod).sqrt() * output
        return output

    def jvp(vector, epsilon=1e-3):  # central differences: forward-mode AD does not reach CPU attention kernels
        with torch.no_grad():
            scale = epsilon / vector.norm().clamp_min(1e-12)
            return (clean_prediction(point + scale * vector) - clean_prediction(point - scale * vector)) / (2 * scale)

    generator = torch.Generator("cpu").manual_seed(seed)
    basis = torch.randn((num_directions, *point.shape[1:]), generator=generator).to(point) * mask[:, None]
    with torch.enable_grad():
        anchor = point.detach().requires_grad_(True)
        prediction = clean_prediction(anchor)
    for _ in range(num_iterations):
        # J^T J V: a Jacobian-vector product (differences) then a vector-Jacobian product (autograd) per direction
        products = []
        for vector in basis:
            (product,) = torch.autograd.grad(prediction, anchor, jvp(vector[None]), retain_graph=True)
            products.append(product[0] * mask[0])
        q, _ = torch.linalg.qr(torch.stack(products).flatten(1).T)  # (C*T, k), orthonormal columns
        basis = q.T.reshape(basis.shape)
    eigenvalues = torch.stack([jvp(v[None]).pow(2).sum() for v in basis])  # |J v|^2
    order = torch.argsort(eigenvalues, descending=True)
    sigma = (1 - alpha_prod).sqrt()
    return [Direction(f"{prefix}{rank + 1}", "noise", (basis[i] * sigma * eigenvalues[i].clamp_min(0).sqrt()).detach(),
                      description=f"posterior principal direction {rank + 1} at t={int(timestep)} "
                                  f"(|J v|^2 = {float(eigenvalues[i]):.3g})")
            for rank, i in enumerate(order.tolist())]


def direction_effects(
    pipe,
    inversion,
    directions: Sequence[Direction],
    strengths: Sequence[float] = (-1.0, 1.0),
    edit_kwargs: Mapping | None = None,
    measure_fn: Callable[[np.ndarray, np.ndarray, int], dict] | None = None,
) -> list[dict]:
    """
    Apply each direction at each strength to one inverted clip and measure what changed against the unedited
    regeneration. Returns rows `{"direction", "strength", "audio", "changes": {attribute: change}}`; `measure_fn`
    (`fn(reference, edited, sampling_rate) -> dict`) replaces the default [`measure`]-based changes.
    """
    num_samples = inversion.num_samples[0]
    reference = pipe(inversion=inversion, output_type="np", **dict(edit_kwargs or {})).audios[0, :num_samples]
    before = measure(reference, pipe.sampling_rate)
    rows = []
    for direction in directions:
        for strength in strengths:
            audio = pipe(inversion=inversion, direction=direction, strength=strength, output_type="np",
                         **dict(edit_kwargs or {})).audios[0, :num_samples]
            if measure_fn is not None:
                changes = measure_fn(reference, audio, pipe.sampling_rate)
            else:
                after = measure(audio, pipe.sampling_rate)
                changes = {name: change(name, before[name], after[name]) for name in MEASURES}
            rows.append({"direction": direction.name, "strength": float(strength), "audio": audio,
                         "changes": changes})
    return rows
