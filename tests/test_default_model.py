"""The shipped default model: installed with the package, small, loadable, consistent, and able to run an edit."""

import json

import numpy as np
import pytest

from latentdiff_edit import load_default_pipeline
from latentdiff_edit.loading import default_model_path
from latentdiff_edit.testing import harmonic_tone


def test_shipped_model_is_small_documented_and_consistent():
    folder = default_model_path()
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert size < 25e6
    card = (folder / "README.md").read_text()
    assert "library_name: diffusers" in card and "## Measured figures" in card
    scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    inverse = json.loads((folder / "inverse_scheduler" / "scheduler_config.json").read_text())
    assert scheduler["prediction_type"] == inverse["prediction_type"]
    summary = json.loads((folder / "training_summary.json").read_text())
    training_info = json.loads((folder / "denoiser" / "config.json").read_text())["training_info"]
    # the shipped denoiser is the last LDM stage the summary lists (each continuation counts on top of the first)
    continued = summary.get("ldm_continued") or []
    continued = [continued] if isinstance(continued, dict) else continued
    last = continued[-1] if continued else summary["ldm_training"]
    assert last["step"] == training_info["steps"]
    assert training_info.get("total_steps", training_info["steps"]) == summary["ldm_training"]["step"] + sum(
        stage["step"] for stage in continued)
    # provenance, not the training machine's file system
    assert not [value for value in training_info.values() if str(value).startswith(("/", "~")) or ":\\" in str(value)]
    assert not any("_name_or_path" in json.loads(c.read_text()) for c in folder.glob("*/config.json"))


@pytest.mark.slow
def test_shipped_model_runs_an_edit():
    pipe = load_default_pipeline()
    pipe.set_progress_bar_config(disable=True)
    assert pipe.schema.names[:2] == ["f0", "energy"]
    sr = pipe.sampling_rate
    out = pipe(audio=harmonic_tone(140.0, 0.4, sr), sampling_rate=sr, pitch_shift=2.0, num_inference_steps=3)
    assert out.audios.shape == (1, round(0.4 * sr)) and np.isfinite(out.audios).all()
