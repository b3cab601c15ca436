import json
import os
import stat
from pathlib import Path

import h5py
import pytest

from tagger import model_folder
from tagger.corpora import load_corpus
from tagger.errors import TaggerError
from tagger.settings import TrainConfig
from tagger.training import train

from .conftest import DEMO


def test_model_folder_describes_itself(demo_model: Path):
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(demo_model.stat().st_mode) == 0o777 & ~umask  # not mkdtemp's 0700
    assert sorted(p.name for p in demo_model.iterdir()) == [
        "chars.json", "config.json", "metrics.json", "model.weights.h5", "vocab.txt"]
    with h5py.File(demo_model / "model.weights.h5") as weights:
        assert "optimizer" not in weights  # training state stays out of the model
    config = json.loads((demo_model / "config.json").read_text())
    assert config["scheme"] == "IOB2"
    assert config["labels"][0] == "O" and "B-PER" in config["labels"]
    assert config["training"]["epochs"] == 8
    vocab = (demo_model / "vocab.txt").read_text().split("\n")[:-1]
    assert config["model"]["vocab_size"] == len(vocab)
    metrics = json.loads((demo_model / "metrics.json").read_text())
    assert metrics["metric"] == "entity_f1"
    best = max(h["score"] for h in metrics["history"])
    assert metrics["validation_score"] == best
    assert metrics["history"][metrics["best_epoch"] - 1]["score"] == best
    assert metrics["validation"]["types"]["PER"]["support"] > 0


def test_demo_model_learns_held_out_names(demo_model: Path):
    """Dev names never occur in train: context alone must carry the model."""
    metrics = json.loads((demo_model / "metrics.json").read_text())
    assert metrics["validation_score"] > 0.5


def _tiny_corpus():
    corpus = load_corpus(str(DEMO))
    corpus.splits = {k: v[:40] for k, v in corpus.splits.items()}
    return corpus


def test_existing_folder_is_kept_without_force(tmp_path: Path):
    output = tmp_path / "model"
    output.mkdir()
    (output / "keep.txt").write_text("mine")
    with pytest.raises(TaggerError, match=r"already exists.*--force"):
        train(_tiny_corpus(), output, TrainConfig(epochs=1, units=4, embedding_dim=4))
    assert (output / "keep.txt").read_text() == "mine"
    train(_tiny_corpus(), output, TrainConfig(epochs=1, units=4, embedding_dim=4), force=True)
    assert not (output / "keep.txt").exists()
    assert (output / "config.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folders left


def test_missing_parent_folders_are_created(tmp_path: Path):
    output = tmp_path / "models" / "new" / "demo"
    train(_tiny_corpus(), output, TrainConfig(epochs=1, units=4, embedding_dim=4))
    assert (output / "config.json").exists()


def test_output_under_a_file_is_a_clear_error(tmp_path: Path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(TaggerError, match="is a file, not a folder"):
        train(_tiny_corpus(), tmp_path / "file" / "m", TrainConfig(epochs=1))


def test_interrupted_run_leaves_no_model_folder(tmp_path: Path, monkeypatch):
    output = tmp_path / "model"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(model_folder, "write_json", interrupted)  # dies while writing
    with pytest.raises(KeyboardInterrupt):
        train(_tiny_corpus(), output, TrainConfig(epochs=1, units=4, embedding_dim=4))
    assert list(tmp_path.iterdir()) == []


def test_training_needs_a_validation_split(tmp_path: Path):
    corpus = _tiny_corpus()
    del corpus.splits["validation"]
    with pytest.raises(TaggerError, match="split 'validation' is not in"):
        train(corpus, tmp_path / "m", TrainConfig(epochs=1))
