"""The command line on what users have: speaking rate, files longer than a minute, recordings whose measured
attributes fall outside the model's range (tiny pipeline)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from latentdiff_edit import VoiceEditPipeline
from latentdiff_edit.apps.cli import main
from latentdiff_edit.apps.editing import read_provenance
from latentdiff_edit.testing import TINY_SCHEMA, harmonic_tone, tiny_components, tiny_denoiser

SR = 8000


def run(argv, capsys):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def syllables(seconds: float) -> np.ndarray:
    pieces = [harmonic_tone(120.0 + 15 * (i % 6), 0.3, SR, seed=i) for i in range(int(seconds / 0.3) + 1)]
    return np.concatenate(pieces)[: int(seconds * SR)]


def test_rate_edit(tiny_pipeline_dir, tmp_path, capsys):
    source = tmp_path / "speech.wav"
    sf.write(source, syllables(1.2), SR, subtype="FLOAT")
    output = tmp_path / "faster.wav"
    status, out, err = run(["edit", source, "-o", output, "--model", tiny_pipeline_dir, "--steps", 2, "--rate", 1.25],
                           capsys)
    assert status == 0, err
    assert sf.info(output).frames == round(1.2 * SR / 1.25)
    assert "rate x" in out and "(requested x1.25)" in out
    assert read_provenance(output)["rate"] == 1.25

    status, _, err = run(["edit", source, "-o", tmp_path / "x.wav", "--model", tiny_pipeline_dir, "--rate", 1.25,
                          "--start", 0.2, "--end", 0.5], capsys)
    assert status == 2 and "--rate retimes the whole file" in err
    status, _, err = run(["edit", source, "-o", tmp_path / "y.wav", "--model", tiny_pipeline_dir, "--rate", 3], capsys)
    assert status == 2 and "rate must be a factor between 0.5 and 2" in err


@pytest.mark.slow  # ~20-40 s; the pipeline's own minute-long test (tests/pipelines) runs in the fast loop
def test_a_file_over_a_minute_is_edited_to_its_exact_length(tiny_pipeline_dir, tmp_path, capsys):
    source = tmp_path / "long.flac"
    audio = syllables(61.0)
    sf.write(source, audio, SR)
    output = tmp_path / "long_up2.flac"
    status, _, err = run(["edit", source, "-o", output, "--model", tiny_pipeline_dir, "--steps", 1, "--depth", 1.0,
                          "--window", 2.0, "--pitch", 2], capsys)
    assert status == 0, err
    assert sf.info(output).frames == len(audio)
    status, _, err = run(["edit", source, "-o", tmp_path / "x.wav", "--model", tiny_pipeline_dir,
                          "--max_seconds", 30], capsys)
    assert status == 2 and "too long" in err  # a limit only when the user sets one


def test_measured_values_outside_the_range_do_not_refuse_a_recording(tmp_path, capsys):
    schema = [dict(spec, max=0.05) if spec["name"] == "intonation" else spec for spec in TINY_SCHEMA]
    model = tmp_path / "model"
    VoiceEditPipeline(**{**tiny_components(), "denoiser": tiny_denoiser(schema=schema)}).save_pretrained(model)
    source = tmp_path / "speech.wav"
    sf.write(source, syllables(0.9), SR, subtype="FLOAT")
    status, out, err = run(["reconstruct", source, "--model", model, "--steps", 2], capsys)
    assert status == 0, err
    assert "latent SNR" in out
    status, _, err = run(["edit", source, "-o", tmp_path / "out.wav", "--model", model, "--steps", 2,
                          "--pitch", 1], capsys)
    assert status == 0, err
    status, _, err = run(["edit", source, "-o", tmp_path / "out2.wav", "--model", model, "--set", "intonation=3"],
                         capsys)
    assert status == 2 and "`intonation`=3.0 is outside the range" in err  # a target the user asks for


@pytest.mark.parametrize("argv, message", [(["--window", "0"], "window must be a positive number")])
def test_bad_window(tiny_pipeline_dir, tmp_path, capsys, argv, message):
    source = tmp_path / "speech.wav"
    sf.write(source, syllables(0.5), SR, subtype="FLOAT")
    status, _, err = run(["edit", source, "-o", tmp_path / "o.wav", "--model", tiny_pipeline_dir, *argv], capsys)
    assert status == 2 and message in err
