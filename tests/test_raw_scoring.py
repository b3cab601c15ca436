"""Scoring from raw text as the CoNLL 2018 scorer counts it: tokens aligned by characters,
multiword tokens' words by their forms, tags on the aligned words."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from tagger.corpora import raw_text_file
from tagger.errors import TaggerError
from tagger.raw_scoring import read_conllu, score

from .helpers import run_cli

# "zum" is a multiword token of two words; "Haus." has no space between its two tokens.
CONLLU = """# text = Ich gehe zum Haus.
1\tIch\tich\tPRON\t_\t_\t2\tnsubj\t_\t_
2\tgehe\tgehen\tVERB\t_\t_\t0\troot\t_\t_
3-4\tzum\t_\t_\t_\t_\t_\t_\t_\t_
3\tzu\tzu\tADP\t_\t_\t5\tcase\t_\t_
4\tdem\tder\tDET\t_\t_\t5\tdet\t_\t_
5\tHaus\tHaus\tNOUN\t_\t_\t2\tobl\t_\tSpaceAfter=No
6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t_\t_

# text = Gut
1\tGut\tgut\tADJ\t_\t_\t0\troot\t_\t_
"""


@pytest.fixture
def treebank(tmp_path: Path) -> Path:
    path = tmp_path / "xx-ud-dev.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    return path


def _system(text: str, tokens: list[str], tags: list[str]) -> SimpleNamespace:
    offsets, at = [], 0
    for token in tokens:
        at = text.index(token, at)
        offsets.append([at, at + len(token)])
        at += len(token)
    return SimpleNamespace(tokens=tokens, tags=tags, offsets=offsets, multiword=[])


def test_gold_tokens_are_located_in_the_text(treebank: Path):
    first, second = read_conllu(treebank)
    assert [first.text[s:e] for s, e in first.tokens] == ["Ich", "gehe", "zum", "Haus", "."]
    assert [(i, form) for i, form, _ in first.words] == [
        (0, "Ich"), (1, "gehe"), (2, "zu"), (2, "dem"), (3, "Haus"), (4, ".")]
    assert second.tokens == [(0, 3)] and second.words == [(0, "Gut", "ADJ")]


def test_scores_count_tokens_words_and_tags_as_the_conll_2018_scorer():
    [gold] = read_conllu_text(CONLLU.split("\n\n")[0] + "\n")
    # The system keeps "zum" whole (its words cannot match "zu" "dem"), splits "Haus."
    # right, tags "gehe" wrong, and cuts "Ich" in two.
    system = _system("Ich gehe zum Haus.", ["I", "ch", "gehe", "zum", "Haus", "."],
                     ["PRON", "PRON", "NOUN", "ADP", "NOUN", "PUNCT"])
    report = score([gold], [system])
    assert (report["tokens"]["right"], report["tokens"]["system"], report["tokens"]["gold"]) \
        == (4, 6, 5)  # gehe, zum, Haus, .
    assert (report["words"]["right"], report["words"]["system"], report["words"]["gold"]) \
        == (3, 6, 6)  # gehe, Haus, . (zum matches neither zu nor dem)
    assert report["tags"]["right"] == 2  # Haus NOUN, . PUNCT
    assert report["tokens"]["f1"] == pytest.approx(2 * (4 / 6) * (4 / 5) / (4 / 6 + 4 / 5))


def test_a_split_multiword_token_matches_its_words_by_form():
    [gold] = read_conllu_text(CONLLU.split("\n\n")[0] + "\n")
    system = _system("Ich gehe zum Haus.", ["Ich", "gehe", "zum", "Haus", "."],
                     ["PRON", "VERB", "ADP", "NOUN", "PUNCT"])
    system.tokens[2] = "zu"  # a word "zu" over zum's span
    assert score([gold], [system])["words"]["right"] == 5


def test_an_expanded_multiword_token_is_one_token_of_several_words():
    [gold] = read_conllu_text(CONLLU.split("\n\n")[0] + "\n")
    system = SimpleNamespace(tokens=["Ich", "gehe", "zu", "dem", "Haus", "."],
                             tags=["PRON", "VERB", "ADP", "DET", "NOUN", "PUNCT"],
                             offsets=[[0, 3], [4, 8], [9, 12], [9, 12], [13, 17], [17, 18]],
                             multiword=[[9, 12]])
    report = score([gold], [system])
    assert (report["tokens"]["right"], report["tokens"]["system"]) == (5, 5)
    assert (report["words"]["right"], report["tags"]["right"]) == (6, 6)


def test_words_cut_where_the_gold_has_a_multiword_token_match_by_form():
    # Gold "don't" is one token of two words; a system that cuts it into two tokens has
    # the words right (the CoNLL 2018 scorer aligns them by form) and that token wrong.
    [gold] = read_conllu_text("# text = I don't\n1\tI\tI\tPRON\t_\t_\t0\troot\t_\t_\n"
                              "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
                              "2\tdo\tdo\tAUX\t_\t_\t1\taux\t_\t_\n"
                              "3\tn't\tnot\tPART\t_\t_\t1\tadvmod\t_\t_\n")
    system = _system("I don't", ["I", "do", "n't"], ["PRON", "AUX", "PART"])
    report = score([gold], [system])
    assert (report["tokens"]["right"], report["words"]["right"], report["tags"]["right"]) \
        == (1, 3, 3)
    system.multiword = [[2, 7]]  # the same words, said to make one token
    assert score([gold], [system])["tokens"]["right"] == 2


def read_conllu_text(text: str):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.conllu"
        path.write_text(text, encoding="utf-8")
        return read_conllu(path)


def test_a_treebank_without_text_or_with_tokens_off_the_text_is_one_line(tmp_path: Path):
    path = tmp_path / "x.conllu"
    path.write_text(CONLLU.replace("# text = Gut\n", ""), encoding="utf-8")
    with pytest.raises(TaggerError, match=r"x.conllu:10: a sentence without a '# text =' line"):
        read_conllu(path)
    path.write_text(CONLLU.replace("# text = Gut", "# text = Schlecht"), encoding="utf-8")
    with pytest.raises(TaggerError, match="the token 'Gut' is not where"):
        read_conllu(path)


def test_only_raw_text_files_can_be_scored_from_raw_text(treebank: Path, tmp_path: Path):
    assert raw_text_file(str(treebank.parent), "validation") == treebank
    assert raw_text_file(str(treebank), "validation") == treebank
    with pytest.raises(TaggerError, match="has no train split"):
        raw_text_file(str(treebank.parent), "train")
    (tmp_path / "train.conll").write_text("a O\n", encoding="utf-8")
    with pytest.raises(TaggerError, match="needs CoNLL-U files") as error:
        raw_text_file(str(tmp_path / "train.conll"), "train")
    assert error.value.param == "dataset"


def test_evaluate_raw_text_on_the_command_line(pos_model: Path):
    ewt = Path(__file__).resolve().parents[2] / "shared/data/raw/ud_en_ewt"
    result = run_cli("evaluate", pos_model, "--dataset", ewt, "--raw-text")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("from raw text (2001 sentences")
    tokens = dict(zip(["precision", "recall", "f1", "gold", "system"],
                      lines[2].split()[1:], strict=True))
    assert tokens["gold"] == "24787" and 80 < float(tokens["f1"]) < 100
    assert lines[4].startswith("UPOS")


def test_raw_text_scoring_is_for_pos_models(demo_model: Path):
    ewt = Path(__file__).resolve().parents[2] / "shared/data/raw/ud_en_ewt"
    result = run_cli("evaluate", demo_model, "--dataset", ewt, "--raw-text")
    assert result.exit_code == 2 and "is for POS models" in result.output
