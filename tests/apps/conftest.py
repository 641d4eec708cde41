"""Every test here signs with keys under a temporary config folder, never the user's."""

from __future__ import annotations

import pytest

from latentdiff_edit.apps.credentials import CONFIG_DIR_ENV, SIGN_CERT_ENV, SIGN_KEY_ENV


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    """A fresh, empty config folder for each test (the local signing key is made there on first use)."""
    folder = tmp_path / "config"
    monkeypatch.setenv(CONFIG_DIR_ENV, str(folder))
    monkeypatch.delenv(SIGN_CERT_ENV, raising=False)
    monkeypatch.delenv(SIGN_KEY_ENV, raising=False)
    return folder
