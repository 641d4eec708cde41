"""The Vocos decoder component: shapes, save/load, and its place in the pipeline (decodes when present)."""

import numpy as np
import pytest
import torch

from latentdiff_edit import VoiceEditPipeline
from latentdiff_edit import codec as codec_utils
from latentdiff_edit.models import VocosVocoder
from latentdiff_edit.testing import harmonic_tone, tiny_codec, tiny_components, tiny_vocoder


def test_vocoder_output_is_frames_times_hop():
    vocoder = tiny_vocoder()
    latents = torch.randn(2, 8, 25)
    audio = vocoder(latents).sample
    assert audio.shape == (2, 25 * 8)
    assert torch.equal(vocoder(latents, return_dict=False)[0], audio)


def test_vocoder_save_load_round_trip_twice(tmp_path):
    vocoder = tiny_vocoder()
    latents = torch.randn(1, 8, 10)
    vocoder.save_pretrained(tmp_path / "a")
    loaded = VocosVocoder.from_pretrained(tmp_path / "a")
    # a loaded copy saves again (its constant STFT window is not a saved, file-backed buffer)
    loaded.save_pretrained(tmp_path / "b")
    again = VocosVocoder.from_pretrained(tmp_path / "b")
    assert torch.allclose(vocoder(latents).sample, again(latents).sample, atol=1e-6)
    assert "head.istft.window" not in vocoder.state_dict()


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
