"""Octave repair: find the stretches of an F0 edit that the model drew an octave away from the asked contour, and
redraw them from other inversions.

A pitch or intonation edit sometimes renders a voiced stretch at twice or half the asked F0 (most often at the voicing
onsets of low voices; `docs/benchmark/v010/README.md` shows with a spectrum that it is the audio, not the tracker).
Which stretches go wrong depends on the inversion: measured on v0.9 over 17 clips x 2 edits, keeping per clip the best
of four regenerations (DDIM or DDPM inversion, other DDPM noise maps) left 10 of 40 extra octave jumps. Here the
choice is made per voiced segment instead of per clip, from what the edit can measure itself against the F0 contour
the pipeline was asked for (no reference recording is involved): each voiced segment of the asked contour is scored
by the octave jumps its F0 has that the asked contour lacks, plus its frames more than `OCTAVE_ERROR_SEMITONES` off
the asked F0 over `OFF_FRAMES_PER_JUMP`:

1. the edit's latents are decoded and their F0 tracked (Praat on 10 ms frames, as the benchmark's
   `extra_octave_jumps` tracks it); when no segment scores
   `MIN_SCORE` or more, the edit is returned as it is (the cost: one F0 track);
2. otherwise up to `max_tries` other regenerations are made (`candidate_inversions`: other DDPM noise maps, the other
   inversion method), each measured the same way, stopping early when every such segment has a clean one;
3. every such segment takes the latents of the regeneration that scores lowest there (the edit's own on a tie),
   crossfaded over the unvoiced frames around it; the stitched latents are decoded once, measured, and kept only
   when their total score is lower than the edit's.

With the command line's voiced-region edits (`edit_region="voiced"`), every regeneration equals the codec's rendering
of the source between the voiced segments, so the seams of step 3 fall where all candidates agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .defaults import DEFAULT_OCTAVE_REPAIR
from .evaluation.metrics import OCTAVE_JUMP_SEMITONES, _f0_jumps, f0_contour

# A frame is octave-off when its F0 is this far from the asked F0: half an octave, far beyond an edit's error (a
# +-3 st edit lands within 0.5 st in median) and beyond what intonation moves in 10 ms, while octave (12 st) and
# fifth-below errors (subharmonics at 1/2 or 1/3 of F0 are 12 and 19 st) pass it.
OCTAVE_ERROR_SEMITONES = 6.0
# How a segment is scored (lower is better): the octave jumps its F0 has that the asked contour lacks (successive
# frames more than `OCTAVE_JUMP_SEMITONES` apart, as `evaluation.metrics.extra_octave_jumps` counts them), plus its
# octave-off frames over `OFF_FRAMES_PER_JUMP`: a stretch drawn an octave off without a jump inside the segment (a
# whole syllable) counts too, 8 frames (80 ms) weighing as one jump. A segment is redrawn from a score
# of 1 up: single-frame tracker glitches at voicing boundaries are not worth a regeneration.
OFF_FRAMES_PER_JUMP = 8.0
MIN_SCORE = 1.0
# Unvoiced gaps of up to this many 10 ms frames do not split a voiced segment (as `extra_octave_jumps` bridges them).
MAX_GAP_FRAMES = 3
# Latent frames over which a redrawn segment's latents are crossfaded into its neighbours, inside the unvoiced gap.
CROSSFADE_FRAMES = 4


@dataclass
class OctaveRepairInfo:
    """What the repair of one clip did.

    Args:
        error_frames_before (`int`): octave-off frames of the edit alone.
        error_frames_after (`int`): octave-off frames of the returned audio.
        jumps_before (`int`): octave jumps inside the voiced segments of the edit alone that the asked contour lacks.
        jumps_after (`int`): the same for the returned audio.
        segments (`int`): voiced segments of the target contour.
        segments_redrawn (`int`): segments that took another regeneration's latents.
        tries (`int`): regenerations made besides the edit (shared by the clips of one batch).
        kept (`bool`): whether the stitched audio was kept (False when it was no better than the edit alone).
        candidates (`list[str]`): the inversions the regenerations started from, e.g. `["ddpm seed 1"]`.
    """

    error_frames_before: int
    error_frames_after: int
    segments: int
    jumps_before: int = 0
    jumps_after: int = 0
    segments_redrawn: int = 0
    tries: int = 0
    kept: bool = False
    candidates: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {**asdict(self), "candidates": list(self.candidates)}

    def describe(self) -> str:
        if self.tries == 0:
            if self.error_frames_before == 0 and self.jumps_before == 0:
                return f"octave check: every voiced frame within {OCTAVE_ERROR_SEMITONES:g} st of the asked F0"
            return (f"octave check: {self.error_frames_before} frame(s) more than {OCTAVE_ERROR_SEMITONES:g} st off "
                    f"the asked F0, {self.jumps_before} octave jump(s); not redrawn")
        if not self.kept:
            return (f"octave repair: {self.error_frames_before} frame(s) an octave off, {self.jumps_before} octave "
                    f"jump(s); {self.tries} other regeneration(s) did no better, the edit is kept")
        return (f"octave repair: {self.segments_redrawn} of {self.segments} voiced segments redrawn from "
                f"{self.tries} other regeneration(s); frames an octave off {self.error_frames_before} -> "
                f"{self.error_frames_after}, octave jumps {self.jumps_before} -> {self.jumps_after}")


def octave_error_frames(f0_hz: np.ndarray, target_f0_hz: np.ndarray,
                        threshold_semitones: float = OCTAVE_ERROR_SEMITONES) -> np.ndarray:
    """Boolean mask of frames voiced in both contours whose F0 differs by more than `threshold_semitones`."""
    f0, target = np.asarray(f0_hz, dtype=np.float64), np.asarray(target_f0_hz, dtype=np.float64)
    n = min(len(f0), len(target))
    f0, target = f0[:n], target[:n]
    both = (f0 > 0) & (target > 0)
    error = np.zeros(n, dtype=bool)
    error[both] = 12.0 * np.abs(np.log2(f0[both] / target[both])) > threshold_semitones
    return error


def voiced_segments(f0_hz: np.ndarray, max_gap_frames: int = MAX_GAP_FRAMES) -> list[tuple[int, int]]:
    """`[start, end)` frame spans of the voiced frames (F0 > 0) of a contour, bridging unvoiced gaps of at most
    `max_gap_frames`."""
    voiced = np.flatnonzero(np.asarray(f0_hz) > 0)
    if len(voiced) == 0:
        return []
    breaks = np.flatnonzero(np.diff(voiced) > max_gap_frames + 1)
    starts = np.concatenate([[voiced[0]], voiced[breaks + 1]])
    ends = np.concatenate([voiced[breaks], [voiced[-1]]]) + 1
    return [(int(s), int(e)) for s, e in zip(starts, ends)]


def segment_weights(segments: Sequence[tuple[int, int]], chosen: Sequence[int], num_frames: int,
                    num_candidates: int, crossfade: int = CROSSFADE_FRAMES) -> np.ndarray:
    """Per-candidate frame weights `(num_candidates, num_frames)` that sum to 1: candidate `chosen[k]` over segment
    `k`, the first candidate (the edit) elsewhere; a redrawn segment ramps in and out over up to `crossfade` frames of
    the gap on each side, never past the middle of a gap (so neighbouring segments' ramps do not overlap)."""
    weights = np.zeros((num_candidates, num_frames), dtype=np.float64)
    bounds = [0, *[x for s, e in segments for x in (s, e)], num_frames]
    for k, ((start, end), candidate) in enumerate(zip(segments, chosen)):
        if candidate == 0:
            continue
        gap_before = start - bounds[2 * k]  # frames back to the previous segment's end (or the clip's start)
        gap_after = bounds[2 * k + 3] - end
        ramp_in = min(crossfade, gap_before // 2 if k > 0 else gap_before)
        ramp_out = min(crossfade, gap_after // 2 if k < len(segments) - 1 else gap_after)
        weights[candidate, start:end] = 1.0
        if ramp_in > 0:
            weights[candidate, start - ramp_in : start] = np.arange(1, ramp_in + 1) / (ramp_in + 1)
        if ramp_out > 0:
            weights[candidate, end : end + ramp_out] = np.arange(ramp_out, 0, -1) / (ramp_out + 1)
    weights[0] = 1.0 - weights[1:].sum(axis=0)
    return weights


def candidate_inversions(method: str, seed: int, tries: int) -> list[tuple[str, int]]:
    """The inversions (method, seed) of up to `tries` other regenerations of an edit inverted with `method` and `seed`:
    DDPM inversion with other noise maps first (measured on v0.9: raising the pitch from DDPM inversion instead of DDIM
    left 4 extra octave jumps of 23 on 17 clips), then DDIM when the edit did not use it."""
    options = [("ddpm", seed + k) for k in range(tries + 1)] + [("ddim", seed)]
    return [option for option in options if option != (method, seed)][:tries]


ANALYSIS_FRAME_MS = 10.0  # F0 is tracked on Praat's 10 ms frames, as `evaluation.metrics.extra_octave_jumps` tracks it


def _asked_contour(target_f0: np.ndarray, num_analysis: int, latent_hop_seconds: float) -> np.ndarray:
    """The asked F0 (given per latent frame) at the centres of the 10 ms analysis frames."""
    centres = (np.arange(num_analysis) + 0.5) * ANALYSIS_FRAME_MS / 1000.0
    index = np.minimum((centres / latent_hop_seconds).astype(np.int64), len(target_f0) - 1)
    return np.asarray(target_f0, dtype=np.float64)[index]


def _territories(segments: Sequence[tuple[int, int]], num_frames: int) -> list[tuple[int, int]]:
    """Each segment's frames plus the nearer half of the unvoiced gaps beside it (the clip's edges included): the
    stretch whose F0 jumps it answers for."""
    cuts = [0, *[(e + s) // 2 for (_, e), (s, _) in zip(segments[:-1], segments[1:])], num_frames]
    return list(zip(cuts[:-1], cuts[1:]))


def repair_octave_errors(
    pipe,
    latents: torch.Tensor,
    num_samples: Sequence[int],
    target_f0: Sequence[np.ndarray],
    regenerate: Callable[[int], tuple[torch.Tensor, str]],
    max_tries: int = DEFAULT_OCTAVE_REPAIR,
    threshold_semitones: float = OCTAVE_ERROR_SEMITONES,
    min_score: float = MIN_SCORE,
) -> tuple[list[np.ndarray], list[OctaveRepairInfo]]:
    """
    Decode an edit's latents, redrawing from other regenerations the voiced segments it drew an octave off.

    Args:
        pipe (`VoiceEditPipeline`): decodes the latents (`decode_latents`) and gives the rate and hop.
        latents (`torch.Tensor` of shape `(batch, channels, frames)`): the edit's output latents (`output_type="latent"`).
        num_samples (`list[int]`): output samples per clip (the pipeline output's `num_samples`).
        target_f0 (`list[np.ndarray]`): per clip, the F0 contour in Hz (0 = unvoiced) the edit asked for, per latent
            frame (the pipeline output's `attributes[i].f0_hz`).
        regenerate (`Callable[[int], tuple[torch.Tensor, str]]`): `regenerate(k)` makes the k-th other regeneration
            of the same batch (k = 0, 1, ...) and returns its latents and a label; see `candidate_inversions`.
        max_tries (`int`, *optional*, defaults to `DEFAULT_OCTAVE_REPAIR`): most regenerations made (0: only check).
        threshold_semitones (`float`, *optional*): distance from the asked F0 that makes a frame octave-off.
        min_score (`float`, *optional*): the score (extra octave jumps + octave-off frames / `OFF_FRAMES_PER_JUMP`)
            from which a segment is redrawn.

    Returns:
        `(audios, infos)`: per clip the audio `(num_samples[i],)` and an `OctaveRepairInfo`.
    """
    sr, hop = pipe.sampling_rate, pipe.hop_length
    batch, num_latent = latents.shape[0], latents.shape[-1]
    decoded = pipe.decode_latents(latents, list(num_samples)).float().cpu().numpy()
    audios = [decoded[i, : num_samples[i]] for i in range(batch)]
    # the asked contour on the analysis frames; segments and their territories there, and in latent frames
    frames_per_second = 1000.0 / ANALYSIS_FRAME_MS
    asked = [_asked_contour(target_f0[i][:num_latent], math.ceil(num_samples[i] / sr * frames_per_second), hop / sr)
             for i in range(batch)]
    segments = [voiced_segments(a) for a in asked]
    territories = [_territories(seg, len(a)) for seg, a in zip(segments, asked)]
    to_latent = hop / sr * frames_per_second  # analysis frames per latent frame

    def latent_segments(i):
        return [(int(s / to_latent), min(num_latent, math.ceil(e / to_latent))) for s, e in segments[i]]

    def measure(audio, i):
        """Per segment of clip i: (octave-off frames, octave jumps in its territory the asked contour lacks)."""
        f0 = f0_contour(audio, sr, frame_period=ANALYSIS_FRAME_MS)[: len(asked[i])]
        f0 = np.pad(f0, (0, len(asked[i]) - len(f0)))
        error = octave_error_frames(f0, asked[i], threshold_semitones)
        off = np.array([error[s:e].sum() for s, e in segments[i]], dtype=np.int64)
        jumps = np.array([max(0, _f0_jumps(f0[s:e], OCTAVE_JUMP_SEMITONES, MAX_GAP_FRAMES)
                              - _f0_jumps(asked[i][s:e], OCTAVE_JUMP_SEMITONES, MAX_GAP_FRAMES))
                          for s, e in territories[i]], dtype=np.int64)
        return off, jumps

    def score(measured):
        off, jumps = measured
        return jumps + off / OFF_FRAMES_PER_JUMP

    measures = [[measure(audios[i], i)] for i in range(batch)]
    infos = [OctaveRepairInfo(int(m[0][0].sum()), int(m[0][0].sum()), len(segments[i]), int(m[0][1].sum()),
                              int(m[0][1].sum())) for i, m in enumerate(measures)]
    pending = [i for i in range(batch) if np.any(score(measures[i][0]) >= min_score)]
    if not pending or max_tries <= 0:
        return audios, infos

    candidates, labels = [latents], []
    for k in range(max_tries):
        candidate, label = regenerate(k)
        candidates.append(candidate.to(latents))
        labels.append(label)
        decoded = pipe.decode_latents(candidate, list(num_samples)).float().cpu().numpy()
        for i in pending:
            measures[i].append(measure(decoded[i, : num_samples[i]], i))
        # stop early once every segment that needs it has a regeneration with a clean score
        if all(np.all((np.min([score(m) for m in measures[i]], axis=0) == 0) | (score(measures[i][0]) < min_score))
               for i in pending):
            break

    stacked = torch.stack(candidates)  # (num_candidates, batch, channels, frames)
    stitched = latents.clone()
    chosen_per_clip = {}
    for i in pending:
        table = np.stack([score(m) for m in measures[i]])  # (num_candidates, segments)
        chosen = [int(np.argmin(table[:, k])) if table[0, k] >= min_score else 0 for k in range(table.shape[1])]
        chosen_per_clip[i] = chosen
        weights = segment_weights(latent_segments(i), chosen, num_latent, len(candidates))
        stitched[i] = torch.einsum("kt,kct->ct", torch.from_numpy(weights).to(latents), stacked[:, i])
    decoded = pipe.decode_latents(stitched, list(num_samples)).float().cpu().numpy()
    for i in pending:
        infos[i].tries, infos[i].candidates = len(labels), tuple(labels)
        audio = decoded[i, : num_samples[i]]
        after = measure(audio, i)
        if score(after).sum() < score(measures[i][0]).sum():
            audios[i] = audio
            infos[i].error_frames_after, infos[i].jumps_after = int(after[0].sum()), int(after[1].sum())
            infos[i].kept = True
            infos[i].segments_redrawn = sum(c != 0 for c in chosen_per_clip[i])
    return audios, infos
