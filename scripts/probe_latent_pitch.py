#!/usr/bin/env python
"""How plainly does a codec's latent space carry pitch? A ridge-regression probe from latent frames to log-F0.

    python scripts/probe_latent_pitch.py --codec latentdiff_edit/default_model/codec \
        --manifest data/corpus/manifest.jsonl --split validation --num_clips 300

Encodes clips, measures their F0 contour (Praat) at the latent frame rate, and fits a ridge regression from each
voiced frame's latent (alone, and with +-2 neighbouring frames) to F0 in semitones, on 80 % of the clips; prints R^2
and RMSE on the other 20 %. A latent where pitch is close to linear (high R^2) gives the diffusion model an easy map
from the F0 contour to the latents; a low R^2 means pitch lives in waveform-like patterns across frames, which the
denoiser must learn to draw, and a pitch edit must redraw.
"""

import argparse
import json

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import EncodecModel

from latentdiff_edit import codec as codec_utils
from latentdiff_edit.features import extract_f0, hz_to_semitones
from latentdiff_edit.training import load_clip, read_manifest


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--codec", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--split", default="validation")
    p.add_argument("--num_clips", type=int, default=300)
    p.add_argument("--context", type=int, default=2, help="Neighbouring frames on each side for the context probe.")
    p.add_argument("--ridge", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def ridge_probe(features: list[np.ndarray], targets: list[np.ndarray], ridge: float, seed: int) -> dict:
    """Fit on 80 % of the clips, score on the rest (clips, not frames, are split: no leakage between neighbours)."""
    order = np.random.default_rng(seed).permutation(len(features))
    cut = max(1, len(order) * 4 // 5)
    train, test = order[:cut], order[cut:] if len(order) > cut else order[:1]

    def stack(idx):
        x = np.concatenate([features[i] for i in idx])
        return np.concatenate([x, np.ones((len(x), 1))], 1), np.concatenate([targets[i] for i in idx])

    x, y = stack(train)
    w = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)
    x, y = stack(test)
    error = x @ w - y
    return {"r2": float(1 - np.mean(error**2) / np.var(y)), "rmse_st": float(np.sqrt(np.mean(error**2))),
            "target_std_st": float(np.std(y)), "test_frames": int(len(y))}


@torch.no_grad()
def main(argv=None):
    args = parse_args(argv)
    codec = EncodecModel.from_pretrained(args.codec).eval()
    sr, hop = codec.config.sampling_rate, codec_utils.hop_length(codec)
    rows = read_manifest(args.manifest, split=args.split)
    chosen = np.random.default_rng(args.seed).choice(len(rows), min(args.num_clips, len(rows)), replace=False)
    frame_x, context_x, y = [], [], []
    for i in tqdm(chosen, desc="encoding"):
        clip = load_clip(rows[i]["path"], sr, max_seconds=30.0)
        latents = codec_utils.encode(codec, clip[None])[0].T.numpy()  # (T, C)
        f0 = extract_f0(clip.double().numpy(), sr, hop, len(latents))
        voiced = f0 > 0
        if voiced.sum() < 5:
            continue
        k = args.context
        padded = np.pad(latents, ((k, k), (0, 0)), mode="edge")
        context = np.concatenate([padded[j : j + len(latents)] for j in range(2 * k + 1)], axis=1)
        frame_x.append(latents[voiced])
        context_x.append(context[voiced])
        y.append(hz_to_semitones(f0[voiced]))
    result = {"codec": args.codec, "clips": len(y),
              "frame": ridge_probe(frame_x, y, args.ridge, args.seed),
              f"context_pm{args.context}": ridge_probe(context_x, y, args.ridge, args.seed)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
