"""Training and serving settings, each declared once: its section, type, default, bounds
and help.

The `tagger train` and `tagger serve` options and the recipe checks are generated from these
declarations, and the trained model records its training settings in its config.json. No
TensorFlow here, so the command line can show them without loading it. To add a setting, add
a field to a section below with `setting(...)`; the command line, recipes and the model
folder pick it up.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from tagger.errors import TaggerError

HEADS = ("auto", "crf", "softmax")
CHAR_MODELS = ("cnn", "lstm")
OPTIMIZERS = ("adam", "nadam", "sgd")
TRAIN_SCHEMES = ("corpus", "iobes")
TOKENIZERS = ("auto", "learned", "rules")
POOLINGS = ("first", "mean")
# How an entity model's span confidences are calibrated after training (tagger.calibration).
CALIBRATIONS = ("isotonic", "platt", "none")
SELECTIONS = ("first", "alltags")  # a word's contextual features from its subwords' states
# What a trained model tags raw text with: its own tokenizer, or the rules (to compare).
TAGGING_TOKENIZERS = ("model", "rules")
# Tokens F1 (%) on validation at which the rules count as agreeing with a corpus: `auto`
# keeps them there (DISAGREEING for text rebuilt from tokens: see training.tokenizers).
# Below DISAGREEING, tagging raw text warns that tokens will be off.
RULES_AGREE = 99.5
DISAGREEING = 95.0
# The most tokens the network reads as one sequence: a longer text is tagged in windows of
# at most this many, each cut after a sentence's end where one falls in its second half,
# so that a line's length does not set the memory tagging takes (docs/tagging.md).
MAX_SEQUENCE_TOKENS = 4096
# The longest line (text, or CoNLL sentence) `tagger tag` takes by default: a line's tokens
# and record are held whole, so memory grows with the longest line (docs/tagging.md).
MAX_LINE_CHARS = 1_000_000
SENTENCE_ENDS = frozenset({".", "!", "?", "\u3002", "\uff01", "\uff1f", "\u2026"})


def setting(default: Any, help: str, *, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False, choices: tuple[str, ...] = (),
            flag: str | None = None, path: bool = False) -> Any:
    """A dataclass field whose metadata describes the setting for the CLI and for checks.

    `low`/`high` bound numbers (inclusive unless `*_open`); `flag` overrides the command-line
    spelling of a switch (e.g. "--lowercase/--keep-case"); `path` marks a file or folder path.
    """
    return field(default=default, metadata={
        "help": help, "low": low, "high": high, "low_open": low_open, "high_open": high_open,
        "choices": choices, "flag": flag, "path": path})


class _Checked:
    """Checks every field of a section against its declaration when one is made."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            SPECS[f.name].check(getattr(self, f.name))


@dataclass(frozen=True)
class FeatureSettings(_Checked):
    """Data and features: what the network sees of each word."""

    lowercase: bool = setting(True, "Lower-case words before the vocabulary lookup (characters "
                                    "and the casing feature keep the case).",
                              flag="--lowercase/--keep-case")
    min_count: int = setting(1, "Keep words seen at least this often in train.", low=1)
    min_label_count: int = setting(1, "With --columns: a further column's labels (feature "
                                      "bundles, edit scripts) seen less often in train are "
                                      "left out of its head, and their tokens out of its "
                                      "loss (a smaller, faster output layer).", low=1)
    max_vocab: int | None = setting(None, "Keep at most this many words (with padding and "
                                          "unknown).", low=3)
    chars: bool = setting(True, "Character features for every word (helps with unseen "
                                "words; see --char-model).")
    casing: bool = setting(True, "A casing class feature per word (lower, Title, UPPER, "
                                 "numeric, ...).")
    embeddings: str | None = setting(None, "Pretrained word vectors to start from: GloVe or "
                                           "word2vec text, or a .npy matrix with a parquet "
                                           "table of its words; their dimension sets "
                                           "--embedding-dim.",
                                     path=True)
    max_vectors: int = setting(400_000, "Most words taken from --embeddings, most frequent "
                                        "first; they join the vocabulary.", low=0)
    tune_vectors: bool = setting(True, "Fine-tune the pretrained vectors of train words "
                                       "(words only the file has stay as they are either "
                                       "way); off: only words without a vector learn one.")
    encoder: str | None = setting(None, "A BERT-family encoder's folder in the Hugging Face "
                                        "layout (config.json, model.safetensors, "
                                        "tokenizer.json or vocab.txt): its states, frozen, "
                                        "join each word's features; copied into the model.",
                                  path=True)
    encoder_layers: int = setting(4, "How many of the encoder's top layers are mixed (a "
                                     "learned weight each).", low=1)
    encoder_pooling: str = setting("mean", "A word's encoder features: the mean of its "
                                           "subwords' states, or its first subword's.",
                                   choices=POOLINGS)
    encoder_int8: bool = setting(False, "Store the encoder's ONNX graph with int8 weights: "
                                        "about a quarter of the file, float32 activations "
                                        "and speed, a few tags in 10,000 differ "
                                        "(docs/training.md#a-contextual-encoder).")
    encoder_window: int = setting(128, "Subwords the encoder reads at once; longer sentences "
                                       "are read in windows overlapping by half.", low=8)
    encoder_context: int = setting(0, "Document context: subwords of the neighbouring "
                                      "sentences of the same document the encoder reads "
                                      "on each side of a sentence, as far as "
                                      "--encoder-window leaves room (documents: CoNLL's "
                                      "-DOCSTART-, CoNLL-U's # newdoc, --input-format "
                                      "document); 0: each sentence alone.", low=0)
    tokenizer: str = setting("auto", "How raw text becomes tokens: learned from the corpus's "
                                     "text, the rules, or auto: learned unless the rules "
                                     f"agree with the corpus (tokens F1 at least "
                                     f"{RULES_AGREE} on validation; {DISAGREEING} for a "
                                     "corpus whose text is rebuilt from its tokens).",
                             choices=TOKENIZERS)
    tokenizer_from: str | None = setting(None, "A corpus (as --dataset takes it) whose raw "
                                               "text the tokenizer and the sentence splitter "
                                               "learn from instead of the training corpus's: "
                                               "a larger treebank with the same word "
                                               "segmentation, say.", path=True)
    train_scheme: str = setting("corpus", "Entity tag scheme the network learns: the corpus's "
                                          "own, or IOBES (tags come out in the corpus's "
                                          "scheme either way).", choices=TRAIN_SCHEMES)
    language: str | None = setting(None, "The corpus's language (an ISO 639 code such as "
                                         "en), as the model card and `tagger models` "
                                         "show it.")


@dataclass(frozen=True)
class NetworkSettings(_Checked):
    """Network: its shape and size."""

    embedding_dim: int = setting(100, "Word embedding size.", low=1)
    layers: int = setting(1, "Stacked LSTM layers.", low=1)
    units: int = setting(100, "LSTM units per direction.", low=1)
    bidirectional: bool = setting(True, "Read each sentence in both directions.",
                                  flag="--bidirectional/--unidirectional")
    dropout: float = setting(0.5, "Dropout on the features and after each LSTM layer.",
                             low=0, high=1, high_open=True)
    locked_dropout: bool = setting(False, "Drop the same features at every word of a sentence "
                                          "(variational dropout) instead of at each word "
                                          "anew.")
    char_model: str = setting("cnn", "Character features: a CNN with max pooling, or a "
                                     "BiLSTM's final states.", choices=CHAR_MODELS)
    char_dim: int = setting(30, "Character embedding size.", low=1)
    char_filters: int = setting(50, "Character features per word: CNN filters, or both "
                                    "directions' LSTM units together (even).", low=1)
    char_width: int = setting(3, "Characters each character CNN filter sees at once.", low=1)
    head: str = setting("auto", "Output layer: a CRF, a softmax, or auto (CRF for entity tags, "
                                "softmax for POS). Entity taggers decode under the scheme's "
                                "constraints either way.", choices=HEADS)
    head_weights: str | None = setting(None, "Loss weight of each tag column's head, "
                                             "comma-separated in the order of --columns "
                                             "(default: 1 each); the loss is their "
                                             "weighted sum.")
    head_projection: int = setting(0, "With --columns: a further head with more labels than "
                                      "this reads the encoder's states through a linear "
                                      "projection this wide (fewer multiplications for "
                                      "large label sets: feature bundles, edit scripts); "
                                      "0: none.", low=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.head_weights is not None:
            self.weights(1)  # a malformed list fails here, before any training
        if self.char_model == "lstm" and self.char_filters % 2:
            raise TaggerError(f"training setting char_filters must be even with char_model "
                              f"lstm (half per direction), not {self.char_filters}")

    def weights(self, heads: int) -> list[float]:
        """The loss weight of each of `heads` heads (`head_weights`); a wrong count is an
        error only where the number of heads is known (heads > 1 or weights given)."""
        if self.head_weights is None:
            return [1.0] * heads
        try:
            weights = [float(w) for w in self.head_weights.split(",")]
        except ValueError:
            weights = []
        if not weights or any(not w >= 0 for w in weights):
            raise TaggerError(f"training setting head_weights {self.head_weights!r}: give "
                              "numbers of 0 or more joined by commas, e.g. 1,0.5")
        if heads > 1 and len(weights) != heads:
            raise TaggerError(f"training setting head_weights gives {len(weights)} weights "
                              f"for {heads} tag columns; give one per column of --columns")
        return weights if heads > 1 else weights[:1]


@dataclass(frozen=True)
class OptimizationSettings(_Checked):
    """Optimization: how the network is trained."""

    epochs: int = setting(30, "Most epochs to train.", low=1)
    patience: int = setting(5, "Stop after this many epochs without a better validation "
                               "score.", low=1)
    batch_size: int = setting(32, "Sentences per batch.", low=1)
    optimizer: str = setting("adam", "Adam, Nadam, or SGD with momentum 0.9 (the loss is a "
                                     "mean per token: SGD wants a learning rate near 0.2).",
                             choices=OPTIMIZERS)
    learning_rate: float = setting(1e-3, "The optimizer's learning rate.", low=0,
                                   low_open=True)
    lr_decay: float = setting(0.0, "Learning rate after e epochs: "
                                   "learning-rate / (1 + lr-decay * e).", low=0)
    lr_plateau: int = setting(0, "Halve the learning rate after this many epochs without a "
                                 "better validation score (0: never).", low=0)
    ema: float = setting(0.0, "Average the weights over the training steps with this "
                              "momentum (0: off): 0.99 averages about the last 100 steps; "
                              "validation and the saved model use the average.", low=0,
                         high=1, high_open=True)
    word_dropout: float = setting(0.5, "Probability of replacing a word seen once in train by "
                                       "the unknown word.", low=0, high=1, high_open=True)
    seed: int = setting(1, "Random seed of initialization, shuffling and dropout.")
    select_on: str = setting("first", "The validation score that keeps an epoch and stops "
                                      "training: the first column's, or alltags (UPOS, XPOS "
                                      "and UFeats all right; needs those three --columns).",
                             choices=SELECTIONS)
    calibration: str = setting("isotonic", "After training an entity model: map its span "
                                           "confidences to the probability that a span is "
                                           "right, fitted on half of the validation split "
                                           "(isotonic regression, a logistic curve, or none: "
                                           "the tokens' lowest confidence).",
                               choices=CALIBRATIONS)


SECTIONS: dict[str, type] = {"features": FeatureSettings, "network": NetworkSettings,
                             "optimization": OptimizationSettings}


@dataclass(frozen=True)
class TrainConfig:
    """All training settings, by section. Build one from flat names with `from_flat`."""

    features: FeatureSettings = field(default_factory=FeatureSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    optimization: OptimizationSettings = field(default_factory=OptimizationSettings)

    @classmethod
    def from_flat(cls, **values: Any) -> TrainConfig:
        """Settings from names without sections, e.g. `TrainConfig.from_flat(epochs=3)`."""
        return cls().replace(**values)

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, Any]]) -> TrainConfig:
        """The inverse of `to_dict`: one table per section."""
        unknown = set(data) - set(SECTIONS)
        if unknown:
            raise TaggerError(f"unknown settings section {sorted(unknown)[0]!r}; the sections "
                              f"are {', '.join(SECTIONS)}")
        return cls.from_flat(**{k: v for section in data.values() for k, v in section.items()})

    def replace(self, **values: Any) -> TrainConfig:
        """A copy with some settings changed, by flat name; every value is checked."""
        unknown = set(values) - set(SPECS)
        if unknown:
            raise TaggerError(f"unknown training setting {sorted(unknown)[0]!r}; see "
                              "'tagger train --help' (with - as _)")
        changes = {}
        for section in SECTIONS:
            mine = {k: v for k, v in values.items() if SPECS[k].section == section}
            changes[section] = dataclasses.replace(getattr(self, section), **mine)
        return TrainConfig(**changes)

    def flat(self) -> dict[str, Any]:
        return {k: v for section in SECTIONS for k, v in
                dataclasses.asdict(getattr(self, section)).items()}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Spec:
    """One setting's declaration, as the CLI and the checks read it."""

    name: str
    section: str
    type: Any  # the annotation: int, float, bool, str, or X | None
    default: Any
    help: str
    low: float | None
    high: float | None
    low_open: bool
    high_open: bool
    choices: tuple[str, ...]
    flag: str | None
    path: bool

    @property
    def base(self) -> type:
        """The type without `| None`."""
        args = [a for a in typing.get_args(self.type) if a is not type(None)]
        return args[0] if args else self.type

    def check(self, value: Any) -> None:
        """Raise a TaggerError naming the setting if `value` is of the wrong type or range."""
        if value is None and self.default is None:
            return
        base = self.base
        accepted = (int, float) if base is float else base  # 1 is a fine learning rate
        if not isinstance(value, accepted) or (isinstance(value, bool) and base is not bool):
            raise TaggerError(f"training setting {self.name} = {value!r} should be of type "
                              f"{base.__name__}")
        if self.choices and value not in self.choices:
            raise TaggerError(f"training setting {self.name} must be one of "
                              f"{', '.join(self.choices)}")
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            raise TaggerError(f"training setting {self.name} must be "
                              f"{'above' if self.low_open else 'at least'} {self.low:g}"
                              + self._range_tail())
        if self.high is not None and (value >= self.high if self.high_open
                                      else value > self.high):
            raise TaggerError(f"training setting {self.name} must be "
                              f"{'below' if self.high_open else 'at most'} {self.high:g}"
                              + self._range_tail())

    def _range_tail(self) -> str:
        if self.low is None or self.high is None:
            return ""
        return (f" (in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                f"{')' if self.high_open else ']'})")


@dataclass(frozen=True)
class ServeLimits:
    """Serving: what one request may hold, and how requests are batched, queued and timed."""

    max_texts: int = setting(256, "Texts per request.", low=1)
    max_chars: int = setting(20_000, "Characters per text.", low=1)
    max_document_chars: int = setting(100_000, "Characters per document of a /v1/tag "
                                               "{\"documents\": [...]} request: it is cut "
                                               "into its sentences, each queued as a text.",
                                      low=1)
    max_body_bytes: int = setting(1_000_000, "Request body size.", low=1)
    max_batch_texts: int = setting(64, "Texts tagged together in one call.", low=1)
    max_batch_chars: int = setting(20_000, "Characters tagged together in one call (a longer "
                                           "text goes alone): what a small request waits "
                                           "behind while large ones are tagged.", low=1)
    batch_timeout_ms: float = setting(5.0, "How long arriving texts wait for others to batch "
                                           "with.", low=0)
    max_queue_texts: int = setting(2048, "Texts waiting at most; beyond, requests get 503 "
                                         "and Retry-After.", low=1)
    deadline_seconds: float = setting(30.0, "A request not answered this long after it "
                                            "arrived gets 504.", low=0, low_open=True)
    grace_seconds: float = setting(20.0, "After SIGTERM, how long requests in flight may "
                                         "finish; the rest get 503 (under Kubernetes' "
                                         "default 30 s).", low=0)


def _specs(sections: dict[str, type]) -> dict[str, Spec]:
    specs = {}
    for section, kind in sections.items():
        hints = typing.get_type_hints(kind)
        for f in dataclasses.fields(kind):
            specs[f.name] = Spec(f.name, section, hints[f.name], f.default, **f.metadata)
    return specs


SPECS = _specs(SECTIONS)
SERVE_SPECS = _specs({"serve": ServeLimits})
