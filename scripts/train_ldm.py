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
import hashlib
import importlib.util
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator, PartialState
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, broadcast, gather_object, set_seed
from diffusers import DDIMScheduler, DDPMScheduler
from diffusers.training_utils import EMAModel, compute_density_for_timestep_sampling
from tqdm.auto import tqdm
from transformers import EncodecModel, get_scheduler

from latentdiff_edit import LatentDenoiser1D, VoiceEditPipeline
from latentdiff_edit import codec as codec_utils
from latentdiff_edit.attributes import AttributeSchema, SourceAttributes
from latentdiff_edit.defaults import (
    DEFAULT_GUIDANCE_SCALE,
    DEFAULT_HARMONIC_GUIDANCE,
    DEFAULT_INVERSION_DEPTH,
    DEFAULT_NUM_INFERENCE_STEPS,
    auto_inversion_depth,
    default_edit_region,
)
from latentdiff_edit.features import (
    extract_f0,
    frame_energy_db,
    hz_to_semitones,
    spectral_envelope,
    voiced_semitone_differences,
)
from latentdiff_edit.inversion import auto_inversion_method
from latentdiff_edit.latents import latent_snr_db
from latentdiff_edit.models.denoiser import octave_safe_frequencies
from latentdiff_edit.models.vocoder import VocosVocoder
from latentdiff_edit.training import (
    check_output_dir,
    load_clip,
    plot_log,
    read_manifest,
    scheduler_config,
    strip_local_paths,
    write_log_csv,
)

logger = get_logger(__name__)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--codec", type=str, required=True, help="transformers EncodecModel directory or Hub id.")
    p.add_argument("--vocoder", type=str, default=None,
                   help="A VocosVocoder directory trained on this codec's latents (saved into the pipeline).")
    p.add_argument("--output_dir", type=Path, required=True)
    p.add_argument("--cache_dir", type=Path, default=None, help="Where encoded latents are cached (OUTPUT_DIR/cache).")
    p.add_argument("--frame_attributes", nargs="*", default=["f0", "energy"], choices=["f0", "energy", "envelope"],
                   help="Frame attributes to condition on (envelope: the source's spectral envelope, which edits keep, "
                        "so that the words stay). With --init_denoiser, those the saved model lacks are added, "
                        "zero-initialized: training starts from the saved model's predictions.")
    p.add_argument("--continuous_attributes", nargs="*", default=["intonation=f0_spread_st", "rate=rate"],
                   help="NAME=COLUMN pairs (or NAME when the column has that name).")
    p.add_argument("--categorical_attributes", nargs="*", default=["style"], help="NAME=COLUMN pairs.")
    p.add_argument("--hidden_size", type=int, default=192)
    p.add_argument("--num_layers", type=int, default=6)
    p.add_argument("--num_heads", type=int, default=4)
    p.add_argument("--mlp_ratio", type=float, default=2.0)
    p.add_argument("--segment_frames", type=int, default=160, help="Training crop length in latent frames.")
    p.add_argument("--train_batch_size", type=int, default=16, help="Clips per process and micro-step.")
    p.add_argument("--gradient_accumulation_steps", type=int, default=1)
    p.add_argument("--learning_rate", type=float, default=3e-4)
    p.add_argument("--lr_scheduler", default="cosine_with_min_lr",
                   help="A schedule of transformers' `get_scheduler` (cosine_with_min_lr, cosine, linear, constant...).")
    p.add_argument("--min_lr_rate", type=float, default=0.1, help="Final LR fraction of cosine_with_min_lr.")
    p.add_argument("--lr_warmup_steps", type=int, default=300)
    p.add_argument("--max_train_steps", type=int, default=20000, help="Optimizer updates (of all processes together).")
    p.add_argument("--max_train_minutes", type=float, default=None,
                   help="Stop this chunk after so many minutes (wall clock), at a step it validates, checkpoints and "
                        "saves: a time-boxed run (a lent GPU, a CPU session) that the next chunk resumes.")
    p.add_argument("--lr_schedule_steps", type=int, default=None,
                   help="Length of the learning-rate schedule (default --max_train_steps): stop early on a longer "
                        "schedule, e.g. the shipped v0.4 is step 4,000 of a cosine set for 8,000.")
    p.add_argument("--timestep_sampling", default="uniform", choices=["uniform", "logit_normal"],
                   help="logit_normal (SD3's density) puts more steps at high noise, where only the condition tells "
                        "the model the pitch; below t~600 the noisy latent itself still carries it.")
    p.add_argument("--logit_mean", type=float, default=0.8)
    p.add_argument("--logit_std", type=float, default=1.0)
    p.add_argument("--prediction_type", default="epsilon", choices=["epsilon", "v_prediction"],
                   help="What the denoiser predicts (saved in the pipeline's scheduler config).")
    p.add_argument("--frame_fourier_features", type=int, default=0,
                   help="Sine/cosine pairs per frame-attribute channel (see LatentDenoiser1D).")
    p.add_argument("--frame_fourier_frequencies", default="powers_of_two", choices=["powers_of_two", "octave_safe"],
                   help="Their frequencies: 0.25 * 2**k cycles per normalized unit (models up to v0.10), or (k + 1/2) "
                        "cycles per octave of log-F0 (`octave_safe_frequencies`), which keeps an F0 and its octave "
                        "apart in the condition. With --init_denoiser, given explicitly it replaces the saved ones.")
    p.add_argument("--loss_weighting", default="none", choices=["none", "v"],
                   help="v: weight the epsilon MSE by 1/alpha_bar_t (clamped), which equals the v-prediction loss "
                        "(Salimans & Ho, 2022): at high noise an epsilon error hides a large x0 error, so without it "
                        "the model gains almost nothing from the F0 contour there. Only with --prediction_type "
                        "epsilon (v_prediction has this weighting built in).")
    p.add_argument("--max_loss_weight", type=float, default=10.0)
    p.add_argument("--timbre_layers", type=int, default=0,
                   help="Convolution layers of the timbre encoder (a global voice condition from clean latents of "
                        "the speaker's recording; see LatentDenoiser1D). 0: none.")
    p.add_argument("--timbre_max_frames", type=int, default=500, help="Longest timbre reference (latent frames).")
    p.add_argument("--timbre_same_clip", type=float, default=0.3,
                   help="Probability that the reference is a crop of the training clip itself; otherwise it is "
                        "another clip of the same `voice` (manifest column), so the condition carries the voice and "
                        "not the clip's words or pitch contour.")
    p.add_argument("--timbre_dropout", type=float, default=0.1, help="Probability of a null timbre.")
    p.add_argument("--attribute_dropout", type=float, default=0.15, help="Per-attribute null probability.")
    p.add_argument("--all_dropout", type=float, default=0.1, help="Probability that every attribute is null.")
    p.add_argument("--ema_decay", type=float, default=0.999)
    p.add_argument("--max_grad_norm", type=float, default=1.0)
    p.add_argument("--checkpointing_steps", type=int, default=1000)
    p.add_argument("--checkpoints_total_limit", type=int, default=2, help="Older checkpoints are deleted.")
    p.add_argument("--validation_steps", type=int, default=1000)
    p.add_argument("--num_validation_clips", type=int, default=6)
    p.add_argument("--validation_inference_steps", type=int, default=25)
    p.add_argument("--validation_selection", default="f0_quantiles", choices=["f0_quantiles", "first"],
                   help="Which validation-split clips validate: f0_quantiles (default) takes the clips at the middles "
                        "of --num_validation_clips equal bands of median F0, so low and high voices are both edited "
                        "(the first rows of a corpus are often one speaker); first takes the first rows (before "
                        "toolkit 0.14.0).")
    p.add_argument("--no_guided_validation", action="store_true",
                   help="Validate the denoiser's unguided +3 st response only, not also the -3 / +3 st edits at the "
                        "command line's defaults (achieved shifts and octave-off frames; about twice the time).")
    p.add_argument("--resume_from_checkpoint", type=str, default=None,
                   help='A checkpoint folder or "latest" (any number of processes may resume it).')
    p.add_argument("--init_denoiser", type=str, default=None, help="Continue from a saved denoiser (directory).")
    p.add_argument("--renormalize_latents", action="store_true",
                   help="With --init_denoiser: take the latent statistics from this codec's latents instead of the "
                        "saved denoiser's (continuing on a codec whose encoder was fine-tuned since).")
    p.add_argument("--max_train_clips", type=int, default=None, help="Use only the first N training clips (smoke).")
    p.add_argument("--mixed_precision", type=str, default=None, choices=["no", "fp16", "bf16"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num_threads", type=int, default=None, help="torch.set_num_threads per process (CPU).")
    p.add_argument("--debug_dump_dir", type=Path, default=None,
                   help="Each process writes rank{N}.json there: a hash of every batch it trained on and of its "
                        "final weights (what the distributed tests compare).")
    args = p.parse_args(argv)
    if args.train_batch_size < 1 or args.gradient_accumulation_steps < 1 or args.max_train_steps < 1:
        p.error("--train_batch_size, --gradient_accumulation_steps and --max_train_steps must be >= 1")
    if args.lr_schedule_steps is not None and args.lr_schedule_steps < args.max_train_steps:
        p.error("--lr_schedule_steps must be at least --max_train_steps")
    return args


def _pairs(items):
    return [tuple(x.split("=", 1)) if "=" in x else (x, x) for x in items]


# ----------------------------------------------------------------------------------------------------------------
# 1. Cache: latents and contours, computed once per clip


@torch.no_grad()
def encode_corpus(rows, codec, cache_path: Path, state: PartialState, root: Path | None = None,
                  envelope: bool = False) -> list[dict]:
    """Latents `(C, T)` (float16), `f0` `(T,)` Hz and `energy` `(T,)` dB of every row (and, with `envelope`, the
    spectral envelope `(12, T)`, float16), in row order, each with the index of its row. The cache at `cache_path`
    (one file per codec) holds every clip ever encoded, keyed by its path relative to `root` (the manifest's folder):
    a corpus that grows encodes only its new clips, and a cached clip gets only the envelope it lacks. Each process
    encodes its share and `gather_object` hands every process all of them."""
    def key(row):
        return os.path.relpath(row["path"], root) if root is not None else row["path"]

    cached = {item["path"]: item for item in torch.load(cache_path, weights_only=True)} if cache_path.is_file() else {}
    todo = [i for i, row in enumerate(rows)
            if key(row) not in cached or (envelope and "envelope" not in cached[key(row)])]
    if todo:
        sr, hop = codec.config.sampling_rate, codec_utils.hop_length(codec)
        new = []
        with state.split_between_processes(todo) as indices:
            for i in tqdm(indices, desc=f"encoding {len(todo)} clips", disable=not state.is_main_process):
                try:
                    clip = load_clip(rows[i]["path"], sr, max_seconds=30.0)
                except ValueError as e:
                    logger.warning(f"skipping {rows[i]['path']}: {e}")
                    continue
                audio = clip.double().numpy()
                item = cached.get(key(rows[i]))
                if item is None:
                    latents = codec_utils.encode(codec, clip[None])[0]  # (C, T)
                    frames = latents.shape[-1]
                    item = {
                        "path": key(rows[i]),
                        "latents": latents.half(),
                        "f0": torch.from_numpy(extract_f0(audio, sr, hop, frames)),
                        "energy": torch.from_numpy(frame_energy_db(audio, hop, frames)),
                    }
                if envelope:
                    frames = item["latents"].shape[-1]
                    item = {**item, "envelope": torch.from_numpy(spectral_envelope(audio, sr, hop, frames)).half()}
                new.append(item)
        for item in gather_object(new):
            cached[item["path"]] = item
        if state.is_main_process:
            tmp = cache_path.with_suffix(".tmp")
            torch.save(list(cached.values()), tmp)
            tmp.replace(cache_path)  # a run killed while saving keeps the previous cache
        state.wait_for_everyone()
    return [cached[key(row)] | {"index": i} for i, row in enumerate(rows) if key(row) in cached]


def codec_tag(codec) -> str:
    """Names the latent cache after the codec's weights: a retrained codec never reads another codec's latents."""
    return _weights_hash(codec)[:12]


def adopt_architecture(args, denoiser: LatentDenoiser1D, argv: list[str]) -> None:
    """A run that continues a saved denoiser trains the saved architecture: `args` take its timbre and Fourier
    settings (so its timbre encoder gets references even when the command line leaves `--timbre_layers` out), and
    a flag given with another value is reported as ignored. `--frame_fourier_frequencies` given explicitly is the
    exception: it sets the saved model's frequencies (its frame embedding then learns the new features)."""
    for name in ("timbre_layers", "timbre_max_frames", "frame_fourier_features"):
        saved = denoiser.config[name]
        if saved != getattr(args, name) and f"--{name}" in argv:
            logger.warning(f"--{name} {getattr(args, name)} ignored: --init_denoiser has {saved}")
        setattr(args, name, saved)
    if "--frame_fourier_frequencies" in argv:
        frequencies = fourier_frequencies(args, denoiser.config.attributes)
        if frequencies != denoiser.config.get("frame_fourier_frequencies"):
            logger.info(f"frame Fourier frequencies of --init_denoiser set to {args.frame_fourier_frequencies}")
        denoiser.register_to_config(frame_fourier_frequencies=frequencies)


def fourier_frequencies(args, schema_specs) -> list[float] | None:
    """The denoiser's `frame_fourier_frequencies` for `--frame_fourier_frequencies` (None: powers of two)."""
    if args.frame_fourier_frequencies == "powers_of_two" or not args.frame_fourier_features:
        return None
    f0 = [spec for spec in schema_specs if spec["name"] == "f0" and spec["type"] == "frame"]
    if not f0:
        raise ValueError("--frame_fourier_frequencies octave_safe needs the f0 frame attribute")
    return octave_safe_frequencies(args.frame_fourier_features, float(f0[0]["std"]))


def frame_attribute_specs(items, names) -> list[dict]:
    """Schema entries of the frame attributes `names`, normalized by statistics of the training items (the
    envelope per coefficient)."""
    specs = []
    for name in names:
        if name == "f0":
            st = hz_to_semitones(torch.cat([it["f0"] for it in items]).numpy())
            st = st[np.isfinite(st)]
            specs.append({"name": "f0", "type": "frame", "dim": 2, "mean": float(st.mean()), "std": float(st.std())})
        elif name == "energy":
            energy = torch.cat([it["energy"] for it in items]).numpy()
            specs.append({"name": "energy", "type": "frame", "dim": 1, "mean": float(energy.mean()),
                          "std": float(energy.std())})
        else:
            envelope = torch.cat([it["envelope"].float() for it in items], dim=-1).numpy()  # (12, total frames)
            specs.append({"name": "envelope", "type": "frame", "dim": envelope.shape[0],
                          "mean": envelope.mean(-1).tolist(), "std": envelope.std(-1).clip(1e-3).tolist()})
    return specs


def build_schema(items, rows, args) -> list[dict]:
    """The attribute schema, with normalization statistics and ranges measured on the training items."""
    schema = frame_attribute_specs(items, args.frame_attributes)
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


def clip_values(rows, items, schema: AttributeSchema) -> None:
    """Give each item `values`: its clip-level attributes, read from the schema's manifest columns and checked
    against the schema now, so that a value the model cannot take stops the run before training."""
    for item in items:
        row, values = rows[item["index"]], {}
        for spec in schema.specs:
            raw = row.get(spec.get("column", spec["name"]))
            if spec["type"] == "frame" or raw is None:
                continue
            try:
                if spec["type"] == "continuous":
                    raw = float(raw)
                    if not np.isfinite(raw):
                        continue
                else:
                    raw = str(raw)
                schema.check_value(spec["name"], raw)
            except ValueError as e:
                raise ValueError(f"{row['path']}: column `{spec.get('column', spec['name'])}`: {e}") from None
            values[spec["name"]] = raw
        item["values"] = values


def voice_pools(rows, items) -> None:
    """Give each item `voice_pool`: the indices of the items of its `voice` (itself when the column is missing)."""
    by_voice: dict[str, list[int]] = {}
    for j, item in enumerate(items):
        by_voice.setdefault(str(rows[item["index"]].get("voice") or f"clip{j}"), []).append(j)
    for j, item in enumerate(items):
        item["voice_pool"] = by_voice[str(rows[item["index"]].get("voice") or f"clip{j}")]


def timbre_reference(items, item: dict, args, rng: np.random.Generator) -> torch.Tensor:
    """A reference `(C, <= timbre_max_frames)` for an item's timbre condition: a random crop of the clip itself
    (probability `--timbre_same_clip`) or of another clip of the same voice."""
    pool = item.get("voice_pool", [])
    source = item if len(pool) < 2 or rng.random() < args.timbre_same_clip else items[pool[rng.integers(len(pool))]]
    frames = source["latents"].shape[-1]
    length = min(frames, args.timbre_max_frames)
    start = int(rng.integers(0, frames - length + 1))
    return source["latents"][:, start : start + length].float()


def make_batch(items, schema: AttributeSchema, args, rng: np.random.Generator):
    """Random crops `(B, C, segment)` with padding mask `(B, segment)`, their conditions from
    `AttributeSchema.encode`, the encoding the pipeline edits with (dropped attributes are null), and the denoiser's
    timbre inputs (`{}` without `--timbre_layers`; a dropped timbre is a reference without real frames)."""
    seg = args.segment_frames
    batch_items = [items[j] for j in rng.integers(0, len(items), args.train_batch_size)]
    channels = batch_items[0]["latents"].shape[0]
    latents = torch.zeros(len(batch_items), channels, seg)
    mask = torch.zeros(len(batch_items), seg, dtype=torch.bool)
    conditions, references, keep_timbre = [], [], []
    for b, item in enumerate(batch_items):
        frames = item["latents"].shape[-1]
        start = int(rng.integers(0, max(frames - seg, 0) + 1))
        length = min(seg, frames - start)
        latents[b, :, :length] = item["latents"][:, start : start + length].float()
        mask[b, :length] = True
        drop_all = rng.random() < args.all_dropout
        dropped = [spec["name"] for spec in schema.specs if drop_all or rng.random() < args.attribute_dropout]
        envelope = item.get("envelope")
        crop = SourceAttributes(item["f0"][start : start + length].numpy(),
                                item["energy"][start : start + length].numpy(), item["values"],
                                None if envelope is None else envelope[:, start : start + length].float().numpy())
        conditions.append(schema.encode([crop], seg, drop=dropped))
        if args.timbre_layers:
            references.append(timbre_reference(items, item, args, rng))
            keep_timbre.append(not drop_all and rng.random() >= args.timbre_dropout)
    conditions = {name: torch.cat([c[name] for c in conditions]) for name in schema.names}
    timbre = {}
    if references:
        width = max(r.shape[-1] for r in references)
        timbre_latents = torch.zeros(len(references), channels, width)
        timbre_mask = torch.zeros(len(references), width, dtype=torch.bool)
        for b, (reference, keep) in enumerate(zip(references, keep_timbre)):
            timbre_latents[b, :, : reference.shape[-1]] = reference
            timbre_mask[b, : reference.shape[-1]] = keep
        timbre = {"timbre_latents": timbre_latents, "timbre_mask": timbre_mask}
    return latents, mask, conditions, timbre


# ----------------------------------------------------------------------------------------------------------------
# 3. Validation: the real measure of an edit


@torch.no_grad()
def validate_edit(pipe: VoiceEditPipeline, clips, args) -> dict:
    """Invert validation clips, edit pitch by +3 st, measure the achieved shift (Praat, frames voiced in both).

    `val_pitch_shift_st` is the denoiser's own response (guidance 1, the inversion it was validated with since v0.1);
    unless `--no_guided_validation`, the edits a user gets are measured too: -3 and +3 st at the command line's
    defaults (its inversion, depth, steps, guidance and edit region per direction), their median achieved shifts
    (`val_guided_down_st`, `val_guided_up_st`) and the share of the source's voiced frames they render an octave
    off the asked F0 (`val_octave_off_pct`, the spectrum check of the benchmark; needs librosa, the `eval` extra)."""
    shifts, snrs = [], []
    sr = pipe.sampling_rate
    for clip in clips:
        inversion = pipe.invert(clip, sr, num_inference_steps=args.validation_inference_steps,
                                inversion_depth=DEFAULT_INVERSION_DEPTH)
        regenerated = pipe(inversion=inversion, output_type="latent").audios
        snrs.append(latent_snr_db(inversion.source_latents, regenerated))
        edited = pipe(inversion=inversion, pitch_shift=3.0, guidance_scale=1.0).audios[0]
        differences = voiced_semitone_differences(clip.numpy(), edited, sr)
        if len(differences) > 5:
            shifts.append(float(np.median(differences)))
    row = {"val_recon_snr_db": float(np.mean(snrs)),
           "val_pitch_shift_st": float(np.median(shifts)) if shifts else float("nan")}
    if not args.no_guided_validation:
        row |= validate_guided_edits(pipe, clips, args.seed)
    return row


def validation_indices(rows: list[dict], num_clips: int, selection: str = "f0_quantiles") -> list[int]:
    """Indices of the validation-split rows that validate (`--validation_selection`): the first `num_clips`, or those
    nearest the quantiles (k + 0.5) / num_clips of the rows' `f0_median_hz` (rows without one are ranked last), in
    order of F0."""
    candidates = [i for i, r in enumerate(rows) if r.get("split") == "validation"]
    if selection == "first" or len(candidates) <= num_clips:
        return candidates[:num_clips]
    if selection != "f0_quantiles":
        raise ValueError(f"unknown validation selection {selection!r}")
    f0 = np.array([float(rows[i].get("f0_median_hz") or 0.0) for i in candidates])
    by_f0 = [candidates[k] for k in np.argsort(np.where(f0 > 0, f0, np.inf), kind="stable")]
    positions = np.floor((np.arange(num_clips) + 0.5) / num_clips * len(by_f0)).astype(int)
    return [by_f0[k] for k in positions]


GUIDED_VALIDATION_SHIFTS = {"val_guided_down_st": -3.0, "val_guided_up_st": 3.0}


@torch.no_grad()
def validate_guided_edits(pipe: VoiceEditPipeline, clips, seed: int) -> dict:
    """-3 / +3 st edits of `clips` as the command line makes them (`validate_edit`)."""
    octave_off_frames = None  # the tracker-free octave check needs librosa (the `eval` extra); without it, shifts only
    if importlib.util.find_spec("librosa") is not None:
        from latentdiff_edit.evaluation.metrics import octave_off_frames
    sr, row, octave = pipe.sampling_rate, {}, [0, 0]
    for key, shift in GUIDED_VALIDATION_SHIFTS.items():
        shifts = []
        for clip in clips:
            source = clip.numpy()
            inversion = pipe.invert(clip, sr, num_inference_steps=DEFAULT_NUM_INFERENCE_STEPS,
                                    inversion_depth=auto_inversion_depth(shift), method=auto_inversion_method(shift),
                                    generator=torch.Generator("cpu").manual_seed(seed))
            edited = pipe(inversion=inversion, pitch_shift=shift, guidance_scale=DEFAULT_GUIDANCE_SCALE,
                          guidance_reference="source", edit_region=default_edit_region(moves_f0_only=True),
                          harmonic_guidance=DEFAULT_HARMONIC_GUIDANCE,
                          generator=torch.Generator("cpu").manual_seed(seed), output_type="np").audios[0]
            edited = edited[: len(source)]
            differences = voiced_semitone_differences(source, edited, sr)
            if len(differences) > 5:
                shifts.append(float(np.median(differences)))
            if octave_off_frames is not None:
                counts = octave_off_frames(source, edited, sr, pitch_shift=shift)
                octave[0] += max(0, counts["octave_below"] + counts["octave_above"] - counts["source_octave_off"])
                octave[1] += counts["voiced_frames"]
        row[key] = float(np.median(shifts)) if shifts else float("nan")
    if octave_off_frames is not None:
        row["val_octave_off_pct"] = 100.0 * octave[0] / octave[1] if octave[1] else float("nan")
    return row


def build_pipeline(codec, denoiser, prediction_type: str = "epsilon", vocoder=None) -> VoiceEditPipeline:
    # the pipeline derives its inverse scheduler from this one
    pipe = VoiceEditPipeline(codec=codec, denoiser=denoiser, vocoder=vocoder,
                             scheduler=DDIMScheduler(**scheduler_config(prediction_type=prediction_type)))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _portable(path: str | Path) -> str:
    # what a saved config records of a local path: its last two parts ("corpus/manifest.jsonl"), never the machine's
    # absolute location; a Hub id is kept as it is
    return "/".join(Path(path).parts[-2:]) if Path(path).exists() else str(path)


def _checkpoint_step(path: Path) -> int:
    return int(re.findall(r"(\d+)$", path.name)[0])


def _latest_checkpoint(output_dir: Path) -> Path | None:
    checkpoints = [p for p in (output_dir / "checkpoints").glob("checkpoint*") if re.search(r"\d+$", p.name)]
    return max(checkpoints, key=_checkpoint_step, default=None)


def _weights_hash(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode() + tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def main(argv=None):
    args = parse_args(argv)
    check_output_dir(args.output_dir, args.resume_from_checkpoint)
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    # One optimizer update is one step of the LR schedule whatever the number of processes
    # (step_scheduler_with_optimizer=False), so a checkpoint resumes on any number of processes at the same LR.
    # cpu=True without a GPU makes the processes of `accelerate launch --multi_gpu` one gloo group instead of
    # independent single-process runs.
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision, gradient_accumulation_steps=args.gradient_accumulation_steps,
        project_config=ProjectConfiguration(project_dir=str(args.output_dir), automatic_checkpoint_naming=True,
                                            total_limit=args.checkpoints_total_limit),
        step_scheduler_with_optimizer=False, cpu=not torch.cuda.is_available(),
    )
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    set_seed(args.seed)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = args.cache_dir or args.output_dir / "cache"
    cache_dir.mkdir(parents=True, exist_ok=True)

    # 1. Encode the corpus once
    codec = EncodecModel.from_pretrained(args.codec).eval()
    vocoder = VocosVocoder.from_pretrained(args.vocoder).eval() if args.vocoder else None
    rows = read_manifest(args.manifest)
    for row in rows:
        row.setdefault("split", "train")
    train_idx = [i for i, r in enumerate(rows) if r["split"] == "train"][: args.max_train_clips]
    val_idx = validation_indices(rows, args.num_validation_clips, args.validation_selection) or train_idx[:2]
    saved_attributes = LatentDenoiser1D.load_config(args.init_denoiser)["attributes"] if args.init_denoiser else []
    envelope = "envelope" in args.frame_attributes or any(a["name"] == "envelope" for a in saved_attributes)
    items = encode_corpus([rows[i] for i in train_idx], codec, cache_dir / f"latents_{codec_tag(codec)}.pt",
                          PartialState(), root=args.manifest.parent, envelope=envelope)
    for item in items:  # cache indices are into the sub-list
        item["index"] = train_idx[item["index"]]
    if not items:
        raise ValueError("no training clip could be read")

    # 2. Latent statistics and the attribute schema
    all_latents = torch.cat([it["latents"].float() for it in items], dim=-1)  # (C, total_frames)
    latents_mean, latents_std = all_latents.mean(-1), all_latents.std(-1).clamp_min(1e-5)
    schema_specs = build_schema(items, rows, args)
    del all_latents

    # 3. Model, noise scheduler, optimizer, EMA
    init_info = {}
    if args.init_denoiser:
        denoiser = LatentDenoiser1D.from_pretrained(args.init_denoiser)
        if denoiser.config.latent_channels != codec.config.hidden_size:
            raise ValueError("--init_denoiser does not match the codec's latent channels")
        added = [name for name in args.frame_attributes if name not in {a["name"] for a in saved_attributes}]
        if added:
            denoiser = denoiser.with_attributes(frame_attribute_specs(items, added))
            logger.info(f"frame attribute(s) {added} added to --init_denoiser, zero-initialized")
        schema_specs = denoiser.config.attributes
        adopt_architecture(args, denoiser, argv if argv is not None else sys.argv[1:])
        init_info = dict(denoiser.config.get("training_info") or {})  # what the continued model trained before
        if args.renormalize_latents:  # the saved model, moved to this codec's latent statistics
            denoiser.register_to_config(latents_mean=latents_mean.tolist(), latents_std=latents_std.tolist())
        latents_mean = torch.tensor(denoiser.config.latents_mean)
        latents_std = torch.tensor(denoiser.config.latents_std)
    else:
        denoiser = LatentDenoiser1D(
            latent_channels=codec.config.hidden_size, hidden_size=args.hidden_size, num_layers=args.num_layers,
            num_heads=args.num_heads, mlp_ratio=args.mlp_ratio, attributes=schema_specs,
            frame_fourier_features=args.frame_fourier_features,
            frame_fourier_frequencies=fourier_frequencies(args, schema_specs),
            timbre_layers=args.timbre_layers, timbre_max_frames=args.timbre_max_frames,
            latents_mean=latents_mean.tolist(), latents_std=latents_std.tolist(),
        )
    schema = AttributeSchema(schema_specs)
    clip_values(rows, items, schema)
    voice_pools(rows, items)
    for it in items:
        it["latents"] = ((it["latents"].float() - latents_mean[:, None]) / latents_std[:, None]).half()
    logger.info(f"{len(items)} training clips; schema {json.dumps(schema_specs)}")
    logger.info(f"denoiser: {sum(p.numel() for p in denoiser.parameters()) / 1e6:.2f} M parameters")
    if args.loss_weighting != "none" and args.prediction_type != "epsilon":
        raise ValueError("--loss_weighting applies to --prediction_type epsilon only")
    sched_config = scheduler_config(prediction_type=args.prediction_type)
    noise_scheduler = DDPMScheduler(**{k: v for k, v in sched_config.items() if k != "set_alpha_to_one"})
    optimizer = torch.optim.AdamW(denoiser.parameters(), lr=args.learning_rate, weight_decay=0.01)
    lr_scheduler = get_scheduler(
        args.lr_scheduler, optimizer, num_warmup_steps=args.lr_warmup_steps,
        num_training_steps=args.lr_schedule_steps or args.max_train_steps,
        scheduler_specific_kwargs={"min_lr_rate": args.min_lr_rate} if "min_lr" in args.lr_scheduler else None,
    )
    denoiser, optimizer, lr_scheduler = accelerator.prepare(denoiser, optimizer, lr_scheduler)
    ema = EMAModel(accelerator.unwrap_model(denoiser).parameters(), decay=args.ema_decay)
    ema.to(accelerator.device)
    accelerator.register_for_checkpointing(ema)

    global_step, log_rows = 0, []
    log_path = args.output_dir / "train_log.jsonl"
    if args.resume_from_checkpoint:
        ckpt = _latest_checkpoint(args.output_dir) if args.resume_from_checkpoint == "latest" else \
            Path(args.resume_from_checkpoint)
        if ckpt is not None:
            accelerator.load_state(str(ckpt))
            global_step = _checkpoint_step(ckpt)
            if log_path.is_file():
                log_rows = [r for r in map(json.loads, log_path.read_text().splitlines()) if r["step"] <= global_step]
            logger.info(f"resumed from {ckpt} at step {global_step}")

    start_weights = _weights_hash(accelerator.unwrap_model(denoiser)) if args.debug_dump_dir is not None else None
    val_clips = [load_clip(rows[i]["path"], codec.config.sampling_rate, max_seconds=8.0) for i in val_idx]
    # each process draws its own crops: the processes train on different data
    rng = np.random.default_rng(args.seed + global_step + 1000 * accelerator.process_index)

    def save_pipeline(path: Path, extra: dict):
        model = copy.deepcopy(accelerator.unwrap_model(denoiser)).eval()
        ema.copy_to(model.parameters())
        continued = {"init_denoiser": _portable(args.init_denoiser),
                     "init_steps": init_info.get("total_steps", init_info.get("steps"))} if args.init_denoiser else {}
        model.register_to_config(training_info={
            "manifest": _portable(args.manifest), "train_clips": len(items), "steps": global_step,
            "total_steps": global_step + (continued.get("init_steps") or 0),
            "codec": _portable(args.codec), "recipe": "scripts/train_ldm.py", **continued, **extra,
        })
        pipe = build_pipeline(codec, model, args.prediction_type, vocoder=vocoder)
        pipe.save_pretrained(path)
        strip_local_paths(path)  # components loaded from a folder remember where it was
        return pipe

    # 4. Training loop; a step is one optimizer update over `gradient_accumulation_steps` micro-batches per process
    denoiser.train()
    progress = tqdm(total=args.max_train_steps, initial=global_step, desc="ldm", disable=not accelerator.is_main_process)
    # the clock continues from the resumed log: time_s is the training time of all chunks together
    start = time.time() - (log_rows[-1]["time_s"] if log_rows else 0.0)
    deadline = time.time() + 60 * args.max_train_minutes if args.max_train_minutes is not None else None
    running, n_running, batch_hashes = 0.0, 0, []
    while global_step < args.max_train_steps:
        with accelerator.accumulate(denoiser):
            latents, mask, conditions, timbre = make_batch(items, schema, args, rng)  # (B, C, T), (B, T)
            if args.debug_dump_dir is not None:
                batch_hashes.append(hashlib.sha256(latents.numpy().tobytes()).hexdigest())
            latents, mask = latents.to(accelerator.device), mask.to(accelerator.device)
            conditions = {k: v.to(accelerator.device) for k, v in conditions.items()}
            timbre = {k: v.to(accelerator.device) for k, v in timbre.items()}
            noise = torch.randn_like(latents)
            u = compute_density_for_timestep_sampling(args.timestep_sampling, latents.shape[0], args.logit_mean,
                                                      args.logit_std, device=latents.device)
            timesteps = (u * noise_scheduler.config.num_train_timesteps).long().clamp_max(
                noise_scheduler.config.num_train_timesteps - 1)
            noisy = noise_scheduler.add_noise(latents, noise, timesteps) * mask[:, None]
            with accelerator.autocast():
                # the prepared (DDP) model: its backward all-reduces the gradients
                pred = denoiser(noisy, timesteps, conditions=conditions, padding_mask=mask, **timbre).sample
            # the scheduler's prediction target, on real frames only
            target = noise if args.prediction_type == "epsilon" else \
                noise_scheduler.get_velocity(latents, noise, timesteps)
            weight = torch.ones_like(timesteps, dtype=torch.float32)
            if args.loss_weighting == "v":
                alphas_cumprod = noise_scheduler.alphas_cumprod.to(latents.device)[timesteps]
                weight = (1.0 / alphas_cumprod).clamp_max(args.max_loss_weight)
            loss = (F.mse_loss(pred.float(), target, reduction="none") * mask[:, None]
                    * weight[:, None, None]).sum() / (mask.sum() * latents.shape[1])
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(denoiser.parameters(), args.max_grad_norm)
            optimizer.step()  # a no-op until the last micro-batch of the step
            optimizer.zero_grad(set_to_none=True)
        running, n_running = running + loss.item(), n_running + 1
        if not accelerator.sync_gradients:
            continue
        lr_scheduler.step()
        ema.step(accelerator.unwrap_model(denoiser).parameters())
        global_step += 1
        progress.update(1)
        progress.set_postfix(loss=f"{loss.item():.4f}")
        # every process stops at the same step: the main process's clock decides
        stop = deadline is not None and bool(broadcast(torch.tensor([time.time() > deadline],
                                                                    device=accelerator.device))[0])
        last = stop or global_step == args.max_train_steps

        if global_step % 50 == 0 or last:
            mean_loss = accelerator.gather(torch.tensor([running / n_running], device=accelerator.device)).mean()
            row = {"step": global_step, "time_s": round(time.time() - start, 1), "loss": mean_loss.item(),
                   "lr": lr_scheduler.get_last_lr()[0]}
            running, n_running = 0.0, 0
            if accelerator.is_main_process and (global_step % args.validation_steps == 0 or last):
                pipe = save_pipeline(args.output_dir / "pipeline", {})
                row |= validate_edit(pipe, val_clips, args)
                logger.info(json.dumps(row))
            log_rows.append(row)
            if accelerator.is_main_process:
                with open(log_path, "a") as f:
                    f.write(json.dumps(row) + "\n")
                write_log_csv(args.output_dir / "train_log.csv", log_rows)
                plot_log(args.output_dir / "train_log.png", log_rows,
                         ["loss", "val_recon_snr_db", "val_pitch_shift_st", "val_guided_up_st", "val_guided_down_st",
                          "val_octave_off_pct"], "latent diffusion training")
        if global_step % args.checkpointing_steps == 0 or last:
            # checkpoints/checkpoint_{step}; accelerate deletes all but the newest `--checkpoints_total_limit`
            accelerator.project_configuration.iteration = global_step
            accelerator.save_state()
        if stop:
            logger.info(f"--max_train_minutes {args.max_train_minutes} reached at step {global_step}")
            break

    accelerator.wait_for_everyone()
    if args.debug_dump_dir is not None:
        args.debug_dump_dir.mkdir(parents=True, exist_ok=True)
        dump = {"process_index": accelerator.process_index, "num_processes": accelerator.num_processes,
                "global_step": global_step, "scheduler_steps": lr_scheduler.scheduler.last_epoch,
                "lr": lr_scheduler.get_last_lr()[0], "batch_hashes": batch_hashes,
                "start_weights_sha256": start_weights, "weights_sha256": _weights_hash(accelerator.unwrap_model(denoiser))}
        (args.debug_dump_dir / f"rank{accelerator.process_index}.json").write_text(json.dumps(dump, indent=1))
    if accelerator.is_main_process:
        last = log_rows[-1] if log_rows else {}
        save_pipeline(args.output_dir / "pipeline", {k: v for k, v in last.items() if k.startswith("val_")})
        logger.info(f"saved pipeline to {args.output_dir / 'pipeline'}")
    accelerator.end_training()


if __name__ == "__main__":
    main()
