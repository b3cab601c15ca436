"""Training settings: one place for their names, defaults and checks (no TensorFlow here,
so the command line can show them without loading it)."""

from __future__ import annotations

from dataclasses import dataclass

from tagger.errors import TaggerError

HEADS = ("auto", "crf", "softmax")


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_decay: float = 0.0  # learning rate / (1 + lr_decay * epochs done)
    layers: int = 1
    units: int = 100
    embedding_dim: int = 100
    dropout: float = 0.5
    bidirectional: bool = True
    patience: int = 5
    min_count: int = 1
    max_vocab: int | None = None
    lowercase: bool = True  # the char CNN and the casing feature keep the case
    chars: bool = True
    char_dim: int = 30
    char_filters: int = 50
    casing: bool = True
    word_dropout: float = 0.5
    head: str = "auto"  # crf, softmax, or auto: crf for entity schemes, softmax for POS
    embeddings: str | None = None  # GloVe / word2vec text file; its dimension wins
    seed: int = 1

    def __post_init__(self) -> None:
        """Check values that a recipe or a Python caller may set out of range."""
        positive = ("epochs", "batch_size", "layers", "units", "embedding_dim", "patience",
                    "min_count", "char_dim", "char_filters")
        for name in positive:
            if getattr(self, name) < 1:
                raise TaggerError(f"training setting {name} must be at least 1")
        for name in ("dropout", "word_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise TaggerError(f"training setting {name} must be in [0, 1)")
        if self.lr_decay < 0:
            raise TaggerError("training setting lr_decay must be at least 0")
        if self.learning_rate <= 0:
            raise TaggerError("training setting learning_rate must be above 0")
        if self.head not in HEADS:
            raise TaggerError(f"training setting head must be one of {', '.join(HEADS)}")
