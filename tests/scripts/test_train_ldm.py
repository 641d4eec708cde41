"""`scripts/train_ldm.py`: its training conditions are the pipeline's, and under `accelerate launch` with two
processes it trains one model on different data per process, with gradient accumulation and bf16, and its
checkpoints resume on another number of processes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate import PartialState

from latentdiff_edit import LatentDenoiser1D, VoiceEditPipeline
from latentdiff_edit.attributes import AttributeSchema
from latentdiff_edit.testing import tiny_components, tiny_denoiser
from latentdiff_edit.training import load_clip, read_manifest

ROOT = Path(__file__).resolve().parents[2]


def load_recipe():
    spec = importlib.util.spec_from_file_location("train_ldm", ROOT / "scripts" / "train_ldm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_conditions_are_the_pipelines(tiny_corpus, tiny_codec_dir, tmp_path):
    recipe = load_recipe()
    # crops longer than every clip (so each batch item is a whole clip) and no condition dropout
    args = recipe.parse_args(["--manifest", str(tiny_corpus), "--codec", str(tiny_codec_dir), "--output_dir",
                              str(tmp_path), "--segment_frames", "600", "--train_batch_size", "4",
                              "--attribute_dropout", "0", "--all_dropout", "0"])
    rows = read_manifest(tiny_corpus)
    codec = tiny_components()["codec"]
    items = recipe.encode_corpus(rows, codec, tmp_path / "cache.pt", PartialState())
    schema = AttributeSchema(recipe.build_schema(items, rows, args))
    assert schema.names == ["f0", "energy", "intonation", "rate", "style"]
    recipe.clip_values(rows, items, schema)
    _, mask, conditions, timbre = recipe.make_batch(items, schema, args, np.random.default_rng(0))
    assert timbre == {}  # no --timbre_layers: no timbre inputs
    chosen = np.random.default_rng(0).integers(0, len(items), args.train_batch_size)  # make_batch's first draw

    # the pipeline measures the same clips itself; the manifest only tells it the style label
    pipe = VoiceEditPipeline(codec=codec, denoiser=tiny_denoiser(latent_channels=8, schema=schema.specs),
                             scheduler=tiny_components()["scheduler"])
    pipe.set_progress_bar_config(disable=True)
    sources = []
    for b, index in enumerate(chosen):
        row = rows[items[index]["index"]]
        clip = load_clip(row["path"], pipe.sampling_rate)
        inversion = pipe.invert(clip, pipe.sampling_rate, attributes={"style": row["style"]}, num_inference_steps=1)
        assert inversion.padding_mask.sum() == mask[b].sum()
        sources += inversion.source_attributes
    expected = pipe.encode_conditions(sources, mask.shape[-1])
    assert set(conditions) == set(expected)
    for name in schema.names:
        assert conditions[name].dtype == expected[name].dtype, name
        torch.testing.assert_close(conditions[name], expected[name].cpu(), equal_nan=True, msg=name)
    assert conditions["f0"][:, 1].eq(1).any()  # voiced frames: the comparison covers real contours


def test_the_envelope_condition_is_the_pipelines_and_joins_a_continued_model(tiny_corpus, tiny_codec_dir, tmp_path,
                                                                              monkeypatch):
    recipe = load_recipe()
    args = recipe.parse_args(["--manifest", str(tiny_corpus), "--codec", str(tiny_codec_dir), "--output_dir",
                              str(tmp_path), "--segment_frames", "600", "--train_batch_size", "4",
                              "--attribute_dropout", "0", "--all_dropout", "0",
                              "--frame_attributes", "f0", "energy", "envelope"])
    rows = read_manifest(tiny_corpus)
    codec, cache = tiny_components()["codec"], tmp_path / "cache.pt"
    recipe.encode_corpus(rows, codec, cache, PartialState())  # a cache made for a model without the envelope
    encoded = []
    real_encode = recipe.codec_utils.encode
    monkeypatch.setattr(recipe.codec_utils, "encode", lambda c, x: encoded.append(x.shape) or real_encode(c, x))
    items = recipe.encode_corpus(rows, codec, cache, PartialState(), envelope=True)
    assert not encoded  # the cached clips only gain their envelope
    assert all(it["envelope"].shape == (12, it["latents"].shape[-1]) for it in items)
    schema = AttributeSchema(recipe.build_schema(items, rows, args))
    spec = schema.by_name["envelope"]
    assert spec["dim"] == 12 and len(spec["mean"]) == len(spec["std"]) == 12
    recipe.clip_values(rows, items, schema)
    _, mask, conditions, _ = recipe.make_batch(items, schema, args, np.random.default_rng(0))
    chosen = np.random.default_rng(0).integers(0, len(items), args.train_batch_size)

    pipe = VoiceEditPipeline(codec=codec, denoiser=tiny_denoiser(latent_channels=8, schema=schema.specs),
                             scheduler=tiny_components()["scheduler"])
    pipe.set_progress_bar_config(disable=True)
    sources = []
    for index in chosen:
        row = rows[items[index]["index"]]
        sources += pipe.invert(load_clip(row["path"], pipe.sampling_rate), pipe.sampling_rate,
                               attributes={"style": row["style"]}, num_inference_steps=1).source_attributes
    for source in sources:  # the cache stores the envelope in float16
        source.envelope = source.envelope.astype(np.float16).astype(np.float32)
    expected = pipe.encode_conditions(sources, mask.shape[-1])
    torch.testing.assert_close(conditions["envelope"], expected["envelope"].cpu())
    assert conditions["envelope"][mask[:, None].expand_as(conditions["envelope"])].std() > 0.5  # normalized

    # a saved model without the envelope gains it: zero-initialized, so it predicts as before, with it or without
    saved = tiny_denoiser(latent_channels=8, schema=[s for s in schema.specs if s["name"] != "envelope"])
    extended = saved.with_attributes([spec])
    assert [a["name"] for a in extended.config.attributes] == schema.names[:2] + schema.names[3:] + ["envelope"]
    latents = torch.randn(4, 8, mask.shape[-1])
    timesteps = torch.tensor([10, 200, 500, 900])
    without = {k: v for k, v in conditions.items() if k != "envelope"}
    before = saved(latents, timesteps, conditions=without, padding_mask=mask).sample
    for given in (conditions, without):
        torch.testing.assert_close(extended(latents, timesteps, conditions=given, padding_mask=mask).sample, before)
    extended(latents, timesteps, conditions=conditions, padding_mask=mask).sample.square().mean().backward()
    assert extended.frame_embedders["envelope"].weight.grad.abs().sum() > 0  # it learns from the first step
    with pytest.raises(ValueError, match="adds new attributes"):
        extended.with_attributes([spec])


def test_the_latent_cache_grows_with_the_corpus(tiny_corpus, tmp_path, monkeypatch):
    recipe = load_recipe()
    rows = read_manifest(tiny_corpus)
    codec, cache = tiny_components()["codec"], tmp_path / "latents.pt"
    first = recipe.encode_corpus(rows[:4], codec, cache, PartialState(), root=tiny_corpus.parent)
    assert [it["index"] for it in first] == [0, 1, 2, 3] and cache.is_file()
    assert {it["path"] for it in first} == {Path(r["path"]).name for r in rows[:4]}  # relative: the cache can move

    encoded = []
    real_encode = recipe.codec_utils.encode
    monkeypatch.setattr(recipe.codec_utils, "encode", lambda c, x: encoded.append(x.shape) or real_encode(c, x))
    # rows in another order, two of them new: only the new ones are encoded, items follow the rows' order
    grown = [rows[5], rows[1], rows[4], rows[0]]
    items = recipe.encode_corpus(grown, codec, cache, PartialState(), root=tiny_corpus.parent)
    assert len(encoded) == 2
    assert [it["path"] for it in items] == [Path(r["path"]).name for r in grown]
    assert [it["index"] for it in items] == [0, 1, 2, 3]
    torch.testing.assert_close(items[1]["latents"], first[1]["latents"])
    assert len(torch.load(cache, weights_only=True)) == 6
    # a codec with other weights gets its own cache file
    other = tiny_components()["codec"]
    assert recipe.codec_tag(other) == recipe.codec_tag(codec)
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)
    assert recipe.codec_tag(other) != recipe.codec_tag(codec)


def test_a_run_may_stop_early_on_a_longer_learning_rate_schedule(tmp_path):
    recipe = load_recipe()
    base = ["--manifest", "m.jsonl", "--codec", "c", "--output_dir", str(tmp_path), "--max_train_steps", "4000"]
    assert recipe.parse_args(base).lr_schedule_steps is None
    assert recipe.parse_args([*base, "--lr_schedule_steps", "8000"]).lr_schedule_steps == 8000
    with pytest.raises(SystemExit):
        recipe.parse_args([*base, "--lr_schedule_steps", "2000"])


def test_a_continued_run_trains_the_saved_architecture(tmp_path, caplog):
    from accelerate import PartialState

    PartialState()  # the recipe logs through accelerate, whose state the script's Accelerator sets up
    recipe = load_recipe()
    saved = LatentDenoiser1D(latent_channels=8, hidden_size=32, num_layers=1, num_heads=2, attributes=[],
                             timbre_layers=1, timbre_max_frames=40)
    base = ["--manifest", "m.jsonl", "--codec", "c", "--output_dir", str(tmp_path)]
    args = recipe.parse_args(base)  # no timbre flags: the saved model's timbre encoder must still get references
    recipe.adopt_architecture(args, saved, base)
    assert (args.timbre_layers, args.timbre_max_frames) == (1, 40)
    argv = [*base, "--timbre_layers", "3"]
    args = recipe.parse_args(argv)
    with caplog.at_level("WARNING"):
        recipe.adopt_architecture(args, saved, argv)
    assert args.timbre_layers == 1 and "--timbre_layers 3 ignored" in caplog.text


def test_timbre_references_come_from_the_same_voice_and_drop_out(tmp_path):
    recipe = load_recipe()
    # six clips of two voices; each clip's latents are filled with its own index, so a reference names its clip
    rows = [{"path": f"c{i}.wav", "voice": "a" if i < 3 else "b"} for i in range(6)]
    items = [{"index": i, "latents": torch.full((4, 30 + 10 * i), float(i)), "f0": torch.full((30 + 10 * i,), 150.0),
              "energy": torch.full((30 + 10 * i,), -20.0), "values": {}} for i in range(6)]
    recipe.voice_pools(rows, items)
    assert items[0]["voice_pool"] == [0, 1, 2] and items[4]["voice_pool"] == [3, 4, 5]
    args = recipe.parse_args(["--manifest", "m.jsonl", "--codec", "c", "--output_dir", str(tmp_path),
                              "--timbre_layers", "2", "--timbre_max_frames", "40", "--timbre_same_clip", "0",
                              "--segment_frames", "20", "--train_batch_size", "64", "--timbre_dropout", "0.5",
                              "--all_dropout", "0"])
    rng = np.random.default_rng(0)
    for item in items:
        for _ in range(10):
            reference = recipe.timbre_reference(items, item, args, rng)
            assert reference.shape[-1] <= 40
            assert int(reference[0, 0]) in item["voice_pool"]  # never another voice's clip
    schema = AttributeSchema([{"name": "f0", "type": "frame", "dim": 2, "mean": 0.0, "std": 12.0}])
    latents, mask, conditions, timbre = recipe.make_batch(items, schema, args, np.random.default_rng(1))
    assert timbre["timbre_latents"].shape[:2] == (64, 4) and timbre["timbre_mask"].shape[0] == 64
    dropped = ~timbre["timbre_mask"].any(-1)
    assert 0.25 < dropped.float().mean() < 0.75  # --timbre_dropout 0.5 (null timbre rows)


def test_recipe_trains_and_saves_a_timbre_conditioned_pipeline(tiny_corpus, tiny_codec_dir, tmp_path, launch):
    output = tmp_path / "ldm"
    launch("train_ldm.py", 1, "--manifest", tiny_corpus, "--codec", tiny_codec_dir, "--output_dir", output,
           "--hidden_size", "32", "--num_layers", "1", "--num_heads", "2", "--segment_frames", "32",
           "--train_batch_size", "2", "--max_train_steps", "2", "--validation_steps", "2", "--num_validation_clips", "1",
           "--validation_inference_steps", "2", "--checkpointing_steps", "2", "--timbre_layers", "2",
           "--timbre_max_frames", "64")
    pipe = VoiceEditPipeline.from_pretrained(output / "pipeline")
    assert pipe.denoiser.has_timbre and pipe.denoiser.config.timbre_max_frames == 64
    assert any(p.abs().sum() > 0 for p in pipe.denoiser.timbre_encoder.output_proj.parameters())  # it trained


@pytest.mark.slow
def test_two_processes_train_one_model_and_resume_on_one(tiny_corpus, tiny_codec_dir, tmp_path, launch):
    output, dumps = tmp_path / "ldm", tmp_path / "dumps"
    common = ["--manifest", tiny_corpus, "--codec", tiny_codec_dir, "--output_dir", output,
              "--hidden_size", "32", "--num_layers", "1", "--num_heads", "2", "--segment_frames", "32",
              "--train_batch_size", "2", "--lr_warmup_steps", "2", "--validation_steps", "1000",
              "--num_validation_clips", "1", "--validation_inference_steps", "2", "--checkpointing_steps", "2",
              "--checkpoints_total_limit", "2"]

    # 1. two processes, two micro-batches per step, bf16 autocast
    launch("train_ldm.py", 2, *common, "--max_train_steps", "3", "--gradient_accumulation_steps", "2",
           "--mixed_precision", "bf16", "--debug_dump_dir", dumps / "two")
    rank0, rank1 = (json.loads((dumps / "two" / f"rank{k}.json").read_text()) for k in (0, 1))
    assert rank0["num_processes"] == 2 and rank0["global_step"] == rank1["global_step"] == 3
    assert len(rank0["batch_hashes"]) == len(rank1["batch_hashes"]) == 3 * 2  # micro-batches
    assert not set(rank0["batch_hashes"]) & set(rank1["batch_hashes"])  # each process saw its own data
    assert rank0["weights_sha256"] == rank1["weights_sha256"]  # ... and both hold the same model
    assert rank0["weights_sha256"] != rank0["start_weights_sha256"]  # which did train
    assert rank0["scheduler_steps"] == 3  # one LR step per optimizer update, not one per process
    assert sorted(p.name for p in (output / "checkpoints").iterdir()) == ["checkpoint_2", "checkpoint_3"]

    # 2. one process resumes the two-process checkpoint
    launch("train_ldm.py", 1, *common, "--max_train_steps", "5", "--resume_from_checkpoint", "latest",
           "--debug_dump_dir", dumps / "one")
    resumed = json.loads((dumps / "one" / "rank0.json").read_text())
    assert resumed["start_weights_sha256"] == rank0["weights_sha256"]  # the checkpoint's weights, exactly
    assert resumed["global_step"] == 5 and resumed["scheduler_steps"] == 5 and len(resumed["batch_hashes"]) == 2
    assert sorted(p.name for p in (output / "checkpoints").iterdir()) == ["checkpoint_4", "checkpoint_5"]
    log = [json.loads(line) for line in (output / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [3, 5] and "val_pitch_shift_st" in log[-1]
    assert log[1]["time_s"] >= log[0]["time_s"]  # one clock over the chunks

    pipe = VoiceEditPipeline.from_pretrained(output / "pipeline")
    info = pipe.denoiser.config.training_info
    assert info["steps"] == 5 and info["manifest"].endswith("/manifest.jsonl")
    assert not any(str(value).startswith("/") for value in info.values())  # no machine paths in the config


def test_octave_safe_fourier_frequencies_reach_a_new_and_a_continued_model(tmp_path):
    from accelerate import PartialState

    from latentdiff_edit.models.denoiser import octave_safe_frequencies

    PartialState()
    recipe = load_recipe()
    schema = [{"name": "f0", "type": "frame", "dim": 2, "mean": 7.0, "std": 6.5}]
    base = ["--manifest", "m.jsonl", "--codec", "c", "--output_dir", str(tmp_path), "--frame_fourier_features", "3"]
    assert recipe.fourier_frequencies(recipe.parse_args(base), schema) is None  # the default: powers of two
    argv = [*base, "--frame_fourier_frequencies", "octave_safe"]
    args = recipe.parse_args(argv)
    assert recipe.fourier_frequencies(args, schema) == octave_safe_frequencies(3, 6.5)
    with pytest.raises(ValueError, match="f0"):
        recipe.fourier_frequencies(args, [{"name": "energy", "type": "frame", "dim": 1, "mean": 0.0, "std": 1.0}])
    # continuing a saved model: the flag given sets its frequencies; not given, the saved ones stay
    saved = LatentDenoiser1D(latent_channels=8, hidden_size=32, num_layers=1, num_heads=2, attributes=schema,
                             frame_fourier_features=3)
    recipe.adopt_architecture(recipe.parse_args(base), saved, base)
    assert saved.config.frame_fourier_frequencies is None
    recipe.adopt_architecture(args, saved, argv)
    assert saved.config.frame_fourier_frequencies == octave_safe_frequencies(3, 6.5)
    saved.save_pretrained(tmp_path / "model")
    assert LatentDenoiser1D.from_pretrained(tmp_path / "model").config.frame_fourier_frequencies == \
        octave_safe_frequencies(3, 6.5)


def test_a_time_boxed_chunk_stops_saved_and_the_next_one_resumes(tiny_corpus, tiny_codec_dir, tmp_path, launch):
    output = tmp_path / "ldm"
    common = ["--manifest", tiny_corpus, "--codec", tiny_codec_dir, "--output_dir", output, "--hidden_size", "32",
              "--num_layers", "1", "--num_heads", "2", "--segment_frames", "32", "--train_batch_size", "2",
              "--max_train_steps", "3", "--validation_steps", "1000", "--num_validation_clips", "1",
              "--validation_inference_steps", "2", "--checkpointing_steps", "1000", "--resume_from_checkpoint", "latest"]
    launch("train_ldm.py", 1, *common, "--max_train_minutes", "0")  # past its deadline after the first step
    assert [p.name for p in (output / "checkpoints").iterdir()] == ["checkpoint_1"]
    rows = [json.loads(line) for line in (output / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1] and "val_pitch_shift_st" in rows[0]  # validated where it stopped
    assert "val_guided_up_st" in rows[0] and "val_guided_down_st" in rows[0]  # and the edits at the defaults
    assert VoiceEditPipeline.from_pretrained(output / "pipeline").denoiser.config.training_info["steps"] == 1
    launch("train_ldm.py", 1, *common)
    rows = [json.loads(line) for line in (output / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 3]
    assert VoiceEditPipeline.from_pretrained(output / "pipeline").denoiser.config.training_info["steps"] == 3


def test_guided_validation_measures_the_edits_the_command_line_makes():
    """The validation row a user can read as "what edits do now": on the shipped model and the example clip, the
    -3 / +3 st edits at the command line's defaults land near their request, and the octave-off share is a share."""
    from latentdiff_edit import load_default_pipeline

    pytest.importorskip("librosa")
    recipe = load_recipe()
    pipe = load_default_pipeline()
    pipe.set_progress_bar_config(disable=True)
    clip = load_clip(ROOT / "examples" / "example.wav", pipe.sampling_rate)[: 3 * pipe.sampling_rate]
    row = recipe.validate_guided_edits(pipe, [clip], seed=0)
    assert set(row) == {"val_guided_down_st", "val_guided_up_st", "val_octave_off_pct"}
    assert -4.0 < row["val_guided_down_st"] < -2.0 and 2.0 < row["val_guided_up_st"] < 4.0
    assert 0.0 <= row["val_octave_off_pct"] <= 100.0


def test_validation_clips_span_the_voices_of_the_validation_split():
    recipe = load_recipe()
    rows = [{"split": "train", "f0_median_hz": 100.0}]
    rows += [{"split": "validation", "f0_median_hz": 200.0 + k} for k in range(6)]  # one speaker first, as Asterisk
    rows += [{"split": "validation", "f0_median_hz": f} for f in (80.0, 95.0, 120.0, 150.0, 0.0, 300.0)]
    first = recipe.validation_indices(rows, 4, "first")
    assert first == [1, 2, 3, 4]
    picked = recipe.validation_indices(rows, 4)
    f0 = [rows[i]["f0_median_hz"] for i in picked]
    assert f0 == sorted(f0) and f0[0] < 100.0 and f0[-1] > 200.0  # low and high voices, both
    assert all(rows[i]["split"] == "validation" and rows[i]["f0_median_hz"] > 0 for i in picked)
    assert len(set(picked)) == 4
    assert recipe.validation_indices(rows[:3], 4) == [1, 2]  # fewer clips than asked: all of them
