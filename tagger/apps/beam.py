"""Batch tagging on Apache Beam: `tagger tag`'s records for text of any size, on any runner
(the DirectRunner here; Flink, Spark or Dataflow unchanged).

    python -m tagger.apps.beam --model models/conll-onnx --input 'texts/*.txt' \\
        --output tagged/conll --direct_running_mode=multi_processing --direct_num_workers=2

runs on the FnApiRunner with worker processes (one per CPU unless `--direct_num_workers`
says otherwise; never Beam's default first choice, the Prism runner, which downloads a
binary on first use) unless `--runner` names another, and says which on its first line;
reads every file the pattern matches, one text per line (`--input-format jsonl`: JSON Lines
whose objects hold a "text" string), tags the lines in chunks of CHUNK_LINES (`TagChunks`:
the model loaded once per worker process, a chunk tagged in one call), and writes sharded
JSON Lines, `PREFIX-00000-of-00002.jsonl`, ... (`WriteShards`). Each record is `tagger
tag`'s plus its "source" file and 1-based "line", so order can be restored. Options Beam
knows (`--runner`, workers, ...) pass through to it. Model folders and files can be on any
filesystem Beam reads (local, gs://, s3://, ...).

`TagTexts` is the tagging step for users' own pipelines. Needs the beam extra:
pip install 'tagger[beam]'.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from tagger import model_folder
from tagger.apps.batch import json_text, text_of
from tagger.backends import CHOICES
from tagger.errors import TaggerError
from tagger.pipeline import Tagger

# Beam's BigQuery client warns at import, on the root logger, that its optional libraries
# ("apitools") are missing; nothing here uses BigQuery. The importing program's own
# setting is put back after.
_DISABLED = logging.root.manager.disable
logging.disable(max(_DISABLED, logging.WARNING))
try:
    import apache_beam as beam
    from apache_beam.io import fileio
    from apache_beam.io.filesystem import FileMetadata
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, RunInference
    from apache_beam.options.pipeline_options import (
        DirectOptions,
        PipelineOptions,
        StandardOptions,
    )

    from tagger.apps.beam_shards import TEMPORARY_PREFIX, WriteShards, shard_names
except ImportError:
    MISSING = "tagger.apps.beam needs Apache Beam: pip install 'tagger[beam]'"
    if __name__ == "__main__":
        sys.exit(f"error: {MISSING}")
    raise ImportError(MISSING) from None
finally:
    logging.disable(_DISABLED)

INPUT_FORMATS = ("text", "jsonl")
MAX_BATCH_TEXTS = 2048  # as `tagger tag`'s chunks
# Lines of a file that travel together, from reading to writing: each element crosses the
# runner's data plane (serialized) at every step, so a chunk costs one crossing, not 2,048.
CHUNK_LINES = 2048
# BatchElements starts from one text and grows; starting from 256 is faster
# (scripts/bench_beam.py).
MIN_BATCH_TEXTS = 256


class TaggerModelHandler(ModelHandler):
    """Beam's RunInference handler for a tagger model folder: texts in, `Tagged` out.

    Beam's TensorFlow handler stacks fixed-shape tensors; a tagger takes raw texts of any
    length, tokenizes and batches them itself, so this handler hands it the whole batch.
    """

    def __init__(self, model: str, runtime: str = "auto", threads: int = 1,
                 min_confidence: float = 0.0) -> None:
        super().__init__(min_batch_size=MIN_BATCH_TEXTS, max_batch_size=MAX_BATCH_TEXTS)
        self.model, self.runtime, self.threads = model, runtime, threads
        self.min_confidence = min_confidence

    def load_model(self):
        return worker_tagger(self.model, self.runtime, self.threads)

    def run_inference(self, batch: Sequence[str], model, inference_args: dict | None = None
                      ) -> Iterable:
        return model.tag(list(batch), self.min_confidence)

    def get_metrics_namespace(self) -> str:
        return "tagger"


def local_folder(model: str) -> Path:
    """Model folder `model` on this machine: itself if local, else a copy of its files (from
    any filesystem Beam reads) in a temporary folder."""
    if FileSystems.get_scheme(model) in (None, "file"):
        return Path(model.removeprefix("file://"))
    copy = Path(tempfile.mkdtemp(prefix="tagger-model-"))
    found = FileSystems.match([model.rstrip("/") + "/*"])[0].metadata_list
    if not found:
        raise TaggerError(f"`model` {model} holds no files; give a model folder", param="model")
    for metadata in found:
        with FileSystems.open(metadata.path) as source:
            (copy / metadata.path.rstrip("/").rsplit("/", 1)[-1]).write_bytes(source.read())
    return copy


_TAGGERS: dict[tuple[str, str, int], Tagger] = {}
_LOADING = threading.Lock()


def worker_tagger(model: str, runtime: str = "auto", threads: int = 1) -> Tagger:
    """The tagger of model folder `model` in this process, loaded on first use: once per
    worker process, however many DoFn instances a runner sets up (the DaskRunner sets one up
    for every partition). Each load is a line on stderr, naming the process."""
    key = (model, runtime, threads)
    with _LOADING:
        if key not in _TAGGERS:
            _TAGGERS[key] = Tagger.load(local_folder(model), runtime, threads)
            print(f"tagger: model {model} loaded in process {os.getpid()}", file=sys.stderr,
                  flush=True)
        return _TAGGERS[key]


class TagChunks(beam.DoFn):
    """`((file, first line), texts)` chunks to their JSON Lines records (`chunk_records`), a
    chunk tagged in one call by model folder `model`, loaded once per worker process."""

    def __init__(self, model: str, runtime: str = "auto", threads: int = 1,
                 min_confidence: float = 0.0) -> None:
        self.model, self.runtime, self.threads = model, runtime, threads
        self.min_confidence = min_confidence

    def setup(self) -> None:
        self._tagger = worker_tagger(self.model, self.runtime, self.threads)

    def process(self, chunk: tuple[tuple[str, int], list[str]]) -> Iterator[str]:
        key, texts = chunk
        yield chunk_records(key, self._tagger.tag(texts, self.min_confidence))


class TagTexts(beam.PTransform):
    """`(key, text)` elements to `(key, Tagged)`: the texts tagged by model folder `model`,
    loaded once per worker process."""

    def __init__(self, model: str, runtime: str = "auto", threads: int = 1,
                 min_confidence: float = 0.0) -> None:
        super().__init__()
        self.handler = KeyedModelHandler(TaggerModelHandler(model, runtime, threads,
                                                            min_confidence))

    def expand(self, texts):
        return texts | "Tag" >> RunInference(self.handler)


def numbered_lines(readable: fileio.ReadableFile, input_format: str = "text"
                   ) -> Iterator[tuple[tuple[str, int], str]]:
    """`((file, line number), text)` for each line of a matched file, empty lines included;
    a line ends at "\n" or "\r\n", as in `tagger tag`."""
    path = readable.metadata.path
    with readable.open() as stream:
        for number, raw in enumerate(stream, 1):  # binary lines end at b"\n" only
            try:
                text = text_of(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
            except UnicodeDecodeError as error:
                raise TaggerError(f"{path}: line {number} is not UTF-8 ({error.reason}); "
                                  "convert the file to UTF-8") from None
            yield (path, number), text if input_format == "text" else json_text(text, path,
                                                                               number)


def numbered_chunks(readable: fileio.ReadableFile, input_format: str = "text"
                    ) -> Iterator[tuple[tuple[str, int], list[str]]]:
    """`((file, first line number), texts)` for each run of CHUNK_LINES lines of a matched
    file (`numbered_lines`'s lines, in order)."""
    chunk: list[str] = []
    first = 1
    for (path, number), text in numbered_lines(readable, input_format):
        if not chunk:
            first = number
        chunk.append(text)
        if len(chunk) == CHUNK_LINES:
            yield (path, first), chunk
            chunk = []
    if chunk:
        yield (readable.metadata.path, first), chunk


def record(key: tuple[str, int], tagged) -> str:
    """One JSON Lines record: `tagger tag`'s, with its source file and line."""
    source, line = key
    return json.dumps({"source": source, "line": line, **tagged.to_dict()},
                      ensure_ascii=False)


def chunk_records(key: tuple[str, int], tagged: list) -> str:
    """A chunk's JSON Lines records (`record`), its lines numbered from the key's."""
    source, first = key
    return "\n".join(record((source, first + i), t) for i, t in enumerate(tagged))


def tag_files(pipeline: beam.Pipeline, files: str | Sequence[FileMetadata], output: str,
              model: str, *, input_format: str = "text", runtime: str = "auto",
              threads: int = 1, min_confidence: float = 0.0) -> None:
    """Add to `pipeline`: read `files` (a pattern, matched now, when the pipeline is built,
    or the files `matched` gave: each file is an element, so a runner can spread files over
    workers from the start), tag their lines, write sharded JSON Lines to
    `output`-SSSSS-of-NNNNN.jsonl (none if the files hold no line). Lines travel in chunks
    of CHUNK_LINES."""
    _ = (pipeline
         | "Files" >> beam.Create(matched(files) if isinstance(files, str) else list(files))
         | "Open" >> fileio.ReadMatches()
         | "Chunks" >> beam.FlatMap(numbered_chunks, input_format)
         # Breaks fusion: else the worker that reads a file also tags all of it.
         | "Spread" >> beam.Reshuffle()
         | "Tag" >> beam.ParDo(TagChunks(model, runtime, threads, min_confidence))
         | "Write" >> WriteShards(output))


def matched(pattern: str) -> list[FileMetadata]:
    """The files `pattern` matches, in name order; none is an error naming the option."""
    found = FileSystems.match([pattern])[0].metadata_list
    if not found:
        raise TaggerError(f"`input` {pattern} matches no file", param="input")
    return sorted(found, key=lambda metadata: metadata.path)


_RUNNING = {"multi_processing": ("worker process", "worker processes"),
            "multi_threading": ("worker thread", "worker threads")}


DASK_NAMES = ("dask", "daskrunner", "apache_beam.runners.dask.dask_runner.daskrunner")


def runner_of(flags: list[str], dask_address: str | None = None, dask_workers: int = 0,
              files: int = 1):
    """Beam's options from its command-line `flags`, the runner for them and the line that
    names it: `--runner dask`, Beam's DaskRunner on the scheduler at `dask_address` (None:
    on a local cluster of `dask_workers` processes, one per CPU if 0, whose address
    `local_cluster` puts in the options), its bag of `files` input files in as many
    partitions unless `--dask_npartitions` or `--dask_partition_size` say otherwise (the
    DaskRunner's `Reshuffle` moves nothing: files are what its workers share); another
    `--runner` as Beam makes it (None); else
    the FnApiRunner, with worker processes unless `--direct_running_mode` says otherwise,
    one per CPU unless `--direct_num_workers` does (the options are completed to say so)."""
    options = PipelineOptions(flags)
    given = options.view_as(StandardOptions).runner
    if given is not None and given.lower() in DASK_NAMES:
        try:
            import distributed  # noqa: F401  (DaskRunner imports it only when it runs)
            from apache_beam.runners.dask.dask_runner import DaskOptions, DaskRunner
        except ImportError:
            raise TaggerError("--runner dask needs Dask: pip install 'tagger[beam]'",
                              param="runner") from None
        options.view_as(StandardOptions).runner = None
        dask = options.view_as(DaskOptions)
        dask.address = dask_address
        if dask.npartitions is None and dask.partition_size is None:
            dask.npartitions = max(1, files)
        count = dask_workers or os.cpu_count() or 1
        where = (f"the scheduler at {dask_address}" if dask_address else
                 f"a local cluster of {count} worker process{'es' * (count > 1)}")
        return options, DaskRunner(), f"runner: DaskRunner, {where}"
    if given is not None:
        return options, None, f"runner: {given} (--runner)"
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    def given(name: str) -> bool:
        return any(flag == f"--{name}" or flag.startswith(f"--{name}=") for flag in flags)

    direct = options.view_as(DirectOptions)
    if not given("direct_running_mode"):
        direct.direct_running_mode = "multi_processing"
    if not given("direct_num_workers") or not direct.direct_num_workers:  # 0: one per CPU
        direct.direct_num_workers = os.cpu_count() or 1
    # As Beam's DirectRunner makes it: the options reach the SDK workers.
    provision = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(
        pipeline_options=JobServiceHandle.encode_pipeline_options(
            options.get_all_options())))
    mode, workers = direct.direct_running_mode, direct.direct_num_workers
    return (options, fn_runner.FnApiRunner(provision_info=provision),
            "runner: FnApiRunner, " + (f"{workers} {_RUNNING[mode][workers > 1]}"
                                       if mode in _RUNNING else "in this process"))


def check(model: str, pattern: str) -> list[FileMetadata]:
    """Fail before the pipeline starts on what can be checked here: a local model folder
    that is not one, a pattern that matches no file. Returns the files it matches."""
    if FileSystems.get_scheme(model) in (None, "file"):
        model_folder.read(local_folder(model))
    return matched(pattern)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tagger.apps.beam", description=__doc__.split("\n\n")[0],
        epilog="Other options go to Beam (e.g. --runner, --direct_num_workers).")
    parser.add_argument("--model", required=True, help="model folder (local, gs://, ...)")
    parser.add_argument("--input", required=True, help="file pattern, e.g. 'texts/*.txt'")
    parser.add_argument("--output", required=True, help="output prefix of the shards")
    parser.add_argument("--input-format", choices=INPUT_FORMATS, default="text")
    parser.add_argument("--runtime", choices=CHOICES, default="auto")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per worker process for the network (default 1)")
    parser.add_argument("--min-confidence", type=float, default=0.0)
    parser.add_argument("--verbose", action="store_true",
                        help="Beam's own logs on stderr (else in a file, kept on failure)")
    parser.add_argument("--dask-address",
                        help="with --runner dask: an existing Dask scheduler (tcp://HOST:PORT)")
    parser.add_argument("--dask-workers", type=int, default=0,
                        help="with --runner dask and no --dask-address: the worker processes "
                             "of the local cluster the job starts (default: one per CPU)")
    return parser


# A TaggerError raised in a worker reaches the launcher inside Beam's own error, as text;
# Beam adds the step it was running.
_WORKER_ERROR = re.compile(r"TaggerError: (.+)$", re.MULTILINE)
_STEP = re.compile(r" \[while running [^\]]*\]$")
# A worker process that died: the FnApiRunner loses its channels, Dask gives up on a task
# after its workers died running it a few times (it first runs the task elsewhere).
_LOST_WORKER = re.compile(r"Channel closed prematurely|Worker subprocess exited|KilledWorker")
LOST_WORKER = ("a worker process ended unexpectedly (killed, or out of memory); no shard was "
               "written: run again (with more memory per worker if it ran out)")


def main(argv: list[str] | None = None) -> None:
    args, beam_args = _parser().parse_known_args(argv)
    log = None
    try:
        files = check(args.model, args.input)
        options, runner, line = runner_of(beam_args, args.dask_address, args.dask_workers,
                                          len(files))
        on_dask = type(runner).__name__ == "DaskRunner"
        if not on_dask and (args.dask_address or args.dask_workers):
            raise TaggerError("--dask-address and --dask-workers go with --runner dask",
                              param="runner")
        print(line, file=sys.stderr, flush=True)
        with contextlib.ExitStack() as stack:
            log = stack.enter_context(_beam_log(args.verbose))
            if on_dask and args.dask_address is None:
                stack.enter_context(local_cluster(options, args.dask_workers))
            pipeline = beam.Pipeline(runner=runner, options=options)
            tag_files(pipeline, files, args.output, args.model,
                      input_format=args.input_format, runtime=args.runtime,
                      threads=args.threads, min_confidence=args.min_confidence)
            result = pipeline.run()
            # The DaskRunner's client outlives its job: closed here, before the cluster.
            client = getattr(result, "client", None)
            stack.callback(lambda: client is not None and client.close())
            result.wait_until_finish()
        if not any(file.size_in_bytes for file in files):  # no line: one empty shard
            FileSystems.create(shard_names(args.output, 1, ".jsonl")[0]).close()
    except Exception as error:
        _remove_temporary_shards(args.output)
        found = ([str(error)] if isinstance(error, TaggerError)
                 else _WORKER_ERROR.findall(str(error)))
        if not found and _LOST_WORKER.search(f"{type(error).__name__}: {error}"):
            found = [LOST_WORKER]
        if not found:  # not a user's mistake: Beam's traceback says what went wrong
            raise
        sys.exit(f"error: {_STEP.sub('', found[-1].strip())}"
                 + (f" (Beam's log: {log})" if log else ""))
    if log:
        Path(log).unlink()


@contextlib.contextmanager
def local_cluster(options: PipelineOptions, workers: int) -> Iterator[str]:
    """A Dask cluster on this machine for one job: `workers` worker processes (one per CPU
    if 0) of one thread each, its scheduler's address put in `options`."""
    from apache_beam.runners.dask.dask_runner import DaskOptions
    from distributed import LocalCluster

    with LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                      processes=True, dashboard_address=None) as cluster:
        options.view_as(DaskOptions).address = cluster.scheduler_address
        yield cluster.scheduler_address


@contextlib.contextmanager
def _beam_log(verbose: bool) -> Iterator[str | None]:
    """Beam's own logging and its workers' output (a failing element's traceback, printed
    by each worker) go to a file, named in the error if the pipeline fails; `verbose`
    leaves them on stderr."""
    if verbose:
        yield None
        return
    sys.stderr.flush()
    with tempfile.NamedTemporaryFile("w", prefix="tagger-beam-", suffix=".log",
                                     delete=False) as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)  # worker processes inherit this descriptor
        try:
            yield log.name
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _remove_temporary_shards(output: str) -> None:
    """A failed pipeline writes no shards, but leaves `WriteShards`' temporary folder."""
    if FileSystems.get_scheme(output) not in (None, "file"):
        return
    prefix = Path(output.removeprefix("file://"))
    for folder in prefix.parent.glob(f"{TEMPORARY_PREFIX}{prefix.name}-*"):
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    # Run as the importable module, not as __main__: Dask pickles __main__'s classes by
    # value, with the globals they use (a lock cannot be pickled), and the other runners'
    # workers import the module by its name.
    from tagger.apps import beam as importable

    importable.main()
