"""Batch tagging of files and stdin: read lines or CoNLL sentences, tag, write in order.

Output is JSON Lines, CoNLL or readable text. A file output appears only when complete.
Reading, tagging and writing go chunk by chunk, so memory stays bounded on any input size.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tagger import conll
from tagger.errors import TaggerError
from tagger.files import atomic_file
from tagger.progress import Progress, clock, rate

FORMATS = ("text", "json", "conll")


def render(tagged, fmt: str) -> str:
    """One tagged text in `fmt`, ending in a newline. `tagged` is a `tagging.Tagged`."""
    if fmt == "json":
        return json.dumps(tagged.to_dict(), ensure_ascii=False) + "\n"
    if fmt == "conll":
        rows = zip(tagged.tokens, tagged.tags, strict=True)
        return "".join(f"{w}\t{t}\n" for w, t in rows) + "\n"
    pairs = " ".join(f"{w}/{t}" for w, t in zip(tagged.tokens, tagged.tags, strict=True))
    spans = "".join(f"  {s.label}\t{s.start}-{s.end}\t{s.text}\n" for s in tagged.spans)
    return pairs + "\n" + spans


@contextlib.contextmanager
def output_stream(target: str) -> Iterator[TextIO]:
    """stdout for '-', else a temporary file beside `target` renamed into place on success."""
    if target == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    path = Path(target)
    if path.is_dir():
        raise TaggerError(f"--output {target} is a directory; give a file path")
    folder = path.absolute().parent
    if not folder.is_dir():
        raise TaggerError(f"--output {target}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise TaggerError(f"--output {target}: folder {folder} is not writable")
    with atomic_file(path) as stream:
        yield stream


INPUT_FORMATS = ("text", "conll", "conllu")


@dataclass
class Source:
    """An opened input: its lines, its name for messages, and its format (INPUT_FORMATS)."""

    lines: Iterable[str]
    name: str
    format: str
    size: int | None = None  # bytes, for files: progress shows an ETA

    @property
    def pretokenized(self) -> bool:
        return self.format != "text"


def open_input(path: str, input_format: str | None) -> Source:
    """Open a file (or '-' for stdin) for tagging; errors name the file and what to do."""
    if path == "-":
        stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8")
        return Source(_decoded(stream, "stdin"), "stdin", input_format or "text")
    file = Path(path)
    if not file.exists():
        raise TaggerError(f"--input {path} does not exist")
    by_suffix = {".conll": "conll", ".conllu": "conllu"}.get(file.suffix.lower(), "text")
    return Source(conll.open_text(file), path, input_format or by_suffix,
                  size=file.stat().st_size)


def _decoded(stream: TextIO, name: str) -> Iterator[str]:
    try:
        yield from stream
    except UnicodeDecodeError as error:
        raise TaggerError(f"{name} is not UTF-8 text ({error.reason}); convert it to UTF-8") \
            from None


def _items(source: Source, lines: Iterable[str]) -> Iterator[str] | Iterator[list[str]]:
    """Lines without their line ends, or token lists of CoNLL / CoNLL-U sentences."""
    if source.format == "conllu":  # the token is the FORM column; IDs come first
        return ([row[1] for row in rows]
                for rows in conll.conllu_sentences(lines, source.name))
    if source.format == "conll":
        return ([row[0] for row in rows]
                for rows in conll.conll_sentences(lines, source.name))
    return (line.rstrip("\n").rstrip("\r") for line in lines)


class _Counted:
    """Passes lines through, counting their characters (about the bytes read, for an ETA)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = lines
        self.chars = 0

    def __iter__(self) -> Iterator[str]:
        for line in self.lines:
            self.chars += len(line)
            yield line


def _eta(source: Source, read: _Counted, elapsed: float) -> str:
    if not source.size or not read.chars:
        return ""
    left = max(source.size - read.chars, 0) / read.chars * elapsed
    return f"  ETA {clock(left)}"


def tag_file(tagger, source: Source, output: str, fmt: str, *, quiet: bool = False,
             progress: Progress | None = None) -> int:
    """Tag every line (or CoNLL sentence) of `source` into `output`; returns records written.

    Exactly one record per input line, in input order, empty lines included.
    """
    progress = progress or Progress(enabled=not quiet)
    read = _Counted(source.lines)
    started = time.monotonic()
    records = tokens = 0
    with contextlib.ExitStack() as stack:
        if hasattr(source.lines, "__exit__"):
            stack.enter_context(source.lines)
        stream = stack.enter_context(output_stream(output))
        for tagged in tagger.tag_stream(_items(source, read), pretokenized=source.pretokenized):
            stream.write(render(tagged, fmt))
            records += 1
            tokens += len(tagged.tokens)
            elapsed = time.monotonic() - started
            progress.update(f"{records:,} records  {tokens:,} tokens  {rate(tokens, elapsed)}"
                            f"{_eta(source, read, elapsed)}")
        if records == 0:
            raise TaggerError(f"{source.name} is empty: nothing to tag")
    progress.line(f"tagged {records:,} records, {tokens:,} tokens in "
                  f"{time.monotonic() - started:.1f} s "
                  f"({rate(tokens, time.monotonic() - started)})")
    return records


def tag_texts(tagger, texts: list[str], output: str, fmt: str) -> None:
    """Tag a few texts given on the command line."""
    with output_stream(output) as stream:
        for tagged in tagger.tag(texts):
            stream.write(render(tagged, fmt))
