"""Scores of tags and spans against gold ones: seqeval entity scores for IOB2/IOBES tags,
token accuracy for every scheme, exact character spans. Pure functions of the tags, no
model: evaluation (a model on a corpus) and raw_scoring (from raw text) build on them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from tagger import schemes


def score(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], scheme: str,
          mode: str = "default") -> dict[str, Any]:
    """Per-type and averaged precision / recall / F1, token accuracy, and the headline score.

    Entity schemes use seqeval (conlleval-compatible in the default mode; `strict` applies the
    scheme's rules, so an entity must start with B-/S-). Token schemes (POS) score each tag
    as a class of its own.
    """
    tokens = sum(len(g) for g in gold)
    correct = sum(a == b for g, p in zip(gold, predicted, strict=True)
                  for a, b in zip(g, p, strict=True))
    accuracy = correct / tokens if tokens else 0.0
    if scheme == schemes.TOKEN:
        types, micro, macro = _token_report(gold, predicted)
        metric, headline = "accuracy", accuracy
    else:
        types, micro, macro = _entity_report(gold, predicted, scheme, mode)
        metric, headline = "entity_f1", micro["f1"]
    return {"metric": metric, "score": headline, "accuracy": accuracy, "scheme": scheme,
            "mode": mode if scheme != schemes.TOKEN else "token", "sentences": len(gold),
            "tokens": tokens, "types": types, "micro": micro, "macro": macro}


def _entity_report(gold, predicted, scheme: str, mode: str):
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2, IOBES

    options: dict[str, Any] = {}
    if mode == "strict":
        options = {"mode": "strict", "scheme": IOBES if scheme == schemes.IOBES else IOB2}
    report = classification_report([list(g) for g in gold], [list(p) for p in predicted],
                                   output_dict=True, zero_division=0, **options)

    def row(values: dict) -> dict[str, float]:
        return {"precision": float(values["precision"]), "recall": float(values["recall"]),
                "f1": float(values["f1-score"]), "support": int(values["support"])}

    averages = {"micro avg", "macro avg", "weighted avg"}
    types = {k: row(v) for k, v in report.items() if k not in averages}
    empty = {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0}
    return types, row(report.get("micro avg", empty)), row(report.get("macro avg", empty))


def _token_report(gold, predicted):
    true_positive, gold_count, predicted_count = Counter(), Counter(), Counter()
    for g, p in zip(gold, predicted, strict=True):
        for a, b in zip(g, p, strict=True):
            gold_count[a] += 1
            predicted_count[b] += 1
            true_positive[a] += a == b
    types = {label: prf(true_positive[label], predicted_count[label], gold_count[label])
             for label in sorted(gold_count)}
    micro = prf(sum(true_positive.values()), sum(predicted_count.values()),
                 sum(gold_count.values()))
    macro = {k: sum(t[k] for t in types.values()) / max(len(types), 1)
             for k in ("precision", "recall", "f1")}
    macro["support"] = micro["support"]
    return types, micro, macro


def prf(true_positive: int, predicted: int, gold: int) -> dict[str, float]:
    """Precision, recall, F1 and support of `true_positive` right of `predicted`, `gold`."""
    precision = true_positive / predicted if predicted else 0.0
    recall = true_positive / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": gold}


def score_spans(gold: Sequence[Any], system: Sequence[Any]) -> dict[str, Any]:
    """Entity precision, recall and F1 by exact character spans and labels, over all texts
    and per label: `gold` texts with their `spans` (`spans.Annotated`), `system` a
    `records.Tagged` for each, tagged from its text."""
    right: Counter = Counter()
    found: Counter = Counter()
    expected: Counter = Counter()
    for item, tagged in zip(gold, system, strict=True):
        wanted = {(s.start, s.end, s.label) for s in item.spans}
        got = {(s.start, s.end, s.label) for s in tagged.spans}
        expected.update(label for _, _, label in wanted)
        found.update(label for _, _, label in got)
        right.update(label for _, _, label in wanted & got)
    labels = sorted(set(expected) | set(found))
    return {"texts": len(gold),
            "spans": prf(sum(right.values()), sum(found.values()), sum(expected.values())),
            "types": {label: prf(right[label], found[label], expected[label])
                      for label in labels}}


# The CoNLL 2018 shared task's names of the UD layers, by the column (CoNLL-U's names).
UD_LAYERS = {"upos": "UPOS", "xpos": "XPOS", "feats": "UFeats", "lemma": "Lemmas"}
# The features its scorer counts in UFeats (its UNIVERSAL_FEATURES): others are left out
# of a FEATS value before comparing.
UNIVERSAL_FEATURES = frozenset({
    "PronType", "NumType", "Poss", "Reflex", "Foreign", "Abbr", "Gender", "Animacy", "Number",
    "Case", "Definite", "Degree", "VerbForm", "Mood", "Tense", "Aspect", "Voice", "Evident",
    "Polarity", "Person", "Polite"})
ALL_TAGS = "AllTags"


def universal_features(feats: str) -> str:
    """A FEATS value as the CoNLL 2018 scorer compares it: its universal features, sorted
    (no features: "")."""
    return "|".join(sorted(f for f in feats.split("|") if f.split("=", 1)[0]
                           in UNIVERSAL_FEATURES))


def layer_matches(column: str, gold: str, system: str) -> bool:
    """Whether a word's system value of `column` counts as right, as the CoNLL 2018 scorer
    counts it: FEATS by its universal features; any lemma where the gold one is `_`."""
    if column == "feats":
        return universal_features(gold) == universal_features(system)
    if column == "lemma" and gold == "_":
        return True
    return gold == system


def layer_scores(gold: dict[str, Sequence[Sequence[str]]],
                 predicted: dict[str, Sequence[Sequence[str]]]) -> dict[str, float]:
    """Accuracy of each column on the same words (gold tokens), named as the CoNLL 2018
    scorer names the UD layers (UPOS, XPOS, UFeats, Lemmas; other columns by their name),
    and AllTags (UPOS, XPOS and UFeats all right) where all three are there. On gold
    tokens every word aligns, so each of the scorer's F1s is this accuracy."""
    right: dict[str, list[bool]] = {}
    for column, gold_values in gold.items():
        right[column] = [layer_matches(column, g, p)
                         for gs, ps in zip(gold_values, predicted[column], strict=True)
                         for g, p in zip(gs, ps, strict=True)]
    scores = {UD_LAYERS.get(column, column): sum(found) / len(found) if found else 0.0
              for column, found in right.items()}
    if all(column in right for column in ("upos", "xpos", "feats")):
        together = [all(r) for r in zip(right["upos"], right["xpos"], right["feats"],
                                        strict=True)]
        scores[ALL_TAGS] = sum(together) / len(together) if together else 0.0
    return scores
