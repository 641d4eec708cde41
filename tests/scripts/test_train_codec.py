"""`scripts/train_codec.py`: the EnCodec encoder with a Vocos decoder trains (regression and adversarial phases),
saves both components, resumes where it stopped with a log that spans the chunks, and continues from saved weights."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import EncodecModel

from latentdiff_edit.models import VocosVocoder

TINY = ["--sampling_rate", "8000", "--num_filters", "4", "--upsampling_ratios", "4", "2", "--hidden_size", "8",
        "--vocoder", "--vocoder_dim", "16", "--vocoder_intermediate_dim", "32", "--vocoder_layers", "1",
        "--segment_seconds", "0.25", "--train_batch_size", "2", "--num_validation_clips", "1",
        "--checkpointing_steps", "2", "--validation_steps", "2", "--lr_warmup_steps", "1", "--seed", "0"]


def _weights(folder):
    return {k: v.clone() for k, v in VocosVocoder.from_pretrained(folder).state_dict().items()}


@pytest.mark.slow
def test_codec_with_vocoder_trains_resumes_and_continues(tiny_corpus, tmp_path, launch):
    out = tmp_path / "run"
    launch("train_codec.py", 1, "--manifest", tiny_corpus, "--output_dir", out, *TINY, "--max_train_steps", "2",
           "--adversarial_start_step", "1")
    assert (out / "codec" / "model.safetensors").is_file()
    assert (out / "vocoder" / "diffusion_pytorch_model.safetensors").is_file()
    assert VocosVocoder.from_pretrained(out / "vocoder").config.hop_length == 8
    first = _weights(out / "vocoder")

    # a second chunk resumes at step 2 (optimizers, discriminators, schedule) and extends the same log
    result = launch("train_codec.py", 1, "--manifest", tiny_corpus, "--output_dir", out, *TINY,
                    "--max_train_steps", "4", "--adversarial_start_step", "1", "--resume_from_checkpoint", "latest")
    assert "at step 2" in result.stdout + result.stderr
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [2, 4]
    assert {"mel", "complex", "gen", "feat", "disc", "val_mel_l1"} <= set(log[-1])
    assert (out / "train_log.csv").is_file() and (out / "train_log.png").is_file()
    assert any(not torch.equal(first[k], v) for k, v in _weights(out / "vocoder").items())

    # --init_from continues from saved weights (here the run's own folder) without a checkpoint
    again = tmp_path / "again"
    launch("train_codec.py", 1, "--manifest", tiny_corpus, "--output_dir", again, "--init_from", out, *TINY,
           "--max_train_steps", "0")
    codec_a, codec_b = EncodecModel.from_pretrained(out / "codec"), EncodecModel.from_pretrained(again / "codec")
    assert all(torch.equal(a, b) for a, b in zip(codec_a.state_dict().values(), codec_b.state_dict().values()))
    assert all(torch.equal(_weights(out / "vocoder")[k], v) for k, v in _weights(again / "vocoder").items())


def test_frozen_encoder_trains_the_decoder_alone_against_the_resolution_discriminator(tiny_corpus, tmp_path, launch):
    start = tmp_path / "start"
    launch("train_codec.py", 1, "--manifest", tiny_corpus, "--output_dir", start, *TINY, "--max_train_steps", "0")
    out = tmp_path / "frozen"
    launch("train_codec.py", 1, "--manifest", tiny_corpus, "--output_dir", out, "--init_from", start, *TINY,
           "--freeze_encoder", "--discriminators", "mrd", "--mrd_weight", "1", "--adversarial_start_step", "0",
           "--max_train_steps", "2")
    # the latent space is the one an LDM was trained on: the encoder is bit-identical, the decoder moved
    codec_a, codec_b = EncodecModel.from_pretrained(start / "codec"), EncodecModel.from_pretrained(out / "codec")
    assert all(torch.equal(a, b) for a, b in zip(codec_a.state_dict().values(), codec_b.state_dict().values()))
    assert any(not torch.equal(_weights(start / "vocoder")[k], v) for k, v in _weights(out / "vocoder").items())
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert {"gen", "feat", "disc"} <= set(log[-1])


def test_griffin_lim_vocoder_trains_on_magnitudes_from_a_learned_vocoders_backbone(tiny_corpus, tmp_path, launch):
    start = tmp_path / "start"
    launch("train_codec.py", 1, "--manifest", tiny_corpus, "--output_dir", start, *TINY, "--max_train_steps", "0")
    out = tmp_path / "gl"
    result = launch("train_codec.py", 1, "--manifest", tiny_corpus, "--output_dir", out, "--init_from", start, *TINY,
                    "--phase", "griffin_lim", "--griffin_lim_iters", "8", "--max_train_steps", "2")
    assert "new griffin_lim head" in result.stdout + result.stderr
    vocoder = VocosVocoder.from_pretrained(out / "vocoder")
    assert vocoder.config.phase == "griffin_lim" and vocoder.config.griffin_lim_iters == 8
    # the backbone started from the saved (learned-phase) vocoder's and trained on
    learned = VocosVocoder.from_pretrained(start / "vocoder")
    assert set(vocoder.backbone.state_dict()) == set(learned.backbone.state_dict())
    assert any(not torch.equal(learned.backbone.state_dict()[k], v) for k, v in vocoder.backbone.state_dict().items())
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert {"log_magnitude", "spectral_convergence", "val_mel_l1"} <= set(log[-1]) and "mel" not in log[-1]


def test_griffin_lim_vocoder_refuses_the_adversarial_phase(tiny_corpus, tmp_path):
    script = Path(__file__).resolve().parents[2] / "scripts" / "train_codec.py"
    result = subprocess.run([sys.executable, script, "--manifest", tiny_corpus, "--output_dir", tmp_path / "x", *TINY,
                             "--phase", "griffin_lim", "--adversarial_start_step", "0", "--max_train_steps", "1"],
                            capture_output=True, text=True, timeout=300, env=os.environ | {"CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode != 0 and "discriminators need a differentiable waveform" in result.stderr


def test_a_time_boxed_chunk_stops_saves_and_resumes(tiny_corpus, tmp_path, launch):
    out = tmp_path / "boxed"
    result = launch("train_codec.py", 1, "--manifest", tiny_corpus, "--output_dir", out, *TINY,
                    "--max_train_steps", "50", "--max_train_minutes", "0")
    assert "--max_train_minutes 0.0 reached at step 1" in result.stdout + result.stderr
    assert (out / "vocoder" / "config.json").is_file()
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [1] and "val_mel_l1" in log[-1]
    result = launch("train_codec.py", 1, "--manifest", tiny_corpus, "--output_dir", out, *TINY,
                    "--max_train_steps", "3", "--resume_from_checkpoint", "latest")
    assert "at step 1" in result.stdout + result.stderr
    assert [json.loads(x)["step"] for x in (out / "train_log.jsonl").read_text().splitlines()] == [1, 3]


@pytest.mark.parametrize("script", ["train_codec.py", "train_ldm.py"])
def test_a_new_run_refuses_an_old_runs_checkpoints(tmp_path, script):
    # the old run's checkpoint numbering would collide at the new run's first save, hours in: refused at the start
    out = tmp_path / "run"
    (out / "checkpoints" / "checkpoint_0").mkdir(parents=True)
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, root / "scripts" / script, "--manifest", tmp_path / "none.jsonl",
                             "--output_dir", out, *(["--codec", tmp_path / "codec"] if script == "train_ldm.py" else [])],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "already holds checkpoints" in result.stderr and "--resume_from_checkpoint latest" in result.stderr
    assert (out / "checkpoints" / "checkpoint_0").is_dir()


def test_oversample_weights_the_training_mix_toward_a_kind(tiny_corpus, tmp_path, launch):
    rows = [json.loads(x) for x in Path(tiny_corpus).read_text().splitlines()]
    for i, row in enumerate(rows):
        row["path"] = str(Path(tiny_corpus).parent / row["path"])
        row["kind"] = "real" if i < 2 else "tts"  # two of the six training clips are "real"
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = launch("train_codec.py", 1, "--manifest", manifest, "--output_dir", tmp_path / "run", *TINY,
                    "--oversample", "real=3", "--max_train_steps", "1")
    assert "10 training clips" in result.stdout + result.stderr  # 2 × 3 real + 4 tts
    script = Path(__file__).resolve().parents[2] / "scripts" / "train_codec.py"
    bad = subprocess.run([sys.executable, script, "--manifest", manifest, "--output_dir", tmp_path / "bad", *TINY,
                          "--oversample", "studio=2", "--max_train_steps", "1"], capture_output=True, text=True)
    assert bad.returncode != 0 and "no row has kind in ['studio']" in bad.stderr
