"""Batch jobs: two processes under `accelerate launch`, resuming, manifests with per-item edits, and a failing batch
that falls back to single clips."""

from __future__ import annotations

import collections
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from latentdiff_edit import VoiceEditPipeline
from latentdiff_edit.apps.batch import MANIFEST_NAME
from latentdiff_edit.apps.cli import main
from latentdiff_edit.apps.editing import read_provenance
from latentdiff_edit.testing import harmonic_tone

SR = 8000


def make_folder(folder, num_good=4, bad=True):
    """`num_good` tiny clips (one in a sub-folder, as FLAC) and, if `bad`, a text file named .wav."""
    (folder / "sub").mkdir(parents=True)
    names = [f"clip{i}.wav" for i in range(num_good - 1)] + ["sub/nested.flac"]
    for i, name in enumerate(names):
        sf.write(folder / name, harmonic_tone(120.0 + 15 * i, 0.3, SR, seed=i), SR)
    if bad:
        (folder / "broken.wav").write_text("not audio")
    return names


def read_manifest(output_dir):
    return [json.loads(line) for line in (output_dir / MANIFEST_NAME).read_text().splitlines()]


def batch(argv, capsys=None):
    status = main(["batch", *[str(a) for a in argv]])
    if capsys is not None:
        capsys.readouterr()
    return status


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_accelerate_launch_two_processes(tiny_pipeline_dir, tmp_path):
    from accelerate.utils import write_basic_config

    clips, output_dir = tmp_path / "clips", tmp_path / "edited"
    names = make_folder(clips)
    config = write_basic_config(save_location=tmp_path / "accelerate.json")
    # `--cpu` makes accelerate start a single process; `--multi_gpu` starts torch.distributed.run, and with no GPU
    # visible the batch job's PartialState runs the processes on CPU over gloo.
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", config, "--multi_gpu",
        "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()),
        "-m", "latentdiff_edit", "batch", clips, "-o", output_dir, "--model", tiny_pipeline_dir, "--steps", "2",
        "--pitch", "+2", "--batch_size", "2",
    ]
    environment = os.environ | {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=300,
                            env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 ok, 1 failed" in result.stdout

    rows = read_manifest(output_dir)
    assert sorted(row["key"] for row in rows) == sorted(names + ["broken.wav"])
    assert {row["rank"] for row in rows} == {0, 1}  # both processes edited clips
    by_key = {row["key"]: row for row in rows}
    assert by_key["broken.wav"]["status"] == "error" and "cannot read" in by_key["broken.wav"]["error"]
    for name in names:
        assert by_key[name]["status"] == "ok" and by_key[name]["measured"]["source_f0_hz"] > 0
        assert sf.info(output_dir / name).frames == round(0.3 * SR)
        assert read_provenance(output_dir / name)["pitch"] == 2.0
    assert not (output_dir / "broken.wav").exists()
    assert sorted(p.name for p in output_dir.glob("manifest*")) == [MANIFEST_NAME]  # rank files merged


def test_resume_finishes_the_rest_without_redoing_or_duplicating(tiny_pipeline_dir, tmp_path, capsys):
    clips, output_dir = tmp_path / "clips", tmp_path / "edited"
    names = make_folder(clips)
    common = ["-o", output_dir, "--model", tiny_pipeline_dir, "--steps", 2, "--batch_size", 3]

    # a first run that only got through two items ...
    (clips / "first.csv").write_text("path\n" + "\n".join(names[:2]) + "\n")
    assert batch([clips / "first.csv", *common], capsys) == 0
    stamps = {name: (output_dir / name).stat().st_mtime_ns for name in names[:2]}
    # ... and was killed before its main process merged the rows: they wait in a rank file
    (output_dir / MANIFEST_NAME).rename(output_dir / "manifest.rank0.jsonl")

    assert batch([clips, *common]) == 2
    assert "holds an earlier batch run (manifest.jsonl); pass --resume" in capsys.readouterr().err
    assert batch([clips, *common, "--resume"], capsys) == 0
    rows = read_manifest(output_dir)
    counts = collections.Counter(row["key"] for row in rows)
    assert counts == collections.Counter(names + ["broken.wav"])  # every item exactly once
    assert all((output_dir / name).is_file() for name in names)
    assert {name: (output_dir / name).stat().st_mtime_ns for name in names[:2]} == stamps  # not redone

    # an output deleted after the run is redone on the next resume; the rest is skipped
    (output_dir / names[3]).unlink()
    assert batch([clips, *common, "--resume"]) == 0
    assert "1 ok, 1 failed, 3 skipped" in capsys.readouterr().out  # the broken file is retried, and fails again
    assert (output_dir / names[3]).is_file()
    assert collections.Counter(row["key"] for row in read_manifest(output_dir)) == counts


def test_manifest_rows_carry_their_own_edits(tiny_pipeline_dir, tmp_path, capsys):
    clips, output_dir = tmp_path / "clips", tmp_path / "edited"
    names = make_folder(clips, num_good=3, bad=False)
    manifest = tmp_path / "jobs.csv"
    manifest.write_text(
        "path,pitch,style,rate,output,text\n"
        f"clips/{names[0]},3,high-wide-fast,,up.wav,hello\n"
        f"clips/{names[1]},,,99,,world\n"  # rate out of range: this row fails alone
        f"{clips / names[2]},-2,,5,deep/down.flac,again\n"
    )
    assert batch([manifest, "-o", output_dir, "--model", tiny_pipeline_dir, "--steps", 2, "--pitch", 1]) == 0
    captured = capsys.readouterr()
    assert "ignoring manifest column(s) ['text']" in captured.err
    by_key = {row["key"]: row for row in read_manifest(output_dir)}
    assert set(by_key) == {"up.wav", f"clips/{names[1]}", "deep/down.flac"}
    assert by_key[f"clips/{names[1]}"]["status"] == "error"
    assert "`rate`=99.0 is outside the range" in by_key[f"clips/{names[1]}"]["error"]
    up, down = read_provenance(output_dir / "up.wav"), read_provenance(output_dir / "deep" / "down.flac")
    assert up["pitch"] == 3.0 and up["attributes"] == {"style": "high-wide-fast"}
    assert down["pitch"] == -2.0 and down["attributes"] == {"rate": 5.0}


def test_a_failing_batch_falls_back_to_single_clips(tiny_pipeline_dir, tmp_path, capsys, monkeypatch):
    clips, output_dir = tmp_path / "clips", tmp_path / "edited"
    names = make_folder(clips, bad=False)
    poisoned_length = round(0.35 * SR)
    sf.write(clips / "poisoned.wav", harmonic_tone(150.0, 0.35, SR), SR)
    real_invert = VoiceEditPipeline.invert

    def invert_failing_on_poisoned_clips(self, audio, *args, **kwargs):
        # a fault only the pipeline sees: the clip passes every input check
        clips_in_call = audio if isinstance(audio, list) else [audio]
        if any(len(clip) == poisoned_length for clip in clips_in_call):
            raise RuntimeError("poisoned clip")
        return real_invert(self, audio, *args, **kwargs)

    monkeypatch.setattr(VoiceEditPipeline, "invert", invert_failing_on_poisoned_clips)
    assert batch([clips, "-o", output_dir, "--model", tiny_pipeline_dir, "--steps", 2, "--batch_size", 8]) == 0
    assert "4 ok, 1 failed" in capsys.readouterr().out
    by_key = {row["key"]: row for row in read_manifest(output_dir)}
    assert by_key["poisoned.wav"]["error"] == "RuntimeError: poisoned clip"
    for name in names:
        audio, _ = sf.read(output_dir / name)
        assert by_key[name]["status"] == "ok" and np.isfinite(audio).all()


@pytest.mark.parametrize("flags, message", [(["--batch_size", 0], "--batch_size must be a positive integer"),
                                            (["--set", "nope=1"], "unknown attribute(s) ['nope']")])
def test_bad_job_flags_are_refused(flags, message, tiny_pipeline_dir, tmp_path, capsys):
    clips = tmp_path / "clips"
    make_folder(clips, num_good=1, bad=False)
    assert batch([clips, "-o", tmp_path / "edited", "--model", tiny_pipeline_dir, *flags]) == 2
    assert message in capsys.readouterr().err


def test_direction_mode_and_the_output_folder_check(tiny_pipeline_dir, tmp_path, capsys):
    clips, output_dir = tmp_path / "clips", tmp_path / "edited"
    names = make_folder(clips, num_good=2, bad=False)
    common = ["--model", tiny_pipeline_dir, "--steps", 2, "--mode", "direction", "--set", "rate=5", "--strength", 1.5]
    assert batch([clips, "-o", clips, *common]) == 2
    assert "must differ from the input folder" in capsys.readouterr().err
    assert batch([clips, "-o", output_dir, *common]) == 0
    assert "2 ok, 0 failed" in capsys.readouterr().out
    for name in names:
        record = read_provenance(output_dir / name)
        assert record["mode"] == "direction" and record["strength"] == 1.5 and record["attributes"] == {"rate": 5.0}
