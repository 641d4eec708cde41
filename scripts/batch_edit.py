#!/usr/bin/env python
"""Batch voice editing of a folder or manifest, on one process or several.

    accelerate launch --num_processes 2 scripts/batch_edit.py clips/ -o edited/ --pitch +2 --batch_size 8
    accelerate launch --num_processes 2 scripts/batch_edit.py manifest.csv -o edited/ --model org/voice-edit --resume

The same job as `latentdiff-edit batch` (same flags; see `latentdiff_edit/batch.py` for the manifest format and how
items are split across processes, recorded in manifest.jsonl and resumed).
"""

import sys

from latentdiff_edit.apps import cli


def main(argv=None) -> int:
    return cli.main(["batch", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
