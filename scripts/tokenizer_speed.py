"""Tokenizing speed alone: a model's own tokenizer against the rules, on one text file.

    python scripts/tokenizer_speed.py models/benchmark/ud_en_ewt-seed1 FILE [--repeats 5]

Tokenizes every line of FILE (one text per line) in chunks of 2,048 lines, as `tagger tag
--input` does, with each tokenizer in turn, rules first, `--repeats` times in one process
(each run with a tokenizer loaded afresh), and prints the median seconds and tokens/s of
each and their ratio. The learned tokenizer labels each distinct run of non-space
characters once and keeps its words for the next chunks, so text that repeats itself (as
the 1M-token speed files, which repeat a validation split) tokenizes faster than text that
does not: give it both kinds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from tagger.apps.batch import CHUNK_LINES
from tagger.pipeline import Tagger
from tagger.text.tokenizer import Rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("file", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    texts = args.file.read_text(encoding="utf-8").splitlines()
    chunks = [texts[i:i + CHUNK_LINES] for i in range(0, len(texts), CHUNK_LINES)]
    tokenizers = {"rules": Rules, "model": lambda: Tagger.load(args.model).tokenizer}
    seconds: dict[str, list[float]] = {name: [] for name in tokenizers}
    tokens, names = {}, {}
    for _ in range(args.repeats):
        for name, make in tokenizers.items():
            tokenize = make()  # afresh: nothing kept from an earlier run
            names[name] = tokenize.name
            started = time.perf_counter()
            tokens[name] = sum(int(tokenize(chunk).splits[-1]) for chunk in chunks)
            seconds[name].append(time.perf_counter() - started)
    print(f"{args.file}: {len(texts)} lines; median of {args.repeats} runs, alternating")
    for name in tokenizers:
        median = statistics.median(seconds[name])
        print(f"{name:6} ({names[name]:7}) {median:7.3f} s  {tokens[name] / median:11,.0f} "
              f"tokens/s  ({tokens[name]:,} tokens)")
    ratio = statistics.median(seconds["model"]) / statistics.median(seconds["rules"])
    print(f"model / rules: {ratio:.2f}x the time")


if __name__ == "__main__":
    main()
