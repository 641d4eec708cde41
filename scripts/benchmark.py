#!/usr/bin/env python
"""Speech evaluation benchmark of voice edits: our CFG and direction edits against the WORLD, PSOLA and
phase-vocoder baselines and the codec round trip. See `latentdiff_edit/evaluation/benchmark/` for what is measured.

    python scripts/benchmark.py --input data/corpus/manifest.jsonl --split test --max_clips 50 \
        --output runs/benchmark --model path/to/pipeline
    accelerate launch --multi_gpu --num_processes 4 scripts/benchmark.py ...   # clips split across 4 processes
"""

from latentdiff_edit.evaluation.benchmark import main, parse_args  # noqa: F401  (parse_args: the recipe's interface)

if __name__ == "__main__":
    main()
