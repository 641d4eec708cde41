"""Manifests: reading CSV/JSONL rows, and oversampling a kind of speech for a training mix."""

import json

import pytest

from latentdiff_edit.data.manifest import oversample, parse_factors, read_manifest


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
