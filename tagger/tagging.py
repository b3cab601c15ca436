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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from tagger import batching, model_folder, schemes, tokenizing
from tagger.features import Featurizer, pad, tokens_tensor
from tagger.model import TaggerModel, build_model, load_weights
from tagger.model_folder import CorpusInfo, ModelConfig
from tagger.settings import TrainConfig

# Padded tokens per batch: large enough to keep the matrix units busy, small enough that a
# batch of long paragraphs stays within a few hundred MB.
MAX_BATCH_TOKENS = 8192
MAX_BATCH_SENTENCES = 256
# Up to this many texts are tokenized eagerly rather than by the compiled function.
EAGER_TEXTS = 16


@dataclass(frozen=True)
class Entity:
    label: str
    start: int  # character offsets into the text
    end: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "start": self.start, "end": self.end, "text": self.text}


@dataclass
class Tagged:
    """One tagged text: its tokens, their character offsets, tags and entity spans."""

    text: str
    tokens: list[str]
    tags: list[str]
    offsets: list[tuple[int, int]] = field(default_factory=list)
    spans: list[Entity] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "tokens": self.tokens, "tags": self.tags,
                "offsets": [list(o) for o in self.offsets],
                "spans": [s.to_dict() for s in self.spans]}


class Tagger:
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
        # The network's label ids -> the corpus's labels (IOBES ones mapped back to IOB2).
        output = config.network_labels
        if config.network_scheme != config.scheme:
            output = [schemes.iobes_to_iob2(label) for label in output]
        self._label_array = np.asarray(output, dtype=object)
        # One signature with free sizes: traced once, whatever the shapes. It takes the
        # ragged features of many sentences and the rows of one batch, and pads that batch
        # inside the compiled call.
        token_spec = tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1)
        spec = {"words": token_spec}
        if featurizer.chars is not None:
            spec["chars"] = tf.RaggedTensorSpec([None, None, None], tf.int32, ragged_rank=2)
        if featurizer.use_casing:
            spec["casing"] = token_spec

        def forward(features: dict[str, tf.RaggedTensor], rows: tf.Tensor) -> tf.Tensor:
            return model.decode(pad(features, rows))

        self._forward = tf.function(forward, autograph=False,
                                    input_signature=[spec, tf.TensorSpec([None], tf.int64)])
        # Tokenizing and featurizing compiled too: eagerly, each of their many small ops
        # pays Python's dispatch cost. A few texts (one `tagger tag "..."`) go eagerly,
        # which is quicker than tracing; string and integer ops give the same ids either way.
        self._tokenize = tf.function(self._tokenize_and_featurize, autograph=False,
                                     input_signature=[tf.TensorSpec([None], tf.string)])
        self._featurize = tf.function(
            featurizer.__call__,
            input_signature=[tf.RaggedTensorSpec([None, None], tf.string, ragged_rank=1)])

    @property
    def labels(self) -> list[str]:
        return self.config.labels

    @property
    def scheme(self) -> str:
        return self.config.scheme

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

    def save(self, path: str | Path, *, force: bool = False) -> None:
        """Write this tagger as model folder `path` (replacing it only with `force`)."""

        def fill(folder: Path) -> None:
            # A fresh, uncompiled copy: a compiled model would also save the optimizer's
            # state, tripling the file.
            weights_only = build_model(self.config)
            weights_only.set_weights(self.model.get_weights())
            weights_only.save_weights(folder / model_folder.WEIGHTS)
            self.featurizer.save(folder)

        model_folder.write(Path(path), self.config, fill, self.metrics, force)

    def predict(self, features: dict[str, tf.RaggedTensor]) -> list[np.ndarray]:
        """Label ids for each sentence of ragged features `(sentences, tokens[, chars])`."""
        lengths = features["words"].row_lengths().numpy()
        out: list[np.ndarray] = [np.zeros(0, np.int32)] * len(lengths)
        for rows in batching.sorted_batches(lengths, MAX_BATCH_TOKENS, MAX_BATCH_SENTENCES):
            if lengths[rows[0]] == 0:
                continue  # the rest are empty too: nothing to tag
            best = self._forward(features, rows).numpy()
            for row, labels in zip(rows, best, strict=True):
                out[row] = labels[: lengths[row]]
        return out

    def tag_tokens(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """Tags of pre-tokenized sentences."""
        return self._tags(self.predict_tokens(sentences))

    def tag_features(self, features: dict[str, tf.RaggedTensor]) -> list[list[str]]:
        """Tags of sentences already featurized by `self.featurizer`."""
        return self._tags(self.predict(features))

    def tag(self, texts: Sequence[str]) -> list[Tagged]:
        """Tokenize raw texts and tag them, with character offsets and entity spans."""
        return self.annotate_texts(texts, self.predict_texts(texts)) if texts else []

    def tag_conll_sentences(self, sentences: Sequence[Sequence[str]]) -> list[Tagged]:
        """Tag pre-tokenized sentences; offsets refer to the tokens joined by single spaces."""
        return self.annotate_tokens(sentences, self.predict_tokens(sentences))

    def _tags(self, predictions: list[np.ndarray]) -> list[list[str]]:
        return [self._label_array[p].tolist() for p in predictions]

    # predict_* run TensorFlow; annotate_* turn their results into `Tagged` in Python. Batch
    # tagging overlaps the two on different chunks.
    def predict_tokens(self, sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Label ids of pre-tokenized sentences."""
        return self.predict(self._featurize(tokens_tensor(sentences)))

    def predict_texts(self, texts: Sequence[str]) -> TextPredictions:
        """Label ids of raw texts, with their tokens' offsets."""
        tokenize = (self._tokenize if len(texts) > EAGER_TEXTS
                    else self._tokenize_and_featurize)
        tokenized, features = tokenize(tf.constant(list(texts), dtype=tf.string))
        return TextPredictions(self.predict(features), tokenized.starts.row_splits.numpy(),
                                tokenized.starts.flat_values.numpy(),
                                tokenized.ends.flat_values.numpy())

    def _tokenize_and_featurize(self, texts: tf.Tensor
                                ) -> tuple[tokenizing.Tokenized, dict[str, tf.RaggedTensor]]:
        tokenized = tokenizing.tokenize(texts)
        return tokenized, self.featurizer(tokenized.tokens)

    def annotate_texts(self, texts: Sequence[str], predicted: TextPredictions) -> list[Tagged]:
        """Texts with their tokens, offsets, tags and spans, from `predict_texts`."""
        splits, starts, ends = predicted.splits, predicted.starts, predicted.ends
        results = []
        for i, text in enumerate(texts):
            row = slice(splits[i], splits[i + 1])
            offsets = list(zip(tokenizing.char_offsets(text, starts[row]).tolist(),
                               tokenizing.char_offsets(text, ends[row]).tolist(), strict=True))
            tags = self._label_array[predicted.labels[i]].tolist()
            results.append(Tagged(
                text=text,
                tokens=[text[start:end] for start, end in offsets],
                tags=tags,
                offsets=offsets,
                spans=self._entities(text, tags, offsets),
            ))
        return results

    def annotate_tokens(self, sentences: Sequence[Sequence[str]], predicted: list[np.ndarray]
                        ) -> list[Tagged]:
        """Sentences with offsets (tokens joined by spaces), tags and spans."""
        results = []
        for tokens, tags in zip(sentences, self._tags(predicted), strict=True):
            text = " ".join(tokens)
            ends = np.cumsum([len(t) + 1 for t in tokens]) - 1
            offsets = [(int(e) - len(t), int(e)) for t, e in zip(tokens, ends, strict=True)]
            results.append(Tagged(text, list(tokens), tags, offsets,
                                  self._entities(text, tags, offsets)))
        return results

    def _entities(self, text: str, tags: list[str], offsets: list[tuple[int, int]]
                  ) -> list[Entity]:
        if self.scheme == schemes.TOKEN:
            return []
        found = []
        for span in schemes.spans(tags):
            start, end = offsets[span.start][0], offsets[span.end - 1][1]
            found.append(Entity(span.label, start, end, text[start:end]))
        return found


class TextPredictions(NamedTuple):
    """Label ids per text, and its tokens' UTF-8 byte offsets (flat, split per text)."""

    labels: list[np.ndarray]
    splits: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
