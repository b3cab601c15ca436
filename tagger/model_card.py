"""A model folder's card: its README.md, written at save time from what config.json and
metrics.json hold (the data and its licence, the settings, the scores), with the model's
intended use and limits; `tagger models NAME` shows it and a model package ships it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tagger import __version__, schemes
from tagger.model_folder import ModelConfig

CARD = "README.md"
# The training settings a card names (every one is in config.json).
_SHOWN = ("embeddings", "encoder", "tokenizer", "lowercase", "chars", "casing",
          "embedding_dim", "layers", "units", "char_model", "head", "epochs", "patience",
          "batch_size", "learning_rate", "dropout", "seed")
_ENCODER = ("encoder_layers", "encoder_pooling", "encoder_context")  # with an encoder
_HEADS = ("head_weights", "head_projection", "min_label_count", "select_on")  # with --columns


def task(config: ModelConfig) -> str:
    """What the model does, in a few words."""
    columns = [config.first_column, *(head.column for head in config.heads)]
    if schemes.is_entity_labels(config.labels):
        return "named entities"
    return ", ".join(columns) + " tagging"


def language(config: ModelConfig) -> str:
    return config.settings.features.language or "not stated (train with --language)"


def license_of(config: ModelConfig) -> str:
    corpus = config.corpus
    if corpus is not None and corpus.license:
        return corpus.license
    return ("not stated by the corpus's files: check its source's terms before you share "
            "this model or what it tags")


def render(config: ModelConfig, metrics: dict[str, Any] | None) -> str:
    """The card of a model with `config` and `metrics` (metrics.json), as Markdown."""
    corpus = config.corpus
    dataset = corpus.dataset if corpus else "not recorded"
    lines = [f"# A tagger model: {task(config)}, trained on {dataset}", "",
             f"Written by tagger {__version__}. Every figure below is from config.json and "
             "metrics.json beside this file.", "", "## Data", "",
             f"- Corpus: {dataset}"
             + (f", configuration {corpus.config}" if corpus and corpus.config else "")
             + (f", revision {corpus.revision}" if corpus and corpus.revision else ""),
             f"- Language: {language(config)}",
             f"- Licence of the data: {license_of(config)}"]
    if corpus is not None:
        lines += [f"- Tag columns: {', '.join([corpus.tag_column, *corpus.columns])} "
                  f"({len(config.labels)} labels in the first, scheme {config.scheme})",
                  f"- Train: {corpus.train_sentences:,} sentences, {corpus.train_tokens:,} "
                  f"tokens; validation: {corpus.validation_sentences:,} sentences"]
        lines += [f"- Note: {note}" for note in corpus.notes]
    lines += ["", "## Scores", ""]
    lines += _scores(metrics)
    lines += ["", "## Calibration", "",
              "A tag's confidence is its probability (a CRF's marginal); how well those "
              "probabilities match how often the tags are right has not been measured for "
              "this model.", "", "## Settings", ""]
    flat = {name: value for section in json.loads(json.dumps(
        config.settings.to_dict())).values() for name, value in section.items()}
    shown = [*_SHOWN, *(_ENCODER if flat.get("encoder") else ()),
             *(_HEADS if config.heads else ())]
    lines += [f"- {name}: {flat[name]}" for name in shown if flat.get(name) is not None]
    lines += ["", "## Intended use and limits", "",
              f"- For text like the training corpus's: its language, genre and spelling, "
              f"tokenized as it is ({config.tokenizer} tokenizer). On other kinds of text "
              "expect lower scores than those above.",
              "- The scores are on the validation split that chose the kept epoch: they "
              "overstate what held-out text gets a little.",
              "- It tags what the corpus annotated and nothing else: "
              + (", ".join(_entity_types(config.labels)) + " entities"
                 if schemes.is_entity_labels(config.labels)
                 else f"{len(config.labels)} tags of {config.first_column}") + ".",
              "- Its output is a statistical guess per token: check it before it decides "
              "anything about a person."]
    return "\n".join(lines) + "\n"


def _scores(metrics: dict[str, Any] | None) -> list[str]:
    if not metrics or "validation" not in metrics:
        return ["Not measured (the model was saved without a validation score)."]
    from tagger.evaluation import format_report

    lines = [f"On the validation split, the kept epoch {metrics.get('best_epoch', '?')} of "
             f"{metrics.get('epochs_run', '?')} of one training run:", "",
             "```", format_report(metrics["validation"]), "```"]
    tokenizer = metrics.get("tokenizer") or {}
    found = tokenizer.get("tokens_f1") or {}
    if tokenizer.get("chosen") in found:
        lines += ["", f"Its tokenizer ({tokenizer['chosen']}) finds the tokens of the "
                      f"validation text ({tokenizer.get('text', 'the corpus')}) at "
                      f"{found[tokenizer['chosen']]:.2f} F1."]
    return lines


def _entity_types(labels: list[str]) -> list[str]:
    return sorted({schemes.split_tag(label)[1] for label in labels if label != "O"})


def read(folder: Path) -> str | None:
    """The card of a model folder, if it has one (folders saved before cards have none)."""
    path = folder / CARD
    return path.read_text(encoding="utf-8") if path.is_file() else None


def summary(folder: Path) -> dict[str, str]:
    """One line of `tagger models` for model folder `folder`: what it tags, in which
    language, how well (validation, one run), its size and the backends it has files for."""
    from tagger import backends, model_folder

    config = model_folder.read(folder, verify=False)
    metrics = model_folder.read_metrics(folder) or {}
    score = metrics.get("validation_score")
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {
        "task": task(config),
        "labels": str(len(config.labels)),
        "language": config.settings.features.language or "-",
        "tokenizer": config.tokenizer,
        "score": f"{metrics.get('metric', '?')} {score * 100:.2f} (validation, 1 run)"
                 if score is not None else "-",
        "size": f"{size / 1e6:.1f} MB",
        "backends": ",".join(name for name, info in backends.BACKENDS.items()
                             if all((folder / f).is_file() for f in info.files)),
    }
