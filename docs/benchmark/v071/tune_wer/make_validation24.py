#!/usr/bin/env python
"""A tuning set for the edit defaults that can score lost words: 24 validation-split clips (unaugmented, >= 2 s,
with their sentence) of thirteen English natural TTS voices of the corpus, weighted toward the low male voices whose
edits lose the most words (Piper joe, mbrola us2 / us3, RHVoice bdl / alan, flite kal / awb, mbrola en1), drawn with
a fixed seed. Validation split: never trained on, and disjoint from the sets the defaults are then checked on (the
LibriVox clips, `../make_tts_male_test14.py`'s test-split clips, the Asterisk test prompts).

    python docs/benchmark/v071/tune_wer/make_validation24.py --corpus data/corpus --output runs/tune_validation24.jsonl
    python scripts/benchmark.py --input runs/tune_validation24.jsonl --model MODEL --edits pitch:-3,+3 --steps 12 \
        --depth 0.8 --guidance 2 --asr auto --methods cfg --output OUT
"""

import argparse
from pathlib import Path

from latentdiff_edit.data.manifest import read_manifest, sample_per_voice, write_manifest

VOICES = (("piper:joe", 3), ("mbrola:mb-us2", 3), ("mbrola:mb-us3", 3), ("rhvoice:bdl", 2), ("rhvoice:alan", 2),
          ("flite:kal", 2), ("flite:awb", 2), ("mbrola:mb-en1", 2), ("mbrola:mb-us1", 1), ("rhvoice:slt", 1),
          ("rhvoice:clb", 1), ("pico:en-US", 1), ("flite:slt", 1))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    p.add_argument("--output", type=Path, required=True)
    args = p.parse_args(argv)
    rows = [r for r in read_manifest(args.corpus / "manifest.jsonl", split="validation")
            if not r["augmented"] and r.get("text") and r["duration_s"] >= 2.0]
    picked = sample_per_voice(rows, VOICES, seed=0)
    write_manifest(picked, args.output)
    print(f"{len(picked)} clips -> {args.output}")


if __name__ == "__main__":
    main()
