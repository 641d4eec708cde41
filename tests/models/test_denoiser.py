import pytest
import torch

from latentdiff_edit import LatentDenoiser1D
from latentdiff_edit.attributes import AttributeSchema, SourceAttributes
from latentdiff_edit.testing import TINY_SCHEMA, tiny_denoiser


def _conditions(batch, frames, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "f0": torch.randn(batch, 2, frames, generator=g),
        "energy": torch.randn(batch, 1, frames, generator=g),
        "rate": torch.randn(batch, generator=g),
        "intonation": torch.randn(batch, generator=g),
        "style": torch.randint(0, 3, (batch,), generator=g),
    }


@pytest.mark.parametrize("frames", [1, 7, 64])
def test_any_length_output_shape(frames):
    model = tiny_denoiser()
    x = torch.randn(2, 8, frames)
    out = model(x, torch.tensor([10, 500]), conditions=_conditions(2, frames))
    assert out.sample.shape == x.shape
    assert model(x, 10, return_dict=False)[0].shape == x.shape


def test_padding_mask_batch_equals_single():
    model = tiny_denoiser()
    x = torch.randn(1, 8, 20)
    cond = _conditions(1, 20)
    single = model(x, 100, conditions=cond).sample
    padded_x = torch.cat([x, torch.randn(1, 8, 12)], dim=-1)
    padded_cond = {k: (torch.cat([v, torch.zeros(1, v.shape[1], 12)], -1) if v.ndim == 3 else v) for k, v in cond.items()}
    mask = torch.zeros(1, 32, dtype=torch.bool)
    mask[:, :20] = True
    padded = model(padded_x, 100, conditions=padded_cond, padding_mask=mask).sample
    torch.testing.assert_close(padded[..., :20], single, atol=1e-5, rtol=1e-4)
    assert torch.all(padded[..., 20:] == 0)


def test_null_markers_equal_missing_attributes():
    model = tiny_denoiser()
    x = torch.randn(2, 8, 10)
    cond = _conditions(2, 10)
    nulls = dict(cond, f0=torch.full_like(cond["f0"], float("nan")), rate=torch.full((2,), float("nan")),
                 style=torch.full((2,), -1))
    missing = {k: v for k, v in cond.items() if k not in ("f0", "rate", "style")}
    torch.testing.assert_close(model(x, 5, conditions=nulls).sample, model(x, 5, conditions=missing).sample)
    # and the conditions matter: with them the prediction differs
    assert not torch.allclose(model(x, 5, conditions=cond).sample, model(x, 5, conditions=missing).sample)


def test_per_item_null_only_affects_that_item():
    model = tiny_denoiser()
    x = torch.randn(2, 8, 10)
    cond = _conditions(2, 10)
    partly = dict(cond, f0=cond["f0"].clone())
    partly["f0"][1] = float("nan")
    full, mixed = model(x, 5, conditions=cond).sample, model(x, 5, conditions=partly).sample
    torch.testing.assert_close(full[0], mixed[0])
    assert not torch.allclose(full[1], mixed[1])


def test_condition_offset_changes_output_and_zero_offset_does_not():
    model = tiny_denoiser()
    x = torch.randn(1, 8, 10)
    base = model(x, 5).sample
    torch.testing.assert_close(model(x, 5, condition_offset=torch.zeros(32)).sample, base)
    assert not torch.allclose(model(x, 5, condition_offset=torch.ones(32)).sample, base)


def test_frame_condition_offset_acts_per_item_and_checks_its_shape():
    model = tiny_denoiser()
    x = torch.randn(2, 8, 10)
    base = model(x, 5).sample
    offset = torch.zeros(2, 32, 10)
    torch.testing.assert_close(model(x, 5, frame_condition_offset=offset).sample, base)
    offset[1, :, 3] = 1.0  # one frame of the second item
    moved = model(x, 5, frame_condition_offset=offset).sample
    torch.testing.assert_close(moved[0], base[0])
    assert not torch.allclose(moved[1], base[1])
    with pytest.raises(ValueError, match="frame_condition_offset"):
        model(x, 5, frame_condition_offset=torch.zeros(2, 32))


def test_save_and_load_keeps_schema_and_stats(tmp_path):
    model = tiny_denoiser()
    model.save_pretrained(tmp_path)
    loaded = LatentDenoiser1D.from_pretrained(tmp_path)
    assert loaded.config.attributes == model.config.attributes
    assert loaded.config.latents_std == model.config.latents_std
    x = torch.randn(1, 8, 6)
    torch.testing.assert_close(loaded(x, 3).sample, model(x, 3).sample)


def test_unknown_condition_and_bad_schema_are_refused():
    model = tiny_denoiser()
    with pytest.raises(ValueError, match="unknown attribute"):
        model(torch.randn(1, 8, 4), 1, conditions={"emotion": torch.zeros(1)})
    with pytest.raises(ValueError, match="declared twice"):
        LatentDenoiser1D(latent_channels=4, hidden_size=8, num_heads=2, attributes=[TINY_SCHEMA[2], TINY_SCHEMA[2]])
    with pytest.raises(ValueError, match="categories"):
        LatentDenoiser1D(latent_channels=4, hidden_size=8, num_heads=2,
                         attributes=[{"name": "style", "type": "categorical"}])
    with pytest.raises(ValueError, match="latent statistics"):
        LatentDenoiser1D(latent_channels=4, hidden_size=8, num_heads=2, latents_mean=[0.0])


def test_schema_encodes_edits_of_measured_contours():
    schema = AttributeSchema(TINY_SCHEMA)
    f0 = torch.tensor([0.0, 100.0, 0.0, 200.0, 0.0]).numpy()
    source = SourceAttributes(f0, -torch.ones(5).numpy() * 30, {"rate": 3.0, "intonation": 2.0})
    shifted = source.edited(pitch_shift=12.0)
    assert shifted.f0_hz[1] == pytest.approx(200.0, rel=1e-5) and shifted.f0_hz[0] == 0.0
    flat = source.edited(intonation_scale=0.0)
    assert flat.f0_hz[1] == pytest.approx(flat.f0_hz[3], rel=1e-5)
    assert flat.values["intonation"] == 0.0 and source.values["intonation"] == 2.0  # a copy, source untouched
    cond = schema.encode([source, None], num_frames=7)
    assert cond["f0"].shape == (2, 2, 7) and torch.isnan(cond["f0"][1]).all()
    assert torch.all(cond["f0"][0, :, 5:] == 0)  # zero past the clip's end
    # unvoiced frames are interpolated in log-F0 and flagged -1
    assert cond["f0"][0, 1, 0] == -1 and cond["f0"][0, 1, 1] == 1
    assert cond["style"].tolist() == [-1, -1] and torch.isnan(cond["rate"][1])


def _timbre_denoiser(seed: int = 0) -> LatentDenoiser1D:
    torch.manual_seed(seed)
    model = LatentDenoiser1D(latent_channels=8, hidden_size=32, num_layers=2, num_heads=2, mlp_ratio=2.0,
                             attributes=TINY_SCHEMA, timbre_layers=2, timbre_max_frames=40).eval()
    torch.nn.init.normal_(model.timbre_encoder.output_proj.weight, std=0.5)  # a fresh encoder starts at zero
    return model


def test_timbre_condition_reaches_each_item_and_padding_does_not():
    model = _timbre_denoiser()
    assert model.has_timbre and not tiny_denoiser().has_timbre
    g = torch.Generator().manual_seed(1)
    sample, conditions = torch.randn(2, 8, 12, generator=g), _conditions(2, 12)
    reference = torch.randn(2, 8, 20, generator=g)
    with torch.no_grad():
        base = model(sample, 500, conditions, timbre_latents=reference).sample
        other = reference.clone()
        other[1] = torch.randn(8, 20, generator=g)
        changed = model(sample, 500, conditions, timbre_latents=other).sample
        # frames past a reference's mask do not count
        padded = torch.cat([reference, torch.randn(2, 8, 5, generator=g)], dim=-1)
        mask = torch.ones(2, 25, dtype=torch.bool)
        mask[:, 20:] = False
        masked = model(sample, 500, conditions, timbre_latents=padded, timbre_mask=mask).sample
    torch.testing.assert_close(changed[0], base[0])  # item 0's voice is item 0's
    assert not torch.allclose(changed[1], base[1], atol=1e-4)
    torch.testing.assert_close(masked, base, atol=1e-5, rtol=1e-4)


def test_timbre_null_rows_and_refusal_without_encoder():
    model = _timbre_denoiser()
    sample, conditions = torch.randn(2, 8, 10), _conditions(2, 10)
    reference = torch.randn(2, 8, 16)
    mask = torch.ones(2, 16, dtype=torch.bool)
    mask[1] = False  # item 1: the null timbre (condition dropout)
    with torch.no_grad():
        none = model(sample, 300, conditions).sample
        with_reference = model(sample, 300, conditions, timbre_latents=reference).sample
        dropped = model(sample, 300, conditions, timbre_latents=reference, timbre_mask=mask).sample
    torch.testing.assert_close(dropped[1], none[1])
    torch.testing.assert_close(dropped[0], with_reference[0])
    assert not torch.allclose(with_reference[0], none[0], atol=1e-4)
    with pytest.raises(ValueError, match="no timbre condition"):
        tiny_denoiser()(sample, 300, conditions, timbre_latents=reference)
    with pytest.raises(ValueError, match="timbre_latents"):
        model(sample, 300, conditions, timbre_latents=torch.randn(2, 5, 16))


def test_timbre_encoder_saves_and_loads(tmp_path):
    model = _timbre_denoiser()
    model.save_pretrained(tmp_path)
    loaded = LatentDenoiser1D.from_pretrained(tmp_path).eval()
    assert loaded.config.timbre_layers == 2 and loaded.config.timbre_max_frames == 40
    sample, conditions, reference = torch.randn(1, 8, 10), _conditions(1, 10), torch.randn(1, 8, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(sample, 100, conditions, timbre_latents=reference).sample,
                                   model(sample, 100, conditions, timbre_latents=reference).sample)


def test_octave_safe_fourier_features_tell_an_f0_from_its_octave():
    from latentdiff_edit.models.denoiser import octave_safe_frequencies

    std = TINY_SCHEMA[0]["std"]  # semitones per normalized unit of log-F0
    octave = 12.0 / std
    value = torch.linspace(-2, 2, 9)[None, None, :]  # (batch, channel, frames) of normalized log-F0

    def pairs(model, x):
        return model._fourier(x)[:, 1:]  # the sine/cosine features, without the value itself

    # the default powers of two: every pair but the first repeats within 2 units (13 st at a std of 6.5 st)
    legacy = tiny_denoiser(frame_fourier_features=4)
    moved = pairs(legacy, value + 2.0)
    torch.testing.assert_close(moved[:, [1, 2, 3, 5, 6, 7]], pairs(legacy, value)[:, [1, 2, 3, 5, 6, 7]],
                               atol=1e-5, rtol=0)
    # octave-safe: every pair changes sign an octave away, the farthest any two values' features can be
    safe = LatentDenoiser1D(latent_channels=8, hidden_size=32, num_layers=1, num_heads=2, attributes=TINY_SCHEMA,
                            frame_fourier_features=4, frame_fourier_frequencies=octave_safe_frequencies(4, std))
    torch.testing.assert_close(pairs(safe, value + octave), -pairs(safe, value), atol=1e-5, rtol=0)
    near = (pairs(safe, value + 2.0 / std) - pairs(safe, value)).norm(dim=1)
    far = (pairs(safe, value + octave) - pairs(safe, value)).norm(dim=1)
    torch.testing.assert_close(far, torch.full_like(far, 2 * 4**0.5))
    assert torch.all(far > near)
    with pytest.raises(ValueError, match="frame_fourier_frequencies"):
        LatentDenoiser1D(attributes=TINY_SCHEMA, frame_fourier_features=4, frame_fourier_frequencies=[0.5])
    with pytest.raises(ValueError, match="positive std"):
        octave_safe_frequencies(2, 0.0)
