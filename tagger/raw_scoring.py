"""Scores from raw text, counted as the CoNLL 2018 shared task's scorer counts them.

A model tags each sentence's raw text (CoNLL-U's `# text`), tokenizing it itself. Its
tokens are then aligned with the treebank's by their characters: a token is right when it
covers exactly the characters of a gold token. The treebank's tokens are its surface
tokens (a multiword token such as German `zum` is one), its words the syntactic words
(`zu` `dem`); a system word inside a multiword token's span is matched with the gold words
there by the longest common subsequence of their lower-cased forms. UPOS is scored on the
aligned words. Each measure is an F1 of precision (over the system's) and recall (over the
gold's). Sentences are scored one by one: the gold sentence boundaries are given, as
`# text` gives them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tagger import conll
from tagger.errors import TaggerError
from tagger.evaluation import prf


@dataclass
class GoldSentence:
    """A treebank sentence: its text, its surface tokens' character offsets, and its words
    as (index of the token that holds it, form, tag)."""

    text: str
    tokens: list[tuple[int, int]] = field(default_factory=list)
    words: list[tuple[int, str, str]] = field(default_factory=list)


def read_conllu(path: Path, tag_column: str = "upos") -> list[GoldSentence]:
    """The sentences of a CoNLL-U file with their `# text`, tokens located in it, and each
    word's tag from `tag_column`."""
    index = conll.column_index(tag_column, conllu=True)
    sentences = []
    with conll.open_text(path) as lines:
        for block in conll.blocks(lines):
            sentences.append(_sentence(block, path, index))
    if not sentences:
        raise TaggerError(f"{path}: no sentences found; is it a CoNLL-U file?")
    return sentences


def _sentence(block: list[tuple[int, str]], path: Path, tag_index: int) -> GoldSentence:
    text = next((line.split("=", 1)[1].strip() for _, line in block
                 if line.startswith("# text") and "=" in line), None)
    if text is None:
        raise TaggerError(f"{path}:{block[0][0]}: a sentence without a '# text =' line; "
                          "scoring from raw text needs each sentence's text")
    sentence = GoldSentence(text)
    position = 0
    covered_until = 0  # the last word id that a multiword token covers
    for number, row in conll.conllu_rows(block, str(path)):
        ident, form, tag = row[0], row[1], row[tag_index]
        if "." in ident:  # an empty node: no token, no word of the surface
            continue
        if "-" in ident or int(ident) > covered_until:
            start = _locate(text, form, position, path, number)
            position = start + len(form)
            sentence.tokens.append((start, position))
            if "-" in ident:
                covered_until = int(ident.split("-")[1])
                continue
        sentence.words.append((len(sentence.tokens) - 1, form, tag))
    return sentence


def _locate(text: str, form: str, position: int, path: Path, number: int) -> int:
    """Where `form` starts in `text` at or after `position`, past white space only."""
    start = position
    while start < len(text) and text[start].isspace():
        start += 1
    if not text.startswith(form, start):
        raise TaggerError(f"{path}:{number}: the token {form!r} is not where the sentence's "
                          f"'# text' has {text[start:start + len(form) + 5]!r}; the file's "
                          "tokens must spell its text")
    return start


class _Counts:
    def __init__(self) -> None:
        self.right = self.system = self.gold = 0

    def add(self, right: int, system: int, gold: int) -> None:
        self.right += right
        self.system += system
        self.gold += gold

    def report(self) -> dict[str, float]:
        return {**prf(self.right, self.system, self.gold), "system": self.system,
                "gold": self.gold, "right": self.right}


def score(gold: Sequence[GoldSentence], system: Iterable[Any], tag_column: str = "upos"
          ) -> dict[str, Any]:
    """Tokens, words and tags F1 of `system` (a `records.Tagged` per gold sentence, tagged
    from its text) against `gold`, whose tags are from `tag_column`."""
    tokens, words, upos = _Counts(), _Counts(), _Counts()
    for sentence, tagged in zip(gold, system, strict=True):
        spans = [tuple(offset) for offset in tagged.offsets]
        tokens.add(len(set(spans) & set(sentence.tokens)), len(spans), len(sentence.tokens))
        # System words: one per token (the tagger does not split multiword tokens).
        by_span: dict[tuple[int, int], list[tuple[str, str]]] = {}
        for span, token, tag in zip(spans, tagged.tokens, tagged.tags, strict=True):
            by_span.setdefault(span, []).append((token.lower(), tag))
        gold_by_token: dict[int, list[tuple[str, str]]] = {}
        for token_index, form, tag in sentence.words:
            gold_by_token.setdefault(token_index, []).append((form.lower(), tag))
        right_words = right_upos = 0
        for token_index, gold_words in gold_by_token.items():
            found = by_span.get(sentence.tokens[token_index], [])
            if len(gold_words) == 1:
                matched = [(g, s) for g, s in zip(gold_words, found[:1], strict=False)]
            else:  # a multiword token: align the forms
                matched = _aligned(gold_words, found)
            right_words += len(matched)
            right_upos += sum(g[1] == s[1] for g, s in matched)
        words.add(right_words, len(spans), len(sentence.words))
        upos.add(right_upos, len(spans), len(sentence.words))
    return {"sentences": len(gold), "tag_column": tag_column, "tokens": tokens.report(),
            "words": words.report(), "tags": upos.report()}


def _aligned(gold: list[tuple[str, str]], system: list[tuple[str, str]]
             ) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """Pairs of gold and system (form, tag) words along a longest common subsequence of
    their forms."""
    # longest[i][j]: the longest common subsequence of gold[i:] and system[j:].
    longest = [[0] * (len(system) + 1) for _ in range(len(gold) + 1)]
    for i in range(len(gold) - 1, -1, -1):
        for j in range(len(system) - 1, -1, -1):
            longest[i][j] = longest[i + 1][j + 1] + 1 if gold[i][0] == system[j][0] \
                else max(longest[i + 1][j], longest[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < len(gold) and j < len(system):
        if gold[i][0] == system[j][0]:
            pairs.append((gold[i], system[j]))
            i, j = i + 1, j + 1
        elif longest[i + 1][j] >= longest[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def format_report(report: dict[str, Any]) -> str:
    """The scores as `tagger evaluate --raw-text` prints them."""
    lines = [f"from raw text ({report['sentences']} sentences, tokens aligned by their "
             "characters as the CoNLL 2018 scorer aligns them)",
             f"{'':8}{'precision':>10}{'recall':>10}{'f1':>10}{'gold':>9}{'system':>9}"]
    for name in ("tokens", "words", "tags"):
        r = report[name]
        label = report["tag_column"].upper() if name == "tags" else name
        lines.append(f"{label:8}{r['precision'] * 100:10.2f}"
                     f"{r['recall'] * 100:10.2f}{r['f1'] * 100:10.2f}{r['gold']:9}"
                     f"{r['system']:9}")
    return "\n".join(lines)
