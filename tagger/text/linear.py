"""Linear models over hashed features, as the learned tokenizer (`text.segmenter`) and the
sentence splitter (`text.sentences`) use them: each feature names a row of a weight table,
a position's label scores are the sum of its features' rows, and training is softmax
regression with Adagrad, kept as integer weights so that every runtime sums alike."""

from __future__ import annotations

import numpy as np

PRIME = 2147483647  # hashes stay below 2**31, so multiplying by MULTIPLIER fits int64
MULTIPLIER = 1000003
RATE = 0.05  # Adagrad's learning rate
SCALE = 256  # float weights times this, rounded, are the integer weights


def hashed(first: int, values: list[np.ndarray], count: int) -> np.ndarray:
    """The hash of each position's `values` (int64 arrays of `count`), seeded by `first`
    (a feature template's number)."""
    result = np.full(count, first, np.int64)
    for value in values:
        np.multiply(result, MULTIPLIER, out=result)
        result += value
        result += 1
        np.remainder(result, PRIME, out=result)
    return result


def fit(features: np.ndarray, labels: np.ndarray, rows: int, classes: int, epochs: int,
        seed: int) -> np.ndarray:
    """Softmax regression on `features` (positions, features: rows of a table of `rows`)
    for `labels` (of `classes`): Adagrad, batches of 2,048; integer weights (rows, classes)."""
    weights = np.zeros((rows, classes), np.float64)
    squares = np.full((rows, classes), 1e-8)
    random = np.random.default_rng(seed)
    width = features.shape[1]
    for _ in range(epochs):
        order = random.permutation(len(labels))
        for first in range(0, len(order), 2048):
            batch = order[first:first + 2048]
            rows_of = features[batch]
            scores = weights[rows_of].sum(axis=1)
            scores -= scores.max(axis=1, keepdims=True)
            probabilities = np.exp(scores)
            probabilities /= probabilities.sum(axis=1, keepdims=True)
            probabilities[np.arange(len(batch)), labels[batch]] -= 1.0
            flat = rows_of.ravel()
            touched, where = np.unique(flat, return_inverse=True)
            gradient = np.zeros((len(touched), classes))
            np.add.at(gradient, where, np.repeat(probabilities, width, axis=0))
            squares[touched] += gradient ** 2
            weights[touched] -= RATE * gradient / np.sqrt(squares[touched])
    return np.round(weights * SCALE).astype(np.int32)
