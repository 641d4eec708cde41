"""Where a model draws the octave above: each +-3 st edit of the five gate sets by the median F0 it asked for, against
its share of voiced frames the tracker-free check calls an octave off (`octave_off_share`).

    python docs/benchmark/fourier_octave/by_asked_f0.py v0.10=runs/gate/{set}_v010h [CANDIDATE=runs/gate/{set}_TAG ...]

`{set}` is filled with lv, tts, ast, ctts, cast (the benchmark runs of `runs/gate_model.sh`). Writes
`by_asked_f0.json` and `.png` beside this script: per model the share pooled in bands of asked median F0.
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
SETS = ("lv", "tts", "ast", "ctts", "cast")
BANDS_HZ = (0, 95, 110, 125, 140, 170, 1000)


def edits(pattern: str) -> list[dict]:
    rows = []
    for name in SETS:
        results = json.loads((Path(pattern.format(set=name)) / "results.json").read_text())
        for clip in results["clips"]:
            f0 = clip["source"]["median_f0_hz"]
            for out in clip["outputs"]:
                if out.get("kind") != "pitch" or out.get("octave_check") is None:
                    continue
                check = out["octave_check"]
                extra = max(0, check["octave_below"] + check["octave_above"] - check["source_octave_off"])
                rows.append({"set": name, "clip": clip["clip_id"], "source_f0_hz": f0, "shift": out["value"],
                             "asked_f0_hz": f0 * 2 ** (out["value"] / 12), "voiced": check["voiced_frames"],
                             "extra_off": extra, "above": check["octave_above"],
                             "achieved_shift_st": out.get("achieved_shift_st")})
    return rows


def main(args):
    results = {}
    plt.figure(figsize=(7.5, 3.8))
    for k, arg in enumerate(args):
        label, pattern = arg.split("=", 1)
        rows = edits(pattern)
        bands = []
        for lo, hi in zip(BANDS_HZ[:-1], BANDS_HZ[1:]):
            sel = [r for r in rows if lo <= r["asked_f0_hz"] < hi]
            voiced = sum(r["voiced"] for r in sel)
            bands.append({"asked_f0_hz": [lo, hi], "edits": len(sel),
                          "octave_off_share": sum(r["extra_off"] for r in sel) / voiced if voiced else None})
        total = sum(r["voiced"] for r in rows)
        results[label] = {"runs": pattern, "edits": len(rows), "bands": bands,
                          "octave_off_share": sum(r["extra_off"] for r in rows) / total, "rows": rows}
        x = np.array([r["asked_f0_hz"] for r in rows])
        y = np.array([r["extra_off"] / max(r["voiced"], 1) for r in rows])
        up = np.array([r["shift"] > 0 for r in rows])
        color = f"C{k}"
        plt.scatter(x[up], 100 * y[up], marker="^", s=18, color=color, alpha=0.7, label=f"{label} +3 st")
        plt.scatter(x[~up], 100 * y[~up], marker="v", s=18, color=color, alpha=0.7, label=f"{label} -3 st",
                    facecolors="none")
        print(f"{label}: {len(rows)} edits, octave-off {100 * results[label]['octave_off_share']:.1f} % of voiced "
              f"frames; by asked F0 band: " + ", ".join(
                  f"{b['asked_f0_hz'][0]}-{b['asked_f0_hz'][1]} Hz {100 * b['octave_off_share']:.1f} % ({b['edits']})"
                  for b in bands if b["octave_off_share"] is not None))
    plt.xscale("log")
    plt.xlabel("median F0 the edit asked for (Hz)")
    plt.ylabel("voiced frames an octave off (%)")
    plt.title("+-3 st edits of the five gate sets, tracker-free octave check", fontsize=9)
    plt.legend(fontsize=7)
    plt.tight_layout()
    plt.savefig(HERE / "by_asked_f0.png", dpi=110)
    (HERE / "by_asked_f0.json").write_text(json.dumps(
        {"command": "python docs/benchmark/fourier_octave/by_asked_f0.py " + " ".join(args), "results": results},
        indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
