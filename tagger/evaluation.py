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
    ner_tags. The corpus loads before the model, so a mistake in it shows first. The
    report's "notes" are the corpus's (which copy of a hub dataset, what was converted).
    """
    trained = model_folder.read(Path(model), verify=False).corpus
    preferred = (trained.tag_column,) if trained else ()
    corpus = source.load(default_tag_columns=(*preferred, *DEFAULT_TAG_COLUMNS))
    sentences = corpus.split(split)
    from tagger.pipeline import Tagger

    report = evaluate_tagger(Tagger.load(model, backend), sentences, mode,
                             where=f"{source.dataset} split {split!r}")
    return {**report, "notes": corpus.notes}


def evaluate_raw_text(model: str | Path, source: CorpusSource, *, split: str = "validation",
                      backend: str = "auto", tokenizer: str = "model") -> dict[str, Any]:
    """Tag each text of a split from its raw text with the model in folder `model`, and
    score it by characters: for a CoNLL-U file (a POS model), tokens, words and tags as the
    CoNLL 2018 scorer does (`raw_scoring`; the tags of the column the model was trained on);
    for a span JSON Lines file (an entity model), spans by exact offsets and label
    (`score_spans`). `tokenizer`: "model" (the model's own) or "rules" (to compare)."""
    from tagger import corpora, raw_scoring
    from tagger import spans as span_files
    from tagger.pipeline import Tagger

    trained = model_folder.read(Path(model), verify=False)
    path = corpora.raw_text_file(source.dataset, split)
    tagger = Tagger.load(model, backend, tokenizer=tokenizer)
    tagger.warn_of_tokenizer = False  # the scores say how far off its tokens are
    if span_files.is_span_file(path):
        gold = span_files.read(path)
        return score_spans(gold, tagger.tag([item.text for item in gold]))
    if trained.scheme != schemes.TOKEN:
        raise TaggerError("scoring CoNLL-U from raw text is for POS models (tokens, words, "
                          f"tags); {model} is an entity tagger: score it on span JSON Lines, "
                          "or with `tagger evaluate` on gold tokens")
    column = source.tag_column or (trained.corpus.tag_column if trained.corpus else "upos")
    gold = raw_scoring.read_conllu(path, column)
    report = raw_scoring.score(gold, tagger.tag([sentence.text for sentence in gold]), column)
    return {**report, "tokenizer": tagger.tokenizer.name}


def format_span_report(report: dict[str, Any]) -> str:
    """`score_spans`' report as `tagger evaluate --raw-text` prints it."""
    lines = [f"{'span label':12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    rows = [*report["types"].items(), ("", None), ("all spans", report["spans"])]
    for label, row in rows:
        lines.append("" if row is None else f"{label:12}{row['precision']:10.4f}"
                     f"{row['recall']:10.4f}{row['f1']:10.4f}{row['support']:10}")
    lines += ["", f"span F1 from raw text (exact character offsets and label): "
              f"{report['spans']['f1'] * 100:.2f}  ({report['texts']} texts)"]
    return "\n".join(lines)
