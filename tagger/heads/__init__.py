"""Heads: what a model predicts for each tag column, over one shared encoder.

A head owns its column's output layer (Keras), its ONNX nodes, its decoding (NumPy, and
in TensorFlow for the SavedModel) and the values a tagged record shows. Each kind is one
module:

    tags    tags.TagHead     labels such as UPOS, XPOS, UFeats or entity tags: a softmax
                             or a CRF, decoded under the tag scheme's constraints
    lemma   lemma.LemmaHead  edit scripts (`heads.edits`) that turn a form into its lemma

Adding a kind is a module with a class like these and an entry in KINDS. The modules import
TensorFlow and ONNX only inside the methods that run on them, so tagging with the onnx
backend never loads either.
"""

from __future__ import annotations

from tagger import schemes
from tagger.errors import TaggerError
from tagger.heads.lemma import LemmaHead
from tagger.heads.tags import TagHead
from tagger.model_folder import HeadConfig, ModelConfig, column_name

KINDS: dict[str, type[TagHead]] = {"tags": TagHead, "lemma": LemmaHead}
# Columns whose head is not a plain tag column, by their CoNLL-U name.
KIND_OF_COLUMN = {"lemma": "lemma"}
# What a tagged record (and the SavedModel's signature) already calls something else: no
# column's values can go by these names.
RESERVED = frozenset({"text", "tokens", "tags", "offsets", "confidences", "spans",
                      "multiword", "lengths", "starts", "ends"})


def head(config: HeadConfig, probabilities: bool = True) -> TagHead:
    """The head `config` describes (`probabilities`: see `TagHead`)."""
    kind = KINDS.get(config.kind)
    if kind is None:
        raise TaggerError(f"the model has a head of a kind this tagger does not know "
                          f"({config.kind!r}; it knows {', '.join(KINDS)}): load it with the "
                          "tagger that trained it")
    return kind(config, probabilities)


def of_model(config: ModelConfig) -> list[TagHead]:
    """A model's heads, in order. Only the first one's confidences reach a record: the
    others give logits. The first one's tags come out in the corpus's scheme (IOB2, where
    the network learned IOBES)."""
    found = [head(h, probabilities=i == 0) for i, h in enumerate(config.all_heads)]
    if config.network_scheme != config.scheme:
        found[0].output_labels = [schemes.iobes_to_iob2(label) for label in found[0].labels]
    return found


def kind_of(column: str) -> str:
    """The kind of head that learns `column`."""
    return KIND_OF_COLUMN.get(column_name(column), "tags")
