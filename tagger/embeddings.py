"""Pretrained word vectors (GloVe or word2vec text format) to start the word embedding.

Only vectors of words in the model's vocabulary are kept; vocabulary words missing from the
file keep their random start and are learned like the rest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tagger.conll import open_text
from tagger.errors import TaggerError
from tagger.vocabulary import Vocabulary


def read_vectors(path: Path, vocabulary: Vocabulary) -> tuple[dict[int, np.ndarray], int]:
    """Vectors by word id for the vocabulary's words in `path`, and their dimension.

    word2vec text files start with a "count dimension" line; GloVe files do not. With a
    lower-cased vocabulary, a file word matches in lower case and its first vector wins.
    """
    if not path.exists():
        raise TaggerError(f"`embeddings` {path} does not exist", param="embeddings")
    index = {w: i for i, w in enumerate(vocabulary.words) if i >= 2}
    vectors: dict[int, np.ndarray] = {}
    dimension = 0
    with open_text(path) as lines:
        for number, line in enumerate(lines, 1):
            parts = line.rstrip().split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # the word2vec header
            if len(parts) < 2:
                continue  # blank line
            dimension = dimension or len(parts) - 1
            if len(parts) - 1 != dimension:
                raise TaggerError(f"{path}:{number}: {len(parts) - 1} values where earlier "
                                  f"lines have {dimension}; is it a GloVe/word2vec text file?")
            word = parts[0].lower() if vocabulary.lowercase else parts[0]
            if word in index and index[word] not in vectors:
                try:
                    vectors[index[word]] = np.asarray(parts[1:], dtype=np.float32)
                except ValueError:
                    raise TaggerError(f"{path}:{number}: a value is not a number") from None
    if not dimension:
        raise TaggerError(f"`embeddings` {path} holds no vectors", param="embeddings")
    return vectors, dimension


def initialize(embedding: np.ndarray, vectors: dict[int, np.ndarray]) -> np.ndarray:
    """The embedding matrix with the rows of `vectors` replaced by them."""
    matrix = embedding.copy()
    for row, vector in vectors.items():
        matrix[row] = vector
    return matrix
