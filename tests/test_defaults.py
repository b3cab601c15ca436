"""Settings picked from the corpus for what a training does not name."""

from __future__ import annotations

from pathlib import Path

from tagger.corpora import load_corpus
from tagger.training.defaults import SMALL_TOKENS, picked
from tagger.training.recipes import load_recipe
from tests.conftest import DEMO, SHARED


def test_a_small_entity_corpus_gets_more_epochs_patience_and_a_crf():
    values, line = picked(load_corpus(str(DEMO)), given=())
    assert values == {"epochs": 40, "patience": 10, "head": "crf"}
    assert line.startswith("settings from the corpus: 8,769 train tokens, small")
    assert "no raw text: tokenizer rules" in line


def test_settings_the_user_names_are_kept():
    values, line = picked(load_corpus(str(DEMO)), given={"epochs", "head"})
    assert "epochs" not in values and "head" not in values
    assert line.endswith("(yours kept: epochs, head)")
    recipe = load_recipe(Path("data/recipes/wnut_17.toml")).with_options(seed=2)
    assert {"epochs", "patience", "head", "seed"} <= recipe.chosen
    assert picked(recipe.load_corpus(), recipe.chosen) == ({}, "")


def test_a_large_pos_corpus_with_text_keeps_the_defaults_but_its_head():
    corpus = load_corpus(str(SHARED / "ud_en_ewt"), tag_column="upos")
    assert sum(len(words) for words, _ in corpus.split("train")) >= SMALL_TOKENS
    values, line = picked(corpus, given=())
    assert values == {"head": "softmax"}
    assert "token tags (token): softmax head" in line
    assert "its own raw text: tokenizer learned where the rules disagree" in line
