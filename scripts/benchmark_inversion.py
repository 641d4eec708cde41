#!/usr/bin/env python
"""Benchmark inversion methods: reconstruction fidelity and time, per method, step count and guidance.

    python scripts/benchmark_inversion.py --input /usr/share/pocketsphinx/test/data/librivox --max_clips 2 \
        --max_seconds 3 --steps 10 25 50 --guidance 1 3 --output runs/benchmark_inversion

For every clip, step count, guidance scale (against `--guidance_reference`) and method (`ddim`, `ddpm`, `null-opt`,
`latent-opt`, `encoder`): invert, regenerate unedited at the same guidance, and measure the latent SNR against the
clip's latents, the log-mel distance of the decoded regeneration to the codec's own rendering of the clip (so that
only the inversion's error counts) and to the input, and the inversion's and regeneration's time per second of
audio. Prints a table of medians over clips; writes `results.json` (every run), `summary.json` and `summary.png`.

`--option METHOD:NAME=VALUE` (repeatable) passes an option to one method's inversion (`inversion_options`), e.g.
`--option null-opt:num_inner_steps=20` (Adam steps per sampling step); such a method is reported as
`null-opt[num_inner_steps=20]`, so runs with and without it can share an output folder.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from latentdiff_edit.evaluation.metrics import log_mel_distance
from latentdiff_edit.inversion import INVERSION_METHODS, InversionEncoder, latent_snr
from latentdiff_edit.loading import load_pipeline
from latentdiff_edit.training import load_clip, read_manifest


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="Pipeline folder or Hub id (default: the shipped model).")
    p.add_argument("--input", type=Path, required=True, help="Folder of audio files or a CSV/JSONL manifest.")
    p.add_argument("--split", default=None, help="Manifest split.")
    p.add_argument("--max_clips", type=int, default=2)
    p.add_argument("--max_seconds", type=float, default=3.0, help="Clips are cut to this many seconds.")
    p.add_argument("--methods", nargs="+", default=list(INVERSION_METHODS), choices=INVERSION_METHODS)
    p.add_argument("--steps", nargs="+", type=int, default=[10, 25, 50])
    p.add_argument("--guidance", nargs="+", type=float, default=[1.0, 3.0])
    p.add_argument("--guidance_reference", default="null", choices=["null", "source"])
    p.add_argument("--depth", type=float, default=1.0)
    p.add_argument("--encoder", type=str, default=None,
                   help="An `inversion_encoder` folder, for a model that has none (else `encoder` is skipped).")
    p.add_argument("--skip", nargs="*", default=["null-opt@1"],
                   help="METHOD@GUIDANCE pairs not to run (null-opt at guidance 1 has no null branch to optimize).")
    p.add_argument("--option", action="append", default=[], metavar="METHOD:NAME=VALUE", dest="options",
                   help="an inversion option of one method, e.g. null-opt:num_inner_steps=20 (repeatable)")
    p.add_argument("--output", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def read_clips(args, sampling_rate: int) -> list[tuple[str, np.ndarray]]:
    if args.input.is_dir():
        paths = sorted(p for p in args.input.iterdir() if p.suffix.lower() in (".wav", ".flac", ".ogg"))
    else:
        paths = [Path(row["path"]) for row in read_manifest(args.input, split=args.split)]
    clips = []
    for path in paths[: args.max_clips]:
        audio = load_clip(str(path), sampling_rate).numpy()
        clips.append((path.name, audio[: int(args.max_seconds * sampling_rate)]))
    return clips


def parse_options(items: list[str], methods: list[str]) -> dict[str, dict]:
    """`["null-opt:num_inner_steps=20", ...]` -> `{"null-opt": {"num_inner_steps": 20}}` (values read as JSON
    numbers or booleans when they parse, else kept as text)."""
    options: dict[str, dict] = {}
    for item in items:
        method, sep, assignment = item.partition(":")
        name, eq, value = assignment.partition("=")
        if not (sep and eq and name):
            raise ValueError(f"--option takes METHOD:NAME=VALUE, got {item!r}")
        if method not in methods:
            raise ValueError(f"--option {item!r}: method {method!r} is not among --methods {methods}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        options.setdefault(method, {})[name] = parsed
    return options


def method_label(method: str, options: dict | None) -> str:
    """`null-opt[num_inner_steps=20]`: the method and the options it ran with."""
    if not options:
        return method
    return f"{method}[{','.join(f'{k}={v}' for k, v in sorted(options.items()))}]"


def run_one(pipe, audio, method, steps, guidance, args, options=None) -> dict:
    seconds = len(audio) / pipe.sampling_rate
    started = time.perf_counter()
    inversion = pipe.invert(audio, pipe.sampling_rate, num_inference_steps=steps, inversion_depth=args.depth,
                            guidance_scale=guidance, guidance_reference=args.guidance_reference, method=method,
                            inversion_options=options, window_seconds=None,
                            generator=torch.Generator("cpu").manual_seed(args.seed))
    invert_seconds = time.perf_counter() - started
    started = time.perf_counter()
    regenerated = pipe(inversion=inversion, guidance_scale=guidance, guidance_reference=args.guidance_reference,
                       output_type="latent").audios
    regenerate_seconds = time.perf_counter() - started
    num_samples = inversion.num_samples
    decoded = pipe.decode_latents(regenerated, num_samples)[0].cpu().numpy()
    codec_rendering = pipe.decode_latents(inversion.source_latents, num_samples)[0].cpu().numpy()
    return {
        "latent_snr_db": latent_snr(inversion.source_latents, regenerated, inversion.padding_mask)[0],
        "log_mel_to_codec": log_mel_distance(codec_rendering, decoded, pipe.sampling_rate),
        "log_mel_to_input": log_mel_distance(audio, decoded, pipe.sampling_rate),
        "invert_seconds_per_second": invert_seconds / seconds,
        "regenerate_seconds_per_second": regenerate_seconds / seconds,
    }


def summarize(results: list[dict]) -> list[dict]:
    keys = sorted({(r["method"], r["steps"], r["guidance"]) for r in results},
                  key=lambda k: (k[2], k[1], list(INVERSION_METHODS).index(k[0].split("[")[0]), k[0]))
    rows = []
    for method, steps, guidance in keys:
        runs = [r for r in results if (r["method"], r["steps"], r["guidance"]) == (method, steps, guidance)]
        row = {"method": method, "steps": steps, "guidance": guidance, "clips": len(runs)}
        for metric in ("latent_snr_db", "log_mel_to_codec", "log_mel_to_input", "invert_seconds_per_second",
                       "regenerate_seconds_per_second"):
            row[metric] = float(np.median([r[metric] for r in runs]))
        rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"{'guidance':>8} {'steps':>5} {'method':<11}{'SNR dB':>8}{'mel→codec':>11}{'mel→input':>11}"
          f"{'invert s/s':>12}{'regen s/s':>11}")
    for r in rows:
        print(f"{r['guidance']:>8g} {r['steps']:>5} {r['method']:<11}{r['latent_snr_db']:>8.1f}"
              f"{r['log_mel_to_codec']:>11.3f}{r['log_mel_to_input']:>11.3f}{r['invert_seconds_per_second']:>12.2f}"
              f"{r['regenerate_seconds_per_second']:>11.2f}")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    guidances = sorted({r["guidance"] for r in rows})
    fig, axes = plt.subplots(2, len(guidances), figsize=(5 * len(guidances), 7), squeeze=False)
    for column, guidance in enumerate(guidances):
        for method in INVERSION_METHODS:
            points = sorted((r["steps"], r) for r in rows if r["method"] == method and r["guidance"] == guidance)
            if not points:
                continue
            steps = [s for s, _ in points]
            axes[0, column].plot(steps, [r["latent_snr_db"] for _, r in points], "o-", label=method)
            axes[1, column].plot(steps, [r["invert_seconds_per_second"] for _, r in points], "o-", label=method)
        axes[0, column].set(title=f"guidance {guidance:g}", ylabel="latent SNR (dB)")
        axes[1, column].set(xlabel="DDIM steps", ylabel="inversion time (s per s of audio)", yscale="log")
        axes[0, column].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    pipe = load_pipeline(args.model)
    pipe.set_progress_bar_config(disable=True)
    if args.encoder is not None:
        pipe.register_modules(inversion_encoder=InversionEncoder.from_pretrained(args.encoder))
    methods = [m for m in args.methods if m != "encoder" or getattr(pipe, "inversion_encoder", None) is not None]
    options = parse_options(args.options, args.methods)
    clips = read_clips(args, pipe.sampling_rate)
    if not clips:
        raise ValueError(f"no audio in {args.input}")
    results_path = args.output / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else []  # resumes
    done = {(r["clip"], r["method"], r["steps"], r["guidance"]) for r in results}
    for guidance in args.guidance:
        for steps in args.steps:
            for method in methods:
                if f"{method}@{guidance:g}" in args.skip:
                    continue
                label = method_label(method, options.get(method))
                for name, audio in clips:
                    if (name, label, steps, guidance) in done:
                        continue
                    row = {"clip": name, "seconds": len(audio) / pipe.sampling_rate, "method": label,
                           "steps": steps, "guidance": guidance, "guidance_reference": args.guidance_reference,
                           **run_one(pipe, audio, method, steps, guidance, args, options.get(method))}
                    results.append(row)
                    results_path.write_text(json.dumps(results, indent=1) + "\n")
                    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}),
                          flush=True)
    rows = summarize(results)
    (args.output / "summary.json").write_text(json.dumps(
        {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "rows": rows},
        indent=2) + "\n")
    plot(rows, args.output / "summary.png")
    print_table(rows)
    return rows


if __name__ == "__main__":
    main()
