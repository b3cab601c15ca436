"""Settings picked from the corpus for what a training does not name."""

from __future__ import annotations

from pathlib import Path

from tagger.corpora import load_corpus
from tagger.training.defaults import SMALL_TOKENS, picked
from tagger.training.recipes import load_recipe
from tests.conftest import DEMO, SHARED


def test_a_small_entity_corpus_gets_a_character_bilstm_and_patience():
    values, line = picked(load_corpus(str(DEMO)), given=())
    assert values == {"epochs": 40, "patience": 10, "char_model": "lstm",
                      "locked_dropout": True, "head": "crf"}
    assert line.startswith("settings from the corpus: 8,769 train tokens, small")
    assert "no raw text: tokenizer rules" in line


def test_settings_the_user_names_are_kept():
    values, line = picked(load_corpus(str(DEMO)), given={"epochs", "head"})
    assert "epochs" not in values and "head" not in values
    assert line.endswith("(yours kept: epochs, head)")
    recipe = load_recipe(Path("data/recipes/wnut_17.toml")).with_options(seed=2)
    assert {"char_model", "epochs", "head", "seed"} <= recipe.chosen
    assert picked(recipe.load_corpus(), recipe.chosen) == ({}, "")


def test_a_large_pos_corpus_with_text_keeps_the_defaults_but_its_head():
    corpus = load_corpus(str(SHARED / "ud_en_ewt"), tag_column="upos")
    assert sum(len(words) for words, _ in corpus.split("train")) >= SMALL_TOKENS
    values, line = picked(corpus, given=())
    assert values == {"head": "softmax"}
    assert "token tags (token): softmax head" in line
    assert "its own raw text: tokenizer learned where the rules disagree" in line


def test_words_without_letter_case_get_no_casing_feature(tmp_path: Path):
    words = ["臺北", "市長", "說", "今天", "天氣", "很", "好"]
    tags = ["B-LOC", "O", "O", "O", "O", "O", "O"]
    block = "\n".join(f"{w}\t{t}" for w, t in zip(words, tags, strict=True))
    for name in ("train", "dev"):
        (tmp_path / f"{name}.conll").write_text((block + "\n\n") * 20, encoding="utf-8")
    values, line = picked(load_corpus(str(tmp_path)), given=())
    assert values["casing"] is False
    assert line.endswith("no letter case: no casing feature")
