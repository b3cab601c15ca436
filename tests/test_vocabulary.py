from pathlib import Path

from tagger.text.features import Featurizer
from tagger.text.vocabulary import PAD_ID, UNK_ID, Vocabulary


def _word_ids(vocab: Vocabulary, tokens: list[str]) -> list[int]:
    return Featurizer(vocab, None, use_casing=False)([tokens])["words"][0].tolist()


def test_build_orders_by_frequency_and_applies_limits():
    sentences = [["b", "a", "b"], ["c", "a", "b"]]
    assert Vocabulary.build(sentences).words == ["<pad>", "<unk>", "b", "a", "c"]
    assert Vocabulary.build(sentences, min_count=2).words == ["<pad>", "<unk>", "b", "a"]
    assert Vocabulary.build(sentences, max_size=3).words == ["<pad>", "<unk>", "b"]


def test_rare_words_come_last():
    vocab = Vocabulary.build([["a", "b", "a", "c", "b", "d"]])
    assert vocab.words[vocab.rare_from:] == ["c", "d"]  # seen once
    assert Vocabulary(["<pad>", "<unk>", "x"]).rare_from == 3  # a loaded one: none known


def test_lookup_reserves_padding_and_unknown():
    vocab = Vocabulary.build([["The", "cat"]], lowercase=True)
    ids = _word_ids(vocab, ["THE", "Cat", "dog", "<pad>", "<unk>"])
    assert ids == [vocab.words.index("the"), vocab.words.index("cat"), UNK_ID, UNK_ID, UNK_ID]
    assert PAD_ID not in ids and "<pad>" not in vocab.ids()


def test_case_is_kept_by_default():
    vocab = Vocabulary.build([["The"]])
    assert _word_ids(vocab, ["The", "the"]) == [2, UNK_ID]


def test_save_and_load_round_trip(tmp_path: Path):
    vocab = Vocabulary.build([["é", "a b", "x"]])
    vocab.save(tmp_path / "vocab.txt")
    assert Vocabulary.load(tmp_path / "vocab.txt", lowercase=False).words == vocab.words
