"""Documents: running text cut into paragraphs (at blank lines) and sentences (by the
model's sentence splitter, `text.sentences`), each sentence tagged as one sequence and
placed back in its document by character offsets. No TensorFlow here: the pipeline
(`pipeline.Tagger.tag_documents`) tags the sentences."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence

import numpy as np

from tagger.settings import SENTENCE_ENDS
from tagger.text import sentences as splitting
from tagger.text.tokenizer import Tokenized

# Characters of a document tagged together while the next ones are split (`Tagger.stream_document`).
CHUNK_CHARS = 1 << 17

_FULL_WIDTH_ENDS = frozenset("\u3002\uff01\uff1f")
# Closing quotes and brackets that may follow a sentence's final punctuation.
_CLOSING = frozenset("\"')]\u2019\u201d\u300d\u300f\uff09\u3011\u300b")
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


# Sentence ends of paragraphs given flat (forms, gaps, splits): `SentenceSplitter.ends_of`,
# `rule_ends_of`.
EndsOf = Callable[[Sequence[str], np.ndarray, np.ndarray], np.ndarray]


def rule_ends(forms: Sequence[str], gaps: np.ndarray) -> np.ndarray:
    """Sentence ends for a model without a splitter (folders saved before splitters): after
    a token of sentence-final punctuation followed by white space (a full-width one needs
    none: Chinese and Japanese write no space after it), or after the closing quote or
    bracket written right after it; and a paragraph's end."""
    return rule_ends_of(forms, np.asarray(gaps), np.array([0, len(forms)]))


def rule_ends_of(forms: Sequence[str], gaps: np.ndarray, splits: np.ndarray) -> np.ndarray:
    """`rule_ends` of paragraphs given flat (as `SentenceSplitter.ends_of` takes them)."""
    count = len(forms)
    final = np.fromiter((f in SENTENCE_ENDS for f in forms), bool, count)
    full = np.fromiter((f in _FULL_WIDTH_ENDS for f in forms), bool, count)
    spaced = gaps != splitting.NO_SPACE
    ends = final & (spaced | full)
    # `。」`, `."`: the end moves to the closing mark, which needs what the mark before did.
    closing = np.fromiter((f in _CLOSING for f in forms), bool, count)
    moved = final[:-1] & ~spaced[:-1] & closing[1:]
    ends[:-1] &= ~moved
    ends[1:] |= moved & (spaced[1:] | full[:-1])
    sizes = np.diff(splits)
    ends[np.asarray(splits)[1:][sizes > 0] - 1] = True
    return ends


def sentence_spans(texts: Sequence[str], tokenized: Tokenized, ends_of: EndsOf
                   ) -> list[list[tuple[int, int]]]:
    """The (start, end) of each sentence of each paragraph of `texts` (tokenized as
    `tokenized`): sentences end only between surface tokens (never inside a multiword
    one), where `ends_of` says."""
    starts, ends, splits = surface_tokens(texts, tokenized)
    forms, gaps = splitting.forms_and_gaps(texts, starts, ends, splits)
    last = np.flatnonzero(ends_of(forms, gaps, splits))
    first = np.concatenate([[0], last[:-1] + 1]).astype(np.int64)[:len(last)]
    paragraph_of = np.searchsorted(splits, last, side="right") - 1
    found: list[list[tuple[int, int]]] = [[] for _ in texts]
    for paragraph, start, end in zip(paragraph_of.tolist(), starts[first].tolist(),
                                     ends[last].tolist(), strict=True):
        found[paragraph].append((start, end))
    return found


def surface_tokens(texts: Sequence[str], tokenized: Tokenized
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The surface tokens of tokenized `texts`, flat (starts, ends, splits as `tokenized`'s
    words): a multiword token's words as that token, once."""
    starts, ends, splits = tokenized.starts, tokenized.ends, tokenized.splits
    if not any(len(held) for held in tokenized.multiword):
        return starts, ends, splits
    # Offsets made increasing across paragraphs: a paragraph's are from `length` on.
    length = splitting.joined_offsets(texts)
    paragraph = np.repeat(np.arange(len(texts)), np.diff(splits))
    at = length[paragraph]
    held = np.array([(x + length[i], y + length[i]) for i, found in
                     enumerate(tokenized.multiword) for x, y in found],
                    np.int64).reshape(-1, 2)
    held = held[np.argsort(held[:, 0], kind="stable")]
    # The one multiword token that may hold each word: the first to end at or after it.
    k = np.minimum(np.searchsorted(held[:, 1], ends + at), len(held) - 1)
    inside = (held[k, 0] <= starts + at) & (ends + at <= held[k, 1])
    first = np.where(inside, held[k, 0] - at, starts)
    last = np.where(inside, held[k, 1] - at, ends)
    new = np.ones(len(first), bool)  # a word that starts a surface token
    new[1:] = (first[1:] != first[:-1]) | (last[1:] != last[:-1]) | (
        paragraph[1:] != paragraph[:-1])
    before = np.concatenate([[0], np.cumsum(new)])  # surface tokens before each word
    return first[new], last[new], before[splits]


def sentence_tokens(texts: Sequence[str], tokenized: Tokenized,
                    spans: Sequence[Sequence[tuple[int, int]]]) -> tuple[list[str], Tokenized]:
    """Each sentence's text and its words, cut from its paragraph's tokenization (`texts`
    tokenized as `tokenized`, sentences at `spans`): a document's text is tokenized once."""
    counts = np.fromiter(map(len, spans), np.int64, len(spans))
    bounds = np.array([span for found in spans for span in found], np.int64).reshape(-1, 2)
    # Offsets made increasing across paragraphs: a paragraph's are from `length` on.
    length = splitting.joined_offsets(texts)
    words = np.diff(tokenized.splits)
    word_starts = tokenized.starts + np.repeat(length, words)
    sentence_of = np.repeat(np.arange(len(texts)), counts)
    # Each sentence's words: those that start before its end.
    cuts = np.concatenate([[0], np.searchsorted(word_starts,
                                                bounds[:, 1] + length[sentence_of])])
    shift = np.repeat(bounds[:, 0], np.diff(cuts))
    flat = [word for found in tokenized.tokens for word in found]
    found_texts, multiword = [], []
    for paragraph, (start, end) in zip(sentence_of.tolist(), bounds.tolist(), strict=True):
        found_texts.append(texts[paragraph][start:end])
        held = tokenized.multiword[paragraph]
        multiword.append([[x - start, y - start] for x, y in held if start <= x and y <= end]
                         if len(held) else [])
    tokens = [flat[a:b] for a, b in itertools.pairwise(cuts.tolist())]
    return found_texts, Tokenized(tokens, tokenized.starts - shift, tokenized.ends - shift,
                                  cuts, multiword)


def chunks(paragraphs: Sequence[tuple[int, int]], size: int = CHUNK_CHARS
           ) -> list[list[tuple[int, int, int]]]:
    """A document's paragraphs, (number, start, end) each, in runs of about `size`
    characters (a paragraph is never cut)."""
    found: list[list[tuple[int, int, int]]] = []
    run: list[tuple[int, int, int]] = []
    for number, (start, end) in enumerate(paragraphs):
        run.append((number, start, end))
        if end - run[0][1] >= size:
            found.append(run)
            run = []
    return [*found, run] if run else found
