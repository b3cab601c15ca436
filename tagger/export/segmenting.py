"""The learned tokenizer (`text.segmenter.Segmenter`) as TensorFlow ops, for the SavedModel:
the same hashed features, integer scores, forced labels, word bounds and lexicon, so that
the SavedModel finds the tokens the pipeline finds (the backend parity tests hold the two
together).

The texts' code points are laid end to end, each text between PAD newlines as the
pipeline joins them, and every position is labelled in one pass over the flat array.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tagger.text.segmenter import (
    DICTIONARY_WINDOWS,
    INSIDE,
    JOINER,
    MARK,
    MULTIPLIER,
    OTHER,
    PAD,
    PRIME,
    SPACE,
    SPACE_POINT,
    TABLE_CODE_POINTS,
    TABLE_SIZE,
    TEMPLATES,
    TOKEN,
    UPPER,
    WORD,
    WORDLIKE,
    Segmenter,
)

_NEWLINE = 10


class InGraphSegmenter(tf.Module):
    """A segmenter's tables as constants; called on a batch of texts, it gives their words
    `(texts, words)` ragged with their character offsets, and the offsets of their surface
    tokens of several words (`Tokenized.multiword`), `(texts, tokens)` ragged."""

    def __init__(self, segmenter: Segmenter) -> None:
        super().__init__(name="segmenter")
        self._weights = tf.constant(segmenter.weights, tf.int32)
        self._classes = tf.constant(segmenter.classes.astype(np.int64))
        self._lower = tf.constant(segmenter.lower.astype(np.int64))
        self._dictionary = tf.constant(segmenter.dictionary.astype(np.int64))
        self._formats = tf.constant(segmenter.formats)
        self._dictionary_size = len(segmenter.dictionary)
        surfaces = sorted(segmenter.lexicon)
        self._lexicon = None
        if surfaces:
            keys = tf.constant(surfaces, tf.string)
            self._lexicon = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                keys, tf.range(len(surfaces), dtype=tf.int32)), default_value=-1)
            plain = [segmenter.expansions[s][0] for s in surfaces]
            capitalized = [segmenter.expansions[s][1] for s in surfaces]
            self._plain = tf.constant([" ".join(forms) for forms in plain])
            self._capitalized = tf.constant([" ".join(forms) for forms in capitalized])

    def __call__(self, texts: tf.Tensor) -> tuple[tf.RaggedTensor, tf.RaggedTensor,
                                                  tf.RaggedTensor]:
        points = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")
        points = tf.cast(points, tf.int64)
        rows = points.nrows()
        pad = tf.RaggedTensor.from_tensor(tf.fill([rows, PAD], tf.constant(_NEWLINE,
                                                                            tf.int64)))
        padded = tf.concat([pad, points, pad], axis=1)
        # Newlines after the last text, so that every shifted slice below exists.
        flat = tf.concat([padded.flat_values, tf.fill([2 * PAD], tf.constant(_NEWLINE,
                                                                              tf.int64))], 0)
        known = flat < TABLE_CODE_POINTS
        index = tf.minimum(flat, TABLE_CODE_POINTS - 1)
        classes = self._joined_formats(flat, tf.where(known, tf.gather(self._classes, index),
                                                      OTHER))
        lowered = tf.where(classes == SPACE, tf.constant(SPACE_POINT, tf.int64),
                           tf.where(known, tf.gather(self._lower, index), flat))
        count = tf.size(flat) - 2 * PAD  # the positions labelled: all but the outer pads

        def shifted(values: tf.Tensor, offset: int) -> tf.Tensor:
            return tf.slice(values, [PAD + offset], [count])

        labels = self._labels(lowered, classes, shifted)
        here = shifted(classes, 0)
        spaces = here == SPACE
        starting = ~spaces & (labels != INSIDE)
        starts = tf.cast(tf.where(starting)[:, 0], tf.int32)
        breaks = tf.concat([tf.cast(tf.where(starting | spaces)[:, 0], tf.int32),
                            [count]], 0)
        ends = tf.gather(breaks, tf.searchsorted(breaks, starts, side="right"))
        token_of = tf.cumsum(tf.cast(tf.gather(labels, starts) == TOKEN, tf.int32)) - 1
        words_in = tf.math.bincount(token_of)
        single = tf.gather(words_in, token_of) == 1
        # Flat positions (pads included) -> the text and the character within it.
        row_of = tf.gather(padded.value_rowids(), starts + PAD)
        text_start = tf.cast(tf.gather(padded.row_starts(), row_of), tf.int32) + PAD
        ranges = tf.ragged.range(starts + PAD, ends + PAD)
        forms = tf.strings.unicode_encode(tf.cast(tf.gather(flat, ranges), tf.int32), "UTF-8")
        pieces = _one_each(forms) if self._lexicon is None else self._expanded(
                forms, tf.strings.unicode_encode(tf.cast(tf.gather(lowered, ranges), tf.int32),
                                                 "UTF-8"),
                single, tf.gather(classes, starts + PAD) == UPPER)
        repeat = pieces.row_lengths()
        word_rows = tf.repeat(row_of, repeat)

        def per_text(values: tf.Tensor) -> tf.RaggedTensor:
            return tf.RaggedTensor.from_value_rowids(values, word_rows, nrows=rows)

        # Surface tokens of several words: cut into words, or expanded by the lexicon.
        tokens = tf.size(words_in)
        several = (words_in > 1) | (tf.math.unsorted_segment_max(
            tf.cast(repeat > 1, tf.int32), token_of, tokens) > 0)
        first = tf.math.unsorted_segment_min(starts + PAD - text_start, token_of, tokens)
        last = tf.math.unsorted_segment_max(ends + PAD - text_start, token_of, tokens)
        token_rows = tf.math.unsorted_segment_min(row_of, token_of, tokens)

        def held(values: tf.Tensor) -> tf.RaggedTensor:
            return tf.RaggedTensor.from_value_rowids(
                tf.boolean_mask(values, several), tf.boolean_mask(token_rows, several),
                nrows=rows)

        return (per_text(pieces.flat_values),
                per_text(tf.repeat(starts + PAD - text_start, repeat)),
                per_text(tf.repeat(ends + PAD - text_start, repeat)),
                held(first), held(last))

    def _joined_formats(self, flat: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
        """`segmenter.joined_formats`: a format character between two word characters
        reads as a joiner (the segmenter's formats are never empty: U+00AD is one)."""
        found = tf.minimum(tf.searchsorted(self._formats, flat), tf.size(self._formats) - 1)
        inner = (tf.gather(self._formats, found) == flat)[1:-1]
        word = tf.reduce_any(classes[:, tf.newaxis] == tf.constant(WORDLIKE, tf.int64), axis=1)
        between = tf.concat([[False], inner & word[:-2] & word[2:], [False]], 0)
        return tf.where(between, tf.constant(JOINER, tf.int64), classes)

    def _labels(self, lowered: tf.Tensor, classes: tf.Tensor, shifted) -> tf.Tensor:
        """`Segmenter.labels_of`: the label of each position."""
        spaces_before = tf.concat([[0], tf.cumsum(tf.cast(classes == SPACE, tf.int32))], 0)
        positions = tf.range(PAD, PAD + tf.size(shifted(classes, 0)))
        windows: dict[tuple[bool, int], tf.Tensor] = {}

        def at(points: bool, offset: int) -> tf.Tensor:
            if (points, offset) not in windows:
                values, blank = (lowered, SPACE_POINT) if points else (classes, SPACE)
                window = shifted(values, offset)
                if abs(offset) > 1:  # blank where a space lies between
                    near, far = (positions + 1, positions + offset) if offset > 0 else \
                        (positions + offset + 1, positions)
                    between = tf.gather(spaces_before, far) > tf.gather(spaces_before, near)
                    window = tf.where(between, tf.constant(blank, tf.int64), window)
                windows[points, offset] = window
            return windows[points, offset]

        def hashed(first: int, values: list[tf.Tensor]) -> tf.Tensor:
            result = tf.fill(tf.shape(positions), tf.constant(first, tf.int64))
            for value in values:
                result = tf.math.floormod(result * MULTIPLIER + value + 1, PRIME)
            return result

        columns = [hashed(t + 1, [at(True, o) for o in point_offsets]
                          + [at(False, o) for o in class_offsets])
                   for t, (point_offsets, class_offsets) in enumerate(TEMPLATES)]
        flags = []
        for n, (length, first) in enumerate(DICTIONARY_WINDOWS):
            word = hashed(0, [at(True, o) for o in range(first, first + length)])
            flags.append(self._in_dictionary(word))
            columns.append(hashed(len(TEMPLATES) + 2 + n, [flags[-1]]))
        columns.append(hashed(len(TEMPLATES) + 1, flags))
        rows = tf.bitwise.bitwise_and(tf.stack(columns, axis=1), TABLE_SIZE - 1)
        scores = tf.reduce_sum(tf.gather(self._weights, rows), axis=1)
        inside, token, word = scores[:, INSIDE], scores[:, TOKEN], scores[:, WORD]
        labels = tf.where((token > inside) & (token >= word), TOKEN,
                          tf.where((word > inside) & (word > token), WORD, INSIDE))
        here, before = shifted(classes, 0), shifted(classes, -1)
        starts = (here != SPACE) & (before == SPACE)
        joined = (here == MARK) | (here == JOINER) | (before == JOINER)
        continues = (here != SPACE) & ~starts & joined
        labels = tf.where(starts, TOKEN, labels)
        return tf.where(continues | (here == SPACE), INSIDE, labels)

    def _in_dictionary(self, hashed: tf.Tensor) -> tf.Tensor:
        if not self._dictionary_size:
            return tf.zeros_like(hashed)
        found = tf.minimum(tf.searchsorted(self._dictionary, hashed), self._dictionary_size - 1)
        return tf.cast(tf.gather(self._dictionary, found) == hashed, tf.int64)

    def _expanded(self, forms: tf.Tensor, lowered: tf.Tensor, single: tf.Tensor,
                  capitalized: tf.Tensor) -> tf.RaggedTensor:
        """Each word's forms: itself, or for a single-word token the lexicon has, its
        expansion (capitalized after a capital)."""
        entry = self._lexicon.lookup(lowered)
        found = single & (entry >= 0)
        safe = tf.maximum(entry, 0)
        expansion = tf.where(capitalized, tf.gather(self._capitalized, safe),
                             tf.gather(self._plain, safe))
        split = tf.strings.split(tf.where(found, expansion, ""), " ")
        return _choose(found, split, _one_each(forms))


def _one_each(forms: tf.Tensor) -> tf.RaggedTensor:
    return tf.RaggedTensor.from_row_lengths(forms, tf.ones_like(forms, tf.int64))


def _choose(found: tf.Tensor, expanded: tf.RaggedTensor, kept: tf.RaggedTensor
            ) -> tf.RaggedTensor:
    """Rows of `expanded` where `found`, else rows of `kept`."""
    lengths = tf.where(found, expanded.row_lengths(), kept.row_lengths())
    values = tf.concat([expanded.flat_values, kept.flat_values], 0)
    offset = tf.size(expanded.flat_values, out_type=tf.int64)
    starts = tf.where(found, expanded.row_starts(), kept.row_starts() + offset)
    index = tf.ragged.range(starts, starts + lengths)
    return tf.RaggedTensor.from_row_lengths(tf.gather(values, index.flat_values), lengths)

