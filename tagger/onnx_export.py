"""The network of a trained tagger as an ONNX graph, for tagging without TensorFlow.

    tagger export models/conll models/conll-onnx --format onnx

writes a copy of the model folder with `network.onnx` (and `chars.onnx` for a model with
character features) added. `tagger tag` (and the Python API, `runtimes.load_tagger`) runs
such a folder in ONNX Runtime, whose fused LSTM kernel runs the whole recurrence in C++;
tokenizing, lookups and decoding run in Python and NumPy (`tokenizing.split`,
`features.ArrayFeaturizer`, `decoding`), so TensorFlow is never imported.

The character model is a graph of its own because a word's character features depend on
the word alone: the tagger runs it once per distinct word and keeps the result.

    chars.onnx    chars [words, C] int32 -> char_features [words, F] float32
                  (an ensemble's members' features side by side)
    network.onnx  words [batch, T] int32, char_features [batch, T, F] float32 (if the model
                  has them), casing [batch, T] int32 (if), lengths [batch] int32 (>= 1)
                  -> scores [batch, T, labels] float32: emission scores for a CRF head,
                  probabilities for a softmax head (an ensemble's average)

The CRF's transition, start and end scores ride along in network.onnx's metadata
(`crf_transitions`, `crf_start`, `crf_end`, JSON lists).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import keras
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tagger.model import CharCNN, CharLSTM, PretrainedEmbedding
from tagger.onnx_tagging import CHARS_NETWORK, NETWORK
from tagger.tagging import Tagger

OPSET = 17


def export_onnx(tagger: Tagger, path: str | Path, *, force: bool = False,
                int8: bool = False) -> None:
    """Write `tagger` as model folder `path` with its network as ONNX graphs too. With
    `int8`, the network's LSTM and Dense weights are stored as 8-bit integers and its
    activations quantized per call (ONNX Runtime's dynamic quantization): about 1.9 times
    the network's speed, with a few tags that differ (see the README)."""
    network = network_graph(tagger)
    files = {NETWORK: (int8_weights(network) if int8 else network).SerializeToString()}
    if tagger.config.char_vocab_size:
        files[CHARS_NETWORK] = chars_graph(tagger).SerializeToString()
    tagger.save(path, force=force, extra=files)


def int8_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with int8 weights in its LSTM and MatMul nodes, activations quantized per
    call; its metadata (the CRF's scores) kept."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "int8.onnx"
        quantize_dynamic(model, out, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["LSTM", "MatMul"])
        quantized = onnx.load(out)
    del quantized.metadata_props[:]
    helper.set_model_props(quantized, {**{p.key: p.value for p in model.metadata_props},
                                       "weights": "int8"})
    return quantized


def _encoders(tagger: Tagger) -> list[keras.Model]:
    encoder = tagger.model.encoder
    if tagger.config.members == 1:
        return [encoder]
    return [encoder.get_layer(f"member_{i}") for i in range(tagger.config.members)]


def _char_layer(encoder: keras.Model) -> CharCNN | CharLSTM:
    names = {layer.name for layer in encoder.layers}
    return encoder.get_layer("char_cnn" if "char_cnn" in names else "char_lstm")


def _model(g: _Graph, inputs: dict[str, tuple[int, list]], output: str, shape: list
           ) -> onnx.ModelProto:
    graph = helper.make_graph(
        g.nodes, "tagger",
        [helper.make_tensor_value_info(name, kind, dims) for name, (kind, dims) in
         inputs.items()],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, shape)], g.initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                             producer_name="tagger")


def chars_graph(tagger: Tagger) -> onnx.ModelProto:
    """Each word's character features (every member's, side by side) as an ONNX model."""
    g = _Graph()
    layers = [_char_layer(encoder) for encoder in _encoders(tagger)]
    pieces = [_char_cnn(g, layer) if isinstance(layer, CharCNN) else _char_lstm(g, layer)
              for layer in layers]
    g.node("Concat", pieces, "char_features", axis=-1)
    size = sum(_char_size(layer) for layer in layers)
    model = _model(g, {"chars": (TensorProto.INT32, ["words", "C"])}, "char_features",
                   ["words", size])
    onnx.checker.check_model(model)
    return model


def _char_size(layer: CharCNN | CharLSTM) -> int:
    return layer.filters if isinstance(layer, CharCNN) else layer.size


def network_graph(tagger: Tagger) -> onnx.ModelProto:
    """The tagger's network from word ids, character features and casing classes to
    per-step scores (encoders and their average; no decoding) as an ONNX model."""
    config = tagger.config
    g = _Graph()
    members, offset = [], 0
    for encoder in _encoders(tagger):
        members.append(_encoder(g, encoder, offset))
        if config.char_vocab_size:
            offset += _char_size(_char_layer(encoder))
    g.node("Mean" if len(members) > 1 else "Identity", members, "scores")
    inputs = {"words": (TensorProto.INT32, ["batch", "T"])}
    if config.char_vocab_size:
        inputs["char_features"] = (TensorProto.FLOAT, ["batch", "T", offset])
    if config.casing_size:
        inputs["casing"] = (TensorProto.INT32, ["batch", "T"])
    inputs["lengths"] = (TensorProto.INT32, ["batch"])
    model = _model(g, inputs, "scores", ["batch", "T", len(config.network_labels)])
    if tagger.model.crf is not None:
        crf = tagger.model.crf
        helper.set_model_props(model, {
            f"crf_{name}": json.dumps(_array(weight).tolist())
            for name, weight in (("transitions", crf.transitions), ("start", crf.start),
                                 ("end", crf.end))})
    onnx.checker.check_model(model)
    return model


def _array(weight) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(weight))


class _Graph:
    """Nodes and initializers under construction, each output named uniquely."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def constant(self, value: np.ndarray, hint: str = "const") -> str:
        name = self._name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, **attributes
             ) -> str:
        """Add a node with one output (named `output` if given); returns its name."""
        return self.nodes_out(op, inputs, 1, output, **attributes)[0]

    def nodes_out(self, op: str, inputs: list[str], outputs: int, output: str | None = None,
                  **attributes) -> list[str]:
        names = [output] if output else [self._name(op.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, **attributes))
        return names


def _encoder(g: _Graph, encoder: keras.Model, char_offset: int) -> str:
    """One encoder: features -> (Bi)LSTM layers -> per-step scores; returns the output.
    Its character features are `char_features[..., char_offset:]`."""
    words = "words"
    embedding = encoder.get_layer("word_embedding")
    if isinstance(embedding, PretrainedEmbedding):
        pieces = [_pretrained_embedding(g, embedding, words)]
    else:
        pieces = [g.node("Gather", [g.constant(_array(embedding.embeddings), "words"), words])]
    names = {layer.name for layer in encoder.layers}
    if "char_cnn" in names or "char_lstm" in names:
        size = _char_size(_char_layer(encoder))
        pieces.append(g.node("Slice", ["char_features",
                                       g.constant(np.array([char_offset], np.int64)),
                                       g.constant(np.array([char_offset + size], np.int64)),
                                       g.constant(np.array([2], np.int64))]))
    if "casing_embedding" in names:
        table = _array(encoder.get_layer("casing_embedding").embeddings)
        pieces.append(g.node("Gather", [g.constant(table, "casing"), "casing"]))
    x = pieces[0] if len(pieces) == 1 else g.node("Concat", pieces, axis=-1)
    layer = 0
    while f"bilstm_{layer}" in names or f"lstm_{layer}" in names:
        if f"bilstm_{layer}" in names:
            wrapper = encoder.get_layer(f"bilstm_{layer}")
            cells = [wrapper.forward_layer, wrapper.backward_layer]
        else:
            cells = [encoder.get_layer(f"lstm_{layer}")]
        x = _lstm_layer(g, x, cells)
        layer += 1
    dense = encoder.get_layer("emissions" if "emissions" in names else "tags")
    scores = g.node("Add", [g.node("MatMul", [x, g.constant(_array(dense.kernel), "dense")]),
                            g.constant(_array(dense.bias), "bias")])
    if "tags" in names:  # a softmax head
        scores = g.node("Softmax", [scores], axis=-1)
    return scores


def _pretrained_embedding(g: _Graph, layer: PretrainedEmbedding, words: str) -> str:
    """frozen[id] (float16) + tuned[id] for the train words, as PretrainedEmbedding.call."""
    frozen = _array(layer.frozen)
    tuned = _array(layer.tuned)
    if not layer.tune_pretrained:  # only rows without a vector learn
        tuned = tuned * np.all(frozen[: layer.tuned_rows] == 0, axis=1)[:, None]
    last = g.constant(np.array(layer.tuned_rows - 1, np.int32), "last")
    vectors = g.node("Cast", [g.node("Gather", [g.constant(frozen, "frozen"), words])],
                     to=TensorProto.FLOAT)
    learned = g.node("Gather", [g.constant(tuned, "tuned"), g.node("Min", [words, last])])
    learns = g.node("Cast", [g.node("Less", [words, g.constant(
        np.array(layer.tuned_rows, np.int32), "rows")])], to=TensorProto.FLOAT)
    learns = g.node("Unsqueeze", [learns, g.constant(np.array([-1], np.int64), "axis")])
    return g.node("Add", [vectors, g.node("Mul", [learned, learns])])


def _char_cnn(g: _Graph, layer: CharCNN) -> str:
    """CharCNN.call on chars [words, C]: each kernel position as a (characters, filters)
    table, summed over the neighbours, ReLU, max over the word's real characters (0 for a
    word without any)."""
    embeddings = _array(layer.embedding.embeddings).copy()
    embeddings[0] = 0.0  # padding contributes nothing, as the convolution's zero padding
    kernel = _array(layer.conv.kernel)  # (width, dim, filters)
    left = (layer.width - 1) // 2
    chars = "chars"
    padded = g.node("Pad", [chars, g.constant(
        np.array([0, left, 0, layer.width - 1 - left], np.int64), "pads")])
    width = g.node("Shape", [chars])
    length = g.node("Slice", [width, g.constant(np.array([1], np.int64)),
                              g.constant(np.array([2], np.int64))])
    out = g.constant(_array(layer.conv.bias), "bias")
    for j in range(layer.width):
        table = g.constant(np.einsum("vd,df->vf", embeddings, kernel[j]).astype(np.float32),
                           "table")
        begin = g.constant(np.array([j], np.int64))
        neighbours = g.node("Slice", [padded, begin, g.node("Add", [begin, length]),
                                      g.constant(np.array([1], np.int64))])
        out = g.node("Add", [out, g.node("Gather", [table, neighbours])])
    real = g.node("Cast", [g.node("Greater", [chars, g.constant(np.array(0, np.int32))])],
                  to=TensorProto.FLOAT)
    real = g.node("Unsqueeze", [real, g.constant(np.array([-1], np.int64), "axis")])
    return g.node("ReduceMax", [g.node("Mul", [g.node("Relu", [out]), real])], axes=[1],
                  keepdims=0)


def _char_lstm(g: _Graph, layer: CharLSTM) -> str:
    """CharLSTM.call on chars [words, C]: a BiLSTM over each word's characters, its two
    final states (zeros for a word without characters)."""
    chars = "chars"
    real = g.node("Cast", [g.node("Greater", [chars, g.constant(np.array(0, np.int32))])],
                  to=TensorProto.INT32)
    lengths = g.node("ReduceSum", [real, g.constant(np.array([1], np.int64))], keepdims=0)
    # ONNX's LSTM wants lengths >= 1; words without characters are zeroed after it.
    safe = g.node("Max", [lengths, g.constant(np.array(1, np.int32))])
    x = g.node("Transpose", [g.node("Gather", [
        g.constant(_array(layer.embedding.embeddings), "chars"), chars])], perm=[1, 0, 2])
    cells = [layer.bilstm.forward_layer, layer.bilstm.backward_layer]
    _, final, _ = g.nodes_out("LSTM", [x, *_lstm_weights(g, cells), safe], 3,
                              direction="bidirectional", hidden_size=layer.size // 2)
    states = g.node("Reshape", [g.node("Transpose", [final], perm=[1, 0, 2]),
                                g.constant(np.array([0, -1], np.int64))])
    has_chars = g.node("Cast", [g.node("Greater", [lengths, g.constant(
        np.array(0, np.int32))])], to=TensorProto.FLOAT)
    return g.node("Mul", [states, g.node("Unsqueeze", [
        has_chars, g.constant(np.array([-1], np.int64))])])


def _lstm_weights(g: _Graph, cells: list) -> list[str]:
    """W, R, B of ONNX's LSTM from Keras LSTM layers (one per direction).

    Keras orders the gates i, f, c, o; ONNX i, o, f, c. Keras has one bias, ONNX two
    (summed): the recurrent one is zero.
    """
    def reorder(matrix: np.ndarray) -> np.ndarray:
        i, f, c, o = np.split(matrix, 4, axis=-1)
        return np.concatenate([i, o, f, c], axis=-1)

    kernels = [_array(cell.cell.kernel) for cell in cells]
    recurrent = [_array(cell.cell.recurrent_kernel) for cell in cells]
    biases = [_array(cell.cell.bias) for cell in cells]
    w = np.stack([reorder(k).T for k in kernels])
    r = np.stack([reorder(k).T for k in recurrent])
    b = np.stack([np.concatenate([reorder(v), np.zeros_like(v)]) for v in biases])
    return [g.constant(w, "W"), g.constant(r, "R"), g.constant(b, "B")]


def _lstm_layer(g: _Graph, x: str, cells: list) -> str:
    """[batch, T, D] -> [batch, T, directions * units], zeros after each sentence's end."""
    units = cells[0].units
    direction = "bidirectional" if len(cells) == 2 else "forward"
    steps_first = g.node("Transpose", [x], perm=[1, 0, 2])
    y = g.nodes_out("LSTM", [steps_first, *_lstm_weights(g, cells), "lengths"], 1,
                    direction=direction, hidden_size=units)[0]  # [T, dirs, batch, units]
    return g.node("Reshape", [g.node("Transpose", [y], perm=[2, 0, 1, 3]),
                              g.constant(np.array([0, 0, -1], np.int64))])
