"""A model exported for ONNX Runtime tags exactly as the TensorFlow tagger: every network part
(char CNN and char BiLSTM, pretrained vectors, stacked and one-way LSTMs, ensembles, CRF and
softmax heads, IOBES training), and the command line runs it without importing TensorFlow."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tagger import model_folder
from tagger.cli import main
from tagger.corpora import load_corpus
from tagger.ensembles import combine
from tagger.onnx_export import export_onnx
from tagger.onnx_tagging import CHARS_NETWORK, NETWORK, OnnxTagger
from tagger.settings import TrainConfig
from tagger.tagging import Tagger
from tagger.training import train

from .conftest import DEMO
from .records import assert_same_records
from .texts import EWT_DEV, ODD, conllu_texts

SMALL = dict(epochs=3, units=16, embedding_dim=16, char_filters=16, batch_size=16,
             learning_rate=0.01)


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
def variants(demo_tagger: Tagger, pos_tagger: Tagger,
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, Tagger]:
    corpus = load_corpus(str(DEMO))
    vectors = _vectors(tmp_path_factory.mktemp("vectors"))

    def trained(**settings) -> Tagger:
        return train(corpus, TrainConfig.from_flat(**{**SMALL, **settings}))[0]

    frozen = [trained(embeddings=str(vectors), tune_vectors=False, seed=seed)
              for seed in (1, 2)]
    return {
        "crf-charcnn": demo_tagger,
        "pos-softmax": pos_tagger,
        "charlstm-iobes-oneway-2layers-softmax": trained(
            char_model="lstm", train_scheme="iobes", bidirectional=False, layers=2,
            head="softmax", casing=False),
        "vectors-words-only": trained(embeddings=str(vectors), chars=False, casing=False),
        "vectors-frozen-ensemble": combine(frozen),
    }


def _sentences(count: int) -> list[list[str]]:
    sentences, tokens = [], []
    for line in EWT_DEV.read_text(encoding="utf-8").splitlines():
        if not line:
            sentences.append(tokens)
            tokens = []
        elif not line.startswith("#") and line.split("\t")[0].isdigit():
            tokens.append(line.split("\t")[1])
    return sentences[:count]


@pytest.mark.parametrize("name", ["crf-charcnn", "pos-softmax",
                                  "charlstm-iobes-oneway-2layers-softmax",
                                  "vectors-words-only", "vectors-frozen-ensemble"])
def test_onnx_runtime_tags_as_tensorflow(name, variants, tmp_path: Path):
    tagger = variants[name]
    export_onnx(tagger, tmp_path / "onnx")
    onnx_tagger = OnnxTagger.load(tmp_path / "onnx")
    texts = [*conllu_texts(), *ODD]
    expected = [t.to_dict() for t in tagger.tag(texts)]
    assert_same_records([t.to_dict() for t in onnx_tagger.tag(texts)], expected)
    sentences = [*_sentences(300), [], ["Paris"]]
    assert_same_records([t.to_dict() for t in onnx_tagger.tag_conll_sentences(sentences)],
                        [t.to_dict() for t in tagger.tag_conll_sentences(sentences)])
    assert sum(len(r["tags"]) for r in expected) > 25_000
    if tagger.scheme != "token":
        assert sum(len(r["spans"]) for r in expected) > 0  # the models do find entities


def test_character_features_kept_across_batches_and_restarts(demo_tagger: Tagger,
                                                            tmp_path: Path):
    """Words' character features are computed once and kept by slot; when the featurizer
    starts its slots afresh (here every 300 distinct words) the kept rows must follow."""
    export_onnx(demo_tagger, tmp_path / "onnx")
    onnx_tagger = OnnxTagger.load(tmp_path / "onnx")
    onnx_tagger.featurizer.CACHE_TOKENS = 300
    texts = conllu_texts()[:1500]
    expected = [t.to_dict() for t in demo_tagger.tag(texts)]
    for part in (slice(0, 700), slice(700, None)):  # a second call reuses kept features
        assert_same_records([t.to_dict() for t in onnx_tagger.tag(texts[part])],
                            expected[part])
    assert len({t for r in expected for t in r["tokens"]}) > 3 * 300


def test_the_exported_folder_is_a_model_folder_too(demo_tagger: Tagger, tmp_path: Path):
    export_onnx(demo_tagger, tmp_path / "onnx")
    manifest = json.loads((tmp_path / "onnx" / "manifest.json").read_text(encoding="utf-8"))
    assert NETWORK in manifest["files"] and CHARS_NETWORK in manifest["files"]
    texts = ["Angela Merkel visited Paris ."]
    assert Tagger.load(tmp_path / "onnx").tag(texts) == demo_tagger.tag(texts)


# Runs in a fresh interpreter: the command line on an ONNX folder, then a check that
# TensorFlow was never imported.
CLI_CLIENT = r"""
import sys
from tagger import model_folder
from tagger.cli import main
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
    exported = tmp_path / "onnx"
    result = runner.invoke(main, ["export", str(demo_model), str(exported), "--format", "onnx"])
    assert result.exit_code == 0, result.output
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


def test_onnx_runtime_on_a_folder_without_a_network_is_a_one_line_error(demo_model: Path):
    result = CliRunner().invoke(main, ["tag", str(demo_model), "x", "--runtime", "onnx"])
    assert result.exit_code != 0
    assert "has no network.onnx" in result.output and "--format onnx" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("input_format, text", [
    ("text", "Angela Merkel visited Paris .\n\n  \nEU rejects German call .\n" * 1500),
    ("conll", "Angela\nMerkel\nvisited\nParis\n.\n\nEU\nrejects\n\n" * 2500),
])
def test_jobs_tag_in_processes_in_input_order(demo_model: Path, tmp_path: Path,
                                              input_format: str, text: str):
    exported = tmp_path / "onnx"
    export_onnx(Tagger.load(demo_model), exported)
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
    exported = tmp_path / "onnx"
    export_onnx(Tagger.load(demo_model), exported)
    source = tmp_path / "in.txt"
    source.write_text("Angela Merkel visited Paris .\n", encoding="utf-8")
    (exported / NETWORK).write_bytes(b"not a network")
    if listed:
        manifest = exported / model_folder.MANIFEST
        files = json.loads(manifest.read_text(encoding="utf-8"))
        files["files"][NETWORK] = model_folder._fingerprint(exported / NETWORK)
        manifest.write_text(json.dumps(files), encoding="utf-8")
    result = CliRunner().invoke(main, ["tag", str(exported), "-i", str(source), "-o",
                                       str(tmp_path / "out.jsonl"), "--jobs", "2"])
    assert result.exit_code != 0
    expected = "network.onnx cannot be loaded" if listed else "network.onnx is damaged"
    assert expected in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("name", ["crf-charcnn", "pos-softmax"])
def test_int8_weights_tag_almost_as_float32(name, variants, tmp_path: Path):
    import onnx

    tagger = variants[name]
    export_onnx(tagger, tmp_path / "int8", int8=True)
    network = onnx.load(tmp_path / "int8" / NETWORK)
    kinds = {node.op_type for node in network.graph.node}
    assert {"DynamicQuantizeLSTM", "MatMulInteger"} <= kinds and "LSTM" not in kinds
    assert {p.key: p.value for p in network.metadata_props}["weights"] == "int8"
    texts = conllu_texts()
    expected = [t.tags for t in tagger.tag(texts)]
    got = [t.tags for t in OnnxTagger.load(tmp_path / "int8").tag(texts)]
    tags = sum(map(len, expected))
    differing = sum(a != b for x, y in zip(got, expected, strict=True)
                    for a, b in zip(x, y, strict=True))
    assert differing / tags < 0.01  # 54 of 25,328 for the CRF model when written


def test_int8_needs_the_onnx_format(demo_model: Path, tmp_path: Path):
    result = CliRunner().invoke(main, ["export", str(demo_model), str(tmp_path / "out"),
                                       "--int8"])
    assert result.exit_code == 2 and "--int8 needs --format onnx" in result.output
    assert not (tmp_path / "out").exists()
