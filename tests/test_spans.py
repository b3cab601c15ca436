"""Text with character spans (doccano, Label Studio, spaCy-style JSON Lines): read, turned
into tagged tokens, trained on, scored from raw text, and written by `tagger tag`."""

import json
from pathlib import Path

import pytest

from tagger import conll, schemes, spans
from tagger.corpora import load_corpus
from tagger.errors import TaggerError

from .conftest import DEMO
from .helpers import assert_one_line_error, run_cli

LINES = [
    {"text": "Anna Schmidt flew to Oslo.", "label": [[0, 12, "PER"], [21, 25, "LOC"]]},
    {"text": "Mei Lin visited Berlin.", "entities": [[0, 7, "PER"], [16, 22, "LOC"]]},
    {"text": "Acme Corp hired Bo.", "spans": [{"start": 0, "end": 9, "label": "ORG"}]},
    {"data": {"text": "Paris is big."},
     "label": [{"start": 0, "end": 5, "text": "Paris", "labels": ["LOC"]}]},
    {"text": "Nothing here."},
]


def _write(path: Path, items: list) -> Path:
    path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items),
                    encoding="utf-8")
    return path


def test_every_shape_becomes_iob2_tags_on_the_tokens_it_covers(tmp_path: Path):
    corpus = spans.to_sentences(spans.read(_write(tmp_path / "x.jsonl", LINES)))
    assert corpus.sentences == [
        (["Anna", "Schmidt", "flew", "to", "Oslo", "."],
         ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]),
        (["Mei", "Lin", "visited", "Berlin", "."], ["B-PER", "I-PER", "O", "B-LOC", "O"]),
        (["Acme", "Corp", "hired", "Bo", "."], ["B-ORG", "I-ORG", "O", "O", "O"]),
        (["Paris", "is", "big", "."], ["B-LOC", "O", "O", "O"]),
        (["Nothing", "here", "."], ["O", "O", "O"]),
    ]
    assert corpus.misaligned == [] and corpus.note() is None


def test_a_span_off_the_token_boundaries_is_reported_not_shifted(tmp_path: Path):
    items = [{"text": "Anna Schmidt flew to Oslo.", "label": [[0, 3, "PER"], [21, 25, "LOC"]]},
             {"text": "Bob met Ann", "label": [[1, 3, "PER"], [8, 11, "PER"]]}]
    corpus = spans.to_sentences(spans.read(_write(tmp_path / "x.jsonl", items)))
    assert corpus.sentences[0][1] == ["O", "O", "O", "O", "B-LOC", "O"]  # "Ann" of "Anna"
    assert corpus.sentences[1][1] == ["O", "O", "B-PER"]
    assert corpus.note() == ("2 spans do not start and end at token boundaries and were "
                             "left out (their tokens are tagged O), e.g. line 1: PER 0-3 "
                             "'Ann'; line 2: PER 1-3 'ob'")
    train = _write(tmp_path / "train.jsonl", items)
    loaded = load_corpus(f"train={train},validation={train}")
    assert any(note.startswith("train.jsonl: 2 spans") for note in loaded.notes)


@pytest.mark.parametrize(("item", "message"), [
    ({"text": "Anna Schmidt", "label": [[0, 12, "PER"], [5, 12, "PER"]]},
     r"x.jsonl:2: spans PER 0-12 and PER 5-12 overlap"),
    ({"text": "Anna", "label": [[0, 9, "PER"]]}, r"x.jsonl:2: span PER 0-9 is not inside"),
    ({"text": "Anna", "label": [[0, 4]]}, r"x.jsonl:2: a span is \[start, end, label\]"),
    ({"text": "Anna", "label": [{"start": "0", "end": 4, "label": "PER"}]},
     "x.jsonl:2: a span needs integer start and end"),
    ({"txt": "Anna"}, r'x.jsonl:2: no "text" string'),
])
def test_bad_spans_are_errors_that_name_the_line(tmp_path: Path, item, message):
    path = _write(tmp_path / "x.jsonl", [LINES[0], item])
    with pytest.raises(TaggerError, match=message):
        spans.read(path)


def test_a_byte_order_mark_before_the_first_line_is_not_text(tmp_path: Path):
    path = tmp_path / "doccano.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + _write(tmp_path / "plain.jsonl", LINES[:2]).read_bytes())
    assert spans.is_span_file(path)
    assert [item.text for item in spans.read(path)] == [LINES[0]["text"], LINES[1]["text"]]
    tokens, tags = load_corpus(f"train={path},validation={path}").splits["train"][0]
    assert tokens[0] == "Anna" and tags[0] == "B-PER"


def test_label_studio_json_min_export_is_one_array_of_tasks(tmp_path: Path):
    """Label Studio's JSON-MIN export: one JSON array, each task flat with its text and a
    "label" list of {start, end, text, labels}."""
    tasks = [{"id": 7, "text": "Anna Schmidt flew to Oslo.", "annotator": 1,
              "label": [{"start": 0, "end": 12, "text": "Anna Schmidt", "labels": ["PER"]},
                        {"start": 21, "end": 25, "text": "Oslo", "labels": ["LOC"]}]},
             {"id": 8, "text": "Nothing here."}]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks, indent=2), encoding="utf-8")
    assert spans.is_span_file(path)
    corpus = spans.to_sentences(spans.read(path))
    assert corpus.sentences[0][1] == ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]
    assert len(corpus.sentences) == 2
    path.write_text(json.dumps([tasks[0], {"id": 9, "text": "Anna", "label": [
        {"start": 0, "end": 9, "labels": ["PER"]}]}]), encoding="utf-8")
    with pytest.raises(TaggerError, match=r"export.json:2: span PER 0-9 is not inside"):
        spans.read(path)
    path.write_text('[{"text": "cut short"', encoding="utf-8")
    assert not spans.is_span_file(path)
    with pytest.raises(TaggerError, match="not JSON"):
        spans.read(path)


def _demo_as_spans(source: Path, target: Path) -> Path:
    """The demo corpus's sentences as span lines: tokens joined by spaces."""
    items = []
    with conll.open_text(source) as lines:
        for rows in conll.conll_sentences(lines, str(source)):
            tokens, tags = [r[0] for r in rows], [r[-1] for r in rows]
            starts = [sum(len(t) + 1 for t in tokens[:i]) for i in range(len(tokens))]
            found = [[starts[s.start], starts[s.end - 1] + len(tokens[s.end - 1]), s.label]
                     for s in schemes.spans(tags)]
            items.append({"text": " ".join(tokens), "label": found})
    return _write(target, items)


@pytest.mark.slow
def test_train_evaluate_and_tag_with_span_files(tmp_path: Path):
    train = _demo_as_spans(DEMO / "train.conll", tmp_path / "train.jsonl")
    dev = _demo_as_spans(DEMO / "dev.conll", tmp_path / "dev.jsonl")
    model = tmp_path / "model"
    trained = run_cli("train", "--dataset", f"train={train},validation={dev}", "--output", model,
                      "--epochs", "6", "--units", "32", "--embedding-dim", "32",
                      "--learning-rate", "0.01", "--quiet")
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.output.splitlines()[-1])["validation_score"] > 0.5
    on_tokens = run_cli("evaluate", model, "--dataset", f"validation={dev}", "--json")
    from_text = run_cli("evaluate", model, "--dataset", str(dev), "--raw-text", "--json")
    assert on_tokens.exit_code == 0 and from_text.exit_code == 0, from_text.output
    # The texts are their tokens joined by spaces, so the tokenizer finds the same tokens:
    # exact spans from raw text score as the entities on tokens do.
    assert json.loads(from_text.output)["spans"]["f1"] == pytest.approx(
        json.loads(on_tokens.output)["score"], abs=1e-9)
    printed = run_cli("evaluate", model, "--dataset", str(dev), "--raw-text")
    assert "span F1 from raw text" in printed.output
    out = tmp_path / "tagged.jsonl"
    tagged = run_cli("tag", model, "-i", dev, "-o", out, "--format", "spans", "-q")
    assert tagged.exit_code == 0, tagged.output
    again = spans.read(out)  # what tag writes, span files read
    assert [item.text for item in again] == [item.text for item in spans.read(dev)]
    assert sum(len(item.spans) for item in again) > 0


def test_overlapping_spans_stop_training_with_one_line(tmp_path: Path):
    bad = _write(tmp_path / "train.jsonl",
                 [LINES[0], {"text": "Anna Schmidt", "label": [[0, 12, "PER"], [5, 12, "X"]]}])
    result = run_cli("train", "--dataset", f"train={bad},validation={bad}", "--output",
                     tmp_path / "model", "--quiet")
    assert_one_line_error(result, "train.jsonl:2: spans PER 0-12 and X 5-12 overlap")
