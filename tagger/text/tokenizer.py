"""Raw text to tokens with character offsets (`split`); the SavedModel runs the same
patterns in TensorFlow Text (`export.savedmodel.tokenize`).

The rules follow the corpora's (Penn Treebank style) tokenization: punctuation is split off
words, but abbreviations (U.S.), numbers and dates (1996-08-22, 3.5), URLs, @mentions and
#hashtags stay whole, and clitics split off as in the treebanks (don't -> do n't, it's -> it 's).

The patterns are written in the syntax that RE2 (TensorFlow Text) and the `regex` module
share: whitespace is RE2's ASCII `\\s` spelled out, the typographic apostrophe is the
character itself, and the end of text is `\\z`. Both give the same tokens
(tests/test_tokenizing.py checks the corpora's whole text).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import regex

# What separates tokens and is never part of one: every Unicode space (\p{Z}: spaces of
# every width, the line and paragraph separators), control characters (\p{Cc}: tab, newline,
# NUL, BEL, ESC, NEL) and invisible format characters (\p{Cf}: zero-width space, BOM, bidi
# marks), except where a cluster or word below holds them. TensorFlow Text's split ends a
# text at its first NUL, so the SavedModel turns NULs into spaces first.
SPACE = r"[\p{Z}\p{Cc}\p{Cf}]"
_NOTSPACE = r"[^\p{Z}\p{Cc}\p{Cf}]"
_LETTER = r"[\p{L}\p{M}\p{N}_]"
# Letters, marks and digits; a format character between two of them (a zero-width joiner or
# non-joiner, a soft hyphen, a zero-width space) keeps the word whole.
_WORD = rf"{_LETTER}+(?:\p{{Cf}}+{_LETTER}+)*"
# What extends a symbol into one grapheme cluster: combining marks (variation selectors,
# the keycap), skin-tone modifiers and tag characters (subdivision flags), and a zero-width
# joiner with the next symbol (family and profession emoji). Literal characters: the
# `regex` module has no \x{...} escape, RE2 no \X.
_EXTEND = "[\\p{M}\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F]"
_SYMBOL = f"{_NOTSPACE}(?:{_EXTEND}|\u200d{_NOTSPACE})*"
# Tried left to right at each position; the first alternative that matches wins.
TOKEN_PATTERN = "|".join([
    rf"https?://{_NOTSPACE}+|www\.{_NOTSPACE}+",  # URLs
    r"[@#]" + _WORD,  # mentions, hashtags (and the keycap #\ufe0f\u20e3)
    r"(?:\p{L}\.){2,}",  # abbreviations: U.S., e.g.
    r"(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Inc|Corp|Co|Ltd|Bros|Gen|Gov|Sen|Rep|vs|etc)\.",
    r"[:;]-?[()]",  # emoticons (not :P or =D, which would cut "note:Paris")
    r"\.{2,}|-{2,}|[!?]{2,}",  # ellipses, dashes, !!!
    # numbers, dates, times: 1,000 3.5 10:30 1990s (and the keycap 1\ufe0f\u20e3)
    r"\p{N}+(?:[-.,:/]\p{N}+)*[\p{L}\p{M}]*",
    _WORD + "(?:[-.&/'\u2019]" + _WORD + ")*",  # words: well-known, Amazon.com, AT&T
    "[\U0001F1E6-\U0001F1FF]{2}",  # a flag: two regional indicators
    _SYMBOL,  # any other character: punctuation and symbols, one cluster at a time
])
# A clitic at the end of a token splits off into a token of its own (\u2019: typographic ').
CLITIC_PATTERN = "(?i)(?:n['\u2019]t|['\u2019](?:s|re|ve|ll|d|m))\\z"

_PIECES = regex.compile(f"({TOKEN_PATTERN})")  # split() keeps the tokens between gaps
_CLITIC = regex.compile(CLITIC_PATTERN)
_APOSTROPHE = regex.compile("['\u2019]")
TRAILING_FORMAT = r"\p{Cf}+\z"
_TRAILING_FORMAT = regex.compile(TRAILING_FORMAT)


class Tokenized(NamedTuple):
    """The words of each text with their character offsets (flat: text i's are
    `starts[splits[i]:splits[i + 1]]`) and, per text, the [start, end] of each surface
    token that holds several words (its words lie within it: `do` `n't` in `don't`, or
    `zu` `dem` both at `zum`)."""

    tokens: list[list[str]]
    starts: np.ndarray
    ends: np.ndarray
    splits: np.ndarray
    multiword: Sequence[Sequence[list[int]]]


class Rules:
    """The rules as a tokenizer of a model (see `segmenter.Segmenter`, the learned one)."""

    name = "rules"

    def __call__(self, texts: Sequence[str]) -> Tokenized:
        tokens, starts, ends, splits = split_texts(texts)
        return Tokenized(tokens, starts, ends, splits, ((),) * len(texts))


def split(text: str) -> list[tuple[int, int]]:
    """The (start, end) character offsets of `text`'s tokens."""
    _, starts, ends, _ = split_texts([text])
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def split_texts(texts: Sequence[str]) -> tuple[list[list[str]], np.ndarray, np.ndarray,
                                                np.ndarray]:
    """The tokens of each text, and their character offsets: (tokens per text, starts,
    ends, splits), where text i's offsets are `starts[splits[i]:splits[i + 1]]`.

    The texts are split in one call, joined by newlines (a newline is never inside a token,
    so no token spans two texts): the regex engine then finds every token without a Python
    step per token, and each token's offset is the sum of the lengths before it.
    """
    joined = "\n".join(texts)
    pieces = _PIECES.split(joined)  # gap, token, gap, token, ..., gap
    sizes = np.fromiter(map(len, pieces), np.int64, len(pieces))
    ends = np.cumsum(sizes)[1::2]
    starts = ends - sizes[1::2]
    tokens = pieces[1::2]
    if "'" in joined or "\u2019" in joined:  # every clitic has an apostrophe
        tokens, starts, ends = _split_clitics(joined, tokens, starts, ends)
    text_starts = np.cumsum([0, *(len(text) + 1 for text in texts[:-1])], dtype=np.int64)
    owner = np.searchsorted(text_starts, starts, side="right") - 1
    splits = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=len(texts)))])
    shift = text_starts[owner]
    bounds = splits.tolist()
    return ([tokens[a:b] for a, b in itertools.pairwise(bounds)],
            starts - shift, ends - shift, splits.astype(np.int64))


def _split_clitics(joined: str, tokens: list[str], starts: np.ndarray, ends: np.ndarray
                   ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Tokens ending in a clitic cut in two (`do` `n't`), offsets with them. Format
    characters a word held before its clitic stay out of both parts: they joined letters
    that the cut separates."""
    apostrophes = [m.start() for m in _APOSTROPHE.finditer(joined)]
    holders = np.unique(np.searchsorted(ends, apostrophes, side="right"))
    cuts = []
    for i in holders[holders < len(tokens)].tolist():
        clitic = _CLITIC.search(tokens[i])
        if clitic is not None and clitic.start() > 0:
            cuts.append((i, clitic.start()))
    if not cuts:
        return tokens, starts, ends
    cut_tokens: list[str] = []
    lefts = []
    previous = 0
    for i, at in cuts:
        cut_tokens += tokens[previous:i]
        lefts.append(_TRAILING_FORMAT.sub("", tokens[i][:at]))
        cut_tokens += [lefts[-1], tokens[i][at:]]
        previous = i + 1
    cut_tokens += tokens[previous:]
    index = np.array([i for i, _ in cuts])
    middle = starts[index] + np.array([at for _, at in cuts])
    left_ends = starts[index] + np.array([len(left) for left in lefts])
    return cut_tokens, np.insert(starts, index + 1, middle), np.insert(ends, index, left_ends)
