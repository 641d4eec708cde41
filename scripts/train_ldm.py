#!/usr/bin/env python
"""Train the attribute-conditioned latent diffusion model over a codec's continuous latents.

    accelerate launch scripts/train_ldm.py --manifest data/corpus/manifest.jsonl --codec runs/codec/codec \
        --output_dir runs/ldm --max_train_steps 20000 \
        --frame_attributes f0 energy --continuous_attributes intonation=f0_spread_st rate=rate \
        --categorical_attributes style

Any manifest works (CSV/JSONL: `path` + attribute columns, optional `split`): the attribute schema saved with the
model comes from the manifest. Steps: (1) encode the corpus once into cached latents and F0/energy contours, (2)
compute latent statistics and the schema, (3) train the denoiser with per-attribute condition dropout, EMA and
gradient clipping, validating on the real measure of an edit (invert validation clips, shift pitch by +3 st,
measure the achieved shift), (4) save the whole pipeline with `save_pretrained`.
"""

import argparse
import copy
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator, PartialState
from accelerate.logging import get_logger
from accelerate.utils import set_seed
from diffusers import DDIMInverseScheduler, DDIMScheduler, DDPMScheduler
from diffusers.training_utils import EMAModel, compute_density_for_timestep_sampling
from tqdm.auto import tqdm
from transformers import EncodecModel

from latentdiff_edit import LatentDenoiser1D, VoiceEditPipeline
from latentdiff_edit import codec as codec_utils
from latentdiff_edit.attributes import AttributeSchema, f0_features
from latentdiff_edit.defaults import DEFAULT_INVERSION_DEPTH
from latentdiff_edit.features import extract_f0, frame_energy_db, hz_to_semitones, voiced_semitone_differences
from latentdiff_edit.training import load_clip, plot_log, read_manifest, scheduler_config, write_log_csv

logger = get_logger(__name__)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--codec", type=str, required=True, help="transformers EncodecModel directory or Hub id.")
    p.add_argument("--output_dir", type=Path, required=True)
    p.add_argument("--cache_dir", type=Path, default=None, help="Where encoded latents are cached (OUTPUT_DIR/cache).")
    p.add_argument("--frame_attributes", nargs="*", default=["f0", "energy"], choices=["f0", "energy"])
    p.add_argument("--continuous_attributes", nargs="*", default=["intonation=f0_spread_st", "rate=rate"],
                   help="NAME=COLUMN pairs (or NAME when the column has that name).")
    p.add_argument("--categorical_attributes", nargs="*", default=["style"], help="NAME=COLUMN pairs.")
    p.add_argument("--hidden_size", type=int, default=192)
    p.add_argument("--num_layers", type=int, default=6)
    p.add_argument("--num_heads", type=int, default=4)
    p.add_argument("--mlp_ratio", type=float, default=2.0)
    p.add_argument("--segment_frames", type=int, default=160, help="Training crop length in latent frames.")
    p.add_argument("--train_batch_size", type=int, default=16)
    p.add_argument("--learning_rate", type=float, default=3e-4)
    p.add_argument("--lr_warmup_steps", type=int, default=300)
    p.add_argument("--max_train_steps", type=int, default=20000)
    p.add_argument("--timestep_sampling", default="uniform", choices=["uniform", "logit_normal"],
                   help="logit_normal (SD3's density) puts more steps at high noise, where only the condition tells "
                        "the model the pitch; below t~600 the noisy latent itself still carries it.")
    p.add_argument("--logit_mean", type=float, default=0.8)
    p.add_argument("--logit_std", type=float, default=1.0)
    p.add_argument("--prediction_type", default="epsilon", choices=["epsilon", "v_prediction"],
                   help="What the denoiser predicts (saved in the pipeline's scheduler config).")
    p.add_argument("--frame_fourier_features", type=int, default=0,
                   help="Sine/cosine pairs per frame-attribute channel (see LatentDenoiser1D).")
    p.add_argument("--loss_weighting", default="none", choices=["none", "v"],
                   help="v: weight the epsilon MSE by 1/alpha_bar_t (clamped), which equals the v-prediction loss "
                        "(Salimans & Ho, 2022): at high noise an epsilon error hides a large x0 error, so without it "
                        "the model gains almost nothing from the F0 contour there. Only with --prediction_type "
                        "epsilon (v_prediction has this weighting built in).")
    p.add_argument("--max_loss_weight", type=float, default=10.0)
    p.add_argument("--attribute_dropout", type=float, default=0.15, help="Per-attribute null probability.")
    p.add_argument("--all_dropout", type=float, default=0.1, help="Probability that every attribute is null.")
    p.add_argument("--ema_decay", type=float, default=0.999)
    p.add_argument("--max_grad_norm", type=float, default=1.0)
    p.add_argument("--checkpointing_steps", type=int, default=1000)
    p.add_argument("--validation_steps", type=int, default=1000)
    p.add_argument("--num_validation_clips", type=int, default=6)
    p.add_argument("--validation_inference_steps", type=int, default=25)
    p.add_argument("--resume_from_checkpoint", type=str, default=None, help='A checkpoint folder or "latest".')
    p.add_argument("--init_denoiser", type=str, default=None, help="Continue from a saved denoiser (directory).")
    p.add_argument("--max_train_clips", type=int, default=None, help="Use only the first N training clips (smoke).")
    p.add_argument("--mixed_precision", type=str, default=None, choices=["no", "fp16", "bf16"])
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def _pairs(items):
    return [tuple(x.split("=", 1)) if "=" in x else (x, x) for x in items]


# ----------------------------------------------------------------------------------------------------------------
# 1. Cache: latents and contours, computed once per clip


@torch.no_grad()
def encode_corpus(rows, codec, cache_path: Path, state: PartialState) -> list[dict]:
    """Each process encodes its share; the main process merges. Returns items with latents `(C, T)` (float16),
    `f0` `(T,)` Hz, `energy` `(T,)` dB, and the manifest row."""
    if cache_path.is_file():
        return torch.load(cache_path, weights_only=True)
    sr, hop = codec.config.sampling_rate, codec_utils.hop_length(codec)
    items = []
    with state.split_between_processes(list(range(len(rows)))) as indices:
        for i in tqdm(indices, desc="encoding corpus", disable=not state.is_main_process):
            try:
                clip = load_clip(rows[i]["path"], sr, max_seconds=30.0)
            except ValueError as e:
                logger.warning(f"skipping {rows[i]['path']}: {e}")
                continue
            latents = codec_utils.encode(codec, clip[None])[0]  # (C, T)
            frames = latents.shape[-1]
            audio = clip.double().numpy()
            items.append({
                "index": i,
                "latents": latents.half(),
                "f0": torch.from_numpy(extract_f0(audio, sr, hop, frames)),
                "energy": torch.from_numpy(frame_energy_db(audio, hop, frames)),
            })
    part = cache_path.with_suffix(f".part{state.process_index}")
    torch.save(items, part)
    state.wait_for_everyone()
    if state.is_main_process:
        merged = []
        for k in range(state.num_processes):
            part_k = cache_path.with_suffix(f".part{k}")
            merged += torch.load(part_k, weights_only=True)
            part_k.unlink()
        merged.sort(key=lambda item: item["index"])
        torch.save(merged, cache_path)
    state.wait_for_everyone()
    return torch.load(cache_path, weights_only=True)


def build_schema(items, rows, args) -> list[dict]:
    """The attribute schema, with normalization statistics and ranges measured on the training items."""
    schema = []
    for name in args.frame_attributes:
        if name == "f0":
            st = hz_to_semitones(torch.cat([it["f0"] for it in items]).numpy())
            st = st[np.isfinite(st)]
            schema.append({"name": "f0", "type": "frame", "dim": 2, "mean": float(st.mean()), "std": float(st.std())})
        else:
            energy = torch.cat([it["energy"] for it in items]).numpy()
            schema.append({"name": "energy", "type": "frame", "dim": 1, "mean": float(energy.mean()),
                           "std": float(energy.std())})
    for name, column in _pairs(args.continuous_attributes):
        values = np.array([rows[it["index"]].get(column) for it in items], dtype=object)
        values = np.array([float(v) for v in values if v is not None and np.isfinite(float(v))])
        if len(values) == 0:
            raise ValueError(f"continuous attribute `{name}`: column `{column}` has no numeric values")
        lo, hi = np.percentile(values, [0, 100])
        margin = 0.25 * (hi - lo)
        schema.append({"name": name, "type": "continuous", "column": column, "mean": float(values.mean()),
                       "std": float(values.std() or 1.0), "min": float(lo - margin), "max": float(hi + margin)})
    for name, column in _pairs(args.categorical_attributes):
        categories = sorted({str(rows[it["index"]][column]) for it in items if rows[it["index"]].get(column)})
        if not categories:
            raise ValueError(f"categorical attribute `{name}`: column `{column}` has no values")
        schema.append({"name": name, "type": "categorical", "column": column, "categories": categories})
    return schema


# ----------------------------------------------------------------------------------------------------------------
# 2. Batches with per-attribute condition dropout


def make_batch(items, rows, schema: AttributeSchema, args, rng: np.random.Generator):
    """Random crops `(B, C, segment)` with padding mask, condition tensors (dropped attributes are null)."""
    seg = args.segment_frames
    batch_items = [items[j] for j in rng.integers(0, len(items), args.train_batch_size)]
    channels = batch_items[0]["latents"].shape[0]
    latents = torch.zeros(len(batch_items), channels, seg)
    mask = torch.zeros(len(batch_items), seg, dtype=torch.bool)
    conditions = {s["name"]: [] for s in schema.specs}
    for b, item in enumerate(batch_items):
        frames = item["latents"].shape[-1]
        start = int(rng.integers(0, max(frames - seg, 0) + 1))
        length = min(seg, frames - start)
        latents[b, :, :length] = item["latents"][:, start : start + length].float()
        mask[b, :length] = True
        drop_all = rng.random() < args.all_dropout
        for spec in schema.specs:
            name = spec["name"]
            dropped = drop_all or rng.random() < args.attribute_dropout
            if spec["type"] == "frame":
                value = torch.full((spec["dim"], seg), float("nan"))
                if not dropped:
                    contour = item[name][start : start + length].numpy()
                    feats = f0_features(contour, spec["mean"], spec["std"]) if name == "f0" else \
                        ((contour - spec["mean"]) / spec["std"])[None].astype(np.float32)
                    value.zero_()
                    value[:, :length] = torch.from_numpy(feats)
            else:
                raw = rows[item["index"]].get(spec.get("column", name))
                if spec["type"] == "continuous":
                    ok = not dropped and raw is not None and np.isfinite(float(raw))
                    value = torch.tensor((float(raw) - spec["mean"]) / spec["std"] if ok else float("nan"))
                else:
                    ok = not dropped and raw is not None and str(raw) in spec["categories"]
                    value = torch.tensor(spec["categories"].index(str(raw)) if ok else -1)
            conditions[name].append(value)
    return latents, mask, {k: torch.stack(v) for k, v in conditions.items()}


# ----------------------------------------------------------------------------------------------------------------
# 3. Validation: the real measure of an edit


@torch.no_grad()
def validate_edit(pipe: VoiceEditPipeline, clips, args) -> dict:
    """Invert validation clips, edit pitch by +3 st, measure the achieved shift (Praat, frames voiced in both)."""
    shifts, snrs = [], []
    sr = pipe.sampling_rate
    for clip in clips:
        inversion = pipe.invert(clip, sr, num_inference_steps=args.validation_inference_steps,
                                inversion_depth=DEFAULT_INVERSION_DEPTH)
        regenerated = pipe(inversion=inversion, output_type="latent").audios
        snrs.append(float(10 * torch.log10(inversion.source_latents.pow(2).sum()
                                           / (regenerated - inversion.source_latents).pow(2).sum().clamp_min(1e-12))))
        edited = pipe(inversion=inversion, pitch_shift=3.0, guidance_scale=1.0).audios[0]
        differences = voiced_semitone_differences(clip.numpy(), edited, sr)
        if len(differences) > 5:
            shifts.append(float(np.median(differences)))
    return {"val_recon_snr_db": float(np.mean(snrs)),
            "val_pitch_shift_st": float(np.median(shifts)) if shifts else float("nan")}


def build_pipeline(codec, denoiser, prediction_type: str = "epsilon") -> VoiceEditPipeline:
    scheduler = DDIMScheduler(**scheduler_config(prediction_type=prediction_type))
    pipe = VoiceEditPipeline(codec=codec, denoiser=denoiser, scheduler=scheduler,
                             inverse_scheduler=DDIMInverseScheduler.from_config(scheduler.config))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def main(argv=None):
    args = parse_args(argv)
    accelerator = Accelerator(mixed_precision=args.mixed_precision)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    set_seed(args.seed)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = args.cache_dir or args.output_dir / "cache"
    cache_dir.mkdir(parents=True, exist_ok=True)

    # 1. Encode the corpus once
    codec = EncodecModel.from_pretrained(args.codec).eval()
    rows = read_manifest(args.manifest)
    for row in rows:
        row.setdefault("split", "train")
    train_idx = [i for i, r in enumerate(rows) if r["split"] == "train"][: args.max_train_clips]
    val_idx = [i for i, r in enumerate(rows) if r["split"] == "validation"][: args.num_validation_clips] or train_idx[:2]
    tag = f"{len(rows)}_{args.max_train_clips}"
    items = encode_corpus([rows[i] for i in train_idx], codec, cache_dir / f"train_{tag}.pt", PartialState())
    for item in items:  # cache indices are into the sub-list
        item["index"] = train_idx[item["index"]]
    if not items:
        raise ValueError("no training clip could be read")

    # 2. Latent statistics and the attribute schema
    all_latents = torch.cat([it["latents"].float() for it in items], dim=-1)  # (C, total_frames)
    latents_mean, latents_std = all_latents.mean(-1), all_latents.std(-1).clamp_min(1e-5)
    schema_specs = build_schema(items, rows, args)
    schema = AttributeSchema(schema_specs)
    for it in items:
        it["latents"] = ((it["latents"].float() - latents_mean[:, None]) / latents_std[:, None]).half()
    logger.info(f"{len(items)} training clips, {all_latents.shape[-1]} frames; schema {json.dumps(schema_specs)}")
    del all_latents

    # 3. Model, noise scheduler, optimizer, EMA
    if args.init_denoiser:
        denoiser = LatentDenoiser1D.from_pretrained(args.init_denoiser)
        if denoiser.config.latent_channels != codec.config.hidden_size:
            raise ValueError("--init_denoiser does not match the codec's latent channels")
        schema_specs, schema = denoiser.config.attributes, AttributeSchema(denoiser.config.attributes)
        latents_mean = torch.tensor(denoiser.config.latents_mean)
        latents_std = torch.tensor(denoiser.config.latents_std)
    else:
        denoiser = LatentDenoiser1D(
            latent_channels=codec.config.hidden_size, hidden_size=args.hidden_size, num_layers=args.num_layers,
            num_heads=args.num_heads, mlp_ratio=args.mlp_ratio, attributes=schema_specs,
            frame_fourier_features=args.frame_fourier_features,
            latents_mean=latents_mean.tolist(), latents_std=latents_std.tolist(),
        )
    logger.info(f"denoiser: {sum(p.numel() for p in denoiser.parameters()) / 1e6:.2f} M parameters")
    if args.loss_weighting != "none" and args.prediction_type != "epsilon":
        raise ValueError("--loss_weighting applies to --prediction_type epsilon only")
    sched_config = scheduler_config(prediction_type=args.prediction_type)
    noise_scheduler = DDPMScheduler(**{k: v for k, v in sched_config.items() if k != "set_alpha_to_one"})
    optimizer = torch.optim.AdamW(denoiser.parameters(), lr=args.learning_rate, weight_decay=0.01)
    lr_lambda = lambda step: min(1.0, (step + 1) / args.lr_warmup_steps) * (  # noqa: E731
        0.55 + 0.45 * math.cos(math.pi * min(step, args.max_train_steps) / args.max_train_steps))
    lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    denoiser, optimizer, lr_scheduler = accelerator.prepare(denoiser, optimizer, lr_scheduler)
    ema = EMAModel(accelerator.unwrap_model(denoiser).parameters(), decay=args.ema_decay)
    ema.to(accelerator.device)
    accelerator.register_for_checkpointing(ema)

    global_step, log_rows = 0, []
    log_path = args.output_dir / "train_log.jsonl"
    if args.resume_from_checkpoint:
        ckpts = sorted((args.output_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        ckpt = ckpts[-1] if args.resume_from_checkpoint == "latest" and ckpts else (
            Path(args.resume_from_checkpoint) if args.resume_from_checkpoint != "latest" else None)
        if ckpt is not None:
            accelerator.load_state(str(ckpt))
            global_step = int(ckpt.name.split("-")[-1])
            if log_path.is_file():
                log_rows = [r for r in map(json.loads, log_path.read_text().splitlines()) if r["step"] <= global_step]
            logger.info(f"resumed from {ckpt} at step {global_step}")

    val_clips = [load_clip(rows[i]["path"], codec.config.sampling_rate, max_seconds=8.0) for i in val_idx]
    rng = np.random.default_rng(args.seed + global_step + 1000 * accelerator.process_index)

    def save_pipeline(path: Path, extra: dict):
        model = copy.deepcopy(accelerator.unwrap_model(denoiser)).eval()
        ema.copy_to(model.parameters())
        model.register_to_config(training_info={
            "manifest": str(args.manifest), "train_clips": len(items), "steps": global_step,
            "codec": str(args.codec), "recipe": "scripts/train_ldm.py", **extra,
        })
        pipe = build_pipeline(codec, model, args.prediction_type)
        pipe.save_pretrained(path)
        return pipe

    # 4. Training loop
    denoiser.train()
    progress = tqdm(total=args.max_train_steps, initial=global_step, desc="ldm", disable=not accelerator.is_main_process)
    start, running, n_running = time.time(), 0.0, 0
    while global_step < args.max_train_steps:
        latents, mask, conditions = make_batch(items, rows, schema, args, rng)
        latents, mask = latents.to(accelerator.device), mask.to(accelerator.device)
        conditions = {k: v.to(accelerator.device) for k, v in conditions.items()}
        noise = torch.randn_like(latents)
        u = compute_density_for_timestep_sampling(args.timestep_sampling, latents.shape[0], args.logit_mean,
                                                  args.logit_std, device=latents.device)
        timesteps = (u * noise_scheduler.config.num_train_timesteps).long().clamp_max(
            noise_scheduler.config.num_train_timesteps - 1)
        noisy = noise_scheduler.add_noise(latents, noise, timesteps) * mask[:, None]
        with accelerator.autocast():
            pred = denoiser(noisy, timesteps, conditions=conditions, padding_mask=mask).sample
        # the scheduler's prediction target, on real frames only
        target = noise if args.prediction_type == "epsilon" else noise_scheduler.get_velocity(latents, noise, timesteps)
        weight = torch.ones_like(timesteps, dtype=torch.float32)
        if args.loss_weighting == "v":
            alphas_cumprod = noise_scheduler.alphas_cumprod.to(latents.device)[timesteps]
            weight = (1.0 / alphas_cumprod).clamp_max(args.max_loss_weight)
        loss = (F.mse_loss(pred.float(), target, reduction="none") * mask[:, None] * weight[:, None, None]).sum() / (
            mask.sum() * latents.shape[1])
        accelerator.backward(loss)
        if accelerator.sync_gradients:
            accelerator.clip_grad_norm_(denoiser.parameters(), args.max_grad_norm)
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        ema.step(accelerator.unwrap_model(denoiser).parameters())
        global_step += 1
        running, n_running = running + loss.item(), n_running + 1
        progress.update(1)
        progress.set_postfix(loss=f"{loss.item():.4f}")

        if global_step % 50 == 0 or global_step == args.max_train_steps:
            row = {"step": global_step, "time_s": round(time.time() - start, 1), "loss": running / n_running,
                   "lr": lr_scheduler.get_last_lr()[0]}
            running, n_running = 0.0, 0
            if accelerator.is_main_process and (global_step % args.validation_steps == 0
                                                or global_step == args.max_train_steps):
                pipe = save_pipeline(args.output_dir / "pipeline", {})
                row |= validate_edit(pipe, val_clips, args)
                logger.info(json.dumps(row))
            log_rows.append(row)
            if accelerator.is_main_process:
                with open(log_path, "a") as f:
                    f.write(json.dumps(row) + "\n")
                write_log_csv(args.output_dir / "train_log.csv", log_rows)
                plot_log(args.output_dir / "train_log.png", log_rows,
                         ["loss", "val_recon_snr_db", "val_pitch_shift_st"], "latent diffusion training")
        if global_step % args.checkpointing_steps == 0 or global_step == args.max_train_steps:
            accelerator.save_state(str(args.output_dir / "checkpoints" / f"checkpoint-{global_step}"))
            if accelerator.is_main_process:
                import shutil

                ckpts = sorted((args.output_dir / "checkpoints").glob("checkpoint-*"),
                               key=lambda p: int(p.name.split("-")[-1]))
                for old in ckpts[:-2]:
                    shutil.rmtree(old)

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        last = log_rows[-1] if log_rows else {}
        save_pipeline(args.output_dir / "pipeline", {k: v for k, v in last.items() if k.startswith("val_")})
        logger.info(f"saved pipeline to {args.output_dir / 'pipeline'}")
    accelerator.end_training()


if __name__ == "__main__":
    main()
