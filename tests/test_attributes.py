"""The attribute schema's helpers shared by the command line, batch jobs and the benchmark."""

import math

from latentdiff_edit.attributes import AttributeSchema, direction_endpoints
from latentdiff_edit.testing import TINY_SCHEMA


def test_direction_endpoints_start_at_the_source_and_stay_in_range():
    schema = AttributeSchema(TINY_SCHEMA)  # rate in [0, 12], intonation in [0, 15]
    measured = {"rate": 14.0, "intonation": math.nan, "style": "neutral", "pitch": 120.0}
    start, end = direction_endpoints(schema, measured, {"rate": 5.0, "intonation": 3.0, "style": "high-wide-fast"})
    # a measured rate outside the trained range is clipped to it; an unknown (NaN) value starts at the null
    assert start == {"rate": 12.0, "style": "neutral"}
    assert end == {"rate": 5.0, "intonation": 3.0, "style": "high-wide-fast"}
    # an out-of-schema label is no start either
    assert direction_endpoints(schema, {"style": "shouting"}, {"style": "neutral"}) == ({}, {"style": "neutral"})


def test_describe_says_what_values_an_attribute_takes():
    schema = AttributeSchema(TINY_SCHEMA)
    assert schema.describe("style") == "neutral, low-flat-slow, high-wide-fast"
    assert schema.describe("rate") == "range [0.0, 12.0], mean 3, std 1"
    assert schema.describe("f0") == "2 feature(s) per latent frame, measured on the source"


def test_the_envelope_is_normalized_per_coefficient_and_kept_by_edits():
    import numpy as np
    import pytest

    from latentdiff_edit.attributes import SourceAttributes

    spec = {"name": "envelope", "type": "frame", "mean": [float(k) for k in range(12)], "std": [2.0] * 12}
    schema = AttributeSchema([spec])
    assert schema.by_name["envelope"]["dim"] == 12  # the envelope's default
    contour = np.tile(np.arange(12, dtype=np.float32)[:, None], (1, 5)) + 4.0  # each coefficient 4 above its mean
    np.testing.assert_allclose(schema.frame_tensor("envelope", contour).numpy(), np.full((12, 5), 2.0))
    for bad in ({**spec, "mean": [0.0] * 11}, {**spec, "std": [1.0] * 11 + [0.0]},
                {"name": "rate", "type": "continuous", "mean": [1.0]}):
        with pytest.raises(ValueError):
            AttributeSchema([bad])

    source = SourceAttributes(np.full(5, 120.0, np.float32), np.zeros(5, np.float32), {"pitch": 120.0}, contour)
    edited = source.edited(pitch_shift=3.0)
    assert edited.envelope is contour and edited.f0_hz[0] > 140.0
    cut = source.frames(1, 3)
    assert cut.envelope.shape == (12, 2) and cut.f0_hz.shape == (2,) and cut.values == source.values
    conditions = schema.encode([source, SourceAttributes(source.f0_hz, source.energy_db)], 6)
    assert conditions["envelope"].shape == (2, 12, 6)
    assert bool(conditions["envelope"][1].isnan().all())  # none measured: the null
    assert float(conditions["envelope"][0, :, 5].abs().sum()) == 0.0  # padding past the clip
