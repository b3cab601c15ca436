"""Settings picked from the corpus, for a training that names no recipe for them: what
`tagger train --dataset X` does with no other options.

Each rule rests on a measurement (docs/training.md#settings-picked-from-the-corpus):
    size        a small train split (fewer than SMALL_TOKENS tokens) gets more epochs and
                patience (as the small UD Chinese recipe has them); a small entity corpus
                also a character BiLSTM and locked dropout (WNUT-17's ablation)
    tag scheme  entity tags get a CRF head, token tags (POS) a softmax
    raw text    a corpus with its own text gets a tokenizer learned from it where the
                rules disagree with it (the `auto` tokenizer); one without, the rules
    letter case a corpus whose words have no letter case (Chinese) gets no casing feature
A setting the user gives (an option, a recipe) is never changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tagger import schemes
from tagger.corpora import Corpus

SMALL_TOKENS = 150_000
SMALL = {"epochs": 40, "patience": 10}
SMALL_ENTITIES = {"char_model": "lstm", "locked_dropout": True}
# Below this share of cased words, the casing feature says nothing.
CASED_SHARE = 0.01


def picked(corpus: Corpus, given: Iterable[str]) -> tuple[dict[str, Any], str]:
    """The settings the corpus calls for, leaving out those in `given`, and one line saying
    what was picked and why."""
    train = corpus.split("train")
    tokens = sum(len(words) for words, _ in train)
    values: dict[str, Any] = {}
    said = []
    entities = corpus.scheme != schemes.TOKEN
    if tokens < SMALL_TOKENS:
        values.update(SMALL)
        said.append(f"{tokens:,} train tokens, small: {SMALL['epochs']} epochs, patience "
                    f"{SMALL['patience']}")
        if entities:
            values.update(SMALL_ENTITIES)
            said[-1] += ", character BiLSTM, locked dropout"
    else:
        said.append(f"{tokens:,} train tokens")
    values["head"] = "crf" if entities else "softmax"
    said.append(f"{'entity' if entities else 'token'} tags ({corpus.scheme}): "
                f"{values['head']} head")
    said.append("its own raw text: tokenizer learned where the rules disagree"
                if corpus.has_text else "no raw text: tokenizer rules")
    words = [word for sentence, _ in train[:2000] for word in sentence]
    cased = sum(word.lower() != word.upper() for word in words)
    if words and cased < CASED_SHARE * len(words):
        values["casing"] = False
        said.append("no letter case: no casing feature")
    given = set(given)
    kept = {name: value for name, value in values.items() if name not in given}
    if not kept:
        return {}, ""
    overridden = sorted(set(values) - set(kept))
    return kept, ("settings from the corpus: " + "; ".join(said)
                  + (f" (yours kept: {', '.join(overridden)})" if overridden else ""))
