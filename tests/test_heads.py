"""Heads: several tag columns from one network. Edit-script lemmas, the CoNLL 2018 way of
scoring each UD layer, corpora read column by column, the loss weights, CoNLL-U output,
and a four-head model through `tagger tag` and `tagger evaluate`."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from tagger import conll
from tagger.apps import batch
from tagger.apps.cli import main
from tagger.corpora import load_corpus
from tagger.errors import TaggerError
from tagger.heads import edits
from tagger.metrics import layer_scores, universal_features
from tagger.model_folder import HeadConfig
from tagger.pipeline import Tagger
from tagger.records import Tagged
from tagger.settings import NetworkSettings
from tagger.training.recipes import with_columns

from .conftest import SHARED

EWT_COLUMNS = ("xpos", "feats", "lemma")


@pytest.mark.parametrize("form, lemma, script", [
    ("cats", "cat", '["keep", 0, "", 1, ""]'),
    ("Forces", "force", '["lower", 0, "", 1, ""]'),
    ("The", "the", '["lower", 0, "", 0, ""]'),
    ("Paris", "Paris", '["keep", 0, "", 0, ""]'),
    ("was", "be", '["keep", 0, "be", 3, ""]'),
    ("running", "run", '["keep", 0, "", 4, ""]'),
    ("ungelesen", "lesen", '["keep", 4, "", 0, ""]'),
])
def test_an_edit_script_turns_its_form_into_its_lemma(form, lemma, script):
    assert edits.script(form, lemma) == script
    assert edits.apply(script, form) == lemma


def test_one_script_serves_every_form_it_fits_and_falls_back_where_it_cannot_apply():
    plural = edits.script("cats", "cat")
    assert [edits.apply(plural, f) for f in ("dogs", "Houses")] == ["dog", "House"]
    # A script cutting more than a form has: the form, in the script's casing.
    assert edits.apply(edits.script("running", "run"), "Ran") == "Ran"
    assert edits.apply(edits.script("Forces", "force"), "A") == "a"
    # One leaving nothing: the form.
    assert edits.apply(plural, "s") == "s"


@given(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12))
def test_every_pair_has_a_script_that_gives_it_back(form, lemma):
    assert edits.apply(edits.script(form, lemma), form) == lemma


def test_layers_are_compared_as_the_conll_2018_scorer_compares_them():
    assert universal_features("Typo=Yes|Number=Sing|Case=Nom") == "Case=Nom|Number=Sing"
    assert universal_features("_") == universal_features("ExtPos=ADP") == ""
    gold = {"upos": [["NOUN", "VERB"]], "xpos": [["NN", "VBZ"]],
            "feats": [["Number=Sing", "_"]], "lemma": [["_", "go"]]}
    system = {"upos": [["NOUN", "VERB"]], "xpos": [["NN", "VBD"]],
              "feats": [["Number=Sing|Style=Coll", "_"]], "lemma": [["anything", "went"]]}
    assert layer_scores(gold, system) == {"UPOS": 1.0, "XPOS": 0.5, "UFeats": 1.0,
                                          "Lemmas": 0.5, "AllTags": 0.5}
    assert "AllTags" not in layer_scores({"upos": gold["upos"]}, {"upos": system["upos"]})


def test_a_conllu_file_is_read_column_by_column(conllu_file: Path):
    corpus = load_corpus(f"train={conllu_file},validation={conllu_file}",
                         tag_column="upos", columns=("xpos", "lemmas", "feats"))
    assert corpus.split("train")[0][0] == ["I", "do", "n't", "know", "."]
    assert corpus.column("upos", "train")[1] == ["VERB", "PUNCT"]
    assert corpus.column("xpos", "train")[1] == ["VB", "."]
    assert corpus.column("lemmas", "train")[1] == ["go", "!"]
    assert corpus.source.columns == ("xpos", "lemmas", "feats")


def test_the_hub_layout_names_lemmas_lemmas_and_multiword_rows_are_left_out_of_every_column():
    corpus = load_corpus(str(SHARED / "ud_en_ewt"), tag_column="upos",
                         columns=("xpos", "lemma"))
    assert corpus.source.columns == ("xpos", "lemmas")
    for split in ("train", "validation"):
        words = corpus.split(split)
        for name in ("xpos", "lemmas"):
            values = corpus.column(name, split)
            assert [len(w) for w, _ in words] == [len(v) for v in values]
            assert all(v not in ("_", "None") for row in values[:500] for v in row
                       if name == "xpos")
    with pytest.raises(TaggerError, match="no column 'lemmata'") as error:
        load_corpus(str(SHARED / "ud_en_ewt"), tag_column="upos", columns=("lemmata",))
    assert error.value.param == "columns"


def test_columns_name_the_tag_column_first():
    assert with_columns({"columns": "upos, xpos,lemma"}) == {
        "columns": ("xpos", "lemma"), "tag_column": "upos"}
    assert with_columns({"columns": ["upos"], "tag_column": "upos"})["columns"] == ()
    for bad in ({"columns": "upos,upos"}, {"columns": "upos,,x"},
                {"columns": "xpos,upos", "tag_column": "upos"}):
        with pytest.raises(TaggerError) as error:
            with_columns(bad)
        assert error.value.param == "columns"


def test_head_weights_are_checked_and_a_weight_of_zero_leaves_a_head_out_of_the_loss():
    import keras

    from tagger.backends.keras.network import as_list, build_model
    from tagger.model_folder import ModelConfig
    from tagger.settings import TrainConfig

    assert NetworkSettings(head_weights="1,0.5").weights(2) == [1.0, 0.5]
    for bad in ("1,x", "-1", ""):
        with pytest.raises(TaggerError, match="head_weights"):
            NetworkSettings(head_weights=bad)
    with pytest.raises(TaggerError, match="2 weights for 3 tag columns"):
        NetworkSettings(head_weights="1,1").weights(3)

    def loss(weights: tuple[float, float], second=((1, 0, 1, 0), (0, 1, 0, 0))):
        config = ModelConfig(labels=["A", "B", "C"], scheme="token", crf=False, vocab_size=10,
                             settings=TrainConfig.from_flat(units=4, embedding_dim=4,
                                                            chars=False, casing=False),
                             first_weight=weights[0],
                             heads=[HeadConfig("xpos", "tags", ["x", "y"], weight=weights[1])])
        keras.utils.set_random_seed(5)
        model = build_model(config)
        words = np.array([[3, 4, 5, 0], [6, 7, 0, 0]], np.int32)
        targets = (np.array([[0, 1, 2, 0], [1, 1, 0, 0]]), np.array(second))
        scores = as_list(model({"words": words}))
        return float(model.compute_loss({"words": words}, targets, scores)), scores

    both, scores = loss((1.0, 1.0))
    first, _ = loss((1.0, 0.0))
    second, _ = loss((0.0, 1.0))
    assert len(scores) == 2 and scores[1].shape == (2, 4, 2)
    assert both == pytest.approx(first + second, rel=1e-5) and first > 0 and second > 0
    # Tokens without a label of the second head (batching.NO_LABEL) add nothing to its loss.
    unlabelled, _ = loss((1.0, 1.0), second=((-1, -1, -1, 0), (-1, -1, 0, 0)))
    assert unlabelled == pytest.approx(first, rel=1e-5)


def test_conllu_output_has_every_column_multiword_tokens_and_spacing():
    text = "I don't go."
    tagged = Tagged(text, ["I", "do", "n't", "go", "."], ["PRON", "AUX", "PART", "VERB", "PUNCT"],
                    [[0, 1], [2, 4], [4, 7], [8, 10], [10, 11]], multiword=[[2, 7]],
                    columns={"xpos": ["PRP", "VBP", "RB", "VB", "."],
                             "lemma": ["I", "do", "not", "go", "."]}, column="upos")
    assert batch.render(tagged, "conllu").split("\n") == [
        "# text = I don't go.",
        "1\tI\tI\tPRON\tPRP\t_\t_\t_\t_\t_",
        "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_",
        "2\tdo\tdo\tAUX\tVBP\t_\t_\t_\t_\t_",
        "3\tn't\tnot\tPART\tRB\t_\t_\t_\t_\t_",
        "4\tgo\tgo\tVERB\tVB\t_\t_\t_\t_\tSpaceAfter=No",
        "5\t.\t.\tPUNCT\t.\t_\t_\t_\t_\t_", "", ""]
    entities = Tagged("Ann left", ["Ann", "left"], ["B-PER", "O"], [[0, 3], [4, 8]],
                      column="ner_tags")
    assert batch.render(entities, "conllu").splitlines()[1:] == [
        "1\tAnn\t_\t_\t_\t_\t_\t_\t_\tner_tags=B-PER",
        "2\tleft\t_\t_\t_\t_\t_\t_\t_\tner_tags=O", ""]


def test_a_four_head_model_tags_every_column_everywhere(heads_model: Path, tmp_path: Path):
    tagger = Tagger.load(heads_model)
    assert [h.column for h in tagger.heads] == ["upos", *EWT_COLUMNS]
    assert [h.kind for h in tagger.heads] == ["tags", "tags", "tags", "lemma"]
    sentences = [["The", "cats", "were", "sitting", "."], ["Go", "!"]]
    columns = tagger.tag_columns(sentences)
    records = [t.to_dict() for t in tagger.tag_conll_sentences(sentences)]
    for key in ("tags", *EWT_COLUMNS):
        assert [r[key] for r in records] == columns[key]
        assert [len(v) for v in columns[key]] == [5, 2]
    # A lemma is what its predicted edit script makes of the form.
    lemma = tagger.heads[3]
    ids = tagger.predict_tokens(sentences).more[2]
    assert columns["lemma"] == [[edits.apply(lemma.labels[i], form)
                                 for i, form in zip(row, sentence, strict=True)]
                                for row, sentence in zip(ids, sentences, strict=True)]
    # The command line's CoNLL-U: its columns are the JSON records'.
    source = tmp_path / "in.txt"
    source.write_text("The cats were sitting on the mat.\nI don't know.\n", encoding="utf-8")
    runner = CliRunner()
    for fmt in ("json", "conllu"):
        result = runner.invoke(main, ["tag", str(heads_model), "-i", str(source), "-o",
                                      str(tmp_path / fmt), "-f", fmt, "-q"])
        assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "json").read_text().splitlines()]
    with conll.open_text(tmp_path / "conllu") as lines:
        words = list(conll.conllu_sentences(lines, "out"))
    assert len(words) == len(records) == 2
    for rows, record in zip(words, records, strict=True):
        assert [r[1] for r in rows] == record["tokens"]
        assert [r[2] for r in rows] == record["lemma"]
        assert [r[3] for r in rows] == record["tags"]
        assert [r[4] for r in rows] == record["xpos"]
        assert [r[5] for r in rows] == record["feats"]


def test_evaluate_reports_every_layer_on_gold_tokens_and_from_raw_text(heads_model: Path):
    gold = SHARED / "raw" / "ud_en_ewt" / "en_ewt-ud-dev.conllu"
    runner = CliRunner()
    result = runner.invoke(main, ["evaluate", str(heads_model), "--dataset",
                                  f"validation={gold}", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report["layers"]) == {"UPOS", "XPOS", "UFeats", "Lemmas", "AllTags"}
    assert report["layers"]["UPOS"] == pytest.approx(report["accuracy"])
    assert report["layers"]["AllTags"] <= min(report["layers"][n] for n in
                                              ("UPOS", "XPOS", "UFeats"))
    raw = runner.invoke(main, ["evaluate", str(heads_model), "--dataset",
                               f"validation={gold}", "--raw-text", "--json"])
    assert raw.exit_code == 0, raw.output
    layers = json.loads(raw.output)["layers"]
    assert set(layers) == set(report["layers"])
    for name, found in layers.items():  # words the tokenizer got wrong lower each layer
        assert found["f1"] <= report["layers"][name] + 0.01


def test_the_server_gives_every_column(heads_model: Path):
    from starlette.testclient import TestClient

    from tagger.apps.serve import create_app

    tagger = Tagger.load(heads_model)
    texts = ["The cats were sitting on the mat.", "I don't know."]
    expected = [t.to_dict() for t in tagger.tag(texts)]
    with TestClient(create_app(tagger, "ud")) as client:
        records = client.post("/v1/tag", json={"texts": texts}).json()["records"]
        metadata = client.get("/v1/models/ud/metadata").json()
        rows = client.post("/v1/models/ud:predict", json={"instances": texts}).json()
        columns = client.post("/v1/models/ud:predict", json={"inputs": texts}).json()
    for key in ("tags", *EWT_COLUMNS):
        assert [r[key] for r in records] == [r[key] for r in expected]
    outputs = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"][
        "outputs"]
    assert {"xpos", "feats", "lemma"} <= set(outputs)
    assert set(rows["predictions"][0]) == set(outputs)
    assert [p["lemma"] for p in rows["predictions"]] == [r["lemma"] for r in expected]
    assert columns["outputs"]["feats"] == [r["feats"] for r in expected]


def test_columns_mistakes_are_one_line_errors_before_any_training(conllu_file: Path,
                                                                   tmp_path: Path):
    from .helpers import assert_one_line_error, run_cli

    dataset = f"train={conllu_file},validation={conllu_file}"
    output = tmp_path / "m"
    assert_one_line_error(run_cli("train", "--dataset", dataset, "--columns", "upos,upos",
                                  "--output", output), "--columns", "once")
    assert_one_line_error(run_cli("train", "--dataset", dataset, "--columns", "upos,lemmata",
                                  "--output", output), "lemmata")
    assert_one_line_error(run_cli("train", "--dataset", dataset, "--columns", "upos,lemma",
                                  "--select-on", "alltags", "--output", output),
                          "alltags", "--columns upos,xpos,feats")
    assert_one_line_error(run_cli("train", "--dataset", dataset, "--columns", "upos,lemma",
                                  "--head-weights", "1,1,1", "--output", output),
                          "3 weights for 2 tag columns")
    assert not output.exists()


def test_rare_labels_are_left_out_of_a_further_head_and_its_tokens_out_of_its_loss():
    from tagger.batching import NO_LABEL, encode_tags
    from tagger.corpora import Corpus
    from tagger.settings import TrainConfig
    from tagger.training.loop import further_heads

    corpus = Corpus("c", {"train": [(["a", "b", "c"], ["X", "X", "Y"])]}, ["X", "Y"], "upos",
                    "token", more={"xpos": {"train": [["p", "p", "q"]]},
                                   "lemmas": {"train": [["a", "b", "c"]]}})
    kept = further_heads(corpus, TrainConfig.from_flat(min_label_count=2))
    assert [(h.column, h.kind, h.labels) for h in kept] == [
        ("xpos", "tags", ["p"]), ("lemma", "lemma", [edits.script("a", "a")])]
    assert [len(h.labels) for h in further_heads(corpus, TrainConfig())] == [2, 1]
    assert encode_tags([["p", "q"]], ["p"], known_only=False).to_list() == [[0, NO_LABEL]]
    with pytest.raises(KeyError):
        encode_tags([["q"]], ["p"])


def test_a_head_with_more_labels_than_the_projection_is_projected_in_every_runtime(
        heads_model: Path):
    from tagger.corpora import Corpus
    from tagger.settings import TrainConfig
    from tagger.training.loop import further_heads

    corpus = Corpus("c", {"train": [(["a", "b", "c"], ["X", "X", "Y"])]}, ["X", "Y"], "upos",
                    "token", more={"xpos": {"train": [["p", "q", "r"]]},
                                   "feats": {"train": [["s", "t", "t"]]}})
    assert [h.projection for h in further_heads(corpus, TrainConfig.from_flat(
        head_projection=2))] == [2, 0]
    assert [h.projection for h in further_heads(corpus, TrainConfig())] == [0, 0]
    # The fixture projects feats and lemmas (more labels than 64), not XPOS; the parity
    # suite's four-heads variant checks the ONNX graph and the SavedModel against it.
    keras_tagger = Tagger.load(heads_model, "keras")
    assert [(h.column, h.projection > 0) for h in keras_tagger.heads[1:]] == [
        ("xpos", False), ("feats", True), ("lemma", True)]
    layers = keras_tagger.backend.model.parts[0].outputs
    assert [w.shape for w in layers[2].weights] == [
        (32, 64), (64, len(keras_tagger.heads[2].labels)), (len(keras_tagger.heads[2].labels),)]
    sentences = [["The", "cats", "were", "sitting", "."]]
    assert Tagger.load(heads_model, "onnx").tag_columns(sentences) == \
        keras_tagger.tag_columns(sentences)


def test_a_column_named_as_a_records_own_key_is_refused():
    from tagger.corpora import Corpus
    from tagger.settings import TrainConfig
    from tagger.training.loop import further_heads

    for name in ("offsets", "span_labels"):
        corpus = Corpus("c", {"train": [(["a"], ["X"])]}, ["X"], "upos", "token",
                        more={name: {"train": [["p"]]}})
        with pytest.raises(TaggerError, match="clash") as error:
            further_heads(corpus, TrainConfig())
        assert error.value.param == "columns"
