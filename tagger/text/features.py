"""Token strings to the network's ids, in Python and NumPy (no TensorFlow):

    words   (sentences, tokens)   ids from the word vocabulary (0 padding, 1 unknown)
    casing  (sentences, tokens)   one of CASING_CLASSES (0 padding)
    slots   (sentences, tokens)   each token's slot: one per distinct token (0 padding)
    chars   (slots, chars)        the character ids of each slot's first MAX_WORD_CHARS
                                  characters, for the network's character model

A word's character features depend on the word alone, so the pipeline runs the character
model once per slot and keeps the result (see `pipeline.Tagger`). Training reads the same
ids (`flat`), so training and tagging share one path from strings to ids.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import regex

from tagger import model_folder
from tagger.batching import positions_in_rows
from tagger.errors import TaggerError
from tagger.settings import FeatureSettings
from tagger.text.vocabulary import UNK_ID, Vocabulary, read_words

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
_CASING = [(i, regex.compile(pattern)) for i, (_, pattern) in enumerate(CASING_CLASSES, 1)]


def casing_class(token: str) -> int:
    """The casing class of `token` (1 to CASING_OTHER)."""
    return next((i for i, pattern in _CASING if pattern.fullmatch(token)), CASING_OTHER)


class CharVocabulary:
    """Character (Unicode code point) ids: 0 padding, 1 unknown, then the train characters."""

    def __init__(self, code_points: list[int]) -> None:
        self.code_points = code_points

    def __len__(self) -> int:
        return len(self.code_points) + 2

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 1) -> CharVocabulary:
        counts = Counter(c for s in sentences for w in s for c in w)
        kept = sorted((c for c, n in counts.items() if n >= min_count),
                      key=lambda c: (-counts[c], c))
        return cls([ord(c) for c in kept])

    def ids(self) -> dict[int, int]:
        """Each code point's id."""
        return dict(zip(self.code_points, range(2, len(self.code_points) + 2), strict=True))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.code_points) + "\n", encoding="utf-8")


class Featurizer:
    """The vocabularies of a model and the ids of token strings; saved with the model.

    Each distinct token gets a slot, numbered from 1 (0 is padding), where its word id,
    casing class and character ids are kept: text repeats its words, so most tokens are one
    dict lookup. Past CACHE_TOKENS slots a call starts afresh and `generation` grows, so
    that whoever keeps something per slot knows to drop it.
    """

    CACHE_TOKENS = 200_000  # bounds memory on text with millions of distinct tokens

    def __init__(self, words: Vocabulary, chars: CharVocabulary | None, use_casing: bool
                 ) -> None:
        self.words = words
        self.chars = chars
        self.use_casing = use_casing
        self._word_ids = words.ids()
        self._char_ids = chars.ids() if chars is not None else None
        self.generation = 0
        self._reset()

    def _reset(self) -> None:
        self._slots: dict[str, int] = {}
        self._words = np.zeros(1024, np.int32)  # by slot; grown by doubling
        self._kinds = np.zeros(1024, np.int32)
        self._chars: list[list[int]] = [[]]  # by slot (slot 0: padding)
        self.generation += 1

    @classmethod
    def build(cls, sentences: Sequence[Sequence[str]], settings: FeatureSettings,
              extra_words: Iterable[str] = ()) -> Featurizer:
        """Vocabularies of the train sentences, as the feature settings ask; `extra_words`
        (a vector file's) follow the train words (see `Vocabulary.extended`)."""
        words = Vocabulary.build(sentences, min_count=settings.min_count,
                                 max_size=settings.max_vocab, lowercase=settings.lowercase)
        extra_words = list(extra_words)
        if extra_words:
            words = words.extended(extra_words)
        chars = CharVocabulary.build(sentences) if settings.chars else None
        return cls(words, chars, settings.casing)

    @classmethod
    def load(cls, folder: Path, config: model_folder.ModelConfig) -> Featurizer:
        """The featurizer of a model folder, each table checked against config.json's size."""
        words = read_words(folder / model_folder.VOCAB)
        model_folder.check_size(folder / model_folder.VOCAB, len(words), config.vocab_size,
                                "words")
        chars = None
        if config.char_vocab_size:
            chars = CharVocabulary(read_code_points(folder / model_folder.CHARS))
            model_folder.check_size(folder / model_folder.CHARS, len(chars),
                                    config.char_vocab_size, "characters")
        if config.casing_size not in (0, CASING_SIZE):
            raise TaggerError(f"{folder / model_folder.CONFIG}: casing_size "
                              f"{config.casing_size} is not one this tagger makes "
                              f"({CASING_SIZE}); retrain the model")
        return cls(Vocabulary(words, config.settings.features.lowercase), chars,
                   config.casing_size > 0)

    def save(self, folder: Path) -> None:
        self.words.save(folder / model_folder.VOCAB)
        if self.chars is not None:
            self.chars.save(folder / model_folder.CHARS)

    @property
    def casing_size(self) -> int:
        """Size of the casing embedding's table (0 without the feature)."""
        return CASING_SIZE if self.use_casing else 0

    @property
    def slot_count(self) -> int:
        """Slots given out since the last fresh start."""
        return len(self._slots)

    def _slot(self, token: str) -> int:
        slot = self._slots[token] = len(self._slots) + 1
        self._words = with_rows(self._words, slot + 1)
        self._kinds = with_rows(self._kinds, slot + 1)
        self._words[slot] = self._word_ids.get(token.lower() if self.words.lowercase
                                               else token, UNK_ID)
        if self.use_casing:
            self._kinds[slot] = casing_class(token)
        if self._char_ids is not None:
            self._chars.append([self._char_ids.get(ord(c), UNK_ID)
                                for c in token[:MAX_WORD_CHARS]])
        return slot

    def _slots_of(self, tokens: list[str]) -> list[int]:
        # Known tokens by one C-level lookup each; new ones get their slots in token order.
        found = list(map(self._slots.get, tokens))
        for i, slot in enumerate(found):
            if slot is None:
                found[i] = self._slots.get(tokens[i]) or self._slot(tokens[i])
        return found

    def __call__(self, sentences: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
        """Padded int32 `(sentences, tokens)` ids, at least one step wide (a batch of empty
        texts still runs through the network, which needs a step): "words", "casing" if the
        model uses it, and "slots" (see `chars_of`)."""
        if len(self._slots) >= self.CACHE_TOKENS:
            self._reset()
        lengths = np.fromiter(map(len, sentences), np.int64, len(sentences))
        steps = max(1, int(lengths.max(initial=0)))
        found = self._slots_of([t for sentence in sentences for t in sentence])
        slots = np.zeros((len(sentences), steps), np.int32)
        rows = np.repeat(np.arange(len(sentences)), lengths)
        slots[rows, positions_in_rows(np.ones(len(found), np.int64), lengths)] = found
        features = {"words": self._words[slots], "slots": slots}
        if self.use_casing:
            features["casing"] = self._kinds[slots]
        return features

    def chars_of(self, first: int, end: int) -> np.ndarray:
        """The character ids of slots `first` to `end - 1`, `(slots, chars)` int32, padded
        (at least one character wide)."""
        rows = self._chars[first:end]
        chars = np.zeros((len(rows), max(1, max(map(len, rows), default=0))), np.int32)
        for i, ids in enumerate(rows):
            chars[i, :len(ids)] = ids
        return chars

    def flat(self, sentences: Sequence[Sequence[str]]
             ) -> tuple[dict[str, np.ndarray], list[list[int]] | None]:
        """Every token's ids, one after another: int32 "words" and "casing" (if used) of
        shape (tokens,), and each token's character ids (None without character features),
        for training."""
        self._reset()
        found = np.asarray(self._slots_of([t for s in sentences for t in s]), np.int64)
        features = {"words": self._words[found]}
        if self.use_casing:
            features["casing"] = self._kinds[found]
        chars = None if self._char_ids is None else [self._chars[s] for s in found.tolist()]
        return features, chars


def with_rows(array: np.ndarray, rows: int) -> np.ndarray:
    """`array` with room for at least `rows` rows: itself, or a copy at least twice as long
    whose new rows are zero (growing by doubling keeps appends cheap)."""
    if rows <= len(array):
        return array
    grown = np.zeros((max(rows, 2 * len(array)), *array.shape[1:]), array.dtype)
    grown[:len(array)] = array
    return grown


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
