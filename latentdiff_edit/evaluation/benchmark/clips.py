"""The benchmark's clips: a folder or a manifest, with transcripts and paired renderings (the oracle)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from ...audio import load_audio, prepare_audio
from ...data.manifest import read_manifest

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
# pair_knob -> the edit its ladder is the ground truth of
PAIR_KNOBS = {"pitch": "pitch", "range": "intonation"}
# The middle of espeak's -p and SSML range scales: the rendering an oracle edit starts from.
PAIR_CENTRE_KNOB = 50.0


def read_transcripts(folder: Path) -> dict[str, str]:
    """Transcripts of a folder's clips by file stem: a Sphinx-style `transcription` file (`<s> words </s> (stem)` per
    line), then `STEM.txt` files beside the audio (these win)."""
    transcripts = {}
    index = folder / "transcription"
    if index.is_file():
        for line in index.read_text(errors="replace").splitlines():
            match = re.match(r"^(.*)\((\S+)\)\s*$", line.strip())
            if match:
                words = re.sub(r"</?s>", " ", match.group(1))
                transcripts[match.group(2)] = " ".join(words.split())
    for text_file in folder.glob("*.txt"):
        transcripts[text_file.stem] = text_file.read_text(errors="replace").strip()
    return transcripts


def read_clips(input_path: Path, split: str | None = None) -> list[dict]:
    """Rows with an absolute `path`, a `clip_id` and a `text` (None without a transcript), plus the manifest's
    columns."""
    if input_path.is_dir():
        files = sorted(p for p in input_path.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
        transcripts = read_transcripts(input_path)
        return [{"path": str(p.resolve()), "clip_id": p.stem, "text": transcripts.get(p.stem)} for p in files]
    if not input_path.is_file():
        raise FileNotFoundError(f"--input {input_path} is neither a folder nor a manifest file")
    rows = read_manifest(input_path, split=split)
    for row in rows:
        row["path"] = str(Path(row["path"]).absolute())
        row["clip_id"] = str(row.get("clip_id") or Path(row["path"]).stem)
        row["text"] = row.get("text") or row.get("transcription") or None
    return rows


def plan_clips(rows: list[dict]) -> list[dict]:
    """The clips to benchmark, in manifest order. Each complete pair group (`pair_id` with a known `pair_knob` and
    its `knob_*` values) becomes one clip, its middle rendering, carrying the other renderings as `oracle_targets`."""
    groups = defaultdict(list)
    for row in rows:
        if row.get("pair_id"):
            groups[row["pair_id"]].append(row)
    centres, targets_only = {}, set()
    for members in groups.values():
        knob = members[0].get("pair_knob")
        column = f"knob_{knob}"
        if len(members) < 2 or knob not in PAIR_KNOBS or any(m.get(column) is None for m in members):
            continue  # not a usable ladder: its rows are ordinary clips
        centre = min(members, key=lambda m: abs(float(m[column]) - PAIR_CENTRE_KNOB))
        targets = [{"clip_id": m["clip_id"], "path": m["path"], column: m[column]} for m in members if m is not centre]
        centres[id(centre)] = {"oracle_kind": PAIR_KNOBS[knob], "oracle_targets": targets}
        targets_only |= {id(m) for m in members if m is not centre}
    return [dict(row, **centres.get(id(row), {})) for row in rows if id(row) not in targets_only]


def read_clip(path: str, sampling_rate: int, max_seconds: float) -> np.ndarray:
    """A file as validated mono float32 `(num_samples,)` at `sampling_rate`; raises `AudioInputError` if unusable."""
    audio, rate = load_audio(path, max_seconds=max_seconds)
    return prepare_audio(audio, rate, sampling_rate, max_seconds=max_seconds, name=str(path)).numpy()
