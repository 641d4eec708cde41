"""What the recipe tests share: a tiny labeled corpus, a tiny saved codec, and `accelerate launch` with N CPU
processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from latentdiff_edit.features import measure_attributes
from latentdiff_edit.testing import harmonic_tone, tiny_codec

ROOT = Path(__file__).resolve().parents[2]
CORPUS_RATE = 8000  # the tiny codec's rate
STYLES = ("neutral", "low-flat-slow", "high-wide-fast")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """Eight 0.5 s harmonic tones (six train, two validation) and a JSONL manifest whose attribute columns are what
    `measure_attributes` measures on them, as `scripts/make_corpus.py` writes them."""
    folder = tmp_path_factory.mktemp("corpus")
    rows = []
    for i in range(8):
        name = f"clip{i}.wav"
        sf.write(folder / name, harmonic_tone(110.0 + 20 * i, 0.5, CORPUS_RATE, seed=i), CORPUS_RATE)
        audio, _ = sf.read(folder / name, dtype="float32")  # what the recipes will read: the 16-bit file
        measured = measure_attributes(audio.astype("float64"), CORPUS_RATE)
        rows.append({"path": name, "split": "train" if i < 6 else "validation", "style": STYLES[i % 3],
                     "f0_spread_st": measured["f0_spread_st"], "rate": measured["rate"]})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return manifest


@pytest.fixture(scope="session")
def tiny_codec_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("codec")
    tiny_codec(CORPUS_RATE).save_pretrained(path)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def launch(tmp_path):
    """`launch(script, num_processes, *args)` runs `accelerate launch --multi_gpu` on CPU processes (a gloo group:
    no GPU is visible) and returns the completed process; a failure shows the end of its output."""
    from accelerate.utils import write_basic_config

    config = write_basic_config(mixed_precision="no", save_location=tmp_path / "accelerate.json")

    def run(script: str | Path, num_processes: int, *args) -> subprocess.CompletedProcess:
        # `script`: a recipe's name in scripts/, or an absolute path
        command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config,
                   "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                   "--main_process_port", _free_port(), "--num_processes", num_processes,
                   *(["--multi_gpu"] if num_processes > 1 else []), ROOT / "scripts" / script, *args]
        environment = os.environ | {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
        result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=600,
                                env=environment)
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        return result

    return run
