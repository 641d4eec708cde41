"""Data, logs and the scheduler configuration shared by the training recipes in `scripts/` (codec losses: `.codec`)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import torch
import torch.nn.functional as F

from ..audio import load_audio, prepare_audio
from ..data.manifest import read_manifest  # noqa: F401  (re-exported for the recipes)


def load_clip(path: str, sampling_rate: int, max_seconds: float | None = None) -> torch.Tensor:
    audio, sr = load_audio(path)
    return prepare_audio(audio, sr, sampling_rate, max_seconds=max_seconds, name=str(path))


def check_output_dir(output_dir: Path, resume_from_checkpoint: str | None) -> None:
    """Refuse to start a new run over an old run's checkpoints (their numbering would collide at the first save,
    and the old run's log would be mixed into the new one's): resume it, or train into a new folder."""
    old = sorted(p.name for p in (Path(output_dir) / "checkpoints").glob("checkpoint*"))
    if old and not resume_from_checkpoint:
        raise SystemExit(f"{output_dir} already holds checkpoints of a run ({', '.join(old)}): pass "
                         "--resume_from_checkpoint latest to continue it, or choose a new --output_dir")


class AudioSegmentDataset(torch.utils.data.Dataset):
    """Random fixed-length crops of the manifest's clips, held in memory at the target rate (codec training)."""

    def __init__(self, rows: list[dict], sampling_rate: int, segment_seconds: float, seed: int = 0):
        self.segment = int(segment_seconds * sampling_rate)
        self.clips = [load_clip(r["path"], sampling_rate) for r in rows]
        self.rng = random.Random(seed)

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, index):
        clip = self.clips[index]
        if clip.numel() <= self.segment:
            return F.pad(clip, (0, self.segment - clip.numel()))
        start = self.rng.randrange(0, clip.numel() - self.segment)
        return clip[start : start + self.segment]


def strip_local_paths(folder: str | Path) -> None:
    """Drop `_name_or_path` (where a component was loaded from: a path on the training machine) from the configs of
    a saved model or pipeline folder (`folder/config.json` and `folder/*/config.json`)."""
    folder = Path(folder)
    for config in [folder / "config.json", *folder.glob("*/config.json")]:
        if not config.is_file():
            continue
        data = json.loads(config.read_text())
        if data.pop("_name_or_path", None) is not None:
            config.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_log_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def plot_log(path: Path, rows: list[dict], keys: list[str], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in keys if any(k in r for r in rows)]
    if not keys:
        return
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.2 * max(len(keys), 1)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        points = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
        if points:
            ax.plot(*zip(*points), marker="." if len(points) < 50 else None)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    axes[0, 0].set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def scheduler_config(num_train_timesteps: int = 1000, prediction_type: str = "epsilon") -> dict:
    """The DDIM configuration every pipeline of this project uses (leading spacing, alpha_0 = 1 so that the last
    sampling step and the first inversion step meet at the clean latents). `prediction_type` "v_prediction"
    (Salimans & Ho, 2022) keeps the x0 estimate well conditioned at high noise, where an epsilon model must be
    exact to 1/sqrt(alpha_bar) to say anything about the clean latents, and the F0 contour matters most."""
    if prediction_type not in ("epsilon", "v_prediction"):
        raise ValueError(f"prediction_type must be 'epsilon' or 'v_prediction', got {prediction_type!r}")
    return dict(
        num_train_timesteps=num_train_timesteps, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
        prediction_type=prediction_type, clip_sample=False, set_alpha_to_one=True, steps_offset=1,
        timestep_spacing="leading",
    )
