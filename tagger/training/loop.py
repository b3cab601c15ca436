"""Training: corpus -> vocabulary -> bucketed batches -> model, kept at its best epoch.

    tagger, metrics = train(load_corpus("conll2003"), TrainConfig.from_flat(epochs=20))
    tagger.save("models/conll")
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from tagger import batching, heads, schemes
from tagger.backends.keras.backend import KerasBackend
from tagger.backends.keras.network import LearningRate, build_model, compile_model
from tagger.corpora import Corpus, CorpusSource, load_corpus
from tagger.encoders.checkpoint import Checkpoint, read_folder
from tagger.errors import TaggerError
from tagger.evaluation import fit_calibration
from tagger.metrics import ALL_TAGS, layer_scores, score
from tagger.model_folder import CorpusInfo, HeadConfig, ModelConfig
from tagger.pipeline import Tagger, context_features
from tagger.progress import Progress, clock, rate
from tagger.settings import OptimizationSettings, TrainConfig
from tagger.text.features import Featurizer
from tagger.text.segmenter import Segmenter
from tagger.text.tokenizer import Rules
from tagger.training import checkpoints, distribution, tokenizers
from tagger.training.embeddings import read_vectors, rows_of


def train(corpus: Corpus, config: TrainConfig, *, progress: Progress | None = None,
          checkpoint_dir: str | Path | None = None, picked: str = ""
          ) -> tuple[Tagger, dict[str, Any]]:
    """Train on `corpus`'s train split and select the epoch on validation.

    Returns the tagger at its best epoch and its metrics (also kept as `tagger.metrics`, and
    written to metrics.json by `tagger.save`). When TF_CONFIG describes a cluster, every
    worker runs this and trains its share (see `distribution`); only the chief's metrics
    are complete ("worker" says which one this is) and only the chief should save.
    With `checkpoint_dir`, the state after each epoch is kept there (by the chief), and a
    training that finds a checkpoint of its own there carries on after its last epoch.
    `picked`: the line saying which settings came from the corpus
    (`training.defaults.picked`), shown once the settings have passed their checks.
    """
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
    cluster = distribution.cluster_from_env()
    strategy = distribution.strategy() if cluster else None  # before any TensorFlow op
    if cluster and not cluster.is_chief:
        progress = None  # the chief reports
    progress = progress or Progress(enabled=False)
    train_split = corpus.split("train", chosen_by="dataset")
    validation = corpus.split("validation", chosen_by="dataset")
    optimization = config.optimization
    if config.features.train_scheme == "iobes" and corpus.scheme == schemes.TOKEN:
        raise TaggerError(f"train_scheme iobes needs entity tags; {corpus.name} "
                          f"{corpus.tag_column} has no B-/I- tags", param="train_scheme")
    # Variables made in the strategy's scope are mirrored on every worker.
    scope = strategy.scope if strategy else contextlib.nullcontext
    tagger, config, more_heads, tokenizer_metrics, info = initialized(corpus, config, progress,
                                                                      scope)
    featurizer, encoder = tagger.featurizer, tagger.backend.checkpoint
    sentences = [w for w, _ in train_split]
    features = _ragged_features(featurizer, sentences)
    gold = [t for _, t in train_split]
    with scope():
        model = tagger.backend.model
        if tagger.config.network_scheme == schemes.IOBES and corpus.scheme == schemes.IOB2:
            gold = [schemes.iob2_to_iobes(tags) for tags in gold]
        targets = (batching.encode_tags(gold, tagger.config.network_labels),
                   *(batching.encode_tags(_targets(head, corpus, "train"), head.labels,
                                          known_only=False) for head in more_heads))
        batches = batching.batch_count(targets[0].row_lengths().numpy(),
                                       optimization.batch_size)
        schedule = compile_model(model, optimization, batches)

    documents = {split: corpus.documents.get(split) for split in ("train", "validation")}
    if encoder is not None:
        features["context"] = _context_features(tagger, sentences, validation, progress,
                                                documents)
    more_gold = {head.column: corpus.column(name, "validation")
                 for head, name in zip(more_heads, corpus.more, strict=True)}
    tracker = _EpochTracker(tagger, validation, optimization, schedule, progress,
                            tokens=info.train_tokens, batches=batches, more_gold=more_gold,
                            documents=documents["validation"])
    identity = {"settings": config.to_dict(), "dataset": corpus.name,
                "tag_column": corpus.tag_column, "labels": list(corpus.labels),
                "columns": [dataclasses.asdict(head) for head in more_heads],
                "train_tokens": info.train_tokens, "vocabulary": len(featurizer.words),
                "workers": cluster.workers if cluster else 1}
    resumed = checkpoints.read(checkpoint_dir, identity) if checkpoint_dir else None
    first_epoch = resumed.epochs_done if resumed else 0
    if resumed:
        progress.line(f"resuming from {checkpoint_dir}: {first_epoch} epochs done "
                      f"(workers: {resumed.training['workers']}), best epoch "
                      f"{resumed.record['best_epoch']} "
                      f"({resumed.record['best_score'] * 100:.2f})"
                      + ("; training had ended" if resumed.stopped else ""))
    last_epoch = first_epoch if resumed and resumed.stopped else optimization.epochs
    earlier_minutes = resumed.record["minutes"] if resumed else 0.0

    def dataset(batch_size: int, shard: tuple[int, int] | None = None):
        return batching.training_stream(features, targets, batch_size,
                                        seed=optimization.seed, trained=first_epoch * batches,
                                        word_dropout=optimization.word_dropout,
                                        rare_from=featurizer.words.rare_from, shard=shard)

    def save_checkpoint(epochs_done: int, stopped: bool) -> None:
        minutes = earlier_minutes + (time.monotonic() - started) / 60
        checkpoint = _checkpoint_of(model, tracker, identity, epochs_done, stopped, minutes)
        checkpoint.trained_weights = (averaging.held or []) if averaging else []
        checkpoints.write(checkpoint_dir, checkpoint)
    save = save_checkpoint if checkpoint_dir else None
    averaging = _AveragedWeights() if optimization.ema else None
    callbacks = [averaging] if averaging else []
    if resumed and averaging:
        # The checkpoint was taken at an epoch's end, with the averages swapped in.
        averaging.held = resumed.trained_weights or None
    if picked:
        progress.line(picked)
    if first_epoch < last_epoch:
        progress.line(f"training on {len(train_split)} sentences ({tracker.tokens} tokens), "
                      f"vocabulary {len(featurizer.words)}, {len(corpus.labels)} labels "
                      f"({corpus.scheme}); validation {len(validation)} sentences"
                      + (f"; {cluster.workers} workers" if cluster else ""))
    else:
        progress.line("no epochs left to train: the model is the checkpoint's best epoch")
    started = time.monotonic()
    if cluster:
        # Each worker takes its share of the sentences at its share of the global batch.
        def shard(context):
            return dataset(max(1, optimization.batch_size // cluster.workers),
                           (context.num_input_pipelines, context.input_pipeline_id))

        _fit_across_workers(strategy, shard, cluster, tracker, callbacks, resumed,
                            range(first_epoch, last_epoch), batches, save)
    else:
        if resumed:
            _restore(model, tracker, resumed)
        if first_epoch < last_epoch:
            after_epoch = [_AfterEpoch(save)] if save else []
            model.fit(dataset(optimization.batch_size), epochs=last_epoch,
                      initial_epoch=first_epoch, steps_per_epoch=batches, verbose=0,
                      shuffle=False, callbacks=[*callbacks, tracker, *after_epoch])
    minutes = earlier_minutes + (time.monotonic() - started) / 60
    model.set_weights(tracker.best_weights)
    tagger.weights_changed()
    calibrated = None
    chief = not cluster or cluster.is_chief
    if chief and corpus.scheme != schemes.TOKEN and optimization.calibration != "none":
        calibrated = fit_calibration(tagger, validation, documents["validation"],
                                     optimization.calibration)
        progress.line(f"span confidences calibrated ({optimization.calibration}, on half of "
                      "validation); expected calibration error on the other half "
                      f"{calibrated['raw']['ece'] * 100:.2f}% -> "
                      f"{calibrated['calibrated']['ece'] * 100:.2f}%")
    if tagger.context is not None:
        tagger.context.known = {}  # the validation split's, needed no more
    if not chief:
        tagger.metrics = {"worker": cluster.index, "workers": cluster.workers,
                          "best_epoch": tracker.best_epoch, "train_minutes": round(minutes, 2)}
        return tagger, tagger.metrics

    tagger.metrics = {
        "metric": tracker.history[tracker.best_epoch - 1]["metric"],
        "validation_score": tracker.best_score,
        "best_epoch": tracker.best_epoch,
        "epochs_run": len(tracker.history),
        "train_minutes": round(minutes, 2),
        "validation": tracker.best_report,
        "history": tracker.history,
        "tokenizer": tokenizer_metrics,
        **({"calibration": calibrated} if calibrated else {}),
        **({"worker": 0, "workers": cluster.workers} if cluster else {}),
    }
    progress.line(f"kept epoch {tracker.best_epoch}: validation {tagger.metrics['metric']} "
                  f"{tracker.best_score * 100:.2f}; {minutes:.1f} min")
    return tagger, tagger.metrics


class Start(NamedTuple):
    """What training starts from (`initialized`)."""

    tagger: Tagger
    config: TrainConfig  # the settings, `embedding_dim` the pretrained vectors'
    more_heads: list[HeadConfig]
    tokenizer_metrics: dict[str, Any] | None
    info: CorpusInfo


def initialized(corpus: Corpus, config: TrainConfig, progress: Progress | None = None,
                scope: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
                ) -> Start:
    """The tagger that training on `corpus` with `config` starts from: its tokenizer chosen
    or learned, vocabularies, heads, and a network initialized from `config`'s seed (its
    variables made in `scope`, a distribution strategy's), pretrained vectors in place.
    Its weights are random but for the vectors: tests of backends, exports and formats
    that need a network of some shape, not a trained one, start here."""
    progress = progress or Progress(enabled=False)
    keras.utils.set_random_seed(config.optimization.seed)
    sentences = [w for w, _ in corpus.split("train", chosen_by="dataset")]
    more_heads = further_heads(corpus, config)
    encoder = _read_encoder(config)  # a bad folder fails before any work
    text = corpus
    if config.features.tokenizer_from:
        text = load_corpus(config.features.tokenizer_from)
        progress.line(f"tokenizer and sentences learned from {config.features.tokenizer_from}"
                      f" ({len(text.surfaces.get('train', [])):,} train sentences)")
    tokenizer, tokenizer_metrics = tokenizers.choose(text, config.features.tokenizer,
                                                     config.optimization.seed, progress)
    splitter, tokenizer_metrics["sentences"] = tokenizers.sentence_splitter(
        text, tokenizer, config.optimization.seed, progress)
    if config.features.tokenizer_from:
        tokenizer_metrics["corpus"] = config.features.tokenizer_from
    vectors = None
    if config.features.embeddings:
        vectors = read_vectors(Path(config.features.embeddings),
                               lowercase=config.features.lowercase,
                               limit=config.features.max_vectors)
        config = config.replace(embedding_dim=vectors.dimension)
    featurizer = Featurizer.build(sentences, config.features,
                                  vectors.words if vectors is not None else ())
    if vectors is not None:
        train_words = featurizer.words.extended_from
        progress.line(f"{config.features.embeddings}: {len(vectors.words)} vectors of dimension "
                      f"{vectors.dimension}; vocabulary {train_words} train words + "
                      f"{len(featurizer.words) - train_words} from the vectors")
    source = corpus.source or CorpusSource(corpus.name, tag_column=corpus.tag_column)
    info = CorpusInfo(**dataclasses.asdict(source), notes=corpus.notes, license=corpus.license,
                      train_sentences=len(sentences),
                      train_tokens=sum(len(w) for w in sentences),
                      validation_sentences=len(corpus.split("validation",
                                                            chosen_by="dataset")))
    with scope():
        tagger = untrained(featurizer, corpus.labels, corpus.scheme, config, info, tokenizer,
                           encoder, more_heads)
        tagger.sentences = splitter
        if vectors is not None:
            rows, matrix = rows_of(featurizer.words.words, vectors)
            tagger.backend.model.parts[0].word_embedding.set_vectors(rows, matrix)
            progress.line(f"{int((rows < featurizer.words.extended_from).sum())} of "
                          f"{featurizer.words.extended_from - 2} train words have a vector")
    return Start(tagger, config, more_heads, tokenizer_metrics, info)


def further_heads(corpus: Corpus, config: TrainConfig) -> list[HeadConfig]:
    """The heads of the corpus's further tag columns (`Corpus.more`): a tag head each, a
    lemma head for lemmas (its labels the edit scripts of the train split), a softmax (a
    CRF only for the first column's entity tags), weighted as `head_weights` says; labels
    seen fewer than `min_label_count` times in train left out; a head with more labels
    than `head_projection` projected to that width first."""
    weights = config.network.weights(1 + len(corpus.more))
    found = []
    for name, weight in zip(corpus.more, weights[1:], strict=True):
        kind = heads.kind_of(name)
        column = heads.column_name(name)
        if column in heads.RESERVED or column.startswith(("span_", "multiword_")):
            raise TaggerError(f"`columns`: a column named {name!r} would clash with a tagged "
                              "record's own key of that name; rename the column",
                              param="columns")
        head = HeadConfig(column, kind, [], weight=weight)
        counts = Counter(v for row in _targets(head, corpus, "train") for v in row)
        labels = sorted(v for v, n in counts.items() if n >= config.features.min_label_count)
        width = config.network.head_projection
        found.append(dataclasses.replace(head, labels=labels,
                                         projection=width if 0 < width < len(labels) else 0))
    if config.optimization.select_on == "alltags" and not {"upos", "xpos", "feats"} <= {
            heads.column_name(c) for c in (corpus.tag_column, *corpus.more)}:
        raise TaggerError("select_on alltags scores UPOS, XPOS and UFeats together: give "
                          "--columns upos,xpos,feats (and others, if you like)",
                          param="select_on")
    return found


def _targets(head: HeadConfig, corpus: Corpus, split: str) -> list[list[str]]:
    """What `head` learns of a split: its column's values, or for lemmas the edit scripts
    that turn the forms into them."""
    name = next(c for c in corpus.more if heads.column_name(c) == head.column)
    values = corpus.column(name, split)
    if head.kind != "lemma":
        return values
    return [heads.LemmaHead.targets(tokens, lemmas)
            for (tokens, _), lemmas in zip(corpus.split(split), values, strict=True)]


def untrained(featurizer: Featurizer, labels: Sequence[str], scheme: str,
              settings: TrainConfig, corpus: CorpusInfo | None = None,
              tokenizer: Rules | Segmenter | None = None,
              encoder: Checkpoint | None = None,
              more_heads: Sequence[HeadConfig] = ()) -> Tagger:
    """A tagger on the keras backend with a freshly initialized network of the shape that
    these vocabularies, labels and settings call for, tokenizing with `tokenizer` (default:
    the rules), with contextual features from `encoder` if given, and `more_heads` after
    the first."""
    tokenizer = tokenizer or Rules()
    head = settings.network.head
    config = ModelConfig(
        labels=list(labels), scheme=scheme,
        crf=head == "crf" or (head == "auto" and scheme != schemes.TOKEN),
        vocab_size=len(featurizer.words),
        tuned_vocab_size=featurizer.words.extended_from if settings.features.embeddings
        else 0,
        char_vocab_size=len(featurizer.chars) if featurizer.chars is not None else 0,
        casing_size=featurizer.casing_size, settings=settings, corpus=corpus,
        tokenizer=tokenizer.name,
        context_layers=settings.features.encoder_layers if encoder else 0,
        context_dim=encoder.config.hidden_size if encoder else 0,
        heads=list(more_heads),
        first_weight=settings.network.weights(1 + len(more_heads))[0])
    backend = KerasBackend(build_model(config), encoder, config.context_layers)
    context = context_features(encoder.wordpiece, config) if encoder else None
    return Tagger(config, featurizer, backend, tokenizer=tokenizer, context=context)


def _read_encoder(config: TrainConfig) -> Checkpoint | None:
    """The checkpoint of `--encoder`, checked against the other encoder settings."""
    features = config.features
    if not features.encoder:
        return None
    encoder = read_folder(features.encoder)
    if features.encoder_layers > encoder.config.layers:
        raise TaggerError(f"encoder_layers {features.encoder_layers}: {features.encoder} "
                          f"has {encoder.config.layers} layers: give --encoder-layers "
                          f"{encoder.config.layers} or fewer", param="encoder_layers")
    if features.encoder_window > encoder.config.max_positions:
        raise TaggerError(f"encoder_window {features.encoder_window}: {features.encoder} "
                          f"reads at most {encoder.config.max_positions} subwords: give "
                          "a smaller --encoder-window",
                          param="encoder_window")
    return encoder


def _context_features(tagger: Tagger, sentences: Sequence[Sequence[str]],
                      validation: list, progress: Progress,
                      documents: dict[str, list[int] | None]) -> tf.Tensor:
    """The train sentences' contextual features, `(tokens, layers, hidden)` float16, computed
    once (the encoder is frozen); the validation split's are kept by the tagger's
    `context` for the scores after each epoch. Each split's sentences are read with their
    neighbours in `documents` where the model reads document context."""
    context, encode = tagger.context, tagger.backend.encoder_states
    name = tagger.backend.checkpoint.name
    started = time.monotonic()
    held = [w for w, _ in validation]
    tokens = sum(map(len, sentences)) + sum(map(len, held))
    done = 0

    def encode_counting(windows: np.ndarray) -> np.ndarray:
        nonlocal done
        states = encode(windows)
        done += int((windows > 0).sum())
        elapsed = time.monotonic() - started
        progress.update(f"encoder {name}: {done:,} subwords read "
                        f"({done / max(elapsed, 1e-9):,.0f}/s)")
        return states

    if context.around and not any(documents.values()):
        progress.line("encoder_context: the corpus marks no documents (CoNLL -DOCSTART-, "
                      "CoNLL-U # newdoc): each sentence is read alone")
    train = context.per_sentence(sentences, encode_counting,
                                 context.neighbours(sentences, documents["train"]))
    around = context.neighbours(held, documents["validation"])
    context.known = dict(zip(context.keys(held, around),
                             context.per_sentence(held, encode_counting, around), strict=True))
    progress.line(f"encoder {name}: features of {tokens} words ({done} subwords read) in "
                  f"{time.monotonic() - started:.0f} s")
    return tf.RaggedTensor.from_row_lengths(
        np.concatenate(train) if train else
        np.zeros((0, context.layers, context.dim), np.float16),
        np.fromiter(map(len, sentences), np.int64, len(sentences)))


def _ragged_features(featurizer: Featurizer, sentences: Sequence[Sequence[str]]
                     ) -> dict[str, tf.RaggedTensor]:
    """The train sentences' ids as ragged `(sentences, tokens[, chars])` tensors."""
    ids, chars = featurizer.flat(sentences)
    lengths = np.fromiter(map(len, sentences), np.int64, len(sentences))
    features = {name: tf.RaggedTensor.from_row_lengths(values, lengths)
                for name, values in ids.items()}
    if chars is not None:
        flat = np.fromiter(itertools.chain.from_iterable(chars), np.int32)
        per_token = tf.RaggedTensor.from_row_lengths(
            flat, np.fromiter(map(len, chars), np.int64, len(chars)))
        features["chars"] = tf.RaggedTensor.from_row_lengths(per_token, lengths)
    return features


def _fit_across_workers(strategy, make_dataset, cluster: distribution.Cluster,
                        tracker: _EpochTracker, callbacks: list,
                        resumed: checkpoints.Checkpoint | None, epochs: range, steps: int,
                        save) -> None:
    """`model.fit` for several workers: the same epochs and callbacks, the chief's tracker
    deciding for all (keep these weights, the learning-rate factor, stop); the chief keeps
    a checkpoint after each epoch if `save` is given."""
    import tensorflow as tf

    model = tracker.tagger.backend.model
    tracker.set_model(model)
    epoch = epochs.start
    try:
        with strategy.scope():
            # Variables made in the scope start from the chief's values, sent to every
            # worker: all make the optimizer's, resumed or not, so that the sends match.
            model.optimizer.build(model.trainable_variables)
        training = distribution.Training(strategy, model, make_dataset)
        starts = training.gather(epochs.start, cluster.index, cluster.workers)
        if len(set(starts)) > 1:  # a worker that found no checkpoint, or another one
            where = ", ".join(f"worker {i} at epoch {int(e) + 1}"
                              for i, e in enumerate(starts))
            raise TaggerError(f"the workers would start at different epochs ({where}): give "
                              "every worker the same --checkpoint-dir (a shared folder, or "
                              "a copy of the chief's)", param="checkpoint_dir")
        if resumed:
            with strategy.scope():
                _restore(model, tracker, resumed)
        everywhere = keras.callbacks.CallbackList(callbacks, model=model)
        for epoch in epochs:
            stop = _epoch_across_workers(training, cluster, tracker, everywhere, epoch,
                                         steps)
            if save and cluster.is_chief:
                save(epoch + 1, stop)
            if stop:
                break
        training.finish()
    except tf.errors.OpError as error:  # a collective or the barrier failed or timed out
        raise TaggerError(
            f"training on {cluster.workers} workers failed in epoch {epoch + 1}: another "
            f"worker stopped answering ({type(error).__name__}); nothing was written. "
            "Start every worker again with the same command") from None


def _epoch_across_workers(training: distribution.Training, cluster: distribution.Cluster,
                          tracker: _EpochTracker, everywhere: keras.callbacks.CallbackList,
                          epoch: int, steps: int) -> bool:
    """One epoch on every worker and the chief's decisions; whether to stop."""
    model = training.model
    everywhere.on_epoch_begin(epoch)
    tracker.on_epoch_begin(epoch)
    logs = {"loss": training.run_epoch(steps, tracker.on_train_batch_end)}
    everywhere.on_epoch_end(epoch, logs)
    if cluster.is_chief:
        tracker.on_epoch_end(epoch, logs)
    improved, stop, factor = training.agree(
        [tracker.best_epoch == epoch + 1, model.stop_training,
         float(tracker.schedule.factor.numpy())], cluster.is_chief)
    if not cluster.is_chief:
        tracker.schedule.factor.assign(factor)
        if improved:
            tracker.best_epoch = epoch + 1
            tracker.best_weights = [w.copy() for w in model.get_weights()]
    return bool(stop)


class _AveragedWeights(keras.callbacks.Callback):
    """Weight averaging (the optimizer's `use_ema`): validation scores, and so the kept
    weights, are the averages'. They are put into the model at the end of each epoch; the
    trained weights, held meanwhile, are put back at the start of the next."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[np.ndarray] | None = None  # the trained weights while averages are in

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        variables = self.model.trainable_variables
        self.held = [np.array(v.numpy()) for v in variables]
        self.model.optimizer.finalize_variable_values(variables)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.held is not None:
            for variable, value in zip(self.model.trainable_variables, self.held, strict=True):
                variable.assign(value)
            self.held = None


class _AfterEpoch(keras.callbacks.Callback):
    """Calls `action(epochs done, stopping)` at the end of each epoch (after the tracker)."""

    def __init__(self, action) -> None:
        super().__init__()
        self.action = action

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.action(epoch + 1, bool(self.model.stop_training))


def _checkpoint_of(model: keras.Model, tracker: _EpochTracker, identity: dict,
                   epochs_done: int, stopped: bool, minutes: float) -> checkpoints.Checkpoint:
    """The state of a training after `epochs_done` epochs."""
    record = {"history": tracker.history, "best_score": tracker.best_score,
              "best_epoch": tracker.best_epoch, "best_report": tracker.best_report,
              "last_cut": tracker.last_cut, "factor": float(tracker.schedule.factor.numpy()),
              "minutes": minutes}
    return checkpoints.Checkpoint(
        epochs_done, stopped, identity, record,
        variables=[v.numpy() for v in model.variables],
        optimizer=[v.numpy() for v in model.optimizer.variables],
        best_weights=tracker.best_weights)


def _restore(model: keras.Model, tracker: _EpochTracker, checkpoint: checkpoints.Checkpoint
             ) -> None:
    """Put the state of `checkpoint` back into the model, its optimizer and the tracker."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    for variables, values in ((model.variables, checkpoint.variables),
                              (model.optimizer.variables, checkpoint.optimizer)):
        if [tuple(v.shape) for v in variables] != [value.shape for value in values]:
            raise TaggerError("the checkpoint's variables do not fit this model; give "
                              "another (empty) --checkpoint-dir", param="checkpoint_dir")
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)
    record = checkpoint.record
    tracker.history = record["history"]
    tracker.best_score, tracker.best_epoch = record["best_score"], record["best_epoch"]
    tracker.best_report, tracker.last_cut = record["best_report"], record["last_cut"]
    tracker.best_weights = checkpoint.best_weights
    tracker.schedule.factor.assign(record["factor"])


class _EpochTracker(keras.callbacks.Callback):
    """Scores validation after each epoch, keeps the best weights, halves the learning rate
    after `lr_plateau` epochs without progress, and stops after `patience`."""

    def __init__(self, tagger: Tagger, validation: list, optimization: OptimizationSettings,
                 schedule: LearningRate, progress: Progress, tokens: int, batches: int,
                 more_gold: dict[str, list[list[str]]] | None = None,
                 documents: list[int] | None = None) -> None:
        super().__init__()
        self.tagger = tagger
        self.sentences = [w for w, _ in validation]
        self.documents = documents  # each validation sentence's, if the corpus marks them
        self.gold = [t for _, t in validation]
        self.more_gold = more_gold or {}
        self.select_on = optimization.select_on
        self.epochs = optimization.epochs
        self.patience = optimization.patience
        self.plateau = optimization.lr_plateau
        self.schedule = schedule
        self.last_cut = 0  # the epoch of the last halving
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
            f"epoch {len(self.history) + 1}/{self.epochs}  {batch + 1}/{self.batches} "
            f"batches  {rate(self.tokens * done, elapsed)}  "
            f"ETA {clock(elapsed / done - elapsed)}  loss {(logs or {}).get('loss', 0):.4f}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.monotonic() - self._epoch_start
        self.tagger.weights_changed()
        report = self._report()
        self.history.append({"epoch": epoch + 1, "loss": float((logs or {}).get("loss", 0)),
                             "metric": report["metric"], "score": report["score"],
                             "accuracy": report["accuracy"], "seconds": round(seconds, 1),
                             "learning_rate": float(self.model.optimizer.learning_rate),
                             **({"layers": report["layers"]} if "layers" in report else {})})
        improved = report["score"] > self.best_score
        if improved:
            self.best_score, self.best_epoch, self.best_report = report["score"], epoch + 1, report
            self.best_weights = [w.copy() for w in self.model.get_weights()]
        layers = "".join(f"  {name} {value * 100:.2f}"
                         for name, value in report.get("layers", {}).items())
        self.progress.line(
            f"epoch {epoch + 1}/{self.epochs}  loss {self.history[-1]['loss']:.4f}  "
            f"validation {report['metric']} {report['score'] * 100:.2f}"
            f"{' *' if improved else ''}{layers}  {seconds:.0f} s "
            f"({rate(self.tokens, seconds)})")
        if epoch + 1 - self.best_epoch >= self.patience:
            self.progress.line(f"no improvement for {self.patience} epochs: stopping")
            self.model.stop_training = True
        elif self.plateau and epoch + 1 - max(self.best_epoch, self.last_cut) >= self.plateau:
            self.schedule.factor.assign(self.schedule.factor * 0.5)
            self.last_cut = epoch + 1
            self.progress.line(f"no improvement for {self.plateau} epochs: learning rate "
                               f"x{float(self.schedule.factor):g}")

    def _report(self) -> dict[str, Any]:
        """The validation scores: the first column's report, with every column's accuracy
        as `layers` where the model has several heads; the headline `select_on`'s."""
        if not self.more_gold:
            return score(self.gold, self.tagger.tag_tokens(self.sentences, self.documents),
                         self.tagger.scheme)
        predicted = self.tagger.tag_columns(self.sentences, self.documents)
        tags = predicted.pop("tags")
        report = score(self.gold, tags, self.tagger.scheme)
        first = heads.column_name(self.tagger.config.first_column)
        layers = layer_scores({first: self.gold, **self.more_gold}, {first: tags, **predicted})
        report["layers"] = layers
        if self.select_on == "alltags":
            report = {**report, "metric": ALL_TAGS, "score": layers[ALL_TAGS]}
        return report
