from pathlib import Path

import numpy as np
import pytest

from tagger.features import (
    CASING_CLASSES,
    CASING_OTHER,
    CASING_SIZE,
    MAX_WORD_CHARS,
    CharVocabulary,
    Featurizer,
    casing,
    pad,
    tokens_tensor,
)
from tagger.model_folder import ModelConfig
from tagger.settings import TrainConfig
from tagger.vocabulary import UNK_ID, Vocabulary

CLASS = {name: i for i, (name, _) in enumerate(CASING_CLASSES, 1)}


def test_tokens_tensor_keeps_empty_sentences():
    tokens = tokens_tensor([["a", "b"], [], ["c"]])
    assert tokens.to_list() == [[b"a", b"b"], [], [b"c"]]
    assert tokens_tensor([]).to_list() == []


@pytest.mark.parametrize("token, expected", [
    ("1996", "numeric"), ("rejects", "lower"), ("EU", "upper"), ("German", "title"),
    ("1996-08-22", "has_digit"), ("B52", "has_digit"), (",", "punctuation"), ("...", "punctuation"),
    ("Élan", "title"), ("ÜBER", "upper"),
])
def test_casing_classes(token, expected):
    assert casing(tokens_tensor([[token]])).to_list() == [[CLASS[expected]]]


def test_mixed_case_is_other():
    assert casing(tokens_tensor([["iPhone", "McDonald"]])).to_list() == [[CASING_OTHER] * 2]


def test_char_ids_truncate_long_words_and_mark_unknown_characters():
    chars = CharVocabulary.build([["ab", "ba", "a"]])
    assert chars.code_points == [ord("a"), ord("b")]
    ids = chars.lookup(tokens_tensor([["abz", "é" * 40]])).to_list()
    assert ids[0][0] == [2, 3, UNK_ID]
    assert len(ids[0][1]) == MAX_WORD_CHARS


def test_featurizer_round_trip_and_padding(tmp_path: Path):
    featurizer = Featurizer(Vocabulary.build([["Anna", "lives"]]),
                            CharVocabulary.build([["Anna", "lives"]]), use_casing=True)
    featurizer.save(tmp_path)
    config = ModelConfig(labels=["O"], scheme="token", crf=False, vocab_size=len(featurizer.words),
                         char_vocab_size=len(featurizer.chars), casing_size=CASING_SIZE,
                         settings=TrainConfig.from_flat(lowercase=False))
    loaded = Featurizer.load(tmp_path, config)
    tokens = tokens_tensor([["Anna", "lives", "here"], ["Bo"]])
    a, b = featurizer(tokens), loaded(tokens)
    assert {k: v.to_list() for k, v in a.items()} == {k: v.to_list() for k, v in b.items()}
    dense = {k: v.numpy() for k, v in pad(a, np.array([1, 0])).items()}
    assert dense["words"].shape == (2, 3) and dense["chars"].shape == (2, 3, 5)
    assert dense["words"][0].tolist() == [UNK_ID, 0, 0]
    assert dense["chars"][0, 1:].sum() == 0
