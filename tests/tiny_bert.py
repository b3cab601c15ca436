"""A tiny randomly initialised BERT, written in the Hugging Face folder layout the way
BertModel's `save_pretrained` and a `tokenizers` WordPiece tokenizer would write it, with a
safetensors writer of its own (so a bug in the project's reader is not mirrored here)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "in", "of", "paris", "berlin", "said", "police", "un", "##able",
         "##ing", "##ed", "zurich"]


def vocabulary() -> list[str]:
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    digits = [str(d) for d in range(10)]
    punctuation = list(".,;:!?'\"()-/&$%")
    return [*SPECIAL, *letters, *[f"##{c}" for c in letters + digits], *digits,
            *punctuation, *WORDS]


def write(folder: Path, *, hidden: int = 16, layers: int = 3, heads: int = 2,
          intermediate: int = 32, positions: int = 64, seed: int = 0, prefix: str = "",
          vocab_txt: bool = False, dtype: str = "F32") -> Path:
    """A BertModel folder at `folder`: config.json, model.safetensors and tokenizer.json (or
    vocab.txt); `prefix` "bert." as BertForTokenClassification saves it."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = vocabulary()
    rng = np.random.default_rng(seed)
    config = {"architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
              "hidden_size": hidden, "num_hidden_layers": layers,
              "num_attention_heads": heads, "intermediate_size": intermediate,
              "max_position_embeddings": positions, "type_vocab_size": 2,
              "vocab_size": len(vocab), "layer_norm_eps": 1e-12, "pad_token_id": 0,
              "position_embedding_type": "absolute"}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")

    def matrix(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.3, shape).astype(np.float32)

    arrays = {"embeddings.word_embeddings.weight": matrix(len(vocab), hidden),
              "embeddings.position_embeddings.weight": matrix(positions, hidden),
              "embeddings.token_type_embeddings.weight": matrix(2, hidden),
              "embeddings.LayerNorm.weight": 1 + matrix(hidden),
              "embeddings.LayerNorm.bias": matrix(hidden),
              "embeddings.position_ids": np.arange(positions, dtype=np.int64)[None]}
    for i in range(layers):
        layer = f"encoder.layer.{i}."
        for name, (out, inp) in {"attention.self.query": (hidden, hidden),
                                 "attention.self.key": (hidden, hidden),
                                 "attention.self.value": (hidden, hidden),
                                 "attention.output.dense": (hidden, hidden),
                                 "intermediate.dense": (intermediate, hidden),
                                 "output.dense": (hidden, intermediate)}.items():
            arrays[layer + name + ".weight"] = matrix(out, inp)
            arrays[layer + name + ".bias"] = matrix(out)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            arrays[layer + norm + ".weight"] = 1 + matrix(hidden)
            arrays[layer + norm + ".bias"] = matrix(hidden)
    arrays["pooler.dense.weight"] = matrix(hidden, hidden)  # a part the tagger never runs
    _write_safetensors(folder / "model.safetensors",
                       {prefix + name: value for name, value in arrays.items()}, dtype)
    if vocab_txt:
        (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}),
                                                      encoding="utf-8")
    else:
        tokenizer = {"version": "1.0", "normalizer": {
            "type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
            "strip_accents": None, "lowercase": True},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "model": {"type": "WordPiece", "unk_token": "[UNK]",
                      "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
                      "vocab": {piece: i for i, piece in enumerate(vocab)}}}
        (folder / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    return folder


def _write_safetensors(path: Path, arrays: dict[str, np.ndarray], dtype: str) -> None:
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, value in arrays.items():
        kind = "I64" if value.dtype == np.int64 else dtype
        if kind == "BF16":  # round-to-nearest-even is not needed for a test: truncate
            blob = (value.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
        else:
            blob = value.astype({"F32": np.float32, "F16": np.float16, "I64": np.int64}[kind])
        data = blob.tobytes()
        header[name] = {"dtype": kind, "shape": list(value.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))
