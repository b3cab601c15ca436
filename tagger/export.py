"""A SavedModel that tags raw text, for TensorFlow Serving and any TensorFlow runtime.

    tagger export models/conll exported/conll/1

Tokenizing, vocabulary lookups, the network, constrained Viterbi, confidences and entity
spans all run inside the graph. Loading it needs TensorFlow and tensorflow-text (the tokenizer
is its regex split): `import tensorflow_text` before `tf.saved_model.load`, or TensorFlow's
"Op type not registered 'RegexSplitWithOffsets'" follows. TensorFlow Serving links
tensorflow-text's ops since its 2.2 release.

Signatures cannot return ragged tensors, so every output is padded, with counts:

    serving_default(texts: string [batch])              raw UTF-8 texts
    tag_tokens(tokens: string [batch, n], lengths: int32 [batch])   pre-tokenized sentences

both return
    lengths       int32   [batch]          tokens per text
    tokens        string  [batch, T]       ("" after `lengths`)
    starts, ends  int32   [batch, T]       character offsets (code points, as Python's
                                           str indexes; for tag_tokens, into the tokens
                                           joined by single spaces)
    tags          string  [batch, T]
    confidences   float32 [batch, T]       each tag's probability (see tagging.Tagged)
    span_counts   int32   [batch]          entity spans per text (0 for POS models)
    span_labels   string  [batch, S]
    span_starts, span_ends  int32 [batch, S]   character offsets
    span_confidences        float32 [batch, S] the lowest confidence of the span's tokens
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from tagger import model_folder, schemes, tokenizing
from tagger.features import pad_to_one_step
from tagger.files import atomic_folder
from tagger.tagging import Tagger

TOKENS_SIGNATURE = "tag_tokens"
# Codes of tag prefixes for finding spans in the graph.
_S, _E, _I, _OTHER = 0, 1, 2, 3


def export(tagger: Tagger, path: str | Path, *, force: bool = False) -> None:
    """Write `tagger` as a SavedModel folder `path` (a version folder for TF Serving)."""
    path = Path(path)
    model_folder.check_writable(path, force)
    module = ExportedTagger(tagger)
    signatures = {
        tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY: module.tag_texts,
        TOKENS_SIGNATURE: module.tag_tokens,
    }
    with atomic_folder(path) as folder:
        tf.saved_model.save(module, str(folder), signatures=signatures)


class ExportedTagger(tf.Module):
    """The tagger's tables and network, with the two signatures as compiled functions."""

    def __init__(self, tagger: Tagger) -> None:
        super().__init__(name="tagger")
        self.network = tagger.model
        self.tables = tagger.featurizer.tables()
        self._featurizer = tagger.featurizer
        labels = tagger.output_labels
        self._labels = tf.constant(labels)
        entity = tagger.scheme != schemes.TOKEN
        parts = [schemes.split_tag(label) for label in labels]
        kinds = sorted({kind for _, kind in parts if kind}) if entity else []
        self._kinds = tf.constant(kinds or [""])
        self._kind_of = tf.constant([kinds.index(k) if k in kinds else -1 for _, k in parts],
                                    tf.int32)
        codes = {"S": _S, "E": _E, "I": _I}
        self._prefix_of = tf.constant([codes.get(p, _OTHER) for p, _ in parts], tf.int32)
        self.tag_texts = tf.function(
            self._tag_texts, input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
        self.tag_tokens = tf.function(self._tag_tokens, input_signature=[
            tf.TensorSpec([None, None], tf.string, name="tokens"),
            tf.TensorSpec([None], tf.int32, name="lengths")])

    def _tag_texts(self, texts: tf.Tensor) -> dict[str, tf.Tensor]:
        tokenized = tokenizing.tokenize(texts)
        _, char_bytes = tf.strings.unicode_decode_with_offsets(texts, "UTF-8",
                                                               errors="replace")
        # A byte offset's character offset is the number of characters starting before it.
        starts_of_chars = char_bytes.to_tensor(default_value=np.iinfo(np.int64).max)

        def characters(byte_offsets: tf.RaggedTensor) -> tf.Tensor:
            dense = tf.cast(byte_offsets.to_tensor(), tf.int64)
            return tf.cast(tf.searchsorted(starts_of_chars, dense, side="left"), tf.int32)

        return self._tag(tokenized.tokens, characters(tokenized.starts),
                         characters(tokenized.ends))

    def _tag_tokens(self, tokens: tf.Tensor, lengths: tf.Tensor) -> dict[str, tf.Tensor]:
        ragged = tf.RaggedTensor.from_tensor(tokens, lengths=lengths)
        sizes = tf.strings.length(ragged, unit="UTF8_CHAR").to_tensor()
        starts = tf.math.cumsum(sizes + 1, axis=1, exclusive=True)
        return self._tag(ragged, starts, starts + sizes)

    def _tag(self, tokens: tf.RaggedTensor, starts: tf.Tensor, ends: tf.Tensor
             ) -> dict[str, tf.Tensor]:
        lengths = tf.cast(tokens.row_lengths(), tf.int32)
        steps = tf.shape(starts)[1]
        features = {name: pad_to_one_step(values.to_tensor())
                    for name, values in self._featurizer(tokens).items()}
        best, confidence = self.network.decode_with_confidence(features)
        best, confidence = best[:, :steps], confidence[:, :steps]
        real = tf.sequence_mask(lengths, steps)
        outputs = {
            "lengths": lengths,
            "tokens": tokens.to_tensor(default_value=""),
            "starts": tf.where(real, starts, 0),
            "ends": tf.where(real, ends, 0),
            "tags": tf.where(real, tf.gather(self._labels, best), ""),
            "confidences": tf.where(real, confidence, 0.0),
        }
        return {**outputs, **self._spans(best, confidence, real, starts, ends)}

    def _spans(self, best, confidence, real, starts, ends) -> dict[str, tf.Tensor]:
        """Entity spans read as schemes.spans reads tags (its rules, vectorized)."""
        kind = tf.gather(self._kind_of, best)
        prefix = tf.gather(self._prefix_of, best)
        inside = real & (kind >= 0)
        closes = (prefix == _S) | (prefix == _E)
        # The kind of the span left open by the previous token (-1: none).
        open_kind = tf.where(inside & ~closes, kind, -1)
        previous = tf.pad(open_kind[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
        continues = inside & ((prefix == _I) | (prefix == _E)) & (kind == previous)
        first = inside & ~continues
        next_continues = tf.pad(continues[:, 1:], [[0, 0], [0, 1]])
        last = inside & (closes | ~next_continues)

        at_first, at_last = tf.where(first), tf.where(last)  # (spans, 2): row, step
        rows = at_first[:, 0]
        count = tf.shape(at_first)[0]
        # Each token inside a span gets its span's number: the firsts up to and including it.
        number = tf.cumsum(tf.cast(tf.reshape(first, [-1]), tf.int32)) - 1
        flat_inside = tf.reshape(inside, [-1])
        lowest = tf.math.unsorted_segment_min(
            tf.boolean_mask(tf.reshape(confidence, [-1]), flat_inside),
            tf.boolean_mask(number, flat_inside), count)
        nrows = tf.shape(real, out_type=tf.int64)[0]

        def per_text(values: tf.Tensor, default) -> tf.Tensor:
            return tf.RaggedTensor.from_value_rowids(values, rows, nrows=nrows).to_tensor(
                default_value=default)

        return {
            "span_counts": tf.cast(tf.RaggedTensor.from_value_rowids(rows, rows, nrows=nrows)
                                   .row_lengths(), tf.int32),
            "span_labels": per_text(tf.gather(self._kinds, tf.gather_nd(kind, at_first)), ""),
            "span_starts": per_text(tf.gather_nd(starts, at_first), 0),
            "span_ends": per_text(tf.gather_nd(ends, at_last), 0),
            "span_confidences": per_text(lowest, 0.0),
        }
