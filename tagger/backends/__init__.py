"""Backends turn a model's padded ids into per-step scores; everything else (tokenizing,
ids, batching, decoding, records) is the pipeline's (`tagger.pipeline`), written once.

A backend is a module with

    load(path, config, threads) -> backend   reads its files of model folder `path`

(which `tagger.export.write_all` writes, from a keras backend's network), and the backend
it loads has

    char_size                       width of the character features (0: none)
    crfs                            each head's `decoding.CrfScores`, None for a softmax
    max_batch_tokens, max_batch_sentences   the padded batch it runs best
    char_features(chars)            (words, chars) int32 -> (words, char_size) float32
    encoder_states(subwords)        (windows, S) int32 -> (windows, S, layers, hidden)
                                    float32: the contextual encoder (models with one)
    scores(inputs)                  words, casing, char_features, context (batch, T, ...)
                                    and lengths (batch,) -> each head's (batch, T, labels)
                                    float32

Adding a backend is one module, one entry in BACKENDS and, for files of its own, a writer
in `tagger.export.write_all`: the command line's choices, `auto`, its help and its errors
come from here, and `Tagger.save` writes its files into every model folder.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tagger import model_folder
from tagger.errors import TaggerError
from tagger.model_folder import ModelConfig


@dataclass(frozen=True)
class BackendInfo:
    name: str
    module: str  # imported only when the backend is used
    files: tuple[str, ...]  # the model folder files it reads
    summary: str
    tensorflow: bool  # whether it imports TensorFlow


# In the order `auto` tries them: the first whose files the folder has.
BACKENDS = {info.name: info for info in (
    BackendInfo("onnx", "tagger.backends.onnx.backend", (model_folder.NETWORK,),
                "ONNX Runtime, without TensorFlow (fast to start and to run)", False),
    BackendInfo("keras", "tagger.backends.keras.backend", (model_folder.WEIGHTS,),
                "the Keras network in TensorFlow", True),
)}
ALIASES = {"tensorflow": "keras"}
CHOICES = ("auto", *BACKENDS, *ALIASES)
HELP = "; ".join([*(f"{info.name}: {info.summary}" for info in BACKENDS.values()),
                  *(f"{alias}: {name}" for alias, name in ALIASES.items()),
                  f"auto: the first of {', '.join(BACKENDS)} the model folder has files for"])


def resolve(path: Path, name: str = "auto") -> BackendInfo:
    """The backend `name` means for model folder `path`; a TaggerError if the folder lacks
    its files."""
    if name == "auto":
        for info in BACKENDS.values():
            if all((path / file).is_file() for file in info.files):
                return info
        raise TaggerError(f"{path} has none of the files a backend reads; give the folder "
                          "that 'tagger train --output' wrote")
    info = BACKENDS.get(ALIASES.get(name, name))
    if info is None:
        raise TaggerError(f"no backend {name!r}; choose one of {', '.join(CHOICES)}",
                          param="runtime")
    missing = [file for file in info.files if not (path / file).is_file()]
    if missing:
        raise TaggerError(f"{path} has no {', '.join(missing)} for the {info.name} backend; "
                          f"write one with 'tagger export {path} DIR --format onnx', or "
                          "choose another `runtime`", param="runtime")
    return info


def load(path: Path, config: ModelConfig, name: str = "auto", threads: int | None = None
         ) -> Any:
    """The backend `name` for model folder `path`."""
    info = resolve(path, name)
    return importlib.import_module(info.module).load(path, config, threads)
