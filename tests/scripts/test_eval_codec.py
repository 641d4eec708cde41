"""The codec gate (`scripts/eval_codec.py`) on a tiny random codec: a manifest's test clips and a folder of real
clips with a transcript file, means per set with every clip's figures beside them."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from latentdiff_edit.testing import harmonic_tone, tiny_codec

ROOT = Path(__file__).resolve().parents[2]
SR = 16000  # PESQ-wb needs 16 kHz

pytest.importorskip("pesq")
pytest.importorskip("pystoi")


def test_gate_writes_means_and_per_clip_figures(tmp_path):
    codec = tmp_path / "model"
    tiny_codec(SR).save_pretrained(codec / "codec")
    corpus, real = tmp_path / "corpus", tmp_path / "real"
    corpus.mkdir(), real.mkdir()
    rows = []
    for i, split in enumerate(["test", "test", "train"]):
        sf.write(corpus / f"c{i}.wav", harmonic_tone(120.0 + 30 * i, 1.2, SR, seed=i), SR)
        rows.append({"path": f"c{i}.wav", "split": split, "kind": "real"})
    (corpus / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    sf.write(real / "r0.wav", harmonic_tone(100.0, 1.2, SR, seed=7), SR)
    (real / "transcription").write_text("<s> a tone </s> (r0)\n")

    out = tmp_path / "gate.json"
    subprocess.run([sys.executable, ROOT / "scripts" / "eval_codec.py", "--model", codec, "--manifest",
                    corpus / "manifest.jsonl", "--split", "test", "--kind", "real", "--num_clips", "5",
                    "--real_dir", real, "--asr", "none", "--no_reference", "--output", out], check=True, timeout=600)
    result = json.loads(out.read_text())
    test_set, real_set = result["sets"]["test_real"], result["sets"]["real_dir"]
    # only the test split's clips, each with its own figures; the set's figure is their mean
    assert test_set["clips"] == 2 and sorted(c["clip"] for c in test_set["per_clip"]) == ["c0.wav", "c1.wav"]
    for name, block in (("test_real", test_set), ("real_dir", real_set)):
        for key, mean in block["codec"].items():
            values = [c["codec"][key] for c in block["per_clip"]]
            assert math.isclose(mean, float(np.nanmean(values)), rel_tol=1e-9, abs_tol=1e-12), (name, key)
    assert [c["clip"] for c in real_set["per_clip"]] == ["r0.wav"]
    assert 0.0 <= real_set["codec"]["stoi"] <= 1.0 and "dnsmos_source" in real_set["per_clip"][0]["source"]
    # the table beside the JSON names the sets and the targets
    table = out.with_suffix(".md").read_text()
    assert "### test_real (2 clips" in table and "| stoi |" in table and "0.93" in table
