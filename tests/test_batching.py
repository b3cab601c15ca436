import numpy as np
import tensorflow as tf

from tagger import batching
from tagger.text.vocabulary import UNK_ID


def _data(lengths, word_ids=None):
    total = sum(lengths)
    words = np.arange(total, dtype=np.int32) % 50 + 2 if word_ids is None else word_ids
    chars = tf.RaggedTensor.from_row_lengths(
        tf.RaggedTensor.from_row_lengths(np.ones(total * 3, dtype=np.int32), [3] * total),
        lengths)
    features = {"words": tf.RaggedTensor.from_row_lengths(words, lengths), "chars": chars}
    targets = tf.RaggedTensor.from_row_lengths(np.ones(total, dtype=np.int32), lengths)
    # A second head's targets: each token's position in its sentence.
    positions = tf.RaggedTensor.from_row_lengths(
        np.concatenate([np.arange(n, dtype=np.int32) for n in lengths]), lengths)
    return features, (targets, positions)


def test_batches_are_padded_per_batch_and_grouped_by_length():
    lengths = [3] * 8 + [60] * 4 + [14] * 8  # three different length buckets
    features, targets = _data(lengths)
    count = batching.batch_count(np.array(lengths), 4)
    batches = list(batching.training_stream(features, targets, batch_size=4, seed=0)
                   .take(count))
    widths = sorted(int(x["words"].shape[1]) for x, _, _ in batches)
    assert widths == [3, 3, 14, 14, 60]  # short batches are not padded to 60
    for x, (y, positions), w in batches:
        assert x["words"].shape == y.shape == positions.shape == w.shape
        assert x["chars"].shape == (*x["words"].shape, 3)
        assert x["words"].dtype == tf.int32 and y.dtype == tf.int32
        # Every head's targets stay with their sentence: real steps count 0, 1, 2, ...
        steps = np.broadcast_to(np.arange(y.shape[1]), y.shape)
        np.testing.assert_array_equal(positions.numpy(), np.where(w.numpy() > 0, steps, 0))
        np.testing.assert_array_equal(w.numpy(), (x["words"].numpy() != 0).astype(np.float32))
    assert sum(int(w.numpy().sum()) for _, _, w in batches) == sum(lengths)
    assert count == 5  # 8 short, 8 middle, 4 long sentences in batches of 4


def test_word_dropout_replaces_only_rare_words_and_never_padding():
    lengths = [10, 9] * 200  # one bucket: the 9s get padded
    words = np.where(np.arange(sum(lengths)) % 2 == 0, 5, 40).astype(np.int32)  # 40 is rare
    features, targets = _data(lengths, words)
    data = batching.training_stream(features, targets, batch_size=50, seed=0,
                                    word_dropout=0.5, rare_from=30).take(8)  # one epoch
    seen = np.concatenate([x["words"].numpy().ravel() for x, _, _ in data])
    assert set(np.unique(seen)) == {0, UNK_ID, 5, 40}
    dropped = (seen == UNK_ID).sum() / ((seen == UNK_ID).sum() + (seen == 40).sum())
    assert 0.4 < dropped < 0.6
    assert (seen == 5).sum() == sum(lengths) // 2  # frequent words are never dropped


def test_encode_tags():
    targets = batching.encode_tags([["O", "B-X"], ["O"]], ["O", "B-X"])
    assert targets.to_list() == [[0, 1], [0]]


def test_sorted_batches_cover_every_row_once_within_token_budget():
    lengths = np.array([5, 1, 300, 7, 7, 2, 0])
    batches = list(batching.sorted_batches(lengths, max_tokens=20, max_sentences=3))
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    for rows in batches:
        assert len(rows) <= 3
        assert len(rows) == 1 or len(rows) * lengths[rows].max() <= 20


def _flat(batches):
    return [(x["words"].numpy().tolist(), w.numpy().tolist()) for x, _, w in batches]


def test_a_resumed_stream_gives_the_batches_of_one_that_never_stopped():
    lengths = [3, 4, 5, 9, 13, 14, 20, 22, 30] * 6
    features, targets = _data(lengths)
    count = batching.batch_count(np.array(lengths), 4)
    options = {"batch_size": 4, "seed": 7, "word_dropout": 0.3, "rare_from": 20}
    through = _flat(batching.training_stream(features, targets, **options).take(3 * count))
    resumed = _flat(batching.training_stream(features, targets, trained=2 * count, **options)
                    .take(count))
    assert resumed == through[2 * count:]
    assert through[:count] != through[count:2 * count]  # each epoch has its own order
    for shard in [(2, 0), (2, 1)]:  # a worker's share runs over epoch boundaries
        whole = _flat(batching.training_stream(features, targets, shard=shard, **options)
                      .take(3 * count))
        later = _flat(batching.training_stream(features, targets, shard=shard,
                                               trained=count + 1, **options)
                      .take(2 * count - 1))
        assert later == whole[count + 1:]
