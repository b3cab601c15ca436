"""NumPy Viterbi and marginals against brute force and against the TensorFlow CRF."""

import numpy as np
import pytest
import tensorflow as tf

from tagger import decoding
from tagger.backends.keras import crf

from .test_crf import _all_paths, _random_problem


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_viterbi_equals_brute_force_argmax(seed):
    emissions, transitions, start, end, lengths, _ = _random_problem(seed)
    got = decoding.viterbi(emissions, np.array(lengths), transitions, start, end)
    for b, length in enumerate(lengths):
        paths, scores = _all_paths(emissions[b], transitions, start, end, length)
        assert tuple(got[b, :length]) == paths[int(np.argmax(scores))]
        assert not got[b, length:].any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_marginals_equal_brute_force(seed):
    emissions, transitions, start, end, lengths, _ = _random_problem(seed)
    got = decoding.marginals(emissions, np.array(lengths), transitions, start, end)
    for b, length in enumerate(lengths):
        paths, scores = _all_paths(emissions[b], transitions, start, end, length)
        weights = np.exp(scores - np.logaddexp.reduce(scores))
        expected = np.zeros((length, emissions.shape[-1]))
        for path, weight in zip(paths, weights, strict=True):
            expected[np.arange(length), path] += weight
        np.testing.assert_allclose(got[b, :length], expected, atol=1e-5)


def test_long_sentences_agree_with_the_tensorflow_crf():
    """A thousand steps of large scores, two lengths: the same path, the same marginals."""
    rng = np.random.default_rng(1)
    emissions = rng.normal(scale=8.0, size=(2, 1000, 5)).astype(np.float32)
    transitions, start, end = (rng.normal(size=s).astype(np.float32)
                               for s in [(5, 5), 5, 5])
    lengths = np.array([1000, 700])
    mask = tf.sequence_mask(lengths, 1000)
    expected_path = crf.viterbi(emissions, mask, transitions, start, end).numpy()
    expected = crf.marginals(emissions, mask, transitions, start, end).numpy()
    path = decoding.viterbi(emissions, lengths, transitions, start, end)
    got = decoding.marginals(emissions, lengths, transitions, start, end)
    assert (path[0] == expected_path[0]).all() and (path[1, :700] == expected_path[1, :700]).all()
    np.testing.assert_allclose(got[0], expected[0], atol=1e-5)
    np.testing.assert_allclose(got[1, :700], expected[1, :700], atol=1e-5)


def test_marginals_of_far_apart_scores_stay_finite():
    """Emission gaps of hundreds (a confident CRF) under IOB2 constraints: no NaN, sums of 1,
    the same as the TensorFlow CRF."""
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    transitions, start, end = decoding.constraints(labels, "IOB2")
    emissions = np.zeros((1, 3, 5), np.float32)
    emissions[0, 0, 1] = 300.0  # B-PER
    emissions[0, 1, 4] = 400.0  # I-LOC, forbidden after B-PER: the path must leave it
    emissions[0, 2, 0] = 200.0
    got = decoding.marginals(emissions, np.array([3]), transitions, start, end)
    expected = crf.marginals(emissions, tf.sequence_mask([3], 3), transitions, start,
                             end).numpy()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got.sum(axis=2), 1.0, atol=1e-6)
    np.testing.assert_allclose(got, expected, atol=1e-5)
