"""Every backend tags as every other: the keras backend, the onnx backend (float32, and int8
within its bound) and the SavedModel's in-graph pipeline give the same tokens, offsets,
tags, spans and confidences on the same texts, for every network part (char CNN and char
BiLSTM, pretrained vectors, stacked and one-way LSTMs, ensembles, CRF and softmax heads,
IOBES training, four heads: UPOS, XPOS, features, lemmas); the command line runs the onnx
backend without importing TensorFlow."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from tagger import backends, model_folder
from tagger.apps.cli import main
from tagger.corpora import load_corpus
from tagger.errors import TaggerError
from tagger.export.savedmodel import export, interpolated
from tagger.model_folder import CHARS_NETWORK, NETWORK
from tagger.pipeline import Tagger
from tagger.settings import TrainConfig
from tagger.training import initialized
from tagger.training.ensembles import combine

from . import tiny_bert
from .conftest import DEMO
from .helpers import assert_same_records, assert_same_up_to_ties
from .texts import EWT_DEV, ODD, conllu_texts

pytestmark = pytest.mark.slow

SMALL = dict(units=16, embedding_dim=16, char_filters=16)
VARIANTS = ["crf-charcnn", "pos-softmax", "charlstm-iobes-oneway-2layers-softmax",
            "vectors-words-only", "vectors-frozen-ensemble", "vectors-encoder-first",
            "four-heads"]
# The records' keys of the four-head model's further heads.
COLUMNS = ("xpos", "feats", "lemma")


def _vectors(tmp_path: Path) -> Path:
    """A small GloVe-style file: a few demo words, a word only it knows, a vector of zeros."""
    words = ["the", "of", "germany", "paris", "london", "said", "unseenword", "zero"]
    lines = [f"{w} " + " ".join(f"{(i * 7 + d) % 11 / 10 - 0.5:.2f}" for d in range(16))
             for i, w in enumerate(words[:-1])]
    path = tmp_path / "vectors.txt"
    path.write_text("\n".join([*lines, "zero " + " ".join(["0"] * 16)]) + "\n",
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def variants(demo_tagger: Tagger, pos_tagger: Tagger, heads_model: Path,
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model folders of every network part, saved with every backend's files: the demo,
    POS and four-head models trained, the others with seeded, untrained weights."""
    corpus = load_corpus(str(DEMO))
    work = tmp_path_factory.mktemp("variants")
    vectors = _vectors(work)

    def trained(**settings) -> Tagger:
        """A network of that shape, its weights seeded, not trained: backends must agree on
        any weights. Fresh output layers give nearly uniform scores, whose near-ties float
        rounding breaks differently on each backend; scaled up, the scores lie as far
        apart as a trained network's."""
        tagger = initialized(corpus, TrainConfig.from_flat(**{**SMALL, **settings})).tagger
        for part in tagger.backend.model.parts:
            for layer in part.outputs:
                layer.kernel.assign(layer.kernel * 50.0)
        tagger.weights_changed()
        return tagger

    frozen = [trained(embeddings=str(vectors), tune_vectors=False, seed=seed)
              for seed in (1, 2)]
    bert = tiny_bert.write(work / "tiny-bert")
    taggers = {
        "crf-charcnn": demo_tagger,
        "pos-softmax": pos_tagger,
        "charlstm-iobes-oneway-2layers-softmax": trained(
            char_model="lstm", train_scheme="iobes", bidirectional=False, layers=2,
            head="softmax", casing=False),
        "vectors-words-only": trained(embeddings=str(vectors), chars=False, casing=False),
        "vectors-frozen-ensemble": combine(frozen),
        # Window 16: EWT dev's long sentences are read in several windows.
        # First subwords: the default (mean) is what tests/test_encoder.py trains.
        "vectors-encoder-first": trained(embeddings=str(vectors), encoder=str(bert),
                                         encoder_layers=2, encoder_window=16,
                                         encoder_pooling="first"),
    }
    folders = {"four-heads": heads_model}
    for name, tagger in taggers.items():
        tagger.save(work / name)
        folders[name] = work / name
    return folders


def _sentences(count: int) -> list[list[str]]:
    sentences, tokens = [], []
    for line in EWT_DEV.read_text(encoding="utf-8").splitlines():
        if not line:
            sentences.append(tokens)
            tokens = []
        elif not line.startswith("#") and line.split("\t")[0].isdigit():
            tokens.append(line.split("\t")[1])
    return sentences[:count]


TEXTS = [*conllu_texts(), *ODD]
SENTENCES = [*_sentences(300), [], ["Paris"]]


def _records(tagger: Tagger) -> tuple[list[dict], list[dict]]:
    return ([t.to_dict() for t in tagger.tag(TEXTS)],
            [t.to_dict() for t in tagger.tag_conll_sentences(SENTENCES)])


@pytest.fixture(scope="module")
def reference(variants: dict[str, Path]) -> dict[str, tuple[list[dict], list[dict]]]:
    """Every variant's records on the keras backend, which the others must match."""
    return {name: _records(Tagger.load(folder, "keras")) for name, folder in variants.items()}


@pytest.mark.parametrize("name", VARIANTS)
def test_the_onnx_backend_tags_as_the_keras_backend(name, variants, reference):
    texts, sentences = reference[name]
    got_texts, got_sentences = _records(Tagger.load(variants[name], "onnx"))
    assert_same_up_to_ties(got_texts, texts)
    assert_same_up_to_ties(got_sentences, sentences)
    assert sum(len(r["tags"]) for r in texts) > 25_000
    if name not in ("pos-softmax", "four-heads"):
        assert sum(len(r["spans"]) for r in texts) > 0  # the models do find entities
    if name == "four-heads":
        assert all(len(r[key]) == len(r["tokens"]) for r in texts for key in COLUMNS)


def test_a_trained_folder_tags_on_the_onnx_backend_by_default(variants):
    folder = variants["crf-charcnn"]
    manifest = json.loads((folder / model_folder.MANIFEST).read_text(encoding="utf-8"))
    assert {NETWORK, CHARS_NETWORK, model_folder.WEIGHTS} <= set(manifest["files"])
    assert backends.resolve(folder).name == "onnx"
    assert Tagger.load(folder).backend.name == "onnx"


# Runs in a fresh interpreter: reads the SavedModel folder and a JSON request file, writes
# JSON records built from the signature's padded outputs.
SAVEDMODEL_CLIENT = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)

folder, request, response = sys.argv[1:]
model = tf.saved_model.load(folder)
job = json.load(open(request, encoding="utf-8"))

def records(out, texts):
    out = {k: v.numpy() for k, v in out.items()}
    for i, text in enumerate(texts):
        n, m = out["lengths"][i], out["span_counts"][i]
        offsets = [[int(a), int(b)] for a, b in zip(out["starts"][i][:n], out["ends"][i][:n])]
        starts, ends = out["span_starts"][i], out["span_ends"][i]
        spans = [{"label": out["span_labels"][i][j].decode(), "start": int(starts[j]),
                  "end": int(ends[j]), "text": text[starts[j]:ends[j]],
                  "confidence": round(float(out["span_confidences"][i][j]), 4)} for j in range(m)]
        record = {"text": text, "tokens": [t.decode() for t in out["tokens"][i][:n]],
                  "tags": [t.decode() for t in out["tags"][i][:n]], "offsets": offsets,
                  "confidences": [round(float(c), 4) for c in out["confidences"][i][:n]],
                  "spans": spans}
        for key in job["columns"]:  # a model's further heads
            record[key] = [t.decode() for t in out[key][i][:n]]
        held = int(out.get("multiword_counts", [0] * len(texts))[i])
        if held:
            record["multiword"] = [[int(a), int(b)] for a, b in zip(
                out["multiword_starts"][i][:held], out["multiword_ends"][i][:held])]
        yield record

result = {"texts": [], "sentences": []}
texts = job["texts"]
for i in range(0, len(texts), 64):
    chunk = texts[i:i + 64]
    out = model.signatures["serving_default"](texts=tf.constant(chunk))
    result["texts"] += list(records(out, chunk))
sentences = [s for s in job["sentences"] if s]
width = max(len(s) for s in sentences)
out = model.signatures["tag_tokens"](
    tokens=tf.constant([s + [""] * (width - len(s)) for s in sentences]),
    lengths=tf.constant([len(s) for s in sentences], tf.int32))
result["sentences"] = list(records(out, [" ".join(s) for s in sentences]))
# Calls in which no text has a token.
result["tokenless"] = [list(records(model.signatures["serving_default"](
    texts=tf.constant(batch)), batch)) for batch in job["tokenless"]]
assert not any(name == "tagger" or name.startswith("tagger.") for name in sys.modules)
json.dump(result, open(response, "w", encoding="utf-8"), ensure_ascii=False)
"""


@pytest.mark.parametrize("name", ["crf-charcnn", "pos-softmax", "vectors-encoder-first",
                                  "four-heads"])
def test_the_savedmodel_tags_as_the_pipeline_in_a_fresh_process(name, variants, reference,
                                                                 tmp_path: Path):
    folder = tmp_path / "exported" / "1"
    export(Tagger.load(variants[name], "keras"), folder)
    request, response = tmp_path / "request.json", tmp_path / "response.json"
    tokenless = [[""], ["   "], ["\u200b"], ["\x00"], ["", ""]]
    columns = COLUMNS if name == "four-heads" else ()
    request.write_text(json.dumps({"texts": TEXTS, "sentences": SENTENCES,
                                   "tokenless": tokenless, "columns": columns}),
                       encoding="utf-8")
    subprocess.run([sys.executable, "-c", SAVEDMODEL_CLIENT, str(folder), str(request),
                    str(response)], check=True)
    got = json.loads(response.read_text(encoding="utf-8"))
    texts, sentences = reference[name]
    assert len(got["texts"]) == len(texts) > 2000
    assert_same_up_to_ties(got["texts"], texts)
    assert_same_up_to_ties(got["sentences"], [r for r in sentences if r["tokens"]])
    assert got["tokenless"] == [[{"text": t, "tokens": [], "tags": [], "offsets": [],
                                  "confidences": [], "spans": [],
                                  **{key: [] for key in columns}} for t in batch]
                                for batch in tokenless]
    spans = sum(len(r["spans"]) for r in got["texts"])
    ewt = name in ("pos-softmax", "four-heads")
    # The trained entity model's span confidences are calibrated, in the graph too.
    assert (Tagger.load(variants[name]).config.calibration is not None) == (
        name == "crf-charcnn")
    assert spans == 0 if ewt else spans > 0
    # The EWT models' tokenizer is learned (the rules do not agree with EWT): their
    # multiword tokens (don't) come out of the graph too.
    learned = Tagger.load(variants[name]).config.tokenizer == "learned"
    assert learned == ewt
    assert any("multiword" in r for r in got["texts"]) == learned


def test_the_graphs_interpolation_is_numpys():
    x = np.array([0.1, 0.25, 0.4, 0.9], np.float32)
    y = np.array([0.0, 0.5, 0.5, 0.97], np.float32)
    values = np.array([0.0, 0.1, 0.2, 0.25, 0.3, 0.6, 0.9, 0.95, 1.0], np.float32)
    got = interpolated(tf.constant(values), tf.constant(x), tf.constant(y)).numpy()
    assert got == pytest.approx(np.interp(values, x, y), abs=1e-6)
    one = interpolated(tf.constant(values), tf.constant(x[:1]), tf.constant(y[:1])).numpy()
    assert one.tolist() == [0.0] * len(values)


@pytest.mark.parametrize("name", ["crf-charcnn", "pos-softmax", "vectors-encoder-first"])
def test_the_int8_onnx_backend_tags_almost_as_float32_and_each_text_alike_anywhere(
        name, variants, reference, tmp_path: Path):
    """int8 weights, float32 activations: the tags of float32 but for a few, and a text's
    record the same alone, among others and cut into other batches (activations quantized
    per call made them depend on the neighbours, and saturate on CPUs without VNNI)."""
    import onnx
    from onnx import TensorProto

    Tagger.load(variants[name], "keras").save(tmp_path / "int8", int8=True)
    files = [NETWORK] + [model_folder.ENCODER_NETWORK] * name.endswith("encoder-first")
    for file in files:
        graph = onnx.load(tmp_path / "int8" / file)
        kinds = {node.op_type for node in graph.graph.node}
        assert "DequantizeLinear" in kinds and not kinds & {
            "DynamicQuantizeLSTM", "MatMulInteger", "DynamicQuantizeLinear"}
        assert {p.key: p.value for p in graph.metadata_props}["weights"] == "int8"
        # Every weight matrix and embedding table is int8 (an LSTM's biases stay float32).
        biases = {node.input[3] for node in graph.graph.node if node.op_type == "LSTM"}
        matrices = [t.data_type for t in graph.graph.initializer if len(t.dims) > 1
                    and np.prod(t.dims) >= 256 and t.name not in biases]
        assert TensorProto.INT8 in matrices and set(matrices) == {TensorProto.INT8}
    int8 = Tagger.load(tmp_path / "int8", "onnx")
    # EWT dev's text (ODD's repeated 2,000-token line would weigh one sentence's errors
    # 400 times).
    texts = conllu_texts()
    expected = [r["tags"] for r in reference[name][0][:len(texts)]]
    records = [t.to_dict() for t in int8.tag(texts)]
    tags = sum(map(len, expected))
    differing = sum(a != b for x, y in zip([r["tags"] for r in records], expected,
                                           strict=True) for a, b in zip(x, y, strict=True))
    assert differing / tags < 0.01
    some = texts[::10]
    assert [int8.tag([text])[0].to_dict() for text in some] == records[::10]
    assert [t.to_dict() for t in int8.tag(some[::-1])][::-1] == records[::10]


def test_export_refuses_an_existing_folder_without_force(demo_tagger: Tagger, tmp_path: Path):
    (tmp_path / "out").mkdir()
    with pytest.raises(TaggerError, match="already exists"):
        export(demo_tagger, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("backend", ["keras", "onnx"])
def test_character_features_kept_across_batches_and_restarts(backend, demo_model: Path,
                                                            demo_tagger: Tagger):
    """Words' character features are computed once and kept by slot; when the featurizer
    starts its slots afresh (here every 300 distinct words) the kept rows must follow."""
    tagger = Tagger.load(demo_model, backend)
    tagger.featurizer.CACHE_TOKENS = 300
    texts = conllu_texts()[:1500]
    expected = [t.to_dict() for t in demo_tagger.tag(texts)]
    for part in (slice(0, 700), slice(700, None)):  # a second call reuses kept features
        assert_same_records([t.to_dict() for t in tagger.tag(texts[part])], expected[part])
    assert len({t for r in expected for t in r["tokens"]}) > 3 * 300


def test_export_onnx_writes_a_model_folder_of_its_own(demo_model: Path, tmp_path: Path):
    """For a folder without an ONNX network (an older tagger's), `export --format onnx`
    writes a copy that has it."""
    older = tmp_path / "older"
    model_folder.write(older, model_folder.read(demo_model), lambda folder: [
        (folder / name).write_bytes((demo_model / name).read_bytes())
        for name in (model_folder.WEIGHTS, model_folder.VOCAB, model_folder.CHARS)], None,
        force=False)
    result = CliRunner().invoke(main, ["tag", str(older), "x", "--runtime", "onnx"])
    assert result.exit_code == 2 and "has no network.onnx" in result.output
    assert "--format onnx" in result.output and "Traceback" not in result.output
    assert backends.resolve(older).name == "keras"
    result = CliRunner().invoke(main, ["export", str(older), str(tmp_path / "onnx"),
                                       "--format", "onnx"])
    assert result.exit_code == 0, result.output
    texts = ["Angela Merkel visited Paris ."]
    assert Tagger.load(tmp_path / "onnx").backend.name == "onnx"
    assert_same_records([t.to_dict() for t in Tagger.load(tmp_path / "onnx").tag(texts)],
                        [t.to_dict() for t in Tagger.load(older).tag(texts)])


# Runs in a fresh interpreter: the command line on an ONNX folder, then a check that
# TensorFlow was never imported.
CLI_CLIENT = r"""
import sys
from tagger import model_folder
from tagger.apps.cli import main
try:
    main(sys.argv[1:])
except SystemExit as done:
    assert not done.code, done.code
assert "tensorflow" not in sys.modules, "TensorFlow was imported"
assert "keras" not in sys.modules, "Keras was imported"
"""


def test_cli_tags_with_onnx_runtime_without_importing_tensorflow(demo_model: Path,
                                                                 tmp_path: Path):
    runner = CliRunner()
    exported = demo_model
    lines = tmp_path / "in.txt"
    lines.write_text("Angela Merkel visited Paris .\n\nEU rejects German call .\n",
                     encoding="utf-8")
    outputs = {}
    for runtime in ("onnx", "tensorflow"):
        outputs[runtime] = tmp_path / f"{runtime}.jsonl"
        result = runner.invoke(main, ["tag", str(exported), "-i", str(lines), "-o",
                                      str(outputs[runtime]), "--runtime", runtime, "-q"])
        assert result.exit_code == 0, result.output

    def records(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    assert len(records(outputs["onnx"])) == 3
    assert_same_records(records(outputs["onnx"]), records(outputs["tensorflow"]))
    fresh = subprocess.run([sys.executable, "-c", CLI_CLIENT, "tag", str(exported),
                            "Angela Merkel visited Paris ."],
                           capture_output=True, text=True, check=False)
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.startswith("Angela/")


@pytest.mark.parametrize("input_format, text", [
    ("text", "Angela Merkel visited Paris .\n\n  \nEU rejects German call .\n" * 1500),
    ("conll", "Angela\nMerkel\nvisited\nParis\n.\n\nEU\nrejects\n\n" * 2500),
])
def test_jobs_tag_in_processes_in_input_order(demo_model: Path, tmp_path: Path,
                                              input_format: str, text: str):
    exported = demo_model
    source = tmp_path / "in.txt"
    source.write_text(text, encoding="utf-8")
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}.jsonl"
        result = CliRunner().invoke(main, ["tag", str(exported), "-i", str(source), "-o",
                                           str(out), "--input-format", input_format,
                                           "--jobs", jobs, "-q"])
        assert result.exit_code == 0, result.output
        outputs.append(out.read_text(encoding="utf-8"))
    lines = outputs[1].splitlines()
    assert outputs[0] == outputs[1]
    expected = text.count("\n") if input_format == "text" else 5000
    assert len(lines) == expected > 2 * 2048  # several chunks, in two processes
    assert json.loads(lines[0])["tokens"][0] == "Angela"


@pytest.mark.parametrize("listed", [False, True])
def test_jobs_with_a_network_that_does_not_load_fail_in_one_line(
        demo_model: Path, tmp_path: Path, listed: bool):
    """A changed network.onnx fails the manifest check before any worker starts; one the
    manifest lists (e.g. from another exporter) but ONNX Runtime cannot load fails in the
    workers, and their error reaches the user as one line."""
    exported = tmp_path / "copy"
    Tagger.load(demo_model, "keras").save(exported)
    source = tmp_path / "in.txt"
    source.write_text("Angela Merkel visited Paris .\n", encoding="utf-8")
    (exported / NETWORK).write_bytes(b"not a network")
    if listed:
        manifest = exported / model_folder.MANIFEST
        files = json.loads(manifest.read_text(encoding="utf-8"))
        files["files"][NETWORK] = model_folder.fingerprint(exported / NETWORK)
        manifest.write_text(json.dumps(files), encoding="utf-8")
    result = CliRunner().invoke(main, ["tag", str(exported), "-i", str(source), "-o",
                                       str(tmp_path / "out.jsonl"), "--jobs", "2"])
    assert result.exit_code != 0
    expected = "network.onnx cannot be loaded" if listed else "network.onnx is damaged"
    assert expected in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out.jsonl").exists()


def test_int8_needs_the_onnx_format(demo_model: Path, tmp_path: Path):
    result = CliRunner().invoke(main, ["export", str(demo_model), str(tmp_path / "out"),
                                       "--int8"])
    assert result.exit_code == 2 and "--int8 needs --format onnx" in result.output
    assert not (tmp_path / "out").exists()
