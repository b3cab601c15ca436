"""Sentences as their raw text and its surface tokens, each holding one or more words: what
a tokenizer learns from (`text.segmenter`) and what raw-text scores align with
(`raw_scoring`).

A treebank's surface tokens are what the text spells (German `zum`); its words are the
syntactic words the tags belong to (`zu` `dem`). Three sources give them: CoNLL-U blocks
with `# text` and multiword-token lines (exact); a table's `text` column with its words
and `misc` (`aligned`: multiword tokens are found where the words stop spelling the
text); and words alone (`rebuilt`: the text joined with the usual spacing).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from tagger import conll
from tagger.errors import TaggerError


@dataclass
class Surface:
    """A sentence's text, its surface tokens' (start, end) character offsets, and its words
    as (index of the token that holds it, form, tag)."""

    text: str
    tokens: list[tuple[int, int]] = field(default_factory=list)
    words: list[tuple[int, str, str]] = field(default_factory=list)
    # Where it stands in running text: whether it starts a paragraph (CoNLL-U `# newpar`,
    # `# newdoc`), and whether white space follows it (not after SpaceAfter=No).
    paragraph: bool = False
    space_after: bool = True

    def forms(self) -> list[list[str]]:
        """The word forms of each surface token."""
        held: list[list[str]] = [[] for _ in self.tokens]
        for token, form, _ in self.words:
            held[token].append(form)
        return held


def from_conllu(block: list[tuple[int, str]], name: str, tag_index: int) -> Surface:
    """A CoNLL-U sentence block's text, tokens located in it and each word's tag from
    column `tag_index`."""
    text = next((line.split("=", 1)[1].strip() for _, line in block
                 if line.startswith("# text") and "=" in line), None)
    if text is None:
        raise TaggerError(f"{name}:{block[0][0]}: a sentence without a '# text =' line; "
                          "scoring from raw text needs each sentence's text")
    sentence = Surface(text, paragraph=any(line.startswith(("# newpar", "# newdoc"))
                                           for _, line in block))
    position = 0
    covered_until = 0  # the last word id that a multiword token covers
    for number, row in conll.conllu_rows(block, name):
        if "." not in row[0] and (int(row[0].split("-")[-1]) > covered_until):
            sentence.space_after = "SpaceAfter=No" not in row[9].split("|")
        ident, form, tag = row[0], row[1], row[tag_index]
        if "." in ident:  # an empty node: no token, no word of the surface
            continue
        if "-" in ident or int(ident) > covered_until:
            start = _skip_space(text, position)
            if not text.startswith(form, start):
                raise TaggerError(f"{name}:{number}: the token {form!r} is not where the "
                                  f"sentence's '# text' has "
                                  f"{text[start:start + len(form) + 5]!r}; the file's tokens "
                                  "must spell its text")
            position = start + len(form)
            sentence.tokens.append((start, position))
            if "-" in ident:
                covered_until = int(ident.split("-")[1])
                continue
        sentence.words.append((len(sentence.tokens) - 1, form, tag))
    return sentence


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def is_punctuation(form: str) -> bool:
    return all(unicodedata.category(c)[0] in "PS" for c in form)


# How many words after a mismatch may still belong to the multiword token.
_MAX_MULTIWORD = 4


def aligned(text: str, forms: Sequence[str], tags: Sequence[str],
            no_space_after: Sequence[bool] | None = None) -> Surface | None:
    """The surface tokens of `text` given its words, or None where the words do not spell
    it.

    A word that the text does not spell where it should starts a multiword token (`du` for
    `de` `le`), or continues the previous word's (`zu` `dem` in `zum`) unless SpaceAfter=No
    marks that word; the token takes the words up to the next one the text spells after
    it, within the same run of non-space characters. Two words the text spells with nothing
    between them are one token (`do` `n't` in `don't`) when `no_space_after` (CoNLL-U's
    SpaceAfter=No, which a multiword token's words lack) does not mark the first, and
    neither is punctuation; without `no_space_after` they are two tokens.
    """
    sentence = Surface(text)
    position, i = 0, 0
    while i < len(forms):
        start = _skip_space(text, position)
        form = forms[i]
        if form and text.startswith(form, start):
            joined = (start == position and sentence.tokens and no_space_after is not None
                      and not no_space_after[i - 1] and not is_punctuation(form)
                      and not is_punctuation(forms[i - 1]))
            if joined:
                first, _ = sentence.tokens[-1]
                sentence.tokens[-1] = (first, start + len(form))
            else:
                sentence.tokens.append((start, start + len(form)))
            sentence.words.append((len(sentence.tokens) - 1, form, tags[i]))
            position = start + len(form)
            i += 1
            continue
        # A multiword token: it may have begun with the previous word (`zu` of `zum`).
        back = bool(sentence.tokens) and start == position \
            and sentence.tokens[-1][1] == position \
            and not (no_space_after is not None and no_space_after[i - 1])
        first = sentence.tokens[-1][0] if back else start
        end = _multiword_end(text, forms, i, start)
        if end is None or end[0] - i + back < 2:  # a word the text does not spell
            return None
        last, stop = end
        if back:
            sentence.tokens[-1] = (first, stop)
        else:
            sentence.tokens.append((first, stop))
        for j in range(i, last):
            sentence.words.append((len(sentence.tokens) - 1, forms[j], tags[j]))
        position, i = stop, last
    if text[position:].strip():
        return None
    return sentence


def _multiword_end(text: str, forms: Sequence[str], i: int, start: int
                   ) -> tuple[int, int] | None:
    """(index of the first word after the multiword token that starts at `start` with word
    `i`, the token's end)."""
    chunk_end = start
    while chunk_end < len(text) and not text[chunk_end].isspace():
        chunk_end += 1
    for last in range(i + 1, min(i + _MAX_MULTIWORD, len(forms)) + 1):
        if last == len(forms):
            return (last, chunk_end) if chunk_end > start else None
        nxt = forms[last]
        found = text.find(nxt, start + 1, max(chunk_end, start + 1) + len(nxt) + 1) \
            if nxt else -1
        while found != -1:
            stop = len(text[start:found].rstrip()) + start
            if stop > start and not any(c.isspace() for c in text[start:stop]):
                return last, stop
            found = text.find(nxt, found + 1, chunk_end + len(nxt) + 1)
    return None


# Scripts written without spaces between words: their words are joined without them.
_UNSPACED = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR", "TIBETAN",
             "IDEOGRAPHIC", "FULLWIDTH", "HANGUL SYLLABLE")


_CLITIC = re.compile("(?i)(?:['\u2019]\\w+|n['\u2019]t)$")


def _unspaced(character: str) -> bool:
    return unicodedata.name(character, "").startswith(_UNSPACED)


def rebuilt(forms: Sequence[str], tags: Sequence[str]) -> Surface:
    """A text for words that come without one, spaced as text usually is: no space before
    closing punctuation (`.`, `)`, `»`) or a clitic (`'s`, `n't`), or after opening
    punctuation, none between two words of scripts written without spaces (Chinese,
    Japanese, Thai)."""
    sentence = Surface("")
    pieces: list[str] = []
    length = 0
    for i, form in enumerate(forms):
        if i and _spaced(forms[i - 1], form):
            pieces.append(" ")
            length += 1
        sentence.tokens.append((length, length + len(form)))
        sentence.words.append((i, form, tags[i]))
        pieces.append(form)
        length += len(form)
    sentence.text = "".join(pieces)
    return sentence


def _spaced(before: str, after: str) -> bool:
    if not before or not after:
        return True
    if _CLITIC.match(after):  # it's, don't: a clitic leans on the word before
        return False
    if _unspaced(before[-1]) and _unspaced(after[0]):
        return False
    if unicodedata.category(after[0]) in ("Pe", "Pf") or (after[0] in ".,;:!?%" \
            and is_punctuation(after)):
        return False
    return unicodedata.category(before[-1]) not in ("Ps", "Pi")


class Paragraph(NamedTuple):
    """Gold sentences joined as running text: the paragraph as one `Surface`, and the
    (start, end) of each of its sentences, from its first token's start to its last's end."""

    surface: Surface
    sentences: list[tuple[int, int]]
    first: int  # the index of its first sentence in the sentences it was made of


def paragraphs(sentences: Sequence[Surface]) -> list[Paragraph]:
    """The paragraphs of gold sentences (`Surface.paragraph` starts one; without any, all
    are one), their texts joined as the CoNLL 2018 shared task's raw text joins them: by a
    space, or nothing after SpaceAfter=No."""
    found: list[Paragraph] = []
    for i, sentence in enumerate(sentences):
        if not found or sentence.paragraph:
            found.append(Paragraph(Surface(""), [], i))
        paragraph = found[-1].surface
        if paragraph.text and sentences[i - 1].space_after:
            paragraph.text += " "
        shift, base = len(paragraph.text), len(paragraph.tokens)
        paragraph.text += sentence.text
        paragraph.tokens += [(a + shift, b + shift) for a, b in sentence.tokens]
        paragraph.words += [(t + base, form, tag) for t, form, tag in sentence.words]
        if sentence.tokens:
            found[-1].sentences.append((sentence.tokens[0][0] + shift,
                                        sentence.tokens[-1][1] + shift))
    return found
