"""What tagging gives back, `Tagged` texts with their `Entity` spans, and how label ids
become them: shared by the TensorFlow tagger (tagging.Tagger) and the ONNX Runtime one
(onnx_tagging.OnnxTagger), and free of TensorFlow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from tagger import schemes, tokenizing
from tagger.model_folder import ModelConfig

# Confidences in records are rounded to this many decimals.
CONFIDENCE_DECIMALS = 4


@dataclass(frozen=True)
class Entity:
    label: str
    start: int  # character offsets into the text
    end: int
    text: str
    # The lowest confidence of its tokens' tags: an upper bound on the probability that the
    # whole span is tagged exactly so.
    confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "start": self.start, "end": self.end, "text": self.text,
                "confidence": round(self.confidence, CONFIDENCE_DECIMALS)}


@dataclass
class Tagged:
    """One tagged text: its tokens, their character offsets, tags and entity spans.

    `confidences` holds each tag's probability: its marginal given the whole text for a CRF
    model, its softmax probability otherwise.
    """

    text: str
    tokens: list[str]
    tags: list[str]
    offsets: list[tuple[int, int]] = field(default_factory=list)
    spans: list[Entity] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "tokens": self.tokens, "tags": self.tags,
                "offsets": [list(o) for o in self.offsets],
                "confidences": [round(c, CONFIDENCE_DECIMALS) for c in self.confidences],
                "spans": [s.to_dict() for s in self.spans]}


class Scored(NamedTuple):
    """Label ids per sentence and each label's probability (see `Tagged`)."""

    labels: list[np.ndarray]
    confidences: list[np.ndarray]


class TextPredictions(NamedTuple):
    """Label ids and confidences per text, and its tokens' offsets (flat, split per text):
    UTF-8 byte offsets from TensorFlow's tokenizer, character offsets otherwise."""

    labels: list[np.ndarray]
    confidences: list[np.ndarray]
    splits: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    in_bytes: bool = True


class Annotator:
    """Label ids to `Tagged` records, and the tagging API built on a runtime's predictions.

    A runtime sets `config` and `metrics` and implements `predict_texts` and
    `predict_tokens`; batch tagging calls those and the `annotate_*` methods on different
    chunks at once.
    """

    config: ModelConfig
    metrics: dict[str, Any] | None

    def _set_labels(self) -> None:
        # The network's label ids -> the corpus's labels (IOBES ones mapped back to IOB2).
        output = self.config.network_labels
        if self.config.network_scheme != self.config.scheme:
            output = [schemes.iobes_to_iob2(label) for label in output]
        self._label_array = np.asarray(output, dtype=object)

    @property
    def labels(self) -> list[str]:
        return self.config.labels

    @property
    def output_labels(self) -> list[str]:
        """The tag of each of the network's label ids (IOBES ones mapped back to IOB2)."""
        return self._label_array.tolist()

    @property
    def scheme(self) -> str:
        return self.config.scheme

    def predict_texts(self, texts: Sequence[str], compiled: bool | None = None
                      ) -> TextPredictions:
        raise NotImplementedError

    def predict_tokens(self, sentences: Sequence[Sequence[str]]) -> Scored:
        raise NotImplementedError

    def tag(self, texts: Sequence[str], min_confidence: float = 0.0,
            compiled: bool | None = None) -> list[Tagged]:
        """Tokenize raw texts and tag them, with character offsets, confidences and entity
        spans (those below `min_confidence` left out). `compiled`: see `predict_texts`."""
        if not texts:
            return []
        return self.annotate_texts(texts, self.predict_texts(texts, compiled), min_confidence)

    def tag_conll_sentences(self, sentences: Sequence[Sequence[str]],
                            min_confidence: float = 0.0) -> list[Tagged]:
        """Tag pre-tokenized sentences; offsets refer to the tokens joined by single spaces."""
        return self.annotate_tokens(sentences, self.predict_tokens(sentences), min_confidence)

    def _tags(self, predictions: list[np.ndarray]) -> list[list[str]]:
        return [self._label_array[p].tolist() for p in predictions]

    def annotate_texts(self, texts: Sequence[str], predicted: TextPredictions,
                       min_confidence: float = 0.0) -> list[Tagged]:
        """Texts with their tokens, offsets, tags and spans, from `predict_texts`."""
        splits, starts, ends = predicted.splits, predicted.starts, predicted.ends
        results = []
        for i, text in enumerate(texts):
            row = slice(splits[i], splits[i + 1])
            if predicted.in_bytes:
                offsets = list(zip(tokenizing.char_offsets(text, starts[row]).tolist(),
                                   tokenizing.char_offsets(text, ends[row]).tolist(),
                                   strict=True))
            else:
                offsets = list(zip(starts[row].tolist(), ends[row].tolist(), strict=True))
            results.append(self._tagged(text, [text[start:end] for start, end in offsets],
                                        offsets, predicted.labels[i], predicted.confidences[i],
                                        min_confidence))
        return results

    def annotate_tokens(self, sentences: Sequence[Sequence[str]], predicted: Scored,
                        min_confidence: float = 0.0) -> list[Tagged]:
        """Sentences with offsets (tokens joined by spaces), tags and spans."""
        results = []
        for tokens, labels, confidences in zip(sentences, *predicted, strict=True):
            text = " ".join(tokens)
            ends = np.cumsum([len(t) + 1 for t in tokens]) - 1
            offsets = [(int(e) - len(t), int(e)) for t, e in zip(tokens, ends, strict=True)]
            results.append(self._tagged(text, list(tokens), offsets, labels, confidences,
                                        min_confidence))
        return results

    def _tagged(self, text: str, tokens: list[str], offsets: list[tuple[int, int]],
                labels: np.ndarray, confidences: np.ndarray, min_confidence: float) -> Tagged:
        tags = self._label_array[labels].tolist()
        found = []
        if self.scheme != schemes.TOKEN:
            for span in schemes.spans(tags):
                start, end = offsets[span.start][0], offsets[span.end - 1][1]
                confidence = float(confidences[span.start:span.end].min())
                if confidence >= min_confidence:
                    found.append(Entity(span.label, start, end, text[start:end], confidence))
        return Tagged(text, tokens, tags, offsets, found, confidences.tolist())
