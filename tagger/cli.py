"""The `tagger` command. Thin: it parses options and calls the library.

TensorFlow is imported inside the commands that need it, so `tagger --help` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from tagger.batch import FORMATS, INPUT_FORMATS
from tagger.errors import TaggerError
from tagger.settings import HEADS, TrainConfig

DEFAULTS = TrainConfig()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _silence_native_logs() -> None:
    """Keep TensorFlow's C++ log lines (oneDNN, CUDA probing) off the user's terminal.

    They go straight to file descriptor 2, some before absl logging starts, so no log level
    hides them all. Descriptor 2 is pointed at /dev/null and Python's sys.stderr at a copy of
    the real stderr: our messages, progress and any traceback still show. TAGGER_TF_LOGS=1
    keeps TensorFlow's logs. Skipped where sys.stderr is not the process's (tests).
    """
    if os.environ.get("TAGGER_TF_LOGS") or sys.stderr is not sys.__stderr__:
        return
    sys.stderr.flush()
    real = os.dup(2)
    sys.stderr = os.fdopen(real, "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


class _Group(click.Group):
    """Turns user-facing failures into one line on stderr and a non-zero exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TaggerError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)
        except BrokenPipeError:
            # The reader went away (`tagger tag ... | head`): stop quietly, and keep Python
            # from failing again while flushing stdout at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except OSError as error:  # disk full, permissions: the environment, not a bug
            where = f": {error.filename}" if error.filename else ""
            click.echo(f"error: {error.strerror or error}{where}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group)
@click.version_option(package_name="tagger")
def main() -> None:
    """Train, run and evaluate sequence taggers (NER, POS) on Hugging Face corpora."""


def dataset_options(required: bool = True):
    """The options that name a corpus, shared by train and evaluate."""

    def add(f):
        for option in reversed([
            click.option("--dataset", required=required,
                         help="Hub name, dataset folder, parquet/JSON/CoNLL/CoNLL-U file or "
                              "folder, or split=path pairs joined by commas."),
            click.option("--config", "dataset_config", default=None,
                         help="Hub dataset configuration, e.g. en_ewt for "
                              "universal_dependencies."),
            click.option("--revision", default=None,
                         help="Hub revision, e.g. refs/convert/parquet for a parquet "
                              "conversion."),
            click.option("--tag-column", default=None,
                         help="Column holding the tags: a dataset column (default: ner_tags, "
                              "then upos, then pos_tags), a CoNLL column number (default -1, "
                              "the last) or a CoNLL-U column name (default upos)."),
            click.option("--token-column", default="tokens", show_default=True,
                         help="Column holding the tokens (datasets)."),
        ]):
            f = option(f)
        return f

    return add


def _load_corpus(dataset, dataset_config, revision, tag_column, token_column,
                 prefer_tag_column=None):
    from tagger.corpora import DEFAULT_TAG_COLUMNS, load_corpus

    defaults = (prefer_tag_column, *DEFAULT_TAG_COLUMNS) if prefer_tag_column else \
        DEFAULT_TAG_COLUMNS
    return load_corpus(dataset, config=dataset_config, tag_column=tag_column,
                       token_column=token_column, revision=revision,
                       default_tag_columns=defaults)


@main.command()
@click.pass_context
@click.option("--recipe", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file with a dataset and training settings (see data/recipes); "
                   "options given on the command line win over it.")
@dataset_options(required=False)
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path),
              help="Model folder to write.")
@click.option("--force", is_flag=True, help="Replace --output if it exists.")
@click.option("--epochs", default=DEFAULTS.epochs, show_default=True, type=click.IntRange(1))
@click.option("--patience", default=DEFAULTS.patience, show_default=True, type=click.IntRange(1),
              help="Stop after this many epochs without a better validation score.")
@click.option("--batch-size", default=DEFAULTS.batch_size, show_default=True,
              type=click.IntRange(1))
@click.option("--learning-rate", default=DEFAULTS.learning_rate, show_default=True,
              type=click.FloatRange(0, min_open=True))
@click.option("--lr-decay", default=DEFAULTS.lr_decay, show_default=True, type=click.FloatRange(0),
              help="Learning rate after e epochs: learning-rate / (1 + lr-decay * e).")
@click.option("--layers", default=DEFAULTS.layers, show_default=True, type=click.IntRange(1))
@click.option("--units", default=DEFAULTS.units, show_default=True, type=click.IntRange(1),
              help="LSTM units per direction.")
@click.option("--embedding-dim", default=DEFAULTS.embedding_dim, show_default=True,
              type=click.IntRange(1))
@click.option("--dropout", default=DEFAULTS.dropout, show_default=True,
              type=click.FloatRange(0, 1, max_open=True))
@click.option("--bidirectional/--unidirectional", default=DEFAULTS.bidirectional, show_default=True)
@click.option("--min-count", default=DEFAULTS.min_count, show_default=True, type=click.IntRange(1),
              help="Keep words seen at least this often in train.")
@click.option("--max-vocab", default=DEFAULTS.max_vocab, type=click.IntRange(3),
              help="Keep at most this many words (with padding and unknown).")
@click.option("--lowercase/--keep-case", default=DEFAULTS.lowercase, show_default=True,
              help="Lower-case words before the vocabulary lookup (characters and the casing "
                   "feature keep the case).")
@click.option("--chars/--no-chars", default=DEFAULTS.chars, show_default=True,
              help="Character CNN features for every word (helps with unseen words).")
@click.option("--char-dim", default=DEFAULTS.char_dim, show_default=True, type=click.IntRange(1))
@click.option("--char-filters", default=DEFAULTS.char_filters, show_default=True,
              type=click.IntRange(1))
@click.option("--casing/--no-casing", default=DEFAULTS.casing, show_default=True,
              help="A casing class feature per word (lower, Title, UPPER, numeric, ...).")
@click.option("--head", type=click.Choice(HEADS), default=DEFAULTS.head,
              show_default=True,
              help="Output layer: a CRF, a softmax, or auto (CRF for entity tags, softmax for "
                   "POS). Entity taggers decode under the scheme's constraints either way.")
@click.option("--embeddings", type=click.Path(dir_okay=False),
              help="Pretrained word vectors (GloVe or word2vec text) to start from; their "
                   "dimension sets --embedding-dim.")
@click.option("--word-dropout", default=DEFAULTS.word_dropout, show_default=True,
              type=click.FloatRange(0, 1, max_open=True),
              help="Probability of replacing a word seen once in train by the unknown word.")
@click.option("--seed", default=DEFAULTS.seed, show_default=True, type=int)
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def train(ctx, recipe, output, force, quiet, **settings):
    """Train a tagger on a corpus's train split, selecting the epoch on validation."""
    from tagger import model_folder

    if recipe is not None:
        _apply_recipe(ctx, recipe, settings)
    if settings["dataset"] is None:
        raise click.UsageError("give --dataset, or a --recipe that names one")
    model_folder.check_writable(output, force)  # before minutes of loading and training
    corpus = _load_corpus(*(settings.pop(k) for k in (
        "dataset", "dataset_config", "revision", "tag_column", "token_column")))
    _silence_native_logs()
    from tagger.progress import Progress
    from tagger.training import train as run

    progress = Progress(enabled=not quiet)
    for note in corpus.notes:
        progress.line(f"note: {note}")
    metrics = run(corpus, output, TrainConfig(**settings), force=force, progress=progress)
    click.echo(json.dumps({k: metrics[k] for k in ("metric", "validation_score", "best_epoch",
                                                   "epochs_run", "train_minutes")}))


def _apply_recipe(ctx: click.Context, recipe: Path, settings: dict) -> None:
    """Fill `settings` from the recipe wherever the command line did not set a value."""
    from tagger.recipes import load_recipe

    dataset, training = load_recipe(recipe)
    names = {"config": "dataset_config"}
    for key, value in [*dataset.items(), *training.items()]:
        name = names.get(key, key)
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.COMMANDLINE:
            settings[name] = value


def _load_tagger(path: Path):
    from tagger import model_folder

    model_folder.read_config(path)  # a missing or bad folder fails before TensorFlow loads
    _silence_native_logs()
    from tagger.tagging import Tagger

    return Tagger.load(path)


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("text", nargs=-1)
@click.option("--input", "-i", "input_path", default=None,
              help="File to tag, one text per line ('-' for stdin), or CoNLL with --input-format.")
@click.option("--output", "-o", default="-", show_default=True,
              help="Where to write ('-': stdout).")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format [default: text for TEXT, json (JSON Lines) for --input].")
@click.option("--input-format", type=click.Choice(INPUT_FORMATS), default=None,
              help="text: one sentence or paragraph per line; conll: one token per line (first "
                   "column), blank lines between sentences; conllu: CoNLL-U (FORM column) "
                   "[default: by suffix .conll / .conllu, else text].")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def tag(model, text, input_path, output, fmt, input_format, quiet):
    """Tag TEXT, or every line of --input, with the model in folder MODEL."""
    if bool(text) == bool(input_path):
        raise click.UsageError("give either TEXT or --input FILE (or '-' for stdin)")
    from tagger import batch

    if text:
        tagger = _load_tagger(model)
        batch.tag_texts(tagger, [" ".join(text)], output, fmt or "text")
        return
    source = batch.open_input(input_path, input_format)  # fails before the model loads
    tagger = _load_tagger(model)
    batch.tag_file(tagger, source, output, fmt or "json", quiet=quiet)


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@dataset_options()
@click.option("--split", default="validation", show_default=True,
              help="Split to score: train, validation (dev) or test.")
@click.option("--mode", type=click.Choice(["default", "strict"]), default="default",
              show_default=True, help="seqeval mode; strict applies the model's tag scheme.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def evaluate(model, dataset, dataset_config, revision, tag_column, token_column, split, mode,
             as_json):
    """Score MODEL on a split of a corpus: per-type P/R/F1, averages, token accuracy."""
    from tagger import model_folder

    config = model_folder.read_config(model)
    # The column the model was trained on comes first, so a POS model trained on pos_tags
    # is scored on pos_tags even where the dataset also has ner_tags.
    corpus = _load_corpus(dataset, dataset_config, revision, tag_column, token_column,
                          prefer_tag_column=config["corpus"]["tag_column"])
    sentences = corpus.split(split)
    from tagger.evaluation import evaluate_tagger, format_report

    report = evaluate_tagger(_load_tagger(model), sentences, mode,
                             where=f"{dataset} split {split!r}")
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))


if __name__ == "__main__":
    main()
