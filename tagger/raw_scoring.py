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

import itertools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from tagger import conll
from tagger.errors import TaggerError
from tagger.metrics import ALL_TAGS, UD_LAYERS, layer_matches, prf
from tagger.model_folder import column_name
from tagger.text import surface
from tagger.text.surface import Surface
from tagger.text.tokenizer import Tokenized


def read_conllu(path: Path, tag_column: str = "upos") -> list[Surface]:
    """The sentences of a CoNLL-U file with their `# text`, tokens located in it, and each
    word's tag from `tag_column`."""
    index = conll.column_index(tag_column, conllu=True)
    sentences = []
    with conll.open_text(path) as lines:
        for block in conll.blocks(lines):
            if any(not line.startswith("#") for _, line in block):
                sentences.append(surface.from_conllu(block, str(path), index))
    if not sentences:
        raise TaggerError(f"{path}: no sentences found; is it a CoNLL-U file?")
    return sentences


class _Word(NamedTuple):
    start: int  # a word of a multiword token has the token's span
    end: int
    multiword: bool
    form: str
    tag: str
    index: int  # its place among its sentence's words


def read_columns(path: Path, columns: Sequence[str]) -> list[dict[str, list[str]]]:
    """Each word's values of `columns` (CoNLL-U column names), per sentence of a CoNLL-U
    file: the sentences and words of `read_conllu`, in its order."""
    indices = {name: conll.column_index(name, conllu=True) for name in columns}
    found = []
    with conll.open_text(path) as lines:
        for block in conll.blocks(lines):
            if all(line.startswith("#") for _, line in block):
                continue
            rows = [row for _, row in conll.conllu_rows(block, str(path)) if "." not in row[0]
                    and "-" not in row[0]]
            found.append({name: [row[i] for row in rows] for name, i in indices.items()})
    return found


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


def score(gold: Sequence[Surface], system: Iterable[Any], tag_column: str = "upos",
          more: Sequence[dict[str, list[str]]] | None = None) -> dict[str, Any]:
    """Tokens, words and tags F1 of `system` (a `records.Tagged` per gold sentence, tagged
    from its text) against `gold`, whose tags are from `tag_column`. With `more` (each
    sentence's words' values of further columns: `read_columns`), `layers` too: each
    column's F1 on the aligned words, compared as `metrics.layer_matches` compares them,
    named as the CoNLL 2018 scorer names them, with AllTags where UPOS, XPOS and FEATS are
    all there."""
    tokens, words, tags = _Counts(), _Counts(), _Counts()
    first = column_name(tag_column)
    names = [first, *(more[0] if more else ())]
    layers = {name: _Counts() for name in names}
    together = {"upos", "xpos", "feats"} <= set(names)
    all_tags = _Counts()
    for number, (sentence, tagged) in enumerate(zip(gold, system, strict=True)):
        spans = surface_spans(tagged.offsets, tagged.multiword)
        tokens.add(len(set(spans) & set(sentence.tokens)), len(spans), len(sentence.tokens))
        held = [len(forms) for forms in sentence.forms()]
        gold_words = [_Word(*sentence.tokens[t], held[t] > 1, form, tag, i)
                      for i, (t, form, tag) in enumerate(sentence.words)]
        multiword = [tuple(m) for m in tagged.multiword]
        system_words = []
        for i, ((start, end), form, tag) in enumerate(zip(tagged.offsets, tagged.tokens,
                                                          tagged.tags, strict=True)):
            token = next((m for m in multiword if m[0] <= start and end <= m[1]), None)
            system_words.append(_Word(*(token or (start, end)), token is not None, form, tag,
                                      i))
        pairs = _align(gold_words, system_words)
        words.add(len(pairs), len(system_words), len(gold_words))
        tags.add(sum(g.tag == s.tag for g, s in pairs), len(system_words), len(gold_words))
        if more is None:
            continue
        gold_values = {first: [w.tag for w in gold_words], **more[number]}
        system_values = {first: tagged.tags, **tagged.columns}
        right = {name: [layer_matches(name, gold_values[name][g.index],
                                      system_values[name][s.index]) for g, s in pairs]
                 for name in names}
        for name in names:
            layers[name].add(sum(right[name]), len(system_words), len(gold_words))
        if together:
            all_tags.add(sum(map(all, zip(right["upos"], right["xpos"], right["feats"],
                                          strict=True))), len(system_words), len(gold_words))
    report = {"sentences": len(gold), "tag_column": tag_column, "tokens": tokens.report(),
              "words": words.report(), "tags": tags.report()}
    if more is not None:
        report["layers"] = {UD_LAYERS.get(name, name): counts.report()
                            for name, counts in layers.items()}
        if together:
            report["layers"][ALL_TAGS] = all_tags.report()
    return report


def surface_spans(offsets: Iterable[Sequence[int]], multiword: Iterable[Sequence[int]]
                  ) -> list[tuple[int, int]]:
    """The surface tokens of words at `offsets`: their spans, those inside a multiword
    token as that token's."""
    held = sorted(tuple(span) for span in multiword)
    spans: list[tuple[int, int]] = []
    k = 0  # words come in order: the multiword tokens before this word's end are past
    for start, end in offsets:
        while k < len(held) and held[k][1] < end:
            k += 1
        span = held[k] if k < len(held) and held[k][0] <= start else (start, end)
        if not spans or spans[-1] != span:
            spans.append(span)
    return spans


def _align(gold: list[_Word], system: list[_Word]) -> list[tuple[_Word, _Word]]:
    """Aligned (gold, system) word pairs, as the CoNLL 2018 scorer aligns them: words
    with the same span pair up; around a multiword token (on either side), the words of
    the smallest stretch that both sides cover alike pair up along a longest common
    subsequence of their lower-cased forms."""
    pairs = []
    g = s = 0
    while g < len(gold) and s < len(system):
        if gold[g].multiword or system[s].multiword:
            g_first, s_first, g, s = _multiword_stretch(gold, system, g, s)
            pairs += _aligned(gold[g_first:g], system[s_first:s])
        elif (gold[g].start, gold[g].end) == (system[s].start, system[s].end):
            pairs.append((gold[g], system[s]))
            g, s = g + 1, s + 1
        elif gold[g].start <= system[s].start:
            g += 1
        else:
            s += 1
    return pairs


def _multiword_stretch(gold: list[_Word], system: list[_Word], g: int, s: int
                       ) -> tuple[int, int, int, int]:
    """(first gold, first system, past gold, past system) word of the stretch around the
    multiword token at gold word `g` or system word `s`."""
    if gold[g].multiword:
        end = gold[g].end
        if not system[s].multiword and system[s].start < gold[g].start:
            s += 1
    else:
        end = system[s].end
        if not gold[g].multiword and gold[g].start < system[s].start:
            g += 1
    g_first, s_first = g, s

    def beyond(words: list[_Word], i: int) -> bool:
        if i >= len(words):
            return True
        return words[i].start >= end if words[i].multiword else words[i].end > end

    while not beyond(gold, g) or not beyond(system, s):
        if g < len(gold) and (s >= len(system) or gold[g].start <= system[s].start):
            if gold[g].multiword:
                end = max(end, gold[g].end)
            g += 1
        else:
            if system[s].multiword:
                end = max(end, system[s].end)
            s += 1
    return g_first, s_first, g, s


def _aligned(gold: list[_Word], system: list[_Word]) -> list[tuple[_Word, _Word]]:
    """Pairs of gold and system words along a longest common subsequence of their
    lower-cased forms."""
    forms_g = [w.form.lower() for w in gold]
    forms_s = [w.form.lower() for w in system]
    # longest[i][j]: the longest common subsequence of gold[i:] and system[j:].
    longest = [[0] * (len(system) + 1) for _ in range(len(gold) + 1)]
    for i in range(len(gold) - 1, -1, -1):
        for j in range(len(system) - 1, -1, -1):
            longest[i][j] = longest[i + 1][j + 1] + 1 if forms_g[i] == forms_s[j] \
                else max(longest[i + 1][j], longest[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < len(gold) and j < len(system):
        if forms_g[i] == forms_s[j]:
            pairs.append((gold[i], system[j]))
            i, j = i + 1, j + 1
        elif longest[i + 1][j] >= longest[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def token_agreement(tokenize: Callable[[Sequence[str]], Tokenized],
                    sentences: Sequence[Surface]) -> dict[str, float]:
    """Tokens precision, recall and F1 of a tokenizer on sentences' text."""
    tokenized = tokenize([s.text for s in sentences])
    counts = _Counts()
    for i, sentence in enumerate(sentences):
        a, b = tokenized.splits[i], tokenized.splits[i + 1]
        spans = surface_spans(zip(tokenized.starts[a:b].tolist(), tokenized.ends[a:b].tolist(),
                                  strict=True), tokenized.multiword[i])
        counts.add(len(set(spans) & set(sentence.tokens)), len(spans), len(sentence.tokens))
    return counts.report()


def format_report(report: dict[str, Any]) -> str:
    """The scores as `tagger evaluate --raw-text` prints them."""
    documents = "sentence_spans" in report
    where = (f"{report['paragraphs']} paragraphs of running text holding "
             f"{report['sentences']} sentences, which the model finds" if documents
             else f"{report['sentences']} sentences")
    width = 9 if documents else 8
    lines = [f"from raw text ({where}, {report.get('tokenizer', 'the')} tokenizer, tokens "
             "aligned by their characters as the CoNLL 2018 scorer aligns them)",
             f"{'':{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'gold':>9}{'system':>9}"]
    rows = [("tokens", report["tokens"])]
    if documents:
        rows.append(("sentences", report["sentence_spans"]))
    rows.append(("words", report["words"]))
    if "layers" in report:
        rows += list(report["layers"].items())
    else:
        rows.append((report["tag_column"].upper(), report["tags"]))
    for label, r in rows:
        lines.append(f"{label:{width}}{r['precision'] * 100:10.2f}"
                     f"{r['recall'] * 100:10.2f}{r['f1'] * 100:10.2f}{r['gold']:9}"
                     f"{r['system']:9}")
    return "\n".join(lines)


def sentence_counts(gold: Sequence[tuple[int, int]], system: Sequence[tuple[int, int]]
                    ) -> tuple[int, int, int]:
    """(right, system, gold) sentences: a system sentence is right when it spans exactly
    the characters of a gold one."""
    return len(set(gold) & set(system)), len(system), len(gold)


def score_documents(gold: Sequence[Surface], tag_documents: Callable[[list[str]], list],
                    tag_column: str = "upos",
                    more: Sequence[dict[str, list[str]]] | None = None) -> dict[str, Any]:
    """`score`'s report, and Sentences, of tagging the gold sentences' paragraphs as
    running text (`tag_documents`: `pipeline.Tagger.tag_documents`), so that the system
    finds the sentences too."""
    from tagger.records import Tagged

    found = surface.paragraphs(gold)
    tagged = tag_documents([p.surface.text for p in found])
    sentences = _Counts()
    merged = []
    for paragraph, records in zip(found, tagged, strict=True):
        spans = [(r.offsets[0][0], r.offsets[-1][1]) for r in records if r.offsets]
        sentences.add(*sentence_counts(paragraph.sentences, spans))
        columns = {name: [v for r in records for v in r.columns[name]]
                   for name in (records[0].columns if records else {})}
        merged.append(Tagged(paragraph.surface.text, [t for r in records for t in r.tokens],
                             [t for r in records for t in r.tags],
                             [o for r in records for o in r.offsets],
                             multiword=[m for r in records for m in r.multiword],
                             columns=columns))
    joined = None
    if more is not None:
        bounds = [p.first for p in found] + [len(gold)]
        joined = [{name: [v for values in more[a:b] for v in values[name]]
                   for name in more[0]} for a, b in itertools.pairwise(bounds)]
    report = score([p.surface for p in found], merged, tag_column, joined)
    return {**report, "sentences": len(gold), "paragraphs": len(found),
            "sentence_spans": sentences.report()}
