"""Ensembles: members' outputs averaged in one model folder."""

import json
from pathlib import Path

import datasets
import numpy as np
import pytest
from click.testing import CliRunner

from tagger.apps.cli import main
from tagger.corpora import CorpusSource, load_corpus
from tagger.errors import TaggerError
from tagger.evaluation import evaluate_model
from tagger.pipeline import Tagger
from tagger.settings import TrainConfig
from tagger.training import train
from tagger.training.ensembles import combine

from .conftest import DEMO

pytestmark = pytest.mark.slow

SMALL = TrainConfig.from_flat(epochs=2, units=8, embedding_dim=8, learning_rate=0.01)


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    corpus = load_corpus(str(DEMO))
    folder = tmp_path_factory.mktemp("members")
    paths = []
    for seed in (1, 2):
        tagger, _ = train(corpus, SMALL.replace(seed=seed))
        tagger.save(folder / f"seed{seed}")
        paths.append(folder / f"seed{seed}")
    return paths


SENTENCES = [["Angela", "Merkel", "visited", "Paris", "."], ["Hello", "world"]]


def _emissions(tagger: Tagger) -> np.ndarray:
    return np.concatenate(tagger.scores(SENTENCES))


def test_ensemble_averages_its_members_emissions_and_transitions(members):
    loaded = [Tagger.load(p, "keras") for p in members]
    together = combine(loaded)
    assert together.config.members == 2
    np.testing.assert_allclose(_emissions(together),
                               (_emissions(loaded[0]) + _emissions(loaded[1])) / 2,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(together.backend.model.crf.transitions.numpy(),
                               (loaded[0].backend.model.crf.transitions.numpy()
                                + loaded[1].backend.model.crf.transitions.numpy()) / 2, rtol=1e-6)
    assert [m["seed"] for m in together.metrics["members"]] == [1, 2]


def test_ensemble_of_one_model_twice_tags_as_the_model(members):
    one = Tagger.load(members[0], "keras")
    assert combine([one, Tagger.load(members[0], "keras")]).tag_tokens(SENTENCES) == \
        one.tag_tokens(SENTENCES)


def test_models_of_other_recipes_do_not_combine(members, tmp_path: Path):
    corpus = load_corpus(str(DEMO))
    corpus.splits = {k: v[:20] for k, v in corpus.splits.items()}
    other, _ = train(corpus, SMALL.replace(epochs=1, units=4))
    with pytest.raises(TaggerError, match="model 2 differs from model 1 in its labels, "
                                          "network or training settings"):
        combine([Tagger.load(members[0], "keras"), other])
    with pytest.raises(TaggerError, match="at least two"):
        combine([other])


def test_cli_writes_a_scored_ensemble_folder_that_loads(members, tmp_path: Path):
    output = tmp_path / "ensemble"
    result = CliRunner().invoke(main, ["ensemble", *map(str, members), "-o", str(output)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output.strip().splitlines()[-1])
    metrics = json.loads((output / "metrics.json").read_text())
    assert printed["validation_score"] == metrics["validation_score"]
    assert metrics["metric"] == "entity_f1" and 0 <= metrics["validation_score"] <= 1
    assert len(metrics["members"]) == 2
    loaded = Tagger.load(output)
    assert loaded.config.members == 2
    # Its span confidences calibrated anew, as its members' were: on the average's.
    assert loaded.config.calibration.method == "isotonic"
    assert metrics["calibration"]["held_out_sentences"] == 100
    assert loaded.config.calibration not in [Tagger.load(p).config.calibration for p in members]
    together = combine([Tagger.load(p, "keras") for p in members])
    assert loaded.tag_tokens(SENTENCES) == together.tag_tokens(SENTENCES)
    again = CliRunner().invoke(main, ["ensemble", *map(str, members), "-o", str(output)])
    assert again.exit_code != 0 and "--force" in again.output


def test_ensemble_scores_on_the_corpus_as_its_members_loaded_it(tmp_path: Path):
    """Members trained with a non-default token column: the ensemble reloads the validation
    split with the same arguments, and scores as `evaluate` does with them."""
    demo = load_corpus(str(DEMO))
    folder = tmp_path / "words"
    folder.mkdir()
    for split in ("train", "validation"):
        sentences = demo.split(split)
        datasets.Dataset.from_dict({"words": [w for w, _ in sentences],
                                    "ner_tags": [t for _, t in sentences]}).to_parquet(
            str(folder / f"{split}-00000-of-00001.parquet"))
    corpus = load_corpus(str(folder), token_column="words")
    paths = []
    for seed in (1, 2):
        tagger, _ = train(corpus, SMALL.replace(seed=seed))
        tagger.save(tmp_path / f"seed{seed}")
        paths.append(tmp_path / f"seed{seed}")
    assert json.loads((paths[0] / "config.json").read_text())["corpus"]["token_column"] == \
        "words"
    output = tmp_path / "ensemble"
    result = CliRunner().invoke(main, ["ensemble", *map(str, paths), "-o", str(output)])
    assert result.exit_code == 0, result.output
    expected = evaluate_model(output, CorpusSource(str(folder), token_column="words"),
                              backend="keras")
    assert json.loads((output / "metrics.json").read_text())["validation_score"] == \
        expected["score"]
