#!/usr/bin/env python
"""Synthesize the labeled training corpus (WAVs + manifest.jsonl) with espeak-ng / flite.

    python scripts/make_corpus.py --output_dir data/corpus --num_clips 8000 --seed 0

Labels are measured on the audio (Praat F0, F0 spread, speech rate, loudness); the manifest also keeps the knob values.
"""

import argparse
import json
import os
from functools import partial
from multiprocessing import Pool
from pathlib import Path

from tqdm.auto import tqdm

from latentdiff_edit.corpus import plan_corpus, render_clip, summarize, write_manifest


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", type=Path, required=True)
    parser.add_argument("--num_clips", type=int, default=8000)
    parser.add_argument("--sampling_rate", type=int, default=16000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_workers", type=int, default=os.cpu_count())
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    specs = plan_corpus(args.num_clips, seed=args.seed)
    render = partial(render_clip, output_dir=args.output_dir, sampling_rate=args.sampling_rate)
    rows, failures = [], []
    with Pool(args.num_workers) as pool:
        results = pool.imap(_safe(render), specs, chunksize=8)
        for spec, (row, error) in tqdm(zip(specs, results), total=len(specs), desc="synthesizing"):
            (rows.append(row) if row else failures.append(f"{spec.clip_id}: {error}"))
    write_manifest(rows, args.output_dir / "manifest.jsonl")
    summary = summarize(rows) | {"failures": failures[:20], "num_failures": len(failures), "seed": args.seed}
    (args.output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


class _safe:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, spec):
        try:
            return self.fn(spec), None
        except Exception as e:  # one bad clip must not end the corpus; it is reported in summary.json
            return None, repr(e)


if __name__ == "__main__":
    main()
