"""Reading the plain column formats users bring: CoNLL (2002/2003, WNUT) and CoNLL-U."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from tagger.errors import TaggerError

CONLLU_COLUMNS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")
# The hub's universal_dependencies layout names CoNLL-U's lemma column `lemmas`.
HUB_NAMES = {"lemmas": "lemma"}


def is_conllu(path: Path) -> bool:
    return path.suffix.lower() == ".conllu"


def _split_row(line: str) -> list[str]:
    # WNUT files are tab separated and may hold tokens with odd characters; CoNLL-2003 uses
    # single spaces. A tab on the line decides.
    return line.split("\t") if "\t" in line else line.split()


def blocks(lines: Iterable[str]) -> Iterator[list[tuple[int, str]]]:
    """Groups of (line number, line) between lines that are empty or only white space."""
    block: list[tuple[int, str]] = []
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if line.strip():
            block.append((number, line))
        elif block:
            yield block
            block = []
    if block:
        yield block


def conll_sentences(lines: Iterable[str], name: str) -> Iterator[list[list[str]]]:
    """Sentences of a CoNLL file as lists of rows (lists of columns).

    Sentences end at a line that is empty or holds only white space (WNUT marks most breaks
    with a lone tab). `-DOCSTART-` lines are document markers, not sentences.
    """
    for block in blocks(lines):
        rows = []
        for number, line in block:
            row = [c.strip() for c in _split_row(line)]
            if row[0] == "-DOCSTART-":
                continue
            if not row[0]:
                raise TaggerError(f"{name}:{number}: the line starts with an empty token; "
                                  "CoNLL rows are 'TOKEN [COLUMNS...] TAG'")
            rows.append(row)
        if rows:
            yield rows


def document_numbers(path: Path) -> list[int] | None:
    """The document number of each sentence of a CoNLL or CoNLL-U file, as `read_columns`
    reads its sentences, counted from 0 at each CoNLL `-DOCSTART-` line or CoNLL-U
    `# newdoc` comment; None where the file marks no documents."""
    conllu = is_conllu(path)
    numbers: list[int] = []
    number, marked = 0, False
    with open_text(path) as lines:
        for block in blocks(lines):
            if conllu:
                starts = any(line.startswith("# newdoc") for _, line in block)
                words = any(not line.startswith("#") for _, line in block)
            else:
                firsts = [_split_row(line)[0].strip() for _, line in block]
                starts = "-DOCSTART-" in firsts
                words = any(first != "-DOCSTART-" for first in firsts)
            if starts:
                number += marked  # the first document is number 0
                marked = True
            if words:
                numbers.append(number)
    return numbers if marked else None


def conllu_sentences(lines: Iterable[str], name: str) -> Iterator[list[list[str]]]:
    """Sentences of a CoNLL-U file: syntactic words only.

    Multiword-token range lines (`1-2`) and empty nodes (`8.1`) are skipped, as the UD
    treebanks' word-level annotation (UPOS, XPOS) belongs to the syntactic words.
    """
    for block in blocks(lines):
        rows = [row for _, row in conllu_rows(block, name)
                if "-" not in row[0] and "." not in row[0]]
        if rows:
            yield rows


def conllu_rows(block: list[tuple[int, str]], name: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, its 10 columns) of each word, multiword-token or empty-node line of a
    CoNLL-U sentence block (comments skipped)."""
    for number, line in block:
        if line.startswith("#"):
            continue
        row = line.split("\t")
        if len(row) != 10:
            raise TaggerError(f"{name}:{number}: a CoNLL-U line has 10 tab-separated "
                              f"columns, this one has {len(row)}")
        yield number, row


def column_index(tag_column: str | None, conllu: bool) -> int:
    """The column that holds the tags: a CoNLL-U column name, or a 0-based / negative index."""
    if tag_column is None:
        return CONLLU_COLUMNS.index("upos") if conllu else -1
    name = HUB_NAMES.get(tag_column.lower(), tag_column.lower())
    if conllu and name in CONLLU_COLUMNS:
        return CONLLU_COLUMNS.index(name)
    try:
        return int(tag_column)
    except ValueError:
        names = ", ".join(CONLLU_COLUMNS[1:]) if conllu else "a column number, e.g. -1 (the last)"
        raise TaggerError(f"`tag_column` {tag_column!r} does not name a column of this file; "
                          f"use {names}", param="tag_column") from None


def read_tagged(path: Path, tag_column: str | None) -> list[tuple[list[str], list[str]]]:
    """(tokens, tags) for each sentence of a CoNLL or CoNLL-U file."""
    return [(tokens, tags) for tokens, tags, _ in read_columns(path, tag_column, ())]


def read_columns(path: Path, tag_column: str | None, more: tuple[str, ...]
                 ) -> list[tuple[list[str], list[str], list[list[str]]]]:
    """(tokens, tags, the values of each column of `more`) for each sentence of a CoNLL or
    CoNLL-U file; columns are named as `column_index` reads them."""
    conllu = is_conllu(path)
    indices = [column_index(tag_column, conllu), *(column_index(c, conllu) for c in more)]
    token_index = 1 if conllu else 0
    reader = conllu_sentences if conllu else conll_sentences
    sentences = []
    with open_text(path) as lines:
        for rows in reader(lines, str(path)):
            width = min(len(r) for r in rows)
            for index in indices:
                if not -width <= index < width or (not conllu and index in (0, -width)):
                    raise TaggerError(
                        f"{path}: `tag_column` {index} is out of range: its rows have "
                        f"{width} columns, the first being the token", param="tag_column")
            sentences.append(([r[token_index] for r in rows], [r[indices[0]] for r in rows],
                              [[r[index] for r in rows] for index in indices[1:]]))
    if not sentences:
        raise TaggerError(f"{path}: no sentences found; is it a CoNLL file?")
    return sentences


def open_text(path: Path):
    """Open a UTF-8 text file (without its byte-order mark, if any), turning OS and decoding
    errors into one-line messages."""
    if path.is_dir():
        raise TaggerError(f"{path} is a directory; give a file")
    try:
        # Lines end at "\n" only: a lone "\r" or U+2028 inside a line is part of its text.
        # utf-8-sig: a byte-order mark that editors put first is dropped, not read as text.
        # The guard closes the handle.
        handle = open(path, encoding="utf-8-sig", newline="\n")  # noqa: SIM115
    except OSError as error:
        raise TaggerError(f"cannot read {path}: {error.strerror}") from None
    return _DecodingGuard(handle, path)


class _DecodingGuard:
    """Iterates a text file's lines; a UnicodeDecodeError becomes a TaggerError naming the file."""

    def __init__(self, handle, path: Path) -> None:
        self._handle = handle
        self._path = path

    def __enter__(self) -> _DecodingGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def __iter__(self) -> Iterator[str]:
        try:
            yield from self._handle
        except UnicodeDecodeError:
            line, reason = _first_undecodable_line(self._path)
            raise TaggerError(f"{self._path}: line {line} is not UTF-8 ({reason}); convert "
                              "the file to UTF-8") from None


def _first_undecodable_line(path: Path) -> tuple[int, str]:
    """The number of the first line of `path` that is not UTF-8, and why. The text reader
    decodes in chunks, so its error does not say which line; read again, line by line (a
    UTF-8 character never holds the byte of "\n")."""
    with open(path, "rb") as raw:
        number = 0
        for number, line in enumerate(raw, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                return number, error.reason
    return number, "cut short"  # the file changed since: name its end
