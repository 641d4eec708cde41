"""Operations on latent (and audio) sequences along time, used by the pipeline for long clips, edit masks and
speaking-rate edits. Every function is pure: it returns new tensors and never changes its inputs.

- Windows: `window_spans` cuts a sequence into overlapping windows, `window_weights` gives each a raised-cosine
  taper over its overlaps, `unfold_windows` / `fold_windows` gather windows into a batch and put a batch of window
  outputs back as the weighted average of the windows covering each frame (MultiDiffusion: Bar-Tal et al., "Fusing
  Diffusion Paths for Controlled Image Generation", ICML 2023, eq. 3 with per-pixel weights).
- Masks: `smooth_frame_mask` turns `(start, end)` spans into a per-frame weight in [0, 1] with raised-cosine ramps
  inside the span, so that a blend of two trajectories has no step.
- Time warping: `time_warp_latents` resamples latent frames; `time_warp_f0` resamples an F0 contour keeping its shape
  (log-frequency interpolation inside voiced runs, voicing taken from the nearest source frame).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def window_spans(num_frames: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """
    The fewest windows `[start, end)` of at most `window` frames that cover `range(num_frames)` with consecutive ones
    overlapping by at least `overlap` frames: all of one length, evenly spaced from 0 to `num_frames` (so no frame is
    computed more often than the overlap needs).

    Returns one window `(0, num_frames)` when the sequence fits in one.
    """
    if window < 1 or not 0 <= overlap < window:
        raise ValueError(f"need window >= 1 and 0 <= overlap < window, got window={window}, overlap={overlap}")
    if num_frames <= window:
        return [(0, num_frames)]
    count = math.ceil((num_frames - overlap) / (window - overlap))
    length = min(window, math.ceil((num_frames + (count - 1) * overlap) / count) + 1)
    starts = [(k * (num_frames - length)) // (count - 1) for k in range(count)]
    return [(start, start + length) for start in starts]


def window_weights(spans: Sequence[tuple[int, int]], num_frames: int, ramp: int) -> list[torch.Tensor]:
    """
    Per-window weights `(end - start,)`: 1 inside, a raised-cosine ramp of `ramp` frames at every edge a window
    shares with another (never at the sequence's own ends). Ramps never reach 0, so every frame keeps a positive
    total weight; `fold_windows` divides by it.
    """
    weights = []
    for start, end in spans:
        weight = torch.ones(end - start, dtype=torch.float64)
        length = min(ramp, (end - start) // 2)
        if length > 0:
            rise = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(length, dtype=torch.float64) + 0.5) / length)
            if start > 0:
                weight[:length] = rise
            if end < num_frames:
                weight[end - start - length :] = torch.minimum(weight[end - start - length :], rise.flip(0))
        weights.append(weight)
    return weights


def unfold_windows(sequence: torch.Tensor, spans: Sequence[tuple[int, int]], width: int) -> torch.Tensor:
    """`(channels, frames)` → `(num_windows, channels, width)`, each window zero-padded past its end."""
    out = sequence.new_zeros(len(spans), sequence.shape[0], width)
    for i, (start, end) in enumerate(spans):
        out[i, :, : end - start] = sequence[:, start:end]
    return out


def fold_windows(
    windows: torch.Tensor, spans: Sequence[tuple[int, int]], weights: Sequence[torch.Tensor], num_frames: int
) -> torch.Tensor:
    """
    `(num_windows, channels, width)` → `(channels, num_frames)`: the weighted average, per frame, of the windows that
    cover it (`weights` from `window_weights`).
    """
    total = windows.new_zeros(windows.shape[1], num_frames, dtype=torch.float64)
    norm = torch.zeros(num_frames, dtype=torch.float64, device=windows.device)
    for window, (start, end), weight in zip(windows, spans, weights):
        weight = weight.to(windows.device)
        total[:, start:end] += window[:, : end - start].double() * weight
        norm[start:end] += weight
    return (total / norm.clamp_min(1e-12)).to(windows.dtype)


def overlap_add(
    chunks: Sequence[torch.Tensor], spans: Sequence[tuple[int, int]], num_frames: int, ramp: int
) -> torch.Tensor:
    """`fold_windows` for chunks of unequal lengths `(channels, end - start)`, with `window_weights` over `ramp`:
    e.g. audio decoded window by window, cross-faded into one signal."""
    weights = window_weights(spans, num_frames, ramp)
    channels = chunks[0].shape[0]
    total = chunks[0].new_zeros(channels, num_frames, dtype=torch.float64)
    norm = torch.zeros(num_frames, dtype=torch.float64, device=chunks[0].device)
    for chunk, (start, end), weight in zip(chunks, spans, weights):
        weight = weight.to(chunk.device)
        total[:, start:end] += chunk[:, : end - start].double() * weight
        norm[start:end] += weight
    return (total / norm.clamp_min(1e-12)).to(chunks[0].dtype)


def smooth_frame_mask(
    num_frames: int, spans: Sequence[tuple[float, float]], ramp: float, dtype=torch.float32
) -> torch.Tensor:
    """
    A frame mask `(num_frames,)`: 1 inside the spans `[start, end)` (in frames, fractional allowed), 0 outside, with a
    raised-cosine ramp of `ramp` frames inside each span's edges (shorter spans get shorter ramps; an edge at the
    sequence's own start or end needs none), so the mask is 0 everywhere outside the spans and changes smoothly.
    """
    centres = torch.arange(num_frames, dtype=torch.float64) + 0.5
    mask = torch.zeros(num_frames, dtype=torch.float64)
    for start, end in spans:
        if not end > start:
            raise ValueError(f"a mask span must end after it starts, got ({start}, {end})")
        length = min(float(ramp), (end - start) / 2)
        if length > 0:
            from_start = centres - start if start > 0 else torch.full_like(centres, math.inf)
            to_end = end - centres if end < num_frames else torch.full_like(centres, math.inf)
            distance = torch.minimum(from_start, to_end)  # into the span
            distance = torch.where((centres >= start) & (centres < end), distance, torch.full_like(centres, -1.0))
            inside = (distance.clamp(0, length) / length).clamp(0, 1)
            span_mask = 0.5 - 0.5 * torch.cos(math.pi * inside)
        else:
            span_mask = ((centres >= start) & (centres < end)).double()
        mask = torch.maximum(mask, span_mask)
    return mask.to(dtype)


def active_spans(active: np.ndarray, margin: float = 0.0) -> list[tuple[float, float]]:
    """
    The runs of `True` in a per-frame array as `[start, end)` spans in frames, each widened by `margin` frames on both
    sides and clipped to the sequence; runs that the widening joins become one span (for `smooth_frame_mask`, whose
    ramps would otherwise dip where two spans overlap).
    """
    active = np.asarray(active, dtype=bool).reshape(-1)
    if margin < 0 or not math.isfinite(margin):
        raise ValueError(f"`margin` must be finite and non-negative, got {margin}")
    edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
    spans = []
    for start, end in zip(edges[::2], edges[1::2]):
        start, end = max(0.0, float(start) - margin), min(float(len(active)), float(end) + margin)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def time_warp_latents(latents: torch.Tensor, num_frames: int, mode: str = "linear") -> torch.Tensor:
    """
    Resample `(batch, channels, frames)` latents along time to `num_frames` frames: `"linear"` interpolates
    neighbouring frames, `"nearest"` repeats or drops whole frames (the latent analogue of overlap-add time scaling).
    """
    if mode not in ("linear", "nearest"):
        raise ValueError(f"`mode` must be 'linear' or 'nearest', got {mode!r}")
    if mode == "linear":
        return F.interpolate(latents, size=num_frames, mode="linear", align_corners=False)
    return F.interpolate(latents, size=num_frames, mode="nearest-exact")


def _source_positions(num_source: int, num_frames: int) -> np.ndarray:
    # frame centres of the output on the source's frame axis (align_corners=False, as `F.interpolate`)
    return (np.arange(num_frames) + 0.5) * num_source / num_frames - 0.5


def time_warp_f0(f0_hz: np.ndarray, num_frames: int) -> np.ndarray:
    """
    Resample an F0 contour (Hz, 0 = unvoiced) to `num_frames` frames keeping its shape: voicing from the nearest source
    frame, F0 interpolated in log frequency between the voiced source frames.
    """
    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    positions = _source_positions(len(f0_hz), num_frames)
    nearest = np.clip(np.floor(positions + 0.5), 0, len(f0_hz) - 1).astype(np.int64)
    voiced = f0_hz > 0
    out = np.zeros(num_frames)
    if voiced.any():
        frames = np.flatnonzero(voiced)
        log_f0 = np.interp(positions, frames, np.log(f0_hz[frames]))
        out = np.where(voiced[nearest], np.exp(log_f0), 0.0)
    return out.astype(np.float32)


def time_warp_contour(values: np.ndarray, num_frames: int) -> np.ndarray:
    """Resample a continuous per-frame contour (e.g. energy in dB) to `num_frames` frames by linear interpolation."""
    values = np.asarray(values, dtype=np.float64)
    positions = _source_positions(len(values), num_frames)
    return np.interp(positions, np.arange(len(values)), values).astype(np.float32)
