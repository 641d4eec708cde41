"""The Vocos decoder component: shapes, save/load, its Griffin-Lim phase, and its place in the pipeline (decodes when
present)."""

import numpy as np
import pytest
import torch

from latentdiff_edit import VoiceEditPipeline
from latentdiff_edit import codec as codec_utils
from latentdiff_edit.models import VocosVocoder
from latentdiff_edit.testing import harmonic_tone, tiny_codec, tiny_components, tiny_vocoder
from latentdiff_edit.training.codec import magnitude_losses


@pytest.mark.parametrize("phase", ["learned", "griffin_lim"])
def test_vocoder_output_is_frames_times_hop(phase):
    vocoder = tiny_vocoder(phase=phase)
    latents = torch.randn(2, 8, 25)
    audio = vocoder(latents).sample
    assert audio.shape == (2, 25 * 8)
    assert torch.isfinite(audio).all()
    assert torch.equal(vocoder(latents, return_dict=False)[0], audio)


@pytest.mark.parametrize("phase", ["learned", "griffin_lim"])
def test_vocoder_save_load_round_trip_twice(tmp_path, phase):
    vocoder = tiny_vocoder(phase=phase)
    latents = torch.randn(1, 8, 10)
    vocoder.save_pretrained(tmp_path / "a")
    loaded = VocosVocoder.from_pretrained(tmp_path / "a")
    assert loaded.config.phase == phase
    # a loaded copy saves again (its constant STFT window is not a saved, file-backed buffer)
    loaded.save_pretrained(tmp_path / "b")
    again = VocosVocoder.from_pretrained(tmp_path / "b")
    assert torch.allclose(vocoder(latents).sample, again(latents).sample, atol=1e-6)
    assert not any("window" in key for key in vocoder.state_dict())


def test_unknown_phase_is_refused():
    with pytest.raises(ValueError, match="phase"):
        VocosVocoder(phase="random")


def _stft_magnitude(audio: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    return torch.stft(audio, n_fft, hop, window=torch.hann_window(n_fft), return_complex=True).abs()


def test_griffin_lim_recovers_audio_whose_magnitudes_are_the_ones_given():
    """The phase it finds is consistent with the magnitudes (what the codec's quality rests on), at the vocoder's
    framing: frame i centred on sample i * hop, F + 1 frames for F * hop samples."""
    vocoder = VocosVocoder(latent_channels=8, dim=16, intermediate_dim=32, num_layers=1, n_fft=512, hop_length=128,
                           sampling_rate=16000, phase="griffin_lim")
    audio = torch.from_numpy(harmonic_tone(140.0, 1.0, 16000))[None, : 125 * 128]
    magnitude = _stft_magnitude(audio, 512, 128)
    assert magnitude.shape[-1] == 126
    recovered = vocoder.griffin_lim(magnitude)
    assert recovered.shape == audio.shape
    error = torch.linalg.vector_norm(_stft_magnitude(recovered, 512, 128) - magnitude) / torch.linalg.vector_norm(
        magnitude)
    assert error < 0.1
    # a handful of iterations is measurably worse: the iterations are what recovers the phase
    few = VocosVocoder.from_config(vocoder.config, griffin_lim_iters=1).griffin_lim(magnitude)
    few_error = torch.linalg.vector_norm(_stft_magnitude(few, 512, 128) - magnitude) / torch.linalg.vector_norm(
        magnitude)
    assert few_error > 2 * error


def test_magnitude_losses_vanish_at_the_targets_own_magnitudes_only():
    audio = torch.from_numpy(harmonic_tone(140.0, 0.5, 8000))[None]
    exact = _stft_magnitude(audio, 32, 8).clamp_min(1e-5).log()
    losses = magnitude_losses(exact, audio, 32, 8)
    assert losses["log_magnitude"] < 1e-5 and losses["spectral_convergence"] < 1e-5
    shifted = magnitude_losses(exact.roll(3, dims=-1), audio, 32, 8)  # three frames late
    louder = magnitude_losses(exact + 0.5, audio, 32, 8)
    assert shifted["spectral_convergence"] > 0.05 and louder["log_magnitude"] == pytest.approx(0.5, abs=1e-3)


def test_a_trained_magnitude_decoder_reconstructs_through_griffin_lim():
    """Fit a tiny Griffin-Lim vocoder to one clip's magnitudes: its audio then matches the clip (the whole path
    latents -> log-magnitudes -> Griffin-Lim -> audio carries what the head learned)."""
    torch.manual_seed(0)
    audio = torch.from_numpy(harmonic_tone(140.0, 0.5, 8000))[None]
    latents = torch.randn(1, 8, audio.shape[-1] // 8)
    vocoder = tiny_vocoder(phase="griffin_lim")
    target = _stft_magnitude(audio, 32, 8)

    def decoded_error() -> float:
        with torch.no_grad():
            decoded = vocoder.eval()(latents).sample
        vocoder.train()
        return torch.linalg.vector_norm(_stft_magnitude(decoded, 32, 8) - target) / torch.linalg.vector_norm(target)

    untrained = decoded_error()
    optimizer = torch.optim.Adam(vocoder.parameters(), lr=1e-2)
    for _ in range(300):
        losses = magnitude_losses(vocoder.log_magnitude(latents), audio, 32, 8)
        optimizer.zero_grad()
        (losses["log_magnitude"] + losses["spectral_convergence"]).backward()
        optimizer.step()
    assert losses["spectral_convergence"] < 0.2
    # (Griffin-Lim itself, from the exact magnitudes, leaves 0.44 at this 32-point FFT)
    assert decoded_error() < min(0.5, untrained / 3)


def test_decode_uses_the_vocoder_when_given():
    codec, vocoder = tiny_codec(), tiny_vocoder()
    latents = codec_utils.encode(codec, torch.from_numpy(harmonic_tone(150.0, 0.25, 8000))[None])
    with_vocoder = codec_utils.decode(codec, latents, 2000, vocoder=vocoder)
    assert torch.allclose(with_vocoder, vocoder(latents).sample[:, :2000])
    assert not torch.allclose(with_vocoder, codec_utils.decode(codec, latents, 2000))


def test_pipeline_with_vocoder_saves_loads_and_decodes_with_it(tmp_path):
    pipe = VoiceEditPipeline(**tiny_components(), vocoder=tiny_vocoder())
    pipe.set_progress_bar_config(disable=True)
    audio = harmonic_tone(150.0, 0.5, 8000)
    kwargs = dict(audio=audio, sampling_rate=8000, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    out = pipe(**kwargs).audios
    pipe.save_pretrained(tmp_path)
    assert (tmp_path / "vocoder" / "config.json").is_file()
    loaded = VoiceEditPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded.vocoder, VocosVocoder)
    np.testing.assert_allclose(loaded(**kwargs).audios, out, atol=1e-5)
    without = VoiceEditPipeline(**tiny_components())
    without.set_progress_bar_config(disable=True)
    assert not np.allclose(without(**kwargs).audios, out)


def test_pipeline_refuses_a_vocoder_with_another_hop():
    with pytest.raises(ValueError, match="hop_length"):
        VoiceEditPipeline(**tiny_components(), vocoder=tiny_vocoder(hop_length=16))


def test_pipeline_with_a_griffin_lim_vocoder_decodes_any_length_and_long_clips_in_windows(monkeypatch):
    """Clip lengths that are not whole hops; a clip longer than one codec window is decoded window by window with
    the magnitudes cross-faded and one phase for the whole clip: the same spectrum as decoding it whole."""
    from latentdiff_edit.pipelines import pipeline_voice_edit as module

    pipe = VoiceEditPipeline(**tiny_components(), vocoder=tiny_vocoder(phase="griffin_lim"))
    pipe.set_progress_bar_config(disable=True)
    audio = harmonic_tone(150.0, 0.5, 8000)[:3999]
    out = pipe(audio=audio, sampling_rate=8000, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    assert out.audios.shape == (1, 3999) and np.isfinite(out.audios).all()

    latents = torch.randn(1, 8, 500)
    whole = pipe.decode_latents(latents, [3997])
    monkeypatch.setattr(module, "CODEC_WINDOW_SECONDS", 0.2)  # 200-frame windows sharing 50 frames
    monkeypatch.setattr(module, "CODEC_OVERLAP_SECONDS", 0.05)
    windowed = pipe.decode_latents(latents, [3997])
    assert windowed.shape == whole.shape == (1, 3997)
    target = _stft_magnitude(whole[0], 32, 8)
    error = torch.linalg.vector_norm(_stft_magnitude(windowed[0], 32, 8) - target) / torch.linalg.vector_norm(target)
    assert error < 0.02
