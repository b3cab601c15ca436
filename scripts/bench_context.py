"""Document context for the contextual encoder: entity F1 of models trained with
`--encoder-context` over seeds, scored with and without their documents, beside the
sentence-level encoder tier read from its own benchmark file.

    for seed in 1 2 3; do
      tagger train --recipe data/recipes/conll2003.toml --dataset ../shared/data/raw/conll2003 \
          --tag-column -1 --embeddings GLOVE --encoder models/all-MiniLM-L6-v2 \
          --encoder-context 64 --seed $seed --output models/doc/conll-ctx64-seed$seed
    done
    python scripts/bench_context.py --name conll2003 \
        --models 'models/doc/conll-ctx64-seed*' \
        --documents ../shared/data/raw/conll2003 --sentences ../shared/data/conll2003 \
        --reference encoder-minilm-mean:conll2003

Each model's validation score with its documents (each sentence read with its neighbours)
is the one training kept (metrics.json: training scores validation with the corpus's
documents); `--documents` only checks that the corpus named marks them. Each model is then
scored on `--sentences` (the same sentences without documents: each read alone). The
reference row is the sentence-level tier's median and range from data/benchmarks/NAME.json's
row for the corpus. Writes
data/benchmarks/context-NAME.{md,json}. Validation splits only: the test splits are withheld.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from datetime import UTC, datetime
from glob import glob
from pathlib import Path

import benchmark

from tagger.corpora import CorpusSource
from tagger.evaluation import evaluate_model


def summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2), "runs": len(values)}


def cell(found: dict) -> str:
    return f"{found['median']:.2f} ({found['min']:.2f}-{found['max']:.2f})"


def markdown(data: dict) -> str:
    reference = data["reference"]
    rows = [[f"sentences alone ({reference['name']})", cell(reference), "-",
             reference["runs"], "-", "-"]]
    for row in data["rows"]:
        rows.append([f"--encoder-context {row['context']}", cell(row["documents"]),
                     cell(row["alone"]), row["documents"]["runs"], row["epochs"],
                     row["train_minutes"]])
    difference = data["rows"][0]["documents"]["median"] - reference["median"]
    head = (f"{data['date']}, {data['machine']}; `{data['command']}`; validation split, entity "
            "F1, median (range) over the seeds; scored with each sentence's document (its "
            "neighbours read) and with each sentence alone; the reference is the "
            f"sentence-level tier's row from {reference['name']}.json ({reference['date']}). "
            f"Document context: {difference:+.2f} F1 over the reference.")
    return head + "\n\n" + benchmark.table(
        ["model", "entity F1, documents", "entity F1, sentences alone", "seeds",
         "kept epoch / run", "train min"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--models", required=True, help="a glob of model folders, one per seed")
    parser.add_argument("--documents", required=True, help="the corpus with its documents")
    parser.add_argument("--sentences", required=True, help="the same corpus without them")
    parser.add_argument("--reference", required=True,
                        help="BENCHMARK:CORPUS, the sentence-level tier's row")
    args = parser.parse_args()
    folders = sorted(Path(p) for p in glob(args.models) if Path(p).is_dir())
    if not folders:
        sys.exit(f"--models {args.models}: no model folders")
    if not CorpusSource(args.documents, tag_column="-1").load().documents:
        sys.exit(f"--documents {args.documents}: the corpus marks no documents")
    name, _, corpus = args.reference.partition(":")
    reference = json.loads((benchmark.ROOT / "data" / "benchmarks" / f"{name}.json")
                           .read_text(encoding="utf-8"))
    runs = next(r for r in reference["results"] if r["corpus"] == corpus)["scores"]
    documents, alone, epochs, minutes, contexts = [], [], [], [], set()
    for folder in folders:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        contexts.add(config["settings"]["features"]["encoder_context"])
        documents.append(metrics["validation_score"] * 100)
        alone.append(evaluate_model(folder, CorpusSource(args.sentences))["score"] * 100)
        epochs.append(f"{metrics['best_epoch']}/{metrics['epochs_run']}")
        minutes.append(metrics["train_minutes"])
        print(folder, documents[-1], alone[-1], file=sys.stderr, flush=True)
    data = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": benchmark.machine(),
            "command": shlex.join(["python", *sys.argv]),
            "reference": {"name": name, "date": reference["date"], **summary(runs)},
            "rows": [{"context": ", ".join(map(str, sorted(contexts))),
                      "documents": summary(documents), "alone": summary(alone),
                      "epochs": ", ".join(epochs),
                      "train_minutes": round(statistics.median(minutes), 1)}]}
    benchmark.write_results(f"context-{args.name}", data, markdown)


if __name__ == "__main__":
    main()
