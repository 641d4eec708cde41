#!/usr/bin/env bash
# v0.11 candidate: v0.10's Griffin-Lim decoder alone on its frozen encoder (the latents, so the denoiser, stay
# v0.10's), cosine from 2e-4 over 6,000 steps on 1 thread, as v0.7.1's round (codec_gl3_dec).
cd "$(dirname "$0")/../../.."  # the repository root; outputs in runs/codec_dec8
OMP_NUM_THREADS=1 python -m accelerate.commands.launch --num_processes 1 --num_machines 1 --mixed_precision no \
  --dynamo_backend no --cpu scripts/train_codec.py --manifest data/corpus/manifest.jsonl --output_dir runs/codec_dec8 \
  --init_from latentdiff_edit/default_model --freeze_encoder --vocoder --phase griffin_lim --learning_rate 2e-4 \
  --lr_scheduler cosine --lr_warmup_steps 100 --max_train_steps 6000 --train_batch_size 8 --segment_seconds 1.0 \
  --validation_steps 1000 --checkpointing_steps 500 --num_validation_clips 8 --num_threads 1 \
  --resume_from_checkpoint latest
