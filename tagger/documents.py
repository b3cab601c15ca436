"""Documents: running text cut into paragraphs (at blank lines) and sentences (by the
model's sentence splitter, `text.sentences`), each sentence tagged as one sequence and
placed back in its document by character offsets. No TensorFlow here: the pipeline
(`pipeline.Tagger.tag_documents`) tags the sentences."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from tagger.raw_scoring import surface_spans
from tagger.settings import SENTENCE_ENDS
from tagger.text import sentences as splitting
from tagger.text.tokenizer import Tokenized

_FULL_WIDTH_ENDS = frozenset("\u3002\uff01\uff1f")
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n\s*")


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) of each paragraph of `text`: its blank-line-separated blocks,
    white space at their edges left out; blocks of white space only are none."""
    spans, start = [], 0
    for found in [*_BLANK_LINE.finditer(text), None]:
        end = found.start() if found else len(text)
        block = text[start:end]
        if block.strip():
            left = len(block) - len(block.lstrip())
            spans.append((start + left, start + len(block.rstrip())))
        if found:
            start = found.end()
    return spans


# Sentence ends of paragraphs, (forms, gaps) each: `SentenceSplitter.ends_of`, `rule_ends_of`.
EndsOf = Callable[[Sequence[tuple[Sequence[str], np.ndarray]]], list[np.ndarray]]


def rule_ends(forms: Sequence[str], gaps: np.ndarray) -> np.ndarray:
    """Sentence ends for a model without a splitter (folders saved before splitters): after
    a token of sentence-final punctuation followed by white space (a full-width one needs
    none: Chinese and Japanese write no space after it), and a paragraph's end."""
    ends = np.array([f in SENTENCE_ENDS for f in forms], bool) & (
        (gaps != splitting.NO_SPACE) | np.array([f in _FULL_WIDTH_ENDS for f in forms], bool))
    if len(ends):
        ends[-1] = True
    return ends


def rule_ends_of(paragraphs: Sequence[tuple[Sequence[str], np.ndarray]]) -> list[np.ndarray]:
    return [rule_ends(forms, gaps) for forms, gaps in paragraphs]


def sentence_spans(texts: Sequence[str], tokenized: Tokenized, ends_of: EndsOf
                   ) -> list[list[tuple[int, int]]]:
    """The (start, end) of each sentence of each paragraph of `texts` (tokenized as
    `tokenized`): sentences end only between surface tokens (never inside a multiword
    one), where `ends_of` says."""
    tokens_of, paragraphs = [], []
    for index, text in enumerate(texts):
        a, b = int(tokenized.splits[index]), int(tokenized.splits[index + 1])
        words = zip(tokenized.starts[a:b].tolist(), tokenized.ends[a:b].tolist(),
                    strict=True)
        held = tokenized.multiword[index]
        tokens = surface_spans(words, held) if len(held) else list(words)
        tokens_of.append(tokens)
        paragraphs.append(splitting.forms_and_gaps(text, tokens))
    found = []
    for tokens, ends in zip(tokens_of, ends_of(paragraphs), strict=True):
        spans, first = [], 0
        for i in np.flatnonzero(ends).tolist():
            spans.append((tokens[first][0], tokens[i][1]))
            first = i + 1
        found.append(spans)
    return found
