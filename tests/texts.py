"""Texts several tests tag: odd inputs, and the raw text of the shared corpora."""

from __future__ import annotations

from pathlib import Path

from tagger import conll

from .conftest import SHARED

RAW = SHARED / "raw"
EWT_DEV = RAW / "ud_en_ewt" / "en_ewt-ud-dev.conllu"
ODD = ["", "   ", "\t\n", "😀", "Zürich 😀 🇩🇪 e\u0301 naïve café", "שלום עולם", "a\u200bb",
       "Ünïcödé\u0000with NUL", "x" * 3000, " ".join(["Angela Merkel visited Paris ."] * 400)]


def conllu_texts(path: Path = EWT_DEV) -> list[str]:
    """The `# text =` lines of a CoNLL-U file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line[len("# text = "):] for line in lines if line.startswith("# text = ")]


def conll_texts(path: Path) -> list[str]:
    """Each sentence of a CoNLL file (tokens in the first column) joined by spaces."""
    with conll.open_text(path) as handle:
        return [" ".join(row[0] for row in rows)
                for rows in conll.conll_sentences(handle, str(path))]


def corpus_texts() -> list[str]:
    """The raw text of every shared corpus: EWT's `# text` lines, CoNLL-2003's and
    WNUT-17's sentences joined by spaces."""
    texts = []
    for path in sorted((RAW / "ud_en_ewt").glob("*.conllu")):
        texts += conllu_texts(path)
    for path in [*sorted((RAW / "conll2003").iterdir()), *sorted((RAW / "wnut_17").iterdir())]:
        texts += conll_texts(path)
    return texts
