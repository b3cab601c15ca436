"""The network: word embeddings -> stacked (Bi)LSTMs -> a softmax over tags at every step.

Shapes: ids `(batch, timesteps)` int32 with 0 as padding -> probabilities
`(batch, timesteps, classes)`. The embedding's mask (ids != 0) flows through every layer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    num_labels: int
    embedding_dim: int = 100
    layers: int = 1
    units: int = 100
    dropout: float = 0.5
    bidirectional: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def build_model(config: ModelConfig) -> keras.Model:
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    x = keras.layers.Embedding(config.vocab_size, config.embedding_dim, mask_zero=True,
                               name="embedding")(ids)
    x = keras.layers.Dropout(config.dropout, name="embedding_dropout")(x)
    for i in range(config.layers):
        lstm = keras.layers.LSTM(config.units, return_sequences=True, name=f"lstm_{i}")
        if config.bidirectional:
            lstm = keras.layers.Bidirectional(lstm, name=f"bilstm_{i}")
        x = lstm(x)
        x = keras.layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
    probs = keras.layers.Dense(config.num_labels, activation="softmax", name="tags")(x)
    return keras.Model(ids, probs, name="tagger")


def compile_model(model: keras.Model, learning_rate: float) -> None:
    """Adam and cross-entropy averaged over real tokens only.

    Padded steps get sample weight 0 (from the pipeline, and from the embedding mask), and
    `mean_with_sample_weight` divides by the number of real tokens rather than by
    batch * timesteps, so the loss does not depend on how much padding a batch has.
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, clipnorm=5.0),
        loss=keras.losses.SparseCategoricalCrossentropy(reduction="mean_with_sample_weight"),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
