#!/usr/bin/env python
"""A second held-out set for pitch edits: 14 test-split clips (unaugmented, >= 2 s, with their sentence) of five low
male natural TTS voices of the corpus (Piper joe, mbrola us2 / us3, RHVoice bdl / alan; median F0 85-154 Hz), drawn
with a fixed seed. Never trained on (test split) and never used to choose a model, so a candidate chosen on the five
LibriVox clips can be checked here.

    python docs/benchmark/v071/make_tts_male_test14.py --corpus data/corpus --output runs/tts_male_test14.jsonl
    python scripts/benchmark.py --input runs/tts_male_test14.jsonl --model MODEL --edits pitch:-3,+3 --steps 12 \
        --asr auto --methods cfg --output OUT
"""

import argparse
from pathlib import Path

from latentdiff_edit.data.manifest import read_manifest, sample_per_voice, write_manifest

VOICES = (("piper:joe", 4), ("mbrola:mb-us2", 3), ("mbrola:mb-us3", 3), ("rhvoice:bdl", 2), ("rhvoice:alan", 2))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    p.add_argument("--output", type=Path, required=True)
    args = p.parse_args(argv)
    rows = [r for r in read_manifest(args.corpus / "manifest.jsonl", split="test")
            if not r["augmented"] and r.get("text") and r["duration_s"] >= 2.0]
    picked = sample_per_voice(rows, VOICES, seed=0)
    write_manifest(picked, args.output)
    print(f"{len(picked)} clips -> {args.output}")


if __name__ == "__main__":
    main()
