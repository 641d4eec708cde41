"""`scripts/train_codec.py` under `accelerate launch` with two CPU processes (gloo): one model trained on different
data per process, with gradient accumulation, bf16 and the adversarial phase, and a checkpoint that one process
resumes. `rank_probe.py` records each process's batches and final weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PROBE = Path(__file__).resolve().parent / "rank_probe.py"
ROOT = Path(__file__).resolve().parents[2]
TINY = ["--sampling_rate", "8000", "--num_filters", "4", "--upsampling_ratios", "4", "2", "--hidden_size", "8",
        "--vocoder", "--vocoder_dim", "16", "--vocoder_intermediate_dim", "32", "--vocoder_layers", "1",
        "--segment_seconds", "0.25", "--train_batch_size", "1", "--num_validation_clips", "1",
        "--checkpointing_steps", "2", "--validation_steps", "100", "--lr_warmup_steps", "10", "--seed", "0",
        "--adversarial_start_step", "1"]


def ranks(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("rank*.json"))]


@pytest.mark.slow
def test_two_processes_train_one_codec_and_one_process_resumes(tiny_corpus, tmp_path, launch):
    output, recipe = tmp_path / "codec", ROOT / "scripts" / "train_codec.py"
    common = ["--manifest", tiny_corpus, "--output_dir", output, *TINY]

    launch(PROBE, 2, tmp_path / "two", recipe, *common, "--max_train_steps", "3",
           "--gradient_accumulation_steps", "2", "--mixed_precision", "bf16")
    rank0, rank1 = ranks(tmp_path / "two")
    assert rank0["num_processes"] == rank1["num_processes"] == 2  # one process group, not two lone runs
    # micro-batches: 3 steps of 2 (an epoch's last batch also ends an accumulation, as accelerate does it)
    assert len(rank0["batches"]) == len(rank1["batches"]) >= 3
    assert not set(rank0["batches"]) & set(rank1["batches"])  # each process saw its own data
    assert rank0["weights_sha256"] == rank1["weights_sha256"]  # codec + vocoder, discriminators: the same models

    launch(PROBE, 1, tmp_path / "one", recipe, *common, "--max_train_steps", "5", "--resume_from_checkpoint",
           "latest")
    (resumed,) = ranks(tmp_path / "one")
    assert len(resumed["batches"]) == 2  # steps 4 and 5 only
    assert resumed["weights_sha256"] != rank0["weights_sha256"]
    log = [json.loads(line) for line in (output / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [3, 5]
    # the LR schedule (10 warmup steps) counts optimizer updates, whatever the number of processes
    assert log[0]["lr"] == pytest.approx(5e-4 * 3 / 10) and log[1]["lr"] == pytest.approx(5e-4 * 5 / 10)
