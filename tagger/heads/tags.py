"""A tag column's head: labels such as UPOS, XPOS, UFeats or entity tags, one per token.

    Keras   Dense(labels) over the encoder's states: softmax probabilities, or emission
            scores for a CRF (whose transition, start and end scores are its own layer);
            a head whose confidences no record shows (one after the first) gives its
            logits, which its argmax decodes alike, without a softmax over its labels.
            With a projection, a linear Dense(projection) first: a low-rank output
            layer, fewer multiplications for a large label set
    loss    cross-entropy, or the CRF's negative log-likelihood, summed over real tokens
    ONNX    (MatMul +) MatMul + Add (+ Softmax): the same scores
    NumPy   `decoding.Decoder`: argmax, or Viterbi under the scheme's constraints
    graph   the same rule in TensorFlow, for the SavedModel
    output  each label id's tag
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tagger import decoding, schemes
from tagger.decoding import CrfScores, Decoder
from tagger.model_folder import HeadConfig


class TagHead:
    """The head of one tag column (see the module's docstring)."""

    kind = "tags"

    def __init__(self, config: HeadConfig, probabilities: bool = True) -> None:
        self.config = config
        # Whether a softmax head's scores are probabilities (else logits: `layer`).
        self.probabilities = probabilities
        self.column = config.column
        self.labels = list(config.labels)  # what the network predicts
        self.scheme = config.scheme
        self.crf = config.crf
        self.projection = config.projection
        self.output_labels = self.labels  # `heads.of_model` maps a first head's IOBES ones

    @property
    def output_labels(self) -> list[str]:
        """The tag a record shows for each label id."""
        return self._output.tolist()

    @output_labels.setter
    def output_labels(self, labels: list[str]) -> None:
        self._output = np.asarray(labels, dtype=object)

    @property
    def size(self) -> int:
        return len(self.labels)

    # Keras ----------------------------------------------------------------------------
    def layer(self, name: str) -> Any:
        """The output layer: `(batch, T, hidden)` -> `(batch, T, labels)`."""
        import keras

        dense = keras.layers.Dense(self.size, activation="softmax" if self.softmax else None,
                                   name=name if not self.projection else "labels")
        if not self.projection:
            return dense
        projected = keras.Sequential([keras.layers.Dense(self.projection, use_bias=False,
                                                         name="projection"), dense], name=name)
        projected.supports_masking = True  # per step, as Dense: the mask passes through
        return projected

    @property
    def softmax(self) -> bool:
        """Whether the layer ends in a softmax (a CRF's emissions and logits do not)."""
        return not self.crf and self.probabilities

    def loss(self, scores: Any, targets: Any, mask: Any, crf_layer: Any) -> Any:
        """The loss summed over the real tokens of a batch (`mask`)."""
        from keras import ops

        from tagger.backends.keras import crf

        if crf_layer is not None:
            return -ops.sum(crf.log_likelihood(scores, targets, mask, crf_layer.transitions,
                                               crf_layer.start, crf_layer.end))
        import keras

        # A token whose label the head leaves out (batching.NO_LABEL) adds no loss.
        known = ops.logical_and(mask, ops.greater_equal(targets, 0))
        entropy = keras.losses.sparse_categorical_crossentropy(
            ops.maximum(targets, 0), scores, from_logits=not self.softmax)
        return ops.sum(entropy * ops.cast(known, entropy.dtype))

    # ONNX -----------------------------------------------------------------------------
    def onnx(self, g: Any, states: str, dense: Any) -> str:
        """The scores as ONNX nodes of graph `g` (`export.onnx._Graph`), from the
        encoder's states `[batch, T, hidden]`, with the weights of `dense` (`layer`)."""
        import keras

        def array(variable: Any) -> np.ndarray:
            return np.asarray(keras.ops.convert_to_numpy(variable))

        if self.projection:
            projection, dense = dense.layers
            states = g.node("MatMul", [states, g.constant(array(projection.kernel),
                                                          "projection")])
        scores = g.node("Add", [g.node("MatMul", [states, g.constant(array(dense.kernel),
                                                                     "dense")]),
                                g.constant(array(dense.bias), "bias")])
        return g.node("Softmax", [scores], axis=-1) if self.softmax else scores

    # NumPy ----------------------------------------------------------------------------
    def decoder(self, crf: CrfScores | None) -> Decoder:
        """Scores `(batch, T, labels)` to label ids and their probabilities, `(batch, T)`."""
        return Decoder(self.labels, self.scheme, crf if self.crf else None)

    # TensorFlow, in the SavedModel's graph ---------------------------------------------
    def decode_in_graph(self, scores: Any, mask: Any, crf_layer: Any) -> tuple[Any, Any]:
        """`decoder`'s rule in TensorFlow: label ids and probabilities, `(batch, T)`."""
        import tensorflow as tf

        from tagger.backends.keras import crf

        if crf_layer is None and self.scheme == schemes.TOKEN:
            best = tf.argmax(scores, axis=-1, output_type=tf.int32)
            return best, tf.gather(scores, best, axis=2, batch_dims=2)
        transitions, start, end = (tf.constant(c) for c in
                                   decoding.constraints(self.labels, self.scheme))
        if crf_layer is None:
            emissions = tf.math.log(scores + Decoder.LOG_FLOOR)
        else:
            emissions = scores
            transitions = crf_layer.transitions + transitions
            start, end = crf_layer.start + start, crf_layer.end + end
        best = crf.viterbi(emissions, mask, transitions, start, end)
        probabilities = scores if crf_layer is None else crf.marginals(
            emissions, mask, transitions, start, end)
        return best, tf.gather(probabilities, best, axis=2, batch_dims=2)

    def values_in_graph(self, best: Any, tokens: Any) -> Any:
        """The record's values of label ids `best` `(batch, T)` in TensorFlow: strings."""
        import tensorflow as tf

        return tf.gather(tf.constant(self.output_labels), best)

    # Output ---------------------------------------------------------------------------
    def values(self, ids: np.ndarray, forms: Sequence[str]) -> list[str]:
        """What a record shows for flat label ids `ids` of the tokens `forms`."""
        return self._output[ids].tolist()
