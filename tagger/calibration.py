"""Span confidences that mean what they say: a monotone map, fitted on held-out spans, from
a span's raw confidence (its tokens' lowest marginal) to the probability that the span is
right (its exact tokens and type), and the measures of how well confidences are calibrated.

The map is stored in the model folder as knots of a piecewise-linear function (config.json's
`calibration`) and applied wherever spans are made: `records.Records` for the NumPy
pipeline (every backend there) and the SavedModel's graph. Between knots it interpolates;
beyond the first and last it holds their values, as `numpy.interp` does.

Two ways of fitting it (settings `calibration`):
    isotonic  pool-adjacent-violators on the spans sorted by raw confidence: the accuracy
              of each pooled run of spans (counting one more right and one more wrong
              span), at the run's mean confidence
    platt     a logistic curve in the logit of the raw confidence (two parameters)
The alternative of a temperature on the CRF's scores is measured in
scripts/bench_calibration.py (docs/experiments.md#calibrated-confidences).

No TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tagger.errors import TaggerError
from tagger.settings import CALIBRATIONS

BINS = 10  # equal-width bins of the expected calibration error and the reliability diagram
THRESHOLDS = (0.5, 0.7, 0.9)  # the --min-confidence values reports show
# Raw confidences are clipped this far from 0 and 1 before taking their logit.
_EDGE = 1e-6
_PLATT_KNOTS = 64


@dataclass(frozen=True)
class Calibration:
    """A fitted map from raw span confidence to the probability that a span is right:
    knots `x` (strictly increasing) and `y` (non-decreasing) of a piecewise-linear
    function, how it was fitted, and on how many spans."""

    x: list[float]
    y: list[float]
    method: str
    spans: int

    def __post_init__(self) -> None:
        xs, ys = np.asarray(self.x), np.asarray(self.y)
        if (len(xs) != len(ys) or not len(xs) or np.any(np.diff(xs) <= 0)
                or np.any(np.diff(ys) < 0) or np.any((ys < 0) | (ys > 1))):
            raise TaggerError("a calibration needs increasing knots and non-decreasing "
                              "probabilities in [0, 1]; refit it with `tagger calibrate`")

    def __call__(self, confidences: np.ndarray) -> np.ndarray:
        """The calibrated confidences of raw ones, float32."""
        return np.interp(np.asarray(confidences, np.float64), self.x, self.y).astype(np.float32)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        return cls([float(v) for v in data["x"]], [float(v) for v in data["y"]],
                   str(data["method"]), int(data["spans"]))


def fit(confidences: np.ndarray, correct: np.ndarray, method: str = "isotonic"
        ) -> Calibration | None:
    """The map of `method` fitted on spans' raw `confidences` and whether each was right;
    None for method "none" or when there are no spans to fit on."""
    if method not in CALIBRATIONS:
        raise TaggerError(f"calibration method {method!r}: choose one of "
                          f"{', '.join(CALIBRATIONS)}",
                          param="calibration")
    confidences = np.asarray(confidences, np.float64)
    correct = np.asarray(correct, np.float64)
    if method == "none" or not len(confidences):
        return None
    if method == "platt":
        return _platt(confidences, correct)
    return _isotonic(confidences, correct)


def _isotonic(confidences: np.ndarray, correct: np.ndarray) -> Calibration:
    # Spans of equal confidence first pooled, so that knots are distinct.
    values, where = np.unique(confidences, return_inverse=True)
    counts = np.bincount(where).astype(np.float64)
    rights = np.bincount(where, weights=correct)
    # Pool adjacent violators: a stack of runs (confidence sum, right, count).
    sums, hits, sizes = [], [], []
    for value, right, count in zip((values * counts).tolist(), rights.tolist(),
                                   counts.tolist(), strict=True):
        sums.append(value)
        hits.append(right)
        sizes.append(count)
        while len(sizes) > 1 and hits[-2] / sizes[-2] >= hits[-1] / sizes[-1]:
            value, right, count = sums.pop(), hits.pop(), sizes.pop()
            sums[-1] += value
            hits[-1] += right
            sizes[-1] += count
    x = np.asarray(sums) / np.asarray(sizes)
    # Each run's fraction right as if it held one more right and one more wrong span: no
    # span is ever called certain (a run of 12 right of 12 says 13/14), and small runs are
    # pulled toward one half; held-out errors are lower than with plain fractions
    # (docs/experiments.md#calibrated-confidences).
    y = np.maximum.accumulate((np.asarray(hits) + 1) / (np.asarray(sizes) + 2))
    return Calibration(x.tolist(), y.tolist(), "isotonic", len(confidences))


def _platt(confidences: np.ndarray, correct: np.ndarray) -> Calibration:
    """p = sigmoid(a * logit(c) + b) by Newton's method on the log loss, sampled as knots
    evenly spaced in logit(c) over the spans' range."""
    z = _logit(confidences)
    features = np.stack([z, np.ones_like(z)], axis=1)
    weights = np.zeros(2)
    for _ in range(50):
        p = _sigmoid(features @ weights)
        gradient = features.T @ (p - correct)
        hessian = features.T @ (features * (p * (1 - p))[:, None]) + 1e-6 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-9:
            break
    if weights[0] <= 0:  # confidence says nothing here: one value for every span
        weights = np.array([0.0, _logit(np.array([correct.mean()]))[0]])
    knots = np.linspace(z.min(), z.max(), _PLATT_KNOTS) if z.max() > z.min() else z[:1]
    x = _sigmoid(knots)
    x, first = np.unique(x, return_index=True)
    y = _sigmoid(weights[0] * knots[first] + weights[1])
    return Calibration(x.tolist(), np.maximum.accumulate(y).tolist(), "platt",
                       len(confidences))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EDGE, 1 - _EDGE)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray,
                               bins: int = BINS) -> float:
    """The spans' mean gap between confidence and accuracy, bin by bin: the sum over `bins`
    equal-width confidence bins of |mean confidence - fraction right| weighted by the bin's
    share of the spans (0 for no spans)."""
    return sum(abs(row["confidence"] - row["accuracy"]) * row["spans"]
               for row in reliability(confidences, correct, bins)) / max(1, len(confidences))


def reliability(confidences: np.ndarray, correct: np.ndarray, bins: int = BINS
                ) -> list[dict[str, Any]]:
    """Each non-empty equal-width bin of confidence: its bounds, how many spans fall in it,
    their mean confidence and the fraction of them that is right (a reliability diagram's
    points). A confidence of exactly 1 falls in the last bin."""
    confidences = np.asarray(confidences, np.float64)
    correct = np.asarray(correct, np.float64)
    index = np.minimum((confidences * bins).astype(np.int64), bins - 1)
    rows = []
    for b in range(bins):
        inside = index == b
        if inside.any():
            rows.append({"low": b / bins, "high": (b + 1) / bins, "spans": int(inside.sum()),
                         "confidence": float(confidences[inside].mean()),
                         "accuracy": float(correct[inside].mean())})
    return rows


def span_outcomes(gold: Sequence[Iterable[tuple[int, int, str]]], tagged: Sequence[Any]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every predicted span's confidence, whether it is right, and the index of its text:
    `gold` holds each text's (start, end, label) character spans, `tagged` each text's
    `records.Tagged`."""
    confidences, correct, owners = [], [], []
    for i, (wanted, record) in enumerate(zip(gold, tagged, strict=True)):
        wanted = set(wanted)
        for span in record.spans:
            confidences.append(span.confidence)
            correct.append((span.start, span.end, span.label) in wanted)
            owners.append(i)
    return (np.asarray(confidences, np.float64), np.asarray(correct, bool),
            np.asarray(owners, np.int64))


def report(confidences: np.ndarray, correct: np.ndarray, gold_spans: int,
           thresholds: Sequence[float] = THRESHOLDS) -> dict[str, Any]:
    """How well span confidences are calibrated: the expected calibration error, the
    reliability rows, and precision and recall of the spans kept at each threshold (as
    `--min-confidence` keeps them) against all `gold_spans`."""
    kept = {}
    for threshold in thresholds:
        above = confidences >= threshold
        found, right = int(above.sum()), int(correct[above].sum())
        kept[f"{threshold:g}"] = {"spans": found,
                                  "precision": right / found if found else 0.0,
                                  "recall": right / gold_spans if gold_spans else 0.0}
    return {"ece": expected_calibration_error(confidences, correct),
            "ece_floor": noise_floor(confidences),
            "spans": len(confidences), "reliability": reliability(confidences, correct),
            "min_confidence": kept}


def noise_floor(confidences: np.ndarray, draws: int = 200, seed: int = 0) -> float:
    """The expected calibration error that perfectly calibrated confidences would still
    show on this many spans: the mean over `draws` simulations in which each span is right
    with exactly its confidence. Few spans per bin make the measure noisy; a measured
    error near this floor is as low as these spans can show."""
    confidences = np.asarray(confidences, np.float64)
    if not len(confidences):
        return 0.0
    rng = np.random.default_rng(seed)
    return float(np.mean([expected_calibration_error(
        confidences, rng.random(len(confidences)) < confidences) for _ in range(draws)]))


def format_report(found: dict[str, Any]) -> str:
    """`report` as `tagger evaluate` prints it."""
    lines = [f"span confidence: expected calibration error {found['ece'] * 100:.2f}% "
             f"({found['spans']} spans predicted, {BINS} bins; perfectly calibrated ones "
             f"would show about {found['ece_floor'] * 100:.2f}% on so many)"]
    lines += [f"  --min-confidence {threshold}: precision {row['precision'] * 100:.2f}  "
              f"recall {row['recall'] * 100:.2f}  ({row['spans']} spans)"
              for threshold, row in found["min_confidence"].items()]
    return "\n".join(lines)
