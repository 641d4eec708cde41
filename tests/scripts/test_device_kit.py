"""`scripts/device_kit.py`: the corpus share it packs (Opus, within the budget, real recordings first, validation
clips kept, relative paths) and the script that trains from it on the device, run here where the packages are
installed (`KIT_SKIP_INSTALL=1`)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from latentdiff_edit.data.manifest import read_manifest
from latentdiff_edit.testing import harmonic_tone

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import device_kit  # noqa: E402


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    rows = []
    for i in range(12):
        kind = "real" if i % 2 else "tts"
        split = "validation" if i >= 10 else "train"
        path = f"wavs/{split}/{kind}_{i}.wav"
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        sf.write(folder / path, harmonic_tone(100.0 + 15 * i, 2.0, 16000, seed=i), 16000)
        rows.append({"path": path, "kind": kind, "split": split, "augmented": i == 3, "voice": f"v{i % 3}"})
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder / "manifest.jsonl"


def test_pack_keeps_the_budget_real_first_and_the_validation_clips(corpus, tmp_path):
    rows = read_manifest(corpus)
    budget = 4 * 2 * 3300  # about four 2 s clips at ~26 kbps
    packed = device_kit.pack_corpus(rows, corpus.parent, tmp_path / "kit", budget, real_share=0.5,
                                    num_validation=1, seed=0)
    train = [r for r in packed if r["split"] == "train"]
    assert [r["split"] for r in packed].count("validation") == 1
    assert 2 <= len(train) < 10 and not any(r["augmented"] for r in packed)
    assert train[0]["kind"] == "real" and {r["kind"] for r in train} == {"real", "tts"}
    for row in packed:
        path = tmp_path / "kit" / row["path"]
        assert not Path(row["path"]).is_absolute() and path.suffix == ".ogg"
        info = sf.info(path)
        assert info.subtype == "OPUS" and info.samplerate == 16000 and abs(info.duration - 2.0) < 0.05
    compressed = sum((tmp_path / "kit" / r["path"]).stat().st_size for r in train)
    assert compressed < budget + 2 * 3300 * 2  # the last clip may overshoot by one clip
    original, _ = sf.read(corpus.parent / "wavs/train/real_1.wav", dtype="float32")
    decoded, _ = sf.read(tmp_path / "kit" / "wavs/train/real_1.ogg", dtype="float32")
    assert np.corrcoef(original, decoded[: len(original)])[0, 1] > 0.95


@pytest.mark.slow
def test_the_kit_trains_from_its_corpus_and_leaves_what_comes_back(corpus, tmp_path):
    kit = ROOT / ".device_kit_test"
    try:
        device_kit.main(["--manifest", str(corpus), "--output", str(kit), "--skip_wheels", "--train_minutes", "0",
                         "--train_batch_size", "2", "--num_validation_clips", "1"])
        script = (kit / "run_codec.sh").read_text()
        assert "--phase griffin_lim" in script and f"--manifest {kit.name}/corpus/manifest.jsonl" in script
        script = script.replace("--dataloader_num_workers 8", "--dataloader_num_workers 0 --num_threads 1")
        (kit / "run_codec.sh").write_text(script)
        out = tmp_path / "out"
        out.mkdir()
        env = os.environ | {"KIT_SKIP_INSTALL": "1", "OUT": str(out), "CUDA_VISIBLE_DEVICES": "", "TMPDIR": str(tmp_path)}
        result = subprocess.run(["bash", str(kit / "run_codec.sh")], capture_output=True, text=True, env=env,
                                timeout=600)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        back = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
        assert back == ["codec/config.json", "codec/model.safetensors", "train.log", "train_log.jsonl",
                        "vocoder/config.json", "vocoder/diffusion_pytorch_model.safetensors"]
        assert json.loads((out / "vocoder" / "config.json").read_text())["phase"] == "griffin_lim"
        assert "reached at step 1" in (out / "train.log").read_text()
    finally:
        shutil.rmtree(kit, ignore_errors=True)
