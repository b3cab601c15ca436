"""Faults found by hostile use: damaged model folders, special output files, crash safety."""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .helpers import assert_one_line_error, children, run_cli

SENTENCE = "Anna Schmidt flew from Berlin to Toronto."


@pytest.fixture
def model_copy(demo_model: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(demo_model, copy)
    return copy


def test_config_edited_to_disagree_with_the_weights(model_copy: Path):
    config = json.loads((model_copy / "config.json").read_text())
    text = json.dumps(config).replace('"units": 32', '"units": 33')
    assert text != json.dumps(config)
    (model_copy / "config.json").write_text(text)
    assert_one_line_error(run_cli("tag", model_copy, SENTENCE), "config.json")


@pytest.mark.parametrize("runtime", ["onnx", "keras"])
def test_labels_reordered_with_the_manifest_rewritten_are_refused_by_every_backend(
        model_copy: Path, runtime: str):
    """Shapes cannot tell labels apart: the network's files record the config they were
    written with, and both backends compare it with config.json."""
    from tagger import model_folder

    config = json.loads((model_copy / "config.json").read_text())
    config["labels"] = config["labels"][::-1]
    (model_copy / "config.json").write_text(json.dumps(config))
    manifest = json.loads((model_copy / model_folder.MANIFEST).read_text())
    manifest["files"]["config.json"] = model_folder.fingerprint(model_copy / "config.json")
    (model_copy / model_folder.MANIFEST).write_text(json.dumps(manifest))
    file = "model.weights.h5" if runtime == "keras" else "network.onnx"
    assert_one_line_error(run_cli("tag", model_copy, "--runtime", runtime, SENTENCE),
                          file, "does not fit config.json")


def test_vocabulary_cut_in_half_is_detected(model_copy: Path):
    vocab = model_copy / "vocab.txt"
    words = vocab.read_text(encoding="utf-8").split("\n")[:-1]
    vocab.write_text("".join(w + "\n" for w in words[: len(words) // 2]), encoding="utf-8")
    assert_one_line_error(run_cli("tag", model_copy, SENTENCE), "vocab.txt")


def test_damaged_weights_file_is_named(model_copy: Path):
    weights = model_copy / "model.weights.h5"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert_one_line_error(run_cli("tag", model_copy, SENTENCE), "model.weights.h5")


@pytest.fixture
def lines_file(tmp_path: Path) -> Path:
    source = tmp_path / "in.txt"
    source.write_text("Mei Lin visited Oslo.\nPrices rose.\n", encoding="utf-8")
    return source


def test_named_pipe_output_is_written_in_place(demo_model: Path, lines_file: Path,
                                               tmp_path: Path):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received: list[str] = []

    def read() -> None:
        with open(fifo, encoding="utf-8") as pipe:
            received.extend(pipe)

    reader = threading.Thread(target=read)
    reader.start()
    result = run_cli("tag", demo_model, "-i", lines_file, "-o", fifo, "-q")
    reader.join(timeout=10)  # it reads to the end of what was written
    if reader.is_alive():  # the pipe was never opened for writing: unblock the reader
        with open(fifo, "w"):
            pass
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert [json.loads(x)["text"] for x in received] == ["Mei Lin visited Oslo.", "Prices rose."]


def test_character_device_output_is_written_in_place(demo_model: Path, lines_file: Path,
                                                     tmp_path: Path):
    node = tmp_path / "null"
    null = os.stat("/dev/null")
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, null.st_rdev)  # a /dev/null of our own
    except PermissionError:
        pytest.skip("making a device node needs root (CI runs as root)")
    result = run_cli("tag", demo_model, "-i", lines_file, "-o", node, "-q")
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(node.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "null"]


def test_symlink_output_keeps_the_link_and_writes_its_target(demo_model: Path,
                                                             lines_file: Path, tmp_path: Path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "out.jsonl"
    target.write_text("old\n")
    link = tmp_path / "out.jsonl"
    link.symlink_to(target)
    result = run_cli("tag", demo_model, "-i", lines_file, "-o", link, "-q")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert len(target.read_text().splitlines()) == 2


def _record_syncs(monkeypatch) -> list[tuple[str, str]]:
    """Calls of os.fsync (on what) and of renames, in order."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst, **kwargs):
        events.append(("rename", str(Path(dst).absolute())))
        return real_replace(src, dst, **kwargs)

    def rename(src, dst, **kwargs):
        events.append(("rename", str(Path(dst).absolute())))
        return real_rename(src, dst, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "rename", rename)
    return events


def test_output_file_is_synced_before_and_after_its_rename(demo_model: Path, lines_file: Path,
                                                           tmp_path: Path, monkeypatch):
    events = _record_syncs(monkeypatch)
    out = tmp_path / "out.jsonl"
    assert run_cli("tag", demo_model, "-i", lines_file, "-o", out, "-q").exit_code == 0
    renamed = events.index(("rename", str(out)))
    before, after = events[:renamed], events[renamed + 1:]
    assert any(kind == "fsync" and ".partial" in what for kind, what in before)  # the data
    assert ("fsync", str(tmp_path)) in after  # the folder entry


def test_model_folder_is_synced_before_and_after_its_rename(demo_tagger, tmp_path: Path,
                                                            monkeypatch):
    events = _record_syncs(monkeypatch)
    out = tmp_path / "saved"
    demo_tagger.save(out)
    renamed = events.index(("rename", str(out)))
    before, after = events[:renamed], events[renamed + 1:]
    synced = {Path(what).name for kind, what in before if kind == "fsync"}
    assert {"config.json", "vocab.txt", "model.weights.h5", "manifest.json"} <= synced
    assert any(kind == "fsync" and what.endswith(".partial") for kind, what in before)
    assert ("fsync", str(tmp_path)) in after


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["onnx", "keras"])
@pytest.mark.parametrize("where", ["--output", "stdout", "sentence"])
def test_a_full_disk_is_one_line_on_every_path(demo_model: Path, lines_file: Path,
                                               runtime: str, where: str):
    """/dev/full refuses every write with ENOSPC: a file, standard output and the
    one-sentence path each end with the one line, in a real process with its threads."""
    args = [sys.executable, "-m", "tagger.apps.cli", "tag", str(demo_model), "--runtime",
            runtime]
    args += [SENTENCE] if where == "sentence" else ["-i", str(lines_file), "-q"]
    if where == "--output":
        args += ["--output", "/dev/full"]
    with open("/dev/full", "w") as full:
        result = subprocess.run(args, stdout=full if where != "--output" else None,
                                stderr=subprocess.PIPE, text=True, timeout=300)
    assert result.returncode == 1
    named = "/dev/full" if where == "--output" else "standard output"
    assert result.stderr.strip().splitlines()[-1:] == [
        f"error: No space left on device: {named}"]
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])
def test_sigterm_while_tagging_a_file_keeps_the_old_output_and_ends_the_workers(
        demo_model: Path, tmp_path: Path, jobs: int):
    """SIGTERM is handled as Ctrl-C: the partial file is removed, the file there before is
    kept, worker processes end, exit status 143, one line and no traceback."""
    source = tmp_path / "in.txt"
    source.write_text("Anna Schmidt flew from Berlin to Toronto with Mei Lin .\n" * 200_000,
                      encoding="utf-8")
    output = tmp_path / "out.jsonl"
    output.write_text("the old output\n", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "tagger.apps.cli", "tag", str(demo_model), "-i", str(source),
         "-o", str(output), "--jobs", str(jobs), "-q"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    # Tagging is under way once the partial file has records in it.
    while not any(p.stat().st_size for p in tmp_path.glob(".out.jsonl.*.partial")):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.05)
    workers = children(process.pid) if jobs > 1 else []
    assert len(workers) >= (jobs if jobs > 1 else 0)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143
    assert process.stderr.read().strip() == "terminated"
    assert output.read_text(encoding="utf-8") == "the old output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.jsonl"]
    time.sleep(0.5)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()
                and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]]


def test_a_20_mb_line_is_refused_in_one_line_within_a_bounded_memory(demo_model: Path,
                                                                     tmp_path: Path):
    """A line's tokens and record are held whole: past --max-chars (a million characters
    by default) the job stops before tagging it, naming the line and the option, in a
    memory that the line's own text bounds (300 MB for 20 MB of text)."""
    source = tmp_path / "one-line.txt"
    source.write_text("Anna flew to Oslo . " * 1_000_000 + "\n", encoding="utf-8")
    output, peak = tmp_path / "out.jsonl", tmp_path / "peak"
    result = subprocess.run(
        [sys.executable, "-c", PEAK_REPORTED, str(peak), "tag", str(demo_model), "-i",
         str(source), "-o", str(output), "-q"], stderr=subprocess.PIPE, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {source}: line 1 has 20,000,000 characters, more than --max-chars "
        "(1,000,000); split it into paragraphs, or raise --max-chars (memory grows with the "
        "longest line)")
    assert int(peak.read_text()) < 300 * 1024  # kB
    assert not output.exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "one-line.txt", "peak"]


# `tagger ARGS...` that writes its peak resident memory (kB) to the file named first.
PEAK_REPORTED = """
import atexit, re, sys
from pathlib import Path
report = Path(sys.argv.pop(1))
atexit.register(lambda: report.write_text(
    re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text())[1]))
from tagger.apps.cli import main
main()
"""
