"""What tagging gives back, `Tagged` texts with their `Entity` spans, and how label ids
become them (`Records`), for every backend. `Tagged.to_dict` is the one record that the
command line, the server and Beam write."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from tagger import schemes
from tagger.batching import positions_in_rows
from tagger.heads.tags import TagHead
from tagger.model_folder import ModelConfig

# Confidences in records are rounded to this many decimals.
CONFIDENCE_DECIMALS = 4


@dataclass(frozen=True)
class Entity:
    label: str
    start: int  # character offsets into the text
    end: int
    text: str
    # The probability that the span is right (exactly its tokens and type), as the model's
    # calibration maps the lowest confidence of its tokens' tags (`tagger.calibration`);
    # without one, that lowest confidence itself (an upper bound on the probability).
    confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "start": self.start, "end": self.end, "text": self.text,
                "confidence": round(self.confidence, CONFIDENCE_DECIMALS)}


@dataclass
class Tagged:
    """One tagged text: its tokens, their character offsets ([start, end] pairs), tags and
    entity spans.

    `confidences` holds each tag's probability: its marginal given the whole text for a CRF
    model, its softmax probability otherwise.
    """

    text: str
    tokens: list[str]
    tags: list[str]
    offsets: list[list[int]] = field(default_factory=list)
    spans: list[Entity] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    # [start, end] of each surface token holding several of `tokens` (its words): `don't`
    # for `do` `n't`, `zum` for `zu` `dem` (whose offsets are both the token's). Most texts
    # have none: they share one empty tuple.
    multiword: Sequence[list[int]] = ()
    # `confidences` as the record shows them, when `Records` rounded a whole chunk's at once.
    rounded: list[float] | None = field(default=None, repr=False, compare=False)
    # The values of a model's heads after the first, by column (`xpos`, `feats`, `lemma`,
    # ...), a value per token; a one-head model has none.
    columns: dict[str, list[str]] = field(default_factory=dict)
    # The corpus column of `tags` (`upos`, `ner_tags`, ...), for formats that name columns.
    column: str = field(default="tags", compare=False)
    # Where a document's sentence stands (`Tagger.tag_documents`): its paragraph and its
    # number in the document, from 0; None for a text tagged alone.
    paragraph: int | None = None
    sentence: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record `tagger tag`, the server and Beam write (confidences rounded). It
        shares the tokens, tags and offsets lists of this text."""
        rounded = self.rounded if self.rounded is not None else rounded_confidences(
            np.asarray(self.confidences, np.float32))
        record = {"text": self.text, "tokens": self.tokens, "tags": self.tags,
                  **self.columns, "offsets": self.offsets, "confidences": rounded,
                  "spans": [s.to_dict() for s in self.spans]}
        if self.multiword:  # only models with a learned tokenizer find them
            record["multiword"] = self.multiword
        if self.sentence is not None:
            record["paragraph"], record["sentence"] = self.paragraph, self.sentence
        return record

    def moved(self, shift: int, paragraph: int, sentence: int) -> Tagged:
        """This sentence as the `sentence`th of a document, in `paragraph`, that has it
        `shift` characters in: offsets and spans shifted."""
        return dataclasses.replace(
            self, offsets=[[a + shift, b + shift] for a, b in self.offsets],
            multiword=[[a + shift, b + shift] for a, b in self.multiword],
            spans=[dataclasses.replace(s, start=s.start + shift, end=s.end + shift)
                   for s in self.spans], paragraph=paragraph, sentence=sentence)

    def above(self, min_confidence: float) -> Tagged:
        """This text without the spans whose confidence is below `min_confidence`."""
        if min_confidence <= 0:
            return self
        return dataclasses.replace(
            self, spans=[s for s in self.spans if s.confidence >= min_confidence])


def place(tagged: Iterator[Tagged], sentences: Sequence[tuple[int, int, int]],
          first: int = 0) -> list[Tagged]:
    """The records of a document's sentences, (paragraph, start, end) each, taken in turn
    from `tagged` (each tagged alone) and placed in the document (`Tagged.moved`),
    numbered from `first`."""
    return [next(tagged).moved(start, paragraph=paragraph, sentence=i)
            for i, (paragraph, start, _) in enumerate(sentences, first)]


def rounded_confidences(confidences: np.ndarray) -> list[float]:
    """float32 confidences rounded to CONFIDENCE_DECIMALS, exactly as round() rounds them: a
    float32 times 10^4 is exact in float64, so NumPy's rint sees the exact value."""
    return np.round(confidences.astype(np.float64), CONFIDENCE_DECIMALS).tolist()


class Scored(NamedTuple):
    """The first head's label ids per sentence and each label's probability (see
    `Tagged`); `more`: the label ids of each further head, per sentence."""

    labels: list[np.ndarray]
    confidences: list[np.ndarray]
    more: Sequence[list[np.ndarray]] = ()


class TextPredictions(NamedTuple):
    """Label ids (the first head's and `more` heads') and confidences per text, and its
    tokens with their character offsets (offsets flat, split per text)."""

    labels: list[np.ndarray]
    confidences: list[np.ndarray]
    more: Sequence[list[np.ndarray]]
    tokens: list[list[str]]
    splits: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    multiword: Sequence[Sequence[list[int]]] | None = None


class Records:
    """Label ids to `Tagged` records, for one model's heads: the first head's tags (and
    entity spans, for an entity scheme), and each further head's values (`heads`)."""

    def __init__(self, config: ModelConfig, model_heads: Sequence[TagHead]) -> None:
        self.scheme = config.scheme
        self.column = model_heads[0].column
        self.calibration = config.calibration
        self.more = list(model_heads[1:])
        # The network's label ids -> the corpus's labels (IOBES ones mapped back to IOB2).
        output = model_heads[0].output_labels
        self._label_array = np.asarray(output, dtype=object)
        # Per label id, what `schemes.spans` reads in it: the entity type (0: none), whether
        # it may continue an open span of its type (I-, E-), and whether a span stays open
        # after it (B-, I- and the like; S- and E- close theirs).
        prefixes, kinds = zip(*map(schemes.split_tag, output), strict=True)
        self._kinds = ["", *sorted({k for k in kinds if k})]
        self._kind_ids = np.array([self._kinds.index(k) for k in kinds], np.int32)
        self._continuing = np.array([p in ("I", "E") for p in prefixes])
        self._opening = np.array([bool(k) and p not in ("S", "E")
                                  for p, k in zip(prefixes, kinds, strict=True)])

    @property
    def output_labels(self) -> list[str]:
        """The tag of each of the network's label ids (IOBES ones mapped back to IOB2)."""
        return self._label_array.tolist()

    def tags(self, predictions: list[np.ndarray]) -> list[list[str]]:
        """The tags of each sentence's label ids."""
        return [self._label_array[p].tolist() for p in predictions]

    def columns(self, sentences: Sequence[Sequence[str]], predicted: Scored
                ) -> dict[str, list[list[str]]]:
        """Each head's values per sentence, by column; the first head's as `tags`."""
        found = {"tags": self.tags(predicted.labels)}
        bounds = np.cumsum([0, *map(len, sentences)]).tolist()
        forms = [form for sentence in sentences for form in sentence]
        for head, values in self._more_values(forms, predicted.more).items():
            found[head] = [values[a:b] for a, b in itertools.pairwise(bounds)]
        return found

    def _more_values(self, forms: Sequence[str], more: Sequence[list[np.ndarray]]
                     ) -> dict[str, list[str]]:
        """Each further head's values of flat `forms`, by column."""
        values = {}
        for head, ids in zip(self.more, more, strict=True):
            flat = np.concatenate(ids) if ids else np.zeros(0, np.int32)
            values[head.column] = head.values(flat, forms)
        return values

    def of_texts(self, texts: Sequence[str], predicted: TextPredictions,
                 shifts: np.ndarray | None = None) -> list[Tagged]:
        """Texts with their tokens, offsets, tags and spans; with `shifts`, each text's
        offsets are that many characters further (a sentence's place in its document)."""
        tagged = self._annotate(texts, predicted.tokens, predicted.labels,
                                predicted.confidences, predicted.more, predicted.splits,
                                predicted.starts, predicted.ends, shifts)
        for i, (record, multiword) in enumerate(zip(tagged, predicted.multiword or (),
                                                    strict=False)):
            if multiword:
                shift = 0 if shifts is None else int(shifts[i])
                record.multiword = [[a + shift, b + shift] for a, b in multiword]
        return tagged

    def of_tokens(self, sentences: Sequence[Sequence[str]], predicted: Scored
                  ) -> list[Tagged]:
        """Sentences with offsets (tokens joined by spaces), tags and spans."""
        texts = [" ".join(tokens) for tokens in sentences]
        counts = [len(tokens) for tokens in sentences]
        splits = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        lengths = np.fromiter((len(t) for tokens in sentences for t in tokens), np.int64,
                              int(splits[-1]))
        starts = positions_in_rows(lengths + 1, counts)  # each token and a space
        ends = starts + lengths
        return self._annotate(texts, sentences, predicted.labels, predicted.confidences,
                              predicted.more, splits, starts, ends)

    def _annotate(self, texts: Sequence[str], tokens: Sequence[Sequence[str]],
                  labels: list[np.ndarray], confidences: list[np.ndarray],
                  more: Sequence[list[np.ndarray]], splits: np.ndarray, starts: np.ndarray,
                  ends: np.ndarray, shifts: np.ndarray | None = None) -> list[Tagged]:
        """`Tagged` records from flat per-token arrays (`splits` cuts them into texts): the
        spans of all texts are found at once, on arrays, rather than tag by tag. `shifts`:
        as `of_texts` takes them."""
        flat_labels = np.concatenate(labels) if labels else np.zeros(0, np.int32)
        flat_confidences = np.concatenate(confidences) if confidences else np.zeros(0)
        tags = self._label_array[flat_labels].tolist()
        scores = flat_confidences.tolist()
        rounded = rounded_confidences(flat_confidences)
        shift = (np.zeros(len(texts), np.int64) if shifts is None
                 else np.asarray(shifts, np.int64))
        moved = np.repeat(shift, np.diff(splits))
        offsets = np.stack([starts + moved, ends + moved], axis=1).tolist()
        entities: list[list[Entity]] = [[] for _ in texts]
        if self.scheme != schemes.TOKEN:
            first, last, kind, confidence = self._spans(flat_labels, flat_confidences, splits)
            owner = np.searchsorted(splits, first, side="right") - 1
            for t, a, b, k, c in zip(owner.tolist(), starts[first].tolist(),
                                     ends[last - 1].tolist(), kind.tolist(),
                                     confidence.tolist(), strict=True):
                entities[t].append(Entity(self._kinds[k], a + int(shift[t]),
                                          b + int(shift[t]), texts[t][a:b], c))
        bounds = splits.tolist()
        values = {}
        if self.more:
            values = self._more_values([form for sentence in tokens for form in sentence],
                                       more)
        return [Tagged(text, list(tokens[i]), tags[a:b], offsets[a:b], entities[i], scores[a:b],
                       rounded=rounded[a:b], column=self.column,
                       columns={column: found[a:b] for column, found in values.items()})
                for i, (text, (a, b)) in enumerate(zip(texts, itertools.pairwise(bounds),
                                                       strict=True))]

    def _spans(self, labels: np.ndarray, confidences: np.ndarray, splits: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every entity span in flat `labels` as `schemes.spans` reads each text's tags:
        first and one-past-last token, type id, and lowest confidence."""
        count = len(labels)
        kind = self._kind_ids[labels]
        continues = np.zeros(count, bool)
        if count > 1:
            continues[1:] = (self._continuing[labels[1:]] & self._opening[labels[:-1]]
                             & (kind[1:] == kind[:-1]))
        continues[splits[:-1][splits[:-1] < count]] = False  # each text starts afresh
        first = np.flatnonzero((kind != 0) & ~continues)
        breaks = np.append(np.flatnonzero(~continues), count)
        last = breaks[np.searchsorted(breaks, first, side="right")]
        if not len(first):
            return first, last, kind[first], np.zeros(0, np.float32)
        # The minimum over each [first, last): reduceat on the pairs, every other result.
        padded = np.append(confidences, np.float32(0))
        lowest = np.minimum.reduceat(padded, np.stack([first, last], 1).ravel())[::2]
        if self.calibration is not None:
            lowest = self.calibration(lowest)
        return first, last, kind[first], lowest
