#!/usr/bin/env python
"""Train an `InversionEncoder` (amortized inversion) on DDIM-inversion pairs of a pipeline's denoiser.

    accelerate launch scripts/train_inversion_encoder.py --pipeline latentdiff_edit/default_model \
        --manifest data/corpus/manifest.jsonl --output_dir runs/inversion_encoder \
        --num_inference_steps 25 --inversion_depth 1.0 --max_train_steps 5000 --resume_from_checkpoint latest

Steps: (1) the teacher: DDIM-invert every manifest clip with the pipeline (each process its share, cached in
OUTPUT_DIR/pairs.pt, so a restart does not invert again), keeping the clean latents, the frame attributes and the
inverted latents; (2) train the encoder on random crops with a masked MSE to the teacher's latents, checkpointing
with `accelerator.save_state` (resumable with `--resume_from_checkpoint latest`); (3) save the encoder as
`OUTPUT_DIR/inversion_encoder` and, with `--save_pipeline`, the pipeline with the encoder as
`OUTPUT_DIR/pipeline` (then `invert(method="encoder")` works after `from_pretrained`). Validation: the latent SNR
of the encoder's prediction against the teacher on held-out pairs.
"""

import argparse
import json
import logging
import math
import re
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator, PartialState
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from tqdm.auto import tqdm

from latentdiff_edit import VoiceEditPipeline
from latentdiff_edit.inversion import InversionEncoder, frame_condition_tensor, inversion_signal_scale
from latentdiff_edit.training import load_clip, read_manifest

logger = get_logger(__name__)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pipeline", type=str, required=True, help="VoiceEditPipeline folder (the teacher).")
    p.add_argument("--manifest", type=Path, required=True, help="CSV/JSONL manifest with a `path` column.")
    p.add_argument("--output_dir", type=Path, required=True)
    p.add_argument("--split", default="train", help="Manifest split to train on (all rows if there is no split).")
    p.add_argument("--max_clips", type=int, default=None, help="Use only the first N clips.")
    p.add_argument("--max_seconds", type=float, default=10.0, help="Longer clips are skipped.")
    p.add_argument("--num_validation_clips", type=int, default=2, help="Pairs held out for validation.")
    p.add_argument("--num_inference_steps", type=int, default=25, help="DDIM steps of the teacher inversions.")
    p.add_argument("--inversion_depth", type=float, default=1.0)
    p.add_argument("--hidden_channels", type=int, default=128)
    p.add_argument("--num_layers", type=int, default=8)
    p.add_argument("--segment_frames", type=int, default=256, help="Training crop length in latent frames.")
    p.add_argument("--train_batch_size", type=int, default=8)
    p.add_argument("--learning_rate", type=float, default=1e-3)
    p.add_argument("--max_train_steps", type=int, default=5000)
    p.add_argument("--checkpointing_steps", type=int, default=500)
    p.add_argument("--validation_steps", type=int, default=500)
    p.add_argument("--resume_from_checkpoint", type=str, default=None, help='A checkpoint folder or "latest".')
    p.add_argument("--save_pipeline", action="store_true", help="Also save the pipeline with the encoder.")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


# ----------------------------------------------------------------------------------------------------------------
# 1. Teacher pairs


@torch.no_grad()
def make_pairs(pipe: VoiceEditPipeline, rows: list[dict], args, cache_path: Path, state: PartialState) -> list[dict]:
    """Each process inverts its share; the main process merges. Items: clean latents `(C, T)`, frame conditions
    `(K, T)`, inverted latents `(C, T)`."""
    if cache_path.is_file():
        return torch.load(cache_path, weights_only=True)
    items = []
    with state.split_between_processes(list(range(len(rows)))) as indices:
        for i in tqdm(indices, desc="teacher inversions", disable=not state.is_main_process):
            try:
                clip = load_clip(rows[i]["path"], pipe.sampling_rate, max_seconds=args.max_seconds)
            except ValueError as e:
                logger.warning(f"skipping {rows[i]['path']}: {e}", main_process_only=False)
                continue
            inversion = pipe.invert(clip, pipe.sampling_rate, num_inference_steps=args.num_inference_steps,
                                    inversion_depth=args.inversion_depth, window_seconds=None)
            frames = inversion.source_latents.shape[-1]
            conditions = frame_condition_tensor(pipe, inversion.source_attributes, frames)
            items.append({"index": i, "latents": inversion.source_latents[0].cpu(),
                          "conditions": conditions[0].cpu(), "inverted": inversion.latents[0].cpu()})
    part = cache_path.with_suffix(f".part{state.process_index}")
    torch.save(items, part)
    state.wait_for_everyone()
    if state.is_main_process:
        merged = []
        for k in range(state.num_processes):
            merged += torch.load(cache_path.with_suffix(f".part{k}"), weights_only=True)
            cache_path.with_suffix(f".part{k}").unlink()
        torch.save(sorted(merged, key=lambda item: item["index"]), cache_path)
    state.wait_for_everyone()
    return torch.load(cache_path, weights_only=True)


def make_batch(items: list[dict], segment: int, batch_size: int, rng: np.random.Generator):
    """Random crops (zero-padded past short clips): latents, conditions, targets `(B, ·, segment)`, mask `(B, segment)`."""
    chosen = [items[j] for j in rng.integers(0, len(items), batch_size)]
    channels, cond_channels = chosen[0]["latents"].shape[0], chosen[0]["conditions"].shape[0]
    latents = torch.zeros(batch_size, channels, segment)
    conditions = torch.zeros(batch_size, cond_channels, segment)
    targets = torch.zeros(batch_size, channels, segment)
    mask = torch.zeros(batch_size, segment, dtype=torch.bool)
    for b, item in enumerate(chosen):
        frames = item["latents"].shape[-1]
        start = int(rng.integers(0, max(frames - segment, 0) + 1))
        length = min(segment, frames - start)
        latents[b, :, :length] = item["latents"][:, start : start + length].float()
        conditions[b, :, :length] = item["conditions"][:, start : start + length].float()
        targets[b, :, :length] = item["inverted"][:, start : start + length].float()
        mask[b, :length] = True
    return latents, conditions, targets, mask


def masked_mse(prediction, target, mask):
    weight = mask[:, None].to(prediction.dtype)
    return ((prediction - target) * weight).pow(2).sum() / (weight.sum() * prediction.shape[1]).clamp_min(1)


@torch.no_grad()
def validation_snr(encoder, items: list[dict], device) -> float:
    """Mean latent SNR (dB) of the encoder's prediction against the teacher's inverted latents."""
    values = []
    for item in items:
        prediction = encoder(item["latents"][None].float().to(device), item["conditions"][None].float().to(device))
        target = item["inverted"].float().to(device)
        error = (prediction.sample[0] - target).pow(2).sum().clamp_min(1e-20)
        values.append(float(10 * torch.log10(target.pow(2).sum() / error)))
    return float(np.mean(values))


def _checkpoint_step(path: Path) -> int:
    return int(re.findall(r"(\d+)$", path.name)[0])


def _latest_checkpoint(output_dir: Path) -> Path | None:
    checkpoints = [p for p in (output_dir / "checkpoints").glob("checkpoint*") if re.search(r"\d+$", p.name)]
    return max(checkpoints, key=_checkpoint_step, default=None)


def main(argv=None):
    args = parse_args(argv)
    accelerator = Accelerator(project_config=ProjectConfiguration(project_dir=str(args.output_dir)),
                              cpu=not torch.cuda.is_available())
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    set_seed(args.seed)
    args.output_dir.mkdir(parents=True, exist_ok=True)

    # 1. Teacher pairs (cached)
    pipe = VoiceEditPipeline.from_pretrained(args.pipeline).to(accelerator.device)
    pipe.set_progress_bar_config(disable=True)
    rows = read_manifest(args.manifest, split=args.split)[: args.max_clips]
    if not rows:
        raise ValueError(f"no clips in {args.manifest} (split {args.split!r})")
    items = make_pairs(pipe, rows, args, args.output_dir / "pairs.pt", PartialState())
    if len(items) < 2:
        raise ValueError(f"need at least 2 usable clips, got {len(items)}")
    num_validation = min(args.num_validation_clips, len(items) - 1)
    train_items, val_items = items[num_validation:], items[:num_validation]
    logger.info(f"{len(train_items)} training pairs, {len(val_items)} validation pairs")

    # 2. Model, optimizer, resume
    encoder = InversionEncoder(
        latent_channels=pipe.denoiser.config.latent_channels, condition_channels=items[0]["conditions"].shape[0],
        hidden_channels=args.hidden_channels, num_layers=args.num_layers,
        num_inference_steps=args.num_inference_steps, inversion_depth=args.inversion_depth,
        signal_scale=inversion_signal_scale(pipe.scheduler, args.num_inference_steps, args.inversion_depth),
    )
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=args.learning_rate, weight_decay=0.01)
    lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * step / args.max_train_steps)))
    encoder, optimizer, lr_scheduler = accelerator.prepare(encoder, optimizer, lr_scheduler)
    global_step, log_path = 0, args.output_dir / "train_log.jsonl"
    if args.resume_from_checkpoint:
        checkpoint = _latest_checkpoint(args.output_dir) if args.resume_from_checkpoint == "latest" else \
            Path(args.resume_from_checkpoint)
        if checkpoint is not None:
            accelerator.load_state(str(checkpoint))
            global_step = _checkpoint_step(checkpoint)
            logger.info(f"resumed from {checkpoint} at step {global_step}")
    rng = np.random.default_rng(args.seed + global_step + 1000 * accelerator.process_index)

    # 3. Training loop
    encoder.train()
    progress = tqdm(total=args.max_train_steps, initial=global_step, desc="encoder",
                    disable=not accelerator.is_main_process)
    start, running = time.time(), []
    while global_step < args.max_train_steps:
        latents, conditions, targets, mask = (x.to(accelerator.device) for x in
                                              make_batch(train_items, args.segment_frames, args.train_batch_size, rng))
        prediction = encoder(latents, conditions, mask).sample  # (B, C, T)
        loss = masked_mse(prediction, targets, mask)
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(encoder.parameters(), 1.0)
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        global_step += 1
        running.append(loss.item())
        progress.update()
        if global_step % args.checkpointing_steps == 0 or global_step == args.max_train_steps:
            accelerator.save_state(str(args.output_dir / "checkpoints" / f"checkpoint-{global_step}"))
            if accelerator.is_main_process:  # keep the last three
                for old in sorted((args.output_dir / "checkpoints").glob("checkpoint-*"), key=_checkpoint_step)[:-3]:
                    shutil.rmtree(old)
        if accelerator.is_main_process and (global_step % args.validation_steps == 0
                                            or global_step == args.max_train_steps):
            model = accelerator.unwrap_model(encoder).eval()
            row = {"step": global_step, "loss": float(np.mean(running)), "lr": lr_scheduler.get_last_lr()[0],
                   "val_latent_snr_db": validation_snr(model, val_items, accelerator.device),
                   "seconds": round(time.time() - start, 1)}
            model.train()
            running = []
            with open(log_path, "a") as f:
                f.write(json.dumps(row) + "\n")
            logger.info(json.dumps(row))

    # 4. Save
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        model = accelerator.unwrap_model(encoder).eval()
        model.register_to_config(training_info={
            "recipe": "scripts/train_inversion_encoder.py", "teacher": Path(args.pipeline).name,
            "manifest": "/".join(Path(args.manifest).parts[-2:]), "train_pairs": len(train_items),
            "steps": global_step,
        })
        model.save_pretrained(args.output_dir / "inversion_encoder")
        if args.save_pipeline:
            components = {**pipe.components, "inversion_encoder": model}
            VoiceEditPipeline(**components).save_pretrained(args.output_dir / "pipeline")
        logger.info(f"saved {args.output_dir / 'inversion_encoder'}")
    accelerator.end_training()


if __name__ == "__main__":
    main()
