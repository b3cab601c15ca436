"""The lemma head: a tag head over edit scripts (`heads.edits`), whose record values are
the lemmas the predicted scripts make of the tokens' forms. Decoded by argmax; the
scripts apply in Python for the pipeline and in TensorFlow's string ops for the
SavedModel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tagger.heads import edits
from tagger.heads.tags import TagHead
from tagger.model_folder import HeadConfig


class LemmaHead(TagHead):
    """Lemmas as classification over the edit scripts learned from the corpus."""

    kind = "lemma"
    KEPT = 1 << 18  # (script, form) pairs whose lemma is kept, at most

    def __init__(self, config: HeadConfig, probabilities: bool = True) -> None:
        super().__init__(config, probabilities)
        self.scripts = [edits.parts(label) for label in self.labels]
        self._made: dict[tuple[int, str], str] = {}

    @staticmethod
    def targets(forms: Sequence[str], lemmas: Sequence[str]) -> list[str]:
        """The labels to learn: each form's edit script to its lemma."""
        return [edits.script(form, lemma) for form, lemma in zip(forms, lemmas, strict=True)]

    def values(self, ids: np.ndarray, forms: Sequence[str]) -> list[str]:
        # Text repeats its words: each (script, form) is made into a lemma once and kept.
        made = self._made
        if len(made) > self.KEPT:
            made.clear()
        lemmas = []
        for key in zip(ids.tolist(), forms, strict=True):
            lemma = made.get(key)
            if lemma is None:
                lemma = made[key] = edits.apply(self.labels[key[0]], key[1])
            lemmas.append(lemma)
        return lemmas

    def values_in_graph(self, best: Any, tokens: Any) -> Any:
        """`edits.apply` in TensorFlow on padded tokens `(batch, T)` strings."""
        import tensorflow as tf

        casing, cut_before, add_before, cut_after, add_after = (
            tf.constant(list(column)) for column in zip(*self.scripts, strict=True))
        lower = tf.gather(casing, best) == edits.LOWER
        base = tf.where(lower, tf.strings.lower(tokens, encoding="utf-8"), tokens)
        length = tf.strings.length(base, unit="UTF8_CHAR")
        before, after = tf.gather(cut_before, best), tf.gather(cut_after, best)
        adds = tf.strings.length(tf.gather(add_before, best)) + tf.strings.length(
            tf.gather(add_after, best))
        fits = (before + after < length) | ((before + after == length) & (adds > 0))
        middle = tf.strings.substr(base, tf.minimum(before, length),
                                   tf.maximum(length - before - after, 0), unit="UTF8_CHAR")
        lemmas = tf.strings.join([tf.gather(add_before, best), middle,
                                  tf.gather(add_after, best)])
        return tf.where(fits, lemmas, base)  # edits.fallback: the form in its casing
