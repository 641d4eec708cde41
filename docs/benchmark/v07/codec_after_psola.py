#!/usr/bin/env python
"""Where do the words of a -3 st edit go: the decoder at a low F0, or the LDM's redraw?

Shift each clip with TD-PSOLA (Praat; keeps the words), pass it through the shipped model's codec round trip (encoder
+ decoder, no diffusion), and transcribe both with the benchmark's ASR. If the codec keeps the words of a PSOLA-shifted
clip as well as those of the source, the WER an LDM edit adds is the denoiser's, not the decoder's. The same holds
for the octave jumps each stage adds to the source's F0 contour (`extra_octave_jumps`, the benchmark's measure).
`--asr none` skips the transcripts (jumps and similarity only).

    python docs/benchmark/v07/codec_after_psola.py --input /usr/share/pocketsphinx/test/data/librivox \
        --output docs/benchmark/v07/codec_after_psola.json
"""

import argparse
import json
from pathlib import Path

import torch
from tqdm.auto import tqdm

from latentdiff_edit.evaluation.baselines import psola_pitch_shift
from latentdiff_edit.evaluation.benchmark.clips import read_clips
from latentdiff_edit.evaluation.metrics import (
    extra_octave_jumps,
    median_f0,
    speaker_similarity,
    transcribe,
    word_error_rate,
)
from latentdiff_edit.loading import load_pipeline
from latentdiff_edit.training import load_clip


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", type=Path, required=True, help="Folder of clips with transcripts, or a manifest.")
    p.add_argument("--model", default=None, help="Pipeline folder (default: the shipped model).")
    p.add_argument("--shifts", type=float, nargs="+", default=[0.0, -3.0, 3.0])
    p.add_argument("--asr", default="auto", help="ASR backend, or `none` to skip WER.")
    p.add_argument("--output", type=Path, required=True)
    args = p.parse_args(argv)

    pipe = load_pipeline(args.model)
    sr = pipe.sampling_rate
    rows, pooled, jumps = [], {}, {}
    clips = read_clips(args.input)
    for clip in tqdm(clips if args.asr == "none" else [c for c in clips if c["text"]], desc="clips"):
        source = load_clip(clip["path"], sr).numpy()
        for shift in args.shifts:
            shifted = source if shift == 0 else psola_pitch_shift(source, sr, shift)
            latents, _, lengths = pipe.encode_audio([torch.from_numpy(shifted)])
            decoded = pipe.decode_latents(latents, lengths)[0].cpu().numpy()
            for stage, audio in (("psola", shifted), ("psola+codec", decoded)):
                key = f"{stage} {shift:+g}"
                row = {"clip_id": clip["clip_id"], "shift_st": shift, "stage": stage}
                if args.asr != "none":
                    text = transcribe(audio, sr, backend=args.asr)
                    wer = word_error_rate(clip["text"], text)
                    words = len(clip["text"].split())
                    errors, total = pooled.get(key, (0.0, 0))
                    pooled[key] = (errors + wer * words, total + words)
                    row.update(wer=round(wer, 4), transcript=text)
                row.update(
                    median_f0_hz=round(median_f0(audio, sr), 1),
                    speaker_similarity=round(speaker_similarity(source, audio, sr), 4),
                    extra_octave_jumps=extra_octave_jumps(source, audio, sr),
                )
                jumps.setdefault(key, []).append(row["extra_octave_jumps"])
                rows.append(row)
    summary = {key: round(errors / total, 4) for key, (errors, total) in pooled.items()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "command": "python docs/benchmark/v07/codec_after_psola.py "
                f"--input {args.input} --output {args.output}" + (f" --asr {args.asr}" if args.asr != "auto" else ""),
                "wer_pooled": summary,
                "extra_octave_jumps": jumps,
                "clips": rows,
            },
            indent=1,
        )
    )
    for key, per_clip in jumps.items():
        wer = f"WER pooled {summary[key]:.3f}  " if key in summary else ""
        print(f"{key:>18}  {wer}extra octave jumps per clip {per_clip}")


if __name__ == "__main__":
    main()
