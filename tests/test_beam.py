"""Batch tagging on Apache Beam (the FnApiRunner and a Dask cluster, two worker processes
each) writes exactly `tagger tag`'s records, each with its file and line, loads the model
once per worker process, and fails in one line on bad input or a lost worker."""

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import apache_beam
import pytest
from apache_beam.io.filesystem import FileMetadata, MatchResult
from apache_beam.io.localfilesystem import LocalFileSystem
from apache_beam.testing.util import assert_that, equal_to
from click.testing import CliRunner

from tagger.apps import beam, beam_shards
from tagger.apps.cli import main
from tagger.errors import TaggerError
from tagger.pipeline import Tagger

from .texts import ODD, conllu_texts

pytestmark = [pytest.mark.slow, pytest.mark.beam]

TWO_WORKERS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
IN_PROCESS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


@pytest.fixture(scope="module")
def onnx_model(demo_model: Path) -> Path:
    return demo_model  # a trained folder has the onnx backend's network


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tagger.apps.beam", *args], capture_output=True,
                          text=True, check=False, timeout=600)


def _expected(model: Path, files: list[Path], tmp_path: Path) -> list[tuple]:
    """(file name, line, record) of `tagger tag` on each file."""
    rows = []
    for file in files:
        out = tmp_path / f"{file.name}.expected.jsonl"
        result = CliRunner().invoke(main, ["tag", str(model), "-i", str(file), "-o", str(out),
                                           "-q"])
        assert result.exit_code == 0, result.output
        lines = out.read_text(encoding="utf-8").splitlines()
        rows += [(file.name, n, line) for n, line in enumerate(lines, 1)]
    return rows


def _written(prefix: Path) -> list[tuple]:
    rows = []
    for shard in sorted(prefix.parent.glob(f"{prefix.name}-*-of-*.jsonl")):
        for line in shard.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            source, number = record.pop("source"), record.pop("line")
            rows.append((Path(source).name, number, json.dumps(record, ensure_ascii=False)))
    return rows


def test_two_workers_write_tagger_tags_records_with_file_and_line(onnx_model: Path,
                                                                  tmp_path: Path):
    texts = [t for t in [*conllu_texts(), *ODD] if "\n" not in t]
    inputs = tmp_path / "in"
    inputs.mkdir()
    files = [inputs / "ewt.txt", inputs / "odd.txt"]
    # Empty lines, a CRLF line end and a lone CR inside a line must all keep their line.
    files[0].write_text("\n".join(texts[:1500]) + "\n\nEU rejects German call .\r\n\n",
                        encoding="utf-8", newline="")
    files[1].write_text("\n".join([*texts[1500:], "", "a lone \r inside", "no line end"]),
                        encoding="utf-8", newline="")
    prefix = tmp_path / "out" / "tagged"
    result = _run("--model", str(onnx_model), "--input", str(inputs / "*.txt"),
                  "--output", str(prefix), *TWO_WORKERS)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == "runner: FnApiRunner, 2 worker processes"
    expected = _expected(onnx_model, files, tmp_path)
    written = _written(prefix)
    assert len(written) == len(expected) > 2000  # no line lost or written twice
    assert sorted(written) == sorted(expected)
    assert sum(1 for _, _, r in written if json.loads(r)["text"] == "") >= 3


def _loads(stderr: str) -> list[str]:
    """The process of each model load a run's log tells of."""
    return re.findall(r"^tagger: model .* loaded in process (\d+)$", stderr, re.MULTILINE)


def test_a_dask_cluster_of_two_worker_processes_writes_tagger_tags_records(
        onnx_model: Path, tmp_path: Path):
    texts = [t for t in conllu_texts() if "\n" not in t]
    inputs = tmp_path / "in"
    inputs.mkdir()
    # Three files, a partition each, on two workers: a worker sets tagging up twice.
    files = [inputs / "a.txt", inputs / "b.txt", inputs / "c.txt"]
    files[0].write_text("\n".join(texts[:300]) + "\n\n", encoding="utf-8")
    files[1].write_text("\n".join(texts[300:600]), encoding="utf-8")
    files[2].write_text("\n".join(texts[600:700]), encoding="utf-8")
    prefix = tmp_path / "out" / "tagged"
    result = _run("--model", str(onnx_model), "--input", str(inputs / "*.txt"),
                  "--output", str(prefix), "--runner", "dask", "--dask-workers", "2",
                  "--verbose")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == ("runner: DaskRunner, a local cluster of 2 "
                                             "worker processes")
    written = _written(prefix)
    expected = _expected(onnx_model, files, tmp_path)
    assert len(written) == len(expected) == 701  # no line lost or written twice
    assert sorted(written) == sorted(expected)
    assert [p.name for p in prefix.parent.iterdir() if p.is_dir()] == []  # no temporary folder
    loads = _loads(result.stderr)
    assert 1 <= len(loads) <= 2 and len(set(loads)) == len(loads)  # once per worker process


@pytest.mark.parametrize("runner", [["--runner", "dask", "--dask-workers", "2"], TWO_WORKERS],
                         ids=["dask", "fnapi"])
def test_a_worker_killed_mid_job_is_retried_or_fails_the_job_in_one_line(
        onnx_model: Path, tmp_path: Path, runner: list[str]):
    """Dask runs a lost worker's tasks again; the FnApiRunner cannot, and fails the job.
    Either way no line goes missing."""
    texts = [t for t in conllu_texts() if "\n" not in t][:1000]
    # The FnApiRunner's job ends at the kill: more text costs it nothing, and keeps its
    # workers busy well after the kill however late it comes.
    copies = 1 if runner != TWO_WORKERS else 10
    inputs = tmp_path / "in"
    inputs.mkdir()
    files = [inputs / f"{n}.txt" for n in range(4)]
    for file in files:
        file.write_text("\n".join(texts * copies) + "\n", encoding="utf-8")
    prefix = tmp_path / "out" / "tagged"
    log = tmp_path / "stderr.txt"
    with open(log, "w", encoding="utf-8") as stderr:
        job = subprocess.Popen([sys.executable, "-m", "tagger.apps.beam", "--model",
                                str(onnx_model), "--input", str(inputs / "*.txt"), "--output",
                                str(prefix), *runner, "--verbose"], stderr=stderr, text=True)
        deadline = time.monotonic() + 120
        while not _loads(log.read_text(encoding="utf-8")) and job.poll() is None:
            assert time.monotonic() < deadline, "no worker loaded the model"
            time.sleep(0.02)
        victim = int(_loads(log.read_text(encoding="utf-8"))[0])
        os.kill(victim, signal.SIGKILL)  # it has the model: it is tagging its first chunk
        job.wait(timeout=300)
    stderr = log.read_text(encoding="utf-8")
    if runner == TWO_WORKERS:
        assert job.returncode == 1
        assert stderr.strip().splitlines()[-1] == f"error: {beam.LOST_WORKER}"
        assert list(tmp_path.glob("out/*")) == []  # no shard, no temporary folder
        return
    assert job.returncode == 0, stderr
    assert len(set(_loads(stderr))) >= 2
    written = _written(prefix)
    assert len(written) == len(set(written)) == 4 * 1000  # none lost, none written twice
    one = _expected(onnx_model, files[:1], tmp_path)  # the files are alike
    assert sorted(written) == sorted((file.name, n, r) for file in files for _, n, r in one)


def test_a_file_that_is_not_utf8_fails_in_one_line_and_writes_nothing(onnx_model: Path,
                                                                      tmp_path: Path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "good.txt").write_text("Angela Merkel visited Paris .\n" * 50, encoding="utf-8")
    (inputs / "bad.txt").write_bytes(b"good line\nbad \xff line\n")
    prefix = tmp_path / "out" / "tagged"
    result = _run("--model", str(onnx_model), "--input", str(inputs / "*.txt"),
                  "--output", str(prefix), *TWO_WORKERS)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {inputs / 'bad.txt'}: line 2 is not UTF-8"), result.stderr
    assert "Traceback" not in result.stderr
    # No shards, no temporary folder (the folder itself exists only if the writer started).
    assert list(tmp_path.glob("out/*")) == []
    log = Path(last.rsplit("(Beam's log: ", 1)[1].rstrip(")"))
    assert "Traceback" in log.read_text(encoding="utf-8")  # the details are kept there
    log.unlink()


def test_json_lines_input_and_errors_naming_the_line(onnx_model: Path, tmp_path: Path,
                                                     monkeypatch):
    monkeypatch.setattr(beam, "CHUNK_LINES", 2)  # lines travel in chunks: 2, then 1
    source = tmp_path / "in.jsonl"
    texts = ["Angela Merkel visited Paris .", "", "EU rejects German call ."]
    source.write_text("".join(json.dumps({"text": t, "id": i}) + "\n"
                              for i, t in enumerate(texts)), encoding="utf-8")
    prefix = tmp_path / "out" / "tagged"
    beam.main(["--model", str(onnx_model), "--input", str(source), "--output", str(prefix),
               "--input-format", "jsonl", *IN_PROCESS])
    written = sorted(_written(prefix))
    assert [(n, json.loads(r)) for _, n, r in written] == [
        (n, t.to_dict()) for n, t in enumerate(Tagger.load(onnx_model).tag(texts), 1)]

    source.write_text('{"text": "fine"}\n{"id": 3}\n', encoding="utf-8")
    with pytest.raises(SystemExit) as failed:
        beam.main(["--model", str(onnx_model), "--input", str(source), "--output",
                   str(tmp_path / "out2" / "tagged"), "--input-format", "jsonl", *IN_PROCESS])
    assert str(failed.value.code).startswith(f'error: {source}: line 2 has no "text" string')


def test_files_without_lines_give_one_empty_shard(onnx_model: Path, tmp_path: Path):
    (tmp_path / "a.txt").write_bytes(b"")
    (tmp_path / "b.txt").write_bytes(b"")
    prefix = tmp_path / "out" / "tagged"
    beam.main(["--model", str(onnx_model), "--input", str(tmp_path / "*.txt"), "--output",
               str(prefix), *IN_PROCESS])
    assert [(p.name, p.read_bytes()) for p in prefix.parent.iterdir()] == [
        ("tagged-00000-of-00001.jsonl", b"")]


def test_the_shards_renaming_step_run_again_finishes_what_it_began(tmp_path: Path):
    """A retried rename (its worker lost halfway) finds some files renamed already."""
    folder = tmp_path / "beam-temp-tagged-1"
    folder.mkdir()
    paths = [folder / name for name in ("b", "a", "c")]
    for path in paths:
        path.write_text(path.name, encoding="utf-8")
    prefix = str(tmp_path / "tagged")
    (folder / "a").rename(f"{prefix}-00000-of-00003.jsonl")  # the first run's one rename
    names = beam_shards._rename((None, [str(p) for p in paths]), prefix, str(folder), ".jsonl")
    assert names == beam_shards.shard_names(prefix, 3, ".jsonl")
    assert [Path(n).read_text(encoding="utf-8") for n in names] == ["a", "b", "c"]
    assert not folder.exists()
    # Once more, as if the step had ended after removing the folder: nothing left to do.
    assert beam_shards._rename((None, [str(p) for p in paths]), prefix, str(folder),
                               ".jsonl") == names
    assert [Path(n).read_text(encoding="utf-8") for n in names] == ["a", "b", "c"]


def test_a_local_run_names_its_runner_and_never_lets_beam_choose_one(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 3)
    options, runner, line = beam.runner_of([])
    assert type(runner).__name__ == "FnApiRunner"  # not Prism, which downloads a binary
    assert line == "runner: FnApiRunner, 3 worker processes"
    assert options.get_all_options()["direct_running_mode"] == "multi_processing"
    assert beam.runner_of(["--direct_num_workers=2", "--direct_running_mode",
                           "multi_threading"])[2] == "runner: FnApiRunner, 2 worker threads"
    assert beam.runner_of(IN_PROCESS)[2] == "runner: FnApiRunner, in this process"
    options, runner, line = beam.runner_of(["--runner", "DataflowRunner"])
    assert runner is None and line == "runner: DataflowRunner (--runner)"
    options, runner, line = beam.runner_of(["--runner", "dask"], "tcp://10.0.0.1:8786")
    assert type(runner).__name__ == "DaskRunner"
    assert line == "runner: DaskRunner, the scheduler at tcp://10.0.0.1:8786"


@pytest.mark.parametrize("model, pattern, more, expected", [
    ("missing-model", "*.txt", [], "model folder missing-model does not exist"),
    (None, "no-such-*.txt", [], "`input` {tmp}/no-such-*.txt matches no file"),
    (None, "*.txt", ["--dask-workers", "2"], "--dask-address and --dask-workers go with "
                                              "--runner dask"),
])
def test_bad_options_fail_before_the_pipeline(onnx_model: Path, tmp_path: Path, model,
                                              pattern: str, more: list[str], expected: str):
    (tmp_path / "in.txt").write_text("a line\n", encoding="utf-8")
    with pytest.raises(SystemExit) as failed:
        beam.main(["--model", model or str(onnx_model), "--input", str(tmp_path / pattern),
                   "--output", str(tmp_path / "out"), *more])
    assert str(failed.value.code).startswith(f"error: {expected.format(tmp=tmp_path)}")


class _RemoteFileSystem(LocalFileSystem):
    """A filesystem with its own scheme over a local folder (`remote-test://a/b` is
    ROOT/a/b): Beam's FileSystems must carry every read, as for gs:// or s3://."""

    root = Path()

    @classmethod
    def scheme(cls) -> str:
        return "remote-test"

    def _local(self, path: str) -> str:
        return str(self.root / path.removeprefix("remote-test://"))

    def match(self, patterns, limits=None):
        results = super().match([self._local(p) for p in patterns], limits)
        return [MatchResult(pattern, [
            FileMetadata("remote-test://" + str(Path(m.path).relative_to(self.root)),
                         m.size_in_bytes, m.last_updated_in_seconds)
            for m in result.metadata_list]) for pattern, result in zip(patterns, results,
                                                                      strict=True)]

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)


def test_a_model_folder_on_another_filesystem_is_copied_and_tags_the_same(
        onnx_model: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(_RemoteFileSystem, "root", onnx_model.parent)
    remote = f"remote-test://{onnx_model.name}"
    copy = beam.local_folder(remote)
    assert copy != onnx_model
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in
                                                             onnx_model.iterdir())
    texts = [t for t in conllu_texts()[:200] if "\n" not in t]
    assert Tagger.load(copy, "onnx").tag(texts) == Tagger.load(onnx_model, "onnx").tag(texts)
    with pytest.raises(TaggerError, match="remote-test://nothing holds no files"):
        beam.local_folder("remote-test://nothing")
    # In a pipeline (in this process, where the filesystem is known), from the remote folder.
    with apache_beam.Pipeline() as pipeline:
        tagged = (pipeline | apache_beam.Create(list(enumerate(texts)))
                  | beam.TagTexts(remote) | apache_beam.MapTuple(lambda k, t: (k, t.tags)))
        assert_that(tagged, equal_to([(k, t.tags) for k, t in enumerate(
            Tagger.load(onnx_model, "onnx").tag(texts))]))


def test_help_prints_no_warning_from_beam_imports():
    """Beam's BigQuery client warns at import that libraries tagger never uses are missing."""
    result = subprocess.run([sys.executable, "-m", "tagger.apps.beam", "--help"],
                            capture_output=True, text=True, check=True)
    assert "--model" in result.stdout
    assert result.stderr == ""


def test_importing_keeps_the_programs_own_logging_setting():
    code = ("import logging; logging.disable(logging.CRITICAL); import tagger.apps.beam; "
            "print(logging.root.manager.disable)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == str(logging.CRITICAL)
