"""Training: the loop (`loop`), its checkpoints, several workers, pretrained vectors,
recipes and ensembles.

    from tagger.training import train
    tagger, metrics = train(corpus, TrainConfig.from_flat(epochs=20))

`train`, `initialized` and `untrained` are loaded on first use: recipes and checkpoints
need no TensorFlow.
"""

from __future__ import annotations

from typing import Any

__all__ = ["initialized", "train", "untrained"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tagger.training import loop

        return getattr(loop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
