"""The five gate sets the docs scripts measure on, by short name, and the model they load (MODEL=DIR, or the shipped
one). The manifests are built by `v071/make_tts_male_test14.py` and the snippet in `v05/README.md`; the scripts run
from the repository root and import this file with `sys.path.insert(0, "docs/benchmark")`."""
import os

SETS = {"lv": "/usr/share/pocketsphinx/test/data/librivox", "tts": "runs/tts_male_test14.jsonl",
        "ast": "runs/asterisk_test10.jsonl", "ctts": "runs/confirm_test20.jsonl", "cast": "runs/asterisk_confirm12.jsonl"}


def load_model():
    """The pipeline of MODEL (a folder), or the shipped default model; progress bars off, one CPU thread."""
    import torch

    from latentdiff_edit import load_default_pipeline
    from latentdiff_edit.loading import load_pipeline

    torch.set_num_threads(1)
    pipe = load_pipeline(os.environ["MODEL"]) if os.environ.get("MODEL") else load_default_pipeline()
    pipe.set_progress_bar_config(disable=True)
    return pipe
