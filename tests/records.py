"""Comparing tagged records: confidences are floats that move by float32 rounding between
batch compositions (and round to a neighbouring 4th decimal); everything else is exact."""

import pytest

# Rounding to 4 decimals on either side of a float32 wobble.
CONFIDENCE_TOLERANCE = 2e-4


def without_confidences(record: dict) -> dict:
    return {**record, "confidences": None,
            "spans": [{**s, "confidence": None} for s in record["spans"]]}


def assert_same_records(got: list[dict], expected: list[dict]) -> None:
    """Equal records: tokens, offsets, tags and spans exactly, confidences within rounding."""
    assert [without_confidences(r) for r in got] == [without_confidences(r) for r in expected]
    for a, b in zip(got, expected, strict=True):
        assert a["confidences"] == pytest.approx(b["confidences"], abs=CONFIDENCE_TOLERANCE)
        assert [s["confidence"] for s in a["spans"]] == pytest.approx(
            [s["confidence"] for s in b["spans"]], abs=CONFIDENCE_TOLERANCE)
