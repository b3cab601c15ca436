"""The network, read top to bottom:

    words  (batch, timesteps)         -> Embedding(mask_zero=True)     (batch, timesteps, E)
    chars  (batch, timesteps, chars)  -> char Embedding -> Conv1D over each word's characters
                                         -> max over characters       (batch, timesteps, F)
                                         (or a BiLSTM over them: its final states)
    casing (batch, timesteps)         -> Embedding                     (batch, timesteps, 4)
    context (batch, timesteps, L, H)  -> ContextMix: softmax-weighted sum of an encoder's
                                         top L layers, scaled          (batch, timesteps, H)
    concatenate -> dropout -> N x (Bi)LSTM(return_sequences=True) -> dropout
    -> per head (`tagger.heads`), its layer per step                   (batch, timesteps, classes)
    -> TaggerModel: the heads' losses (CRF or softmax), weighted and summed
    (an ensemble averages several such encoders' outputs, head by head)

`EncoderParts` holds one encoder's layers; the keras backend runs them from character
features computed once per distinct word, and the ONNX export translates them.

Padding is id 0 in every input; the word mask (words != 0) reaches every LSTM, and padded
characters are zeroed before the max so they never win it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tagger import heads, model_folder
from tagger.errors import TaggerError
from tagger.model_folder import ModelConfig
from tagger.settings import OptimizationSettings

CASING_DIM = 4


def build_model(config: ModelConfig) -> TaggerModel:
    """A fresh (untrained) network of the shape `config` describes.

    An ensemble (`config.members` > 1) runs that many encoders on the same inputs and
    averages their outputs: probabilities for a softmax head, emission scores for a CRF.
    """
    model_heads = heads.of_model(config)
    if config.members == 1:
        parts = [EncoderParts.of(config, model_heads)]
        encoder = parts[0].model("encoder")
    else:
        parts = [EncoderParts.of(config, model_heads) for _ in range(config.members)]
        members = [p.model(f"member_{i}") for i, p in enumerate(parts)]
        inputs = {name: keras.Input(shape=x.shape[1:], dtype=x.dtype, name=name)
                  for name, x in members[0].input.items()}
        outputs = [m(inputs) for m in members]
        averaged = [keras.layers.Average(name="average" if i == 0 else f"average_{i}")(
            [out[i] for out in outputs]) for i in range(len(model_heads))]
        encoder = keras.Model(inputs, averaged, name="encoder")
    return TaggerModel(encoder, parts, model_heads)


def output_name(index: int, head: heads.TagHead) -> str:
    """The name of a head's output layer: the first head's as models have always named it."""
    if index == 0:
        return "emissions" if head.crf else "tags"
    return f"head_{head.column}"


@dataclass(frozen=True)
class EncoderParts:
    """The layers of one encoder (inputs -> per-step scores, everything but the head), held
    by name so that the backends and the ONNX export reach them without searching."""

    word_embedding: keras.layers.Layer  # keras.layers.Embedding or PretrainedEmbedding
    chars: CharCNN | CharLSTM | None
    casing: keras.layers.Embedding | None
    context: ContextMix | None  # a contextual encoder's word features, mixed
    feature_dropout: keras.layers.Dropout
    recurrent: list[keras.layers.Layer]  # LSTM, or Bidirectional(LSTM), one per layer
    dropouts: list[keras.layers.Dropout]
    # Each head's output layer: emission scores (CRF) or softmax probabilities.
    outputs: list[keras.layers.Layer]

    @classmethod
    def of(cls, config: ModelConfig, model_heads: Sequence[heads.TagHead]) -> EncoderParts:
        """Fresh layers of the shape `config` describes."""
        network = config.settings.network
        if config.tuned_vocab_size:
            word_embedding = PretrainedEmbedding(config.vocab_size, config.tuned_vocab_size,
                                                 network.embedding_dim,
                                                 config.settings.features.tune_vectors,
                                                 name="word_embedding")
        else:
            word_embedding = keras.layers.Embedding(config.vocab_size, network.embedding_dim,
                                                    mask_zero=True, name="word_embedding")
        chars = None
        if config.char_vocab_size and network.char_model == "lstm":
            chars = CharLSTM(config.char_vocab_size, network.char_dim, network.char_filters,
                             name="char_lstm")
        elif config.char_vocab_size:
            chars = CharCNN(config.char_vocab_size, network.char_dim, network.char_filters,
                            network.char_width, name="char_cnn")
        casing = keras.layers.Embedding(config.casing_size, CASING_DIM,
                                        name="casing_embedding") if config.casing_size else None
        context = ContextMix(config.context_layers, config.context_dim, name="context_mix") \
            if config.context_layers else None
        # Locked (variational) dropout draws one mask per sentence, shared by all its words.
        noise_shape = (None, 1, None) if network.locked_dropout else None
        # Made in the order of the network, input to output: each layer's random state is
        # drawn when it is made, so the order fixes what a seed trains.
        feature_dropout = keras.layers.Dropout(network.dropout, noise_shape,
                                               name="feature_dropout")
        recurrent, dropouts = [], []
        for i in range(network.layers):
            lstm = keras.layers.LSTM(network.units, return_sequences=True, name=f"lstm_{i}")
            if network.bidirectional:
                lstm = keras.layers.Bidirectional(lstm, name=f"bilstm_{i}")
            recurrent.append(lstm)
            dropouts.append(keras.layers.Dropout(network.dropout, noise_shape,
                                                 name=f"dropout_{i}"))
        outputs = [head.layer(output_name(i, head)) for i, head in enumerate(model_heads)]
        return cls(word_embedding, chars, casing, context, feature_dropout, recurrent,
                   dropouts, outputs)

    @property
    def char_size(self) -> int:
        """Width of the character features (0 without them)."""
        if self.chars is None:
            return 0
        return self.chars.filters if isinstance(self.chars, CharCNN) else self.chars.size

    def model(self, name: str) -> keras.Model:
        """The encoder as a functional model from the padded id inputs."""
        words = keras.Input(shape=(None,), dtype="int32", name="words")
        inputs = {"words": words}
        char_features = casing = None
        if self.chars is not None:
            inputs["chars"] = keras.Input(shape=(None, None), dtype="int32", name="chars")
            char_features = self.chars(inputs["chars"])
        if self.casing is not None:
            casing = inputs["casing"] = keras.Input(shape=(None,), dtype="int32",
                                                    name="casing")
        context = None
        if self.context is not None:
            # Training feeds float16 (precomputed features, half the memory), widened here.
            context = inputs["context"] = keras.Input(
                shape=(None, self.context.layers, self.context.dim), dtype="float32",
                name="context")
        return keras.Model(inputs, self.scores(words, char_features, casing, context),
                           name=name)

    def scores(self, words, char_features=None, casing=None, context=None, training=None):
        """Each head's per-step scores `(batch, timesteps, labels)` from word ids, each
        word's character features `(batch, timesteps, char_size)`, casing classes and
        contextual features `(batch, timesteps, layers, hidden)`."""
        pieces = [self.word_embedding(words)]
        if char_features is not None:
            pieces.append(char_features)
        if casing is not None:
            pieces.append(self.casing(casing))
        if context is not None:
            pieces.append(self.context(context))
        x = pieces[0] if len(pieces) == 1 else keras.layers.Concatenate(name="features")(
            pieces)
        x = self.feature_dropout(x, training=training)
        mask = ops.not_equal(words, 0)
        for lstm, dropout in zip(self.recurrent, self.dropouts, strict=True):
            x = dropout(lstm(x, mask=mask, training=training), training=training)
        return [output(x) for output in self.outputs]


class PretrainedEmbedding(keras.layers.Layer):
    """Word ids -> pretrained vectors (frozen) plus a learned correction for the train words.

    `frozen` holds a vector for every word (zeros where the file had none), stored as float16:
    the table is most of a model folder, and GloVe's values need no more than float16's three
    significant digits. `tuned` holds rows for the first `tuned_rows` ids, the train words:
    they start at zero where a pretrained vector exists (and randomly where not) and are
    learned; without `tune_pretrained` only those without a vector are. Words only the
    vector file knows keep their vector as it is (training never sees them), so they stay in
    the space the tuned rows move in small steps from. Id 0 is padding and masked.
    """

    def __init__(self, vocab_size: int, tuned_rows: int, dim: int, tune_pretrained: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.vocab_size, self.tuned_rows, self.dim = vocab_size, tuned_rows, dim
        self.tune_pretrained = tune_pretrained

    def build(self, input_shape=None) -> None:
        self.frozen = self.add_weight((self.vocab_size, self.dim), initializer="zeros",
                                      dtype="float16", trainable=False, name="frozen")
        self.tuned = self.add_weight((self.tuned_rows, self.dim), name="tuned",
                                     initializer=keras.initializers.RandomUniform(-0.05, 0.05))

    def call(self, ids):
        tuned = tf.gather(self.tuned, tf.minimum(ids, self.tuned_rows - 1))
        learns = ids < self.tuned_rows
        frozen = tf.gather(self.frozen, ids)
        if not self.tune_pretrained:  # only rows without a vector (all zeros) learn
            learns &= tf.reduce_all(frozen == 0, axis=-1)
        return tf.cast(frozen, tuned.dtype) + tuned * tf.cast(learns, tuned.dtype)[..., None]

    def compute_mask(self, ids, mask=None):
        return ops.not_equal(ids, 0)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.dim)

    def set_vectors(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Give word ids `rows` their pretrained `vectors`; their tuned rows start at zero."""
        frozen = np.zeros((self.vocab_size, self.dim), np.float16)
        frozen[rows] = vectors
        self.frozen.assign(frozen)
        tuned = keras.ops.convert_to_numpy(self.tuned)
        tuned[rows[rows < self.tuned_rows]] = 0.0
        self.tuned.assign(tuned)

    def table(self) -> np.ndarray:
        """The vector of every word id, as the network sees it now."""
        frozen = keras.ops.convert_to_numpy(self.frozen).astype(np.float32)
        tuned = keras.ops.convert_to_numpy(self.tuned)
        if not self.tune_pretrained:
            tuned = tuned * np.all(frozen[: self.tuned_rows] == 0, axis=1)[:, None]
        frozen[: self.tuned_rows] += tuned
        return frozen

    def get_config(self) -> dict:
        return {**super().get_config(), "vocab_size": self.vocab_size,
                "tuned_rows": self.tuned_rows, "dim": self.dim,
                "tune_pretrained": self.tune_pretrained}


class ContextMix(keras.layers.Layer):
    """(batch, timesteps, layers, hidden) -> (batch, timesteps, hidden): a learned scalar mix
    of an encoder's layers (softmax-normalized weights, times a learned scale), as ELMo
    mixes its layers (Peters et al. 2018). The weights start equal and the scale at 1."""

    def __init__(self, layers: int, dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.layers, self.dim = layers, dim

    def build(self, input_shape=None) -> None:
        self.mix = self.add_weight((self.layers,), initializer="zeros", name="mix")
        self.scale = self.add_weight((), initializer="ones", name="scale")

    def call(self, context):
        weights = tf.nn.softmax(self.mix) * self.scale
        return tf.einsum("btlh,l->bth", tf.cast(context, weights.dtype), weights)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], input_shape[3])

    def layer_weights(self) -> np.ndarray:
        """Each layer's weight as `call` applies it (the softmax times the scale)."""
        mix = keras.ops.convert_to_numpy(self.mix).astype(np.float64)
        soft = np.exp(mix - mix.max())
        return soft / soft.sum() * float(keras.ops.convert_to_numpy(self.scale))

    def get_config(self) -> dict:
        return {**super().get_config(), "layers": self.layers, "dim": self.dim}


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


class TaggerModel(keras.Model):
    """The encoder's per-step scores with the heads' losses.

    Calling the model gives a list, one `(batch, timesteps, labels)` per head:
    probabilities for a softmax head, emission scores for a CRF head (whose own scores are
    its `crfs` layer's weights). Decoding is each head's (`tagger.heads`), on every backend.
    """

    def __init__(self, encoder: keras.Model, parts: Sequence[EncoderParts],
                 model_heads: Sequence[heads.TagHead], **kwargs) -> None:
        super().__init__(**kwargs)
        self.encoder = encoder
        # Tuples of plain objects: Keras tracks the layers through `encoder` alone.
        self.parts = tuple(parts)
        self.heads = tuple(model_heads)
        crfs = [CRF(head.size, name="crf" if i == 0 else f"crf_{head.column}")
                if head.crf else None for i, head in enumerate(model_heads)]
        for layer in crfs:
            if layer is not None:
                layer.build()
        # The first head's CRF keeps the attribute, and so the place in the weights file,
        # that it had when a model had one head.
        self.crf, self.more_crfs = crfs[0], crfs[1:]
        self.built = True  # every part is built: weights can be loaded without a first call

    @property
    def crfs(self) -> list[CRF | None]:
        """Each head's CRF layer (None for a softmax head)."""
        return [self.crf, *self.more_crfs]

    def call(self, inputs, training=None):
        return as_list(self.encoder(inputs, training=training))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The heads' losses (`heads.TagHead.loss`: CRF sequence negative log-likelihood,
        or cross-entropy), each a mean over real tokens, weighted and summed; `y` holds one
        target per head.

        Dividing by the number of real tokens rather than by batch * timesteps keeps the loss
        independent of how much padding a batch has.
        """
        mask = ops.not_equal(x["words"], 0)
        real = ops.maximum(ops.sum(ops.cast(mask, "float32")), 1.0)
        total = 0.0
        for head, crf_layer, scores, targets in zip(self.heads, self.crfs, as_list(y_pred),
                                                    as_list(y), strict=True):
            total = total + head.config.weight * head.loss(scores, targets, mask,
                                                           crf_layer) / real
        return total


def as_list(values) -> list:
    """One value per head: Keras hands a model's one output (or a batch's one target) over
    bare, not in a list."""
    return list(values) if isinstance(values, (list, tuple)) else [values]


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


class CharLSTM(keras.layers.Layer):
    """(batch, timesteps, chars) ids -> (batch, timesteps, size): a BiLSTM over each word.

    Each word's characters are read in both directions (Lample et al. 2016); the word's
    features are the two final states, `size // 2` units each. Only real words go through the
    LSTM: padded words (most of a padded batch) keep zeros.
    """

    def __init__(self, vocab_size: int, dim: int, size: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.vocab_size, self.dim, self.size = vocab_size, dim, size
        self.embedding = keras.layers.Embedding(vocab_size, dim, mask_zero=True,
                                                name="char_embedding")
        self.bilstm = keras.layers.Bidirectional(keras.layers.LSTM(size // 2),
                                                 name="char_bilstm")

    def build(self, input_shape=None) -> None:
        self.embedding.build((None,))
        self.bilstm.build((None, None, self.dim))

    def call(self, chars):
        shape = tf.shape(chars)
        words = tf.reshape(chars, (-1, shape[2]))  # (words, chars)
        real = tf.cast(tf.where(tf.reduce_any(words != 0, axis=1)), tf.int32)  # (real, 1)
        packed = tf.gather_nd(words, real)
        states = self.bilstm(self.embedding(packed), mask=packed != 0)
        out = tf.scatter_nd(real, states, tf.stack([tf.shape(words)[0], self.size]))
        return tf.reshape(out, (shape[0], shape[1], self.size))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.size)

    def get_config(self) -> dict:
        return {**super().get_config(), "vocab_size": self.vocab_size, "dim": self.dim,
                "size": self.size}


# The attribute of a weights file that records the config it was written with, as
# network.onnx's metadata does: both backends refuse a config.json edited since.
CONFIG_ATTRIBUTE = "tagger_config"


def save_weights(model: TaggerModel, path: Path, config: ModelConfig) -> None:
    """Write `model`'s weights to `path`, recording `config` beside them."""
    import h5py  # a dependency of Keras

    model.save_weights(path)
    with h5py.File(path, "a") as stored:
        stored.attrs[CONFIG_ATTRIBUTE] = config.canonical_json()


def load_weights(model: TaggerModel, path: Path, config: ModelConfig) -> None:
    """Load weights saved from a model of the same config; any mismatch is a TaggerError.

    Keras checks the shapes of the arrays it loads, but skips arrays the model has no place
    for (a CRF's, if config.json lost its CRF): the file must hold exactly the model's arrays.
    Shapes alone miss labels reordered in config.json: the config recorded in the file
    (files written before it was recorded have none) must be config.json's.
    """
    import h5py  # a dependency of Keras

    def mismatch(detail: str) -> TaggerError:
        return TaggerError(f"{path} does not fit config.json ({detail}); "
                           "restore the folder or retrain the model")

    # Keras warns about the parts it skips; those warnings only matter if loading succeeds.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with h5py.File(path, "r") as stored:
                arrays: list[str] = []
                stored.visititems(lambda name, item: arrays.append(name)
                                  if isinstance(item, h5py.Dataset) else None)
                recorded = stored.attrs.get(CONFIG_ATTRIBUTE)
            model.load_weights(path)
        except Exception as error:  # h5py and Keras raise many types; all mean a bad file
            raise mismatch((str(error).strip().splitlines() or [type(error).__name__])[0]) \
                from None
    if len(arrays) != len(model.weights):
        raise mismatch(f"it holds {len(arrays)} arrays, the model {len(model.weights)}")
    if recorded is not None and not model_folder.recorded_fits(str(recorded), config):
        raise mismatch("it was written for another model")
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename,
                               warning.lineno)


class LearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """learning_rate / (1 + decay * e) after e epochs (fractions included), times `factor`.

    `factor` is a variable so that training can lower the rate on a plateau while the
    compiled step keeps reading it.
    """

    def __init__(self, learning_rate: float, decay: float, steps_per_epoch: int) -> None:
        self.learning_rate, self.decay, self.steps_per_epoch = learning_rate, decay, \
            steps_per_epoch
        self.factor = keras.Variable(1.0, trainable=False, name="learning_rate_factor")

    def __call__(self, step):
        epochs = ops.cast(step, "float32") / self.steps_per_epoch
        return self.learning_rate * self.factor / (1.0 + self.decay * epochs)

    def get_config(self) -> dict:
        return {"learning_rate": self.learning_rate, "decay": self.decay,
                "steps_per_epoch": self.steps_per_epoch}


def compile_model(model: TaggerModel, optimization: OptimizationSettings,
                  steps_per_epoch: int = 1) -> LearningRate:
    """The optimizer of `optimization`, with gradient clipping; the loss is the model's own.

    Returns the learning-rate schedule (its `factor` can be lowered during training).
    """
    schedule = LearningRate(optimization.learning_rate, optimization.lr_decay, steps_per_epoch)
    options = {"clipnorm": 5.0, "use_ema": optimization.ema > 0,
               "ema_momentum": optimization.ema or 0.99}
    optimizer = {
        "adam": lambda: keras.optimizers.Adam(schedule, **options),
        "nadam": lambda: keras.optimizers.Nadam(schedule, **options),
        "sgd": lambda: keras.optimizers.SGD(schedule, momentum=0.9, **options),
    }[optimization.optimizer]()
    model.compile(optimizer=optimizer)
    return schedule
