"""The onnx backend: a model folder's `network.onnx` (and `chars.onnx`) in ONNX Runtime.

Importing it and loading a model take a fraction of a second and a fraction of
TensorFlow's memory: TensorFlow is never imported. ONNX Runtime's fused LSTM kernel runs
the whole recurrence in C++. The graphs are written by `tagger.export.onnx`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tagger import model_folder
from tagger.decoding import CrfScores
from tagger.errors import TaggerError
from tagger.model_folder import CHARS_NETWORK, ENCODER_NETWORK, NETWORK, ModelConfig


class OnnxBackend:
    """ONNX Runtime sessions of a model folder's graphs (see `tagger.backends`)."""

    name = "onnx"
    # Padded tokens and sentences per call: smaller batches than the keras backend's suit
    # ONNX Runtime (measured in the README's Speed section).
    max_batch_tokens = 4096
    max_batch_sentences = 128

    def __init__(self, session, chars_session, crfs: list[CrfScores | None],
                 encoder_session=None) -> None:
        self.session = session
        self.chars_session = chars_session
        self.encoder_session = encoder_session
        self.crfs = crfs
        self.char_size = chars_session.get_outputs()[0].shape[1] if chars_session else 0

    def char_features(self, chars: np.ndarray) -> np.ndarray:
        """`(words, chars)` character ids to `(words, char_size)` features."""
        return self.chars_session.run(None, {"chars": chars})[0]

    def encoder_states(self, subwords: np.ndarray) -> np.ndarray:
        """`(windows, S)` subword ids to the encoder's `(windows, S, layers, hidden)`."""
        return self.encoder_session.run(None, {"subwords": subwords})[0]

    def scores(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Each head's `(batch, T, labels)` scores of one padded batch."""
        return self.session.run(None, inputs)


def session_options(threads: int | None = None):
    """ONNX Runtime's options for a model folder's graphs: `threads` per call (default: its
    own choice, one per core)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or 0  # 0: ONNX Runtime's choice
    # Idle threads sleep rather than spin: batch tagging runs Python work (tokenizing,
    # records) on another thread at the same time.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # int8 weights (`export.int8_weights`) become float32 constants when the session starts,
    # rather than being converted again on every call.
    options.add_session_config_entry("session.disable_quant_qdq", "1")
    return options


def load(path: Path, config: ModelConfig, threads: int | None = None) -> OnnxBackend:
    """The graphs of model folder `path`. `threads`: ONNX Runtime's threads per call
    (default: its own choice, one per core)."""
    import onnxruntime

    options = session_options(threads)

    def session(name: str):
        try:
            return onnxruntime.InferenceSession(str(path / name), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as error:  # ONNX Runtime raises its own types for a bad file
            raise TaggerError(f"{path / name} cannot be loaded ({error}); export the "
                              "model again") from None

    def needed(name: str):
        if not (path / name).is_file():
            raise TaggerError(f"{path} has no {name}; export the model again")
        return session(name)

    chars = needed(CHARS_NETWORK) if config.char_vocab_size else None
    encoder = needed(ENCODER_NETWORK) if config.context_layers else None
    network = session(NETWORK)
    stored = network.get_modelmeta().custom_metadata_map
    # Graphs exported by taggers before 0.2 do not record their config.
    if "config" in stored and not model_folder.recorded_fits(stored["config"], config):
        raise TaggerError(f"{path / NETWORK} does not fit {model_folder.CONFIG} (it was "
                          "written for another model); restore the folder or retrain the "
                          "model")
    crfs: list[CrfScores | None] = []
    for index, head in enumerate(config.all_heads):
        crfs.append(None)
        if head.crf:
            try:
                crfs[-1] = CrfScores(*(np.asarray(json.loads(stored[crf_key(index, name)]),
                                                  np.float32) for name in CrfScores._fields))
            except (KeyError, ValueError) as error:
                raise TaggerError(f"{NETWORK} lacks the CRF's scores ({error}); export the "
                                  "model again") from None
    if len(network.get_outputs()) != len(crfs):
        raise TaggerError(f"{path / NETWORK} does not fit {model_folder.CONFIG} (it has "
                          f"{len(network.get_outputs())} heads, the config {len(crfs)}); "
                          "export the model again")
    return OnnxBackend(network, chars, crfs, encoder)


def crf_key(head: int, name: str) -> str:
    """The metadata key of a head's CRF scores `name` in network.onnx (the first head's as
    one-head models have always had it)."""
    return f"crf_{name}" if head == 0 else f"crf_{head}_{name}"
