"""The keras backend: the network in TensorFlow, from a model folder's `model.weights.h5` or
straight from training.

Its job is the pipeline's one question, padded ids to per-step scores, through two compiled
functions of free sizes (traced once each): the character model on the slots the pipeline
has not seen yet, and the rest of the network from those features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from tagger import model_folder
from tagger.backends.keras.network import TaggerModel, build_model, load_weights
from tagger.backends.keras.transformer import BertEncoder
from tagger.decoding import CrfScores
from tagger.encoders.checkpoint import Checkpoint
from tagger.model_folder import ModelConfig


class KerasBackend:
    """A `TaggerModel`'s scores for the pipeline (see `tagger.backends`)."""

    name = "keras"
    # Padded tokens per call: large enough to keep the matrix units busy, small enough that
    # a batch of long paragraphs stays within a few hundred MB.
    max_batch_tokens = 8192
    max_batch_sentences = 256

    def __init__(self, model: TaggerModel, checkpoint: Checkpoint | None = None,
                 layers: int = 0) -> None:
        self.model = model
        self.checkpoint = checkpoint  # the contextual encoder's, if the model has one
        parts = model.parts
        self.char_size = sum(p.char_size for p in parts)
        ids = tf.TensorSpec([None, None], tf.int32)
        spec = {"words": ids, "lengths": tf.TensorSpec([None], tf.int32)}
        if parts[0].casing is not None:
            spec["casing"] = ids
        if self.char_size:
            spec["char_features"] = tf.TensorSpec([None, None, self.char_size], tf.float32)
        if checkpoint is not None:
            spec["context"] = tf.TensorSpec([None, None, layers,
                                             checkpoint.config.hidden_size], tf.float32)
            encoder = BertEncoder(checkpoint, layers, name="encoder")
            self._encoder_states = tf.function(encoder.call, autograph=False,
                                               input_signature=[ids])

        def scores(inputs: dict[str, tf.Tensor]) -> list[tf.Tensor]:
            members, offset = [], 0
            for part in parts:
                features = None
                if part.chars is not None:
                    features = inputs["char_features"][..., offset:offset + part.char_size]
                    offset += part.char_size
                members.append(part.scores(inputs["words"], features, inputs.get("casing"),
                                           inputs.get("context"), training=False))
            if len(members) == 1:
                return members[0]
            return [tf.add_n(list(head)) / len(members) for head in zip(*members, strict=True)]

        def char_features(chars: tf.Tensor) -> tf.Tensor:
            # Each member's features side by side, as the slots of `scores` expect them.
            return tf.concat([part.chars(chars[None], training=False)[0] for part in parts
                              if part.chars is not None], axis=-1)

        self._scores = tf.function(scores, autograph=False, input_signature=[spec])
        self._char_features = tf.function(char_features, autograph=False,
                                          input_signature=[ids])

    @property
    def crfs(self) -> list[CrfScores | None]:
        """Each head's CRF scores as they are now (None for a softmax head)."""
        return [None if crf is None else CrfScores(*(np.asarray(v.numpy(), np.float32)
                                                     for v in (crf.transitions, crf.start,
                                                               crf.end)))
                for crf in self.model.crfs]

    def char_features(self, chars: np.ndarray) -> np.ndarray:
        """`(words, chars)` character ids to `(words, char_size)` features."""
        return self._char_features(chars).numpy()

    def encoder_states(self, subwords: np.ndarray) -> np.ndarray:
        """`(windows, S)` subword ids to the encoder's `(windows, S, layers, hidden)`."""
        return self._encoder_states(subwords).numpy()

    def scores(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Each head's `(batch, T, labels)` scores of one padded batch."""
        return [scores.numpy() for scores in self._scores(inputs)]


def load(path: Path, config: ModelConfig, threads: int | None = None) -> KerasBackend:
    """The network of model folder `path`; `threads`: TensorFlow's threads per operation."""
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    model = build_model(config)
    load_weights(model, path / model_folder.WEIGHTS, config)
    encoder = Checkpoint.load(path) if config.context_layers else None
    return KerasBackend(model, encoder, config.context_layers)
