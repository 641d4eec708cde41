"""`VoiceEditPipeline` against diffusers' pipeline conventions.

`VoiceEditPipelineTesterMixin` mirrors diffusers' `PipelineTesterMixin` (tests/pipelines/test_pipelines_common.py in
the diffusers repository), check by check, on tiny real components; where a check of the mixin does not apply to an
audio-editing pipeline, a test of the same name says why and skips. Checks that need an accelerator (float16, CPU
offload, group offloading, device maps, moving to an accelerator) run where one is present.
`TestVoiceEditPipeline` adds what is specific to this pipeline: inversion, directions, attribute errors.
"""

import inspect
import logging

import numpy as np
import pytest
import soundfile as sf
import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EDMEulerScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    LMSDiscreteScheduler,
    UniPCMultistepScheduler,
)

from latentdiff_edit import AudioInputError, EditDirection, VoiceEditPipeline
from latentdiff_edit.models.denoiser import LatentDenoiserOutput
from latentdiff_edit.models.vocoder import VocosVocoder
from latentdiff_edit.testing import harmonic_tone, tiny_components

SR = 8000
ACCELERATOR = "cuda" if torch.cuda.is_available() else None
needs_accelerator = pytest.mark.skipif(ACCELERATOR is None, reason="needs a CUDA device")


def tiny_vocoder() -> VocosVocoder:
    torch.manual_seed(0)
    return VocosVocoder(latent_channels=8, dim=16, intermediate_dim=32, num_layers=1, n_fft=32, hop_length=8,
                        sampling_rate=SR).eval()


def to_np(output) -> np.ndarray:
    return output.detach().float().cpu().numpy() if torch.is_tensor(output) else np.asarray(output)


class VoiceEditPipelineTesterMixin:
    """diffusers' `PipelineTesterMixin`, for a pipeline that edits audio clips (see the module docstring)."""

    pipeline_class = VoiceEditPipeline
    # diffusers' `required_optional_params`, less `num_images_per_prompt` (one output per input clip; generation
    # takes `batch_size`) and the deprecated `callback`/`callback_steps`, plus the step-end callback arguments
    required_optional_params = frozenset([
        "num_inference_steps", "generator", "latents", "output_type", "return_dict", "callback_on_step_end",
        "callback_on_step_end_tensor_inputs",
    ])
    params = frozenset(["audio", "sampling_rate", "inversion", "attributes", "pitch_shift", "guidance_scale"])
    batch_params = frozenset(["audio"])

    def get_dummy_components(self) -> dict:
        return {**tiny_components(), "vocoder": tiny_vocoder(), "inversion_encoder": None}

    def get_pipeline(self, **overrides):
        pipe = self.pipeline_class(**{**self.get_dummy_components(), **overrides})
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

    def assert_close(self, first, second, atol=1e-5):
        assert np.abs(to_np(first) - to_np(second)).max() <= atol

    # --- saving and loading

    def test_save_load_local(self, tmp_path):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        output = pipe(**inputs)[0]
        pipe.save_pretrained(tmp_path)
        loaded = self.pipeline_class.from_pretrained(tmp_path)
        loaded.set_progress_bar_config(disable=True)
        assert set(loaded.components) == set(pipe.components)
        for name, component in pipe.components.items():  # every component, the optional ones included
            assert type(loaded.components[name]) is type(component), name
        self.assert_close(loaded(**inputs)[0], output)

    def test_save_load_optional_components(self, tmp_path):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        for name in pipe._optional_components:
            setattr(pipe, name, None)
        output = pipe(**inputs)[0]  # inverts without an inverse scheduler, decodes without a vocoder
        pipe.save_pretrained(tmp_path)
        loaded = self.pipeline_class.from_pretrained(tmp_path)
        loaded.set_progress_bar_config(disable=True)
        for name in pipe._optional_components:
            assert getattr(loaded, name) is None, f"`{name}` did not stay None after loading"
        self.assert_close(loaded(**inputs)[0], output)

    def test_serialization_with_variants(self, tmp_path):
        pipe = self.get_pipeline()
        pipe.save_pretrained(tmp_path, variant="fp16")
        assert (tmp_path / "denoiser" / "diffusion_pytorch_model.fp16.safetensors").is_file()
        loaded = self.pipeline_class.from_pretrained(tmp_path, variant="fp16")
        torch.testing.assert_close(loaded.denoiser.output_proj.weight, pipe.denoiser.output_proj.weight)

    def test_dtype_dict(self, tmp_path):
        self.get_pipeline().save_pretrained(tmp_path)
        dtypes = {"denoiser": torch.bfloat16, "default": torch.float16}
        loaded = self.pipeline_class.from_pretrained(tmp_path, dtype=dtypes)
        for name, component in loaded.components.items():
            if isinstance(component, torch.nn.Module):
                assert component.dtype == dtypes.get(name, dtypes["default"]), name

    # --- the call

    def test_pipeline_call_signature(self):
        parameters = inspect.signature(self.pipeline_class.__call__).parameters
        optional = {name for name, p in parameters.items() if p.default is not inspect.Parameter.empty}
        assert self.params <= set(parameters), self.params - set(parameters)
        assert self.required_optional_params <= optional, self.required_optional_params - optional
        assert "generator" in inspect.signature(self.pipeline_class.invert).parameters

    def test_components_function(self):
        components = self.get_dummy_components()
        pipe = self.pipeline_class(**components)
        assert set(pipe.components) == set(components)

    def test_dict_tuple_outputs_equivalent(self):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        self.assert_close(pipe(**inputs).audios, pipe(**inputs, return_dict=False)[0], atol=1e-6)

    def test_inference_batch_consistent(self):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        for batch_size in (2, 3):
            batch = {**inputs, "audio": [inputs["audio"]] * batch_size}
            assert len(pipe(**batch)[0]) == batch_size

    def test_inference_batch_single_identical(self):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        single = pipe(**inputs)[0]
        batch = pipe(**{**inputs, "audio": [inputs["audio"], harmonic_tone(190.0, 0.3, SR, seed=1)]})[0]
        assert batch.shape[0] == 2
        self.assert_close(batch[0], single[0], atol=1e-4)

    def test_num_inference_steps_and_generator_determinism(self):
        pipe = self.get_pipeline()
        kwargs = dict(num_frames=24, attributes={"style": "neutral"}, output_type="pt")
        run = lambda seed, steps=2: pipe(generator=torch.Generator("cpu").manual_seed(seed),  # noqa: E731
                                         num_inference_steps=steps, **kwargs)[0]
        first = run(0)
        self.assert_close(run(0), first, atol=0)
        assert not torch.allclose(run(1), first)
        assert not torch.allclose(run(0, steps=3), first)
        assert pipe.num_timesteps == 3

    def test_num_images_per_prompt(self):
        pytest.skip("no prompts: every input clip gives one output; generation from noise takes `batch_size`")

    def test_cfg(self):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        no_cfg = pipe(**{**inputs, "guidance_scale": 1.0})[0]
        assert not pipe.do_classifier_free_guidance
        cfg = pipe(**{**inputs, "guidance_scale": 7.5})[0]
        assert pipe.do_classifier_free_guidance and pipe.guidance_scale == 7.5
        assert cfg.shape == no_cfg.shape and torch.isfinite(cfg).all()

    def test_callback_inputs(self):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        assert pipe._callback_tensor_inputs == ["latents"]

        def callback_inputs_all(pipe, i, t, callback_kwargs):
            assert set(callback_kwargs) == set(pipe._callback_tensor_inputs)
            return callback_kwargs

        pipe(**inputs, callback_on_step_end=callback_inputs_all,
             callback_on_step_end_tensor_inputs=pipe._callback_tensor_inputs)

        def callback_inputs_change_tensor(pipe, i, t, callback_kwargs):
            if i == pipe.num_timesteps - 1:
                callback_kwargs["latents"] = torch.zeros_like(callback_kwargs["latents"])
            return callback_kwargs

        output = pipe(**{**inputs, "output_type": "latent"}, callback_on_step_end=callback_inputs_change_tensor)[0]
        assert output.abs().sum() == 0
        with pytest.raises(ValueError, match="callback_on_step_end_tensor_inputs"):
            pipe(**inputs, callback_on_step_end=callback_inputs_all, callback_on_step_end_tensor_inputs=["noise"])

    def test_callback_cfg(self):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        inputs.update(guidance_scale=2.0, num_inference_steps=3, output_type="latent")
        fixed = pipe(**inputs)[0]

        def callback_increase_guidance(pipe, i, t, callback_kwargs):
            pipe._guidance_scale += 1.0
            return callback_kwargs

        increased = pipe(**inputs, callback_on_step_end=callback_increase_guidance)[0]
        assert pipe.guidance_scale == inputs["guidance_scale"] + pipe.num_timesteps
        assert not torch.allclose(increased, fixed)  # the new scale was used by the following steps

    def test_interrupt(self):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        inputs.update(num_inference_steps=4, output_type="latent")
        steps = []

        def interrupt_after_first(pipe, i, t, callback_kwargs):
            steps.append(i)
            pipe._interrupt = True
            return callback_kwargs

        pipe(**inputs, callback_on_step_end=interrupt_after_first)
        assert steps == [0]

    def test_encode_prompt_works_in_isolation(self):
        pytest.skip("no prompt encoder: conditions are measured attributes, encoded by `encode_conditions`")

    # --- devices, dtypes and memory

    def test_to_dtype(self):
        components = self.get_dummy_components()
        pipe = self.pipeline_class(**components)
        assert all(c.dtype == torch.float32 for c in components.values() if isinstance(c, torch.nn.Module))
        pipe.to(dtype=torch.float16)
        assert all(c.dtype == torch.float16 for c in components.values() if isinstance(c, torch.nn.Module))

    def test_bfloat16_inference_on_cpu(self):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        output = pipe(**inputs)[0]
        pipe.to(dtype=torch.bfloat16)
        output_bf16 = pipe(**inputs)[0]
        assert output_bf16.dtype == torch.float32 and torch.isfinite(output_bf16).all()
        cosine = torch.nn.functional.cosine_similarity(output.flatten(), output_bf16.flatten(), dim=0)
        assert cosine > 0.9

    def test_layerwise_casting_inference(self):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        pipe.to(dtype=torch.bfloat16)
        pipe.denoiser.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.bfloat16)
        assert pipe.denoiser.output_proj.weight.dtype == torch.float8_e4m3fn
        output = pipe(**{**inputs, "guidance_scale": 2.0, "attributes": {"style": "neutral", "rate": 3.0}})[0]
        assert torch.isfinite(output).all()

    def test_attention_slicing_forward_pass(self):
        pytest.skip("the denoiser attends with `F.scaled_dot_product_attention` in its own blocks, not through "
                    "diffusers' attention processors: there is nothing to slice (long clips are windowed instead)")

    def test_xformers_attention_forwardGenerator_pass(self):
        pytest.skip("no diffusers attention processors (see test_attention_slicing_forward_pass)")

    def test_cache_hooks(self):
        pytest.skip("pyramid attention broadcast, FasterCache, first-block, TaylorSeer and Mag caches hook diffusers' "
                    "attention/transformer block classes, which the denoiser does not use")

    @needs_accelerator
    def test_to_device(self):
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        pipe.to("cpu")
        assert all(c.device.type == "cpu" for c in pipe.components.values() if isinstance(c, torch.nn.Module))
        output_cpu = pipe(**inputs)[0]
        pipe.to(ACCELERATOR)
        assert all(c.device.type == ACCELERATOR for c in pipe.components.values() if isinstance(c, torch.nn.Module))
        output = pipe(**inputs)[0]
        assert not torch.isnan(output).any()
        self.assert_close(output, output_cpu, atol=1e-3)

    @needs_accelerator
    def test_float16_inference(self):
        pipe, inputs = self.get_pipeline().to(ACCELERATOR), self.get_dummy_inputs()
        output = pipe(**inputs)[0]
        pipe_fp16 = self.get_pipeline().to(ACCELERATOR, torch.float16)
        output_fp16 = pipe_fp16(**inputs)[0]
        cosine = torch.nn.functional.cosine_similarity(output.flatten().float(), output_fp16.flatten().float(), dim=0)
        assert cosine > 0.95

    @needs_accelerator
    def test_save_load_float16(self, tmp_path):
        self.get_pipeline().to(dtype=torch.float16).save_pretrained(tmp_path)
        loaded = self.pipeline_class.from_pretrained(tmp_path, dtype=torch.float16).to(ACCELERATOR)
        for name, component in loaded.components.items():
            if isinstance(component, torch.nn.Module):
                assert component.dtype == torch.float16, name
        assert torch.isfinite(loaded(**self.get_dummy_inputs())[0]).all()

    @needs_accelerator
    @pytest.mark.parametrize("offload", ["enable_model_cpu_offload", "enable_sequential_cpu_offload"])
    def test_cpu_offload_forward_pass_twice(self, offload):
        pipe, inputs = self.get_pipeline().to(ACCELERATOR), self.get_dummy_inputs()
        output = pipe(**inputs)[0]
        pipe = self.get_pipeline()
        getattr(pipe, offload)(device=ACCELERATOR)
        first, second = pipe(**inputs)[0], pipe(**inputs)[0]
        self.assert_close(first, output, atol=2e-4)
        self.assert_close(second, first, atol=2e-4)

    @needs_accelerator
    def test_group_offloading_inference(self):
        pipe, inputs = self.get_pipeline().to(ACCELERATOR), self.get_dummy_inputs()
        output = pipe(**inputs)[0]
        pipe = self.get_pipeline()
        pipe.denoiser.enable_group_offload(torch.device(ACCELERATOR), offload_type="leaf_level")
        pipe.codec.to(ACCELERATOR)
        pipe.vocoder.to(ACCELERATOR)
        self.assert_close(pipe(**inputs)[0], output, atol=1e-4)

    # --- schedulers

    @pytest.mark.parametrize("scheduler_class", [
        DDIMScheduler, DDPMScheduler, EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, LMSDiscreteScheduler,
        HeunDiscreteScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler, EDMEulerScheduler,
    ])
    def test_scheduler_swaps(self, scheduler_class):
        # diffusers' `test_karras_schedulers_shape`: any scheduler can sample; an edit of an inversion too, its
        # latents being brought into the scheduler's sample space (EDM's own sigmas do not match this model, so
        # only the shape is checked there)
        pipe, inputs = self.get_pipeline(), self.get_dummy_inputs()
        pipe.scheduler = scheduler_class.from_config(pipe.scheduler.config)
        warnings = []
        handler = logging.Handler(logging.WARNING)
        handler.emit = lambda record: warnings.append(record.getMessage())
        logger = logging.getLogger("diffusers")
        logger.addHandler(handler)
        try:
            generated = pipe(num_frames=24, num_inference_steps=3, generator=torch.Generator().manual_seed(0),
                             output_type="pt")[0]
            edited = pipe(**{**inputs, "num_inference_steps": 3})[0]
        finally:
            logger.removeHandler(handler)
        assert not [w for w in warnings if "scale_model_input" in w], warnings
        assert generated.shape == (1, 24 * pipe.hop_length) and edited.shape == self.output_shape(inputs)
        if scheduler_class is not EDMEulerScheduler:
            assert torch.isfinite(generated).all() and torch.isfinite(edited).all()


class VoiceEditPipelineTester:
    """The dummy components and inputs of the pipeline-specific tests (tiny components, no vocoder)."""

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


class TestVoiceEditPipelineConventions(VoiceEditPipelineTesterMixin):
    pass


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

    @pytest.mark.parametrize("scheduler_class", [DDIMScheduler, EulerDiscreteScheduler])
    @pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
    @pytest.mark.parametrize("depth", [1.0, 0.5])
    def test_inversion_timestep_alignment(self, depth, prediction_type, scheduler_class):
        # with an epsilon estimate of 0 the DDIM map is exactly invertible: any misaligned alpha (between the
        # timestep the denoiser is given and the one the scheduler converts its output with) is a scale error; so is
        # a scheduler whose samples are not the denoiser's inputs (Euler's are divided by sqrt(sigma^2 + 1)) when
        # the inverted latents are not brought into its space, or its inputs not scaled back
        components = tiny_components(prediction_type)
        components["scheduler"] = scheduler_class.from_config(components["scheduler"].config)
        pipe = self.pipeline_class(**components)
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
