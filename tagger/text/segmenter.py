"""A tokenizer learned from a corpus: where its tokens and words start in raw text.

Each character that is not white space gets one of three labels: it continues a word
(`INSIDE`), starts a surface token (`TOKEN`) or starts a word inside one (`WORD`: `n't` in
`don't`). A linear model scores the labels from hashed features of the characters around
it (lower-cased code points and character classes, up to three before and two after, and
whether the training words end, start or run across there): the same arithmetic in NumPy
here and in TensorFlow in the SavedModel (`export.segmenting`), with integer
weights, so every backend finds the same tokens. A multiword token whose words do not
spell it (German `zum` = `zu dem`) is expanded by a lexicon of the training corpus's.

It trains in seconds (softmax regression, Adagrad) from `surface.Surface` sentences; see
docs/concepts.md#tokens for how it compares with the rules.
"""

from __future__ import annotations

import itertools
import json
import unicodedata
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tagger.errors import TaggerError
from tagger.text import linear
from tagger.text.linear import MULTIPLIER, PRIME
from tagger.text.surface import Surface
from tagger.text.tokenizer import Tokenized

INSIDE, TOKEN, WORD = 0, 1, 2
LABELS = 3
TABLE_SIZE = 1 << 19  # hashed feature rows
# Code points with a class and lower-case table entry; the rest are OTHER and themselves.
TABLE_CODE_POINTS = 0x30000
PAD = 4  # context characters each side, beyond which a text never looks
# Lengths of the training words looked up around each position.
DICTIONARY_LENGTHS = (2, 3, 4)
# The (length, first offset) of each window looked up in the training words: one that ends
# just before the position, one that starts at it, and those that run across it.
DICTIONARY_WINDOWS = tuple((length, first) for length in DICTIONARY_LENGTHS
                           for first in range(-length, 1))
_FOLDS = 5  # training folds for the dictionary features
SPACE_POINT = 32  # what every white space character reads as
CACHE_CHUNKS = 200_000  # distinct chunks whose words a segmenter keeps between calls

# Character classes.
(OTHER, SPACE, UPPER, LOWER, LETTER, MARK, DIGIT, APOSTROPHE, HYPHEN, PERIOD, COMMA, OPEN,
 CLOSE, PUNCTUATION, SYMBOL, JOINER) = range(16)
_JOINERS = "\u200c\u200d"
_APOSTROPHES = "'\u2019\u02bc"
_COMMAS = ",\u060c\u3001\uff0c"
_BY_CATEGORY = {"Lu": UPPER, "Lt": UPPER, "Ll": LOWER, "Lm": LETTER, "Lo": LETTER,
                "Mn": MARK, "Mc": MARK, "Me": MARK, "Nd": DIGIT, "Nl": DIGIT, "No": DIGIT,
                "Pd": HYPHEN, "Ps": OPEN, "Pi": OPEN, "Pe": CLOSE, "Pf": CLOSE,
                "Pc": PUNCTUATION, "Po": PUNCTUATION, "Sm": SYMBOL, "Sc": SYMBOL,
                "Sk": SYMBOL, "So": SYMBOL, "Zs": SPACE, "Zl": SPACE, "Zp": SPACE,
                "Cc": SPACE, "Cf": SPACE}
# Characters that never start a token: they extend the one before (combining marks and
# skin tones, joiners and what a zero-width joiner joins).
_SKIN_TONES = range(0x1F3FB, 0x1F400)
# Classes between which a format character (a soft hyphen, a zero-width space) keeps a
# word whole, as the rules keep it (`tokenizer._WORD`).
WORDLIKE = (UPPER, LOWER, LETTER, MARK, DIGIT)

# The feature templates: (offsets into the lower-cased code points, offsets into classes).
TEMPLATES: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = (
    ((), ()),  # the bias
    ((0,), ()), ((-1,), ()), ((1,), ()), ((-2,), ()), ((2,), ()),
    ((-1, 0), ()), ((0, 1), ()), ((-2, -1), ()), ((1, 2), ()),
    ((-2, -1, 0), ()), ((-1, 0, 1), ()), ((0, 1, 2), ()), ((-3, -2, -1), ()),
    ((-1, 1), ()), ((-2, 0), ()),
    ((), (-3, -2, -1, 0, 1, 2)), ((), (-1, 0, 1)), ((), (-1, 0)),
    ((0,), (-1,)), ((-1,), (0,)), ((-1, 0), (1,)),
)


def unicode_tables() -> tuple[np.ndarray, np.ndarray]:
    """(class, lower-cased code point) of each code point below TABLE_CODE_POINTS, from
    this Python's Unicode data; a model keeps the tables it was trained with."""
    classes = np.zeros(TABLE_CODE_POINTS, np.uint8)
    lower = np.arange(TABLE_CODE_POINTS, dtype=np.int32)
    for point in range(TABLE_CODE_POINTS):
        character = chr(point)
        classes[point] = _BY_CATEGORY.get(unicodedata.category(character), OTHER)
        lowered = character.lower()
        if len(lowered) == 1:
            lower[point] = ord(lowered)
    for characters, kind in ((_APOSTROPHES, APOSTROPHE), (_COMMAS, COMMA), (".", PERIOD),
                             (_JOINERS, JOINER)):
        classes[[ord(c) for c in characters]] = kind
    classes[list(_SKIN_TONES)] = MARK
    return classes, lower


def format_points(classes: np.ndarray) -> np.ndarray:
    """The format characters (Unicode category Cf) that a class table reads as white space,
    sorted: between two letters they join (`joined_formats`)."""
    return np.array([p for p in np.flatnonzero(classes == SPACE).tolist()
                     if unicodedata.category(chr(p)) == "Cf"], np.int64)


def joined_formats(points: np.ndarray, classes: np.ndarray, formats: np.ndarray
                   ) -> np.ndarray:
    """`classes` (of padded `points`) with each of `formats` that stands between two
    WORDLIKE characters read as a JOINER (it and the character after it continue the word),
    whatever the model's tables say: `anti\u00adconstitution` is one word, as in the rules."""
    at = np.flatnonzero(classes[1:-1] == SPACE) + 1
    at = at[np.isin(points[at], formats)]
    at = at[np.isin(classes[at - 1], WORDLIKE) & np.isin(classes[at + 1], WORDLIKE)]
    if not len(at):
        return classes
    classes = classes.copy()
    classes[at] = JOINER
    return classes


class _ChunkWords(NamedTuple):
    """The words of distinct chunks: flat forms and offsets within their chunk; per chunk,
    its word count, first word, whether it holds a multiword token, and their spans."""

    forms: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    counts: np.ndarray
    first: np.ndarray
    multiword: np.ndarray
    spans: list[list[tuple[int, int]]]


class Segmenter:
    """Integer weights over hashed character features, the Unicode tables they were
    trained with, and the multiword-token lexicon (lower-cased surface -> its words)."""

    name = "learned"

    def __init__(self, weights: np.ndarray, classes: np.ndarray, lower: np.ndarray,
                 dictionary: np.ndarray, lexicon: dict[str, list[str]]) -> None:
        self.weights = weights
        self.dictionary = dictionary
        self.classes = classes
        self.lower = lower
        self.lexicon = lexicon
        self.formats = format_points(classes)

    # -- features ---------------------------------------------------------------------
    def encoded(self, text: str, lower: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(lower-cased code points, classes) of `text` with PAD newlines each side; every
        white space character reads as SPACE_POINT. Without `lower`, the code points as
        they are."""
        padded = "\n" * PAD + text + "\n" * PAD
        points = np.frombuffer(padded.encode("utf-32-le", "surrogatepass"), "<u4")
        points = points.astype(np.int64)
        known = points < TABLE_CODE_POINTS
        index = np.minimum(points, TABLE_CODE_POINTS - 1)
        classes = joined_formats(points, np.where(known, self.classes[index], OTHER)
                                 .astype(np.int64), self.formats)
        if not lower:
            return points, classes
        lowered = np.where(known, self.lower[index], points).astype(np.int64)
        lowered[classes == SPACE] = SPACE_POINT
        return lowered, classes

    def columns(self, lowered: np.ndarray, classes: np.ndarray) -> Iterator[np.ndarray]:
        """The weight-table row of each feature of each position between the pads, one
        feature at a time: its TEMPLATES' hashes, then whether each of DICTIONARY_WINDOWS
        around it holds a training word, and all those flags together. A position sees no
        character past white space (it sees the space), so that a run of non-space
        characters is labelled alike wherever it stands."""
        count = len(lowered) - 2 * PAD
        spaces_before = np.concatenate([[0], np.cumsum(classes == SPACE)])
        positions = np.arange(PAD, PAD + count)
        shifted: dict[tuple[bool, int], np.ndarray] = {}

        def at(points: bool, offset: int) -> np.ndarray:
            if (points, offset) not in shifted:
                values, blank = (lowered, SPACE_POINT) if points else (classes, SPACE)
                window = values[PAD + offset:PAD + offset + count]
                if abs(offset) > 1:  # blank where a space lies between
                    near, far = (positions + 1, positions + offset) if offset > 0 else \
                        (positions + offset + 1, positions)
                    window = np.where(spaces_before[far] > spaces_before[near], blank, window)
                shifted[points, offset] = window
            return shifted[points, offset]

        def hashed(first: int, values: list[np.ndarray]) -> np.ndarray:
            return linear.hashed(first, values, count)

        for t, (point_offsets, class_offsets) in enumerate(TEMPLATES):
            yield hashed(t + 1, [at(True, o) for o in point_offsets]
                         + [at(False, o) for o in class_offsets]) & (TABLE_SIZE - 1)
        flags = []
        for n, (length, first) in enumerate(DICTIONARY_WINDOWS):
            word = hashed(0, [at(True, o) for o in range(first, first + length)])
            flags.append(self._in_dictionary(word))
            yield hashed(len(TEMPLATES) + 2 + n, [flags[-1]]) & (TABLE_SIZE - 1)
        yield hashed(len(TEMPLATES) + 1, flags) & (TABLE_SIZE - 1)

    def feature_rows(self, lowered: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """(positions, features) weight-table rows of each position between the pads."""
        return np.stack(list(self.columns(lowered, classes)), axis=1)

    @staticmethod
    def forced(classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(must start a token, must continue one) for each position between the pads: a
        character after white space starts one; a mark, joiner or what a joiner joins
        continues the one before."""
        here = classes[PAD:len(classes) - PAD]
        before = classes[PAD - 1:len(classes) - PAD - 1]
        starts = (here != SPACE) & (before == SPACE)
        joined = (here == MARK) | (here == JOINER) | (before == JOINER)
        continues = (here != SPACE) & ~starts & joined
        return starts, continues

    # -- tagging ----------------------------------------------------------------------
    def labels_of(self, lowered: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """The label of each position between the pads (INSIDE for white space)."""
        scores = np.zeros((len(lowered) - 2 * PAD, LABELS), np.int32)
        for rows in self.columns(lowered, classes):
            scores += self.weights[rows]
        inside, token, word = scores[:, INSIDE], scores[:, TOKEN], scores[:, WORD]
        labels = np.where((token > inside) & (token >= word), TOKEN,
                          np.where((word > inside) & (word > token), WORD, INSIDE))
        starts, continues = self.forced(classes)
        labels[starts] = TOKEN
        labels[continues | (classes[PAD:len(classes) - PAD] == SPACE)] = INSIDE
        return labels

    def __call__(self, texts: Sequence[str]) -> Tokenized:
        """The words of each text and their offsets (see `Tokenized`).

        A word runs from a TOKEN or WORD label to the next such label or white space; a
        TOKEN with no WORD after it is a single-word token, expanded where the lexicon has
        it. Each distinct run of non-space characters is labelled once (`columns` sees no
        further), and its words are copied to every place it occurs.
        """
        joined = ("\n" * PAD).join(texts)
        _, classes = self.encoded(joined, lower=False)  # where the chunks are
        solid = np.concatenate([[0], classes[PAD:len(classes) - PAD] != SPACE, [0]])
        edges = np.diff(solid.astype(np.int8))
        chunk_starts, chunk_ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        spaces = len(joined) - int(np.count_nonzero(solid))
        if spaces == joined.count(" ") + joined.count("\n"):  # str.split finds the chunks
            chunks = joined.split()
        else:
            chunks = [joined[a:b] for a, b in zip(chunk_starts.tolist(), chunk_ends.tolist(),
                                                  strict=True)]
        words = self._learn_chunks(chunks)
        chunk_ids = np.fromiter(map(self._known.__getitem__, chunks), np.int64, len(chunks))
        # Every occurrence of each chunk, with its words.
        per_chunk = words.counts[chunk_ids]
        occurrence = np.repeat(np.arange(len(chunk_ids)), per_chunk)
        within = np.arange(len(occurrence)) - np.repeat(np.cumsum(per_chunk) - per_chunk,
                                                        per_chunk)
        source = words.first[chunk_ids][occurrence] + within
        starts = chunk_starts[occurrence] + words.starts[source]
        ends = chunk_starts[occurrence] + words.ends[source]
        forms = words.forms[source].tolist()
        text_starts = np.cumsum([0, *(len(t) + PAD for t in texts[:-1])], dtype=np.int64)
        owner = np.searchsorted(text_starts, starts, side="right") - 1
        multiword: list[list[list[int]]] = [[] for _ in texts]
        for i in np.flatnonzero(words.multiword[chunk_ids]).tolist():
            text = int(np.searchsorted(text_starts, chunk_starts[i], side="right") - 1)
            at = int(chunk_starts[i] - text_starts[text])
            multiword[text] += [[at + a, at + b] for a, b in words.spans[chunk_ids[i]]]
        splits = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=len(texts)))])
        shift = text_starts[owner]
        bounds = splits.tolist()
        return Tokenized([forms[a:b] for a, b in itertools.pairwise(bounds)],
                         starts - shift, ends - shift, splits.astype(np.int64), multiword)

    def _learn_chunks(self, chunks: list[str]) -> _ChunkWords:
        """The words of every chunk seen so far, `chunks` among them (each has its id in
        `_known`): text repeats its words, so each call labels only the chunks no call
        has labelled before, up to CACHE_CHUNKS, past which the cache starts afresh."""
        known = getattr(self, "_known", None)
        if known is None or len(known) > CACHE_CHUNKS:
            self._known, self._words = {}, None
        new = [c for c in dict.fromkeys(chunks) if c not in self._known]
        if not new and self._words is not None:
            return self._words
        fresh = self._chunk_words(new)
        self._known.update(zip(new, range(len(self._known), len(self._known) + len(new)),
                               strict=True))
        old = self._words
        if old is not None:
            fresh = _ChunkWords(
                np.concatenate([old.forms, fresh.forms]),
                np.concatenate([old.starts, fresh.starts]),
                np.concatenate([old.ends, fresh.ends]),
                np.concatenate([old.counts, fresh.counts]),
                np.concatenate([old.first, fresh.first + len(old.forms)]),
                np.concatenate([old.multiword, fresh.multiword]), old.spans + fresh.spans)
        self._words = fresh
        return fresh

    def _chunk_words(self, chunks: list[str]) -> _ChunkWords:
        """The words of each distinct chunk, labelled together (joined by spaces)."""
        text = " ".join(chunks)
        lowered, classes = self.encoded(text)
        labels = self.labels_of(lowered, classes)
        spaces = classes[PAD:len(classes) - PAD] == SPACE
        starting = ~spaces & (labels != INSIDE)
        starts = np.flatnonzero(starting)
        breaks = np.flatnonzero(starting | spaces)
        ends = np.append(breaks, len(text))[np.searchsorted(breaks, starts, side="right")]
        token_of = np.cumsum(labels[starts] == TOKEN) - 1
        single = np.bincount(token_of, minlength=len(starts))[token_of] == 1
        chunk_at = np.cumsum([0, *(len(c) + 1 for c in chunks[:-1])], dtype=np.int64)
        chunk_of = np.searchsorted(chunk_at, starts, side="right") - 1
        spans: list[list[tuple[int, int]]] = [[] for _ in chunks]
        for token in np.unique(token_of[~single]).tolist():  # words that spell their token
            members = np.flatnonzero(token_of == token)
            chunk = chunk_of[members[0]]
            spans[chunk].append((int(starts[members[0]] - chunk_at[chunk]),
                                 int(ends[members[-1]] - chunk_at[chunk])))
        forms = [text[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
        if self.lexicon:
            forms, starts, ends, chunk_of = self._expanded(
                forms, starts, ends, chunk_of, single, lowered, classes, chunk_at, spans)
        for held in spans:
            held.sort()
        counts = np.bincount(chunk_of, minlength=len(chunks))
        flat_forms = np.empty(len(forms), object)
        flat_forms[:] = forms
        return _ChunkWords(flat_forms, starts - chunk_at[chunk_of],
                           ends - chunk_at[chunk_of], counts, np.cumsum(counts) - counts,
                           np.array([bool(held) for held in spans]), spans)

    def _expanded(self, forms: list[str], starts: np.ndarray, ends: np.ndarray,
                  chunk_of: np.ndarray, single: np.ndarray, lowered: np.ndarray,
                  classes: np.ndarray, chunk_at: np.ndarray,
                  spans: list[list[tuple[int, int]]]
                  ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """The words with each single-word token that the lexicon has replaced by its
        words (capitalized after a capital), all at the token's offsets."""
        text = lowered[PAD:len(lowered) - PAD].astype("<u4").tobytes().decode(
            "utf-32-le", "surrogatepass")
        expansions = self.expansions
        hits = [i for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True))
                if text[a:b] in expansions and single[i]]
        if not hits:
            return forms, starts, ends, chunk_of
        counts = np.ones(len(forms), np.int64)
        out: list[str] = []
        previous = 0
        for i in hits:
            a, b = int(starts[i]), int(ends[i])
            expansion = expansions[text[a:b]][1 if classes[PAD + a] == UPPER else 0]
            out += forms[previous:i] + expansion
            previous = i + 1
            counts[i] = len(expansion)
            chunk = chunk_of[i]
            spans[chunk].append((a - int(chunk_at[chunk]), b - int(chunk_at[chunk])))
        out += forms[previous:]
        return (out, np.repeat(starts, counts), np.repeat(ends, counts),
                np.repeat(chunk_of, counts))

    def _in_dictionary(self, hashed: np.ndarray) -> np.ndarray:
        """1 where a hash is a training word's, else 0. A bitmap of the words' hashes
        rules most positions out before the exact search."""
        flags = np.zeros(len(hashed), np.int64)
        if not len(self.dictionary):
            return flags
        if getattr(self, "_bitmap_of", None) is not self.dictionary:  # training swaps it
            self._bitmap = np.zeros(TABLE_SIZE, bool)
            self._bitmap[self.dictionary & (TABLE_SIZE - 1)] = True
            self._bitmap_of = self.dictionary
        candidates = np.flatnonzero(self._bitmap[hashed & (TABLE_SIZE - 1)])
        found = np.minimum(np.searchsorted(self.dictionary, hashed[candidates]),
                           len(self.dictionary) - 1)
        flags[candidates] = self.dictionary[found] == hashed[candidates]
        return flags

    def lowercased(self, text: str) -> str:
        """`text` lower-cased one code point at a time by the model's table, as the
        lexicon keys its surfaces and looks them up."""
        lowered = self.encoded(text)[0][PAD:PAD + len(text)]
        return lowered.astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")

    @property
    def expansions(self) -> dict[str, tuple[list[str], list[str]]]:
        """The lexicon with each expansion as it is and capitalized (for `Zum`: `Zu` `dem`)."""
        if getattr(self, "_expansions_of", None) is not self.lexicon:
            self._expansions = {
                surface: (forms, [forms[0][:1].upper() + forms[0][1:], *forms[1:]])
                for surface, forms in self.lexicon.items()}
            self._expansions_of = self.lexicon
        return self._expansions

    # -- training ---------------------------------------------------------------------
    @classmethod
    def train(cls, sentences: Sequence[Surface], epochs: int = 8, seed: int = 1,
              tables: tuple[np.ndarray, np.ndarray] | None = None) -> Segmenter:
        """A segmenter learned from `sentences` (at least one)."""
        classes, lower = tables if tables is not None else unicode_tables()
        model = cls(np.zeros((TABLE_SIZE, LABELS), np.int32), classes, lower,
                    np.zeros(0, np.int64), {})
        model.lexicon = lexicon(sentences, model.lowercased)
        # Each fold's features look words up in the other folds' words only, so that the
        # weights learn how far the dictionary is to be trusted on unseen text.
        rows, targets = [], []
        for fold in range(_FOLDS):
            held_out = sentences[fold::_FOLDS]
            others = [s for i, s in enumerate(sentences) if i % _FOLDS != fold]
            words = _dictionary_words(others)
            model.dictionary = model.word_hashes(words)
            for sentence in held_out:
                lowered, kinds = model.encoded(sentence.text)
                starts, continues = model.forced(kinds)
                target = gold_labels(sentence)
                learn = (kinds[PAD:len(kinds) - PAD] != SPACE) & ~starts & ~continues
                rows.append(model.feature_rows(lowered, kinds)[learn])
                targets.append(target[learn])
        model.dictionary = model.word_hashes(_dictionary_words(sentences))
        if not rows:
            raise TaggerError("the tokenizer has no sentences to learn from")
        features = np.concatenate(rows)
        labels = np.concatenate(targets)
        model.weights = linear.fit(features, labels, TABLE_SIZE, LABELS, epochs, seed)
        return model

    def word_hashes(self, forms: set[str]) -> np.ndarray:
        """The sorted hashes of lower-cased word forms, as `feature_rows` hashes them."""
        hashes = set()
        for form in forms:
            lowered = self.encoded(form)[0][PAD:PAD + len(form)]
            hashed = 0
            for point in lowered.tolist():
                hashed = (hashed * MULTIPLIER + point + 1) % PRIME
            hashes.add(hashed)
        return np.array(sorted(hashes), np.int64)

    # -- files ------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        with open(path, "wb") as stream:
            np.savez_compressed(stream, weights=self.weights, classes=self.classes,
                                lower=self.lower, dictionary=self.dictionary,
                                lexicon=np.array(json.dumps(self.lexicon, ensure_ascii=False)))

    @classmethod
    def load(cls, path: Path) -> Segmenter:
        try:
            with np.load(path, allow_pickle=False) as data:
                weights, classes, lower = data["weights"], data["classes"], data["lower"]
                dictionary = data["dictionary"]
                lexicon = json.loads(str(data["lexicon"]))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
                zlib.error) as error:
            raise TaggerError(f"{path} is damaged ({error}); restore the folder or retrain "
                              "the model") from None
        if weights.shape != (TABLE_SIZE, LABELS) or classes.shape != (TABLE_CODE_POINTS,):
            raise TaggerError(f"{path} holds a tokenizer of another shape; retrain the model")
        return cls(weights.astype(np.int32), classes, lower.astype(np.int32),
                   dictionary.astype(np.int64), lexicon)


def _dictionary_words(sentences: Sequence[Surface]) -> set[str]:
    return {form for sentence in sentences for _, form, _ in sentence.words
            if len(form) in DICTIONARY_LENGTHS}


def gold_labels(sentence: Surface) -> np.ndarray:
    """The label of each character of a sentence's text, from its tokens and words."""
    labels = np.zeros(len(sentence.text), np.int64)
    for (start, end), forms in zip(sentence.tokens, sentence.forms(), strict=True):
        labels[start] = TOKEN
        if "".join(forms) == sentence.text[start:end]:  # words that spell the token
            position = start
            for form in forms[:-1]:
                position += len(form)
                labels[position] = WORD
    return labels


def lexicon(sentences: Sequence[Surface], lowercased: Callable[[str], str]
            ) -> dict[str, list[str]]:
    """Multiword tokens whose words do not spell them, `lowercased`, with their most
    frequent words (lower-cased), where the corpus writes them so more often than as a
    single word."""
    expansions: dict[str, Counter] = {}
    single: Counter = Counter()
    for sentence in sentences:
        for (start, end), forms in zip(sentence.tokens, sentence.forms(), strict=True):
            surface = lowercased(sentence.text[start:end])
            if len(forms) == 1:
                single[surface] += 1
            elif "".join(forms) != sentence.text[start:end]:
                expansions.setdefault(surface, Counter())[
                    tuple(f.lower() for f in forms)] += 1
    found = {}
    for surface, counts in sorted(expansions.items()):
        forms, count = counts.most_common(1)[0]
        if count > single[surface]:
            found[surface] = list(forms)
    return found
