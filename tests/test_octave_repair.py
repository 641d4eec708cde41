"""The octave repair (`latentdiff_edit.octave_repair`): segment bookkeeping, and the repair itself on a stand-in
renderer whose latents are an F0 contour, so which segment is an octave off is known exactly and Praat tracks it."""

import numpy as np
import pytest
import torch

from latentdiff_edit.octave_repair import (
    OctaveRepairInfo,
    candidate_inversions,
    octave_error_frames,
    repair_octave_errors,
    segment_weights,
    voiced_segments,
)

SR, HOP = 16000, 160  # 100 frames per second


class ContourRenderer:
    """A stand-in for the pipeline's decoder (the repair's choice is what is tested): latent channel 0 is the F0 in Hz
    of each frame, channel 1 its loudness (0 = silence); `decode_latents` renders a harmonic tone that follows them."""

    sampling_rate, hop_length = SR, HOP

    def __init__(self):
        self.decoded = 0

    def decode_latents(self, latents, num_samples):
        self.decoded += 1
        out = []
        for item in latents.double().numpy():
            f0 = np.repeat(np.maximum(item[0], 1.0), HOP)
            amplitude = np.convolve(np.repeat(np.clip(item[1], 0, 1), HOP), np.ones(80) / 80, mode="same")
            phase = 2 * np.pi * np.cumsum(f0) / SR
            out.append(amplitude * sum(np.sin(k * phase) / k for k in range(1, 6)) * 0.3)
        return torch.from_numpy(np.stack(out)[:, : max(num_samples)]).float()


def contour_latents(segments_hz, frames=120):
    """Latents of a clip with voiced segments `[(start, end, f0_hz), ...]` and silence elsewhere."""
    latents = torch.zeros(1, 2, frames)
    latents[0, 0] = 100.0
    for start, end, hz in segments_hz:
        latents[0, 0, start:end], latents[0, 1, start:end] = hz, 1.0
    return latents


def target_contour(segments_hz, frames=120):
    f0 = np.zeros(frames, dtype=np.float32)
    for start, end, hz in segments_hz:
        f0[start:end] = hz
    return f0


def test_voiced_segments_bridge_short_gaps_and_weights_crossfade_inside_gaps():
    f0 = np.zeros(40)
    f0[2:10] = f0[12:15] = f0[25:35] = 120.0  # a 2-frame gap (bridged), then a 10-frame one
    assert voiced_segments(f0) == [(2, 15), (25, 35)]
    assert voiced_segments(np.zeros(5)) == []
    weights = segment_weights([(2, 15), (25, 35)], [0, 1], 40, 2, crossfade=4)
    np.testing.assert_allclose(weights.sum(axis=0), 1.0)
    assert np.all(weights[1, 25:35] == 1) and np.all(weights[1, :20] == 0)  # ramps stay in the gap's second half
    assert 0 < weights[1, 24] < 1 and 0 < weights[1, 35] < 1 and weights[1, 39] == 0
    assert np.all(np.diff(weights[1, 20:26]) >= 0)


def test_octave_error_frames_and_candidates():
    errors = octave_error_frames(np.array([100, 200, 0, 95, 50.0]), np.array([100, 100, 100, 100, 100.0]))
    assert errors.tolist() == [False, True, False, False, True]
    assert candidate_inversions("ddim", 0, 2) == [("ddpm", 0), ("ddpm", 1)]
    assert candidate_inversions("ddpm", 3, 2) == [("ddpm", 4), ("ddpm", 5)]
    assert candidate_inversions("ddpm", 0, 3) == [("ddpm", 1), ("ddpm", 2), ("ddpm", 3)]
    assert candidate_inversions("latent-opt", 0, 1) == [("ddpm", 0)]


def test_repair_redraws_each_segment_from_the_regeneration_that_follows_the_asked_contour():
    asked = [(10, 50, 150.0), (70, 110, 150.0)]
    edit = contour_latents([(10, 50, 150.0), (70, 110, 300.0)])  # the second segment drawn an octave up
    other = contour_latents([(10, 50, 75.0), (70, 110, 150.0)])  # the other way round
    calls = []

    def regenerate(k):
        calls.append(k)
        return other, "ddpm seed 1"

    renderer = ContourRenderer()
    audios, infos = repair_octave_errors(renderer, edit, [120 * HOP], [target_contour(asked)], regenerate, max_tries=2)
    info = infos[0]
    assert calls == [0]  # the first regeneration left no segment off: no second one
    assert info.kept and info.segments == 2 and info.segments_redrawn == 1 and info.tries == 1
    assert info.error_frames_before >= 30 and info.error_frames_after <= 2
    assert "1 of 2 voiced segments redrawn" in info.describe()
    from latentdiff_edit.features import extract_f0

    f0 = extract_f0(audios[0], SR, hop_length=HOP, num_frames=120)
    assert np.median(f0[15:45]) == pytest.approx(150, rel=0.03) and np.median(f0[75:105]) == pytest.approx(150, rel=0.03)


def test_repair_leaves_a_clean_edit_alone_and_keeps_the_edit_when_nothing_does_better():
    asked = [(10, 50, 150.0), (70, 110, 150.0)]

    def must_not_run(k):
        raise AssertionError("a clean edit needs no regeneration")

    clean = contour_latents(asked)
    renderer = ContourRenderer()
    audios, infos = repair_octave_errors(renderer, clean, [120 * HOP], [target_contour(asked)], must_not_run)
    assert renderer.decoded == 1 and infos[0] == OctaveRepairInfo(0, 0, 2)
    assert "every voiced frame" in infos[0].describe()
    reference = renderer.decode_latents(clean, [120 * HOP])[0].numpy()
    np.testing.assert_array_equal(audios[0], reference)

    broken = contour_latents([(10, 50, 150.0), (70, 110, 300.0)])
    worse = contour_latents([(10, 50, 300.0), (70, 110, 300.0)])
    audios, infos = repair_octave_errors(renderer, broken, [120 * HOP], [target_contour(asked)],
                                         lambda k: (worse, f"try {k}"), max_tries=2)
    assert not infos[0].kept and infos[0].tries == 2 and infos[0].candidates == ("try 0", "try 1")
    np.testing.assert_array_equal(audios[0], renderer.decode_latents(broken, [120 * HOP])[0].numpy())
    assert "did no better" in infos[0].describe()
    # max_tries=0 only checks
    _, infos = repair_octave_errors(renderer, broken, [120 * HOP], [target_contour(asked)], must_not_run, max_tries=0)
    assert infos[0].tries == 0 and infos[0].error_frames_before > 0 and "not redrawn" in infos[0].describe()


def test_repair_handles_each_clip_of_a_batch_on_its_own():
    asked = [target_contour([(10, 50, 150.0)]), target_contour([(10, 50, 120.0)])]
    edit = torch.cat([contour_latents([(10, 50, 150.0)]), contour_latents([(10, 50, 60.0)])])  # clip 1 an octave down
    other = torch.cat([contour_latents([(10, 50, 300.0)]), contour_latents([(10, 50, 120.0)])])
    audios, infos = repair_octave_errors(ContourRenderer(), edit, [120 * HOP, 100 * HOP], asked,
                                         lambda k: (other, "other"), max_tries=1)
    assert len(audios[1]) == 100 * HOP
    assert infos[0].tries == 0 and not infos[0].kept  # clip 0 was fine and keeps its own latents
    assert infos[1].kept and infos[1].segments_redrawn == 1


def test_a_short_octave_blip_counts_by_its_jumps():
    asked = [(10, 60, 150.0)]
    blip = contour_latents(asked)
    blip[0, 0, 30:34] = 75.0  # 40 ms an octave down inside a vowel (Praat tracks subharmonic drops): two jumps
    clean = contour_latents(asked)
    audios, infos = repair_octave_errors(ContourRenderer(), blip, [120 * HOP], [target_contour(asked)],
                                         lambda k: (clean, "clean"), max_tries=2)
    assert infos[0].jumps_before >= 2 and infos[0].kept and infos[0].jumps_after == 0
    assert infos[0].tries == 1 and infos[0].segments_redrawn == 1
