"""The real/natural voice sources and the augmentation toward real recordings (`latentdiff_edit.data`)."""

import logging
import shutil

import numpy as np
import pytest
import soundfile as sf

from latentdiff_edit.data import voices
from latentdiff_edit.data.voices import SpeechItem, hash_split, render_item, tts_items
from latentdiff_edit.testing import harmonic_tone


def test_hash_split_is_deterministic_and_proportioned():
    keys = [f"prompt-{i}" for i in range(4000)]
    splits = [hash_split(k) for k in keys]
    assert splits == [hash_split(k) for k in keys]
    shares = {s: splits.count(s) / len(splits) for s in ("train", "validation", "test")}
    assert abs(shares["test"] - 0.08) < 0.02 and abs(shares["validation"] - 0.05) < 0.02


def test_missing_voices_are_skipped_with_a_warning(monkeypatch, caplog):
    for source in voices.TTS_SOURCES.values():
        monkeypatch.setattr(source, "installed", lambda voice: False)
    with caplog.at_level(logging.WARNING):
        assert tts_items(["rhvoice", "pico"], ["A sentence."], 10) == []
    assert "rhvoice: voices not installed" in caplog.text and "pico: voices not installed" in caplog.text


def test_tts_items_spread_over_installed_voices_with_varied_prosody(monkeypatch):
    monkeypatch.setattr(voices.TTS_SOURCES["rhvoice"], "installed", lambda voice: voice in ("slt", "bdl"))
    items = tts_items(["rhvoice"], ["One sentence.", "Another sentence."], 8, seed=0)
    assert {item.voice for item in items} == {"rhvoice:slt", "rhvoice:bdl"}
    assert {item.gender for item in items} == {"F", "M"}
    assert len({round(item.pitch, 3) for item in items}) == 8 and all(0.8 <= i.rate <= 1.25 for i in items)
    assert all(item.split == hash_split(item.text) for item in items)


@pytest.mark.skipif(shutil.which("pico2wave") is None or shutil.which("sox") is None, reason="needs pico2wave, sox")
def test_render_a_pico_clip(tmp_path):
    item = SpeechItem("pico_1", "pico", "pico:en-US", "F", "tts", "train", text="Hello there, how are you?")
    render_item(item, tmp_path / "out.wav", 16000)
    audio, sr = sf.read(tmp_path / "out.wav")
    assert sr == 16000 and audio.ndim == 1 and 0.5 < len(audio) / sr < 5


def test_augmentation_keeps_length_and_range_and_changes_the_audio():
    pytest.importorskip("audiomentations")
    from latentdiff_edit.data.augment import augment_clip, real_recording_augmentation

    audio = harmonic_tone(140.0, 1.0, 16000)
    outputs = [augment_clip(audio, 16000, real_recording_augmentation(seed=s)) for s in range(4)]
    for out in outputs:
        assert out.shape == audio.shape and out.dtype == np.float32
        assert np.isfinite(out).all() and np.abs(out).max() <= 0.98 + 1e-6
    assert any(not np.allclose(out, audio, atol=1e-3) for out in outputs)
