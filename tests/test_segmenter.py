"""The learned tokenizer: surfaces from text and words, what it learns from them (token
bounds, words inside tokens, multiword expansions), its invariants, its file, and how
training chooses between it and the rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tagger import raw_scoring
from tagger.corpora import load_corpus
from tagger.errors import TaggerError
from tagger.progress import Progress
from tagger.text import surface
from tagger.text.segmenter import Segmenter
from tagger.text.surface import Surface
from tagger.text.tokenizer import Rules
from tagger.training import tokenizers

from .conftest import SHARED


def _spans(sentence: Surface) -> list[str]:
    return [sentence.text[a:b] for a, b in sentence.tokens]


def test_aligned_finds_multiword_tokens_where_the_words_stop_spelling_the_text():
    text = "Il vient du marché jusqu'aux champs."
    words = ["Il", "vient", "de", "le", "marché", "jusqu'", "à", "les", "champs", "."]
    no_space = [False, False, False, False, False, True, False, False, True, False]
    found = surface.aligned(text, words, ["X"] * len(words), no_space)
    assert _spans(found) == ["Il", "vient", "du", "marché", "jusqu'", "aux", "champs", "."]
    assert found.forms()[2] == ["de", "le"] and found.forms()[5] == ["à", "les"]


def test_aligned_joins_words_the_text_spells_together_unless_space_after_no_says_apart():
    words = ["I", "do", "n't", "know", "zu", "dem", "Haus", "."]
    text = "I don't know zum Haus."
    # CoNLL-U puts SpaceAfter=No on a multiword token's line, which the hub leaves out:
    # "do" has none, "Haus" has it (the period follows).
    no_space = [False, False, False, False, False, False, True, False]
    found = surface.aligned(text, words, ["X"] * len(words), no_space)
    assert _spans(found) == ["I", "don't", "know", "zum", "Haus", "."]
    assert found.forms()[1] == ["do", "n't"] and found.forms()[3] == ["zu", "dem"]
    # Without SpaceAfter at all, words written together are separate tokens.
    plain = surface.aligned("I don't", ["I", "do", "n't"], ["X"] * 3)
    assert _spans(plain) == ["I", "do", "n't"]
    assert surface.aligned("I know", ["I", "knew"], ["X", "X"]) is None


def test_rebuilt_text_is_spaced_as_text_is_and_unspaced_for_chinese():
    words = ["«", "Oui", "»", ",", "dit", "(", "il", ")", "."]
    assert surface.rebuilt(words, ["X"] * 9).text == "«Oui», dit (il)."
    chinese = surface.rebuilt(["我們", "去", "北京", "。"], ["X"] * 4)
    assert chinese.text == "我們去北京。"
    assert _spans(chinese) == ["我們", "去", "北京", "。"]


# A tiny French-like corpus: elisions cut off their word, "du" is "de le", periods and
# commas are tokens of their own, "aujourd'hui" stays whole.
_SENTENCES = [
    ("L'homme mange du pain.", ["L'", "homme", "mange", "de", "le", "pain", "."]),
    ("Il parle de l'eau, du vin.", ["Il", "parle", "de", "l'", "eau", ",", "de", "le", "vin",
                                    "."]),
    ("Du pain, aujourd'hui.", ["de", "le", "pain", ",", "aujourd'hui", "."]),
    ("J'aime l'art du pays.", ["J'", "aime", "l'", "art", "de", "le", "pays", "."]),
    ("Qu'il vienne.", ["Qu'", "il", "vienne", "."]),
    ("Elle boit du lait, l'été.", ["Elle", "boit", "de", "le", "lait", ",", "l'", "été", "."]),
]


def _training() -> list[Surface]:
    found = []
    for text, words in _SENTENCES * 8:
        no_space = [w.endswith("'") or (i + 1 < len(words) and words[i + 1] in ",.")
                    for i, w in enumerate(words)]
        found.append(surface.aligned(text, words, ["X"] * len(words), no_space))
    assert all(found)
    return found


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter.train(_training())


def test_a_segmenter_learns_the_corpus_tokens_and_expands_its_multiword_tokens(segmenter):
    assert segmenter.lexicon == {"du": ["de", "le"]}
    out = segmenter(["Qu'elle voit l'enfant du riz.", "Du thé."])
    assert out.tokens == [["Qu'", "elle", "voit", "l'", "enfant", "de", "le", "riz", "."],
                          ["De", "le", "thé", "."]]
    starts, ends = out.starts.tolist(), out.ends.tolist()
    assert (starts[5:7], ends[5:7]) == ([22, 22], [24, 24])  # both words at "du"
    assert out.multiword == [[[22, 24]], [[0, 2]]]
    assert out.splits.tolist() == [0, 9, 13]
    # The rules keep the elisions on their words.
    assert Rules()(["l'enfant"]).tokens == [["l'enfant"]]


def test_words_inside_a_token_are_cut_and_the_token_kept():
    training = []
    for _ in range(20):
        training.append(surface.aligned("I don't know.", ["I", "do", "n't", "know", "."],
                                        ["X"] * 5, [False, False, False, True, False]))
        training.append(surface.aligned("We can't go.", ["We", "ca", "n't", "go", "."],
                                        ["X"] * 5, [False, False, False, True, False]))
    model = Segmenter.train(training)
    out = model(["They don't."])
    assert out.tokens == [["They", "do", "n't", "."]]
    assert out.multiword == [[[5, 10]]]
    assert raw_scoring.surface_spans(zip(out.starts.tolist(), out.ends.tolist(),
                                         strict=True), out.multiword[0]) == \
        [(0, 4), (5, 10), (10, 11)]


ODD = ["", "   ", "a\u0301b\u0301 c\u200dd", "👍🏽 x\u00a0y\tz\n", "l'«oasis»", "x" * 300,
       "no\u200bspace", "\u2028line\u2029"]


def test_tokens_cover_every_character_but_white_space_once_and_never_split_a_mark(segmenter):
    texts = [text for text, _ in _SENTENCES] + ODD
    out = segmenter(texts)
    for i, text in enumerate(texts):
        a, b = out.splits[i], out.splits[i + 1]
        spans = sorted(set(zip(out.starts[a:b].tolist(), out.ends[a:b].tolist(),
                               strict=True)))
        covered = [k for start, end in spans for k in range(start, end)]
        assert len(covered) == len(set(covered))  # words never overlap
        classes = segmenter.encoded(text)[1][4:4 + len(text)]
        assert sorted(covered) == [k for k in range(len(text)) if classes[k] != 1]
        for start, _ in spans:  # a combining mark or joined character never starts a word
            assert unicode_category(text[start]) not in ("Mn", "Mc", "Me")
            assert start == 0 or text[start - 1] != "\u200d"


def test_a_format_character_between_letters_keeps_the_word_whole_as_in_the_rules(segmenter):
    """A soft hyphen or zero-width space inside a word joins it (the tables class format
    characters as white space); between other characters it still separates."""
    texts = ["anti\u00adconstitution\u00adnellement", "a\u200bb", "x \u200b y",
             "\u00adabc", "abc\u00ad", "le\u200b« mot »"]
    assert segmenter(texts).tokens == Rules()(texts).tokens
    assert segmenter(texts[:2]).tokens == [["anti\u00adconstitution\u00adnellement"],
                                           ["a\u200bb"]]


def unicode_category(character: str) -> str:
    import unicodedata

    return unicodedata.category(character)


def test_a_text_is_tokenized_alike_alone_and_among_others(segmenter):
    texts = [text for text, _ in _SENTENCES] + ODD
    together = segmenter(texts)
    for i, text in enumerate(texts):
        alone = segmenter([text])
        a, b = together.splits[i], together.splits[i + 1]
        assert alone.tokens[0] == together.tokens[i]
        assert alone.starts.tolist() == together.starts[a:b].tolist()
        assert alone.multiword[0] == together.multiword[i]


def test_what_a_segmenter_keeps_between_calls_changes_no_tokens(segmenter, monkeypatch):
    from tagger.text import segmenter as module

    texts = [text for text, _ in _SENTENCES] + ODD
    fresh = Segmenter(segmenter.weights, segmenter.classes, segmenter.lower,
                      segmenter.dictionary, segmenter.lexicon)
    expected = fresh(texts)
    monkeypatch.setattr(module, "CACHE_CHUNKS", 5)  # start afresh every few calls
    for _ in range(3):
        for i in range(len(texts)):
            again = fresh(texts[i:] + texts[:i])
            assert again.tokens == expected.tokens[i:] + expected.tokens[:i]
            assert again.multiword == expected.multiword[i:] + expected.multiword[:i]
    assert len(fresh._known) <= 5 + len(texts) * 8


def test_a_saved_segmenter_loads_and_tokenizes_the_same(segmenter, tmp_path: Path):
    segmenter.save(tmp_path / "segmenter.npz")
    loaded = Segmenter.load(tmp_path / "segmenter.npz")
    texts = [text for text, _ in _SENTENCES] + ODD
    assert loaded(texts).tokens == segmenter(texts).tokens
    assert np.array_equal(loaded.weights, segmenter.weights)
    saved = (tmp_path / "segmenter.npz").read_bytes()
    flipped = bytearray(saved)
    flipped[len(saved) // 2] ^= 0xFF
    for damaged in [b"not a zip file", saved[:len(saved) // 2], bytes(flipped)]:
        (tmp_path / "broken.npz").write_bytes(damaged)
        with pytest.raises(TaggerError, match=r"broken\.npz is damaged"):
            Segmenter.load(tmp_path / "broken.npz")


def _write_corpus(folder: Path, sentences: list[tuple[str, list[str]]]) -> Path:
    """A CoNLL-U treebank folder (train and dev) of the sentences."""
    folder.mkdir()
    for split in ("train", "dev"):
        blocks = []
        for n, (text, words) in enumerate(sentences * 4):
            rows = [f"# sent_id = {n}", f"# text = {text}"]
            for i, word in enumerate(words, 1):
                rows.append(f"{i}\t{word}\t_\tX\t_\t_\t0\tdep\t_\t_")
            blocks.append("\n".join(rows))
        (folder / f"xx-ud-{split}.conllu").write_text("\n\n".join(blocks) + "\n\n",
                                                      encoding="utf-8")
    return folder


def test_auto_keeps_the_rules_where_they_agree_and_learns_where_they_do_not(tmp_path: Path):
    agreeing = _write_corpus(tmp_path / "en", [("He said no.", ["He", "said", "no", "."])])
    chosen, measured = tokenizers.choose(load_corpus(str(agreeing)), "auto", 1,
                                         Progress(enabled=False))
    assert chosen.name == "rules" and measured["tokens_f1"] == {"rules": 100.0}
    elided = _write_corpus(tmp_path / "fr", [("L'homme mange.", ["L'", "homme", "mange", "."]),
                                            ("J'aime l'eau.", ["J'", "aime", "l'", "eau", "."])])
    corpus = load_corpus(str(elided))
    chosen, measured = tokenizers.choose(corpus, "auto", 1, Progress(enabled=False))
    assert chosen.name == "learned" and measured["chosen"] == "learned"
    assert measured["tokens_f1"]["learned"] == 100.0 > measured["tokens_f1"]["rules"]
    assert measured["text"] == "the corpus's" and measured["split"] == "validation"
    forced, measured = tokenizers.choose(corpus, "rules", 1, Progress(enabled=False))
    assert forced.name == "rules" and set(measured["tokens_f1"]) == {"rules"}


@pytest.mark.skipif(not (SHARED / "ud_fr_gsd").is_dir(), reason="needs ../shared/data")
def test_the_hub_layout_gives_each_sentence_its_text_and_multiword_tokens():
    corpus = load_corpus(str(SHARED / "ud_fr_gsd"))
    assert corpus.has_text
    assert len(corpus.surfaces["train"]) == len(corpus.splits["train"]) == 1180
    held = [forms for s in corpus.surfaces["train"] for forms in s.forms() if len(forms) > 1]
    assert ["de", "le"] in held and ["à", "les"] in held
    gold = raw_scoring.read_conllu(SHARED / "raw" / "ud_fr_gsd" / "fr_gsd-ud-train.conllu")
    # The parquet has no multiword-token lines; aligning its words with its text finds
    # exactly the tokens of the CoNLL-U file.
    assert [s.tokens for s in corpus.surfaces["train"]] == [s.tokens for s in gold]


def test_metrics_name_the_tokenizer_chosen_and_both_scores(tmp_path: Path):
    metrics = {"chosen": "learned", "split": "validation", "text": "the corpus's",
               "tokens_f1": {"rules": 23.1, "learned": 80.1}}
    from tagger.pipeline import tokenizer_warning

    assert "80.1 tokens F1" in tokenizer_warning({"tokenizer": metrics})
    assert tokenizer_warning({"tokenizer": {**metrics, "tokens_f1": {"learned": 99.0,
                                                                    "rules": 1.0}}}) is None
    assert tokenizer_warning(None) is None and tokenizer_warning({}) is None
    json.dumps(metrics)  # what metrics.json holds


_ELIDED = [("L'homme mange.", ["L'", "homme", "mange", "."]),
           ("J'aime l'eau.", ["J'", "aime", "l'", "eau", "."]),
           ("Il mange du pain.", ["Il", "mange", "de", "le", "pain", "."])]
_SMALL = dict(epochs=1, units=8, embedding_dim=8, char_filters=8, batch_size=8)


@pytest.fixture(scope="module")
def elided_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny POS models on a corpus the rules do not tokenize: one with the tokenizer
    training chose (learned), one made to keep the rules."""
    from tagger.settings import TrainConfig
    from tagger.training import train

    work = tmp_path_factory.mktemp("elided")
    corpus = load_corpus(str(_write_corpus(work / "corpus", _ELIDED)))
    folders = {}
    for name in ("auto", "rules"):
        tagger, _ = train(corpus, TrainConfig.from_flat(**_SMALL, tokenizer=name))
        tagger.save(work / name)
        folders[name] = work / name
    return folders


def test_a_new_model_keeps_its_learned_tokenizer_and_every_backend_runs_it(elided_models):
    from tagger import model_folder
    from tagger.pipeline import Tagger

    folder = elided_models["auto"]
    config = model_folder.read(folder)
    assert config.tokenizer == "learned" and (folder / model_folder.SEGMENTER).is_file()
    metrics = model_folder.read_metrics(folder)["tokenizer"]
    assert metrics["chosen"] == "learned" and metrics["tokens_f1"]["learned"] == 100.0
    for backend in ("onnx", "keras"):
        [tagged] = Tagger.load(folder, backend).tag(["J'aime du pain."])
        assert tagged.tokens == ["J'", "aime", "de", "le", "pain", "."]
        assert tagged.multiword == [[7, 9]]
        assert tagged.to_dict()["multiword"] == [[7, 9]]
    from tagger.pipeline import TokenizerWarning

    with pytest.warns(TokenizerWarning):  # the rules scored low on this corpus
        [rules] = Tagger.load(elided_models["rules"]).tag(["J'aime du pain."])
    assert rules.tokens == ["J'aime", "du", "pain", "."] and "multiword" not in rules.to_dict()


def test_the_savedmodel_runs_the_learned_tokenizer(elided_models, tmp_path: Path):
    import tensorflow as tf

    from tagger.export.savedmodel import export
    from tagger.pipeline import Tagger

    tagger = Tagger.load(elided_models["auto"], "keras")
    export(tagger, tmp_path / "1")
    texts = ["J'aime du pain.", "Du pain, l'eau !", "", "a\u0301 b",
             "anti\u00adconstitution\u00adnellement", "x\u200b y", "a\u200bb"]
    out = tf.saved_model.load(str(tmp_path / "1")).signatures["serving_default"](
        texts=tf.constant(texts))
    for i, expected in enumerate(tagger.tag(texts)):
        n = int(out["lengths"][i])
        assert [t.decode() for t in out["tokens"][i][:n].numpy()] == expected.tokens
        assert np.stack([out["starts"][i][:n], out["ends"][i][:n]], 1).tolist() == \
            expected.offsets
        assert [t.decode() for t in out["tags"][i][:n].numpy()] == expected.tags


def test_a_folder_written_before_the_learned_tokenizer_keeps_the_rules(demo_model: Path,
                                                                       tmp_path: Path):
    import shutil

    import onnx

    from tagger import model_folder
    from tagger.pipeline import Tagger

    # As a folder written before the learned tokenizer: no `tokenizer` in config.json, in
    # its settings, or in the config the ONNX network recorded.
    folder = tmp_path / "old"
    shutil.copytree(demo_model, folder)
    config = json.loads((folder / model_folder.CONFIG).read_text(encoding="utf-8"))
    del config["tokenizer"], config["settings"]["features"]["tokenizer"]
    model_folder.write_json(folder / model_folder.CONFIG, config)
    network = onnx.load(folder / model_folder.NETWORK)
    for prop in network.metadata_props:
        if prop.key == "config":
            recorded = json.loads(prop.value)
            del recorded["tokenizer"], recorded["settings"]["features"]["tokenizer"]
            prop.value = json.dumps(recorded, sort_keys=True, ensure_ascii=False)
    onnx.save(network, folder / model_folder.NETWORK)
    files = sorted(p.name for p in folder.iterdir() if p.name != model_folder.MANIFEST)
    model_folder.write_json(folder / model_folder.MANIFEST, {
        "files": {name: model_folder.fingerprint(folder / name) for name in files}})
    old = Tagger.load(folder)
    assert old.config.tokenizer == "rules" and old.tokenizer.name == "rules"
    text = "Peter Blackburn didn't visit Paris."
    assert old.tag([text])[0].tokens == Tagger.load(demo_model).tag([text])[0].tokens == \
        ["Peter", "Blackburn", "did", "n't", "visit", "Paris", "."]


def test_tagging_raw_text_with_a_disagreeing_tokenizer_says_so_once(elided_models):
    import warnings

    from tagger.pipeline import Tagger, TokenizerWarning

    from .helpers import run_cli

    tagger = Tagger.load(elided_models["rules"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tagger.tag(["L'homme mange."])
        tagger.tag(["J'aime l'eau."])
        tagger.tag_conll_sentences([["L'", "homme"]])
    assert [type(w.message) for w in caught] == [TokenizerWarning]
    assert "rules tokenizer agrees with its corpus on" in str(caught[0].message)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Tagger.load(elided_models["auto"]).tag(["L'homme mange."])
    assert not caught
    result = run_cli("tag", elided_models["rules"], "L'homme mange.")
    assert result.exit_code == 0
    assert [line for line in result.stderr.splitlines() if line.startswith("warning:")] == \
        [line for line in result.stderr.splitlines() if "tokenizer agrees" in line]
    assert sum("tokenizer agrees" in line for line in result.stderr.splitlines()) == 1


def test_the_command_line_tags_and_scores_with_the_rules_on_request(elided_models,
                                                                    tmp_path: Path):
    from .helpers import run_cli

    folder = elided_models["auto"]
    own = run_cli("tag", folder, "J'aime du pain.", "--format", "json")
    rules = run_cli("tag", folder, "J'aime du pain.", "--format", "json", "--tokenizer", "rules")
    assert json.loads(own.stdout)["tokens"] == ["J'", "aime", "de", "le", "pain", "."]
    assert json.loads(rules.stdout)["tokens"] == ["J'aime", "du", "pain", "."]
    # The rules scored below 95 on this corpus: tagging with them says so; the model's own
    # tokenizer (100) does not.
    assert "warning: this model's rules tokenizer" in rules.stderr
    assert "warning" not in own.stderr
    treebank = tmp_path / "treebank"
    treebank.mkdir()
    (treebank / "xx-ud-dev.conllu").write_text(
        "# text = Il mange du pain.\n1\tIl\t_\tX\t_\t_\t0\tdep\t_\t_\n"
        "2\tmange\t_\tX\t_\t_\t0\tdep\t_\t_\n3-4\tdu\t_\t_\t_\t_\t_\t_\t_\t_\n"
        "3\tde\t_\tX\t_\t_\t0\tdep\t_\t_\n4\tle\t_\tX\t_\t_\t0\tdep\t_\t_\n"
        "5\tpain\t_\tX\t_\t_\t0\tdep\t_\tSpaceAfter=No\n6\t.\t_\tX\t_\t_\t0\tdep\t_\t_\n\n"
        "# text = J'aime l'eau.\n1\tJ'\t_\tX\t_\t_\t0\tdep\t_\tSpaceAfter=No\n"
        "2\taime\t_\tX\t_\t_\t0\tdep\t_\t_\n3\tl'\t_\tX\t_\t_\t0\tdep\t_\tSpaceAfter=No\n"
        "4\teau\t_\tX\t_\t_\t0\tdep\t_\tSpaceAfter=No\n5\t.\t_\tX\t_\t_\t0\tdep\t_\t_\n\n",
        encoding="utf-8")
    scores = {}
    for tokenizer in ("model", "rules"):
        result = run_cli("evaluate", folder, "--dataset", treebank, "--raw-text", "--json",
                         "--tokenizer", tokenizer)
        assert result.exit_code == 0, result.output
        scores[tokenizer] = json.loads(result.stdout)
    assert scores["model"]["tokenizer"] == "learned" and scores["rules"]["tokenizer"] == "rules"
    assert scores["model"]["tokens"]["f1"] == 1.0 > scores["rules"]["tokens"]["f1"]
    assert scores["model"]["words"]["f1"] == 1.0
