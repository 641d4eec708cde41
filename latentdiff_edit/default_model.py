"""The small default model shipped inside the package (trained by `scripts/train_default_model.py`)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL_DIR = Path(__file__).parent / "default_model"


def default_model_path() -> Path:
    if not (DEFAULT_MODEL_DIR / "model_index.json").is_file():
        raise FileNotFoundError(
            f"the default model is not installed at {DEFAULT_MODEL_DIR}; pass --model DIR_OR_HUB_ID, or regenerate "
            "it with scripts/train_default_model.py"
        )
    return DEFAULT_MODEL_DIR


def load_default_pipeline(**kwargs):
    from .pipelines import VoiceEditPipeline

    return VoiceEditPipeline.from_pretrained(default_model_path(), **kwargs)
