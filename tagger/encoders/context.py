"""Each word's contextual features, from an encoder run on subword windows (NumPy only; the
backend runs the encoder):

    sentences (words) -> subword ids (text.wordpiece) -> windows of at most `window`
    subwords, [CLS] ... [SEP], a long sentence's windows overlapping by half
    -> backend.encoder_states (windows, S, L, H) -> each subword's state from the window
    where it sits farthest from an edge -> per word: its first subword's, or the mean
    -> (batch, T, L, H)

No sentence is cut short: every subword is read in some window, with at least a quarter
window of context on each side where the sentence has it. With document context (`around`
> 0), a sentence that leaves room in its window shares it with the end of the sentences
before it and the start of those after it in the same document, up to `around` subwords a
side (as FLERT reads its neighbours); only the sentence's own subwords become features.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tagger.text.wordpiece import WordPiece

GROUP_SUBWORDS = 1024  # padded subwords per encoder call at most
# An encoder call's own cost, in subwords' worth of encoding (scripts/encoder_speed.py).
CALL_SUBWORDS = 24
Encode = Callable[[np.ndarray], np.ndarray]  # (windows, S) int32 -> (windows, S, L, H)
# A sentence's document neighbours: the words before it and after it, nearest last / first.
Neighbours = tuple[tuple[str, ...], tuple[str, ...]]
NO_NEIGHBOURS: Neighbours = ((), ())


@dataclass
class Plan:
    """Where a batch's subwords are read: the windows' ids and, per word, its subwords'
    rows in the encoder's flattened output."""

    windows: np.ndarray  # (windows, S) int32, 0 padding
    widths: np.ndarray  # each window's subwords with [CLS] and [SEP]
    window_of: np.ndarray  # each subword's window
    position: np.ndarray  # and its position there
    word_starts: np.ndarray  # each word's first subword, in `rows`
    word_counts: np.ndarray  # each word's number of subwords
    lengths: np.ndarray  # words per sentence


class ContextFeatures:
    """An encoder's vocabulary, window and pooling: the pipeline's contextual features."""

    def __init__(self, wordpiece: WordPiece, window: int, pooling: str, layers: int,
                 dim: int, around: int = 0) -> None:
        self.wordpiece = wordpiece
        self.body = window - 2  # subwords per window beside [CLS] and [SEP]
        self.pooling, self.layers, self.dim = pooling, layers, dim
        self.around = around  # document context: subwords read on each side at most
        # Features computed ahead for given sentences (training's validation split, scored
        # after every epoch), by their words and neighbours.
        self.known: dict[tuple, np.ndarray] = {}

    def neighbours(self, sentences: Sequence[Sequence[str]], documents: Sequence[int] | None
                   ) -> list[Neighbours] | None:
        """Each sentence's neighbours in its document (`documents`: each sentence's
        document number, consecutive sentences of one number making a document): enough
        words to fill `around` subwords a side. None without document context."""
        if not self.around or documents is None:
            return None
        found = []
        for i, number in enumerate(documents):
            before: list[str] = []
            j = i - 1
            while j >= 0 and documents[j] == number and len(before) < self.around:
                before[:0] = sentences[j]
                j -= 1
            after: list[str] = []
            j = i + 1
            while j < len(sentences) and documents[j] == number and len(after) < self.around:
                after += sentences[j]
                j += 1
            found.append((tuple(before[-self.around:]), tuple(after[:self.around])))
        return found

    def prepare(self, sentences: Sequence[Sequence[str]],
                neighbours: Sequence[Neighbours] | None = None) -> Plan | np.ndarray:
        """What `features` needs: the features themselves if all are `known`, else a plan
        for the encoder (made on the caller's thread, run on the backend's)."""
        if self.known:
            known = [self.known.get(key) for key in self.keys(sentences, neighbours)]
            if all(k is not None for k in known):
                longest = max(len(k) for k in known)
                out = np.zeros((len(known), longest, self.layers, self.dim), np.float32)
                for i, k in enumerate(known):
                    out[i, :len(k)] = k
                return out
        return self.plan(sentences, neighbours)

    def keys(self, sentences: Sequence[Sequence[str]],
             neighbours: Sequence[Neighbours] | None) -> list[tuple]:
        """`known`'s keys: a sentence's words, and its neighbours where they are read."""
        if neighbours is None or not self.around:
            return [(tuple(s),) for s in sentences]
        return [(tuple(s), n) for s, n in zip(sentences, neighbours, strict=True)]

    def features(self, prepared: Plan | np.ndarray, encode: Encode) -> np.ndarray:
        """`(sentences, longest, L, H)` features from `prepare`'s result."""
        return prepared if isinstance(prepared, np.ndarray) else self.padded(prepared, encode)

    def plan(self, sentences: Sequence[Sequence[str]],
             neighbours: Sequence[Neighbours] | None = None) -> Plan:
        """The windows of `sentences` (the encoder is not run yet), with their
        `neighbours` where the model reads document context."""
        ids = self.wordpiece.ids
        windows: list[list[int]] = []
        rows: list[np.ndarray] = []
        counts: list[int] = []
        step = max(self.body // 2, 1)
        if neighbours is None or not self.around:
            neighbours = [NO_NEIGHBOURS] * len(sentences)
        for sentence, (before, after) in zip(sentences, neighbours, strict=True):
            pieces = [ids(word) for word in sentence]
            counts.extend(map(len, pieces))
            flat = [i for word in pieces for i in word]
            total = len(flat)
            left, right = self.context_ids(before, after, self.body - total)
            if total <= self.body:
                starts = np.zeros(1, np.int64)
            else:  # the last window ends at the sentence's end
                starts = np.unique(np.minimum(np.arange(0, total - self.body + step, step),
                                              total - self.body))
            first = len(windows)
            for start in starts:
                windows.append([self.wordpiece.cls, *left, *flat[start:start + self.body],
                                *right, self.wordpiece.sep])
            # Each subword from the window whose middle is nearest.
            position = np.arange(total)
            middle = starts + min(self.body, total) / 2
            best = np.abs(position[:, None] - middle[None, :]).argmin(axis=1)
            rows.append(np.stack([first + best, 1 + len(left) + position - starts[best]],
                                 axis=1))
        widths = np.fromiter(map(len, windows), np.int64, len(windows))
        padded = np.zeros((len(windows), int(widths.max(initial=2))), np.int32)
        for i, window in enumerate(windows):
            padded[i, :len(window)] = window
        where = np.concatenate(rows) if rows else np.zeros((0, 2), np.int64)
        counts_array = np.asarray(counts, np.int64)
        return Plan(padded, widths, where[:, 0], where[:, 1],
                    np.cumsum(counts_array) - counts_array, counts_array,
                    np.fromiter(map(len, sentences), np.int64, len(sentences)))

    def context_ids(self, before: Sequence[str], after: Sequence[str], room: int
                    ) -> tuple[list[int], list[int]]:
        """The subwords of a sentence's neighbours that its window has `room` for: up to
        `around` a side, shared evenly where both sides have more than their half."""
        if room <= 0 or not (before or after):
            return [], []
        ids = self.wordpiece.ids
        left = [i for word in before for i in ids(word)][-self.around:]
        right = [i for word in after for i in ids(word)][:self.around]
        take_left = min(len(left), max(room // 2, room - len(right)))
        take_right = min(len(right), room - take_left)
        return left[len(left) - take_left:], right[:take_right]

    def encoded(self, plan: Plan, encode: Encode) -> np.ndarray:
        """The encoder's state of each of the plan's subwords, `(subwords, L, H)`, the
        windows encoded in the groups `window_groups` picks."""
        out = np.empty((len(plan.window_of), self.layers, self.dim), np.float32)
        group_of = np.empty(len(plan.widths), np.int64)
        row_in_group = np.empty(len(plan.widths), np.int64)
        groups = window_groups(plan.widths)
        for number, members in enumerate(groups):
            group_of[members] = number
            row_in_group[members] = np.arange(len(members))
        subword_group = group_of[plan.window_of]
        for number, members in enumerate(groups):
            widest = int(plan.widths[members[0]])
            states = encode(np.ascontiguousarray(plan.windows[members, :widest]))
            mine = np.flatnonzero(subword_group == number)
            out[mine] = states[row_in_group[plan.window_of[mine]], plan.position[mine]]
        return out

    def pooled(self, plan: Plan, states: np.ndarray) -> np.ndarray:
        """Each word's features `(words, L, H)` from its subwords' `states`."""
        words = states[plan.word_starts]
        if self.pooling == "first" or not len(states):
            return words
        # Sums built up one subword position at a time over the words that have it: most
        # words are one subword, and np.add.reduceat is slow on (subwords, L, H) arrays.
        counts, longer = plan.word_counts, np.flatnonzero(plan.word_counts > 1)
        for k in range(1, int(counts.max())):
            longer = longer[counts[longer] > k]
            words[longer] += states[plan.word_starts[longer] + k]
        words /= counts[:, None, None]
        return words

    def padded(self, plan: Plan, encode: Encode, dtype=np.float32) -> np.ndarray:
        """`(sentences, longest, L, H)` features of a plan's sentences, zeros after each
        sentence's end."""
        words = self.pooled(plan, self.encoded(plan, encode))
        longest = int(plan.lengths.max(initial=0))
        out = np.zeros((len(plan.lengths), longest, self.layers, self.dim), dtype)
        mask = np.arange(longest)[None, :] < plan.lengths[:, None]
        out[mask] = words
        return out

    def per_sentence(self, sentences: Sequence[Sequence[str]], encode: Encode,
                     neighbours: Sequence[Neighbours] | None = None,
                     batch_subwords: int = 4096, dtype=np.float16) -> list[np.ndarray]:
        """`(words, L, H)` features of each sentence (read with its `neighbours`, if any),
        encoded in batches of about `batch_subwords` subwords, sentences of similar length
        together (for training, which computes them once)."""
        out: list[np.ndarray] = [np.zeros((0, self.layers, self.dim), dtype)] * len(sentences)
        order = np.argsort([len(s) for s in sentences], kind="stable")
        around = 2 * self.around if neighbours is not None else 0
        start = 0
        while start < len(order):
            end = start
            budget = 0
            while end < len(order) and (budget < batch_subwords or end == start):
                budget += 2 * len(sentences[order[end]]) + 2 + around
                end += 1
            rows = order[start:end]
            plan = self.plan([sentences[r] for r in rows],
                             None if neighbours is None else [neighbours[r] for r in rows])
            words = self.pooled(plan, self.encoded(plan, encode)).astype(dtype)
            cuts = np.cumsum(plan.lengths)[:-1]
            for row, features in zip(rows, np.split(words, cuts), strict=True):
                out[row] = features
            start = end
        return out


def window_groups(widths: np.ndarray) -> list[np.ndarray]:
    """The windows of one encoder call each, widest first, each group padded to its own
    widest window and holding at most GROUP_SUBWORDS padded subwords (or one window).

    Windows are sorted by width and cut where the encoder's estimated time is least: a
    group's padded subwords plus CALL_SUBWORDS for the call itself. One cut per batch
    would pad short windows to the longest; many small calls each cost their overhead.
    """
    order = np.argsort(-widths, kind="stable")
    sorted_widths = widths[order].astype(np.int64)
    n = len(order)
    # cost[j]: the least time for the first j windows; cut[j]: where its last group starts.
    cost = np.zeros(n + 1)
    cut = np.zeros(n + 1, np.int64)
    for end in range(1, n + 1):
        # A window holds at least [CLS] and [SEP]: a group at most GROUP_SUBWORDS // 2.
        firsts = np.arange(max(0, end - GROUP_SUBWORDS // 2), end)
        padded = (end - firsts) * sorted_widths[firsts]
        total = np.where((padded <= GROUP_SUBWORDS) | (firsts == end - 1),
                         cost[firsts] + padded + CALL_SUBWORDS, np.inf)
        best = int(np.argmin(total))
        cost[end], cut[end] = total[best], firsts[best]
    groups = []
    end = n
    while end:
        groups.append(order[cut[end]:end])
        end = int(cut[end])
    return groups[::-1]
