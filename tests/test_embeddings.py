from pathlib import Path

import numpy as np
import pytest

from tagger.corpora import load_corpus
from tagger.embeddings import initialize, read_vectors
from tagger.errors import TaggerError
from tagger.settings import TrainConfig
from tagger.tagging import Tagger
from tagger.training import train
from tagger.vocabulary import Vocabulary

from .conftest import DEMO


def _vectors(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vectors.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_glove_and_word2vec_text_formats(tmp_path: Path):
    vocab = Vocabulary.build([["Paris", "rose", "the"]], lowercase=True)
    glove = _vectors(tmp_path, "the 1 2 3\nParis 4 5 6\nparis 7 8 9\nunseen 0 0 0\n")
    vectors, dimension = read_vectors(glove, vocab)
    assert dimension == 3
    assert {vocab.words[i]: v.tolist() for i, v in vectors.items()} == {
        "the": [1, 2, 3], "paris": [4, 5, 6]}  # lower-cased match, first one wins
    word2vec = _vectors(tmp_path, "2 2\nrose 0.5 -1\nthe 1 1\n")
    vectors, dimension = read_vectors(word2vec, vocab)
    assert dimension == 2 and vectors[vocab.words.index("rose")].tolist() == [0.5, -1]


@pytest.mark.parametrize("text, message", [
    ("a 1 2\nb 1 2 3\n", r"vectors\.txt:2: 3 values where earlier lines have 2"),
    ("the 1 x\n", r"vectors\.txt:1: a value is not a number"),
    ("", "holds no vectors"),
])
def test_bad_vector_files(tmp_path: Path, text: str, message: str):
    vocab = Vocabulary.build([["the"]])
    with pytest.raises(TaggerError, match=message):
        read_vectors(_vectors(tmp_path, text), vocab)


def test_initialize_replaces_only_given_rows():
    matrix = np.zeros((4, 2), np.float32)
    out = initialize(matrix, {2: np.array([1.0, 2.0], np.float32)})
    assert out.tolist() == [[0, 0], [0, 0], [1, 2], [0, 0]] and not matrix.any()


def test_training_starts_from_the_file_vectors(tmp_path: Path):
    corpus = load_corpus(str(DEMO))
    corpus.splits = {k: v[:30] for k, v in corpus.splits.items()}
    rng = np.random.default_rng(0)
    words = {w.lower() for w in corpus.splits["train"][0][0][:3]}
    given = {w: rng.normal(size=6) for w in words}
    path = _vectors(tmp_path, "".join(f"{w} {' '.join(map(str, v))}\n" for w, v in given.items()))
    # A vanishing learning rate: after one epoch the rows are still the file's.
    config = TrainConfig.from_flat(epochs=1, units=4, learning_rate=1e-12, embeddings=str(path))
    train(corpus, config)[0].save(tmp_path / "m")
    tagger = Tagger.load(tmp_path / "m")
    assert tagger.config.settings.network.embedding_dim == 6
    weights = tagger.model.encoder.get_layer("word_embedding").embeddings.numpy()
    words = tagger.featurizer.words.words
    for word, vector in given.items():
        np.testing.assert_allclose(weights[words.index(word)], vector, atol=1e-5)
