import json
import os
import stat
from pathlib import Path

import h5py
import numpy as np
import pytest

from tagger import model_folder, schemes
from tagger.backends.keras.network import CharLSTM
from tagger.corpora import load_corpus
from tagger.errors import TaggerError
from tagger.evaluation import evaluate_tagger
from tagger.pipeline import Tagger
from tagger.progress import Progress
from tagger.settings import TrainConfig
from tagger.training import checkpoints, train

from .conftest import DEMO


def test_model_folder_describes_itself(demo_model: Path):
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(demo_model.stat().st_mode) == 0o777 & ~umask  # not mkdtemp's 0700
    metrics = json.loads((demo_model / "metrics.json").read_text())
    # The sentence splitter is kept where it finds validation's sentences better than
    # the rules.
    splitter = ["sentences.npz"] if metrics["tokenizer"]["sentences"]["chosen"] == \
        "learned" else []
    assert sorted(p.name for p in demo_model.iterdir()) == sorted([
        "README.md", "chars.json", "chars.onnx", "config.json", "manifest.json",
        "metrics.json", "model.weights.h5", "network.onnx", "vocab.txt", *splitter])
    with h5py.File(demo_model / "model.weights.h5") as weights:
        assert "optimizer" not in weights  # training state stays out of the model
    config = json.loads((demo_model / "config.json").read_text())
    assert config["scheme"] == "IOB2"
    assert config["labels"][0] == "O" and "B-PER" in config["labels"]
    assert config["settings"]["optimization"]["epochs"] == 8
    assert config["corpus"]["tag_column"] == "-1" and config["crf"] is True
    vocab = (demo_model / "vocab.txt").read_text().split("\n")[:-1]
    assert config["vocab_size"] == len(vocab)
    manifest = json.loads((demo_model / "manifest.json").read_text())["files"]
    assert sorted(manifest) == sorted(p.name for p in demo_model.iterdir()
                                      if p.name != "manifest.json")
    assert manifest["vocab.txt"]["bytes"] == (demo_model / "vocab.txt").stat().st_size
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


TINY = TrainConfig.from_flat(epochs=1, units=4, embedding_dim=4)


def test_existing_folder_is_kept_without_force(tmp_path: Path):
    output = tmp_path / "model"
    output.mkdir()
    (output / "keep.txt").write_text("mine")
    tagger, _ = train(_tiny_corpus(), TINY)
    with pytest.raises(TaggerError, match=r"already exists.*`force`") as error:
        tagger.save(output)
    assert error.value.param == "force"
    assert (output / "keep.txt").read_text() == "mine"
    tagger.save(output, force=True)
    assert not (output / "keep.txt").exists()
    assert (output / "config.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folders left


def test_missing_parent_folders_are_created(tmp_path: Path):
    output = tmp_path / "models" / "new" / "demo"
    train(_tiny_corpus(), TINY)[0].save(output)
    assert (output / "config.json").exists()


def test_output_under_a_file_is_a_clear_error(tmp_path: Path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(TaggerError, match="is a file, not a folder"):
        model_folder.check_writable(tmp_path / "file" / "m", force=False)


def test_interrupted_run_leaves_no_model_folder(tmp_path: Path, monkeypatch):
    output = tmp_path / "model"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    tagger, _ = train(_tiny_corpus(), TINY)
    monkeypatch.setattr(model_folder, "write_json", interrupted)  # dies while writing
    with pytest.raises(KeyboardInterrupt):
        tagger.save(output)
    assert list(tmp_path.iterdir()) == []


def test_training_needs_a_validation_split(tmp_path: Path):
    corpus = _tiny_corpus()
    del corpus.splits["validation"]
    with pytest.raises(TaggerError, match=r"has no validation split .* `dataset` train=FILE"):
        train(corpus, TrainConfig.from_flat(epochs=1))


@pytest.mark.slow
def test_iobes_training_with_the_literature_options_tags_in_the_corpus_scheme(tmp_path: Path):
    """IOBES targets, Nadam with weight averaging, locked dropout and a char BiLSTM train
    together; tags come out in the corpus's IOB2 and survive saving and loading."""
    corpus = _tiny_corpus()
    config = TINY.replace(train_scheme="iobes", optimizer="nadam", ema=0.9,
                          locked_dropout=True, char_model="lstm", char_filters=6, epochs=2)
    tagger, _ = train(corpus, config)
    assert tagger.config.network_scheme == "IOBES"
    assert "S-PER" in tagger.config.network_labels and "S-PER" not in tagger.labels
    [output] = tagger.backend.model.encoder.output
    assert output.shape[-1] == len(tagger.config.network_labels)
    assert isinstance(tagger.backend.model.parts[0].chars, CharLSTM)
    sentences = [w for w, _ in corpus.split("validation")]
    tags = tagger.tag_tokens(sentences)
    assert {t for sentence in tags for t in sentence} <= set(corpus.labels)
    tagger.save(tmp_path / "model")
    loaded = Tagger.load(tmp_path / "model")
    assert loaded.config.network_scheme == "IOBES"
    assert loaded.tag_tokens(sentences) == tags


def test_learning_rate_halves_after_epochs_without_progress():
    # A learning rate too small to change any tag: every epoch after the first is a plateau.
    config = TINY.replace(epochs=4, patience=10, lr_plateau=1, learning_rate=1e-12)
    _, metrics = train(_tiny_corpus(), config)
    rates = [h["learning_rate"] for h in metrics["history"]]
    assert rates == pytest.approx([1e-12, 1e-12, 5e-13, 2.5e-13])


def test_iobes_needs_entity_tags():
    corpus = _tiny_corpus()
    corpus.scheme = schemes.TOKEN
    with pytest.raises(TaggerError, match="train_scheme iobes needs entity tags") as error:
        train(corpus, TINY.replace(train_scheme="iobes"))
    assert error.value.param == "train_scheme"


def _weights(tagger: Tagger) -> list:
    return [w.tolist() for w in tagger.backend.model.get_weights()]


@pytest.mark.slow
@pytest.mark.parametrize("options", [{}, {"ema": 0.9, "lr_plateau": 1}])
def test_a_resumed_training_ends_with_the_weights_of_one_that_never_stopped(
        tmp_path: Path, monkeypatch, options: dict):
    corpus = _tiny_corpus()
    config = TINY.replace(epochs=4, patience=10, word_dropout=0.3, **options)
    through, through_metrics = train(corpus, config)
    write = checkpoints.write

    def crash_after_epoch_two(folder: Path, checkpoint: checkpoints.Checkpoint) -> None:
        write(folder, checkpoint)
        if checkpoint.epochs_done == 2:
            raise KeyboardInterrupt  # the machine goes away right after the checkpoint

    monkeypatch.setattr(checkpoints, "write", crash_after_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train(corpus, config, checkpoint_dir=tmp_path / "state")
    monkeypatch.undo()
    assert [p.name for p in (tmp_path / "state").iterdir()] == [checkpoints.FILE]
    lines = []
    progress = Progress(enabled=False)
    progress.line = lines.append
    resumed, metrics = train(corpus, config, checkpoint_dir=tmp_path / "state",
                             progress=progress)
    assert any(line.startswith(f"resuming from {tmp_path / 'state'}: 2 epochs done")
               for line in lines)
    assert _weights(resumed) == _weights(through)

    def scores(history):
        return [(h["epoch"], h["score"], h["loss"], h["learning_rate"]) for h in history]

    assert scores(metrics["history"]) == scores(through_metrics["history"])
    assert metrics["best_epoch"] == through_metrics["best_epoch"]
    # Run again, the finished training only writes its model: nothing is trained.
    lines.clear()
    again, _ = train(corpus, config, checkpoint_dir=tmp_path / "state", progress=progress)
    assert _weights(again) == _weights(through)
    assert "no epochs left to train: the model is the checkpoint's best epoch" in lines
    assert not any(line.startswith("training on") for line in lines)


@pytest.mark.slow
def test_a_checkpoint_of_another_training_is_refused(tmp_path: Path):
    corpus = _tiny_corpus()
    train(corpus, TINY, checkpoint_dir=str(tmp_path))  # a str will do, as for save()
    with pytest.raises(TaggerError, match=r"another training's checkpoint "
                                          r"\(settings\.optimization\.epochs: 1 in the "
                                          r"checkpoint, 2 now\)") as error:
        train(corpus, TINY.replace(epochs=2), checkpoint_dir=tmp_path)
    assert error.value.param == "checkpoint_dir"
    whole = (tmp_path / checkpoints.FILE).read_bytes()
    for damaged in (b"not a checkpoint", whole[:len(whole) // 2]):
        (tmp_path / checkpoints.FILE).write_bytes(damaged)
        with pytest.raises(TaggerError, match="is not a tagger checkpoint"):
            train(corpus, TINY, checkpoint_dir=tmp_path)


@pytest.mark.slow
def test_weight_averaging_validates_and_keeps_the_averaged_weights():
    """With `ema`, each epoch is scored with the averaged weights and training carries on
    from the trained ones: the kept model scores what its epoch recorded, and differs from
    the same training without averaging."""
    corpus = _tiny_corpus()
    config = TINY.replace(epochs=3, patience=3, learning_rate=0.05, seed=4)
    averaged, metrics = train(corpus, config.replace(ema=0.5))
    plain, _ = train(corpus, config)
    validation = corpus.split("validation")
    best = metrics["history"][metrics["best_epoch"] - 1]["score"]
    assert evaluate_tagger(averaged, validation)["score"] == best == metrics["validation_score"]
    assert any(not np.array_equal(a, b) for a, b in zip(
        averaged.backend.model.get_weights(), plain.backend.model.get_weights(), strict=True))
