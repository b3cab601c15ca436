"""Raw text to tokens with character offsets, in TensorFlow Text.

The rules follow the corpora's (Penn Treebank style) tokenization: punctuation is split off
words, but abbreviations (U.S.), numbers and dates (1996-08-22, 3.5), URLs, @mentions and
#hashtags stay whole, and clitics split off as in the treebanks (don't -> do n't, it's -> it 's).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

_WORD = r"[\p{L}\p{M}\p{N}_]+"
# RE2 patterns, tried left to right at each position; the first alternative that matches wins.
TOKEN_PATTERN = "|".join([
    r"https?://\S+|www\.\S+",  # URLs
    r"[@#]" + _WORD,  # mentions, hashtags
    r"(?:\p{L}\.){2,}",  # abbreviations: U.S., e.g.
    r"(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Inc|Corp|Co|Ltd|Bros|Gen|Gov|Sen|Rep|vs|etc)\.",
    r"[:;]-?[()]",  # emoticons (not :P or =D, which would cut "note:Paris")
    r"\.{2,}|-{2,}|[!?]{2,}",  # ellipses, dashes, !!!
    r"\p{N}+(?:[-.,:/]\p{N}+)*\p{L}*",  # numbers, dates, times: 1,000 3.5 10:30 1990s
    _WORD + r"(?:[-.&/'\x{2019}]" + _WORD + r")*",  # words: well-known, Amazon.com, AT&T
    r"\S",  # any other character: punctuation and symbols, one at a time
])
# A clitic at the end of a token splits off into a token of its own (\x{2019}: typographic ').
CLITIC_PATTERN = r"(?i)(?:n['\x{2019}]t|['\x{2019}](?:s|re|ve|ll|d|m))$"


class Tokenized(NamedTuple):
    """Tokens of a batch of texts, `(texts, tokens)` ragged, with UTF-8 byte offsets."""

    tokens: tf.RaggedTensor
    starts: tf.RaggedTensor
    ends: tf.RaggedTensor


def tokenize(texts: list[str] | tf.Tensor) -> Tokenized:
    """Split each text into tokens; offsets are byte offsets into its UTF-8 encoding."""
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    words, starts, _ = tf_text.regex_split_with_offsets(
        texts, TOKEN_PATTERN + r"|\s+", TOKEN_PATTERN)
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


def char_offsets(text: str, byte_offsets: np.ndarray) -> np.ndarray:
    """Map UTF-8 byte offsets into `text` to character offsets (the same for ASCII)."""
    if text.isascii():
        return byte_offsets
    encoded = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    # A character starts at every byte that is not a UTF-8 continuation byte (10xxxxxx).
    chars_before = np.concatenate([[0], np.cumsum((encoded & 0xC0) != 0x80)])
    return chars_before[byte_offsets]
