"""The regeneration recipe in smoke mode: corpus → codec → LDM under `accelerate launch`, then the export loads."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from latentdiff_edit import VoiceEditPipeline
from latentdiff_edit.testing import harmonic_tone

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is needed to synthesize the corpus")
def test_default_model_recipe_smoke(tmp_path):
    work, export = tmp_path / "work", tmp_path / "export"
    # ~3 min alone on 2 CPU cores, but over 10 min beside a background training process (measured): the timeout is
    # there to catch a hang, not to time the recipe
    subprocess.run([sys.executable, ROOT / "scripts" / "train_default_model.py", "--work_dir", work,
                    "--export_dir", export, "--smoke", "--vocoder_steps", "1"], check=True, timeout=1800)
    rows = [json.loads(x) for x in (work / "corpus" / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 24 and {"f0_median_hz", "f0_spread_st", "rate", "split"} <= set(rows[0])
    assert (work / "codec" / "checkpoints" / "checkpoint_0").is_dir()
    assert (work / "codec" / "codec" / "model.safetensors").is_file()
    assert (work / "codec" / "vocoder" / "diffusion_pytorch_model.safetensors").is_file()
    assert (work / "ldm" / "checkpoints" / "checkpoint_2").is_dir()
    assert (work / "ldm" / "train_log.csv").is_file() and (work / "ldm" / "train_log.png").is_file()
    log = [json.loads(x) for x in (work / "ldm" / "train_log.jsonl").read_text().splitlines()]
    assert "val_pitch_shift_st" in log[-1]

    pipe = VoiceEditPipeline.from_pretrained(export)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.vocoder is not None and pipe.vocoder.config.hop_length == pipe.codec.config.hop_length
    names = pipe.schema.names
    assert names[:2] == ["f0", "energy"] and "intonation" in names and "style" in names
    # the v0.9 round added the envelope (content) condition to the LDM, with statistics per coefficient; the last
    # round's continuation keeps it
    assert names[-1] == "envelope" and len(pipe.schema.by_name["envelope"]["std"]) == 12
    # the export is the last continuation of the LDM (v0.13's octave-safe round on the last codec's latents): 1 step
    # on top of the eight previous continuations' 1 each + the LDM stage's 2, and no machine path in any config
    assert pipe.denoiser.config.training_info["steps"] == 1
    assert pipe.denoiser.config.training_info["total_steps"] == 11
    assert (work / "ldm_octave" / "DONE").is_file()
    frequencies = pipe.denoiser.config.frame_fourier_frequencies
    assert frequencies is not None and len(frequencies) == pipe.denoiser.config.frame_fourier_features
    assert (work / "ldm_continue" / "DONE").is_file() and (work / "ldm_continue_2" / "DONE").is_file()
    assert all((work / f"ldm_finetune_{i}" / "DONE").is_file() for i in (1, 2, 3, 4, 5))
    assert (work / "ldm_envelope" / "DONE").is_file()
    summary = json.loads((export / "training_summary.json").read_text())
    assert len(summary["ldm_continued"]) == 9
    assert list(summary["codec_finetune"]) == ["codec_gl", "codec_gl_decoder", "codec_gl_2", "codec_gl_3",
                                                "codec_gl_3_decoder", "codec_gl_4", "codec_gl_5",
                                                "codec_gl_5_decoder"]
    assert not any("_name_or_path" in json.loads(c.read_text()) for c in export.glob("*/config.json"))
    # the recipe's parameterization reaches both schedulers and the frame embedding
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    # the inverse scheduler is optional: when the folder has none, inversion derives it from this config
    assert pipe.denoiser.config.frame_fourier_features == 2
    # the vocoder stage trained the decoder alone on the codec stage's frozen encoder; the fine-tuning stages then
    # trained the encoder with a Griffin-Lim decoder (codec_gl), that decoder alone (codec_gl_decoder), then both again
    # (codec_gl_2, the second round) and again from those weights (codec_gl_3, the third), then that decoder alone
    # (codec_gl_3_decoder, a round without an LDM stage), then both together again (codec_gl_4, and once more in
    # codec_gl_5 after the LDM-only round ldm_envelope), and, after the LDM-only round ldm_octave, that decoder alone
    # (codec_gl_5_decoder, v0.14); the export ships the
    # last codec and vocoder, the vocoder in float16 on disk (diffusers loads float32), the codec in float32
    assert (work / "vocoder" / "DONE").is_file() and pipe.denoiser.has_timbre
    codecs = {name: load_file(work / name / "codec" / "model.safetensors")
              for name in ("codec", "vocoder", "codec_gl", "codec_gl_decoder", "codec_gl_2", "codec_gl_3",
                           "codec_gl_3_decoder", "codec_gl_4", "codec_gl_5", "codec_gl_5_decoder")}
    assert all(torch.equal(codecs["codec"][k], codecs["vocoder"][k]) for k in codecs["codec"])
    assert any(not torch.equal(codecs["vocoder"][k], codecs["codec_gl"][k]) for k in codecs["codec"])
    assert all(torch.equal(codecs["codec_gl"][k], codecs["codec_gl_decoder"][k]) for k in codecs["codec"])
    assert any(not torch.equal(codecs["codec_gl_decoder"][k], codecs["codec_gl_2"][k]) for k in codecs["codec"])
    assert any(not torch.equal(codecs["codec_gl_2"][k], codecs["codec_gl_3"][k]) for k in codecs["codec"])
    assert all(torch.equal(codecs["codec_gl_3"][k], codecs["codec_gl_3_decoder"][k]) for k in codecs["codec"])
    assert any(not torch.equal(codecs["codec_gl_3_decoder"][k], codecs["codec_gl_4"][k]) for k in codecs["codec"])
    assert any(not torch.equal(codecs["codec_gl_4"][k], codecs["codec_gl_5"][k]) for k in codecs["codec"])
    assert all(torch.equal(codecs["codec_gl_5"][k], codecs["codec_gl_5_decoder"][k]) for k in codecs["codec"])
    exported = load_file(export / "codec" / "model.safetensors")
    assert all(torch.equal(exported[k], codecs["codec_gl_5"][k]) for k in exported)
    assert pipe.vocoder.config.phase == "griffin_lim"
    shipped = load_file(export / "vocoder" / "diffusion_pytorch_model.safetensors")
    trained = load_file(work / "codec_gl_5_decoder" / "vocoder" / "diffusion_pytorch_model.safetensors")
    before = load_file(work / "codec_gl_5" / "vocoder" / "diffusion_pytorch_model.safetensors")
    assert any(not torch.equal(before[k], trained[k]) for k in trained)  # the last decoder round trained it
    assert all(v.dtype == torch.float16 for v in shipped.values() if v.is_floating_point())
    assert all(torch.equal(shipped[k], trained[k].half()) for k in trained if trained[k].is_floating_point())
    assert next(pipe.vocoder.parameters()).dtype == torch.float32
    assert next(pipe.denoiser.parameters()).dtype == torch.float32
    assert next(pipe.codec.parameters()).dtype == torch.float32
    out = pipe(audio=harmonic_tone(150.0, 0.5, 16000), sampling_rate=16000, pitch_shift=3.0, num_inference_steps=2)
    assert out.audios.shape == (1, 8000) and np.isfinite(out.audios).all()

    # a second run resumes: every stage is found done and nothing is retrained
    stamps = {stage: (work / stage / path).stat().st_mtime for stage, path in (
        ("ldm", "pipeline/denoiser/diffusion_pytorch_model.safetensors"),
        ("codec_gl_5_decoder", "vocoder/diffusion_pytorch_model.safetensors"),
        ("ldm_envelope", "pipeline/denoiser/diffusion_pytorch_model.safetensors"))}
    subprocess.run([sys.executable, ROOT / "scripts" / "train_default_model.py", "--work_dir", work,
                    "--export_dir", export, "--smoke", "--vocoder_steps", "1"], check=True, timeout=300)
    assert stamps == {stage: (work / stage / path).stat().st_mtime for stage, path in (
        ("ldm", "pipeline/denoiser/diffusion_pytorch_model.safetensors"),
        ("codec_gl_5_decoder", "vocoder/diffusion_pytorch_model.safetensors"),
        ("ldm_envelope", "pipeline/denoiser/diffusion_pytorch_model.safetensors"))}
