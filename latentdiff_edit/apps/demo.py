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

from ..audio import DEFAULT_MAX_SECONDS, save_audio
from ..defaults import (
    DEFAULT_GUIDANCE_SCALE,
    DEFAULT_INVERSION,
    DEFAULT_INVERSION_DEPTH,
    DEFAULT_NUM_INFERENCE_STEPS,
    LOWERING_INVERSION_DEPTH,
)
from ..pipelines.pipeline_voice_edit import RATE_RANGE
from .editing import (
    EDIT_MODES,
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
    write_output,
)
from .hub import model_label

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_STEPS = DEFAULT_NUM_INFERENCE_STEPS  # the command line's
# Uploads past this size are refused by the server before they reach the model (a minute of 48 kHz stereo float WAV
# is 23 MB).
MAX_UPLOAD = "100mb"
# A result folder is kept this long (seconds) for the page to fetch; the server's own copies follow `delete_cache`.
KEEP_RESULTS_SECONDS = 3600
KEEP = "(keep the source's)"
ATTRIBUTE_PREFIX = "set_"


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
    # the upload is the parent ingredient of the output's Content Credentials, as for `latentdiff-edit edit`
    edited_path = write_output(output_dir / f"{stem}_edited.wav", result.audio, sampling_rate,
                               provenance_record(model, job, settings, measured=figures, octave=result.octave),
                               parent=path)
    source_path = save_audio(output_dir / f"{stem}_source.wav", job.source, sampling_rate)
    # the figure's title names the edit; the settings are in the report (the whole line would not fit)
    plot_path = plot_edit(output_dir / f"{stem}_edit.png", job.source, result.audio, sampling_rate,
                          title=describe_edit(edit, settings).split(" (")[0])
    report = {
        "model": model,
        "edit": describe_edit(edit, settings),
        "source": {"duration_s": round(len(job.source) / sampling_rate, 3),
                   "input_sampling_rate": job.input_sampling_rate, "input_channels": job.input_channels,
                   "edited_span_s": [round(job.start / sampling_rate, 3), round(job.end / sampling_rate, 3)]},
        **_disentanglement(job, result),
        "measured": figures,
        "warnings": list(job.warnings),
    }
    if result.octave is not None:
        report["octave"] = result.octave["summary"]
    return DemoResult(source_path, edited_path, plot_path, report, time.perf_counter() - started, job.warnings)


def _disentanglement(job, result) -> dict:
    # the report the command line and batch jobs print: every attribute, asked or not (`evaluation.report`)
    report = getattr(result, "report", None)
    if report is None:
        from ..evaluation.report import edit_report

        source = job.source if job.edit.rate != 1.0 else job.edited_span
        report = edit_report(source, result.edited_span, job.sampling_rate, pitch_shift=job.edit.pitch_shift,
                             intonation_scale=job.edit.intonation_scale, rate=job.edit.rate,
                             attributes=job.edit.attributes)
    return report


def _model_name(pipe) -> str:
    # a pipeline built in memory has no folder to name
    return model_label(pipe.name_or_path) if pipe.name_or_path else "(unsaved pipeline)"


def report_markdown(report: dict) -> str:
    """The report as Markdown for the page: what was asked beside what was measured, then what should not change."""
    source = report["source"]
    lines = [f"**Edit:** {report['edit']}", "",
             f"**Source:** {source['duration_s']:.2f} s, {source['input_sampling_rate']} Hz, "
             f"{source['input_channels']} channel(s); edited span {source['edited_span_s'][0]:.2f}–"
             f"{source['edited_span_s'][1]:.2f} s", ""]
    attributes = report.get("attributes", {})
    asked = [(name, entry) for name, entry in attributes.items() if entry["asked"]]
    kept = [(name, entry) for name, entry in attributes.items() if not entry["asked"]]
    if asked or report.get("targets"):
        lines += ["| asked | requested | measured | source → edited |", "|---|---|---|---|"]
        lines += [f"| {_label(name)} | {_change(entry['requested'], entry['unit'])} | "
                  f"{_change(entry['measured'], entry['unit'])} | {_absolute(entry)} |" for name, entry in asked]
        lines += [f"| {name} (target) | {entry['requested']} | {_number(entry['measured'])} | |"
                  for name, entry in report.get("targets", {}).items()]
    else:
        lines.append("Nothing was asked to change: the output is the model's rendering of the source.")
    lines += ["", "| should not change | measured change | source → edited |", "|---|---|---|"]
    lines += [f"| {_label(name)} | {_change(entry['measured'], entry['unit'])} | {_absolute(entry)} |"
              for name, entry in kept]
    if report.get("octave"):
        lines += ["", report["octave"][0].upper() + report["octave"][1:]]
    for warning in report["warnings"]:
        lines += ["", f"⚠ {warning}"]
    return "\n".join(lines)


def _label(name: str) -> str:
    return {"f0_spread": "F0 spread (intonation)", "speaker_similarity": "speaker similarity (1 = same voice)"}.get(
        name, name.replace("_", " "))


def _change(value, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit in ("st", "dB"):
        return f"{value:+.2f} {unit}"
    if unit == "ratio":
        return f"×{value:.2f}"
    return f"{value:.2f}"  # cosine similarity: 1 = the same voice


def _absolute(entry: dict) -> str:
    if "source" not in entry:
        return ""
    return f"{_number(entry['source'])} → {_number(entry['edited'])} {entry['absolute_unit']}"


def _number(value) -> str:
    return "n/a" if value is None else value if isinstance(value, str) else f"{value:.2f}"


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
                                 buttons=["download"], elem_id="source-audio")
                if "f0" in schema:
                    inputs["pitch"] = gr.Slider(-12, 12, value=0, step=0.5, label="Pitch shift (semitones)",
                                                elem_id="pitch")
                    inputs["intonation_scale"] = gr.Slider(
                        0, 3, value=1, step=0.05, label="Intonation scale (F0 excursions: >1 livelier, 0 monotone)",
                        elem_id="intonation-scale")
                inputs["rate"] = gr.Slider(RATE_RANGE[0], RATE_RANGE[1], value=1, step=0.05,
                                           label="Speaking rate (1.25 = 25 % faster; the whole clip)", elem_id="rate")
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
                    inputs["depth_auto"] = gr.Checkbox(
                        value=True, label=f"Automatic inversion depth ({LOWERING_INVERSION_DEPTH:g} to lower the "
                                          f"pitch, {DEFAULT_INVERSION_DEPTH:g} otherwise)", elem_id="depth-auto")
                    inputs["depth"] = gr.Slider(0.05, 1, value=DEFAULT_INVERSION_DEPTH, step=0.05, elem_id="depth",
                                                label="Inversion depth (fraction of the schedule; when not automatic)")
                    inputs["inversion"] = gr.Radio(list(INVERSION_CHOICES), value=DEFAULT_INVERSION,
                                                   label="Inversion method")
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
                    parse_attribute_values(schema, targets, argument="attribute"), rate=float(values.get("rate", 1.0)))
    start, end = _seconds(values.get("start"), "edit from"), _seconds(values.get("end"), "edit up to")
    seed = values.get("seed")
    settings = EditSettings(
        mode=values.get("mode", "cfg"),
        strength=float(values.get("strength", 1.0)),
        guidance_scale=float(values.get("guidance", DEFAULT_GUIDANCE_SCALE)),
        guidance_reference=values.get("guidance_reference", "source"),
        num_inference_steps=int(values.get("steps", DEFAULT_STEPS)),
        inversion_depth=None if values.get("depth_auto", True) else float(values.get("depth", DEFAULT_INVERSION_DEPTH)),
        seed=0 if seed is None else int(seed),
        inversion=values.get("inversion", DEFAULT_INVERSION),
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
