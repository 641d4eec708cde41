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
