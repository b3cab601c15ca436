"""Scores to labels, for every backend: the scheme's constraints, Viterbi and CRF marginals
in NumPy, and `Decoder`, which applies the model's decoding rule.

The keras backend's `crf` runs the same algorithms in TensorFlow for training and inside the
SavedModel; everything else decodes here. Shapes:
emissions `(batch, timesteps, labels)` float32, `lengths` `(batch,)` with each sentence's
real steps first. `transitions[i, j]` scores label j right after label i; `start[j]` and
`end[j]` score a sentence starting / ending in j.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from tagger import schemes

# Added to the score of a transition the scheme forbids: far below any real score, yet
# finite, so that sums and logsumexp stay free of NaN.
FORBIDDEN = -1e4


def constraints(labels: Sequence[str], scheme: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Additive masks (0 or FORBIDDEN) for transitions, starts and ends under `scheme`.

    IOB2: I-X only after B-X or I-X. IOBES also: I-X and E-X only after B-X or I-X, B-X and
    I-X only before I-X or E-X; a sentence starts in O, B or S and ends in O, E or S.
    """
    size = len(labels)
    transitions, start, end = (np.zeros((size, size), np.float32), np.zeros(size, np.float32),
                               np.zeros(size, np.float32))
    if scheme == schemes.TOKEN:
        return transitions, start, end
    parts = [schemes.split_tag(label) for label in labels]
    inside = {"I"} if scheme == schemes.IOB2 else {"I", "E"}
    opened = {"B", "I"}  # an entity that continues
    for j, (prefix, kind) in enumerate(parts):
        if prefix in inside:
            start[j] = FORBIDDEN
        if scheme == schemes.IOBES and prefix in opened:
            end[j] = FORBIDDEN
        for i, (p_prefix, p_kind) in enumerate(parts):
            continues = p_prefix in opened and p_kind == kind
            if prefix in inside and not continues:
                transitions[i, j] = FORBIDDEN
            if scheme == schemes.IOBES and p_prefix in opened and not (
                    prefix in inside and p_kind == kind):
                transitions[i, j] = FORBIDDEN
    return transitions, start, end


def viterbi(emissions: np.ndarray, lengths: np.ndarray, transitions: np.ndarray,
            start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The best label path per sentence, `(batch, timesteps)` int32 (padding: label 0)."""
    batch, steps, size = emissions.shape
    score = start + emissions[:, 0]
    pointers = np.empty((steps, batch, size), np.int32)
    pointers[0] = 0
    # At padded steps the path stays where it is: score unchanged, pointer to itself.
    identity = np.broadcast_to(np.arange(size, dtype=np.int32), (batch, size))
    real = (np.arange(steps)[:, None] < lengths[None])[:, :, None]  # (T, batch, 1)
    for t in range(1, steps):
        candidates = score[:, :, None] + transitions[None]  # (batch, from, to)
        best_from = candidates.argmax(axis=1)
        new = np.take_along_axis(candidates, best_from[:, None], axis=1)[:, 0]
        new += emissions[:, t]
        score = np.where(real[t], new, score)
        pointers[t] = np.where(real[t], best_from, identity)
    path = np.zeros((batch, steps), np.int32)
    tag = (score + end).argmax(axis=1)
    rows = np.arange(batch)
    for t in range(steps - 1, -1, -1):
        path[:, t] = tag
        tag = pointers[t, rows, tag]
    path[~real[:, :, 0].T] = 0
    return path


def marginals(emissions: np.ndarray, lengths: np.ndarray, transitions: np.ndarray,
              start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """p(label j at step t | sentence) by forward-backward, `(batch, timesteps, labels)`.

    Scaled forward-backward in probability space: every step's scores are shifted by their
    largest before exponentiating and the forward and backward vectors normalized to sum to
    1, so that nothing overflows (log Z of a long sentence runs into the thousands) and each
    step costs a small matrix product rather than a logsumexp. In float64, scores 700 below
    a step's best still count. Forbidden transitions have probability 0. Padded steps get
    arbitrary values.
    """
    batch, steps, size = emissions.shape
    emissions = emissions.astype(np.float64)
    moves = np.exp(transitions - transitions.max(), dtype=np.float64)  # (from, to)
    weights = np.exp(emissions - emissions.max(axis=2, keepdims=True))  # (batch, T, labels)
    real = (np.arange(steps)[None] < lengths[:, None]).T[:, :, None]  # (T, batch, 1)

    def normalized(scores: np.ndarray) -> np.ndarray:
        return scores / scores.sum(axis=1, keepdims=True)

    alphas = np.empty((steps, batch, size))
    alphas[0] = normalized(np.exp(start - start.max(), dtype=np.float64) * weights[:, 0])
    for t in range(1, steps):
        alphas[t] = np.where(real[t], normalized((alphas[t - 1] @ moves) * weights[:, t]),
                             alphas[t - 1])
    ends = normalized(np.broadcast_to(np.exp(end - end.max(), dtype=np.float64),
                                      (batch, size)))
    betas = np.empty((steps, batch, size))
    betas[steps - 1] = ends
    for t in range(steps - 2, -1, -1):
        betas[t] = np.where(real[t + 1],
                            normalized((weights[:, t + 1] * betas[t + 1]) @ moves.T), ends)
    joint = (alphas * betas).transpose(1, 0, 2)
    return (joint / joint.sum(axis=2, keepdims=True)).astype(np.float32)


class CrfScores(NamedTuple):
    """A trained CRF's own scores: label-to-label transitions, starting, ending."""

    transitions: np.ndarray
    start: np.ndarray
    end: np.ndarray


class Decoder:
    """A network's per-step scores `(batch, T, labels)` to the best label ids and each one's
    probability, both `(batch, T)`, by the model's rule:

    - a CRF head (`crf` given): Viterbi over its emission scores plus its own and the
      scheme's transition scores; the probability is the label's marginal given the text;
    - a softmax head with an entity scheme: Viterbi over the log-probabilities under the
      scheme's constraints, so that no path has an impossible transition such as O -> I-PER;
    - a softmax head with token tags (POS): each step's argmax.
    """

    # Keeps log(0) finite for labels a softmax gives no probability.
    LOG_FLOOR = np.float32(1e-9)

    def __init__(self, labels: Sequence[str], scheme: str, crf: CrfScores | None) -> None:
        self.crf = crf is not None
        self.argmax_only = crf is None and scheme == schemes.TOKEN
        masks = constraints(labels, scheme)
        self.scores = masks if crf is None else tuple(
            np.asarray(own, np.float32) + mask for own, mask in zip(crf, masks, strict=True))

    def __call__(self, scores: np.ndarray, lengths: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        if self.argmax_only:
            best = scores.argmax(axis=-1).astype(np.int32)
            return best, np.take_along_axis(scores, best[..., None], axis=2)[..., 0]
        emissions = scores if self.crf else np.log(scores + self.LOG_FLOOR)
        best = viterbi(emissions, lengths, *self.scores)
        probabilities = marginals(emissions, lengths, *self.scores) if self.crf else scores
        return best, np.take_along_axis(probabilities, best[..., None], axis=2)[..., 0]
