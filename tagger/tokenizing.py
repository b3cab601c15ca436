"""Raw text to tokens with character offsets (`split`); the SavedModel runs the same
patterns in TensorFlow Text (`backends.keras.savedmodel.tokenize`).

The rules follow the corpora's (Penn Treebank style) tokenization: punctuation is split off
words, but abbreviations (U.S.), numbers and dates (1996-08-22, 3.5), URLs, @mentions and
#hashtags stay whole, and clitics split off as in the treebanks (don't -> do n't, it's -> it 's).

The patterns are written in the syntax that RE2 (TensorFlow Text) and the `regex` module
share: whitespace is RE2's ASCII `\\s` spelled out, the typographic apostrophe is the
character itself, and the end of text is `\\z`. Both give the same tokens
(tests/test_tokenizing.py checks the corpora's whole text).
"""

from __future__ import annotations

import regex

_WORD = r"[\p{L}\p{M}\p{N}_]+"
# RE2's \s (Python's would also take Unicode spaces), and NUL: TensorFlow Text's split ends
# a text at its first NUL, so the SavedModel turns NULs into spaces first.
SPACE = r"[\t\n\f\r \x00]"
_NOTSPACE = r"[^\t\n\f\r \x00]"
# Tried left to right at each position; the first alternative that matches wins.
TOKEN_PATTERN = "|".join([
    rf"https?://{_NOTSPACE}+|www\.{_NOTSPACE}+",  # URLs
    r"[@#]" + _WORD,  # mentions, hashtags
    r"(?:\p{L}\.){2,}",  # abbreviations: U.S., e.g.
    r"(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Inc|Corp|Co|Ltd|Bros|Gen|Gov|Sen|Rep|vs|etc)\.",
    r"[:;]-?[()]",  # emoticons (not :P or =D, which would cut "note:Paris")
    r"\.{2,}|-{2,}|[!?]{2,}",  # ellipses, dashes, !!!
    r"\p{N}+(?:[-.,:/]\p{N}+)*\p{L}*",  # numbers, dates, times: 1,000 3.5 10:30 1990s
    _WORD + "(?:[-.&/'\u2019]" + _WORD + ")*",  # words: well-known, Amazon.com, AT&T
    _NOTSPACE,  # any other character: punctuation and symbols, one at a time
])
# A clitic at the end of a token splits off into a token of its own (\u2019: typographic ').
CLITIC_PATTERN = "(?i)(?:n['\u2019]t|['\u2019](?:s|re|ve|ll|d|m))\\z"

_TOKEN = regex.compile(TOKEN_PATTERN)
_CLITIC = regex.compile(CLITIC_PATTERN)


def split(text: str) -> list[tuple[int, int]]:
    """The (start, end) character offsets of `text`'s tokens."""
    spans = [match.span() for match in _TOKEN.finditer(text)]
    if "'" not in text and "\u2019" not in text:
        return spans  # every clitic has an apostrophe: most texts need no second pass
    split_spans = []
    for start, end in spans:
        clitic = _CLITIC.search(text, start, end)
        if clitic is not None and clitic.start() > start:
            split_spans += [(start, clitic.start()), (clitic.start(), end)]
        else:
            split_spans.append((start, end))
    return split_spans
