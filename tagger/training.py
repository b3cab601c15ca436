"""Training: corpus -> vocabulary -> bucketed batches -> model, kept at its best epoch."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import keras

from tagger import __version__, batching, model_folder, schemes
from tagger.corpora import Corpus
from tagger.embeddings import initialize, read_vectors
from tagger.evaluation import score
from tagger.features import CASING_SIZE, CharVocabulary, Featurizer, tokens_tensor
from tagger.model import CRFModel, ModelConfig, build_model, compile_model
from tagger.progress import Progress, clock, rate
from tagger.settings import TrainConfig
from tagger.tagging import Tagger
from tagger.vocabulary import Vocabulary


def train(corpus: Corpus, output: Path, config: TrainConfig, *, force: bool = False,
          progress: Progress | None = None) -> dict[str, Any]:
    """Train on `corpus`'s train split, select the epoch on validation, write `output`.

    Returns the metrics that are also written to the model folder's metrics.json.
    """
    progress = progress or Progress(enabled=False)
    model_folder.check_writable(output, force)
    train_split = corpus.split("train")
    validation = corpus.split("validation")
    keras.utils.set_random_seed(config.seed)

    sentences = [w for w, _ in train_split]
    vocabulary = Vocabulary.build(sentences, min_count=config.min_count,
                                  max_size=config.max_vocab, lowercase=config.lowercase)
    chars = CharVocabulary.build(sentences) if config.chars else None
    featurizer = Featurizer(vocabulary, chars, config.casing)
    features = featurizer(tokens_tensor(sentences))
    targets = batching.encode_tags([t for _, t in train_split], corpus.labels)
    vectors: dict = {}
    if config.embeddings:
        vectors, dimension = read_vectors(Path(config.embeddings), vocabulary)
        config = dataclasses.replace(config, embedding_dim=dimension)
        progress.line(f"{config.embeddings}: vectors for {len(vectors)} of "
                      f"{len(vocabulary) - 2} words, dimension {dimension}")
    data = batching.training_dataset(features, targets, config.batch_size, shuffle=True,
                                     seed=config.seed, word_dropout=config.word_dropout,
                                     rare_from=vocabulary.rare_from)
    model_config = ModelConfig(vocab_size=len(vocabulary), num_labels=len(corpus.labels),
                               embedding_dim=config.embedding_dim, layers=config.layers,
                               units=config.units, dropout=config.dropout,
                               bidirectional=config.bidirectional,
                               char_vocab_size=len(chars) if chars else 0,
                               char_dim=config.char_dim, char_filters=config.char_filters,
                               casing_size=CASING_SIZE if config.casing else 0,
                               crf=_use_crf(config.head, corpus.scheme))
    model = build_model(model_config)
    if vectors:
        embedding = _word_embedding(model).embeddings
        embedding.assign(initialize(embedding.numpy(), vectors))
    lengths = targets.row_lengths().numpy()
    batches = batching.batch_count(lengths, config.batch_size)
    compile_model(model, config.learning_rate, config.lr_decay, batches)
    tagger = Tagger(model, featurizer, corpus.labels, corpus.scheme)

    tracker = _EpochTracker(tagger, validation, config, progress,
                            tokens=int(lengths.sum()), batches=batches)
    progress.line(f"training on {len(train_split)} sentences ({tracker.tokens} tokens), "
                  f"vocabulary {len(vocabulary)}, {len(corpus.labels)} labels ({corpus.scheme}); "
                  f"validation {len(validation)} sentences")
    started = time.monotonic()
    model.fit(data, epochs=config.epochs, verbose=0, shuffle=False, callbacks=[tracker])
    minutes = (time.monotonic() - started) / 60
    model.set_weights(tracker.best_weights)

    metrics = {
        "metric": tracker.history[tracker.best_epoch - 1]["metric"],
        "validation_score": tracker.best_score,
        "best_epoch": tracker.best_epoch,
        "epochs_run": len(tracker.history),
        "train_minutes": round(minutes, 2),
        "validation": tracker.best_report,
        "history": tracker.history,
    }
    settings = {
        "format": model_folder.FORMAT,
        "format_version": model_folder.FORMAT_VERSION,
        "tagger_version": __version__,
        "model": model_config.to_dict(),
        "labels": corpus.labels,
        "scheme": corpus.scheme,
        "lowercase": config.lowercase,
        "corpus": {"dataset": corpus.name, "tag_column": corpus.tag_column,
                   "notes": corpus.notes, "train_sentences": len(train_split),
                   "train_tokens": tracker.tokens,
                   "validation_sentences": len(validation)},
        "training": dataclasses.asdict(config),
    }

    def fill(folder: Path) -> None:
        # A fresh, uncompiled copy: a compiled subclassed model (CRF) would also save Adam's
        # state, tripling the file.
        weights_only = build_model(model_config)
        weights_only.set_weights(model.get_weights())
        weights_only.save_weights(folder / model_folder.WEIGHTS)
        featurizer.save(folder)
        model_folder.write_json(folder / model_folder.METRICS, metrics)
        model_folder.write_json(folder / model_folder.CONFIG, settings)

    model_folder.write(output, fill, force)
    progress.line(f"kept epoch {tracker.best_epoch}: validation {metrics['metric']} "
                  f"{tracker.best_score * 100:.2f}; {minutes:.1f} min; model in {output}")
    return metrics


def _word_embedding(model: keras.Model) -> keras.layers.Embedding:
    encoder = model.encoder if isinstance(model, CRFModel) else model
    return encoder.get_layer("word_embedding")


def _use_crf(head: str, scheme: str) -> bool:
    return head == "crf" or (head == "auto" and scheme != schemes.TOKEN)


class _EpochTracker(keras.callbacks.Callback):
    """Scores validation after each epoch, keeps the best weights, stops after `patience`."""

    def __init__(self, tagger: Tagger, validation: list, config: TrainConfig,
                 progress: Progress, tokens: int, batches: int) -> None:
        super().__init__()
        self.tagger = tagger
        # Featurized once: the same tensors are tagged after every epoch.
        self.features = tagger.featurizer(tokens_tensor([w for w, _ in validation]))
        self.gold = [t for _, t in validation]
        self.config = config
        self.progress = progress
        self.tokens = tokens
        self.batches = batches
        self.history: list[dict[str, Any]] = []
        self.best_score = -1.0
        self.best_epoch = 0
        self.best_weights: list = []
        self.best_report: dict = {}
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = time.monotonic()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        elapsed = time.monotonic() - self._epoch_start
        done = min((batch + 1) / self.batches, 1.0)
        self.progress.update(
            f"epoch {len(self.history) + 1}/{self.config.epochs}  {batch + 1}/{self.batches} "
            f"batches  {rate(self.tokens * done, elapsed)}  "
            f"ETA {clock(elapsed / done - elapsed)}  loss {(logs or {}).get('loss', 0):.4f}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.monotonic() - self._epoch_start
        report = score(self.gold, self.tagger.tag_features(self.features), self.tagger.scheme)
        self.history.append({"epoch": epoch + 1, "loss": float((logs or {}).get("loss", 0)),
                             "metric": report["metric"], "score": report["score"],
                             "accuracy": report["accuracy"], "seconds": round(seconds, 1)})
        improved = report["score"] > self.best_score
        if improved:
            self.best_score, self.best_epoch, self.best_report = report["score"], epoch + 1, report
            self.best_weights = [w.copy() for w in self.model.get_weights()]
        self.progress.line(
            f"epoch {epoch + 1}/{self.config.epochs}  loss {self.history[-1]['loss']:.4f}  "
            f"validation {report['metric']} {report['score'] * 100:.2f}"
            f"{' *' if improved else ''}  {seconds:.0f} s ({rate(self.tokens, seconds)})")
        if epoch + 1 - self.best_epoch >= self.config.patience:
            self.progress.line(f"no improvement for {self.config.patience} epochs: stopping")
            self.model.stop_training = True
