import inspect

import numpy as np
import pytest
import soundfile as sf
import torch

from latentdiff_edit import AudioInputError, EditDirection, VoiceEditPipeline
from latentdiff_edit.models.denoiser import LatentDenoiserOutput
from latentdiff_edit.testing import harmonic_tone, tiny_components

SR = 8000


class VoiceEditPipelineTester:
    pipeline_class = VoiceEditPipeline

    def get_dummy_components(self):
        return tiny_components()

    def get_pipeline(self):
        pipe = self.pipeline_class(**self.get_dummy_components())
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def get_dummy_inputs(self, seed=0):
        return {
            "audio": harmonic_tone(150.0, 0.5, SR, seed=seed),
            "sampling_rate": SR,
            "pitch_shift": 2.0,
            "num_inference_steps": 2,
            "inversion_depth": 1.0,
            "guidance_scale": 1.0,
            "output_type": "pt",
        }

    def output_shape(self, inputs):
        return (1, len(inputs["audio"]))


class TestVoiceEditPipeline(VoiceEditPipelineTester):
    def test_output_shape_and_types(self):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        out = pipe(**inputs)
        assert tuple(out.audios.shape) == self.output_shape(inputs)
        assert out.sampling_rate == SR and out.num_samples == [len(inputs["audio"])]
        assert isinstance(pipe(**{**inputs, "output_type": "np"}).audios, np.ndarray)
        latents = pipe(**{**inputs, "output_type": "latent"}).audios
        assert latents.shape[:2] == (1, pipe.denoiser.config.latent_channels)
        assert latents.shape[-1] == -(-len(inputs["audio"]) // pipe.hop_length)

    def test_dict_equals_tuple(self):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        as_dict = pipe(**inputs).audios
        as_tuple = pipe(**inputs, return_dict=False)[0]
        torch.testing.assert_close(as_dict, as_tuple)

    def test_save_load_same_output(self, tmp_path):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        before = pipe(**inputs).audios
        pipe.save_pretrained(tmp_path)
        assert (tmp_path / "denoiser" / "diffusion_pytorch_model.safetensors").is_file()
        assert (tmp_path / "codec" / "model.safetensors").is_file()
        reloaded = VoiceEditPipeline.from_pretrained(tmp_path)
        reloaded.set_progress_bar_config(disable=True)
        torch.testing.assert_close(reloaded(**inputs).audios, before, atol=1e-5, rtol=1e-4)

    def test_batch_equals_single_with_unequal_lengths(self):
        pipe = self.get_pipeline()
        clips = [harmonic_tone(140.0, 0.5, SR), harmonic_tone(190.0, 0.3, SR, seed=1)]
        kwargs = dict(sampling_rate=SR, num_inference_steps=2, inversion_depth=1.0, guidance_scale=2.0,
                      output_type="pt")
        batch = pipe(audio=clips, pitch_shift=[1.0, -2.0], **kwargs)
        for i, (clip, shift) in enumerate(zip(clips, [1.0, -2.0])):
            single = pipe(audio=clip, pitch_shift=shift, **kwargs).audios[0]
            torch.testing.assert_close(batch.audios[i, : len(clip)], single, atol=1e-4, rtol=1e-3)
            assert torch.all(batch.audios[i, len(clip) :] == 0)

    def test_same_generator_same_output(self):
        pipe = self.get_pipeline()
        kwargs = dict(num_frames=24, attributes={"style": "neutral"}, num_inference_steps=2, output_type="pt")
        first = pipe(generator=torch.Generator().manual_seed(0), **kwargs).audios
        second = pipe(generator=torch.Generator().manual_seed(0), **kwargs).audios
        other = pipe(generator=torch.Generator().manual_seed(1), **kwargs).audios
        torch.testing.assert_close(first, second)
        assert not torch.allclose(first, other)

    def test_cfg_on_and_off(self):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        off = pipe(**inputs).audios
        on = pipe(**{**inputs, "guidance_scale": 3.0}).audios
        null_ref = pipe(**{**inputs, "guidance_scale": 3.0, "guidance_reference": "null"}).audios
        assert torch.isfinite(on).all() and torch.isfinite(null_ref).all()
        assert not torch.allclose(on, off) and not torch.allclose(on, null_ref)

    def test_per_attribute_guidance_scale_changes_output(self):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        inputs.update(guidance_scale=2.0, attributes={"style": "high-wide-fast"})
        base = pipe(**inputs).audios
        weighted = pipe(**inputs, attribute_guidance_scales={"f0": 5.0}).audios
        assert not torch.allclose(base, weighted)

    def test_callback_can_replace_latents(self):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        seen = []

        def zero_latents(pipeline, step, timestep, callback_kwargs):
            seen.append(step)
            return {"latents": torch.zeros_like(callback_kwargs["latents"])}

        out = pipe(**{**inputs, "output_type": "latent"}, callback_on_step_end=zero_latents).audios
        assert seen == [0, 1]
        assert torch.count_nonzero(out) == 0

    def test_call_has_standard_arguments(self):
        params = inspect.signature(VoiceEditPipeline.__call__).parameters
        for name in ["num_inference_steps", "guidance_scale", "generator", "latents", "output_type", "return_dict",
                     "callback_on_step_end", "callback_on_step_end_tensor_inputs"]:
            assert name in params
        assert "generator" in inspect.signature(VoiceEditPipeline.invert).parameters

    @pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
    @pytest.mark.parametrize("depth", [1.0, 0.5])
    def test_inversion_timestep_alignment(self, depth, prediction_type):
        # with an epsilon estimate of 0 the DDIM map is exactly invertible: any misaligned alpha (between the
        # timestep the denoiser is given and the one the scheduler converts its output with) is a scale error
        pipe = self.pipeline_class(**tiny_components(prediction_type))
        pipe.set_progress_bar_config(disable=True)
        alphas_cumprod = pipe.scheduler.alphas_cumprod

        def zero_epsilon(sample, timestep, **kwargs):
            if prediction_type == "epsilon":
                return LatentDenoiserOutput(sample=torch.zeros_like(sample))
            alpha = alphas_cumprod[torch.as_tensor(timestep).long()].reshape(-1, 1, 1).to(sample)
            return LatentDenoiserOutput(sample=-((1 - alpha) / alpha).sqrt() * sample)  # v when x0 = x_t / sqrt(alpha)

        pipe.denoiser.forward = zero_epsilon
        inversion = pipe.invert(harmonic_tone(), SR, num_inference_steps=10, inversion_depth=depth)
        assert not torch.allclose(inversion.latents, inversion.source_latents)  # inversion did move the latents
        regenerated = pipe(inversion=inversion, output_type="latent").audios
        torch.testing.assert_close(regenerated, inversion.source_latents, atol=1e-5, rtol=1e-5)
        assert pipe.check_reconstruction(harmonic_tone(), SR, num_inference_steps=10).snr_db[0] > 80

    @pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
    @pytest.mark.parametrize("depth", [1.0, 0.5])
    def test_ddpm_inversion_reconstructs_exactly(self, depth, prediction_type):
        # edit-friendly DDPM inversion is exact for any denoiser, here a random one; DDIM is not
        pipe = self.pipeline_class(**tiny_components(prediction_type))
        pipe.set_progress_bar_config(disable=True)
        audio = [harmonic_tone(150.0, 0.5, SR), harmonic_tone(210.0, 0.3, SR, seed=1)]
        inversion = pipe.invert(audio, SR, num_inference_steps=10, inversion_depth=depth, method="ddpm",
                                generator=torch.Generator().manual_seed(0))
        assert inversion.method == "ddpm" and inversion.noise_maps.shape == (round(10 * depth), *inversion.latents.shape)
        regenerated = pipe(inversion=inversion, output_type="latent").audios
        torch.testing.assert_close(regenerated, inversion.source_latents, atol=1e-4, rtol=1e-4)
        assert torch.all(regenerated[1, :, inversion.padding_mask[1].sum():] == 0)  # padding stays silent
        ddim = pipe.check_reconstruction(audio[0], SR, num_inference_steps=10, inversion_depth=depth).snr_db[0]
        ddpm = pipe.check_reconstruction(audio[0], SR, num_inference_steps=10, inversion_depth=depth, method="ddpm",
                                         generator=torch.Generator().manual_seed(0)).snr_db[0]
        assert ddpm > 60 > ddim
        # an edit changes the predicted means, so the output moves
        edited = pipe(inversion=inversion, pitch_shift=3.0, output_type="latent").audios
        assert not torch.allclose(edited, regenerated, atol=1e-3)

    def test_ddpm_inversion_is_seeded(self):
        pipe = self.get_pipeline()
        run = lambda seed: pipe.invert(harmonic_tone(), SR, num_inference_steps=4, method="ddpm",  # noqa: E731
                                       generator=torch.Generator().manual_seed(seed))
        first, again, other = run(0), run(0), run(1)
        torch.testing.assert_close(first.noise_maps, again.noise_maps)
        torch.testing.assert_close(first.latents, again.latents)
        assert not torch.allclose(first.latents, other.latents)
        with pytest.raises(ValueError, match="`method` must be 'ddim' or 'ddpm'"):
            pipe.invert(harmonic_tone(), SR, method="null-text")

    def test_invert_stores_nothing_on_pipeline(self):
        pipe = self.get_pipeline()
        before = set(vars(pipe))
        pipe.invert(harmonic_tone(), SR, num_inference_steps=2)
        assert set(vars(pipe)) == before

    def test_direction_strength_zero_equals_no_edit(self):
        pipe = self.get_pipeline()
        inversion = pipe.invert(harmonic_tone(), SR, num_inference_steps=2)
        plain = pipe(inversion=inversion, output_type="latent").audios
        condition = pipe.construct_direction([{"style": "neutral"}], [{"style": "high-wide-fast"}])
        assert condition.space == "condition" and condition.vector.shape == (pipe.denoiser.config.hidden_size,)
        recordings = [harmonic_tone(120.0, 0.4, SR)], [harmonic_tone(220.0, 0.4, SR)]
        noise = pipe.construct_direction(*recordings, space="noise", sampling_rate=SR, num_inference_steps=2)
        assert noise.vector.shape == (pipe.denoiser.config.latent_channels, 1)
        for direction in (condition, noise):
            zero = pipe(inversion=inversion, direction=direction, strength=0.0, output_type="latent").audios
            torch.testing.assert_close(zero, plain)
            moved = pipe(inversion=inversion, direction=direction, strength=2.0, output_type="latent").audios
            assert not torch.allclose(moved, plain)

    def test_attribute_errors(self):
        pipe = self.get_pipeline()
        inversion = pipe.invert(harmonic_tone(), SR, num_inference_steps=2)
        with pytest.raises(ValueError, match="unknown attribute.*'emotion'"):
            pipe(inversion=inversion, attributes={"emotion": "happy"})
        with pytest.raises(ValueError, match="outside the range"):
            pipe(inversion=inversion, attributes={"rate": 99.0})
        with pytest.raises(ValueError, match="not one of"):
            pipe(inversion=inversion, attributes={"style": "angry"})
        with pytest.raises(ValueError, match="attribute_guidance_scales"):
            pipe(inversion=inversion, attribute_guidance_scales={"loudness": 2.0})
        with pytest.raises(ValueError, match="pitch_shift.*batch of 1"):
            pipe(inversion=inversion, pitch_shift=[1.0, 2.0])
        with pytest.raises(ValueError, match="sampling_rate.*2 entries for 1"):
            pipe.invert([harmonic_tone()], [SR, SR])
        with pytest.raises(ValueError, match="frame attribute.*'f0'.*pitch_shift"):
            pipe(inversion=inversion, attributes={"f0": np.ones(4)})
        with pytest.raises(ValueError, match="output_type"):
            pipe(inversion=inversion, output_type="wav")
        with pytest.raises(ValueError, match="inversion_depth"):
            pipe(inversion=inversion, inversion_depth=0.3)

    @pytest.mark.parametrize(
        "audio, message",
        [
            (np.zeros(0, dtype=np.float32), "empty"),
            (np.full(4000, np.nan, dtype=np.float32), "NaN"),
            (np.zeros(4000, dtype=np.float32), "silent"),
            (np.ones(10, dtype=np.float32) * 0.1, "too short"),
            (np.ones(SR * 3, dtype=np.float32) * 0.1, "too long"),
        ],
    )
    def test_bad_audio_is_refused_with_a_clear_error(self, audio, message):
        pipe = self.get_pipeline()
        with pytest.raises(AudioInputError, match=message):
            pipe.invert(audio, SR, num_inference_steps=2, max_seconds=2.0)

    def test_stereo_is_downmixed_and_rate_resampled_and_input_untouched(self):
        pipe = self.get_pipeline()
        mono = harmonic_tone(150.0, 0.5, 16000)
        stereo = np.stack([mono, mono])  # (channels, samples)
        copy = stereo.copy()
        from_stereo = pipe.invert(stereo, 16000, num_inference_steps=2)
        from_mono = pipe.invert(mono, 16000, num_inference_steps=2)
        np.testing.assert_array_equal(stereo, copy)
        torch.testing.assert_close(from_stereo.latents, from_mono.latents)
        assert from_mono.num_samples == [len(mono) // 2]  # resampled 16 kHz -> 8 kHz

    def test_edit_wav_file_end_to_end_after_reload(self, tmp_path):
        self.get_pipeline().save_pretrained(tmp_path / "model")
        pipe = VoiceEditPipeline.from_pretrained(tmp_path / "model")
        pipe.set_progress_bar_config(disable=True)
        sf.write(tmp_path / "in.wav", harmonic_tone(160.0, 0.6, 16000), 16000)
        audio, sr = sf.read(tmp_path / "in.wav", dtype="float32")
        inversion = pipe.invert(audio, sr, num_inference_steps=3)
        cfg = pipe(inversion=inversion, pitch_shift=3.0, guidance_scale=2.0).audios[0]
        direction = pipe.construct_direction([{"style": "neutral"}], [{"style": "high-wide-fast"}])
        moved = pipe(inversion=inversion, direction=direction, strength=1.0).audios[0]
        for name, edited in (("cfg", cfg), ("direction", moved)):
            assert edited.shape == (int(0.6 * SR),) and np.isfinite(edited).all()
            sf.write(tmp_path / f"{name}.wav", edited, pipe.sampling_rate)
            assert sf.info(tmp_path / f"{name}.wav").frames == len(edited)


def test_direction_must_be_an_edit_direction():
    pipe = VoiceEditPipeline(**tiny_components())
    with pytest.raises(ValueError, match="EditDirection"):
        pipe(num_frames=8, direction=torch.zeros(32))
    assert EditDirection(torch.zeros(2), "condition").space == "condition"
