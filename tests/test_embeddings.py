from pathlib import Path

import numpy as np
import pytest

from tagger.corpora import load_corpus
from tagger.errors import TaggerError
from tagger.pipeline import Tagger
from tagger.settings import TrainConfig
from tagger.text.vocabulary import UNK_ID, Vocabulary
from tagger.training import train
from tagger.training.embeddings import read_vectors

from .conftest import DEMO

pytestmark = pytest.mark.slow


def _vectors(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vectors.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_glove_and_word2vec_text_formats(tmp_path: Path):
    glove = _vectors(tmp_path, "the 1 2 3\nParis 4 5 6\nparis 7 8 9\nunseen 0 0 0\n")
    vectors = read_vectors(glove, lowercase=True)
    assert vectors.dimension == 3
    assert dict(zip(vectors.words, vectors.matrix.tolist(), strict=True)) == {
        "the": [1, 2, 3], "paris": [4, 5, 6], "unseen": [0, 0, 0]}  # first one wins
    assert read_vectors(glove, lowercase=False).words == ["the", "Paris", "paris", "unseen"]
    assert read_vectors(glove, lowercase=True, limit=2).words == ["the", "paris"]
    word2vec = _vectors(tmp_path, "2 2\nrose 0.5 -1\nthe 1 1\n")
    vectors = read_vectors(word2vec, lowercase=True)
    assert vectors.words == ["rose", "the"] and vectors.matrix[0].tolist() == [0.5, -1]


def test_numpy_matrix_with_a_parquet_index(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "glove"
    folder.mkdir()
    np.save(folder / "emb.npy", np.arange(8, dtype=np.float32).reshape(4, 2))
    pq.write_table(pa.table({"index": ["The", "the", "of", "Zürich"]}), folder / "index.parquet")
    for path in (folder, folder / "emb.npy"):
        vectors = read_vectors(path, lowercase=True)
        assert vectors.words == ["the", "of", "zürich"]
        assert vectors.matrix.tolist() == [[0, 1], [4, 5], [6, 7]]
    (folder / "more.parquet").write_bytes(b"")
    with pytest.raises(TaggerError, match=r"expected one \.npy matrix and one \.parquet"):
        read_vectors(folder, lowercase=True)


@pytest.mark.parametrize("text, message", [
    ("a 1 2\nb 1 2 3\n", r"vectors\.txt:2: 3 values where earlier lines have 2"),
    ("the 1 x\n", r"vectors\.txt:1: a value is not a number"),
    ("", "holds no vectors"),
])
def test_bad_vector_files(tmp_path: Path, text: str, message: str):
    with pytest.raises(TaggerError, match=message):
        read_vectors(_vectors(tmp_path, text), lowercase=False)


def test_vocabulary_extension_keeps_train_ids():
    train = Vocabulary.build([["b", "a", "a"]])
    grown = train.extended(["a", "new", "line\nbreak", "new", "c"])
    assert grown.words == [*train.words, "new", "c"] and grown.extended_from == len(train)
    assert grown.rare_from == train.rare_from


def _corpus_and_vectors(tmp_path: Path):
    corpus = load_corpus(str(DEMO))
    corpus.splits = {k: v[:30] for k, v in corpus.splits.items()}
    rng = np.random.default_rng(0)
    words = sorted({w.lower() for w in corpus.splits["train"][0][0][:3]})
    given = {w: rng.normal(size=6).round(2) for w in [*words, "zyzzyva", "quokka"]}
    path = _vectors(tmp_path, "".join(f"{w} {' '.join(map(str, v))}\n" for w, v in given.items()))
    return corpus, given, path


def test_unseen_words_keep_their_vectors_and_train_words_start_from_theirs(tmp_path: Path):
    corpus, given, path = _corpus_and_vectors(tmp_path)
    # A vanishing learning rate: after one epoch the rows are still the file's.
    config = TrainConfig.from_flat(epochs=1, units=4, learning_rate=1e-12, embeddings=str(path))
    train(corpus, config)[0].save(tmp_path / "m")
    tagger = Tagger.load(tmp_path / "m", "keras")
    assert tagger.config.settings.network.embedding_dim == 6
    words = tagger.featurizer.words.words
    assert words[-2:] == ["zyzzyva", "quokka"]  # not in train, yet in the vocabulary
    assert tagger.config.tuned_vocab_size == len(words) - 2
    table = tagger.backend.model.parts[0].word_embedding.table()
    for word, vector in given.items():
        np.testing.assert_allclose(table[words.index(word)], vector, rtol=2e-3, atol=1e-3)
    [ids] = tagger.featurizer([["Quokka", "unknownword"]])["words"].tolist()
    assert ids == [words.index("quokka"), UNK_ID]


def test_pretrained_rows_stay_frozen_while_train_rows_learn(tmp_path: Path):
    corpus, given, path = _corpus_and_vectors(tmp_path)
    config = TrainConfig.from_flat(epochs=2, units=4, learning_rate=0.05, embeddings=str(path))
    tagger, _ = train(corpus, config)
    layer = tagger.backend.model.parts[0].word_embedding
    words = tagger.featurizer.words.words
    table = layer.table()
    np.testing.assert_allclose(table[words.index("quokka")], given["quokka"], rtol=2e-3,
                               atol=1e-3)
    assert layer.frozen.dtype == "float16" and not layer.frozen.trainable
    trained = [w for w in given if w in words[: tagger.config.tuned_vocab_size]]
    assert any(not np.allclose(table[words.index(w)], given[w], atol=1e-2) for w in trained)


def test_without_tuning_every_pretrained_vector_stays_and_the_others_learn(tmp_path: Path):
    corpus, given, path = _corpus_and_vectors(tmp_path)
    config = TrainConfig.from_flat(epochs=2, units=4, learning_rate=0.05, embeddings=str(path),
                                   tune_vectors=False)
    tagger, _ = train(corpus, config)
    tagger.save(tmp_path / "m")
    words = tagger.featurizer.words.words
    for model in (tagger.backend.model, Tagger.load(tmp_path / "m", "keras").backend.model):
        table = model.parts[0].word_embedding.table()
        for word, vector in given.items():
            np.testing.assert_allclose(table[words.index(word)], vector, rtol=2e-3, atol=1e-3)
    # Train words without a vector start random (the same start at a vanishing rate) and learn.
    still, _ = train(corpus, config.replace(learning_rate=1e-12))
    without = [i for i, w in enumerate(words[: tagger.config.tuned_vocab_size])
               if i >= 2 and w not in given]
    start = still.backend.model.parts[0].word_embedding.table()
    assert not np.allclose(table[without], start[without], atol=1e-3)


def test_max_vectors_caps_the_words_taken(tmp_path: Path):
    corpus, _, path = _corpus_and_vectors(tmp_path)
    config = TrainConfig.from_flat(epochs=1, units=4, embeddings=str(path), max_vectors=3)
    tagger, _ = train(corpus, config)
    assert "quokka" not in tagger.featurizer.words.words
