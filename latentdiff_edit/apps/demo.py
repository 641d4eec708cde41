"""The web demo: record or upload a clip, choose edits, listen and look before and after (`pip install -e ".[demo]"`).

    latentdiff-edit demo                                  # the shipped model on http://127.0.0.1:7860
    latentdiff-edit demo --model runs/ldm/pipeline --port 7861

The page is built from the loaded model's attribute schema: a field for every clip-level attribute it can be
conditioned on, pitch and intonation sliders when it has an F0 contour. An edit runs the code the command line and batch
jobs run (`latentdiff_edit.apps.editing`): the same validation, editing, measurement and output writing, so the
download carries the same provenance. Mistakes a user can fix (a file that is not audio, silence, NaN, a clip that is
too long, a value out of range) show their message in the page, never a traceback.

    >>> demo = build_demo(load_pipeline(None))
    >>> demo.launch(server_name="127.0.0.1", server_port=7860)
"""

from __future__ import annotations

import ipaddress
import math
import shutil
import tempfile
import time
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..attributes import MEASURABLE
from ..audio import DEFAULT_MAX_SECONDS, save_audio
from ..defaults import DEFAULT_GUIDANCE_SCALE, DEFAULT_INVERSION_DEPTH
from ..features import measure_attributes
from .editing import (
    EDIT_MODES,
    GUIDANCE_REFERENCES,
    INVERSION_METHODS,
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
    write_output,
)
from .hub import model_label

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_STEPS = 50
# Uploads past this size are refused by the server before they reach the model (a minute of 48 kHz stereo float WAV
# is 23 MB).
MAX_UPLOAD = "100mb"
# A result folder is kept this long (seconds) for the page to fetch; the server's own copies follow `delete_cache`.
KEEP_RESULTS_SECONDS = 3600
KEEP = "(keep the source's)"
ATTRIBUTE_PREFIX = "set_"
# Measured clip attributes and their units, for the report.
UNITS = {"pitch": "median F0, Hz", "intonation": "F0 spread, st", "rate": "/s", "loudness": "dB"}


def is_local_host(host: str) -> bool:
    """Whether `host` is a loopback name or address (only this machine can connect)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, share: bool = False, allow_remote: bool = False) -> None:
    """
    Refuse to serve anything but this machine unless asked: a host other than a loopback address, or a public share
    link, needs `allow_remote=True` (`--allow-remote`).

    Raises:
        ValueError: a non-local host or `share` without `allow_remote`.
    """
    if allow_remote:
        return
    if not is_local_host(host):
        raise ValueError(f"--host {host} would let other machines use the demo; pass --allow-remote to mean it "
                         f"(default {DEFAULT_HOST}, only this machine)")
    if share:
        raise ValueError("--share true opens a public link to the demo; pass --allow-remote to mean it")


@dataclass
class DemoResult:
    """
    One edit done by the demo.

    Args:
        source_path (`Path`): the source as the model hears it (mono at the model's rate).
        edited_path (`Path`): the edited file, written with its provenance (`write_output`).
        plot_path (`Path`): before/after spectrograms with F0 contours (`plot_edit`).
        report (`dict`): the edit, the source, requested vs achieved, what should not have changed, warnings.
        seconds (`float`): time the edit took, from reading the file to the written outputs.
    """

    source_path: Path
    edited_path: Path
    plot_path: Path
    report: dict
    seconds: float
    warnings: list[str] = field(default_factory=list)


def run_edit(pipe, path, edit: ClipEdit, settings: EditSettings, output_dir, model: str | None = None) -> DemoResult:
    """
    Edit one file as `latentdiff-edit edit` does and write what the page shows into `output_dir`: the source as the
    model hears it, the edited file with its provenance, the before/after figure, and the report.

    Raises:
        ValueError: bad audio (`AudioInputError`), settings or values, with a message for people.
    """
    from .plotting import plot_edit

    started = time.perf_counter()
    check_settings(settings)
    check_clip_edit(edit)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    sampling_rate = pipe.sampling_rate
    job = prepare_job(path, sampling_rate, settings, edit)
    result = edit_jobs(pipe, [job], settings)[0]
    figures = measure_result(job, result, sampling_rate)
    model = _model_name(pipe) if model is None else model
    stem = Path(path).stem
    edited_path = write_output(output_dir / f"{stem}_edited.wav", result.audio, sampling_rate,
                               provenance_record(model, job, settings, measured=figures))
    source_path = save_audio(output_dir / f"{stem}_source.wav", job.source, sampling_rate)
    # the figure's title names the edit; the settings are in the report (the whole line would not fit)
    plot_path = plot_edit(output_dir / f"{stem}_edit.png", job.source, result.audio, sampling_rate,
                          title=describe_edit(edit, settings).split(" (")[0])
    report = edit_report(job, result, figures, settings, model)
    return DemoResult(source_path, edited_path, plot_path, report, time.perf_counter() - started, job.warnings)


def edit_report(job, result, figures: dict, settings: EditSettings, model: str) -> dict:
    """
    What the page reports: the edit; the source; each requested change beside what was measured on the output; and
    what should have stayed as it was (duration, the clip attributes nobody asked to change, the voice).
    """
    sampling_rate = job.sampling_rate
    edit = job.edit
    source_values = result.source_values
    edited_measures = measure_attributes(result.edited_span.astype(np.float64), sampling_rate)
    edited_values = {name: edited_measures[key] for name, key in MEASURABLE.items()}

    requested = []
    if edit.pitch_shift != 0:
        requested.append(_requested("pitch shift (st)", edit.pitch_shift, figures.get("pitch_shift_st")))
    if edit.intonation_scale != 1:
        requested.append(_requested("intonation scale (x)", edit.intonation_scale, figures.get("intonation_scale")))
    for name, value in edit.attributes.items():
        achieved = figures.get(f"edited_{name}", edited_values.get(name, "not measurable"))
        requested.append(_requested(_quantity(name), value, achieved, source=source_values.get(name)))

    unchanged = [_unchanged("duration (s)", len(job.edited_span) / sampling_rate,
                            len(result.edited_span) / sampling_rate)]
    # with no pitch shift asked, the measured shift says in semitones what the median F0 row would repeat
    pitch_kept = edit.pitch_shift == 0 and figures.get("pitch_shift_st") is not None
    if pitch_kept:
        unchanged.append(_unchanged("pitch shift (st)", 0.0, figures["pitch_shift_st"]))
    for name in MEASURABLE:
        if name in edit.attributes or (name == "pitch" and (edit.pitch_shift != 0 or pitch_kept)):
            continue
        if name == "intonation" and edit.intonation_scale != 1:
            continue
        unchanged.append(_unchanged(_quantity(name), source_values.get(name), edited_values[name]))
    similarity = _speaker_similarity(job.edited_span, result.edited_span, sampling_rate)
    if similarity is not None:
        unchanged.append(_unchanged("speaker similarity (1 = same voice)", 1.0, similarity))
    return {
        "model": model,
        "edit": describe_edit(edit, settings),
        "source": {"duration_s": round(len(job.source) / sampling_rate, 3),
                   "input_sampling_rate": job.input_sampling_rate, "input_channels": job.input_channels,
                   "edited_span_s": [round(job.start / sampling_rate, 3), round(job.end / sampling_rate, 3)]},
        "requested": requested,
        "unchanged": unchanged,
        "measured": figures,
        "warnings": list(job.warnings),
    }


def _model_name(pipe) -> str:
    # a pipeline built in memory has no folder to name
    return model_label(pipe.name_or_path) if pipe.name_or_path else "(unsaved pipeline)"


def _quantity(name: str) -> str:
    return f"{name} ({UNITS[name]})" if name in UNITS else name


def _requested(quantity: str, requested, achieved, source=None) -> dict:
    row = {"quantity": quantity, "requested": _round(requested), "achieved": _round(achieved)}
    if source is not None:
        row["source"] = _round(source)
    return row


def _unchanged(quantity: str, source, edited) -> dict:
    return {"quantity": quantity, "source": _round(source), "edited": _round(edited)}


def _round(value):
    if isinstance(value, str) or value is None:
        return value
    value = float(value)
    return round(value, 3) if math.isfinite(value) else None


def _speaker_similarity(source: np.ndarray, edited: np.ndarray, sampling_rate: int) -> float | None:
    # Needs the `[eval]` extra (resemblyzer); without it the report simply has no such row.
    try:
        from ..evaluation import speaker_similarity

        value = float(speaker_similarity(source, edited, sampling_rate))
    except Exception:
        return None
    return value if math.isfinite(value) else None


def report_markdown(report: dict) -> str:
    """The report as Markdown tables for the page."""
    lines = [f"**Edit:** {report['edit']}", ""]
    source = report["source"]
    lines.append(f"**Source:** {source['duration_s']:.2f} s, {source['input_sampling_rate']} Hz, "
                 f"{source['input_channels']} channel(s); edited span {source['edited_span_s'][0]:.2f}–"
                 f"{source['edited_span_s'][1]:.2f} s")
    lines.append("")
    if report["requested"]:
        lines += ["| requested | source | asked | achieved |", "|---|---|---|---|"]
        lines += [f"| {r['quantity']} | {_cell(r.get('source'))} | {_cell(r['requested'])} | {_cell(r['achieved'])} |"
                  for r in report["requested"]]
    else:
        lines.append("Nothing was asked to change: the output is the model's reconstruction of the source.")
    lines += ["", "| should not change | source | edited |", "|---|---|---|"]
    lines += [f"| {r['quantity']} | {_cell(r['source'])} | {_cell(r['edited'])} |" for r in report["unchanged"]]
    for warning in report["warnings"]:
        lines += ["", f"⚠ {warning}"]
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "n/a"
    return value if isinstance(value, str) else f"{value:g}"


def build_demo(pipe, model: str | None = None, max_seconds: float = DEFAULT_MAX_SECONDS,
               output_dir: str | None = None):
    """
    The Gradio page for `pipe`, its controls built from `pipe.schema`.

    Args:
        pipe ([`VoiceEditPipeline`]): the loaded pipeline (on its device).
        model (`str`, *optional*): the model's name in reports and provenance (default: where it was loaded from).
        max_seconds (`float`, *optional*, defaults to `DEFAULT_MAX_SECONDS`): longest clip (or span) accepted.
        output_dir (`str`, *optional*): where results are written (default: a temporary folder removed with the demo).

    Returns:
        `gradio.Blocks`: call `.launch(...)` on it (see [`launch_demo`]).
    """
    import gradio as gr

    model = _model_name(pipe) if model is None else model
    schema = pipe.schema
    work_dir = Path(output_dir) if output_dir else Path(tempfile.mkdtemp(prefix="latentdiff-edit-demo-"))

    with gr.Blocks(title="latentdiff-edit demo", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(f"# latentdiff-edit\nRecord or upload speech, choose an edit, listen and look before and after. "
                    f"Model: `{model}` ({pipe.sampling_rate} Hz; attributes: "
                    f"{', '.join(s['name'] for s in schema.specs)}).")
        inputs = {}
        with gr.Row():
            with gr.Column(scale=2):
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Source speech",
                                 elem_id="source-audio")
                if "f0" in schema:
                    inputs["pitch"] = gr.Slider(-12, 12, value=0, step=0.5, label="Pitch shift (semitones)",
                                                elem_id="pitch")
                    inputs["intonation_scale"] = gr.Slider(
                        0, 3, value=1, step=0.05, label="Intonation scale (F0 excursions: >1 livelier, 0 monotone)",
                        elem_id="intonation-scale")
                for spec in schema.specs:
                    key = ATTRIBUTE_PREFIX + spec["name"]
                    if spec["type"] == "categorical":
                        inputs[key] = gr.Dropdown([KEEP, *spec["categories"]], value=KEEP,
                                                  label=f"{spec['name']} (label)", elem_id=f"attribute-{spec['name']}")
                    elif spec["type"] == "continuous":
                        lo, hi = spec.get("min"), spec.get("max")
                        span = "" if lo is None or hi is None else f"; model range {lo:.2f} to {hi:.2f}"
                        unit = f" ({spec['column']})" if spec.get("column") and spec["column"] != spec["name"] else ""
                        # a text field can be left empty (keep the source's value); the value is parsed as the
                        # command line's --set NAME=VALUE is
                        inputs[key] = gr.Textbox(value="", label=f"{spec['name']} target{unit}",
                                                 placeholder=f"empty keeps the source's value{span}",
                                                 elem_id=f"attribute-{spec['name']}")
                with gr.Accordion("Settings", open=False):
                    inputs["mode"] = gr.Radio(list(EDIT_MODES), value="cfg", label="Edit mode",
                                              info="cfg: guide toward the targets; direction: move along the "
                                                   "direction from the source's values to them")
                    inputs["strength"] = gr.Slider(0, 3, value=1, step=0.05, label="Strength (direction mode)")
                    inputs["guidance"] = gr.Slider(0, 10, value=DEFAULT_GUIDANCE_SCALE, step=0.1,
                                                   label="Guidance scale (1 = none)")
                    inputs["guidance_reference"] = gr.Radio(list(GUIDANCE_REFERENCES), value="source",
                                                            label="Guide against")
                    inputs["steps"] = gr.Slider(1, 200, value=DEFAULT_STEPS, step=1, label="Steps (full schedule)")
                    inputs["depth"] = gr.Slider(0.05, 1, value=DEFAULT_INVERSION_DEPTH, step=0.05,
                                                label="Inversion depth (fraction of the schedule)")
                    inputs["inversion"] = gr.Radio(list(INVERSION_METHODS), value="ddim", label="Inversion method")
                    inputs["seed"] = gr.Number(value=0, precision=0, label="Seed")
                    with gr.Row():
                        inputs["start"] = gr.Textbox(value="", label="Edit from (s)", placeholder="the start")
                        inputs["end"] = gr.Textbox(value="", label="Edit up to (s)", placeholder="the end")
                button = gr.Button("Edit", variant="primary", elem_id="edit-button")
            with gr.Column(scale=3):
                with gr.Row():
                    before = gr.Audio(label="Before (as the model hears it)", interactive=False,
                                      buttons=["download"], elem_id="before-audio")
                    after = gr.Audio(label="After", interactive=False, buttons=["download"], elem_id="after-audio")
                # the figure's own title says what it shows; a floating label would cover it
                plot = gr.Image(label="Spectrograms and F0 contours", show_label=False, type="filepath",
                                interactive=False, buttons=["download", "fullscreen"], elem_id="edit-plot")
                report_view = gr.Markdown(elem_id="report")
                download = gr.File(label="Download the edited file (with its provenance)", elem_id="download")
                with gr.Accordion("Report (JSON)", open=False):
                    report_json = gr.JSON(elem_id="report-json")

        def edit(audio_path, progress=gr.Progress(track_tqdm=True), **values):  # noqa: B008
            if not audio_path:
                raise gr.Error("Upload or record a clip first.", print_exception=False)
            try:
                edit, settings = _form_to_edit(schema, values, max_seconds)
                progress(0, desc="Inverting and editing")
                request_dir = _request_dir(work_dir)
                result = run_edit(pipe, audio_path, edit, settings, request_dir, model=model)
            except (ValueError, OSError) as e:  # AudioInputError, values out of range, unreadable files
                # the server's copy of an upload has a long temporary path; people know the file by its name
                message = str(e).replace(str(audio_path), Path(audio_path).name)
                raise gr.Error(message, print_exception=False) from None
            report = dict(result.report, seconds=round(result.seconds, 2))
            for warning in result.warnings:
                gr.Warning(warning)
            return (str(result.source_path), str(result.edited_path), str(result.plot_path), report_markdown(report),
                    str(result.edited_path), report)

        button.click(edit, inputs=[audio], inputs_kwargs=inputs,
                     outputs=[before, after, plot, report_view, download, report_json], api_name="edit",
                     concurrency_limit=1)
    if output_dir is None:
        weakref.finalize(demo, shutil.rmtree, work_dir, ignore_errors=True)
    return demo


def _form_to_edit(schema, values: dict, max_seconds: float) -> tuple[ClipEdit, EditSettings]:
    targets = {}
    for key, value in values.items():
        if key.startswith(ATTRIBUTE_PREFIX) and value is not None and str(value).strip() not in ("", KEEP):
            targets[key[len(ATTRIBUTE_PREFIX):]] = str(value).strip()
    edit = ClipEdit(float(values.get("pitch", 0.0)), float(values.get("intonation_scale", 1.0)),
                    parse_attribute_values(schema, targets, argument="attribute"))
    start, end = _seconds(values.get("start"), "edit from"), _seconds(values.get("end"), "edit up to")
    seed = values.get("seed")
    settings = EditSettings(
        mode=values.get("mode", "cfg"),
        strength=float(values.get("strength", 1.0)),
        guidance_scale=float(values.get("guidance", DEFAULT_GUIDANCE_SCALE)),
        guidance_reference=values.get("guidance_reference", "source"),
        num_inference_steps=int(values.get("steps", DEFAULT_STEPS)),
        inversion_depth=float(values.get("depth", DEFAULT_INVERSION_DEPTH)),
        seed=0 if seed is None else int(seed),
        inversion=values.get("inversion", "ddim"),
        max_seconds=max_seconds,
        segment=None if start is None and end is None else (start, end),
    )
    if settings.mode == "direction" and not edit.attributes:
        raise ValueError("direction mode needs at least one attribute target")
    return edit, settings


def _seconds(text, name: str) -> float | None:
    if text is None or not str(text).strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"`{name}` must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number of seconds, got {text!r}")
    return value


def _request_dir(work_dir: Path) -> Path:
    # one folder per edit, so concurrent pages never share files; old ones are dropped as new ones come
    now = time.time()
    if work_dir.exists():
        for old in work_dir.iterdir():
            if old.is_dir() and now - old.stat().st_mtime > KEEP_RESULTS_SECONDS:
                shutil.rmtree(old, ignore_errors=True)
    path = work_dir / uuid.uuid4().hex
    path.mkdir(parents=True)
    return path


def launch_demo(model: str | None = None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, share: bool = False,
                allow_remote: bool = False, max_seconds: float = DEFAULT_MAX_SECONDS,
                prevent_thread_lock: bool = False):
    """
    Load a pipeline and serve its demo; blocks until the server stops unless `prevent_thread_lock`.

    Args:
        model (`str`, *optional*): pipeline folder or Hub id (default: the shipped model).
        host (`str`, *optional*, defaults to `"127.0.0.1"`): address to listen on; only loopback unless `allow_remote`.
        port (`int`, *optional*, defaults to 7860): port to listen on.
        share (`bool`, *optional*, defaults to `False`): also open a public Gradio link (needs `allow_remote`).
        allow_remote (`bool`, *optional*, defaults to `False`): allow a non-local `host` or `share`.
        max_seconds (`float`, *optional*): longest clip (or edited span) accepted.

    Returns:
        `gradio.Blocks`: the running demo (`.close()` stops it).
    """
    import torch

    from .hub import load_pipeline

    check_host(host, share, allow_remote)
    if not 0 < port < 65536:
        raise ValueError(f"--port must be in 1-65535, got {port}")
    pipe = load_pipeline(model).to("cuda" if torch.cuda.is_available() else "cpu")
    demo = build_demo(pipe, max_seconds=max_seconds)
    demo.queue(default_concurrency_limit=1)
    demo.launch(server_name=host, server_port=port, share=share, ssr_mode=False, max_file_size=MAX_UPLOAD,
                prevent_thread_lock=prevent_thread_lock, footer_links=[])
    return demo
