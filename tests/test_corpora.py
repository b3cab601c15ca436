import shutil
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


def test_a_tables_licence_is_kept_and_files_state_none(tmp_path: Path, parquet_folder: Path):
    folder = tmp_path / "licensed"
    data = _ner_dataset()
    data.info.license = "CC BY 4.0"
    datasets.DatasetDict({"train": data, "validation": data}).save_to_disk(folder)
    assert load_corpus(str(folder)).license == "CC BY 4.0"
    assert load_corpus(str(parquet_folder)).license is None


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
    with pytest.raises(TaggerError, match=r"has no test split \(it has: train, validation\); "
                                          "choose one with `split`"):
        load_corpus(str(parquet_folder)).split("test")
    with pytest.raises(TaggerError, match="or its files as `dataset` train=FILE") as error:
        load_corpus(str(parquet_folder)).split("test", chosen_by="dataset")
    assert error.value.param == "dataset"


@pytest.fixture
def no_network(monkeypatch):
    """The hub unreachable, as without a network; loading through the `datasets` library's
    own hub lookup fails the test (it retries and may pick up a local folder's cache)."""
    import datasets
    from huggingface_hub import HfApi

    def unreachable(*args, **kwargs):
        raise OSError("[Errno -2] Name or service not known")

    real = datasets.load_dataset

    def local_only(path, *args, **kwargs):
        assert Path(path).exists(), f"datasets.load_dataset went to the hub for {path!r}"
        return real(path, *args, **kwargs)

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)  # the tests run offline
    monkeypatch.setattr(HfApi, "dataset_info", unreachable)
    monkeypatch.setattr(datasets, "load_dataset", local_only)


def _hub_cache(root: Path, name: str, source: Path, sha: str = "0123456789abcdef" * 2 + "01234567"
               ) -> Path:
    """A hub cache holding dataset `name` as `huggingface_hub` lays it out (refs/main names
    the snapshot), with the files of the local folder `source`."""
    repository = root / f"datasets--{name.replace('/', '--')}"
    snapshot = repository / "snapshots" / sha
    shutil.copytree(source, snapshot / "data")
    (repository / "refs").mkdir(parents=True)
    (repository / "refs" / "main").write_text(sha, encoding="utf-8")
    return snapshot


def test_a_hub_name_without_network_or_cache_is_one_line_and_quick(no_network, tmp_path,
                                                                   monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(TaggerError, match=r"'nobody/no-such-dataset' is no local file or "
                                          r"folder, the hub cannot be reached \(\[Errno -2\] "
                                          r"Name or service not known\), and no copy of it is "
                                          "cached") as error:
        load_corpus("nobody/no-such-dataset")
    assert error.value.param == "dataset" and "\n" not in str(error.value)


def test_a_hub_name_without_network_reads_that_datasets_cached_copy(no_network, tmp_path,
                                                                    monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    snapshot = _hub_cache(tmp_path / "hub", "someone/wnut", SHARED / "wnut_17")
    corpus = load_corpus("someone/wnut")
    assert corpus.notes == [f"the hub cannot be reached ([Errno -2] Name or service not "
                            f"known); using the cached copy of someone/wnut at revision "
                            f"{snapshot.name[:12]}"]
    assert len(corpus.split("train")) == 3394 and len(corpus.labels) == 13
    assert load_corpus("someone/wnut", revision=snapshot.name[:8]).notes == corpus.notes
    with pytest.raises(TaggerError, match="no copy of it is cached"):
        load_corpus("someone/wnut", revision="v2")  # a revision the cache does not hold


def test_a_local_folder_loaded_once_is_not_a_hub_name_later(no_network, tmp_path,
                                                            monkeypatch):
    """`datasets` caches a local folder under its bare name; from another folder that name
    is a hub name, which without the hub and its cache is an error, not that folder."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    shutil.copytree(SHARED / "wnut_17", tmp_path / "here" / "zz_fake_corpus")
    monkeypatch.chdir(tmp_path / "here")
    assert len(load_corpus("zz_fake_corpus").split("train")) == 3394
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(TaggerError, match="'zz_fake_corpus' is no local file or folder"):
        load_corpus("zz_fake_corpus")


def test_offline_mode_skips_the_hub(tmp_path, monkeypatch):
    import datasets
    from huggingface_hub import HfApi, constants

    def asked(*args, **kwargs):
        raise AssertionError("offline mode asked the hub")

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(HfApi, "dataset_info", asked)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    _hub_cache(tmp_path / "hub", "someone/wnut", SHARED / "wnut_17")
    assert "offline mode is on" in load_corpus("someone/wnut").notes[0]


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
