"""A trained network as ONNX graphs, for the onnx backend (written into every model folder
by `Tagger.save`; `tagger export --format onnx --int8` writes a copy with int8 weights).

The character model is a graph of its own because a word's character features depend on
the word alone: the pipeline runs it once per distinct word and keeps the result.

    chars.onnx    chars [words, C] int32 -> char_features [words, F] float32
                  (an ensemble's members' features side by side)
    encoder.onnx  subwords [windows, S] int32 (0 padding) -> states [windows, S, L, H]
                  float32: the contextual encoder's top L layers (a model with an encoder)
    network.onnx  words [batch, T] int32, char_features [batch, T, F] float32 (if the model
                  has them), casing [batch, T] int32 (if), context [batch, T, L, H] float32
                  (if it has an encoder), lengths [batch] int32 (>= 1)
                  -> scores [batch, T, labels] float32: emission scores for a CRF head,
                  probabilities for a softmax head (an ensemble's average); and one
                  output more per further head, `scores_<column>`, in the heads' order
                  (each head's nodes are its own: `heads.TagHead.onnx`)

A CRF's transition, start and end scores ride along in network.onnx's metadata
(`crf_transitions`, `crf_start`, `crf_end`, JSON lists; `crf_<head>_...` for heads after
the first), and so does the model's config.json content (`config`), so that a network is
never run with another model's config.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import keras
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tagger.backends.keras.network import (
    CharCNN,
    CharLSTM,
    ContextMix,
    EncoderParts,
    PretrainedEmbedding,
    TaggerModel,
)
from tagger.backends.onnx.backend import crf_key
from tagger.encoders.checkpoint import Checkpoint
from tagger.heads.tags import TagHead
from tagger.model_folder import CHARS_NETWORK, ENCODER_NETWORK, NETWORK, ModelConfig

OPSET = 17


def graphs(model: TaggerModel, config: ModelConfig, checkpoint: Checkpoint | None = None,
           *, int8: bool = False) -> dict[str, bytes]:
    """The model folder files of `model`'s ONNX graphs (and of its encoder, `checkpoint`).
    With `int8`, the network's weights and the encoder's (those by default: the
    `encoder_int8` setting) are stored as 8-bit integers (`int8_weights`)."""
    network = network_graph(model, config)
    files = {NETWORK: (int8_weights(network) if int8 else network).SerializeToString()}
    if config.char_vocab_size:
        files[CHARS_NETWORK] = chars_graph(model).SerializeToString()
    if config.context_layers:
        encoder = encoder_graph(checkpoint, config.context_layers)
        quantize = int8 or config.settings.features.encoder_int8
        files[ENCODER_NETWORK] = (int8_weights(encoder) if quantize
                                  else encoder).SerializeToString()
    return files


def int8_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with its LSTM weights, the constant matrices of its MatMul nodes and its
    embedding tables stored as int8 with a float32 scale per channel (per row for a table),
    turned back into float32 by DequantizeLinear;
    everything else, activations included, stays float32; its metadata kept, marked
    "weights": "int8".

    Activations are not quantized: ONNX Runtime's dynamic quantization takes one scale per
    call for a whole batch, so a text's tags changed with the texts beside it, and on CPUs
    without VNNI its u8 x s8 products saturate (docs/experiments.md, int8). Stored this
    way a text's tags never depend on its neighbours, on any CPU; the files are about a
    quarter of the size, and the onnx backend turns the weights back into float32 once,
    when it loads them, so the network runs at float32's speed (scripts/bench_precision.py
    measures both)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    # Each weight and the axis of its channels (a scale each): LSTM W and R are
    # [directions, 4 x units, inputs], a MatMul's constant B [inputs, outputs], an
    # embedding table (a Gather's data) [rows, dimensions].
    weights: dict[str, int] = {}
    for node in graph.node:
        if node.op_type == "LSTM":
            weights.update({name: 1 for name in node.input[1:3]})
        elif node.op_type == "MatMul" and node.input[1] in initializers:
            weights[node.input[1]] = 1
        elif node.op_type == "Gather" and node.input[0] in initializers:
            table = initializers[node.input[0]]
            # A pretrained table is stored as float16 (`_pretrained_embedding`).
            if table.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16) \
                    and len(table.dims) == 2:
                weights[node.input[0]] = 0
    dequantize = []
    for name, axis in weights.items():
        tensor = initializers[name]
        values = numpy_helper.to_array(tensor).astype(np.float32)
        others = tuple(a for a in range(values.ndim) if a != axis)
        scale = np.abs(values).max(axis=others) / 127
        scale[scale == 0] = 1.0
        shape = [-1 if a == axis else 1 for a in range(values.ndim)]
        stored = np.clip(np.rint(values / scale.reshape(shape)), -127, 127).astype(np.int8)
        graph.initializer.remove(tensor)
        graph.initializer.extend([
            numpy_helper.from_array(stored, f"{name}_int8"),
            numpy_helper.from_array(scale.astype(np.float32), f"{name}_scale"),
            numpy_helper.from_array(np.zeros_like(scale, np.int8), f"{name}_zero")])
        # DequantizeLinear gives float32 (opset 17): a float16 table is cast back.
        half = tensor.data_type == TensorProto.FLOAT16
        dequantize.append(helper.make_node(
            "DequantizeLinear", [f"{name}_int8", f"{name}_scale", f"{name}_zero"],
            [f"{name}_float32" if half else name], axis=axis))
        if half:
            dequantize.append(helper.make_node("Cast", [f"{name}_float32"], [name],
                                               to=TensorProto.FLOAT16))
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(dequantize + nodes)
    helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props},
                                   "weights": "int8"})
    onnx.checker.check_model(model)
    return model


def _model(g: _Graph, inputs: dict[str, tuple[int, list]], outputs: dict[str, list]
           ) -> onnx.ModelProto:
    graph = helper.make_graph(
        g.nodes, "tagger",
        [helper.make_tensor_value_info(name, kind, dims) for name, (kind, dims) in
         inputs.items()],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
         for name, shape in outputs.items()], g.initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                             producer_name="tagger")


def chars_graph(model: TaggerModel) -> onnx.ModelProto:
    """Each word's character features (every member's, side by side) as an ONNX model."""
    g = _Graph()
    pieces = [_char_cnn(g, part.chars) if isinstance(part.chars, CharCNN)
              else _char_lstm(g, part.chars) for part in model.parts]
    g.node("Concat", pieces, "char_features", axis=-1)
    size = sum(part.char_size for part in model.parts)
    graph = _model(g, {"chars": (TensorProto.INT32, ["words", "C"])},
                   {"char_features": ["words", size]})
    onnx.checker.check_model(graph)
    return graph


def network_graph(model: TaggerModel, config: ModelConfig) -> onnx.ModelProto:
    """The network from word ids, character features and casing classes to each head's
    per-step scores (encoders and their average; no decoding) as an ONNX model."""
    g = _Graph()
    members, offset = [], 0
    for part in model.parts:
        members.append(_encoder(g, part, model.heads, offset))
        offset += part.char_size
    outputs = {}
    for index, head in enumerate(model.heads):
        name = output_name(index, head.column)
        g.node("Mean" if len(members) > 1 else "Identity",
               [scores[index] for scores in members], name)
        outputs[name] = ["batch", "T", head.size]
    inputs = {"words": (TensorProto.INT32, ["batch", "T"])}
    if config.char_vocab_size:
        inputs["char_features"] = (TensorProto.FLOAT, ["batch", "T", offset])
    if config.casing_size:
        inputs["casing"] = (TensorProto.INT32, ["batch", "T"])
    if config.context_layers:
        inputs["context"] = (TensorProto.FLOAT, ["batch", "T", config.context_layers,
                                                 config.context_dim])
    inputs["lengths"] = (TensorProto.INT32, ["batch"])
    graph = _model(g, inputs, outputs)
    metadata = {"config": config.canonical_json()}
    for index, crf in enumerate(model.crfs):
        if crf is not None:
            metadata.update({crf_key(index, name): json.dumps(_array(weight).tolist())
                             for name, weight in (("transitions", crf.transitions),
                                                  ("start", crf.start), ("end", crf.end))})
    helper.set_model_props(graph, metadata)
    onnx.checker.check_model(graph)
    return graph


def output_name(index: int, column: str) -> str:
    """network.onnx's output of a head: `scores` for the first, as one-head models have it."""
    return "scores" if index == 0 else f"scores_{column}"


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


def _encoder(g: _Graph, part: EncoderParts, model_heads: Sequence[TagHead], char_offset: int
             ) -> list[str]:
    """One encoder: features -> (Bi)LSTM layers -> each head's per-step scores; returns
    the outputs. Its character features are `char_features[..., char_offset:]`."""
    words = "words"
    embedding = part.word_embedding
    if isinstance(embedding, PretrainedEmbedding):
        pieces = [_pretrained_embedding(g, embedding, words)]
    else:
        pieces = [g.node("Gather", [g.constant(_array(embedding.embeddings), "words"), words])]
    if part.chars is not None:
        pieces.append(g.node("Slice", ["char_features",
                                       g.constant(np.array([char_offset], np.int64)),
                                       g.constant(np.array([char_offset + part.char_size],
                                                           np.int64)),
                                       g.constant(np.array([2], np.int64))]))
    if part.casing is not None:
        pieces.append(g.node("Gather", [g.constant(_array(part.casing.embeddings), "casing"),
                                        "casing"]))
    if part.context is not None:
        pieces.append(_context_mix(g, part.context))
    x = pieces[0] if len(pieces) == 1 else g.node("Concat", pieces, axis=-1)
    for layer in part.recurrent:
        cells = [layer.forward_layer, layer.backward_layer] \
            if isinstance(layer, keras.layers.Bidirectional) else [layer]
        x = _lstm_layer(g, x, cells)
    return [head.onnx(g, x, dense) for head, dense in zip(model_heads, part.outputs,
                                                          strict=True)]


def _context_mix(g: _Graph, mix: ContextMix) -> str:
    """ContextMix.call on context [batch, T, L, H]: the layers' weighted sum, scaled."""
    weights = mix.layer_weights().astype(np.float32).reshape(-1, 1)  # (L, 1)
    return g.node("ReduceSum", [g.node("Mul", [g.constant(weights, "mix"), "context"]),
                                g.constant(np.array([2], np.int64))], keepdims=0)


def encoder_graph(checkpoint: Checkpoint, layers: int) -> onnx.ModelProto:
    """BertEncoder.call as an ONNX model: subwords [windows, S] -> states
    [windows, S, layers, hidden], the same operations in the same order."""
    config, w = checkpoint.config, checkpoint.arrays
    g = _Graph()
    heads, size = config.heads, config.hidden_size // config.heads

    def const(name: str, transpose: bool = False) -> str:
        return g.constant(w[name].T.copy() if transpose else w[name], name.replace(".", "_"))

    def norm(x: str, name: str) -> str:
        return g.node("LayerNormalization", [x, const(name + ".weight"), const(name + ".bias")],
                      axis=-1, epsilon=config.layer_norm_eps)

    def dense(x: str, name: str) -> str:
        return g.node("Add", [g.node("MatMul", [x, const(name + ".weight", True)]),
                              const(name + ".bias")])

    subwords = "subwords"
    steps = g.node("Squeeze", [g.node("Slice", [g.node("Shape", [subwords]),
                                                g.constant(np.array([1], np.int64)),
                                                g.constant(np.array([2], np.int64))]),
                               g.constant(np.array([0], np.int64))])
    positions = g.node("Range", [g.constant(np.array(0, np.int64)), steps,
                                 g.constant(np.array(1, np.int64))])
    x = g.node("Add", [g.node("Gather", [const("embeddings.word_embeddings.weight"),
                                         subwords]),
                       g.node("Gather", [const("embeddings.position_embeddings.weight"),
                                         positions])])
    x = g.node("Add", [x, g.constant(w["embeddings.token_type_embeddings.weight"][0],
                                     "segment")])
    x = norm(x, "embeddings.LayerNorm")
    padded = g.node("Cast", [g.node("Equal", [subwords, g.constant(
        np.array(checkpoint.wordpiece.pad, np.int32))])], to=TensorProto.FLOAT)
    blocked = g.node("Mul", [g.node("Unsqueeze", [padded, g.constant(
        np.array([1, 2], np.int64))]), g.constant(np.array(-1e9, np.float32))])
    split_shape = g.constant(np.array([0, 0, heads, size], np.int64))
    outputs = []
    for i in range(config.layers):
        layer = f"encoder.layer.{i}."

        def split(name: str, perm: list[int]) -> str:
            return g.node("Transpose", [g.node("Reshape", [dense(x, layer + name),  # noqa: B023
                                                           split_shape])], perm=perm)

        q = split("attention.self.query", [0, 2, 1, 3])
        k = split("attention.self.key", [0, 2, 3, 1])  # (batch, heads, size, steps)
        v = split("attention.self.value", [0, 2, 1, 3])
        scores = g.node("Add", [g.node("Mul", [g.node("MatMul", [q, k]), g.constant(
            np.array(1 / np.sqrt(size), np.float32))]), blocked])
        attended = g.node("MatMul", [g.node("Softmax", [scores], axis=-1), v])
        attended = g.node("Reshape", [g.node("Transpose", [attended], perm=[0, 2, 1, 3]),
                                      g.constant(np.array([0, 0, -1], np.int64))])
        x = norm(g.node("Add", [x, dense(attended, layer + "attention.output.dense")]),
                 layer + "attention.output.LayerNorm")
        hidden = dense(x, layer + "intermediate.dense")
        hidden = g.node("Mul", [hidden, g.node("Mul", [g.constant(np.array(0.5, np.float32)),
            g.node("Add", [g.constant(np.array(1.0, np.float32)), g.node("Erf", [
                g.node("Mul", [hidden, g.constant(np.array(1 / np.sqrt(2), np.float32))])])])])])
        x = norm(g.node("Add", [x, dense(hidden, layer + "output.dense")]),
                 layer + "output.LayerNorm")
        outputs.append(x)
    axis = g.constant(np.array([2], np.int64))
    g.node("Concat", [g.node("Unsqueeze", [out, axis]) for out in outputs[-layers:]],
           "states", axis=2)
    graph = _model(g, {subwords: (TensorProto.INT32, ["windows", "S"])},
                   {"states": ["windows", "S", layers, config.hidden_size]})
    onnx.checker.check_model(graph)
    return graph


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
