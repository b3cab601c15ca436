"""A SavedModel that tags raw text, for TensorFlow Serving and any TensorFlow runtime.

    tagger export models/conll exported/conll/1

Tokenizing, vocabulary lookups, the network, constrained Viterbi, confidences and entity
spans all run inside the graph: this module is the in-graph twin of the pipeline
(`tagger.pipeline`), held to it by the backend parity tests. Loading it needs TensorFlow
and tensorflow-text (the tokenizer is its regex split): `import tensorflow_text` before
`tf.saved_model.load`, or TensorFlow's "Op type not registered 'RegexSplitWithOffsets'"
follows. TensorFlow Serving links tensorflow-text's ops since its 2.2 release.

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
    confidences   float32 [batch, T]       each tag's probability (see records.Tagged)
    span_counts   int32   [batch]          entity spans per text (0 for POS models)
    span_labels   string  [batch, S]
    span_starts, span_ends  int32 [batch, S]   character offsets
    span_confidences        float32 [batch, S] the lowest confidence of the span's tokens,
                                               calibrated as the model's calibration maps it
    <column>      string  [batch, T]       each further head's values, by its column (a
                                           model trained with --columns: xpos, feats, lemma)

and serving_default also
    multiword_counts        int32   [batch]    surface tokens of several of `tokens` (its
                                               words): 0 but for a learned tokenizer
    multiword_starts, multiword_ends  int32 [batch, M]   their character offsets
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import tensorflow as tf

from tagger import model_folder, schemes
from tagger.backends.keras.backend import KerasBackend
from tagger.backends.keras.network import TaggerModel
from tagger.backends.keras.transformer import BertEncoder
from tagger.export.segmenting import InGraphSegmenter
from tagger.export.subwords import InGraphContext
from tagger.files import atomic_folder
from tagger.text import tokenizer
from tagger.text.features import CASING_CLASSES, CASING_OTHER, MAX_WORD_CHARS
from tagger.text.segmenter import Segmenter
from tagger.text.vocabulary import PAD_ID, UNK_ID

if TYPE_CHECKING:  # the pipeline loads backends; this module only reads a loaded tagger
    from tagger.pipeline import Tagger

TOKENS_SIGNATURE = "tag_tokens"
# Codes of tag prefixes for finding spans in the graph.
_S, _E, _I, _OTHER = 0, 1, 2, 3


def export(tagger: Tagger, path: str | Path, *, force: bool = False) -> None:
    """Write `tagger` (on the keras backend) as a SavedModel folder `path` (a version folder
    for TF Serving)."""
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
        self.network = tagger.backend.model
        featurizer = tagger.featurizer
        # Keys skip <pad> and <unk>: those literal strings in text are unknown words.
        self.tables = [lookup_table(tf.constant(featurizer.words.words[2:], tf.string), 2)]
        self._lowercase = featurizer.words.lowercase
        if featurizer.chars is not None:
            self.tables.append(lookup_table(
                tf.constant(featurizer.chars.code_points, tf.int32), 2))
        self._casing = featurizer.use_casing
        self.context = None
        if tagger.context is not None:  # a model with a contextual encoder
            backend = tagger.backend
            self.context = InGraphContext(
                BertEncoder(backend.checkpoint, tagger.config.context_layers),
                tagger.context.wordpiece, tagger.context.body + 2, tagger.context.pooling)
        # A model with a learned tokenizer runs it; the others run the rules' patterns.
        self.segmenter = InGraphSegmenter(tagger.tokenizer) \
            if isinstance(tagger.tokenizer, Segmenter) else None
        self.more = tagger.heads[1:]
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
        calibration = tagger.config.calibration
        self._calibration = None if calibration is None else (
            tf.constant(calibration.x, tf.float32), tf.constant(calibration.y, tf.float32))
        self.tag_texts = tf.function(
            self._tag_texts, input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
        self.tag_tokens = tf.function(self._tag_tokens, input_signature=[
            tf.TensorSpec([None, None], tf.string, name="tokens"),
            tf.TensorSpec([None], tf.int32, name="lengths")])

    def _tag_texts(self, texts: tf.Tensor) -> dict[str, tf.Tensor]:
        if self.segmenter is not None:
            words, starts, ends, held_starts, held_ends = self.segmenter(texts)
            return {**self._tag(words, starts.to_tensor(), ends.to_tensor()),
                    "multiword_counts": tf.cast(held_starts.row_lengths(), tf.int32),
                    "multiword_starts": held_starts.to_tensor(),
                    "multiword_ends": held_ends.to_tensor()}
        tokenized = tokenize(texts)
        _, char_bytes = tf.strings.unicode_decode_with_offsets(texts, "UTF-8",
                                                               errors="replace")
        # A byte offset's character offset is the number of characters starting before it.
        # Searched in one flat sorted list, each text's offsets moved past the previous
        # text's, so memory follows the characters, not texts times the longest text.
        shift = tf.constant(2**40, tf.int64)

        def characters(byte_offsets: tf.RaggedTensor) -> tf.Tensor:
            rows = byte_offsets.value_rowids()
            found = tf.searchsorted(char_bytes.values + char_bytes.value_rowids() * shift,
                                    tf.cast(byte_offsets.values, tf.int64) + rows * shift,
                                    side="left", out_type=tf.int64)
            within = found - tf.gather(char_bytes.row_splits, rows)
            return byte_offsets.with_flat_values(tf.cast(within, tf.int32)).to_tensor()

        none = tf.zeros([tf.shape(texts)[0], 0], tf.int32)  # the rules find no multiword
        return {**self._tag(tokenized.tokens, characters(tokenized.starts),
                            characters(tokenized.ends)),
                "multiword_counts": tf.zeros_like(texts, tf.int32),
                "multiword_starts": none, "multiword_ends": none}

    def _tag_tokens(self, tokens: tf.Tensor, lengths: tf.Tensor) -> dict[str, tf.Tensor]:
        ragged = tf.RaggedTensor.from_tensor(tokens, lengths=lengths)
        sizes = tf.strings.length(ragged, unit="UTF8_CHAR").to_tensor()
        starts = tf.math.cumsum(sizes + 1, axis=1, exclusive=True)
        return self._tag(ragged, starts, starts + sizes)

    def _tag(self, tokens: tf.RaggedTensor, starts: tf.Tensor, ends: tf.Tensor
             ) -> dict[str, tf.Tensor]:
        lengths = tf.cast(tokens.row_lengths(), tf.int32)
        steps = tf.shape(starts)[1]
        # A call in which no text has a token leaves nothing to run: its features and the
        # decoder's updates would have empty shapes, which ArgMax and
        # tensor_scatter_nd_update refuse.
        heads = 1 + len(self.more)
        *bests, confidence = tf.cond(
            steps > 0,
            lambda: self._decode_in_batches(self._features(tokens), lengths, steps),
            lambda: [*[tf.zeros([tf.size(lengths), 0], tf.int32)] * heads,
                     tf.zeros([tf.size(lengths), 0], tf.float32)])
        best = bests[0]
        real = tf.sequence_mask(lengths, steps)
        padded = tokens.to_tensor(default_value="")
        outputs = {
            "lengths": lengths,
            "tokens": padded,
            "starts": tf.where(real, starts, 0),
            "ends": tf.where(real, ends, 0),
            "tags": tf.where(real, tf.gather(self._labels, best), ""),
            "confidences": tf.where(real, confidence, 0.0),
        }
        for head, head_best in zip(self.more, bests[1:], strict=True):
            outputs[head.column] = tf.where(real, head.values_in_graph(head_best, padded), "")
        return {**outputs, **self._spans(best, confidence, real, starts, ends)}

    def _decode_in_batches(self, features: dict[str, tf.RaggedTensor], lengths: tf.Tensor,
                           steps: tf.Tensor) -> list[tf.Tensor]:
        """`decode_with_confidence` over length-sorted batches of the texts, each padded to
        its own longest text and bounded as the keras backend bounds its batches
        (`batching.sorted_batches`' rule): the network's memory follows that budget, not
        the number of texts times the longest one. Each head's label ids, then the first
        head's confidences, all `(texts, steps)`."""
        count = tf.shape(lengths)[0]
        order = tf.argsort(lengths, direction="DESCENDING", stable=True)
        ordered = {name: tf.gather(values, order) for name, values in features.items()}
        longest_first = tf.gather(lengths, order)
        heads = 1 + len(self.more)
        found = [tf.zeros([count, steps], tf.int32)] * heads + [
            tf.zeros([count, steps], tf.float32)]

        def one_batch(start, *found):
            longest = tf.maximum(longest_first[start], 1)
            size = tf.clip_by_value(KerasBackend.max_batch_tokens // longest, 1,
                                    KerasBackend.max_batch_sentences)
            end = tf.minimum(start + size, count)
            batch = {name: pad_to_one_step(values[start:end].to_tensor())
                     for name, values in ordered.items()}
            labels, probabilities = decode_with_confidence(self.network, batch)
            rows = order[start:end, tf.newaxis]
            widen = [[0, 0], [0, steps - tf.minimum(tf.shape(probabilities)[1], steps)]]
            return (end, *[tf.tensor_scatter_nd_update(whole, rows,
                                                       tf.pad(part[:, :steps], widen))
                           for whole, part in zip(found, [*labels, probabilities],
                                                  strict=True)])

        _, *found = tf.while_loop(lambda start, *_: start < count, one_batch,
                                  [tf.constant(0), *found])
        return found

    def _features(self, tokens: tf.RaggedTensor) -> dict[str, tf.RaggedTensor]:
        """`features.Featurizer`'s ids as TensorFlow ops, ragged `(texts, tokens[, chars])`."""
        words = tf.ragged.map_flat_values(tf.strings.lower, tokens, encoding="utf-8") \
            if self._lowercase else tokens
        features = {"words": tf.ragged.map_flat_values(self.tables[0].lookup, words)}
        if len(self.tables) > 1:
            code_points = tf.strings.unicode_decode(tokens, "UTF-8", errors="replace")
            features["chars"] = tf.ragged.map_flat_values(
                self.tables[1].lookup, code_points[:, :, :MAX_WORD_CHARS])
        if self._casing:
            features["casing"] = tf.ragged.map_flat_values(casing, tokens)
        if self.context is not None:
            features["context"] = self.context(tokens)
        return features

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
        if self._calibration is not None:
            lowest = interpolated(lowest, *self._calibration)
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


def interpolated(values: tf.Tensor, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """`numpy.interp(values, x, y)` in the graph: the piecewise-linear function through the
    knots (`x` increasing), held at its end values beyond them."""
    if x.shape[0] == 1:
        return tf.fill(tf.shape(values), y[0])
    clipped = tf.clip_by_value(values, x[0], x[-1])
    right = tf.clip_by_value(tf.searchsorted(x, clipped, side="right"), 1, x.shape[0] - 1)
    x0, x1 = tf.gather(x, right - 1), tf.gather(x, right)
    y0, y1 = tf.gather(y, right - 1), tf.gather(y, right)
    return y0 + (clipped - x0) / (x1 - x0) * (y1 - y0)


def decode_with_confidence(model: TaggerModel, inputs: dict[str, tf.Tensor]
                           ) -> tuple[list[tf.Tensor], tf.Tensor]:
    """Each head's decoding in the graph (`heads.TagHead.decode_in_graph`): its best label
    ids, and the first head's probability of each, all `(batch, timesteps)`, for padded
    inputs."""
    mask = inputs["words"] != PAD_ID
    decoded = [head.decode_in_graph(scores, mask, crf_layer) for head, crf_layer, scores in
               zip(model.heads, model.crfs, model(inputs, training=False), strict=True)]
    return [best for best, _ in decoded], decoded[0][1]


class Tokenized(NamedTuple):
    """Tokens of a batch of texts, `(texts, tokens)` ragged, with UTF-8 byte offsets."""

    tokens: tf.RaggedTensor
    starts: tf.RaggedTensor
    ends: tf.RaggedTensor


def tokenize(texts: tf.Tensor) -> Tokenized:
    """`tokenizer.split` in TensorFlow Text: tokens with UTF-8 byte offsets."""
    import tensorflow_text as tf_text

    texts = tf.strings.regex_replace(texts, r"\x00", " ")
    words, starts, _ = tf_text.regex_split_with_offsets(
        texts, tokenizer.TOKEN_PATTERN + f"|{tokenizer.SPACE}+", tokenizer.TOKEN_PATTERN)
    # Second pass over the flat list of words: split off clitics, then regroup by text.
    # Flat-value arithmetic keeps the compiled graph small (ragged broadcasting does not).
    pieces, p_starts, p_ends = tf_text.regex_split_with_offsets(
        words.flat_values, tokenizer.CLITIC_PATTERN, tokenizer.CLITIC_PATTERN)
    # As tokenizer.split: format characters before a clitic stay out of the word's part
    # (only a piece that a clitic follows, not a word's last: a flag ends in tag characters).
    rows = pieces.value_rowids()
    last = tf.range(tf.size(rows, out_type=tf.int64)) == tf.gather(pieces.row_limits(), rows) - 1
    trimmed = tf.where(last, pieces.flat_values, tf.strings.regex_replace(
        pieces.flat_values, tokenizer.TRAILING_FORMAT, ""))
    pieces = pieces.with_flat_values(trimmed)
    p_ends = p_starts.with_flat_values(p_starts.flat_values + tf.cast(
        tf.strings.length(trimmed, unit="BYTE"), p_starts.dtype))
    word_start = tf.gather(starts.flat_values, pieces.value_rowids())
    pieces_per_text = tf.math.unsorted_segment_sum(pieces.row_lengths(), words.value_rowids(),
                                                   words.nrows())

    def regroup(flat: tf.Tensor) -> tf.RaggedTensor:
        return tf.RaggedTensor.from_row_lengths(flat, pieces_per_text, validate=False)

    return Tokenized(regroup(pieces.flat_values),
                     regroup(p_starts.flat_values + word_start),
                     regroup(p_ends.flat_values + word_start))


def casing(flat: tf.Tensor) -> tf.Tensor:
    """`features.casing_class` of each token string, int32."""
    classes = tf.fill(tf.shape(flat), CASING_OTHER)
    for index, (_, pattern) in reversed(list(enumerate(CASING_CLASSES, 1))):
        classes = tf.where(tf.strings.regex_full_match(flat, pattern), index, classes)
    return classes


def lookup_table(keys: tf.Tensor, first_id: int) -> tf.lookup.StaticHashTable:
    """A table from `keys` to consecutive int32 ids from `first_id`; others get UNK_ID."""
    values = tf.range(first_id, first_id + tf.size(keys), dtype=tf.int32)
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values),
                                     default_value=UNK_ID)


def pad_to_one_step(dense: tf.Tensor) -> tf.Tensor:
    """Padded features with at least one step (and one character): a batch of empty texts
    still runs through the network, which needs a step; padding changes no real step."""
    shape = tf.shape(dense)
    grow = [[0, 0]] + [[0, tf.maximum(1 - shape[axis], 0)] for axis in range(1, dense.shape.rank)]
    return tf.pad(dense, grow, constant_values=PAD_ID)
