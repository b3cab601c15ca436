"""Training seconds per epoch on 1 worker and on 2 local workers (TF_CONFIG on 127.0.0.1).

    python scripts/bench_workers.py data/recipes/conll2003.toml --epochs 3

Trains the recipe for --epochs on one worker, then on two worker processes on this machine,
and reports the median seconds per epoch after the first (which includes tracing) and the
kept validation score of each, from the chief's metrics.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchmark import machine, table
from load_test import free_port


def run(recipe: Path, epochs: int, workers: int, output: Path) -> dict:
    tagger = str(Path(sys.executable).parent / "tagger")
    command = [tagger, "train", "--recipe", str(recipe), "--epochs", str(epochs), "--quiet"]
    if workers == 1:
        subprocess.run([*command, "--output", str(output)], check=True,
                       stdout=subprocess.DEVNULL)
    else:
        hosts = [f"127.0.0.1:{free_port()}" for _ in range(workers)]
        processes = []
        for index in range(workers):
            config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
            env = {**os.environ, "TF_CONFIG": json.dumps(config)}
            processes.append(subprocess.Popen([*command, "--output", str(output)], env=env,
                                              stdout=subprocess.DEVNULL))
        if any(p.wait() for p in processes):
            raise SystemExit("a worker failed")
    metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    seconds = [e["seconds"] for e in metrics["history"]]
    return {"workers": workers, "seconds_per_epoch": statistics.median(seconds[1:] or seconds),
            "first_epoch_seconds": seconds[0], "validation_score": metrics["validation_score"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as folder:
        rows = [run(args.recipe, args.epochs, n, Path(folder) / f"w{n}") for n in (1, 2)]
    command = " ".join(["python scripts/bench_workers.py", *sys.argv[1:]])
    print(f"{datetime.now(UTC):%Y-%m-%d}, {machine()}; `{command}`.\n")
    print(table(["workers", "s per epoch (median after the first)", "first epoch s",
                 "validation score"],
                [[r["workers"], f"{r['seconds_per_epoch']:.1f}", f"{r['first_epoch_seconds']:.1f}",
                  f"{r['validation_score'] * 100:.2f}"] for r in rows]))


if __name__ == "__main__":
    main()
