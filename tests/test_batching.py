import numpy as np
import tensorflow as tf

from tagger import batching
from tagger.vocabulary import Vocabulary


def _data(lengths):
    ids = tf.RaggedTensor.from_row_lengths(
        np.arange(1, sum(lengths) + 1, dtype=np.int32) % 50 + 2, lengths)
    targets = tf.RaggedTensor.from_row_lengths(
        np.ones(sum(lengths), dtype=np.int32), lengths)
    return ids, targets


def test_batches_are_padded_per_batch_and_grouped_by_length():
    lengths = [3] * 8 + [60] * 4 + [14] * 8  # three different length buckets
    ids, targets = _data(lengths)
    batches = list(batching.training_dataset(ids, targets, batch_size=4, shuffle=True, seed=0))
    widths = sorted(int(x.shape[1]) for x, _, _ in batches)
    assert widths == [3, 3, 14, 14, 60]  # short batches are not padded to 60
    for x, y, w in batches:
        assert x.shape == y.shape == w.shape
        assert x.dtype == tf.int32 and y.dtype == tf.int32
        np.testing.assert_array_equal(w.numpy(), (x.numpy() != 0).astype(np.float32))
    assert sum(int(w.numpy().sum()) for _, _, w in batches) == sum(lengths)
    assert len(batches) == batching.batch_count(np.array(lengths), 4)


def test_encode_tags_and_sentence_ids():
    targets = batching.encode_tags([["O", "B-X"], ["O"]], ["O", "B-X"])
    assert targets.to_list() == [[0, 1], [0]]
    vocab = Vocabulary.build([["a", "b"]])
    assert batching.sentence_ids(vocab, [["a"], [], ["b", "zz"]]).to_list() == [[2], [], [3, 1]]
    assert batching.sentence_ids(vocab, []).to_list() == []


def test_sorted_batches_cover_every_row_once_within_token_budget():
    lengths = np.array([5, 1, 300, 7, 7, 2, 0])
    batches = list(batching.sorted_batches(lengths, max_tokens=20, max_sentences=3))
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    for rows in batches:
        assert len(rows) <= 3
        assert len(rows) == 1 or len(rows) * lengths[rows].max() <= 20
