"""Edit directions (`latentdiff_edit.directions`): save/load with a pipeline folder, apply by name, calibration,
unsupervised directions."""

import math

import numpy as np
import pytest
import torch

from latentdiff_edit import EditDirection, VoiceEditPipeline
from latentdiff_edit.directions import (
    MEASURES,
    Direction,
    calibrate,
    contour_direction,
    direction_effects,
    fit_strength,
    load_directions,
    measure,
    pca_directions,
    posterior_directions,
    save_directions,
)
from latentdiff_edit.testing import harmonic_tone, tiny_components

SR = 8000


@pytest.fixture(scope="module")
def pipe():
    pipe = VoiceEditPipeline(**tiny_components())
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def inversion(pipe):
    return pipe.invert(harmonic_tone(150.0, 0.5, SR), SR, num_inference_steps=3)


def lively_tone(f0, depth, seed=0):
    """A tone whose F0 glides by `depth` (relative) at 3 Hz: its F0 spread grows with `depth`."""
    t = np.arange(int(0.6 * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0 * (1 + depth * np.sin(2 * np.pi * 3 * t))) / SR
    rng = np.random.default_rng(seed)
    return (0.3 * sum(np.sin(k * phase) / k for k in range(1, 6)) + 0.002 * rng.standard_normal(len(t))).astype(
        np.float32)


def some_directions(pipe):
    hidden, channels = pipe.denoiser.config.hidden_size, pipe.denoiser.config.latent_channels
    torch.manual_seed(0)
    return [
        Direction("bright", "condition", torch.randn(hidden), description="random condition offset"),
        Direction("texture", "noise", torch.randn(channels, 1)),
        Direction("intonation", "contour", torch.tensor([0.4, 0.0, 0.0]), attribute="f0_spread", unit=0.4,
                  calibration={"raw": [-1.0, 0.0, 1.0], "measured": [-0.2, 0.0, 0.6]}),
    ]


def test_save_load_round_trip_and_apply_by_name(tmp_path, pipe, inversion):
    folder = tmp_path / "pipe"
    pipe.save_pretrained(folder)
    save_directions(some_directions(pipe), folder)
    loaded = load_directions(folder)
    assert list(loaded) == ["bright", "texture", "intonation"]
    for original in some_directions(pipe):
        torch.testing.assert_close(loaded[original.name].vector, original.vector)
        assert loaded[original.name].space == original.space
    assert loaded["intonation"].calibration["measured"] == [-0.2, 0.0, 0.6]

    reloaded = VoiceEditPipeline.from_pretrained(folder)
    reloaded.set_progress_bar_config(disable=True)
    # by name (loaded from the folder on first use) equals the explicit vector at the same (uncalibrated) strength
    by_name = reloaded(inversion=inversion, direction="bright", strength=0.7, output_type="pt").audios
    vector = EditDirection(vector=loaded["bright"].vector, space="condition")
    explicit = reloaded(inversion=inversion, direction=vector, strength=0.7, output_type="pt").audios
    torch.testing.assert_close(by_name, explicit)
    assert not torch.allclose(by_name, reloaded(inversion=inversion, output_type="pt").audios)
    with pytest.raises(ValueError, match="bright, intonation, texture"):
        reloaded(inversion=inversion, direction="nope")


def test_calibrated_contour_direction_maps_strength_through_the_curve(pipe, inversion):
    direction = some_directions(pipe)[2]
    # strength 1 asks for unit 0.4 of measured change: raw 0.5 on the curve 0 -> 0.6; below the grid, extrapolated
    assert direction.raw_strength(1.0) == pytest.approx(2 / 3)
    assert direction.raw_strength(-1.0) == pytest.approx(-2.0)
    assert direction.raw_strength(0.0) == 0.0
    by_direction = pipe(inversion=inversion, direction=direction, strength=1.0, pitch_shift=1.0,
                        output_type="pt").audios
    by_hand = pipe(inversion=inversion, intonation_scale=math.exp(0.4 * 2 / 3), pitch_shift=1.0,
                   output_type="pt").audios
    torch.testing.assert_close(by_direction, by_hand)
    with pytest.raises(ValueError, match="space"):
        Direction("x", "sideways", torch.zeros(3))


def test_a_change_the_calibration_never_measured_is_refused_not_extrapolated_backwards(pipe):
    direction = some_directions(pipe)[2]
    # what the shipped model's intonation direction measured: raising it works, lowering it never did (raw -1 raised
    # the spread too); the secant through that end would have asked raw +6 for a decrease, and the edit went silent
    direction.calibration = {"raw": [-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0],
                             "measured": [0.48, -0.09, -0.09, 0.0, 0.07, 0.8, 0.99]}
    assert direction.raw_strength(4.0) == pytest.approx(1.6 / 0.99)  # past the top, along the secant, same sign
    # above the flat run (raw -1 ... 0.25 pooled at +0.074): from its right end up to raw 0.5, never from raw -1
    assert 0.25 < direction.raw_strength(0.25) < 0.5
    with pytest.raises(ValueError, match="cannot give strength -0.5"):
        direction.raw_strength(-0.5)


def test_supervised_contour_direction_and_calibration(pipe):
    flat = [lively_tone(140.0, 0.005, seed=i) for i in range(2)]
    lively = [lively_tone(140.0, 0.06, seed=i) for i in range(2)]
    direction = contour_direction("intonation", flat, lively, SR)
    assert direction.unit > 0.5 and direction.vector[0] == pytest.approx(direction.unit)  # spread grows a lot
    assert direction.vector[1] == 0 and direction.vector[2] == 0
    calibrate(pipe, direction, lively[:1], SR, raw_strengths=(-0.5, 0.5), invert_kwargs={"num_inference_steps": 2})
    assert direction.calibration["raw"] == [-0.5, 0.0, 0.5]
    assert direction.calibration["measured"][1] == 0.0 and len(direction.calibration["per_clip"][0]) == 1
    assert direction.calibrated
    # the tiny random model moves the spread one way whatever the sign: that sign is deliverable, the other is refused
    measured = direction.calibration["measured"]
    reachable = 1.0 if max(measured) > 0 else -1.0
    assert math.isfinite(direction.raw_strength(0.5 * reachable))
    if min(measured) >= 0 or max(measured) <= 0:
        with pytest.raises(ValueError, match="cannot give strength"):
            direction.raw_strength(-0.5 * reachable)


class ToneResponder:
    """A stand-in for the pipeline in `fit_strength`'s search (the search is what is tested): it renders a tone whose
    F0 glide depth grows with the raw strength of the direction it is given, more weakly than the calibration says
    (as real clips do), optionally backwards past a point."""

    sampling_rate = SR

    def __init__(self, gain=0.5, turn=None, leak_above=None):
        self.gain, self.turn, self.leak_above, self.calls = gain, turn, leak_above, []

    def __call__(self, inversion, direction, strength, output_type, **kwargs):
        self.calls.append((float(strength), kwargs))
        raw = strength if self.turn is None or strength <= self.turn else 2 * self.turn - strength
        depth = 0.02 * math.exp(self.gain * raw)
        # past `leak_above` the tone also rises 4 st (as an over-stretched contour raises a voice); plus any pitch
        # shift the call asks for
        leak = 4.0 if self.leak_above is not None and strength > self.leak_above else 0.0
        f0 = 140.0 * 2 ** ((leak + float(kwargs.get("pitch_shift") or 0.0)) / 12)
        audio = lively_tone(f0, depth)[None]
        return type("Output", (), {"audios": audio})()


def _calibrated_intonation():
    # the calibration says raw 1 doubles F0 spread (log ratio 0.69); the responder gives far less per raw unit
    return Direction("intonation", "contour", torch.tensor([1.0, 0.0, 0.0]), attribute="f0_spread", unit=0.4,
                     calibration={"raw": [-1.0, 0.0, 1.0], "measured": [-0.69, 0.0, 0.69]})


def test_fit_strength_lands_the_asked_change_on_a_clip_that_responds_weaker_than_calibrated():
    responder, direction = ToneResponder(gain=0.5), _calibrated_intonation()
    inversion = type("Inversion", (), {"num_samples": [int(0.6 * SR)]})()
    reference = lively_tone(140.0, 0.02)
    asked = 0.8 * direction.unit
    open_loop = fit_strength(responder, inversion, direction, 0.8, reference, max_iterations=0)
    assert len(open_loop.trace) == 1 and open_loop.raw_strength == pytest.approx(direction.raw_strength(0.8))
    assert abs(open_loop.measured - asked) > 0.25 * asked  # the calibration alone misses on this clip

    responder.calls.clear()
    fitted = fit_strength(responder, inversion, direction, 0.8, reference, max_iterations=4, tolerance=0.1, seed=3,
                          edit_kwargs={"pitch_shift": 1.0})
    assert fitted.converged and abs(fitted.measured - asked) <= 0.1 * asked
    assert 1 < len(fitted.trace) <= 5 and fitted.raw_strength > open_loop.raw_strength  # asked harder
    change = math.log(measure(fitted.audio, SR)["f0_spread"] / measure(reference, SR)["f0_spread"])
    assert change == pytest.approx(fitted.measured)  # the returned audio is the try it reports
    assert all(kw["pitch_shift"] == 1.0 and isinstance(kw["generator"], torch.Generator) for _, kw in responder.calls)
    # a decrease is fitted the same way
    lowered = fit_strength(responder, inversion, direction, -0.8, reference, max_iterations=4)
    assert lowered.converged and lowered.measured < 0


def test_fit_strength_stops_on_a_backwards_response_and_keeps_the_closest_try():
    responder, direction = ToneResponder(gain=0.5, turn=1.2), _calibrated_intonation()
    inversion = type("Inversion", (), {"num_samples": [int(0.6 * SR)]})()
    reference = lively_tone(140.0, 0.02)
    fitted = fit_strength(responder, inversion, direction, 2.0, reference, max_iterations=6)
    assert not fitted.converged  # asked +0.8; the responder never gets past about +0.6 (raw 1.2)
    best = min(fitted.trace, key=lambda t: abs(t["measured"] - fitted.asked))
    assert fitted.raw_strength == best["raw_strength"] and fitted.measured == best["measured"]
    with pytest.raises(ValueError, match="not calibrated"):
        fit_strength(responder, inversion, Direction("raw", "contour", torch.tensor([1.0, 0.0, 0.0])), 1.0, reference)


def test_fit_strength_sets_aside_tries_that_move_the_pitch():
    inversion = type("Inversion", (), {"num_samples": [int(0.6 * SR)]})()
    reference = lively_tone(140.0, 0.02)
    # the responder needs raw 1.6 for the asked +0.8 but raises the pitch 4 st past raw 1.2
    unguarded = fit_strength(ToneResponder(gain=0.5, leak_above=1.2), inversion, _calibrated_intonation(), 2.0,
                             reference, max_iterations=4, max_pitch_leak=None)
    assert unguarded.raw_strength > 1.2 and unguarded.converged
    assert abs(12 * math.log2(measure(unguarded.audio, SR)["pitch"] / measure(reference, SR)["pitch"])) > 3
    guarded = fit_strength(ToneResponder(gain=0.5, leak_above=1.2), inversion, _calibrated_intonation(), 2.0,
                           reference, max_iterations=4)
    assert any(t["leaked"] for t in guarded.trace) and not guarded.converged
    assert guarded.raw_strength <= 1.2 and 0 < guarded.measured < guarded.asked  # the closest try that kept the pitch
    assert abs(12 * math.log2(measure(guarded.audio, SR)["pitch"] / measure(reference, SR)["pitch"])) < 1
    # a pitch shift asked in the same call is not a leak
    shifted = fit_strength(ToneResponder(gain=0.5), inversion, _calibrated_intonation(), 0.8, reference,
                           max_iterations=4, edit_kwargs={"pitch_shift": 3.0})
    assert shifted.converged and not any(t["leaked"] for t in shifted.trace)


def test_pca_directions(pipe):
    clips = [harmonic_tone(110.0 + 25 * i, 0.4, SR, seed=i) for i in range(4)]
    directions = pca_directions(pipe, clips, SR, num_directions=3, num_inference_steps=2)
    assert [d.name for d in directions] == ["pc1", "pc2", "pc3"]
    channels = pipe.denoiser.config.latent_channels
    stacked = torch.stack([d.vector[:, 0] for d in directions])
    assert stacked.shape == (3, channels)
    gram = stacked @ stacked.T
    assert torch.allclose(gram - torch.diag(torch.diag(gram)), torch.zeros(3, 3), atol=1e-4)  # orthogonal
    assert torch.all(torch.diag(gram)[:-1] >= torch.diag(gram)[1:])  # by decreasing variance


def test_posterior_directions_and_their_effects(pipe, inversion):
    directions = posterior_directions(pipe, inversion, num_directions=3, num_iterations=3)
    shape = tuple(inversion.latents.shape[1:])
    assert [tuple(d.vector.shape) for d in directions] == [shape] * 3
    norms = [float(d.vector.norm()) for d in directions]
    assert norms == sorted(norms, reverse=True) and norms[0] > 0
    rows = direction_effects(pipe, inversion, directions[:2], strengths=(-1.0, 1.0))
    assert [(r["direction"], r["strength"]) for r in rows] == [("posterior1", -1.0), ("posterior1", 1.0),
                                                               ("posterior2", -1.0), ("posterior2", 1.0)]
    assert set(rows[0]["changes"]) == set(MEASURES) and rows[0]["audio"].shape == (inversion.num_samples[0],)


# ----------------------------------------------------------------------------------------------------------------------
# The command line: several attributes in one pass, the report, directions by name, the `directions` command


def _run(argv, capsys):
    from latentdiff_edit.apps.cli import main

    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return captured.out


@pytest.fixture
def clip_path(tmp_path):
    import soundfile as sf

    path = tmp_path / "speech.wav"
    sf.write(path, harmonic_tone(150.0, 0.6, SR), SR, subtype="FLOAT")
    return path


def test_cli_multi_attribute_edit_prints_and_writes_the_report(tiny_pipeline_dir, clip_path, tmp_path, capsys):
    import json

    from latentdiff_edit.evaluation.report import REPORT_ATTRIBUTES

    report_path = tmp_path / "report.json"
    out = _run(["edit", clip_path, "-o", tmp_path / "out.wav", "--model", tiny_pipeline_dir, "--steps", "3",
                "--pitch", "2", "--intonation", "1.3", "--set", "style=high-wide-fast", "--inversion", "latent-opt",
                "--report", report_path, "--no-credentials"], capsys)
    report = json.loads(report_path.read_text())
    assert set(report["attributes"]) == set(REPORT_ATTRIBUTES)
    for name, entry in report["attributes"].items():
        assert {"requested", "measured", "unit", "asked"} <= set(entry)
        assert f"{name}" in out  # every attribute is printed, asked or not
    assert report["attributes"]["pitch"]["requested"] == 2.0 and report["attributes"]["pitch"]["asked"]
    assert report["attributes"]["f0_spread"]["requested"] == pytest.approx(1.3)
    assert not report["attributes"]["loudness"]["asked"] and not report["attributes"]["duration"]["asked"]
    assert report["targets"]["style"]["requested"] == "high-wide-fast"
    assert "report:" in out and "LATENT-OPT" in out.upper()


def test_cli_applies_a_saved_direction_by_name(tiny_pipeline_dir, clip_path, tmp_path, capsys):
    import json

    save_directions([Direction("livelier", "contour", torch.tensor([0.5, 0.0, 0.0]), attribute="f0_spread",
                               unit=0.5)], tmp_path / "dirs")
    report_path = tmp_path / "report.json"
    _run(["edit", clip_path, "-o", tmp_path / "out.wav", "--model", tiny_pipeline_dir, "--steps", "2",
          "--direction", "livelier", "--directions", tmp_path / "dirs", "--strength", "0.8", "--report", report_path,
          "--no-credentials"], capsys)
    report = json.loads(report_path.read_text())
    assert report["direction"] == {"name": "livelier", "strength": 0.8}
    assert report["attributes"]["f0_spread"]["requested"] == pytest.approx(math.exp(0.4))
    from latentdiff_edit.apps.cli import main

    assert main(["edit", str(clip_path), "-o", str(tmp_path / "x.wav"), "--model", str(tiny_pipeline_dir),
                 "--direction", "nope", "--directions", str(tmp_path / "dirs"), "--no-credentials"]) == 2
    assert "livelier" in capsys.readouterr().err


def test_cli_fits_a_calibrated_direction_to_the_clip(tiny_pipeline_dir, clip_path, tmp_path, capsys):
    import json

    import soundfile as sf

    from latentdiff_edit.apps.cli import main
    from latentdiff_edit.apps.editing import read_provenance

    save_directions([_calibrated_intonation()], tmp_path / "dirs")
    report_path, out_path = tmp_path / "report.json", tmp_path / "out.wav"
    out = _run(["edit", clip_path, "-o", out_path, "--model", tiny_pipeline_dir, "--steps", "2",
                "--direction", "intonation", "--directions", tmp_path / "dirs", "--strength", "0.5",
                "--fit-strength", "2", "--report", report_path, "--no-credentials"], capsys)
    fit = json.loads(report_path.read_text())["direction"]["fit"]
    assert 1 <= fit["tries"] <= 3 and fit["asked"] == pytest.approx(0.2) and "fit:" in out
    assert "direction intonation at strength 0.5 (fitted to the clip, up to 2 more tries)" in out
    assert len(sf.read(out_path)[0]) == len(sf.read(clip_path)[0])
    record = read_provenance(out_path)
    assert record["direction"] == "intonation" and record["fit_strength"] == 2
    # fitting needs a named direction
    assert main(["edit", str(clip_path), "-o", str(tmp_path / "y.wav"), "--model", str(tiny_pipeline_dir),
                 "--fit-strength", "2", "--no-credentials"]) == 2
    assert "--direction" in capsys.readouterr().err


def test_cli_fits_a_calibrated_direction_by_default_and_not_when_told_not_to(tiny_pipeline_dir, clip_path, tmp_path,
                                                                               capsys):
    import json

    from latentdiff_edit.apps.editing import read_provenance
    from latentdiff_edit.defaults import DEFAULT_FIT_STRENGTH

    save_directions([_calibrated_intonation()], tmp_path / "dirs")
    common = ["--model", tiny_pipeline_dir, "--steps", "2", "--direction", "intonation", "--directions",
              tmp_path / "dirs", "--strength", "0.5", "--no-credentials"]
    _run(["edit", clip_path, "-o", tmp_path / "default.wav", "--report", tmp_path / "default.json", *common], capsys)
    fit = json.loads((tmp_path / "default.json").read_text())["direction"]["fit"]
    assert 1 <= fit["tries"] <= DEFAULT_FIT_STRENGTH + 1
    assert read_provenance(tmp_path / "default.wav")["fit_strength"] == DEFAULT_FIT_STRENGTH
    out = _run(["edit", clip_path, "-o", tmp_path / "open.wav", "--report", tmp_path / "open.json",
                "--fit-strength", "0", *common], capsys)
    assert "fit" not in json.loads((tmp_path / "open.json").read_text())["direction"] and "fit:" not in out
    assert "fit_strength" not in read_provenance(tmp_path / "open.wav")


def test_cli_directions_command(tiny_pipeline_dir, clip_path, tmp_path, capsys):
    import json

    out = _run(["directions", clip_path, "-o", tmp_path / "found", "--num", "2", "--model", tiny_pipeline_dir,
                "--steps", "2"], capsys)
    files = sorted(p.name for p in (tmp_path / "found").glob("*.wav"))
    assert files == ["posterior1_minus.wav", "posterior1_plus.wav", "posterior2_minus.wav", "posterior2_plus.wav"]
    table = json.loads((tmp_path / "found" / "directions_table.json").read_text())
    assert len(table["effects"]) == 4 and {"pitch", "f0_spread", "loudness"} <= set(table["effects"][0])
    assert "posterior2" in out

    second = tmp_path / "other.wav"
    import soundfile as sf

    sf.write(second, harmonic_tone(210.0, 0.5, SR, seed=3), SR, subtype="FLOAT")
    _run(["directions", clip_path, second, "-o", tmp_path / "pca", "--num", "1", "--model", tiny_pipeline_dir,
          "--steps", "2"], capsys)
    assert list(load_directions(tmp_path / "pca")) == ["pc1"]
