"""Batch tagging on Apache Beam's DirectRunner: 1 worker process against 2, in one run.

Tags --files files of the recipe's validation sentences (repeated to --tokens tokens in all)
with `python -m tagger.apps.beam` on an exported ONNX model folder (exported here from
models/benchmark/NAME, which bench_speed.py trains), each setting --repeats times, in turn,
and `tagger tag` on the same text as one file for reference. Reports wall seconds from
process start to exit, tokens/s and peak RSS of the largest process (medians).

    python scripts/bench_beam.py data/recipes/conll2003.toml

Needs the beam extra: pip install -e '.[beam]'.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench_speed import timed, write_text_file
from benchmark import ROOT, machine, table, validation_sentences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--models", type=Path, default=ROOT / "models" / "benchmark")
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    name = args.recipe.stem
    sentences = validation_sentences(args.recipe)
    tagger = str(Path(sys.executable).parent / "tagger")
    with tempfile.TemporaryDirectory(prefix="bench-beam-") as folder:
        work = Path(folder)
        model = work / "onnx"
        subprocess.run([tagger, "export", str(args.models / name), str(model), "--format",
                        "onnx"], check=True, stderr=subprocess.DEVNULL)
        (work / "in").mkdir()
        tokens = sum(write_text_file(sentences, work / "in" / f"part{i}.txt",
                                     min_tokens=args.tokens // args.files)
                     for i in range(args.files))
        whole = work / "whole.txt"
        with open(whole, "wb") as out:
            for part in sorted((work / "in").iterdir()):
                out.write(part.read_bytes())
        commands = {
            f"tagger tag, one process ({args.files} files as one)":
                [tagger, "tag", str(model), "-i", str(whole), "-o", str(work / "tag.jsonl"),
                 "-q"],
            **{f"DirectRunner, {n} worker{'s' * (n > 1)}":
               [sys.executable, "-m", "tagger.apps.beam", "--model", str(model), "--input",
                str(work / "in" / "*.txt"), "--output", str(work / "out" / f"w{n}"),
                "--direct_running_mode=multi_processing", f"--direct_num_workers={n}"]
               for n in (1, 2)},
        }
        runs: dict[str, list] = {label: [] for label in commands}
        for _ in range(args.repeats):  # in turn, so all see the same machine load
            for label, command in commands.items():
                runs[label].append(timed(command))
    rows = [{"setting": label, "seconds": round(statistics.median(w for w, _ in r), 1),
             "tokens_per_s": round(tokens / statistics.median(w for w, _ in r)),
             "peak_rss_mb": round(max(m for _, m in r))} for label, r in runs.items()]
    about = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": machine(),
             "python": platform.python_version(), "tokens": tokens, "files": args.files,
             "command": " ".join(["python scripts/bench_beam.py", *sys.argv[1:]])}
    print(json.dumps({**about, "rows": rows}, indent=2), file=sys.stderr)
    print(f"{about['date']}, {about['machine']}; `{about['command']}`; {tokens:,} tokens in "
          f"{args.files} files; medians of {args.repeats} runs in turn.\n")
    print(table(["setting", "wall s", "tokens/s", "peak RSS MB (largest process)"],
                [[r["setting"], r["seconds"], f"{r['tokens_per_s']:,}", f"{r['peak_rss_mb']:,}"]
                 for r in rows]))


if __name__ == "__main__":
    main()
