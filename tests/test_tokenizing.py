import numpy as np
import pytest

from tagger.tokenizing import char_offsets, tokenize


def _tokens(text: str) -> list[str]:
    return [t.decode() for t in tokenize([text]).tokens[0].numpy()]


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
])
def test_tokens_follow_treebank_rules(text, expected):
    assert _tokens(text) == expected


def test_offsets_map_back_to_the_text_in_characters():
    texts = ["Zoë\u2019s café isn't in Köln!", "plain ascii text", "日本 の 東京"]
    result = tokenize(texts)
    for i, text in enumerate(texts):
        starts = char_offsets(text, result.starts[i].numpy())
        ends = char_offsets(text, result.ends[i].numpy())
        pieces = [text[s:e] for s, e in zip(starts, ends, strict=True)]
        assert pieces == [t.decode() for t in result.tokens[i].numpy()]
    assert _tokens(texts[0]) == ["Zoë", "\u2019s", "café", "is", "n't", "in", "Köln", "!"]


def test_char_offsets_is_identity_for_ascii():
    offsets = np.array([0, 3, 7])
    assert char_offsets("abc def", offsets) is offsets
