"""Two commands timed in turn, A B A B ..., as whole processes: each one's median wall and
CPU seconds (user + system, all its threads and children) and the median of the ratios
A/B pair by pair, which holds when a shared machine's speed drifts.

    python scripts/bench_ab.py --name heads-speed --rounds 5 \
        --a "tagger tag models/heads/glove-4heads-seed1 -i big.conllu -o /dev/null -q" \
        --b "tagger tag models/heads/glove-upos-seed1 -i big.conllu -o /dev/null -q" \
        --about "four heads against UPOS alone, 1,005,880 tokens of EWT dev x 40"

Each command runs once first, not counted (caches warm). Writes
data/benchmarks/ab-NAME.{md,json}. A command may start with VAR=VALUE settings of its
environment (PYTHONPATH=... to run another checkout of tagger).
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import benchmark

ROOT = Path(__file__).resolve().parent.parent


def run(command: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `command`, which must succeed."""
    words = shlex.split(command)
    environment = dict(os.environ)
    while words and "=" in words[0] and not words[0].startswith("-"):
        name, _, value = words.pop(0).partition("=")
        environment[name] = value
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(words, check=True, stdout=subprocess.DEVNULL, env=environment)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def markdown(data: dict) -> str:
    """The comparison as docs/benchmarks.md shows it."""
    a, b = data["a"], data["b"]
    return "\n".join([
        f"{data['date']}, {data['machine']}; `{data['command']}`; {data['about']}; "
        f"{data['rounds']} rounds after a warm-up, medians; machine shared.", "",
        "| | command | wall s | CPU s |", "| --- | --- | --- | --- |",
        f"| A | `{a['command']}` | {a['wall']:.2f} | {a['cpu']:.2f} |",
        f"| B | `{b['command']}` | {b['wall']:.2f} | {b['cpu']:.2f} |",
        f"| A/B | median of the pairs' ratios | {data['wall_ratio']:.3f} | "
        f"{data['cpu_ratio']:.3f} |"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--a", required=True)
    parser.add_argument("--b", required=True)
    parser.add_argument("--about", required=True, help="what is compared, on what data")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    run(args.a)
    run(args.b)
    pairs = [(run(args.a), run(args.b)) for _ in range(args.rounds)]

    def side(command: str, index: int) -> dict:
        return {"command": command,
                "wall": statistics.median(p[index][0] for p in pairs),
                "cpu": statistics.median(p[index][1] for p in pairs),
                "runs": [p[index] for p in pairs]}

    data = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": benchmark.machine(),
            "command": shlex.join(["python", *sys.argv]),
            "about": args.about, "rounds": args.rounds, "a": side(args.a, 0),
            "b": side(args.b, 1),
            "wall_ratio": statistics.median(a[0] / b[0] for a, b in pairs),
            "cpu_ratio": statistics.median(a[1] / b[1] for a, b in pairs)}
    benchmark.write_results(f"ab-{args.name}", data, markdown)


if __name__ == "__main__":
    main()
