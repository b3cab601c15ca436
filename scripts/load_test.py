"""Load test of `tagger serve`: N concurrent clients against one client, same server, same run.

    python scripts/load_test.py models/conll2003 --clients 16 --seconds 30

Starts `tagger serve MODEL` on a free port, tags the texts once with `tagger tag` (JSON Lines)
for reference, then runs one client sending one text per request for SECONDS, then CLIENTS
clients at once for SECONDS. Every response is checked against `tagger tag`'s record for its
text (tokens, offsets, tags, spans exactly; confidences within 2e-4, as batch composition moves
float32 rounding). Reports requests/s, tokens/s, p50/p99 latency and errors; writes
data/benchmarks/serve.{md,json}. Texts: the `# text =` lines of EWT dev unless --texts FILE.
"""

from __future__ import annotations

import argparse
import http.client
import json
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmark import ROOT, machine

EWT_DEV = ROOT.parent / "shared" / "data" / "raw" / "ud_en_ewt" / "en_ewt-ud-dev.conllu"
TOLERANCE = 2e-4


def texts_of(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.suffix == ".conllu":
        return [line[len("# text = "):] for line in lines if line.startswith("# text = ")]
    return [line for line in lines if line.strip()]


def same(got: dict, expected: dict) -> bool:
    def bare(record):
        return {**record, "confidences": None,
                "spans": [{**s, "confidence": None} for s in record["spans"]]}

    def close(a, b):
        return len(a) == len(b) and all(abs(x - y) <= TOLERANCE for x, y in zip(a, b, strict=True))

    return bare(got) == bare(expected) and close(got["confidences"], expected["confidences"]) \
        and close([s["confidence"] for s in got["spans"]],
                  [s["confidence"] for s in expected["spans"]])


def client(port: int, texts: list[str], expected: dict, start: int, stop_at: float,
           out: list) -> None:
    """Send one text per request until `stop_at`; append (latency, tokens, ok) per request."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    i = start
    while time.monotonic() < stop_at:
        text = texts[i % len(texts)]
        i += 1
        body = json.dumps({"texts": [text]})
        started = time.perf_counter()
        try:
            connection.request("POST", "/v1/tag", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
            ok = response.status == 200
            record = json.loads(payload)["records"][0] if ok else None
        except (OSError, http.client.HTTPException, ValueError):
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            ok, record = False, None
        latency = time.perf_counter() - started
        ok = ok and same(record, expected[text])
        out.append((latency, len(record["tokens"]) if record else 0, ok))
    connection.close()


def phase(port: int, clients: int, seconds: float, texts: list[str], expected: dict) -> dict:
    results: list[list] = [[] for _ in range(clients)]
    stop_at = time.monotonic() + seconds
    threads = [threading.Thread(target=client, args=(port, texts, expected,
                                                      k * len(texts) // clients, stop_at,
                                                      results[k]))
               for k in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    done = [r for rs in results for r in rs]
    latencies = sorted(r[0] for r in done)
    return {
        "clients": clients, "seconds": round(wall, 1), "requests": len(done),
        "errors": sum(not r[2] for r in done),
        "requests_per_s": round(len(done) / wall, 1),
        "tokens_per_s": round(sum(r[1] for r in done) / wall),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
    }


def markdown(data: dict) -> str:
    """The table of a serve.json."""
    texts = data.get("texts")
    about = (f"{texts['count']:,} texts from {texts['file']}, " if texts else "")
    lines = [f"{data['date']}, {data['machine']}; `{data['command']}`; {about}one text per "
             "request; server and clients on the same machine.", "",
             "| clients | requests | errors | requests/s | tokens/s | p50 ms | p99 ms |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['clients']} | {r['requests']:,} | {r['errors']} | {r['requests_per_s']} | "
              f"{r['tokens_per_s']:,} | {r['p50_ms']} | {r['p99_ms']} |" for r in data["phases"]]
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def references(model: Path, texts: list[str]) -> dict[str, dict]:
    """`tagger tag`'s record of each text (JSON Lines), by text."""
    tagger = str(Path(sys.executable).parent / "tagger")
    with tempfile.TemporaryDirectory() as tmp:
        source, reference = Path(tmp) / "texts.txt", Path(tmp) / "tagged.jsonl"
        source.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
        subprocess.run([tagger, "tag", str(model), "-i", str(source), "-o", str(reference),
                        "-q"], check=True)
        return {record["text"]: record for record in map(
            json.loads, reference.read_text(encoding="utf-8").splitlines())}


def start_server(model: Path, port: int, *options: str, **popen) -> subprocess.Popen:
    """`tagger serve MODEL` on `port`, once /readyz answers 200."""
    tagger = str(Path(sys.executable).parent / "tagger")
    server = subprocess.Popen([tagger, "serve", str(model), "--port", str(port), *options],
                              **popen)
    for _ in range(600):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"tagger serve {model} did not get ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--texts", type=Path, default=EWT_DEV)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "benchmarks")
    args = parser.parse_args()
    texts = texts_of(args.texts)
    expected = references(args.model, texts)
    port = free_port()
    server = start_server(args.model, port, "--quiet")
    try:
        rows = [phase(port, 1, args.seconds, texts, expected),
                phase(port, args.clients, args.seconds, texts, expected)]
    finally:
        server.terminate()
        server.wait(timeout=60)
    data = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": machine(),
            "command": shlex.join(["python", "scripts/load_test.py", *sys.argv[1:]]),
            "python": platform.python_version(),
            "texts": {"file": args.texts.name, "count": len(texts)}, "phases": rows}
    report = markdown(data)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serve.md").write_text(report, encoding="utf-8")
    (args.out / "serve.json").write_text(json.dumps(data, indent=2) + "\n")
    print(report)


if __name__ == "__main__":
    main()
