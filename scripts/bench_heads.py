"""Several tag columns from one network: every UD layer's validation score over seeds, beside
the one-column model of the same recipe, read from trained model folders.

    for seed in 1 2 3; do
      tagger train --recipe data/recipes/ud_en_ewt.toml --columns upos,xpos,feats,lemma \
          --embeddings GLOVE --seed $seed --output models/heads/glove-4heads-seed$seed
    done
    tagger train --recipe data/recipes/ud_en_ewt.toml --embeddings GLOVE --seed 1 \
        --output models/heads/glove-upos-seed1
    python scripts/bench_heads.py --name glove \
        --row "upos,xpos,feats,lemma=models/heads/glove-4heads-seed*" \
        --row "upos alone=models/heads/glove-upos-seed*" \
        --raw "German GSD=models/heads/de-4heads-seed*@../shared/data/raw/ud_de_gsd"

Each --row is a name and a glob of model folders (one per seed). From each folder's
metrics.json and config.json: the kept epoch's validation layers on gold tokens (scored as
the CoNLL 2018 scorer does: UPOS, XPOS, UFeats, AllTags, Lemmas; a one-column model's
accuracy as its column's), epochs and training minutes. A --raw row also scores each model
from the raw text of a CoNLL-U folder's validation split (`tagger evaluate --raw-text`),
and gives both.
Writes data/benchmarks/heads-NAME.{md,json}: each layer's median and range over the seeds.
Validation splits only: the test splits are withheld.
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
from tagger.evaluation import evaluate_raw_text
from tagger.heads import edits
from tagger.model_folder import column_name
from tagger.pipeline import Tagger

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("UPOS", "XPOS", "UFeats", "AllTags", "Lemmas")
UD = {"upos": "UPOS", "xpos": "XPOS", "feats": "UFeats", "lemma": "Lemmas"}


def layers_of(folder: Path) -> tuple[dict[str, float], dict]:
    """A model's validation score of each layer, and its metrics."""
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    report = metrics["validation"]
    if "layers" in report:
        return report["layers"], metrics
    column = json.loads((folder / "config.json").read_text(encoding="utf-8"))["corpus"][
        "tag_column"]
    return {UD.get(column, column): report["accuracy"]}, metrics


def raw_layers_of(folder: Path, dataset: str) -> dict[str, float]:
    """A model's F1 of each layer from the raw text of `dataset`'s validation split."""
    report = evaluate_raw_text(folder, CorpusSource(dataset))
    return {"Tokens": report["tokens"]["f1"], "Words": report["words"]["f1"],
            **{name: found["f1"] for name, found in report["layers"].items()}}


def lemma_fallbacks(folder: Path) -> dict[str, int] | None:
    """How many validation words (gold tokens) got a predicted edit script that does not
    fit their form (`edits.fits`), and how many of those the fallback lemmatized right."""
    tagger = Tagger.load(folder)
    index = next((i for i, h in enumerate(tagger.heads) if h.kind == "lemma"), None)
    if index is None:
        return None
    corpus = tagger.config.corpus.source.load()
    name = next(c for c in corpus.more if column_name(c) == "lemma")
    sentences = [words for words, _ in corpus.split("validation")]
    scripts = tagger.heads[index].labels
    ids = tagger.predict_tokens(sentences).more[index - 1]
    words = right = 0
    for forms, found, gold in zip(sentences, ids, corpus.column(name, "validation"),
                                  strict=True):
        for form, label, lemma in zip(forms, found.tolist(), gold, strict=True):
            if not edits.fits(scripts[label], form):
                words += 1
                right += edits.apply(scripts[label], form) == lemma
    return {"words": words, "right": right,
            "of": sum(len(forms) for forms in sentences)}


def summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values) * 100, 2),
            "min": round(min(values) * 100, 2), "max": round(max(values) * 100, 2),
            "seeds": len(values)}


def cell(found: dict | None) -> str:
    if not found:
        return "-"
    return f"{found['median']:.2f} ({found['min']:.2f}-{found['max']:.2f})"


def markdown(data: dict) -> str:
    """The table of one run (as docs/benchmarks.md shows it)."""
    head = (f"{data['date']}, {data['machine']}; `{data['command']}`; the models: "
            f"{data['trained']}; validation split, median (range) over the seeds; machine "
            "shared.")
    rows = [["model", "input", "seeds", "Tokens", "Words", *LAYERS, "epochs (best / run)",
             "train min"]]
    for name, row in data["rows"].items():
        for source, layers in (("gold tokens", row["layers"]), ("raw text", row.get("raw"))):
            if layers is not None:
                rows.append([name, source, row["seeds"],
                             *(cell(layers.get(layer)) for layer in ("Tokens", "Words",
                                                                      *LAYERS)),
                             row["epochs"], row["minutes"]])
    table = ["| " + " | ".join(map(str, rows[0])) + " |", "|" + " --- |" * len(rows[0]),
             *("| " + " | ".join(map(str, row)) + " |" for row in rows[1:])]
    notes = [f"{name}: the predicted edit script did not fit the form of "
             + ", ".join(f"{f['words']} of {f['of']:,} words ({f['right']} of them "
                         "lemmatized right by the fallback)" for f in row["lemma_fallbacks"])
             + " (per seed)." for name, row in data["rows"].items()
             if row.get("lemma_fallbacks")]
    return "\n".join([head, "", *table, *(["", *notes] if notes else [])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--row", action="append", default=[],
                        help="NAME=GLOB: a row of the table, its model folders")
    parser.add_argument("--raw", action="append", default=[],
                        help="NAME=GLOB@DATASET: a row scored on gold tokens and from the "
                             "raw text of a CoNLL-U folder's validation split")
    parser.add_argument("--trained", required=True,
                        help="how the models were trained, for the table's heading")
    args = parser.parse_args()
    rows = {}
    for row in args.row + args.raw:
        name, _, pattern = row.partition("=")
        pattern, _, raw = pattern.partition("@") if row in args.raw else (pattern, "", "")
        folders = sorted(Path(p) for p in glob(pattern) if (Path(p) / "metrics.json").exists())
        if not folders:
            sys.exit(f"--row {row}: no model folder matches")
        found = [layers_of(folder) for folder in folders]
        layers = {layer: summary([scores[layer] for scores, _ in found])
                  for layer in LAYERS if all(layer in scores for scores, _ in found)}
        metrics = [m for _, m in found]
        rows[name] = {
            "seeds": len(folders), "folders": [str(f) for f in folders], "layers": layers,
            "epochs": f"{statistics.median(m['best_epoch'] for m in metrics):g} / "
                      f"{statistics.median(m['epochs_run'] for m in metrics):g}",
            "minutes": round(statistics.median(m["train_minutes"] for m in metrics), 1)}
        fallbacks = [lemma_fallbacks(folder) for folder in folders]
        if all(fallbacks):
            rows[name]["lemma_fallbacks"] = fallbacks
        if raw:
            found_raw = [raw_layers_of(folder, raw) for folder in folders]
            rows[name]["raw"] = {layer: summary([scores[layer] for scores in found_raw])
                                 for layer in ("Tokens", "Words", *LAYERS)
                                 if all(layer in scores for scores in found_raw)}
    data = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": benchmark.machine(),
            "command": shlex.join(["python", *sys.argv]), "trained": args.trained,
            "rows": rows}
    benchmark.write_results(f"heads-{args.name}", data, markdown)


if __name__ == "__main__":
    main()
