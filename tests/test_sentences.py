"""Sentences found in running text: the splitter learned from a corpus, documents cut into
paragraphs and sentences and tagged, and Sentences scored as the CoNLL 2018 scorer does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tagger import raw_scoring
from tagger.apps.batch import render_document
from tagger.documents import paragraph_spans, rule_ends, rule_ends_of, sentence_spans
from tagger.errors import TaggerError
from tagger.pipeline import Tagger
from tagger.records import Tagged
from tagger.text import sentences, surface
from tagger.text.sentences import END, NO_SPACE, SPACE, SentenceSplitter
from tagger.text.surface import Surface
from tagger.text.tokenizer import Rules

from .conftest import SHARED
from .helpers import assert_one_line_error, run_cli

EWT_DEV = SHARED / "raw" / "ud_en_ewt" / "en_ewt-ud-dev.conllu"

TWO_PARAGRAPHS = """# newdoc id = d1
# newpar
# text = Hi there.
1\tHi\thi\tINTJ\t_\t_\t_\t_\t_\t_
2\tthere\tthere\tADV\t_\t_\t_\t_\t_\tSpaceAfter=No
3\t.\t.\tPUNCT\t_\t_\t_\t_\t_\t_

# text = I'm fine.
1-2\tI'm\t_\t_\t_\t_\t_\t_\t_\t_
1\tI\tI\tPRON\t_\t_\t_\t_\t_\t_
2\t'm\tbe\tAUX\t_\t_\t_\t_\t_\t_
3\tfine\tfine\tADJ\t_\t_\t_\t_\t_\tSpaceAfter=No
4\t.\t.\tPUNCT\t_\t_\t_\t_\t_\tSpaceAfter=No

# text = 好。
1\t好\t好\tADJ\t_\t_\t_\t_\t_\tSpaceAfter=No
2\t。\t。\tPUNCT\t_\t_\t_\t_\t_\t_

# newpar
# text = Bye.
1\tBye\tbye\tINTJ\t_\t_\t_\t_\t_\tSpaceAfter=No
2\t.\t.\tPUNCT\t_\t_\t_\t_\t_\t_

"""


def test_a_corpus_s_sentences_become_paragraphs_of_running_text(tmp_path: Path):
    path = tmp_path / "two.conllu"
    path.write_text(TWO_PARAGRAPHS, encoding="utf-8")
    gold = raw_scoring.read_conllu(path)
    assert [(s.paragraph, s.space_after) for s in gold] == [
        (True, True), (False, False), (False, True), (True, True)]
    found = sentences.paragraphs(gold)
    assert [p.forms for p in found] == [["Hi", "there", ".", "I'm", "fine", ".", "好", "。"],
                                        ["Bye", "."]]
    assert found[0].gaps.tolist() == [SPACE, NO_SPACE, SPACE, SPACE, NO_SPACE, NO_SPACE,
                                      NO_SPACE, END]
    assert found[0].ends.tolist() == [False, False, True, False, False, True, False, True]
    # The same paragraphs for scoring: one text, its tokens and sentences located in it.
    joined = surface.paragraphs(gold)
    assert [p.surface.text for p in joined] == ["Hi there. I'm fine.好。", "Bye."]
    first = joined[0]
    assert [first.surface.text[a:b] for a, b in first.sentences] == [
        "Hi there.", "I'm fine.", "好。"]
    assert [first.surface.text[a:b] for a, b in first.surface.tokens] == [
        "Hi", "there", ".", "I'm", "fine", ".", "好", "。"]
    assert [form for _, form, _ in first.surface.words][3:5] == ["I", "'m"]


def _paragraph(text: str, ends_after: set[int]) -> sentences.Paragraph:
    forms = text.split()
    gaps = np.array([SPACE] * (len(forms) - 1) + [END], np.int64)
    return sentences.Paragraph(forms, gaps, np.array(
        [i in ends_after or i == len(forms) - 1 for i in range(len(forms))]))


def test_the_splitter_learns_where_sentences_end_and_keeps_it_in_a_file(tmp_path: Path):
    # A full stop ends a sentence unless it belongs to a title (`Dr .`).
    training = [_paragraph(f"Dr . {name} came . Then {other} left .", {4})
                for name, other in [("Ann", "Bo"), ("Cy", "Di"), ("Ed", "Flo"),
                                    ("Gus", "Hal")] * 20]
    splitter = SentenceSplitter.train(training, seed=1)
    unseen = ["Dr", ".", "Ivy", "came", ".", "Then", "Jo", "left", "."]
    gaps = np.array([SPACE] * 8 + [END], np.int64)
    assert splitter.ends(unseen, gaps).tolist() == [False, False, False, False, True, False,
                                                    False, False, True]
    assert rule_ends(unseen, gaps).tolist() == [False, True, False, False, True, False,
                                                False, False, True]  # and after `Dr .`
    # A closing quote written after the final mark takes the end, in either script.
    assert rule_ends(["他", "來", "。", "」", "我", "走", "。"],
                     np.array([NO_SPACE] * 6 + [END])).tolist() == [
        False, False, False, True, False, False, True]
    assert rule_ends(["He", "said", '"', "stop", ".", '"', "Then", "."],
                     np.array([SPACE, SPACE, NO_SPACE, NO_SPACE, NO_SPACE, SPACE, NO_SPACE,
                               END])).tolist() == [False] * 5 + [True, False, True]
    # Paragraphs scored together end as each alone: none reads the next one's tokens.
    shorter = (unseen[:5], np.array([SPACE] * 4 + [END], np.int64))
    together = splitter.ends_of(unseen + shorter[0], np.concatenate([gaps, shorter[1]]),
                                np.array([0, 9, 9, 14, 14]))  # two empty paragraphs
    assert together.tolist() == [*splitter.ends(unseen, gaps).tolist(),
                                 *splitter.ends(*shorter).tolist()]
    assert rule_ends_of(unseen + shorter[0], np.concatenate([gaps, shorter[1]]),
                        np.array([0, 9, 14])).tolist() == [
        *rule_ends(unseen, gaps).tolist(), *rule_ends(*shorter).tolist()]
    path = tmp_path / "sentences.npz"
    splitter.save(path)
    assert SentenceSplitter.load(path).ends(unseen, gaps).tolist() == \
        splitter.ends(unseen, gaps).tolist()
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(TaggerError, match=r"sentences\.npz is damaged"):
        SentenceSplitter.load(path)


def test_a_document_is_cut_at_blank_lines_and_between_surface_tokens():
    text = "  First one. Second one.\n\n \n Third\none.\n\n"
    spans = paragraph_spans(text)
    assert [text[a:b] for a, b in spans] == ["First one. Second one.", "Third\none."]
    paragraphs = [text[a:b] for a, b in spans]
    tokenized = Rules()(paragraphs)
    assert [[p[a:b] for a, b in spans] for p, spans in zip(
        paragraphs, sentence_spans(paragraphs, tokenized, rule_ends_of), strict=True)] == [
        ["First one.", "Second one."], ["Third\none."]]
    assert paragraph_spans(" \n\n ") == []


def test_sentences_are_cut_between_surface_tokens_and_keep_their_words():
    from tagger.documents import sentence_tokens
    from tagger.text.tokenizer import Tokenized

    texts = ["Ok.", "We don't. Zum Haus!"]
    words = [["Ok", "."], ["We", "do", "n't", ".", "zu", "dem", "Haus", "!"]]
    spans = [[0, 2], [2, 3], [0, 2], [3, 5], [5, 8], [8, 9], [10, 13], [10, 13], [14, 18],
             [18, 19]]
    tokenized = Tokenized(words, np.array([a for a, _ in spans]), np.array([b for _, b in spans]),
                          np.array([0, 2, 10]), [[], [[3, 8], [10, 13]]])
    found = sentence_spans(texts, tokenized, rule_ends_of)
    assert [[text[a:b] for a, b in sentences] for text, sentences in
            zip(texts, found, strict=True)] == [["Ok."], ["We don't.", "Zum Haus!"]]
    sentence_texts, cut = sentence_tokens(texts, tokenized, found)
    assert sentence_texts == ["Ok.", "We don't.", "Zum Haus!"]
    assert cut.tokens == [["Ok", "."], ["We", "do", "n't", "."], ["zu", "dem", "Haus", "!"]]
    assert cut.splits.tolist() == [0, 2, 6, 10]
    assert list(zip(cut.starts.tolist(), cut.ends.tolist(), strict=True))[6:] == [
        (0, 3), (0, 3), (4, 8), (8, 9)]  # offsets into the sentence's own text
    assert cut.multiword == [[], [[3, 8]], [[0, 3]]]


def test_a_model_tags_documents_with_offsets_into_them(heads_model: Path):
    tagger = Tagger.load(heads_model)
    document = "I saw the cat. It ran away!\n\nThe end."
    assert tagger.tag_documents([""]) == [[]] and tagger.tag_documents([]) == []
    assert tagger.document_sentences([" \n\n "]) == [[]]
    assert list(tagger.stream_document("  ")) == []
    records = tagger.tag_documents([document, "", "One more."])
    assert [len(r) for r in records] == [len(records[0]), 0, 1]
    found = records[0]
    assert [r.sentence for r in found] == list(range(len(found)))
    assert found[-1].paragraph == 1 and found[0].paragraph == 0
    for record in found:
        assert [document[a:b] for a, b in record.offsets] == record.tokens
        assert document[record.offsets[0][0]:record.offsets[-1][1]] == record.text
        alone = tagger.tag([record.text])[0]
        assert (alone.tokens, alone.tags, alone.columns) == (record.tokens, record.tags,
                                                             record.columns)
    assert " ".join(t for r in found for t in r.tokens).endswith("The end .")
    # Streamed a few paragraphs at a time: the same records, and the same CoNLL-U.
    long = "\n\n".join([document, "Then more. And more!", "Short.", document])
    whole = tagger.tag_documents([long])[0]
    runs = list(tagger.stream_document(long, chunk_chars=30))
    assert len(runs) > 2
    assert [r.to_dict() for run in runs for r in run] == [r.to_dict() for r in whole]
    pieces, paragraph = [], None
    for run in runs:
        pieces.append(render_document(run, "d", "conllu", paragraph=paragraph))
        paragraph = run[-1].paragraph
    assert "".join(pieces) == render_document(whole, "d", "conllu")
    record = found[0].to_dict()
    assert (record["paragraph"], record["sentence"]) == (0, 0)
    assert "sentence" not in tagger.tag(["I saw the cat."])[0].to_dict()


def test_sentences_are_scored_by_their_characters():
    gold = [Surface("A b.", [(0, 1), (2, 3), (3, 4)], [(0, "A", "X"), (1, "b", "X"),
                                                       (2, ".", "P")], paragraph=True),
            Surface("C.", [(0, 1), (1, 2)], [(0, "C", "X"), (1, ".", "P")])]
    paragraph = surface.paragraphs(gold)[0]
    assert paragraph.surface.text == "A b. C." and paragraph.sentences == [(0, 4), (5, 7)]

    def tag(offsets_per_sentence):
        def tag_documents(texts):
            text = texts[0]
            return [[Tagged(text, [text[a:b] for a, b in offsets],
                            ["P" if text[a:b] == "." else "X" for a, b in offsets],
                            [list(o) for o in offsets]) for offsets in offsets_per_sentence]]
        return tag_documents

    right = raw_scoring.score_documents(gold, tag([[(0, 1), (2, 3), (3, 4)],
                                                   [(5, 6), (6, 7)]]))
    assert right["sentence_spans"]["f1"] == 1.0 and right["tokens"]["f1"] == 1.0
    merged = raw_scoring.score_documents(gold, tag([[(0, 1), (2, 3), (3, 4), (5, 6),
                                                     (6, 7)]]))
    assert merged["sentence_spans"]["right"] == 0 and merged["sentence_spans"]["gold"] == 2
    assert merged["tokens"]["f1"] == 1.0 and merged["tags"]["f1"] == 1.0


def test_evaluate_documents_reports_sentences_and_every_layer(heads_model: Path):
    result = run_cli("evaluate", heads_model, "--dataset", f"validation={EWT_DEV}",
                     "--raw-text", "--documents", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["sentences"] == 2001 and report["paragraphs"] > 1
    assert report["sentence_spans"]["gold"] == 2001
    assert 0 < report["sentence_spans"]["f1"] < 1
    assert set(report["layers"]) == {"UPOS", "XPOS", "UFeats", "Lemmas", "AllTags"}
    text = run_cli("evaluate", heads_model, "--dataset", f"validation={EWT_DEV}",
                   "--raw-text", "--documents")
    assert any(line.split()[0] == "sentences" for line in text.stdout.splitlines()[2:])
    assert_one_line_error(run_cli("evaluate", heads_model, "--dataset",
                                  f"validation={EWT_DEV}", "--documents"), "--raw-text")


def test_tagger_tag_reads_a_file_as_one_document(heads_model: Path, tmp_path: Path):
    article = tmp_path / "article.txt"
    text = ("The cat sat on the mat. It was\nhappy!\n\n\nA new paragraph. It doesn't end "
            "(here). Now it ends.\n")
    article.write_text(text, encoding="utf-8")
    out = tmp_path / "out.conllu"
    result = run_cli("tag", heads_model, "--input-format", "document", "-i", article,
                     "-o", out, "-f", "conllu", "-q")
    assert result.exit_code == 0, result.output
    written = out.read_text(encoding="utf-8")
    comments = [line for line in written.splitlines() if line.startswith("#")]
    assert comments[:2] == ["# newdoc id = article.txt", "# newpar"]
    assert comments.count("# newpar") == 2
    sent_ids = [c for c in comments if c.startswith("# sent_id")]
    assert sent_ids == [f"# sent_id = {i}" for i in range(1, len(sent_ids) + 1)]
    # A sentence over a line break keeps its `# text` on one line: every other line is a
    # word's ten columns.
    assert all(len(line.split("\t")) == 10 for line in written.splitlines()
               if line and not line.startswith("#"))
    # Each sentence's surface tokens and SpaceAfter=No spell its `# text` (offsets into the
    # document are read from the sentence's start).
    for block in written.strip().split("\n\n"):
        lines = block.splitlines()
        spelled, inside = "", 0
        for line in lines:
            columns = line.split("\t")
            if len(columns) != 10 or (inside and "-" not in columns[0]):
                inside -= len(columns) == 10
                continue
            if "-" in columns[0]:
                first, last = map(int, columns[0].split("-"))
                inside = last - first + 1
            spelled += columns[1] + ("" if "SpaceAfter=No" in columns[9] else " ")
        text_line = next(line for line in lines if line.startswith("# text = "))
        assert spelled.strip() == " ".join(text_line[len("# text = "):].split())
    # JSON records: one per sentence, offsets into the file's text.
    json_out = tmp_path / "out.jsonl"
    assert run_cli("tag", heads_model, "--input-format", "document", "-i", article, "-o",
                   json_out, "-q").exit_code == 0
    records = [json.loads(line) for line in json_out.read_text().splitlines()]
    assert len(records) == len(sent_ids)
    assert {r["document"] for r in records} == {"article.txt"}
    assert [r["sentence"] for r in records] == list(range(len(records)))
    for record in records:
        assert [text[a:b] for a, b in record["offsets"]] == record["tokens"]
    # A document given as TEXT goes to --output too.
    given = tmp_path / "given.txt"
    assert run_cli("tag", heads_model, "--input-format", "document", "-o", given,
                   "It was happy! It ran.").exit_code == 0
    assert len(given.read_text(encoding="utf-8").splitlines()) >= 2
    assert_one_line_error(run_cli("tag", heads_model, "--input-format", "document", "-i",
                                  article, "--jobs", "2"), "--jobs")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n", encoding="utf-8")
    assert_one_line_error(run_cli("tag", heads_model, "--input-format", "document", "-i",
                                  empty), "empty")
    assert_one_line_error(run_cli("tag", heads_model, "--input-format", "document", "-i",
                                  article, "--max-chars", "10"), "--max-chars")


def test_the_server_tags_documents_a_sentence_at_a_time(heads_model: Path):
    from starlette.testclient import TestClient

    from tagger.apps.serve import create_app
    from tagger.settings import ServeLimits

    tagger = Tagger.load(heads_model)
    documents = ["I saw the cat. It ran away!\n\nThe end.", "Short one."]
    expected = [[r.to_dict() for r in found] for found in tagger.tag_documents(documents)]
    limits = ServeLimits(max_chars=10, max_document_chars=60)  # sentences exceed max_chars
    with TestClient(create_app(tagger, "ud", limits=limits)) as client:
        answer = client.post("/v1/tag", json={"documents": documents})
        assert answer.status_code == 200, answer.text
        assert [d["records"] for d in answer.json()["documents"]] == expected
        too_long = client.post("/v1/tag", json={"documents": ["x " * 40]})
        assert too_long.status_code == 413 and "document 0" in too_long.json()["error"]
        both = client.post("/v1/tag", json={"documents": ["a"], "texts": ["b"]})
        assert both.status_code == 400
        assert client.post("/v1/tag", json={"documents": [1]}).status_code == 400


def test_the_tokenizer_and_sentences_can_be_learned_from_another_corpus(conllu_file: Path,
                                                                         tmp_path: Path):
    from tagger.corpora import load_corpus
    from tagger.settings import TrainConfig
    from tagger.training.loop import initialized

    other = tmp_path / "other-train.conllu"
    other.write_text(TWO_PARAGRAPHS * 3, encoding="utf-8")
    config = TrainConfig.from_flat(tokenizer="learned", tokenizer_from=str(other), units=4,
                                   embedding_dim=4, char_filters=4)
    start = initialized(load_corpus(f"train={conllu_file},validation={conllu_file}"),
                        config)
    assert start.tokenizer_metrics["corpus"] == str(other)
    assert start.tagger.tokenizer.name == "learned"
    # Measured on the other corpus's text: its 4 sentences a copy, in 3 paragraphs a copy.
    assert start.tokenizer_metrics["sentences"]["split"] == "train"
    assert start.tagger.config.settings.features.tokenizer_from == str(other)
    missing = run_cli("train", "--dataset", f"train={conllu_file},validation={conllu_file}",
                      "--tokenizer-from",
                      tmp_path / "none", "--output", tmp_path / "m")
    assert_one_line_error(missing, "none")
