"""The CRF against brute force over every label path, and the scheme constraints."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tagger import decoding, schemes
from tagger.backends.keras import crf


def _random_problem(seed: int, batch: int = 4, steps: int = 4, labels: int = 3):
    rng = np.random.default_rng(seed)
    emissions = rng.normal(size=(batch, steps, labels)).astype(np.float32)
    transitions = rng.normal(size=(labels, labels)).astype(np.float32)
    start, end = (rng.normal(size=labels).astype(np.float32) for _ in range(2))
    lengths = [steps, 2, 1, 3][:batch]
    tags = rng.integers(0, labels, size=(batch, steps)).astype(np.int32)
    return emissions, transitions, start, end, lengths, tags


def _path_score(emissions, transitions, start, end, path):
    score = start[path[0]] + end[path[-1]] + sum(emissions[t, p] for t, p in enumerate(path))
    return score + sum(transitions[a, b] for a, b in itertools.pairwise(path))


def _all_paths(emissions, transitions, start, end, length):
    paths = list(itertools.product(range(emissions.shape[-1]), repeat=length))
    scores = np.array([_path_score(emissions, transitions, start, end, p) for p in paths])
    return paths, scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_likelihood_equals_brute_force(seed):
    emissions, transitions, start, end, lengths, tags = _random_problem(seed)
    mask = tf.sequence_mask(lengths, emissions.shape[1])
    got = crf.log_likelihood(emissions, tags, mask, transitions, start, end).numpy()
    for b, length in enumerate(lengths):
        _, scores = _all_paths(emissions[b], transitions, start, end, length)
        log_z = np.logaddexp.reduce(scores)
        gold = _path_score(emissions[b], transitions, start, end, tags[b, :length])
        assert got[b] == pytest.approx(gold - log_z, abs=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_viterbi_equals_brute_force_argmax(seed):
    emissions, transitions, start, end, lengths, _ = _random_problem(seed)
    mask = tf.sequence_mask(lengths, emissions.shape[1])
    decode = tf.function(crf.viterbi, input_signature=[
        tf.TensorSpec([None, None, 3]), tf.TensorSpec([None, None], tf.bool),
        tf.TensorSpec([3, 3]), tf.TensorSpec([3]), tf.TensorSpec([3])])
    for got in (crf.viterbi(emissions, mask, transitions, start, end).numpy(),
                decode(emissions, mask, transitions, start, end).numpy()):
        for b, length in enumerate(lengths):
            paths, scores = _all_paths(emissions[b], transitions, start, end, length)
            assert tuple(got[b, :length]) == paths[int(np.argmax(scores))]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_marginals_equal_brute_force(seed):
    emissions, transitions, start, end, lengths, _ = _random_problem(seed)
    mask = tf.sequence_mask(lengths, emissions.shape[1])
    got = crf.marginals(emissions, mask, transitions, start, end).numpy()
    for b, length in enumerate(lengths):
        paths, scores = _all_paths(emissions[b], transitions, start, end, length)
        weights = np.exp(scores - np.logaddexp.reduce(scores))
        expected = np.zeros((length, emissions.shape[-1]))
        for path, weight in zip(paths, weights, strict=True):
            expected[np.arange(length), path] += weight
        np.testing.assert_allclose(got[b, :length], expected, atol=1e-5)
        np.testing.assert_allclose(got[b, :length].sum(axis=1), 1.0, atol=1e-5)


def test_marginals_of_a_long_sentence_keep_float32_precision():
    """A thousand steps of large scores: float32 marginals stay within 1e-5 of float64 (an
    unnormalized forward-backward is off by 2e-2 here)."""
    rng = np.random.default_rng(0)
    emissions = rng.normal(scale=8.0, size=(2, 1000, 5))
    transitions, start, end = (rng.normal(size=s) for s in [(5, 5), 5, 5])
    mask = tf.sequence_mask([1000, 700], 1000)
    marginals = tf.function(crf.marginals)
    exact = marginals(emissions, mask, transitions, start, end).numpy()
    single = marginals(*(a.astype(np.float32) for a in (emissions,)), mask,
                       *(a.astype(np.float32) for a in (transitions, start, end))).numpy()
    np.testing.assert_allclose(single[0], exact[0], atol=1e-5)
    np.testing.assert_allclose(single[1, :700], exact[1, :700], atol=1e-5)


def test_marginals_respect_constraints_and_compile():
    transitions, start, end = decoding.constraints(IOB2_LABELS, schemes.IOB2)
    emissions = np.random.default_rng(0).normal(size=(2, 3, 5)).astype(np.float32)
    mask = tf.sequence_mask([3, 1], 3)
    got = tf.function(crf.marginals)(emissions, mask, transitions, start, end).numpy()
    assert got[0, 0, [2, 4]].max() < 1e-6  # no sentence starts inside an entity
    np.testing.assert_allclose(got[1, 0].sum(), 1.0, atol=1e-5)


def test_one_step_batches_in_a_graph():
    emissions = np.array([[[0.0, 2.0, 1.0]], [[3.0, 0.0, 0.0]]], np.float32)
    zeros, square = np.zeros(3, np.float32), np.zeros((3, 3), np.float32)
    mask = tf.ones((2, 1), tf.bool)
    viterbi = tf.function(crf.viterbi, reduce_retracing=True)
    assert viterbi(emissions, mask, square, zeros, zeros).numpy().tolist() == [[1], [0]]
    likelihood = tf.function(crf.log_likelihood)
    got = likelihood(emissions, np.array([[1], [0]], np.int32), mask, square, zeros, zeros)
    expected = [2.0 - np.logaddexp.reduce([0.0, 2.0, 1.0]), 3.0 - np.logaddexp.reduce([3, 0, 0])]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)


IOB2_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_iob2_constraints():
    transitions, start, end = decoding.constraints(IOB2_LABELS, schemes.IOB2)
    allowed = {(a, b) for i, a in enumerate(IOB2_LABELS) for j, b in enumerate(IOB2_LABELS)
               if transitions[i, j] == 0}
    assert ("O", "I-PER") not in allowed and ("B-LOC", "I-PER") not in allowed
    assert ("B-PER", "I-PER") in allowed and ("I-PER", "I-PER") in allowed
    assert ("I-PER", "B-PER") in allowed and ("O", "B-LOC") in allowed
    assert [label for label, s in zip(IOB2_LABELS, start, strict=True) if s < 0] == [
        "I-PER", "I-LOC"]
    assert not end.any()


def test_iobes_constraints():
    labels = ["O", "B-X", "I-X", "E-X", "S-X"]
    transitions, start, end = decoding.constraints(labels, schemes.IOBES)
    ok = {(labels[i], labels[j]) for i in range(5) for j in range(5) if transitions[i, j] == 0}
    assert ok == {("O", "O"), ("O", "B-X"), ("O", "S-X"), ("B-X", "I-X"), ("B-X", "E-X"),
                  ("I-X", "I-X"), ("I-X", "E-X"), ("E-X", "O"), ("E-X", "B-X"),
                  ("E-X", "S-X"), ("S-X", "O"), ("S-X", "B-X"), ("S-X", "S-X")}
    assert {labels[j] for j in range(5) if start[j] == 0} == {"O", "B-X", "S-X"}
    assert {labels[j] for j in range(5) if end[j] == 0} == {"O", "E-X", "S-X"}


def test_token_scheme_has_no_constraints():
    transitions, start, end = decoding.constraints(["NOUN", "VERB"], schemes.TOKEN)
    assert not transitions.any() and not start.any() and not end.any()


def test_constrained_decoding_never_puts_i_after_o_or_at_the_start():
    """Random scores that favour I- tags: the decoded paths stay valid IOB2."""
    rng = np.random.default_rng(7)
    emissions = rng.normal(size=(200, 9, len(IOB2_LABELS))).astype(np.float32)
    emissions[:, :, [2, 4]] += 2.0  # push I-PER and I-LOC
    transitions, start, end = decoding.constraints(IOB2_LABELS, schemes.IOB2)
    lengths = rng.integers(1, 10, size=200)
    mask = tf.sequence_mask(lengths, 9)
    paths = crf.viterbi(emissions, mask, transitions, start, end).numpy()
    for path, length in zip(paths, lengths, strict=True):
        tags = [IOB2_LABELS[i] for i in path[:length]]
        previous = "O"
        for tag in tags:
            if tag.startswith("I-"):
                assert previous in (f"B-{tag[2:]}", tag), tags
            previous = tag
