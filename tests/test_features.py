from pathlib import Path

import pytest

from tagger.model_folder import ModelConfig
from tagger.settings import TrainConfig
from tagger.text.features import (
    CASING_CLASSES,
    CASING_OTHER,
    CASING_SIZE,
    MAX_WORD_CHARS,
    CharVocabulary,
    Featurizer,
    casing_class,
)
from tagger.text.vocabulary import UNK_ID, Vocabulary

CLASS = {name: i for i, (name, _) in enumerate(CASING_CLASSES, 1)}


@pytest.mark.parametrize("token, expected", [
    ("1996", "numeric"), ("rejects", "lower"), ("EU", "upper"), ("German", "title"),
    ("1996-08-22", "has_digit"), ("B52", "has_digit"), (",", "punctuation"), ("...", "punctuation"),
    ("Élan", "title"), ("ÜBER", "upper"),
])
def test_casing_classes(token, expected):
    assert casing_class(token) == CLASS[expected]


def test_mixed_case_is_other():
    assert [casing_class(t) for t in ("iPhone", "McDonald")] == [CASING_OTHER] * 2


def _featurizer(lowercase: bool = False) -> Featurizer:
    sentences = [["Anna", "lives"], ["ab", "ba", "a"]]
    return Featurizer(Vocabulary.build(sentences, lowercase=lowercase),
                      CharVocabulary.build(sentences), use_casing=True)


def test_char_ids_truncate_long_words_and_mark_unknown_characters():
    featurizer = _featurizer()
    assert featurizer.chars.code_points[:2] == [ord("a"), ord("b")]  # most frequent first
    features = featurizer([["abz", "é" * 40]])
    first, second = features["slots"][0]
    chars = featurizer.chars_of(first, second + 1)
    a, b, z = (featurizer.chars.ids().get(ord(c), UNK_ID) for c in "abz")
    assert chars[0, :3].tolist() == [a, b, z] and z == UNK_ID and chars[0, 3:].sum() == 0
    assert chars.shape[1] == MAX_WORD_CHARS and (chars[1] == UNK_ID).all()


def test_ids_are_padded_and_each_distinct_token_has_one_slot():
    featurizer = _featurizer()
    features = featurizer([["Anna", "lives", "here", "Anna"], ["Bo"], []])
    assert features["words"].shape == (3, 4)
    words = featurizer.words.ids()
    assert features["words"][0].tolist() == [words["Anna"], words["lives"], UNK_ID,
                                             words["Anna"]]
    assert features["words"][1].tolist() == [UNK_ID, 0, 0, 0]
    assert features["words"][2].tolist() == [0] * 4
    slots = features["slots"]
    assert slots[0, 0] == slots[0, 3] and len({*slots[0].tolist(), slots[1, 0]}) == 4
    assert features["casing"][0].tolist() == [CLASS["title"], CLASS["lower"], CLASS["lower"],
                                              CLASS["title"]]
    assert featurizer([[], []])["words"].shape == (2, 1)  # at least one step


def test_flat_ids_are_the_padded_ones_token_by_token():
    featurizer = _featurizer(lowercase=True)
    sentences = [["Anna", "LIVES"], ["ba", "Anna", "zz"]]
    flat, chars = featurizer.flat(sentences)
    padded = featurizer(sentences)
    real = padded["slots"] > 0
    assert flat["words"].tolist() == padded["words"][real].tolist()
    assert flat["casing"].tolist() == padded["casing"][real].tolist()
    assert flat["words"][1] == featurizer.words.ids()["lives"]  # lower-cased lookup
    ids = featurizer.chars.ids()
    assert chars[2] == [ids[ord("b")], ids[ord("a")]]


def test_slots_start_afresh_past_the_cache_and_say_so():
    featurizer = _featurizer()
    featurizer.CACHE_TOKENS = 3
    generation = featurizer.generation
    featurizer([["a", "b", "c"]])
    assert featurizer.slot_count == 3 and featurizer.generation == generation
    features = featurizer([["d"]])
    assert featurizer.generation == generation + 1
    assert features["slots"].tolist() == [[1]] and featurizer.slot_count == 1


def test_featurizer_round_trip(tmp_path: Path):
    featurizer = _featurizer()
    featurizer.save(tmp_path)
    config = ModelConfig(labels=["O"], scheme="token", crf=False, vocab_size=len(featurizer.words),
                         char_vocab_size=len(featurizer.chars), casing_size=CASING_SIZE,
                         settings=TrainConfig.from_flat(lowercase=False))
    loaded = Featurizer.load(tmp_path, config)
    sentences = [["Anna", "lives", "here"], ["Bo"]]
    a, b = featurizer(sentences), loaded(sentences)
    assert {k: v.tolist() for k, v in a.items()} == {k: v.tolist() for k, v in b.items()}
    assert (featurizer.chars_of(1, 5) == loaded.chars_of(1, 5)).all()
