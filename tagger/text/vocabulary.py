"""The word vocabulary: id 0 is padding, id 1 stands for every unknown word."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from tagger.errors import TaggerError

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1


class Vocabulary:
    """Words and their ids, with the case handling they were built with."""

    def __init__(self, words: list[str], lowercase: bool = False,
                 rare_from: int | None = None) -> None:
        if words[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD} and {UNK}")
        self.words = words
        self.lowercase = lowercase
        # Ids from here on are words seen once in train (known only while building), the
        # ones word dropout replaces by UNK_ID so that the model learns to use UNK_ID.
        self.rare_from = len(words) if rare_from is None else rare_from
        # Ids from here on are words only a vector file brought in (see `extended`).
        self.extended_from = len(words)

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def build(cls, sentences: Iterable[list[str]], *, min_count: int = 1,
              max_size: int | None = None, lowercase: bool = False) -> Vocabulary:
        """Count words (lower-cased if asked) and keep the frequent ones, most frequent first."""
        counts = Counter(w.lower() if lowercase else w for s in sentences for w in s)
        # Ties are broken alphabetically so that the same corpus gives the same ids.
        ranked = sorted((w for w, c in counts.items() if c >= min_count),
                        key=lambda w: (-counts[w], w))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - 2)]
        frequent = sum(counts[w] > 1 for w in ranked)
        return cls([PAD, UNK, *ranked], lowercase, rare_from=frequent + 2)

    def extended(self, words: Iterable[str]) -> Vocabulary:
        """This vocabulary plus the `words` it lacks, whose ids follow the current ones.

        Words holding a line break are left out: vocab.txt stores one word per line, and no
        token ever holds one.
        """
        known = set(self.words[2:])
        extra = []
        for word in words:
            if word not in known and "\n" not in word:
                known.add(word)
                extra.append(word)
        grown = Vocabulary([*self.words, *extra], self.lowercase, self.rare_from)
        grown.extended_from = len(self.words)
        return grown

    def save(self, path: Path) -> None:
        path.write_text("".join(w + "\n" for w in self.words), encoding="utf-8")

    @classmethod
    def load(cls, path: Path, lowercase: bool) -> Vocabulary:
        return cls(read_words(path), lowercase)

    def ids(self) -> dict[str, int]:
        """Each word's id, without <pad> and <unk>: those literal strings in text are unknown
        words."""
        return dict(zip(self.words[2:], range(2, len(self.words)), strict=True))


def read_words(path: Path) -> list[str]:
    """The words of a model folder's vocab.txt, checked: <pad>, <unk>, then each word once."""
    try:
        words = path.read_text(encoding="utf-8").split("\n")[:-1]
    except (OSError, UnicodeDecodeError) as error:
        raise TaggerError(f"cannot read {path} ({error}); restore the folder or retrain "
                          "the model") from None
    if words[:2] != [PAD, UNK] or len(set(words[2:])) != len(words) - 2:
        raise TaggerError(f"{path} is damaged (it must start with {PAD} and {UNK} and "
                          "list each word once); restore the folder or retrain the model")
    return words
