#!/usr/bin/env python
"""Table and plot of a grid of benchmark runs (`scripts/benchmark.py` output folders, one per setting): for each
setting and edit, the achieved shift, speaker similarity, DNSMOS, pooled WER and extra octave jumps, and a figure of
the pooled WER against DNSMOS (the trade-off the grid showed) and against the achieved shift.

    python docs/benchmark/v071/tune_wer/summarize.py runs/tune/*/ --output docs/benchmark/v071/tune_wer/grid
"""

import argparse
import json
from pathlib import Path


def setting(config: dict) -> str:
    label = f"depth {config['depth']:g}, g {config['guidance']:g}, {config['steps']} steps"
    if config.get("inversion") not in (None, "auto"):
        label += f", {config['inversion']}"
    if config.get("note"):
        label += f", {config['note']}"
    return label


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", type=Path, nargs="+", help="benchmark output folders (each with results.json)")
    p.add_argument("--output", type=Path, required=True, help="writes OUTPUT.md, OUTPUT.json and OUTPUT.png")
    args = p.parse_args(argv)
    rows = []
    for run in args.runs:
        path = run / "results.json"
        if not path.is_file():
            continue
        results = json.loads(path.read_text())
        config = dict(results["config"])
        note = run / "NOTE"  # a setting the benchmark's flags do not express (e.g. a patched guidance interval)
        if note.is_file():
            config["note"] = note.read_text().strip()
        source = results["summary"]["source"]
        for edit in results["summary"]["edits"]:
            rows.append({"run": run.name, "setting": setting(config), "edit": edit["edit"], "n": edit["n"],
                         "achieved_st": edit["achieved_shift_st"], "similarity": edit["speaker_similarity"],
                         "dnsmos": edit["dnsmos_ovrl"], "wer_pooled": edit["wer_pooled"],
                         "octave_jumps": edit["extra_octave_jumps"], "source_wer_pooled": source.get("wer_pooled"),
                         "source_dnsmos": source.get("dnsmos_ovrl")})
    if not rows:
        raise SystemExit("no results.json in the given folders")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    lines = ["| setting | edit | n | achieved (st) | speaker sim | DNSMOS | WER pooled | extra octave jumps |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["setting"], r["edit"])):
        lines.append(f"| {r['setting']} | {r['edit']} | {r['n']} | {r['achieved_st']:+.2f} | {r['similarity']:.3f} | "
                     f"{r['dnsmos']:.2f} | {r['wer_pooled']:.3f} | {r['octave_jumps']:g} |")
    first = rows[0]
    lines.append(f"\nSource: WER pooled {first['source_wer_pooled']:.3f}, DNSMOS {first['source_dnsmos']:.2f}.")
    args.output.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    _plot(rows, args.output.with_suffix(".png"))


def _plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for marker, edit in (("v", "pitch:-3"), ("^", "pitch:+3")):
        chosen = [r for r in rows if r["edit"] == edit]
        for ax, key, label in ((axes[0], "dnsmos", "DNSMOS OVRL (median)"),
                               (axes[1], "achieved_st", "achieved shift (st, median)")):
            ax.scatter([r[key] for r in chosen], [r["wer_pooled"] for r in chosen], marker=marker, label=edit)
            for r in chosen:
                ax.annotate(r["setting"].replace(", 12 steps", ""), (r[key], r["wer_pooled"]), fontsize=5)
            ax.set_xlabel(label)
            ax.set_ylabel("WER pooled")
    axes[0].axhline(rows[0]["source_wer_pooled"], color="k", ls="--", lw=0.8, label="source WER")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("pitch ±3 st edits, 24 validation clips: lost words vs quality and landing", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
