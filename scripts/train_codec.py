#!/usr/bin/env python
"""Train (or fine-tune) an EnCodec-architecture autoencoder whose continuous latents the diffusion model works in.

    accelerate launch scripts/train_codec.py --manifest data/corpus/manifest.jsonl --output_dir runs/codec \
        --max_train_steps 20000 --adversarial_start_step 4000

Losses: multi-resolution STFT (spectral convergence + log-magnitude + complex, phase-aware), multi-scale mel, and
waveform L1; from `--adversarial_start_step` on, the `encodec` package's MS-STFT discriminator (hinge) with feature
matching. `--pretrained_codec` fine-tunes a transformers `EncodecModel` (Hub id or directory) instead of starting
from scratch. The result is a transformers `EncodecModel` directory (`OUTPUT_DIR/codec`) that the pipeline loads as
its `codec` component. Validation tracks what edits depend on: F0 kept (median, semitones) and voicing (HNR).
"""

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from tqdm.auto import tqdm
from transformers import EncodecConfig, EncodecModel

from latentdiff_edit import codec as codec_utils
from latentdiff_edit.features import harmonics_to_noise_db, voiced_semitone_differences
from latentdiff_edit.training import (
    AudioSegmentDataset,
    MelLoss,
    MultiResolutionSTFTLoss,
    feature_matching_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    load_clip,
    plot_log,
    read_manifest,
    write_log_csv,
)

logger = get_logger(__name__)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", type=Path, required=True, help="CSV/JSONL with a `path` column (and `split`).")
    p.add_argument("--output_dir", type=Path, required=True)
    p.add_argument("--pretrained_codec", type=str, default=None, help="Hub id or directory to fine-tune.")
    p.add_argument("--sampling_rate", type=int, default=16000)
    p.add_argument("--hidden_size", type=int, default=64, help="Latent channels.")
    p.add_argument("--num_filters", type=int, default=16)
    p.add_argument("--upsampling_ratios", type=int, nargs="+", default=[5, 4, 4, 2], help="Their product is the hop.")
    p.add_argument("--num_residual_layers", type=int, default=1)
    p.add_argument("--num_lstm_layers", type=int, default=1)
    p.add_argument("--segment_seconds", type=float, default=0.8)
    p.add_argument("--train_batch_size", type=int, default=16)
    p.add_argument("--learning_rate", type=float, default=5e-4)
    p.add_argument("--max_train_steps", type=int, default=20000)
    p.add_argument("--lr_warmup_steps", type=int, default=200)
    p.add_argument("--adversarial_start_step", type=int, default=-1, help="-1: no adversarial training.")
    p.add_argument("--adversarial_weight", type=float, default=1.0)
    p.add_argument("--feature_matching_weight", type=float, default=3.0)
    p.add_argument("--max_grad_norm", type=float, default=1.0)
    p.add_argument("--checkpointing_steps", type=int, default=1000)
    p.add_argument("--validation_steps", type=int, default=1000)
    p.add_argument("--num_validation_clips", type=int, default=8)
    p.add_argument("--resume_from_checkpoint", type=str, default=None, help='A checkpoint folder or "latest".')
    p.add_argument("--max_train_clips", type=int, default=None, help="Use only the first N training clips (smoke).")
    p.add_argument("--mixed_precision", type=str, default=None, choices=["no", "fp16", "bf16"])
    p.add_argument("--dataloader_num_workers", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def build_codec(args) -> EncodecModel:
    if args.pretrained_codec:
        return EncodecModel.from_pretrained(args.pretrained_codec)
    config = EncodecConfig(
        sampling_rate=args.sampling_rate,
        audio_channels=1,
        hidden_size=args.hidden_size,
        num_filters=args.num_filters,
        upsampling_ratios=args.upsampling_ratios,
        num_residual_layers=args.num_residual_layers,
        num_lstm_layers=args.num_lstm_layers,
        use_causal_conv=False,
        norm_type="weight_norm",
        normalize=False,
        chunk_length_s=None,
        overlap=None,
        codebook_size=16,  # the quantizer is unused: the latent space is continuous
        target_bandwidths=[1.0],
    )
    return EncodecModel(config)


@torch.no_grad()
def validate(codec, clips, sampling_rate):
    """Round-trip figures on held-out clips: F0 error (median, semitones), HNR in/out (dB), log-mel L1."""
    codec.eval()
    f0_errors, hnr_in, hnr_out, mel = [], [], [], []
    mel_loss = MelLoss(sampling_rate)
    for clip in clips:
        recon = codec_utils.decode(codec, codec_utils.encode(codec, clip[None]), clip.numel())[0].float().cpu()
        mel.append(mel_loss(recon[None], clip[None]).item())
        src, out = clip.numpy(), recon.numpy()
        differences = voiced_semitone_differences(src, out, sampling_rate)
        if len(differences) > 5:
            f0_errors.append(float(np.median(np.abs(differences))))
        hnr_in.append(harmonics_to_noise_db(src, sampling_rate))
        hnr_out.append(harmonics_to_noise_db(out, sampling_rate))
    codec.train()
    return {
        "val_mel_l1": float(np.mean(mel)),
        "val_f0_error_st": float(np.mean(f0_errors)) if f0_errors else float("nan"),
        "val_hnr_in_db": float(np.mean(hnr_in)),
        "val_hnr_out_db": float(np.mean(hnr_out)),
    }


def main(argv=None):
    args = parse_args(argv)
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision,
        project_config=ProjectConfiguration(project_dir=str(args.output_dir), automatic_checkpoint_naming=False),
    )
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    set_seed(args.seed)
    args.output_dir.mkdir(parents=True, exist_ok=True)

    # 1. Data: random crops of the training split; whole validation clips for round-trip figures
    rows = read_manifest(args.manifest)
    train_rows = [r for r in rows if r.get("split", "train") == "train"][: args.max_train_clips]
    val_rows = [r for r in rows if r.get("split") == "validation"] or train_rows
    dataset = AudioSegmentDataset(train_rows, args.sampling_rate, args.segment_seconds, seed=args.seed)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.train_batch_size, shuffle=True, drop_last=len(dataset) >= args.train_batch_size,
        num_workers=args.dataloader_num_workers,
    )
    val_clips = [load_clip(r["path"], args.sampling_rate, max_seconds=8.0) for r in val_rows[: args.num_validation_clips]]
    logger.info(f"{len(dataset)} training clips, {len(val_clips)} validation clips")

    # 2. Models, losses, optimizers
    codec = build_codec(args)
    if codec.config.sampling_rate != args.sampling_rate:
        raise ValueError(f"codec runs at {codec.config.sampling_rate} Hz but --sampling_rate is {args.sampling_rate}")
    from encodec.msstftd import MultiScaleSTFTDiscriminator

    discriminator = MultiScaleSTFTDiscriminator(filters=16, n_ffts=[512, 256, 1024], hop_lengths=[128, 64, 256],
                                                win_lengths=[512, 256, 1024])
    # its STFT windows are views of one storage, which safetensors refuses to save or load: give each its own copy
    for module in discriminator.modules():
        for name, buffer in list(module.named_buffers(recurse=False)):
            module._buffers[name] = buffer.clone()
    stft_loss, mel_loss = MultiResolutionSTFTLoss(), MelLoss(args.sampling_rate)
    optimizer = torch.optim.AdamW(codec.parameters(), lr=args.learning_rate, betas=(0.8, 0.99))
    optimizer_d = torch.optim.AdamW(discriminator.parameters(), lr=args.learning_rate, betas=(0.8, 0.99))
    lr_lambda = lambda step: min(1.0, (step + 1) / args.lr_warmup_steps) * 0.5 * (  # noqa: E731
        1 + math.cos(math.pi * min(step, args.max_train_steps) / args.max_train_steps)) * 0.95 + 0.05
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    codec, discriminator, optimizer, optimizer_d, loader, scheduler = accelerator.prepare(
        codec, discriminator, optimizer, optimizer_d, loader, scheduler
    )
    stft_loss, mel_loss = stft_loss.to(accelerator.device), mel_loss.to(accelerator.device)  # stateless: not saved

    # 3. Resume
    global_step, log_rows = 0, []
    log_path = args.output_dir / "train_log.jsonl"
    if args.resume_from_checkpoint:
        ckpt = _find_checkpoint(args.output_dir, args.resume_from_checkpoint)
        if ckpt is None:
            logger.info(f"no checkpoint found for {args.resume_from_checkpoint!r}; starting from scratch")
        else:
            accelerator.load_state(str(ckpt))
            global_step = int(ckpt.name.split("-")[-1])
            if log_path.is_file():
                log_rows = [json.loads(x) for x in log_path.read_text().splitlines() if x.strip()]
                log_rows = [r for r in log_rows if r["step"] <= global_step]
            logger.info(f"resumed from {ckpt} at step {global_step}")

    # 4. Training loop
    unwrapped = accelerator.unwrap_model(codec)
    progress = tqdm(total=args.max_train_steps, initial=global_step, desc="codec", disable=not accelerator.is_main_process)
    start, running = time.time(), {}
    while global_step < args.max_train_steps:
        for audio in loader:  # (B, segment)
            adversarial = 0 <= args.adversarial_start_step <= global_step
            with accelerator.autocast():
                latents = unwrapped.encoder(audio[:, None])  # (B, C, F)
                recon = unwrapped.decoder(latents)[:, 0, : audio.shape[-1]]  # (B, segment)
                losses = {
                    "stft": stft_loss(recon.float(), audio),
                    "mel": mel_loss(recon.float(), audio),
                    "wave_l1": torch.nn.functional.l1_loss(recon.float(), audio),
                }
                if adversarial:
                    # discriminator step on detached reconstructions
                    real_logits, _ = discriminator(audio[:, None])
                    fake_logits, _ = discriminator(recon.detach()[:, None])
                    loss_d = hinge_discriminator_loss(real_logits, fake_logits)
                    optimizer_d.zero_grad(set_to_none=True)
                    accelerator.backward(loss_d)
                    optimizer_d.step()
                    real_logits, real_features = discriminator(audio[:, None])
                    fake_logits, fake_features = discriminator(recon[:, None])
                    losses["adv"] = args.adversarial_weight * hinge_generator_loss(fake_logits)
                    losses["feat"] = args.feature_matching_weight * feature_matching_loss(real_features, fake_features)
                    losses["disc"] = loss_d.detach()
                loss = 2.0 * losses["stft"] + losses["mel"] + 5.0 * losses["wave_l1"] + losses.get("adv", 0) + losses.get("feat", 0)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(codec.parameters(), args.max_grad_norm)
            optimizer.step()
            scheduler.step()
            global_step += 1
            progress.update(1)
            for k, v in losses.items():
                running[k] = running.get(k, 0.0) + float(v)
            running["n"] = running.get("n", 0) + 1
            progress.set_postfix(loss=f"{loss.item():.3f}")

            if global_step % 50 == 0 or global_step == args.max_train_steps:
                n = running.pop("n")
                row = {"step": global_step, "time_s": round(time.time() - start, 1), "lr": scheduler.get_last_lr()[0]}
                row |= {k: v / n for k, v in running.items()}
                running = {}
                if global_step % args.validation_steps == 0 or global_step == args.max_train_steps:
                    row |= validate(unwrapped, val_clips, args.sampling_rate)
                    logger.info(json.dumps(row))
                log_rows.append(row)
                if accelerator.is_main_process:
                    with open(log_path, "a") as f:
                        f.write(json.dumps(row) + "\n")
            if global_step % args.checkpointing_steps == 0 or global_step == args.max_train_steps:
                accelerator.save_state(str(args.output_dir / "checkpoints" / f"checkpoint-{global_step}"))
                if accelerator.is_main_process:
                    _prune_checkpoints(args.output_dir / "checkpoints", keep=2)
                    unwrapped.save_pretrained(args.output_dir / "codec")
                    write_log_csv(args.output_dir / "train_log.csv", log_rows)
                    plot_log(args.output_dir / "train_log.png", log_rows,
                             ["stft", "mel", "wave_l1", "feat", "val_mel_l1", "val_f0_error_st", "val_hnr_out_db"],
                             f"codec training ({args.output_dir.name})")
            if global_step >= args.max_train_steps:
                break
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        unwrapped.save_pretrained(args.output_dir / "codec")
        logger.info(f"saved {args.output_dir / 'codec'}")
    accelerator.end_training()


def _find_checkpoint(output_dir: Path, name: str) -> Path | None:
    if name != "latest":
        return Path(name)
    ckpts = sorted((output_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return ckpts[-1] if ckpts else None


def _prune_checkpoints(folder: Path, keep: int) -> None:
    import shutil

    ckpts = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    for old in ckpts[:-keep]:
        shutil.rmtree(old)


if __name__ == "__main__":
    main()
