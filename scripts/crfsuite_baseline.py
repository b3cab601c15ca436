"""A CRFsuite baseline with the classic hand-made word features, for speed and accuracy.

    python scripts/crfsuite_baseline.py train ../shared/data/conll2003 MODEL.crfsuite
    python scripts/crfsuite_baseline.py tag MODEL.crfsuite INPUT.txt OUTPUT.jsonl

`train` fits CRFsuite (python-crfsuite; L-BFGS, c1 = c2 = 0.1, the sklearn-crfsuite
tutorial's settings) on the train split and prints the validation score. `tag` reads raw
text, one sentence per line, splits it on whitespace (a cheaper tokenizer than tagger's),
tags it and writes JSON Lines with tokens and tags: nearly the work of
`tagger tag MODEL --input INPUT --output OUTPUT` (which also writes offsets and spans), so
the two compare end to end. Needs the bench extra: pip install -e '.[bench]'
(python-crfsuite).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pycrfsuite


def _word_features(word: str, prefix: str) -> dict[str, object]:
    return {
        f"{prefix}lower": word.lower(),
        f"{prefix}suffix3": word[-3:],
        f"{prefix}suffix2": word[-2:],
        f"{prefix}upper": word.isupper(),
        f"{prefix}title": word.istitle(),
        f"{prefix}digit": word.isdigit(),
    }


def sentence_features(tokens: list[str]) -> list[dict[str, object]]:
    """Features of each token from itself and its neighbours (CRFsuite tutorial style)."""
    rows = []
    for i, word in enumerate(tokens):
        row: dict[str, object] = {"bias": 1.0, **_word_features(word, "")}
        if i > 0:
            row.update(_word_features(tokens[i - 1], "-1:"))
        else:
            row["BOS"] = True
        if i + 1 < len(tokens):
            row.update(_word_features(tokens[i + 1], "+1:"))
        else:
            row["EOS"] = True
        rows.append(row)
    return rows


def train(dataset: str, model: Path, iterations: int) -> None:
    from tagger.corpora import load_corpus
    from tagger.metrics import score

    corpus = load_corpus(dataset)
    trainer = pycrfsuite.Trainer(algorithm="lbfgs", verbose=False)
    trainer.set_params({"c1": 0.1, "c2": 0.1, "max_iterations": iterations})
    for tokens, tags in corpus.split("train"):
        trainer.append(sentence_features(tokens), tags)
    started = time.perf_counter()
    trainer.train(str(model))
    minutes = (time.perf_counter() - started) / 60
    validation = corpus.split("validation")
    tagger = pycrfsuite.Tagger()
    tagger.open(str(model))
    predicted = [tagger.tag(sentence_features(w)) for w, _ in validation]
    report = score([t for _, t in validation], predicted, corpus.scheme)
    print(f"trained in {minutes:.1f} min; validation {report['metric']} "
          f"{report['score'] * 100:.2f}")


def tag(model: Path, source: Path, target: Path) -> None:
    tagger = pycrfsuite.Tagger()
    tagger.open(str(model))
    with open(source, encoding="utf-8") as lines, open(target, "w", encoding="utf-8") as out:
        for line in lines:
            tokens = line.split()
            tags = tagger.tag(sentence_features(tokens)) if tokens else []
            out.write(json.dumps({"tokens": tokens, "tags": tags}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("train")
    fit.add_argument("dataset")
    fit.add_argument("model", type=Path)
    fit.add_argument("--iterations", type=int, default=100)
    run = commands.add_parser("tag")
    run.add_argument("model", type=Path)
    run.add_argument("input", type=Path)
    run.add_argument("output", type=Path)
    args = parser.parse_args()
    if args.command == "train":
        train(args.dataset, args.model, args.iterations)
    else:
        tag(args.model, args.input, args.output)


if __name__ == "__main__":
    sys.exit(main())
