"""The network, read top to bottom:

    words  (batch, timesteps)         -> Embedding(mask_zero=True)     (batch, timesteps, E)
    chars  (batch, timesteps, chars)  -> char Embedding -> Conv1D over each word's characters
                                         -> max over characters       (batch, timesteps, F)
    casing (batch, timesteps)         -> Embedding                     (batch, timesteps, 4)
    concatenate -> dropout -> N x (Bi)LSTM(return_sequences=True) -> dropout
    -> Dense per step                                                  (batch, timesteps, classes)

Padding is id 0 in every input; the word mask (words != 0) reaches every LSTM, and padded
characters are zeroed before the max so they never win it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
import tensorflow as tf
from keras import ops

from tagger import crf

CASING_DIM = 4


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    num_labels: int
    embedding_dim: int = 100
    layers: int = 1
    units: int = 100
    dropout: float = 0.5
    bidirectional: bool = True
    char_vocab_size: int = 0  # 0: no character features
    char_dim: int = 30
    char_filters: int = 50
    char_width: int = 3
    casing_size: int = 0  # 0: no casing feature
    crf: bool = False  # a CRF output layer instead of a softmax

    def to_dict(self) -> dict:
        return asdict(self)


def build_model(config: ModelConfig) -> keras.Model:
    words = keras.Input(shape=(None,), dtype="int32", name="words")
    inputs = {"words": words}
    mask = ops.not_equal(words, 0)
    pieces = [keras.layers.Embedding(config.vocab_size, config.embedding_dim, mask_zero=True,
                                     name="word_embedding")(words)]
    if config.char_vocab_size:
        chars = inputs["chars"] = keras.Input(shape=(None, None), dtype="int32", name="chars")
        pieces.append(CharCNN(config.char_vocab_size, config.char_dim, config.char_filters,
                              config.char_width, name="char_cnn")(chars))
    if config.casing_size:
        casing = inputs["casing"] = keras.Input(shape=(None,), dtype="int32", name="casing")
        pieces.append(keras.layers.Embedding(config.casing_size, CASING_DIM,
                                             name="casing_embedding")(casing))
    x = pieces[0] if len(pieces) == 1 else keras.layers.Concatenate(name="features")(pieces)
    x = keras.layers.Dropout(config.dropout, name="feature_dropout")(x)
    for i in range(config.layers):
        lstm = keras.layers.LSTM(config.units, return_sequences=True, name=f"lstm_{i}")
        if config.bidirectional:
            lstm = keras.layers.Bidirectional(lstm, name=f"bilstm_{i}")
        x = lstm(x, mask=mask)
        x = keras.layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
    if config.crf:
        emissions = keras.layers.Dense(config.num_labels, name="emissions")(x)
        return CRFModel(keras.Model(inputs, emissions, name="encoder"), config.num_labels)
    probs = keras.layers.Dense(config.num_labels, activation="softmax", name="tags")(x)
    return keras.Model(inputs, probs, name="tagger")


class CRF(keras.layers.Layer):
    """The CRF's scores: label-to-label transitions, and for starting / ending a sentence."""

    def __init__(self, num_labels: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_labels = num_labels

    def build(self, input_shape=None) -> None:
        size = self.num_labels
        self.transitions = self.add_weight((size, size), initializer="zeros", name="transitions")
        self.start = self.add_weight((size,), initializer="zeros", name="start")
        self.end = self.add_weight((size,), initializer="zeros", name="end")

    def call(self, emissions):
        return emissions


class CRFModel(keras.Model):
    """The encoder's per-step emission scores, trained with the CRF sequence log-likelihood.

    Calling the model gives the emissions `(batch, timesteps, labels)`; decoding (Viterbi)
    is the tagger's job, with the scheme's constraints added to `crf`'s scores.
    """

    def __init__(self, encoder: keras.Model, num_labels: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.encoder = encoder
        self.crf = CRF(num_labels, name="crf")
        self.crf.build()
        self.built = True  # every part is built: weights can be loaded without a first call

    def call(self, inputs, training=None):
        return self.encoder(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Negative log-likelihood of the gold paths, per real token of the batch."""
        mask = ops.not_equal(x["words"], 0)
        likelihood = crf.log_likelihood(y_pred, y, mask, self.crf.transitions,
                                        self.crf.start, self.crf.end)
        real = ops.cast(ops.sum(ops.cast(mask, "int32")), likelihood.dtype)
        return -ops.sum(likelihood) / ops.maximum(real, 1.0)


class CharCNN(keras.layers.Layer):
    """(batch, timesteps, chars) ids -> (batch, timesteps, filters): a CNN over each word.

    The same function as Embedding -> Conv1D(padding="same", relu) -> max over each word's
    characters, computed on real characters only: most of a padded `chars` tensor is
    padding (words are padded to the batch's longest), and skipping it halves the layer's
    time here. Because the convolution is linear in one-hot character ids, each
    kernel position is a table `embedding @ kernel[j]` of (characters, filters), and a
    character's output is the sum of its neighbours' rows. Padding's rows are zero, as the
    convolution's own zero padding; ReLU outputs are >= 0, so an empty word gets zeros.
    """

    def __init__(self, vocab_size: int, dim: int, filters: int, width: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.vocab_size, self.dim, self.filters, self.width = vocab_size, dim, filters, width
        self.embedding = keras.layers.Embedding(vocab_size, dim, name="char_embedding")
        self.conv = keras.layers.Conv1D(filters, width, padding="same", activation="relu",
                                        name="char_conv")

    def build(self, input_shape=None) -> None:
        self.embedding.build((None,))
        self.conv.build((None, None, self.dim))

    def call(self, chars):
        shape = tf.shape(chars)
        words = tf.reshape(chars, (-1, shape[2]))  # (words, chars)
        real = words != 0
        # (width, characters, filters), with padding's row zeroed.
        not_padding = tf.cast(tf.range(self.vocab_size) != 0, self.compute_dtype)
        tables = tf.einsum("vd,wdf->wvf", self.embedding.embeddings * not_padding[:, None],
                           self.conv.kernel)
        left = (self.width - 1) // 2  # Keras "same" padding puts the odd one on the right
        out = self.conv.bias
        for j in range(self.width):
            shift = j - left  # kernel position j reads the character `shift` steps away
            neighbours = tf.pad(words, [[0, 0], [max(-shift, 0), max(shift, 0)]])
            neighbours = neighbours[:, max(shift, 0): max(shift, 0) + shape[2]]
            out = out + tf.gather(tables[j], tf.boolean_mask(neighbours, real))
        word_of_char = tf.boolean_mask(
            tf.broadcast_to(tf.range(tf.shape(words)[0])[:, None], tf.shape(words)), real)
        best = tf.math.unsorted_segment_max(tf.nn.relu(out), word_of_char,
                                            num_segments=tf.shape(words)[0])
        best = tf.maximum(best, 0.0)  # words without characters (padding): zeros
        return tf.reshape(best, (shape[0], shape[1], self.filters))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.filters)

    def get_config(self) -> dict:
        return {**super().get_config(), "vocab_size": self.vocab_size, "dim": self.dim,
                "filters": self.filters, "width": self.width}


def compile_model(model: keras.Model, learning_rate: float, decay: float = 0.0,
                  steps_per_epoch: int = 1) -> None:
    """Adam with gradient clipping; the loss is averaged over real tokens only.

    With `decay`, the learning rate after e epochs (fractions included) is
    learning_rate / (1 + decay * e).

    Softmax: cross-entropy, with padded steps at sample weight 0 (from the pipeline) and
    `mean_with_sample_weight` dividing by the number of real tokens rather than by
    batch * timesteps, so the loss does not depend on how much padding a batch has.
    CRF: `CRFModel.compute_loss`, the sequence negative log-likelihood per real token.
    """
    crf = isinstance(model, CRFModel)
    if decay:
        learning_rate = keras.optimizers.schedules.InverseTimeDecay(
            learning_rate, decay_steps=steps_per_epoch, decay_rate=decay)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, clipnorm=5.0),
        loss=None if crf else keras.losses.SparseCategoricalCrossentropy(
            reduction="mean_with_sample_weight"),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
