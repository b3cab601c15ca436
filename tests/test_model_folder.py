"""The model folder: save -> load round trips of untrained taggers, and verification on load."""

import json
from pathlib import Path

import numpy as np
import pytest

from tagger import model_folder
from tagger.errors import TaggerError
from tagger.model_folder import HeadConfig, ModelConfig
from tagger.pipeline import Tagger
from tagger.settings import TrainConfig
from tagger.text.features import Featurizer
from tagger.training import untrained

from .helpers import assert_same_up_to_ties

SENTENCES = [["Ada", "Lovelace", "wrote", "notes", "."], ["Notes", "by", "Ada", "!"],
             ["Zürich", "🙂", "1843"]]
ENTITY = (["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], "IOB2")
POS = (["NOUN", "VERB", "PROPN", "PUNCT"], "token")
PROBES = [["Ada", "visited", "Zürich", "."], ["unseen", "WORDS", "x"], ["Ada"]]


def untrained_tagger(labels_scheme=ENTITY, **settings) -> Tagger:
    config = TrainConfig.from_flat(embedding_dim=6, units=5, char_dim=3, char_filters=4,
                                   **settings)
    labels, scheme = labels_scheme
    return untrained(Featurizer.build(SENTENCES, config.features), labels, scheme, config)


@pytest.mark.parametrize("labels_scheme, settings", [
    (ENTITY, {"head": "crf"}),
    (ENTITY, {"head": "softmax", "char_width": 5}),
    (POS, {"head": "auto"}),
    (POS, {"head": "crf", "layers": 2, "bidirectional": False}),
    (ENTITY, {"chars": False, "casing": False, "lowercase": False}),
    (ENTITY, {"chars": False, "max_vocab": 5}),
    (POS, {"casing": False, "min_count": 2}),
], ids=["crf", "softmax", "pos", "pos-crf-2-layers-forward", "words-only-cased",
        "small-vocab", "no-casing"])
def test_save_load_round_trip(tmp_path: Path, labels_scheme, settings):
    tagger = untrained_tagger(labels_scheme, **settings)
    tagger.save(tmp_path / "m")
    loaded = Tagger.load(tmp_path / "m", "keras")
    assert loaded.config == tagger.config
    assert loaded.metrics is None  # untrained: no metrics.json
    assert (loaded.featurizer.chars is None) == (not settings.get("chars", True))
    assert loaded.featurizer.words.words == tagger.featurizer.words.words
    if loaded.featurizer.chars is not None:
        width = loaded.config.settings.network.char_width
        assert loaded.backend.model.parts[0].chars.conv.kernel.shape[0] == width
    for a, b in zip(tagger.backend.model.get_weights(), loaded.backend.model.get_weights(),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.tag_tokens(PROBES) == tagger.tag_tokens(PROBES)
    assert Tagger.load(tmp_path / "m").tag_tokens(PROBES) == tagger.tag_tokens(PROBES)
    assert [t.to_dict() for t in loaded.tag(["Ada visited Zürich."])] == \
        [t.to_dict() for t in tagger.tag(["Ada visited Zürich."])]


def test_save_twice_needs_force(tmp_path: Path):
    tagger = untrained_tagger()
    tagger.save(tmp_path / "m")
    with pytest.raises(TaggerError, match="already exists"):
        tagger.save(tmp_path / "m")
    tagger.save(tmp_path / "m", force=True)
    assert Tagger.load(tmp_path / "m").config == tagger.config


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    untrained_tagger().save(tmp_path / "m")
    return tmp_path / "m"


def _reseal(folder: Path) -> None:
    """Rewrite the manifest to match the files, as a careless tool would after editing."""
    files = {p.name: model_folder.fingerprint(p) for p in sorted(folder.iterdir())
             if p.name != model_folder.MANIFEST}
    model_folder.write_json(folder / model_folder.MANIFEST, {"files": files})


def _edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        section, _, name = key.rpartition(".")
        (config["settings"][section] if section else config)[name] = value
    (folder / "config.json").write_text(json.dumps(config))


def test_edited_config_is_caught_by_the_manifest(saved: Path):
    _edit_config(saved, **{"network.units": 6})
    with pytest.raises(TaggerError, match=r"config\.json is damaged or was changed"):
        Tagger.load(saved)


def test_table_sizes_are_checked_even_with_a_matching_manifest(saved: Path):
    _edit_config(saved, vocab_size=99)
    _reseal(saved)
    with pytest.raises(TaggerError, match=r"vocab\.txt is damaged: it holds \d+ words where "
                                          r"config\.json says 99"):
        Tagger.load(saved)


@pytest.mark.parametrize("backend, network", [("keras", r"model\.weights\.h5"),
                                              ("onnx", r"network\.onnx")])
@pytest.mark.parametrize("change", [{"network.units": 6}, {"network.layers": 2},
                                    {"casing_size": 0}, {"crf": False}])
def test_the_network_is_checked_against_the_config(saved: Path, change, backend, network):
    """Shapes, missing arrays, and arrays the model has no place for (a dropped CRF); an
    ONNX network that was written for another config."""
    _edit_config(saved, **change)
    _reseal(saved)
    with pytest.raises(TaggerError, match=network + r" does not fit config\.json"):
        Tagger.load(saved, backend)


@pytest.mark.parametrize("change, message", [
    ({"crf": "yes"}, "crf should be of type bool"),
    ({"network.units": 0}, "units must be at least 1"),
    ({"extra": 1}, "unexpected keyword argument 'extra'"),
])
def test_config_values_are_checked(saved: Path, change, message):
    _edit_config(saved, **change)
    _reseal(saved)
    with pytest.raises(TaggerError, match=rf"config\.json does not describe a model .*{message}"):
        Tagger.load(saved)


def test_missing_or_damaged_manifest(saved: Path):
    (saved / "manifest.json").write_text("{")
    with pytest.raises(TaggerError, match=r"manifest\.json is damaged"):
        Tagger.load(saved)
    (saved / "manifest.json").unlink()
    with pytest.raises(TaggerError, match=r"missing manifest\.json"):
        Tagger.load(saved)


def test_a_file_the_manifest_lists_must_exist(saved: Path):
    (saved / "chars.json").unlink()
    with pytest.raises(TaggerError, match=r"chars\.json is missing"):
        Tagger.load(saved)


def test_old_format_is_named(saved: Path):
    _edit_config(saved, format_version=2)
    _reseal(saved)
    with pytest.raises(TaggerError, match=r"another format .* v2.*reads tagger-model v3"):
        Tagger.load(saved)


def test_round_trip_with_pretrained_vectors(tmp_path: Path):
    config = TrainConfig.from_flat(embedding_dim=4, units=5, chars=False,
                                   embeddings="vectors.txt")
    featurizer = Featurizer.build(SENTENCES, config.features, ["quokka", "ada", "zyzzyva"])
    tagger = untrained(featurizer, *ENTITY, config)
    assert tagger.config.tuned_vocab_size == featurizer.words.extended_from
    words = featurizer.words.words
    rows = np.array([words.index(w) for w in ("quokka", "ada", "zyzzyva")])
    layer = tagger.backend.model.parts[0].word_embedding
    layer.set_vectors(rows, np.arange(12, dtype=np.float32).reshape(3, 4) / 7)
    tagger.save(tmp_path / "m")
    loaded = Tagger.load(tmp_path / "m", "keras")
    assert loaded.config == tagger.config and loaded.featurizer.words.words == words
    np.testing.assert_array_equal(loaded.backend.model.parts[0].word_embedding.table(),
                                  layer.table())
    probes = [["quokka", "Ada", "zyzzyva", "unseen"]]
    assert loaded.tag_tokens(probes) == tagger.tag_tokens(probes)


# A folder written by tagger 0.2 and what it tagged then (fixtures/model-0.2/README.md).
WRITTEN_BEFORE = Path(__file__).parent / "fixtures" / "model-0.2"


@pytest.mark.parametrize("backend", ["keras", "onnx"])
def test_a_folder_written_by_tagger_0_2_loads_and_tags_as_it_did(backend: str):
    """Folders people have keep working: format 3 without the config recorded in
    model.weights.h5, verified against its manifest, gives the records it gave."""
    then = json.loads((WRITTEN_BEFORE / "records.json").read_text(encoding="utf-8"))
    tagger = Tagger.load(WRITTEN_BEFORE / "model", backend)
    got = [t.to_dict() for t in tagger.tag(then["texts"])]
    assert_same_up_to_ties(got, then["records"][backend])
    assert any(r["spans"] for r in got)


def test_a_recorded_config_fits_one_with_keys_added_to_the_format_since():
    config = ModelConfig(labels=["X"], scheme="token", crf=False, vocab_size=3, heads=[
        HeadConfig("xpos", "tags", ["p", "q"])])
    recorded = json.loads(config.canonical_json())
    for head in recorded["heads"]:  # as written before heads had a projection
        del head["projection"]
    assert model_folder.recorded_fits(json.dumps(recorded), config)
    recorded["heads"][0]["labels"] = ["q", "p"]
    assert not model_folder.recorded_fits(json.dumps(recorded), config)
    recorded["heads"] = []
    assert not model_folder.recorded_fits(json.dumps(recorded), config)
