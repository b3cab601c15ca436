"""A trained model as one self-describing folder, written atomically.

    config.json        model shape, labels, tag scheme, case handling, training settings
    vocab.txt          one word per line; the line number is the id (0 = padding, 1 = unknown)
    chars.json         the character vocabulary (code points from id 2), if the model uses it
    model.weights.h5   Keras weights
    metrics.json       validation scores per epoch and of the kept epoch

The folder is built under a temporary name beside the target and renamed into place when
complete, so an interrupted run never leaves a folder that looks like a model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from tagger.errors import TaggerError
from tagger.files import atomic_folder

FORMAT = "tagger-model"
FORMAT_VERSION = 2
CONFIG = "config.json"
VOCAB = "vocab.txt"
CHARS = "chars.json"
WEIGHTS = "model.weights.h5"
METRICS = "metrics.json"


def check_writable(path: Path, force: bool) -> None:
    """Fail early, before any training, if `path` cannot become a model folder."""
    if path.exists() and not force:
        raise TaggerError(f"{path} already exists; choose another --output or pass --force "
                          "to replace it")
    if path.exists() and not path.is_dir():
        raise TaggerError(f"{path} exists and is not a folder; choose another --output")
    # Missing parent folders are created; the nearest existing one must take them.
    ancestor = path.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise TaggerError(f"cannot write {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK):
        raise TaggerError(f"cannot write {path}: folder {ancestor} is not writable")


def write(path: Path, fill: Callable[[Path], None], force: bool) -> None:
    """Create folder `path` by calling `fill(folder)` on a fresh folder that replaces it."""
    check_writable(path, force)
    with atomic_folder(path) as folder:
        fill(folder)


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_config(path: Path) -> dict:
    """The config of model folder `path`, checked to be one this version can load."""
    if not path.exists():
        raise TaggerError(f"model folder {path} does not exist; train one with "
                          f"'tagger train --dataset ... --output {path}'")
    if not path.is_dir():
        raise TaggerError(f"{path} is a file, not a model folder; give the folder that "
                          "'tagger train --output' wrote")
    missing = [n for n in (CONFIG, VOCAB, WEIGHTS) if not (path / n).is_file()]
    if missing:
        raise TaggerError(f"{path} is not a tagger model folder (missing {', '.join(missing)}); "
                          "give the folder that 'tagger train --output' wrote")
    try:
        config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise TaggerError(f"{path / CONFIG} is not valid JSON ({error}); retrain the model") \
            from None
    if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
        raise TaggerError(f"{path} holds a model of another format "
                          f"({config.get('format')} v{config.get('format_version')}); "
                          f"this tagger reads {FORMAT} v{FORMAT_VERSION}")
    return config
