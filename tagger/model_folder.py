"""A trained model as one self-describing folder, written atomically and verified on load.

    config.json        `ModelConfig`: labels, tag scheme, head, table sizes, training settings,
                       the corpus it was trained on
    vocab.txt          one word per line; the line number is the id (0 = padding, 1 = unknown)
    chars.json         the character vocabulary (code points from id 2), if the model uses it
    segmenter.npz      the learned tokenizer (`text.segmenter`), if the model has one
    model.weights.h5   Keras weights (the keras backend)
    network.onnx       the network as an ONNX graph (the onnx backend); chars.onnx beside it
                       for a model with character features, encoder.onnx for one with a
                       contextual encoder
    encoder.json       a contextual encoder's shape, with encoder.safetensors (its weights,
                       for the keras backend) and encoder_vocab.txt (`encoders.checkpoint`)
    metrics.json       validation scores per epoch and of the kept epoch (trained models)
    manifest.json      size and SHA-256 of every other file, written last

The folder is built under a temporary name beside the target and renamed into place when
complete, so an interrupted run never leaves a folder that looks like a model. This module
does not import TensorFlow: the command line reads and checks a folder before loading it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagger import __version__, schemes
from tagger.calibration import Calibration
from tagger.errors import TaggerError
from tagger.files import atomic_folder
from tagger.settings import TrainConfig

if TYPE_CHECKING:  # imported where used: tagging never loads a corpus
    from tagger.corpora import CorpusSource

FORMAT = "tagger-model"
FORMAT_VERSION = 3
CONFIG = "config.json"
VOCAB = "vocab.txt"
CHARS = "chars.json"
WEIGHTS = "model.weights.h5"
NETWORK = "network.onnx"
CHARS_NETWORK = "chars.onnx"
ENCODER_NETWORK = "encoder.onnx"
SEGMENTER = "segmenter.npz"
SENTENCES = "sentences.npz"
METRICS = "metrics.json"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class CorpusInfo:
    """Where a model's training data came from (a `CorpusSource`'s fields, kept flat in
    config.json) and how much of it there was."""

    dataset: str
    tag_column: str
    notes: list[str] = field(default_factory=list)
    train_sentences: int = 0
    train_tokens: int = 0
    validation_sentences: int = 0
    config: str | None = None  # the hub configuration, e.g. en_ewt
    revision: str | None = None
    token_column: str = "tokens"
    columns: list[str] = field(default_factory=list)  # tag columns after tag_column
    license: str | None = None  # as the corpus's own metadata states it

    @property
    def source(self) -> CorpusSource:
        """The corpus, to load it again as the model was trained on it."""
        from tagger.corpora import CorpusSource

        return CorpusSource(self.dataset, self.config, self.revision, self.tag_column,
                            self.token_column, tuple(self.columns))


@dataclass(frozen=True)
class HeadConfig:
    """One head after a model's first: a tag column of the corpus, its labels, and how the
    network predicts them (`tagger.heads`)."""

    column: str  # the corpus column it learned, and its key in a tagged record
    kind: str  # heads.KINDS: "tags", or "lemma" (edit scripts that turn forms into lemmas)
    labels: list[str]
    scheme: str = schemes.TOKEN
    crf: bool = False
    weight: float = 1.0  # its loss's weight in the sum of the heads' losses
    projection: int = 0  # >0: the states' linear projection this wide before the labels

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HeadConfig:
        head = cls(**data)
        for name, kind in (("column", str), ("kind", str), ("labels", list),
                           ("scheme", str), ("crf", bool), ("weight", (int, float)),
                           ("projection", int)):
            if not isinstance(getattr(head, name), kind):
                raise TypeError(f"a head's {name} has the wrong type")
        return head


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model: what config.json holds."""

    labels: list[str]
    scheme: str
    crf: bool  # a CRF output layer instead of a softmax
    vocab_size: int
    # 0: one trained word table. Otherwise pretrained vectors: a frozen table of vocab_size
    # rows plus trained rows for the first tuned_vocab_size ids (the train words).
    tuned_vocab_size: int = 0
    char_vocab_size: int = 0  # 0: no character features
    casing_size: int = 0  # 0: no casing feature
    # A contextual encoder (encoder.json and its files): the top `context_layers` of its
    # layers, `context_dim` wide, mixed per word. 0: none.
    context_layers: int = 0
    context_dim: int = 0
    members: int = 1  # >1: an ensemble averaging this many encoders' outputs
    # How raw text becomes tokens: "learned" (segmenter.npz) or "rules" (folders written
    # before the learned tokenizer have no such key and keep the rules).
    tokenizer: str = "rules"
    settings: TrainConfig = field(default_factory=TrainConfig)
    corpus: CorpusInfo | None = None
    tagger_version: str = __version__
    # The heads after the first, one per further tag column (`labels`, `scheme` and `crf`
    # describe the first, whose tags a record holds as `tags`).
    heads: list[HeadConfig] = field(default_factory=list)
    first_weight: float = 1.0  # the first head's loss weight
    # The map from a span's raw confidence to a calibrated one (entity models trained or
    # calibrated since it exists; None: raw confidences).
    calibration: Calibration | None = None

    @property
    def first_column(self) -> str:
        """The corpus column of the first head."""
        return self.corpus.tag_column if self.corpus is not None else "tags"

    @property
    def all_heads(self) -> list[HeadConfig]:
        """Every head, the first one with the labels and scheme the network predicts."""
        first = HeadConfig(column_name(self.first_column), "tags", self.network_labels,
                           self.network_scheme, self.crf, self.first_weight)
        return [first, *self.heads]

    @property
    def network_scheme(self) -> str:
        """The scheme of the labels the network predicts: IOBES if trained so."""
        iobes = self.settings.features.train_scheme == "iobes" and self.scheme == schemes.IOB2
        return schemes.IOBES if iobes else self.scheme

    @property
    def network_labels(self) -> list[str]:
        """The labels the network predicts; `schemes.iobes_to_iob2` maps IOBES ones back."""
        if self.network_scheme != self.scheme:
            return schemes.iobes_labels(self.labels)
        return self.labels

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **data}

    def canonical_json(self) -> str:
        """`to_json` as one string, the same for equal configs (for files that must name
        the config they were written with)."""
        return json.dumps(self.to_json(), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelConfig:
        """Parse config.json's content; raises TaggerError, TypeError or KeyError if wrong."""
        data = dict(data)
        if data.pop("format", None) != FORMAT or data.pop("format_version", None) != \
                FORMAT_VERSION:
            raise TaggerError("holds a model of another format")
        settings = TrainConfig.from_dict(data.pop("settings"))
        corpus = data.pop("corpus")
        heads = [HeadConfig.from_json(head) for head in data.pop("heads", [])]
        calibration = data.pop("calibration", None)
        config = cls(**data, settings=settings, heads=heads,
                     calibration=Calibration.from_json(calibration) if calibration else None,
                     corpus=CorpusInfo(**corpus) if corpus is not None else None)
        for name, kind in (("labels", list), ("scheme", str), ("crf", bool),
                           ("vocab_size", int), ("tuned_vocab_size", int),
                           ("char_vocab_size", int), ("casing_size", int), ("members", int),
                           ("tokenizer", str), ("context_layers", int),
                           ("context_dim", int)):
            if not isinstance(getattr(config, name), kind):
                raise TypeError(f"{name} should be of type {kind.__name__}")
        return config


def column_name(column: str) -> str:
    """The name a record and CoNLL-U output give a corpus column (`lemmas` -> `lemma`)."""
    from tagger.conll import HUB_NAMES

    return HUB_NAMES.get(column.lower(), column)


def recorded_fits(recorded: str, config: ModelConfig) -> bool:
    """Whether a config that a file recorded (`canonical_json` when it was written) is
    `config`'s. Keys it lacks were added to the format after it was written: config.json,
    written with it, lacks them too, so `config` holds their defaults."""
    def fits(old: Any, new: Any) -> bool:
        if isinstance(old, dict) and isinstance(new, dict):
            return all(key in new and fits(value, new[key]) for key, value in old.items())
        if isinstance(old, list) and isinstance(new, list):  # e.g. heads, each a dict
            return len(old) == len(new) and all(map(fits, old, new))
        return old == new

    try:
        return fits(json.loads(recorded), json.loads(config.canonical_json()))
    except ValueError:
        return False


def check_writable(path: Path, force: bool) -> None:
    """Fail early, before any training, if `path` cannot become a model folder."""
    if path.exists() and not force:
        raise TaggerError(f"{path} already exists; choose another folder or pass `force` "
                          "to replace it", param="force")
    if path.exists() and not path.is_dir():
        raise TaggerError(f"{path} exists and is not a folder; choose another folder")
    # Missing parent folders are created; the nearest existing one must take them.
    ancestor = path.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise TaggerError(f"cannot write {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK):
        raise TaggerError(f"cannot write {path}: folder {ancestor} is not writable")


def write(path: Path, config: ModelConfig, fill: Callable[[Path], None],
          metrics: dict[str, Any] | None, force: bool) -> None:
    """Create model folder `path`: `fill(folder)` writes the weights and vocabularies, then
    the config, metrics and, last, the manifest of them all."""
    check_writable(path, force)
    with atomic_folder(path) as folder:
        fill(folder)
        write_json(folder / CONFIG, config.to_json())
        if metrics is not None:
            write_json(folder / METRICS, metrics)
        from tagger import model_card

        (folder / model_card.CARD).write_text(model_card.render(config, metrics),
                                              encoding="utf-8")
        files = sorted(p.name for p in folder.iterdir())
        write_json(folder / MANIFEST, {"files": {name: fingerprint(folder / name)
                                                 for name in files}})


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read(path: Path, *, verify: bool = True) -> ModelConfig:
    """The config of model folder `path`, checked to be one this version can load.

    With `verify`, every file is also checked against the manifest written at save time.
    """
    if not path.exists():
        raise TaggerError(f"model folder {path} does not exist; train one with "
                          f"'tagger train --dataset ... --output {path}'")
    if not path.is_dir():
        raise TaggerError(f"{path} is a file, not a model folder; give the folder that "
                          "'tagger train --output' wrote")
    missing = [n for n in (CONFIG, VOCAB, WEIGHTS, MANIFEST) if not (path / n).is_file()]
    if missing:
        raise TaggerError(f"{path} is not a tagger model folder (missing {', '.join(missing)}); "
                          "give the folder that 'tagger train --output' wrote")
    if verify:
        _verify(path)
    try:
        data = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise TaggerError(f"{path / CONFIG} is not valid JSON ({error}); retrain the model") \
            from None
    if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
        raise TaggerError(f"{path} holds a model of another format "
                          f"({data.get('format')} v{data.get('format_version')}); "
                          f"this tagger reads {FORMAT} v{FORMAT_VERSION}: retrain it")
    try:
        return ModelConfig.from_json(data)
    except (TaggerError, TypeError, KeyError, AttributeError) as error:
        raise TaggerError(f"{path / CONFIG} does not describe a model ({error}); restore the "
                          "folder or retrain the model") from None


def read_metrics(path: Path) -> dict[str, Any] | None:
    """The metrics.json of model folder `path` (None for an untrained model's folder)."""
    file = path / METRICS
    if not file.is_file():
        return None
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise TaggerError(f"{file} is not valid JSON; restore the folder or retrain the "
                          "model") from None


def check_size(path: Path, size: int, expected: int, what: str) -> None:
    """A table read from `path` must have the size config.json gives it."""
    if size != expected:
        raise TaggerError(f"{path} is damaged: it holds {size} {what} where {CONFIG} says "
                          f"{expected}; restore the folder or retrain the model")


def fingerprint(path: Path) -> dict[str, Any]:
    """A file's size and SHA-256, as the manifest lists them."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _verify(path: Path) -> None:
    """Every file the manifest lists is there, unchanged since the model was saved."""
    try:
        files = json.loads((path / MANIFEST).read_text(encoding="utf-8"))["files"]
        listed = {name: (int(f["bytes"]), str(f["sha256"])) for name, f in files.items()}
    except (ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        raise TaggerError(f"{path / MANIFEST} is damaged; restore the folder or retrain the "
                          "model") from None
    for name in (CONFIG, VOCAB, WEIGHTS):
        if name not in listed:
            raise TaggerError(f"{path / MANIFEST} does not list {name}; restore the folder or "
                              "retrain the model")
    for name, (size, sha256) in listed.items():
        file = path / name
        if not file.is_file():
            raise TaggerError(f"{file} is missing; restore the folder or retrain the model")
        found = fingerprint(file)
        if found["bytes"] != size or found["sha256"] != sha256:
            raise TaggerError(f"{file} is damaged or was changed after the model was saved "
                              f"(it differs from {MANIFEST}); restore it or retrain the model")
