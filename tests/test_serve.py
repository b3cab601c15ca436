"""The HTTP service: TF Serving's REST contract, /v1/tag, limits and errors, batching,
metrics, a clean SIGTERM, and the page in a real headless Chromium."""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient

from tagger.apps.serve import Batcher, Limits, Metrics, RequestError, create_app
from tagger.pipeline import Tagger

from .conftest import ROOT, free_port
from .helpers import assert_same_records, catches_sigterm, started_server

TEXTS = ["Anna Schmidt flew from Berlin to Toronto.", "", "Elena Vasquez told reporters ."]
LIMITS = Limits(max_body_bytes=20_000, max_texts=8, max_chars=500)


@pytest.fixture(scope="module")
def client(demo_tagger: Tagger):
    with TestClient(create_app(demo_tagger, "demo", LIMITS)) as client:
        yield client


def test_tag_endpoint_returns_the_batch_records(client, demo_tagger: Tagger):
    response = client.post("/v1/tag", json={"texts": TEXTS})
    assert response.status_code == 200
    assert_same_records(response.json()["records"], [t.to_dict() for t in demo_tagger.tag(TEXTS)])
    # Records round confidences to 4 places; the threshold applies to the exact ones.
    exact = demo_tagger.tag(TEXTS[:1])[0].spans
    threshold = max(s.confidence for s in exact)
    strict = client.post("/v1/tag", json={"texts": TEXTS[:1], "min_confidence": threshold})
    assert [(s["label"], s["start"]) for s in strict.json()["records"][0]["spans"]] == [
        (s.label, s.start) for s in exact if s.confidence >= threshold]


def test_tf_serving_status_metadata_and_predict(client, demo_tagger: Tagger):
    status = client.get("/v1/models/demo").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    metadata = client.get("/v1/models/demo/metadata").json()
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert set(signature["inputs"]) == {"texts"}
    assert metadata["tagger"]["labels"] == demo_tagger.labels
    rows = client.post("/v1/models/demo:predict", json={"instances": TEXTS}).json()
    assert set(rows["predictions"][0]) == set(signature["outputs"])
    named = client.post("/v1/models/demo:predict",
                        json={"instances": [{"texts": t} for t in TEXTS]}).json()
    assert named == rows
    columns = client.post("/v1/models/demo:predict", json={"inputs": {"texts": TEXTS}}).json()
    expected = demo_tagger.tag(TEXTS)
    assert columns["outputs"]["tags"] == [t.tags for t in expected]
    assert columns["outputs"]["span_starts"] == [[s.start for s in t.spans] for t in expected]
    assert [p["tokens"] for p in rows["predictions"]] == [t.tokens for t in expected]
    assert client.get("/v1/models/other").status_code == 404


def test_tf_serving_versions_and_labels_reach_the_model(demo_tagger: Tagger):
    """The paths of TF Serving's REST API (api_rest.md): /versions/1 and a configured
    /labels/LABEL name the one version."""
    with TestClient(create_app(demo_tagger, "demo", LIMITS, labels=("stable",))) as client:
        body = {"instances": TEXTS[:2]}
        expected = client.post("/v1/models/demo:predict", json=body).json()
        for path in ("/v1/models/demo/versions/1:predict",
                     "/v1/models/demo/labels/stable:predict"):
            assert client.post(path, json=body).json() == expected, path
        status = client.get("/v1/models/demo").json()
        assert status == {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                          "status": {"error_code": "OK", "error_message": ""}}]}
        assert client.get("/v1/models/demo/versions/1").json() == status
        assert client.get("/v1/models/demo/labels/stable").json() == status
        metadata = client.get("/v1/models/demo/metadata").json()
        assert client.get("/v1/models/demo/versions/1/metadata").json() == metadata
        assert client.get("/v1/models/demo/labels/stable/metadata").json() == metadata
        signed = client.post("/v1/models/demo:predict", json={
            "signature_name": "serving_default", **body}).json()
        assert signed == expected


@pytest.mark.parametrize(("method", "path", "body", "status", "error"), [
    # The example of an error in TF Serving's api_rest.md, word for word.
    ("POST", "/v1/models/half:predict", {"instances": [1.0, 5.0]}, 404,
     "Servable not found for request: Latest(half)"),
    ("POST", "/v1/models/demo/versions/2:predict", {"instances": ["a"]}, 404,
     "Servable not found for request: Specific(demo, 2)"),
    ("GET", "/v1/models/demo/versions/7", None, 404,
     "Servable not found for request: Specific(demo, 7)"),
    ("POST", "/v1/models/demo/labels/canary:predict", {"instances": ["a"]}, 400,
     "Unrecognized servable version label: canary"),
    ("GET", "/v1/models", None, 400, "Missing model name in request."),
    ("POST", "/v1/models/demo:predict", {"instances": ["a"], "inputs": ["b"]}, 400,
     "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist"),
    ("POST", "/v1/models/demo:predict", {"signature_name": "other", "instances": ["a"]}, 400,
     'Serving signature name: "other" not found in signature def'),
    ("POST", "/v1/models/demo:predict", {"signature_name": 100, "instances": ["a"]}, 400,
     "'signature_name' key must be a string value."),
    ("POST", "/v1/models/demo:predict", {"instances": []}, 400,
     "No values in 'instances' array"),
    ("POST", "/v1/models/demo:predict", {"inputs": []}, 400, "No values in 'inputs' array"),
    ("POST", "/v1/models/demo:predict", {"inputs": {"texts": []}}, 400,
     "No values in 'inputs' array"),
    ("POST", "/v1/models/demo:predict", {"inputs": {"text": ["a"]}}, 400,
     "Missing named input: texts in 'inputs' object."),
    ("POST", "/v1/models/demo:predict", {"texts": ["a"]}, 400,
     "Missing 'inputs' or 'instances' key"),
    ("POST", "/v1/models/demo:classify", {"examples": [{"x": 1}]}, 400,
     "use :predict, not :classify"),
    ("GET", "/v1/models/demo:predict", None, 405, "GET is not allowed"),
    ("DELETE", "/v1/models/demo", None, 405, "DELETE is not allowed"),
])
def test_tf_serving_errors_have_its_codes_and_messages(client, method, path, body, status,
                                                       error):
    response = client.request(method, path, json=body)
    assert response.status_code == status
    assert set(response.json()) == {"error"} and error in response.json()["error"]


@pytest.mark.parametrize(("body", "status", "phrase"), [
    (b'{"texts": ["a"', 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b'{"texts": "a"}', 400, "must be a list"),
    (b'{"texts": ["a", 3]}', 400, '"texts"[1] must be a string'),
    (b'{"texts": ["a"], "min_confidence": 2}', 400, "min_confidence"),
    (json.dumps({"texts": ["a"] * 9}).encode(), 413, "limit is 8"),
    (json.dumps({"texts": ["a" * 501]}).encode(), 413, "501 characters"),
    (json.dumps({"texts": ["a " * 12_000]}).encode(), 413, "bytes"),
    (b"\xff\xfe", 400, "not valid JSON"),
])
def test_bad_requests_get_json_errors_and_the_server_lives_on(client, body, status, phrase):
    response = client.post("/v1/tag", content=body)
    assert response.status_code == status
    assert phrase in response.json()["error"]
    assert client.post("/v1/tag", json={"texts": ["Oslo"]}).status_code == 200


def test_predict_instances_must_be_texts(client):
    response = client.post("/v1/models/demo:predict", json={"instances": [1]})
    assert response.status_code == 400 and "each instance must be a text" in response.json(
        )["error"]


def test_a_failing_tagging_call_is_a_json_500(demo_tagger: Tagger, monkeypatch):
    with TestClient(create_app(demo_tagger, "demo", LIMITS)) as client:
        def broken(texts, **_):
            raise ValueError("out of memory")

        monkeypatch.setattr(demo_tagger, "tag", broken)
        response = client.post("/v1/tag", json={"texts": ["Oslo"]})
        assert response.status_code == 500
        assert response.json() == {"error": "tagging text 0 failed (ValueError: out of memory)"}
        monkeypatch.undo()
        assert client.post("/v1/tag", json={"texts": ["Oslo"]}).status_code == 200


def test_health_readiness_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    client.post("/v1/tag", json={"texts": ["Oslo is big ."]})
    metrics = client.get("/metrics").text
    assert 'tagger_requests_total{code="200",endpoint="tag"}' in metrics
    assert "tagger_request_seconds_bucket" in metrics
    assert "tagger_batch_texts_count" in metrics
    tokens = next(line for line in metrics.splitlines() if line.startswith("tagger_tokens_total"))
    assert float(tokens.split()[-1]) >= 4


class _SlowTagger:
    """Records the texts of each call; the batching logic is what is under test."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def tag(self, texts):
        self.calls.append(list(texts))
        time.sleep(0.05)
        if "fail" in texts:
            raise ValueError("tagging failed")
        return [SimpleNamespace(text=t, tokens=t.split()) for t in texts]


def test_concurrent_requests_are_batched_and_each_gets_its_own_results():
    async def scenario():
        tagger = _SlowTagger()
        batcher = Batcher(tagger, Limits(max_batch_texts=64, batch_timeout_ms=20), Metrics())
        worker = asyncio.create_task(batcher.run())
        requests = [[f"r{i}-a", f"r{i}-b"] for i in range(10)]
        results = await asyncio.gather(*(batcher.tag(r) for r in requests))
        worker.cancel()
        return tagger.calls, requests, results

    calls, requests, results = asyncio.run(scenario())
    assert [[t.text for t in result] for result in results] == requests
    assert len(calls) < len(requests)  # arrived together, tagged together
    assert sorted(t for call in calls for t in call) == sorted(t for r in requests for t in r)


def test_a_full_queue_answers_503_with_retry_after():
    async def scenario():
        batcher = Batcher(_SlowTagger(), Limits(max_queue_texts=3, batch_timeout_ms=50),
                          Metrics())
        worker = asyncio.create_task(batcher.run())
        first = asyncio.create_task(batcher.tag(["a", "b", "c"]))
        await asyncio.sleep(0)
        with pytest.raises(RequestError) as refused:
            await batcher.tag(["d"])
        done = await first
        worker.cancel()
        return refused.value, done

    refused, done = asyncio.run(scenario())
    assert refused.status == 503 and refused.headers == {"Retry-After": "1"}
    assert [t.text for t in done] == ["a", "b", "c"]


def test_a_failed_tagging_call_fails_its_requests_and_the_batcher_lives_on():
    async def scenario():
        batcher = Batcher(_SlowTagger(), Limits(batch_timeout_ms=1), Metrics())
        worker = asyncio.create_task(batcher.run())
        with pytest.raises(RequestError, match="tagging text 0 failed"):
            await batcher.tag(["fail"])
        after = await batcher.tag(["fine"])
        worker.cancel()
        return after, batcher.waiting

    after, waiting = asyncio.run(scenario())
    assert [t.text for t in after] == ["fine"] and waiting == 0


def test_a_text_that_fails_fails_only_its_own_request():
    """A failed call is retried text by text: the requests batched with the culprit get
    their records, the culprit's request a 500 naming its text."""
    async def scenario():
        tagger = _SlowTagger()
        batcher = Batcher(tagger, Limits(batch_timeout_ms=20), Metrics())
        worker = asyncio.create_task(batcher.run())
        results = await asyncio.gather(batcher.tag(["a"]), batcher.tag(["b", "fail"]),
                                       batcher.tag(["c"]), return_exceptions=True)
        worker.cancel()
        return tagger.calls, results, batcher.waiting

    calls, (first, culprit, third), waiting = asyncio.run(scenario())
    assert calls[0] == ["a", "b", "c", "fail"]  # one call, then each text alone
    assert [t.text for t in first] == ["a"] and [t.text for t in third] == ["c"]
    assert isinstance(culprit, RequestError) and culprit.status == 500
    assert "tagging text 1 failed" in culprit.message and waiting == 0


def test_a_small_request_waits_behind_one_call_not_behind_a_large_request():
    async def scenario():
        tagger = _SlowTagger()
        batcher = Batcher(tagger, Limits(batch_timeout_ms=1, max_batch_chars=20), Metrics())
        worker = asyncio.create_task(batcher.run())
        large = asyncio.create_task(batcher.tag([f"large-{i:03}" for i in range(40)]))
        await asyncio.sleep(0.01)  # the large request's first call is running
        small = await batcher.tag(["small"])
        await large
        worker.cancel()
        return tagger.calls, small

    calls, small = asyncio.run(scenario())
    assert [t.text for t in small] == ["small"]
    assert "small" not in calls[0] and "small" in calls[1]  # the very next call
    assert all(sum(map(len, call)) <= 20 for call in calls)  # calls bounded in characters
    assert sorted(t for call in calls for t in call if t != "small") == [
        f"large-{i:03}" for i in range(40)]


def test_a_request_past_its_deadline_gets_504_and_its_texts_are_dropped():
    async def scenario():
        tagger = _SlowTagger()
        batcher = Batcher(tagger, Limits(batch_timeout_ms=1, max_batch_texts=1), Metrics())
        worker = asyncio.create_task(batcher.run())
        with pytest.raises(RequestError) as late:
            await batcher.tag([f"t{i}" for i in range(20)], timeout=0.12)
        await asyncio.sleep(0.2)
        after = await batcher.tag(["next"], timeout=5)
        worker.cancel()
        return late.value, tagger.calls, after, batcher.waiting

    late, calls, after, waiting = asyncio.run(scenario())
    assert late.status == 504 and "deadline of 0.12 s" in late.message
    assert len(calls) < 10 and calls[-1] == ["next"]  # the rest were never tagged
    assert [t.text for t in after] == ["next"] and waiting == 0


def test_closing_refuses_new_requests_and_answers_the_waiting_ones():
    async def scenario():
        batcher = Batcher(_SlowTagger(), Limits(batch_timeout_ms=1, max_batch_texts=1),
                          Metrics())
        worker = asyncio.create_task(batcher.run())
        waiting = asyncio.create_task(batcher.tag([f"t{i}" for i in range(50)]))
        await asyncio.sleep(0.1)
        batcher.closing = True
        with pytest.raises(RequestError) as refused:
            await batcher.tag(["late"])
        batcher.fail_all(RequestError(503, "shut down"))
        with pytest.raises(RequestError) as cut:
            await waiting
        worker.cancel()
        return refused.value, cut.value

    refused, cut = asyncio.run(scenario())
    assert refused.status == 503 and "shutting down" in refused.message
    assert cut.status == 503 and cut.message == "shut down"


def test_a_client_that_hangs_up_takes_its_texts_out_of_the_queue():
    """Its request is logged as 499 and the texts not yet tagged are never tagged."""
    tagger = _SlowTagger()
    app = create_app(tagger, "demo", Limits(max_batch_texts=1, batch_timeout_ms=1))
    body = json.dumps({"texts": [f"t{i}" for i in range(100)]}).encode()
    sent: list[dict] = []

    async def receive():
        if not sent and not getattr(receive, "read", False):
            receive.read = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(0.2)  # tagging has started; then the client hangs up
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    async def scenario():
        async with app.router.lifespan_context(app):
            scope = {"type": "http", "method": "POST", "path": "/v1/tag", "raw_path": b"/v1/tag",
                     "headers": [(b"content-type", b"application/json")], "query_string": b"",
                     "http_version": "1.1", "scheme": "http", "root_path": "",
                     "server": ("test", 80), "client": ("test", 1)}
            await app(scope, receive, send)
            tagged_then = len(tagger.calls)
            await asyncio.sleep(0.3)
            return tagged_then, len(tagger.calls)

    tagged_then, tagged_later = asyncio.run(scenario())
    assert sent[0]["status"] == 499
    assert tagged_later <= tagged_then + 1 < 20  # at most the call then running


@pytest.mark.parametrize("path", ["/v1/tag", "/v1/models/demo:predict"])
def test_a_lone_surrogate_is_a_400_for_that_request(client, path):
    field = "texts" if path == "/v1/tag" else "instances"
    response = client.post(path, content=b'{"%s": ["fine", "bad \\ud800 text"]}' % (
        field.encode(),))
    assert response.status_code == 400
    assert "text 1 is not valid Unicode" in response.json()["error"]
    assert client.post(path, json={field: ["fine"]}).status_code == 200


def test_each_request_is_logged_as_one_json_line(demo_tagger: Tagger, caplog):
    with (caplog.at_level("INFO", logger="tagger.serve"),
          TestClient(create_app(demo_tagger, "demo", LIMITS)) as client):
        ok = client.post("/v1/tag", json={"texts": ["Oslo is big .", "Bergen"]},
                         headers={"X-Request-ID": "abc-1"})
        client.post("/v1/tag", content=b"{")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tagger.serve"]
    first = next(line for line in lines if line["request_id"] == "abc-1")
    assert ok.headers["X-Request-ID"] == "abc-1"
    assert {k: first[k] for k in ("method", "path", "status", "texts", "tokens")} == {
        "method": "POST", "path": "/v1/tag", "status": 200, "texts": 2, "tokens": 5}
    assert first["latency_ms"] >= 0 and first["time"].endswith("+00:00")
    assert any(line["status"] == 400 for line in lines)


def test_quiet_logs_only_server_errors_with_their_cause(demo_tagger: Tagger, caplog,
                                                        monkeypatch):
    with (caplog.at_level("INFO", logger="tagger.serve"),
          TestClient(create_app(demo_tagger, "demo", LIMITS, access_log=False)) as client):
        client.post("/v1/tag", json={"texts": ["Oslo"]})
        monkeypatch.setattr(demo_tagger, "tag", lambda texts: 1 / 0)
        client.post("/v1/tag", json={"texts": ["Oslo"]})
        monkeypatch.undo()
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tagger.serve"]
    assert [line["status"] for line in lines] == [500]
    assert "ZeroDivisionError" in lines[0]["error"]


def _post(url: str, payload: dict, timeout: float = 120) -> dict:
    request = urllib.request.Request(url, json.dumps(payload).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


# A model name a page must show as text, never run.
HOSTILE_NAME = "demo <img src=x onerror=window.hacked=1>"


@pytest.fixture(scope="module")
def server(demo_model: Path):
    """`tagger serve` in its own process on a free port, once it is ready."""
    port = free_port()
    process = started_server(
        [sys.executable, "-m", "tagger.apps.cli", "serve", str(demo_model), "--port", str(port),
         "--name", HOSTILE_NAME, "--quiet"], port)
    yield f"http://127.0.0.1:{port}", process
    if process.poll() is None:
        process.kill()


@pytest.mark.slow
@pytest.mark.browser
def test_the_page_in_chromium(server, demo_tagger: Tagger):
    """The page: the name shown as text; a legend of the labels; entities marked with their
    confidence shown (and hidden by the toggle); line breaks kept; a loading state; Ctrl+Enter
    tags; an error replaces the previous result."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "the page test needs Chromium: apt-get install chromium"
    url, _ = server
    text = "Anna Schmidt flew from Berlin to Toronto .\nElena Vasquez told reporters in Oslo ."
    expected = _post(url + "/v1/tag", {"texts": [text]})["records"][0]["spans"]
    assert len(expected) >= 2
    kinds = sorted({label.split("-", 1)[1] for label in demo_tagger.labels if label != "O"})
    screenshot = ROOT / "test-output" / "page.png"
    screenshot.parent.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        page = browser.new_page()
        page.goto(url + "/")
        assert page.title() == f"tagger: {HOSTILE_NAME}"
        assert page.text_content("h1") == f"tagger: {HOSTILE_NAME}"
        assert page.evaluate("window.hacked") is None and page.query_selector("h1 img") is None
        page.wait_for_selector("#legend li")
        legend = sorted(page.eval_on_selector_all("#legend li", "ls => ls.map(l => l.textContent)"))

        # Ctrl+Enter tags; the request is held so that the loading state can be seen.
        held: list = []
        page.route("**/v1/tag", lambda route: held.append(route))
        page.fill("#text", text)
        page.press("#text", "Control+Enter")
        page.wait_for_function("document.getElementById('tag').disabled")
        loading = (page.text_content("#tag"), page.get_attribute("#result", "aria-busy"))
        page.wait_for_timeout(50)
        held[0].continue_()
        page.wait_for_selector("mark.entity")
        page.unroute("**/v1/tag")
        assert not page.is_disabled("#tag") and page.text_content("#tag") == "Tag"
        marks = page.eval_on_selector_all(
            "mark.entity", "ms => ms.map(m => [m.dataset.label, m.firstChild.textContent,"
                           " m.querySelector('.confidence').textContent])")
        lines = page.inner_text("#result").splitlines()
        page.screenshot(path=str(screenshot))
        page.uncheck("#show-confidence")
        hidden = page.query_selector_all("mark.entity .confidence")

        page.fill("#text", "x" * 20_001)  # over the server's limit: a 413 with a message
        page.click("#tag")
        page.wait_for_function("document.getElementById('error').textContent !== ''")
        error = page.text_content("#error")
        left = page.query_selector_all("#result *")
        browser.close()
    assert legend == kinds
    assert loading == ("Tagging…", "true")
    assert [(label, piece) for label, piece, _ in marks] == [
        (s["label"], s["text"]) for s in expected]
    assert [shown for _, _, shown in marks] == [f"{s['confidence']:.2f}" for s in expected]
    assert len(lines) == 2 and lines[1].startswith("Elena")
    assert hidden == []
    assert "20001 characters" in error and left == []
    assert screenshot.stat().st_size > 1000


@pytest.mark.slow
def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(server):
    url, process = server
    texts = ["Anna Schmidt flew from Berlin to Toronto . " * 12] * 200
    answers: list = []
    sender = threading.Thread(target=lambda: answers.append(
        _post(url + "/v1/tag", {"texts": texts})))
    sender.start()
    time.sleep(0.5)  # the request is being tagged
    os.kill(process.pid, signal.SIGTERM)
    sender.join(timeout=120)
    assert process.wait(timeout=60) == 0
    assert len(answers) == 1 and len(answers[0]["records"]) == 200


# Requests that keep a server busy for several seconds.
LONG_TEXTS = ["Anna Schmidt flew from Berlin to Toronto . " * 90] * 200


class _BusyServer:
    """`tagger serve` with `--grace-seconds grace`, tagging `requests` requests of
    LONG_TEXTS sent from threads; `answers` gets each (status, JSON answer)."""

    def __init__(self, model: Path, grace: int, requests: int) -> None:
        port = free_port()
        self.process = started_server(
            [sys.executable, "-m", "tagger.apps.cli", "serve", str(model), "--port",
             str(port), "--grace-seconds", str(grace)], port)
        self.url = f"http://127.0.0.1:{port}"
        self.answers: list = []
        self.senders = [threading.Thread(target=self.send, args=({"texts": LONG_TEXTS},))
                        for _ in range(requests)]
        for sender in self.senders:
            sender.start()
        time.sleep(1.0)  # the requests are being tagged

    def send(self, body: dict) -> tuple[int, dict]:
        try:
            answer = (200, _post(self.url + "/v1/tag", body))
        except urllib.error.HTTPError as error:
            answer = (error.code, json.loads(error.read()))
        self.answers.append(answer)
        return answer

    def join(self) -> None:
        for sender in self.senders:
            sender.join(timeout=30)


@pytest.mark.slow
def test_sigterm_past_the_grace_period_answers_503_and_exits_0(demo_model: Path):
    """What is not tagged when the grace period ends gets a JSON 503; the process exits 0
    soon after, with a log line per request and no traceback."""
    busy = _BusyServer(demo_model, grace=1, requests=8)
    process, answers = busy.process, busy.answers
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    exited = time.monotonic() - signalled
    busy.join()
    log = process.stderr.read()
    assert exited < 1 + 10  # the grace, and the tagging call then running
    refused = [body for status, body in answers if status == 503]
    assert len(answers) == 8 and refused
    assert all("shut down" in body["error"] for body in refused)
    assert "Traceback" not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert sorted(line["status"] for line in lines if line["path"] == "/v1/tag") == sorted(
        status for status, _ in answers)


@pytest.mark.slow
def test_a_second_signal_ends_the_grace_at_once_with_json_503s(demo_model: Path):
    """After SIGTERM the server still listens: /readyz and new requests get JSON 503s.
    A second signal (Ctrl-C) answers what waits with JSON 503s at once and exits 0."""
    busy = _BusyServer(demo_model, grace=120, requests=6)
    process, url, answers = busy.process, busy.url, busy.answers
    process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    with pytest.raises(urllib.error.HTTPError) as ready:
        urllib.request.urlopen(url + "/readyz", timeout=10)
    assert ready.value.code == 503 and json.loads(ready.value.read()) == {
        "status": "shutting down"}
    status, body = busy.send({"texts": ["Oslo"]})  # new, while the others have their grace
    assert status == 503 and "shutting down" in body["error"]
    signalled = time.monotonic()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    assert time.monotonic() - signalled < 30  # not the 120 s grace
    busy.join()
    log = process.stderr.read()
    assert len(answers) == 7 and {status for status, _ in answers} <= {200, 503}
    assert all("shut" in body["error"] for status, body in answers if status == 503)
    assert "Traceback" not in log


@pytest.mark.slow
def test_sigterm_while_the_model_loads_stops_cleanly(demo_model: Path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tagger.apps.cli", "serve", str(demo_model), "--port", str(port),
         "--runtime", "keras"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not catches_sigterm(process.pid):  # the command's handler is in place
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert process.stderr.read().strip().splitlines()[-1] == "stopped before serving"


def test_unknown_paths_wrong_methods_and_deep_nesting_get_json_errors(client):
    """Every error is JSON with a message; nesting deeper than Python's parser goes is a
    400 for that request, and the server carries on."""
    missing = client.get("/v2/nothing")
    assert missing.status_code == 404 and "/v2/nothing" in missing.json()["error"]
    wrong = client.get("/v1/tag")
    assert wrong.status_code == 405 and "GET is not allowed" in wrong.json()["error"]
    nested = client.post("/v1/tag", content=b'{"texts": ' + b"[" * 5_000 + b"]" * 5_000
                         + b"}")
    assert nested.status_code == 400 and "nested too deeply" in nested.json()["error"]
    assert client.post("/v1/tag", json={"texts": ["Oslo"]}).status_code == 200


def test_the_model_name_is_escaped_on_the_page(demo_tagger: Tagger):
    with TestClient(create_app(demo_tagger, "<img src=x onerror=alert(1)>", LIMITS)) as client:
        page = client.get("/").text
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
