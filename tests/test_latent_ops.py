"""Windows, masks and time warping of latent sequences (`latentdiff_edit.latent_ops`)."""

import numpy as np
import pytest
import torch

from latentdiff_edit import latent_ops


@pytest.mark.parametrize("num_frames, window, overlap", [(10, 4, 1), (100, 30, 8), (31, 30, 8), (30, 30, 8), (7, 30, 8)])
def test_window_spans_cover_the_sequence_with_the_overlap(num_frames, window, overlap):
    spans = latent_ops.window_spans(num_frames, window, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == num_frames
    assert all(end - start <= window for start, end in spans)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert end - start >= overlap  # neighbours share at least `overlap` frames
    if num_frames <= window:
        assert spans == [(0, num_frames)]


def test_window_spans_refuse_bad_sizes():
    with pytest.raises(ValueError, match="overlap < window"):
        latent_ops.window_spans(10, 4, 4)


def test_fold_of_unfold_is_the_identity_and_weights_cross_fade():
    torch.manual_seed(0)
    sequence = torch.randn(3, 50)
    spans = latent_ops.window_spans(50, 16, 5)
    weights = latent_ops.window_weights(spans, 50, 5)
    assert all(w.min() > 0 and w.max() <= 1 for w in weights)
    assert weights[0][0] == 1 and weights[-1][-1] == 1  # no taper at the sequence's own ends
    windows = latent_ops.unfold_windows(sequence, spans, 16)
    torch.testing.assert_close(latent_ops.fold_windows(windows, spans, weights, 50), sequence)
    # two different window outputs meet with complementary ramps: the fold moves smoothly from one to the other
    ones, zeros = torch.ones(1, 16), torch.zeros(1, 16)
    two = [(0, 16), (11, 27)]
    folded = latent_ops.fold_windows(torch.stack([ones, zeros]), two, latent_ops.window_weights(two, 27, 5), 27)[0]
    assert torch.all(folded[:11] == 1) and torch.all(folded[16:] == 0)
    assert torch.all(folded[11:16].diff() < 0)


def test_overlap_add_of_chunks_of_unequal_length():
    spans = [(0, 40), (30, 70), (60, 75)]
    chunks = [torch.full((1, end - start), 0.5) for start, end in spans]
    torch.testing.assert_close(latent_ops.overlap_add(chunks, spans, 75, 10), torch.full((1, 75), 0.5))


def test_smooth_frame_mask():
    mask = latent_ops.smooth_frame_mask(100, [(20.0, 60.0)], ramp=8)
    assert torch.all(mask[:20] == 0) and torch.all(mask[60:] == 0)  # exactly the source outside the span
    assert torch.all(mask[28:52] == 1)
    assert torch.all(mask[20:28].diff() > 0) and torch.all(mask[52:60].diff() < 0)
    assert mask.diff().abs().max() < 0.25  # no step
    two = latent_ops.smooth_frame_mask(100, [(0.0, 10.0), (90.0, 100.0)], ramp=0)
    assert two.sum() == 20 and two[:10].eq(1).all() and two[90:].eq(1).all()
    with pytest.raises(ValueError, match="end after it starts"):
        latent_ops.smooth_frame_mask(10, [(5.0, 5.0)], ramp=2)


def test_time_warp_latents():
    latents = torch.arange(10.0).repeat(2, 3, 1)  # (2, 3, 10)
    faster = latent_ops.time_warp_latents(latents, 8)
    assert faster.shape == (2, 3, 8) and torch.all(faster.diff() > 0)
    slower = latent_ops.time_warp_latents(latents, 13, mode="nearest")
    assert slower.shape == (2, 3, 13) and set(slower.unique().tolist()) <= set(range(10))
    with pytest.raises(ValueError, match="mode"):
        latent_ops.time_warp_latents(latents, 8, mode="cubic")


def test_time_warp_f0_keeps_the_contour_shape_and_voicing():
    glide = 100.0 * 2 ** (np.linspace(0, 12, 80) / 12)  # one octave, linear in semitones
    f0 = np.concatenate([np.zeros(20), glide, np.zeros(20)])
    warped = latent_ops.time_warp_f0(f0, 96)  # 1.25 times faster
    voiced = warped > 0
    assert abs(voiced.mean() - 0.6667) < 0.03
    semitones = 12 * np.log2(warped[voiced] / 100)
    assert semitones.min() >= -1e-6 and semitones.max() <= 12 + 1e-6
    assert np.allclose(np.diff(semitones), np.diff(semitones).mean(), atol=0.02)  # still a straight glide
    energy = latent_ops.time_warp_contour(np.linspace(-60, -20, 120), 150)
    assert len(energy) == 150 and np.all(np.diff(energy) >= 0)


def test_active_spans_widens_merges_and_clips():
    active = np.array([0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1], dtype=bool)
    assert latent_ops.active_spans(active) == [(1.0, 3.0), (6.0, 7.0), (12.0, 14.0)]
    # widened by 1.5 frames: the first two runs touch and merge; the ends clip to the sequence
    assert latent_ops.active_spans(active, 1.5) == [(0.0, 8.5), (10.5, 14.0)]
    assert latent_ops.active_spans(np.zeros(5, dtype=bool), 2.0) == []
    assert latent_ops.active_spans(np.ones(4, dtype=bool), 2.0) == [(0.0, 4.0)]
    with pytest.raises(ValueError, match="`margin` must be finite and non-negative"):
        latent_ops.active_spans(active, -1.0)
