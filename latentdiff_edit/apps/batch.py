"""Batch editing of many files, on one process or several under `accelerate launch`.

    accelerate launch --num_processes 2 -m latentdiff_edit batch clips/ -o edited/ --pitch +2 --batch_size 8

The input is a folder of audio files (every file gets the edit given by the flags; outputs keep their paths relative
to the folder) or a CSV/JSONL manifest with a `path` column and optional per-item `pitch`, `intonation`, `output` and
attribute columns (target values that override the flags; columns the model does not know are ignored).

On a machine without GPUs, `accelerate launch --cpu` (and `--num_processes N` without `--multi_gpu`) starts a single
process; `accelerate launch --multi_gpu --num_processes N` (or `torchrun --nproc_per_node N`) starts N processes,
which then run on CPU.

Items are split across processes with `accelerate.PartialState().split_between_processes`. Each process edits its
clips `batch_size` at a time; a batch that fails is redone clip by clip, so one bad clip fails alone. Every item gets
one row in the process's `manifest.rank{N}.jsonl`, appended and flushed as soon as its output is written; the main
process merges them into `manifest.jsonl` at the end (the latest row per item wins). `--resume` skips items whose
output exists and whose row says ok, so an interrupted job continues where it stopped.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import PartialState
from accelerate.utils import parse_flag_from_env
from tqdm.auto import tqdm

from ..audio import atomic_output, output_format
from ..data.manifest import read_manifest
from ..loading import load_pipeline, model_label
from .credentials import SigningKey, resolve_signing_key
from .credentials import mime_type as credentials_mime_type
from .editing import (
    ClipEdit,
    EditSettings,
    check_clip_edit,
    check_settings,
    edit_jobs,
    measure_result,
    parse_attribute_values,
    prepare_job,
    provenance_record,
    resolve_fit_strength,
    write_output,
)

MANIFEST_NAME = "manifest.jsonl"
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".mp3")
ITEM_COLUMNS = ("path", "pitch", "intonation", "output")


@dataclass
class BatchItem:
    """
    One file of a batch job.

    Args:
        index (`int`): position in the job's plan (the order of the merged manifest).
        input (`Path`): the audio file.
        output (`Path`): where the edited file goes.
        key (`str`): the output's path relative to the output folder: the item's identity across runs.
        edit (`ClipEdit`): its edit.
        error (`str`, *optional*): why the item cannot run (found while planning), recorded as its row.
    """

    index: int
    input: Path
    output: Path
    key: str
    edit: ClipEdit
    error: str | None = None


def run_batch(
    input_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    model: str | None = None,
    settings: EditSettings | None = None,
    pitch_shift: float = 0.0,
    intonation_scale: float = 1.0,
    attributes: Sequence[str] = (),
    rate: float = 1.0,
    batch_size: int = 4,
    resume: bool = False,
    overwrite: bool = False,
    credentials: SigningKey | bool = True,
) -> dict:
    """
    Edit every file of a folder or manifest into `output_dir` (see the module's docstring), on this process or on
    its share of an `accelerate launch` job.

    Args:
        input_path (`str` or `os.PathLike`): a folder of audio files, or a `.csv` / `.jsonl` manifest.
        output_dir (`str` or `os.PathLike`): the output folder; it receives `manifest.jsonl`.
        model (`str`, *optional*): a pipeline folder or Hub id; the shipped model when None.
        settings (`EditSettings`, *optional*): steps, depth, mode, guidance, seed, segment.
        pitch_shift, intonation_scale (`float`, *optional*): the default edit (manifest columns override it).
        rate (`float`, *optional*, defaults to 1.0): speaking-rate factor of every file (1.25 = 25 % faster).
        attributes (`list[str]`, *optional*): default target attributes as `NAME=VALUE` strings.
        batch_size (`int`, *optional*, defaults to 4): clips edited together.
        resume (`bool`, *optional*, defaults to `False`): skip items already done in `output_dir`.
        overwrite (`bool`, *optional*, defaults to `False`): redo every item, replacing earlier outputs.
        credentials (`SigningKey` or `bool`, *optional*, defaults to `True`): the key that signs every output's C2PA
            manifest (True: `resolve_signing_key()`); False writes none.

    Returns:
        `dict`: counts of this run's items (`ok`, `error`, `skipped`), the same on every process.

    Raises:
        ValueError, FileNotFoundError, FileExistsError: the job cannot start (bad input, flags, model, or an earlier
            run in `output_dir` without `resume`/`overwrite`). A bad item never raises: it gets an error row.
    """
    settings = settings or EditSettings()
    check_settings(settings)
    if batch_size < 1:
        raise ValueError(f"--batch_size must be a positive integer, got {batch_size}")
    default_edit = ClipEdit(pitch_shift, intonation_scale, rate=rate)
    check_clip_edit(default_edit)
    if credentials is True:
        credentials = resolve_signing_key()
    input_path, output_dir = Path(input_path), Path(output_dir)
    if not input_path.exists():
        raise FileNotFoundError(f"batch input not found: {input_path}")
    if output_dir.resolve() == input_path.resolve():
        raise ValueError("the output folder must differ from the input folder: outputs never replace inputs")
    earlier_run = (output_dir / MANIFEST_NAME).exists() or any(output_dir.glob("manifest.rank*.jsonl"))
    if earlier_run and not (resume or overwrite):
        raise FileExistsError(f"{output_dir} holds an earlier batch run ({MANIFEST_NAME}); pass --resume to continue "
                              "it or --overwrite to redo it")

    # Accelerator reads `accelerate launch --cpu` from ACCELERATE_USE_CPU but PartialState does not; and without
    # cpu=True, processes launched on a machine with no GPU each believe they run alone and all edit every item.
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available())
    pipe = load_pipeline(model).to(state.device)
    pipe.set_progress_bar_config(disable=True)
    settings = resolve_fit_strength(pipe, settings)  # before any item: what the provenance records is what ran
    label = model_label(pipe.name_or_path)
    default_edit.attributes = parse_attribute_values(pipe.schema, attributes)
    items, ignored_columns = plan_items(input_path, output_dir, pipe.schema, default_edit)
    order = [item.key for item in items]
    if state.is_main_process:
        if ignored_columns:
            print(f"warning: ignoring manifest column(s) {ignored_columns}: not attributes this model can set",
                  file=sys.stderr)
        output_dir.mkdir(parents=True, exist_ok=True)
        if any(output_dir.glob("manifest.rank*.jsonl")):
            merge_manifests(output_dir, order)  # rows a killed run left behind count for --resume
    state.wait_for_everyone()

    finished = {row["key"] for row in read_rows(output_dir / MANIFEST_NAME) if row.get("status") == "ok"}
    todo = [item for item in items if overwrite or not (resume and item.key in finished and item.output.is_file())]
    with state.split_between_processes(todo) as own_items:
        rank_manifest = output_dir / f"manifest.rank{state.process_index}.jsonl"
        with open(rank_manifest, "a") as log, tqdm(total=len(own_items), desc="editing", unit="clip",
                                                   disable=not state.is_main_process) as progress:

            def record(row: dict) -> None:
                log.write(json.dumps(row | {"rank": state.process_index, "finished": time.time()}) + "\n")
                log.flush()
                progress.update()

            for start in range(0, len(own_items), batch_size):
                process_items(pipe, own_items[start : start + batch_size], settings, label,
                              allow_overwrite=overwrite or resume, record=record, credentials=credentials)
    state.wait_for_everyone()

    if state.is_main_process:
        merge_manifests(output_dir, order)
    state.wait_for_everyone()
    rows = read_rows(output_dir / MANIFEST_NAME)  # on every process, so that all return the same summary
    done_now = {item.key for item in todo}
    now = [row for row in rows if row["key"] in done_now]
    summary = {"ok": sum(r["status"] == "ok" for r in now), "error": sum(r["status"] != "ok" for r in now),
               "skipped": len(items) - len(todo)}
    if state.is_main_process:
        for row in now:
            if row["status"] != "ok":
                print(f"failed: {row['input']}: {row['error']}", file=sys.stderr)
        print(f"{summary['ok']} ok, {summary['error']} failed, {summary['skipped']} skipped (done before); "
              f"manifest: {output_dir / MANIFEST_NAME}")
    return summary


def plan_items(input_path: Path, output_dir: Path, schema, default_edit: ClipEdit) -> tuple[list[BatchItem], list]:
    """The job's items in a fixed order (every process computes the same plan), and the manifest columns ignored.
    Problems of a single item (a bad value, an output that would replace an input) become that item's error."""
    items, ignored = [], []
    if input_path.is_dir():
        output_root = output_dir.resolve()
        files = sorted(
            path for path in input_path.rglob("*")
            if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS
            and not any(part.startswith(".") for part in path.relative_to(input_path).parts)
            and not path.resolve().is_relative_to(output_root)  # an output folder inside the input one
        )
        for index, path in enumerate(files):
            relative = path.relative_to(input_path)
            items.append(BatchItem(index, path, output_dir / _output_name(relative), _key(relative), default_edit))
    elif input_path.suffix in (".csv", ".jsonl"):
        rows = read_manifest(input_path)
        columns = {column for row in rows for column in row}
        settable = {spec["name"] for spec in schema.specs if spec["type"] != "frame"}
        ignored = sorted(columns - set(ITEM_COLUMNS) - settable)
        for index, row in enumerate(rows):
            path = Path(row["path"])
            relative = Path(row["output"]) if row.get("output") else _relative_to(path, input_path.parent)
            item = BatchItem(index, path, output_dir / _output_name(relative), _key(relative), default_edit)
            try:
                item.edit = _row_edit(row, schema, default_edit)
            except ValueError as e:
                item.error = str(e)
            items.append(item)
    else:
        raise ValueError(f"batch INPUT must be a folder of audio files or a .csv/.jsonl manifest, got {input_path}")
    if not items:
        raise ValueError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) in {input_path}")

    inputs = {item.input.resolve() for item in items}
    output_root = output_dir.resolve()
    first_with_key = {}
    for item in items:
        output = item.output.resolve()
        if output in inputs:
            item.error = f"its output {item.output} would overwrite an input file"
        elif not output.is_relative_to(output_root):
            item.error = f"its output {item.output} is outside the output folder {output_dir}"
        elif item.key in first_with_key:
            item.error = f"its output {item.output} is also the output of {first_with_key[item.key].input}"
        first_with_key.setdefault(item.key, item)
    return items, ignored


def _row_edit(row: dict, schema, default_edit: ClipEdit) -> ClipEdit:
    values = {}
    for column, default in (("pitch", default_edit.pitch_shift), ("intonation", default_edit.intonation_scale)):
        value = row.get(column)
        try:
            values[column] = default if value is None else float(value)
        except (TypeError, ValueError):
            raise ValueError(f"`{column}` must be a number, got {value!r}") from None
    settable = {spec["name"] for spec in schema.specs if spec["type"] != "frame"}
    attributes = {k: v for k, v in row.items() if k in settable and v is not None}
    edit = ClipEdit(values["pitch"], values["intonation"],
                    default_edit.attributes | parse_attribute_values(schema, attributes, "manifest"),
                    rate=default_edit.rate)
    check_clip_edit(edit)
    return edit


def _output_name(relative: Path) -> Path:
    try:
        output_format(relative)
    except ValueError:  # an input format soundfile reads but cannot write: write WAV
        return relative.with_suffix(".wav")
    return relative


def _relative_to(path: Path, folder: Path) -> Path:
    try:
        return path.resolve().relative_to(folder.resolve())
    except ValueError:
        return Path(path.name)


def _key(relative: Path) -> str:
    return _output_name(relative).as_posix()


def process_items(
    pipe, items: Sequence[BatchItem], settings: EditSettings, label: str, allow_overwrite: bool,
    record: Callable[[dict], None], credentials: SigningKey | bool = True,
) -> None:
    """Edit one batch of items and `record` one row per item, each as soon as its output is written (signed with
    `credentials`, see `write_output`)."""
    jobs = []
    for item in items:
        started = time.perf_counter()
        try:
            if item.error:
                raise ValueError(item.error)
            if item.output.exists() and not allow_overwrite:
                raise FileExistsError(f"{item.output} exists; pass --overwrite to replace it")
            if credentials is not False:
                credentials_mime_type(item.output)  # before the edit, not after it
            jobs.append((item, prepare_job(item.input, pipe.sampling_rate, settings, item.edit)))
        except Exception as e:
            record(_row(item, time.perf_counter() - started, error=e))
    if not jobs:
        return

    started = time.perf_counter()
    try:
        results = edit_jobs(pipe, [job for _, job in jobs], settings)
        seconds = [(time.perf_counter() - started) / len(jobs)] * len(jobs)  # each clip's share of the batch
    except Exception as batch_error:
        if len(jobs) == 1:
            record(_row(jobs[0][0], time.perf_counter() - started, error=batch_error))
            return
        # one clip can fail a whole batch: redo the clips one by one so that only that clip fails
        results, seconds, retried = [], [], []
        for item, job in jobs:
            started = time.perf_counter()
            try:
                results.append(edit_jobs(pipe, [job], settings)[0])
                seconds.append(time.perf_counter() - started)
                retried.append((item, job))
            except Exception as e:
                record(_row(item, time.perf_counter() - started, error=e))
        jobs = retried

    for (item, job), result, edit_seconds in zip(jobs, results, seconds):
        started = time.perf_counter()
        try:
            figures = measure_result(job, result, pipe.sampling_rate)
            write_output(item.output, result.audio, pipe.sampling_rate,
                         provenance_record(label, job, settings, measured=figures, octave=result.octave),
                         overwrite=allow_overwrite,
                         credentials=credentials, parent=item.input)
            # the disentanglement report (requested vs measured change of every attribute) rides along
            record(_row(item, edit_seconds + time.perf_counter() - started, measured=figures)
                   | {"report": getattr(result, "report", None), "octave": result.octave})
        except Exception as e:
            record(_row(item, edit_seconds + time.perf_counter() - started, error=e))


def _row(item: BatchItem, seconds: float, measured: dict | None = None, error: Exception | None = None) -> dict:
    if error is not None and not isinstance(error, (ValueError, OSError)):
        message = f"{type(error).__name__}: {error}"  # not a user error: keep the exception's type for debugging
    else:
        message = None if error is None else str(error)
    edit = item.edit
    return {
        "key": item.key, "input": str(item.input), "output": str(item.output),
        "status": "ok" if error is None else "error", "seconds": round(seconds, 3),
        "pitch": edit.pitch_shift, "intonation": edit.intonation_scale, "attributes": edit.attributes,
        "measured": measured, "error": message,
    }


def read_rows(path: Path) -> list[dict]:
    """Rows of a JSONL manifest; a line a killed process left half-written is skipped."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "key" in row:
            rows.append(row)
    return rows


def merge_manifests(output_dir: Path, order: Sequence[str] = ()) -> list[dict]:
    """Fold `manifest.rank*.jsonl` into `manifest.jsonl` (atomically), keeping the latest row of each item, in
    `order` (items from other runs last), then delete the rank files."""
    rank_files = sorted(output_dir.glob("manifest.rank*.jsonl"))
    latest: dict[str, dict] = {}
    for path in [output_dir / MANIFEST_NAME, *rank_files]:
        for row in read_rows(path):
            previous = latest.get(row["key"])
            if previous is None or row.get("finished", -math.inf) >= previous.get("finished", -math.inf):
                latest[row["key"]] = row
    position = {key: i for i, key in enumerate(order)}
    rows = sorted(latest.values(), key=lambda row: (position.get(row["key"], len(position)), row["key"]))
    with atomic_output(output_dir / MANIFEST_NAME) as temporary:
        temporary.write_text("".join(json.dumps(row) + "\n" for row in rows))
    for path in rank_files:
        path.unlink()
    return rows
