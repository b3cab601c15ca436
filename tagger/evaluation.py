"""A model scored on a corpus (gold tokens, or raw text), and the reports `tagger evaluate`
prints; the scores themselves are `tagger.metrics`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tagger import calibration, model_folder, raw_scoring, schemes
from tagger import spans as span_files
from tagger.corpora import DEFAULT_TAG_COLUMNS, CorpusSource, canonical_split
from tagger.errors import TaggerError
from tagger.metrics import layer_scores, score, score_spans
from tagger.model_folder import column_name
from tagger.records import Scored
from tagger.settings import SPECS


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
    if "layers" in report:
        lines += ["", "every column, on gold tokens (as the CoNLL 2018 scorer counts them):",
                  "  ".join(f"{name} {value * 100:.2f}"
                            for name, value in report["layers"].items())]
    if "calibration" in report:
        lines += ["", calibration.format_report(report["calibration"])]
    return "\n".join(lines)


def evaluate_tagger(tagger, sentences: Sequence[tuple[list[str], list[str]]], mode: str = "default",
                    where: str = "the data",
                    more: dict[str, list[list[str]]] | None = None,
                    documents: list[int] | None = None) -> dict[str, Any]:
    """Tag the sentences' tokens with a `pipeline.Tagger` and score against their tags.
    With `more` (the gold values of the model's further columns, by its column names),
    also `layers`: each column's accuracy as `metrics.layer_scores` gives it. `documents`:
    each sentence's document number, for a model that reads document context. An entity
    model's report also has `calibration`: how well its span confidences are calibrated
    (`calibration.report`)."""
    gold = [tags for _, tags in sentences]
    check_labels(gold, tagger.labels, where)
    tokens = [tokens for tokens, _ in sentences]
    predicted = tagger.predict_tokens(tokens, documents)
    columns = tagger.records.columns(tokens, predicted)
    tags = columns.pop("tags")
    report = score(gold, tags, tagger.scheme, mode)
    if more:
        first = tagger.heads[0].column
        report["layers"] = layer_scores({first: gold, **more}, {first: tags, **columns})
    if tagger.scheme != schemes.TOKEN:
        confidences, correct, _, gold_spans = spans_against_gold(tagger, sentences, predicted)
        report["calibration"] = calibration.report(confidences, correct,
                                                   int(gold_spans.sum()))
    return report


def spans_against_gold(tagger, sentences: Sequence[tuple[list[str], list[str]]],
                       predicted: Scored) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each span the tagger predicted (`predicted`: its `predict_tokens` of the sentences'
    tokens): its confidence, whether it is right and its sentence's index; and each
    sentence's count of gold spans."""
    tagged = tagger.annotate_tokens([tokens for tokens, _ in sentences], predicted)
    gold = [{(record.offsets[s.start][0], record.offsets[s.end - 1][1], s.label)
             for s in schemes.spans(tags)} for (_, tags), record in zip(sentences, tagged,
                                                                         strict=True)]
    return (*calibration.span_outcomes(gold, tagged), np.array([len(g) for g in gold]))


def fit_calibration(tagger, sentences: Sequence[tuple[list[str], list[str]]],
                    documents: list[int] | None = None,
                    method: str = SPECS["calibration"].default
                    ) -> dict[str, Any]:
    """Calibrate an entity tagger's span confidences on `sentences` (a validation split):
    the map is fitted on the spans of every other sentence (the 1st, 3rd, ...) and measured
    on the spans of the others. The tagger keeps the fitted map (`Tagger.calibrate`).
    Returns what was measured on the held-out half, before and after: the expected
    calibration error, and precision and recall at each `--min-confidence` of
    `calibration.THRESHOLDS`."""
    tagger.calibrate(None)
    tokens = [tokens for tokens, _ in sentences]
    confidences, correct, owners, gold_spans = spans_against_gold(
        tagger, sentences, tagger.predict_tokens(tokens, documents))
    fitting = owners % 2 == 0
    fitted = calibration.fit(confidences[fitting], correct[fitting], method)
    held = ~fitting
    held_gold = int(gold_spans[1::2].sum())
    raw = calibration.report(confidences[held], correct[held], held_gold)
    mapped = confidences[held] if fitted is None else fitted(confidences[held])
    tagger.calibrate(fitted)
    return {"method": method, "fitted_on_spans": int(fitting.sum()),
            "held_out_sentences": len(sentences) // 2, "raw": raw,
            "calibrated": calibration.report(mapped, correct[held], held_gold)}


def calibrate_model(model: str | Path, source: CorpusSource | None = None, *,
                    split: str = "validation",
                    method: str = SPECS["calibration"].default,
                    output: str | Path | None = None) -> dict[str, Any]:
    """Fit the span calibration of the entity model in folder `model` on a split of
    `source` (default: the corpus it was trained on) as `fit_calibration` does, and write the
    model with it, every backend's files included, to `output` (default: replace `model`
    whole). Returns what was measured on the held-out half, also kept in metrics.json."""
    from tagger.pipeline import Tagger

    trained = model_folder.read(Path(model), verify=False)
    if trained.scheme == schemes.TOKEN:
        raise TaggerError(f"{model} tags tokens ({trained.first_column}), not entity spans: "
                          "only an entity model's span confidences are calibrated")
    if source is None:
        if trained.corpus is None:
            raise TaggerError(f"{model} does not say what it was trained on; name the corpus "
                              "with `dataset`", param="dataset")
        source = trained.corpus.source
    corpus = source.load(default_tag_columns=(trained.first_column, *DEFAULT_TAG_COLUMNS))
    sentences = corpus.split(split)
    tagger = Tagger.load(model, "keras")
    check_labels([tags for _, tags in sentences], tagger.labels,
                 f"{source.dataset} split {split!r}")
    found = fit_calibration(tagger, sentences, corpus.documents.get(canonical_split(split)),
                            method)
    tagger.metrics = {**(tagger.metrics or {}), "calibration": found}
    tagger.save(output or model, force=output is None)
    return found


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
    if trained and trained.columns and source.tag_column in (None, trained.tag_column):
        # A model of several columns is scored on all of them.
        source = dataclasses.replace(source, tag_column=trained.tag_column,
                                     columns=tuple(trained.columns))
    corpus = source.load(default_tag_columns=(*preferred, *DEFAULT_TAG_COLUMNS))
    sentences = corpus.split(split)
    from tagger.pipeline import Tagger

    more = {column_name(name): corpus.column(name, split) for name in corpus.more}
    report = evaluate_tagger(Tagger.load(model, backend), sentences, mode,
                             where=f"{source.dataset} split {split!r}", more=more,
                             documents=corpus.documents.get(canonical_split(split)))
    return {**report, "notes": corpus.notes}


def evaluate_raw_text(model: str | Path, source: CorpusSource, *, split: str = "validation",
                      backend: str = "auto", tokenizer: str = "model",
                      documents: bool = False) -> dict[str, Any]:
    """Tag each text of a split from its raw text with the model in folder `model`, and
    score it by characters: for a CoNLL-U file (a POS model), tokens, words and tags as the
    CoNLL 2018 scorer does (`raw_scoring`; the tags of the column the model was trained on);
    for a span JSON Lines file (an entity model), spans by exact offsets and label
    (`score_spans`). `tokenizer`: "model" (the model's own) or "rules" (to compare).
    With `documents` (CoNLL-U only), each paragraph's running text is tagged whole
    (`raw_scoring.score_documents`): the model finds the sentences, and Sentences are
    scored too."""
    from tagger import corpora
    from tagger.pipeline import Tagger

    trained = model_folder.read(Path(model), verify=False)
    entities = trained.scheme != schemes.TOKEN
    path = None if entities and not corpora.has_raw_text_files(source.dataset) else \
        corpora.raw_text_file(source.dataset, split)
    if path is None or span_files.is_span_file(path):
        if documents:
            raise TaggerError("scoring documents needs CoNLL-U (its sentences and "
                              f"paragraphs); {source.dataset} holds entity spans",
                              param="documents")
        gold, left_out = (span_files.read(path), 0) if path is not None else \
            text_spans(source, split, trained.first_column)
        tagger = Tagger.load(model, backend, tokenizer=tokenizer)
        tagger.warn_of_tokenizer = False  # the scores say how far off its tokens are
        tagged = tagger.tag([item.text for item in gold])
        confidences, correct, _ = calibration.span_outcomes(
            [{(s.start, s.end, s.label) for s in item.spans} for item in gold], tagged)
        return {**score_spans(gold, tagged), "left_out": left_out,
                "tokenizer": tagger.tokenizer.name,
                "calibration": calibration.report(confidences, correct,
                                                  sum(len(item.spans) for item in gold))}
    tagger = Tagger.load(model, backend, tokenizer=tokenizer)
    tagger.warn_of_tokenizer = False
    if trained.scheme != schemes.TOKEN:
        raise TaggerError("scoring CoNLL-U from raw text is for POS models (tokens, words, "
                          f"tags); {model} is an entity tagger: score it on span JSON Lines, "
                          "or with `tagger evaluate` on gold tokens")
    column = source.tag_column or (trained.corpus.tag_column if trained.corpus else "upos")
    gold = raw_scoring.read_conllu(path, column)
    more = None
    if column_name(column) == tagger.heads[0].column and len(tagger.heads) > 1:
        more = raw_scoring.read_columns(path, [head.column for head in tagger.heads[1:]])
    if documents:
        report = raw_scoring.score_documents(gold, tagger.tag_documents, column, more)
    else:
        report = raw_scoring.score(gold, tagger.tag([sentence.text for sentence in gold]),
                                   column, more)
    return {**report, "tokenizer": tagger.tokenizer.name}


def text_spans(source: CorpusSource, split: str, tag_column: str
               ) -> tuple[list[span_files.Annotated], int]:
    """Each sentence of a corpus split that has its raw text (a table's `text` column,
    CoNLL-U's `# text`) with its gold entity spans at character offsets into that text;
    and how many sentences were left out because their words do not spell their text."""
    corpus = source.load(default_tag_columns=(tag_column, *DEFAULT_TAG_COLUMNS))
    if not corpus.has_text:
        raise TaggerError(f"`dataset` {source.dataset} has no raw text: scoring entities from "
                          "raw text needs a `text` column, CoNLL-U '# text' lines or span "
                          "JSON Lines", param="dataset")
    name = canonical_split(split)
    found = []
    for i, sentence in enumerate(corpus.surfaces[name]):
        tokens = [token for token, _, _ in sentence.words]
        spans = [span_files.Span(sentence.tokens[tokens[s.start]][0],
                                 sentence.tokens[tokens[s.end - 1]][1], s.label)
                 for s in schemes.spans([tag for _, _, tag in sentence.words])]
        found.append(span_files.Annotated(sentence.text, spans, i + 1))
    return found, len(corpus.split(name)) - len(found)


def format_span_report(report: dict[str, Any]) -> str:
    """`score_spans`' report as `tagger evaluate --raw-text` prints it."""
    lines = [f"{'span label':12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    rows = [*report["types"].items(), ("", None), ("all spans", report["spans"])]
    for label, row in rows:
        lines.append("" if row is None else f"{label:12}{row['precision']:10.4f}"
                     f"{row['recall']:10.4f}{row['f1']:10.4f}{row['support']:10}")
    lines += ["", f"span F1 from raw text (exact character offsets and label): "
              f"{report['spans']['f1'] * 100:.2f}  ({report['texts']} texts, tokenizer: "
              f"{report['tokenizer']})"]
    if report["left_out"]:
        lines.append(f"left out: {report['left_out']} sentences whose words do not spell "
                     "their text")
    lines += ["", calibration.format_report(report["calibration"])]
    return "\n".join(lines)
