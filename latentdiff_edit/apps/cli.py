"""The `latentdiff-edit` command line (also `python -m latentdiff_edit`).

    latentdiff-edit edit speech.wav -o speech_up3.wav --pitch +3
    latentdiff-edit edit speech.wav -o lively.wav --set style=high-wide-fast --mode direction --strength 1.5
    latentdiff-edit edit speech.wav -o part.wav --pitch -2 --start 1.0 --end 2.5 --plot part.png
    latentdiff-edit reconstruct speech.wav --steps 50
    latentdiff-edit info                      # the shipped model; or a model folder / Hub id / an edited file
    latentdiff-edit demo                      # the web demo on http://127.0.0.1:7860 (pip install -e ".[demo]")
    accelerate launch --num_processes 2 -m latentdiff_edit batch clips/ -o edited/ --pitch +2 --resume

Mistakes a user can fix (a bad file, an unknown attribute, a value out of range, an existing output) print
`error: <message>` to stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import soundfile as sf
import torch
from diffusers.utils import logging as diffusers_logging
from transformers.utils import logging as transformers_logging

from .. import __version__
from ..audio import DEFAULT_MAX_SECONDS, AudioInputError, output_format
from ..defaults import (
    DEFAULT_FIT_STRENGTH,
    DEFAULT_GUIDANCE_SCALE,
    DEFAULT_HARMONIC_GUIDANCE,
    DEFAULT_INVERSION,
    DEFAULT_INVERSION_DEPTH,
    DEFAULT_NUM_INFERENCE_STEPS,
    DEFAULT_OCTAVE_REPAIR,
    LOWERING_INVERSION_DEPTH,
    auto_inversion_depth,
)
from ..directions import MAX_FIT_PITCH_LEAK_ST, resolve_direction
from ..inversion import auto_inversion_method
from ..loading import load_pipeline, model_label
from ..pipelines.pipeline_voice_edit import DEFAULT_WINDOW_SECONDS
from .credentials import format_report, read_credentials, resolve_signing_key
from .credentials import mime_type as credentials_mime_type
from .editing import (
    EDIT_MODES,
    EDIT_REGION_CHOICES,
    GUIDANCE_REFERENCES,
    INVERSION_CHOICES,
    ClipEdit,
    EditSettings,
    check_clip_edit,
    check_settings,
    describe_edit,
    edit_jobs,
    measure_result,
    parse_attribute_values,
    prepare_job,
    provenance_record,
    read_provenance,
    resolve_fit_strength,
    write_output,
)

USER_ERROR_STATUS = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latentdiff-edit", description="Precise voice editing by latent-space inversion.",
        epilog="Run `latentdiff-edit COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    edit = commands.add_parser("edit", help="edit one recording", description="Edit one recording.")
    edit.add_argument("input", help="audio file (WAV, FLAC, OGG; any rate, mono or stereo)")
    edit.add_argument("-o", "--output", required=True, help="the edited file (.wav or .flac)")
    _add_edit_arguments(edit)
    edit.add_argument("--plot", help="also write a PNG with before/after spectrograms and F0 contours")
    edit.add_argument("--directions", metavar="DIR",
                      help="folder with saved directions for --direction (default: the model folder)")
    edit.add_argument("--report", metavar="FILE.json",
                      help="also write the disentanglement report (requested and measured change of every attribute)")
    edit.set_defaults(handler=_edit)

    directions = commands.add_parser(
        "directions", help="find unsupervised edit directions and hear them",
        description="Unsupervised directions: with one input, the principal directions of the model's posterior around "
                    "it (ZEUS); with several, the principal components of their inverted latents (saved in "
                    "OUT/directions/, usable with `edit --direction pcN --directions OUT`). Writes each direction at "
                    "-/+ strength as audio and a table of what each measurably changes.")
    directions.add_argument("input", nargs="+", help="audio file(s)")
    directions.add_argument("-o", "--output", required=True, help="output folder")
    directions.add_argument("--num", type=int, default=5, help="number of directions (default 5)")
    directions.add_argument("--strength", type=float, default=1.0,
                            help="strength in standard deviations along each direction (default 1)")
    _add_model_arguments(directions)
    directions.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE_SCALE,
                            help=f"guidance scale of the regeneration (default {DEFAULT_GUIDANCE_SCALE:g})")
    directions.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    directions.set_defaults(handler=_directions)

    reconstruct = commands.add_parser(
        "reconstruct", aliases=["invert"], help="measure inversion fidelity (latent SNR of invert → regenerate)",
        description="Invert a recording and regenerate it unedited; print the latent SNR in dB.",
    )
    reconstruct.add_argument("input", help="audio file")
    reconstruct.add_argument("-o", "--output", help="also write the regenerated audio")
    _add_model_arguments(reconstruct)
    reconstruct.add_argument("--overwrite", action="store_true", help="replace an existing output")
    _add_credentials_arguments(reconstruct)
    reconstruct.set_defaults(handler=_reconstruct)

    info = commands.add_parser("info", help="describe a model, or the provenance of an edited file",
                               description="Describe a model (schema, training, rate) or an edited file's provenance.")
    info.add_argument("target", nargs="?", help="model folder, Hub id or audio file (default: the shipped model)")
    info.add_argument("--trust", metavar="CA.pem",
                      help="validate an audio file's Content Credentials against these CA certificates (PEM)")
    info.set_defaults(handler=_info)

    batch = commands.add_parser(
        "batch", help="edit a folder or manifest (run under `accelerate launch` for several processes)",
        description="Edit every file of a folder (the flags give the edit) or of a CSV/JSONL manifest (columns: "
                    "path, optional pitch, intonation, output and attribute columns).",
    )
    batch.add_argument("input", help="folder of audio files, or a .csv / .jsonl manifest")
    batch.add_argument("-o", "--output", required=True, help="output folder (receives manifest.jsonl)")
    _add_edit_arguments(batch)
    batch.add_argument("--resume", action="store_true", help="skip items already done in the output folder")
    batch.add_argument("--batch_size", type=int, default=4, help="clips edited together (default 4)")
    batch.set_defaults(handler=_batch)

    demo = commands.add_parser(
        "demo", help="start the web demo (needs the [demo] extra: pip install 'latentdiff-edit[demo]')",
        description="Serve a page to record or upload speech, edit it and compare before/after (Gradio).",
    )
    demo.add_argument("--model", help="pipeline folder or Hub id (default: the shipped model)")
    demo.add_argument("--host", default="127.0.0.1",
                      help="address to listen on (default 127.0.0.1: this machine only; others need --allow-remote)")
    demo.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    demo.add_argument("--share", type=_boolean, nargs="?", const=True, default=False, metavar="true|false",
                      help="also open a public gradio.live link (default false; needs --allow-remote)")
    demo.add_argument("--allow-remote", "--allow_remote", action="store_true", dest="allow_remote",
                      help="allow a --host other than this machine, or --share")
    demo.add_argument("--max_seconds", type=float, default=DEFAULT_MAX_SECONDS,
                      help=f"refuse clips (or edited spans) longer than this (default {DEFAULT_MAX_SECONDS:g})")
    demo.set_defaults(handler=_demo)

    # Only for --help: `main` forwards everything after `benchmark` untouched.
    commands.add_parser("benchmark", help="run the benchmark (forwards its arguments to latentdiff_edit.evaluation.benchmark)",
                        add_help=False)
    return parser


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="pipeline folder or Hub id (default: the shipped model)")
    parser.add_argument("--steps", type=int, default=DEFAULT_NUM_INFERENCE_STEPS,
                        help=f"DDIM steps of the full schedule (default {DEFAULT_NUM_INFERENCE_STEPS})")
    parser.add_argument("--depth", type=float, default=None,
                        help=f"fraction of the schedule to invert, in (0, 1] (default: "
                             f"{LOWERING_INVERSION_DEPTH:g} for an edit that lowers the pitch, "
                             f"{DEFAULT_INVERSION_DEPTH:g} otherwise)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the pipeline's generator (default 0)")
    parser.add_argument("--inversion", choices=INVERSION_CHOICES, default=DEFAULT_INVERSION,
                        help="ddim: deterministic DDIM inversion; ddpm: edit-friendly DDPM inversion, exact "
                             "reconstruction whatever the model, seeded by --seed; null-opt: per-step optimized "
                             "reference condition; latent-opt: optimized inverted latents (both for the edit's "
                             "guidance); encoder: the model's inversion encoder, one pass; auto (default): ddpm for "
                             "an edit that lowers the pitch (the model falls an octave short of low F0 from DDIM "
                             "noise), ddim otherwise")
    parser.add_argument("--max_seconds", type=float, default=None,
                        help="refuse files longer than this (default: no limit; long files are edited in windows)")
    parser.add_argument("--no-timbre", dest="timbre", action="store_false",
                        help="models with a timbre condition: edit with the null timbre instead of holding the "
                             "source's voice fixed (for comparison)")
    parser.add_argument("--window", type=float, default=DEFAULT_WINDOW_SECONDS, metavar="SEC",
                        help="seconds the model sees at once; memory grows with it, not with the file "
                             f"(default {DEFAULT_WINDOW_SECONDS:g})")


def _add_edit_arguments(parser: argparse.ArgumentParser) -> None:
    _add_model_arguments(parser)
    # type=float takes "+3" and, since no option of ours looks like a negative number, "-3" too
    parser.add_argument("--pitch", type=float, default=0.0, metavar="SEMITONES",
                        help="pitch shift in semitones, e.g. +3 or -2.5 (default 0)")
    parser.add_argument("--intonation", type=float, default=1.0, metavar="SCALE",
                        help="scale of the F0 excursions: >1 livelier, <1 flatter, 0 monotone (default 1)")
    parser.add_argument("--rate", type=float, default=1.0, metavar="FACTOR",
                        help="speaking rate: 1.25 = 25%% faster (duration / 1.25), 0.8 = slower (default 1); "
                             "regenerated at depth 0.5 with guidance >= 4 against the null condition")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="attributes",
                        help="target attribute value, e.g. --set style=high-wide-fast (repeatable)")
    parser.add_argument("--mode", choices=EDIT_MODES, default="cfg",
                        help="cfg: guide toward the --set values; direction: add the condition-space direction from "
                             "the source's measured values to them, times --strength (default cfg)")
    parser.add_argument("--strength", type=float,
                        help="direction strength for --mode direction or --direction (default 1; for a calibrated "
                             "direction, 1 = its measured unit)")
    parser.add_argument("--direction", metavar="NAME", help="apply a saved direction of the model by name")
    parser.add_argument("--fit-strength", type=int, default=None, metavar="N", dest="fit_strength",
                        help="for a calibrated --direction: up to N extra regenerations that adjust its strength to "
                             "this clip until the measured change of its attribute is within 10%% of the asked one "
                             f"(default {DEFAULT_FIT_STRENGTH} for a calibrated direction; 0: the calibration's mean "
                             "response alone)")
    parser.add_argument("--octave-repair", type=int, default=DEFAULT_OCTAVE_REPAIR, metavar="N", dest="octave_repair",
                        help="up to N other regenerations (other inversions) from which voiced stretches the edit drew "
                             "an octave off the asked F0 are redrawn; made only when such a stretch is found "
                             f"(default {DEFAULT_OCTAVE_REPAIR}: off; 2 is what docs/benchmark/octave_repair measured)")
    parser.add_argument("--harmonic-guidance", type=float, default=DEFAULT_HARMONIC_GUIDANCE, metavar="S",
                        dest="harmonic_guidance",
                        help="keep the edited voice periodic at the asked F0: at every step, move the model's clean "
                             "estimate toward a spectrum as harmonic at the asked F0 as the source's is at its own, "
                             f"by S (default {DEFAULT_HARMONIC_GUIDANCE:g}; 0: off)")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE_SCALE,
                        help=f"guidance scale, 1 = no guidance (default {DEFAULT_GUIDANCE_SCALE:g})")
    parser.add_argument("--guidance_reference", choices=GUIDANCE_REFERENCES, default="source",
                        help="guide against the source's attributes or the null condition (default source)")
    parser.add_argument("--region", choices=EDIT_REGION_CHOICES,
                        help="which frames to edit: all; speech, so pauses stay as they are; voiced, so voiceless "
                             "consonants do too (default: voiced for a pitch or intonation edit, speech for any "
                             "other, all for --rate)")
    parser.add_argument("--start", type=float, metavar="SEC", help="edit only from here (seconds)")
    parser.add_argument("--end", type=float, metavar="SEC", help="edit only up to here (seconds)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (never the input)")
    _add_credentials_arguments(parser)


def _add_credentials_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sign-cert", metavar="PEM",
                        help="certificate chain that signs the outputs' C2PA Content Credentials (default: "
                             "$LATENTDIFF_EDIT_SIGN_CERT, else a self-signed key made in the config folder)")
    parser.add_argument("--sign-key", metavar="PEM",
                        help="the private key of --sign-cert (default: $LATENTDIFF_EDIT_SIGN_KEY)")
    parser.add_argument("--no-credentials", action="store_true",
                        help="write no C2PA manifest (the outputs keep their plain-text provenance tags)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0, or 2 for a user error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # the loading bars of diffusers and transformers would bury the few lines the commands print
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    try:
        if argv[:1] == ["benchmark"]:
            return _benchmark(argv[1:])
        args = build_parser().parse_args(argv)
        return args.handler(args) or 0
    except (ValueError, OSError) as e:  # AudioInputError, bad values, missing files and models, existing outputs
        print(f"error: {e}", file=sys.stderr)
        return USER_ERROR_STATUS


def _settings(args) -> EditSettings:
    if args.strength is not None and args.mode != "direction" and args.direction is None:
        raise ValueError("--strength applies to --mode direction or --direction")
    settings = EditSettings(
        mode=args.mode,
        strength=1.0 if args.strength is None else args.strength,
        guidance_scale=args.guidance,
        guidance_reference=args.guidance_reference,
        num_inference_steps=args.steps,
        inversion_depth=args.depth,
        seed=args.seed,
        inversion=args.inversion,
        max_seconds=args.max_seconds,
        segment=None if args.start is None and args.end is None else (args.start, args.end),
        window_seconds=args.window,
        direction=args.direction,
        timbre=args.timbre,
        region=args.region,
        fit_strength=args.fit_strength,
        octave_repair=args.octave_repair,
        harmonic_guidance=args.harmonic_guidance,
    )
    check_settings(settings)
    return settings


def _unedited_inversion(method: str) -> str:
    """The inversion a command that moves no attribute (reconstruct, directions) runs for `--inversion`."""
    return auto_inversion_method(pitch_shift=0.0) if method == "auto" else method


def _unedited_depth(depth: float | None) -> float:
    """The inversion depth a command that moves no attribute (reconstruct, directions) runs for `--depth`."""
    return auto_inversion_depth(pitch_shift=0.0) if depth is None else depth


def _check_output(input_path: Path, output_path: Path, overwrite: bool) -> None:
    same = output_path.resolve() == input_path.resolve() or (
        output_path.exists() and input_path.exists() and os.path.samefile(output_path, input_path)
    )
    if same:
        raise ValueError(f"refusing to overwrite the input file {input_path}; choose another output")
    if output_path.is_dir():
        raise ValueError(f"{output_path} is a folder; give an output file name")
    if output_path.exists() and not overwrite:
        raise FileExistsError(f"{output_path} exists; pass --overwrite to replace it")


def _credentials(args, output_path: Path | None = None):
    """The outputs' signing key, or False for --no-credentials; checked before any model is loaded."""
    if args.no_credentials:
        if args.sign_cert or args.sign_key:
            raise ValueError("--no-credentials contradicts --sign-cert/--sign-key")
        return False
    if output_path is not None:
        credentials_mime_type(output_path)
    return resolve_signing_key(args.sign_cert, args.sign_key)


def _load(args):
    pipe = load_pipeline(args.model)
    return pipe.to("cuda" if torch.cuda.is_available() else "cpu")


def _edit(args) -> int:
    input_path, output_path = Path(args.input), Path(args.output)
    # everything that needs no model is checked first, so a typo costs no model load
    _check_output(input_path, output_path, args.overwrite)
    output_format(output_path)
    if args.plot:
        _check_output(input_path, Path(args.plot), args.overwrite)
    if args.report:
        _check_output(input_path, Path(args.report), args.overwrite)
    credentials = _credentials(args, output_path)
    settings = _settings(args)
    if settings.mode == "direction" and not args.attributes:
        raise ValueError("--mode direction needs at least one --set NAME=VALUE")
    edit = ClipEdit(args.pitch, args.intonation, rate=args.rate)
    check_clip_edit(edit)
    if not input_path.is_file():
        raise AudioInputError(f"audio file not found: {input_path}")

    pipe = _load(args)
    if args.direction is not None:
        resolve_direction(pipe.load_directions(args.directions), args.direction)  # unknown names fail here
        settings = resolve_fit_strength(pipe, settings)
    edit.attributes = parse_attribute_values(pipe.schema, args.attributes)
    job = prepare_job(input_path, pipe.sampling_rate, settings, edit)
    for warning in job.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    sampling_rate = pipe.sampling_rate
    print(f"source:   {input_path} ({len(job.source) / sampling_rate:.2f} s, {job.input_sampling_rate} Hz, "
          f"{job.input_channels} channel{'s' if job.input_channels > 1 else ''}; edited mono at {sampling_rate} Hz)")
    if settings.segment is not None:
        print(f"segment:  {job.start / sampling_rate:.2f}-{job.end / sampling_rate:.2f} s")
    print(f"edit:     {describe_edit(edit, settings)}")

    result = edit_jobs(pipe, [job], settings)[0]
    figures = measure_result(job, result, sampling_rate)
    print(f"measured: median F0 {_number(figures['source_f0_hz'], '.1f')} Hz, F0 spread "
          f"{_number(figures['source_f0_spread_st'], '.2f')} st, rate {_number(figures['source_rate'], '.2f')}/s")
    _print_achieved(edit, figures)
    if result.fit is not None:
        fit = result.fit
        print(f"fit:      direction {settings.direction} at raw strength {fit['raw_strength']:+.3g} after "
              f"{fit['tries']} tr{'y' if fit['tries'] == 1 else 'ies'}: measured {fit['measured']:+.3f} for "
              f"{fit['asked']:+.3f} asked ({'within' if fit['converged'] else 'outside'} "
              f"{settings.fit_tolerance:.0%})")
        leaks = sum(bool(t.get("leaked")) for t in fit.get("trace", []))
        if leaks:
            print(f"          {leaks} tr{'y' if leaks == 1 else 'ies'} moved the pitch by more than "
                  f"{MAX_FIT_PITCH_LEAK_ST:g} st and {'were' if leaks > 1 else 'was'} set aside"
                  + (" (every try did: the edit shown is the closest)" if leaks == fit["tries"] else ""))
    if result.octave is not None:
        print(f"octave:   {result.octave['summary'].split(': ', 1)[1]}")
    if result.report is not None:
        from ..evaluation.report import format_report as format_edit_report

        print("report:   disentanglement (* = asked to change; measured against the source)")
        print("          " + format_edit_report(result.report).replace("\n", "\n          "))
        if args.report:
            Path(args.report).write_text(json.dumps(result.report, indent=2) + "\n")
            print(f"wrote:    {args.report}")
    write_output(output_path, result.audio, sampling_rate,
                 provenance_record(model_label(pipe.name_or_path), job, settings, measured=figures,
                                   octave=result.octave),
                 overwrite=args.overwrite, credentials=credentials, parent=input_path)
    signed = "no Content Credentials" if credentials is False else (
        "Content Credentials signed with the local self-signed key" if credentials.self_signed
        else f"Content Credentials signed by {credentials.subject}")
    print(f"wrote:    {output_path} ({len(result.audio) / sampling_rate:.2f} s, {sampling_rate} Hz; {signed})")
    if args.plot:
        from .plotting import plot_edit

        plot_edit(args.plot, job.source, result.audio, sampling_rate, title=describe_edit(edit, settings))
        print(f"wrote:    {args.plot}")
    return 0


def _directions(args) -> int:
    from ..directions import direction_effects, pca_directions, posterior_directions, save_directions
    from ..evaluation.report import edit_report

    output = Path(args.output)
    if output.exists() and any(output.iterdir()) and not args.overwrite:
        raise FileExistsError(f"{output} is not empty; pass --overwrite to write into it")
    if not (args.num >= 1 and args.strength > 0):
        raise ValueError("--num must be >= 1 and --strength > 0")
    pipe = _load(args)
    sampling_rate = pipe.sampling_rate
    clips = [prepare_job(path, sampling_rate, EditSettings(), ClipEdit()).source for path in args.input]
    invert = {"num_inference_steps": args.steps, "inversion_depth": _unedited_depth(args.depth),
              "method": _unedited_inversion(args.inversion),
              "window_seconds": None}
    if len(clips) == 1:
        inversion = pipe.invert(clips[0], sampling_rate, **invert)
        found = posterior_directions(pipe, inversion, num_directions=args.num)
    else:
        found = pca_directions(pipe, clips, sampling_rate, num_directions=args.num, **invert)
        save_directions(found, output)
        inversion = pipe.invert(clips[0], sampling_rate, **invert)
    rows = direction_effects(pipe, inversion, found, strengths=(-args.strength, args.strength),
                             edit_kwargs={"guidance_scale": args.guidance},
                             measure_fn=lambda reference, edited, sr: edit_report(reference, edited, sr))
    output.mkdir(parents=True, exist_ok=True)
    table = []
    print(f"{'direction':<14}{'strength':>9}{'pitch st':>10}{'F0 spread':>11}{'loud dB':>9}{'rate':>7}"
          f"{'duration':>10}{'speaker':>9}")
    for row in rows:
        path = output / f"{row['direction']}_{'minus' if row['strength'] < 0 else 'plus'}.wav"
        sf.write(path, row["audio"], sampling_rate)
        measured = {k: v["measured"] for k, v in row["changes"]["attributes"].items()}
        table.append({"direction": row["direction"], "strength": row["strength"], "file": path.name, **measured})
        print(f"{row['direction']:<14}{row['strength']:>+9.2f}"
              + "".join(f"{_number(measured[k], f):>{w}}" for k, f, w in (
                  ("pitch", "+.2f", 10), ("f0_spread", ".2f", 11), ("loudness", "+.2f", 9), ("rate", ".2f", 7),
                  ("duration", ".2f", 10), ("speaker_similarity", ".2f", 9))))
    descriptions = {d.name: d.description for d in found}
    (output / "directions_table.json").write_text(json.dumps({"directions": descriptions, "effects": table},
                                                             indent=2) + "\n")
    print(f"wrote:    {len(rows)} clips and directions_table.json to {output}"
          + ("; directions/ (apply with `edit --direction NAME --directions OUT`)" if len(clips) > 1 else ""))
    return 0


def pitch_miss_warning(requested_st: float, achieved_st: float, source_f0_hz: float | None,
                       tolerance_st: float = 1.5) -> str | None:
    """A warning when a pitch edit missed by more than `tolerance_st` (None when it landed or was not asked): an
    octave error (off by about 12 st) is named as such, with the F0 the model was asked to draw."""
    if not requested_st or achieved_st is None or not math.isfinite(achieved_st):
        return None
    miss = achieved_st - requested_st
    if abs(miss) <= tolerance_st:
        return None
    target = f" ({source_f0_hz:.0f} -> {source_f0_hz * 2 ** (requested_st / 12):.0f} Hz)" if source_f0_hz else ""
    if abs(abs(miss) - 12) <= tolerance_st:
        return (f"warning:  the pitch edit landed about an octave {'above' if miss > 0 else 'below'} the request "
                f"({miss:+.1f} st): the model could not draw the target F0{target} and drew the octave "
                f"{'above' if miss > 0 else 'below'} (the shipped model draws F0 down to about 85 Hz; see the README)")
    return f"warning:  the pitch edit missed the request by {miss:+.1f} st{target}"


def _print_achieved(edit: ClipEdit, figures: dict) -> None:
    print(f"achieved: pitch shift {_number(figures['pitch_shift_st'], '+.2f')} st "
          f"(requested {edit.pitch_shift:+.2f} st)")
    warning = pitch_miss_warning(edit.pitch_shift, figures.get("pitch_shift_st"), figures.get("source_f0_hz"))
    if warning:
        print(warning)
    if figures.get("extra_octave_jumps"):
        print(f"warning:  the edited F0 has {figures['extra_octave_jumps']:.0f} octave jump(s) the source lacks: "
              "part of it was drawn an octave off, or its periodicity is ambiguous (--plot shows where; "
              "--octave-repair 2 redraws such stretches from other inversions)")
    if "rate_factor" in figures:
        print(f"          rate x{_number(figures['rate_factor'], '.3f')} (requested x{edit.rate:g})")
    if "intonation_scale" in figures:
        print(f"          intonation x{_number(figures['intonation_scale'], '.2f')} "
              f"(requested x{edit.intonation_scale:g})")
    for name, value in edit.attributes.items():
        if f"edited_{name}" in figures:
            print(f"          {name} {_number(figures[f'edited_{name}'], '.2f')} (requested {value:g})")


def _number(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _reconstruct(args) -> int:
    input_path = Path(args.input)
    output_path = Path(args.output) if args.output else None
    if output_path is not None:
        _check_output(input_path, output_path, args.overwrite)
        output_format(output_path)
        credentials = _credentials(args, output_path)
    settings = EditSettings(num_inference_steps=args.steps, inversion_depth=_unedited_depth(args.depth),
                            seed=args.seed,
                            inversion=_unedited_inversion(args.inversion),
                            max_seconds=args.max_seconds, window_seconds=args.window)
    check_settings(settings)
    pipe = _load(args)
    job = prepare_job(input_path, pipe.sampling_rate, settings, ClipEdit())
    reconstruction = pipe.check_reconstruction(job.source, pipe.sampling_rate,
                                               num_inference_steps=settings.num_inference_steps,
                                               inversion_depth=settings.inversion_depth,
                                               method=settings.inversion,
                                               generator=torch.Generator("cpu").manual_seed(settings.seed))
    print(f"latent SNR {reconstruction.snr_db[0]:.2f} dB ({settings.inversion.upper()}: invert to depth "
          f"{settings.inversion_depth:g} and "
          f"regenerate, {settings.num_inference_steps} steps; 25 dB and above is near-transparent)")
    if output_path is not None:
        audio = pipe.decode_latents(reconstruction.latents, [len(job.source)])[0].cpu().numpy()
        write_output(output_path, audio, pipe.sampling_rate,
                     provenance_record(model_label(pipe.name_or_path), job, settings, operation="reconstruct"),
                     overwrite=args.overwrite, credentials=credentials, parent=input_path)
        print(f"wrote {output_path}")
    return 0


def _info(args) -> int:
    target = args.target
    if target is not None and Path(target).is_file():
        return _audio_info(Path(target), args.trust)
    if args.trust:
        raise ValueError("--trust applies to an audio file's Content Credentials")
    pipe = load_pipeline(target)
    config = pipe.denoiser.config
    hop = pipe.hop_length
    print(f"model:         {model_label(pipe.name_or_path)}")
    print(f"sampling rate: {pipe.sampling_rate} Hz (hop {hop} samples, {pipe.sampling_rate / hop:g} latent frames/s, "
          f"{config.latent_channels} latent channels)")
    print("attributes:")
    for spec in pipe.schema.specs:
        detail = pipe.schema.describe(spec["name"])
        detail += " (edit with --pitch / --intonation)" if spec["name"] == "f0" else ""
        print(f"  {spec['name']:<14}{spec['type']:<13}{detail}")
    directions = pipe.load_directions()
    print("directions:" + ("" if directions else "    none saved (make them with `latentdiff-edit directions`)"))
    for name, direction in directions.items():
        calibrated = (f"calibrated on {direction.attribute}, strength 1 = a change of {direction.unit:+.3g}"
                      if direction.calibrated else "uncalibrated")
        print(f"  {name:<14}{direction.space:<13}{calibrated}; {direction.description}")
    training = config.training_info
    print("training:      " + (json.dumps(training, indent=2).replace("\n", "\n               ") if training
                               else "not recorded"))
    return 0


def _audio_info(path: Path, trust: str | None = None) -> int:
    """Print a file's format, its provenance tags and its validated Content Credentials; 1 when they are invalid."""
    record = read_provenance(path)  # AudioInputError for a file that is not audio
    info = sf.info(path)
    print(f"file:       {path} ({info.duration:.2f} s, {info.samplerate} Hz, {info.channels} channel(s), "
          f"{info.format} {info.subtype})")
    if record is None:
        print("provenance: none (not written by latentdiff-edit, or its tags were stripped)")
    else:
        print("provenance: " + json.dumps(record, indent=2).replace("\n", "\n            "))
    report = read_credentials(path, trust_anchors=trust)
    print("\n".join(format_report(report, tags_record=record)))
    return 1 if report is not None and not report.signature_valid else 0


def _batch(args) -> int:
    from .batch import run_batch

    run_batch(
        args.input, args.output, model=args.model, settings=_settings(args), pitch_shift=args.pitch,
        intonation_scale=args.intonation, rate=args.rate, attributes=args.attributes, batch_size=args.batch_size,
        resume=args.resume, overwrite=args.overwrite, credentials=_credentials(args),
    )
    return 0


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false", "yes", "no", "1", "0"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value in ("true", "yes", "1")


def _demo(args) -> int:
    from .demo import check_host, launch_demo

    check_host(args.host, args.share, args.allow_remote)  # before the model loads
    if importlib.util.find_spec("gradio") is None:
        raise ValueError("the demo needs Gradio: pip install 'latentdiff-edit[demo]'")
    launch_demo(args.model, host=args.host, port=args.port, share=args.share, allow_remote=args.allow_remote,
                max_seconds=args.max_seconds)
    return 0


def _benchmark(argv: list[str]) -> int:
    if importlib.util.find_spec("latentdiff_edit.evaluation.benchmark") is None:
        raise ValueError("the benchmark is not part of this installation (no latentdiff_edit.evaluation.benchmark module); "
                         "run scripts/benchmark.py from a source checkout")
    importlib.import_module("latentdiff_edit.evaluation.benchmark").main(argv)  # it returns its report, not a status
    return 0
