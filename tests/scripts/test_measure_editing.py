"""`scripts/measure_editing.py`: the f0range section (generation at scaled F0 contours) on a tiny pipeline."""

import importlib.util
from argparse import Namespace
from pathlib import Path

import numpy as np

from latentdiff_edit import VoiceEditPipeline
from latentdiff_edit.testing import harmonic_tone, tiny_components

ROOT = Path(__file__).resolve().parents[2]


def test_f0range_asks_each_target_of_each_clip_and_summarizes(capsys):
    spec = importlib.util.spec_from_file_location("measure_editing", ROOT / "scripts" / "measure_editing.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pipe = VoiceEditPipeline(**tiny_components())
    pipe.set_progress_bar_config(disable=True)
    clips = [("a", harmonic_tone(120.0, 0.5, 8000, seed=0)), ("b", harmonic_tone(180.0, 0.5, 8000, seed=1))]
    config = {"steps": 2, "guidance": 2.0}
    report = module.section_f0range(pipe, clips, config, Namespace(f0_targets=[80.0, 160.0]))
    assert [(r["clip"], r["asked_hz"]) for r in report["rows"]] == [("a", 80.0), ("a", 160.0), ("b", 80.0), ("b", 160.0)]
    for row in report["rows"]:
        drawn = row["drawn_hz"]
        assert drawn == 0 or np.isclose(row["error_st"], 12 * np.log2(drawn / row["asked_hz"]))
    assert [s["asked_hz"] for s in report["summary"]] == [80.0, 160.0]
    assert all(s["within_1_st"].endswith("/2") for s in report["summary"])
    assert "lowest median F0 drawn within 1 st" in capsys.readouterr().out
