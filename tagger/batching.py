"""Sentences to padded id tensors: `tf.data` for training, sorted batches for tagging."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf

from tagger.vocabulary import PAD_ID, Vocabulary

# Sentences are grouped by length so that a batch pads only to its own longest sentence.
BUCKET_BOUNDARIES = [8, 12, 16, 20, 25, 30, 40, 50, 64, 96, 128]


def encode_tags(sentences: Sequence[Sequence[str]], labels: Sequence[str]) -> tf.RaggedTensor:
    """Tag strings to label ids, ragged `(sentences, tokens)`; an unknown tag is an error."""
    index = {label: i for i, label in enumerate(labels)}
    flat = [index[t] for tags in sentences for t in tags]
    return tf.RaggedTensor.from_row_lengths(
        np.asarray(flat, dtype=np.int32), [len(t) for t in sentences])


def training_dataset(ids: tf.RaggedTensor, targets: tf.RaggedTensor, batch_size: int,
                     *, shuffle: bool, seed: int | None = None) -> tf.data.Dataset:
    """Batches of `(ids, targets, weights)`, each `(batch, timesteps)`, padded per batch.

    Weights are 1.0 on real tokens and 0.0 on padding, so padded steps count in neither the
    loss nor the metrics.
    """
    # Elements are dense 1-D slices of the flat values (padded_batch does not take ragged ones).
    ids_flat, targets_flat = ids.flat_values, targets.flat_values
    data = tf.data.Dataset.from_tensor_slices((ids.row_starts(), ids.row_limits()))
    if shuffle:
        data = data.shuffle(int(ids.nrows()), seed=seed, reshuffle_each_iteration=True)
    data = data.map(lambda start, end: (ids_flat[start:end], targets_flat[start:end]))
    data = data.bucket_by_sequence_length(
        lambda x, _: tf.shape(x)[0],
        bucket_boundaries=BUCKET_BOUNDARIES,
        bucket_batch_sizes=[batch_size] * (len(BUCKET_BOUNDARIES) + 1),
        padding_values=(PAD_ID, 0),
    )
    data = data.map(lambda x, y: (x, y, tf.cast(x != PAD_ID, tf.float32)))
    # Bucketing hides the number of batches from tf.data; stating it lets Keras know when
    # an epoch ends.
    data = data.apply(tf.data.experimental.assert_cardinality(
        batch_count(ids.row_lengths().numpy(), batch_size)))
    return data.prefetch(tf.data.AUTOTUNE)


def batch_count(lengths: np.ndarray, batch_size: int) -> int:
    """Batches per epoch of `training_dataset`: each length bucket is batched on its own."""
    buckets = np.searchsorted(BUCKET_BOUNDARIES, lengths, side="right")
    return sum(math.ceil(n / batch_size) for n in np.bincount(buckets) if n)


def sentence_ids(vocabulary: Vocabulary, sentences: Sequence[Sequence[str]]) -> tf.RaggedTensor:
    """Word ids of pre-tokenized sentences, ragged `(sentences, tokens)`."""
    tokens = tf.ragged.constant([list(s) for s in sentences], dtype=tf.string, ragged_rank=1) \
        if sentences else tf.ragged.constant([[]], dtype=tf.string)[:0]
    return vocabulary.lookup(tokens)


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


def pad(ids: tf.RaggedTensor, rows: np.ndarray) -> np.ndarray:
    """The given rows of ragged ids as a dense `(len(rows), longest)` int32 array."""
    return tf.gather(ids, rows).to_tensor(default_value=PAD_ID).numpy()
