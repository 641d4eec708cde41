#!/usr/bin/env python
"""Regenerate the shipped default model from nothing: corpus → codec → (vocoder) → latent diffusion → export.

    python scripts/train_default_model.py --work_dir runs/real                       # the shipped model
    python scripts/train_default_model.py --work_dir runs/v01 --recipe synthetic     # v0.1 (synthetic voices)
    python scripts/train_default_model.py --work_dir /tmp/smoke --smoke              # a few clips and steps (CI)

`--recipe real-speech` (the default; the shipped model): real recordings + natural TTS voices + augmentation; the
EnCodec encoder trained jointly with a Vocos decoder on regression losses (`codec` stage), then the decoder alone on
the frozen encoder against the `vocos` multi-resolution discriminator (`vocoder` stage: the latent space stays the
one the LDM is trained on, so the two can also run side by side), then the LDM with a timbre condition on those
latents (`ldm` stage), continued from its weights for more steps (`ldm_continue`). Then fine-tuning rounds
(`finetune_rounds`), each continuing the codec from the last one's weights and then the LDM on its latents: v0.5
fine-tunes the encoder with a Griffin-Lim decoder and trains that decoder alone (`codec_gl`, `codec_gl_decoder`,
`ldm_finetune_1`); v0.6 continues encoder and decoder together (`codec_gl_2`, `ldm_finetune_2`), and v0.7 again
with an annealed learning rate (`codec_gl_3`, `ldm_finetune_3`); v0.7.1 trains that decoder alone once more on the
frozen encoder (`codec_gl_3_decoder`: the latents, so the LDM, stay v0.7's); v0.8 continues encoder and decoder
together from there (`codec_gl_4`) and the LDM on their latents (`ldm_finetune_4`); v0.9 adds the content condition
to that LDM (`ldm_envelope`: the source's spectral envelope as a frame attribute, on the same latents, so no codec
stage); v0.10 repeats v0.8's round from there (`codec_gl_5`, `ldm_finetune_5`); v0.13 gives that denoiser octave-safe
Fourier frequencies of its frame condition and lets it relearn them (`ldm_octave`, no codec stage); v0.14 trains
v0.10's decoder alone once more on its frozen encoder (`codec_gl_5_decoder`, no LDM stage: the latents, so v0.13's
denoiser, stay). `--init_codec DIR` starts the codec stage from saved weights (v0.2 started from v0.1's encoder: `git show v0.1` of `latentdiff_edit/default_model`).
`--recipe synthetic` regenerates v0.1 (synthetic voices, SEANet codec).

Each stage is the public recipe run with `accelerate launch` (so `--num_processes`/GPUs apply), and a stage whose
output exists is skipped, so an interrupted run continues where it stopped (training stages resume from their latest
checkpoint); raise a stage's `--max_train_steps` and run again to train it longer. The export copies the trained
pipeline to `--export_dir` (default: the package's `default_model/`), stores the denoiser and the vocoder in float16
(the folder stays under 25 MB; diffusers loads them back in float32) and writes its model card.
"""

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
# v0.2 ships the codec stage's vocoder: 250 steps of the vocoder stage (frozen encoder, resolution discriminator,
# 8.6 s per step on one CPU core) lowered validation PESQ 1.58 -> 1.49 and STOI 0.855 -> 0.845 while the mel loss
# fell; a GAN needs far more steps than a CPU session has. On a GPU, run it with --vocoder_steps 20000 or more.
VOCODER_STEPS = 0

RECIPE = {
    "corpus": ["--num_clips", "10000", "--seed", "0"],
    # The shipped codec ran 2,200 steps without the adversarial phase (the CPU session's budget); with time to
    # spare, add "--adversarial_start_step", "2000" and raise the steps (see the model card's figures).
    "codec": ["--num_filters", "16", "--upsampling_ratios", "4", "4", "4", "2", "--hidden_size", "64",
              "--max_train_steps", "2200", "--validation_steps", "500", "--checkpointing_steps", "500",
              "--num_validation_clips", "6", "--train_batch_size", "16"],
    # v-prediction, Fourier features of the F0 contour and logit-normal timesteps centred at high noise: the
    # epsilon model of the first session never learned to take pitch from the contour (see the model card).
    "ldm": ["--max_train_steps", "15000", "--validation_steps", "1000", "--checkpointing_steps", "500",
            "--num_validation_clips", "6", "--prediction_type", "v_prediction", "--frame_fourier_features", "5",
            "--timestep_sampling", "logit_normal", "--logit_mean", "0.4", "--logit_std", "1.0"],
}
V06_CODEC_STEPS = 9714  # where the shipped run's 62-minute budget (--max_train_minutes 62) stopped it
V06_LDM_STEPS = 2000
V07_CODEC_STEPS = 12000  # a cosine schedule run to its end (85 min on 2 CPU threads)
V07_LDM_STEPS = 4000
V071_DECODER_STEPS = 6000  # the decoder alone on v0.7's frozen encoder, cosine from 2e-4 (67 min on 1 CPU thread)
V08_CODEC_STEPS = 12000  # encoder and decoder together from v0.7.1's, cosine from 2e-4 (154 min on 1 CPU thread)
V08_LDM_STEPS = 4000
# v0.9: the LDM conditioned on the source's spectral envelope too (`envelope`, added zero-initialized to v0.8's
# denoiser), 1,500 steps at a constant lr 1e-4 (EMA 0.995) on v0.8's latents
V09_LDM_STEPS = 1500
# v0.10: encoder and decoder continued together once more from v0.8's (cosine from 2e-4, validation PESQ 3.50 -> 3.55;
# 105 min on 1 CPU thread), then v0.9's denoiser (with the envelope) on those latents
V010_CODEC_STEPS = 12000
V010_LDM_STEPS = 4000
V013_LDM_STEPS = 6000
# v0.14: v0.10's decoder alone on its frozen encoder, cosine from 2e-4 (53 min on 1 CPU thread; validation PESQ level at
# 3.55, LibriVox codec WER 0.118 -> 0.089)
V014_DECODER_STEPS = 6000
CODEC_FINETUNE = ["--vocoder", "--phase", "griffin_lim", "--train_batch_size", "8", "--segment_seconds", "1.0",
                  "--validation_steps", "1000", "--checkpointing_steps", "500", "--num_validation_clips", "8"]
LDM_FINETUNE = ["--validation_steps", "1000", "--checkpointing_steps", "500", "--num_validation_clips", "6",
                "--prediction_type", "v_prediction", "--timestep_sampling", "logit_normal", "--logit_mean", "0.4",
                "--logit_std", "1.0"]
REAL_SPEECH = {
    # ~13.3 h: 3.1 h real (five Asterisk prompt sets), 6.9 h natural TTS (19 voices), 1.5 h labeled espeak/flite;
    # half of the real/TTS training clips get an augmented copy (rooms, EQ, noise, MP3, gain, pitch/formant); and
    # 1.9 h of 15 low voices derived from the real speakers (PSOLA + formants to median F0 75/95/120 Hz): the real
    # speakers are all at 166-217 Hz, and v0.2 (trained without them) sent low male voices an octave up
    "corpus": ["--sources", "asterisk", "rhvoice", "pico", "mbrola", "piper", "synthetic", "--num_tts_clips", "5000",
               "--num_clips", "1500", "--augment_fraction", "0.5", "--derived_voices", "75", "95", "120",
               "--seed", "0"],
    # v0.2: 3,500 joint steps (the real-speech gate beat v0.1's codec on every LibriVox figure there), ~2 CPU-hours
    "codec": ["--vocoder", "--num_filters", "16", "--upsampling_ratios", "4", "4", "4", "2", "--hidden_size", "64",
              "--max_train_steps", "3500", "--learning_rate", "3e-4", "--lr_warmup_steps", "300",
              "--train_batch_size", "8", "--segment_seconds", "1.0", "--validation_steps", "500",
              "--checkpointing_steps", "250", "--num_validation_clips", "8"],
    # (skipped unless --vocoder_steps > 0) the multi-period discriminator (42 M parameters) makes a CPU step ~40x
    # slower; the resolution one alone ~10x
    "vocoder": ["--vocoder", "--freeze_encoder", "--discriminators", "mrd", "--mrd_weight", "1",
                "--adversarial_start_step", "0", "--learning_rate", "2e-4",
                "--lr_warmup_steps", "100", "--train_batch_size", "8", "--segment_seconds", "1.0",
                "--validation_steps", "250", "--checkpointing_steps", "250", "--num_validation_clips", "8"],
    "ldm": ["--max_train_steps", "8000", "--validation_steps", "1000", "--checkpointing_steps", "500",
            "--num_validation_clips", "6", "--prediction_type", "v_prediction", "--frame_fourier_features", "5",
            "--timestep_sampling", "logit_normal", "--logit_mean", "0.4", "--logit_std", "1.0",
            "--timbre_layers", "2", "--timbre_max_frames", "375"],
    # v0.3: the v0.2 LDM (the stage above, 8,000 steps on the corpus before the derived voices) continued on the
    # corpus with them at a lower peak learning rate. v0.3 is the EMA at step 2,000 of a run scheduled for 5,000
    # (its cosine had decayed to 1.4e-4 there); at step 6,000, with 62 Hz voices added at 3,000, -3 st edits of the
    # LibriVox reader went an octave up on 3 clips of 5 instead of 2, so the recipe stops at 2,000.
    # v0.4: v0.3 continued on the same corpus at a peak learning rate of 1e-4, stopped at step 4,000 of a cosine set
    # for 8,000 (gated with the 0.3.1 edit defaults, DDPM inversion for lowering edits and the voiced region: step
    # 4,000 lowered WER and octave jumps; step 8,000 raised WER again). Each continuation starts from the previous
    # stage's weights (`ldm_continue`, `ldm_continue_2`, ...).
    "ldm_continue": [
        ["--max_train_steps", "2000", "--lr_schedule_steps", "5000", "--learning_rate", "2e-4", "--lr_warmup_steps",
         "200",
         "--validation_steps", "1000", "--checkpointing_steps", "500", "--num_validation_clips", "6",
         "--prediction_type", "v_prediction", "--timestep_sampling", "logit_normal", "--logit_mean", "0.4",
         "--logit_std", "1.0"],
        ["--max_train_steps", "4000", "--lr_schedule_steps", "8000", "--learning_rate", "1e-4", "--lr_warmup_steps",
         "200",
         "--validation_steps", "4000", "--checkpointing_steps", "1000", "--num_validation_clips", "6",
         "--prediction_type", "v_prediction", "--timestep_sampling", "logit_normal", "--logit_mean", "0.4",
         "--logit_std", "1.0"],
    ],
    # v0.5: the Griffin-Lim decoder. The encoder fine-tuned from v0.4's weights together with a decoder that predicts
    # log-magnitudes (the backbone from v0.4's vocoder, a new head; constant lr 5e-4), 6,000 steps (~80 min on one
    # thread), then that decoder alone on the frozen encoder, 5,000 steps (~45 min); the LDM continued from v0.4's
    # denoiser on the new latents (renormalized: the fine-tuned encoder's latents are a new space, SNR ~1 dB against
    # v0.4's), 6,000 steps. (The shipped run's schedule: cosine set for 12,000 steps up to step 1,500, then resumed
    # with the 6,000-step one below after the machine restarted.)
    "finetune_rounds": [
        {"codec": [(name, [*CODEC_FINETUNE, "--learning_rate", "5e-4", *extra])
                   for name, extra in (("codec_gl", ["--max_train_steps", "6000", "--lr_warmup_steps", "200"]),
                                       ("codec_gl_decoder", ["--freeze_encoder", "--max_train_steps", "5000",
                                                             "--lr_warmup_steps", "100"]))],
         "ldm": [("ldm_finetune_1", ["--renormalize_latents", *LDM_FINETUNE, "--max_train_steps", "6000",
                                     "--learning_rate", "3e-4", "--lr_warmup_steps", "300"])]},
        # v0.6: the encoder and the Griffin-Lim decoder continued jointly from v0.5's weights at a lower constant lr
        # (3e-4), V06_CODEC_STEPS steps (62 min on 2 CPU threads), then the LDM continued on those latents (2,000 steps,
        # lr 2e-4, cosine to 2e-5)
        {"codec": [("codec_gl_2", [*CODEC_FINETUNE, "--learning_rate", "3e-4", "--lr_warmup_steps", "100",
                                   "--max_train_steps", str(V06_CODEC_STEPS)])],
         "ldm": [("ldm_finetune_2", ["--renormalize_latents", *LDM_FINETUNE, "--max_train_steps",
                                     str(V06_LDM_STEPS), "--learning_rate", "2e-4", "--lr_warmup_steps", "100"])]},
        # v0.7: both again from v0.6's weights, lr 3e-4 annealed by a cosine schedule over V07_CODEC_STEPS (validation
        # STOI 0.958 -> 0.969, PESQ 3.01 -> 3.31), then the LDM V07_LDM_STEPS steps on those latents
        {"codec": [("codec_gl_3", [*CODEC_FINETUNE, "--learning_rate", "3e-4", "--lr_scheduler", "cosine",
                                   "--lr_warmup_steps", "100", "--max_train_steps", str(V07_CODEC_STEPS)])],
         "ldm": [("ldm_finetune_3", ["--renormalize_latents", *LDM_FINETUNE, "--max_train_steps",
                                     str(V07_LDM_STEPS), "--learning_rate", "2e-4", "--lr_warmup_steps", "100"])]},
        # v0.7.1: the Griffin-Lim decoder alone on v0.7's frozen encoder (the latent space, so the LDM, stays), lr 2e-4
        # annealed by a cosine schedule over V071_DECODER_STEPS; no LDM stage
        {"codec": [("codec_gl_3_decoder", [*CODEC_FINETUNE, "--freeze_encoder", "--learning_rate", "2e-4",
                                           "--lr_scheduler", "cosine", "--lr_warmup_steps", "100",
                                           "--max_train_steps", str(V071_DECODER_STEPS)])],
         "ldm": []},
        # v0.8: encoder and decoder together again from v0.7.1's weights, lr 2e-4 annealed by a cosine schedule over
        # V08_CODEC_STEPS (validation PESQ 3.39 -> 3.50), then the LDM V08_LDM_STEPS steps on those latents
        {"codec": [("codec_gl_4", [*CODEC_FINETUNE, "--learning_rate", "2e-4", "--lr_scheduler", "cosine",
                                   "--lr_warmup_steps", "100", "--max_train_steps", str(V08_CODEC_STEPS)])],
         "ldm": [("ldm_finetune_4", ["--renormalize_latents", *LDM_FINETUNE, "--max_train_steps",
                                     str(V08_LDM_STEPS), "--learning_rate", "2e-4", "--lr_warmup_steps", "100"])]},
        # v0.9: the content condition: v0.8's denoiser gains the source's spectral envelope as a frame attribute
        # (zero-initialized, so training starts from v0.8's predictions) and learns it on v0.8's latents (no codec
        # stage: same latents), V09_LDM_STEPS at a constant lr 1e-4
        {"codec": [],
         "ldm": [("ldm_envelope", [*LDM_FINETUNE, "--frame_attributes", "f0", "energy", "envelope",
                                   "--max_train_steps", str(V09_LDM_STEPS), "--learning_rate", "1e-4",
                                   "--lr_scheduler", "constant_with_warmup", "--lr_warmup_steps", "50",
                                   "--ema_decay", "0.995"])]},
        # v0.10: the v0.8 round again from its weights (encoder and decoder together V010_CODEC_STEPS, cosine from
        # 2e-4), then v0.9's denoiser, envelope included, V010_LDM_STEPS on the new latents
        {"codec": [("codec_gl_5", [*CODEC_FINETUNE, "--learning_rate", "2e-4", "--lr_scheduler", "cosine",
                                   "--lr_warmup_steps", "100", "--max_train_steps", str(V010_CODEC_STEPS)])],
         "ldm": [("ldm_finetune_5", ["--renormalize_latents", *LDM_FINETUNE, "--max_train_steps",
                                     str(V010_LDM_STEPS), "--learning_rate", "2e-4", "--lr_warmup_steps", "100"])]},
        # v0.13: octave-safe Fourier frequencies of the frame condition (`octave_safe_frequencies`): v0.10's denoiser
        # relearns its frame embedding on v0.10's latents (no codec stage), V013_LDM_STEPS at lr 2e-4. (The shipped
        # run's first 2,000 steps ran under a cosine set for 4,000, which had decayed to 1.1e-4 there; it resumed
        # with the constant schedule below.)
        {"codec": [],
         "ldm": [("ldm_octave", [*LDM_FINETUNE, "--frame_fourier_frequencies", "octave_safe", "--max_train_steps",
                                 str(V013_LDM_STEPS), "--learning_rate", "2e-4", "--lr_scheduler",
                                 "constant_with_warmup", "--lr_warmup_steps", "100"])]},
        # v0.14: the Griffin-Lim decoder alone on v0.10's frozen encoder (as v0.7.1's round), V014_DECODER_STEPS with
        # lr 2e-4 annealed by a cosine schedule; no LDM stage (the export keeps ldm_octave's denoiser). (The shipped
        # run started from the shipped v0.10 folder, whose vocoder is stored in float16.)
        {"codec": [("codec_gl_5_decoder", [*CODEC_FINETUNE, "--freeze_encoder", "--learning_rate", "2e-4",
                                           "--lr_scheduler", "cosine", "--lr_warmup_steps", "100",
                                           "--max_train_steps", str(V014_DECODER_STEPS)])],
         "ldm": []},
    ],
}
SMOKE_CODEC_FINETUNE = ["--vocoder", "--phase", "griffin_lim", "--griffin_lim_iters", "4", "--max_train_steps", "1",
                        "--lr_warmup_steps", "0", "--validation_steps", "1", "--checkpointing_steps", "1",
                        "--num_validation_clips", "1", "--train_batch_size", "4", "--segment_seconds", "0.25"]
SMOKE_LDM_FINETUNE = ["--max_train_steps", "1", "--validation_steps", "1", "--checkpointing_steps", "1",
                      "--num_validation_clips", "1", "--validation_inference_steps", "2", "--segment_frames", "32",
                      "--train_batch_size", "4", "--prediction_type", "v_prediction"]
SMOKE = {
    "corpus": ["--num_clips", "24", "--seed", "0"],
    "codec": ["--vocoder", "--vocoder_dim", "16", "--vocoder_intermediate_dim", "32", "--vocoder_layers", "1",
              "--num_filters", "4", "--upsampling_ratios", "4", "2", "--hidden_size", "8", "--max_train_steps", "2",
              "--adversarial_start_step", "1", "--validation_steps", "2", "--checkpointing_steps", "2",
              "--num_validation_clips", "1", "--train_batch_size", "4", "--segment_seconds", "0.25"],
    "ldm": ["--max_train_steps", "2", "--validation_steps", "2", "--checkpointing_steps", "2",
            "--num_validation_clips", "1", "--validation_inference_steps", "2", "--hidden_size", "32",
            "--num_layers", "1", "--num_heads", "2", "--segment_frames", "32", "--train_batch_size", "4",
            "--prediction_type", "v_prediction", "--frame_fourier_features", "2", "--timbre_layers", "1",
            "--timbre_max_frames", "64"],
    "ldm_continue": [["--max_train_steps", "1", "--lr_schedule_steps", "2", "--validation_steps", "1",
                      "--checkpointing_steps", "1", "--num_validation_clips", "1", "--validation_inference_steps", "2",
                      "--segment_frames", "32", "--train_batch_size", "4", "--prediction_type", "v_prediction"]] * 2,
    "vocoder": ["--vocoder", "--freeze_encoder", "--discriminators", "mrd", "--mrd_weight", "1",
                "--adversarial_start_step", "0", "--validation_steps", "1",
                "--checkpointing_steps", "1", "--num_validation_clips", "1", "--train_batch_size", "4",
                "--segment_seconds", "0.25"],
    "finetune_rounds": [
        {"codec": [(name, [*SMOKE_CODEC_FINETUNE, *extra])
                   for name, extra in (("codec_gl", []), ("codec_gl_decoder", ["--freeze_encoder"]))],
         "ldm": [("ldm_finetune_1", ["--renormalize_latents", *SMOKE_LDM_FINETUNE])]},
        {"codec": [("codec_gl_2", SMOKE_CODEC_FINETUNE)],
         "ldm": [("ldm_finetune_2", ["--renormalize_latents", *SMOKE_LDM_FINETUNE])]},
        {"codec": [("codec_gl_3", [*SMOKE_CODEC_FINETUNE, "--lr_scheduler", "cosine"])],
         "ldm": [("ldm_finetune_3", ["--renormalize_latents", *SMOKE_LDM_FINETUNE])]},
        {"codec": [("codec_gl_3_decoder", [*SMOKE_CODEC_FINETUNE, "--freeze_encoder", "--lr_scheduler", "cosine"])],
         "ldm": []},
        {"codec": [("codec_gl_4", [*SMOKE_CODEC_FINETUNE, "--lr_scheduler", "cosine"])],
         "ldm": [("ldm_finetune_4", ["--renormalize_latents", *SMOKE_LDM_FINETUNE])]},
        {"codec": [],
         "ldm": [("ldm_envelope", [*SMOKE_LDM_FINETUNE, "--frame_attributes", "f0", "energy", "envelope",
                                   "--lr_scheduler", "constant_with_warmup"])]},
        {"codec": [("codec_gl_5", [*SMOKE_CODEC_FINETUNE, "--lr_scheduler", "cosine"])],
         "ldm": [("ldm_finetune_5", ["--renormalize_latents", *SMOKE_LDM_FINETUNE])]},
        {"codec": [],
         "ldm": [("ldm_octave", [*SMOKE_LDM_FINETUNE, "--frame_fourier_frequencies", "octave_safe",
                                 "--lr_scheduler", "constant_with_warmup"])]},
        {"codec": [("codec_gl_5_decoder", [*SMOKE_CODEC_FINETUNE, "--freeze_encoder", "--lr_scheduler", "cosine"])],
         "ldm": []},
    ],
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work_dir", type=Path, required=True)
    p.add_argument("--export_dir", type=Path, default=None)
    p.add_argument("--recipe", default="real-speech", choices=["real-speech", "synthetic"])
    p.add_argument("--init_codec", type=Path, default=None,
                   help="Start the codec stage from saved weights (a pipeline folder or a codec directory).")
    p.add_argument("--vocoder_steps", type=int, default=VOCODER_STEPS,
                   help=f"Steps of the vocoder stage (real-speech); 0 skips it (default {VOCODER_STEPS}).")
    p.add_argument("--smoke", action="store_true", help="Tiny corpus, models and step counts: checks the recipe.")
    p.add_argument("--num_processes", type=int, default=1)
    p.add_argument("--cpu", action="store_true", help="Train on CPU even where a GPU is present.")
    p.add_argument("--metrics", type=Path, default=None,
                   help="JSON of measured figures (codec round trip, edits, benchmark) for the model card.")
    return p.parse_args(argv)


def run(cmd):
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run(list(map(str, cmd)), check=True)


def main(argv=None):
    args = parse_args(argv)
    recipe = SMOKE if args.smoke else REAL_SPEECH if args.recipe == "real-speech" else RECIPE
    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(args.num_processes),
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    if args.cpu or args.smoke:
        launch.append("--cpu")

    corpus = work / "corpus"
    if not (corpus / "manifest.jsonl").is_file():
        run([sys.executable, SCRIPTS / "make_corpus.py", "--output_dir", corpus, *recipe["corpus"]])
    manifest = corpus / "manifest.jsonl"
    if not (work / "codec" / "codec" / "config.json").is_file() or not (work / "codec" / "DONE").is_file():
        init = ["--init_from", args.init_codec] if args.init_codec else []
        run([*launch, SCRIPTS / "train_codec.py", "--manifest", manifest, "--output_dir", work / "codec",
             "--resume_from_checkpoint", "latest", *init, *recipe["codec"]])
        (work / "codec" / "DONE").touch()
    decoder = work / "codec"  # where the LDM stage and the export take the vocoder from
    if "vocoder" in recipe and args.vocoder_steps > 0:
        decoder = work / "vocoder"
        if not (decoder / "DONE").is_file():
            run([*launch, SCRIPTS / "train_codec.py", "--manifest", manifest, "--output_dir", decoder,
                 "--init_from", work / "codec", "--resume_from_checkpoint", "latest", *recipe["vocoder"],
                 "--max_train_steps", args.vocoder_steps])
            (decoder / "DONE").touch()
    vocoder = ["--vocoder", decoder / "vocoder"] if "--vocoder" in recipe["codec"] else []
    if not (work / "ldm" / "DONE").is_file():
        run([*launch, SCRIPTS / "train_ldm.py", "--manifest", manifest, "--codec", work / "codec" / "codec", *vocoder,
             "--output_dir", work / "ldm", "--resume_from_checkpoint", "latest", *recipe["ldm"]])
        (work / "ldm" / "DONE").touch()
    ldm = work / "ldm"  # the LDM stage the export takes: the last continuation
    continued = []
    for i, stage_args in enumerate(recipe.get("ldm_continue", [])):  # more steps from the previous stage's weights
        stage = work / ("ldm_continue" if i == 0 else f"ldm_continue_{i + 1}")
        if not (stage / "DONE").is_file():
            run([*launch, SCRIPTS / "train_ldm.py", "--manifest", manifest, "--codec", work / "codec" / "codec",
                 *vocoder, "--output_dir", stage, "--cache_dir", work / "ldm" / "cache", "--init_denoiser",
                 ldm / "pipeline" / "denoiser", "--resume_from_checkpoint", "latest", *stage_args])
            (stage / "DONE").touch()
        ldm = stage
        continued.append(_last_validation(stage / "train_log.jsonl"))

    # Fine-tuning rounds (v0.5 on): each round continues the codec from the last one's weights (its stages in order:
    # the encoder with its decoder, or the decoder alone), then continues the LDM on that codec's latents (the first
    # LDM stage of a round renormalizes them: a fine-tuned encoder's latents are a new space); a round of decoder
    # stages alone has no LDM stage (its latents are the last LDM's)
    codec_dir = decoder  # the first codec stage's encoder with the newest of its decoders
    codec_stages = []
    for round_ in recipe.get("finetune_rounds", []):
        for name, stage_args in round_["codec"]:
            stage = work / name
            if not (stage / "DONE").is_file():
                run([*launch, SCRIPTS / "train_codec.py", "--manifest", manifest, "--output_dir", stage,
                     "--init_from", codec_dir, "--resume_from_checkpoint", "latest", *stage_args])
                (stage / "DONE").touch()
            codec_dir = decoder = stage
            codec_stages.append(name)
        for name, stage_args in round_["ldm"]:
            stage = work / name
            if not (stage / "DONE").is_file():
                run([*launch, SCRIPTS / "train_ldm.py", "--manifest", manifest, "--codec", codec_dir / "codec",
                     "--vocoder", codec_dir / "vocoder", "--output_dir", stage, "--cache_dir", work / "ldm" / "cache",
                     "--init_denoiser", ldm / "pipeline" / "denoiser", "--resume_from_checkpoint", "latest",
                     *stage_args])
                (stage / "DONE").touch()
            ldm = stage
            continued.append(_last_validation(stage / "train_log.jsonl"))

    from latentdiff_edit.loading import DEFAULT_MODEL_DIR

    export = args.export_dir or DEFAULT_MODEL_DIR
    if export.exists():
        shutil.rmtree(export)
    shutil.copytree(ldm / "pipeline", export)
    if (decoder / "vocoder").is_dir():  # the LDM stage's vocoder, or the one the vocoder stage trained since
        shutil.rmtree(export / "vocoder", ignore_errors=True)
        shutil.copytree(decoder / "vocoder", export / "vocoder")
    half_precision(export)
    from latentdiff_edit.training import strip_local_paths

    strip_local_paths(export)
    card = {
        "recipe": f"python scripts/train_default_model.py --work_dir WORK --recipe {args.recipe}"
        + (" --smoke" if args.smoke else ""),
        "corpus": json.loads((corpus / "summary.json").read_text()),
        "codec_training": _last_validation(work / "codec" / "train_log.jsonl"),
        **({"vocoder_training": _last_validation(decoder / "train_log.jsonl")} if decoder != work / "codec" else {}),
        **({"codec_finetune": {name: _last_validation(work / name / "train_log.jsonl")
                               for name in codec_stages}} if codec_stages else {}),
        "ldm_training": _last_validation(work / "ldm" / "train_log.jsonl"),
        **({"ldm_continued": continued} if continued else {}),
    }
    (export / "training_summary.json").write_text(json.dumps(card, indent=2))
    from latentdiff_edit.apps.hub import write_model_card

    metrics = json.loads(args.metrics.read_text()) if args.metrics else None
    write_model_card(export, metrics=metrics, training=card)
    size = sum(f.stat().st_size for f in export.rglob("*") if f.is_file())
    print(f"exported {export} ({size / 1e6:.1f} MB)")


def half_precision(folder: Path) -> None:
    """Store the diffusers components (denoiser, vocoder) in float16: half the bytes, and `from_pretrained` loads them
    back in float32. The codec stays float32 (transformers would load a float16 file as float16)."""
    from safetensors.torch import load_file, save_file

    for name in ("denoiser", "vocoder"):
        for path in (folder / name).glob("*.safetensors"):
            weights = load_file(path)
            save_file({k: v.half() if v.is_floating_point() else v for k, v in weights.items()}, path,
                      metadata={"format": "pt"})


def _last_validation(log: Path) -> dict:
    if not log.is_file():
        return {}
    rows = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    validated = [r for r in rows if any(k.startswith("val_") for k in r)]
    return (validated or rows or [{}])[-1]


if __name__ == "__main__":
    main()
