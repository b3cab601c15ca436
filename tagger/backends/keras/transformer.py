"""A frozen BERT encoder in Keras, from a `encoders.checkpoint.Checkpoint`'s arrays:

    subwords (windows, S) int32, 0 padding -> states (windows, S, layers, hidden) float32

the outputs of its top `layers` transformer layers at every subword. Written here rather
than taken from KerasHub (whose `BertBackbone` loads the same folders) so that the network
needs no package beyond Keras and its every operation has a counterpart in the ONNX export
(`export.onnx.encoder_graph`); scripts/encoder_reference.py checks it against
KerasHub's on a real checkpoint.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tagger.encoders.checkpoint import Checkpoint


class BertEncoder(keras.layers.Layer):
    """BertModel's encoder (post-layer-norm, exact GELU), weights frozen."""

    def __init__(self, checkpoint: Checkpoint, layers: int, **kwargs) -> None:
        super().__init__(trainable=False, **kwargs)
        self.config = checkpoint.config
        self.top = layers
        self.pad = checkpoint.wordpiece.pad
        self._weights = {name: self.add_weight(value.shape, initializer="zeros",
                                               trainable=False,
                                               name=name.replace(".", "_"))
                         for name, value in checkpoint.arrays.items()}
        for name, value in checkpoint.arrays.items():
            self._weights[name].assign(value)

    def _norm(self, x, name: str):
        mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
        normed = (x - mean) * tf.math.rsqrt(variance + self.config.layer_norm_eps)
        return normed * self._weights[name + ".weight"] + self._weights[name + ".bias"]

    def _dense(self, x, name: str):
        # BertModel's (out, in) matrices, as stored.
        return tf.matmul(x, self._weights[name + ".weight"], transpose_b=True) + \
            self._weights[name + ".bias"]

    def call(self, subwords):
        config, w = self.config, self._weights
        shape = tf.shape(subwords)
        batch, steps = shape[0], shape[1]
        heads, size = config.heads, config.hidden_size // config.heads
        x = tf.gather(w["embeddings.word_embeddings.weight"], subwords) + \
            w["embeddings.position_embeddings.weight"][None, :steps] + \
            w["embeddings.token_type_embeddings.weight"][0]
        x = self._norm(x, "embeddings.LayerNorm")
        # Padded keys get a large negative score: no attention to them.
        blocked = tf.cast(tf.equal(subwords, self.pad), x.dtype)[:, None, None, :] * -1e9

        def split(t):  # (batch, steps, hidden) -> (batch, heads, steps, size)
            return tf.transpose(tf.reshape(t, [batch, steps, heads, size]), [0, 2, 1, 3])

        outputs = []
        for i in range(config.layers):
            layer = f"encoder.layer.{i}."
            q = split(self._dense(x, layer + "attention.self.query"))
            k = split(self._dense(x, layer + "attention.self.key"))
            v = split(self._dense(x, layer + "attention.self.value"))
            scores = tf.matmul(q, k, transpose_b=True) / np.sqrt(size) + blocked
            attended = tf.matmul(tf.nn.softmax(scores, axis=-1), v)
            attended = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]),
                                  [batch, steps, config.hidden_size])
            x = self._norm(x + self._dense(attended, layer + "attention.output.dense"),
                           layer + "attention.output.LayerNorm")
            hidden = tf.nn.gelu(self._dense(x, layer + "intermediate.dense"),
                                approximate=False)
            x = self._norm(x + self._dense(hidden, layer + "output.dense"),
                           layer + "output.LayerNorm")
            outputs.append(x)
        return tf.stack(outputs[-self.top:], axis=2)
