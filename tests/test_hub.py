"""Publishing to the Hub and loading back, all against local folders (no network)."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
from huggingface_hub import ModelCard

from latentdiff_edit import VoiceEditPipeline
from latentdiff_edit.apps.hub import prepare_for_hub
from latentdiff_edit.loading import ModelNotFoundError, load_pipeline, model_label, resolve_model
from latentdiff_edit.testing import harmonic_tone, tiny_components


def edit(pipe) -> np.ndarray:
    pipe.set_progress_bar_config(disable=True)
    return pipe(audio=harmonic_tone(150.0, 0.4, 8000), sampling_rate=8000, pitch_shift=2.0,
                attributes={"style": "neutral"}, num_inference_steps=2).audios


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    pipe = VoiceEditPipeline(**tiny_components())
    folder = prepare_for_hub(pipe, tmp_path_factory.mktemp("hub") / "voice-edit",
                             metrics={"pitch_shift_error_st": 0.4321, "latent_snr_db": {"depth_0.6": 27.5}},
                             training={"data": "synthetic harmonic tones", "steps": 2}, repo_id="org/voice-edit")
    return pipe, folder


def test_published_folder_loads_back_with_the_same_outputs(published):
    pipe, folder = published
    assert {"model_index.json", "README.md", "pipeline_voice_edit.py", "denoiser", "codec"} <= {
        p.name for p in folder.iterdir()}
    loaded = load_pipeline(folder)
    assert type(loaded) is VoiceEditPipeline  # the installed class, not the copied source
    np.testing.assert_array_equal(edit(loaded), edit(pipe))


def test_model_card(published):
    _, folder = published
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "diffusers" and card.data.license == "apache-2.0"
    assert "voice-editing" in card.data.tags
    for text in ("| `style` | categorical | neutral, low-flat-slow, high-wide-fast |",
                 "| `rate` | continuous | range [0.0, 12.0], mean 3, std 1 |", "`pitch_shift_error_st` | 0.4321",
                 "synthetic harmonic tones", "pip install latentdiff-edit==", 'load_pipeline("org/voice-edit")',
                 "8000 Hz, hop 8 samples"):
        assert text in card.text, text
    assert "octave-safe" not in card.text  # the tiny denoiser keeps the powers-of-two frequencies


def test_model_card_names_octave_safe_frequencies(tmp_path):
    from latentdiff_edit.apps.hub import write_model_card
    from latentdiff_edit.models.denoiser import octave_safe_frequencies

    pipe = VoiceEditPipeline(**tiny_components())
    pipe.denoiser.register_to_config(frame_fourier_frequencies=octave_safe_frequencies(2, 12.0))
    pipe.save_pretrained(tmp_path)
    card = write_model_card(tmp_path).read_text()
    assert "2 Fourier feature pairs per frame attribute (octave-safe frequencies)" in card


@pytest.mark.parametrize("spelling", [{}, {"custom_pipeline": "pipeline_voice_edit"}], ids=["plain", "custom_pipeline"])
def test_plain_diffusers_loads_the_copied_pipeline_source(published, tmp_path, monkeypatch, spelling):
    from diffusers import DiffusionPipeline
    from diffusers.utils import dynamic_modules_utils

    pipe, folder = published
    assert json.loads((folder / "model_index.json").read_text())["_class_name"] == [
        "pipeline_voice_edit", "VoiceEditPipeline"]
    # diffusers copies remote code into its modules cache: keep that inside the test's folder
    monkeypatch.setattr(dynamic_modules_utils, "HF_MODULES_CACHE", str(tmp_path))
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in [m for m in sys.modules if m.startswith("diffusers_modules")]:
        monkeypatch.delitem(sys.modules, name)
    loaded = DiffusionPipeline.from_pretrained(folder, trust_remote_code=True, **spelling)
    assert type(loaded).__name__ == "VoiceEditPipeline" and type(loaded).__module__.startswith("diffusers_modules")
    np.testing.assert_array_equal(edit(loaded), edit(pipe))


def test_hub_ids_come_from_the_cache_first(published, tmp_path, monkeypatch):
    _, folder = published
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    commit = "0123456789abcdef0123456789abcdef01234567"
    cache = tmp_path / "hub-cache"
    shutil.copytree(folder, cache / "models--org--voice-edit" / "snapshots" / commit)
    (cache / "models--org--voice-edit" / "refs").mkdir()
    (cache / "models--org--voice-edit" / "refs" / "main").write_text(commit)

    resolved = resolve_model("org/voice-edit", cache_dir=cache)
    assert resolved == cache / "models--org--voice-edit" / "snapshots" / commit
    assert model_label(resolved) == f"org/voice-edit@{commit}"
    assert isinstance(load_pipeline("org/voice-edit", cache_dir=cache), VoiceEditPipeline)

    with pytest.raises(ModelNotFoundError, match="'org/unknown' not found: .*HF_HUB_OFFLINE=1 forbids downloading"):
        load_pipeline("org/unknown", cache_dir=cache)


@pytest.mark.parametrize(
    "model, message",
    [
        ("missing/deeper/folder", "model folder not found: missing/deeper/folder"),
        ("./nowhere", "model folder not found"),
        ("org/bad name!", "neither a folder nor a valid Hub id"),
    ],
)
def test_absent_models_give_one_line_messages(model, message, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match=message):
        load_pipeline(model)


def test_the_shipped_model_is_named_without_its_install_path():
    from latentdiff_edit.loading import DEFAULT_MODEL_DIR, model_label

    assert model_label(DEFAULT_MODEL_DIR).startswith("latentdiff-edit default model")
    assert str(DEFAULT_MODEL_DIR) not in model_label(DEFAULT_MODEL_DIR)
