#!/usr/bin/env python
"""Codec round-trip figures for the codec targets: STOI, PESQ-wb, median F0 error (st) and HNR drop (dB).

    python scripts/eval_codec.py --codec latentdiff_edit/default_model/codec --manifest data/corpus/manifest.jsonl \
        --split test --num_clips 30 --real_dir /usr/share/pocketsphinx/test/data/librivox --output runs/codec_eval.json

Clips are drawn with a fixed seed from the split (never trained on); `--real_dir` adds a folder of real recordings.
Needs the `[eval]` extra.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from transformers import EncodecModel

from latentdiff_edit import codec as codec_utils
from latentdiff_edit.evaluation import pesq_wb, stoi
from latentdiff_edit.features import harmonics_to_noise_db, voiced_semitone_differences
from latentdiff_edit.training import load_clip, read_manifest


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--codec", required=True)
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--num_clips", type=int, default=30)
    p.add_argument("--real_dir", type=Path, default=None)
    p.add_argument("--output", type=Path, default=None)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


@torch.no_grad()
def round_trip_figures(codec, audio: torch.Tensor) -> dict:
    sr = codec.config.sampling_rate
    recon = codec_utils.decode(codec, codec_utils.encode(codec, audio[None]), audio.numel())[0].numpy()
    source = audio.numpy()
    hnr_in, hnr_out = harmonics_to_noise_db(source, sr), harmonics_to_noise_db(recon, sr)
    return {
        "stoi": stoi(source, recon, sr),
        "pesq_wb": pesq_wb(source, recon, sr),
        "f0_error_st": float(np.median(np.abs(voiced_semitone_differences(source, recon, sr)))),
        "hnr_in_db": hnr_in,
        "hnr_out_db": hnr_out,
        "hnr_drop_db": hnr_in - hnr_out,
    }


def main(argv=None):
    args = parse_args(argv)
    codec = EncodecModel.from_pretrained(args.codec).eval()
    rows = read_manifest(args.manifest, split=args.split)
    rng = np.random.default_rng(args.seed)
    sets = {f"{args.split}_split": [rows[i]["path"] for i in rng.choice(len(rows), min(args.num_clips, len(rows)),
                                                                        replace=False)]}
    if args.real_dir:
        sets["real"] = sorted(str(p) for p in args.real_dir.glob("*.wav"))
    results = {}
    for name, paths in sets.items():
        figures = [round_trip_figures(codec, load_clip(p, codec.config.sampling_rate)) for p in paths]
        results[name] = {k: float(np.mean([f[k] for f in figures])) for k in figures[0]} | {"clips": len(figures)}
        print(name, json.dumps({k: round(v, 3) for k, v in results[name].items()}))
    if args.output:
        args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
