import numpy as np
import pytest
import tensorflow as tf

from tagger.export.savedmodel import tokenize
from tagger.text.tokenizer import split

from .texts import ODD, corpus_texts


def _tokens(text: str) -> list[str]:
    return [text[s:e] for s, e in split(text)]


def char_offsets(text: str, byte_offsets: np.ndarray) -> np.ndarray:
    """UTF-8 byte offsets into `text` as character offsets."""
    encoded = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    # A character starts at every byte that is not a UTF-8 continuation byte (10xxxxxx).
    chars_before = np.concatenate([[0], np.cumsum((encoded & 0xC0) != 0x80)])
    return chars_before[byte_offsets]


@pytest.mark.parametrize("text, expected", [
    ("EU rejects German call.", ["EU", "rejects", "German", "call", "."]),
    ("I don't know, it's 3.5% of U.S. sales.",
     ["I", "do", "n't", "know", ",", "it", "'s", "3.5", "%", "of", "U.S.", "sales", "."]),
    ("BRUSSELS 1996-08-22 (Reuters) -- wait...",
     ["BRUSSELS", "1996-08-22", "(", "Reuters", ")", "--", "wait", "..."]),
    ("@bob see https://x.org/a?b=1 #win", ["@bob", "see", "https://x.org/a?b=1", "#win"]),
    ("Mr. Li of Acme Inc. left!!! :) note:Paris",
     ["Mr.", "Li", "of", "Acme", "Inc.", "left", "!!!", ":)", "note", ":", "Paris"]),
    ("", []),
    ("   ", []),
    ("text\x00after a NUL", ["text", "after", "a", "NUL"]),  # not cut at the NUL
    # Invisible and control characters are never tokens; every Unicode space separates.
    ("\ufeffBOM a\u00a0b\u2003c x\u2028y \u200e\u202bbidi\u202c \x07\x1b end",
     ["BOM", "a", "b", "c", "x", "y", "bidi", "end"]),
    ("zero\u200bwidth and ZWNJ \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
     ["zero\u200bwidth", "and", "ZWNJ", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"]),
    # A clitic's cut leaves out the format character that joined it to the word.
    ("\u0301\u200bn't", ["\u0301", "n't"]),
    # Grapheme clusters stay whole: flags, joined emoji, skin tones, keycaps.
    ("\U0001f1e9\U0001f1ea\U0001f1eb\U0001f1f7 \U0001f468\u200d\U0001f469\u200d\U0001f467 "
     "\U0001f44d\U0001f3fd 1\ufe0f\u20e3 \u2764\ufe0f!",
     ["\U0001f1e9\U0001f1ea", "\U0001f1eb\U0001f1f7",
      "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f44d\U0001f3fd", "1\ufe0f\u20e3",
      "\u2764\ufe0f", "!"]),
])
def test_tokens_follow_treebank_rules(text, expected):
    assert _tokens(text) == expected


def test_offsets_map_back_to_the_text_in_characters():
    texts = ["Zoë\u2019s café isn't in Köln!", "plain ascii text", "日本 の 東京"]
    for text in texts:
        assert [text[s:e] for s, e in split(text)] == text.replace("\u2019s", " \u2019s") \
            .replace("isn't", "is n't").replace("!", " !").split()
    assert _tokens(texts[0]) == ["Zoë", "\u2019s", "café", "is", "n't", "in", "Köln", "!"]


def _split_tokens(texts: list[str]) -> list[list[tuple[str, int, int]]]:
    return [[(text[s:e], s, e) for s, e in split(text)] for text in texts]


def _tokenize_tokens(texts: list[str]) -> list[list[tuple[str, int, int]]]:
    result = tokenize(tf.constant(texts))
    tokens, starts, ends = (r.to_list() for r in result)
    return [[(t.decode(), int(s), int(e)) for t, s, e in zip(
        tokens[i], char_offsets(text, np.array(starts[i], int)),
        char_offsets(text, np.array(ends[i], int)), strict=True)]
        for i, text in enumerate(texts)]


@pytest.mark.parametrize("texts", [
    pytest.param(corpus_texts, id="corpora"),
    pytest.param(lambda: [*ODD, "'s n't", "CAN'T", "Don\u2019t stop'em", "x'S y'Re", "'", "n't",
                          "a\u00a0b\u2003c\u000bd", "\u0130stanbul \u017fs",
                          "\ufeffBOM x\u2028y \u200e\u202bbidi\u202c \x07\x1b \x85end",
                          "zero\u200bwidth \u0645\u06cc\u200c\u062e \u00ad \u0301\u200bn't",
                          "\U0001f1e9\U0001f1ea\U0001f1eb \U0001f468\u200d\U0001f469 "
                          "\U0001f44d\U0001f3fd 1\ufe0f\u20e3 #\ufe0f\u20e3 \u2764\ufe0f! "
                          "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e007f"], id="odd"),
])
@pytest.mark.slow
def test_split_gives_the_tokens_and_offsets_of_the_savedmodels_tokenizer(texts):
    texts = texts()
    expected = _tokenize_tokens(texts)
    got = _split_tokens(texts)
    differing = [(t, g, e) for t, g, e in zip(texts, got, expected, strict=True) if g != e]
    assert not differing, differing[:3]
    assert sum(map(len, got)) > len(texts)  # the texts do have tokens
