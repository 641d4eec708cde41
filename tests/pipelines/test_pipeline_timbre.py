"""The timbre condition in the pipeline: computed from the source's own clean latents, passed to every branch and
every window of the clip it belongs to, recorded in the inversion, and switchable off."""

import pytest
import torch

from latentdiff_edit import LatentDenoiser1D, VoiceEditPipeline
from latentdiff_edit.testing import TINY_SCHEMA, harmonic_tone, tiny_components

SR = 8000


@pytest.fixture(scope="module")
def pipe():
    components = tiny_components()
    torch.manual_seed(0)
    denoiser = LatentDenoiser1D(latent_channels=8, hidden_size=32, num_layers=2, num_heads=2, mlp_ratio=2.0,
                                attributes=TINY_SCHEMA, frame_fourier_features=2, timbre_layers=2,
                                timbre_max_frames=300, latents_mean=[0.01] * 8, latents_std=[0.5] * 8).eval()
    torch.nn.init.normal_(denoiser.timbre_encoder.output_proj.weight, std=0.5)  # a fresh encoder starts at zero
    pipeline = VoiceEditPipeline(**{**components, "denoiser": denoiser})
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def test_timbre_condition_changes_the_edit_and_follows_the_inversion(pipe):
    clip = harmonic_tone(150.0, 0.4, SR)
    kwargs = dict(pitch_shift=2.0, guidance_scale=2.0, output_type="latent")
    inversion = pipe.invert(clip, SR, num_inference_steps=3, inversion_depth=0.8)
    assert inversion.timbre_condition
    with_timbre = pipe(inversion=inversion, **kwargs).audios
    without = pipe(inversion=inversion, timbre_condition=False, **kwargs).audios
    assert not torch.allclose(with_timbre, without, atol=1e-4)
    # an inversion made without the timbre regenerates without it unless told otherwise
    plain_inversion = pipe.invert(clip, SR, num_inference_steps=3, inversion_depth=0.8, timbre_condition=False)
    assert not plain_inversion.timbre_condition
    assert not torch.allclose(plain_inversion.latents, inversion.latents, atol=1e-5)
    torch.testing.assert_close(pipe(inversion=plain_inversion, **kwargs).audios,
                               pipe(inversion=plain_inversion, timbre_condition=False, **kwargs).audios)
    assert pipe._timbre is None  # nothing of a call stays on the pipeline


def test_each_window_gets_its_own_clips_timbre(pipe):
    # two clips of different voices, long enough for several denoiser windows: in a batch, each is edited as alone
    clips = [harmonic_tone(120.0, 0.5, SR), harmonic_tone(210.0, 0.35, SR, seed=3)]
    kwargs = dict(sampling_rate=SR, num_inference_steps=2, inversion_depth=0.8, guidance_scale=2.0,
                  window_seconds=0.12, output_type="pt")
    batch = pipe(audio=clips, pitch_shift=[1.0, -1.0], **kwargs).audios
    for i, (clip, shift) in enumerate(zip(clips, [1.0, -1.0])):
        single = pipe(audio=clip, pitch_shift=shift, **kwargs).audios[0]
        torch.testing.assert_close(batch[i, : len(clip)], single, atol=1e-4, rtol=1e-3)


def test_reference_is_a_centred_crop_of_at_most_timbre_max_frames(pipe):
    clip = harmonic_tone(150.0, 0.5, SR)  # 500 latent frames, more than the 300 the denoiser takes
    inversion = pipe.invert(clip, SR, num_inference_steps=2)
    reference, mask = pipe.timbre_reference(inversion.source_latents, inversion.padding_mask)
    assert reference.shape[-1] == 300 and bool(mask.all())
    torch.testing.assert_close(reference[0], inversion.source_latents[0, :, 100:400])
