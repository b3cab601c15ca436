"""docs/benchmarks.md from data/benchmarks/*.json: every benchmark's latest tables.

    python scripts/benchmark_page.py            # writes docs/benchmarks.md
    python scripts/benchmark_page.py --check    # exit 1 if the page is not up to date

Each JSON file is rendered by the script that wrote it (its `markdown` function), so the
page shows exactly what the runs measured, each table with its command, machine and date.
tests/test_docs.py checks that the page is up to date with the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import ablation
import bench_ab
import bench_beam
import bench_calibration
import bench_context
import bench_heads
import bench_languages
import bench_precision
import bench_sentences
import bench_speed
import benchmark
import check_conll18
import encoder_benchmark
import encoder_speed
import load_test
import raw_text_table
import soak

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "data" / "benchmarks"
PAGE = ROOT / "docs" / "benchmarks.md"


def _results(data: dict) -> str:
    return benchmark.markdown(data["results"], f"{data['date']}, {data['machine']}, "
                              f"TensorFlow {data['tensorflow']}; `{data['command']}`; "
                              f"{data['note']}.")


def _ablation(data: dict) -> str:
    return ablation.markdown(data["variants"], f"{data['date']}, {data['machine']}, "
                             f"TensorFlow {data['tensorflow']}; `{data['command']}`.")


def _speed(data: dict) -> str:
    return bench_speed.markdown(data, data["models"], data["training"], data["crfsuite"],
                                data.get("big_file"))


# Sections in page order: a title, what they measure, and the files with their renderer.
SECTIONS: list[tuple[str, str, str, Callable[[dict], str]]] = [
    ("Accuracy", "The recipes in `data/recipes/`, several seeds each, validation splits "
     "(median and the seeds' range).", "results*.json", _results),
    ("Languages", "Named entities in English, Spanish, Dutch, German, Russian and Chinese: "
     "each recipe over seeds with no pretrained vectors, Chinese also from raw text, the "
     "corpus-picked defaults beside (`scripts/bench_languages.py`).", "languages.json",
     bench_languages.markdown),
    ("Calibration", "Span confidences against how often spans are right, on the half of "
     "validation a map was not fitted on: raw, a temperature, isotonic and logistic maps "
     "(`scripts/bench_calibration.py`).", "calibration.json", bench_calibration.markdown),
    ("Ablations", "One technique changed at a time against the recipe, three seeds each; "
     "the story of these runs is in [experiments.md](experiments.md).", "ablation-*.json",
     _ablation),
    ("Heads", "Several tag columns from one network (`tagger train --columns`): every UD "
     "layer's validation score, scored as the CoNLL 2018 scorer does, beside the "
     "one-column model of the same recipe.", "heads-*.json", bench_heads.markdown),
    ("A/B speed", "Two whole commands timed in turn, A B A B (`scripts/bench_ab.py`): a "
     "model of several heads against one of one head, one head's tagging before and after "
     "heads were redesigned, a document against the same text a sentence per line, Beam's "
     "chunked pipeline against its line-per-element one, Beam on Dask after and before its "
     "files became partitions and its writer lost its side inputs.", "ab-*.json",
     bench_ab.markdown),
    ("Scorer check", "`tagger evaluate`'s UD layers against the official CoNLL 2018 "
     "scorer on the same model's `tagger tag --format conllu` output "
     "(`scripts/check_conll18.py`).", "conll18-check-*.json", check_conll18.markdown),
    ("Contextual encoder", "GloVe 6B 50d plus a frozen BERT-family encoder "
     "(`--encoder`) beside the GloVe tier: accuracy over seeds, the model folder's int8 "
     "encoder on the onnx backend, training time, tagging speed and memory.",
     "encoder*.json", encoder_benchmark.markdown),
    ("Document context", "The contextual encoder reading each sentence's neighbours in "
     "its document (`--encoder-context`), beside the sentence-level tier "
     "(`scripts/bench_context.py`).", "context-*.json", bench_context.markdown),
    ("Encoder speed", "The encoder's ONNX graph call by call, float32 and int8 (what a call "
     "costs beside its subwords sets how tagging cuts windows into calls), and whole "
     "`tagger tag` processes on one model folder with each.", "speed-encoder.json",
     encoder_speed.markdown),
    ("Raw text", "POS tagging from raw text against gold tokens, with the rules and with the "
     "tokenizer each model learned from its treebank: the tokenizer's share of the errors.",
     "raw-text*.json", raw_text_table.markdown),
    ("Sentences", "Sentences found in running text: Sentences F1 of the sentence splitter "
     "training learns, beside the rules, on each treebank's validation paragraphs "
     "(`scripts/bench_sentences.py`).", "sentences.json", bench_sentences.markdown),
    ("Beam", "Batch tagging on Apache Beam against `tagger tag` on the same text, whole "
     "processes in turn (`scripts/bench_beam.py`).", "beam-*.json", bench_beam.markdown),
    ("Speed", "Whole `tagger tag` processes on a raw-text file against the CRFsuite baseline "
     "in the same run.", "speed.json", _speed),
    ("Precision", "The network's float32 ONNX graph against int8 weights and OpenVINO.",
     "precision.json", bench_precision.markdown),
    ("Serving", "`tagger serve` under load (`scripts/load_test.py`), and under normal "
     "traffic mixed with poison requests and a SIGTERM (`scripts/soak.py`).", "s*.json",
     lambda data: (soak.markdown if "soak" in data else load_test.markdown)(data)),
]


def render() -> str:
    lines = ["# Benchmarks", "",
             "Generated by `python scripts/benchmark_page.py` from `data/benchmarks/*.json`; "
             "do not edit by hand. Validation splits only; a 2-core machine without GPU, "
             "shared, so absolute times drift by about 25% between runs: compare the rows "
             "of one table, measured in one run.", ""]
    for title, about, pattern, renderer in SECTIONS:
        files = sorted(p for p in RESULTS.glob(pattern)
                       if title != "Serving" or p.stem in ("serve", "soak")
                       or p.stem.startswith("soak-"))
        if not files:
            continue
        lines += [f"## {title}", "", about, ""]
        for path in files:
            data = json.loads(path.read_text(encoding="utf-8"))
            lines += [f"### {path.stem}", "", renderer(data).rstrip("\n"), "",
                      f"Data: `data/benchmarks/{path.name}`.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if docs/benchmarks.md differs from the JSON's page")
    args = parser.parse_args()
    page = render()
    if args.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != page:
            sys.exit("docs/benchmarks.md is out of date: run python scripts/benchmark_page.py")
        return
    PAGE.write_text(page, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
