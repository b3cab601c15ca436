"""Tagging with a model folder's `network.onnx` in ONNX Runtime, without TensorFlow.

    from tagger.onnx_tagging import OnnxTagger
    tagger = OnnxTagger.load("models/conll-onnx")   # written by `tagger export --format onnx`
    [tagged] = tagger.tag(["Angela Merkel visited Paris."])

The same API and records as `tagging.Tagger`: tokens from `tokenizing.split`, ids from
`features.ArrayFeaturizer`, the network in ONNX Runtime, Viterbi and marginals from
`decoding`. Importing this module and loading a model take a fraction of a second and a
fraction of TensorFlow's memory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tagger import batching, decoding, model_folder, schemes, tokenizing
from tagger.errors import TaggerError
from tagger.features import ArrayFeaturizer, with_rows
from tagger.records import Annotator, Scored, TextPredictions

# The files `onnx_export.export_onnx` adds to a model folder.
NETWORK = "network.onnx"
CHARS_NETWORK = "chars.onnx"  # for models with character features
# Padded tokens and sentences per call: half of tagging.Tagger's, 2.5% faster here (CoNLL
# validation, one thread, medians of 5: 151k tokens/s against 148k; 16k/512 gave 132k).
MAX_BATCH_TOKENS = 4096
MAX_BATCH_SENTENCES = 128


def has_network(path: str | Path) -> bool:
    """Whether model folder `path` holds an exported ONNX network."""
    return (Path(path) / NETWORK).is_file()


def require_network(path: Path) -> None:
    """A TaggerError unless model folder `path` holds an exported ONNX network."""
    if not has_network(path):
        raise TaggerError(f"{path} has no {NETWORK}; write one with 'tagger export {path} "
                          "DIR --format onnx'", param="runtime")


class OnnxTagger(Annotator):
    """A model folder's ONNX network with its vocabularies, labels and scheme."""

    def __init__(self, session, chars_session, featurizer: ArrayFeaturizer,
                 config: model_folder.ModelConfig, metrics: dict | None = None) -> None:
        self.session = session
        self.chars_session = chars_session
        self.featurizer = featurizer
        self.config = config
        self.metrics = metrics
        self._set_labels()
        # The character features of each of the featurizer's slots (row 0: padding).
        self._char_features = np.zeros(
            (1, chars_session.get_outputs()[0].shape[1] if chars_session else 0), np.float32)
        self._argmax_only = not config.crf and config.network_scheme == schemes.TOKEN
        transitions, start, end = decoding.constraints(config.network_labels,
                                                       config.network_scheme)
        if config.crf:
            stored = session.get_modelmeta().custom_metadata_map
            try:
                transitions, start, end = (
                    np.asarray(json.loads(stored[f"crf_{name}"]), np.float32) + constraint
                    for name, constraint in (("transitions", transitions), ("start", start),
                                             ("end", end)))
            except (KeyError, ValueError) as error:
                raise TaggerError(f"{NETWORK} lacks the CRF's scores ({error}); export the "
                                  "model again") from None
        self._decoding = (transitions, start, end)

    @classmethod
    def load(cls, path: str | Path, threads: int | None = None) -> OnnxTagger:
        """The tagger of model folder `path`, which must hold `network.onnx`. `threads`:
        ONNX Runtime's threads per call (default: its own choice, one per core)."""
        import onnxruntime

        path = Path(path)
        config = model_folder.read(path)
        require_network(path)
        featurizer = ArrayFeaturizer.load(path, config)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or 0  # 0: ONNX Runtime's choice
        # Idle threads sleep rather than spin: batch tagging runs Python work (tokenizing,
        # records) on another thread at the same time.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")

        def session(name: str):
            try:
                return onnxruntime.InferenceSession(str(path / name), options,
                                                    providers=["CPUExecutionProvider"])
            except Exception as error:  # ONNX Runtime raises its own types for a bad file
                raise TaggerError(f"{path / name} cannot be loaded ({error}); export the "
                                  "model again") from None

        chars = None
        if config.char_vocab_size:
            if not (path / CHARS_NETWORK).is_file():
                raise TaggerError(f"{path} has no {CHARS_NETWORK}; export the model again")
            chars = session(CHARS_NETWORK)
        network = session(NETWORK)
        metrics_file = path / model_folder.METRICS
        metrics = json.loads(metrics_file.read_text(encoding="utf-8")) \
            if metrics_file.is_file() else None
        return cls(network, chars, featurizer, config, metrics)

    def predict_tokens(self, sentences: Sequence[Sequence[str]]) -> Scored:
        """Label ids and their probabilities for each pre-tokenized sentence."""
        lengths = np.fromiter(map(len, sentences), np.int64, len(sentences))
        labels = [np.zeros(0, np.int32)] * len(sentences)
        confidences = [np.zeros(0, np.float32)] * len(sentences)
        for rows in batching.sorted_batches(lengths, MAX_BATCH_TOKENS, MAX_BATCH_SENTENCES):
            if lengths[rows[0]] == 0:
                continue  # the rest are empty too: nothing to tag
            best, probability = self._decode([sentences[r] for r in rows], lengths[rows])
            for i, row in enumerate(rows):
                labels[row] = best[i, :lengths[row]]
                confidences[row] = probability[i, :lengths[row]]
        return Scored(labels, confidences)

    def predict_texts(self, texts: Sequence[str], compiled: bool | None = None
                      ) -> TextPredictions:
        """Label ids and confidences of raw texts, with their tokens' character offsets.
        (`compiled` is the TensorFlow tagger's; nothing here needs compiling.)"""
        spans = [tokenizing.split(text) for text in texts]
        sentences = [[text[s:e] for s, e in row] for text, row in zip(texts, spans, strict=True)]
        flat = np.array([o for row in spans for o in row], np.int64).reshape(-1, 2)
        splits = np.concatenate([[0], np.cumsum([len(row) for row in spans])])
        return TextPredictions(*self.predict_tokens(sentences), splits, flat[:, 0], flat[:, 1],
                               in_bytes=False)

    def _features(self, sentences: list[Sequence[str]], lengths: np.ndarray
                  ) -> dict[str, np.ndarray]:
        """The network's inputs for one padded batch. The character model runs only on
        words the featurizer has not seen before; the others' features are kept."""
        features = self.featurizer(sentences)
        slots = features.pop("slots")
        features["lengths"] = np.maximum(lengths, 1).astype(np.int32)
        if self.chars_session is not None:
            first, chars = self.featurizer.take_new()
            if len(chars):
                new = self.chars_session.run(None, {"chars": chars})[0]
                end = first + len(new)
                self._char_features = with_rows(self._char_features, end)
                self._char_features[first:end] = new
            features["char_features"] = self._char_features[slots]
        return features

    def _decode(self, sentences: list[Sequence[str]], lengths: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """Best label ids and their probabilities, `(batch, T)`, for one padded batch."""
        scores = self.session.run(None, self._features(sentences, lengths))[0]
        if self._argmax_only:
            best = scores.argmax(axis=-1).astype(np.int32)
            return best, np.take_along_axis(scores, best[..., None], axis=2)[..., 0]
        emissions = scores if self.config.crf else np.log(scores + np.float32(1e-9))
        best = decoding.viterbi(emissions, lengths, *self._decoding)
        probabilities = decoding.marginals(emissions, lengths, *self._decoding) \
            if self.config.crf else scores
        return best, np.take_along_axis(probabilities, best[..., None], axis=2)[..., 0]
