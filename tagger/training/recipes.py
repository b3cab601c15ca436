"""Recipes: a corpus and its training settings in one TOML file, for `tagger train --recipe`.

    dataset = "../../../shared/data/conll2003"   # relative paths: from the recipe's folder
    tag_column = "ner_tags"

    [training]
    epochs = 40
    head = "crf"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tagger.corpora import SOURCE_KEYS, CorpusSource
from tagger.errors import TaggerError
from tagger.settings import TrainConfig

# A recipe names its corpus with the fields of `corpora.CorpusSource`; its `columns`
# list every tag column, the first being `tag_column` (`with_columns`).
DATASET_KEYS = SOURCE_KEYS


def with_columns(dataset: dict[str, Any]) -> dict[str, Any]:
    """`dataset` keys with `columns` as a user gives them (every tag column, a list or a
    string joined by commas) made `CorpusSource`'s: the first as `tag_column`, the others
    as `columns`."""
    given = dataset.get("columns")
    if given is None or isinstance(given, tuple):
        return dataset
    names = [c.strip() for c in given.split(",")] if isinstance(given, str) else given
    if not names or not all(isinstance(c, str) and c for c in names) \
            or len(set(names)) != len(names):
        raise TaggerError(f"`columns` {given!r}: name each tag column once, joined by "
                          "commas, e.g. upos,xpos,feats,lemma", param="columns")
    first = dataset.get("tag_column")
    if first is not None and first != names[0]:
        raise TaggerError(f"`tag_column` {first} and `columns` {','.join(names)} disagree: "
                          "the first of `columns` is the tag column; give one of them",
                          param="columns")
    return {**dataset, "tag_column": names[0], "columns": tuple(names[1:])}


@dataclass(frozen=True)
class Recipe:
    """A corpus (`corpora.CorpusSource` fields) and the settings to train on it."""

    dataset: dict[str, Any] = field(default_factory=dict)
    settings: TrainConfig = field(default_factory=TrainConfig)
    # The settings it names (the others are defaults, which the corpus may change:
    # `training.defaults`).
    chosen: frozenset[str] = frozenset()

    def with_options(self, **values: Any) -> Recipe:
        """A copy where `values` (dataset keys or setting names) win over the recipe's."""
        given = {k: v for k, v in values.items() if k in DATASET_KEYS}
        if "columns" in given and "tag_column" not in given:
            given["tag_column"] = None  # the recipe's first column gives way too
        dataset = with_columns({**self.dataset, **given})
        named = {k: v for k, v in values.items() if k not in DATASET_KEYS}
        return Recipe(dataset, self.settings.replace(**named), self.chosen | set(named))

    def load_corpus(self):
        """The recipe's corpus (a `corpora.Corpus`)."""
        if not self.dataset.get("dataset"):
            raise TaggerError("no corpus: give `dataset`, or a recipe that names one",
                              param="dataset")
        return CorpusSource(**self.dataset).load()


def load_recipe(path: str | Path) -> Recipe:
    """The recipe in TOML file `path`, checked against the known keys and settings."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as error:
        raise TaggerError(f"cannot read recipe {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise TaggerError(f"recipe {path} is not valid TOML: {error}") from None
    training = data.pop("training", {})
    for key in data:
        if key not in DATASET_KEYS:
            raise TaggerError(f"recipe {path}: unknown key {key!r}; top-level keys are "
                              f"{', '.join(DATASET_KEYS)} and the [training] table")
    try:
        settings = TrainConfig.from_flat(**training)
    except TaggerError as error:
        raise TaggerError(f"recipe {path}: {error}") from None
    if "dataset" in data:
        beside = path.parent / data["dataset"]
        if beside.exists():
            data["dataset"] = str(beside)
    try:
        data = with_columns(data)
    except TaggerError as error:
        raise TaggerError(f"recipe {path}: {error}") from None
    return Recipe(data, settings, frozenset(training))
