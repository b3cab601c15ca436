"""Calibrated span confidences: the fitted maps, the measures, and the map applied where
spans are made (the pipeline here; the SavedModel in tests/test_backends.py)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tagger import calibration, model_folder, schemes
from tagger.calibration import Calibration
from tagger.errors import TaggerError
from tagger.pipeline import Tagger
from tests.conftest import DEMO
from tests.helpers import assert_one_line_error, run_cli


def _overconfident(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw confidences whose real probability of being right is much lower near 1."""
    rng = np.random.default_rng(seed)
    raw = rng.beta(5, 1, count)
    logit = np.log(raw) - np.log1p(-raw)
    truth = 1 / (1 + np.exp(-(0.4 * logit - 0.3)))
    return raw, rng.random(count) < truth


def test_isotonic_pools_adjacent_violators_at_their_mean_confidence():
    fitted = calibration.fit(np.array([0.1, 0.2, 0.3, 0.4, 0.4]),
                             np.array([0, 1, 0, 1, 1]), "isotonic")
    assert fitted.x == pytest.approx([0.1, 0.25, 0.4])
    # Each run's fraction right with one more right and one more wrong span: 1/3, 2/4, 3/4.
    assert fitted.y == pytest.approx([1 / 3, 0.5, 0.75])
    assert fitted.spans == 5
    # Between knots it interpolates, beyond them it holds the end values.
    assert fitted(np.array([0.0, 0.175, 0.325, 1.0])) == pytest.approx(
        [1 / 3, 5 / 12, 0.625, 0.75])


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_a_fitted_map_calibrates_confidences_it_was_not_fitted_on(method: str):
    raw, right = _overconfident(4000, seed=1)
    fitted = calibration.fit(raw, right, method)
    held_raw, held_right = _overconfident(4000, seed=2)
    before = calibration.expected_calibration_error(held_raw, held_right)
    after = calibration.expected_calibration_error(fitted(held_raw), held_right)
    assert before > 0.1
    assert after < 0.03  # about the sampling noise of 4,000 spans in 10 bins
    assert np.all(np.diff(fitted.y) >= 0)
    assert fitted.method == method


def test_no_calibration_for_none_or_no_spans():
    assert calibration.fit(np.array([0.5]), np.array([True]), "none") is None
    assert calibration.fit(np.zeros(0), np.zeros(0, bool)) is None
    with pytest.raises(TaggerError, match="choose one of isotonic, platt, none"):
        calibration.fit(np.array([0.5]), np.array([True]), "temperature")


def test_expected_calibration_error_weighs_each_bins_gap_by_its_spans():
    confidences = np.array([0.95, 0.95, 0.55, 0.55, 1.0])
    correct = np.array([1, 0, 1, 1, 1], bool)
    rows = calibration.reliability(confidences, correct)
    assert [(r["low"], r["spans"]) for r in rows] == [(0.5, 2), (0.9, 3)]
    assert rows[1]["confidence"] == pytest.approx((0.95 + 0.95 + 1.0) / 3)
    expected = (2 * 0.45 + 3 * abs((2.9 / 3) - 2 / 3)) / 5
    assert calibration.expected_calibration_error(confidences, correct) == \
        pytest.approx(expected)
    assert calibration.expected_calibration_error(np.zeros(0), np.zeros(0, bool)) == 0


def test_report_gives_precision_and_recall_of_the_spans_each_threshold_keeps():
    found = calibration.report(np.array([0.95, 0.8, 0.6, 0.3]),
                               np.array([True, False, True, True]), gold_spans=5)
    assert found["min_confidence"]["0.5"] == {"spans": 3, "precision": pytest.approx(2 / 3),
                                              "recall": pytest.approx(2 / 5)}
    assert found["min_confidence"]["0.9"] == {"spans": 1, "precision": 1.0,
                                              "recall": pytest.approx(1 / 5)}
    assert "expected calibration error" in calibration.format_report(found)


def test_the_noise_floor_is_what_calibrated_confidences_show_and_shrinks_with_spans():
    few, many = np.full(50, 0.7), np.full(5000, 0.7)
    assert 0.02 < calibration.noise_floor(few) < 0.1
    assert calibration.noise_floor(many) < calibration.noise_floor(few) / 5
    assert calibration.noise_floor(np.ones(10)) == 0  # sure and right: no noise


@pytest.mark.parametrize("x, y", [([0.5, 0.4], [0.1, 0.2]), ([0.1, 0.2], [0.3, 0.2]),
                                  ([0.1], [1.5]), ([], [])])
def test_a_calibration_refuses_knots_that_do_not_make_a_monotone_map(x, y):
    with pytest.raises(TaggerError, match="increasing knots"):
        Calibration(x, y, "isotonic", 3)


def test_a_trained_entity_model_maps_its_spans_lowest_confidence(demo_model: Path):
    tagger = Tagger.load(demo_model, "keras")
    fitted = tagger.config.calibration
    assert fitted is not None and len(fitted.x) > 1
    metrics = model_folder.read_metrics(demo_model)["calibration"]
    assert metrics["method"] == "isotonic"
    assert metrics["held_out_sentences"] == 100
    texts = DEMO.joinpath("dev.conll").read_text(encoding="utf-8").split("\n\n")[:60]
    sentences = [[line.split()[0] for line in block.splitlines()] for block in texts]
    calibrated = tagger.tag_conll_sentences(sentences)
    tagger.calibrate(None)
    raw = tagger.tag_conll_sentences(sentences)
    spans = 0
    for before, after in zip(raw, calibrated, strict=True):
        for span, mapped in zip(before.spans, after.spans, strict=True):
            tokens = [c for (a, b), c in zip(before.offsets, before.confidences, strict=True)
                      if a >= span.start and b <= span.end]
            assert span.confidence == min(tokens)
            assert mapped.confidence == pytest.approx(float(fitted(np.array([min(tokens)]))[0]))
            spans += 1
    assert spans > 20


def test_a_config_keeps_its_calibration_and_an_older_one_has_none(demo_model: Path):
    config = model_folder.read(demo_model)
    data = json.loads(json.dumps(config.to_json()))
    assert model_folder.ModelConfig.from_json(data) == config
    del data["calibration"]
    assert model_folder.ModelConfig.from_json(data) == dataclasses.replace(config,
                                                                           calibration=None)


def test_calibrate_writes_a_verified_folder_with_the_new_map(demo_model: Path, tmp_path: Path):
    output = tmp_path / "platt"
    result = run_cli("calibrate", demo_model, "--method", "platt", "-o", output)
    assert result.exit_code == 0, result.output
    assert "held-out half of validation (100 sentences)" in result.output
    assert result.output.count("expected calibration error") == 2
    config = model_folder.read(output)  # verified against its manifest
    assert config.calibration.method == "platt"
    assert model_folder.read_metrics(output)["calibration"]["method"] == "platt"
    assert model_folder.read(demo_model).calibration.method == "isotonic"  # untouched
    evaluated = run_cli("evaluate", output, "--dataset", DEMO)
    assert "span confidence: expected calibration error" in evaluated.output
    again = run_cli("calibrate", demo_model, "-o", output)
    assert_one_line_error(again, str(output), "already exists")


def test_calibrate_refuses_a_model_of_token_tags(demo_model: Path, tmp_path: Path):
    folder = tmp_path / "pos"
    shutil.copytree(demo_model, folder)
    config = json.loads((folder / model_folder.CONFIG).read_text(encoding="utf-8"))
    config["scheme"] = schemes.TOKEN
    (folder / model_folder.CONFIG).write_text(json.dumps(config), encoding="utf-8")
    result = run_cli("calibrate", folder)
    assert_one_line_error(result, "not entity spans")
