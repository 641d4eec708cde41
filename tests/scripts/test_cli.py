"""The `latentdiff-edit` command line on a tiny pipeline: edits, segments, provenance, plots, refusals."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from latentdiff_edit import VoiceEditPipeline
from latentdiff_edit.apps.cli import build_parser, main, pitch_miss_warning
from latentdiff_edit.apps.editing import read_provenance
from latentdiff_edit.testing import harmonic_tone

SR = 8000


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "speech.wav"
    sf.write(path, harmonic_tone(150.0, 0.6, SR), SR, subtype="FLOAT")
    return path


def run(argv, capsys):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("value, expected", [("+3", 3.0), ("-3", -3.0), ("-2.5", -2.5), ("0", 0.0)])
def test_pitch_takes_signed_semitones(value, expected):
    args = build_parser().parse_args(["edit", "in.wav", "-o", "out.wav", "--pitch", value])
    assert args.pitch == expected
    args = build_parser().parse_args(["batch", "clips", "-o", "out", "--pitch", value, "--intonation", "-0.5"])
    assert args.pitch == expected and args.intonation == -0.5


def test_edit_writes_output_provenance_and_plot(tiny_pipeline_dir, clip, tmp_path, capsys):
    output, plot = tmp_path / "out" / "up3.wav", tmp_path / "up3.png"
    status, out, err = run(["edit", clip, "-o", output, "--model", tiny_pipeline_dir, "--steps", 2, "--pitch", "+3",
                            "--set", "style=high-wide-fast", "--seed", 7, "--plot", plot], capsys)
    assert status == 0, err
    assert "median F0 1" in out and "F0 spread" in out and "rate" in out
    assert "requested +3.00 st" in out

    audio, rate = sf.read(output)
    assert rate == SR and audio.shape == (round(0.6 * SR),) and np.isfinite(audio).all()
    record = read_provenance(output)
    assert record["pitch"] == 3.0 and record["attributes"] == {"style": "high-wide-fast"}
    assert record["steps"] == 2 and record["seed"] == 7 and record["model"] == str(tiny_pipeline_dir.resolve())
    assert record["tool"] == "latentdiff-edit" and record["source"] == "speech.wav"
    assert sf.SoundFile(output).software.startswith("latentdiff-edit")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in output.parent.iterdir()) == ["up3.wav"]  # no temporary file left behind

    status, out, _ = run(["info", output], capsys)
    assert status == 0 and '"pitch": 3.0' in out and '"style": "high-wide-fast"' in out


def test_segment_edit_keeps_the_rest(tiny_pipeline_dir, clip, tmp_path, capsys):
    output = tmp_path / "part.flac"
    status, _, err = run(["edit", clip, "-o", output, "--model", tiny_pipeline_dir, "--steps", 2, "--pitch", 4,
                          "--start", 0.2, "--end", 0.4], capsys)
    assert status == 0, err
    source, _ = sf.read(clip)
    edited, _ = sf.read(output)
    assert edited.shape == source.shape
    # the span is edited inside the latent trajectory: outside it the output is the codec's rendering of the source
    # (exactly, until the decoder's receptive field reaches the span; its LSTM carries the edit forward a little)
    pipe = VoiceEditPipeline.from_pretrained(tiny_pipeline_dir)
    latents, _, num_samples = pipe.encode_audio([torch.from_numpy(source.astype(np.float32))])
    round_trip = pipe.decode_latents(latents, num_samples)[0].numpy()
    start, end = round(0.2 * SR), round(0.4 * SR)
    margin = 8 * pipe.hop_length
    tolerance = 2 / 2**15  # FLAC is 16-bit
    np.testing.assert_allclose(edited[: start - margin], round_trip[: start - margin], atol=tolerance)
    assert np.abs(edited[end + margin :] - round_trip[end + margin :]).mean() < 0.05 * np.abs(round_trip).mean()
    assert np.abs(edited[start + 200 : end - 200] - round_trip[start + 200 : end - 200]).max() > 0.01
    assert read_provenance(output)["segment"] == [0.2, 0.4]

    status, _, err = run(["edit", clip, "-o", tmp_path / "x.wav", "--model", tiny_pipeline_dir, "--start", 0.5,
                          "--end", 2.0], capsys)
    assert status == 2 and "segment 0.5-2 s is not inside" in err


def test_region_speech_keeps_the_pause(tiny_pipeline_dir, tmp_path, capsys):
    path = tmp_path / "two_words.wav"
    pause = np.zeros(int(0.5 * SR), dtype=np.float32)
    sf.write(path, np.concatenate([harmonic_tone(150.0, 0.4, SR), pause, harmonic_tone(180.0, 0.4, SR, seed=1)]), SR,
             subtype="FLOAT")
    output = tmp_path / "region.wav"
    status, out, err = run(["edit", path, "-o", output, "--model", tiny_pipeline_dir, "--steps", 2, "--pitch", 4,
                            "--region", "speech"], capsys)
    assert status == 0, err
    assert "pauses kept" in out and read_provenance(output)["region"] == "speech"
    source, _ = sf.read(path)
    edited, _ = sf.read(output)
    pipe = VoiceEditPipeline.from_pretrained(tiny_pipeline_dir)
    latents, _, num_samples = pipe.encode_audio([torch.from_numpy(source.astype(np.float32))])
    round_trip = pipe.decode_latents(latents, num_samples)[0].numpy()
    middle = slice(round(0.6 * SR), round(0.7 * SR))  # the pause, past the region's margin and the decoder's reach
    assert np.abs(edited[middle] - round_trip[middle]).max() < 1e-3  # with --region all: 6e-3
    words = slice(round(0.1 * SR), round(0.3 * SR))
    assert np.abs(edited[words] - round_trip[words]).max() > 0.01

    status, _, err = run(["edit", path, "-o", tmp_path / "x.wav", "--model", tiny_pipeline_dir, "--rate", 1.25,
                          "--region", "speech"], capsys)
    assert status == 2 and "cannot be combined with --region speech" in err


def test_auto_inversion_lowers_the_pitch_from_ddpm_noise(tiny_pipeline_dir, clip, tmp_path, capsys):
    from latentdiff_edit.pipelines.pipeline_voice_edit import RATE_INVERSION_DEPTH

    from latentdiff_edit.apps.editing import ClipEdit, EditSettings, edit_jobs, job_settings, prepare_job
    from latentdiff_edit.defaults import DEFAULT_INVERSION_DEPTH, LOWERING_INVERSION_DEPTH
    from latentdiff_edit.inversion import auto_inversion_method

    assert [auto_inversion_method(-3.0), auto_inversion_method(3.0), auto_inversion_method(0.0)] == \
        ["ddpm", "ddim", "ddim"]
    assert auto_inversion_method(-3.0, rate=1.25) == "ddim"
    settings = EditSettings(num_inference_steps=2)
    assert settings.inversion == "auto" and settings.region is None and settings.inversion_depth is None
    down, up = job_settings(settings, ClipEdit(pitch_shift=-2.0)), job_settings(settings, ClipEdit(pitch_shift=2.0))
    assert (down.inversion, down.region, up.inversion, up.region) == ("ddpm", "voiced", "ddim", "voiced")
    assert (down.inversion_depth, up.inversion_depth) == (LOWERING_INVERSION_DEPTH, DEFAULT_INVERSION_DEPTH) == (0.7, 0.8)
    assert job_settings(EditSettings(inversion_depth=0.5), ClipEdit(pitch_shift=-2.0)).inversion_depth == 0.5
    styled = job_settings(settings, ClipEdit(pitch_shift=2.0, attributes={"style": "high-wide-fast"}))
    assert (styled.inversion, styled.region) == ("ddim", "speech")  # moves more than F0: every speech frame
    assert job_settings(EditSettings(region="all"), ClipEdit(pitch_shift=-2.0)).region == "all"
    faster = job_settings(settings, ClipEdit(pitch_shift=-2.0, rate=1.25))
    assert (faster.inversion, faster.region, faster.guidance_reference) == ("ddim", "all", "null")
    assert faster.inversion_depth == RATE_INVERSION_DEPTH

    # one batch with a lowering, a raising and a styled edit: each runs with its own inversion, depth and region, as
    # alone
    pipe = VoiceEditPipeline.from_pretrained(tiny_pipeline_dir)
    pipe.set_progress_bar_config(disable=True)
    edits = [ClipEdit(pitch_shift=-2.0), ClipEdit(pitch_shift=2.0),
             ClipEdit(pitch_shift=2.0, attributes={"style": "high-wide-fast"})]
    mixed = tmp_path / "voiced_and_voiceless.wav"  # a tone, then a loud voiceless burst: the regions differ
    burst = 0.3 * np.random.default_rng(0).standard_normal(int(0.3 * SR)).astype(np.float32)
    sf.write(mixed, np.concatenate([harmonic_tone(150.0, 0.4, SR), burst]), SR, subtype="FLOAT")
    jobs = [prepare_job(mixed, SR, settings, edit) for edit in edits]
    both = edit_jobs(pipe, jobs, settings, report=False)
    alone = [edit_jobs(pipe, [job], EditSettings(num_inference_steps=2, inversion=method, inversion_depth=depth,
                                                  region=region), report=False)[0]
             for job, method, depth, region in zip(jobs, ("ddpm", "ddim", "ddim"), (0.7, 0.8, 0.8),
                                                   ("voiced", "voiced", "speech"))]
    for a, b in zip(both, alone):
        np.testing.assert_allclose(a.audio, b.audio, atol=1e-6)
    assert np.abs(both[0].audio - both[1].audio).max() > 1e-3

    output = tmp_path / "down.wav"
    status, out, err = run(["edit", clip, "-o", output, "--model", tiny_pipeline_dir, "--steps", 2, "--pitch", -2],
                           capsys)
    assert status == 0, err
    assert "DDPM inversion" in out and "depth 0.7" in out and "voiced frames only" in out
    record = read_provenance(output)
    assert (record["inversion"], record["depth"], record["region"]) == ("ddpm", 0.7, "voiced")
    status, out, err = run(["edit", clip, "-o", tmp_path / "deeper.wav", "--model", tiny_pipeline_dir, "--steps", 2,
                            "--pitch", -2, "--depth", 0.9], capsys)
    assert status == 0, err
    assert "depth 0.9" in out and read_provenance(tmp_path / "deeper.wav")["depth"] == 0.9


def test_octave_repair_on_request_runs_and_is_recorded(tiny_pipeline_dir, clip, tmp_path, capsys):
    from latentdiff_edit.apps.editing import ClipEdit, EditSettings, edit_jobs, prepare_job, provenance_record

    pipe = VoiceEditPipeline.from_pretrained(tiny_pipeline_dir)
    pipe.set_progress_bar_config(disable=True)
    settings = EditSettings(num_inference_steps=2, octave_repair=2)
    job = prepare_job(clip, SR, settings, ClipEdit(pitch_shift=-2.0))
    plain = edit_jobs(pipe, [job], EditSettings(num_inference_steps=2), report=False)[0]  # off by default
    repaired = edit_jobs(pipe, [job], settings, report=False)[0]
    assert plain.octave is None
    octave = repaired.octave
    assert octave["segments"] >= 1 and octave["tries"] <= 2 and octave["summary"].startswith("octave ")
    if octave["error_frames_before"] >= 8 or octave["jumps_before"]:  # a segment scored >= 1: other inversions tried
        assert octave["tries"] >= 1 and octave["candidates"][0] == "ddpm seed 1"  # -2 st edits start from ddpm seed 0
    if octave["kept"]:  # the random model draws most frames anywhere: the redrawn audio must be measurably better
        assert octave["error_frames_after"] < octave["error_frames_before"]
        assert np.abs(repaired.audio - plain.audio).max() > 1e-4
        assert provenance_record("m", job, settings, octave=octave)["octave_repair"]["from"] == octave["candidates"]
    else:
        np.testing.assert_array_equal(repaired.audio, plain.audio)
        assert "octave_repair" not in provenance_record("m", job, settings, octave=octave)

    status, out, err = run(["edit", clip, "-o", tmp_path / "o.wav", "--model", tiny_pipeline_dir, "--steps", 2,
                            "--pitch", -2, "--octave-repair", 2], capsys)
    assert status == 0, err
    assert "octave:   " in out
    status, out, err = run(["edit", clip, "-o", tmp_path / "n.wav", "--model", tiny_pipeline_dir, "--steps", 2,
                            "--pitch", -2], capsys)
    assert status == 0 and "octave:" not in out
    status, out, err = run(["edit", clip, "-o", tmp_path / "x.wav", "--model", tiny_pipeline_dir,
                            "--octave-repair", -1], capsys)
    assert status != 0 and "octave-repair" in err


def test_harmonic_guidance_changes_the_edit_and_is_recorded(tiny_pipeline_dir, clip, tmp_path, capsys):
    outputs = {}
    for scale in (0, 2):
        output = tmp_path / f"h{scale}.wav"
        status, out, err = run(["edit", clip, "-o", output, "--model", tiny_pipeline_dir, "--steps", 3, "--pitch", 3,
                                "--harmonic-guidance", scale], capsys)
        assert status == 0, err
        assert ("harmonic guidance 2" in out) == (scale == 2)
        assert read_provenance(output).get("harmonic_guidance") == (2.0 if scale else None)
        outputs[scale] = sf.read(output)[0]
    # the tiny model has no vocoder: the guidance reads the STFT of the codec decoder's audio, and moves it
    assert np.abs(outputs[2] - outputs[0]).max() > 1e-4
    status, out, err = run(["edit", clip, "-o", tmp_path / "x.wav", "--model", tiny_pipeline_dir,
                            "--harmonic-guidance", -1], capsys)
    assert status != 0 and "harmonic-guidance" in err


def test_octave_jumps_an_edit_added_are_measured_and_reported(tmp_path, capsys):
    from pathlib import Path

    from latentdiff_edit.apps.cli import _print_achieved
    from latentdiff_edit.apps.editing import ClipEdit, EditJob, EditResult, measure_result

    sr = 16000
    steady = harmonic_tone(200.0, 1.0, sr)
    dropped = np.concatenate([harmonic_tone(200.0, 0.5, sr), harmonic_tone(100.0, 0.5, sr, seed=1)])  # half F0
    job = EditJob(Path("a.wav"), steady, sr, 0, len(steady), ClipEdit(pitch_shift=-3.0), sr, 1)
    jumped = measure_result(job, EditResult(dropped, dropped, {"pitch": 200.0}), sr)
    kept = measure_result(job, EditResult(steady, steady, {"pitch": 200.0}), sr)
    assert jumped["extra_octave_jumps"] >= 1 and kept["extra_octave_jumps"] == 0
    _print_achieved(job.edit, jumped)
    assert "octave jump(s) the source lacks" in capsys.readouterr().out
    _print_achieved(job.edit, kept)
    assert "octave jump" not in capsys.readouterr().out


def test_direction_mode(tiny_pipeline_dir, clip, tmp_path, capsys):
    output = tmp_path / "direction.wav"
    status, _, err = run(["edit", clip, "-o", output, "--model", tiny_pipeline_dir, "--steps", 2, "--mode",
                          "direction", "--set", "rate=6", "--strength", 2], capsys)
    assert status == 0, err
    record = read_provenance(output)
    assert record["mode"] == "direction" and record["strength"] == 2.0 and record["attributes"] == {"rate": 6.0}

    status, _, err = run(["edit", clip, "-o", tmp_path / "a.wav", "--model", tiny_pipeline_dir, "--mode",
                          "direction"], capsys)
    assert status == 2 and "needs at least one --set" in err
    status, _, err = run(["edit", clip, "-o", tmp_path / "b.wav", "--model", tiny_pipeline_dir, "--strength", 2],
                         capsys)
    assert status == 2 and "--strength applies to --mode direction" in err


def test_refuses_to_overwrite_input_or_existing_output(tiny_pipeline_dir, clip, tmp_path, capsys):
    original = clip.read_bytes()
    (tmp_path / "sub").mkdir()
    hard_link = tmp_path / "link.wav"
    hard_link.hardlink_to(clip)
    for same_file in (tmp_path / "sub" / ".." / clip.name, hard_link):
        status, _, err = run(["edit", clip, "-o", same_file, "--model", tiny_pipeline_dir, "--overwrite"], capsys)
        assert status == 2 and "refusing to overwrite the input file" in err

    existing = tmp_path / "existing.wav"
    existing.write_bytes(b"keep me")
    status, _, err = run(["edit", clip, "-o", existing, "--model", tiny_pipeline_dir, "--steps", 2], capsys)
    assert status == 2 and "exists; pass --overwrite" in err and existing.read_bytes() == b"keep me"
    status, _, err = run(["edit", clip, "-o", existing, "--model", tiny_pipeline_dir, "--steps", 2, "--overwrite"],
                         capsys)
    assert status == 0, err
    assert sf.info(existing).frames == round(0.6 * SR) and clip.read_bytes() == original


@pytest.mark.parametrize("command", ["reconstruct", "invert"])
def test_reconstruct_prints_latent_snr(tiny_pipeline_dir, clip, tmp_path, capsys, command):
    output = tmp_path / "regenerated.wav"
    status, out, err = run([command, clip, "--model", tiny_pipeline_dir, "--steps", 2, "-o", output], capsys)
    assert status == 0, err
    assert "latent SNR" in out and " dB" in out
    assert sf.info(output).frames == round(0.6 * SR)
    assert read_provenance(output)["operation"] == "reconstruct"


def test_ddpm_inversion_from_the_command_line(tiny_pipeline_dir, clip, tmp_path, capsys):
    status, out, err = run(["reconstruct", clip, "--model", tiny_pipeline_dir, "--steps", 4, "--inversion", "ddpm"],
                           capsys)
    assert status == 0, err
    snr = float(out.split("latent SNR ")[1].split(" dB")[0])
    assert snr > 60  # exact, even with random weights
    output = tmp_path / "up2.wav"
    status, out, err = run(["edit", clip, "-o", output, "--model", tiny_pipeline_dir, "--steps", 2, "--pitch", 2,
                            "--inversion", "ddpm", "--seed", 3], capsys)
    assert status == 0, err
    assert read_provenance(output)["inversion"] == "ddpm" and "DDPM inversion" in out
    with pytest.raises(SystemExit):
        run(["edit", clip, "-o", tmp_path / "x.wav", "--model", tiny_pipeline_dir, "--inversion", "null"], capsys)
    assert "invalid choice: 'null'" in capsys.readouterr().err


def test_info_describes_a_model(tiny_pipeline_dir, capsys):
    status, out, err = run(["info", tiny_pipeline_dir], capsys)
    assert status == 0, err
    assert "8000 Hz" in out and "training:      not recorded" in out
    for line in ("rate          continuous   range [0.0, 12.0]", "style         categorical  neutral, low-flat-slow",
                 "f0            frame        2 feature(s) per latent frame, measured on the source (edit with --pitch"):
        assert line in out


def test_info_lists_the_directions_saved_with_a_model(tiny_pipeline_dir, tmp_path, capsys):
    import shutil

    import torch

    from latentdiff_edit.directions import Direction, save_directions

    assert "none saved" in run(["info", tiny_pipeline_dir], capsys)[1]
    model = tmp_path / "model"
    shutil.copytree(tiny_pipeline_dir, model)
    save_directions([Direction("livelier", "contour", torch.tensor([0.5, 0.0, 0.0]), attribute="f0_spread", unit=0.5,
                               calibration={"raw": [0.0, 1.0], "measured": [0.0, 0.4]}, description="F0 spread up"),
                     Direction("pc1", "noise", torch.zeros(4, 1))], model)
    status, out, err = run(["info", model], capsys)
    assert status == 0, err
    assert "livelier      contour      calibrated on f0_spread, strength 1 = a change of +0.5; F0 spread up" in out
    assert "pc1           noise        uncalibrated" in out


def test_info_on_a_foreign_file_and_benchmark_message(tmp_path, capsys):
    plain = tmp_path / "plain.wav"
    sf.write(plain, harmonic_tone(), SR)
    status, out, _ = run(["info", plain], capsys)
    assert status == 0 and "provenance: none" in out
    if importlib.util.find_spec("latentdiff_edit.evaluation.benchmark") is None:
        status, _, err = run(["benchmark", "--help"], capsys)
        assert status == 2 and "benchmark is not part of this installation" in err
    else:  # everything after `benchmark` is forwarded untouched, --help included
        with pytest.raises(SystemExit) as exit_info:
            main(["benchmark", "--help"])
        assert exit_info.value.code == 0 and "usage: " in capsys.readouterr().out


def test_module_entry_point_reports_user_errors_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "latentdiff_edit", "edit", tmp_path / "missing.wav", "-o", tmp_path / "out.wav",
         "--model", tmp_path / "no-model"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert "audio file not found" in result.stderr


def test_no_timbre_edits_with_the_null_timbre(clip, tmp_path, capsys):
    from latentdiff_edit import LatentDenoiser1D
    from latentdiff_edit.testing import TINY_SCHEMA, tiny_components

    torch.manual_seed(0)
    denoiser = LatentDenoiser1D(latent_channels=8, hidden_size=32, num_layers=1, num_heads=2, attributes=TINY_SCHEMA,
                                timbre_layers=1, latents_mean=[0.0] * 8, latents_std=[0.5] * 8)
    torch.nn.init.normal_(denoiser.timbre_encoder.output_proj.weight, std=0.5)  # a fresh encoder starts at zero
    model = tmp_path / "timbre_model"
    VoiceEditPipeline(**{**tiny_components(), "denoiser": denoiser}).save_pretrained(model)
    outputs = {}
    for name, extra in (("with", []), ("without", ["--no-timbre"])):
        outputs[name] = tmp_path / f"{name}.wav"
        status, _, err = run(["edit", clip, "-o", outputs[name], "--model", model, "--steps", 2, "--pitch", 2,
                              *extra], capsys)
        assert status == 0, err
    assert read_provenance(outputs["without"])["timbre"] is False and "timbre" not in read_provenance(outputs["with"])
    assert not np.allclose(sf.read(outputs["with"])[0], sf.read(outputs["without"])[0], atol=1e-4)


def test_a_missed_pitch_edit_is_named_and_an_octave_error_explained():
    assert pitch_miss_warning(3.0, 2.9, 100.0) is None and pitch_miss_warning(0.0, 0.4, 100.0) is None
    octave = pitch_miss_warning(-3.0, 8.9, 80.8)  # what the shipped model did to the example clip
    assert "octave above" in octave and "81 -> 68 Hz" in octave and "+11.9 st" in octave
    assert "octave below" in pitch_miss_warning(3.0, -9.0, 200.0)
    other = pitch_miss_warning(-3.0, -0.5, None)
    assert "missed the request by +2.5 st" in other and "octave" not in other
    assert pitch_miss_warning(3.0, float("nan"), 100.0) is None
