"""The model's shapes, and that padded steps count in neither loss nor metrics."""

import keras
import numpy as np
import pytest

from tagger.model import ModelConfig, build_model, compile_model


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    m = build_model(ModelConfig(vocab_size=20, num_labels=5, embedding_dim=8, layers=2,
                                units=6))
    compile_model(m, 1e-3)
    return m


def test_output_shape_is_batch_timesteps_classes(model):
    ids = np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 10]], dtype=np.int32)
    probs = model.predict(ids, verbose=0)
    assert probs.shape == (2, 5, 5)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


def test_every_lstm_returns_sequences(model):
    lstm_outputs = [layer.output.shape for layer in model.layers if "lstm" in layer.name]
    assert len(lstm_outputs) == 2
    assert all(len(shape) == 3 for shape in lstm_outputs)


def _evaluate(model, ids, targets):
    weights = (ids != 0).astype(np.float32)
    return model.evaluate(ids, targets, sample_weight=weights, verbose=0, return_dict=True)


def test_labels_at_padded_steps_change_neither_loss_nor_metrics(model):
    ids = np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 10]], dtype=np.int32)
    targets = np.array([[1, 2, 3, 0, 0], [4, 0, 1, 2, 3]], dtype=np.int32)
    other = targets.copy()
    other[0, 3:] = [4, 2]  # garbage labels where the ids are padding
    a, b = _evaluate(model, ids, targets), _evaluate(model, ids, other)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-6)
    assert a["accuracy"] == pytest.approx(b["accuracy"], rel=1e-6)


def test_more_padding_changes_neither_outputs_nor_loss_nor_metrics(model):
    ids = np.array([[3, 4, 5, 0], [6, 7, 8, 9]], dtype=np.int32)
    targets = np.array([[1, 2, 3, 0], [4, 0, 1, 2]], dtype=np.int32)
    wide_ids = np.pad(ids, ((0, 0), (0, 6)))
    wide_targets = np.pad(targets, ((0, 0), (0, 6)), constant_values=3)
    a, b = _evaluate(model, ids, targets), _evaluate(model, wide_ids, wide_targets)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    assert a["accuracy"] == pytest.approx(b["accuracy"], rel=1e-6)
    narrow = model.predict(ids, verbose=0)
    wide = model.predict(wide_ids, verbose=0)
    np.testing.assert_allclose(narrow[0, :3], wide[0, :3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(narrow[1], wide[1, :4], rtol=1e-5, atol=1e-6)


def test_loss_is_a_mean_over_real_tokens(model):
    """Two batches with the same real tokens but different padding give the same loss."""
    ids = np.array([[3, 4, 0, 0, 0, 0, 0, 0]], dtype=np.int32)
    targets = np.array([[1, 2, 0, 0, 0, 0, 0, 0]], dtype=np.int32)
    probs = model.predict(ids[:, :2], verbose=0)[0]
    expected = -np.mean(np.log([probs[0, 1], probs[1, 2]]))
    assert _evaluate(model, ids, targets)["loss"] == pytest.approx(expected, rel=1e-4)
