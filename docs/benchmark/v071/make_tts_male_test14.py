#!/usr/bin/env python
"""Sets of natural TTS clips with their sentences (unaugmented, >= 2 s), drawn per voice with a fixed seed:

- `tts_male_test14` (the default): a second held-out set for pitch edits, 14 test-split clips of five low male voices
  (Piper joe, mbrola us2 / us3, RHVoice bdl / alan; median F0 85-154 Hz). Never trained on and never used to choose a
  model, so a candidate chosen on the five LibriVox clips can be checked here.
- `validation24`: the tuning set for the edit defaults (`tune_wer/README.md`), 24 validation-split clips of thirteen
  English voices weighted toward the low male ones whose edits lose the most words; disjoint from the sets the
  defaults are then checked on (the LibriVox clips, `tts_male_test14`, the Asterisk test prompts).

    python docs/benchmark/v071/make_tts_male_test14.py --corpus data/corpus --output runs/tts_male_test14.jsonl
    python docs/benchmark/v071/make_tts_male_test14.py --set validation24 --output runs/tune_validation24.jsonl
    python scripts/benchmark.py --input runs/tts_male_test14.jsonl --model MODEL --edits pitch:-3,+3 --steps 12 \
        --asr auto --methods cfg --output OUT
"""

import argparse
from pathlib import Path

from latentdiff_edit.data.manifest import read_manifest, sample_per_voice, write_manifest

SETS = {  # name: (split, clips per voice)
    "tts_male_test14": ("test", (("piper:joe", 4), ("mbrola:mb-us2", 3), ("mbrola:mb-us3", 3), ("rhvoice:bdl", 2),
                                 ("rhvoice:alan", 2))),
    "validation24": ("validation", (("piper:joe", 3), ("mbrola:mb-us2", 3), ("mbrola:mb-us3", 3), ("rhvoice:bdl", 2),
                                    ("rhvoice:alan", 2), ("flite:kal", 2), ("flite:awb", 2), ("mbrola:mb-en1", 2),
                                    ("mbrola:mb-us1", 1), ("rhvoice:slt", 1), ("rhvoice:clb", 1), ("pico:en-US", 1),
                                    ("flite:slt", 1))),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    p.add_argument("--set", choices=sorted(SETS), default="tts_male_test14")
    p.add_argument("--output", type=Path, required=True)
    args = p.parse_args(argv)
    split, voices = SETS[args.set]
    rows = [r for r in read_manifest(args.corpus / "manifest.jsonl", split=split)
            if not r["augmented"] and r.get("text") and r["duration_s"] >= 2.0]
    picked = sample_per_voice(rows, voices, seed=0)
    write_manifest(picked, args.output)
    print(f"{len(picked)} clips -> {args.output}")


if __name__ == "__main__":
    main()
