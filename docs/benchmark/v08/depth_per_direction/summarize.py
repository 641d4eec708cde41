#!/usr/bin/env python
"""Depth 0.8 against 0.7, per direction: the figures of pairs of `scripts/benchmark.py` runs, as a table and a plot.

    python docs/benchmark/v08/depth_per_direction/summarize.py --output docs/benchmark/v08/depth_per_direction \\
        LibriVox=runs/bench_lv_v08,runs/tune/held_lv_v08_d07 ...

Each argument is `NAME=RUN_AT_0.8,RUN_AT_0.7` (benchmark output folders, `--depth 0.8` and `--depth 0.7`, otherwise
the same command). Writes `summary.md`, `summary.json` and `summary.png`.
"""

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

EDITS = ("pitch:-3", "pitch:+3")
FIGURES = (  # key, label, format
    ("achieved_shift_st", "achieved (st)", "{:+.2f}"),
    ("speaker_similarity", "speaker similarity", "{:.3f}"),
    ("wer_pooled", "WER pooled", "{:.3f}"),
    ("dnsmos_ovrl", "DNSMOS OVRL", "{:.2f}"),
    ("jumps_total", "extra octave jumps (total)", "{:d}"),
)


def figures(run: Path, edit: str) -> dict:
    report = json.loads((run / "results.json").read_text())
    summary = next(e for e in report["summary"]["edits"] if e["method"] == "cfg" and e["edit"] == edit)
    outputs = [o for c in report["clips"] for o in c.get("outputs", [])
               if o["method"] == "cfg" and o["edit"] == edit and o.get("extra_octave_jumps") is not None]
    row = {key: summary.get(key) for key, _, _ in FIGURES if key != "jumps_total"}
    row.update(n=summary["n"], jumps_total=sum(o["extra_octave_jumps"] for o in outputs),
               source_wer_pooled=report["summary"]["source"].get("wer_pooled"),
               source_dnsmos=report["summary"]["source"].get("dnsmos_ovrl"))
    return row


def cell(value, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pairs", nargs="+", help="NAME=RUN_AT_0.8,RUN_AT_0.7")
    p.add_argument("--output", type=Path, required=True)
    args = p.parse_args(argv)
    sets = {}
    for pair in args.pairs:
        name, runs = pair.split("=", 1)
        deep, shallow = (Path(r) for r in runs.split(","))
        sets[name] = {edit: {"0.8": figures(deep, edit), "0.7": figures(shallow, edit)} for edit in EDITS}

    header = ["set", "edit", "n"] + [f"{label} 0.8 → 0.7" for _, label, _ in FIGURES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, edits in sets.items():
        for edit, by_depth in edits.items():
            cells = [f"{cell(by_depth['0.8'][k], f)} → {cell(by_depth['0.7'][k], f)}" for k, _, f in FIGURES]
            lines.append("| " + " | ".join([name, edit, str(by_depth["0.8"]["n"]), *cells]) + " |")
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "summary.md").write_text("\n".join(lines) + "\n")
    (args.output / "summary.json").write_text(json.dumps(sets, indent=2))

    fig, axes = plt.subplots(len(EDITS), len(FIGURES), figsize=(3.2 * len(FIGURES), 3.4 * len(EDITS)),
                             squeeze=False)
    names = list(sets)
    for i, edit in enumerate(EDITS):
        for j, (key, label, _) in enumerate(FIGURES):
            ax = axes[i, j]
            for k, (depth, color) in enumerate((("0.8", "tab:blue"), ("0.7", "tab:orange"))):
                values = [sets[n][edit][depth][key] for n in names]
                ax.bar([x + 0.4 * k for x in range(len(names))], [float("nan") if v is None else v for v in values],
                       width=0.4, color=color, label=f"depth {depth}")
            ax.set_xticks([x + 0.2 for x in range(len(names))], names, rotation=35, ha="right", fontsize=7)
            ax.set_title(f"{edit}: {label}", fontsize=9)
            if key == "achieved_shift_st":
                ax.axhline(3.0 if "+" in edit else -3.0, color="gray", lw=0.8, ls="--")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Inversion depth 0.8 vs 0.7 per direction (v0.8, 12 steps, guidance 2, inversion auto)", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.output / "summary.png", dpi=80)
    print((args.output / "summary.md").read_text())


if __name__ == "__main__":
    main()
