"""The inversion-encoder recipe under `accelerate launch`: teacher pairs, a few steps, checkpoints, resume, and a
pipeline folder whose `invert(method="encoder")` works after `from_pretrained`."""

import json

import torch

from latentdiff_edit import VoiceEditPipeline
from latentdiff_edit.inversion import InversionEncoder
from latentdiff_edit.testing import harmonic_tone, tiny_components

SR = 8000


def test_encoder_recipe_trains_saves_and_loads(tmp_path, tiny_corpus, launch):
    teacher = tmp_path / "teacher"
    VoiceEditPipeline(**tiny_components()).save_pretrained(teacher)
    out = tmp_path / "run"
    common = ["--pipeline", teacher, "--manifest", tiny_corpus, "--output_dir", out, "--num_inference_steps", "4",
              "--hidden_channels", "16", "--num_layers", "2", "--segment_frames", "64", "--train_batch_size", "2",
              "--checkpointing_steps", "2", "--validation_steps", "2", "--num_validation_clips", "1"]
    launch("train_inversion_encoder.py", 1, *common, "--max_train_steps", "2")
    assert (out / "pairs.pt").is_file() and (out / "checkpoints" / "checkpoint-2").is_dir()
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 2 and "val_latent_snr_db" in log[-1]

    # resumes from the checkpoint: two more steps, not four
    launch("train_inversion_encoder.py", 1, *common, "--max_train_steps", "4", "--resume_from_checkpoint", "latest",
           "--save_pipeline")
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [2, 4]

    encoder = InversionEncoder.from_pretrained(out / "inversion_encoder")
    assert encoder.config.training_info["steps"] == 4 and encoder.config.num_inference_steps == 4
    pipe = VoiceEditPipeline.from_pretrained(out / "pipeline")
    pipe.set_progress_bar_config(disable=True)
    assert isinstance(pipe.inversion_encoder, InversionEncoder)
    torch.testing.assert_close(pipe.inversion_encoder.output_proj.weight, encoder.output_proj.weight)
    audio = harmonic_tone(150.0, 0.5, SR)
    inversion = pipe.invert(audio, SR, num_inference_steps=4, method="encoder")
    teacher_inversion = pipe.invert(audio, SR, num_inference_steps=4)
    assert inversion.latents.shape == teacher_inversion.latents.shape and inversion.method == "encoder"
    assert torch.isfinite(inversion.latents).all()
    out_audio = pipe(inversion=inversion, output_type="np").audios
    assert out_audio.shape == (1, len(audio))
