"""Words to a BERT-family encoder's subword ids, in Python (no TensorFlow, no `tokenizers`).

The pipeline's tokens are the words; each is split as BERT's own tokenizer splits text
(clean control characters, lower-case and strip accents for an uncased vocabulary, cut
before and after punctuation and CJK ideographs) and each piece into the longest
vocabulary entries from its start, continuations prefixed `##`. A word never comes out
empty: one without any piece (control characters only) is `[UNK]`, so every word has a
first subword to take its features from.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from tagger.errors import TaggerError

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
MAX_PIECE_CHARS = 100  # longer pieces are [UNK], as in BERT
CACHE_WORDS = 500_000  # distinct words kept with their ids; past this the cache starts afresh
# CJK ideograph blocks BERT puts spaces around (its `_is_chinese_char`).
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_cjk(cp: int) -> bool:
    return any(low <= cp <= high for low, high in _CJK)


def _is_punctuation(char: str) -> bool:
    cp = ord(char)
    # ASCII symbols count as punctuation for BERT, as Unicode's P* categories do.
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or \
        unicodedata.category(char).startswith("P")


class WordPiece:
    """An encoder's vocabulary and how it splits words; `ids(word)` is cached per word."""

    def __init__(self, vocab: list[str], lowercase: bool, strip_accents: bool) -> None:
        self.vocab = vocab
        self.lowercase, self.strip_accents = lowercase, strip_accents
        self.index = {piece: i for i, piece in enumerate(vocab)}
        missing = [s for s in SPECIAL if s not in self.index]
        if missing:
            raise TaggerError(f"the encoder's vocabulary lacks {', '.join(missing)}; give a "
                              "BERT-family encoder folder", param="encoder")
        self.pad, self.unk, self.cls, self.sep = (self.index[s] for s in SPECIAL)
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def from_folder(cls, folder: Path) -> WordPiece:
        """The vocabulary of a Hugging Face encoder folder: `tokenizer.json` (a WordPiece
        model) or `vocab.txt` with `tokenizer_config.json`'s `do_lower_case`."""
        tokenizer = folder / "tokenizer.json"
        if tokenizer.is_file():
            data = json.loads(tokenizer.read_text(encoding="utf-8"))
            model, normalizer = data.get("model") or {}, data.get("normalizer") or {}
            if model.get("type") != "WordPiece":
                raise TaggerError(f"{tokenizer} holds a {model.get('type')} model; the "
                                  "encoder needs a WordPiece vocabulary (BERT's)",
                                  param="encoder")
            ranked = sorted(model["vocab"].items(), key=lambda item: item[1])
            vocab = [piece for piece, _ in ranked]
            lowercase = bool(normalizer.get("lowercase", False))
            strip = normalizer.get("strip_accents")
            return cls(vocab, lowercase, lowercase if strip is None else bool(strip))
        vocab_file = folder / "vocab.txt"
        if not vocab_file.is_file():
            raise TaggerError(f"{folder} has neither tokenizer.json nor vocab.txt; give the "
                              "folder of a BERT-family encoder in the Hugging Face layout",
                              param="encoder")
        vocab = vocab_file.read_text(encoding="utf-8").splitlines()
        settings = folder / "tokenizer_config.json"
        config = json.loads(settings.read_text(encoding="utf-8")) if settings.is_file() else {}
        lowercase = bool(config.get("do_lower_case", True))
        strip = config.get("strip_accents")
        return cls(vocab, lowercase, lowercase if strip is None else bool(strip))

    def settings(self) -> dict:
        """What `from_settings` needs beside the vocabulary (kept in a model folder)."""
        return {"lowercase": self.lowercase, "strip_accents": self.strip_accents}

    def pieces(self, word: str) -> list[str]:
        """The pieces BERT's basic tokenizer makes of `word`, before WordPiece."""
        chars = []
        for char in word:
            cp = ord(char)
            if cp == 0 or cp == 0xFFFD or (unicodedata.category(char).startswith("C")
                                           and char not in "\t\n\r"):
                continue
            space = char in " \t\n\r" or unicodedata.category(char) == "Zs"
            chars.append(" " if space else f" {char} " if _is_cjk(cp) else char)
        text = "".join(chars)
        if self.lowercase:  # code point by code point (no final sigma), as BERT's tokenizers
            text = "".join(c.lower() for c in text)
        if self.strip_accents:
            text = "".join(c for c in unicodedata.normalize("NFD", text)
                           if unicodedata.category(c) != "Mn")
        out: list[str] = []
        for chunk in text.split(" "):
            start = 0
            for i, char in enumerate(chunk):
                if _is_punctuation(char):
                    if i > start:
                        out.append(chunk[start:i])
                    out.append(char)
                    start = i + 1
            if start < len(chunk):
                out.append(chunk[start:])
        return out

    def ids(self, word: str) -> list[int]:
        """`word`'s subword ids (at least one)."""
        known = self._cache.get(word)
        if known is not None:
            return known
        ids: list[int] = []
        for piece in self.pieces(word):
            ids.extend(self._wordpiece(piece))
        ids = ids or [self.unk]
        if len(self._cache) >= CACHE_WORDS:
            self._cache.clear()
        self._cache[word] = ids
        return ids

    def _wordpiece(self, piece: str) -> list[int]:
        """Longest vocabulary entries first, from the start; [UNK] if any part has none."""
        if len(piece) > MAX_PIECE_CHARS:
            return [self.unk]
        out, start = [], 0
        while start < len(piece):
            end = len(piece)
            while end > start:
                candidate = piece[start:end] if start == 0 else "##" + piece[start:end]
                found = self.index.get(candidate)
                if found is not None:
                    out.append(found)
                    break
                end -= 1
            else:
                return [self.unk]
            start = end
        return out
