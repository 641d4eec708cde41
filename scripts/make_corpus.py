#!/usr/bin/env python
"""Build the training corpus (WAVs + manifest.jsonl + summary.json): real recordings, natural TTS voices, a small
share of labeled espeak-ng/flite speech, and augmented copies that sound recorded.

    python scripts/make_corpus.py --output_dir data/corpus \
        --sources asterisk rhvoice pico mbrola piper synthetic --num_tts_clips 4000 --num_clips 1500 \
        --augment_fraction 0.5

New voices from real recordings (`--derived_voices`): each real speaker's training clips are shared among target
median F0s and moved there by Praat's PSOLA with formant scaling (`latentdiff_edit.data.augment.shift_voice`), so
the real speech of the corpus covers low male voices its recorded speakers lack. `--append` adds them (or any
stage) to an existing corpus without rebuilding it:

    python scripts/make_corpus.py --output_dir data/corpus --append --sources --derived_voices 78 105

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
    parser.add_argument("--sources", nargs="*", default=["synthetic"], choices=ALL_SOURCES)
    parser.add_argument("--num_clips", type=int, default=8000, help="Clips of the labeled espeak-ng/flite corpus.")
    parser.add_argument("--num_tts_clips", type=int, default=4000, help="Clips spread over the natural TTS voices.")
    parser.add_argument("--asterisk_languages", nargs="+", default=["en", "es", "fr", "it", "ru"])
    parser.add_argument("--max_real_clips", type=int, default=None, help="Use at most N real recordings (smoke).")
    parser.add_argument("--augment_fraction", type=float, default=0.0,
                        help="Augmented copies of this fraction of the real/TTS training clips (rooms, EQ, noise, MP3).")
    parser.add_argument("--derived_voices", nargs="*", type=float, default=[],
                        help="Target median F0s (Hz): every real speaker gets one derived voice per target, made from "
                             "its training clips (each clip used for one target) by PSOLA + formant scaling.")
    parser.add_argument("--derive_kinds", nargs="+", default=["real"], choices=["real", "tts", "synthetic"],
                        help="Which kinds of voices --derived_voices derives from.")
    parser.add_argument("--derive_fraction", type=float, default=1.0,
                        help="Share of each source speaker's training clips that --derived_voices uses (default: all).")
    parser.add_argument("--append", action="store_true",
                        help="Keep OUTPUT_DIR/manifest.jsonl and add this run's rows to it (rows with a path "
                             "already in it are skipped).")
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
    manifest_path = args.output_dir / "manifest.jsonl"
    if args.append:
        if not manifest_path.is_file():
            raise FileNotFoundError(f"--append: no manifest to add to at {manifest_path}")
        rows = [json.loads(line) for line in manifest_path.read_text().splitlines() if line.strip()]
    existing = {r["path"] for r in rows}

    # 1. Real recordings and natural TTS voices
    items = []
    if "asterisk" in args.sources:
        items += asterisk_items(args.asterisk_languages, cache_dir)[: args.max_real_clips]
    tts = [s for s in args.sources if s in TTS_SOURCES]
    if tts and args.num_tts_clips > 0:
        items += tts_items(tts, make_sentences(max(600, args.num_tts_clips // 2), args.seed + 1), args.num_tts_clips,
                           seed=args.seed)
    render = partial(_render_item, output_dir=args.output_dir, sampling_rate=args.sampling_rate)
    rows_items = _map(render, items, args.num_workers, "voices", failures) if items else []
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

    # 4. New voices derived from real speakers (PSOLA pitch + formant scaling toward target median F0s)
    if args.derived_voices:
        jobs = derived_voice_jobs(rows, args.derived_voices, args.derive_kinds, seed=args.seed,
                                  fraction=args.derive_fraction)
        jobs = [job for job in jobs if job["path"] not in existing]
        derive = partial(_derive_row, output_dir=args.output_dir)
        rows += _map(derive, jobs, args.num_workers, "deriving voices", failures)

    if args.append:
        rows = list({r["path"]: r for r in rows}.values())  # a re-run of a stage replaces its rows
    write_manifest(rows, manifest_path)
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


def derived_voice_jobs(rows: list[dict], targets_hz: list[float], kinds: list[str], seed: int = 0,
                       fraction: float = 1.0) -> list[dict]:
    """One job per training clip of a speaker of `kinds` (originals only, not augmented or derived copies), or per
    clip of a random `fraction` of them: the clip goes to one of the speaker's derived voices (`VOICE>f0_TARGET`),
    chosen at random so that each derived voice gets an equal share of the speaker's clips. The speaker's median F0 is
    the median of its clips' medians."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"the share of clips to derive voices from must be in (0, 1], got {fraction}")
    rng = random.Random(seed)
    by_voice: dict[str, list[dict]] = {}
    for row in rows:
        if (row.get("split") == "train" and row.get("kind") in kinds and not row.get("augmented")
                and not row.get("derived_from") and (row.get("f0_median_hz") or 0) > 0):
            by_voice.setdefault(row["voice"], []).append(row)
    jobs = []
    for voice, clips in sorted(by_voice.items()):
        source_f0 = float(np.median([r["f0_median_hz"] for r in clips]))
        order = list(range(len(clips)))
        rng.shuffle(order)
        for k, i in enumerate(order[: max(1, round(fraction * len(order)))]):
            target = float(targets_hz[k % len(targets_hz)])
            row = clips[i]
            name = f"{voice}>f0_{target:g}"
            stem = Path(row["path"]).stem + f"_f0-{target:g}"
            path = str(Path("wavs") / row["split"] / "derived" / f"{stem}.wav")
            jobs.append({"row": row, "voice": name, "path": path, "source_f0_hz": source_f0, "target_f0_hz": target})
    return jobs


def _derive_row(job: dict, output_dir: Path) -> dict:
    from latentdiff_edit.data.augment import formant_ratio_for, shift_voice

    row = job["row"]
    audio, sr = sf.read(output_dir / row["path"], dtype="float32")
    # this clip's median goes where the speaker's median goes, so the clips of a derived voice keep their spread
    target = job["target_f0_hz"] * row["f0_median_hz"] / job["source_f0_hz"]
    ratio = formant_ratio_for(job["source_f0_hz"], job["target_f0_hz"])
    out = shift_voice(audio, sr, row["f0_median_hz"], target, formant_ratio=ratio)
    (output_dir / job["path"]).parent.mkdir(parents=True, exist_ok=True)
    sf.write(output_dir / job["path"], out, sr, subtype="PCM_16")
    fields = {k: row.get(k) for k in ("source", "kind", "split", "text")}
    gender = "M" if job["target_f0_hz"] < 150 else "F"
    return _measured_row(output_dir, Path(job["path"]), fields | {
        "voice": job["voice"], "gender": gender, "augmented": False, "derived_from": row["voice"],
        "formant_ratio": round(ratio, 3)})


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
            name = getattr(job, "item_id", getattr(job, "clip_id", None)) or (
                job["path"] if isinstance(job, dict) else job[1]["path"])
            return None, f"{error!r} ({name})"[:300]


def summarize_sources(rows: list[dict]) -> dict:
    """Hours, clips and distinct voices (by gender) per kind (real / tts / synthetic) and split."""
    hours = lambda rs: round(sum(r["duration_s"] for r in rs) / 3600, 3)  # noqa: E731
    out = {"clips": len(rows), "hours": hours(rows)}
    for kind in ("real", "tts", "synthetic"):
        sub = [r for r in rows if r.get("kind") == kind]
        voices = {(r["voice"], r.get("gender")) for r in sub}
        out[kind] = {"clips": len(sub), "hours": hours(sub), "augmented_hours": hours([r for r in sub if r.get("augmented")]),
                     "derived_hours": hours([r for r in sub if r.get("derived_from")]),
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
