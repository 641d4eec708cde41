#!/usr/bin/env python
"""Sets of natural TTS clips with their sentences (unaugmented, >= 2 s), drawn per voice with a fixed seed:

- `tts_male_test14` (the default): a second held-out set for pitch edits, 14 test-split clips of five low male voices
  (Piper joe, mbrola us2 / us3, RHVoice bdl / alan; median F0 85-154 Hz). Never trained on and never used to choose a
  model, so a candidate chosen on the five LibriVox clips can be checked here.
- `validation24`: the tuning set for the edit defaults (`tune_wer/README.md`), 24 validation-split clips of thirteen
  English voices weighted toward the low male ones whose edits lose the most words; disjoint from the sets the
  defaults are then checked on (the LibriVox clips, `tts_male_test14`, the Asterisk test prompts).
- `confirm_test20` and `asterisk_confirm12`: fresh sets to confirm a choice read off the held-out sets (the depth per
  direction, `docs/benchmark/v08/depth_per_direction/`): 20 test-split TTS clips of eleven English voices, weighted
  toward the low male ones, and 12 real test-split Asterisk prompts (4 of the male speaker, 2 of each other), drawn
  with another seed and none of the clips of `--exclude` (pass the sets they must not share a clip with).

    python docs/benchmark/v071/make_tts_male_test14.py --corpus data/corpus --output runs/tts_male_test14.jsonl
    python docs/benchmark/v071/make_tts_male_test14.py --set validation24 --output runs/tune_validation24.jsonl
    python docs/benchmark/v071/make_tts_male_test14.py --set confirm_test20 --exclude runs/tts_male_test14.jsonl \
        runs/tune_validation24.jsonl --output runs/confirm_test20.jsonl
    python docs/benchmark/v071/make_tts_male_test14.py --set asterisk_confirm12 --exclude runs/asterisk_test10.jsonl \
        --output runs/asterisk_confirm12.jsonl
    python scripts/benchmark.py --input runs/tts_male_test14.jsonl --model MODEL --edits pitch:-3,+3 --steps 12 \
        --asr auto --methods cfg --output OUT
"""

import argparse
from pathlib import Path

from latentdiff_edit.data.manifest import read_manifest, sample_per_voice, write_manifest

SETS = {  # name: (split, clips per voice[, seed, kind]); TTS sets need a sentence (Whisper's reference)
    "tts_male_test14": ("test", (("piper:joe", 4), ("mbrola:mb-us2", 3), ("mbrola:mb-us3", 3), ("rhvoice:bdl", 2),
                                 ("rhvoice:alan", 2))),
    "validation24": ("validation", (("piper:joe", 3), ("mbrola:mb-us2", 3), ("mbrola:mb-us3", 3), ("rhvoice:bdl", 2),
                                    ("rhvoice:alan", 2), ("flite:kal", 2), ("flite:awb", 2), ("mbrola:mb-en1", 2),
                                    ("mbrola:mb-us1", 1), ("rhvoice:slt", 1), ("rhvoice:clb", 1), ("pico:en-US", 1),
                                    ("flite:slt", 1))),
    "confirm_test20": ("test", (("piper:joe", 3), ("mbrola:mb-us2", 2), ("mbrola:mb-us3", 2), ("rhvoice:bdl", 2),
                                ("rhvoice:alan", 2), ("flite:awb", 2), ("flite:kal", 2), ("mbrola:mb-en1", 2),
                                ("rhvoice:slt", 1), ("rhvoice:clb", 1), ("pico:en-US", 1)), 1),
    "asterisk_confirm12": ("test", (("asterisk:it_IT_m_Carlo", 4), ("asterisk:en_US_f_Allison", 2),
                                    ("asterisk:es_MX_f_Allison", 2), ("asterisk:fr_CA_f_June", 2),
                                    ("asterisk:ru_RU_f_IvrvoiceRU", 2)), 1, "real"),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    p.add_argument("--set", choices=sorted(SETS), default="tts_male_test14")
    p.add_argument("--exclude", type=Path, nargs="*", default=[], help="Manifests whose clips the set must not share.")
    p.add_argument("--output", type=Path, required=True)
    args = p.parse_args(argv)
    spec = SETS[args.set]
    split, voices = spec[:2]
    seed = spec[2] if len(spec) > 2 else 0
    kind = spec[3] if len(spec) > 3 else "tts"
    excluded = {Path(r["path"]).resolve() for m in args.exclude for r in read_manifest(m)}
    rows = [r for r in read_manifest(args.corpus / "manifest.jsonl", split=split)
            if not r["augmented"] and r["duration_s"] >= 2.0 and Path(r["path"]).resolve() not in excluded
            and (r.get("kind") == "real" if kind == "real" else bool(r.get("text")))]
    picked = sample_per_voice(rows, voices, seed=seed)
    write_manifest(picked, args.output)
    print(f"{len(picked)} clips -> {args.output}")


if __name__ == "__main__":
    main()
