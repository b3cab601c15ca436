"""Tokenizing speed alone: a model's own tokenizer against the rules, on one text file.

    python scripts/tokenizer_speed.py models/benchmark/ud_en_ewt-seed1 FILE [--repeats 5]

Tokenizes every line of FILE (one text per line, as `tagger tag --input` reads it) with
each tokenizer in turn, rules first, `--repeats` times, in one process, and prints the
median seconds and tokens/s of each and their ratio. The learned tokenizer labels each
distinct run of non-space characters once, so text that repeats itself (as the 1M-token
speed files, which repeat a validation split) tokenizes faster than text that does not:
give it both kinds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from tagger.pipeline import Tagger
from tagger.text.tokenizer import Rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("file", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    texts = args.file.read_text(encoding="utf-8").splitlines()
    tokenizers = {"rules": Rules(), "model": Tagger.load(args.model).tokenizer}
    seconds: dict[str, list[float]] = {name: [] for name in tokenizers}
    tokens = {}
    for _ in range(args.repeats):
        for name, tokenize in tokenizers.items():
            started = time.perf_counter()
            tokens[name] = int(tokenize(texts).splits[-1])
            seconds[name].append(time.perf_counter() - started)
    print(f"{args.file}: {len(texts)} lines; median of {args.repeats} runs, alternating")
    for name, tokenize in tokenizers.items():
        median = statistics.median(seconds[name])
        print(f"{name:6} ({tokenize.name:7}) {median:7.3f} s  {tokens[name] / median:11,.0f} "
              f"tokens/s  ({tokens[name]:,} tokens)")
    ratio = statistics.median(seconds["model"]) / statistics.median(seconds["rules"])
    print(f"model / rules: {ratio:.2f}x the time")


if __name__ == "__main__":
    main()
