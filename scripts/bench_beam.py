"""Batch tagging on Apache Beam's FnApiRunner (1 worker process, 2) and on a local Dask
cluster (2), beside `tagger tag`, in one run.

Tags --files files of the recipe's validation sentences (repeated to --tokens tokens in all)
with `python -m tagger.apps.beam` on an exported ONNX model folder (exported here from
models/benchmark/NAME, which bench_speed.py trains), each setting --repeats times, in turn,
and `tagger tag` on the same text as one file, in one process and with `--jobs 2`, for
reference. Reports wall seconds from process start to exit, CPU seconds (user and system,
every process of the run), tokens/s, the throughput against `tagger tag --jobs 2` (the
median of each round's ratio) and the peak RSS of the largest process (medians). Writes
data/benchmarks/beam-NAME.{md,json}.

    python scripts/bench_beam.py data/recipes/conll2003.toml

Needs the beam extra: pip install -e '.[beam]'.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench_speed import timed, write_text_file
from benchmark import ROOT, machine, table, validation_sentences, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--models", type=Path, default=ROOT / "models" / "benchmark")
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", help="results' name (default beam-RECIPE)")
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
            REFERENCE: [tagger, "tag", str(model), "-i", str(whole), "-o",
                        str(work / "jobs.jsonl"), "-q", "--jobs", "2"],
            **{f"FnApiRunner, {n} worker process{'es' * (n > 1)}":
               [sys.executable, "-m", "tagger.apps.beam", "--model", str(model), "--input",
                str(work / "in" / "*.txt"), "--output", str(work / "out" / f"w{n}"),
                f"--direct_num_workers={n}"]
               for n in (1, 2)},
            "DaskRunner, a local cluster of 2 worker processes":
                [sys.executable, "-m", "tagger.apps.beam", "--model", str(model), "--input",
                 str(work / "in" / "*.txt"), "--output", str(work / "out" / "dask"),
                 "--runner", "dask", "--dask-workers", "2"],
        }
        runs: dict[str, list] = {label: [] for label in commands}
        for _ in range(args.repeats):  # in turn, so all see the same machine load
            for label, command in commands.items():
                runs[label].append(timed_with_cpu(command))
        for label, command in commands.items():  # every runner wrote tagger tag's records
            if command[0] != tagger and not same_records(
                    Path(command[command.index("--output") + 1]), work / "in",
                    work / "tag.jsonl"):
                raise SystemExit(f"{label}: its records differ from tagger tag's")
    reference = runs[REFERENCE]
    rows = [{"setting": label, "seconds": round(statistics.median(w for w, _, _ in r), 1),
             "cpu_seconds": round(statistics.median(c for _, _, c in r), 1),
             "tokens_per_s": round(tokens / statistics.median(w for w, _, _ in r)),
             "x_reference": round(statistics.median(
                 ref[0] / run[0] for ref, run in zip(reference, r, strict=True)), 2),
             "peak_rss_mb": round(max(m for _, m, _ in r))} for label, r in runs.items()]
    data = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": machine(),
            "python": platform.python_version(), "tokens": tokens, "files": args.files,
            "repeats": args.repeats,
            "command": " ".join(["python scripts/bench_beam.py", *sys.argv[1:]]), "rows": rows}
    write_results(args.name or f"beam-{name}", data, markdown)


REFERENCE = "tagger tag --jobs 2 (the files as one)"


def same_records(prefix: Path, inputs: Path, tagged: Path) -> bool:
    """Whether the shards at `prefix` hold, by source and line, the records `tagged` holds
    for the files of `inputs` joined in name order."""
    first, starts = 0, {}
    for part in sorted(inputs.iterdir()):
        starts[part.name] = first
        first += len(part.read_bytes().splitlines())
    expected = tagged.read_text(encoding="utf-8").splitlines()
    found = [None] * len(expected)
    for shard in prefix.parent.glob(f"{prefix.name}-*-of-*.jsonl"):
        for line in shard.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            source, number = Path(record.pop("source")).name, record.pop("line")
            found[starts[source] + number - 1] = json.dumps(record, ensure_ascii=False)
    return found == expected


def timed_with_cpu(command: list[str]) -> tuple[float, float, float]:
    """`timed`'s wall seconds and peak RSS, and the CPU seconds of the command and every
    process it waited for (Beam's and Dask's workers)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, rss = timed(command)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, rss, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def markdown(data: dict) -> str:
    """The comparison as docs/benchmarks.md shows it."""
    head = (f"{data['date']}, {data['machine']}; `{data['command']}`; {data['tokens']:,} tokens "
            f"in {data['files']} files; medians of {data['repeats']} runs in turn, each from "
            "process start to exit.")
    return head + "\n\n" + table(
        ["setting", "wall s", "CPU s", "tokens/s", "x tagger tag --jobs 2",
         "peak RSS MB (largest process)"],
        [[r["setting"], r["seconds"], r["cpu_seconds"], f"{r['tokens_per_s']:,}",
          f"{r['x_reference']:.2f}", f"{r['peak_rss_mb']:,}"] for r in data["rows"]])


if __name__ == "__main__":
    main()
