"""A linear-chain CRF in TensorFlow: sequence log-likelihood, Viterbi, marginals.

Shapes: emissions `(batch, timesteps, labels)` float, tags `(batch, timesteps)` int32, mask
`(batch, timesteps)` bool with each sentence's real steps first. `transitions[i, j]` scores
label j right after label i; `start[j]` and `end[j]` score a sentence starting / ending in j.
"""

from __future__ import annotations

import tensorflow as tf


def log_likelihood(emissions: tf.Tensor, tags: tf.Tensor, mask: tf.Tensor,
                   transitions: tf.Tensor, start: tf.Tensor, end: tf.Tensor) -> tf.Tensor:
    """log p(tags | emissions) per sentence, `(batch,)`; sentences need one real step."""
    return _path_score(emissions, tags, mask, transitions, start, end) - _log_partition(
        emissions, mask, transitions, start, end)


def _path_score(emissions, tags, mask, transitions, start, end):
    maskf = tf.cast(mask, emissions.dtype)
    emitted = tf.gather(emissions, tags, axis=2, batch_dims=2) * maskf
    pairs = tf.gather_nd(transitions, tf.stack([tags[:, :-1], tags[:, 1:]], axis=-1))
    last = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1) - 1
    last_tags = tf.gather(tags, last, axis=1, batch_dims=1)
    return (tf.reduce_sum(emitted, axis=1) + tf.reduce_sum(pairs * maskf[:, 1:], axis=1)
            + tf.gather(start, tags[:, 0]) + tf.gather(end, last_tags))


def _with_padded_step(emissions, mask):
    """One more, padded, step: loops over steps 1.. then never run zero times, which graphs
    cannot stack; padded steps change nothing."""
    return tf.pad(emissions, [[0, 0], [0, 1], [0, 0]]), tf.pad(mask, [[0, 0], [0, 1]])


def _log_partition(emissions, mask, transitions, start, end):
    """The forward algorithm: log of the sum over all label paths of exp(path score)."""
    emissions, mask = _with_padded_step(emissions, mask)
    alpha = start + emissions[:, 0]

    def step(alpha, inputs):
        emission, real = inputs
        scores = tf.reduce_logsumexp(alpha[:, :, None] + transitions[None], axis=1) + emission
        return tf.where(real[:, None], scores, alpha)  # padded steps carry alpha unchanged

    alpha = tf.foldl(step, (tf.transpose(emissions[:, 1:], [1, 0, 2]),
                            tf.transpose(mask[:, 1:])), initializer=alpha)
    return tf.reduce_logsumexp(alpha + end, axis=1)


def marginals(emissions: tf.Tensor, mask: tf.Tensor, transitions: tf.Tensor, start: tf.Tensor,
              end: tf.Tensor) -> tf.Tensor:
    """p(label j at step t | sentence) by forward-backward, `(batch, timesteps, labels)`.

    Each real step's marginals sum to 1; padded steps get arbitrary values. The forward and
    backward scores are renormalized at every step and each step's marginals normalized on
    their own: log Z of a long sentence runs into the thousands, where float32 would leave
    errors of 1e-3 in exp(score - log Z).
    """
    emissions, mask = _with_padded_step(emissions, mask)
    by_step = tf.transpose(emissions, [1, 0, 2])  # (T + 1, batch, labels)
    real = tf.transpose(mask)

    def normalized(scores):
        return scores - tf.reduce_logsumexp(scores, axis=1, keepdims=True)

    def forward(alpha, inputs):
        emission, real_step = inputs
        scores = tf.reduce_logsumexp(alpha[:, :, None] + transitions[None], axis=1) + emission
        return tf.where(real_step[:, None], normalized(scores), alpha)

    first = normalized(start + by_step[0])
    alphas = tf.scan(forward, (by_step[1:], real[1:]), initializer=first)
    alphas = tf.concat([first[None], alphas], axis=0)  # (T + 1, batch, labels)

    def backward(beta, inputs):
        # beta of step t from step t + 1's emission and beta; a sentence's last real step
        # (the next one padded) gets the end scores.
        next_emission, next_real = inputs
        scores = tf.reduce_logsumexp(
            transitions[None] + (next_emission + beta)[:, None, :], axis=2)
        return normalized(tf.where(next_real[:, None], scores,
                                   tf.broadcast_to(end, tf.shape(beta))))

    last = normalized(tf.broadcast_to(end, tf.shape(by_step[0])))
    betas = tf.scan(backward, (by_step[1:], real[1:]), initializer=last, reverse=True)
    betas = tf.concat([betas, last[None]], axis=0)
    return tf.nn.softmax(tf.transpose(alphas + betas, [1, 0, 2])[:, :-1], axis=-1)


def viterbi(emissions: tf.Tensor, mask: tf.Tensor, transitions: tf.Tensor, start: tf.Tensor,
            end: tf.Tensor) -> tf.Tensor:
    """The best label path per sentence, `(batch, timesteps)` int32 (padding: any label)."""
    steps = tf.shape(emissions)[1]
    emissions, mask = _with_padded_step(emissions, mask)
    size = tf.shape(emissions)[2]
    score = start + emissions[:, 0]

    def forward(carry, inputs):
        score, _ = carry
        emission, real = inputs
        candidates = score[:, :, None] + transitions[None]  # (batch, from, to)
        best_from = tf.argmax(candidates, axis=1, output_type=tf.int32)
        new = tf.reduce_max(candidates, axis=1) + emission
        # At padded steps the path stays where it is: score unchanged, pointer to itself.
        identity = tf.broadcast_to(tf.range(size)[None], tf.shape(best_from))
        return (tf.where(real[:, None], new, score),
                tf.where(real[:, None], best_from, identity))

    inputs = (tf.transpose(emissions[:, 1:], [1, 0, 2]), tf.transpose(mask[:, 1:]))
    first_pointer = tf.zeros_like(score, dtype=tf.int32)
    scores, pointers = tf.scan(forward, inputs, initializer=(score, first_pointer))
    last = tf.argmax(scores[-1] + end, axis=1, output_type=tf.int32)

    def backward(tag, pointer):
        return tf.gather(pointer, tag, axis=1, batch_dims=1)

    earlier = tf.scan(backward, pointers, initializer=last, reverse=True)  # (T, batch)
    path = tf.transpose(tf.concat([earlier, last[None]], axis=0))  # (batch, T + 1)
    return path[:, :steps]
