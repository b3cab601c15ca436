"""Soak test of `tagger serve`: normal traffic mixed with poison requests, then SIGTERM.

    python scripts/soak.py models/conll2003 --clients 16 --seconds 60

Phase 1: CLIENTS clients send one EWT dev text per request for SECONDS (each answer checked
against `tagger tag`'s record, as scripts/load_test.py does) while poison clients send, in a
loop, texts with a lone surrogate (expect 400), JSON nested 100,000 deep (400), bodies over
the limit (413), maximal legal requests (49 texts of 20,000 characters: 200) and requests
dropped before their answer. Reports the normal requests' errors, p50 and p99, what each
poison got, and whether the server answers normally afterwards.

Phase 2: a new server with --grace-seconds GRACE, the same mix, and SIGTERM after a third of
the time: reports the exit status, the seconds from the signal to the exit, what requests in
flight got, and whether the log holds a traceback. Writes data/benchmarks/NAME.{md,json}.
`--poisons 'maximal request'` keeps only the stream of maximal requests (the latency of small
requests behind large ones).
"""

from __future__ import annotations

import argparse
import http.client
import json
import shlex
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from benchmark import ROOT, machine
from load_test import EWT_DEV, client, free_port, references, start_server, texts_of

# The largest legal request under the default limits: 49 texts of 20,000 characters, just
# under the 1 MB body limit.
MAXIMAL = ("Anna Schmidt flew from Berlin to Toronto with Elena Vasquez . " * 400)[:20_000]
POISONS = {
    "lone surrogate": (b'{"texts": ["Oslo", "bad \\ud800 text"]}', 400),
    "deep nesting": (b'{"texts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400),
    "over the body limit": (json.dumps({"texts": ["word " * 250_000]}).encode(), 413),
    "maximal request": (json.dumps({"texts": [MAXIMAL] * 49}).encode(), 200),
}


DROPPED = "dropped connection"
KINDS = [*POISONS, DROPPED]


def poison(port: int, body: bytes, stop_at: float, out: Counter) -> None:
    """Send `body` until `stop_at`; count the answers' statuses."""
    while time.monotonic() < stop_at:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            connection.request("POST", "/v1/tag", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            out[response.status] += 1
        except (OSError, http.client.HTTPException):
            out["no answer"] += 1
            time.sleep(0.1)
        finally:
            connection.close()


def dropper(port: int, stop_at: float, out: Counter) -> None:
    """Send a request and hang up before its answer, or halfway through its body."""
    body = json.dumps({"texts": ["Oslo is a city ."] * 200}).encode()
    head = (b"POST /v1/tag HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    while time.monotonic() < stop_at:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                # Every other one hangs up halfway through its body.
                sock.sendall(head + (body[:len(body) // 2] if out["dropped"] % 2 else body))
            out["dropped"] += 1
        except OSError:
            out["no connection"] += 1
        time.sleep(0.05)


def mix(port: int, clients: int, seconds: float, texts: list[str], expected: dict,
        kinds: list[str], during=None) -> tuple[list, dict[str, Counter]]:
    """Normal clients and a client per poison of `kinds` for `seconds`; `during()` runs
    meanwhile."""
    stop_at = time.monotonic() + seconds
    normal: list[list] = [[] for _ in range(clients)]
    poisons = {name: Counter() for name in kinds}
    threads = [threading.Thread(target=client, args=(port, texts, expected,
                                                      k * len(texts) // clients, stop_at,
                                                      normal[k])) for k in range(clients)]
    threads += [threading.Thread(target=poison, args=(port, POISONS[name][0], stop_at,
                                                      poisons[name]))
                for name in kinds if name in POISONS]
    if DROPPED in kinds:
        threads.append(threading.Thread(target=dropper, args=(port, stop_at,
                                                              poisons[DROPPED])))
    for thread in threads:
        thread.start()
    if during is not None:
        during()
    for thread in threads:
        thread.join()
    return [r for rs in normal for r in rs], poisons


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def serves_normally(port: int, text: str, expected: dict) -> bool:
    out: list = []
    client(port, [text], expected, 0, time.monotonic() + 0.5, out)
    return bool(out) and all(ok for _, _, ok in out)


def markdown(data: dict) -> str:
    """The tables of a soak.json."""
    soak, shutdown = data["soak"], data["shutdown"]
    expect = {name: status for name, (_, status) in POISONS.items()}
    report = [f"{data['date']}, {data['machine']}; `{data['command']}`; normal clients send "
              f"one text of {data['texts_file']} per request, checked against `tagger tag`; "
              "server and clients on the same machine.", "",
              "| normal clients | seconds | requests | errors | p50 ms | p99 ms | max ms | "
              "answers normally afterwards |", "| --- | --- | --- | --- | --- | --- | --- | --- |",
              f"| {soak['clients']} | {soak['seconds']:g} | {soak['requests']:,} | "
              f"{soak['errors']} | {soak['p50_ms']} | {soak['p99_ms']} | {soak['max_ms']} | "
              f"{'yes' if soak['alive_after'] else 'NO'} |", "",
              "| poison, sent in a loop | expected | answers |", "| --- | --- | --- |"]
    report += [f"| {name} | {expect.get(name, 'none')} | "
               f"{', '.join(f'{k}: {v:,}' for k, v in counts.items())} |"
               for name, counts in soak["poisons"].items()]
    report += ["", f"SIGTERM after {soak['seconds'] / 3:g} s of the same mix, --grace-seconds "
               f"{shutdown['grace_seconds']:g}: exit status {shutdown['exit_status']}, "
               f"{shutdown['seconds_to_exit']} s from the signal to the exit, "
               f"{shutdown['tracebacks']} tracebacks in the log; statuses logged: "
               f"{shutdown['logged_statuses']}."]
    return "\n".join(report) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--texts", type=Path, default=EWT_DEV)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--grace", type=float, default=10.0,
                        help="--grace-seconds of the server of phase 2")
    parser.add_argument("--poisons", default=",".join(KINDS),
                        help=f"which poisons, comma-separated, of: {', '.join(KINDS)}")
    parser.add_argument("--serve-options", default="",
                        help="more options for both servers, e.g. '--runtime keras'")
    parser.add_argument("--name", default="soak", help="writes data/benchmarks/NAME.{md,json}")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "benchmarks")
    args = parser.parse_args()
    kinds = args.poisons.split(",")
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown poison {sorted(unknown)[0]!r}; choose from {', '.join(KINDS)}")
    options = shlex.split(args.serve_options)
    texts = texts_of(args.texts)
    expected = references(args.model, texts)

    port = free_port()
    server = start_server(args.model, port, "--quiet", *options)
    try:
        normal, poisons = mix(port, args.clients, args.seconds, texts, expected, kinds)
        alive = serves_normally(port, texts[0], expected)
    finally:
        server.terminate()
        server.wait(timeout=120)
    latencies = [latency for latency, _, _ in normal]
    soak = {"clients": args.clients, "seconds": args.seconds, "requests": len(normal),
            "errors": sum(not ok for _, _, ok in normal),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
            "max_ms": round(max(latencies) * 1000, 1),
            "poisons": {name: dict(counts) for name, counts in poisons.items()},
            "alive_after": alive}

    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        server = start_server(args.model, port, "--grace-seconds", str(args.grace), *options,
                              stderr=log, text=True)
        ended: dict[str, float] = {}

        def terminate() -> None:
            time.sleep(args.seconds / 3)
            signalled = time.monotonic()
            server.send_signal(signal.SIGTERM)
            ended["status"] = server.wait(timeout=args.grace + 60)
            ended["seconds"] = time.monotonic() - signalled

        normal, poisons = mix(port, args.clients, args.seconds, texts, expected, kinds,
                              terminate)
        status, exited = ended["status"], ended["seconds"]
        log.seek(0)
        lines = log.read().splitlines()
    statuses = Counter(json.loads(line)["status"] for line in lines if line.startswith("{"))
    shutdown = {"grace_seconds": args.grace, "exit_status": status,
                "seconds_to_exit": round(exited, 1),
                "tracebacks": sum("Traceback" in line for line in lines),
                "logged_statuses": {str(k): v for k, v in sorted(statuses.items())},
                "normal_ok": sum(ok for _, _, ok in normal),
                "normal_not_ok": sum(not ok for _, _, ok in normal)}

    data = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": machine(),
            "command": shlex.join(["python", "scripts/soak.py", *sys.argv[1:]]),
            "texts_file": args.texts.name, "soak": soak, "shutdown": shutdown}
    report = markdown(data)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.md").write_text(report, encoding="utf-8")
    (args.out / f"{args.name}.json").write_text(json.dumps(data, indent=2) + "\n",
                                                 encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
