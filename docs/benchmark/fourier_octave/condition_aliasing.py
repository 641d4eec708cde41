"""How far apart the denoiser's F0 condition puts an F0 and the same F0 moved by a few semitones or by an octave.

For target F0s from 70 to 250 Hz (every semitone), a constant voiced contour is embedded by the denoiser's F0 frame
embedder (with its Fourier features) and compared with the contour moved by -14 ... +14 st: the distance (L2, middle
frame) per offset, averaged over targets. A condition that tells octaves apart puts +-12 st far from 0; v0.10's
powers-of-two Fourier frequencies put +13 st closer than +2 st (the periods 2, 1, 0.5, 0.25 normalized units all
divide 13 st at its F0 std of 6.5 st).

    python docs/benchmark/fourier_octave/condition_aliasing.py latentdiff_edit/default_model [runs/ldm_oct/pipeline ...]

writes `condition_aliasing.json` and `.png` beside this script (labels: the folders' names, or LABELS=a,b,...).
"""
import json
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from latentdiff_edit import LatentDenoiser1D  # noqa: E402
from latentdiff_edit.attributes import f0_features  # noqa: E402

HERE = Path(__file__).resolve().parent
OFFSETS = np.arange(-14, 15)
TARGETS_HZ = 70.0 * 2 ** (np.arange(0, 22) / 12)  # 70 ... 248 Hz


def distances(folder: str) -> np.ndarray:
    """(targets, offsets) L2 distances of the F0 frame embedding."""
    model = LatentDenoiser1D.from_pretrained(Path(folder) / "denoiser").eval()
    spec = next(a for a in model.config.attributes if a["name"] == "f0")
    hz = TARGETS_HZ[:, None] * 2 ** (OFFSETS[None, :] / 12)
    feats = np.stack([f0_features(np.full(5, h), spec["mean"], spec["std"]) for h in hz.ravel()])
    with torch.no_grad():
        emb = model.frame_embedders["f0"](model._fourier(torch.tensor(feats)))[:, :, 2].reshape(*hz.shape, -1)
    centre = emb[:, list(OFFSETS).index(0)]
    return (emb - centre[:, None]).norm(dim=-1).numpy()


def main(folders):
    labels = os.environ["LABELS"].split(",") if os.environ.get("LABELS") else [Path(f).name for f in folders]
    results = {}
    plt.figure(figsize=(7, 3.6))
    for label, folder in zip(labels, folders):
        d = distances(folder).mean(axis=0)
        at = dict(zip(OFFSETS.tolist(), d.tolist()))
        results[label] = {"folder": folder, "mean_distance_by_offset_st": at,
                          "octave_over_2st": float((at[12] + at[-12]) / (at[2] + at[-2])),
                          "octave_over_max": float(max(at[12], at[-12]) / max(d))}
        plt.plot(OFFSETS, d, marker="o", ms=3, label=label)
        print(f"{label}: distance +-2 st {at[2]:.2f}/{at[-2]:.2f}, +-12 st {at[12]:.2f}/{at[-12]:.2f}, +13 st "
              f"{at[13]:.2f}, largest {max(d):.2f}")
    for x in (-12, 12):
        plt.axvline(x, color="0.7", lw=0.8, ls="--")
    plt.xlabel("F0 offset from the asked F0 (semitones)")
    plt.ylabel("F0 condition embedding distance")
    plt.title("How far the denoiser's F0 condition puts a moved F0 (mean over 70-248 Hz)", fontsize=9)
    plt.legend(fontsize=8)
    plt.tight_layout()
    plt.savefig(HERE / "condition_aliasing.png", dpi=110)
    (HERE / "condition_aliasing.json").write_text(json.dumps(
        {"command": "python docs/benchmark/fourier_octave/condition_aliasing.py " + " ".join(folders),
         "targets_hz": [round(t, 1) for t in TARGETS_HZ], "results": results}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:] or ["latentdiff_edit/default_model"])
