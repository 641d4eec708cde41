#!/usr/bin/env python
"""Train the codec whose continuous latents the diffusion model works in: an EnCodec encoder (transformers'
`EncodecModel`) with a Vocos decoder (`--vocoder`, recommended) or the codec's own SEANet decoder.

    accelerate launch scripts/train_codec.py --manifest data/corpus/manifest.jsonl --output_dir runs/codec \
        --vocoder --max_train_steps 200000 --adversarial_start_step 20000 --resume_from_checkpoint latest

Losses (DAC / Vocos): multi-scale mel L1 (weight `--mel_weight`, 45 as in Vocos) and a complex-STFT L1 that pins
timing; from `--adversarial_start_step` on, the `vocos` multi-period and multi-resolution discriminators with
hinge losses and feature matching. Training accumulates: `--resume_from_checkpoint latest` continues the last run
(optimizer, schedulers, data order, the log), and `--init_from DIR` starts from saved weights (a pipeline folder
with `codec/` and `vocoder/`, e.g. the shipped default model) when no checkpoint is at hand. The log
(`train_log.jsonl` / `.csv` / `.png`) spans all chunks. On a GPU the same recipe runs with a larger
`--train_batch_size`. Outputs: `OUTPUT_DIR/codec` (a transformers `EncodecModel` directory) and, with
`--vocoder`, `OUTPUT_DIR/vocoder` (a [`VocosVocoder`]); the pipeline loads them as its `codec` and `vocoder`.
Validation tracks what editing depends on, on held-out clips (real recordings first): mel L1, F0 kept (median
semitones), voicing (HNR), and STOI / PESQ-wb when the `[eval]` extra is installed.
"""

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, broadcast, set_seed
from diffusers.optimization import get_scheduler
from tqdm.auto import tqdm
from transformers import EncodecConfig, EncodecModel

from latentdiff_edit.data.manifest import oversample, parse_factors
from latentdiff_edit.evaluation._optional import is_available
from latentdiff_edit.features import harmonics_to_noise_db, voiced_semitone_differences
from latentdiff_edit.models.vocoder import VocosVocoder
from latentdiff_edit.training import (
    AudioSegmentDataset,
    check_output_dir,
    load_clip,
    plot_log,
    read_manifest,
    strip_local_paths,
    write_log_csv,
)
from latentdiff_edit.training.codec import (
    AdversarialLosses,
    CodecAutoencoder,
    MultiScaleMelLoss,
    VocosDiscriminators,
    complex_stft_loss,
    magnitude_losses,
)

logger = get_logger(__name__)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", type=Path, required=True, help="CSV/JSONL with a `path` column (and `split`).")
    p.add_argument("--output_dir", type=Path, required=True)
    p.add_argument("--pretrained_codec", type=str, default=None, help="EncodecModel Hub id or directory to fine-tune.")
    p.add_argument("--init_from", type=Path, default=None,
                   help="Start from saved weights: a pipeline folder (codec/, vocoder/) or a codec directory.")
    p.add_argument("--vocoder", action="store_true", help="Decode with a Vocos decoder (trained jointly).")
    p.add_argument("--freeze_encoder", action="store_true",
                   help="Train the decoder only: the latent space (and an LDM trained on it) stays as it is.")
    p.add_argument("--phase", default="learned", choices=["learned", "griffin_lim"],
                   help="The Vocos decoder's phase: predicted by its iSTFT head (learned; needs adversarial training), or "
                        "recovered from its predicted magnitudes by Griffin-Lim (trained on magnitude losses alone).")
    p.add_argument("--griffin_lim_iters", type=int, default=64)
    p.add_argument("--magnitude_weight", type=float, default=1.0, help="Log-magnitude L1 (--phase griffin_lim).")
    p.add_argument("--spectral_convergence_weight", type=float, default=1.0, help="(--phase griffin_lim)")
    p.add_argument("--vocoder_dim", type=int, default=256)
    p.add_argument("--vocoder_intermediate_dim", type=int, default=768)
    p.add_argument("--vocoder_layers", type=int, default=8)
    p.add_argument("--sampling_rate", type=int, default=16000)
    p.add_argument("--hidden_size", type=int, default=64, help="Latent channels.")
    p.add_argument("--num_filters", type=int, default=16, help="Encoder width (EnCodec's num_filters).")
    p.add_argument("--upsampling_ratios", type=int, nargs="+", default=[4, 4, 4, 2], help="Their product is the hop.")
    p.add_argument("--num_residual_layers", type=int, default=1)
    p.add_argument("--num_lstm_layers", type=int, default=1)
    p.add_argument("--segment_seconds", type=float, default=1.0)
    p.add_argument("--train_batch_size", type=int, default=8, help="Per process.")
    p.add_argument("--gradient_accumulation_steps", type=int, default=1)
    p.add_argument("--learning_rate", type=float, default=5e-4)
    p.add_argument("--lr_scheduler", default="constant_with_warmup",
                   help="diffusers.optimization.get_scheduler name; constant keeps chunks of training comparable.")
    p.add_argument("--lr_warmup_steps", type=int, default=500)
    p.add_argument("--max_train_steps", type=int, default=20000, help="Total steps over all chunks.")
    p.add_argument("--max_train_minutes", type=float, default=None,
                   help="Stop this chunk after so many minutes (wall clock), at a step it checkpoints and saves: a "
                        "time-boxed run (a lent GPU, a CPU session) that the next chunk resumes.")
    p.add_argument("--mel_weight", type=float, default=45.0)
    p.add_argument("--complex_weight", type=float, default=1.0)
    p.add_argument("--adversarial_start_step", type=int, default=-1, help="-1: no adversarial training.")
    p.add_argument("--discriminators", default="mpd+mrd", choices=["mpd+mrd", "mrd"],
                   help="mrd: the multi-resolution discriminator alone (1.4 M parameters; the multi-period one has 42 M "
                        "and makes a CPU step ~40x slower); give it --mrd_weight 1.")
    p.add_argument("--mrd_weight", type=float, default=0.1, help="Weight of the multi-resolution discriminator.")
    p.add_argument("--feature_matching_weight", type=float, default=1.0)
    p.add_argument("--max_grad_norm", type=float, default=1.0)
    p.add_argument("--checkpointing_steps", type=int, default=500)
    p.add_argument("--checkpoints_total_limit", type=int, default=2)
    p.add_argument("--validation_steps", type=int, default=1000)
    p.add_argument("--num_validation_clips", type=int, default=8)
    p.add_argument("--resume_from_checkpoint", type=str, default=None, help='A checkpoint folder or "latest".')
    p.add_argument("--max_train_clips", type=int, default=None, help="Use only the first N training clips (smoke).")
    p.add_argument("--oversample", nargs="+", default=None, metavar="KIND=N",
                   help="Draw training clips of the manifest's `kind` KIND N times per epoch (e.g. real=3 weights the "
                        "mix toward real recordings).")
    p.add_argument("--mixed_precision", type=str, default=None, choices=["no", "fp16", "bf16"])
    p.add_argument("--num_threads", type=int, default=None, help="torch.set_num_threads per process (CPU).")
    p.add_argument("--dataloader_num_workers", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def build_codec(args) -> EncodecModel:
    if args.pretrained_codec:
        return EncodecModel.from_pretrained(args.pretrained_codec)
    init = args.init_from
    if init is not None:
        return EncodecModel.from_pretrained(init / "codec" if (init / "codec").is_dir() else init)
    config = EncodecConfig(
        sampling_rate=args.sampling_rate, audio_channels=1, hidden_size=args.hidden_size,
        num_filters=args.num_filters, upsampling_ratios=args.upsampling_ratios,
        num_residual_layers=args.num_residual_layers, num_lstm_layers=args.num_lstm_layers, use_causal_conv=False,
        norm_type="weight_norm", normalize=False, chunk_length_s=None, overlap=None,
        codebook_size=16, target_bandwidths=[1.0],  # the quantizer is unused: the latent space is continuous
    )
    return EncodecModel(config)


def build_vocoder(args, codec: EncodecModel) -> VocosVocoder | None:
    if not args.vocoder:
        return None
    saved = None
    if args.init_from is not None and (args.init_from / "vocoder").is_dir():
        saved = VocosVocoder.from_pretrained(args.init_from / "vocoder")
        if saved.config.phase == args.phase:
            return saved
    if saved is not None:  # another head: keep the saved backbone (latents -> features), start a new head
        vocoder = VocosVocoder.from_config(saved.config, phase=args.phase, griffin_lim_iters=args.griffin_lim_iters)
        vocoder.backbone.load_state_dict(saved.backbone.state_dict())
        logger.info(f"vocoder backbone from {args.init_from / 'vocoder'} (phase {saved.config.phase}); new "
                    f"{args.phase} head")
        return vocoder
    hop = int(np.prod(codec.config.upsampling_ratios))
    return VocosVocoder(latent_channels=codec.config.hidden_size, dim=args.vocoder_dim,
                        intermediate_dim=args.vocoder_intermediate_dim, num_layers=args.vocoder_layers,
                        n_fft=4 * hop, hop_length=hop, sampling_rate=codec.config.sampling_rate, phase=args.phase,
                        griffin_lim_iters=args.griffin_lim_iters)


class TrainingState:
    """The step counter, saved in every checkpoint (`accelerator.register_for_checkpointing`)."""

    def __init__(self):
        self.step = 0

    def state_dict(self):
        return {"step": self.step}

    def load_state_dict(self, state):
        self.step = int(state["step"])


@torch.no_grad()
def validate(model: CodecAutoencoder, clips: list[torch.Tensor], sampling_rate: int) -> dict:
    """Round-trip figures on held-out clips: mel L1, F0 error (median st), HNR in/out (dB), STOI and PESQ-wb."""
    model.eval()
    mel_loss = MultiScaleMelLoss(sampling_rate)
    figures: dict[str, list[float]] = {}
    with_quality = is_available("pesq") and is_available("pystoi")
    if with_quality:
        from latentdiff_edit.evaluation import pesq_wb, stoi
    for clip in clips:
        recon = model(clip[None])[0][0].float().cpu()
        src, out = clip.numpy(), recon.numpy()
        row = {"val_mel_l1": mel_loss(recon[None], clip[None]).item(),
               "val_hnr_in_db": harmonics_to_noise_db(src, sampling_rate),
               "val_hnr_out_db": harmonics_to_noise_db(out, sampling_rate)}
        differences = voiced_semitone_differences(src, out, sampling_rate)
        if len(differences) > 5:
            row["val_f0_error_st"] = float(np.median(np.abs(differences)))
        if with_quality:
            row |= {"val_stoi": stoi(src, out, sampling_rate), "val_pesq": pesq_wb(src, out, sampling_rate)}
        for key, value in row.items():
            figures.setdefault(key, []).append(value)
    model.train()
    return {key: float(np.mean(values)) for key, values in figures.items()}


def main(argv=None):
    args = parse_args(argv)
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    check_output_dir(args.output_dir, args.resume_from_checkpoint)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        project_config=ProjectConfiguration(project_dir=str(args.output_dir), automatic_checkpoint_naming=True,
                                            total_limit=args.checkpoints_total_limit),
        # one LR step per optimizer update (below), so a checkpoint resumes right on any number of processes; CPU
        # processes form one gloo group only with cpu=True
        step_scheduler_with_optimizer=False, cpu=not torch.cuda.is_available(),
    )
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    set_seed(args.seed)

    # 1. Data: random crops of the training split; whole held-out clips (real recordings first) for validation
    rows = read_manifest(args.manifest)
    train_rows = [r for r in rows if r.get("split", "train") == "train"][: args.max_train_clips]
    train_rows = oversample(train_rows, parse_factors(args.oversample))
    held_out = [r for r in rows if r.get("split") == "validation" and not r.get("augmented")] or train_rows
    held_out = sorted(held_out, key=lambda r: (r.get("kind") != "real", r.get("kind") != "tts"))
    val_rows = _spread(held_out, args.num_validation_clips)
    dataset = AudioSegmentDataset(train_rows, args.sampling_rate, args.segment_seconds, seed=args.seed)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.train_batch_size, shuffle=True, drop_last=len(dataset) >= args.train_batch_size,
        num_workers=args.dataloader_num_workers,
    )
    val_clips = [load_clip(r["path"], args.sampling_rate, max_seconds=8.0) for r in val_rows]
    logger.info(f"{len(dataset)} training clips, {len(val_clips)} validation clips")

    # 2. Models, losses, optimizers
    codec = build_codec(args)
    if codec.config.sampling_rate != args.sampling_rate:
        raise ValueError(f"codec runs at {codec.config.sampling_rate} Hz but --sampling_rate is {args.sampling_rate}")
    model = CodecAutoencoder(codec, build_vocoder(args, codec), freeze_encoder=args.freeze_encoder)
    if model.predicts_magnitudes and args.adversarial_start_step >= 0:
        raise ValueError("a Griffin-Lim vocoder (--phase griffin_lim) trains on magnitude losses: the discriminators "
                         "need a differentiable waveform; drop --adversarial_start_step or use --phase learned")
    for parameter in set(model.parameters()) - set(model.trainable_parameters()):
        parameter.requires_grad_(False)  # the unused SEANet decoder: DDP all-reduces every parameter needing a grad
    discriminators = VocosDiscriminators(use_mpd=args.discriminators == "mpd+mrd")
    mel_loss, adversarial_losses = MultiScaleMelLoss(args.sampling_rate), AdversarialLosses(args.mrd_weight)
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=args.learning_rate, betas=(0.8, 0.9))
    optimizer_d = torch.optim.AdamW(discriminators.parameters(), lr=args.learning_rate, betas=(0.8, 0.9))
    lr_scheduler = get_scheduler(args.lr_scheduler, optimizer, num_warmup_steps=args.lr_warmup_steps,
                                 num_training_steps=args.max_train_steps)
    model, discriminators, optimizer, optimizer_d, loader, lr_scheduler = accelerator.prepare(
        model, discriminators, optimizer, optimizer_d, loader, lr_scheduler
    )
    mel_loss = mel_loss.to(accelerator.device)  # stateless: not checkpointed
    state = TrainingState()
    accelerator.register_for_checkpointing(state)

    # 3. Resume (the whole training state), or continue from saved weights (--init_from, above)
    log_path = args.output_dir / "train_log.jsonl"
    if args.resume_from_checkpoint:
        checkpoint = _find_checkpoint(args.output_dir, args.resume_from_checkpoint)
        if checkpoint is None:
            logger.info(f"no checkpoint found for {args.resume_from_checkpoint!r}; starting a new run")
        else:
            accelerator.load_state(str(checkpoint))
            # automatic naming continues after the checkpoint loaded (accelerate only does this for load_state())
            accelerator.project_configuration.iteration = int(checkpoint.name.split("_")[-1]) + 1
            logger.info(f"resumed from {checkpoint} at step {state.step}")
    log_rows = [json.loads(x) for x in log_path.read_text().splitlines() if x.strip()] if log_path.is_file() else []
    log_rows = [r for r in log_rows if r["step"] <= state.step]
    skip = state.step % max(len(loader), 1)  # the data order continues where the checkpoint stopped

    # 4. Training loop: every forward goes through the prepared (DDP-wrapped) modules
    unwrapped = accelerator.unwrap_model(model)
    progress = tqdm(total=args.max_train_steps, initial=state.step, desc="codec", disable=not accelerator.is_main_process)
    start, running = time.time() - (log_rows[-1]["time_s"] if log_rows else 0.0), {}
    deadline = time.time() + 60 * args.max_train_minutes if args.max_train_minutes is not None else None
    stop = False
    while state.step < args.max_train_steps and not stop:
        epoch_loader = accelerator.skip_first_batches(loader, skip) if skip else loader
        skip = 0
        for audio in epoch_loader:  # (B, segment)
            adversarial = 0 <= args.adversarial_start_step <= state.step
            with accelerator.accumulate(model, discriminators), accelerator.autocast():
                recon, _ = model(audio)  # (B, segment), or a Griffin-Lim vocoder's log-magnitudes (B, bins, frames)
                recon = recon.float()
                if unwrapped.predicts_magnitudes:
                    config = unwrapped.vocoder.config
                    losses = magnitude_losses(recon, audio, config.n_fft, config.hop_length)
                else:
                    losses = {"mel": mel_loss(recon, audio), "complex": complex_stft_loss(recon, audio)}
                if adversarial:
                    # discriminator step on detached reconstructions
                    loss_d = adversarial_losses.discriminator_loss(discriminators(audio, recon.detach()))
                    optimizer_d.zero_grad(set_to_none=True)
                    accelerator.backward(loss_d)
                    optimizer_d.step()
                    losses["gen"], losses["feat"] = adversarial_losses.generator_losses(
                        discriminators(audio, recon))
                    losses["disc"] = loss_d.detach()
                if unwrapped.predicts_magnitudes:
                    loss = (args.magnitude_weight * losses["log_magnitude"]
                            + args.spectral_convergence_weight * losses["spectral_convergence"])
                else:
                    loss = (args.mel_weight * losses["mel"] + args.complex_weight * 10.0 * losses["complex"]
                            + losses.get("gen", 0.0) + args.feature_matching_weight * losses.get("feat", 0.0))
                optimizer.zero_grad(set_to_none=True)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(unwrapped.trainable_parameters(), args.max_grad_norm)
                optimizer.step()
            if not accelerator.sync_gradients:
                continue
            lr_scheduler.step()
            state.step += 1
            progress.update(1)
            for key, value in losses.items():
                running[key] = running.get(key, 0.0) + float(value)
            running["n"] = running.get("n", 0) + 1
            progress.set_postfix({key: f"{float(value):.3f}" for key, value in losses.items()})

            # every process stops at the same step: the main process's clock decides
            stop = deadline is not None and bool(broadcast(torch.tensor([time.time() > deadline],
                                                                        device=accelerator.device))[0])
            last = stop or state.step == args.max_train_steps
            if state.step % 50 == 0 or last:
                n = running.pop("n")
                row = {"step": state.step, "time_s": round(time.time() - start, 1), "lr": lr_scheduler.get_last_lr()[0]}
                row |= {key: value / n for key, value in running.items()}
                running = {}
                if accelerator.is_main_process and (state.step % args.validation_steps == 0 or last):
                    row |= validate(unwrapped, val_clips, args.sampling_rate)
                    logger.info(json.dumps(row))
                log_rows.append(row)
                if accelerator.is_main_process:
                    with open(log_path, "a") as f:
                        f.write(json.dumps(row) + "\n")
            if state.step % args.checkpointing_steps == 0 or last:
                accelerator.save_state(safe_serialization=False)  # vocos STFT windows share storage after a load
                if accelerator.is_main_process:
                    save_models(unwrapped, args.output_dir)
                    write_log_csv(args.output_dir / "train_log.csv", log_rows)
                    plot_log(args.output_dir / "train_log.png", log_rows,
                             ["mel", "complex", "log_magnitude", "spectral_convergence", "gen", "feat", "val_mel_l1",
                              "val_stoi", "val_pesq", "val_f0_error_st"],
                             f"codec training ({args.output_dir.name})")
            if last:
                if stop:
                    logger.info(f"--max_train_minutes {args.max_train_minutes} reached at step {state.step}")
                break
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_models(unwrapped, args.output_dir)
        logger.info(f"saved {args.output_dir / 'codec'}")
    accelerator.end_training()


def save_models(model: CodecAutoencoder, output_dir: Path) -> None:
    model.codec.save_pretrained(output_dir / "codec")
    strip_local_paths(output_dir / "codec")
    if model.vocoder is not None:
        model.vocoder.save_pretrained(output_dir / "vocoder")
        strip_local_paths(output_dir / "vocoder")


def _spread(rows: list[dict], n: int) -> list[dict]:
    """`n` rows spread over the sorted list (real recordings first, then TTS, then synthetic) and over voices."""
    by_voice: dict[str, list[dict]] = {}
    for row in rows:
        by_voice.setdefault(row.get("voice", ""), []).append(row)
    picked, index = [], 0
    while len(picked) < n and any(by_voice.values()):
        for voice in list(by_voice):
            if by_voice[voice] and len(picked) < n:
                picked.append(by_voice[voice].pop(index % len(by_voice[voice])))
        index += 1
    return picked


def _find_checkpoint(output_dir: Path, name: str) -> Path | None:
    if name != "latest":
        return Path(name)
    checkpoints = sorted((output_dir / "checkpoints").glob("checkpoint_*"), key=lambda p: int(p.name.split("_")[-1]))
    return checkpoints[-1] if checkpoints else None


if __name__ == "__main__":
    main()
