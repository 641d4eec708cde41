#!/usr/bin/env python
"""Measure how inversion depth and guidance scale trade edit accuracy against fidelity, to choose defaults.

    python scripts/tune_edit_defaults.py --model runs/ldm/pipeline --manifest data/corpus/manifest.jsonl \
        --split validation --num_clips 8 --depths 0.4 0.6 0.8 1.0 --guidance 1 2 3 --output runs/tune

For every (depth, guidance) pair: latent SNR of invert → regenerate, and the achieved F0 shift (Praat, frames voiced
in both clips) for pitch edits of -3 and +3 semitones. Writes `tune.csv`, `tune.json` and `tune.png` (achieved vs
requested per setting), and prints a table. Clips come from the validation split, never the test split.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from latentdiff_edit import VoiceEditPipeline
from latentdiff_edit.evaluation.benchmark.report import markdown_table
from latentdiff_edit.features import voiced_semitone_differences
from latentdiff_edit.latents import latent_snr_db
from latentdiff_edit.training import load_clip, read_manifest, write_log_csv


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--split", default="validation")
    p.add_argument("--num_clips", type=int, default=8)
    p.add_argument("--depths", type=float, nargs="+", default=[0.4, 0.6, 0.8, 1.0])
    p.add_argument("--guidance", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    p.add_argument("--guidance_reference", default="source", choices=["source", "null"],
                   help="Guide against the source's attributes or the null condition (see VoiceEditPipeline).")
    p.add_argument("--method", default="ddim", choices=["ddim", "ddpm"], help="Inversion method.")
    p.add_argument("--shifts", type=float, nargs="+", default=[-3.0, 3.0])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--output", type=Path, required=True)
    return p.parse_args(argv)


def achieved_shift(source, edited, sr):
    differences = voiced_semitone_differences(source, edited, sr)
    return float(np.median(differences)) if len(differences) >= 5 else float("nan")


@torch.no_grad()
def main(argv=None):
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    pipe = VoiceEditPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    sr = pipe.sampling_rate
    rows = read_manifest(args.manifest, split=args.split)
    # one clip per voice first, so the figures are not about a single voice
    by_voice = {}
    for r in rows:
        by_voice.setdefault(r.get("voice"), r)
    chosen = (list(by_voice.values()) + rows)[: args.num_clips]
    clips = [load_clip(r["path"], sr, max_seconds=10.0) for r in chosen]

    results, start = [], time.time()
    for depth in args.depths:
        inversions = [pipe.invert(c, sr, num_inference_steps=args.steps, inversion_depth=depth, method=args.method,
                                  generator=torch.Generator().manual_seed(0)) for c in clips]
        snrs = [latent_snr_db(inv.source_latents, pipe(inversion=inv, output_type="latent").audios)
                for inv in inversions]
        for guidance in args.guidance:
            row = {"step": len(results), "depth": depth, "guidance": guidance,
                   "reference": args.guidance_reference, "method": args.method, "recon_snr_db": float(np.mean(snrs))}
            for shift in args.shifts:
                got = [achieved_shift(c.numpy(), pipe(inversion=inv, pitch_shift=shift, guidance_scale=guidance,
                                                      guidance_reference=args.guidance_reference).audios[0], sr)
                       for c, inv in zip(clips, inversions)]
                got = np.array(got)
                row[f"achieved_{shift:+g}"] = float(np.nanmedian(got))
                row[f"abs_error_{shift:+g}"] = float(np.nanmedian(np.abs(got - shift)))
            results.append(row)
            print(json.dumps(row), flush=True)

    write_log_csv(args.output / "tune.csv", results)
    # clips relative to the manifest's folder: the report names them the same way on every machine
    clips_named = [os.path.relpath(r["path"], args.manifest.parent) for r in chosen]
    summary = {"command": " ".join(sys.argv), "clips": clips_named, "results": results,
               "wall_s": round(time.time() - start, 1)}
    (args.output / "tune.json").write_text(json.dumps(summary, indent=2))
    _plot(results, args, args.output / "tune.png", summary["command"])
    header = ["depth", "guidance", "recon SNR (dB)"] + [f"achieved {s:+g} st" for s in args.shifts]
    print("\n" + markdown_table(header, [[r["depth"], r["guidance"], f"{r['recon_snr_db']:.1f}"]
                                         + [f"{r[f'achieved_{s:+g}']:+.2f}" for s in args.shifts] for r in results]))


def _plot(results, args, path, command):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for depth in args.depths:
        for guidance in args.guidance:
            r = next(x for x in results if x["depth"] == depth and x["guidance"] == guidance)
            ax.plot(args.shifts, [r[f"achieved_{s:+g}"] for s in args.shifts], marker="o",
                    label=f"depth {depth}, g {guidance} ({r['recon_snr_db']:.0f} dB)")
    lim = max(abs(s) for s in args.shifts) * 1.3
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8, label="requested")
    ax.set_xlabel("requested shift (st)")
    ax.set_ylabel("achieved shift (st, median)")
    ax.legend(fontsize=6, ncol=2)
    ax.grid(alpha=0.3)
    fig.text(0.01, 0.01, command[:150], fontsize=5, color="gray")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
