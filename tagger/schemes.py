"""Tag schemes: detecting IOB1 / IOB2 / IOBES, converting between them, reading spans."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

IOB2 = "IOB2"
IOBES = "IOBES"
TOKEN = "token"  # no entity structure: POS tags and the like, scored by token accuracy


def split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' and tags without a prefix -> (tag, '')."""
    if len(tag) > 2 and tag[1] == "-" and tag[0] in "BIESL":
        return tag[0], tag[2:]
    return tag, ""


def is_entity_labels(labels: Iterable[str]) -> bool:
    """Whether a label set looks like an entity scheme (O plus prefixed types)."""
    labels = set(labels)
    prefixed = [t for t in labels if split_tag(t)[1]]
    return bool(prefixed) and labels <= set(prefixed) | {"O"}


def detect_scheme(labels: Iterable[str]) -> str:
    """IOBES when S-/E- tags occur, IOB2 for other entity label sets, else TOKEN."""
    labels = set(labels)
    if not is_entity_labels(labels):
        return TOKEN
    if any(split_tag(t)[0] in "SE" for t in labels if t != "O"):
        return IOBES
    return IOB2


def is_iob1(sentences: Iterable[Sequence[str]]) -> bool:
    """IOB1 data starts entities with I-; an I-X after O or after another type is the sign."""
    for tags in sentences:
        previous = ""
        for tag in tags:
            prefix, kind = split_tag(tag)
            if prefix == "I" and previous != kind:
                return True
            previous = kind if prefix in "BI" else ""
    return False


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """Rewrite an IOB1 sentence so that every entity starts with B-."""
    out = []
    previous = ""
    for tag in tags:
        prefix, kind = split_tag(tag)
        if prefix == "I" and previous != kind:
            tag = f"B-{kind}"
        out.append(tag)
        previous = kind if prefix in "BI" else ""
    return out


def iobes_labels(labels: Sequence[str]) -> list[str]:
    """The IOBES labels for IOB2 `labels`: B-X also gives S-X, I-X also E-X; order kept."""
    out = []
    for label in labels:
        prefix, kind = split_tag(label)
        out += {"B": [label, f"S-{kind}"], "I": [label, f"E-{kind}"]}.get(prefix, [label])
    return out


def iob2_to_iobes(tags: Sequence[str]) -> list[str]:
    """Rewrite an IOB2 sentence in IOBES: one-token entities S-, last tokens E-."""
    out = []
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        continued = i + 1 < len(tags) and tags[i + 1] == f"I-{kind}"
        if prefix in "BI" and kind and not continued:
            tag = f"{'S' if prefix == 'B' else 'E'}-{kind}"
        out.append(tag)
    return out


def iobes_to_iob2(tag: str) -> str:
    """One IOBES tag in IOB2 (S- -> B-, E- -> I-): a valid IOBES sentence maps tag by tag."""
    prefix, kind = split_tag(tag)
    return {"S": f"B-{kind}", "E": f"I-{kind}"}.get(prefix, tag) if kind else tag


class Span(NamedTuple):
    label: str
    start: int  # first token
    end: int  # one past the last token


def spans(tags: Sequence[str]) -> list[Span]:
    """Entity spans of an IOB2 or IOBES sentence, as seqeval's strict mode reads them.

    A span starts at B- (or S-); I-/E- continue a span of the same type. A stray I- that
    does not continue a span is read leniently as a start, as seqeval's default mode does.
    """
    found: list[Span] = []
    label, start = "", -1
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        continues = prefix in "IE" and kind == label
        if label and not continues:
            found.append(Span(label, start, i))
            label = ""
        if kind and not continues:
            label, start = kind, i
        if label and prefix in "SE":
            found.append(Span(label, start, i + 1))
            label = ""
    if label:
        found.append(Span(label, start, len(tags)))
    return found

