"""Sentence boundaries learned from a corpus: after which surface token of a paragraph's
running text a sentence ends.

A linear model (`text.linear`, as the learned tokenizer's) scores each boundary between
two surface tokens from hashed features of the tokens around it: the lower-cased forms of
two before and two after, their shapes (Title, UPPER, lower, digits, punctuation, ...),
the last character before and the first after, the token's suffix and length, and the
white space between. It learns from the corpus's running text: the consecutive sentences
of a paragraph, joined as the text joins them (a space, or none after SpaceAfter=No), so
that every sentence end but a paragraph's last is a boundary to learn. A paragraph's end
always ends a sentence. Paragraphs come from CoNLL-U's `# newpar` and `# newdoc`; a corpus
without them is one running text in its order.
"""

from __future__ import annotations

import unicodedata
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tagger.errors import TaggerError
from tagger.text import linear, surface
from tagger.text.surface import Surface

TABLE_SIZE = 1 << 18
CONTINUES, ENDS = 0, 1
LABELS = 2
# Token shapes.
(EDGE, TITLE, UPPER, LOWER, DIGITS, PUNCTUATION, OTHER) = range(7)
# White space after a token: none, spaces, a line break; the paragraph's end.
NO_SPACE, SPACE, NEWLINE, END = range(4)
# The features: each a combination of (token offset, property); offset 0 is the token the
# boundary follows, 1 the token after it; GAP is the white space between them.
GAP = "gap"
TEMPLATES: tuple[tuple[tuple[int, str], ...], ...] = (
    (),  # the bias
    ((0, "form"),), ((1, "form"),), ((-1, "form"), (0, "form")), ((0, "form"), (1, "form")),
    ((1, "form"), (2, "form")),
    ((0, "shape"), (1, "shape")), ((-1, "shape"), (0, "shape"), (1, "shape")),
    ((0, "shape"), (1, "shape"), (2, "shape")),
    ((0, "form"), (1, "shape")), ((0, "shape"), (1, "form")),
    ((0, "last"),), ((0, "last"), (1, "first")), ((0, "last"), (1, "shape")),
    ((0, "suffix"),), ((0, "suffix"), (1, "shape")),
    ((0, "length"), (0, "shape"), (1, "shape")),
    ((0, GAP),), ((0, GAP), (1, "shape")), ((0, GAP), (0, "form")),
    ((0, GAP), (0, "last"), (1, "shape")),
)
PROPERTIES = ("form", "shape", "first", "last", "suffix", "length")
_PAD = 2  # tokens of context each side
CACHE_FORMS = 500_000  # distinct forms whose properties a splitter keeps between calls


class Paragraph(NamedTuple):
    """A paragraph's surface tokens, the white space after each (NO_SPACE, SPACE, NEWLINE;
    END after the last) and whether a sentence ends after each (the last: always)."""

    forms: list[str]
    gaps: np.ndarray
    ends: np.ndarray


def shape(form: str) -> int:
    if not form:
        return EDGE
    if all(unicodedata.category(c)[0] in "PS" for c in form):
        return PUNCTUATION
    if form[0].isdigit():
        return DIGITS
    if form[0].isupper():
        return UPPER if len(form) > 1 and form.isupper() else TITLE
    if form[0].islower():
        return LOWER
    return OTHER


def _id(text: str) -> int:
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


class SentenceSplitter:
    """Integer weights over hashed features of the tokens around each boundary."""

    def __init__(self, weights: np.ndarray) -> None:
        self.weights = weights
        self._properties: dict[str, tuple[int, ...]] = {}

    def _of(self, form: str) -> tuple[int, ...]:
        """(form, shape, first character, last character, suffix, length) ids of a form."""
        found = self._properties.get(form)
        if found is None:
            if len(self._properties) > CACHE_FORMS:
                self._properties.clear()
            lowered = form.lower()
            found = self._properties[form] = (
                _id(lowered), shape(form), _id(lowered[:1]), _id(lowered[-1:]),
                _id(lowered[-3:]), min(len(form), 4))
        return found

    def feature_rows(self, forms: Sequence[str], gaps: np.ndarray) -> np.ndarray:
        """(tokens, features) weight-table rows of the boundary after each token."""
        count = len(forms)
        edge = self._of("")
        table = np.array([edge] * _PAD + [self._of(f) for f in forms] + [edge] * _PAD,
                         np.int64).reshape(count + 2 * _PAD, -1)
        gap = np.asarray(gaps, np.int64)

        def at(offset: int, what: str) -> np.ndarray:
            if what == GAP:
                return gap
            return table[_PAD + offset:_PAD + offset + count, PROPERTIES.index(what)]

        columns = [linear.hashed(t + 1, [at(o, what) for o, what in template], count)
                   & (TABLE_SIZE - 1) for t, template in enumerate(TEMPLATES)]
        return np.stack(columns, axis=1)

    def ends(self, forms: Sequence[str], gaps: np.ndarray) -> np.ndarray:
        """Whether a sentence ends after each token of a paragraph (after its last: yes)."""
        return self.ends_of([(forms, gaps)])[0]

    def ends_of(self, paragraphs: Sequence[tuple[Sequence[str], np.ndarray]]
                ) -> list[np.ndarray]:
        """`ends` of each paragraph, scored together: joined with _PAD empty tokens
        between them, which read as the edges a paragraph alone has."""
        forms: list[str] = []
        gaps: list[np.ndarray] = []
        starts = []
        for paragraph_forms, paragraph_gaps in paragraphs:
            starts.append(len(forms))
            forms += paragraph_forms
            forms += [""] * _PAD
            gaps += [np.asarray(paragraph_gaps, np.int64), np.full(_PAD, END, np.int64)]
        if not forms:
            return [np.zeros(0, bool) for _ in paragraphs]
        scores = np.zeros((len(forms), LABELS), np.int32)
        for column in self.feature_rows(forms, np.concatenate(gaps)).T:
            scores += self.weights[column]
        found = scores[:, ENDS] > scores[:, CONTINUES]
        result = []
        for start, (paragraph_forms, _) in zip(starts, paragraphs, strict=True):
            ends = found[start:start + len(paragraph_forms)].copy()
            if len(ends):
                ends[-1] = True
            result.append(ends)
        return result

    # -- training ---------------------------------------------------------------------
    @classmethod
    def train(cls, paragraphs: Sequence[Paragraph], epochs: int = 4, seed: int = 1
              ) -> SentenceSplitter:
        """A splitter learned from `paragraphs` (their last tokens are not learned from:
        a paragraph's end always ends a sentence)."""
        model = cls(np.zeros((TABLE_SIZE, LABELS), np.int32))
        rows, targets = [], []
        for paragraph in paragraphs:
            if len(paragraph.forms) < 2:
                continue
            rows.append(model.feature_rows(paragraph.forms, paragraph.gaps)[:-1])
            targets.append(paragraph.ends[:-1].astype(np.int64))
        if not rows:
            raise TaggerError("the sentence splitter has no paragraphs of two tokens or "
                              "more to learn from")
        model.weights = linear.fit(np.concatenate(rows), np.concatenate(targets), TABLE_SIZE,
                                   LABELS, epochs, seed)
        return model

    # -- files ------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        with open(path, "wb") as stream:
            np.savez_compressed(stream, weights=self.weights)

    @classmethod
    def load(cls, path: Path) -> SentenceSplitter:
        try:
            with np.load(path, allow_pickle=False) as data:
                weights = data["weights"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
                zlib.error) as error:
            raise TaggerError(f"{path} is damaged ({error}); restore the folder or retrain "
                              "the model") from None
        if weights.shape != (TABLE_SIZE, LABELS):
            raise TaggerError(f"{path} holds a sentence splitter of another shape; retrain "
                              "the model")
        return cls(weights.astype(np.int32))


def gap(between: str) -> int:
    """The kind of white space `between` two tokens."""
    if not between:
        return NO_SPACE
    return NEWLINE if "\n" in between else SPACE


def forms_and_gaps(text: str, tokens: Sequence[tuple[int, int]]
                   ) -> tuple[list[str], np.ndarray]:
    """A paragraph's surface tokens at `tokens` (start, end) in `text`, and the white space
    after each (END after the last): what the splitter reads."""
    gaps = [gap(text[tokens[i][1]:tokens[i + 1][0]]) for i in range(len(tokens) - 1)]
    return ([text[start:end] for start, end in tokens],
            np.array([*gaps, END][:len(tokens)], np.int64))


def paragraphs(sentences: Sequence[Surface]) -> list[Paragraph]:
    """What the splitter learns from a corpus's sentences in order: each paragraph
    (`surface.paragraphs`) as its surface tokens, the white space after each, and where
    the sentences end."""
    found = []
    for joined in surface.paragraphs(sentences):
        if not joined.surface.tokens:
            continue
        forms, gaps = forms_and_gaps(joined.surface.text, joined.surface.tokens)
        ends = {end for _, end in joined.sentences}
        found.append(Paragraph(forms, gaps, np.array([end in ends for _, end in
                                                      joined.surface.tokens], bool)))
    return found
