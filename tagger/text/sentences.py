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


def _properties(form: str) -> tuple[int, ...]:
    """(form, shape, first character, last character, suffix, length) ids of a form."""
    lowered = form.lower()
    return (_id(lowered), shape(form), _id(lowered[:1]), _id(lowered[-1:]),
            _id(lowered[-3:]), min(len(form), 4))


def _id(text: str) -> int:
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


class SentenceSplitter:
    """Integer weights over hashed features of the tokens around each boundary."""

    def __init__(self, weights: np.ndarray) -> None:
        self.weights = weights
        # Each form seen: its row of `_properties` (the empty form, the edge, is row 0).
        self._row_of: dict[str, int] = {}
        self._properties = np.zeros((0, len(PROPERTIES)), np.int64)

    def _rows(self, forms: Sequence[str]) -> np.ndarray:
        """The `_properties` rows of `forms`: (form, shape, first character, last
        character, suffix, length) ids, computed once per form."""
        row_of = self._row_of
        if len(row_of) > CACHE_FORMS:
            row_of.clear()
        if not row_of:
            self._properties = np.zeros((0, len(PROPERTIES)), np.int64)
            new = [""]
        else:
            new = []
        new += [f for f in dict.fromkeys(forms) if f not in row_of]
        if new:
            first = len(row_of)
            row_of.update(zip(new, range(first, first + len(new)), strict=True))
            self._properties = np.concatenate([self._properties, np.array(
                [_properties(f) for f in new], np.int64).reshape(len(new), -1)])
        return np.fromiter(map(row_of.__getitem__, forms), np.int64, len(forms))

    def feature_rows(self, forms: Sequence[str], gaps: np.ndarray) -> np.ndarray:
        """(tokens, features) weight-table rows of the boundary after each token."""
        return np.stack(self._columns(self._rows(forms), np.asarray(gaps, np.int64)), axis=1)

    def _columns(self, rows: np.ndarray, gap: np.ndarray) -> list[np.ndarray]:
        """`feature_rows`' columns, one array over the tokens per feature, from the tokens'
        `_properties` rows."""
        count = len(rows)
        edges = np.zeros(_PAD, np.int64)
        table = self._properties[np.concatenate([edges, rows, edges])]

        def at(offset: int, what: str) -> np.ndarray:
            if what == GAP:
                return gap
            return table[_PAD + offset:_PAD + offset + count, PROPERTIES.index(what)]

        return [linear.hashed(t + 1, [at(o, what) for o, what in template], count)
                & (TABLE_SIZE - 1) for t, template in enumerate(TEMPLATES)]

    def ends(self, forms: Sequence[str], gaps: np.ndarray) -> np.ndarray:
        """Whether a sentence ends after each token of a paragraph (after its last: yes)."""
        return self.ends_of(forms, np.asarray(gaps, np.int64), np.array([0, len(forms)]))

    def ends_of(self, forms: Sequence[str], gaps: np.ndarray, splits: np.ndarray
                ) -> np.ndarray:
        """`ends` of paragraphs given flat (paragraph i's tokens are
        `forms[splits[i]:splits[i + 1]]`), scored together: between paragraphs lie _PAD
        empty tokens, which read as the edges a paragraph alone has."""
        count = len(forms)
        sizes = np.diff(splits)
        # Each token's place among the paragraphs with edges between them.
        place = np.arange(count) + _PAD * (np.repeat(np.arange(len(sizes)), sizes) + 1)
        padded = count + _PAD * (len(sizes) + 1)
        rows = np.zeros(padded, np.int64)
        rows[place] = self._rows(forms)
        padded_gaps = np.full(padded, END, np.int64)
        padded_gaps[place] = gaps
        scores = np.zeros((count, LABELS), np.int32)
        for column in self._columns(rows, padded_gaps):
            scores += self.weights[column[place]]
        found = scores[:, ENDS] > scores[:, CONTINUES]
        found[splits[1:][sizes > 0] - 1] = True
        return found

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


def forms_and_gaps(texts: Sequence[str], starts: np.ndarray, ends: np.ndarray,
                   splits: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Paragraphs' surface tokens, flat (text i's from `starts` to `ends` of
    `splits[i]:splits[i + 1]`), and the white space after each (NO_SPACE, SPACE, NEWLINE;
    END after a paragraph's last): what the splitter reads."""
    if not len(starts):
        return [], np.zeros(0, np.int64)
    sizes = np.diff(splits)
    # The texts joined by a line break: offsets in the joined text, one slice per form.
    shift = np.repeat(joined_offsets(texts), sizes)
    joined = "\n".join(texts)
    starts, ends = starts + shift, ends + shift
    forms = [joined[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
    # Line breaks before each character: those between two tokens are a difference.
    breaks = np.concatenate([[0], np.cumsum(np.frombuffer(joined.encode("utf-32-le"),
                                                          np.uint32) == ord("\n"))])
    after, before = ends[:-1], starts[1:]
    gaps = np.append(np.where(before == after, NO_SPACE,
                              np.where(breaks[before] > breaks[after], NEWLINE, SPACE)), END)
    gaps[splits[1:][sizes > 0] - 1] = END
    return forms, gaps.astype(np.int64)


def joined_offsets(texts: Sequence[str]) -> np.ndarray:
    """Where each of `texts` starts when they are joined by one character."""
    return np.cumsum([0, *[len(t) + 1 for t in texts]], dtype=np.int64)[:len(texts)]


def paragraphs(sentences: Sequence[Surface]) -> list[Paragraph]:
    """What the splitter learns from a corpus's sentences in order: each paragraph
    (`surface.paragraphs`) as its surface tokens, the white space after each, and where
    the sentences end."""
    found = []
    for joined in surface.paragraphs(sentences):
        if not joined.surface.tokens:
            continue
        spans = np.array(joined.surface.tokens, np.int64).reshape(-1, 2)
        forms, gaps = forms_and_gaps([joined.surface.text], spans[:, 0], spans[:, 1],
                                     np.array([0, len(spans)]))
        ends = {end for _, end in joined.sentences}
        found.append(Paragraph(forms, gaps, np.array([end in ends for _, end in
                                                      joined.surface.tokens], bool)))
    return found
