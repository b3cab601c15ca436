"""POS tagging from raw text against gold tokens, per treebank and tokenizer, in one run.

    python scripts/raw_text_table.py    # EWT, German, French and Chinese GSD, seeds 1-3
    python scripts/raw_text_table.py --only ud_zh_gsd,ud_zh_gsd-uner --name raw-text-zh

Trains each row's recipe with each seed (`--reuse` scores models an earlier run of the same
command left; the recipes' default tokenizer, `auto`; the `-uner` row learns its tokenizer
and sentence splitter from uner_zh_gsd, GSD's whole train split: `--tokenizer-from`), then
scores each model on the validation split: on the treebank's tokens (UPOS accuracy, as
training reports it) and from the raw text of `../shared/data/raw/CORPUS` (`tagger evaluate
--raw-text`: tokens, words and UPOS F1 after aligning characters, the CoNLL 2018 way) twice,
with the rules and with the model's own tokenizer (`--tokenizer rules|model`); and, with its
own tokenizer, from the validation text's paragraphs as running text (`--raw-text
--documents`): Sentences F1 and UPOS F1 with the sentences the model found. Medians over the
seeds, with their range. Writes data/benchmarks/NAME.{md,json} (raw-text).
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

SHARED = ROOT.parent / "shared" / "data"
RAW = SHARED / "raw"
# Row name: (recipe, further training options).
ROWS = {"ud_en_ewt": ("ud_en_ewt", []), "ud_de_gsd": ("ud_de_gsd", []),
        "ud_fr_gsd": ("ud_fr_gsd", []), "ud_zh_gsd": ("ud_zh_gsd", []),
        "ud_zh_gsd-uner": ("ud_zh_gsd", ["--tokenizer-from", str(SHARED / "uner_zh_gsd")])}


def _cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.median(values):.2f} [{min(values):.2f}, {max(values):.2f}]"


def markdown(data: dict) -> str:
    lines = [f"{data['date']}, {data['machine']}; `{data['command']}`; validation splits, "
             f"seeds {', '.join(map(str, data['seeds']))} (median [range]); tokens, words and "
             "UPOS F1 from raw text after aligning characters, with gold sentences; gap: UPOS "
             "from raw text minus UPOS on gold tokens; documents: the paragraphs' running "
             "text, whose sentences the model finds (the model's own tokenizer).", ""]
    rows = []
    for r in data["rows"]:
        gaps = [raw - gold for raw, gold in zip(r["raw_upos_f1"], r["gold_tokens_upos"],
                                                strict=True)]
        documents = [raw - gold for raw, gold in zip(r.get("documents_upos_f1", []),
                                                     r["gold_tokens_upos"], strict=False)]
        rows.append([r["corpus"], r["tokenizer"], _cell(r["tokens_f1"]), _cell(r["words_f1"]),
                     _cell(r["gold_tokens_upos"]), _cell(r["raw_upos_f1"]),
                     f"{statistics.median(gaps):+.2f}",
                     _cell(r["sentences_f1"]) if r.get("sentences_f1") else "-",
                     _cell(r["documents_upos_f1"]) if documents else "-",
                     f"{statistics.median(documents):+.2f}" if documents else "-"])
    headers = ["corpus", "tokenizer", "tokens F1", "words F1", "UPOS on gold tokens",
               "UPOS F1 from raw text", "gap", "Sentences F1 (documents)",
               "UPOS F1 from documents", "gap (documents)"]
    return "\n".join([*lines, table(headers, rows)]) + "\n"


def main() -> None:
    parser = training_parser(__doc__.split("\n")[0], seeds="1,2,3")
    parser.add_argument("--only", default=",".join(ROWS),
                        help=f"comma-separated rows, of: {', '.join(ROWS)}")
    parser.add_argument("--name", default="raw-text", help="the results' file name")
    args = parser.parse_args()
    if args.recipes != parser.get_default("recipes"):
        parser.error("this table's rows are named with --only, not given as recipes")
    if unknown := set(args.only.split(",")) - set(ROWS):
        parser.error(f"--only: no row {sorted(unknown)[0]!r}; rows: {', '.join(ROWS)}")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    rows = []
    for row_name in args.only.split(","):
        stem, extra = ROWS[row_name]
        recipe = ROOT / "data" / "recipes" / f"{stem}.toml"
        models = args.models / row_name if extra else args.models
        found: dict[str, dict[str, list]] = {}
        for seed in seeds:
            trained = run(recipe.resolve(), models, seed, extra, args.reuse)
            model = models / f"{recipe.stem}-seed{seed}"
            own = json.loads((model / "metrics.json").read_text())["tokenizer"]["chosen"]
            source = CorpusSource(str(RAW / recipe.stem))
            for tokenizer in ("rules", "model"):
                raw = evaluate_raw_text(model, source, tokenizer=tokenizer)
                name = "rules" if tokenizer == "rules" else own
                row = found.setdefault(name, {"tokens_f1": [], "words_f1": [],
                                              "gold_tokens_upos": [], "raw_upos_f1": [],
                                              "train_minutes": [], "sentences_f1": [],
                                              "documents_upos_f1": []})
                if tokenizer == "model":
                    documents = evaluate_raw_text(model, source, documents=True)
                    row["sentences_f1"].append(
                        round(documents["sentence_spans"]["f1"] * 100, 2))
                    row["documents_upos_f1"].append(round(documents["tags"]["f1"] * 100, 2))
                if tokenizer == "model" and own == "rules":
                    continue  # the same scores as the rules row
                row["tokens_f1"].append(round(raw["tokens"]["f1"] * 100, 2))
                row["words_f1"].append(round(raw["words"]["f1"] * 100, 2))
                row["gold_tokens_upos"].append(trained["validation"])
                row["raw_upos_f1"].append(round(raw["tags"]["f1"] * 100, 2))
                row["train_minutes"].append(trained["train_minutes"])
            print(json.dumps({"corpus": row_name, "seed": seed, **found}), file=sys.stderr,
                  flush=True)
        rows += [{"corpus": row_name, "tokenizer": name, **values}
                 for name, values in found.items()]
    data = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": machine(),
            "command": shlex.join(["python", "scripts/raw_text_table.py", *sys.argv[1:]]),
            "python": platform.python_version(), "seeds": seeds, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(data, indent=2) + "\n")
    (args.out / f"{args.name}.md").write_text(markdown(data))
    print(markdown(data))


if __name__ == "__main__":
    main()
