"""Finding and loading a pipeline: a local folder, a Hub id (the Hub cache first) or the model shipped with the
package (`default_model/`, trained by `scripts/train_default_model.py`).

    >>> from latentdiff_edit import load_pipeline
    >>> pipe = load_pipeline("org/voice-edit")  # or a folder; None: the shipped model
"""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import constants, snapshot_download
from huggingface_hub.utils import HFValidationError, validate_repo_id

DEFAULT_MODEL_DIR = Path(__file__).parent / "default_model"


class ModelNotFoundError(FileNotFoundError):
    """No pipeline at the given folder or Hub id (or it cannot be downloaded)."""


def _hub_offline() -> bool:
    # huggingface_hub reads HF_HUB_OFFLINE once at import; a caller may set it later, so read the environment too.
    return constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")


def resolve_model(
    model: str | os.PathLike | None = None, revision: str | None = None, cache_dir: str | os.PathLike | None = None
) -> Path:
    """
    Find the pipeline folder for a local folder, a Hub id or the shipped default model.

    Args:
        model (`str` or `os.PathLike`, *optional*): a folder written by `save_pretrained`, or a Hub id
            (`"org/name"`); the shipped default model when None.
        revision (`str`, *optional*): Hub branch, tag or commit.
        cache_dir (`str` or `os.PathLike`, *optional*): Hub cache folder (defaults to huggingface_hub's).

    Returns:
        `Path`: the local pipeline folder (a snapshot in the Hub cache for a Hub id).

    Raises:
        ModelNotFoundError: nothing found; the message says where it looked and what to do.
    """
    if model is None:
        return default_model_path()
    local = Path(model).expanduser()
    if local.is_dir():
        if not (local / "model_index.json").is_file():
            raise ModelNotFoundError(f"{local} is not a pipeline folder: it has no model_index.json")
        return local.resolve()
    if local.exists():
        raise ModelNotFoundError(f"{local} is a file; a model is a pipeline folder or a Hub id (org/name)")

    repo_id = str(model)
    if os.path.isabs(repo_id) or repo_id.startswith((".", "~")) or repo_id.count("/") != 1:
        raise ModelNotFoundError(f"model folder not found: {repo_id} (a Hub id looks like org/name)")
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise ModelNotFoundError(f"model {repo_id!r} not found: it is neither a folder nor a valid Hub id") from None
    try:
        # the cache first: a model downloaded once keeps working offline and does not change under the user's feet
        folder = snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=True)
    except FileNotFoundError:  # huggingface_hub's LocalEntryNotFoundError: not cached
        if _hub_offline():
            raise ModelNotFoundError(
                f"model {repo_id!r} not found: no such local folder, and it is not in the Hub cache "
                "(HF_HUB_OFFLINE=1 forbids downloading it; unset it or download the model first)"
            ) from None
        try:
            folder = snapshot_download(repo_id, revision=revision, cache_dir=cache_dir)
        except Exception as e:  # network, authentication, missing repo: all end the same way for the user
            raise ModelNotFoundError(f"could not download model {repo_id!r} from the Hub: {e}") from None
    folder = Path(folder)
    if not (folder / "model_index.json").is_file():
        raise ModelNotFoundError(f"Hub repository {repo_id!r} holds no model_index.json: it is not a pipeline")
    return folder


def model_label(folder: str | os.PathLike) -> str:
    """How provenance names a model: `org/name@commit` for a snapshot in the Hub cache, `latentdiff-edit default
    model <version>` for the shipped one (not the path it happens to be installed at), else the folder."""
    folder = Path(folder)
    if folder.is_dir() and folder.resolve() == DEFAULT_MODEL_DIR.resolve():
        from . import __version__

        return f"latentdiff-edit default model {__version__}"
    cache_name = folder.parent.parent.name  # <cache>/models--org--name/snapshots/<commit>
    if folder.parent.name == "snapshots" and cache_name.startswith("models--"):
        return f"{cache_name[len('models--'):].replace('--', '/')}@{folder.name}"
    return str(folder)


def load_pipeline(
    model: str | os.PathLike | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    **kwargs,
):
    """
    Load a [`VoiceEditPipeline`] from a local folder, a Hub id (cache first, honouring `HF_HUB_OFFLINE=1`), or the
    shipped default model when `model` is None. Extra keyword arguments go to `from_pretrained`.

    Raises:
        ModelNotFoundError: the model is absent or cannot be downloaded, with a one-line reason.
    """
    from .pipelines import VoiceEditPipeline

    return VoiceEditPipeline.from_pretrained(resolve_model(model, revision, cache_dir), **kwargs)


def default_model_path() -> Path:
    """The shipped model's folder; raises `ModelNotFoundError` when the installation lacks it."""
    if not (DEFAULT_MODEL_DIR / "model_index.json").is_file():
        raise ModelNotFoundError(
            f"the default model is not installed at {DEFAULT_MODEL_DIR}; pass --model DIR_OR_HUB_ID, or regenerate "
            "it with scripts/train_default_model.py"
        )
    return DEFAULT_MODEL_DIR


def load_default_pipeline(**kwargs):
    """The shipped model as a [`VoiceEditPipeline`]; keyword arguments go to `from_pretrained`."""
    return load_pipeline(None, **kwargs)
