"""Raw text to tokens with offsets, in TensorFlow Text (`tokenize`) or in Python (`split`).

The rules follow the corpora's (Penn Treebank style) tokenization: punctuation is split off
words, but abbreviations (U.S.), numbers and dates (1996-08-22, 3.5), URLs, @mentions and
#hashtags stay whole, and clitics split off as in the treebanks (don't -> do n't, it's -> it 's).

Both functions run the same patterns, written in the syntax that RE2 (TensorFlow Text) and
the `regex` module share: whitespace is RE2's ASCII `\\s` spelled out, the typographic
apostrophe is the character itself, and the end of text is `\\z`. They give the same tokens
(tests/test_tokenizing.py checks the corpora's whole text); `split` lets a tagger that does
not run TensorFlow tokenize without importing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import regex

if TYPE_CHECKING:
    import tensorflow as tf

_WORD = r"[\p{L}\p{M}\p{N}_]+"
# RE2's \s (Python's would also take Unicode spaces), and NUL: TensorFlow Text's split ends
# a text at its first NUL, so `tokenize` turns NULs into spaces first.
_SPACE = r"[\t\n\f\r \x00]"
_NOT_SPACE = r"[^\t\n\f\r \x00]"
# Tried left to right at each position; the first alternative that matches wins.
TOKEN_PATTERN = "|".join([
    rf"https?://{_NOT_SPACE}+|www\.{_NOT_SPACE}+",  # URLs
    r"[@#]" + _WORD,  # mentions, hashtags
    r"(?:\p{L}\.){2,}",  # abbreviations: U.S., e.g.
    r"(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Inc|Corp|Co|Ltd|Bros|Gen|Gov|Sen|Rep|vs|etc)\.",
    r"[:;]-?[()]",  # emoticons (not :P or =D, which would cut "note:Paris")
    r"\.{2,}|-{2,}|[!?]{2,}",  # ellipses, dashes, !!!
    r"\p{N}+(?:[-.,:/]\p{N}+)*\p{L}*",  # numbers, dates, times: 1,000 3.5 10:30 1990s
    _WORD + "(?:[-.&/'\u2019]" + _WORD + ")*",  # words: well-known, Amazon.com, AT&T
    _NOT_SPACE,  # any other character: punctuation and symbols, one at a time
])
# A clitic at the end of a token splits off into a token of its own (\u2019: typographic ').
CLITIC_PATTERN = "(?i)(?:n['\u2019]t|['\u2019](?:s|re|ve|ll|d|m))\\z"

_TOKEN = regex.compile(TOKEN_PATTERN)
_CLITIC = regex.compile(CLITIC_PATTERN)


class Tokenized(NamedTuple):
    """Tokens of a batch of texts, `(texts, tokens)` ragged, with UTF-8 byte offsets."""

    tokens: tf.RaggedTensor
    starts: tf.RaggedTensor
    ends: tf.RaggedTensor


def tokenize(texts: list[str] | tf.Tensor) -> Tokenized:
    """Split each text into tokens; offsets are byte offsets into its UTF-8 encoding."""
    import tensorflow as tf
    import tensorflow_text as tf_text

    texts = tf.strings.regex_replace(tf.convert_to_tensor(texts, dtype=tf.string), r"\x00", " ")
    words, starts, _ = tf_text.regex_split_with_offsets(
        texts, TOKEN_PATTERN + f"|{_SPACE}+", TOKEN_PATTERN)
    # Second pass over the flat list of words: split off clitics, then regroup by text.
    # Flat-value arithmetic keeps the compiled graph small (ragged broadcasting does not).
    pieces, p_starts, p_ends = tf_text.regex_split_with_offsets(
        words.flat_values, CLITIC_PATTERN, CLITIC_PATTERN)
    word_start = tf.gather(starts.flat_values, pieces.value_rowids())
    pieces_per_text = tf.math.unsorted_segment_sum(pieces.row_lengths(), words.value_rowids(),
                                                   words.nrows())

    def regroup(flat: tf.Tensor) -> tf.RaggedTensor:
        return tf.RaggedTensor.from_row_lengths(flat, pieces_per_text, validate=False)

    return Tokenized(regroup(pieces.flat_values),
                     regroup(p_starts.flat_values + word_start),
                     regroup(p_ends.flat_values + word_start))


def split(text: str) -> list[tuple[int, int]]:
    """The (start, end) character offsets of `text`'s tokens: `tokenize`'s tokens, in Python."""
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


def char_offsets(text: str, byte_offsets: np.ndarray) -> np.ndarray:
    """Map UTF-8 byte offsets into `text` to character offsets (the same for ASCII)."""
    if text.isascii():
        return byte_offsets
    encoded = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    # A character starts at every byte that is not a UTF-8 continuation byte (10xxxxxx).
    chars_before = np.concatenate([[0], np.cumsum((encoded & 0xC0) != 0x80)])
    return chars_before[byte_offsets]
