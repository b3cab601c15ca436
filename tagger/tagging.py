"""Tagging with a trained model: the library API behind `tagger tag`.

    tagger = Tagger.load("models/conll")
    [tagged] = tagger.tag(["Angela Merkel visited Paris."])
    tagged.spans  # [Entity("PER", 0, 13, "Angela Merkel"), Entity("LOC", 22, 27, "Paris")]

Sentences are sorted by length, padded per batch and run through one compiled function, so
tagging many sentences is far faster than tagging them one by one, with the same tags.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tagger import batching, model_folder, schemes, tokenizing
from tagger.features import Featurizer, pad, tokens_tensor
from tagger.model import TaggerModel, build_model, load_weights
from tagger.model_folder import CorpusInfo, ModelConfig
from tagger.records import Annotator, Scored, TextPredictions
from tagger.settings import TrainConfig

# Padded tokens per batch: large enough to keep the matrix units busy, small enough that a
# batch of long paragraphs stays within a few hundred MB.
MAX_BATCH_TOKENS = 8192
MAX_BATCH_SENTENCES = 256
# Up to this many texts are tokenized eagerly rather than by the compiled function.
EAGER_TEXTS = 16


class Tagger(Annotator):
    """A model with its vocabularies, labels and scheme: tags tokens or raw text.

    `Tagger.new` makes an untrained one, `training.train` a trained one; `save` writes it as
    a model folder and `load` reads it back.
    """

    def __init__(self, model: TaggerModel, featurizer: Featurizer, config: ModelConfig,
                 metrics: dict[str, Any] | None = None) -> None:
        self.model = model
        self.featurizer = featurizer
        self.config = config
        self.metrics = metrics
        self._set_labels()
        # One signature with free sizes: traced once, whatever the shapes. It takes the
        # ragged features of many sentences and the rows of one batch, and pads that batch
        # inside the compiled call.
        token_spec = tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1)
        spec = {"words": token_spec}
        if featurizer.chars is not None:
            spec["chars"] = tf.RaggedTensorSpec([None, None, None], tf.int32, ragged_rank=2)
        if featurizer.use_casing:
            spec["casing"] = token_spec

        def forward(features: dict[str, tf.RaggedTensor], rows: tf.Tensor) -> tuple[tf.Tensor]:
            return (model.decode(pad(features, rows)),)

        def forward_scored(features: dict[str, tf.RaggedTensor], rows: tf.Tensor
                           ) -> tuple[tf.Tensor, tf.Tensor]:
            return model.decode_with_confidence(pad(features, rows))

        signature = [spec, tf.TensorSpec([None], tf.int64)]
        self._forward = tf.function(forward, autograph=False, input_signature=signature)
        self._forward_scored = tf.function(forward_scored, autograph=False,
                                           input_signature=signature)
        # Tokenizing and featurizing compiled too: eagerly, each of their many small ops
        # pays Python's dispatch cost. A few texts (one `tagger tag "..."`) go eagerly,
        # which is quicker than tracing; string and integer ops give the same ids either way.
        self._tokenize = tf.function(self._tokenize_and_featurize, autograph=False,
                                     input_signature=[tf.TensorSpec([None], tf.string)])
        self._featurize = tf.function(
            featurizer.__call__,
            input_signature=[tf.RaggedTensorSpec([None, None], tf.string, ragged_rank=1)])

    @classmethod
    def new(cls, featurizer: Featurizer, labels: Sequence[str], scheme: str,
            settings: TrainConfig, corpus: CorpusInfo | None = None) -> Tagger:
        """An untrained tagger: a freshly initialized network for these inputs and labels."""
        head = settings.network.head
        config = ModelConfig(
            labels=list(labels), scheme=scheme,
            crf=head == "crf" or (head == "auto" and scheme != schemes.TOKEN),
            vocab_size=len(featurizer.words),
            tuned_vocab_size=featurizer.words.extended_from if settings.features.embeddings
            else 0,
            char_vocab_size=len(featurizer.chars) if featurizer.chars is not None else 0,
            casing_size=featurizer.casing_size, settings=settings, corpus=corpus)
        return cls(build_model(config), featurizer, config)

    @classmethod
    def load(cls, path: str | Path) -> Tagger:
        """The tagger saved in model folder `path`, verified against its manifest."""
        path = Path(path)
        config = model_folder.read(path)
        featurizer = Featurizer.load(path, config)
        model = build_model(config)
        load_weights(model, path / model_folder.WEIGHTS)
        metrics_file = path / model_folder.METRICS
        metrics = json.loads(metrics_file.read_text(encoding="utf-8")) \
            if metrics_file.is_file() else None
        return cls(model, featurizer, config, metrics)

    def save(self, path: str | Path, *, force: bool = False,
             extra: dict[str, bytes] | None = None) -> None:
        """Write this tagger as model folder `path` (replacing it only with `force`), with
        `extra` files (name: content) too, such as an exported network."""

        def fill(folder: Path) -> None:
            # A fresh, uncompiled copy: a compiled model would also save the optimizer's
            # state, tripling the file.
            weights_only = build_model(self.config)
            weights_only.set_weights(self.model.get_weights())
            weights_only.save_weights(folder / model_folder.WEIGHTS)
            self.featurizer.save(folder)
            for name, content in (extra or {}).items():
                (folder / name).write_bytes(content)

        model_folder.write(Path(path), self.config, fill, self.metrics, force)

    def predict(self, features: dict[str, tf.RaggedTensor]) -> list[np.ndarray]:
        """Label ids for each sentence of ragged features `(sentences, tokens[, chars])`."""
        return self._batched(self._forward, features, [np.int32])[0]

    def predict_with_confidence(self, features: dict[str, tf.RaggedTensor]) -> Scored:
        """Label ids and their probabilities (see `Tagged`) for each sentence."""
        return Scored(*self._batched(self._forward_scored, features, [np.int32, np.float32]))

    def _batched(self, forward, features: dict[str, tf.RaggedTensor], dtypes: list[type]
                 ) -> list[list[np.ndarray]]:
        """`forward`'s per-step outputs (of `dtypes`) over sorted, padded batches, each cut
        to its sentence's length."""
        lengths = features["words"].row_lengths().numpy()
        out = [[np.zeros(0, dtype)] * len(lengths) for dtype in dtypes]
        for rows in batching.sorted_batches(lengths, MAX_BATCH_TOKENS, MAX_BATCH_SENTENCES):
            if lengths[rows[0]] == 0:
                continue  # the rest are empty too: nothing to tag
            for values, column in zip(forward(features, rows), out, strict=True):
                for row, value in zip(rows, values.numpy(), strict=True):
                    column[row] = value[: lengths[row]]
        return out

    def tag_tokens(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """Tags of pre-tokenized sentences."""
        return self._tags(self.predict(self._featurize(tokens_tensor(sentences))))

    def tag_features(self, features: dict[str, tf.RaggedTensor]) -> list[list[str]]:
        """Tags of sentences already featurized by `self.featurizer`."""
        return self._tags(self.predict(features))

    # predict_* run TensorFlow; annotate_* turn their results into `Tagged` in Python. Batch
    # tagging overlaps the two on different chunks.
    def predict_tokens(self, sentences: Sequence[Sequence[str]]) -> Scored:
        """Label ids and confidences of pre-tokenized sentences."""
        return self.predict_with_confidence(self._featurize(tokens_tensor(sentences)))

    def predict_texts(self, texts: Sequence[str], compiled: bool | None = None
                      ) -> TextPredictions:
        """Label ids and confidences of raw texts, with their tokens' offsets.

        Tokenizing runs compiled when `compiled` is true; None: for over EAGER_TEXTS texts.
        Its first call traces (~0.4 s) and each later one is several times faster than eager:
        a server, which tags a few texts at a time for long, wants it always.
        """
        if compiled is None:
            compiled = len(texts) > EAGER_TEXTS
        tokenize = self._tokenize if compiled else self._tokenize_and_featurize
        tokenized, features = tokenize(tf.constant(list(texts), dtype=tf.string))
        return TextPredictions(*self.predict_with_confidence(features),
                               tokenized.starts.row_splits.numpy(),
                               tokenized.starts.flat_values.numpy(),
                               tokenized.ends.flat_values.numpy())

    def _tokenize_and_featurize(self, texts: tf.Tensor
                                ) -> tuple[tokenizing.Tokenized, dict[str, tf.RaggedTensor]]:
        tokenized = tokenizing.tokenize(texts)
        return tokenized, self.featurizer(tokenized.tokens)
