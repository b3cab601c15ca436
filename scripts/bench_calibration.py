"""Calibrated span confidences: which map, and how well it holds on spans it was not fitted on.

    python scripts/bench_calibration.py --name calibration \
        --models 'models/ner/conll2003-seed*' 'models/ner/wnut_17-seed*' \
                 'models/ner/conll2002_es-seed*'

For each model (entity models, on the validation split of the corpus each was trained on),
span confidences are fitted on every other sentence (the 1st, 3rd, ...) and measured on the
others, as training fits them (`evaluation.fit_calibration`), by each way:

    raw          the span's tokens' lowest marginal, uncalibrated
    temperature  the CRF's scores divided by one T before the marginals (T by the lowest
                 log loss of the fitting half's spans, on a grid)
    isotonic     tagger.calibration's isotonic map
    platt        tagger.calibration's logistic map

and reports the expected calibration error (10 equal-width bins, spans predicted), the error
perfectly calibrated confidences would show on as many spans (`calibration.noise_floor`),
and precision and recall at --min-confidence 0.5, 0.7, 0.9; median (range) over each
corpus's seeds. Writes data/benchmarks/NAME.{md,json} and a reliability diagram per corpus
(the held-out spans of its first model, raw and with the chosen map) as
docs/images/reliability-CORPUS.svg. Validation splits only: the test splits are withheld.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from datetime import UTC, datetime
from glob import glob
from pathlib import Path

import benchmark
import numpy as np

from tagger import calibration
from tagger.corpora import DEFAULT_TAG_COLUMNS, canonical_split
from tagger.decoding import CrfScores
from tagger.evaluation import spans_against_gold
from tagger.pipeline import Tagger

TEMPERATURES = np.round(np.arange(0.5, 3.01, 0.1), 2)
IMAGES = benchmark.ROOT / "docs" / "images"


class Tempered:
    """A CRF head's decoder with its emission and transition scores divided by T: the same
    best path, softer or sharper marginals."""

    def __init__(self, head, crf: CrfScores, temperature: float) -> None:
        self.decoder = head.decoder(CrfScores(*(np.asarray(s) / temperature for s in crf)))
        self.temperature = temperature

    def __call__(self, scores: np.ndarray, lengths: np.ndarray):
        return self.decoder(scores / self.temperature, lengths)


def measured(folder: Path) -> dict:
    tagger = Tagger.load(folder, "keras")
    trained = tagger.config.corpus
    corpus = trained.source.load(default_tag_columns=(trained.tag_column, *DEFAULT_TAG_COLUMNS))
    sentences = corpus.split("validation")
    documents = corpus.documents.get(canonical_split("validation"))
    tokens = [t for t, _ in sentences]
    tagger.calibrate(None)
    # The network's scores do not depend on T: computed once, decoded at every T.
    network, kept = tagger._scored_batches, []

    def replayed(pieces, neighbours=None):
        if not kept:
            kept.extend(network(pieces, neighbours))
        return iter(kept)

    tagger._scored_batches = replayed

    def outcomes():
        return spans_against_gold(tagger, sentences, tagger.predict_tokens(tokens, documents))

    confidences, correct, owners, gold = outcomes()
    fitting, held = owners % 2 == 0, owners % 2 == 1
    held_gold = int(gold[1::2].sum())
    found = {"raw": calibration.report(confidences[held], correct[held], held_gold)}
    for method in ("isotonic", "platt"):
        fitted = calibration.fit(confidences[fitting], correct[fitting], method)
        found[method] = calibration.report(fitted(confidences[held]), correct[held], held_gold)
        found[method]["map"] = {"x": fitted.x, "y": fitted.y}
    crf = tagger.backend.crfs[0]
    if crf is not None:
        losses = {}
        for temperature in TEMPERATURES:
            tagger.decoders[0] = Tempered(tagger.heads[0], crf, float(temperature))
            tempered, right, spans_of, _ = outcomes()
            p = np.clip(tempered[spans_of % 2 == 0], 1e-6, 1 - 1e-6)
            y = right[spans_of % 2 == 0]
            losses[float(temperature)] = (float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p))),
                                          tempered[spans_of % 2 == 1], right[spans_of % 2 == 1])
        best = min(losses, key=lambda t: losses[t][0])
        found["temperature"] = calibration.report(losses[best][1], losses[best][2], held_gold)
        found["temperature"]["T"] = best
    found["held"] = {"confidences": confidences[held].tolist(),
                     "correct": correct[held].tolist()}
    return {"model": str(folder), "corpus": Path(trained.dataset).name,
            "score": tagger.metrics["validation_score"] * 100, "ways": found}


def summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2), "runs": len(values)}


def cell(found: dict) -> str:
    return f"{found['median']:.2f} ({found['min']:.2f}-{found['max']:.2f})"


WAYS = ("raw", "temperature", "isotonic", "platt")


def aggregate(runs: list[dict]) -> list[dict]:
    rows = []
    for corpus in dict.fromkeys(run["corpus"] for run in runs):
        mine = [run for run in runs if run["corpus"] == corpus]
        row = {"corpus": corpus, "seeds": len(mine),
               "f1": summary([run["score"] for run in mine]),
               "spans": summary([run["ways"]["raw"]["spans"] for run in mine])}
        for way in WAYS:
            found = [run["ways"][way] for run in mine if way in run["ways"]]
            if not found:
                continue
            row[way] = {"ece": summary([f["ece"] * 100 for f in found]),
                        "floor": summary([f["ece_floor"] * 100 for f in found]),
                        **{f"p@{t}": summary([f["min_confidence"][t]["precision"] * 100
                                              for f in found]) for t in ("0.5", "0.7", "0.9")},
                        **{f"r@{t}": summary([f["min_confidence"][t]["recall"] * 100
                                              for f in found]) for t in ("0.5", "0.7", "0.9")}}
        rows.append(row)
    return rows


def markdown(data: dict) -> str:
    head = (f"{data['date']}, {data['machine']}; `{data['command']}`; validation split: "
            "each map fitted on the spans of every other sentence and measured on the "
            "others; median (range) over the seeds. ECE: expected calibration error of the "
            "spans predicted, 10 equal-width bins, %; floor: what perfectly calibrated "
            "confidences would show on as many spans.")
    ece_rows, kept_rows = [], []
    for row in data["rows"]:
        ece_rows.append([row["corpus"], row["seeds"], cell(row["f1"]),
                         f"{row['spans']['median']:.0f}",
                         *[cell(row[way]["ece"]) if way in row else "-" for way in WAYS],
                         cell(row["isotonic"]["floor"])])
        for way in ("raw", data["chosen"]):
            kept_rows.append([row["corpus"], way, *[
                f"{row[way][f'p@{t}']['median']:.1f} / {row[way][f'r@{t}']['median']:.1f}"
                for t in ("0.5", "0.7", "0.9")]])
    return "\n\n".join([
        head,
        benchmark.table(["corpus", "seeds", "entity F1", "held-out spans", "ECE raw",
                         "ECE temperature", "ECE isotonic", "ECE platt", "floor"], ece_rows),
        "Precision / recall (%) of the held-out half's spans kept at each `--min-confidence` "
        f"(median over the seeds), raw and {data['chosen']}:",
        benchmark.table(["corpus", "confidences", "0.5", "0.7", "0.9"], kept_rows),
        "Reliability diagrams (the first seed's held-out spans):",
        " ".join(f"![{c}](images/reliability-{c}.svg)" for c in data["diagrams"])])


def diagram(run: dict, chosen: str) -> str:
    """An SVG reliability diagram of one model's held-out spans: each bin's accuracy against
    its mean confidence, raw and calibrated, with the diagonal."""
    size, pad = 320, 40
    held = run["ways"]["held"]
    raw, right = np.array(held["confidences"]), np.array(held["correct"])
    fitted = run["ways"][chosen]["map"]
    mapped = np.interp(raw, fitted["x"], fitted["y"])

    def point(c: float, a: float) -> tuple[float, float]:
        return pad + c * size, pad + (1 - a) * size

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + 2 * pad}" '
             f'height="{size + 2 * pad + 30}" font-family="sans-serif" font-size="12">',
             f'<rect x="{pad}" y="{pad}" width="{size}" height="{size}" fill="none" '
             'stroke="#888"/>',
             f'<line x1="{pad}" y1="{pad + size}" x2="{pad + size}" y2="{pad}" stroke="#bbb" '
             'stroke-dasharray="4 4"/>',
             f'<text x="{pad}" y="{pad - 14}">{run["corpus"]}: held-out spans '
             f'({len(raw)})</text>',
             f'<text x="{pad + size / 2 - 40}" y="{pad + size + 28}">confidence</text>',
             f'<text x="12" y="{pad + size / 2 + 30}" transform="rotate(-90 12 '
             f'{pad + size / 2 + 30})">fraction right</text>']
    for values, colour, name, dy in ((raw, "#d62728", "raw", 0),
                                     (mapped, "#1f77b4", chosen, 16)):
        rows = calibration.reliability(values, right)
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in
                        (point(r["confidence"], r["accuracy"]) for r in rows))
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                     'stroke-width="2"/>')
        for r in rows:
            x, y = point(r["confidence"], r["accuracy"])
            radius = 2 + 6 * (r["spans"] / len(values)) ** 0.5
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" '
                         f'fill="{colour}" fill-opacity="0.6"/>')
        ece = calibration.expected_calibration_error(values, right) * 100
        parts.append(f'<text x="{pad + 8}" y="{pad + 16 + dy}" fill="{colour}">{name}: ECE '
                     f'{ece:.2f}%</text>')
    for tick in (0, 0.5, 1):
        x, y = point(tick, tick)
        parts.append(f'<text x="{x - 6:.0f}" y="{pad + size + 14}">{tick:g}</text>')
        parts.append(f'<text x="{pad - 24}" y="{y + 4:.0f}">{tick:g}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="calibration")
    parser.add_argument("--models", nargs="+", required=True, help="globs of model folders")
    parser.add_argument("--chosen", default="isotonic", choices=("isotonic", "platt"),
                        help="the map the diagrams and the precision table show")
    args = parser.parse_args()
    folders = [Path(p) for pattern in args.models for p in sorted(glob(pattern))]
    runs = []
    for folder in folders:
        print(f"{folder}", file=sys.stderr)
        runs.append(measured(folder))
    IMAGES.mkdir(parents=True, exist_ok=True)
    diagrams = []
    for corpus in dict.fromkeys(run["corpus"] for run in runs):
        first = next(run for run in runs if run["corpus"] == corpus)
        (IMAGES / f"reliability-{corpus}.svg").write_text(diagram(first, args.chosen),
                                                          encoding="utf-8")
        diagrams.append(corpus)
    for run in runs:
        del run["ways"]["held"]
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    data = {"date": date, "machine": benchmark.machine(), "chosen": args.chosen,
            "command": "python scripts/bench_calibration.py " + shlex.join(sys.argv[1:]),
            "rows": aggregate(runs), "runs": runs, "diagrams": diagrams}
    benchmark.write_results(args.name, data, markdown)


if __name__ == "__main__":
    main()
