#!/usr/bin/env python
"""Pitch edits of two settings or models side by side: the figures of pairs of `scripts/benchmark.py` runs (the same
clips), as a table, a JSON file and a plot.

    python docs/benchmark/compare_edits.py --labels "depth 0.8" "depth 0.7" --output OUT_DIR \\
        LibriVox=runs/bench_lv_v08,runs/tune/held_lv_v08_d07 ...
    python docs/benchmark/compare_edits.py --labels v0.8 v0.9 --output OUT_DIR \\
        LibriVox=runs/bench_lv_v08:runs/tune/held_lv_v08_d07,runs/gate_v09/lv ...

Each argument is `NAME=RUN_A,RUN_B` (benchmark output folders); a run written `UP:DOWN` takes the +3 edit from UP and
the -3 edit from DOWN (two runs that differ in what the default does for one direction). Writes `OUT_DIR/summary.md`,
`summary.json` and `summary.png`.
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
    ("octave_off_pooled", "octave-off frames, harmonic (pooled)", "{:.1%}"),
)


def figures(run: Path, edit: str) -> dict:
    report = json.loads((run / "results.json").read_text())
    summary = next(e for e in report["summary"]["edits"] if e["method"] == "cfg" and e["edit"] == edit)
    outputs = [o for c in report["clips"] for o in c.get("outputs", [])
               if o["method"] == "cfg" and o["edit"] == edit and o.get("extra_octave_jumps") is not None]
    row = {key: summary.get(key) for key, _, _ in FIGURES if key not in ("jumps_total", "octave_off_pooled")}
    checks = [o["octave_check"] for o in outputs if o.get("octave_check")]  # runs before toolkit 0.12 have none
    voiced = sum(c["voiced_frames"] for c in checks)
    row["octave_off_pooled"] = sum(max(0, c["octave_below"] + c["octave_above"] - c["source_octave_off"])
                                   for c in checks) / voiced if voiced else None
    row.update(n=summary["n"], jumps_total=sum(o["extra_octave_jumps"] for o in outputs),
               source_wer_pooled=report["summary"]["source"].get("wer_pooled"),
               source_dnsmos=report["summary"]["source"].get("dnsmos_ovrl"))
    return row


def run_for(spec: str, edit: str) -> Path:
    up, _, down = spec.partition(":")
    return Path(down if down and edit == "pitch:-3" else up)


def cell(value, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pairs", nargs="+", help="NAME=RUN_A,RUN_B")
    p.add_argument("--labels", nargs=2, default=["A", "B"])
    p.add_argument("--title", default=None)
    p.add_argument("--output", type=Path, required=True)
    args = p.parse_args(argv)
    a, b = args.labels
    sets = {}
    for pair in args.pairs:
        name, runs = pair.split("=", 1)
        first, second = runs.split(",")
        sets[name] = {edit: {a: figures(run_for(first, edit), edit), b: figures(run_for(second, edit), edit)}
                      for edit in EDITS}

    header = ["set", "edit", "n"] + [f"{label} {a} → {b}" for _, label, _ in FIGURES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, edits in sets.items():
        for edit, pair in edits.items():
            cells = [f"{cell(pair[a][k], f)} → {cell(pair[b][k], f)}" for k, _, f in FIGURES]
            lines.append("| " + " | ".join([name, edit, str(pair[a]["n"]), *cells]) + " |")
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "summary.md").write_text("\n".join(lines) + "\n")
    (args.output / "summary.json").write_text(json.dumps(sets, indent=2))

    fig, axes = plt.subplots(len(EDITS), len(FIGURES), figsize=(3.2 * len(FIGURES), 3.4 * len(EDITS)),
                             squeeze=False)
    names = list(sets)
    for i, edit in enumerate(EDITS):
        for j, (key, label, _) in enumerate(FIGURES):
            ax = axes[i, j]
            for k, (which, color) in enumerate(((a, "tab:blue"), (b, "tab:orange"))):
                values = [sets[n][edit][which][key] for n in names]
                ax.bar([x + 0.4 * k for x in range(len(names))], [float("nan") if v is None else v for v in values],
                       width=0.4, color=color, label=which)
            ax.set_xticks([x + 0.2 for x in range(len(names))], names, rotation=35, ha="right", fontsize=7)
            ax.set_title(f"{edit}: {label}", fontsize=9)
            if key == "achieved_shift_st":
                ax.axhline(3.0 if "+" in edit else -3.0, color="gray", lw=0.8, ls="--")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(args.title or f"{a} vs {b}: pitch edits, -3 / +3 st", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.output / "summary.png", dpi=72)
    print((args.output / "summary.md").read_text())


if __name__ == "__main__":
    main()
