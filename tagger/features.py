"""Token strings to the model's inputs: word ids, character ids and a casing class.

    words   (sentences, tokens)          ids from the word vocabulary (0 padding, 1 unknown)
    chars   (sentences, tokens, chars)   ids of each token's first MAX_WORD_CHARS characters
    casing  (sentences, tokens)          one of CASING_CLASSES (0 padding)

`Featurizer` runs as TensorFlow ops (tensorflow-text's Unicode decoding, regex matching), so
a batch of sentences is featurized without a Python loop over tokens; `ArrayFeaturizer`
gives the same ids in Python for the tagger that runs without TensorFlow.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import regex

from tagger import model_folder
from tagger.batching import positions_in_rows
from tagger.errors import TaggerError
from tagger.settings import FeatureSettings
from tagger.vocabulary import PAD_ID, UNK_ID, Vocabulary, lookup_table, read_words

if TYPE_CHECKING:  # imported where used: the constants and readers here need no TensorFlow
    import tensorflow as tf

MAX_WORD_CHARS = 24  # longer tokens (URLs) keep their first characters
# Checked in order; the first that matches the whole token gives its class (0 is padding).
CASING_CLASSES = [
    ("numeric", r"\p{N}+"),
    ("lower", r"\p{Ll}+"),
    ("upper", r"\p{Lu}+"),
    ("title", r"\p{Lu}\p{Ll}+"),
    ("has_digit", r".*\p{N}.*"),
    ("punctuation", r"[\p{P}\p{S}]+"),
]
CASING_OTHER = len(CASING_CLASSES) + 1  # mixed case and everything else
CASING_SIZE = len(CASING_CLASSES) + 2


class CharVocabulary:
    """Character (Unicode code point) ids: 0 padding, 1 unknown, then the train characters."""

    def __init__(self, code_points: list[int]) -> None:
        import tensorflow as tf

        self.code_points = code_points
        self.table = lookup_table(tf.constant(code_points, dtype=tf.int32), first_id=2)

    def __len__(self) -> int:
        return len(self.code_points) + 2

    @classmethod
    def build(cls, sentences: Iterable[list[str]], min_count: int = 1) -> CharVocabulary:
        counts = Counter(c for s in sentences for w in s for c in w)
        kept = sorted((c for c, n in counts.items() if n >= min_count),
                      key=lambda c: (-counts[c], c))
        return cls([ord(c) for c in kept])

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.code_points) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> CharVocabulary:
        return cls(read_code_points(path))

    def lookup(self, tokens: tf.RaggedTensor) -> tf.RaggedTensor:
        """`(sentences, tokens)` strings -> `(sentences, tokens, chars)` ids."""
        import tensorflow as tf

        code_points = tf.strings.unicode_decode(tokens, "UTF-8", errors="replace")
        code_points = code_points[:, :, :MAX_WORD_CHARS]
        return tf.ragged.map_flat_values(self.table.lookup, code_points)


def casing(tokens: tf.RaggedTensor) -> tf.RaggedTensor:
    """The casing class of each token, `(sentences, tokens)` int32."""
    import tensorflow as tf


    def classify(flat: tf.Tensor) -> tf.Tensor:
        classes = tf.fill(tf.shape(flat), CASING_OTHER)
        for index, (_, pattern) in reversed(list(enumerate(CASING_CLASSES, 1))):
            classes = tf.where(tf.strings.regex_full_match(flat, pattern), index, classes)
        return classes

    return tf.ragged.map_flat_values(classify, tokens)


class Featurizer:
    """Turns token strings into the model's input tensors; saved with the model."""

    def __init__(self, words: Vocabulary, chars: CharVocabulary | None, use_casing: bool
                 ) -> None:
        self.words = words
        self.chars = chars
        self.use_casing = use_casing

    @classmethod
    def build(cls, sentences: Sequence[Sequence[str]], settings: FeatureSettings
              ) -> Featurizer:
        """Vocabularies of the train sentences, as the feature settings ask."""
        words = Vocabulary.build(sentences, min_count=settings.min_count,
                                 max_size=settings.max_vocab, lowercase=settings.lowercase)
        chars = CharVocabulary.build(sentences) if settings.chars else None
        return cls(words, chars, settings.casing)

    @property
    def casing_size(self) -> int:
        """Size of the casing embedding's table (0 without the feature)."""
        return CASING_SIZE if self.use_casing else 0

    def __call__(self, tokens: tf.RaggedTensor) -> dict[str, tf.RaggedTensor]:
        """Ragged `(sentences, tokens[, chars])` inputs for ragged token strings."""
        features = {"words": self.words.lookup(tokens)}
        if self.chars is not None:
            features["chars"] = self.chars.lookup(tokens)
        if self.use_casing:
            features["casing"] = casing(tokens)
        return features

    def tables(self) -> list[tf.lookup.StaticHashTable]:
        """The lookup tables, for a SavedModel to track."""
        tables = [self.words.table]
        if self.chars is not None:
            tables.append(self.chars.table)
        return tables

    def save(self, folder: Path) -> None:
        self.words.save(folder / model_folder.VOCAB)
        if self.chars is not None:
            self.chars.save(folder / model_folder.CHARS)

    @classmethod
    def load(cls, folder: Path, config: model_folder.ModelConfig) -> Featurizer:
        """The featurizer of a model folder, each table checked against config.json's size."""
        words, code_points = read_tables(folder, config)
        chars = CharVocabulary(code_points) if code_points is not None else None
        return cls(Vocabulary(words, config.settings.features.lowercase), chars,
                   config.casing_size > 0)


class ArrayFeaturizer:
    """The `Featurizer`'s ids in NumPy and Python, without TensorFlow (for ONNX Runtime).

    Each distinct token gets a slot, numbered from 1 (0 is padding), where its word id and
    casing class are kept: text repeats its words, so most tokens are a dict lookup. Its
    character ids are handed out once, by `take_new`, for the caller to turn into character
    features and keep in the same slot. Past CACHE_TOKENS slots a call starts afresh.
    """

    CACHE_TOKENS = 200_000  # bounds memory on text with millions of distinct tokens

    def __init__(self, words: list[str], code_points: list[int] | None, lowercase: bool,
                 use_casing: bool) -> None:
        self.word_ids = dict(zip(words[2:], range(2, len(words)), strict=True))
        self.char_ids = None if code_points is None else dict(
            zip(code_points, range(2, len(code_points) + 2), strict=True))
        self.lowercase, self.use_casing = lowercase, use_casing
        self._casing = [(i, regex.compile(pattern))
                        for i, (_, pattern) in enumerate(CASING_CLASSES, 1)]
        self._reset()

    def _reset(self) -> None:
        self._slots: dict[str, int] = {}
        self._words = np.zeros(1024, np.int32)  # by slot; grown by doubling
        self._kinds = np.zeros(1024, np.int32)
        self._first_new = 1
        self._new_chars: list[list[int]] = []

    @classmethod
    def load(cls, folder: Path, config: model_folder.ModelConfig) -> ArrayFeaturizer:
        words, code_points = read_tables(folder, config)
        return cls(words, code_points, config.settings.features.lowercase,
                   config.casing_size > 0)

    def _slot(self, token: str) -> int:
        slot = self._slots.get(token)
        if slot is None:
            slot = self._slots[token] = len(self._slots) + 1
            self._words = with_rows(self._words, slot + 1)
            self._kinds = with_rows(self._kinds, slot + 1)
            self._words[slot] = self.word_ids.get(token.lower() if self.lowercase else token,
                                                  UNK_ID)
            if self.use_casing:
                self._kinds[slot] = next((i for i, pattern in self._casing
                                          if pattern.fullmatch(token)), CASING_OTHER)
            if self.char_ids is not None:
                self._new_chars.append([self.char_ids.get(ord(c), UNK_ID)
                                        for c in token[:MAX_WORD_CHARS]])
        return slot

    def __call__(self, sentences: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
        """Padded int32 `(sentences, tokens)` inputs, at least one step wide (like
        `pad_to_one_step`): "words", "casing" if the model uses it, and each token's
        "slots" (see `take_new` for the character ids of new slots)."""
        if len(self._slots) >= self.CACHE_TOKENS:
            self._reset()
        lengths = np.fromiter(map(len, sentences), np.int64, len(sentences))
        steps = max(1, int(lengths.max(initial=0)))
        # Known tokens by one C-level lookup each; new ones get their slots in token order.
        flat = [t for sentence in sentences for t in sentence]
        found = list(map(self._slots.get, flat))
        for i, slot in enumerate(found):
            if slot is None:
                found[i] = self._slot(flat[i])
        slots = np.zeros((len(sentences), steps), np.int32)
        rows = np.repeat(np.arange(len(sentences)), lengths)
        slots[rows, positions_in_rows(np.ones(len(flat), np.int64), lengths)] = found
        features = {"words": self._words[slots], "slots": slots}
        if self.use_casing:
            features["casing"] = self._kinds[slots]
        return features

    def take_new(self) -> tuple[int, np.ndarray]:
        """The first slot given out since the last call, and the character ids of that slot
        and the ones after it, `(new slots, chars)` padded (at least one character wide).
        A first slot of 1 means the slots started afresh."""
        first, new = self._first_new, self._new_chars
        self._first_new, self._new_chars = len(self._slots) + 1, []
        chars = np.zeros((len(new), max(1, max(map(len, new), default=0))), np.int32)
        for i, ids in enumerate(new):
            chars[i, :len(ids)] = ids
        return first, chars


def with_rows(array: np.ndarray, rows: int) -> np.ndarray:
    """`array` with room for at least `rows` rows: itself, or a copy at least twice as long
    whose new rows are zero (growing by doubling keeps appends cheap)."""
    if rows <= len(array):
        return array
    grown = np.zeros((max(rows, 2 * len(array)), *array.shape[1:]), array.dtype)
    grown[:len(array)] = array
    return grown


def read_tables(folder: Path, config: model_folder.ModelConfig
                ) -> tuple[list[str], list[int] | None]:
    """A model folder's words and code points (None without character features), each
    checked against config.json's sizes, and its casing feature checked."""
    words = read_words(folder / model_folder.VOCAB)
    model_folder.check_size(folder / model_folder.VOCAB, len(words), config.vocab_size,
                            "words")
    code_points = None
    if config.char_vocab_size:
        code_points = read_code_points(folder / model_folder.CHARS)
        model_folder.check_size(folder / model_folder.CHARS, len(code_points) + 2,
                                config.char_vocab_size, "characters")
    if config.casing_size not in (0, CASING_SIZE):
        raise TaggerError(f"{folder / model_folder.CONFIG}: casing_size "
                          f"{config.casing_size} is not one this tagger makes "
                          f"({CASING_SIZE}); retrain the model")
    return words, code_points


def read_code_points(path: Path) -> list[int]:
    """The code points of a model folder's chars.json, checked."""
    try:
        code_points = json.loads(path.read_text(encoding="utf-8"))
        valid = isinstance(code_points, list) and all(
            isinstance(c, int) and 0 <= c < 0x110000 for c in code_points)
    except (OSError, ValueError, UnicodeDecodeError):
        valid = False
    if not valid:
        raise TaggerError(f"{path} is damaged (not a JSON list of code points); restore "
                          "the folder or retrain the model")
    return code_points


def tokens_tensor(sentences: Sequence[Sequence[str]]) -> tf.RaggedTensor:
    """Pre-tokenized sentences as a ragged `(sentences, tokens)` string tensor."""
    import tensorflow as tf

    flat = [t for s in sentences for t in s]
    return tf.RaggedTensor.from_row_lengths(tf.constant(flat, dtype=tf.string),
                                            [len(s) for s in sentences])


def pad(features: dict[str, tf.RaggedTensor], rows: tf.Tensor | np.ndarray
        ) -> dict[str, tf.Tensor]:
    """The given rows of ragged features as dense tensors padded to this batch's longest."""
    import tensorflow as tf

    return {name: tf.gather(values, rows).to_tensor(default_value=PAD_ID)
            for name, values in features.items()}



def pad_to_one_step(dense: tf.Tensor) -> tf.Tensor:
    """Padded features with at least one step (and one character): a batch of empty texts
    still runs through the network, which needs a step; padding changes no real step."""
    import tensorflow as tf

    shape = tf.shape(dense)
    grow = [[0, 0]] + [[0, tf.maximum(1 - shape[axis], 0)] for axis in range(1, dense.shape.rank)]
    return tf.pad(dense, grow, constant_values=PAD_ID)
