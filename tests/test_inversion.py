"""Optimization- and encoder-based inversion (`latentdiff_edit.inversion`) through `VoiceEditPipeline.invert`."""

import pytest
import torch

from latentdiff_edit import VoiceEditPipeline
from latentdiff_edit.inversion import InversionEncoder, latent_snr
from latentdiff_edit.testing import harmonic_tone, tiny_components

SR = 8000
STEPS = 5


@pytest.fixture(scope="module")
def pipe():
    pipe = VoiceEditPipeline(**tiny_components())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def reconstruction_snr(pipe, method, guidance_scale=3.0, reference="null", options=None, **kwargs):
    audio = harmonic_tone(150.0, 0.5, SR)
    inversion = pipe.invert(audio, SR, num_inference_steps=STEPS, guidance_scale=guidance_scale, method=method,
                            guidance_reference=reference, inversion_options=options, **kwargs)
    regenerated = pipe(inversion=inversion, guidance_scale=guidance_scale, guidance_reference=reference,
                       output_type="latent").audios
    return latent_snr(inversion.source_latents, regenerated, inversion.padding_mask)[0], inversion


@pytest.mark.parametrize("per_frame", [True, False])
def test_null_opt_beats_ddim_at_the_same_guidance(pipe, per_frame):
    ddim, _ = reconstruction_snr(pipe, "ddim")
    null_opt, inversion = reconstruction_snr(pipe, "null-opt", options={"num_inner_steps": 20, "per_frame": per_frame})
    assert null_opt > ddim + 1.0, (ddim, null_opt)
    hidden, frames = pipe.denoiser.config.hidden_size, inversion.source_latents.shape[-1]
    assert inversion.reference_offsets.shape == ((STEPS, 1, hidden, frames) if per_frame else (STEPS, 1, hidden))
    assert inversion.guidance_scale == 3.0 and inversion.guidance_reference == "null"
    # the embeddings are what makes the difference: the same latents without them regenerate like DDIM's pivot
    without = pipe(inversion=inversion.__class__(**{**inversion, "reference_offsets": None}), guidance_scale=3.0,
                   guidance_reference="null", output_type="latent").audios
    assert latent_snr(inversion.source_latents, without, inversion.padding_mask)[0] < null_opt - 1.0


def test_per_frame_null_embeddings_reconstruct_better_than_one_per_step(pipe):
    options = {"num_inner_steps": 20, "learning_rate": 5e-2}  # each with its default pivot
    per_frame, _ = reconstruction_snr(pipe, "null-opt", options=options | {"per_frame": True})
    global_, _ = reconstruction_snr(pipe, "null-opt", options=options | {"per_frame": False})
    assert per_frame > global_ + 10.0, (per_frame, global_)


def test_null_opt_refuses_another_reference_at_regeneration(pipe):
    _, inversion = reconstruction_snr(pipe, "null-opt", options={"num_inner_steps": 1})
    with pytest.raises(ValueError, match="guidance_reference"):
        pipe(inversion=inversion, guidance_reference="source", output_type="latent")


@pytest.mark.parametrize("reference", ["null", "source"])
def test_latent_opt_decreases_the_reconstruction_error(pipe, reference):
    warm_start, _ = reconstruction_snr(pipe, "latent-opt", reference=reference,
                                       options={"num_fixed_point_steps": 0, "num_least_squares_steps": 0})
    optimized, _ = reconstruction_snr(pipe, "latent-opt", reference=reference)
    ddim, _ = reconstruction_snr(pipe, "ddim", guidance_scale=3.0 if reference == "null" else 1.0)
    assert warm_start == pytest.approx(ddim, abs=1e-3)  # with no iterations it is DDIM inversion
    assert optimized > warm_start + 20.0 and optimized > 40.0, (warm_start, optimized)


def test_latent_opt_whole_sampler_stage_decreases_the_error(pipe):
    stage_one, _ = reconstruction_snr(pipe, "latent-opt", options={"num_fixed_point_steps": 1,
                                                                   "num_least_squares_steps": 0})
    both, _ = reconstruction_snr(pipe, "latent-opt", options={"num_fixed_point_steps": 1,
                                                              "num_least_squares_steps": 0,
                                                              "num_optimization_steps": 5, "learning_rate": 1e-2})
    assert both > stage_one, (stage_one, both)


def test_optimized_inversions_work_in_windows(pipe):
    # 0.5 s at 1000 frames/s in 0.2 s windows: the per-clip embeddings reach every window of the clip
    ddim, _ = reconstruction_snr(pipe, "ddim", window_seconds=0.2)
    # (the tiny random model needs a larger step than the default, which suits the shipped model)
    null_opt, _ = reconstruction_snr(pipe, "null-opt", options={"num_inner_steps": 20, "learning_rate": 5e-2},
                                     window_seconds=0.2)
    latent_opt, _ = reconstruction_snr(pipe, "latent-opt", window_seconds=0.2)
    assert null_opt > ddim and latent_opt > 40.0, (ddim, null_opt, latent_opt)


def test_bad_methods_and_options_are_refused(pipe):
    audio = harmonic_tone(150.0, 0.5, SR)
    with pytest.raises(ValueError, match="method"):
        pipe.invert(audio, SR, method="newton")
    with pytest.raises(ValueError, match="num_inner_steps"):
        pipe.invert(audio, SR, method="latent-opt", inversion_options={"num_inner_steps": 3})
    with pytest.raises(ValueError, match="inversion_encoder"):
        pipe.invert(audio, SR, method="encoder")


def test_inversion_encoder_shape_save_load_and_pipeline(tmp_path, pipe):
    torch.manual_seed(0)
    channels = pipe.denoiser.config.latent_channels
    encoder = InversionEncoder(latent_channels=channels, condition_channels=3, hidden_channels=16, num_layers=2,
                               num_inference_steps=STEPS, inversion_depth=1.0, signal_scale=0.1).eval()
    latents, conditions = torch.randn(2, channels, 40), torch.randn(2, 3, 40)
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[1, 30:] = False
    out = encoder(latents, conditions, mask).sample
    assert out.shape == (2, channels, 40) and torch.all(out[1, :, 30:] == 0)
    encoder.save_pretrained(tmp_path / "encoder")
    reloaded = InversionEncoder.from_pretrained(tmp_path / "encoder")
    torch.testing.assert_close(reloaded(latents, conditions, mask).sample, out)
    with pytest.raises(ValueError, match="frame_conditions"):
        encoder(latents, conditions[:, :2], mask)

    with_encoder = VoiceEditPipeline(**{**pipe.components, "inversion_encoder": encoder})
    with_encoder.set_progress_bar_config(disable=True)
    with_encoder.save_pretrained(tmp_path / "pipe")
    loaded = VoiceEditPipeline.from_pretrained(tmp_path / "pipe")
    loaded.set_progress_bar_config(disable=True)
    audio = harmonic_tone(150.0, 0.5, SR)
    inversion = loaded.invert(audio, SR, num_inference_steps=STEPS, method="encoder")
    expected = with_encoder.invert(audio, SR, num_inference_steps=STEPS, method="encoder")
    torch.testing.assert_close(inversion.latents, expected.latents)
    assert inversion.latents.shape == inversion.source_latents.shape
    with pytest.raises(ValueError, match="depth"):
        loaded.invert(audio, SR, method="encoder", inversion_depth=0.5)
