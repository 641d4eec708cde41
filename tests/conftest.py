"""Fixtures shared by every test: signing keys in a temporary config folder (never the user's), and a tiny pipeline
saved to disk for the command-line, batch, hub and robustness tests."""

from __future__ import annotations

import pytest

from latentdiff_edit import VoiceEditPipeline
from latentdiff_edit.apps.credentials import CONFIG_DIR_ENV
from latentdiff_edit.testing import tiny_components


@pytest.fixture(autouse=True, scope="session")
def _session_config_dir(tmp_path_factory):
    """Outputs are signed with a local key made on first use in the config folder: keep it out of ~/.config (the
    variable also reaches the `accelerate launch` subprocesses). tests/apps/ gives each test a fresh folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CONFIG_DIR_ENV, str(tmp_path_factory.mktemp("config")))
        yield


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory):
    """A tiny random pipeline (8 kHz codec) written with `save_pretrained`: what `--model` points at in tests."""
    path = tmp_path_factory.mktemp("tiny-pipeline")
    VoiceEditPipeline(**tiny_components()).save_pretrained(path)
    return path
