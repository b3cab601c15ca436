"""Loading a tagged corpus from the hub, a local dataset folder or files, or CoNLL files.

Everything ends up as a `Corpus`: per split, sentences of (tokens, tag strings), plus the
label names (from the dataset's `ClassLabel` feature where it has one) and the tag scheme.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tagger import conll, schemes
from tagger import spans as span_files
from tagger.errors import TaggerError
from tagger.text import surface
from tagger.text.surface import Surface

Sentence = tuple[list[str], list[str]]

DEFAULT_TAG_COLUMNS = ("ner_tags", "upos", "pos_tags")
TABLE_SUFFIXES = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".csv": "csv",
                  ".arrow": "arrow"}
# The CoNLL-U "no annotation" label: the hub's universal_dependencies loader gives it to the
# surface form of a multiword token ("don't"), whose syntactic words ("do", "n't") follow.
UNANNOTATED = "_"
# The tag column a corpus of span files records: its tags come from the spans.
SPANS_COLUMN = "spans"


@dataclass(frozen=True)
class CorpusSource:
    """Which corpus: the one description that the command line, recipes, training, the
    model folder, evaluation and ensembles pass around.

    `dataset` is a hub name, a dataset folder, a file or folder of tables or CoNLL(-U)
    text, or split=path pairs; `config` and `revision` choose a hub dataset's configuration
    and revision; `tag_column` holds the tags (None: the first of the default columns the
    dataset has) and `token_column` the tokens.
    """

    dataset: str
    config: str | None = None
    revision: str | None = None
    tag_column: str | None = None
    token_column: str = "tokens"
    # Tag columns learned beside `tag_column`, one head each (`tagger train --columns`).
    columns: tuple[str, ...] = ()

    def load(self, default_tag_columns: tuple[str, ...] = DEFAULT_TAG_COLUMNS) -> Corpus:
        """The corpus, as `load_corpus` reads it."""
        return load_corpus(**dataclasses.asdict(self), default_tag_columns=default_tag_columns)


SOURCE_KEYS = tuple(f.name for f in dataclasses.fields(CorpusSource))


@dataclass
class Corpus:
    name: str
    splits: dict[str, list[Sentence]]
    labels: list[str]
    tag_column: str
    scheme: str
    notes: list[str] = field(default_factory=list)
    # Where it came from, its tag column resolved: a model records it to name its corpus.
    source: CorpusSource | None = None
    # Per split, its sentences' raw text with their surface tokens, for learning a
    # tokenizer: the corpus's own text where it has one (a `text` column, CoNLL-U
    # `# text`), else its words joined as text is usually spaced (`surface.rebuilt`).
    surfaces: dict[str, list[Surface]] = field(default_factory=dict)
    # Whether `surfaces` hold the corpus's own text (False: rebuilt from its words).
    has_text: bool = False
    # The values of each further tag column (`CorpusSource.columns`), by column and split:
    # a list per sentence, aligned with `splits`.
    more: dict[str, dict[str, list[list[str]]]] = field(default_factory=dict)
    license: str | None = None  # as the corpus's metadata (a hub dataset's card) states it
    # Per split, each sentence's document number where its files mark documents (CoNLL
    # -DOCSTART-, CoNLL-U # newdoc): the neighbours a model with document context reads.
    documents: dict[str, list[int]] = field(default_factory=dict)

    def column(self, name: str, split: str) -> list[list[str]]:
        """The values of tag column `name` (the first, or one of `more`) in a split."""
        if name == self.tag_column:
            return [tags for _, tags in self.split(split)]
        return self.more[name][canonical_split(split)]

    def split(self, name: str, chosen_by: str = "split") -> list[Sentence]:
        """A split by name; `dev` and `validation` stand for each other. `chosen_by`: the
        parameter the caller's user chose it with, which a missing split's error names:
        "split" for one to score, "dataset" for the train and validation splits of training.
        """
        name = canonical_split(name)
        if name not in self.splits:
            remedy = ("choose one with `split`" if chosen_by == "split" else
                      "give a corpus that has it, or its files as `dataset` "
                      "train=FILE,validation=FILE")
            raise TaggerError(f"{self.name} has no {name} split (it has: "
                              f"{', '.join(self.splits)}); {remedy}", param=chosen_by)
        return self.splits[name]


def canonical_split(name: str) -> str:
    """Split name from a split or file name: train, validation (dev, testa) or test."""
    lowered = name.lower()
    if re.search(r"dev|valid|testa", lowered):
        return "validation"
    if "test" in lowered:
        return "test"
    if "train" in lowered:
        return "train"
    return lowered


def load_corpus(dataset: str, *, config: str | None = None, tag_column: str | None = None,
                token_column: str = "tokens", revision: str | None = None,
                columns: tuple[str, ...] = (),
                default_tag_columns: tuple[str, ...] = DEFAULT_TAG_COLUMNS) -> Corpus:
    """Load `dataset`: a hub name, a local folder or file, or `split=path,...` pairs.

    Local files may be parquet, JSON (Lines) or CSV tables with a tokens and a tag column, or
    CoNLL / CoNLL-U text. IOB1 entity tags are converted to IOB2. Without `tag_column`, the
    first of `default_tag_columns` that a dataset has holds the tags. `columns`: further
    tag columns to read (`Corpus.more`).
    """
    more: dict[str, dict[str, list[list[str]]]] = {}
    files = _explicit_files(dataset)
    path = Path(dataset)
    notes: list[str] = []
    license = None  # files state none; a table may (`DatasetInfo.license`)
    documents: dict[str, list[int]] = {}  # files may mark them; tables do not
    if files is None and path.exists():
        files = _files_of(path)
    if files is not None and all(map(span_files.is_span_file, files.values())):
        if columns:
            raise TaggerError("span files hold one tag column, their spans; `columns` "
                              "needs CoNLL-U files or a table", param="columns")
        splits, column = {}, SPANS_COLUMN
        labels = None
        surfaces, has_text = {}, True
        for split, file in files.items():
            converted = span_files.to_sentences(span_files.read(file))
            splits[split] = converted.sentences
            surfaces[split] = converted.surfaces
            if converted.note():
                notes.append(f"{file.name}: {converted.note()}")
    elif files is not None and all(_is_raw(f) for f in files.values()):
        read = {s: conll.read_columns(f, tag_column, columns) for s, f in files.items()}
        splits = {s: [(tokens, tags) for tokens, tags, _ in found]
                  for s, found in read.items()}
        more = {name: {s: [values[i] for _, _, values in found] for s, found in read.items()}
                for i, name in enumerate(columns)}
        labels: list[str] | None = None
        column = tag_column or ("upos" if all(map(conll.is_conllu, files.values())) else "-1")
        documents = {s: numbers for s, f in files.items()
                     if (numbers := conll.document_numbers(f)) is not None}
        found = {s: _file_surfaces(f, splits[s]) for s, f in files.items()}
        surfaces = {s: sentences for s, (sentences, _) in found.items()}
        has_text = all(text for _, text in found.values())
    else:
        tables = _load_tables(dataset, files, path, config, revision, notes)
        splits, labels, column, surfaces = _from_tables(tables, dataset, tag_column,
                                                         token_column, default_tag_columns)
        columns = tuple(_table_column(tables, dataset, name) for name in columns)
        more = {name: {canonical_split(s): [[UNANNOTATED if v is None else str(v)
                                             for v in row] for row in table[name]]
                       for s, table in tables.items()} for name in columns}
        has_text = "text" in next(iter(tables.values())).column_names
        license = next((t.info.license for t in tables.values()
                        if getattr(getattr(t, "info", None), "license", None)), None)
    if column in more:
        raise TaggerError(f"`columns` names {column}, the tag column, again; name each "
                          "column once", param="columns")
    corpus = _finish(dataset, splits, labels, column, notes, more, documents)
    corpus.license = license
    corpus.surfaces = surfaces
    corpus.has_text = has_text
    corpus.source = CorpusSource(dataset, config, revision, corpus.tag_column, token_column,
                                 columns)
    return corpus


def _table_column(tables: Any, dataset: str, name: str) -> str:
    """The table column `name` means: itself, or its name in the hub's layout (`lemma` is
    `lemmas` there) or in CoNLL-U's."""
    found = list(next(iter(tables.values())).column_names)
    for candidate in (name, *(hub for hub, own in conll.HUB_NAMES.items() if own == name),
                      conll.HUB_NAMES.get(name, name)):
        if candidate in found:
            return candidate
    raise TaggerError(f"{dataset} has no column {name!r} (it has: {', '.join(found)}); "
                      "name the tag columns with `columns`", param="columns")


def _file_surfaces(path: Path, sentences: list[Sentence]) -> tuple[list[Surface], bool]:
    """A file's sentences as surfaces, and whether any had its own text: a CoNLL-U
    sentence with its `# text` and multiword tokens (aligned with its words where it has no
    multiword-token lines), rebuilt from its words without `# text`; a CoNLL file's
    sentences rebuilt."""
    if not conll.is_conllu(path):
        return _surfaces(sentences, None, None), False
    found, has_text = [], False
    with conll.open_text(path) as lines:
        for block in conll.blocks(lines):
            rows = [row for _, row in conll.conllu_rows(block, str(path))
                    if "." not in row[0]]
            words = [row for row in rows if "-" not in row[0]]
            if not words:
                continue
            forms, tags = [row[1] for row in words], [row[3] for row in words]
            text = next((line.split("=", 1)[1].strip() for _, line in block
                         if line.startswith("# text") and "=" in line), None)
            if text is None:
                found.append(surface.rebuilt(forms, tags))
                continue
            has_text = True
            try:
                found.append(surface.from_conllu(block, str(path), 3))
            except TaggerError:  # words that do not spell the text: align them
                no_space = ["SpaceAfter=No" in row[9] for row in words]
                aligned = surface.aligned(text, forms, tags, no_space)
                if aligned is not None:
                    aligned.paragraph = any(line.startswith(("# newpar", "# newdoc"))
                                            for _, line in block)
                    aligned.space_after = "SpaceAfter=No" not in rows[-1][9]
                    found.append(aligned)
    return found, has_text


def has_raw_text_files(dataset: str) -> bool:
    """Whether `dataset` names CoNLL-U or span JSON Lines files (`raw_text_file`'s)."""
    return _raw_text_files(dataset, "validation") is not None


def _raw_text_files(dataset: str, split: str) -> dict[str, Path] | None:
    path = Path(dataset)
    files = _explicit_files(dataset)
    if files is None and path.is_file():
        files = {canonical_split(split): path}
    elif files is None and path.is_dir():
        files = _files_of(path)
    if not files or not all(conll.is_conllu(f) or span_files.is_span_file(f)
                            for f in files.values()):
        return None
    return files


def raw_text_file(dataset: str, split: str) -> Path:
    """The CoNLL-U or span JSON Lines file of `split` in `dataset`: the file itself, a file
    of a folder named by its split, or a split=path pair."""
    files = _raw_text_files(dataset, split)
    if files is None:
        raise TaggerError(f"`dataset` {dataset}: scoring from raw text needs CoNLL-U files with "
                          "'# text' lines (e.g. ../shared/data/raw/ud_en_ewt) or span JSON "
                          "Lines", param="dataset")
    name = canonical_split(split)
    if name not in files:
        raise TaggerError(f"{dataset} has no {name} split (it has: {', '.join(files)}); "
                          "choose one with `split`", param="split")
    return files[name]


def _explicit_files(dataset: str) -> dict[str, Path] | None:
    if "=" not in dataset:
        return None
    files = {}
    for part in dataset.split(","):
        split, _, name = part.partition("=")
        if not split or not name:
            raise TaggerError(f"`dataset` {dataset!r}: write split=path pairs joined by commas, "
                              "e.g. train=a.conll,validation=b.conll", param="dataset")
        if not Path(name).is_file():
            raise TaggerError(f"`dataset`: {name} is not a file", param="dataset")
        files[canonical_split(split)] = Path(name)
    return files


def _is_raw(path: Path) -> bool:
    return path.suffix.lower() not in TABLE_SUFFIXES


def _is_saved_dataset(path: Path) -> bool:
    """A folder written by `save_to_disk` (a DatasetDict or a single Dataset)."""
    return (path / "dataset_dict.json").exists() or (path / "state.json").exists()


def _files_of(path: Path) -> dict[str, Path] | None:
    """Split -> file for a single file or a folder of files; None for a datasets folder."""
    if path.is_file():
        return {canonical_split(path.name) if _names_split(path.name) else "train": path}
    if _is_saved_dataset(path):
        return None
    candidates = [p for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() not in {".md", ".txt", ".py", ".lock"}]
    if candidates and (all(_is_raw(p) for p in candidates)
                       or all(map(span_files.is_span_file, candidates))):
        files = {canonical_split(p.name): p for p in candidates if _names_split(p.name)}
        if not files:
            raise TaggerError(f"{path}: cannot tell the splits apart; name the files with "
                              "train / dev / test, or pass `dataset` train=FILE,validation=FILE",
                              param="dataset")
        return files
    return None  # parquet / JSON folder: the datasets library infers its splits


def _names_split(name: str) -> bool:
    return canonical_split(name) in {"train", "validation", "test"}


def _load_tables(dataset: str, files: dict[str, Path] | None, path: Path,
                 config: str | None, revision: str | None, notes: list[str]
                 ) -> dict[str, Any]:
    """A DatasetDict from the datasets library, with its errors turned into one-liners (and
    a note in `notes` when a hub dataset comes from the cache)."""
    import datasets

    from tagger import hub

    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    try:
        if files is not None:
            kinds = {TABLE_SUFFIXES.get(f.suffix.lower()) for f in files.values()}
            if len(kinds) != 1 or None in kinds:
                raise TaggerError(f"`dataset` {dataset}: mixes file kinds; give one kind of file "
                                  "(parquet, JSON Lines, CSV or CoNLL)", param="dataset")
            data_files = {s: str(f) for s, f in files.items()}
            return datasets.load_dataset(kinds.pop(), data_files=data_files)
        if path.is_dir() and _is_saved_dataset(path):
            loaded = datasets.load_from_disk(str(path))
            return loaded if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}
        if path.exists():  # a folder of parquet or JSON tables
            return datasets.load_dataset(dataset, config, revision=revision)
        found = hub.resolve(dataset, revision)  # not a local path: a hub name
        if found.note:
            notes.append(found.note)
        return datasets.load_dataset(found.location, config, revision=found.revision
                                     if found.location == dataset else None)
    except TaggerError:
        raise
    except Exception as error:  # the datasets library raises many types; all are user-facing
        raise TaggerError(_explain_load_error(dataset, config, error), param="dataset") from None


def _explain_load_error(dataset: str, config: str | None, error: Exception) -> str:
    text = str(error)
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    if "scripts are no longer supported" in text:
        return (f"dataset {dataset!r} is a script-based dataset, which the datasets library (4+) "
                f"no longer runs; use its parquet conversion (`dataset` {dataset} `revision` "
                "refs/convert/parquet) or a folder of its parquet files")
    if "Config name is missing" in text or "BuilderConfig" in text:
        return f"dataset {dataset!r} needs `config`: {first}"
    if isinstance(error, (FileNotFoundError, ConnectionError)) or "offline" in text.lower():
        return (f"dataset {dataset!r} not found: it is no local file or folder, and the hub has "
                f"no such dataset or could not be reached ({first})")
    return f"cannot load dataset {dataset!r}: {first}"


def _from_tables(tables: Any, dataset: str, tag_column: str | None, token_column: str,
                 default_tag_columns: tuple[str, ...]
                 ) -> tuple[dict[str, list[Sentence]], list[str] | None, str]:
    first = next(iter(tables.values()))
    columns = list(first.column_names)
    if token_column not in columns:
        raise TaggerError(f"{dataset} has no column {token_column!r} (it has: "
                          f"{', '.join(columns)}); choose one with `token_column`",
                          param="token_column")
    if tag_column is None:
        tag_column = next((c for c in default_tag_columns if c in columns), None)
        if tag_column is None:
            raise TaggerError(f"{dataset} has none of the columns "
                              f"{', '.join(default_tag_columns)}; choose the tag column with "
                              f"`tag_column` (it has: {', '.join(columns)})", param="tag_column")
    elif tag_column not in columns:
        raise TaggerError(f"{dataset} has no column {tag_column!r} (it has: "
                          f"{', '.join(columns)}); choose one with `tag_column`",
                          param="tag_column")
    feature = getattr(first.features[tag_column], "feature", None)
    names = list(feature.names) if hasattr(feature, "names") else None
    splits, surfaces = {}, {}
    for split, table in tables.items():
        tokens = table[token_column]
        tags = table[tag_column]
        if names is not None:
            tags = [[names[t] for t in row] for row in tags]
        splits[canonical_split(split)] = [(list(w), [str(t) for t in row])
                                          for w, row in zip(tokens, tags, strict=True)]
        # Whole columns as lists: a datasets Column decodes a row per index.
        texts = list(table["text"]) if "text" in columns else None
        miscs = list(table["misc"]) if "misc" in columns else None
        surfaces[canonical_split(split)] = _surfaces(splits[canonical_split(split)], texts,
                                                     miscs)
    return splits, names, tag_column, surfaces


def _surfaces(sentences: list[Sentence], texts: list[str] | None,
              miscs: list[list[str]] | None) -> list[Surface]:
    """Each sentence's `Surface`: aligned with its text where it has one, else rebuilt;
    sentences whose words do not spell their text are left out."""
    found = []
    for i, (forms, tags) in enumerate(sentences):
        kept = [(f, t, j) for j, (f, t) in enumerate(zip(forms, tags, strict=True))
                if t != UNANNOTATED]  # the hub's multiword surface forms: the text has them
        words = [f for f, _, _ in kept]
        labels = [t for _, t, _ in kept]
        if not words:
            continue
        if texts is None or not isinstance(texts[i], str):
            found.append(surface.rebuilt(words, labels))
            continue
        no_space = None
        if miscs is not None and miscs[i] is not None:
            no_space = ["SpaceAfter=No" in (miscs[i][j] or "") for _, _, j in kept]
        sentence = surface.aligned(texts[i], words, labels, no_space)
        if sentence is not None:
            if miscs is not None and miscs[i]:
                sentence.space_after = "SpaceAfter=No" not in (miscs[i][-1] or "")
            else:  # unsaid: a space after it if its text spaces its tokens (not Chinese)
                sentence.space_after = _spaced(sentence)
            found.append(sentence)
    return found


def _spaced(sentence: Surface) -> bool:
    """Whether white space follows most of a sentence's tokens (a lone token's: yes)."""
    gaps = [sentence.text[end:start] for (_, end), (start, _) in
            itertools.pairwise(sentence.tokens)]
    return not gaps or 2 * sum(map(bool, gaps)) >= len(gaps)


def _finish(dataset: str, splits: dict[str, list[Sentence]], labels: list[str] | None,
            column: str, notes: list[str],
            more: dict[str, dict[str, list[list[str]]]] | None = None,
            documents: dict[str, list[int]] | None = None) -> Corpus:
    """Drop unannotated tokens (those of the first tag column: in every column), convert
    IOB1, and settle the label list and scheme."""
    more = more or {}
    documents = documents or {}
    dropped = sum(t.count(UNANNOTATED) for sents in splits.values() for _, t in sents)
    if dropped:
        documents = {s: [d for d, (_, tags) in zip(numbers, splits[s], strict=True)
                         if any(t != UNANNOTATED for t in tags)]
                     for s, numbers in documents.items()}
        for name, values in more.items():
            more[name] = {s: [[v for v, t in zip(row, tags, strict=True) if t != UNANNOTATED]
                              for row, (_, tags) in zip(values[s], sents, strict=True)
                              if any(t != UNANNOTATED for t in tags)]
                          for s, sents in splits.items()}
        splits = {s: [x for x in map(_drop_unannotated, sents) if x[0]]
                  for s, sents in splits.items()}
        notes.append(f"{dropped} tokens tagged '_' (multiword-token surface forms) were left out")
    for s, sents in splits.items():
        if any(len(w) != len(t) for w, t in sents):
            raise TaggerError(f"{dataset}: split {s!r} has a sentence whose token and tag "
                              "counts differ")
    if schemes.is_entity_labels(_label_tags(splits)) and any(
            schemes.is_iob1(tags for _, tags in sents) for sents in splits.values()):
        splits = {s: [(w, schemes.iob1_to_iob2(t)) for w, t in sents]
                  for s, sents in splits.items()}
        notes.append("IOB1 tags were converted to IOB2")
    seen = _label_tags(splits)
    labels = [t for t in labels or [] if t != UNANNOTATED]
    labels += sorted(seen - set(labels), key=lambda t: (t != "O", t))
    return Corpus(name=dataset, splits=splits, labels=labels, tag_column=column,
                  scheme=schemes.detect_scheme(labels), notes=notes, more=more,
                  documents=documents)


def _drop_unannotated(sentence: Sentence) -> Sentence:
    tokens, tags = sentence
    kept = [(w, t) for w, t in zip(tokens, tags, strict=True) if t != UNANNOTATED]
    return [w for w, _ in kept], [t for _, t in kept]


def _label_tags(splits: dict[str, list[Sentence]]) -> set[str]:
    """The tags labels come from: the train split's (the model can only learn what train
    shows) or, without a train split, all splits'."""
    source = [splits["train"]] if "train" in splits else list(splits.values())
    return set().union(*(_tags_in(s) for s in source))


def _tags_in(sentences: list[Sentence]) -> set[str]:
    return {t for _, tags in sentences for t in tags}
