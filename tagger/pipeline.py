"""Tagging with a trained model, on any backend: the library API behind `tagger tag`.

    tagger = Tagger.load("models/conll")
    [tagged] = tagger.tag(["Angela Merkel visited Paris."])
    tagged.spans  # [Entity("PER", 0, 13, "Angela Merkel", ...), Entity("LOC", 22, 27, ...)]

One pipeline, free of TensorFlow, whatever runs the network:

    text -> tokens (the model's tokenizer: the rules or a learned segmenter)
         -> ids (features.Featurizer)
            [+ contextual features: encoders.context on the backend's encoder, if any]
         -> length-sorted padded batches (batching.sorted_batches)
         -> backend.scores (tagger.backends: onnx or keras), one per head
         -> best labels and confidences (each head's decoder: tagger.heads)
         -> records (records.Records: each head's values)

The backend only turns padded ids into scores. Each word's character features are computed
once per distinct word and kept, so text, which repeats its words, runs the character model
on few of them.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from tagger import backends, batching, heads, model_folder, model_packages, settings
from tagger.calibration import Calibration
from tagger.documents import (
    CHUNK_CHARS,
    chunks,
    paragraph_spans,
    rule_ends_of,
    sentence_spans,
    sentence_tokens,
)
from tagger.encoders import checkpoint
from tagger.encoders.context import ContextFeatures, Neighbours
from tagger.errors import TaggerError
from tagger.model_folder import ModelConfig
from tagger.records import Records, Scored, Tagged, TextPredictions
from tagger.text.features import Featurizer, with_rows
from tagger.text.segmenter import Segmenter
from tagger.text.sentences import SentenceSplitter
from tagger.text.tokenizer import Rules, Tokenized
from tagger.text.wordpiece import WordPiece


class TokenizerWarning(UserWarning):
    """Tagging raw text with a model whose tokenizer disagrees with its corpus."""


def tokenizer_warning(metrics: dict[str, Any] | None, tokenizer: str | None = None
                      ) -> str | None:
    """Why a model's tokens of raw text will be off, where its training measured its
    tokenizer (or `tokenizer`, "rules" or "learned") disagreeing with the corpus (tokens F1
    below settings.DISAGREEING); else None."""
    measured = (metrics or {}).get("tokenizer")
    if not measured:
        return None
    name = tokenizer or measured["chosen"]
    f1 = measured["tokens_f1"].get(name)
    if f1 is None or f1 >= settings.DISAGREEING:
        return None
    return (f"this model's {name} tokenizer agrees with its corpus on "
            f"{f1:.1f} tokens F1 ({measured['split']} split): its tokens of raw text will "
            "often be wrong, and their tags with them; give pre-tokenized text "
            "(--input-format conll) where you have it")


def context_features(wordpiece: WordPiece, config: ModelConfig) -> ContextFeatures:
    """The contextual features of a model with an encoder, as its settings say."""
    features = config.settings.features
    return ContextFeatures(wordpiece, features.encoder_window, features.encoder_pooling,
                           config.context_layers, config.context_dim, features.encoder_context)


def windows(sentences: Sequence[Sequence[str]], size: int | None = None
            ) -> tuple[Sequence[Sequence[str]], np.ndarray | None]:
    """`sentences` with each one longer than `size` tokens (settings.MAX_SEQUENCE_TOKENS)
    cut into windows of at most `size`, each ending after the last sentence end
    (settings.SENTENCE_ENDS) of its second half, else at `size`; and the sentence each
    window comes from (None where nothing was cut, as is usual: then the sentences are
    returned as they are)."""
    size = size or settings.MAX_SEQUENCE_TOKENS
    if all(len(s) <= size for s in sentences):
        return sentences, None
    pieces: list[Sequence[str]] = []
    owners: list[int] = []
    for row, sentence in enumerate(sentences):
        start = 0
        while len(sentence) - start > size:
            end = start + size
            ends = [k + 1 for k in range(end - 1, start + size // 2 - 1, -1)
                    if sentence[k] in settings.SENTENCE_ENDS]
            end = ends[0] if ends else end
            pieces.append(sentence[start:end])
            owners.append(row)
            start = end
        pieces.append(sentence[start:])
        owners.append(row)
    return pieces, np.array(owners)


def stitched(values: list[np.ndarray], owners: np.ndarray | None) -> list[np.ndarray]:
    """Per-window arrays from `windows` joined back into one per sentence."""
    if owners is None:
        return values
    bounds = np.flatnonzero(np.diff(owners)) + 1
    return [np.concatenate(values[a:b]) for a, b in
            zip([0, *bounds.tolist()], [*bounds.tolist(), len(values)], strict=True)]


def _sliced(predicted: TextPredictions, a: int, b: int) -> TextPredictions:
    """The predictions of texts `a` to `b`."""
    if a == 0 and b == len(predicted.tokens):
        return predicted
    x, y = int(predicted.splits[a]), int(predicted.splits[b])
    return TextPredictions(predicted.labels[a:b], predicted.confidences[a:b],
                           [found[a:b] for found in predicted.more], predicted.tokens[a:b],
                           predicted.splits[a:b + 1] - x, predicted.starts[x:y],
                           predicted.ends[x:y],
                           None if predicted.multiword is None else predicted.multiword[a:b])


class Tagger:
    """A model's vocabularies, labels and scheme with a backend: tags tokens or raw text.

    `Tagger.load` reads a model folder; `training.train` makes one on the keras backend,
    which `save` writes as a model folder with every backend's files.
    """

    IN_FLIGHT = 3  # batches handed to the backend and not yet decoded

    def __init__(self, config: ModelConfig, featurizer: Featurizer, backend: Any,
                 metrics: dict[str, Any] | None = None,
                 tokenizer: Rules | Segmenter | None = None,
                 context: ContextFeatures | None = None,
                 sentences: SentenceSplitter | None = None) -> None:
        self.config = config
        # Where sentences end in a document (None: a folder saved before splitters, whose
        # documents are cut by `documents.rule_ends`).
        self.sentences = sentences
        self.featurizer = featurizer
        self.backend = backend
        self.context = context
        self.metrics = metrics
        self.tokenizer = tokenizer or Rules()
        self.warn_of_tokenizer = True
        self.heads = heads.of_model(config)
        self.records = Records(config, self.heads)
        self._network = None  # the backend's thread, made when a call has several batches
        self.weights_changed()

    @classmethod
    def load(cls, path: str | Path, backend: str = "auto", threads: int | None = None,
             tokenizer: str = "model") -> Tagger:
        """The tagger of model folder `path` (or of the installed model package of that
        name: `tagger package`), verified against its manifest, on `backend`
        (see `tagger.backends.CHOICES`; "auto": onnx where the folder has its network).
        `threads`: the backend's threads per call (default: its own choice). `tokenizer`
        (settings.TAGGING_TOKENIZERS): the model's own, or the rules whatever it has."""
        path = model_packages.locate(path)
        config = model_folder.read(path)
        featurizer = Featurizer.load(path, config)
        own = None
        if config.tokenizer == "learned" and tokenizer == "model":
            own = Segmenter.load(path / model_folder.SEGMENTER)
        context = None
        if config.context_layers:
            context = context_features(checkpoint.read_wordpiece(path), config)
        splitter = None
        if (path / model_folder.SENTENCES).is_file():
            splitter = SentenceSplitter.load(path / model_folder.SENTENCES)
        return cls(config, featurizer, backends.load(path, config, backend, threads),
                   model_folder.read_metrics(path), own, context, splitter)

    def save(self, path: str | Path, *, force: bool = False, int8: bool = False) -> None:
        """Write this tagger as model folder `path` (replacing it only with `force`), with
        the files of every backend; `int8`: the ONNX network with 8-bit weights. Needs the
        keras backend (a trained or keras-loaded tagger), which holds the weights."""
        if getattr(self.backend, "name", None) != "keras":
            raise TaggerError("only a tagger on the keras backend can be saved: load it with "
                              "backend 'keras'", param="runtime")

        def fill(folder: Path) -> None:
            from tagger.export import write_all

            write_all(folder, self.backend, self.config, int8)
            self.featurizer.save(folder)
            if self.config.context_layers:
                self.backend.checkpoint.save(folder)
            if isinstance(self.tokenizer, Segmenter):
                self.tokenizer.save(folder / model_folder.SEGMENTER)
            if self.sentences is not None:
                self.sentences.save(folder / model_folder.SENTENCES)

        model_folder.write(Path(path), self.config, fill, self.metrics, force)

    def calibrate(self, calibration: Calibration | None) -> None:
        """Give spans confidences mapped by `calibration` from now on (None: their tokens'
        lowest confidence); `save` stores it in the folder (`evaluation.fit_calibration`
        fits one)."""
        self.config = dataclasses.replace(self.config, calibration=calibration)
        self.records.calibration = calibration

    def weights_changed(self) -> None:
        """Forget what was computed with the network's weights (the character features kept
        per word, the CRFs' scores): training calls it after each epoch."""
        self.decoders = [head.decoder(crf) for head, crf in zip(self.heads, self.backend.crfs,
                                                                strict=True)]
        self._forget_char_features()

    def _forget_char_features(self) -> None:
        self._char_features = np.zeros((1, self.backend.char_size), np.float32)
        self._computed = 1  # slots below this have their features
        self._generation = self.featurizer.generation

    @property
    def labels(self) -> list[str]:
        return self.config.labels

    @property
    def output_labels(self) -> list[str]:
        """The tag of each of the network's label ids (IOBES ones mapped back to IOB2)."""
        return self.records.output_labels

    @property
    def scheme(self) -> str:
        return self.config.scheme

    # predict_* run the network; annotate_* turn their results into `Tagged` records. Batch
    # tagging overlaps the two on different chunks.
    def predict_tokens(self, sentences: Sequence[Sequence[str]],
                       documents: Sequence[int] | None = None) -> Scored:
        """Label ids of every head and the first head's probabilities for each
        pre-tokenized sentence (one longer than settings.MAX_SEQUENCE_TOKENS in windows:
        `windows`). `documents`: each sentence's document number, consecutive sentences
        of one number making a document, for a model that reads document context
        (settings `encoder_context`); without it each sentence is read alone."""
        pieces, owners = windows(sentences)
        labels = [np.zeros(0, np.int32)] * len(pieces)
        confidences = [np.zeros(0, np.float32)] * len(pieces)
        more = [list(labels) for _ in self.heads[1:]]
        for rows, lengths, scores in self._scored_batches(pieces,
                                                          self._neighbours(pieces, owners,
                                                                           documents)):
            best, probability = self.decoders[0](scores[0], lengths)
            for i, row in enumerate(rows):
                labels[row] = best[i, :lengths[i]]
                confidences[row] = probability[i, :lengths[i]]
            for decoder, head_scores, found in zip(self.decoders[1:], scores[1:], more,
                                                   strict=True):
                best, _ = decoder(head_scores, lengths)
                for i, row in enumerate(rows):
                    found[row] = best[i, :lengths[i]]
        return Scored(stitched(labels, owners), stitched(confidences, owners),
                      [stitched(found, owners) for found in more])

    def _neighbours(self, pieces: Sequence[Sequence[str]], owners: np.ndarray | None,
                    documents: Sequence[int] | None) -> list[Neighbours] | None:
        """Each piece's neighbours in its document, if the model reads them (the windows
        of a long sentence are neighbours of each other)."""
        if self.context is None or documents is None:
            return None
        if owners is not None:
            documents = [documents[owner] for owner in owners]
        return self.context.neighbours(pieces, documents)

    def scores(self, sentences: Sequence[Sequence[str]], head: int = 0) -> list[np.ndarray]:
        """The network's per-step scores of each pre-tokenized sentence, `(tokens, labels)`,
        of head `head`: emission scores for a CRF head, probabilities for a softmax head."""
        pieces, owners = windows(sentences)
        out = [np.zeros((0, self.heads[head].size), np.float32)] * len(pieces)
        for rows, lengths, scores in self._scored_batches(pieces):
            for i, row in enumerate(rows):
                out[row] = scores[head][i, :lengths[i]]
        return stitched(out, owners)

    def _scored_batches(self, sentences: Sequence[Sequence[str]],
                        neighbours: Sequence[Neighbours] | None = None
                        ) -> Iterator[tuple[np.ndarray, np.ndarray, list[np.ndarray]]]:
        """(rows, their lengths, the backend's padded scores of each head) per
        length-sorted batch.

        The backend runs the batches on a thread of its own, up to IN_FLIGHT ahead, while
        this one prepares the next batches' inputs and the caller decodes earlier ones: the
        network releases the GIL, so it overlaps with the Python work around it.
        """
        lengths = np.fromiter(map(len, sentences), np.int64, len(sentences))
        batches = [rows for rows in batching.sorted_batches(
            lengths, self.backend.max_batch_tokens, self.backend.max_batch_sentences)
            if lengths[rows[0]] > 0]  # empty sentences: nothing to score
        def inputs(rows: np.ndarray) -> dict[str, Any]:
            return self.inputs([sentences[r] for r in rows], lengths[rows],
                               None if neighbours is None else [neighbours[r] for r in rows])

        if len(batches) == 1:  # nothing to overlap with (one sentence, one request)
            yield batches[0], lengths[batches[0]], self._run(inputs(batches[0]))
            return
        if self._network is None:
            self._network = ThreadPoolExecutor(max_workers=1, thread_name_prefix="network")
        pending: deque = deque()
        for rows in batches:
            pending.append((rows, lengths[rows],
                            self._network.submit(self._run, inputs(rows))))
            if len(pending) > self.IN_FLIGHT:
                rows, batch_lengths, scores = pending.popleft()
                yield rows, batch_lengths, scores.result()
        for rows, batch_lengths, scores in pending:
            yield rows, batch_lengths, scores.result()

    def predict_texts(self, texts: Sequence[str], documents: Sequence[int] | None = None
                      ) -> TextPredictions:
        """Label ids and confidences of raw texts, with their tokens' character offsets
        (`documents`: as `predict_tokens` takes them)."""
        self._warn_of_tokenizer()
        return self._predicted(self.tokenizer(texts), documents)

    def _predicted(self, tokenized: Tokenized, documents: Sequence[int] | None
                   ) -> TextPredictions:
        return TextPredictions(*self.predict_tokens(tokenized.tokens, documents),
                               tokenized.tokens,
                               tokenized.splits, tokenized.starts, tokenized.ends,
                               tokenized.multiword)

    def _warn_of_tokenizer(self) -> None:
        """Say once per tagger, as `warnings` say things, that raw text's tokens will be
        off (unless `warn_of_tokenizer` is off: the command line says it itself)."""
        if self.warn_of_tokenizer:
            self.warn_of_tokenizer = False
            warning = tokenizer_warning(self.metrics, self.tokenizer.name)
            if warning:
                warnings.warn(warning, TokenizerWarning, stacklevel=4)

    def _run(self, inputs: dict[str, Any]) -> list[np.ndarray]:
        """The backend's scores of `inputs`, running its encoder first where the model has
        one (on the backend's thread, with the network)."""
        if "context" in inputs:
            inputs = {**inputs, "context": self.context.features(
                inputs["context"], self.backend.encoder_states)}
        return self.backend.scores(inputs)

    def inputs(self, sentences: list[Sequence[str]], lengths: np.ndarray,
               neighbours: Sequence[Neighbours] | None = None) -> dict[str, Any]:
        """The backend's inputs for one padded batch (the contextual features as a plan
        for `_run`, read with the sentences' `neighbours` if given). The character model
        runs only on words the featurizer has not seen before; the others' features are
        kept."""
        features: dict[str, Any] = self.featurizer(sentences)
        if self.context is not None:
            features["context"] = self.context.prepare(sentences, neighbours)
        slots = features.pop("slots")
        features["lengths"] = np.maximum(lengths, 1).astype(np.int32)
        if self.backend.char_size:
            if self.featurizer.generation != self._generation:  # slots started afresh
                self._forget_char_features()
            end = self.featurizer.slot_count + 1
            if end > self._computed:
                new = self.backend.char_features(self.featurizer.chars_of(self._computed, end))
                self._char_features = with_rows(self._char_features, end)
                self._char_features[self._computed:end] = new
                self._computed = end
            features["char_features"] = self._char_features[slots]
        return features

    def annotate_texts(self, texts: Sequence[str], predicted: TextPredictions,
                       min_confidence: float = 0.0) -> list[Tagged]:
        """Texts with their tokens, offsets, tags and spans (those below `min_confidence`
        left out), from `predict_texts`."""
        return [t.above(min_confidence) for t in self.records.of_texts(texts, predicted)]

    def annotate_tokens(self, sentences: Sequence[Sequence[str]], predicted: Scored,
                        min_confidence: float = 0.0) -> list[Tagged]:
        """Sentences with offsets (tokens joined by spaces), tags and spans."""
        return [t.above(min_confidence) for t in self.records.of_tokens(sentences, predicted)]

    def tag(self, texts: Sequence[str], min_confidence: float = 0.0,
            documents: Sequence[int] | None = None) -> list[Tagged]:
        """Tokenize raw texts and tag them, with character offsets, confidences and entity
        spans (those below `min_confidence` left out); `documents`: as `predict_tokens`
        takes them."""
        if not texts:
            return []
        return self.annotate_texts(texts, self.predict_texts(texts, documents),
                                   min_confidence)

    def document_sentences(self, documents: Sequence[str]
                           ) -> list[list[tuple[int, int, int]]]:
        """Each document's sentences as (paragraph, start, end) character offsets:
        paragraphs at blank lines, sentences where the model's splitter ends them
        (`documents.rule_ends` for a model without one), never inside a surface token."""
        return self._split([(document, list(enumerate(paragraph_spans(document))))
                            for document in documents])[0]

    def _split(self, documents: Sequence[tuple[str, Sequence[tuple[int, tuple[int, int]]]]]
               ) -> tuple[list[list[tuple[int, int, int]]], list[str], Tokenized,
                          list[list[tuple[int, int]]]]:
        """`document_sentences` of documents given with their paragraphs, (number,
        (start, end)) each; and the paragraphs' texts, their tokens and their sentences'
        spans in them (for `documents.sentence_tokens`: a document is tokenized once)."""
        places, texts = [], []
        for d, (document, paragraphs) in enumerate(documents):
            for p, (start, end) in paragraphs:
                places.append((d, p, start))
                texts.append(document[start:end])
        ends_of = self.sentences.ends_of if self.sentences is not None else rule_ends_of
        found: list[list[tuple[int, int, int]]] = [[] for _ in documents]
        tokenized = self.tokenizer(texts)
        spans = sentence_spans(texts, tokenized, ends_of) if texts else []
        for (d, p, at), sentences in zip(places, spans, strict=True):
            found[d] += [(p, at + start, at + end) for start, end in sentences]
        return found, texts, tokenized, spans

    def tag_documents(self, documents: Sequence[str], min_confidence: float = 0.0
                      ) -> list[list[Tagged]]:
        """Each document's sentences (`document_sentences`), each tagged as one text. A
        record's offsets and spans are into its document; its `paragraph` and `sentence`
        number it within the document, from 0."""
        found, predicted = self._predict_documents(
            [(document, list(enumerate(paragraph_spans(document)))) for document in documents])
        return [self._placed(sentences, texts, text_predictions, min_confidence)
                for sentences, (texts, text_predictions) in zip(found, predicted, strict=True)]

    def _predict_documents(self, documents: Sequence[tuple[str, Sequence]]
                           ) -> tuple[list[list[tuple[int, int, int]]],
                                      list[tuple[list[str], TextPredictions]]]:
        """Each document's sentences (as `_split`) and their texts' predictions, the
        documents read together."""
        found, paragraphs, tokenized, spans = self._split(documents)
        texts, tokenized = sentence_tokens(paragraphs, tokenized, spans)
        self._warn_of_tokenizer()
        numbers = [d for d, sentences in enumerate(found) for _ in sentences]
        predicted = self._predicted(tokenized, numbers)
        bounds = np.cumsum([0, *map(len, found)]).tolist()
        return found, [(texts[a:b], _sliced(predicted, a, b))
                       for a, b in itertools.pairwise(bounds)]

    def _placed(self, found: list[tuple[int, int, int]], texts: list[str],
                predicted: TextPredictions, min_confidence: float, first: int = 0
                ) -> list[Tagged]:
        """A document's sentences' records, placed in it, numbered from `first`."""
        records = self.records.of_texts(texts, predicted,
                                        np.array([start for _, start, _ in found], np.int64))
        for number, (record, (paragraph, _, _)) in enumerate(zip(records, found, strict=True),
                                                             first):
            record.paragraph, record.sentence = paragraph, number
        return [record.above(min_confidence) for record in records]

    def stream_document(self, document: str, min_confidence: float = 0.0,
                        chunk_chars: int = CHUNK_CHARS) -> Iterator[list[Tagged]]:
        """`tag_documents` of one document, a run of paragraphs of about `chunk_chars`
        characters (`documents.chunks`) at a time: the next run is split and tagged on a
        thread of its own while this one's records are made (the network releases the
        GIL). A model that reads document context (`encoder_context`) reads the whole
        document at once, so that no sentence loses its neighbours at a run's edge."""
        paragraphs = paragraph_spans(document)
        runs = ([list(enumerate(paragraphs))] if self.context and self.context.around
                else [[(p, (a, b)) for p, a, b in run] for run in chunks(paragraphs, chunk_chars)])
        first = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="document") as worker:
            pending: deque = deque()
            for run in runs:
                pending.append(worker.submit(self._predict_documents, [(document, run)]))
                if len(pending) == 2:
                    records = self._records_of(pending.popleft().result(), min_confidence,
                                               first)
                    first += len(records)
                    yield records
            for future in pending:
                records = self._records_of(future.result(), min_confidence, first)
                first += len(records)
                yield records

    def _records_of(self, predicted: tuple, min_confidence: float, first: int
                    ) -> list[Tagged]:
        (found,), ((texts, text_predictions),) = predicted
        return self._placed(found, texts, text_predictions, min_confidence, first)

    def tag_conll_sentences(self, sentences: Sequence[Sequence[str]],
                            min_confidence: float = 0.0) -> list[Tagged]:
        """Tag pre-tokenized sentences; offsets refer to the tokens joined by single spaces."""
        return self.annotate_tokens(sentences, self.predict_tokens(sentences), min_confidence)

    def tag_tokens(self, sentences: Sequence[Sequence[str]],
                   documents: Sequence[int] | None = None) -> list[list[str]]:
        """Tags (the first head's) of pre-tokenized sentences (`documents`: as
        `predict_tokens` takes them)."""
        return self.records.tags(self.predict_tokens(sentences, documents).labels)

    def tag_columns(self, sentences: Sequence[Sequence[str]],
                    documents: Sequence[int] | None = None) -> dict[str, list[list[str]]]:
        """Every head's values of pre-tokenized sentences, by column: the first head's
        under its corpus column's name (`documents`: as `predict_tokens` takes them)."""
        predicted = self.predict_tokens(sentences, documents)
        return self.records.columns(sentences, predicted)
