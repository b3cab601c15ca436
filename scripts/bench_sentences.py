"""Sentences found in running text: Sentences F1 (and Tokens F1) of the tokenizer and sentence
splitter that training learns, per corpus and seed, on the validation split's paragraphs
joined as the CoNLL 2018 shared task's raw text joins them.

    python scripts/bench_sentences.py --seeds 1,2,3

Each corpus: the tokenizer `tagger train --tokenizer auto` chooses and the splitter it
learns, from the train split (`training.tokenizers`), scored on a CoNLL-U validation file
with `# text` (paragraphs from `# newpar`; a file without them is one running text),
beside the rules' sentence ends. No tagging network: sentences and tokens only (`tagger
evaluate --raw-text --documents` gives every layer for a trained model). Writes
data/benchmarks/sentences.{md,json}. Validation splits only.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

import benchmark

from tagger import raw_scoring
from tagger.corpora import load_corpus
from tagger.documents import rule_ends_of
from tagger.progress import Progress
from tagger.text import surface
from tagger.training import tokenizers

SHARED = benchmark.ROOT.parent / "shared" / "data"
# (name, training corpus, its validation CoNLL-U, Stanza / UDPipe 2 Sentences F1 on the
# test split from raw text, as their published evaluations give them).
CORPORA = [
    ("English EWT", "ud_en_ewt", "raw/ud_en_ewt/en_ewt-ud-dev.conllu", "89.16 / 88.42"),
    ("French GSD", "ud_fr_gsd", "raw/ud_fr_gsd/fr_gsd-ud-dev.conllu", "95.03 / 93.82"),
    ("German GSD", "ud_de_gsd", "raw/ud_de_gsd/de_gsd-ud-dev.conllu", "83.84 / 83.32"),
    ("Chinese GSD", "ud_zh_gsd", "raw/ud_zh_gsd/zh_gsd-ud-dev.conllu", "99.10 / 99.10"),
    # The same validation text, the tokenizer and splitter learned from GSD's whole train
    # split (`tagger train --tokenizer-from ../shared/data/uner_zh_gsd`).
    ("Chinese GSD, from uner_zh_gsd's text", "uner_zh_gsd",
     "raw/ud_zh_gsd/zh_gsd-ud-dev.conllu", "99.10 / 99.10"),
]


def measure(dataset: Path, gold_file: Path, seed: int) -> dict:
    corpus = load_corpus(str(dataset))
    quiet = Progress(enabled=False)
    tokenizer, _ = tokenizers.choose(corpus, "auto", seed, quiet)
    splitter = tokenizers.learned_splitter(corpus, seed)
    _, found = tokenizers.kept_splitter(corpus, tokenizer, splitter, quiet)
    gold = surface.paragraphs(raw_scoring.read_conllu(gold_file))
    scores = {"rules": tokenizers.sentences_f1(tokenizer, rule_ends_of, gold),
              "learned": tokenizers.sentences_f1(tokenizer, splitter.ends_of, gold)}
    texts = [p.surface for p in gold]
    tokens = raw_scoring.token_agreement(tokenizer, texts)["f1"] * 100
    return {"tokenizer": tokenizer.name, "tokens_f1": round(tokens, 2),
            "sentences_f1": scores, "chosen": found.get("chosen"),
            "paragraphs": len(gold), "sentences": sum(len(p.sentences) for p in gold)}


def markdown(data: dict) -> str:
    rows = []
    for name, row in data["rows"].items():
        runs = row["runs"]

        def cell(values: list[float]) -> str:
            return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"

        rows.append([name, f"{runs[0]['sentences']:,} in {runs[0]['paragraphs']:,}",
                     runs[0]["tokenizer"], cell([r["tokens_f1"] for r in runs]),
                     cell([r["sentences_f1"]["rules"] for r in runs]),
                     cell([r["sentences_f1"]["learned"] for r in runs]),
                     ", ".join(sorted({str(r["chosen"]) for r in runs})), row["peers"],
                     len(runs)])
    head = (f"{data['date']}, {data['machine']}; `{data['command']}`; validation split "
            "(gold paragraphs, sentences joined by a space or none after SpaceAfter=No), "
            "median (range) over the seeds; Stanza / UDPipe 2: their published Sentences F1 "
            "on the test split, from raw text, for comparison only.")
    return head + "\n\n" + benchmark.table(
        ["corpus", "sentences in paragraphs", "tokenizer", "Tokens F1",
         "Sentences F1, rules", "Sentences F1, learned splitter", "training keeps",
         "Stanza / UDPipe 2 (test)", "seeds"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args()
    rows = {}
    for name, dataset, gold, peers in CORPORA:
        runs = [measure(SHARED / dataset, SHARED / gold, int(seed))
                for seed in args.seeds.split(",")]
        rows[name] = {"runs": runs, "peers": peers}
        print(name, runs, file=sys.stderr)
    data = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": benchmark.machine(),
            "command": shlex.join(["python", *sys.argv]), "rows": rows}
    benchmark.write_results("sentences", data, markdown)


if __name__ == "__main__":
    main()
