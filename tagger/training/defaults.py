"""Settings picked from the corpus, for a training that names no recipe for them: what
`tagger train --dataset X` does with no other options.

    size        a small train split (fewer than SMALL_TOKENS tokens) gets more epochs and
                patience: its validation split is small too, so its scores are noisy and an
                epoch's gain shows late (the small GSD recipes train so)
    tag scheme  entity tags get a CRF head, token tags (POS) a softmax
    raw text    a corpus with its own text gets a tokenizer learned from it where the
                rules disagree with it (the `auto` tokenizer); one without, the rules
A setting the user gives (an option, a recipe) is never changed. What was tried and left out
(a character BiLSTM and locked dropout for small entity corpora, as WNUT-17's recipe has
them): docs/experiments.md#settings-picked-from-the-corpus.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tagger import schemes
from tagger.corpora import Corpus

SMALL_TOKENS = 150_000
SMALL = {"epochs": 40, "patience": 10}


def picked(corpus: Corpus, given: Iterable[str]) -> tuple[dict[str, Any], str]:
    """The settings the corpus calls for, leaving out those in `given`, and one line saying
    what was picked and why."""
    tokens = sum(len(words) for words, _ in corpus.split("train"))
    values: dict[str, Any] = {}
    said = [f"{tokens:,} train tokens"]
    if tokens < SMALL_TOKENS:
        values.update(SMALL)
        said[0] += f", small: {SMALL['epochs']} epochs, patience {SMALL['patience']}"
    entities = corpus.scheme != schemes.TOKEN
    values["head"] = "crf" if entities else "softmax"
    said.append(f"{'entity' if entities else 'token'} tags ({corpus.scheme}): "
                f"{values['head']} head")
    said.append("its own raw text: tokenizer learned where the rules disagree"
                if corpus.has_text else "no raw text: tokenizer rules")
    given = set(given)
    kept = {name: value for name, value in values.items() if name not in given}
    if not kept:
        return {}, ""
    overridden = sorted(set(values) - set(kept))
    return kept, ("settings from the corpus: " + "; ".join(said)
                  + (f" (yours kept: {', '.join(overridden)})" if overridden else ""))
