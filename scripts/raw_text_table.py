"""POS tagging from raw text against gold tokens, per treebank, in one run.

    python scripts/raw_text_table.py    # EWT, German, French and Chinese GSD

Trains each recipe (seed 1; `--reuse` scores a model an earlier run of the same command
left), then scores its model on the validation split twice: on the treebank's tokens (UPOS
accuracy, as training reports it) and from the raw text of `../shared/data/raw/CORPUS`
(`tagger evaluate --raw-text`: tokens, words and UPOS F1 after aligning characters, the
CoNLL 2018 way). Writes data/benchmarks/raw-text.{md,json}.
"""

from __future__ import annotations

import json
import platform
import shlex
import sys
from datetime import UTC, datetime

from benchmark import ROOT, machine, run, training_parser

from tagger.corpora import CorpusSource
from tagger.evaluation import evaluate_raw_text

RECIPES = ["ud_en_ewt", "ud_de_gsd", "ud_fr_gsd", "ud_zh_gsd"]
RAW = ROOT.parent / "shared" / "data" / "raw"


def markdown(data: dict) -> str:
    lines = [f"{data['date']}, {data['machine']}; `{data['command']}`; validation splits, "
             "seed 1; tokens, words and UPOS F1 from raw text after aligning characters.", "",
             "| corpus | tokenizer | tokens F1 | words F1 | UPOS on gold tokens | UPOS F1 from "
             "raw text | gap |", "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['corpus']} | {r['tokenizer']} | {r['tokens_f1']:.2f} | "
              f"{r['words_f1']:.2f} | {r['gold_tokens_upos']:.2f} | {r['raw_upos_f1']:.2f} | "
              f"{r['raw_upos_f1'] - r['gold_tokens_upos']:+.2f} |" for r in data["rows"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = training_parser(__doc__.split("\n")[0], seeds="1")
    parser.set_defaults(recipes=[ROOT / "data" / "recipes" / f"{name}.toml" for name in RECIPES])
    args = parser.parse_args()
    rows = []
    for recipe in args.recipes:
        trained = run(recipe.resolve(), args.models, 1, [], args.reuse)
        model = args.models / f"{recipe.stem}-seed1"
        raw = evaluate_raw_text(model, CorpusSource(str(RAW / recipe.stem)))
        rows.append({"corpus": recipe.stem, "tokenizer": "rules",
                     "tokens_f1": round(raw["tokens"]["f1"] * 100, 2),
                     "words_f1": round(raw["words"]["f1"] * 100, 2),
                     "gold_tokens_upos": trained["validation"],
                     "raw_upos_f1": round(raw["tags"]["f1"] * 100, 2),
                     "train_minutes": trained["train_minutes"]})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    data = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": machine(),
            "command": shlex.join(["python", "scripts/raw_text_table.py", *sys.argv[1:]]),
            "python": platform.python_version(), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "raw-text.json").write_text(json.dumps(data, indent=2) + "\n")
    (args.out / "raw-text.md").write_text(markdown(data))
    print(markdown(data))


if __name__ == "__main__":
    main()
