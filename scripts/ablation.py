"""Ablation: a recipe with one technique from the literature changed at a time, on N seeds.

    python scripts/ablation.py data/recipes/wnut_17.toml --seeds 1,2,3
    python scripts/ablation.py data/recipes/conll2003.toml --only recipe,iobes,nadam --glove
    python scripts/ablation.py data/recipes/conll2003.toml --glove --encoder DIR \
        --only encoder,encoder-first,encoder-top,encoder-6-layers

Each variant is the recipe plus the options below, trained once per seed in a fresh process
(see benchmark.py); the table gives each variant's median validation score, its spread
(min-max) and its difference from the recipe's median in the same run. Writes
data/benchmarks/ablation-CORPUS[-glove][-NAME].{md,json}. Validation splits only.
"""

from __future__ import annotations

import json
import platform
import shlex
import sys
from datetime import UTC, datetime

from benchmark import glove_folder, machine, run, summary, training_parser

# name -> (options on top of the recipe, what the literature calls it)
VARIANTS: dict[str, tuple[str, str]] = {
    "recipe": ("", "the recipe as it is"),
    "iobes": ("--train-scheme iobes", "IOBES targets (Lample et al. 2016)"),
    "nadam": ("--optimizer nadam", "Nadam (Reimers & Gurevych 2017)"),
    # Ma & Hovy's rate 0.015 is for a loss summed over each sentence's tokens; tagger's loss
    # is a mean per token, so the same steps take about 14 times the rate (CoNLL's mean
    # sentence length). Taken as it is, 0.015 learns nothing in 5 epochs on WNUT-17.
    "sgd": ("--optimizer sgd --learning-rate 0.2 --lr-decay 0.05",
            "SGD, momentum 0.9, rate 0.2 / (1 + 0.05 e) (Ma & Hovy 2016)"),
    "plateau": ("--lr-plateau 2 --patience 6 --epochs 50",
                "halve the rate after 2 epochs without progress, patience 6, 50 epochs"),
    "deeper": ("--layers 2 --units 200", "2 BiLSTM layers of 200 units"),
    "locked": ("--locked-dropout", "locked (variational) dropout"),
    "char-lstm": ("--char-model lstm", "character BiLSTM, 25 units per direction (Lample)"),
    # Tagging parts of speech leans on suffixes and shapes more than naming entities does.
    "wide-chars": ("--char-dim 50 --char-filters 100",
                   "larger character model: 50-dim characters, 100 CNN filters"),
    # The two that won on WNUT-17 from scratch, together.
    "char-lstm+locked": ("--char-model lstm --locked-dropout",
                         "character BiLSTM and locked dropout"),
    # 0.999 averages over about 1,000 steps, ten WNUT-17 epochs: the average is still the
    # initial weights when patience runs out (F1 0.0 after six epochs).
    "ema": ("--ema 0.99", "weights averaged over about the last 100 steps (momentum 0.99)"),
    # With --glove only.
    "frozen-vectors": ("--no-tune-vectors", "pretrained vectors frozen, train words' too"),
    # With --encoder (a BERT-family folder): the contextual tier's choices.
    "encoder": ("--encoder {encoder}", "the encoder's top 4 layers mixed, subwords averaged"),
    "encoder-first": ("--encoder {encoder} --encoder-pooling first",
                      "each word's first subword, not the mean"),
    "encoder-mean": ("--encoder {encoder} --encoder-pooling mean",
                     "the mean of each word's subwords, named (the default)"),
    "encoder-top": ("--encoder {encoder} --encoder-layers 1", "the top layer alone"),
    "encoder-6-layers": ("--encoder {encoder} --encoder-layers 6",
                         "six layers mixed (all of MiniLM's)"),
}
ENCODER_VARIANTS = {name for name, (options, _) in VARIANTS.items() if "{encoder}" in options}


def markdown(rows: list[dict], header: str) -> str:
    base = next((r["validation"] for r in rows if r["variant"] == "recipe"), None)
    lines = [header, "",
             "| variant | options | validation median (min-max) | vs recipe | seeds | "
             "train min | tagging tokens/s |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        delta = f"{r['validation'] - base:+.2f}" if base is not None else "n/a"
        lines.append(f"| {r['variant']} | `{r['options'] or '-'}` | {r['validation']:.2f} "
                     f"({r['min']:.2f}-{r['max']:.2f}) | {delta} | {len(r['seeds'])} | "
                     f"{r['train_minutes']} | {r['tagging_tokens_per_s']:,} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = training_parser(__doc__.split("\n")[0], seeds="1,2,3")
    parser.add_argument("--only", default=",".join(
        v for v in VARIANTS if v != "frozen-vectors" and v not in ENCODER_VARIANTS),
                        help=f"variants to run, of: {', '.join(VARIANTS)}")
    parser.add_argument("--encoder", help="the encoder folder of the encoder variants")
    parser.add_argument("--name", default="",
                        help="names the results (ablation-CORPUS-NAME.md), e.g. for a "
                             "second round whose table should not replace the first's")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    names = args.only.split(",")
    unknown = set(names) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variant {sorted(unknown)[0]!r}; choose from {', '.join(VARIANTS)}")
    if ENCODER_VARIANTS & set(names) and not args.encoder:
        parser.error("the encoder variants need --encoder FOLDER")
    vectors = ["--embeddings", glove_folder()] if args.glove else []
    import tensorflow as tf

    for recipe in args.recipes:
        stem = f"ablation-{recipe.stem}" + ("-glove" if args.glove else "")
        results = stem + (f"-{args.name}" if args.name else "")
        rows = []
        for name in names:
            options = VARIANTS[name][0].format(encoder=args.encoder)
            runs = []
            for seed in seeds:
                print(f"{recipe.stem} {name} seed {seed} ...", file=sys.stderr, flush=True)
                runs.append(run(recipe.resolve(), args.models / stem / name, seed,
                                [*vectors, *shlex.split(options)], args.reuse))
                print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
            rows.append({**summary(runs), "variant": name, "options": options,
                         "about": VARIANTS[name][1]})
        date = datetime.now(UTC).strftime("%Y-%m-%d")
        command = shlex.join(["python", "scripts/ablation.py", *sys.argv[1:]])
        header = (f"{date}, {machine()}, TensorFlow {tf.__version__}; `{command}`; "
                  f"{recipe.stem} validation, seeds {args.seeds}, "
                  f"{'GloVe 6B 50d' if args.glove else 'no pretrained vectors'}.")
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{results}.json").write_text(json.dumps(
            {"date": date, "machine": machine(), "command": command,
             "python": platform.python_version(), "tensorflow": tf.__version__,
             "variants": rows}, indent=2) + "\n")
        (args.out / f"{results}.md").write_text(markdown(rows, header))
        print(markdown(rows, header))


if __name__ == "__main__":
    main()
