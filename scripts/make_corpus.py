#!/usr/bin/env python
"""Build the training corpus (WAVs + manifest.jsonl + summary.json): real recordings, natural TTS voices, a small
share of labeled espeak-ng/flite speech, and augmented copies that sound recorded.

    python scripts/make_corpus.py --output_dir data/corpus \
        --sources asterisk rhvoice pico mbrola piper synthetic --num_tts_clips 4000 --num_clips 1500 \
        --augment_fraction 0.5

`synthetic` is the labeled espeak-ng/flite corpus of `latentdiff_edit.data.corpus` (prosody presets, paired
renderings for oracle targets; `--num_clips` of them). The other sources are in `latentdiff_edit.data.voices`; a
source that is not installed is skipped with a warning. Labels (F0 median and spread, rate, loudness) are measured
on the audio of every row. The LibriVox development clips are never used here.
"""

import argparse
import json
import logging
import os
import random
from collections import Counter
from functools import partial
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from latentdiff_edit.data.corpus import make_sentences, plan_corpus, render_clip, write_manifest
from latentdiff_edit.data.voices import TTS_SOURCES, asterisk_items, render_item, tts_items
from latentdiff_edit.features import measure_attributes

ALL_SOURCES = ["asterisk", *TTS_SOURCES, "synthetic"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", type=Path, required=True)
    parser.add_argument("--sources", nargs="+", default=["synthetic"], choices=ALL_SOURCES)
    parser.add_argument("--num_clips", type=int, default=8000, help="Clips of the labeled espeak-ng/flite corpus.")
    parser.add_argument("--num_tts_clips", type=int, default=4000, help="Clips spread over the natural TTS voices.")
    parser.add_argument("--asterisk_languages", nargs="+", default=["en", "es", "fr", "it", "ru"])
    parser.add_argument("--max_real_clips", type=int, default=None, help="Use at most N real recordings (smoke).")
    parser.add_argument("--augment_fraction", type=float, default=0.0,
                        help="Augmented copies of this fraction of the real/TTS training clips (rooms, EQ, noise, MP3).")
    parser.add_argument("--cache_dir", type=Path, default=None, help="Downloads (default OUTPUT_DIR/cache).")
    parser.add_argument("--sampling_rate", type=int, default=16000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_workers", type=int, default=os.cpu_count())
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(format="%(levelname)s %(message)s", level=logging.INFO)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = args.cache_dir or args.output_dir / "cache"
    rows, failures = [], []

    # 1. Real recordings and natural TTS voices
    items = []
    if "asterisk" in args.sources:
        items += asterisk_items(args.asterisk_languages, cache_dir)[: args.max_real_clips]
    tts = [s for s in args.sources if s in TTS_SOURCES]
    if tts and args.num_tts_clips > 0:
        items += tts_items(tts, make_sentences(max(600, args.num_tts_clips // 2), args.seed + 1), args.num_tts_clips,
                           seed=args.seed)
    render = partial(_render_item, output_dir=args.output_dir, sampling_rate=args.sampling_rate)
    rows_items = _map(render, items, args.num_workers, "voices", failures)
    rows += rows_items

    # 2. Augmented copies of training clips (toward rooms, microphones, noise, MP3)
    if args.augment_fraction > 0:
        rng = random.Random(args.seed)
        train = [r for r in rows_items if r["split"] == "train"]
        chosen = rng.sample(train, int(len(train) * args.augment_fraction))
        augment = partial(_augment_row, output_dir=args.output_dir, seed=args.seed)
        rows += _map(augment, list(enumerate(chosen)), args.num_workers, "augmenting", failures)

    # 3. The labeled espeak-ng / flite corpus (prosody presets, paired renderings)
    if "synthetic" in args.sources and args.num_clips > 0:
        specs = plan_corpus(args.num_clips, seed=args.seed)
        synth = partial(_render_synthetic, output_dir=args.output_dir, sampling_rate=args.sampling_rate)
        rows += _map(synth, specs, args.num_workers, "synthesizing", failures)

    write_manifest(rows, args.output_dir / "manifest.jsonl")
    summary = summarize_sources(rows) | {"failures": failures[:20], "num_failures": len(failures), "seed": args.seed,
                                         "sources": args.sources}
    (args.output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


def _map(fn, jobs, num_workers, desc, failures):
    rows = []
    with Pool(max(1, num_workers)) as pool:
        for row, error in tqdm(pool.imap(_Safe(fn), jobs, chunksize=4), total=len(jobs), desc=desc):
            (rows.append(row) if row else failures.append(error))
    return rows


def _render_item(item, output_dir: Path, sampling_rate: int) -> dict:
    rel = Path("wavs") / item.split / item.source / f"{item.item_id}.wav"
    render_item(item, output_dir / rel, sampling_rate)
    return _measured_row(output_dir, rel, {
        "source": item.source, "voice": item.voice, "gender": item.gender, "kind": item.kind, "split": item.split,
        "text": item.text, "augmented": False,
    })


def _augment_row(job, output_dir: Path, seed: int) -> dict:
    from latentdiff_edit.data.augment import augment_clip, real_recording_augmentation

    index, row = job
    audio, sr = sf.read(output_dir / row["path"], dtype="float32")
    out = augment_clip(audio, sr, real_recording_augmentation(seed=seed * 100003 + index))
    rel = Path(row["path"]).with_name(Path(row["path"]).stem + "_aug.wav")
    sf.write(output_dir / rel, out, sr, subtype="PCM_16")
    fields = {k: row[k] for k in ("source", "voice", "gender", "kind", "split", "text")}
    return _measured_row(output_dir, rel, fields | {"augmented": True})


def _render_synthetic(spec, output_dir: Path, sampling_rate: int) -> dict:
    row = render_clip(spec, output_dir, sampling_rate)
    gender = "F" if ("+f" in spec.voice or spec.voice == "flite:slt") else "M"
    return row | {"source": spec.voice.split(":")[0], "kind": "synthetic", "gender": gender, "augmented": False}


def _measured_row(output_dir: Path, rel: Path, fields: dict) -> dict:
    audio, sr = sf.read(output_dir / rel, dtype="float32")
    if len(audio) < 0.3 * sr:
        raise ValueError(f"{rel}: shorter than 0.3 s after trimming")
    return {"path": str(rel), **fields, "duration_s": len(audio) / sr, **measure_attributes(audio, sr)}


class _Safe:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, job):
        try:
            return self.fn(job), None
        except Exception as error:  # one bad clip must not end the corpus; it is reported in summary.json
            name = getattr(job, "item_id", getattr(job, "clip_id", None)) or job[1]["path"]
            return None, f"{error!r} ({name})"[:300]


def summarize_sources(rows: list[dict]) -> dict:
    """Hours, clips and distinct voices (by gender) per kind (real / tts / synthetic) and split."""
    hours = lambda rs: round(sum(r["duration_s"] for r in rs) / 3600, 3)  # noqa: E731
    out = {"clips": len(rows), "hours": hours(rows)}
    for kind in ("real", "tts", "synthetic"):
        sub = [r for r in rows if r.get("kind") == kind]
        voices = {(r["voice"], r.get("gender")) for r in sub}
        out[kind] = {"clips": len(sub), "hours": hours(sub), "augmented_hours": hours([r for r in sub if r.get("augmented")]),
                     "share_of_hours": round(hours(sub) / max(hours(rows), 1e-9), 3), "voices": len(voices),
                     "voices_by_gender": dict(Counter(g for _, g in voices))}
    for split in ("train", "validation", "test"):
        sub = [r for r in rows if r["split"] == split]
        out[split] = {"clips": len(sub), "hours": hours(sub), "voices": len({r["voice"] for r in sub})}
    f0 = np.array([r["f0_median_hz"] for r in rows if r["f0_median_hz"] > 0])
    if len(f0):
        out["f0_median_hz_range"] = [float(np.percentile(f0, 2)), float(np.percentile(f0, 98))]
    return out


if __name__ == "__main__":
    main()
