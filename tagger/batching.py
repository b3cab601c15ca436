"""Features to padded batches: `tf.data` for training, length-sorted batches for tagging."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from tagger.text.vocabulary import PAD_ID, UNK_ID

if TYPE_CHECKING:  # imported where used: the tagging pipeline batches without it
    import tensorflow as tf

# Sentences are grouped by length so that a batch pads only to its own longest sentence.
BUCKET_BOUNDARIES = [8, 12, 16, 20, 25, 30, 40, 50, 64, 96, 128]


# The target of a token whose label its head leaves out (`heads.TagHead.loss` skips it).
NO_LABEL = -1


def encode_tags(sentences: Sequence[Sequence[str]], labels: Sequence[str], *,
                known_only: bool = True) -> tf.RaggedTensor:
    """Tag strings to label ids, ragged `(sentences, tokens)`; with `known_only` off, a tag
    not in `labels` becomes NO_LABEL."""
    import tensorflow as tf

    index = {label: i for i, label in enumerate(labels)}
    flat = [index[t] if known_only else index.get(t, NO_LABEL)
            for tags in sentences for t in tags]
    return tf.RaggedTensor.from_row_lengths(
        np.asarray(flat, dtype=np.int32), [len(t) for t in sentences])


def training_stream(features: dict[str, tf.RaggedTensor], targets: tuple[tf.RaggedTensor, ...],
                    batch_size: int, *, seed: int, trained: int = 0, word_dropout: float = 0.0,
                    rare_from: int | None = None, shard: tuple[int, int] | None = None
                    ) -> tf.data.Dataset:
    """Batches of `(features, targets, weights)`, epoch after epoch without end, padded per
    batch and grouped by length; the caller counts the steps of an epoch (`batch_count`).

    Features are `(batch, timesteps[, chars])`; targets (a tuple, one per head, with the
    same rows) and weights `(batch, timesteps)`.
    Weights are 1.0 on real tokens and 0.0 on padding, so padded steps count in neither the
    loss nor the metrics. With `word_dropout`, each word id from `rare_from` on (the words
    seen once) becomes UNK_ID with that probability, so the model learns what to do with
    words it has never seen. With `shard=(workers, index)`, this worker's share of each
    epoch's shuffled sentences (the same seed gives every worker the same order).

    Epoch e's order and word dropout depend on `seed` and e alone, so a stream that skips the
    `trained` batches a resumed training has done gives the batches of a training that never
    stopped.
    """
    import tensorflow as tf

    # Elements are dense slices of each feature's per-token values (padded_batch does not
    # take ragged ones), cut out by the sentence's row offsets.
    token_values = {name: f.values for name, f in features.items()}
    target_values = tuple(t.values for t in targets)
    rows = tf.data.Dataset.from_tensor_slices((targets[0].row_starts(),
                                               targets[0].row_limits()))
    worker = shard[1] if shard else 0
    size = int(targets[0].nrows())

    def sentence(start: tf.Tensor, end: tf.Tensor):
        cut = {name: v[start:end] for name, v in token_values.items()}
        cut = {name: v.to_tensor() if isinstance(v, tf.RaggedTensor) else v
               for name, v in cut.items()}
        return cut, tuple(values[start:end] for values in target_values)

    def epoch(e: tf.Tensor) -> tf.data.Dataset:
        data = rows.shuffle(size, seed=seed * 100_003 + e,
                            reshuffle_each_iteration=False)
        if shard:
            data = data.shard(*shard)
        data = data.map(sentence, num_parallel_calls=tf.data.AUTOTUNE)
        data = data.bucket_by_sequence_length(
            lambda x, _: tf.shape(x["words"])[0],
            bucket_boundaries=BUCKET_BOUNDARIES,
            bucket_batch_sizes=[batch_size] * (len(BUCKET_BOUNDARIES) + 1),
            padding_values=({name: tf.constant(PAD_ID, f.dtype)
                             for name, f in features.items()}, (0,) * len(targets)),
        )
        key = tf.random.experimental.stateless_fold_in(
            tf.stack([tf.constant(seed, tf.int64), e]), worker)
        return data.enumerate().map(lambda i, batch: finish(key, i, *batch))

    def finish(key: tf.Tensor, i: tf.Tensor, x: dict[str, tf.Tensor], y: tf.Tensor):
        words = x["words"]
        if word_dropout > 0 and rare_from is not None:
            draw = tf.random.stateless_uniform(
                tf.shape(words), tf.random.experimental.stateless_fold_in(key, i))
            x = {**x, "words": tf.where((draw < word_dropout) & (words >= rare_from),
                                        UNK_ID, words)}
        return x, y, tf.cast(words != PAD_ID, tf.float32)

    per_epoch = batch_count(targets[0].row_lengths().numpy(), batch_size)
    # Without shards every epoch has exactly `per_epoch` batches: start at the right epoch
    # rather than make and skip the batches done. A worker's share is not a whole number of
    # steps, so its stream runs on over epoch boundaries and is skipped batch by batch.
    first, skip = (0, trained) if shard else divmod(trained, per_epoch)
    data = tf.data.Dataset.range(first, 2**62).flat_map(epoch).skip(skip)
    return data.prefetch(tf.data.AUTOTUNE)


def batch_count(lengths: np.ndarray, batch_size: int) -> int:
    """Batches per epoch of `training_stream`: each length bucket is batched on its own."""
    buckets = np.searchsorted(BUCKET_BOUNDARIES, lengths, side="right")
    return sum(math.ceil(n / batch_size) for n in np.bincount(buckets) if n)


def positions_in_rows(sizes: np.ndarray, counts: Sequence[int] | np.ndarray) -> np.ndarray:
    """Where each item starts within its row, for items of `sizes` laid end to end and cut
    into rows of `counts` items: token indices for sizes of 1, character offsets for each
    token's length plus a space."""
    counts = np.asarray(counts, np.int64)
    before = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
    first = np.cumsum(counts) - counts  # each row's first item
    return before[:-1] - np.repeat(before[first], counts)


def sorted_batches(lengths: np.ndarray, max_tokens: int, max_sentences: int
                   ) -> Iterator[np.ndarray]:
    """Indices of sentences in batches of similar length, longest first.

    A batch holds at most `max_sentences` sentences and about `max_tokens` padded tokens, so
    a few very long lines cannot blow up memory.
    """
    order = np.argsort(-lengths, kind="stable")
    start = 0
    while start < len(order):
        longest = max(int(lengths[order[start]]), 1)
        size = max(1, min(max_sentences, max_tokens // longest))
        yield order[start:start + size]
        start += size
