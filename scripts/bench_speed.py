"""Speed of tagging and training on this machine, next to its hardware limit and CRFsuite.

For the default model of each recipe (models/benchmark/NAME, trained with its recipe if
missing), exported for ONNX Runtime too (`tagger export --format onnx`), in one run and for
both runtimes (TensorFlow; ONNX Runtime, which never imports TensorFlow):
  1. end to end: `tagger tag MODEL --input FILE --output OUT.jsonl` over a raw-text file of
     at least --tokens tokens (the validation sentences, repeated), wall time from process
     start to exit, tokens/s and peak RSS; ONNX Runtime also with `--jobs 2`, and both
     again with int8 weights (`tagger export --format onnx --int8`), with the tags that
     differ from float32's;
  2. the library batch API (`Tagger.tag_tokens`, keras and onnx backends) on
     pre-tokenized validation sentences; each backend's network alone on the same padded
     batches (character features computed once per distinct word, as the pipeline keeps
     them), with the
     largest difference of their outputs and the share of validation tokens both runtimes
     tag alike;
  3. one-sentence latency of `tagger tag MODEL "sentence"` from process start, next to
     `python -c "import tensorflow"` timed in the same run;
  4. training seconds per epoch and tokens/s on the CoNLL-2003 train split;
  5. float32 matmul GFLOP/s here (measured next to 2., as the load drifts) and the model's
     FLOPs per token (from its layer shapes), which give the hardware limit in tokens/s;
and a CRFsuite baseline (scripts/crfsuite_baseline.py, hand-made features, trained on
CoNLL-2003) tagging the same CoNLL file end to end. Every timing is the median of --repeats.

    python scripts/bench_speed.py                   # all of it, about 15 minutes
    python scripts/bench_speed.py --big-file-gb 1   # also peak RSS over a 1 GB file

Writes data/benchmarks/speed.md and speed.json (--out to change). Needs the bench extra:
pip install -e '.[bench]' (python-crfsuite).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmark import ROOT, machine, recipes_parser, validation_sentences

from tagger import model_folder
from tagger.model_folder import ModelConfig

SENTENCE = "Angela Merkel met Emmanuel Macron in Paris on Tuesday to discuss the EU budget."
TRAIN_EPOCHS = 4  # the first includes tracing; the median of the others is reported


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB of its largest process) of a command run to completion;
    it must succeed.

    The peak is each process's VmHWM, read while it runs (every 50 ms; it only grows). Not
    the rusage of wait4: Linux carries the parent's high-water RSS into a child across exec,
    so a child of this (TensorFlow-importing) script would report this script's 1 GB.
    """
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak_kb = 0
    while process.poll() is None:
        peak_kb = max(peak_kb, _largest_hwm_kb(process.pid))
        time.sleep(0.05)
    wall = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed with exit code {process.returncode}")
    return wall, peak_kb / 1024


def _largest_hwm_kb(pid: int) -> int:
    """The largest VmHWM (kB) of process `pid` and its descendants (0 for any gone)."""
    largest, pending = 0, [pid]
    while pending:
        proc = Path("/proc") / str(pending.pop())
        try:
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    largest = max(largest, int(line.split()[1]))
            for task in (proc / "task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return largest


def median_run(command: list[str], repeats: int) -> tuple[float, float]:
    runs = [timed(command) for _ in range(repeats)]
    return statistics.median(w for w, _ in runs), max(r for _, r in runs)


def write_text_file(sentences: list[list[str]], path: Path, *, min_tokens: int = 0,
                    min_bytes: int = 0) -> int:
    """A raw-text file, one sentence per line, repeating `sentences` until it holds at least
    `min_tokens` tokens and `min_bytes` bytes; returns its tokens."""
    block = "".join(" ".join(s) + "\n" for s in sentences if s).encode("utf-8")
    per_block = sum(map(len, sentences))
    copies = max(1, -(-min_tokens // per_block), -(-min_bytes // len(block)))
    with open(path, "wb") as out:
        for _ in range(copies):
            out.write(block)
    return copies * per_block


def matmul_gflops(size: int = 2048, repeats: int = 15) -> float:
    """Float32 GFLOP/s of a large square matmul, all cores (median of `repeats`)."""
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    product = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    product().numpy()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        product().numpy()
        seconds.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(seconds) / 1e9


def flops_per_token(model: ModelConfig, chars_per_word: float) -> float:
    """Multiply-adds x 2 of one token's forward pass and decoding, from the layer shapes.

    Embedding lookups are free; the char CNN counts each word's real characters; an LSTM
    step is 4 gates of (input + units) x units; Viterbi adds and maxes labels^2 scores.
    """
    from tagger.backends.keras.network import CASING_DIM

    network = model.settings.network
    labels, units = len(model.labels), network.units
    directions = 2 if network.bidirectional else 1
    flops = 0.0
    width = network.embedding_dim
    if model.char_vocab_size:
        flops += 2 * network.char_width * network.char_dim * network.char_filters * chars_per_word
        width += network.char_filters
    if model.casing_size:
        width += CASING_DIM
    for _ in range(network.layers):
        flops += directions * 2 * 4 * units * (width + units)
        width = directions * units
    flops += 2 * width * labels
    return flops + 2 * labels * labels


def training_speed(tagger: str, recipe: Path, work: Path) -> dict:
    """Seconds per epoch (median of epochs 2..) and tokens/s of `tagger train --recipe`."""
    output = work / f"train-{recipe.stem}"
    subprocess.run([tagger, "train", "--recipe", str(recipe), "--epochs", str(TRAIN_EPOCHS),
                    "--patience", str(TRAIN_EPOCHS), "--output", str(output), "--force",
                    "--quiet"], check=True, stdout=subprocess.DEVNULL)
    metrics = json.loads((output / "metrics.json").read_text())
    seconds = statistics.median(h["seconds"] for h in metrics["history"][1:])
    tokens = model_folder.read(output).corpus.train_tokens
    return {"corpus": recipe.stem, "seconds_per_epoch": round(seconds, 1),
            "first_epoch_seconds": metrics["history"][0]["seconds"],
            "tokens_per_s": round(tokens / seconds)}


def crfsuite_speed(dataset: str, text_file: Path, tokens: int, work: Path, repeats: int
                   ) -> float:
    """End-to-end tokens/s of the CRFsuite baseline on `text_file` (trained here if needed)."""
    script = str(ROOT / "scripts" / "crfsuite_baseline.py")
    model = work / "crfsuite.model"
    if not model.exists():
        subprocess.run([sys.executable, script, "train", dataset, str(model)], check=True)
    wall, _ = median_run([sys.executable, script, "tag", str(model), str(text_file),
                          str(work / "crfsuite.jsonl")], repeats)
    return tokens / wall


def runtime_comparison(model: Path, sentences: list[list[str]], repeats: int) -> dict:
    """Both backends in this process on the validation sentences: library tokens/s, the
    network alone on the same padded batches, output differences and tag agreement."""
    import numpy as np

    from tagger import batching
    from tagger.pipeline import Tagger

    keras_tagger, onnx_tagger = Tagger.load(model, "keras"), Tagger.load(model, "onnx")
    tokens = sum(map(len, sentences))

    def median_seconds(run) -> float:
        run()  # warm-up: traces TensorFlow's functions
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    # The same padded batches for both: word ids, casing and each word's character
    # features, computed once per distinct word as the pipeline keeps them.
    lengths = np.array([len(s) for s in sentences])
    batches = [onnx_tagger.inputs([sentences[r] for r in rows], lengths[rows])
               for rows in batching.sorted_batches(lengths, onnx_tagger.backend.max_batch_tokens,
                                                   onnx_tagger.backend.max_batch_sentences)]

    def keras_network() -> list:
        return [keras_tagger.backend.scores(b) for b in batches]

    def onnx_network() -> list:
        return [onnx_tagger.backend.scores(b) for b in batches]

    difference = max(float(np.abs(a - b)[b_["words"] != 0].max()) for a, b, b_ in zip(
        keras_network(), onnx_network(), batches, strict=True))
    keras_tags = keras_tagger.tag_tokens(sentences)
    onnx_tags = onnx_tagger.tag_tokens(sentences)
    differing = sum(a != b for x, y in zip(keras_tags, onnx_tags, strict=True)
                    for a, b in zip(x, y, strict=True))
    return {
        "library_tokens_per_s": round(tokens / median_seconds(
            lambda: keras_tagger.tag_tokens(sentences))),
        "onnx_library_tokens_per_s": round(tokens / median_seconds(
            lambda: onnx_tagger.tag_tokens(sentences))),
        "network_tokens_per_s": round(tokens / median_seconds(keras_network)),
        "onnx_network_tokens_per_s": round(tokens / median_seconds(onnx_network)),
        "max_output_difference": difference,
        "tags_compared": tokens,
        "tags_differing": differing,
    }


def differing_tags(a: Path, b: Path) -> list[int]:
    """[tags that differ, tags] between two `tagger tag` JSON Lines outputs of one file."""
    differing = total = 0
    with open(a, encoding="utf-8") as first, open(b, encoding="utf-8") as second:
        for x, y in zip(first, second, strict=True):
            x_tags, y_tags = json.loads(x)["tags"], json.loads(y)["tags"]
            differing += sum(s != t for s, t in zip(x_tags, y_tags, strict=True))
            total += len(x_tags)
    return [differing, total]


def bench_model(name: str, recipe: Path, sentences: list[list[str]], models: Path,
                tagger: str, work: Path, args: argparse.Namespace) -> dict:
    model = models / name
    if not (model / "config.json").exists():
        print(f"training {model} with {recipe} ...", file=sys.stderr, flush=True)
        subprocess.run([tagger, "train", "--recipe", str(recipe), "--output", str(model),
                        "--quiet"], check=True)
    config = model_folder.read(model)
    exported, int8 = work / f"{name}-onnx", work / f"{name}-int8"
    for folder, options in ((exported, []), (int8, ["--int8"])):
        subprocess.run([tagger, "export", str(model), str(folder), "--format", "onnx",
                        *options], check=True, stderr=subprocess.DEVNULL)
    text_file = work / f"{name}.txt"
    tokens = write_text_file(sentences, text_file, min_tokens=args.tokens)
    runs = {}
    for key, folder, options in (("tensorflow", model, ["--runtime", "tensorflow"]),
                                 ("onnx", exported, ["--runtime", "onnx"]),
                                 ("onnx_jobs2", exported, ["--runtime", "onnx", "--jobs", "2"]),
                                 ("int8", int8, ["--runtime", "onnx"]),
                                 ("int8_jobs2", int8, ["--runtime", "onnx", "--jobs", "2"])):
        runs[key] = median_run([tagger, "tag", str(folder), "--input", str(text_file),
                                "--output", str(work / f"{name}.{key.split('_')[0]}.jsonl"),
                                "--quiet", *options], args.repeats)
    latency, onnx_latency, imports = [], [], []
    for _ in range(args.repeats):  # interleaved, so all see the same machine load
        latency.append(timed([tagger, "tag", str(model), SENTENCE])[0])
        onnx_latency.append(timed([tagger, "tag", str(exported), SENTENCE])[0])
        imports.append(timed([sys.executable, "-c", "import tensorflow"])[0])
    chars_per_word = statistics.mean(len(w) for s in sentences for w in s)
    flops = flops_per_token(config, chars_per_word)
    # The matmul reference is measured next to the library runs: the machine's load drifts.
    gflops = matmul_gflops()
    compared = runtime_comparison(exported, sentences, args.repeats)
    limit = gflops * 1e9 / flops
    return {
        "corpus": name,
        "file_tokens": tokens,
        "end_to_end_tokens_per_s": round(tokens / runs["tensorflow"][0]),
        "end_to_end_seconds": round(runs["tensorflow"][0], 1),
        "peak_rss_mb": round(runs["tensorflow"][1]),
        "onnx_end_to_end_tokens_per_s": round(tokens / runs["onnx"][0]),
        "onnx_peak_rss_mb": round(runs["onnx"][1]),
        "onnx_jobs2_end_to_end_tokens_per_s": round(tokens / runs["onnx_jobs2"][0]),
        "onnx_jobs2_peak_rss_mb": round(runs["onnx_jobs2"][1]),
        "int8_end_to_end_tokens_per_s": round(tokens / runs["int8"][0]),
        "int8_jobs2_end_to_end_tokens_per_s": round(tokens / runs["int8_jobs2"][0]),
        "int8_tags_differing": differing_tags(work / f"{name}.onnx.jsonl",
                                              work / f"{name}.int8.jsonl"),
        **compared,
        "flops_per_token": round(flops),
        "matmul_gflops": round(gflops),
        "hardware_limit_tokens_per_s": round(limit),
        "fraction_of_limit": round(compared["library_tokens_per_s"] / limit, 3),
        "onnx_fraction_of_limit": round(compared["onnx_library_tokens_per_s"] / limit, 3),
        "latency_s": round(statistics.median(latency), 2),
        "onnx_latency_s": round(statistics.median(onnx_latency), 2),
        "tensorflow_import_s": round(statistics.median(imports), 2),
    }


def markdown(about: dict, rows: list[dict], training: dict, crfsuite: dict,
             big: dict | None) -> str:
    lines = [f"{about['date']}, {about['machine']}, TensorFlow {about['tensorflow']}, "
             f"ONNX Runtime {about['onnxruntime']}; `{about['command']}`; medians of "
             f"{about['repeats']} runs. Each cell: TensorFlow / ONNX Runtime "
             "(/ ONNX Runtime with `--jobs 2`).", "",
             "| model | end-to-end tokens/s (file tokens) | vs CRFsuite | peak RSS MB | "
             "library tokens/s | network alone tokens/s | library / hardware limit | "
             "one-sentence s | import tensorflow s | largest output difference | "
             "tags differing |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    rate = crfsuite["tokens_per_s"]
    lines += [f"| {r['corpus']} | {r['end_to_end_tokens_per_s']:,} / "
              f"{r['onnx_end_to_end_tokens_per_s']:,} / "
              f"{r['onnx_jobs2_end_to_end_tokens_per_s']:,} ({r['file_tokens']:,}) | "
              f"{r['end_to_end_tokens_per_s'] / rate:.2f}x / "
              f"{r['onnx_end_to_end_tokens_per_s'] / rate:.2f}x / "
              f"{r['onnx_jobs2_end_to_end_tokens_per_s'] / rate:.2f}x | "
              f"{r['peak_rss_mb']:,} / {r['onnx_peak_rss_mb']:,} / "
              f"{r['onnx_jobs2_peak_rss_mb']:,} | "
              f"{r['library_tokens_per_s']:,} / {r['onnx_library_tokens_per_s']:,} | "
              f"{r['network_tokens_per_s']:,} / {r['onnx_network_tokens_per_s']:,} | "
              f"{r['fraction_of_limit']:.0%} / {r['onnx_fraction_of_limit']:.0%} "
              f"(limit {r['hardware_limit_tokens_per_s']:,}) | "
              f"{r['latency_s']} / {r['onnx_latency_s']} | {r['tensorflow_import_s']} | "
              f"{r['max_output_difference']:.1e} | {r['tags_differing']} of "
              f"{r['tags_compared']:,} |" for r in rows]
    lines += ["", "With int8 weights (`tagger export --format onnx --int8`), end to end on the "
              "same file:", "",
              "| model | tokens/s | vs CRFsuite | with `--jobs 2` | vs CRFsuite | tags "
              "differing from float32 |", "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['corpus']} | {r['int8_end_to_end_tokens_per_s']:,} | "
              f"{r['int8_end_to_end_tokens_per_s'] / rate:.2f}x | "
              f"{r['int8_jobs2_end_to_end_tokens_per_s']:,} | "
              f"{r['int8_jobs2_end_to_end_tokens_per_s'] / rate:.2f}x | "
              f"{r['int8_tags_differing'][0]:,} of {r['int8_tags_differing'][1]:,} |"
              for r in rows]
    gflops = ", ".join(str(r["matmul_gflops"]) for r in rows)
    flops = ", ".join(f"{r['flops_per_token']:,}" for r in rows)
    lines += ["",
              f"Hardware limit: float32 matmul GFLOP/s measured in the same run ({gflops}) "
              f"over the model's FLOPs per token ({flops}).",
              f"- Training on the {training['corpus']} train split: "
              f"{training['seconds_per_epoch']} s per epoch ({training['tokens_per_s']:,} "
              f"tokens/s; the first epoch, with tracing, {training['first_epoch_seconds']} s).",
              f"- CRFsuite baseline, end to end on the same {crfsuite['corpus']} file: "
              f"{rate:,} tokens/s."]
    if big:
        lines.append(f"- A {big['gigabytes']} GB file ({big['corpus']} model, "
                     f"{big['runtime']}): peak RSS {big['peak_rss_mb']:,} MB, "
                     f"{big['tokens_per_s']:,} tokens/s, {big['minutes']} min.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = recipes_parser(__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=1_000_000,
                        help="at least this many tokens in the end-to-end file")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big-file-gb", type=float, default=0.0,
                        help="also tag a file of this size with the first model (peak RSS)")
    args = parser.parse_args()
    tagger = str(Path(sys.executable).parent / "tagger")
    recipes = [r.resolve() for r in args.recipes]
    conll = ROOT / "data" / "recipes" / "conll2003.toml"

    with tempfile.TemporaryDirectory(prefix="bench-speed-") as folder:
        work = Path(folder)
        rows = []
        sentences = {recipe.stem: validation_sentences(recipe) for recipe in recipes}
        for recipe in recipes:
            print(f"benchmarking {recipe.stem} ...", file=sys.stderr, flush=True)
            rows.append(bench_model(recipe.stem, recipe, sentences[recipe.stem], args.models,
                                    tagger, work, args))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        reference = next((r for r in rows if r["corpus"] == "conll2003"), rows[0])
        from tagger.training.recipes import load_recipe

        dataset = load_recipe(conll).dataset["dataset"]
        crf_rate = crfsuite_speed(dataset, work / f"{reference['corpus']}.txt",
                                  reference["file_tokens"], work, args.repeats)
        crfsuite = {"corpus": reference["corpus"], "tokens_per_s": round(crf_rate),
                    "ratio": round(reference["end_to_end_tokens_per_s"] / crf_rate, 2),
                    "onnx_ratio": round(reference["onnx_end_to_end_tokens_per_s"] / crf_rate,
                                        2),
                    "onnx_jobs2_ratio": round(
                        reference["onnx_jobs2_end_to_end_tokens_per_s"] / crf_rate, 2),
                    "int8_jobs2_ratio": round(
                        reference["int8_jobs2_end_to_end_tokens_per_s"] / crf_rate, 2)}
        training = training_speed(tagger, conll, work)
        big = None
        if args.big_file_gb:
            big_file = work / "big.txt"
            tokens = write_text_file(sentences[recipes[0].stem], big_file,
                                     min_bytes=int(args.big_file_gb * 1e9))
            wall, rss = timed([tagger, "tag", str(work / f"{recipes[0].stem}-onnx"),
                               "--input", str(big_file), "--output", str(work / "big.jsonl"),
                               "--quiet", "--runtime", "onnx"])
            big = {"corpus": recipes[0].stem, "runtime": "onnx", "gigabytes": args.big_file_gb,
                   "tokens": tokens, "peak_rss_mb": round(rss),
                   "tokens_per_s": round(tokens / wall), "minutes": round(wall / 60, 1)}
    import onnxruntime
    import tensorflow as tf

    about = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": machine(),
             "command": " ".join(["python scripts/bench_speed.py", *sys.argv[1:]]),
             "python": platform.python_version(), "tensorflow": tf.__version__,
             "onnxruntime": onnxruntime.__version__,
             "repeats": args.repeats,
             "note": "shared machine: absolute numbers drift; compare within one run"}
    report = markdown(about, rows, training, crfsuite, big)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speed.json").write_text(json.dumps(
        {**about, "models": rows, "training": training, "crfsuite": crfsuite,
         "big_file": big}, indent=2) + "\n")
    (args.out / "speed.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
