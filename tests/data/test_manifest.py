"""Manifests: reading CSV/JSONL rows, oversampling a kind of speech for a training mix, drawing and writing held-out
sets."""

import json
from pathlib import Path

import pytest

from latentdiff_edit.data.manifest import oversample, parse_factors, read_manifest, sample_per_voice, write_manifest


def _write(tmp_path, rows):
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_oversample_repeats_only_the_named_kind_and_keeps_order(tmp_path):
    path = _write(tmp_path, [{"path": "a.wav", "kind": "real"}, {"path": "b.wav", "kind": "tts"},
                             {"path": "c.wav", "kind": "real"}])
    rows = oversample(read_manifest(path), {"real": 3})
    names = [r["path"].rsplit("/", 1)[-1] for r in rows]
    assert names == ["a.wav"] * 3 + ["b.wav"] + ["c.wav"] * 3
    assert oversample(read_manifest(path), {}) == read_manifest(path)


def test_oversample_names_a_kind_the_manifest_lacks_and_bad_factors():
    rows = [{"path": "a.wav", "kind": "tts"}]
    with pytest.raises(ValueError, match="no row has kind in \\['real'\\].*\\['tts'\\]"):
        oversample(rows, {"real": 2})
    with pytest.raises(ValueError, match="positive integer"):
        oversample(rows, {"tts": 0})


@pytest.mark.parametrize("items, expected", [(["real=3"], {"real": 3}), (["real=3", "tts=2"], {"real": 3, "tts": 2}),
                                             (None, {})])
def test_parse_factors(items, expected):
    assert parse_factors(items) == expected


@pytest.mark.parametrize("item", ["real", "real=", "=3", "real=-1", "real=x"])
def test_parse_factors_rejects_malformed_pairs(item):
    with pytest.raises(ValueError, match="NAME=N"):
        parse_factors([item])


def test_sample_per_voice_draws_the_same_set_whatever_the_row_order():
    rows = [{"path": f"wavs/{voice}_{i:02d}.wav", "voice": voice} for voice in ("a", "b") for i in range(10)]
    picked = sample_per_voice(rows, [("b", 3), ("a", 2)], seed=0)
    assert [r["voice"] for r in picked] == ["b"] * 3 + ["a"] * 2
    assert len({r["path"] for r in picked}) == 5
    assert sample_per_voice(list(reversed(rows)), [("b", 3), ("a", 2)], seed=0) == picked
    assert sample_per_voice(rows, [("b", 3), ("a", 2)], seed=1) != picked
    with pytest.raises(ValueError, match="c: 0 matching rows, 1 wanted"):
        sample_per_voice(rows, [("c", 1)])


def test_write_manifest_paths_resolve_to_the_same_files_from_its_own_folder(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "wavs").mkdir(parents=True)
    source = _write(corpus, [{"path": "wavs/x.wav", "voice": "a", "text": "hello"}])
    rows = read_manifest(source)
    output = tmp_path / "sets" / "held_out.jsonl"
    write_manifest(rows, output)
    written = [json.loads(line) for line in output.read_text().splitlines()]
    assert written[0]["path"] == "../corpus/wavs/x.wav" and written[0]["text"] == "hello"
    assert Path(read_manifest(output)[0]["path"]).resolve() == (corpus / "wavs" / "x.wav").resolve()
