"""Writing what runs a trained model elsewhere, from a network on the keras backend:

    write_all    every backend's files of a model folder: the Keras weights
                 (model.weights.h5) and the ONNX graphs (`onnx`)
    savedmodel   a SavedModel that tags raw text, for TensorFlow Serving; `segmenting`
                 and `subwords` are the learned tokenizer and an encoder's windows in its
                 graph

The exporters sit above the backends: they read a network and write what a backend (or
TensorFlow Serving) loads; no backend imports them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tagger import model_folder
from tagger.model_folder import ModelConfig


def write_all(folder: Path, network: Any, config: ModelConfig, int8: bool = False) -> None:
    """Every backend's files of a model folder, from a keras backend's `network` (`int8`:
    the ONNX network's weights as 8-bit integers)."""
    from tagger.backends.keras.network import build_model, save_weights
    from tagger.export.onnx import graphs

    # A fresh, uncompiled copy: a compiled model would also save the optimizer's state,
    # tripling the file.
    weights_only = build_model(config)
    weights_only.set_weights(network.model.get_weights())
    save_weights(weights_only, folder / model_folder.WEIGHTS, config)
    for name, content in graphs(network.model, config, network.checkpoint,
                                int8=int8).items():
        (folder / name).write_bytes(content)
