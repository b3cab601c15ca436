"""Helpers the tests share: comparing tagged records, checking a command's one-line error,
and starting a real server."""

import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tagger.apps.cli import main

# Confidences are floats that move by float32 rounding between batch compositions (and
# round to a neighbouring 4th decimal); everything else in a record is exact.

# Rounding to 4 decimals on either side of a float32 wobble.
CONFIDENCE_TOLERANCE = 2e-4


def without_confidences(record: dict) -> dict:
    return {**record, "confidences": None,
            "spans": [{**s, "confidence": None} for s in record["spans"]]}


def assert_same_records(got: list[dict], expected: list[dict]) -> None:
    """Equal records: tokens, offsets, tags and spans exactly, confidences within rounding."""
    assert [without_confidences(r) for r in got] == [without_confidences(r) for r in expected]
    for a, b in zip(got, expected, strict=True):
        assert a["confidences"] == pytest.approx(b["confidences"], abs=CONFIDENCE_TOLERANCE)
        assert [s["confidence"] for s in a["spans"]] == pytest.approx(
            [s["confidence"] for s in b["spans"]], abs=CONFIDENCE_TOLERANCE)


def assert_same_up_to_ties(got: list[dict], expected: list[dict]) -> None:
    """`assert_same_records`, except that two backends may choose different tags where the
    scores tie: the tag's confidence is the same on both sides (two labels of equal
    probability), in at most one token in 10,000. Such records' spans are not compared."""
    tied, tokens = 0, 0
    kept_got, kept_expected = [], []
    for a, b in zip(got, expected, strict=True):
        tokens += len(b["tags"])
        differing = [i for i, (x, y) in enumerate(zip(a["tags"], b["tags"], strict=True))
                     if x != y]
        if differing and a["tokens"] == b["tokens"]:
            for i in differing:
                assert a["confidences"][i] == pytest.approx(b["confidences"][i],
                                                            abs=CONFIDENCE_TOLERANCE), (a, b)
            tied += len(differing)
            continue
        kept_got.append(a)
        kept_expected.append(b)
    assert tied <= tokens / 10_000, f"{tied} tied tags in {tokens}"
    assert_same_records(kept_got, kept_expected)


def run_cli(*args) -> Result:
    """`tagger ARGS...` in this process."""
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result: Result, *phrases: str) -> str:
    """The command failed as a user's mistake should: exit 2, one `error:` line on stderr
    holding every phrase, no traceback. Returns the line."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    for phrase in phrases:
        assert phrase in message, message
    assert "Traceback" not in result.output
    return message


def started_server(command: list[str], port: int, **popen) -> subprocess.Popen:
    """`command` (a `tagger serve` on `port`) in a process of its own, once /readyz answers;
    its stderr is a text pipe."""
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, **popen)
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
            return process
        except OSError:
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "the server did not get ready in 120 s"
            time.sleep(0.3)


def catches_sigterm(pid: int) -> bool:
    """Whether process `pid` has a handler of its own for SIGTERM (bit 15 of SigCgt)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


def children(pid: int) -> list[int]:
    """The processes `pid` started that still run."""
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]
