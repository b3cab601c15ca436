"""A BERT-family encoder's weights and shape, read from a Hugging Face folder or a model
folder, in NumPy (no PyTorch, no TensorFlow, no `safetensors` package).

    Hugging Face folder: config.json (BertModel's), model.safetensors, tokenizer.json or
                         vocab.txt
    model folder:        encoder.json (`EncoderConfig` and the vocabulary's settings),
                         encoder.safetensors (the arrays the network runs, float32, under
                         BertModel's names), encoder_vocab.txt

The safetensors format is a little-endian u64 header size, a JSON header of each array's
dtype, shape and byte range, and the bytes.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagger.errors import TaggerError
from tagger.text.wordpiece import WordPiece

CONFIG = "encoder.json"
WEIGHTS = "encoder.safetensors"
VOCAB = "encoder_vocab.txt"
FILES = (CONFIG, WEIGHTS, VOCAB)
_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64,
           "I32": np.int32}


@dataclass(frozen=True)
class EncoderConfig:
    """The shape of a BERT encoder (BertModel's config.json, the parts this runs)."""

    hidden_size: int
    layers: int
    heads: int
    intermediate_size: int
    max_positions: int
    type_vocab_size: int
    vocab_size: int
    layer_norm_eps: float = 1e-12

    @classmethod
    def from_hugging_face(cls, data: dict, where: Path) -> EncoderConfig:
        def fail(why: str) -> TaggerError:
            return TaggerError(f"{where}: {why}; give a BERT-family encoder (BertModel's "
                               "layout)", param="encoder")

        if data.get("hidden_act", "gelu") != "gelu":
            raise fail(f"hidden_act {data.get('hidden_act')!r} is not supported (gelu is)")
        if data.get("position_embedding_type", "absolute") != "absolute":
            raise fail("only absolute position embeddings are supported")
        try:
            config = cls(int(data["hidden_size"]), int(data["num_hidden_layers"]),
                         int(data["num_attention_heads"]), int(data["intermediate_size"]),
                         int(data["max_position_embeddings"]),
                         int(data.get("type_vocab_size", 2)), int(data["vocab_size"]),
                         float(data.get("layer_norm_eps", 1e-12)))
        except (KeyError, TypeError, ValueError) as error:
            raise fail(f"config.json lacks or mangles {error}") from None
        if config.hidden_size % config.heads:
            raise fail("hidden_size is not a multiple of num_attention_heads")
        return config


@dataclass
class Checkpoint:
    """An encoder: its shape, its arrays under BertModel's names, its vocabulary."""

    config: EncoderConfig
    arrays: dict[str, np.ndarray]
    wordpiece: WordPiece
    name: str  # where it came from (the folder's name), for messages and config.json

    def save(self, folder: Path) -> None:
        """Write it into a model folder."""
        settings = {"config": dataclasses.asdict(self.config), "name": self.name,
                    "wordpiece": self.wordpiece.settings()}
        (folder / CONFIG).write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")
        write_safetensors(folder / WEIGHTS, self.arrays)
        (folder / VOCAB).write_text("\n".join(self.wordpiece.vocab) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Checkpoint:
        """The encoder a model folder holds."""
        settings = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        config = EncoderConfig(**settings["config"])
        return cls(config, read_safetensors(folder / WEIGHTS), read_wordpiece(folder),
                   settings["name"])


def read_wordpiece(folder: Path) -> WordPiece:
    """The encoder's vocabulary a model folder holds (without its weights)."""
    settings = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    vocab = (folder / VOCAB).read_text(encoding="utf-8").split("\n")[:-1]
    return WordPiece(vocab, **settings["wordpiece"])


def read_folder(folder: str | Path) -> Checkpoint:
    """The encoder of a Hugging Face folder (config.json, model.safetensors, tokenizer.json
    or vocab.txt); a TaggerError naming what is wrong otherwise."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TaggerError(f"{folder} is not a folder; give the folder of a BERT-family "
                          "encoder (config.json, model.safetensors, tokenizer.json)",
                          param="encoder")
    for needed in ("config.json", "model.safetensors"):
        if not (folder / needed).is_file():
            raise TaggerError(f"{folder} has no {needed}; give the folder of a BERT-family "
                              "encoder in the Hugging Face layout", param="encoder")
    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise TaggerError(f"{folder / 'config.json'} cannot be read ({error})",
                          param="encoder") from None
    config = EncoderConfig.from_hugging_face(data, folder / "config.json")
    stored = read_safetensors(folder / "model.safetensors")
    # Checkpoints saved from BertForX carry a "bert." prefix; the heads' arrays are unused.
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in stored else ""
    arrays = {}
    for name in parameter_names(config):
        value = stored.get(prefix + name)
        if value is None and name.endswith("LayerNorm.weight"):  # older checkpoints' names
            value = stored.get(prefix + name.replace(".weight", ".gamma"))
        elif value is None and name.endswith("LayerNorm.bias"):
            value = stored.get(prefix + name.replace(".bias", ".beta"))
        if value is None:
            raise TaggerError(f"{folder / 'model.safetensors'} has no {prefix + name}; give "
                              "a BERT-family encoder (BertModel's layout)", param="encoder")
        arrays[name] = np.ascontiguousarray(value, np.float32)
    wordpiece = WordPiece.from_folder(folder)
    # Some checkpoints pad their embedding table past the vocabulary; never the reverse.
    if len(wordpiece.vocab) > config.vocab_size:
        raise TaggerError(f"{folder}: the vocabulary has {len(wordpiece.vocab)} entries, "
                          f"config.json's vocab_size is {config.vocab_size}; give the "
                          "tokenizer of that encoder", param="encoder")
    return Checkpoint(config, arrays, wordpiece, folder.name)


def parameter_names(config: EncoderConfig) -> list[str]:
    """BertModel's names of the arrays the encoder runs (no pooler)."""
    names = [f"embeddings.{n}" for n in ("word_embeddings.weight",
                                         "position_embeddings.weight",
                                         "token_type_embeddings.weight", "LayerNorm.weight",
                                         "LayerNorm.bias")]
    for i in range(config.layers):
        layer = f"encoder.layer.{i}."
        for part in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense", "intermediate.dense", "output.dense"):
            names += [f"{layer}{part}.weight", f"{layer}{part}.bias"]
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            names += [f"{layer}{norm}.weight", f"{layer}{norm}.bias"]
    return names


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every array of a safetensors file (bfloat16 ones as float32)."""
    try:
        with open(path, "rb") as file:
            size = struct.unpack("<Q", file.read(8))[0]
            header = json.loads(file.read(size))
            data = file.read()
    except (OSError, struct.error, ValueError) as error:
        raise TaggerError(f"{path} is not a safetensors file ({error})",
                          param="encoder") from None
    arrays = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = data[begin:end]
        if entry["dtype"] == "BF16":  # the upper half of a float32
            value = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif entry["dtype"] in _DTYPES:
            value = np.frombuffer(raw, _DTYPES[entry["dtype"]])
        else:
            continue  # dtypes the encoder never needs (bool, int8 buffers)
        arrays[name] = value.reshape(entry["shape"])
    return arrays


def write_safetensors(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """`arrays` (float32) as a safetensors file."""
    header, offset, blobs = {}, 0, []
    for name, value in arrays.items():
        blob = np.ascontiguousarray(value, np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(value.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format aligns the data to 8 bytes
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(encoded)))
        file.write(encoded)
        for blob in blobs:
            file.write(blob)
