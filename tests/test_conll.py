from pathlib import Path

import pytest

from tagger import conll
from tagger.errors import TaggerError


def test_conll_sentences_drop_docstart_and_split_on_blank_or_tab_lines():
    lines = ["-DOCSTART- O\n", "\n", "a\tO\n", "b\tB-x\n", "\t\n", "c\tO\n", "  \n", "d O\n"]
    sentences = list(conll.conll_sentences(lines, "x"))
    assert sentences == [[["a", "O"], ["b", "B-x"]], [["c", "O"]], [["d", "O"]]]


def test_conllu_keeps_syntactic_words_only(conllu_file: Path):
    sentences = conll.read_tagged(conllu_file, None)
    assert sentences[0] == (["I", "do", "n't", "know", "."],
                            ["PRON", "AUX", "PART", "VERB", "PUNCT"])
    assert conll.read_tagged(conllu_file, "xpos")[1] == (["Go", "!"], ["VB", "."])


def test_tag_column_by_index(iob1_file: Path):
    first = conll.read_tagged(iob1_file, "1")[0]
    assert first == (["EU", "rejects", "German", "call", "."], ["NNP", "VBZ", "JJ", "NN", "."])


@pytest.mark.parametrize("column", ["7", "0", "name"])
def test_bad_tag_column_is_a_one_line_error(iob1_file: Path, column: str):
    with pytest.raises(TaggerError, match="`tag_column`") as error:
        conll.read_tagged(iob1_file, column)
    assert error.value.param == "tag_column"


def test_undecodable_file_names_the_file(tmp_path: Path):
    path = tmp_path / "latin1.conll"
    path.write_bytes("Caf\xe9 O\n".encode("latin-1"))
    with pytest.raises(TaggerError, match=r"latin1\.conll: line 1 is not UTF-8 \(invalid "
                                          r"continuation byte\); convert the file to UTF-8"):
        conll.read_tagged(path, None)


def test_directory_and_empty_file_are_errors(tmp_path: Path):
    with pytest.raises(TaggerError, match="is a directory"):
        conll.read_tagged(tmp_path, None)
    empty = tmp_path / "empty.conll"
    empty.write_text("")
    with pytest.raises(TaggerError, match="no sentences"):
        conll.read_tagged(empty, None)
