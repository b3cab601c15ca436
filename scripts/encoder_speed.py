"""The contextual encoder's speed: what one encoder call costs beside the subwords it
encodes, and whole tagging processes on a model folder with its encoder in float32 and int8.

    python scripts/encoder_speed.py                                  # MiniLM's graph
    python scripts/encoder_speed.py --model models/minilm/conll2003-seed1

1. Calls: the encoder's ONNX graph, as model folders store it (float32, and int8 as
   `--encoder-int8` stores it), on blocks of (windows, --width) random subword ids, the
   block sizes alternating, median seconds of --repeats rounds. A least-squares line
   seconds = call + per_subword x subwords gives a call's own cost in subwords'
   worth (call / per_subword): tagger/encoders/context.py's CALL_SUBWORDS, which sets how
   a batch's windows are cut into calls.
2. Tagging, with --model: `tagger tag MODEL -i FILE -o OUT -q` on --recipe's validation text
   (repeated to --tokens tokens), the folder and its int8 copy alternating, median of
   --repeats whole processes (encoder_benchmark.speed), peak RSS.

Writes data/benchmarks/speed-encoder.{md,json}. Validation text only.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from bench_speed import write_text_file
from benchmark import ROOT, machine, table, validation_sentences
from encoder_benchmark import int8_encoder_copy, speed, speed_table

BLOCKS = (4, 8, 16, 32, 64)  # windows per call


def call_costs(encoder: Path, width: int, repeats: int) -> dict[str, dict]:
    """Per graph (float32, int8): median seconds per call of each block size and the
    fitted cost of a call in subwords."""
    import onnxruntime

    from tagger.encoders.checkpoint import read_folder
    from tagger.export.onnx import encoder_graph, int8_weights
    from tagger.settings import SPECS

    checkpoint = read_folder(encoder)
    graph = encoder_graph(checkpoint, SPECS["encoder_layers"].default)
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as tagging
    sessions = {name: onnxruntime.InferenceSession(g.SerializeToString(), options,
                                                   providers=["CPUExecutionProvider"])
                for name, g in (("float32", graph),
                                ("int8", int8_weights(graph, per_channel=True)))}
    rng = np.random.default_rng(0)
    low = checkpoint.wordpiece.sep + 1
    blocks = {n: rng.integers(low, checkpoint.config.vocab_size, (n, width)).astype(np.int32)
              for n in BLOCKS}
    seconds: dict[tuple[str, int], list[float]] = {}
    for round_ in range(repeats + 1):  # the first round warms up
        for name, session in sessions.items():
            for n, block in blocks.items():
                calls = max(1, 256 // n)
                started = time.perf_counter()
                for _ in range(calls):
                    session.run(None, {"subwords": block})
                if round_:
                    seconds.setdefault((name, n), []).append(
                        (time.perf_counter() - started) / calls)
    out = {}
    for name in sessions:
        medians = [statistics.median(seconds[name, n]) for n in BLOCKS]
        subwords = [n * width for n in BLOCKS]
        per_subword, call = np.polyfit(subwords, medians, 1)
        out[name] = {"blocks": {str(n): {"ms": round(m * 1000, 2),
                                         "subwords_per_s": round(s / m)}
                                for n, m, s in zip(BLOCKS, medians, subwords, strict=True)},
                     "call_ms": round(call * 1000, 2),
                     "call_subwords": round(call / per_subword)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--encoder", type=Path, default=ROOT / "models" / "all-MiniLM-L6-v2",
                        help="the encoder folder (Hugging Face layout)")
    parser.add_argument("--width", type=int, default=32, help="subwords per window")
    parser.add_argument("--model", type=Path, help="a model folder with an encoder to tag with")
    parser.add_argument("--recipe", type=Path, default=ROOT / "data/recipes/conll2003.toml",
                        help="whose validation text --model tags")
    parser.add_argument("--tokens", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "benchmarks")
    args = parser.parse_args()
    data = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": machine(),
            "command": shlex.join(["python", "scripts/encoder_speed.py", *sys.argv[1:]]),
            "python": platform.python_version(), "encoder": args.encoder.name,
            "width": args.width, "calls": call_costs(args.encoder, args.width, args.repeats)}
    if args.model:
        with tempfile.TemporaryDirectory() as work:
            quantized = Path(work) / "int8"
            int8_encoder_copy(args.model, quantized)
            text = Path(work) / "text.txt"
            tokens = write_text_file(validation_sentences(args.recipe), text,
                                     min_tokens=args.tokens)
            data["tagging"] = {"recipe": args.recipe.stem, "tokens": tokens,
                               "models": speed({"float32": args.model, "int8": quantized},
                                               text, tokens, args.repeats)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speed-encoder.json").write_text(json.dumps(data, indent=2) + "\n")
    (args.out / "speed-encoder.md").write_text(markdown(data))
    print(markdown(data))


def markdown(data: dict) -> str:
    """The tables of a results file (what `main` wrote)."""
    lines = [f"{data['date']}, {data['machine']}; `{data['command']}`; the encoder "
             f"{data['encoder']}, windows of {data['width']} subwords, medians.", ""]
    calls = data["calls"]
    lines.append(table(["graph", *(f"{n} windows: ms (subwords/s)" for n in BLOCKS),
                        "a call's own cost: ms (subwords' worth)"],
                       [[name, *(f"{c['blocks'][str(n)]['ms']} "
                                 f"({c['blocks'][str(n)]['subwords_per_s']:,})" for n in BLOCKS),
                         f"{c['call_ms']} ({c['call_subwords']})"]
                        for name, c in calls.items()]))
    tagging = data.get("tagging")
    if tagging:
        lines += ["", f"Tagging {tagging['tokens']:,} tokens of {tagging['recipe']} "
                      "validation text, `tagger tag MODEL -i FILE -o OUT -q`, whole processes "
                      "alternating, medians:", ""]
        lines.append(speed_table(tagging["models"], "encoder"))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
