"""Recipes: a corpus and its training settings in one TOML file, for `tagger train --recipe`.

    dataset = "../../../shared/data/conll2003"   # relative paths: from the recipe's folder
    tag_column = "ner_tags"

    [training]
    epochs = 40
    head = "crf"
"""

from __future__ import annotations

import tomllib
import typing
from pathlib import Path
from typing import Any

from tagger.errors import TaggerError
from tagger.settings import TrainConfig

DATASET_KEYS = ("dataset", "config", "revision", "tag_column", "token_column")


def load_recipe(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(dataset settings, training settings) of a recipe, checked against known names."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise TaggerError(f"cannot read recipe {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise TaggerError(f"recipe {path} is not valid TOML: {error}") from None
    training = data.pop("training", {})
    known = typing.get_type_hints(TrainConfig)
    for key in data:
        if key not in DATASET_KEYS:
            raise TaggerError(f"recipe {path}: unknown key {key!r}; top-level keys are "
                              f"{', '.join(DATASET_KEYS)} and the [training] table")
    for key, value in training.items():
        if key not in known:
            raise TaggerError(f"recipe {path}: unknown training setting {key!r}; see "
                              "'tagger train --help' (with - as _)")
        expected = known[key]
        if float in typing.get_args(expected) or expected is float:
            expected = expected | int  # TOML writes 1e-3 as a float but 1 as an int
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is int):
            raise TaggerError(f"recipe {path}: training setting {key} = {value!r} should be "
                              f"of type {known[key]}")
    if "dataset" in data:
        beside = path.parent / data["dataset"]
        if beside.exists():
            data["dataset"] = str(beside)
    return data, training
