"""Manifests: CSV or JSONL files with a `path` column, optional `split` and attribute columns (any labeled corpus)."""

from __future__ import annotations

import csv
import json
import os
import random
from collections.abc import Sequence
from pathlib import Path


def read_manifest(path: str | Path, split: str | None = None) -> list[dict]:
    """Rows of a CSV or JSONL manifest with a `path` column (relative paths resolve against the manifest's folder).

    Numeric strings in CSV cells become floats; empty cells become None (a missing label, trained as "dropped").
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    elif path.suffix == ".csv":
        with open(path, newline="") as f:
            rows = [{k: _parse_cell(v) for k, v in row.items()} for row in csv.DictReader(f)]
    else:
        raise ValueError(f"manifest must be .csv or .jsonl, got {path.name}")
    if rows and "path" not in rows[0]:
        raise ValueError(f"manifest {path} has no `path` column")
    for row in rows:
        p = Path(row["path"])
        row["path"] = str(p if p.is_absolute() else path.parent / p)
        for key, value in row.items():
            if value == "":
                row[key] = None
    if split is not None and rows and "split" in rows[0]:
        rows = [r for r in rows if r.get("split") == split]
    return rows


def oversample(rows: list[dict], factors: dict[str, int], key: str = "kind") -> list[dict]:
    """`rows` with each row whose `key` column is in `factors` repeated that many times (order kept, others once).

    A plain way to weight a training mix toward some kind of speech (e.g. `{"real": 3}`: each real recording is
    drawn three times as often per epoch) that resumes exactly, since the list is the same in every chunk.
    """
    for name, factor in factors.items():
        if not isinstance(factor, int) or factor < 1:
            raise ValueError(f"oversampling factor for {key}={name!r} must be a positive integer, got {factor!r}")
    if factors and not any(r.get(key) in factors for r in rows):
        present = sorted({str(r.get(key)) for r in rows})
        raise ValueError(f"no row has {key} in {sorted(factors)}; the manifest's {key} values are {present}")
    return [row for row in rows for _ in range(factors.get(row.get(key), 1))]


def parse_factors(items: list[str] | None) -> dict[str, int]:
    """`["real=3", "tts=2"]` → `{"real": 3, "tts": 2}` (command-line `NAME=N` pairs), with a clear error otherwise."""
    factors = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value.strip().isdigit():
            raise ValueError(f"expected NAME=N with a positive integer N, got {item!r}")
        factors[name] = int(value)
    return factors


def sample_per_voice(rows: list[dict], counts: Sequence[tuple[str, int]], seed: int = 0) -> list[dict]:
    """`count` rows of each `voice` in `counts`, drawn with a fixed seed from the voice's rows sorted by path (so the
    same manifest always gives the same set), in the order of `counts`; an error names a voice with too few rows."""
    picked = []
    for voice, count in counts:
        clips = sorted((r for r in rows if r.get("voice") == voice), key=lambda r: r["path"])
        if len(clips) < count:
            raise ValueError(f"{voice}: {len(clips)} matching rows, {count} wanted")
        random.Random(seed).shuffle(clips)
        picked += clips[:count]
    return picked


def write_manifest(rows: list[dict], output: str | Path) -> None:
    """Write `rows` as a JSONL manifest whose paths are relative to its own folder (as `read_manifest` resolves
    them), so that it names the same files on every machine."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    folder = output.parent.resolve()
    output.write_text("".join(
        json.dumps({**r, "path": os.path.relpath(Path(r["path"]).resolve(), folder)}) + "\n" for r in rows))


def _parse_cell(value: str):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value
