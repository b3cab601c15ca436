"""POS tagging from raw text against gold tokens, per treebank and tokenizer, in one run.

    python scripts/raw_text_table.py    # EWT, German, French and Chinese GSD, seeds 1-3

Trains each recipe with each seed (`--reuse` scores models an earlier run of the same
command left; the recipes' default tokenizer, `auto`), then scores each model on the
validation split: on the treebank's tokens (UPOS accuracy, as training reports it) and from
the raw text of `../shared/data/raw/CORPUS` (`tagger evaluate --raw-text`: tokens, words and
UPOS F1 after aligning characters, the CoNLL 2018 way) twice, with the rules and with the
model's own tokenizer (`--tokenizer rules|model`). Medians over the seeds, with their range.
Writes data/benchmarks/raw-text.{md,json}.
"""

from __future__ import annotations

import json
import platform
import shlex
import statistics
import sys
from datetime import UTC, datetime

from benchmark import ROOT, machine, run, table, training_parser

from tagger.corpora import CorpusSource
from tagger.evaluation import evaluate_raw_text

RECIPES = ["ud_en_ewt", "ud_de_gsd", "ud_fr_gsd", "ud_zh_gsd"]
RAW = ROOT.parent / "shared" / "data" / "raw"


def _cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.median(values):.2f} [{min(values):.2f}, {max(values):.2f}]"


def markdown(data: dict) -> str:
    lines = [f"{data['date']}, {data['machine']}; `{data['command']}`; validation splits, "
             f"seeds {', '.join(map(str, data['seeds']))} (median [range]); tokens, words and "
             "UPOS F1 from raw text after aligning characters; gap: UPOS from raw text minus "
             "UPOS on gold tokens.", ""]
    rows = []
    for r in data["rows"]:
        gaps = [raw - gold for raw, gold in zip(r["raw_upos_f1"], r["gold_tokens_upos"],
                                                strict=True)]
        rows.append([r["corpus"], r["tokenizer"], _cell(r["tokens_f1"]), _cell(r["words_f1"]),
                     _cell(r["gold_tokens_upos"]), _cell(r["raw_upos_f1"]),
                     f"{statistics.median(gaps):+.2f}"])
    headers = ["corpus", "tokenizer", "tokens F1", "words F1", "UPOS on gold tokens",
               "UPOS F1 from raw text", "gap"]
    return "\n".join([*lines, table(headers, rows)]) + "\n"


def main() -> None:
    parser = training_parser(__doc__.split("\n")[0], seeds="1,2,3")
    parser.set_defaults(recipes=[ROOT / "data" / "recipes" / f"{name}.toml" for name in RECIPES])
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    rows = []
    for recipe in args.recipes:
        found: dict[str, dict[str, list]] = {}
        for seed in seeds:
            trained = run(recipe.resolve(), args.models, seed, [], args.reuse)
            model = args.models / f"{recipe.stem}-seed{seed}"
            own = json.loads((model / "metrics.json").read_text())["tokenizer"]["chosen"]
            for tokenizer in ("rules", "model"):
                raw = evaluate_raw_text(model, CorpusSource(str(RAW / recipe.stem)),
                                        tokenizer=tokenizer)
                name = "rules" if tokenizer == "rules" else own
                row = found.setdefault(name, {"tokens_f1": [], "words_f1": [],
                                              "gold_tokens_upos": [], "raw_upos_f1": [],
                                              "train_minutes": []})
                if tokenizer == "model" and own == "rules":
                    continue  # the same scores as the rules row
                row["tokens_f1"].append(round(raw["tokens"]["f1"] * 100, 2))
                row["words_f1"].append(round(raw["words"]["f1"] * 100, 2))
                row["gold_tokens_upos"].append(trained["validation"])
                row["raw_upos_f1"].append(round(raw["tags"]["f1"] * 100, 2))
                row["train_minutes"].append(trained["train_minutes"])
            print(json.dumps({"corpus": recipe.stem, "seed": seed, **found}), file=sys.stderr,
                  flush=True)
        rows += [{"corpus": recipe.stem, "tokenizer": name, **values}
                 for name, values in found.items()]
    data = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": machine(),
            "command": shlex.join(["python", "scripts/raw_text_table.py", *sys.argv[1:]]),
            "python": platform.python_version(), "seeds": seeds, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "raw-text.json").write_text(json.dumps(data, indent=2) + "\n")
    (args.out / "raw-text.md").write_text(markdown(data))
    print(markdown(data))


if __name__ == "__main__":
    main()
