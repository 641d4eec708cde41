"""`VoiceEditPipeline` on what users have: long clips in windows, edits inside a span, speaking rate, and recordings
whose measured attributes fall outside the model's range (tiny components; nothing here is timed)."""

import logging

import numpy as np
import pytest
import torch
from latentdiff_edit.pipelines import pipeline_voice_edit

from latentdiff_edit import VoiceEditPipeline
from latentdiff_edit.models.denoiser import LatentDenoiserOutput
from latentdiff_edit.testing import TINY_SCHEMA, harmonic_tone, tiny_components, tiny_denoiser

SR = 8000


def get_pipeline(**overrides) -> VoiceEditPipeline:
    pipe = VoiceEditPipeline(**{**tiny_components(), **overrides})
    pipe.set_progress_bar_config(disable=True)
    return pipe


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Harmonic 'syllables' of varying pitch with short pauses, `seconds` long."""
    rng = np.random.default_rng(seed)
    pieces, total = [], 0
    while total < seconds * SR:
        piece = harmonic_tone(float(rng.uniform(110, 220)), float(rng.uniform(0.2, 0.5)), SR, seed=int(rng.integers(1e6)))
        pieces += [piece, np.zeros(int(rng.uniform(0.02, 0.1) * SR), dtype=np.float32)]
        total += len(pieces[-2]) + len(pieces[-1])
    return np.concatenate(pieces)[: int(seconds * SR)]


# ------------------------------------------------------------------------------------------------ long clips


def test_a_minute_edits_window_by_window_to_exactly_its_length(monkeypatch):
    monkeypatch.setattr(pipeline_voice_edit, "CODEC_WINDOW_SECONDS", 5.0)
    pipe = get_pipeline()
    denoiser_frames, encoder_samples, decoder_frames = [], [], []
    pipe.denoiser.register_forward_pre_hook(lambda module, args: denoiser_frames.append(args[0].shape[-1]))
    pipe.codec.encoder.register_forward_pre_hook(lambda module, args: encoder_samples.append(args[0].shape[-1]))
    pipe.codec.decoder.register_forward_pre_hook(lambda module, args: decoder_frames.append(args[0].shape[-1]))
    audio = speech_like(60.0)
    output = pipe(audio=audio, sampling_rate=SR, pitch_shift=2.0, num_inference_steps=2, inversion_depth=0.5,
                  window_seconds=2.0, output_type="np")
    assert output.audios.shape == (1, len(audio)) and output.num_samples == [len(audio)]
    assert np.isfinite(output.audios).all() and np.abs(output.audios).max() > 0
    frame_rate = SR / pipe.hop_length
    assert 0.9 * 2.0 * frame_rate <= max(denoiser_frames) <= 2.0 * frame_rate  # a window, never the minute
    assert max(encoder_samples) <= (5.0 + 1.0) * SR and max(decoder_frames) <= round(5.0 * frame_rate)
    assert len(encoder_samples) > 1 and len(decoder_frames) > 1


def test_windowed_prediction_equals_the_whole_for_a_frame_local_denoiser():
    # a denoiser without context makes windowing exact: unfold, per-window conditions and the cross-fading fold
    # must then give back the whole clip's prediction (and so the same edit)
    pipe = get_pipeline()
    pipe.denoiser.forward = lambda sample, t, conditions=None, **kwargs: LatentDenoiserOutput(
        sample=0.5 * sample + 0.1 * torch.nan_to_num(conditions["f0"][:, :1]))
    audio = speech_like(3.0)
    kwargs = dict(pitch_shift=3.0, num_inference_steps=3, inversion_depth=1.0, output_type="latent")
    whole = pipe(audio=audio, sampling_rate=SR, window_seconds=None, **kwargs).audios
    windowed_inversion = pipe.invert(audio, SR, num_inference_steps=3, window_seconds=0.7)
    assert len(windowed_inversion.window_values[0]) > 3
    windowed = pipe(inversion=windowed_inversion, **{k: v for k, v in kwargs.items() if k != "inversion_depth"})
    torch.testing.assert_close(windowed.audios, whole, atol=1e-4, rtol=1e-4)


def test_clip_level_attributes_are_measured_per_window():
    pipe = get_pipeline()
    low, high = harmonic_tone(110.0, 2.0, SR), harmonic_tone(240.0, 2.0, SR, seed=1)
    inversion = pipe.invert(np.concatenate([low, high]), SR, num_inference_steps=2, window_seconds=1.0)
    pitches = [values["pitch"] for values in inversion.window_values[0]]
    assert len(pitches) >= 4
    assert abs(pitches[0] - 110) < 10 and abs(pitches[-1] - 240) < 15  # each part its own conditions
    whole = pipe.invert(np.concatenate([low, high]), SR, num_inference_steps=2, window_seconds=None)
    assert len(whole.window_values[0]) == 1 and whole.window_values[0][0]["pitch"] == whole.source_attributes[0].values["pitch"]


# ------------------------------------------------------------------------------------------------ out-of-range sources


def test_measured_values_outside_the_range_are_clamped_with_a_warning(caplog):
    schema = [dict(spec, max=0.05) if spec["name"] == "intonation" else spec for spec in TINY_SCHEMA]
    pipe = get_pipeline(denoiser=tiny_denoiser(schema=schema))
    audio = harmonic_tone(150.0, 0.6, SR)
    with caplog.at_level(logging.WARNING):
        inversion = pipe.invert(audio, SR, num_inference_steps=2)
        reconstruction = pipe.check_reconstruction(audio, SR, num_inference_steps=2)
    warnings = [record.getMessage() for record in caplog.records]
    assert inversion.source_attributes[0].values["intonation"] > 0.05  # reported as measured
    assert any(w.startswith("measured `intonation`=") and "outside the range [0, 0.05]" in w and "clamped" in w
               for w in warnings), warnings
    assert not any(w.startswith("target") for w in warnings)  # an unedited value is not a target out of range
    assert np.isfinite(reconstruction.snr_db[0])
    # the conditions see the clamped value: the same as asking for the range's end
    clamped = pipe.encode_conditions(inversion.source_attributes, 10)["intonation"]
    at_max = pipe.schema.encode([inversion.source_attributes[0].edited(values={"intonation": 0.05})], 10)["intonation"]
    torch.testing.assert_close(clamped.cpu(), at_max)
    with pytest.raises(ValueError, match=r"`intonation`=3.0 is outside the range"):  # a target the user asks for
        pipe(inversion=inversion, attributes={"intonation": 3.0})


# ------------------------------------------------------------------------------------------------ edit masks


def test_edit_mask_keeps_the_source_outside_the_span():
    pipe = get_pipeline()
    audio = speech_like(1.0, seed=3)
    inversion = pipe.invert(audio, SR, num_inference_steps=4, inversion_depth=0.75)
    frame_rate = SR / pipe.hop_length
    start, end = round(0.4 * frame_rate), round(0.7 * frame_rate)
    masked = pipe(inversion=inversion, pitch_shift=4.0, edit_mask=(0.4, 0.7), output_type="latent").audios
    unmasked = pipe(inversion=inversion, pitch_shift=4.0, output_type="latent").audios
    source = inversion.source_latents
    torch.testing.assert_close(masked[..., :start], source[..., :start], atol=0, rtol=0)  # the codec's rendering
    torch.testing.assert_close(masked[..., end:], source[..., end:], atol=0, rtol=0)
    inside = slice(start + round(0.06 * frame_rate), end - round(0.06 * frame_rate))  # past the ramps
    assert (masked[..., inside] - source[..., inside]).abs().mean() > 0.1 * (unmasked - source)[..., inside].abs().mean()
    step = masked.diff(dim=-1).abs().amax(dim=(0, 1))  # no jump at the seams beyond the source's own steps
    assert step[start - 2 : start + 2].max() <= 3 * source.diff(dim=-1).abs().amax(dim=(0, 1)).max()
    # the target contour is the source's outside the span
    output = pipe(inversion=inversion, pitch_shift=4.0, edit_mask=(0.4, 0.7), output_type="latent")
    f0_source, f0_target = inversion.source_attributes[0].f0_hz, output.attributes[0].f0_hz
    np.testing.assert_allclose(f0_target[:start], f0_source[:start], rtol=1e-5)
    voiced = (f0_source[inside] > 0)
    np.testing.assert_allclose(f0_target[inside][voiced], f0_source[inside][voiced] * 2 ** (4 / 12), rtol=1e-4)


def test_edit_mask_forms_and_errors():
    pipe = get_pipeline()
    clips = [speech_like(0.5, seed=1), speech_like(0.8, seed=2)]
    inversion = pipe.invert(clips, SR, num_inference_steps=2)
    frames = inversion.padding_mask.sum(-1).tolist()
    run = lambda mask: pipe(inversion=inversion, pitch_shift=2.0, edit_mask=mask, output_type="latent").audios  # noqa: E731
    full = run(None)
    torch.testing.assert_close(run([None, None]), full)
    torch.testing.assert_close(run(torch.ones(2, max(frames))), full)
    per_clip = run([(0.1, 0.3), [(0.0, 0.2), (0.5, None)]])
    assert torch.equal(per_clip[0, :, : round(0.1 * SR / pipe.hop_length)],
                       inversion.source_latents[0, :, : round(0.1 * SR / pipe.hop_length)])
    with pytest.raises(ValueError, match=r"`edit_mask` span \(0.6, 0.9\) s is not inside clip 0"):
        run((0.6, 0.9))
    with pytest.raises(ValueError, match="`edit_mask` has 3 items for a batch of 2"):
        run([None, None, None])
    with pytest.raises(ValueError, match="frame weights must have shape"):
        run(torch.ones(2, 5))
    with pytest.raises(ValueError, match="`rate`, `edit_mask` and `edit_region` edit a source"):
        pipe(num_frames=16, edit_mask=(0.0, 0.1))


@pytest.mark.parametrize("region", ["speech", "voiced"])
def test_named_edit_region_keeps_pauses_the_codec_rendering(region):
    pipe = get_pipeline()
    tone = lambda hz, seconds, seed: harmonic_tone(hz, seconds, SR, seed=seed)  # noqa: E731
    noise = 0.3 * np.random.default_rng(0).standard_normal(int(0.3 * SR)).astype(np.float32)  # voiceless, loud
    audio = np.concatenate([tone(150.0, 0.4, 1), np.zeros(int(0.5 * SR), np.float32), noise, tone(180.0, 0.4, 2)])
    inversion = pipe.invert(audio, SR, num_inference_steps=4, inversion_depth=0.75)
    frame_rate = SR / pipe.hop_length
    margin = pipeline_voice_edit.EDIT_REGION_MARGIN_SECONDS
    output = pipe(inversion=inversion, pitch_shift=4.0, edit_region=region, output_type="latent").audios
    source = inversion.source_latents
    pause = slice(round((0.4 + margin + 0.02) * frame_rate), round((0.9 - margin - 0.02) * frame_rate))
    torch.testing.assert_close(output[..., pause], source[..., pause], atol=0, rtol=0)  # the pause is untouched
    first = slice(round(0.1 * frame_rate), round(0.3 * frame_rate))  # inside the first tone: edited
    assert (output[..., first] - source[..., first]).abs().mean() > 1e-3
    noise_frames = slice(round((0.9 + margin + 0.02) * frame_rate), round((1.2 - margin - 0.02) * frame_rate))
    changed = (output[..., noise_frames] - source[..., noise_frames]).abs().amax()
    if region == "voiced":  # voiceless frames stay the source's
        assert changed == 0
    else:  # speech: the noise burst is loud, so it is edited
        assert changed > 0
    # inside a span, the region narrows it: the second tone is outside the span and stays the source's
    spanned = pipe(inversion=inversion, pitch_shift=4.0, edit_mask=(0.0, 0.5), edit_region=region,
                   output_type="latent").audios
    torch.testing.assert_close(spanned[..., pause.start :], source[..., pause.start :], atol=0, rtol=0)
    assert (spanned[..., first] - source[..., first]).abs().mean() > 1e-3
    with pytest.raises(ValueError, match=r"`edit_region` must be one of \('all', 'speech', 'voiced'\), got 'pauses'"):
        pipe(inversion=inversion, edit_region="pauses")
    with pytest.raises(ValueError, match="`rate`, `edit_mask` and `edit_region` edit a source"):
        pipe(num_frames=16, edit_region="speech")


# ------------------------------------------------------------------------------------------------ speaking rate


@pytest.mark.parametrize("rate", [1.25, 0.8])
def test_rate_changes_the_duration_and_keeps_the_contour(rate):
    pipe = get_pipeline()
    audio = speech_like(1.0, seed=4)
    inversion = pipe.invert(audio, SR, num_inference_steps=4, inversion_depth=0.5, rate=rate,
                            generator=torch.Generator().manual_seed(0))
    expected = round(len(audio) / rate)
    assert inversion.rate == rate and inversion.num_samples == [expected]
    frames = int(inversion.padding_mask[0].sum())
    assert frames == -(-expected // pipe.hop_length) and len(inversion.source_attributes[0].f0_hz) == frames
    plain = pipe.invert(audio, SR, num_inference_steps=4, inversion_depth=0.5)
    assert inversion.window_values[0][0]["rate"] == pytest.approx(plain.window_values[0][0]["rate"] * rate, rel=0.05)
    voiced = lambda f0: f0[f0 > 0]  # noqa: E731
    assert abs(np.median(12 * np.log2(voiced(inversion.source_attributes[0].f0_hz) / 100))
               - np.median(12 * np.log2(voiced(plain.source_attributes[0].f0_hz) / 100))) < 0.3
    output = pipe(inversion=inversion, output_type="np")
    assert output.audios.shape == (1, expected) and np.isfinite(output.audios).all()
    direct = pipe(audio=audio, sampling_rate=SR, rate=rate, num_inference_steps=4, inversion_depth=0.5,
                  generator=torch.Generator().manual_seed(0), output_type="np")
    np.testing.assert_allclose(direct.audios, output.audios, atol=1e-5)


def test_rate_errors():
    pipe = get_pipeline()
    audio = speech_like(0.5)
    with pytest.raises(ValueError, match=r"`rate` must be a factor in \[0.5, 2.0\]"):
        pipe.invert(audio, SR, rate=3.0)
    inversion = pipe.invert(audio, SR, num_inference_steps=2, rate=1.25)
    with pytest.raises(ValueError, match="`rate`=1.0 differs from the inversion's 1.25"):
        pipe(inversion=inversion, rate=1.0)
    with pytest.raises(ValueError, match="speaking-rate edit retimes the whole clip"):
        pipe(inversion=inversion, edit_mask=(0.0, 0.2))
    with pytest.raises(ValueError, match="`rate`, `edit_mask` and `edit_region` edit a source"):
        pipe(num_frames=16, rate=1.25)
