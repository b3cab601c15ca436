import pytest

from tagger.errors import TaggerError
from tagger.evaluation import check_labels, format_report
from tagger.metrics import score


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
