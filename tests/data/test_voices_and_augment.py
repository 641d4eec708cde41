"""The real/natural voice sources and the augmentation toward real recordings (`latentdiff_edit.data`)."""

import logging
import shutil

import numpy as np
import pytest
import soundfile as sf

from latentdiff_edit.data import voices
from latentdiff_edit.data.voices import SpeechItem, hash_split, render_item, tts_items
from latentdiff_edit.testing import harmonic_tone


def test_hash_split_is_deterministic_and_proportioned():
    keys = [f"prompt-{i}" for i in range(4000)]
    splits = [hash_split(k) for k in keys]
    assert splits == [hash_split(k) for k in keys]
    shares = {s: splits.count(s) / len(splits) for s in ("train", "validation", "test")}
    assert abs(shares["test"] - 0.08) < 0.02 and abs(shares["validation"] - 0.05) < 0.02


def test_missing_voices_are_skipped_with_a_warning(monkeypatch, caplog):
    for source in voices.TTS_SOURCES.values():
        monkeypatch.setattr(source, "installed", lambda voice: False)
    with caplog.at_level(logging.WARNING):
        assert tts_items(["rhvoice", "pico"], ["A sentence."], 10) == []
    assert "rhvoice: voices not installed" in caplog.text and "pico: voices not installed" in caplog.text


def test_tts_items_spread_over_installed_voices_with_varied_prosody(monkeypatch):
    monkeypatch.setattr(voices.TTS_SOURCES["rhvoice"], "installed", lambda voice: voice in ("slt", "bdl"))
    items = tts_items(["rhvoice"], ["One sentence.", "Another sentence."], 8, seed=0)
    assert {item.voice for item in items} == {"rhvoice:slt", "rhvoice:bdl"}
    assert {item.gender for item in items} == {"F", "M"}
    assert len({round(item.pitch, 3) for item in items}) == 8 and all(0.8 <= i.rate <= 1.25 for i in items)
    assert all(item.split == hash_split(item.text) for item in items)


@pytest.mark.skipif(shutil.which("pico2wave") is None or shutil.which("sox") is None, reason="needs pico2wave, sox")
def test_render_a_pico_clip(tmp_path):
    item = SpeechItem("pico_1", "pico", "pico:en-US", "F", "tts", "train", text="Hello there, how are you?")
    render_item(item, tmp_path / "out.wav", 16000)
    audio, sr = sf.read(tmp_path / "out.wav")
    assert sr == 16000 and audio.ndim == 1 and 0.5 < len(audio) / sr < 5


def test_augmentation_keeps_length_and_range_and_changes_the_audio():
    pytest.importorskip("audiomentations")
    from latentdiff_edit.data.augment import augment_clip, real_recording_augmentation

    audio = harmonic_tone(140.0, 1.0, 16000)
    outputs = [augment_clip(audio, 16000, real_recording_augmentation(seed=s)) for s in range(4)]
    for out in outputs:
        assert out.shape == audio.shape and out.dtype == np.float32
        assert np.isfinite(out).all() and np.abs(out).max() <= 0.98 + 1e-6
    assert any(not np.allclose(out, audio, atol=1e-3) for out in outputs)


def test_shift_voice_moves_the_median_f0_to_the_target_and_keeps_length():
    from latentdiff_edit.data.augment import formant_ratio_for, shift_voice
    from latentdiff_edit.features import measure_attributes

    sr = 16000
    audio = harmonic_tone(200.0, 1.5, sr, seed=1)
    for target in (80.0, 120.0):
        out = shift_voice(audio, sr, source_f0_hz=200.0, target_f0_hz=target)
        assert out.shape == audio.shape and out.dtype == np.float32 and np.abs(out).max() <= 0.98 + 1e-6
        measured = measure_attributes(out, sr)["f0_median_hz"]
        assert abs(12 * np.log2(measured / target)) < 0.5, (target, measured)
    # lower voices come with longer vocal tracts (lower formants), within the range Praat keeps natural
    assert formant_ratio_for(200.0, 100.0) < formant_ratio_for(200.0, 150.0) < 1.0 < formant_ratio_for(100.0, 200.0)
    assert formant_ratio_for(400.0, 50.0) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="positive"):
        formant_ratio_for(0.0, 100.0)
    with pytest.raises(ValueError, match="mono"):
        shift_voice(np.zeros((2, 100)), sr, 200.0, 100.0)


def _make_corpus_module():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("make_corpus", Path(__file__).parents[2] / "scripts" / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_derived_voices_share_each_real_speakers_training_clips_among_the_targets():
    make_corpus = _make_corpus_module()
    rows = [{"path": f"wavs/train/a/{v}{i}.wav", "voice": v, "kind": kind, "split": split, "augmented": aug,
             "f0_median_hz": f0 + i}
            for v, kind, f0 in (("real:f", "real", 200.0), ("real:m", "real", 160.0), ("tts:x", "tts", 100.0))
            for i in range(6) for split, aug in (("train", False),)]
    rows += [{"path": "wavs/test/t.wav", "voice": "real:f", "kind": "real", "split": "test", "augmented": False,
              "f0_median_hz": 200.0},
             {"path": "wavs/train/a/aug.wav", "voice": "real:f", "kind": "real", "split": "train", "augmented": True,
              "f0_median_hz": 200.0}]
    jobs = make_corpus.derived_voice_jobs(rows, [75.0, 95.0], ["real"], seed=0)
    assert len(jobs) == 12  # 6 training originals of each real speaker; no test, augmented or TTS clip
    assert {j["voice"] for j in jobs} == {"real:f>f0_75", "real:f>f0_95", "real:m>f0_75", "real:m>f0_95"}
    assert all(sum(j["voice"] == v for j in jobs) == 3 for v in {j["voice"] for j in jobs})
    assert len({j["path"] for j in jobs}) == 12 and all(j["path"].startswith("wavs/train/derived/") for j in jobs)
    assert {j["source_f0_hz"] for j in jobs if j["voice"].startswith("real:f")} == {202.5}  # the speaker's median
    assert jobs == make_corpus.derived_voice_jobs(rows, [75.0, 95.0], ["real"], seed=0)
    # a share of each speaker's clips: the first of the same shuffled order, still spread over the targets
    some = make_corpus.derived_voice_jobs(rows, [75.0, 95.0], ["real", "tts"], seed=0, fraction=0.5)
    assert len(some) == 9 and {j["voice"].split(">")[0] for j in some} == {"real:f", "real:m", "tts:x"}
    assert all(sum(j["voice"] == v for j in some) in (1, 2) for v in {j["voice"] for j in some})
    assert [j for j in some if not j["voice"].startswith("tts:")] == [
        j for j in jobs if sum(j["row"] is k["row"] for k in some)]
    with pytest.raises(ValueError, match="share of clips"):
        make_corpus.derived_voice_jobs(rows, [75.0], ["real"], fraction=0.0)


def test_appending_derived_voices_keeps_the_corpus_and_labels_the_new_rows(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "wavs").mkdir()
    rows = []
    for i, f0 in enumerate((190.0, 210.0)):
        sf.write(tmp_path / "wavs" / f"r{i}.wav", harmonic_tone(f0, 1.0, 16000, seed=i), 16000, subtype="PCM_16")
        rows.append({"path": f"wavs/r{i}.wav", "voice": "real:f", "gender": "F", "kind": "real", "split": "train",
                     "text": "", "augmented": False, "duration_s": 1.0, "f0_median_hz": f0})
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = {p: p.read_bytes() for p in (tmp_path / "wavs").glob("*.wav")}
    script = Path(__file__).parents[2] / "scripts" / "make_corpus.py"
    cmd = [sys.executable, str(script), "--output_dir", str(tmp_path), "--append", "--sources", "--derived_voices",
           "80", "--num_workers", "1"]
    for _ in range(2):  # a re-run replaces its rows instead of adding them twice
        subprocess.run(cmd, check=True, capture_output=True)
    out = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert out[:2] == rows and len(out) == 4
    for row in out[2:]:
        assert row["voice"] == "real:f>f0_80" and row["derived_from"] == "real:f" and row["gender"] == "M"
        assert 0.8 <= row["formant_ratio"] < 1.0 and (tmp_path / row["path"]).is_file()
    # each clip keeps its offset from the speaker's median (200 Hz): 190 -> 76 Hz, 210 -> 84 Hz
    measured = sorted(row["f0_median_hz"] for row in out[2:])
    assert abs(12 * np.log2(measured[0] / 76.0)) < 0.5 and abs(12 * np.log2(measured[1] / 84.0)) < 0.5
    assert before == {p: p.read_bytes() for p in before}  # the originals are never rewritten
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["real"]["derived_hours"] > 0 and summary["real"]["voices"] == 2
