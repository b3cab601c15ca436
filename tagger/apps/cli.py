"""The `tagger` command. Thin: it parses options and calls the library.

TensorFlow is imported inside the commands that need it, so `tagger --help` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from tagger import backends
from tagger.apps.batch import FORMATS, INPUT_FORMATS
from tagger.errors import TaggerError, Terminated, raise_on_sigterm
from tagger.settings import (
    CALIBRATIONS,
    MAX_LINE_CHARS,
    SECTIONS,
    SERVE_SPECS,
    SPECS,
    TAGGING_TOKENIZERS,
    ServeLimits,
    Spec,
)

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


def _flag_speller(command: click.Command | None) -> Callable[[str], str]:
    """Spells a library parameter named in an error message as `command`'s flag for it."""
    flags: dict[str, str] = {}
    for param in command.params if command else []:
        longs = [o for o in param.opts if o.startswith("--")]
        for flag in longs:
            flags.setdefault(flag[2:].replace("-", "_"), flag)
        if longs and param.name:
            flags.setdefault(param.name, longs[0])
    return lambda name: flags.get(name, name)


class _Group(click.Group):
    """Turns user-facing failures into one line on stderr and a non-zero exit code."""

    def invoke(self, ctx: click.Context):
        raise_on_sigterm()
        try:
            return super().invoke(ctx)
        except TaggerError as error:
            command = self.get_command(ctx, ctx.invoked_subcommand or "")
            click.echo(f"error: {error.render(_flag_speller(command))}", err=True)
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
        except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (`Terminated`)
            terminated = isinstance(stop, Terminated)
            if terminated and ctx.invoked_subcommand == "serve":
                # A server handles signals itself once it listens: before, from the moment
                # the handler is in place, nothing was served and the stop is clean.
                click.echo("stopped before serving", err=True)
                sys.exit(0)
            click.echo("terminated" if terminated else "interrupted", err=True)
            sys.exit(143 if terminated else 130)


class _Model(click.ParamType):
    """A model folder, or the name of an installed model package (`tagger package`)."""

    name = "model"

    def convert(self, value, param, ctx) -> Path:
        from tagger.model_packages import locate

        return value if isinstance(value, Path) else locate(value)


MODEL = _Model()


@click.group(cls=_Group)
@click.version_option(package_name="tagger")
def main() -> None:
    """Train, run and evaluate sequence taggers (NER, POS) on Hugging Face corpora."""


def dataset_options(required: bool = True):
    """The options that name a corpus (`corpora.CorpusSource`'s fields), shared by train and
    evaluate."""

    def add(f):
        for option in reversed([
            click.option("--dataset", required=required,
                         help="Hub name, dataset folder, parquet/JSON/CoNLL/CoNLL-U file or "
                              "folder, or split=path pairs joined by commas."),
            click.option("--config", default=None,
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


def _setting_option(spec: Spec):
    """The option of one declared setting."""
    dash = spec.name.replace("_", "-")
    if spec.base is bool:
        return click.option(spec.flag or f"--{dash}/--no-{dash}", spec.name, default=spec.default,
                            show_default=True, help=spec.help)
    if spec.choices:
        kind = click.Choice(spec.choices)
    elif spec.path:
        kind = click.Path()
    elif spec.base in (int, float) and (spec.low, spec.high) != (None, None):
        number = click.IntRange if spec.base is int else click.FloatRange
        bound = spec.base
        kind = number(None if spec.low is None else bound(spec.low),
                      None if spec.high is None else bound(spec.high),
                      min_open=spec.low_open, max_open=spec.high_open)
    else:
        kind = spec.base
    return click.option(f"--{dash}", spec.name, default=spec.default, type=kind,
                        show_default=spec.default is not None, help=spec.help)


def serve_options(f):
    """Every serving limit as an option of `tagger serve`."""
    for spec in reversed(SERVE_SPECS.values()):
        f = _setting_option(spec)(f)
    return f


def setting_options(f):
    """Every training setting as an option, in the order of their declaration."""
    for spec in reversed(SPECS.values()):
        f = _setting_option(spec)(f)
    return f


class _TrainCommand(click.Command):
    """Lists the training settings in `--help` by section, as they are declared."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # A section's title is its docstring up to the colon: "Network: its shape and size."
        titles = ["Options", *(kind.__doc__.split(":")[0] for kind in SECTIONS.values())]
        groups: list[list[tuple[str, str]]] = [[] for _ in titles]
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record:
                spec = SPECS.get(param.name or "")
                groups[list(SECTIONS).index(spec.section) + 1 if spec else 0].append(record)
        for title, rows in zip(titles, groups, strict=True):
            with formatter.section(title):
                formatter.write_dl(rows)


@main.command(cls=_TrainCommand)
@click.pass_context
@click.option("--recipe", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file with a dataset and training settings (see data/recipes); "
                   "options given on the command line win over it.")
@dataset_options(required=False)
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path),
              help="Model folder to write.")
@click.option("--force", is_flag=True, help="Replace --output if it exists.")
@click.option("--checkpoint-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the training's state here after each epoch; the same command "
                   "run again carries on after the last finished epoch.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option("--columns", default=None,
              help="Tag columns to learn, one head each over one shared network, joined by "
                   "commas, e.g. upos,xpos,feats,lemma (the first is --tag-column; lemma "
                   "or lemmas: lemmas as edit scripts). CoNLL-U's column names, or a "
                   "table's.")
@setting_options
def train(ctx, recipe, output, force, checkpoint_dir, quiet, **options):
    """Train a tagger on a corpus's train split, selecting the epoch on validation.

    With TF_CONFIG describing a cluster of workers, run the same command on each: they
    train together and worker 0 writes the model (see the README). With --checkpoint-dir,
    a stopped training (or cluster) resumes when the same command runs again."""
    from tagger import model_folder
    from tagger.training.recipes import Recipe, load_recipe

    given = {name: value for name, value in options.items()
             if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT}
    plan = (load_recipe(recipe) if recipe else Recipe()).with_options(**given)
    model_folder.check_writable(output, force)  # before minutes of loading and training
    corpus = plan.load_corpus()
    _silence_native_logs()  # before Progress takes sys.stderr, which it replaces
    from tagger.progress import Progress
    from tagger.training.defaults import picked

    progress = Progress(enabled=not quiet)
    for note in corpus.notes:
        progress.line(f"note: {note}")
    values, why = picked(corpus, plan.chosen)
    from tagger.training import train as run

    tagger, metrics = run(corpus, plan.settings.replace(**values), progress=progress,
                          checkpoint_dir=checkpoint_dir, picked=why)
    if metrics.get("worker"):  # one of several workers (TF_CONFIG), not the chief
        click.echo(f"worker {metrics['worker']} of {metrics['workers']} done; worker 0 "
                   "writes the model", err=True)
        return
    tagger.save(output, force=force)
    progress.line(f"model in {output}")
    click.echo(json.dumps({k: metrics[k] for k in ("metric", "validation_score", "best_epoch",
                                                   "epochs_run", "train_minutes")}))


def _load_tagger(path: Path, runtime: str = "auto", tokenizer: str = "model"):
    """The `pipeline.Tagger` of model folder `path` on backend `runtime`, splitting raw text
    with `tokenizer` (`settings.TAGGING_TOKENIZERS`)."""
    from tagger import model_folder
    from tagger.pipeline import Tagger

    model_folder.read(path, verify=False)  # a missing folder fails before any backend loads
    if backends.resolve(path, runtime).tensorflow:
        _silence_native_logs()
    tagger = Tagger.load(path, runtime, tokenizer=tokenizer)
    tagger.warn_of_tokenizer = False  # `_say_tokenizer_warning` says it
    return tagger


def _say_tokenizer_warning(path: Path, tokenizer: str = "model") -> None:
    """One line on stderr where the tokenizer tagging raw text (`settings.TAGGING_TOKENIZERS`)
    disagrees with the model's corpus (the taggers made here stay quiet about it)."""
    from tagger import model_folder
    from tagger.pipeline import tokenizer_warning

    warning = tokenizer_warning(model_folder.read_metrics(path),
                                "rules" if tokenizer == "rules" else None)
    if warning:
        click.echo(f"warning: {warning}", err=True)


def _workers(path: Path, runtime: str, jobs: int, tokenizer: str = "model"):
    """Worker processes for batch tagging; the folder is checked here, loaded in each."""
    from tagger import model_folder
    from tagger.apps.batch import Workers

    model_folder.read(path)
    if backends.resolve(path, runtime).tensorflow:
        _silence_native_logs()  # the workers inherit descriptor 2
    return Workers(path, runtime, jobs, tokenizer)


def runtime_option(f):
    """The backend to tag with, from the registry of backends."""
    return click.option("--runtime", type=click.Choice(backends.CHOICES), default="auto",
                        show_default=True, help=f"Backend that runs the network. "
                                                f"{backends.HELP}.")(f)


@main.command()
@click.argument("model", type=MODEL)
@click.argument("text", nargs=-1)
@click.option("--input", "-i", "input_path", default=None,
              help="File to tag, one text per line ('-' for stdin), or CoNLL with --input-format.")
@click.option("--output", "-o", default="-", show_default=True,
              help="Where to write ('-': stdout).")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format: text, json (JSON Lines records), conll, or spans (JSON Lines "
                   "of the text and its spans, as span files are read) [default: text for "
                   "TEXT, json for --input].")
@click.option("--input-format", type=click.Choice(INPUT_FORMATS), default=None,
              help="text: one sentence or paragraph per line; conll: one token per line (first "
                   "column), blank lines between sentences; conllu: CoNLL-U (FORM column); "
                   "jsonl: JSON Lines objects with a \"text\" (a span file's texts); "
                   "document: the whole input one document, paragraphs at blank lines, "
                   "sentences found by the model (a record per sentence, offsets into the "
                   "document) [default: by suffix .conll / .conllu / .jsonl, else text].")
@click.option("--confidence", is_flag=True,
              help="Show each tag's and span's confidence in text and CoNLL output (JSON "
                   "records always have them).")
@click.option("--min-confidence", type=click.FloatRange(0.0, 1.0), default=0.0,
              show_default=True,
              help="Leave out entity spans whose confidence (their tokens' lowest) is lower; "
                   "tags stay as they are.")
@runtime_option
@click.option("--jobs", "-j", type=click.IntRange(1), default=1, show_default=True,
              help="Processes tagging --input, each with the model and one thread; the "
                   "output keeps the input's order.")
@click.option("--tokenizer", type=click.Choice(TAGGING_TOKENIZERS), default="model",
              show_default=True,
              help="How raw text becomes tokens: the model's own tokenizer, or the rules.")
@click.option("--max-chars", type=click.IntRange(1), default=MAX_LINE_CHARS,
              show_default=True,
              help="The longest line (or CoNLL sentence) of --input, in characters: a longer "
                   "one stops the job with an error (memory grows with the longest line).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def tag(model, text, input_path, output, fmt, input_format, confidence, min_confidence, runtime,
        jobs, tokenizer, max_chars, quiet):
    """Tag TEXT, or every line of --input, with MODEL (a model folder, or an installed model
    package's name).

    TEXT in several arguments is one text, joined by spaces (an unquoted sentence works);
    several texts go one per line in --input.

    A tag's confidence is its probability given the whole text (a CRF model's marginal, a
    softmax model's probability); a span's is the lowest of its tokens'.
    """
    if bool(text) == bool(input_path):
        raise click.UsageError("give either TEXT or --input FILE (or '-' for stdin)")
    from tagger.apps import batch

    if input_format == "document" and jobs > 1:
        raise TaggerError("a document is tagged in one process: leave out --jobs with "
                          "--input-format document", param="jobs")
    if text:
        tagger = _load_tagger(model, runtime, tokenizer)
        _say_tokenizer_warning(model, tokenizer)
        if input_format == "document":
            records = tagger.tag_documents([" ".join(text)], min_confidence)[0]
            with batch.output_stream(output) as stream:
                stream.write(batch.render_document(records, "text", fmt or "text",
                                                   confidence))
            return
        batch.tag_texts(tagger, [" ".join(text)], output, fmt or "text",
                        min_confidence=min_confidence, confidence=confidence)
        return
    source = batch.open_input(input_path, input_format)  # fails before the model loads
    if source.format == "document":
        tagger = _load_tagger(model, runtime, tokenizer)
        _say_tokenizer_warning(model, tokenizer)
        batch.tag_document(tagger, source, output, fmt or "json", quiet=quiet,
                           min_confidence=min_confidence, confidence=confidence,
                           max_chars=max_chars)
        return
    tagger = _workers(model, runtime, jobs, tokenizer) if jobs > 1 else \
        _load_tagger(model, runtime, tokenizer)
    if not source.pretokenized:
        _say_tokenizer_warning(model, tokenizer)
    batch.tag_file(tagger, source, output, fmt or "json", quiet=quiet,
                   min_confidence=min_confidence, confidence=confidence, max_chars=max_chars)


@main.command()
@click.argument("model", type=MODEL)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8501, show_default=True)
@click.option("--name", default=None,
              help="Model name in /v1/models/NAME [default: the model folder's name].")
@click.option("--label", "labels", multiple=True,
              help="A version label TF Serving clients may ask for "
                   "(/v1/models/NAME/labels/LABEL); repeat for several.")
@click.option("--quiet", is_flag=True,
              help="No log line per request (server errors are logged still).")
@serve_options
@runtime_option
def serve(model, host, port, name, runtime, labels, quiet, **limits):
    """Serve MODEL over HTTP: TensorFlow Serving's REST API, /v1/tag, metrics and a page.

    Open http://HOST:PORT/ to try it. SIGTERM (or Ctrl-C) gives requests in flight
    --grace-seconds to finish, answers new ones and what is left 503, then exits 0; a second
    signal ends the grace at once.
    """
    from tagger.apps import serve as server

    name = server.check_names(model.resolve().name if name is None else name, labels)
    server.check_address(host, port)  # before the model loads
    tagger = _load_tagger(model, runtime)
    _say_tokenizer_warning(model)
    click.echo(f"serving {model} as {name} on http://{host}:{port}/", err=True)
    # While it serves, the server handles the signals itself; a SIGTERM before is a
    # clean stop (`_Group.invoke`).
    server.run(tagger, name, host, port, ServeLimits(**limits), labels,
               access_log=not quiet)


@main.command(name="export")
@click.argument("model", type=MODEL)
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["savedmodel", "onnx"]),
              default="savedmodel", show_default=True,
              help="savedmodel: a TensorFlow SavedModel that tags raw strings; onnx: a copy of "
                   "the model folder with its ONNX network written anew (with --int8, or for "
                   "a folder from an older tagger that lacks it).")
@click.option("--int8", is_flag=True,
              help="With --format onnx: int8 weights for the network's LSTM, Dense and "
                   "embedding layers: a quarter of the size, float32's speed, a few tags in "
                   "10,000 differ (docs/deployment.md).")
@click.option("--force", is_flag=True, help="Replace DIRECTORY if it exists.")
def export_command(model, directory, fmt, int8, force):
    """Write MODEL in DIRECTORY as a TensorFlow SavedModel or for ONNX Runtime.

    For TensorFlow Serving give a version folder (e.g. exported/conll/1). Loading the
    SavedModel needs TensorFlow and `import tensorflow_text`; the README describes its
    signatures.
    """
    from tagger import model_folder

    if int8 and fmt != "onnx":
        raise click.UsageError("--int8 needs --format onnx")
    model_folder.check_writable(directory, force)
    tagger = _load_tagger(model, "keras")
    if fmt == "onnx":
        tagger.save(directory, force=force, int8=int8)
    else:
        from tagger.export.savedmodel import export

        export(tagger, directory, force=force)
    click.echo(f"exported {model} to {directory}", err=True)


@main.command()
@click.argument("model", type=MODEL)
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--name", required=True,
              help="The package's name, by which it loads once installed (tagger tag NAME "
                   "TEXT): letters, digits, _ and -.")
@click.option("--version", "version", required=True, help="The package's version, e.g. 1.0.0.")
def package(model, directory, name, version):
    """Write MODEL as a Python package in DIRECTORY: a wheel and an sdist that pip installs.

    Once installed, NAME stands for the model folder wherever tagger takes one (tagger tag,
    serve, evaluate, export; Tagger.load("NAME")). The folder must pass its manifest.
    """
    from tagger.model_packages import build

    for path in build(model, directory, name, version):
        click.echo(path)


@main.command()
@click.argument("models", nargs=-1, type=MODEL)
def models(models):
    """List the installed model packages and MODELS (folders or names), then show each of
    MODELS' card (the README.md written beside its files)."""
    from tagger import model_card
    from tagger.model_packages import installed

    rows = [[package.name, package.version, package.folder]
            for package in installed().values()]
    rows += [[path.name, "-", path] for path in models]
    header = ["name", "version", "task", "labels", "language", "tokenizer", "score", "size",
              "backends"]
    table = [header] + [[name, version, *model_card.summary(folder).values()]
                        for name, version, folder in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(value.ljust(width) for value, width in zip(row, widths,
                                                                          strict=True)).rstrip())
    if not rows:
        click.echo("(no model packages installed: tagger package MODEL DIR --name NAME "
                   "--version X.Y.Z writes one)")
    for path in models:
        card = model_card.read(path)
        click.echo("\n" + (card.rstrip("\n") if card else
                           f"{path} has no {model_card.CARD} (saved before model cards): "
                           f"'tagger export {path} DIR --format onnx' writes a copy with one"))


@main.command()
@click.argument("models", nargs=-1, required=True, type=MODEL)
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path),
              help="Model folder to write.")
@click.option("--force", is_flag=True, help="Replace --output if it exists.")
def ensemble(models, output, force):
    """Average MODELS (one recipe trained with other seeds) in one model folder.

    The ensemble is scored on the validation split the models were trained with; tagging
    takes about one model's time per model.
    """
    from tagger import model_folder

    model_folder.check_writable(output, force)
    for path in models:
        model_folder.read(path, verify=False)  # a missing folder fails before TensorFlow
    _silence_native_logs()
    from tagger.pipeline import Tagger
    from tagger.training.ensembles import combine, score_on_validation

    members = [Tagger.load(path, "keras") for path in models]
    tagger = combine(members)
    # Calibrated as the first model was (its map fitted anew on the average's confidences).
    fitted = members[0].config.calibration
    score_on_validation(tagger, fitted.method if fitted else "none")
    tagger.save(output, force=force)
    click.echo(json.dumps({"metric": tagger.metrics["metric"],
                           "validation_score": tagger.metrics["validation_score"],
                           "members": [m["validation_score"] for m in tagger.metrics["members"]
                                       if "validation_score" in m]}))


@main.command()
@click.argument("model", type=MODEL)
@dataset_options(required=False)
@click.option("--split", default="validation", show_default=True,
              help="Split to fit on (half of its sentences) and measure on (the others).")
@click.option("--method", type=click.Choice(CALIBRATIONS),
              default=SPECS["calibration"].default,
              show_default=True,
              help="Isotonic regression, a logistic curve in the confidence's logit, or none "
                   "(back to the tokens' lowest confidence).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Write the calibrated model here (default: replace MODEL).")
@click.option("--json", "as_json", is_flag=True, help="Print the measurements as JSON.")
def calibrate(model, dataset, config, revision, tag_column, token_column, split, method,
              output, as_json):
    """Calibrate MODEL's entity span confidences on a split (default: the validation split
    of the corpus it was trained on): fitted on every other sentence, measured on the rest.

    Training does this already; use it for a model trained without it, or on your own data.
    Prints the expected calibration error before and after, and precision and recall at
    --min-confidence 0.5, 0.7 and 0.9, on the held-out half."""
    from tagger import calibration, model_folder
    from tagger.corpora import CorpusSource
    from tagger.evaluation import calibrate_model

    model_folder.read(model, verify=False)
    if output is not None:
        model_folder.check_writable(output, force=False)
    source = None if dataset is None else CorpusSource(dataset, config, revision, tag_column,
                                                       token_column)
    _silence_native_logs()
    found = calibrate_model(model, source, split=split, method=method, output=output)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    click.echo(f"held-out half of {split} ({found['held_out_sentences']} sentences), "
               f"fitted on {found['fitted_on_spans']} spans ({method})")
    click.echo("before: " + calibration.format_report(found["raw"]))
    click.echo("after:  " + calibration.format_report(found["calibrated"]))


@main.command()
@click.argument("model", type=MODEL)
@dataset_options()
@click.option("--split", default="validation", show_default=True,
              help="Split to score: train, validation (dev) or test.")
@click.option("--mode", type=click.Choice(["default", "strict"]), default="default",
              show_default=True, help="seqeval mode; strict applies the model's tag scheme.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--raw-text", is_flag=True,
              help="Tag each text from its raw text and score by characters: CoNLL-U '# text' "
                   "for tokens, words and tags as the CoNLL 2018 scorer does (POS models), "
                   "span JSON Lines for exact spans (entity models).")
@click.option("--tokenizer", type=click.Choice(TAGGING_TOKENIZERS), default="model",
              show_default=True,
              help="With --raw-text: the model's own tokenizer, or the rules (to compare).")
@click.option("--documents", is_flag=True,
              help="With --raw-text on CoNLL-U: tag each paragraph's running text (its "
                   "sentences joined as the CoNLL 2018 shared task's text joins them), so "
                   "that the model finds the sentences, and score Sentences too.")
@runtime_option
def evaluate(model, dataset, config, revision, tag_column, token_column, split, mode, as_json,
             raw_text, tokenizer, documents, runtime):
    """Score MODEL on a split of a corpus: per-type P/R/F1, averages, token accuracy.

    With --raw-text, from the corpus's raw text instead of its tokens."""
    from tagger import model_folder, raw_scoring
    from tagger.corpora import CorpusSource
    from tagger.evaluation import (
        evaluate_model,
        evaluate_raw_text,
        format_report,
        format_span_report,
    )

    model_folder.read(model, verify=False)
    if backends.resolve(model, runtime).tensorflow:
        _silence_native_logs()
    source = CorpusSource(dataset, config, revision, tag_column, token_column)
    if raw_text:
        report = evaluate_raw_text(model, source, split=split, backend=runtime,
                                   tokenizer=tokenizer, documents=documents)
        text = format_span_report(report) if "spans" in report else \
            raw_scoring.format_report(report)
        click.echo(json.dumps(report, indent=2) if as_json else text)
        return
    if documents:
        raise TaggerError("--documents scores sentences found in raw text: add --raw-text")
    report = evaluate_model(model, source, split=split, mode=mode, backend=runtime)
    for note in report["notes"]:
        click.echo(f"note: {note}", err=True)
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))


if __name__ == "__main__":
    main()
