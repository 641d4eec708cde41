#!/usr/bin/env python
"""The codec gate: round-trip figures on real speech the codec never trained on, next to a mel + Griffin-Lim
reference computed in the same run.

    python scripts/eval_codec.py --model latentdiff_edit/default_model \
        --manifest data/corpus/manifest.jsonl --split test --kind real --num_clips 30 \
        --real_dir /usr/share/pocketsphinx/test/data/librivox --output docs/benchmark/codec_round_trip.json

`--model` is a pipeline folder (its `codec/`, and `vocoder/` when present) or a codec directory; `--vocoder DIR`
pairs a codec with a vocoder trained elsewhere. Sets: clips drawn with a fixed seed from a manifest split (never
trained on; `--kind real` keeps the real recordings) and a folder of real recordings (`--real_dir`; a pocketsphinx
`transcription` file beside them gives Whisper its reference text). Figures per set (means): STOI, PESQ-wb, median F0
error (st), HNR drop (dB), speaker similarity to the source, DNSMOS overall (source and output), and Whisper WER of
source and output against the transcript (or of the output against the source's transcript). The reference is 64
log-mel bands at the codec's frame rate inverted by Griffin-Lim (torchaudio): the same number of values per second as
a 64-channel latent, with no learning. Needs the `[eval]` extra.
"""

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import torch
import torchaudio
from transformers import EncodecModel

from latentdiff_edit import codec as codec_utils
from latentdiff_edit.data.manifest import read_manifest
from latentdiff_edit.evaluation import (
    dnsmos,
    pesq_wb,
    speaker_similarity,
    stoi,
    transcribe,
    word_error_rate,
)
from latentdiff_edit.features import harmonics_to_noise_db, voiced_semitone_differences
from latentdiff_edit.models.vocoder import VocosVocoder
from latentdiff_edit.training import load_clip

TARGETS = {"stoi": 0.93, "pesq_wb": 3.0, "speaker_similarity": 0.85}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", "--codec", dest="model", type=Path, required=True,
                   help="A pipeline folder (codec/ and optional vocoder/) or an EncodecModel directory.")
    p.add_argument("--vocoder", type=Path, default=None, help="A VocosVocoder directory (overrides the folder's).")
    p.add_argument("--no_vocoder", action="store_true", help="Decode with the codec's own decoder.")
    p.add_argument("--manifest", type=Path, default=None)
    p.add_argument("--split", default="test")
    p.add_argument("--kind", default=None, help="Keep only manifest rows of this kind (real / tts / synthetic).")
    p.add_argument("--num_clips", type=int, default=30)
    p.add_argument("--real_dir", type=Path, default=None)
    p.add_argument("--asr", default="auto", choices=["auto", "whisper", "pocketsphinx", "none"])
    p.add_argument("--no_reference", action="store_true", help="Skip the mel + Griffin-Lim reference.")
    p.add_argument("--output", type=Path, default=None, help="JSON of the figures (a .md table is written beside).")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def load_codec(args) -> tuple[EncodecModel, VocosVocoder | None]:
    folder = args.model
    codec = EncodecModel.from_pretrained(folder / "codec" if (folder / "codec").is_dir() else folder).eval()
    vocoder_dir = args.vocoder or (folder / "vocoder" if (folder / "vocoder").is_dir() else None)
    vocoder = None if args.no_vocoder or vocoder_dir is None else VocosVocoder.from_pretrained(vocoder_dir).eval()
    return codec, vocoder


class MelGriffinLim:
    """64 mel bands at the codec's hop (512-point FFT, 4 x hop as Vocos), inverted with 64 Griffin-Lim iterations:
    the no-learning reference (n_fft 1024 smears time: PESQ 2.4 instead of 3.8 on the LibriVox clips)."""

    def __init__(self, sampling_rate: int, hop_length: int, n_mels: int = 64, n_fft: int = 512):
        self.mel = torchaudio.transforms.MelSpectrogram(sampling_rate, n_fft=n_fft, hop_length=hop_length,
                                                        n_mels=n_mels, power=1.0)
        self.inverse = torchaudio.transforms.InverseMelScale(n_fft // 2 + 1, n_mels, sampling_rate)
        self.griffin_lim = torchaudio.transforms.GriffinLim(n_fft=n_fft, hop_length=hop_length, power=1.0, n_iter=64)

    @torch.no_grad()
    def __call__(self, audio: torch.Tensor) -> torch.Tensor:
        magnitude = self.inverse(self.mel(audio)).clamp_min(0)
        return self.griffin_lim(magnitude)[: audio.numel()]


def transcripts(folder: Path) -> dict[str, str]:
    path = folder / "transcription"
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        match = re.match(r"\s*(?:<s>)?(.*?)(?:</s>)?\s*\(([^)]+)\)\s*$", line)
        if match:
            out[match.group(2)] = match.group(1).strip()
    return out


def figures(source: np.ndarray, output: np.ndarray, sr: int, asr: str, reference_text: str | None) -> dict:
    output = np.pad(output, (0, max(0, len(source) - len(output))))[: len(source)]
    row = {
        "stoi": stoi(source, output, sr),
        "pesq_wb": pesq_wb(source, output, sr),
        "hnr_drop_db": harmonics_to_noise_db(source, sr) - harmonics_to_noise_db(output, sr),
        "speaker_similarity": speaker_similarity(source, output, sr),
        "dnsmos_output": dnsmos(output, sr)["ovrl_mos"],
    }
    differences = voiced_semitone_differences(source, output, sr)
    row["f0_error_st"] = float(np.median(np.abs(differences))) if len(differences) else float("nan")
    if asr != "none":
        text = reference_text if reference_text is not None else transcribe(source, sr, backend=asr)
        row["wer_output"] = word_error_rate(text, transcribe(output, sr, backend=asr))
    return row


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    codec, vocoder = load_codec(args)
    sr = codec.config.sampling_rate
    reference = None if args.no_reference else MelGriffinLim(sr, codec_utils.hop_length(codec))

    sets: dict[str, list[tuple[str, str | None]]] = {}
    if args.manifest:
        rows = [r for r in read_manifest(args.manifest, split=args.split) if not r.get("augmented")]
        rows = [r for r in rows if args.kind is None or r.get("kind") == args.kind]
        rng = np.random.default_rng(args.seed)
        chosen = rng.choice(len(rows), min(args.num_clips, len(rows)), replace=False)
        sets[f"{args.split}_{args.kind or 'all'}"] = [(rows[i]["path"], None) for i in sorted(chosen)]
    if args.real_dir:
        texts = transcripts(args.real_dir)
        sets["real_dir"] = [(str(p), texts.get(p.stem)) for p in sorted(args.real_dir.glob("*.wav"))]

    results = {"model": str(args.model), "vocoder": vocoder is not None, "sets": {}}
    for name, clips in sets.items():
        rows_codec, rows_reference, rows_source, per_clip = [], [], [], []
        seconds, codec_time = 0.0, 0.0
        for path, text in clips:
            audio = load_clip(path, sr)
            source = audio.numpy()
            start = time.perf_counter()
            with torch.no_grad():
                recon = codec_utils.decode(codec, codec_utils.encode(codec, audio[None]), audio.numel(),
                                           vocoder=vocoder)[0].numpy()
            codec_time += time.perf_counter() - start
            seconds += audio.numel() / sr
            rows_codec.append(figures(source, recon, sr, args.asr, text))
            if reference is not None:
                rows_reference.append(figures(source, reference(audio).numpy(), sr, args.asr, text))
            source_row = {"dnsmos_source": dnsmos(source, sr)["ovrl_mos"]}
            if args.asr != "none" and text is not None:
                source_row["wer_source"] = word_error_rate(text, transcribe(source, sr, backend=args.asr))
            rows_source.append(source_row)
            per_clip.append({"clip": Path(path).name, "codec": rows_codec[-1], "source": source_row,
                             **({"mel_griffin_lim": rows_reference[-1]} if reference is not None else {})})
        mean = lambda rows: {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]} if rows else {}  # noqa: E731
        results["sets"][name] = {"clips": len(clips), "seconds": round(seconds, 1), "codec": mean(rows_codec),
                                 "mel_griffin_lim": mean(rows_reference), "source": mean(rows_source),
                                 "codec_rtf": codec_time / max(seconds, 1e-9)}
        print(name, json.dumps(results["sets"][name], indent=1))
        results["sets"][name]["per_clip"] = per_clip
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2))
        args.output.with_suffix(".md").write_text(markdown(results))


def markdown(results: dict) -> str:
    lines = [f"Codec round trip of `{results['model']}` (vocoder: {results['vocoder']}), means per set.", ""]
    for name, block in results["sets"].items():
        lines += [f"### {name} ({block['clips']} clips, {block['seconds']} s)", "",
                  "| figure | codec | mel + Griffin-Lim | source | target |", "|---|---|---|---|---|"]
        for key, value in block["codec"].items():
            ref = block["mel_griffin_lim"].get(key)
            source = block["source"].get(key.replace("output", "source"))
            lines.append(f"| {key} | {value:.3f} | {'' if ref is None else f'{ref:.3f}'} | "
                         f"{'' if source is None else f'{source:.3f}'} | {TARGETS.get(key, '')} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
