"""Manifests: CSV or JSONL files with a `path` column, optional `split` and attribute columns (any labeled corpus)."""

from __future__ import annotations

import csv
import json
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


def _parse_cell(value: str):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value
