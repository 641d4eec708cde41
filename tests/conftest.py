"""Fixtures shared by the command-line, batch, hub and robustness tests: a tiny pipeline saved to disk."""

from __future__ import annotations

import pytest

from latentdiff_edit import VoiceEditPipeline
from latentdiff_edit.testing import tiny_components


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory):
    """A tiny random pipeline (8 kHz codec) written with `save_pretrained`: what `--model` points at in tests."""
    path = tmp_path_factory.mktemp("tiny-pipeline")
    VoiceEditPipeline(**tiny_components()).save_pretrained(path)
    return path
