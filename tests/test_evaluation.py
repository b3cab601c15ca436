import json
from pathlib import Path

import pytest

from tagger import schemes
from tagger.corpora import CorpusSource
from tagger.errors import TaggerError
from tagger.evaluation import check_labels, format_report, text_spans
from tagger.metrics import score
from tests.conftest import DEMO
from tests.helpers import assert_one_line_error, run_cli


def test_entity_scores_match_a_hand_count():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "B-LOC"]]
    report = score(gold, pred, "IOB2")
    # 3 gold entities, 3 predicted, 2 right.
    assert report["micro"]["precision"] == pytest.approx(2 / 3)
    assert report["micro"]["recall"] == pytest.approx(2 / 3)
    assert report["score"] == pytest.approx(2 / 3)
    assert report["types"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["types"]["PER"]["f1"] == 1.0
    assert report["macro"]["f1"] == pytest.approx((1 + 0 + 1) / 3)
    assert report["accuracy"] == pytest.approx(4 / 6)


def test_strict_mode_rejects_entities_that_start_with_i():
    gold = [["B-PER", "I-PER"]]
    pred = [["I-PER", "I-PER"]]
    assert score(gold, pred, "IOB2")["score"] == 1.0  # conlleval reads I- as a start
    assert score(gold, pred, "IOB2", mode="strict")["score"] == 0.0


def test_token_scheme_reports_accuracy_per_tag():
    gold = [["NOUN", "VERB", "NOUN"], ["PUNCT"]]
    pred = [["NOUN", "NOUN", "NOUN"], ["PUNCT"]]
    report = score(gold, pred, "token")
    assert report["metric"] == "accuracy" and report["score"] == pytest.approx(0.75)
    assert report["types"]["NOUN"] == {"precision": 2 / 3, "recall": 1.0, "f1": 0.8,
                                       "support": 2}
    assert report["types"]["VERB"]["recall"] == 0.0
    assert "token accuracy: 75.00" in format_report(report)


def test_unknown_gold_labels_are_an_error():
    with pytest.raises(TaggerError, match="labels the model does not know: B-XYZ"):
        check_labels([["O", "B-XYZ"]], ["O", "B-PER"], "corpus")


def test_report_text_lists_types_and_averages():
    text = format_report(score([["B-PER", "O"]], [["B-PER", "O"]], "IOB2"))
    assert "PER" in text and "micro avg" in text
    assert "entity micro-F1 (IOB2, default mode): 100.00" in text


def _demo_table(folder: Path, split: str, count: int) -> list[tuple[list[str], list[str]]]:
    """The demo corpus's first sentences as a JSON Lines table with a `text` column (the
    tokens joined by spaces), as a corpus with raw text has it."""
    blocks = (DEMO / "dev.conll").read_text(encoding="utf-8").strip().split("\n\n")[:count]
    sentences = [tuple(map(list, zip(*(line.split() for line in block.splitlines()),
                                     strict=True))) for block in blocks]
    folder.mkdir(exist_ok=True)
    with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as out:
        for tokens, tags in sentences:
            out.write(json.dumps({"tokens": tokens, "ner_tags": tags,
                                  "text": " ".join(tokens)}) + "\n")
    return sentences


def test_entities_from_a_tables_raw_text_are_scored_by_character_spans(demo_model: Path,
                                                                        tmp_path: Path):
    folder = tmp_path / "table"
    sentences = _demo_table(folder, "validation", 80)
    _demo_table(folder, "train", 80)
    gold, left_out = text_spans(CorpusSource(str(folder)), "validation", "ner_tags")
    assert left_out == 0 and len(gold) == 80
    for item, (tokens, tags) in zip(gold, sentences, strict=True):
        expected = [(s.label, " ".join(tokens[s.start:s.end])) for s in schemes.spans(tags)]
        assert [(s.label, item.text[s.start:s.end]) for s in item.spans] == expected
    raw = run_cli("evaluate", demo_model, "--dataset", folder, "--raw-text", "--json")
    tokens = run_cli("evaluate", demo_model, "--dataset", folder, "--json")
    assert raw.exit_code == 0 and tokens.exit_code == 0, raw.output + tokens.output
    raw, tokens = json.loads(raw.output), json.loads(tokens.output)
    # The rules split these texts into exactly their tokens: the same spans either way.
    assert raw["spans"]["f1"] == pytest.approx(tokens["score"])
    assert raw["spans"]["support"] == sum(len(item.spans) for item in gold) > 40
    assert raw["calibration"]["spans"] == tokens["calibration"]["spans"] > 0


def test_raw_text_entities_need_a_corpus_with_text(demo_model: Path):
    result = run_cli("evaluate", demo_model, "--dataset", DEMO, "--raw-text")
    assert_one_line_error(result, "has no raw text")
