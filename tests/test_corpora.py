from pathlib import Path

import datasets
import pytest

from tagger.corpora import load_corpus
from tagger.errors import TaggerError

NER = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
UPOS_HUB = ["NOUN", "PUNCT", "ADP", "NUM", "SYM", "SCONJ", "ADJ", "PART", "DET", "CCONJ",
            "PROPN", "PRON", "X", "_", "ADV", "INTJ", "VERB", "AUX"]


def _ner_dataset() -> datasets.Dataset:
    features = datasets.Features({
        "tokens": datasets.Sequence(datasets.Value("string")),
        "ner_tags": datasets.Sequence(datasets.ClassLabel(names=NER)),
        "pos_tags": datasets.Sequence(datasets.Value("string")),
    })
    return datasets.Dataset.from_dict({
        "tokens": [["Anna", "lives", "in", "New", "York"], ["Hi"]],
        "ner_tags": [[1, 0, 0, 3, 4], [0]],
        "pos_tags": [["NNP", "VBZ", "IN", "NNP", "NNP"], ["UH"]],
    }, features=features)


@pytest.fixture
def parquet_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "hub_layout"
    folder.mkdir()
    data = _ner_dataset()
    data.to_parquet(str(folder / "train-00000-of-00001.parquet"))
    data.select([1]).to_parquet(str(folder / "validation-00000-of-00001.parquet"))
    return folder


def test_parquet_folder_uses_classlabel_names(parquet_folder: Path):
    corpus = load_corpus(str(parquet_folder))
    assert set(corpus.splits) == {"train", "validation"}
    assert corpus.labels == NER  # the ClassLabel order, not the order of appearance
    assert corpus.tag_column == "ner_tags"
    assert corpus.scheme == "IOB2"
    assert corpus.splits["train"][0] == (["Anna", "lives", "in", "New", "York"],
                                         ["B-PER", "O", "O", "B-LOC", "I-LOC"])


def test_string_tag_column_and_save_to_disk(tmp_path: Path):
    folder = tmp_path / "saved"
    datasets.DatasetDict({"train": _ner_dataset(), "dev": _ner_dataset()}).save_to_disk(folder)
    corpus = load_corpus(str(folder), tag_column="pos_tags")
    assert set(corpus.splits) == {"train", "validation"}  # dev stands for validation
    assert corpus.labels == ["IN", "NNP", "UH", "VBZ"]
    assert corpus.scheme == "token"


def test_jsonl_file_pairs(tmp_path: Path):
    train, dev = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    train.write_text('{"tokens": ["Hi", "Bo"], "ner_tags": ["O", "B-PER"]}\n')
    dev.write_text('{"tokens": ["Yo"], "ner_tags": ["O"]}\n')
    corpus = load_corpus(f"train={train},validation={dev}")
    assert corpus.splits["validation"] == [(["Yo"], ["O"])]
    assert corpus.labels == ["O", "B-PER"]


def test_raw_conll_iob1_is_converted(iob1_file: Path):
    corpus = load_corpus(str(iob1_file))
    assert list(corpus.splits) == ["train"]
    assert corpus.splits["train"][2][1] == ["O", "B-LOC", "B-LOC", "O"]
    assert corpus.scheme == "IOB2"
    assert any("IOB1" in n for n in corpus.notes)


def test_raw_folder_splits_by_file_name(tmp_path: Path, iob1_file: Path, conllu_file: Path):
    folder = tmp_path / "ud"
    folder.mkdir()
    conllu_file.rename(folder / "x-ud-dev.conllu")
    (folder / "x-ud-train.conllu").write_text((folder / "x-ud-dev.conllu").read_text())
    corpus = load_corpus(str(folder))
    assert set(corpus.splits) == {"train", "validation"}
    assert corpus.tag_column == "upos"


def test_hub_universal_dependencies_layout_drops_multiword_surface_forms(tmp_path: Path):
    """The hub's loader keeps `don't` tagged `_` before its words `do` and `n't`."""
    features = datasets.Features({
        "tokens": datasets.Sequence(datasets.Value("string")),
        "upos": datasets.Sequence(datasets.ClassLabel(names=UPOS_HUB)),
    })
    index = UPOS_HUB.index
    data = datasets.Dataset.from_dict({
        "tokens": [["I", "don't", "do", "n't", "know"]],
        "upos": [[index("PRON"), index("_"), index("AUX"), index("PART"), index("VERB")]],
    }, features=features)
    data.to_parquet(str(tmp_path / "train.parquet"))
    corpus = load_corpus(str(tmp_path / "train.parquet"))
    assert corpus.splits["train"] == [(["I", "do", "n't", "know"],
                                       ["PRON", "AUX", "PART", "VERB"])]
    assert "_" not in corpus.labels
    assert corpus.scheme == "token"


def test_missing_columns_and_splits_are_one_line_errors(parquet_folder: Path):
    with pytest.raises(TaggerError, match=r"no column 'chunk_tags'.*`tag_column`") as error:
        load_corpus(str(parquet_folder), tag_column="chunk_tags")
    assert error.value.param == "tag_column"  # the library names its own parameters
    with pytest.raises(TaggerError, match="`token_column`"):
        load_corpus(str(parquet_folder), token_column="words")
    with pytest.raises(TaggerError, match=r"split 'test' is not in .* it has: train, validation"):
        load_corpus(str(parquet_folder)).split("test")


def test_unknown_hub_dataset_offline_is_a_clear_error():
    with pytest.raises(TaggerError, match="'nobody/no-such-dataset' not found"):
        load_corpus("nobody/no-such-dataset")


def test_script_dataset_suggests_parquet(tmp_path: Path):
    folder = tmp_path / "scripted"
    folder.mkdir()
    (folder / "scripted.py").write_text("import datasets\n")
    with pytest.raises(TaggerError, match=r"script-based.*refs/convert/parquet"):
        load_corpus(str(folder))


SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.mark.parametrize("name, column, labels, train, validation", [
    ("conll2003", "ner_tags", 9, (14041, 203621), (3250, 51362)),
    ("ud_en_ewt", "upos", 17, (12544, 204577), (2001, 25147)),
    ("wnut_17", "ner_tags", 13, (3394, 62730), (1009, 15733)),
])
def test_shared_corpora_load_with_hub_counts(name, column, labels, train, validation):
    """The parquet copies and the raw files give the same sentences (README counts)."""
    for source in (SHARED / name, SHARED / "raw" / name):
        corpus = load_corpus(str(source))
        assert len(corpus.labels) == labels
        for split, (sentences, tokens) in (("train", train), ("validation", validation)):
            got = corpus.split(split)
            assert (len(got), sum(len(w) for w, _ in got)) == (sentences, tokens)
    hub, raw = load_corpus(str(SHARED / name)), load_corpus(str(SHARED / "raw" / name))
    assert hub.splits["validation"] == raw.splits["validation"]
    assert hub.tag_column == column
