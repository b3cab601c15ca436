"""Resumable training: the state after each epoch, kept in a folder (`--checkpoint-dir`) so
that a training that stopped (a crash, a preempted machine, a lost worker) carries on from
its last finished epoch when the same command runs again.

A checkpoint is one file, replaced atomically after each epoch: every variable of the model
(random-number states included) and of its optimizer (step count, moments, weight averages),
the trained weights while the averages are swapped in, the best epoch's weights, and the
record of the epochs so far. Together with a data stream whose epochs depend on their number
alone (`batching.training_stream`), a resumed training ends with the weights of one that
never stopped.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tagger.errors import TaggerError
from tagger.files import atomic_file

FILE = "checkpoint.npz"
PARTS = ("variables", "optimizer", "best_weights", "trained_weights")  # lists of arrays


@dataclass
class Checkpoint:
    """Training after `epochs_done` epochs. `record` holds what the epoch tracker knows
    (history, best epoch and score, learning-rate factor, minutes so far) and `training`
    what the checkpoint belongs to (settings, corpus, vocabulary, workers)."""

    epochs_done: int
    stopped: bool
    training: dict[str, Any]
    record: dict[str, Any]
    variables: list[np.ndarray] = field(repr=False)
    optimizer: list[np.ndarray] = field(repr=False)
    best_weights: list[np.ndarray] = field(repr=False)
    # With weight averaging the model holds the averages at an epoch's end; these are the
    # trained weights that the next epoch starts from.
    trained_weights: list[np.ndarray] = field(default_factory=list, repr=False)


def read(folder: Path, training: dict[str, Any]) -> Checkpoint | None:
    """The checkpoint in `folder`, or None when there is none yet. One written by another
    training (other settings, corpus or vocabulary) is an error: resuming it would silently
    train something else. Only the number of workers may differ."""
    path = folder / FILE
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            header = json.loads(str(arrays["header"]))
            lists = {part: [arrays[f"{part}_{i}"]
                            for i in range(header["counts"].get(part, 0))] for part in PARTS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise TaggerError(f"{path} is not a tagger checkpoint ({error}); remove it or give "
                          "another --checkpoint-dir") from None
    mine = {k: v for k, v in training.items() if k != "workers"}
    theirs = {k: v for k, v in header["training"].items() if k != "workers"}
    if mine != theirs:
        what = _first_difference(theirs, mine)
        raise TaggerError(f"--checkpoint-dir {folder} holds another training's checkpoint "
                          f"({what}); give the same options, or another (empty) "
                          "--checkpoint-dir to start over", param="checkpoint_dir")
    return Checkpoint(header["epochs_done"], header["stopped"], header["training"],
                      header["record"], **lists)


def write(folder: Path, checkpoint: Checkpoint) -> None:
    """Replace the checkpoint in `folder` at once: a crash while writing leaves the last
    one whole."""
    folder.mkdir(parents=True, exist_ok=True)
    header = {"epochs_done": checkpoint.epochs_done, "stopped": checkpoint.stopped,
              "training": checkpoint.training, "record": checkpoint.record,
              "counts": {part: len(getattr(checkpoint, part)) for part in PARTS}}
    arrays = {f"{part}_{i}": value for part in PARTS
              for i, value in enumerate(getattr(checkpoint, part))}
    with atomic_file(folder / FILE, binary=True) as out:
        np.savez(out, header=np.array(json.dumps(header)), **arrays)


def _first_difference(saved: dict, given: dict, prefix: str = "") -> str:
    """'epochs: 30 in the checkpoint, 40 now' for the first key whose values differ."""
    for key in sorted(set(saved) | set(given)):
        a, b = saved.get(key), given.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and a != b:
            return _first_difference(a, b, f"{prefix}{key}.")
        if a != b:
            return f"{prefix}{key}: {a!r} in the checkpoint, {b!r} now"
    return "no difference"
