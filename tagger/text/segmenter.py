"""A tokenizer learned from a corpus: where its tokens and words start in raw text.

Each character that is not white space gets one of three labels: it continues a word
(`INSIDE`), starts a surface token (`TOKEN`) or starts a word inside one (`WORD`: `n't` in
`don't`). A linear model scores the labels from hashed features of the characters around
it (lower-cased code points and character classes, up to three before and two after):
the same arithmetic in NumPy here and in TensorFlow in the SavedModel, with integer
weights, so every backend finds the same tokens. A multiword token whose words do not
spell it (German `zum` = `zu dem`) is expanded by a lexicon of the training corpus's.

It trains in seconds (softmax regression, Adagrad) from `surface.Surface` sentences; see
docs/tokenizers.md for how it compares with the rules.
"""

from __future__ import annotations

import itertools
import json
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tagger.errors import TaggerError
from tagger.text.surface import Surface
from tagger.text.tokenizer import Tokenized

INSIDE, TOKEN, WORD = 0, 1, 2
LABELS = 3
TABLE_SIZE = 1 << 19  # hashed feature rows
PRIME = 2147483647  # hashes stay below 2**31, so multiplying by MULTIPLIER fits int64
MULTIPLIER = 1000003
# Code points with a class and lower-case table entry; the rest are OTHER and themselves.
TABLE_CODE_POINTS = 0x30000
PAD = 4  # context characters each side, beyond which a text never looks
# Lengths of the training words looked up around each position.
DICTIONARY_LENGTHS = (2, 3, 4)
_FOLDS = 5  # training folds for the dictionary features
_RATE = 0.05  # Adagrad's learning rate
_SCALE = 256  # float weights times this, rounded, are the integer weights

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

    # -- features ---------------------------------------------------------------------
    def encoded(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(lower-cased code points, classes) of `text` with PAD newlines each side."""
        padded = "\n" * PAD + text + "\n" * PAD
        points = np.frombuffer(padded.encode("utf-32-le", "surrogatepass"), "<u4")
        points = points.astype(np.int64)
        known = points < TABLE_CODE_POINTS
        lowered = np.where(known, self.lower[np.minimum(points, TABLE_CODE_POINTS - 1)],
                           points).astype(np.int64)
        classes = np.where(known, self.classes[np.minimum(points, TABLE_CODE_POINTS - 1)],
                           OTHER).astype(np.int64)
        return lowered, classes

    def feature_rows(self, lowered: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """(positions, features) table rows of each position between the pads: the
        TEMPLATES, then whether a training word of each of DICTIONARY_LENGTHS ends just
        before it and starts at it, and all those flags together."""
        count = len(lowered) - 2 * PAD
        columns = []
        for t, (point_offsets, class_offsets) in enumerate(TEMPLATES):
            hashed = np.full(count, t + 1, np.int64)
            for values, offsets in ((lowered, point_offsets), (classes, class_offsets)):
                for offset in offsets:
                    shifted = values[PAD + offset:PAD + offset + count]
                    hashed = (hashed * MULTIPLIER + shifted + 1) % PRIME
            columns.append(hashed)
        together = np.full(count, len(TEMPLATES) + 1, np.int64)
        for n, length in enumerate(DICTIONARY_LENGTHS):
            for side, first in enumerate((-length, 0)):
                hashed = np.zeros(count, np.int64)
                for offset in range(first, first + length):
                    shifted = lowered[PAD + offset:PAD + offset + count]
                    hashed = (hashed * MULTIPLIER + shifted + 1) % PRIME
                flag = self._in_dictionary(hashed)
                template = len(TEMPLATES) + 2 + 2 * n + side
                columns.append((template * MULTIPLIER + flag + 1) % PRIME)
                together = (together * MULTIPLIER + flag + 1) % PRIME
        columns.append(together)
        return np.stack(columns, axis=1) % TABLE_SIZE

    def _in_dictionary(self, hashed: np.ndarray) -> np.ndarray:
        """1 where a hash is a training word's, else 0."""
        if not len(self.dictionary):
            return np.zeros(len(hashed), np.int64)
        found = np.minimum(np.searchsorted(self.dictionary, hashed), len(self.dictionary) - 1)
        return (self.dictionary[found] == hashed).astype(np.int64)

    @staticmethod
    def forced(points: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(must start a token, must continue one) for each position between the pads: a
        character after white space starts one; a mark, joiner or what a joiner joins
        continues the one before."""
        inner = slice(PAD, len(classes) - PAD)
        before = np.roll(classes, 1)[inner]
        here = classes[inner]
        starts = (here != SPACE) & (before == SPACE)
        joined = (here == MARK) | (here == JOINER) | (before == JOINER)
        continues = (here != SPACE) & ~starts & joined
        return starts, continues

    # -- tagging ----------------------------------------------------------------------
    def labels_of(self, lowered: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """The label of each position between the pads (INSIDE for white space)."""
        scores = self.weights[self.feature_rows(lowered, classes)].sum(axis=1)
        inside, token, word = scores[:, INSIDE], scores[:, TOKEN], scores[:, WORD]
        labels = np.where((token > inside) & (token >= word), TOKEN,
                          np.where((word > inside) & (word > token), WORD, INSIDE))
        starts, continues = self.forced(lowered, classes)
        labels[starts] = TOKEN
        labels[continues | (classes[PAD:len(classes) - PAD] == SPACE)] = INSIDE
        return labels

    def __call__(self, texts: Sequence[str]) -> Tokenized:
        """The words of each text and their offsets (see `Tokenized`).

        The texts are labelled in one array, joined by PAD newlines. A word runs from a
        TOKEN or WORD label to the next such label or white space; a TOKEN with no WORD
        after it is a single-word token, expanded where the lexicon has it.
        """
        joined = ("\n" * PAD).join(texts)
        lowered, classes = self.encoded(joined)
        labels = self.labels_of(lowered, classes)
        spaces = classes[PAD:len(classes) - PAD] == SPACE
        starting = ~spaces & (labels != INSIDE)
        starts = np.flatnonzero(starting)
        breaks = np.flatnonzero(starting | spaces)
        ends = np.append(breaks, len(joined))[np.searchsorted(breaks, starts, side="right")]
        token_of = np.cumsum(labels[starts] == TOKEN) - 1
        words_in = np.bincount(token_of, minlength=token_of[-1] + 1 if len(starts) else 0)
        single = words_in[token_of] == 1
        text_starts = np.cumsum([0, *(len(t) + PAD for t in texts[:-1])], dtype=np.int64)
        owner = np.searchsorted(text_starts, starts, side="right") - 1
        forms = [joined[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
        multiword: list[list[list[int]]] = [[] for _ in texts]
        for token in np.unique(token_of[~single]).tolist():  # words that spell their token
            members = np.flatnonzero(token_of == token)
            a, b = int(starts[members[0]]), int(ends[members[-1]])
            shift = int(text_starts[owner[members[0]]])
            multiword[owner[members[0]]].append([a - shift, b - shift])
        out_forms, out_starts, out_ends, out_owner = forms, starts, ends, owner
        if self.lexicon:
            out_forms, keep_start, keep_end, keep_owner = [], [], [], []
            for i in range(len(forms)):
                expansion = self.expansions.get(self.lowered_form(lowered, starts[i], ends[i]))
                if expansion is None or not single[i]:
                    out_forms.append(forms[i])
                    keep_start.append(starts[i]), keep_end.append(ends[i])
                    keep_owner.append(owner[i])
                    continue
                capitalized = self.classes_of(forms[i][:1]) == UPPER
                out_forms += expansion[1 if capitalized else 0]
                count = len(expansion[0])
                keep_start += [starts[i]] * count
                keep_end += [ends[i]] * count
                keep_owner += [owner[i]] * count
                shift = int(text_starts[owner[i]])
                multiword[owner[i]].append([int(starts[i]) - shift, int(ends[i]) - shift])
            out_starts = np.asarray(keep_start, np.int64)
            out_ends = np.asarray(keep_end, np.int64)
            out_owner = np.asarray(keep_owner, np.int64)
            for spans in multiword:
                spans.sort()
        shift = text_starts[out_owner] if len(out_owner) else np.zeros(0, np.int64)
        splits = np.concatenate([[0], np.cumsum(np.bincount(out_owner, minlength=len(texts)))])
        bounds = splits.tolist()
        return Tokenized([out_forms[a:b] for a, b in itertools.pairwise(bounds)],
                         out_starts - shift, out_ends - shift, splits.astype(np.int64),
                         multiword)

    def lowered_form(self, lowered: np.ndarray, start: int, end: int) -> str:
        """A word's lower-cased form, as the lexicon keys it (one code point each)."""
        points = lowered[PAD + start:PAD + end].astype("<u4")
        return points.tobytes().decode("utf-32-le", "surrogatepass")

    def classes_of(self, character: str) -> int:
        point = ord(character) if character else 0
        return int(self.classes[point]) if point < TABLE_CODE_POINTS else OTHER

    @property
    def expansions(self) -> dict[str, tuple[list[str], list[str]]]:
        """The lexicon with each expansion as it is and capitalized (for `Zum`: `Zu` `dem`)."""
        if getattr(self, "_cached_expansions", None) is None:
            self._cached_expansions = {
                surface: (forms, [forms[0][:1].upper() + forms[0][1:], *forms[1:]])
                for surface, forms in self.lexicon.items()}
        return self._cached_expansions

    # -- training ---------------------------------------------------------------------
    @classmethod
    def train(cls, sentences: Sequence[Surface], epochs: int = 8, seed: int = 1,
              tables: tuple[np.ndarray, np.ndarray] | None = None) -> Segmenter:
        """A segmenter learned from `sentences` (at least one)."""
        classes, lower = tables if tables is not None else unicode_tables()
        model = cls(np.zeros((TABLE_SIZE, LABELS), np.int32), classes, lower,
                    np.zeros(0, np.int64), lexicon(sentences))
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
                starts, continues = model.forced(lowered, kinds)
                target = gold_labels(sentence)
                learn = (kinds[PAD:len(kinds) - PAD] != SPACE) & ~starts & ~continues
                rows.append(model.feature_rows(lowered, kinds)[learn])
                targets.append(target[learn])
        model.dictionary = model.word_hashes(_dictionary_words(sentences))
        if not rows:
            raise TaggerError("the tokenizer has no sentences to learn from")
        features = np.concatenate(rows)
        labels = np.concatenate(targets)
        model.weights = _fit(features, labels, epochs, seed)
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
        except (OSError, ValueError, KeyError) as error:
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


def lexicon(sentences: Sequence[Surface]) -> dict[str, list[str]]:
    """Multiword tokens whose words do not spell them, lower-cased, with their most
    frequent words, where the corpus writes them so more often than as a single word."""
    expansions: dict[str, Counter] = {}
    single: Counter = Counter()
    for sentence in sentences:
        for (start, end), forms in zip(sentence.tokens, sentence.forms(), strict=True):
            surface = sentence.text[start:end].lower()
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


def _fit(features: np.ndarray, labels: np.ndarray, epochs: int, seed: int) -> np.ndarray:
    """Softmax regression on rows of hashed features (Adagrad, batches of 2,048),
    returned as integer weights."""
    weights = np.zeros((TABLE_SIZE, LABELS), np.float64)
    squares = np.full((TABLE_SIZE, LABELS), 1e-8)
    rate = _RATE
    random = np.random.default_rng(seed)
    width = features.shape[1]
    for _ in range(epochs):
        order = random.permutation(len(labels))
        for first in range(0, len(order), 2048):
            batch = order[first:first + 2048]
            rows = features[batch]
            scores = weights[rows].sum(axis=1)
            scores -= scores.max(axis=1, keepdims=True)
            probabilities = np.exp(scores)
            probabilities /= probabilities.sum(axis=1, keepdims=True)
            probabilities[np.arange(len(batch)), labels[batch]] -= 1.0
            flat = rows.ravel()
            touched, where = np.unique(flat, return_inverse=True)
            gradient = np.zeros((len(touched), LABELS))
            np.add.at(gradient, where, np.repeat(probabilities, width, axis=0))
            squares[touched] += gradient ** 2
            weights[touched] -= rate * gradient / np.sqrt(squares[touched])
    return np.round(weights * _SCALE).astype(np.int32)
