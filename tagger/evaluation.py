"""Scoring: seqeval entity scores for IOB2/IOBES tags, token accuracy for every scheme."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tagger import model_folder, schemes
from tagger.corpora import DEFAULT_TAG_COLUMNS, CorpusSource
from tagger.errors import TaggerError

MODES = ("default", "strict")


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
    types = {label: _prf(true_positive[label], predicted_count[label], gold_count[label])
             for label in sorted(gold_count)}
    micro = _prf(sum(true_positive.values()), sum(predicted_count.values()),
                 sum(gold_count.values()))
    macro = {k: sum(t[k] for t in types.values()) / max(len(types), 1)
             for k in ("precision", "recall", "f1")}
    macro["support"] = micro["support"]
    return types, micro, macro


def _prf(true_positive: int, predicted: int, gold: int) -> dict[str, float]:
    precision = true_positive / predicted if predicted else 0.0
    recall = true_positive / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": gold}


def check_labels(gold: Sequence[Sequence[str]], known: Sequence[str], where: str) -> None:
    """Gold labels must be ones the model knows, or the data is not what it was trained on."""
    unknown = sorted({t for tags in gold for t in tags} - set(known))
    if unknown:
        shown = ", ".join(unknown[:8]) + (" ..." if len(unknown) > 8 else "")
        raise TaggerError(f"{where} has labels the model does not know: {shown} (it knows "
                          f"{len(known)} labels); check `dataset` and `tag_column`")


def format_report(report: dict[str, Any]) -> str:
    """The report as a plain-text table, like seqeval's and scikit-learn's."""
    name = "entity type" if report["metric"] == "entity_f1" else "tag"
    width = max([len(name), *map(len, report["types"])]) + 2
    lines = [f"{name:<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]

    def row(label: str, values: dict) -> str:
        return (f"{label:<{width}}{values['precision']:>10.4f}{values['recall']:>10.4f}"
                f"{values['f1']:>10.4f}{values['support']:>10d}")

    lines += [row(label, values) for label, values in report["types"].items()]
    lines += ["", row("micro avg", report["micro"]), row("macro avg", report["macro"]), ""]
    if report["metric"] == "entity_f1":
        lines.append(f"entity micro-F1 ({report['scheme']}, {report['mode']} mode): "
                     f"{report['score'] * 100:.2f}")
    lines.append(f"token accuracy: {report['accuracy'] * 100:.2f}  "
                 f"({report['tokens']} tokens, {report['sentences']} sentences)")
    return "\n".join(lines)


def evaluate_tagger(tagger, sentences: Sequence[tuple[list[str], list[str]]], mode: str = "default",
                    where: str = "the data") -> dict[str, Any]:
    """Tag the sentences' tokens with a `pipeline.Tagger` and score against their tags."""
    gold = [tags for _, tags in sentences]
    check_labels(gold, tagger.labels, where)
    predicted = tagger.tag_tokens([tokens for tokens, _ in sentences])
    return score(gold, predicted, tagger.scheme, mode)


def evaluate_model(model: str | Path, source: CorpusSource, *, split: str = "validation",
                   mode: str = "default", backend: str = "auto") -> dict[str, Any]:
    """Score the model in folder `model`, on `backend`, on a split of the corpus `source`.

    Without a tag column in `source`, the column the model was trained on comes first, so a
    POS model trained on pos_tags is scored on pos_tags even where the dataset also has
    ner_tags. The corpus loads before the model, so a mistake in it shows first.
    """
    trained = model_folder.read(Path(model), verify=False).corpus
    preferred = (trained.tag_column,) if trained else ()
    corpus = source.load(default_tag_columns=(*preferred, *DEFAULT_TAG_COLUMNS))
    sentences = corpus.split(split)
    from tagger.pipeline import Tagger

    return evaluate_tagger(Tagger.load(model, backend), sentences, mode,
                           where=f"{source.dataset} split {split!r}")
