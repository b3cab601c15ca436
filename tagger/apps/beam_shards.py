"""`WriteShards`: lines of text to sharded files, written once on every Beam runner.

Beam's `WriteToText` finalizes its shards in a step that reads the written files' names as a
side input; the DaskRunner computes a side input's whole graph again, so every line was
tagged twice there. Here the names travel as a main input through one `GroupByKey` instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

TEMPORARY_PREFIX = "beam-temp-"  # as WriteToText's, so one clean-up finds both


def temporary_folder(output: str) -> str:
    """A new folder beside output prefix `output` for the temporary files of one job."""
    parent, name = FileSystems.split(output)
    return FileSystems.join(parent, f"{TEMPORARY_PREFIX}{name}-{uuid.uuid4().hex}")


def shard_names(output: str, count: int, suffix: str) -> list[str]:
    """`output`-SSSSS-of-NNNNN`suffix`, the names WriteToText gives `count` shards."""
    return [f"{output}-{i:05d}-of-{count:05d}{suffix}" for i in range(count)]


class _WriteBundle(beam.DoFn):
    """Each bundle's lines into one new temporary file; yields its path."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def start_bundle(self) -> None:
        self._path: str | None = None
        self._file = None

    def process(self, line: str):  # outputs nothing: Beam refuses a `-> None` hint here
        if self._file is None:
            self._path = FileSystems.join(self.folder, uuid.uuid4().hex)
            self._file = FileSystems.create(self._path)
        self._file.write(line.encode("utf-8") + b"\n")

    def finish_bundle(self) -> Iterator:
        if self._file is not None:
            self._file.close()
            yield GlobalWindows.windowed_value(self._path)


def _rename(written: tuple[None, Iterable[str]], output: str, folder: str, suffix: str
            ) -> list[str]:
    """The temporary files written, `(None, paths)`, renamed to the shards, the folder
    removed. A retried run of this step finishes what the first began (a file already
    renamed is not there, nor perhaps the folder)."""
    paths = sorted(written[1])
    names = shard_names(output, len(paths), suffix)
    pending = [(p, n) for p, n in zip(paths, names, strict=True) if FileSystems.exists(p)]
    if pending:
        FileSystems.rename([p for p, _ in pending], [n for _, n in pending])
    if FileSystems.exists(folder):
        FileSystems.delete([folder])
    return names


class WriteShards(beam.PTransform):
    """Lines (str) to files `output`-SSSSS-of-NNNNN`suffix`, one shard per bundle that
    wrote. Shards appear only once every bundle has written: a failed job leaves none (its
    temporary folder, `beam-temp-NAME-*` beside them, is left for the caller to remove).
    Input with no lines writes no shard. Yields the shards' names."""

    def __init__(self, output: str, suffix: str = ".jsonl") -> None:
        super().__init__()
        self.output, self.suffix = output, suffix

    def expand(self, lines):
        folder = temporary_folder(self.output)
        return (lines
                | "WriteBundles" >> beam.ParDo(_WriteBundle(folder))
                | "Together" >> beam.Map(lambda path: (None, path))
                | "Written" >> beam.GroupByKey()
                | "Rename" >> beam.FlatMap(_rename, self.output, folder, self.suffix))
