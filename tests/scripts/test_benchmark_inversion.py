"""The inversion benchmark (`scripts/benchmark_inversion.py`) on the tiny pipeline: a method's options reach its
inversion and label its rows, a finished run resumes without redoing a clip, and a malformed option is refused."""

import importlib.util
import json
from pathlib import Path

import pytest
import soundfile as sf

from latentdiff_edit.testing import harmonic_tone

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("benchmark_inversion", ROOT / "scripts" / "benchmark_inversion.py")
benchmark_inversion = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark_inversion)


def test_options_label_the_rows_and_a_finished_run_resumes(tiny_pipeline_dir, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    sf.write(clips / "a.wav", harmonic_tone(140.0, 0.6, 16000, seed=1), 16000)
    out = tmp_path / "out"
    argv = ["--model", str(tiny_pipeline_dir), "--input", str(clips), "--max_clips", "1", "--max_seconds", "0.5",
            "--steps", "2", "--guidance", "3", "--methods", "ddim", "null-opt", "--output", str(out)]
    rows = benchmark_inversion.main([*argv, "--option", "null-opt:num_inner_steps=1"])
    assert [r["method"] for r in rows] == ["ddim", "null-opt[num_inner_steps=1]"]
    # the option reached the optimizer: one Adam step per sampling step reconstructs worse than twenty
    rows = benchmark_inversion.main([*argv, "--option", "null-opt:num_inner_steps=20"])
    snr = {r["method"]: r["latent_snr_db"] for r in rows}
    assert set(snr) == {"ddim", "null-opt[num_inner_steps=1]", "null-opt[num_inner_steps=20]"}
    assert snr["null-opt[num_inner_steps=20]"] > snr["null-opt[num_inner_steps=1]"]
    results = json.loads((out / "results.json").read_text())
    assert len(results) == 3  # ddim ran once: the second run found it done
    assert (out / "summary.json").is_file() and (out / "summary.png").is_file()


@pytest.mark.parametrize("option", ["null-opt", "null-opt:num_inner_steps", "latent-opt:tolerance=1e-3"])
def test_a_malformed_option_or_one_for_a_method_not_run_is_refused(option):
    with pytest.raises(ValueError, match="--option"):
        benchmark_inversion.parse_options([option], ["ddim", "null-opt"])
