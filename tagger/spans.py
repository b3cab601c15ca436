"""Text annotated with character spans, as JSON Lines: in, to tagged tokens, and out.

One JSON object per line holds the text and its entity spans, in the shapes annotation
tools write:

    {"text": "Anna flew to Oslo.", "label": [[0, 4, "PER"], [13, 17, "LOC"]]}   doccano
    {"text": "...", "entities": [[0, 4, "PER"]]}                            spaCy-style
    {"text": "...", "spans": [{"start": 0, "end": 4, "label": "PER"}]}       spaCy-style
    {"data": {"text": "..."}, "label": [{"start": 0, "end": 4, "labels": ["PER"]}]}
                                                      Label Studio, one task a line

or one JSON array of such objects, as Label Studio's JSON-MIN export writes:

    [{"id": 1, "text": "...", "label": [{"start": 0, "end": 4, "labels": ["PER"]}]}, ...]


Offsets count characters (code points), end excluded. The text is split by the tokenizer,
and a span becomes B-/I- tags on the tokens it covers. A span whose ends are not token
boundaries is reported (`SpanCorpus.misaligned`) and left out, never moved to the nearest
token; overlapping spans are an error naming the line.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tagger import conll
from tagger.errors import TaggerError
from tagger.text import tokenizer
from tagger.text.surface import Surface

SPAN_KEYS = ("spans", "entities", "label", "labels")  # the first one a line has holds them


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str


@dataclass
class Annotated:
    """A text and its spans, from line `line` of its file."""

    text: str
    spans: list[Span]
    line: int


@dataclass
class SpanCorpus:
    """The sentences (tokens, IOB2 tags) of a span file, and the spans left out because
    they do not fall on token boundaries (with where they are)."""

    sentences: list[tuple[list[str], list[str]]] = field(default_factory=list)
    texts: list[Annotated] = field(default_factory=list)
    misaligned: list[tuple[int, Span, str]] = field(default_factory=list)
    surfaces: list[Surface] = field(default_factory=list)  # the texts with their tokens

    def note(self) -> str | None:
        """One line on the misaligned spans, with the first examples, or None."""
        if not self.misaligned:
            return None
        examples = "; ".join(f"line {line}: {span.label} {span.start}-{span.end} {text!r}"
                             for line, span, text in self.misaligned[:3])
        count = len(self.misaligned)
        return (f"{count} span{'s do' if count > 1 else ' does'} not start and end at token "
                f"boundaries and {'were' if count > 1 else 'was'} left out (their tokens "
                f"are tagged O), e.g. {examples}")


def is_span_file(path: Path) -> bool:
    """Whether a .jsonl / .json file holds texts with spans (not token and tag lists)."""
    if path.suffix.lower() not in (".jsonl", ".json"):
        return False
    try:
        first = next(_items(path), None)
    except ValueError:
        return False
    return first is not None and isinstance(first[1], dict) \
        and ("text" in first[1] or "data" in first[1]) and "tokens" not in first[1]


def _items(path: Path) -> Iterator[tuple[int, Any]]:
    """(number, decoded JSON value) of each object of a span file: a JSON Lines file's
    lines, or the items of a JSON array (JSON-MIN), numbered from 1. Raises ValueError,
    naming the line, where the file is neither."""
    with conll.open_text(path) as lines:
        first = True
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                if first and line.lstrip().startswith("["):  # the whole file is one array
                    values = json.loads(line + "".join(lines))
                    yield from enumerate(values, 1)
                    return
                first = False
                yield number, json.loads(line)
            except ValueError as error:
                raise ValueError(f"{path}:{number}: not JSON ({error}); write one JSON "
                                 "object a line, or one JSON array of objects") from None


def read(path: Path) -> list[Annotated]:
    """The texts and spans of a span file; errors name the line (or the array's item)."""
    try:
        texts = [_annotated(item, path, number) for number, item in _items(path)]
    except ValueError as error:
        raise TaggerError(str(error)) from None
    if not texts:
        raise TaggerError(f"{path}: no texts found; write one JSON object a line with "
                          '"text" and its spans')
    return texts


def _annotated(item: Any, path: Path, number: int) -> Annotated:
    where = f"{path}:{number}"
    if not isinstance(item, dict):
        raise TaggerError(f"{where}: not a JSON object")
    text = item.get("text", item.get("data", {}).get("text")
                    if isinstance(item.get("data"), dict) else None)
    if not isinstance(text, str):
        raise TaggerError(f'{where}: no "text" string (or Label Studio\'s "data": {{"text"}})')
    raw = next((item[key] for key in SPAN_KEYS if key in item), [])
    if not isinstance(raw, list):
        raise TaggerError(f"{where}: the spans must be a list")
    spans = sorted((_span(value, where, len(text)) for value in raw),
                   key=lambda s: (s.start, s.end))
    for previous, span in itertools.pairwise(spans):
        if span.start < previous.end:
            raise TaggerError(f"{where}: spans {previous.label} {previous.start}-{previous.end}"
                              f" and {span.label} {span.start}-{span.end} overlap; a tagger "
                              "tags each token once: keep one of them")
    return Annotated(text, spans, number)


def _span(value: Any, where: str, length: int) -> Span:
    if isinstance(value, list) and len(value) >= 3:
        start, end, label = value[:3]
    elif isinstance(value, dict):
        start = value.get("start", value.get("start_offset"))
        end = value.get("end", value.get("end_offset"))
        label = value.get("label", value.get("labels"))
        if isinstance(label, list) and len(label) == 1:
            label = label[0]
    else:
        raise TaggerError(f"{where}: a span is [start, end, label] or an object with start, "
                          f"end and label, not {json.dumps(value)[:60]}")
    if isinstance(start, bool) or not isinstance(start, int) or isinstance(end, bool) \
            or not isinstance(end, int) or not isinstance(label, str) or not label:
        raise TaggerError(f"{where}: a span needs integer start and end and a label, not "
                          f"{json.dumps(value)[:60]}")
    if not 0 <= start < end <= length:
        raise TaggerError(f"{where}: span {label} {start}-{end} is not inside the text "
                          f"({length} characters)")
    return Span(start, end, label)


def to_sentences(texts: list[Annotated]) -> SpanCorpus:
    """Each text as tokens with IOB2 tags, its spans on the tokens they cover."""
    corpus = SpanCorpus(texts=texts)
    tokens, starts, ends, splits = tokenizer.split_texts([item.text for item in texts])
    for i, item in enumerate(texts):
        first_of = {s: k for k, s in enumerate(starts[splits[i]:splits[i + 1]].tolist())}
        last_of = {e: k for k, e in enumerate(ends[splits[i]:splits[i + 1]].tolist())}
        tags = ["O"] * len(tokens[i])
        for span in item.spans:
            first, last = first_of.get(span.start), last_of.get(span.end)
            if first is None or last is None:
                corpus.misaligned.append((item.line, span, item.text[span.start:span.end]))
                continue
            tags[first] = f"B-{span.label}"
            for k in range(first + 1, last + 1):
                tags[k] = f"I-{span.label}"
        corpus.sentences.append((tokens[i], tags))
        offsets = zip(starts[splits[i]:splits[i + 1]].tolist(),
                      ends[splits[i]:splits[i + 1]].tolist(), strict=True)
        corpus.surfaces.append(Surface(item.text, list(offsets),
                                       [(k, t, tag) for k, (t, tag) in
                                        enumerate(zip(tokens[i], tags, strict=True))]))
    return corpus


def record(tagged) -> dict[str, Any]:
    """A `records.Tagged` as a span line: its text and entity spans, as `read` reads them
    (with each span's confidence)."""
    return {"text": tagged.text, "spans": [
        {"start": s.start, "end": s.end, "label": s.label,
         "confidence": s.to_dict()["confidence"]} for s in tagged.spans]}
