"""Reduced precision and other CPU runtimes for the network, against ONNX Runtime float32 in
the same run: ONNX Runtime with int8 weights and float32 activations (`--int8`: a quarter
of the file, float32's speed), ONNX
Runtime's dynamic quantization (int8 weights and activations quantized with one scale per
call: what `--int8` was before; not kept), and OpenVINO in float32 and in bfloat16.

    python scripts/bench_precision.py data/recipes/conll2003.toml \
        --model models/benchmark/conll2003

The model folder is exported to ONNX first (`tagger export --format onnx`). Each variant
runs the network alone on the padded batches of the recipe's validation sentences, one
thread, the variants in turn, `--repeats` rounds (medians); then it tags the validation
split through the pipeline (tokens, Viterbi and all) to count the tags that differ from
float32 and to score it. The largest output difference is given over all real tokens and
over the sentences that fill their batch (no padded steps). "Alone differs" counts the
first `--alone` validation sentences whose tags or confidences differ when each is tagged
alone from when all are tagged together: a text's record must not depend on its
neighbours. Needs the bench extra
(`pip install -e '.[bench]'`, which brings OpenVINO). Writes
data/benchmarks/precision.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from benchmark import ROOT, machine, table

from tagger import batching
from tagger.backends.onnx.backend import session_options
from tagger.metrics import score
from tagger.model_folder import NETWORK
from tagger.pipeline import Tagger
from tagger.training.recipes import load_recipe


class OpenVinoNetwork:
    """network.onnx compiled by OpenVINO for the CPU, with ONNX Runtime's `run` call."""

    def __init__(self, path: Path, precision: str) -> None:
        import openvino

        core = openvino.Core()
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", {
            "INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": precision,
            "PERFORMANCE_HINT": "LATENCY"})
        self.request = self.compiled.create_infer_request()

    def run(self, _outputs, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [self.request.infer(feeds)[self.compiled.output(0)].copy()]


def markdown(data: dict) -> str:
    """The table of a precision.json."""
    about = (f"; {data['corpus']} validation, {data['tokens']:,} tokens, network alone on one "
             f"thread, medians of {data['repeats']} rounds") if "tokens" in data else ""
    rows = data["rows"]
    return f"{data['date']}, {data['machine']}; `{data['command']}`{about}.\n\n" + table(
        ["variant", "network tokens/s", "vs float32", "network file (MB)", "largest output "
         "difference (on sentences without padding)", "tags differing", "alone differs",
         "validation"],
        [[r["variant"], f"{r['network_tokens_per_s']:,}", f"{r['vs_float32']:.2f}x",
          f"{r['file_mb']:.1f}" if "file_mb" in r else "",
          f"{r['max_output_difference']:.2g} ({r['max_difference_unpadded']:.2g})",
          f"{r['tags_differing']:,}",
          f"{r['alone_differs']} of {r['alone_of']}" if "alone_of" in r else "",
          f"{r['validation']:.2f}"] for r in rows]) + "\n"


def dynamic_int8(source: Path, target: Path) -> None:
    """ONNX Runtime's dynamic quantization of the LSTM and MatMul nodes (int8 weights,
    activations quantized per call), as `--int8` wrote it before."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(source, target, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["LSTM", "MatMul"],
                     extra_options={"MatMulConstBOnly": True})


def onnx_session(path: Path):
    """A graph on one thread, with the onnx backend's options."""
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), session_options(threads=1),
                                        providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--model", type=Path, required=True, help="trained model folder")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--alone", type=int, default=300,
                        help="sentences tagged alone and together (batch independence)")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "benchmarks")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-precision-"))
    for name, options in (("onnx", []), ("int8", ["--int8"])):
        subprocess.run([str(Path(sys.executable).parent / "tagger"), "export", str(args.model),
                        str(work / name), "--format", "onnx", *options], check=True,
                       capture_output=True)
    exported = work / "onnx"
    network = exported / NETWORK
    dynamic_int8(network, work / "dynamic.onnx")
    files = {"ONNX Runtime float32": network,
             "ONNX Runtime int8 weights, float32 activations (`--int8`)":
                 work / "int8" / NETWORK,
             "ONNX Runtime dynamic int8 (activations per call; not kept)":
                 work / "dynamic.onnx",
             "OpenVINO float32": network, "OpenVINO bfloat16": network}
    variants = {name: onnx_session(path) for name, path in list(files.items())[:3]}
    variants["OpenVINO float32"] = OpenVinoNetwork(network, "f32")
    variants["OpenVINO bfloat16"] = OpenVinoNetwork(network, "bf16")
    corpus = load_recipe(args.recipe).load_corpus()
    validation = corpus.split("validation")
    sentences = [tokens for tokens, _ in validation]
    tokens = sum(map(len, sentences))
    tagger = Tagger.load(exported, "onnx", threads=1)
    lengths = np.array([len(s) for s in sentences])
    batches = [tagger.inputs([sentences[r] for r in rows], lengths[rows])
               for rows in batching.sorted_batches(lengths, tagger.backend.max_batch_tokens,
                                                   tagger.backend.max_batch_sentences)]
    reference = [variants["ONNX Runtime float32"].run(None, b)[0] for b in batches]

    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):  # the variants in turn, so drift hits them alike
        for name, session in variants.items():
            started = time.perf_counter()
            for batch in batches:
                session.run(None, batch)
            seconds[name].append(time.perf_counter() - started)

    float32_tags = None
    rows = []
    for name, session in variants.items():
        outputs = [session.run(None, b)[0] for b in batches]
        difference = max(float(np.abs(a - b)[f["words"] != 0].max())
                         for a, b, f in zip(outputs, reference, batches, strict=True))
        # Sentences as long as their batch have no padded steps: a runtime that ignores
        # the LSTM's sequence lengths is right on those alone.
        unpadded = max(float(np.abs(a - b)[f["lengths"] == f["words"].shape[1]].max())
                       for a, b, f in zip(outputs, reference, batches, strict=True))
        tagger.backend.session = session
        tags = tagger.tag_tokens(sentences)
        float32_tags = float32_tags or tags
        some = sentences[:args.alone]
        together = tagger.tag_conll_sentences(some)
        alone = sum(tagger.tag_conll_sentences([s])[0].to_dict() != t.to_dict()
                    for s, t in zip(some, together, strict=True))
        report = score([t for _, t in validation], tags, corpus.scheme)
        rows.append({
            "variant": name,
            "network_tokens_per_s": round(tokens / statistics.median(seconds[name])),
            "vs_float32": round(statistics.median(seconds["ONNX Runtime float32"])
                                / statistics.median(seconds[name]), 2),
            "max_output_difference": difference,
            "max_difference_unpadded": unpadded,
            "tags_differing": sum(a != b for x, y in zip(tags, float32_tags, strict=True)
                                  for a, b in zip(x, y, strict=True)),
            "file_mb": round(files[name].stat().st_size / 1e6, 1),
            "alone_differs": alone,
            "alone_of": len(some),
            "metric": report["metric"],
            "validation": round(report["score"] * 100, 2),
        })
    data = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": machine(),
            "command": shlex.join(["python", "scripts/bench_precision.py", *sys.argv[1:]]),
            "corpus": args.recipe.stem, "tokens": tokens, "repeats": args.repeats, "rows": rows}
    text = markdown(data)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "precision.json").write_text(json.dumps(data, indent=2) + "\n")
    (args.out / "precision.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
