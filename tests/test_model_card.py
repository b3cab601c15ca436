"""Model cards: every saved folder has a README.md made from its config and metrics, and
`tagger models` lists models with it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tagger import model_card, model_folder
from tagger.model_folder import ModelConfig

from .helpers import run_cli


def test_a_saved_folder_has_a_card_of_its_data_scores_and_limits(demo_model: Path):
    card = (demo_model / model_card.CARD).read_text(encoding="utf-8")
    manifest = json.loads((demo_model / model_folder.MANIFEST).read_text(encoding="utf-8"))
    assert model_card.CARD in manifest["files"]  # checked at load, shipped in a package
    config = model_folder.read(demo_model)
    metrics = model_folder.read_metrics(demo_model)
    assert card == model_card.render(config, metrics)
    assert card.startswith("# A tagger model: named entities, trained on ")
    assert f"- Train: {config.corpus.train_sentences:,} sentences" in card
    assert "not stated by the corpus's files" in card  # no licence in the demo's files
    assert f"entity micro-F1 (IOB2, default mode): {metrics['validation']['score'] * 100:.2f}" \
        in card
    assert "PER" in card.split("## Intended use and limits")[1]
    # A licence and a language given are shown as given.
    stated = dataclasses.replace(
        config, corpus=dataclasses.replace(config.corpus, license="CC BY 4.0"),
        settings=config.settings.replace(language="en"))
    assert isinstance(stated, ModelConfig)
    shown = model_card.render(stated, metrics)
    assert "- Licence of the data: CC BY 4.0" in shown and "- Language: en" in shown


def test_tagger_models_lists_folders_and_shows_their_cards(demo_model: Path, tmp_path: Path):
    result = run_cli("models", demo_model)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["name", "version", "task", "labels"]
    row = next(line for line in lines if line.startswith("demo "))
    metrics = model_folder.read_metrics(demo_model)
    assert f"entity_f1 {metrics['validation_score'] * 100:.2f}" in row
    assert "onnx,keras" in row
    assert result.stdout.endswith((demo_model / model_card.CARD).read_text(encoding="utf-8"))
