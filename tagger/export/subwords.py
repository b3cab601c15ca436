"""The contextual features inside the SavedModel: `encoders.context` and `text.wordpiece` as
TensorFlow (and TensorFlow Text) ops, so that an exported model tags raw strings alone.

    tokens (texts, tokens) -> BERT's pre-tokenization of each token -> WordPiece ids
    -> windows of at most `window` subwords, overlapping by half ([CLS] ... [SEP])
    -> BertEncoder -> each subword's state from the window whose middle is nearest
    -> per token: first subword's state or the mean -> (texts, tokens, L, H) ragged

The same steps in the same order as the pipeline's NumPy, so both give the same features
(tests/test_backends.py compares their records).
"""

from __future__ import annotations

import tensorflow as tf

from tagger.backends.keras.transformer import BertEncoder
from tagger.text import wordpiece as wp

# BERT's punctuation: Unicode P* and the ASCII symbols (`wordpiece._is_punctuation`).
_PUNCTUATION = r"[\p{P}!-/:-@\[-`{-~]"
_CJK = "".join(f"\\x{{{low:X}}}-\\x{{{high:X}}}" for low, high in wp._CJK)


class InGraphContext(tf.Module):
    """A model's encoder, vocabulary, window and pooling, run on ragged tokens."""

    def __init__(self, encoder: BertEncoder, vocabulary: wp.WordPiece, window: int,
                 pooling: str) -> None:
        import tensorflow_text as tf_text

        super().__init__(name="context")
        self.encoder = encoder
        self.lowercase, self.strip_accents = vocabulary.lowercase, vocabulary.strip_accents
        self.unk, self.cls, self.sep = vocabulary.unk, vocabulary.cls, vocabulary.sep
        self.body = window - 2
        self.pooling = pooling
        # Bytes are not characters: the piece length limit is checked in characters below.
        self.wordpiece = tf_text.FastWordpieceTokenizer(
            vocabulary.vocab, suffix_indicator="##", max_bytes_per_word=4 * wp.MAX_PIECE_CHARS,
            token_out_type=tf.int32, unknown_token="[UNK]", no_pretokenization=True,
            support_detokenization=False)

    def subwords(self, flat: tf.Tensor) -> tf.RaggedTensor:
        """`WordPiece.ids` of each token string: (tokens, subwords), at least one each."""
        import tensorflow_text as tf_text

        text = tf.strings.regex_replace(flat, r"[\t\n\r\p{Zs}]", " ")
        text = tf.strings.regex_replace(text, "[\\x{0}\\x{FFFD}\\p{C}]", "")
        text = tf.strings.regex_replace(text, f"([{_CJK}])", r" \1 ")
        if self.lowercase:
            text = tf.strings.lower(text, encoding="utf-8")
        if self.strip_accents:
            text = tf.strings.regex_replace(tf_text.normalize_utf8(text, "NFD"), r"\p{Mn}", "")
        pieces = tf_text.regex_split(text, f" +|{_PUNCTUATION}", _PUNCTUATION)
        long = tf.strings.length(pieces.flat_values, unit="UTF8_CHAR") > wp.MAX_PIECE_CHARS
        per_piece = self.wordpiece.tokenize(tf.where(long, "[UNK]", pieces.flat_values))
        ids = tf.RaggedTensor.from_row_lengths(per_piece.flat_values, _per_row(
            per_piece.row_lengths(), pieces.value_rowids(), pieces.nrows()))
        empty = tf.cast(ids.row_lengths() == 0, tf.int64)  # such a token is [UNK]
        unknown = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(empty)], self.unk), empty)
        return tf.concat([ids, unknown], axis=1)

    def __call__(self, tokens: tf.RaggedTensor) -> tf.RaggedTensor:
        """(texts, tokens) strings -> (texts, tokens, layers, hidden) features."""
        ids = self.subwords(tokens.flat_values)  # (all tokens, subwords)
        counts = ids.row_lengths()
        totals = _per_row(counts, tokens.value_rowids(), tokens.nrows())  # subwords per text
        body = tf.constant(self.body, tf.int64)
        step = tf.maximum(body // 2, 1)
        # Windows per text: one if it fits, else starts 0, step, ... with the last clipped
        # to end at the text's end (duplicates dropped, as np.unique drops them).
        many = tf.maximum((totals - body + step - 1) // step, 0) + 1
        window_text = tf.repeat(tf.range(tf.size(totals, out_type=tf.int64)), many)
        k = tf.ragged.range(many).flat_values
        text_total = tf.gather(totals, window_text)
        starts = tf.minimum(k * step, tf.maximum(text_total - body, 0))
        keep = tf.logical_or(k == 0, starts > tf.concat([[-1], starts[:-1]], 0))
        starts, window_text = starts[keep], window_text[keep]
        text_total = tf.gather(totals, window_text)
        sizes = tf.minimum(body, text_total)
        text_first = tf.math.cumsum(totals, exclusive=True)  # each text's first subword
        flat = ids.flat_values
        inside = tf.ragged.range(starts, starts + sizes) + \
            tf.gather(text_first, window_text)[:, None]
        windows = tf.concat([tf.fill([tf.size(starts), 1], self.cls),
                             tf.gather(flat, inside), tf.fill([tf.size(starts), 1],
                                                              self.sep)], axis=1)
        padded = windows.to_tensor()
        width = tf.shape(padded, out_type=tf.int64)[1]
        states = self.encoder(padded)  # (windows, S, L, H)
        states = tf.reshape(states, tf.concat([[-1], tf.shape(states)[2:]], 0))
        # Each subword: its text, its position there, and the windows of its text.
        subword_text = tf.repeat(tokens.value_rowids(), counts)
        position = tf.range(tf.size(flat, out_type=tf.int64)) - tf.gather(text_first,
                                                                          subword_text)
        text_windows = tf.RaggedTensor.from_value_rowids(
            tf.range(tf.size(starts, out_type=tf.int64)), window_text,
            nrows=tokens.nrows())
        candidates = tf.gather(text_windows, subword_text)  # (subwords, its text's windows)
        middle = tf.cast(tf.gather(starts, candidates), tf.float64) + \
            tf.cast(tf.gather(sizes, candidates), tf.float64) / 2
        distance = tf.abs(tf.cast(position, tf.float64)[:, None] - middle)
        # The nearest middle, the first of equals (np.argmin's rule).
        nearest = tf.reduce_min(distance, axis=1)
        first_nearest = tf.ragged.map_flat_values(
            tf.cast, tf.equal(distance, nearest[:, None]), tf.int64)
        choice = tf.argmax(first_nearest.to_tensor(), axis=1)
        window = tf.gather(candidates.to_tensor(), choice, batch_dims=1)
        rows = window * width + 1 + position - tf.gather(starts, window)
        subword_states = tf.gather(states, rows)  # (subwords, L, H)
        if self.pooling == "first":
            word_states = tf.gather(subword_states, tf.math.cumsum(counts, exclusive=True))
        else:
            word_states = tf.math.segment_mean(subword_states, ids.value_rowids())
        return tokens.with_flat_values(word_states)


def _per_row(values: tf.Tensor, rows: tf.Tensor, nrows: tf.Tensor) -> tf.Tensor:
    """Sum of `values` per row id (rows without values: 0)."""
    return tf.math.unsorted_segment_sum(values, rows, nrows)
