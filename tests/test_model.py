"""The model's shapes, and that padded steps count in neither loss nor metrics."""

import keras
import numpy as np
import pytest

from tagger import schemes
from tagger.backends.keras.network import CharCNN, build_model, compile_model
from tagger.model_folder import ModelConfig
from tagger.settings import TrainConfig


def model_config(vocab_size: int, num_labels: int, crf: bool = False, char_vocab_size: int = 0,
                 casing_size: int = 0, **network) -> ModelConfig:
    return ModelConfig(labels=[f"T{i}" for i in range(num_labels)], scheme=schemes.TOKEN,
                       crf=crf, vocab_size=vocab_size, char_vocab_size=char_vocab_size,
                       casing_size=casing_size, settings=TrainConfig.from_flat(**network))


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    m = build_model(model_config(vocab_size=20, num_labels=5, embedding_dim=8, layers=2,
                                units=6, char_vocab_size=12, char_dim=4, char_filters=5,
                                casing_size=8))
    compile_model(m, TrainConfig().optimization)
    return m


def inputs(words: np.ndarray, char_width: int = 3) -> dict[str, np.ndarray]:
    """Model inputs for word ids; characters and casing follow the words' padding."""
    real = words != 0
    chars = np.where(real[..., None], (words[..., None] + np.arange(char_width)) % 11 + 1, 0)
    return {"words": words, "chars": chars.astype(np.int32),
            "casing": np.where(real, words % 7 + 1, 0).astype(np.int32)}


WORDS = np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 10]], dtype=np.int32)
TARGETS = np.array([[1, 2, 3, 0, 0], [4, 0, 1, 2, 3]], dtype=np.int32)


def test_output_shape_is_batch_timesteps_classes(model):
    [probs] = model.predict(inputs(WORDS), verbose=0)  # one head
    assert probs.shape == (2, 5, 5)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


def test_every_lstm_returns_sequences(model):
    lstm_outputs = [layer.output.shape for layer in model.encoder.layers
                    if "lstm" in layer.name]
    assert len(lstm_outputs) == 2
    assert all(len(shape) == 3 for shape in lstm_outputs)


def test_word_only_model_takes_just_words():
    plain = build_model(model_config(vocab_size=20, num_labels=3, embedding_dim=4, units=3))
    assert [i.name for i in plain.encoder.inputs] == ["words"]
    [scores] = plain.predict({"words": WORDS}, verbose=0)
    assert scores.shape == (2, 5, 3)


def _evaluate(model, x, targets):
    weights = (x["words"] != 0).astype(np.float32)
    return model.evaluate(x, targets, sample_weight=weights, verbose=0, return_dict=True)


def test_labels_at_padded_steps_do_not_change_the_loss(model):
    other = TARGETS.copy()
    other[0, 3:] = [4, 2]  # garbage labels where the words are padding
    a, b = _evaluate(model, inputs(WORDS), TARGETS), _evaluate(model, inputs(WORDS), other)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-6)


def test_more_padding_changes_neither_outputs_nor_loss(model):
    """Extra padded steps, and extra padded characters per word, change nothing."""
    narrow_x = inputs(WORDS)
    wide_x = inputs(np.pad(WORDS, ((0, 0), (0, 6))))
    wide_x["chars"] = np.pad(wide_x["chars"], ((0, 0), (0, 0), (0, 4)))
    wide_targets = np.pad(TARGETS, ((0, 0), (0, 6)), constant_values=3)
    a, b = _evaluate(model, narrow_x, TARGETS), _evaluate(model, wide_x, wide_targets)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    [narrow] = model.predict(narrow_x, verbose=0)
    [wide] = model.predict(wide_x, verbose=0)
    np.testing.assert_allclose(narrow[0, :3], wide[0, :3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(narrow[1], wide[1, :5], rtol=1e-5, atol=1e-6)


def test_learning_rate_decays_per_epoch():
    m = build_model(model_config(vocab_size=5, num_labels=2, embedding_dim=2, units=2))
    settings = TrainConfig.from_flat(learning_rate=0.01, lr_decay=0.5).optimization
    schedule = compile_model(m, settings, steps_per_epoch=10)
    m.optimizer.build(m.trainable_variables)
    assert float(m.optimizer.learning_rate) == pytest.approx(0.01)
    m.optimizer.iterations.assign(20)  # two epochs of 10 steps
    assert float(m.optimizer.learning_rate) == pytest.approx(0.01 / (1 + 0.5 * 2))
    schedule.factor.assign(0.5)  # a plateau halves the rate on top of the decay
    assert float(m.optimizer.learning_rate) == pytest.approx(0.005 / (1 + 0.5 * 2))


@pytest.mark.parametrize("name, kind", [("adam", keras.optimizers.Adam),
                                        ("nadam", keras.optimizers.Nadam),
                                        ("sgd", keras.optimizers.SGD)])
def test_optimizer_is_the_one_asked_for(name, kind):
    m = build_model(model_config(vocab_size=5, num_labels=2, embedding_dim=2, units=2))
    compile_model(m, TrainConfig.from_flat(optimizer=name, ema=0.9).optimization)
    assert type(m.optimizer) is kind
    assert m.optimizer.use_ema and m.optimizer.ema_momentum == pytest.approx(0.9)
    assert m.optimizer.clipnorm == 5.0


def test_locked_dropout_drops_whole_features_of_a_sentence():
    m = build_model(model_config(vocab_size=20, num_labels=3, embedding_dim=16, units=3,
                                 locked_dropout=True, dropout=0.5))
    dropout = m.encoder.get_layer("feature_dropout")
    x = np.ones((2, 7, 16), np.float32)
    dropped = keras.ops.convert_to_numpy(dropout(x, training=True))
    # Each (sentence, feature) is dropped at every step or at none.
    assert np.all(dropped == dropped[:, :1, :])
    assert 0 < (dropped == 0).mean() < 1


def test_char_lstm_gives_final_states_of_real_words_and_zeros_for_padding():
    m = build_model(model_config(vocab_size=20, num_labels=5, embedding_dim=8, units=6,
                                 char_vocab_size=12, char_dim=4, char_filters=6,
                                 char_model="lstm"))
    layer = m.encoder.get_layer("char_lstm")
    chars = inputs(WORDS)["chars"]
    out = keras.ops.convert_to_numpy(layer(chars))
    assert out.shape == (2, 5, 6)
    assert np.all(out[0, 3:] == 0) and np.all(out[0, :3] != 0)
    # More padded characters per word change nothing: the LSTM reads real characters only.
    wider = keras.ops.convert_to_numpy(layer(np.pad(chars, ((0, 0), (0, 0), (0, 4)))))
    np.testing.assert_allclose(out, wider, rtol=1e-5, atol=1e-6)
    # A word's features depend on its own characters only, not on its neighbours.
    alone = keras.ops.convert_to_numpy(layer(chars[1:2, 2:3]))
    np.testing.assert_allclose(out[1, 2], alone[0, 0], rtol=1e-5, atol=1e-6)


def test_loss_is_a_mean_over_real_tokens(model):
    words = np.array([[3, 4, 0, 0, 0, 0, 0, 0]], dtype=np.int32)
    targets = np.array([[1, 2, 0, 0, 0, 0, 0, 0]], dtype=np.int32)
    [probs] = model.predict(inputs(words[:, :2]), verbose=0)
    probs = probs[0]
    expected = -np.mean(np.log([probs[0, 1], probs[1, 2]]))
    assert _evaluate(model, inputs(words), targets)["loss"] == pytest.approx(expected, rel=1e-4)


@pytest.fixture(scope="module")
def crf_model():
    keras.utils.set_random_seed(1)
    m = build_model(model_config(vocab_size=20, num_labels=5, embedding_dim=8, units=6,
                                char_vocab_size=12, char_dim=4, char_filters=5, casing_size=8,
                                crf=True))
    compile_model(m, TrainConfig().optimization)
    m.crf.transitions.assign(np.random.default_rng(0).normal(size=(5, 5)))
    return m


def test_crf_model_outputs_emissions_and_its_loss_is_nll_per_token(crf_model):
    from tagger.backends.keras import crf

    x = inputs(WORDS)
    [emissions] = crf_model.predict(x, verbose=0)
    assert emissions.shape == (2, 5, 5)
    ll = crf.log_likelihood(emissions, TARGETS, WORDS != 0, crf_model.crf.transitions,
                            crf_model.crf.start, crf_model.crf.end).numpy()
    loss = _evaluate(crf_model, x, TARGETS)["loss"]
    assert loss == pytest.approx(-ll.sum() / (WORDS != 0).sum(), rel=1e-4)


def test_crf_loss_ignores_padding(crf_model):
    other = TARGETS.copy()
    other[0, 3:] = [4, 2]
    wide_x = inputs(np.pad(WORDS, ((0, 0), (0, 3))))
    wide_targets = np.pad(other, ((0, 0), (0, 3)), constant_values=1)
    a = _evaluate(crf_model, inputs(WORDS), TARGETS)["loss"]
    assert _evaluate(crf_model, inputs(WORDS), other)["loss"] == pytest.approx(a, rel=1e-5)
    assert _evaluate(crf_model, wide_x, wide_targets)["loss"] == pytest.approx(a, rel=1e-5)


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5])
def test_char_cnn_equals_embedding_conv1d_and_masked_max(width):
    """The gather formulation is the plain padded convolution, for odd and even widths."""
    keras.utils.set_random_seed(width)
    layer = CharCNN(vocab_size=9, dim=4, filters=6, width=width)
    layer.build()
    rng = np.random.default_rng(width)
    lengths = rng.integers(0, 7, size=(3, 4))  # words of 0 (padding) to 6 characters
    chars = np.where(np.arange(7) < lengths[..., None], rng.integers(1, 9, (3, 4, 7)), 0)
    chars = chars.astype(np.int32)

    words = chars.reshape(-1, 7)
    real = (words != 0)[..., None].astype(np.float32)
    conv = keras.ops.convert_to_numpy(layer.conv(layer.embedding(words) * real))
    expected = (conv * real).max(axis=1).reshape(3, 4, 6)

    got = keras.ops.convert_to_numpy(layer(chars))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert (got[lengths == 0] == 0).all()


def test_char_cnn_trains_its_embedding_and_kernel():
    import tensorflow as tf

    layer = CharCNN(vocab_size=9, dim=4, filters=6, width=3)
    layer.build()
    chars = tf.constant([[[1, 2, 3, 0], [4, 0, 0, 0]]], dtype=tf.int32)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(layer(chars))
    variables = [layer.embedding.embeddings, layer.conv.kernel, layer.conv.bias]
    grads = [tf.convert_to_tensor(g).numpy() for g in tape.gradient(total, variables)]
    assert all(g.any() for g in grads)
    assert not grads[0][0].any()  # padding's row takes no part
    assert not grads[0][5:].any()  # nor do characters absent from the input
