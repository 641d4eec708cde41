"""Bad and unusual input through the command line: each file of a generated corpus is either edited or refused with
a message that names the problem, exit status 2, no traceback, and no output (not even half of one) left behind."""

from __future__ import annotations

import struct
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from latentdiff_edit.apps.cli import main
from latentdiff_edit.audio import AudioInputError, load_audio
from latentdiff_edit.testing import harmonic_tone


def tone(sampling_rate: int, seconds: float = 0.4) -> np.ndarray:
    return harmonic_tone(150.0, seconds, sampling_rate)


def write_truncated(path):
    sf.write(path, tone(8000), 8000, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[: 44 + 2000])  # 1000 of the 3200 samples its header still declares


def write_sparse_long_wav(path, seconds=30 * 60, sampling_rate=8000):
    """A valid 16-bit WAV header for 30 minutes; the data is a hole in a sparse file, so it costs no disk."""
    data_bytes = seconds * sampling_rate * 2
    header = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sampling_rate, 2 * sampling_rate, 2, 16)
    header += b"data" + struct.pack("<I", data_bytes)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + data_bytes)


REFUSED = {
    "empty.wav": (lambda p: p.write_bytes(b""), "audio file is empty (0 bytes)"),
    "zero_length.wav": (lambda p: sf.write(p, np.zeros(0, np.float32), 8000), "holds no samples"),
    "silence.wav": (lambda p: sf.write(p, np.zeros(4000, np.float32), 8000), "is silent"),
    "nan.wav": (lambda p: sf.write(p, np.where(np.arange(3200) % 7 == 0, np.nan, tone(8000)).astype(np.float32),
                                   8000, subtype="FLOAT"), "contains NaN or infinite samples"),
    "too_short.wav": (lambda p: sf.write(p, tone(8000, 0.05), 8000), "is too short"),
    "truncated.wav": (write_truncated, "is truncated: its header declares 0.40 s of audio but the file holds 0.12 s"),
    "text.wav": (lambda p: p.write_text("this is not audio\n" * 20), "cannot read"),
    "long.wav": (write_sparse_long_wav, "is too long: 1800.0 s > 60 s"),
}

HANDLED = {
    "clipped.wav": lambda p: sf.write(p, np.clip(4 * tone(8000), -1, 1), 8000, subtype="PCM_16"),
    "rate_8k.wav": lambda p: sf.write(p, tone(8000), 8000),
    "rate_96k.wav": lambda p: sf.write(p, tone(96000), 96000),
    "stereo.wav": lambda p: sf.write(p, np.stack([tone(16000), 0.5 * tone(16000)], axis=1), 16000),
    "pcm24.wav": lambda p: sf.write(p, tone(16000), 16000, subtype="PCM_24"),
    "float.wav": lambda p: sf.write(p, tone(16000), 16000, subtype="FLOAT"),
    "speech.flac": lambda p: sf.write(p, tone(22050), 22050, subtype="PCM_16"),
}


def edit(argv, capsys):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_refused(status, err, message, output_dir):
    assert status == 2
    assert err.strip().splitlines()[-1].startswith("error: ") and message in err, err
    assert "Traceback" not in err
    assert not any(output_dir.iterdir()), "a refused edit left a file behind"


@pytest.mark.parametrize("name", REFUSED)
def test_bad_files_are_refused_with_a_clear_message(name, tiny_pipeline_dir, tmp_path, capsys):
    write, message = REFUSED[name]
    source, output_dir = tmp_path / name, tmp_path / "out"
    write(source)
    output_dir.mkdir()
    limit = ["--max_seconds", 60] if name == "long.wav" else []  # long files are edited; refused only when asked
    status, _, err = edit(["edit", source, "-o", output_dir / "edited.wav", "--model", tiny_pipeline_dir,
                           "--steps", 2, *limit], capsys)
    assert_refused(status, err, message, output_dir)


@pytest.mark.parametrize("name", HANDLED)
def test_unusual_but_valid_files_are_edited(name, tiny_pipeline_dir, tmp_path, capsys):
    source, output = tmp_path / name, tmp_path / "out" / "edited.wav"
    HANDLED[name](source)
    status, out, err = edit(["edit", source, "-o", output, "--model", tiny_pipeline_dir, "--steps", 2,
                             "--pitch", -2], capsys)
    assert status == 0, err
    audio, rate = sf.read(output)
    assert rate == 8000 and len(audio) == round(sf.info(source).duration * 8000)
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0
    assert f"{sf.info(source).samplerate} Hz" in out
    if name == "clipped.wav":
        assert "warning:" in err and "is clipped" in err


def test_long_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "long.wav"
    write_sparse_long_wav(path)
    tracemalloc.start()
    with pytest.raises(AudioInputError, match="too long"):
        load_audio(path, max_seconds=60)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_000_000  # reading it would take 57.6 MB of float32


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--set", "loudness=3"], "`--set` has unknown attribute(s) ['loudness']"),
        (["--set", "rate=99"], "`rate`=99.0 is outside the range [0.0, 12.0]"),
        (["--set", "rate=fast"], "`rate` must be a number, got 'fast'"),
        (["--set", "style=angry"], "`style`='angry' is not one of"),
        (["--set", "f0=200"], "`f0` is a frame-level contour"),
        (["--set", "style"], "expects NAME=VALUE"),
        (["--pitch", "50"], "pitch shift must be between -24 and +24 semitones"),
        (["--pitch", "nan"], "pitch shift must be between"),
        (["--intonation", "-1"], "intonation scale must be between 0"),
        (["--depth", "1.5"], "depth must be in (0, 1]"),
        (["--steps", "0"], "steps must be a positive integer"),
        (["--guidance", "-1"], "guidance must be a number >= 0"),
        (["--start", "0.3", "--end", "0.1"], "segment end (0.1 s) must come after its start (0.3 s)"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(flags, message, tiny_pipeline_dir, tmp_path, capsys):
    source, output_dir = tmp_path / "speech.wav", tmp_path / "out"
    sf.write(source, tone(8000), 8000)
    output_dir.mkdir()
    status, _, err = edit(["edit", source, "-o", output_dir / "edited.wav", "--model", tiny_pipeline_dir,
                           "--steps", 2, *flags], capsys)
    assert_refused(status, err, message, output_dir)


def test_bad_outputs_and_models_are_refused(tiny_pipeline_dir, tmp_path, capsys, monkeypatch):
    source, output_dir = tmp_path / "speech.wav", tmp_path / "out"
    sf.write(source, tone(8000), 8000)
    output_dir.mkdir()
    cases = [
        (["-o", output_dir / "edited.xyz", "--model", tiny_pipeline_dir], "unknown audio extension"),
        (["-o", output_dir / "edited.wav", "--model", tmp_path / "no-such-model"], "model folder not found"),
        (["-o", output_dir / "edited.wav", "--model", output_dir], "has no model_index.json"),
        (["-o", output_dir / "edited.wav", "--model", "someone/absent-model"], "HF_HUB_OFFLINE=1 forbids"),
    ]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for flags, message in cases:
        status, _, err = edit(["edit", source, *flags], capsys)
        assert_refused(status, err, message, output_dir)


def test_a_failed_write_leaves_no_partial_file(tiny_pipeline_dir, tmp_path, capsys, monkeypatch):
    source, output_dir = tmp_path / "speech.wav", tmp_path / "out"
    sf.write(source, tone(8000), 8000)
    output_dir.mkdir()
    real_write = sf.SoundFile.write

    def write_half_then_fail(self, data):
        real_write(self, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sf.SoundFile, "write", write_half_then_fail)
    status, _, err = edit(["edit", source, "-o", output_dir / "edited.wav", "--model", tiny_pipeline_dir,
                           "--steps", 2], capsys)
    assert_refused(status, err, "No space left on device", output_dir)
