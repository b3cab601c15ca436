"""Batch tagging of files and stdin: read lines or CoNLL sentences, tag, write in order.

Output is JSON Lines, CoNLL or readable text. A file output appears only when complete.
Reading, tagging and writing go chunk by chunk, so memory stays bounded on any input size.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tagger import conll
from tagger import spans as span_files
from tagger.errors import TaggerError
from tagger.files import atomic_file, writes_in_place
from tagger.progress import Progress, clock, rate
from tagger.settings import MAX_LINE_CHARS

FORMATS = ("text", "json", "conll", "conllu", "spans")
# Lines read, tagged and written as one unit when streaming: bounds memory on any input size.
CHUNK_LINES = 2048
# json.dumps(record, ensure_ascii=False), without making an encoder for every record.
_to_json = json.JSONEncoder(ensure_ascii=False).encode


def render(tagged, fmt: str, confidence: bool = False) -> str:
    """One tagged text in `fmt`, ending in a newline. `tagged` is a `records.Tagged`.

    JSON records always hold confidences; text and CoNLL show them with `confidence`
    (text: word/TAG(0.97) and a fourth column for spans; CoNLL: a third column).
    """
    if fmt == "json":
        return _to_json(tagged.to_dict()) + "\n"
    if fmt == "spans":
        return _to_json(span_files.record(tagged)) + "\n"
    if fmt == "conllu":
        return conllu(tagged)
    rows = zip(tagged.tokens, tagged.tags, tagged.confidences, strict=True)
    if fmt == "conll":
        if confidence:
            return "".join(f"{w}\t{t}\t{c:.4f}\n" for w, t, c in rows) + "\n"
        return "".join(f"{w}\t{t}\n" for w, t, _ in rows) + "\n"
    if confidence:
        pairs = " ".join(f"{w}/{t}({c:.2f})" for w, t, c in rows)
        spans = "".join(f"  {s.label}\t{s.start}-{s.end}\t{s.text}\t{s.confidence:.2f}\n"
                        for s in tagged.spans)
    else:
        pairs = " ".join(f"{w}/{t}" for w, t, _ in rows)
        spans = "".join(f"  {s.label}\t{s.start}-{s.end}\t{s.text}\n" for s in tagged.spans)
    return pairs + "\n" + spans


def conllu(tagged) -> str:
    """One tagged text as a CoNLL-U sentence: `# text`, a line per word with its FORM,
    LEMMA, UPOS, XPOS and FEATS where the model has those columns (`_` otherwise, and for
    HEAD, DEPREL and DEPS), a multiword-token line before the words of each surface token
    holding several, and SpaceAfter=No where no space follows a token. A first column that
    is none of CoNLL-U's (entity tags) goes to MISC as `column=tag`."""
    values = {tagged.column: tagged.tags, **tagged.columns}
    fields = [values.get(name) for name in ("lemma", "upos", "xpos", "feats")]
    other = tagged.column if tagged.column not in conll.CONLLU_COLUMNS else None
    text = tagged.text
    # A sentence of a document may run over a line break; `# text` is one line.
    lines = [f"# text = {' '.join(text.splitlines())}"]
    # A document's sentence has offsets into its document; its text starts at its first
    # token.
    base = tagged.offsets[0][0] if tagged.sentence is not None and tagged.offsets else 0
    spans = [(a - base, b - base) for a, b in tagged.multiword]
    offsets = [(a - base, b - base) for a, b in tagged.offsets]
    count = len(tagged.tokens)
    word = 0
    while word < count:
        start, end = offsets[word]
        # A surface token holding several words: the words inside its span.
        token = next(((a, b) for a, b in spans if a <= start and end <= b), None)
        last = word
        if token is not None:
            start, end = token
            while last + 1 < count and start <= offsets[last + 1][0] \
                    and offsets[last + 1][1] <= end:
                last += 1
        spaced = end >= len(text) or text[end].isspace()
        misc = [] if spaced else ["SpaceAfter=No"]
        if token is not None:
            lines.append(f"{word + 1}-{last + 1}\t{text[start:end]}\t_\t_\t_\t_\t_\t_\t_\t"
                         + ("|".join(misc) or "_"))
            misc = []
        for i in range(word, last + 1):
            own = [f"{other}={tagged.tags[i]}"] if other else []
            cells = [column[i] if column is not None else "_" for column in fields]
            lines.append("\t".join([str(i + 1), tagged.tokens[i], *cells, "_", "_", "_",
                                    "|".join(own + misc) or "_"]))
        word = last + 1
    return "\n".join(lines) + "\n\n"


@contextlib.contextmanager
def output_stream(target: str) -> Iterator[TextIO]:
    """Where tagged records go: stdout for '-'; pipes and devices written in place; a regular
    file through a temporary file renamed over it on success (through a symlink, its target:
    the link stays). A failed write (a full disk) names the output."""
    try:
        with _opened_output(target) as stream:
            yield stream
    except OSError as error:
        if error.filename is None and not isinstance(error, BrokenPipeError):
            error.filename = "standard output" if target == "-" else target
        raise


@contextlib.contextmanager
def _opened_output(target: str) -> Iterator[TextIO]:
    if target == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    path = Path(target)
    if writes_in_place(path):
        with open(path, "w", encoding="utf-8") as stream:
            yield stream
        return
    path = path.resolve() if path.is_symlink() else path
    if path.is_dir():
        raise TaggerError(f"`output` {target} is a directory; give a file path", param="output")
    folder = path.absolute().parent
    if not folder.is_dir():
        raise TaggerError(f"`output` {target}: folder {folder} does not exist", param="output")
    if not os.access(folder, os.W_OK):
        raise TaggerError(f"`output` {target}: folder {folder} is not writable", param="output")
    with atomic_file(path) as stream:
        yield stream


INPUT_FORMATS = ("text", "conll", "conllu", "jsonl", "document")


@dataclass
class Source:
    """An opened input: its lines, its name for messages, and its format (INPUT_FORMATS)."""

    lines: Iterable[str]
    name: str
    format: str
    size: int | None = None  # bytes, for files: progress shows an ETA

    @property
    def pretokenized(self) -> bool:
        return self.format in ("conll", "conllu")


def open_input(path: str, input_format: str | None) -> Source:
    """Open a file (or '-' for stdin) for tagging; errors name the file and what to do."""
    if path == "-":
        stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="\n")
        return Source(_decoded(stream, "stdin"), "stdin", input_format or "text")
    file = Path(path)
    if not file.exists():
        raise TaggerError(f"`input` {path} does not exist", param="input")
    by_suffix = {".conll": "conll", ".conllu": "conllu", ".jsonl": "jsonl"}.get(
        file.suffix.lower(), "text")
    return Source(conll.open_text(file), path, input_format or by_suffix,
                  size=file.stat().st_size)


def _decoded(stream: TextIO, name: str) -> Iterator[str]:
    try:
        yield from stream
    except UnicodeDecodeError as error:
        raise TaggerError(f"{name} is not UTF-8 text ({error.reason}); convert it to UTF-8") \
            from None


def _items(source: Source, lines: Iterable[str], max_chars: int = MAX_LINE_CHARS
           ) -> Iterator[str] | Iterator[list[str]]:
    """Lines without their line ends, or token lists of CoNLL / CoNLL-U sentences; a line
    (or sentence) of more than `max_chars` characters is an error."""
    if source.format in ("conll", "conllu"):  # a CoNLL-U token is its FORM; IDs come first
        reader, column = ((conll.conllu_sentences, 1) if source.format == "conllu"
                          else (conll.conll_sentences, 0))
        for number, rows in enumerate(reader(_bounded(lines, source, max_chars),
                                             source.name), 1):
            tokens = [row[column] for row in rows]
            _check_length(sum(map(len, tokens)), f"sentence {number}", source, max_chars)
            yield tokens
        return
    for number, line in enumerate(_bounded(lines, source, max_chars), 1):
        if source.format == "jsonl":
            yield json_text(text_of(line), source.name, number) if line.strip() else ""
        else:
            yield text_of(line)


def _bounded(lines: Iterable[str], source: Source, max_chars: int) -> Iterator[str]:
    """`lines`, each checked against `max_chars` before it is tagged."""
    for number, line in enumerate(lines, 1):
        _check_length(len(line) - line.endswith("\n"), f"line {number}", source, max_chars)
        yield line


def _check_length(length: int, where: str, source: Source, max_chars: int) -> None:
    if length > max_chars:
        raise TaggerError(f"{source.name}: {where} has {length:,} characters, more than "
                          f"`max_chars` ({max_chars:,}); split it into paragraphs, or raise "
                          "`max_chars` (memory grows with the longest line)", param="max_chars")


def json_text(line: str, name: str, number: int) -> str:
    """The "text" of a JSON Lines object (a span file's line, or any object with one)."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise TaggerError(f"{name}: line {number} is not JSON ({error.msg}); each line must "
                          'be an object with a "text" string') from None
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        raise TaggerError(f'{name}: line {number} has no "text" string; each line must be '
                          'an object with a "text" string')
    return value["text"]


def text_of(line: str) -> str:
    """A line without its line end, "\n" or "\r\n"."""
    line = line[:-1] if line.endswith("\n") else line
    return line[:-1] if line.endswith("\r") else line


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


def tag_stream(tagger, items: Iterable[str] | Iterable[list[str]], *, pretokenized: bool,
               min_confidence: float = 0.0) -> Iterator:
    """Tag a stream of lines (or token lists) chunk by chunk, in input order.

    `tagger` is a `pipeline.Tagger`; yields a `records.Tagged` per item. A background thread
    runs the next chunk's tokenizing, ids, network and decoding while this
    one turns the previous chunk into results, so the two overlap. At most two chunks are in
    flight: memory is bounded whatever the stream. Spans below `min_confidence` are left out.
    """
    for chunk in _tagged_chunks(tagger, items, pretokenized, min_confidence):
        yield from chunk


def _tagged_chunks(tagger, items: Iterable[str] | Iterable[list[str]], pretokenized: bool,
                   min_confidence: float) -> Iterator[list]:
    """`tag_stream`'s records a chunk at a time."""
    predict, annotate = ((tagger.predict_tokens, tagger.annotate_tokens) if pretokenized
                         else (tagger.predict_texts, tagger.annotate_texts))
    with ThreadPoolExecutor(max_workers=1) as worker:
        pending: deque = deque()
        for chunk in _chunks(items, CHUNK_LINES):
            pending.append((chunk, worker.submit(predict, chunk)))
            if len(pending) == 2:
                done, future = pending.popleft()
                yield annotate(done, future.result(), min_confidence)
        for done, future in pending:
            yield annotate(done, future.result(), min_confidence)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True)
class Workers:
    """Batch tagging in `jobs` processes: each loads model folder `model` on `runtime` once
    (one thread each) and tags and renders whole chunks; the parent reads, hands out chunks
    and writes their output in input order."""

    model: Path
    runtime: str
    jobs: int
    tokenizer: str = "model"  # how raw text is split (settings.TAGGING_TOKENIZERS)


_worker_tagger = None  # the tagger of a worker process, or the TaggerError loading it gave


def _start_worker(model: Path, runtime: str, tokenizer: str) -> None:
    global _worker_tagger
    from tagger.pipeline import Tagger

    try:
        _worker_tagger = Tagger.load(model, runtime, threads=1, tokenizer=tokenizer)
        _worker_tagger.warn_of_tokenizer = False  # once, by the parent, not per worker
    except TaggerError as error:  # raised with the first chunk: the parent reports it
        _worker_tagger = error


def _tag_chunk(chunk: list, pretokenized: bool, fmt: str, confidence: bool,
               min_confidence: float) -> tuple[str, int, int]:
    """In a worker: a chunk's rendered output, its records and its tokens."""
    tagger = _worker_tagger
    if isinstance(tagger, TaggerError):
        raise tagger
    predict, annotate = ((tagger.predict_tokens, tagger.annotate_tokens) if pretokenized
                         else (tagger.predict_texts, tagger.annotate_texts))
    tagged = annotate(chunk, predict(chunk), min_confidence)
    return ("".join(render(t, fmt, confidence) for t in tagged), len(tagged),
            sum(len(t.tokens) for t in tagged))


def _rendered(tagger, items: Iterable, pretokenized: bool, fmt: str, confidence: bool,
              min_confidence: float) -> Iterator[tuple[str, int, int]]:
    """(output, records, tokens) blocks in input order, a chunk at a time: from this
    process, or from `Workers` with at most two chunks per worker in flight."""
    if not isinstance(tagger, Workers):
        for chunk in _tagged_chunks(tagger, items, pretokenized, min_confidence):
            yield ("".join(render(t, fmt, confidence) for t in chunk), len(chunk),
                   sum(len(t.tokens) for t in chunk))
        return
    # spawn: a forked child would share the parent's runtime threads and locks.
    with ProcessPoolExecutor(tagger.jobs, multiprocessing.get_context("spawn"),
                             initializer=_start_worker,
                             initargs=(tagger.model, tagger.runtime, tagger.tokenizer)) as pool:
        pending: deque = deque()
        try:
            for chunk in _chunks(items, CHUNK_LINES):
                pending.append(pool.submit(_tag_chunk, chunk, pretokenized, fmt, confidence,
                                           min_confidence))
                if len(pending) == 2 * tagger.jobs:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BrokenProcessPool:
            _end_workers(pool)
            raise TaggerError("a tagging worker process ended unexpectedly (killed, or out "
                              "of memory); nothing was written: run again, with fewer "
                              "`jobs`") from None
        except BaseException:  # Ctrl-C, SIGTERM, a bad line: nobody will write the rest
            _end_workers(pool)
            raise


def _end_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a pool's workers now, dropping their queued and running chunks."""
    # ProcessPoolExecutor has no public way to stop a running task before Python 3.14;
    # shutdown forgets the processes, so they are taken first.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()


def tag_file(tagger, source: Source, output: str, fmt: str, *, quiet: bool = False,
             progress: Progress | None = None, min_confidence: float = 0.0,
             confidence: bool = False, max_chars: int = MAX_LINE_CHARS) -> int:
    """Tag every line (or CoNLL sentence) of `source` into `output`; returns records written.

    `tagger` is a loaded tagger, or `Workers` to tag in several processes. Exactly one
    record per input line, in input order, empty lines included. Spans below
    `min_confidence` are left out; `confidence` shows confidences in text and CoNLL output.
    A line (or sentence) longer than `max_chars` characters stops it with an error: memory
    grows with the longest line, and no line is ever left out.
    """
    progress = progress or Progress(enabled=not quiet)
    read = _Counted(source.lines)
    started = time.monotonic()
    records = tokens = 0
    with contextlib.ExitStack() as stack:
        if hasattr(source.lines, "__exit__"):
            stack.enter_context(source.lines)
        stream = stack.enter_context(output_stream(output))
        blocks = _rendered(tagger, _items(source, read, max_chars), source.pretokenized, fmt,
                           confidence,
                           min_confidence)
        stack.enter_context(_collecting_per_block())
        for text, block_records, block_tokens in blocks:
            gc.collect(0)
            stream.write(text)
            records += block_records
            tokens += block_tokens
            elapsed = time.monotonic() - started
            progress.update(f"{records:,} records  {tokens:,} tokens  {rate(tokens, elapsed)}"
                            f"{_eta(source, read, elapsed)}")
        if records == 0:
            raise TaggerError(f"{source.name} is empty: nothing to tag")
    progress.line(f"tagged {records:,} records, {tokens:,} tokens in "
                  f"{time.monotonic() - started:.1f} s "
                  f"({rate(tokens, time.monotonic() - started)})")
    return records


@contextlib.contextmanager
def _collecting_per_block() -> Iterator[None]:
    """Python's cyclic garbage collector paused while tagging, but for one young-generation
    collection per block: each block allocates many small lists and dicts that hold no
    cycles, which would otherwise set off a collection every few hundred records (the
    README's Speed section gives the effect)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def render_document(records: list, name: str, fmt: str, confidence: bool = False,
                    paragraph: int | None = None) -> str:
    """A tagged document's sentences in `fmt`: CoNLL-U gains `# newdoc id = NAME`, `# newpar`
    before each paragraph's first sentence and `# sent_id` (from 1); a JSON record gains
    `document` (NAME) beside its `paragraph` and `sentence`. `paragraph`: that of the
    sentence before `records`, where they continue a document."""
    pieces = []
    for tagged in records:
        if fmt == "json":
            pieces.append(_to_json({**tagged.to_dict(), "document": name}) + "\n")
            continue
        if fmt == "conllu":
            headers = [f"# newdoc id = {name}"] if tagged.sentence == 0 else []
            if tagged.paragraph != paragraph:
                headers.append("# newpar")
            headers.append(f"# sent_id = {tagged.sentence + 1}")
            pieces.append("\n".join(headers) + "\n")
        paragraph = tagged.paragraph
        pieces.append(render(tagged, fmt, confidence))
    return "".join(pieces)


def tag_document(tagger, source: Source, output: str, fmt: str, *, quiet: bool = False,
                 min_confidence: float = 0.0, confidence: bool = False,
                 max_chars: int = MAX_LINE_CHARS) -> int:
    """Tag `source` as one document (`pipeline.Tagger.tag_documents`: paragraphs at blank
    lines, sentences where the model ends them) into `output`; returns the sentences
    written. A document of more than `max_chars` characters is an error: it is held
    whole."""
    progress = Progress(enabled=not quiet)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if hasattr(source.lines, "__exit__"):
            stack.enter_context(source.lines)
        pieces, length = [], 0
        for line in source.lines:
            length += len(line)
            if length > max_chars:
                raise TaggerError(f"{source.name} has more than `max_chars` ({max_chars:,}) "
                                  "characters, and a document is held whole: raise "
                                  "`max_chars`, or split the document into files",
                                  param="max_chars")
            pieces.append(line)
        text = "".join(pieces)
        if not text.strip():
            raise TaggerError(f"{source.name} is empty: nothing to tag")
        name = Path(source.name).name
        sentences = tokens = 0
        paragraph = None
        with output_stream(output) as stream, _collecting_per_block():
            for records in tagger.stream_document(text, min_confidence):
                gc.collect(0)
                stream.write(render_document(records, name, fmt, confidence, paragraph))
                paragraph = records[-1].paragraph if records else paragraph
                sentences += len(records)
                tokens += sum(len(r.tokens) for r in records)
                progress.update(f"{sentences:,} sentences  {tokens:,} tokens  "
                                f"{rate(tokens, time.monotonic() - started)}")
    progress.line(f"tagged {sentences:,} sentences, {tokens:,} tokens in "
                  f"{time.monotonic() - started:.1f} s "
                  f"({rate(tokens, time.monotonic() - started)})")
    return sentences


def tag_texts(tagger, texts: list[str], output: str, fmt: str, *, min_confidence: float = 0.0,
              confidence: bool = False) -> None:
    """Tag a few texts given on the command line (options as for `tag_file`)."""
    with output_stream(output) as stream:
        for tagged in tagger.tag(texts, min_confidence):
            stream.write(render(tagged, fmt, confidence))
