"""The benchmark end to end on generated clips with a tiny random pipeline: a manifest holding a pair of renderings
(the oracle) and an unreadable file, under `accelerate launch` with two processes (the clips split between them)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from accelerate.utils import write_basic_config

from latentdiff_edit import VoiceEditPipeline
from latentdiff_edit.evaluation.benchmark import Edit, parse_args, parse_edits, plan_clips
from latentdiff_edit.testing import harmonic_tone, tiny_components

ROOT = Path(__file__).resolve().parents[2]
SAMPLING_RATE = 16000


def write_inputs(folder: Path) -> Path:
    """Two renderings of one 'utterance' 2.4 semitones apart (a pitch ladder, p=50 and p=65), and a broken file."""
    folder.mkdir(parents=True)
    sf.write(folder / "tone_p50.wav", harmonic_tone(150.0, 0.6, SAMPLING_RATE), SAMPLING_RATE)
    sf.write(folder / "tone_p65.wav", harmonic_tone(150.0 * 2 ** (2.4 / 12), 0.6, SAMPLING_RATE), SAMPLING_RATE)
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEnot really audio")
    pair = {"text": "a tone", "pair_id": "pair0", "pair_knob": "pitch", "split": "test", "style": "neutral"}
    rows = [
        {"path": "tone_p50.wav", **pair, "knob_pitch": 50},
        {"path": "tone_p65.wav", **pair, "knob_pitch": 65},
        {"path": "broken.wav", "text": "never read", "split": "test"},
    ]
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return manifest


def test_edits_and_pairs_are_parsed():
    assert parse_edits(["pitch:-3,+3", "intonation:0.5", "style:neutral"]) == [
        Edit("pitch", -3.0), Edit("pitch", 3.0), Edit("intonation", 0.5), Edit("style", "neutral")
    ]
    with pytest.raises(SystemExit):
        parse_args(["--input", "x", "--output", "y", "--edits", "pitch:up"])
    with pytest.raises(SystemExit):
        parse_args(["--input", "x", "--output", "y", "--methods", "cfg,magic"])
    rows = [{"path": f"p{k}.wav", "clip_id": f"p{k}", "pair_id": "a", "pair_knob": "pitch", "knob_pitch": k}
            for k in (35, 50, 65)] + [{"path": "solo.wav", "clip_id": "solo"}]
    clips = plan_clips(rows)
    assert [c["clip_id"] for c in clips] == ["p50", "solo"]
    assert [t["clip_id"] for t in clips[0]["oracle_targets"]] == ["p35", "p65"] and clips[0]["oracle_kind"] == "pitch"


def test_pooled_wer_counts_every_word_once():
    from latentdiff_edit.evaluation.benchmark.report import pooled_wer, summarize

    # a 4-word clip with 2 errors and a 16-word clip with 1: 3 errors in 20 words, while the clips' median is 0.28
    records = [{"wer": 0.5, "reference_words": 4}, {"wer": 1 / 16, "reference_words": 16},
               {"wer": float("nan"), "reference_words": 9}, {"reference_words": 7}]
    assert pooled_wer(records) == pytest.approx(3 / 20)
    assert pooled_wer([{"wer": 0.2}]) is None and pooled_wer([]) is None
    outputs = [dict(r, method="cfg", edit="pitch:+3", status="ok") for r in records[:2]]
    clips = [{"source": {"wer": 0.0, "reference_words": 4}, "outputs": outputs[:1]},
             {"source": {"wer": 0.0, "reference_words": 16}, "outputs": outputs[1:]}]
    summary = summarize(clips, parse_args(["--input", "x", "--output", "y", "--edits", "pitch:+3"]))
    (row,) = summary["edits"]
    assert row["wer_pooled"] == pytest.approx(3 / 20) and row["wer"] == pytest.approx((0.5 + 1 / 16) / 2)
    assert summary["source"]["wer_pooled"] == 0.0


@pytest.mark.slow
def test_benchmark_end_to_end(tmp_path):
    pytest.importorskip("scipy")  # mel-cepstra: MCD and the oracle's DTW
    pytest.importorskip("pyworld")  # the WORLD baseline
    model = tmp_path / "model"
    VoiceEditPipeline(**tiny_components()).save_pretrained(model)
    manifest = write_inputs(tmp_path / "data")
    output = tmp_path / "out"
    config = tmp_path / "accelerate.yaml"
    write_basic_config(mixed_precision="no", save_location=str(config))
    # two processes, one clip each, so that the split and the merge of the parts are exercised; `--multi_gpu` is
    # accelerate's torchrun launcher, which the benchmark turns into a CPU (gloo) group when there is no GPU
    subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config, "--multi_gpu",
         "--num_processes", "2",
         ROOT / "scripts" / "benchmark.py", "--input", manifest, "--output", output, "--model", model,
         "--split", "test", "--steps", "2", "--asr", "none",
         "--edits", "pitch:-3,+3", "intonation:1.5", "style:high-wide-fast", "--octave_repair", "2"],
        check=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )

    report = json.loads((output / "results.json").read_text())
    assert report["config"]["num_processes"] == 2 and "--steps 2" in report["command"]
    assert not list(output.glob("results.part*.json"))
    source, broken = report["clips"]  # the p=65 rendering is the oracle target, not a clip of its own
    assert broken["clip_id"] == "broken" and "cannot read" in broken["error"]

    done = {(o["method"], o["edit"]): o for o in source["outputs"]}
    assert all(o["status"] == "ok" for o in done.values())
    assert set(done) == {
        ("codec", "none"),
        ("cfg", "pitch:-3"), ("world", "pitch:-3"), ("psola", "pitch:-3"), ("phase_vocoder", "pitch:-3"),
        ("cfg", "pitch:+3"), ("world", "pitch:+3"), ("psola", "pitch:+3"), ("phase_vocoder", "pitch:+3"),
        ("cfg", "intonation:1.5"), ("direction", "intonation:1.5"), ("world", "intonation:1.5"),
        ("psola", "intonation:1.5"),
        ("cfg", "style:high-wide-fast"), ("direction", "style:high-wide-fast"),
    }
    assert abs(done[("psola", "pitch:+3")]["achieved_shift_st"] - 3.0) < 0.3
    # each model edit starts from the inversion the command line would run: lowering from DDPM noise at depth 0.7,
    # raising from DDIM at 0.8 (the depths the 2-step schedule reaches: 1 step of 2 and 2 of 2)
    assert [(done[("cfg", e)]["inversion"], done[("cfg", e)]["inversion_depth"]) for e in ("pitch:-3", "pitch:+3")] \
        == [("ddpm", 0.5), ("ddim", 1.0)]
    assert report["config"]["depth"] is None
    # --octave_repair: every cfg edit is checked (and redrawn where needed) as on the command line, and says how
    for edit in ("pitch:-3", "pitch:+3", "intonation:1.5"):
        repair = done[("cfg", edit)]["octave_repair"]
        assert repair["tries"] <= 2 and repair["segments_redrawn"] <= repair["segments"]
        if repair["kept"]:  # kept only when the stitched edit scores lower (jumps + off frames / 8)
            assert 8 * repair["jumps_after"] + repair["error_frames_after"] < \
                8 * repair["jumps_before"] + repair["error_frames_before"]
    assert "octave_repair" not in done[("world", "pitch:+3")]
    assert "octave_repair" not in done[("direction", "style:high-wide-fast")]
    assert done[("direction", "style:high-wide-fast")]["direction_from"] == {"style": "neutral"}
    assert done[("codec", "none")]["rtf"] > 0 and "stoi" in done[("codec", "none")]
    assert "stoi" not in done[("cfg", "pitch:+3")]  # reference-based metrics only for the round trip
    # pauses and octave jumps of every edit, against the codec round trip (PSOLA keeps the source's timing)
    assert isinstance(done[("psola", "pitch:+3")]["extra_octave_jumps"], int)
    # and the tracker-free octave check of every pitch edit: PSOLA renders the asked F0, so next to no frame is an
    # octave off; the figure is the share of the source's voiced frames
    psola_check = done[("psola", "pitch:+3")]["octave_check"]
    assert psola_check["voiced_frames"] > 0 and done[("psola", "pitch:+3")]["octave_off_share"] < 0.05
    assert psola_check["at_target"] > psola_check["octave_below"] + psola_check["octave_above"]
    assert 0.0 <= done[("cfg", "pitch:-3")]["octave_off_share"] <= 1.0
    assert "octave_check" not in done[("direction", "style:high-wide-fast")]
    assert "silent_energy_excess_db" in done[("cfg", "pitch:+3")]
    assert any(item["method"] == "direction" and item["edit"] == "pitch:+3"
               for item in report["config"]["not_applicable"])
    assert source["reconstruction"]["latent_snr_db"] is not None

    oracle = {row["method"]: row for row in source["oracle"]}
    assert set(oracle) == {"source", "codec", "cfg", "world", "psola", "phase_vocoder"}
    assert abs(oracle["psola"]["request"] - 2.4) < 0.3
    # shifting the source toward the true rendering brings its F0 closer than doing nothing
    assert oracle["psola"]["f0_rmse_st"] < oracle["source"]["f0_rmse_st"]

    markdown = (output / "results.md").read_text()
    assert "| method | edit | n | achieved shift (st)" in markdown and "## Paired oracle" in markdown
    assert "pause excess vs codec (dB)" in markdown and "depth 0.7 lowering the pitch, 0.8 otherwise" in markdown
    assert "## Failed clips" in markdown and "broken" in markdown
    plots = sorted(p.name for p in output.glob("*.png"))
    assert "pitch_accuracy.png" in plots and "intonation_accuracy.png" in plots
    assert any(name.startswith("example_") for name in plots)

