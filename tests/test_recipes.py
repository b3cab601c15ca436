import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tagger.apps.cli import main
from tagger.errors import TaggerError
from tagger.settings import TrainConfig
from tagger.training.recipes import load_recipe

from .conftest import DEMO, ROOT

RECIPES = sorted((ROOT / "data" / "recipes").glob("*.toml"))


def test_shipped_recipes_are_valid_and_name_the_shared_corpora():
    assert [p.stem for p in RECIPES] == ["conll2002_es", "conll2002_nl", "conll2003",
                                         "ud_de_gsd", "ud_en_ewt", "ud_en_ewt_lg", "ud_fr_gsd",
                                         "ud_zh_gsd", "uner_zh_gsd", "wikiann_de", "wikiann_ru",
                                         "wnut_17"]
    for path in RECIPES:
        recipe = load_recipe(path)
        # What a recipe leaves out is picked from the corpus: these it must pin.
        assert {"epochs", "patience", "head"} <= recipe.chosen
        corpus = path.stem.removesuffix("_lg")
        assert recipe.settings.network.head == ("softmax" if corpus.startswith("ud_")
                                                else "crf")
        assert Path(recipe.dataset["dataset"]).resolve() == (ROOT.parent / "shared" / "data"
                                                       / corpus).resolve()


def _recipe(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.toml"
    path.write_text(text)
    return path


def test_command_line_options_win_over_the_recipe(tmp_path: Path):
    recipe = _recipe(tmp_path, f'dataset = "{DEMO}"\n[training]\nepochs = 30\nunits = 6\n'
                               "embedding_dim = 6\nhead = \"softmax\"\n")
    result = CliRunner().invoke(main, ["train", "--recipe", str(recipe), "--epochs", "1",
                                       "-o", str(tmp_path / "m"), "-q"])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["settings"]["optimization"]["epochs"] == 1  # command line
    assert config["settings"]["network"]["units"] == 6 and config["crf"] is False  # recipe


def test_options_win_over_the_recipe_in_the_library_too(tmp_path: Path):
    recipe = load_recipe(_recipe(tmp_path, 'dataset = "x"\ntag_column = "upos"\n'
                                           "[training]\nepochs = 30\nunits = 6\n"))
    merged = recipe.with_options(epochs=2, tag_column="ner_tags")
    assert merged.settings.optimization.epochs == 2 and merged.settings.network.units == 6
    assert merged.dataset == {"dataset": "x", "tag_column": "ner_tags"}
    assert recipe.settings.optimization.epochs == 30  # the recipe itself is unchanged


def test_dataset_path_is_relative_to_the_recipe(tmp_path: Path):
    (tmp_path / "corpus.conll").write_text("a O\n")
    recipe = load_recipe(_recipe(tmp_path, 'dataset = "corpus.conll"\n'))
    assert recipe.dataset["dataset"] == str(tmp_path / "corpus.conll")
    hub = load_recipe(_recipe(tmp_path, 'dataset = "conll2003"\n'))
    assert hub.dataset["dataset"] == "conll2003"


@pytest.mark.parametrize("text, message", [
    ("datasett = 1\n", "unknown key 'datasett'"),
    ("[training]\nepoch = 3\n", "unknown training setting 'epoch'"),
    ("[training]\nepochs = \"3\"\n", "epochs = '3' should be of type"),
    ("[training]\nlowercase = 1\n", "lowercase = 1 should be of type"),
    ("[training\n", "not valid TOML"),
])
def test_bad_recipes_are_one_line_errors(tmp_path: Path, text: str, message: str):
    with pytest.raises(TaggerError, match=message):
        load_recipe(_recipe(tmp_path, text))


def test_float_settings_take_integers(tmp_path: Path):
    recipe = load_recipe(_recipe(tmp_path, "[training]\nlearning_rate = 1\n"))
    assert recipe.settings.optimization.learning_rate == 1


@pytest.mark.parametrize("setting", [{"epochs": 0}, {"dropout": 1.0}, {"head": "svm"},
                                     {"learning_rate": 0.0}, {"word_dropout": -0.1}])
def test_train_config_rejects_out_of_range_values(setting):
    with pytest.raises(TaggerError, match="training setting"):
        TrainConfig.from_flat(**setting)


def test_recipe_errors_reach_the_cli_as_one_line(tmp_path: Path):
    recipe = _recipe(tmp_path, "[training]\nepochs = 0\n")
    result = CliRunner().invoke(main, ["train", "--recipe", str(recipe), "--dataset", str(DEMO),
                                       "-o", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: recipe {recipe}: training setting epochs must be "
                                     "at least 1")
