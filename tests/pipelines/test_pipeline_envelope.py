"""The envelope (content) condition in the pipeline: measured on the source at inversion, kept by every edit (pitch,
intonation, segments), cut per denoiser window, time-warped with a speaking-rate edit, and given to both guidance
branches, so that only what the edit asks for differs between them."""

import numpy as np
import pytest
import torch

from latentdiff_edit import LatentDenoiser1D, VoiceEditPipeline
from latentdiff_edit.attributes import SourceAttributes
from latentdiff_edit.features import spectral_envelope
from latentdiff_edit.testing import TINY_SCHEMA, harmonic_tone, tiny_components

SR = 8000
ENVELOPE = {"name": "envelope", "type": "frame", "dim": 12, "mean": [1.0] * 12, "std": [20.0] * 12}


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    denoiser = LatentDenoiser1D(latent_channels=8, hidden_size=32, num_layers=2, num_heads=2, mlp_ratio=2.0,
                                attributes=[*TINY_SCHEMA, ENVELOPE], frame_fourier_features=2,
                                latents_mean=[0.01] * 8, latents_std=[0.5] * 8).eval()
    pipeline = VoiceEditPipeline(**{**tiny_components(), "denoiser": denoiser})
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def spoken(seconds=0.6):
    """A tone whose spectrum changes halfway (other harmonics weighted): two 'sounds' with different envelopes."""
    first = harmonic_tone(140.0, seconds / 2, SR)
    t = np.arange(len(first)) / SR
    second = sum(np.sin(2 * np.pi * 140.0 * k * t) * (k / 5) ** 2 for k in range(1, 12)).astype(np.float32) * 0.05
    return np.concatenate([first, second])


def capture(pipe, monkeypatch):
    calls = []
    forward = pipe.denoiser.forward

    def recording(sample, timestep, conditions=None, **kwargs):
        calls.append({k: v.detach().clone() for k, v in (conditions or {}).items()})
        return forward(sample, timestep, conditions=conditions, **kwargs)

    monkeypatch.setattr(pipe.denoiser, "forward", recording)
    return calls


def test_the_spectral_envelope_ignores_level_and_follows_the_spectrum():
    audio = spoken()
    envelope = spectral_envelope(audio, SR, 8)
    assert envelope.shape == (12, len(audio) // 8) and np.isfinite(envelope).all()
    np.testing.assert_allclose(spectral_envelope(0.25 * audio, SR, 8), envelope, atol=1e-3)  # c0 is left out
    half = envelope.shape[1] // 2
    assert np.abs(envelope[:, half + 40 :].mean(1) - envelope[:, : half - 40].mean(1)).max() > 3.0


def test_every_edit_keeps_the_source_envelope_in_both_branches(pipe, monkeypatch):
    audio = spoken()
    inversion = pipe.invert(audio, SR, num_inference_steps=2, inversion_depth=1.0)
    (source,) = inversion.source_attributes
    frames = inversion.latents.shape[-1]
    assert source.envelope.shape == (12, frames)
    np.testing.assert_allclose(source.envelope, spectral_envelope(audio.astype(np.float64), SR, 8, frames), atol=1e-4)
    expected = pipe.schema.frame_tensor("envelope", source.envelope)
    calls = capture(pipe, monkeypatch)
    pipe(inversion=inversion, pitch_shift=3.0, intonation_scale=1.5, guidance_scale=2.0, output_type="latent")
    assert calls
    for conditions in calls:  # the edited and the reference branch alike
        for row in conditions["envelope"]:
            torch.testing.assert_close(row.cpu(), expected)
    assert not torch.equal(calls[0]["f0"][0], calls[0]["f0"][1])  # while F0 differs between the branches

    # a model with the envelope uses it: the source's envelope and none give other edits
    calls.clear()
    monkeypatch.undo()
    edited = pipe(inversion=inversion, pitch_shift=3.0, guidance_scale=2.0, output_type="latent").audios
    nulled = [SourceAttributes(s.f0_hz, s.energy_db, s.values) for s in inversion.source_attributes]
    inversion.source_attributes = nulled
    without = pipe(inversion=inversion, pitch_shift=3.0, guidance_scale=2.0, output_type="latent").audios
    assert not torch.allclose(edited, without, atol=1e-4)


def test_windows_get_their_own_frames_and_a_rate_edit_retimes_the_envelope(pipe, monkeypatch):
    audio = spoken(0.8)
    inversion = pipe.invert(audio, SR, num_inference_steps=2, window_seconds=0.3)
    envelope = pipe.schema.frame_tensor("envelope", inversion.source_attributes[0].envelope)
    calls = capture(pipe, monkeypatch)
    pipe(inversion=inversion, pitch_shift=-2.0, output_type="latent")
    windows = [c["envelope"][0].cpu() for c in calls]
    width = windows[0].shape[-1]
    # each window's envelope is a stretch of the clip's (the last one padded)
    for window in windows:
        real = window[:, window.abs().sum(0) > 0]
        hits = [s for s in range(envelope.shape[-1] - real.shape[-1] + 1)
                if torch.allclose(envelope[:, s : s + real.shape[-1]], real)]
        assert hits, "a window's envelope is not a stretch of the clip's"
    assert width < envelope.shape[-1]

    faster = pipe.invert(audio, SR, num_inference_steps=2, rate=1.25)
    (source,) = faster.source_attributes
    assert source.envelope.shape == (12, faster.latents.shape[-1]) and faster.latents.shape[-1] < envelope.shape[-1]
    output = pipe(inversion=faster, output_type="np")
    assert np.isfinite(output.audios).all()


def test_a_segment_edit_and_generation_take_the_envelope(pipe):
    audio = spoken()
    edited = pipe(audio=audio, sampling_rate=SR, pitch_shift=2.0, edit_mask=(0.1, 0.4), num_inference_steps=2,
                  output_type="np").audios
    assert np.isfinite(edited).all()
    frames = 120
    envelope = np.zeros((12, frames), dtype=np.float32)
    generated = pipe(attributes={"envelope": envelope, "f0": np.full(frames, 150.0)}, num_inference_steps=2,
                     output_type="latent").audios
    assert generated.shape[-1] == frames
    with pytest.raises(ValueError, match="`envelope` contour has 100 frames, expected 120"):
        pipe(attributes={"envelope": envelope[:, :100], "f0": np.full(frames, 150.0)}, num_inference_steps=2)
