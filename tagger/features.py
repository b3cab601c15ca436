"""Token strings to the model's inputs: word ids, character ids and a casing class.

    words   (sentences, tokens)          ids from the word vocabulary (0 padding, 1 unknown)
    chars   (sentences, tokens, chars)   ids of each token's first MAX_WORD_CHARS characters
    casing  (sentences, tokens)          one of CASING_CLASSES (0 padding)

All of it runs as TensorFlow ops (tensorflow-text's Unicode decoding, regex matching), so a
batch of sentences is featurized without a Python loop over tokens.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from tagger import model_folder
from tagger.errors import TaggerError
from tagger.settings import FeatureSettings
from tagger.vocabulary import PAD_ID, Vocabulary, lookup_table

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
        try:
            code_points = json.loads(path.read_text(encoding="utf-8"))
            valid = isinstance(code_points, list) and all(
                isinstance(c, int) and 0 <= c < 0x110000 for c in code_points)
        except (OSError, ValueError, UnicodeDecodeError):
            valid = False
        if not valid:
            raise TaggerError(f"{path} is damaged (not a JSON list of code points); restore "
                              "the folder or retrain the model")
        return cls(code_points)

    def lookup(self, tokens: tf.RaggedTensor) -> tf.RaggedTensor:
        """`(sentences, tokens)` strings -> `(sentences, tokens, chars)` ids."""
        code_points = tf.strings.unicode_decode(tokens, "UTF-8", errors="replace")
        code_points = code_points[:, :, :MAX_WORD_CHARS]
        return tf.ragged.map_flat_values(self.table.lookup, code_points)


def casing(tokens: tf.RaggedTensor) -> tf.RaggedTensor:
    """The casing class of each token, `(sentences, tokens)` int32."""

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
        words = Vocabulary.load(folder / model_folder.VOCAB,
                                config.settings.features.lowercase)
        model_folder.check_size(folder / model_folder.VOCAB, len(words), config.vocab_size,
                                "words")
        chars = None
        if config.char_vocab_size:
            chars = CharVocabulary.load(folder / model_folder.CHARS)
            model_folder.check_size(folder / model_folder.CHARS, len(chars),
                                    config.char_vocab_size, "characters")
        if config.casing_size not in (0, CASING_SIZE):
            raise TaggerError(f"{folder / model_folder.CONFIG}: casing_size "
                              f"{config.casing_size} is not one this tagger makes "
                              f"({CASING_SIZE}); retrain the model")
        return cls(words, chars, config.casing_size > 0)


def tokens_tensor(sentences: Sequence[Sequence[str]]) -> tf.RaggedTensor:
    """Pre-tokenized sentences as a ragged `(sentences, tokens)` string tensor."""
    flat = [t for s in sentences for t in s]
    return tf.RaggedTensor.from_row_lengths(tf.constant(flat, dtype=tf.string),
                                            [len(s) for s in sentences])


def pad(features: dict[str, tf.RaggedTensor], rows: tf.Tensor | np.ndarray
        ) -> dict[str, tf.Tensor]:
    """The given rows of ragged features as dense tensors padded to this batch's longest."""
    return {name: tf.gather(values, rows).to_tensor(default_value=PAD_ID)
            for name, values in features.items()}



def pad_to_one_step(dense: tf.Tensor) -> tf.Tensor:
    """Padded features with at least one step (and one character): a batch of empty texts
    still runs through the network, which needs a step; padding changes no real step."""
    shape = tf.shape(dense)
    grow = [[0, 0]] + [[0, tf.maximum(1 - shape[axis], 0)] for axis in range(1, dense.shape.rank)]
    return tf.pad(dense, grow, constant_values=PAD_ID)
