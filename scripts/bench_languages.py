"""Named entities in several languages: each recipe's validation entity F1 over seeds, its
tokenizer, the F1 from raw text where the corpus has it, the published test figures of
reference taggers, and what `tagger train --dataset X` with no other option reaches.

    for name in conll2003 wnut_17 conll2002_es conll2002_nl wikiann_de wikiann_ru uner_zh_gsd; do
      for seed in 1 2 3; do
        tagger train --recipe data/recipes/$name.toml --seed $seed \
            --output models/ner/$name-seed$seed
      done
    done
    for name in uner_zh_gsd wnut_17 conll2002_es; do     # the corpus-picked defaults
      tagger train --dataset ../shared/data/$name --output models/defaults/$name-seed1
    done
    python scripts/bench_languages.py --name languages

Scores are the ones training kept (metrics.json: the selected epoch's validation score).
For a corpus with its own raw text (uner_zh_gsd) each model is also scored from that text
(`tagger evaluate --raw-text`: exact character spans). Reference figures are the published
test-split F1 of each corpus: ours are validation figures (the test splits are withheld), and
validation overstated test by about 4 points on CoNLL-2003 and 15 on WNUT-17 when measured.
Writes data/benchmarks/NAME.{md,json}.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from datetime import UTC, datetime
from glob import glob
from pathlib import Path

import benchmark

from tagger import model_folder
from tagger.evaluation import evaluate_raw_text

CORPORA = {  # name: (language, published test F1 of reference taggers)
    "conll2003": ("English", "Lample et al. 2016 90.94"),
    "wnut_17": ("English", "-"),
    "conll2002_es": ("Spanish", "Lample et al. 2016 85.75; Stanza 88.1; Flair 90.5"),
    "conll2002_nl": ("Dutch", "Lample et al. 2016 81.74; Stanza 89.2; Flair 95.25"),
    "wikiann_de": ("German", "-"),
    "wikiann_ru": ("Russian", "-"),
    "uner_zh_gsd": ("Chinese", "-"),
}


def summary(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2), "runs": len(values)}


def cell(found: dict | None) -> str:
    if not found:
        return "-"
    if found["runs"] == 1:
        return f"{found['median']:.2f} (1 seed)"
    return f"{found['median']:.2f} ({found['min']:.2f}-{found['max']:.2f})"


def corpus_row(name: str, models: Path, defaults: Path) -> dict | None:
    folders = sorted(Path(p) for p in glob(str(models / f"{name}-seed*")))
    if not folders:
        return None
    scores, raw, tokenizers, minutes = [], [], set(), []
    for folder in folders:
        metrics = model_folder.read_metrics(folder)
        scores.append(metrics["validation_score"] * 100)
        minutes.append(metrics["train_minutes"])
        config = model_folder.read(folder)
        tokenizers.add(config.tokenizer)
        if config.corpus is not None and name == "uner_zh_gsd":
            print(f"{folder}: from raw text", file=sys.stderr)
            report = evaluate_raw_text(folder, config.corpus.source)
            raw.append(report["spans"]["f1"] * 100)
    default_scores = [model_folder.read_metrics(Path(p))["validation_score"] * 100
                      for p in sorted(glob(str(defaults / f"{name}-seed*")))]
    language, anchors = CORPORA[name]
    return {"corpus": name, "language": language, "tokenizer": "/".join(sorted(tokenizers)),
            "recipe": summary(scores), "raw_text": summary(raw),
            "defaults": summary(default_scores), "train_minutes": summary(minutes),
            "anchors": anchors}


def markdown(data: dict) -> str:
    head = (f"{data['date']}, {data['machine']}; `{data['command']}`; entity micro-F1 on "
            "validation splits, median (range) over the seeds; no pretrained vectors or "
            "encoder. Reference figures are published test-split F1 (the test splits are "
            "withheld here).")
    rows = [[r["corpus"], r["language"], r["tokenizer"], cell(r["recipe"]),
             cell(r["raw_text"]), cell(r["defaults"]), cell(r["train_minutes"]), r["anchors"]]
            for r in data["rows"]]
    return "\n\n".join([head, benchmark.table(
        ["corpus", "language", "tokenizer", "recipe F1", "from raw text",
         "defaults (no options)", "train minutes", "published test F1"], rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="languages")
    parser.add_argument("--models", type=Path, default=Path("models/ner"))
    parser.add_argument("--defaults", type=Path, default=Path("models/defaults"))
    args = parser.parse_args()
    rows = [row for name in CORPORA
            if (row := corpus_row(name, args.models, args.defaults)) is not None]
    data = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": benchmark.machine(),
            "command": "python scripts/bench_languages.py " + shlex.join(sys.argv[1:]),
            "rows": rows}
    benchmark.write_results(args.name, data, markdown)


if __name__ == "__main__":
    main()
