"""The contextual encoder: a BERT-family folder read without PyTorch, its WordPiece split,
its network on every backend (against a NumPy BERT written here), the subword windows of
long sentences, and `tagger train --encoder` end to end on a tiny random BERT."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tagger.apps.cli import main
from tagger.encoders.checkpoint import read_folder
from tagger.encoders.context import GROUP_SUBWORDS, ContextFeatures, window_groups
from tagger.errors import TaggerError
from tagger.text.wordpiece import WordPiece

from . import tiny_bert
from .conftest import DEMO
from .helpers import assert_one_line_error, assert_same_records, assert_same_up_to_ties


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert.write(tmp_path_factory.mktemp("encoders") / "tiny-bert")


def _wordpiece() -> WordPiece:
    return WordPiece(tiny_bert.vocabulary(), lowercase=True, strip_accents=True)


def _pieces(wordpiece: WordPiece, word: str) -> list[str]:
    return [wordpiece.vocab[i] for i in wordpiece.ids(word)]


def test_words_split_as_bert_splits_them():
    wordpiece = _wordpiece()
    assert _pieces(wordpiece, "Paris") == ["paris"]
    assert _pieces(wordpiece, "Zürich") == ["zurich"]  # lower-cased, accent stripped
    assert _pieces(wordpiece, "unable") == ["un", "##able"]
    assert _pieces(wordpiece, "U.S.") == ["u", ".", "s", "."]  # cut at punctuation
    assert _pieces(wordpiece, "cats") == ["c", "##a", "##t", "##s"]
    assert _pieces(wordpiece, "naïve") == ["n", "##a", "##i", "##v", "##e"]
    assert _pieces(wordpiece, "Ω") == ["[UNK]"]  # not in the vocabulary
    assert _pieces(wordpiece, "\u200b\x07") == ["[UNK]"]  # nothing left: still one subword
    assert _pieces(wordpiece, "東京") == ["[UNK]", "[UNK]"]  # each ideograph on its own
    assert _pieces(wordpiece, "a" * 101) == ["[UNK]"]  # longer than BERT reads


def test_a_cased_vocabulary_keeps_case_and_accents():
    vocab = [*tiny_bert.SPECIAL, "Paris", "Z", "##ü", "##rich"]
    wordpiece = WordPiece(vocab, lowercase=False, strip_accents=False)
    assert _pieces(wordpiece, "Paris") == ["Paris"]
    assert _pieces(wordpiece, "Zürich") == ["Z", "##ü", "##rich"]
    assert _pieces(wordpiece, "paris") == ["[UNK]"]


@pytest.mark.parametrize("layout", [dict(), dict(vocab_txt=True), dict(prefix="bert."),
                                    dict(dtype="F16"), dict(dtype="BF16")])
def test_encoder_folders_in_every_layout_read_alike(bert, tmp_path, layout):
    reference = read_folder(bert)
    other = read_folder(tiny_bert.write(tmp_path / "other", **layout))
    assert other.wordpiece.vocab == reference.wordpiece.vocab
    assert (other.wordpiece.lowercase, other.wordpiece.strip_accents) == (True, True)
    assert other.arrays.keys() == reference.arrays.keys()
    tolerance = {"F16": 2e-3, "BF16": 1e-2}.get(layout.get("dtype"), 0)
    for name, value in reference.arrays.items():
        np.testing.assert_allclose(other.arrays[name], value, atol=tolerance * 4,
                                   rtol=tolerance)
    assert "pooler.dense.weight" not in other.arrays  # never run, never copied


def test_bad_encoder_folders_say_what_is_wrong(bert, tmp_path):
    with pytest.raises(TaggerError, match="is not a folder"):
        read_folder(tmp_path / "missing")
    broken = tmp_path / "broken"
    shutil.copytree(bert, broken)
    (broken / "tokenizer.json").unlink()
    with pytest.raises(TaggerError, match=r"neither tokenizer\.json nor vocab\.txt"):
        read_folder(broken)
    config = json.loads((bert / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "hidden_act": "relu"}))
    with pytest.raises(TaggerError, match="hidden_act 'relu' is not supported"):
        read_folder(broken)
    (broken / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 4}))
    with pytest.raises(TaggerError, match=r"has no encoder\.layer\.3"):
        read_folder(broken)
    (broken / "model.safetensors").write_bytes(b"\x00\x01")
    with pytest.raises(TaggerError, match="not a safetensors file"):
        read_folder(broken)


def _numpy_bert(arrays: dict, config, ids: np.ndarray) -> list[np.ndarray]:
    """BertModel's forward pass, one sequence without padding: each layer's output."""
    def norm(x, name):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + config.layer_norm_eps) * arrays[name + ".weight"] \
            + arrays[name + ".bias"]

    def linear(x, name):
        return x @ arrays[name + ".weight"].T + arrays[name + ".bias"]

    heads, size = config.heads, config.hidden_size // config.heads
    x = arrays["embeddings.word_embeddings.weight"][ids] + \
        arrays["embeddings.position_embeddings.weight"][: len(ids)] + \
        arrays["embeddings.token_type_embeddings.weight"][0]
    x = norm(x, "embeddings.LayerNorm")
    out = []
    for i in range(config.layers):
        p = f"encoder.layer.{i}."
        q, k, v = (linear(x, p + f"attention.self.{n}").reshape(len(ids), heads, size)
                   for n in ("query", "key", "value"))
        scores = np.einsum("qhd,khd->hqk", q, k) / math.sqrt(size)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        attended = np.einsum("hqk,khd->qhd", weights, v).reshape(len(ids), -1)
        x = norm(x + linear(attended, p + "attention.output.dense"),
                 p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        h = 0.5 * h * (1 + np.vectorize(math.erf)(h / math.sqrt(2)))
        x = norm(x + linear(h, p + "output.dense"), p + "output.LayerNorm")
        out.append(x)
    return out


@pytest.mark.slow
def test_the_encoder_runs_alike_in_keras_in_onnx_and_in_numpy(bert):
    import onnxruntime

    from tagger.backends.keras.transformer import BertEncoder
    from tagger.export.onnx import encoder_graph, int8_weights

    checkpoint = read_folder(bert)
    wordpiece = checkpoint.wordpiece
    long = [wordpiece.cls, *wordpiece.ids("police"), *wordpiece.ids("said"),
            *wordpiece.ids("unable"), *wordpiece.ids("Berlin"), wordpiece.sep]
    short = long[:4]
    batch = np.zeros((2, len(long)), np.int32)
    batch[0], batch[1, :len(short)] = long, short
    keras_states = np.asarray(BertEncoder(checkpoint, 2)(batch))
    assert keras_states.shape == (2, len(long), 2, 16)
    session = onnxruntime.InferenceSession(encoder_graph(checkpoint, 2).SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    onnx_states = session.run(None, {"subwords": batch})[0]
    np.testing.assert_allclose(onnx_states, keras_states, atol=1e-4)
    for row, ids in enumerate((long, short)):  # padding changes nothing before it
        expected = np.stack(_numpy_bert(checkpoint.arrays, checkpoint.config,
                                        np.array(ids))[-2:], axis=1)
        np.testing.assert_allclose(keras_states[row, :len(ids)], expected, atol=1e-4)
    quantized = int8_weights(encoder_graph(checkpoint, 2))
    assert "DequantizeLinear" in {node.op_type for node in quantized.graph.node}
    int8 = onnxruntime.InferenceSession(quantized.SerializeToString(),
                                        providers=["CPUExecutionProvider"])
    int8_states = int8.run(None, {"subwords": batch})[0]
    error = np.abs(int8_states - onnx_states)[0]
    assert error.mean() < 0.02 * np.abs(onnx_states[0]).mean()
    # Activations are not quantized: a window's states do not depend on the others'.
    alone = int8.run(None, {"subwords": batch[1:, :len(short)]})[0]
    np.testing.assert_allclose(alone[0], int8_states[1, :len(short)], atol=1e-5)


def _fake_encode(windows: np.ndarray) -> np.ndarray:
    """States that say where they were read: (subword id, distance from the window's
    nearest edge), as (windows, S, 1 layer, 2)."""
    lengths = (windows != 0).sum(axis=1, keepdims=True)
    position = np.arange(windows.shape[1])[None, :]
    edge = np.minimum(position, lengths - 1 - position)
    return np.stack([windows, edge], axis=-1)[:, :, None, :].astype(np.float32)


@pytest.mark.parametrize("window", [8, 11, 16, 128])
def test_long_sentences_are_read_whole_in_overlapping_windows(window):
    wordpiece = _wordpiece()
    words = ("Police said the unable officials in Paris met cats of Berlin " * 6).split()
    features = ContextFeatures(wordpiece, window, "first", 1, 2)
    plan = features.plan([words, ["Paris"], words[:3]])
    assert plan.windows.shape[1] <= window
    padded = features.padded(plan, _fake_encode)
    assert padded.shape == (3, len(words), 1, 2)
    pieces = [wordpiece.ids(w) for w in words]
    # Every word's features are its first subword's, from some window: nothing cut off.
    assert padded[0, :, 0, 0].tolist() == [p[0] for p in pieces]
    assert padded[1, 0, 0, 0] == wordpiece.ids("Paris")[0]
    assert padded[2, 3:].sum() == 0  # padding after the short sentence
    # Each subword is read with at least a quarter window on either side where the
    # sentence has that much context: no word sits at a window's edge needlessly.
    flat = [i for p in pieces for i in p]
    starts = np.cumsum([0] + [len(p) for p in pieces])[:-1]
    body = window - 2
    context = np.minimum(starts, len(flat) - 1 - starts)
    assert np.all(padded[0, :, 0, 1] >= np.minimum(context, body // 4))
    mean = ContextFeatures(wordpiece, window, "mean", 1, 2).padded(plan, _fake_encode)
    assert mean[0, :, 0, 0] == pytest.approx([np.mean(p) for p in pieces])


@pytest.mark.parametrize("widths, calls", [
    ([100] + [10] * 20, 2),  # short windows are not padded to the long one
    ([10] * 50, 1),  # one call where one holds them all
    ([10] * 150, 2),  # but never more than GROUP_SUBWORDS padded subwords a call
    ([GROUP_SUBWORDS + 2, 5, 3, 3], 2),  # a window wider than that alone
])
def test_windows_are_encoded_in_few_calls_with_little_padding(widths, calls):
    widths = np.array(widths)
    groups = window_groups(widths)
    assert len(groups) == calls
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(widths)))
    for members in groups:
        assert widths[members[0]] == widths[members].max()  # padded to its first
        assert len(members) == 1 or len(members) * widths[members[0]] <= GROUP_SUBWORDS
    padded = sum(len(m) * widths[m[0]] for m in groups)
    assert padded - widths.sum() <= 2 * max(len(m) for m in groups)


def test_training_keeps_known_features_and_tagging_agrees_with_encoding():
    wordpiece = _wordpiece()
    features = ContextFeatures(wordpiece, 16, "first", 1, 2)
    sentences = [["Paris", "said"], ["the", "police", "in", "Berlin"]]
    stored = features.per_sentence(sentences, _fake_encode, batch_subwords=3)
    direct = features.padded(features.plan(sentences), _fake_encode)
    for row, sentence in enumerate(sentences):
        np.testing.assert_array_equal(stored[row], direct[row, :len(sentence)])
    features.known = dict(zip(features.keys(sentences, None), stored, strict=True))
    known = features.prepare(sentences[::-1])
    assert isinstance(known, np.ndarray)
    np.testing.assert_array_equal(known, features.padded(features.plan(sentences[::-1]),
                                                         _fake_encode))
    assert not isinstance(features.prepare([["unseen"]]), np.ndarray)  # a plan to encode


def test_document_context_fills_a_sentence_window_with_its_neighbours_only():
    wordpiece = _wordpiece()
    features = ContextFeatures(wordpiece, 16, "first", 1, 2, around=6)
    sentences = [["Police", "said"], ["the", "officials", "met"], ["in", "Paris"],
                 ["Berlin", "said"]]
    documents = [0, 0, 0, 1]
    neighbours = features.neighbours(sentences, documents)
    assert neighbours[1] == (("Police", "said"), ("in", "Paris"))
    assert neighbours[3] == ((), ())  # alone in its document
    assert features.neighbours(sentences, None) is None
    plan = features.plan(sentences, neighbours)
    assert plan.windows.shape[1] <= 16
    with_context = features.padded(plan, _fake_encode)
    alone = features.padded(features.plan(sentences), _fake_encode)
    # The same subwords become each word's features, read farther from the window's edge
    # where the document has neighbours; a sentence alone in its document reads as before.
    np.testing.assert_array_equal(with_context[..., 0], alone[..., 0])
    assert (with_context[1, :3, 0, 1] > alone[1, :3, 0, 1]).all()
    np.testing.assert_array_equal(with_context[3], alone[3])
    # The first window: [CLS] its own subwords, then the next sentences' up to `around`.
    first = plan.windows[plan.window_of[0]]
    words_after = [i for w in ["the", "officials", "met", "in", "Paris"]
                   for i in wordpiece.ids(w)]
    assert first[3:3 + 6].tolist() == words_after[:6]
    # Known features are told apart by their neighbours.
    stored = features.per_sentence(sentences, _fake_encode, neighbours)
    features.known = dict(zip(features.keys(sentences, neighbours), stored, strict=True))
    assert isinstance(features.prepare(sentences, neighbours), np.ndarray)
    assert not isinstance(features.prepare(sentences, None), np.ndarray)


def _with_documents(corpus: Path, folder: Path, every: int) -> Path:
    """A copy of a CoNLL corpus folder with a `-DOCSTART-` line before every `every`
    sentences."""
    folder.mkdir()
    for file in corpus.glob("*.conll"):
        blocks = file.read_text(encoding="utf-8").strip().split("\n\n")
        marked = [("-DOCSTART- O\n\n" if i % every == 0 else "") + block
                  for i, block in enumerate(blocks)]
        (folder / file.name).write_text("\n\n".join(marked) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def encoder_model(bert, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained with `tagger train --encoder` on the demo corpus in documents,
    reading their context, its encoder folder removed afterwards: the model folder must
    need nothing else."""
    encoder = tmp_path_factory.mktemp("encoder-copy") / "bert"
    shutil.copytree(bert, encoder)
    output = tmp_path_factory.mktemp("models") / "with-encoder"
    corpus = _with_documents(DEMO, tmp_path_factory.mktemp("documents") / "demo", 3)
    result = CliRunner().invoke(main, [
        "train", "--dataset", str(corpus), "--output", str(output), "--epochs", "2",
        "--units", "16", "--embedding-dim", "16", "--char-filters", "16",
        "--learning-rate", "0.01", "--encoder", str(encoder), "--encoder-layers", "2",
        "--encoder-window", "16", "--encoder-context", "4", "--quiet"])
    assert result.exit_code == 0, result.output
    shutil.rmtree(encoder)
    return output


@pytest.mark.slow
def test_a_model_with_an_encoder_is_one_folder_and_tags_alike_on_both_backends(
        encoder_model):
    from tagger.pipeline import Tagger

    files = set(json.loads((encoder_model / "manifest.json").read_text())["files"])
    assert {"encoder.json", "encoder.safetensors", "encoder_vocab.txt",
            "encoder.onnx"} <= files
    config = json.loads((encoder_model / "config.json").read_text())
    assert (config["context_layers"], config["context_dim"]) == (2, 16)
    assert config["settings"]["features"]["encoder_pooling"] == "mean"  # the default
    texts = ["Police in Warsaw said the unable officials met in Paris on Monday . " * 4,
             "Paris", "", "Zürich ?"]
    keras_records = [t.to_dict() for t in Tagger.load(encoder_model, "keras").tag(texts)]
    onnx_records = [t.to_dict() for t in Tagger.load(encoder_model, "onnx").tag(texts)]
    assert_same_up_to_ties(onnx_records, keras_records)
    assert len(keras_records[0]["tags"]) == 13 * 4  # a text past the window: every token


@pytest.mark.slow
def test_the_encoder_changes_the_tags_it_is_trained_with(encoder_model):
    """The contextual features reach the network: with them zeroed the scores move."""
    from tagger.pipeline import Tagger

    tagger = Tagger.load(encoder_model, "onnx")
    sentences = [["Police", "in", "Paris", "said"]]
    with_context = tagger.scores(sentences)[0]
    encode = tagger.backend.encoder_states
    tagger.backend.encoder_states = lambda windows: np.zeros_like(encode(windows))
    assert np.abs(tagger.scores(sentences)[0] - with_context).max() > 1e-3


@pytest.mark.slow
def test_a_model_with_document_context_reads_the_neighbours_of_its_documents(
        encoder_model, tmp_path):
    from tagger.corpora import load_corpus
    from tagger.pipeline import Tagger

    config = json.loads((encoder_model / "config.json").read_text())
    assert config["settings"]["features"]["encoder_context"] == 4
    tagger = Tagger.load(encoder_model, "onnx")
    encode, read = tagger.backend.encoder_states, []
    tagger.backend.encoder_states = lambda windows: (read.append(windows), encode(windows))[1]
    sentences = [["Police", "said"], ["officials", "met", "in", "Paris"], ["Berlin"]]

    def windows_read(documents) -> set[tuple[int, ...]]:
        read.clear()
        tagger.predict_tokens(sentences, documents)
        return {tuple(w[w > 0]) for windows in read for w in windows}

    ids = tagger.context.wordpiece.ids
    # The subwords nearest each side of the boundary between the first two sentences.
    said, officials, berlin, paris = (ids("said")[-1], ids("officials")[0], ids("Berlin")[0],
                                      ids("Paris")[-1])

    def across(windows: set[tuple[int, ...]], a: int, b: int) -> int:
        return sum(a in w and b in w for w in windows)

    assert across(windows_read(None), said, officials) == 0
    together = windows_read([0, 0, 1])
    assert across(together, said, officials) == 2  # each sentence reads the other
    assert across(together, paris, berlin) == 0  # another document's
    # tag_documents numbers each document's sentences: they read each other.
    read.clear()
    tagger.tag_documents(["Police said. Officials met in Paris.", "Berlin"])
    found = {tuple(w[w > 0]) for windows in read for w in windows}
    assert across(found, ids(".")[0], ids("Officials")[0]) >= 1
    assert across(found, paris, berlin) == 0
    # A CoNLL corpus with -DOCSTART- marks its documents (evaluation and training read them).
    corpus = load_corpus(str(_with_documents(DEMO, tmp_path / "demo", 2)))
    numbers = corpus.documents["validation"]
    assert numbers[:5] == [0, 0, 1, 1, 2] and len(numbers) == len(corpus.split("dev"))


def test_train_with_a_bad_encoder_fails_in_one_line(bert, tmp_path):
    base = ["train", "--dataset", str(DEMO), "--output", str(tmp_path / "m"),
            "--epochs", "1", "--quiet"]
    result = CliRunner().invoke(main, [*base, "--encoder", str(tmp_path / "nothing")])
    assert_one_line_error(result, "nothing is not a folder")
    result = CliRunner().invoke(main, [*base, "--encoder", str(bert), "--encoder-layers",
                                       "5"])
    assert_one_line_error(result, "has 3 layers")
    result = CliRunner().invoke(main, [*base, "--encoder", str(bert), "--encoder-layers",
                                       "2", "--encoder-window", "100"])
    assert_one_line_error(result, "reads at most 64 subwords")
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_models_with_one_encoder_make_an_ensemble_and_with_others_do_not(tmp_path):
    from tagger.corpora import load_corpus
    from tagger.settings import TrainConfig
    from tagger.training import train
    from tagger.training.ensembles import combine

    corpus = load_corpus(str(DEMO))

    def trained(encoder: Path, seed: int):
        return train(corpus, TrainConfig.from_flat(
            epochs=1, units=8, embedding_dim=8, char_filters=8, encoder=str(encoder),
            encoder_layers=1, encoder_window=32, seed=seed))[0]

    encoder = tiny_bert.write(tmp_path / "bert")
    members = [trained(encoder, 1), trained(encoder, 2)]
    ensemble = combine(members)
    ensemble.save(tmp_path / "ensemble")
    sentences = [["Police", "in", "Paris", "said", "unable"]]
    from tagger.pipeline import Tagger

    expected = np.mean([m.scores(sentences)[0] for m in members], axis=0)
    for backend in ("keras", "onnx"):
        loaded = Tagger.load(tmp_path / "ensemble", backend)
        np.testing.assert_allclose(loaded.scores(sentences)[0], expected, atol=1e-4)
    # The folder's encoder graph is float32 unless trained with --encoder-int8 (how close
    # int8 stays: the encoder test above and test_backends' int8 test).
    import dataclasses

    import onnx

    def kinds(folder: Path) -> set[str]:
        return {node.op_type for node in onnx.load(folder / "encoder.onnx").graph.node}

    assert "DequantizeLinear" not in kinds(tmp_path / "ensemble")
    member, config = members[0], members[0].config
    member.config = dataclasses.replace(config, settings=config.settings.replace(
        encoder_int8=True))
    member.save(tmp_path / "int8")
    member.config = config
    assert "DequantizeLinear" in kinds(tmp_path / "int8")
    # The same settings, the encoder's weights other (its folder replaced since).
    other = Tagger.load(tmp_path / "int8", "keras")
    other.config = members[1].config
    arrays = other.backend.checkpoint.arrays
    arrays["embeddings.LayerNorm.bias"] = arrays["embeddings.LayerNorm.bias"] + 1
    with pytest.raises(TaggerError, match="contextual encoder"):
        combine([members[1], other])


@pytest.mark.slow
def test_the_server_tags_with_a_model_with_an_encoder_as_the_library(encoder_model):
    from starlette.testclient import TestClient

    from tagger.apps.serve import Limits, create_app
    from tagger.pipeline import Tagger

    tagger = Tagger.load(encoder_model)
    texts = ["Police in Paris said the unable officials met . " * 5, "", "Zürich"]
    with TestClient(create_app(tagger, "encoder", Limits())) as client:
        answer = client.post("/v1/tag", json={"texts": texts})
    assert answer.status_code == 200
    expected = [t.to_dict() for t in Tagger.load(encoder_model).tag(texts)]
    assert_same_records(answer.json()["records"], expected)
