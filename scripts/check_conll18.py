"""Check `tagger evaluate`'s UD scores against the official CoNLL 2018 scorer, on the same
model and files.

    python scripts/check_conll18.py MODEL GOLD.conllu --scorer PATH [--name NAME]

PATH is the official scorer: `udtools/src/udtools/udeval.py` of UniversalDependencies/tools
(or conll18_ud_eval.py of the CoNLL 2018 shared task); it is loaded from there, not copied.
The model tags GOLD's words (gold tokens), GOLD's `# text` lines (raw text, gold
sentences) with `tagger tag --format conllu`, and GOLD's paragraphs as one document's running
text (documents: the model finds the sentences; `tagger tag --input-format document`); each
output is scored by the official scorer and by tagger's own evaluation (`tagger evaluate`,
with `--raw-text` and `--raw-text --documents`), and the two are printed side by side. The scorer
needs a tree in every sentence: the system files get a flat one (HEAD 1, the first word 0),
which no tag or lemma score reads. Writes data/benchmarks/conll18-check-NAME.{md,json}.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import benchmark

from tagger import conll, raw_scoring
from tagger.apps import batch
from tagger.corpora import CorpusSource
from tagger.evaluation import evaluate_model, evaluate_raw_text
from tagger.pipeline import Tagger
from tagger.text import surface

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("Tokens", "Sentences", "Words", "UPOS", "XPOS", "UFeats", "AllTags", "Lemmas")


def official(scorer: Path):
    spec = importlib.util.spec_from_file_location("official_scorer", scorer)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def with_flat_trees(path: Path) -> Path:
    """A copy of a CoNLL-U file whose words all hang from the first word of their
    sentence (which hangs from the root)."""
    out = path.with_suffix(".tree.conllu")
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        columns = line.split("\t")
        if len(columns) == 10 and columns[0].isdigit():
            columns[6], columns[7] = ("0", "root") if columns[0] == "1" else ("1", "dep")
        lines.append("\t".join(columns))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def tagged_file(tagger: Tagger, source: Path, fmt: str, out: Path) -> Path:
    batch.tag_file(tagger, batch.open_input(str(source), fmt), str(out), "conllu", quiet=True)
    return with_flat_trees(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("gold", type=Path)
    parser.add_argument("--scorer", type=Path, required=True)
    parser.add_argument("--name", default="ud_en_ewt")
    parser.add_argument("--work", type=Path, default=Path("/tmp/conll18-check"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    scorer = official(args.scorer)
    tagger = Tagger.load(args.model)
    text = args.work / "text.txt"
    with conll.open_text(args.gold) as lines:
        text.write_text("".join(line.split("=", 1)[1].strip() + "\n" for line in lines
                                if line.startswith("# text =")), encoding="utf-8")
    document = args.work / "document.txt"
    paragraphs = surface.paragraphs(raw_scoring.read_conllu(args.gold, "upos"))
    document.write_text("\n\n".join(p.surface.text for p in paragraphs) + "\n",
                        encoding="utf-8")
    gold = scorer.load_conllu_file(str(args.gold))
    source = CorpusSource(f"validation={args.gold}")
    raw = evaluate_raw_text(args.model, source)
    documents = evaluate_raw_text(args.model, source, documents=True)
    # Given gold tokens (words, in fact: CoNLL-U input has no multiword-token lines), tagger
    # scores the words alone.
    ours = {"gold tokens": {"Words": 1.0, **evaluate_model(args.model, source)["layers"]},
            "raw text": {"Tokens": raw["tokens"]["f1"], "Words": raw["words"]["f1"],
                         **{name: value["f1"] for name, value in raw["layers"].items()}},
            "documents": {"Tokens": documents["tokens"]["f1"],
                          "Sentences": documents["sentence_spans"]["f1"],
                          "Words": documents["words"]["f1"],
                          **{name: value["f1"] for name, value in documents["layers"].items()}}}
    found = args.work / "documents.conllu"
    batch.tag_document(tagger, batch.open_input(str(document), "document"), str(found),
                       "conllu", quiet=True, max_chars=document.stat().st_size + 1)
    systems = {"gold tokens": tagged_file(tagger, args.gold, "conllu",
                                          args.work / "gold-tokens.conllu"),
               "raw text": tagged_file(tagger, text, "text", args.work / "raw-text.conllu"),
               "documents": with_flat_trees(found)}
    results = {}
    for mode, system in systems.items():
        scores = scorer.evaluate(gold, scorer.load_conllu_file(str(system)))
        results[mode] = {layer: {"official": round(scores[layer].f1 * 100, 2),
                                 "tagger": None if ours[mode].get(layer) is None
                                 else round(ours[mode][layer] * 100, 2)}
                         for layer in LAYERS}
    data = {"date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "command": shlex.join(["python", *sys.argv]), "model": str(args.model),
            "gold": str(args.gold), "results": results}
    benchmark.write_results(f"conll18-check-{args.name}", data, markdown)


def markdown(data: dict) -> str:
    """The comparison as docs/benchmarks.md shows it."""
    rows = [f"| {mode} | {layer} | {found['official']:.2f} | "
            f"{'-' if found['tagger'] is None else format(found['tagger'], '.2f')} |"
            for mode, layers in data["results"].items() for layer, found in layers.items()]
    return "\n".join([
        f"{data['date']}; `{data['command']}`; model {data['model']}, gold {data['gold']}; "
        "the official scorer is udeval.py of UniversalDependencies/tools. On gold tokens the "
        "system file has the words alone (CoNLL-U input has no multiword-token lines), so "
        "the scorer's Tokens there count those words against the treebank's tokens.", "",
        "| input | layer | official scorer | tagger evaluate |", "| --- | --- | --- | --- |",
        *rows])


if __name__ == "__main__":
    main()
