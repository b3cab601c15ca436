"""Tagging with a trained model: the library API behind `tagger tag`.

    tagger = Tagger.load("models/conll")
    [tagged] = tagger.tag(["Angela Merkel visited Paris."])
    tagged.spans  # [Entity("PER", 0, 13, "Angela Merkel"), Entity("LOC", 22, 27, "Paris")]

Sentences are sorted by length, padded per batch and run through one compiled function, so
tagging many sentences is far faster than tagging them one by one, with the same tags.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from tagger import batching, crf, model_folder, schemes, tokenizing
from tagger.features import Featurizer, pad, tokens_tensor
from tagger.model import CRFModel, ModelConfig, build_model

# Padded tokens per batch: large enough to keep the matrix units busy, small enough that a
# batch of long paragraphs stays within a few hundred MB.
MAX_BATCH_TOKENS = 8192
MAX_BATCH_SENTENCES = 256
# Lines read, tagged and written as one unit when streaming: bounds memory on any input size.
CHUNK_LINES = 2048
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
    """A model with its vocabulary, labels and scheme; tags tokens or raw text."""

    def __init__(self, model: Any, featurizer: Featurizer, labels: Sequence[str], scheme: str,
                 config: dict | None = None) -> None:
        self.model = model
        self.featurizer = featurizer
        self.labels = list(labels)
        self.scheme = scheme
        self.config = config or {}
        self._label_array = np.asarray(self.labels, dtype=object)
        # One signature with free sizes: traced once, whatever the shapes. It takes the
        # ragged features of many sentences and the rows of one batch, and pads that batch
        # inside the compiled call.
        token_spec = tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1)
        spec = {"words": token_spec}
        if featurizer.chars is not None:
            spec["chars"] = tf.RaggedTensorSpec([None, None, None], tf.int32, ragged_rank=2)
        if featurizer.use_casing:
            spec["casing"] = token_spec
        decode = self._decoder(model, labels, scheme)

        def forward(features: dict[str, tf.RaggedTensor], rows: tf.Tensor) -> tf.Tensor:
            return decode(pad(features, rows))

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

    @staticmethod
    def _decoder(model: Any, labels: Sequence[str], scheme: str):
        """inputs -> best labels `(batch, timesteps)`.

        A CRF model, or any model of an entity scheme, decodes with Viterbi under the
        scheme's constraints (a softmax model over its log-probabilities), so no path has an
        impossible transition such as O -> I-PER. POS softmax models take each step's argmax.
        """
        is_crf = isinstance(model, CRFModel)
        if not is_crf and scheme == schemes.TOKEN:

            def best_per_step(x):
                return tf.argmax(model(x, training=False), axis=-1, output_type=tf.int32)

            return best_per_step
        transitions, start, end = (tf.constant(c) for c in crf.constraints(labels, scheme))

        def decode(x):
            scores = model(x, training=False)
            mask = x["words"] != 0
            if is_crf:
                return crf.viterbi(scores, mask, model.crf.transitions + transitions,
                                   model.crf.start + start, model.crf.end + end)
            return crf.viterbi(tf.math.log(scores + 1e-9), mask, transitions, start, end)

        return decode

    @classmethod
    def load(cls, path: str | Path) -> Tagger:
        path = Path(path)
        config = model_folder.read_config(path)
        model_config = ModelConfig(**config["model"])
        featurizer = Featurizer.load(path, config["lowercase"],
                                     use_chars=model_config.char_vocab_size > 0,
                                     use_casing=model_config.casing_size > 0)
        model = build_model(model_config)
        model.load_weights(path / model_folder.WEIGHTS)
        return cls(model, featurizer, config["labels"], config["scheme"], config)

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
        return self._tags(self._predict_tokens(sentences))

    def tag_features(self, features: dict[str, tf.RaggedTensor]) -> list[list[str]]:
        """Tags of sentences already featurized by `self.featurizer`."""
        return self._tags(self.predict(features))

    def tag(self, texts: Sequence[str]) -> list[Tagged]:
        """Tokenize raw texts and tag them, with character offsets and entity spans."""
        return self._tagged_texts(texts, self._predict_texts(texts)) if texts else []

    def tag_conll_sentences(self, sentences: Sequence[Sequence[str]]) -> list[Tagged]:
        """Tag pre-tokenized sentences; offsets refer to the tokens joined by single spaces."""
        return self._tagged_tokens(sentences, self._predict_tokens(sentences))

    def tag_stream(self, items: Iterable[str] | Iterable[list[str]], *, pretokenized: bool
                   ) -> Iterator[Tagged]:
        """Tag a stream of lines (or token lists) chunk by chunk, in input order.

        A background thread runs the TensorFlow work of the next chunk (tokenizing, the
        network, decoding) while this one turns the previous chunk into results, so the two
        overlap. At most two chunks are in flight: memory is bounded whatever the stream.
        """
        predict, build = ((self._predict_tokens, self._tagged_tokens) if pretokenized
                          else (self._predict_texts, self._tagged_texts))
        with ThreadPoolExecutor(max_workers=1) as worker:
            pending: deque = deque()
            for chunk in _chunks(items, CHUNK_LINES):
                pending.append((chunk, worker.submit(predict, chunk)))
                if len(pending) == 2:
                    done, future = pending.popleft()
                    yield from build(done, future.result())
            for done, future in pending:
                yield from build(done, future.result())

    def _tags(self, predictions: list[np.ndarray]) -> list[list[str]]:
        return [self._label_array[p].tolist() for p in predictions]

    def _predict_tokens(self, sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        return self.predict(self._featurize(tokens_tensor(sentences)))

    def _predict_texts(self, texts: Sequence[str]) -> _TextPredictions:
        tokenize = (self._tokenize if len(texts) > EAGER_TEXTS
                    else self._tokenize_and_featurize)
        tokenized, features = tokenize(tf.constant(list(texts), dtype=tf.string))
        return _TextPredictions(self.predict(features), tokenized.starts.row_splits.numpy(),
                                tokenized.starts.flat_values.numpy(),
                                tokenized.ends.flat_values.numpy())

    def _tokenize_and_featurize(self, texts: tf.Tensor
                                ) -> tuple[tokenizing.Tokenized, dict[str, tf.RaggedTensor]]:
        tokenized = tokenizing.tokenize(texts)
        return tokenized, self.featurizer(tokenized.tokens)

    def _tagged_texts(self, texts: Sequence[str], predicted: _TextPredictions) -> list[Tagged]:
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

    def _tagged_tokens(self, sentences: Sequence[Sequence[str]], predicted: list[np.ndarray]
                       ) -> list[Tagged]:
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


class _TextPredictions(NamedTuple):
    """Label ids per text, and its tokens' UTF-8 byte offsets (flat, split per text)."""

    labels: list[np.ndarray]
    splits: np.ndarray
    starts: np.ndarray
    ends: np.ndarray


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
