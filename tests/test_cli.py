"""Every command, and every bad input: one line on stderr, non-zero exit, nothing written."""

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tagger import model_folder
from tagger.apps.cli import main

from .conftest import DEMO
from .helpers import assert_one_line_error

SENTENCE = "Anna Schmidt flew from Berlin to Toronto."


def run(*args: str, input: str | bytes | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def test_help_does_not_import_tensorflow():
    code = "import sys; from tagger.apps.cli import main; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert "train" in run("--help").output


def test_train_writes_a_model_and_prints_its_score(tmp_path: Path):
    out = tmp_path / "m"
    result = run("train", "--dataset", DEMO, "--output", out, "--epochs", "2", "--units", "8",
                 "--embedding-dim", "8", "--quiet")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["metric"] == "entity_f1" and summary["epochs_run"] == 2
    assert (out / "config.json").exists() and result.stderr == ""


def test_train_progress_goes_to_stderr(tmp_path: Path):
    result = run("train", "--dataset", DEMO, "--output", tmp_path / "m", "--epochs", "1",
                 "--units", "4", "--embedding-dim", "4")
    assert result.exit_code == 0
    assert "epoch 1/1" in result.stderr and "tokens/s" in result.stderr
    assert "kept epoch 1" in result.stderr
    # Before training, what it picked from the corpus for the settings not given.
    lines = result.stderr.splitlines()
    [picked] = [i for i, line in enumerate(lines) if line.startswith("settings from the corpus")]
    assert lines[picked].startswith("settings from the corpus: 8,769 train tokens, small")
    assert lines[picked].endswith("(yours kept: epochs)")
    assert lines[picked + 1].startswith("training on 800 sentences")


def test_tag_sentence_in_each_format(demo_model: Path):
    text = run("tag", demo_model, SENTENCE)
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines()[0].startswith("Anna/B-PER Schmidt/I-PER flew/O")
    assert "  PER\t0-12\tAnna Schmidt" in text.stdout
    record = json.loads(run("tag", demo_model, SENTENCE, "--format", "json").stdout)
    assert set(record) == {"text", "tokens", "tags", "offsets", "confidences", "spans"}
    span = record["spans"][0]
    # Its confidence: its tokens' lowest, as the model's calibration maps it.
    calibrated = model_folder.read(demo_model).calibration
    assert span == {"label": "PER", "start": 0, "end": 12, "text": "Anna Schmidt",
                    "confidence": pytest.approx(float(calibrated(np.array(
                        [min(record["confidences"][:2])]))[0]), abs=2e-4)}
    conll = run("tag", demo_model, SENTENCE, "-f", "conll").stdout
    assert conll.splitlines()[:2] == ["Anna\tB-PER", "Schmidt\tI-PER"]


def test_confidence_in_text_and_conll_and_min_confidence(demo_model: Path, demo_tagger):
    record = json.loads(run("tag", demo_model, SENTENCE, "-f", "json").stdout)
    text = run("tag", demo_model, SENTENCE, "--confidence").stdout.splitlines()
    first = record["confidences"][0]
    assert text[0].startswith(f"Anna/B-PER({first:.2f}) ")
    span = record["spans"][0]
    assert text[1] == f"  PER\t0-12\tAnna Schmidt\t{span['confidence']:.2f}"
    conll = run("tag", demo_model, SENTENCE, "-f", "conll", "--confidence").stdout
    assert conll.splitlines()[0] == f"Anna\tB-PER\t{first:.4f}"
    # Records round confidences to 4 places; the threshold applies to the exact ones.
    exact = demo_tagger.tag([SENTENCE])[0].spans
    lowest = min(s.confidence for s in exact)
    kept = []
    for threshold in (lowest, lowest + 1e-6):
        strict = json.loads(run("tag", demo_model, SENTENCE, "-f", "json",
                                "--min-confidence", threshold).stdout)
        assert strict["tags"] == record["tags"]
        assert [(s["label"], s["start"]) for s in strict["spans"]] == [
            (s.label, s.start) for s in exact if s.confidence >= threshold]
        kept.append(len(strict["spans"]))
    assert kept[0] == len(record["spans"]) > kept[1]
    result = run("tag", demo_model, SENTENCE, "--min-confidence", "1.5")
    assert result.exit_code == 2 and "Invalid value" in result.stderr


def test_batch_file_to_jsonl_one_record_per_line(demo_model: Path, tmp_path: Path):
    source = tmp_path / "in.txt"
    lines = ["Mei Lin visited Oslo.", "", "Prices rose .", "Acme Corp fell."]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run("tag", demo_model, "--input", source, "--output", out)
    assert result.exit_code == 0, result.output
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["text"] for r in records] == lines
    assert "tagged 4 records" in result.stderr
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600


def test_batch_stdin_to_stdout_and_conll_input(demo_model: Path, tmp_path: Path):
    result = run("tag", demo_model, "--input", "-", input="Oslo\nKyoto is big\n")
    assert [json.loads(x)["tokens"] for x in result.stdout.splitlines()] == [
        ["Oslo"], ["Kyoto", "is", "big"]]
    conll = tmp_path / "in.conll"
    conll.write_text("Mei B-PER\nLin I-PER\n\nHi O\n")
    out = run("tag", demo_model, "--input", conll, "-f", "conll", "-q")
    assert out.exit_code == 0
    assert [x.split("\t")[0] for x in out.stdout.split("\n\n")[0].splitlines()] == ["Mei", "Lin"]


@pytest.mark.parametrize("suffix", [".txt", ".jsonl", "-"])
def test_a_byte_order_mark_is_dropped_from_every_input(demo_model: Path, tmp_path: Path,
                                                        suffix: str):
    """Editors on Windows start UTF-8 files with a BOM: it is not text, so offsets count
    from the character after it."""
    lines = ["Oslo is big", "Hi"]
    if suffix == ".jsonl":
        lines = [json.dumps({"text": line}) for line in lines]
    data = b"\xef\xbb\xbf" + "".join(f"{line}\n" for line in lines).encode()
    if suffix == "-":
        result = run("tag", demo_model, "--input", "-", "-q", input=data)
    else:
        (tmp_path / f"in{suffix}").write_bytes(data)
        result = run("tag", demo_model, "--input", tmp_path / f"in{suffix}", "-q")
    assert result.exit_code == 0, result.output
    first = json.loads(result.stdout.splitlines()[0])
    assert first["text"] == "Oslo is big" and first["offsets"][0] == [0, 4]


def test_several_text_arguments_are_one_text_joined_by_spaces(demo_model: Path):
    result = run("tag", demo_model, "-f", "json", "Oslo", "is big.", "Kyoto.")
    assert result.exit_code == 0, result.output
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["text"] == "Oslo is big. Kyoto."


def test_conllu_input_tags_the_form_column(demo_model: Path, conllu_file: Path):
    result = run("tag", demo_model, "--input", conllu_file, "-q")
    assert result.exit_code == 0, result.output
    records = [json.loads(x) for x in result.stdout.splitlines()]
    assert [r["tokens"] for r in records] == [["I", "do", "n't", "know", "."], ["Go", "!"]]


def test_conll_input_keeps_a_hash_token(demo_model: Path, tmp_path: Path):
    source = tmp_path / "in.conll"
    source.write_text("# O\nOslo B-LOC\n")
    result = run("tag", demo_model, "--input", source, "-q")
    assert json.loads(result.stdout)["tokens"] == ["#", "Oslo"]


def test_evaluate_text_and_json(demo_model: Path):
    text = run("evaluate", demo_model, "--dataset", DEMO)
    assert text.exit_code == 0, text.output
    assert "entity micro-F1 (IOB2, default mode)" in text.stdout and "PER" in text.stdout
    report = json.loads(run("evaluate", demo_model, "--dataset", DEMO, "--json",
                            "--mode", "strict").stdout)
    assert report["mode"] == "strict" and 0 <= report["score"] <= 1
    assert report["sentences"] == 200


# ---- bad input -------------------------------------------------------------------------


def test_missing_model_folder(tmp_path: Path):
    assert_one_line_error(run("tag", tmp_path / "nope", "hi"), "does not exist", "tagger train")


def test_model_path_is_a_file_or_not_a_model(tmp_path: Path):
    (tmp_path / "f").write_text("x")
    assert_one_line_error(run("tag", tmp_path / "f", "hi"), "is a file")
    assert_one_line_error(run("tag", tmp_path, "hi"), "not a tagger model folder")


def test_unknown_dataset_and_split(demo_model: Path, tmp_path: Path):
    assert_one_line_error(run("evaluate", demo_model, "--dataset", "nobody/none"),
                          "--dataset 'nobody/none' is no local file or folder")
    assert_one_line_error(run("evaluate", demo_model, "--dataset", DEMO, "--split", "test"),
                          "has no test split", "--split")
    assert_one_line_error(run("train", "--dataset", "nobody/none", "-o", tmp_path / "m"),
                          "--dataset 'nobody/none' is no local file or folder")
    assert not (tmp_path / "m").exists()


def test_missing_column(demo_model: Path, tmp_path: Path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"words": ["a"], "ner_tags": ["O"]}\n')
    assert_one_line_error(run("evaluate", demo_model, "--dataset", f"validation={data}"),
                      "no column 'tokens'", "--token-column")


def test_labels_the_model_does_not_know(demo_model: Path, tmp_path: Path):
    data = tmp_path / "dev.conll"
    data.write_text("Bob B-PERSON\n")
    assert_one_line_error(run("evaluate", demo_model, "--dataset", data),
                      "labels the model does not know: B-PERSON")


def test_empty_undecodable_and_directory_inputs(demo_model: Path, tmp_path: Path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    out = tmp_path / "out.jsonl"
    assert_one_line_error(run("tag", demo_model, "-i", empty, "-o", out), "is empty")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"Caf\xe9 au lait\n")
    assert_one_line_error(run("tag", demo_model, "-i", bad, "-o", out), "not UTF-8")
    assert_one_line_error(run("tag", demo_model, "-i", "-", "-o", out), "stdin is empty")
    assert_one_line_error(run("tag", demo_model, "-i", tmp_path, "-o", out), "is a directory")
    assert_one_line_error(run("tag", demo_model, "-i", tmp_path / "missing.txt"), "does not exist")
    assert_one_line_error(run("tag", demo_model, "-i", empty, "-o", tmp_path), "is a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.txt", "latin1.txt"]


def test_undecodable_line_late_in_a_file_writes_no_output(demo_model: Path, tmp_path: Path):
    source = tmp_path / "in.txt"
    source.write_bytes(b"Oslo is big.\n" * 5000 + b"\xff\xfe broken\n")
    out = tmp_path / "out.jsonl"
    assert_one_line_error(run("tag", demo_model, "-i", source, "-o", out, "-q"),
                      "in.txt: line 5001 is not UTF-8 (invalid start byte)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


def test_export_to_an_existing_folder_needs_force(demo_model: Path, tmp_path: Path):
    (tmp_path / "1").mkdir()
    assert_one_line_error(run("export", demo_model, tmp_path / "1"), "already exists", "--force")
    assert_one_line_error(run("export", tmp_path / "none", tmp_path / "2"), "does not exist")
    assert not (tmp_path / "2").exists()


def test_serve_on_a_port_in_use_fails_before_loading(demo_model: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert_one_line_error(run("serve", demo_model, "--port", port), f"127.0.0.1:{port}",
                          "--port")


@pytest.mark.parametrize(("option", "value"), [
    ("--name", "a/b"), ("--name", "x:predict"), ("--name", ""), ("--label", "canary:1"),
    ("--name", "tab\there")])
def test_serve_refuses_a_name_no_request_path_can_hold(demo_model: Path, option: str,
                                                       value: str):
    assert_one_line_error(run("serve", demo_model, option, value), option, repr(value))


def test_existing_output_folder_needs_force(tmp_path: Path):
    (tmp_path / "m").mkdir()
    assert_one_line_error(run("train", "--dataset", DEMO, "-o", tmp_path / "m"), "--force")


def test_text_and_input_together_is_a_usage_error(demo_model: Path):
    result = run("tag", demo_model, "hi", "--input", "-")
    assert result.exit_code == 2 and "either TEXT or --input" in result.stderr


def test_real_process_exit_code_and_stderr(tmp_path: Path):
    """Outside the test runner: the installed command prints one line and exits 2."""
    proc = subprocess.run([sys.executable, "-m", "tagger.apps.cli", "tag", str(tmp_path), "hi"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: ")
    assert proc.stdout == ""


def test_closed_pipe_stops_quietly(demo_model: Path, tmp_path: Path):
    source = tmp_path / "in.txt"
    source.write_text("Oslo is big.\n" * 20000)
    proc = subprocess.run(
        f"{sys.executable} -m tagger.apps.cli tag {demo_model} -i {source} -q | head -1",
        shell=True, capture_output=True, text=True)
    assert json.loads(proc.stdout)["tokens"] == ["Oslo", "is", "big", "."]
    assert proc.stderr == ""


@pytest.mark.parametrize("option", [["--epochs", "0"], ["--dropout", "1.5"]])
def test_bad_option_values_are_rejected(option, tmp_path: Path):
    result = run("train", "--dataset", DEMO, "-o", tmp_path / "m", *option)
    assert result.exit_code == 2 and "Invalid value" in result.stderr


def test_evaluate_prints_the_corpus_notes(demo_model: Path):
    """What loading the corpus did (here: IOB1 converted to IOB2) is said, as train says it."""
    raw = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw" / "conll2003"
    result = run("evaluate", demo_model, "--dataset", raw, "--json")
    assert result.exit_code == 0, result.output
    assert "note: IOB1 tags were converted to IOB2" in result.stderr
    assert json.loads(result.stdout)["notes"] == ["IOB1 tags were converted to IOB2"]
