"""`tagger serve`: an HTTP service with TensorFlow Serving's REST API, /v1/tag and a page.

    GET  /v1/models/NAME[/versions/1|/labels/LABEL]            model status (TF Serving's)
    GET  /v1/models/NAME[/versions/1|/labels/LABEL]/metadata   the signature
    POST /v1/models/NAME[/versions/1|/labels/LABEL]:predict    {"instances": [...]} or
                                                               {"inputs": {"texts": [...]}}
    POST /v1/tag       {"texts": [...], "min_confidence": 0.5} -> {"records": [...]}
                       {"documents": [...]} -> {"documents": [{"records": [...]}, ...]}
    GET  /healthz, /readyz, /metrics (Prometheus), / (a page to try the model)

Starlette on Uvicorn: the event loop only parses and queues requests; one worker thread
runs the tagging (the backends release the GIL). The `Batcher` gathers the texts of
concurrent requests into tagging calls bounded in texts and characters, taking texts from
the waiting requests in turn, so a small request waits behind one bounded call, not behind
every text of a large request. A failed call is retried text by text, so only the request
whose text fails gets an error. Each request has a deadline (504 past it); SIGTERM lets
requests finish for a grace period, then answers what is left with 503 and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import re
import socket
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tagger.errors import TaggerError
from tagger.records import place
from tagger.settings import ServeLimits as Limits

LOG = logging.getLogger("tagger.serve")

# The records' fields, as the exported SavedModel's signature names them (unpadded here).
OUTPUTS = {
    "lengths": ("DT_INT32", []), "tokens": ("DT_STRING", [-1]), "starts": ("DT_INT32", [-1]),
    "ends": ("DT_INT32", [-1]), "tags": ("DT_STRING", [-1]),
    "confidences": ("DT_FLOAT", [-1]), "span_counts": ("DT_INT32", []),
    "span_labels": ("DT_STRING", [-1]), "span_starts": ("DT_INT32", [-1]),
    "span_ends": ("DT_INT32", [-1]), "span_confidences": ("DT_FLOAT", [-1]),
    "multiword_counts": ("DT_INT32", []), "multiword_starts": ("DT_INT32", [-1]),
    "multiword_ends": ("DT_INT32", [-1]),
}
SIGNATURE = "serving_default"
CLIENT_CLOSED = 499  # the status logged for a client that hung up (nginx's, TF Serving's)
VERSION = "1"  # the one version a server has
# TF Serving's request paths.
_MODEL = r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
_VERB_PATH = re.compile(_MODEL + r":(?P<verb>classify|regress|predict)")
# A NAME or LABEL those paths can match (a client percent-encodes the rest), without
# control characters.
_NAME = re.compile(r"[^/:\x00-\x1f\x7f]+")
_INFO_PATH = re.compile(r"/v1/models(?:/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)"
                        r"|/labels/(?P<label>[^/:]+))?)?(?P<metadata>/metadata)?")


class RequestError(Exception):
    """A request the server refuses: HTTP status and a message for the JSON body."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None
                 ) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class Metrics:
    """Prometheus metrics of one server (its own registry: tests run several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("tagger_requests", "HTTP requests", ["endpoint", "code"],
                                registry=self.registry)
        self.latency = Histogram("tagger_request_seconds", "Request latency", ["endpoint"],
                                 registry=self.registry,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1,
                                          2.5, 5, 10))
        self.batch_texts = Histogram("tagger_batch_texts", "Texts per batched tagging call",
                                     registry=self.registry,
                                     buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.tokens = Counter("tagger_tokens", "Tokens tagged", registry=self.registry)
        self.tagging_seconds = Counter("tagger_tagging_seconds",
                                       "Seconds spent in tagging calls (tokens / this = "
                                       "tokens/s)", registry=self.registry)
        self.queued = Gauge("tagger_queued_texts", "Texts waiting to be tagged",
                            registry=self.registry)


class _Job:
    """One request's texts on their way through the batcher."""

    def __init__(self, texts: list[str], future: asyncio.Future) -> None:
        self.texts = texts
        self.future = future
        self.results: list[Any] = [None] * len(texts)
        self.taken = 0  # texts handed to a tagging call, in order
        self.left = len(texts)  # texts without a result


class Batcher:
    """Tags the texts of concurrent requests in shared, bounded calls, fairly."""

    def __init__(self, tagger, limits: Limits, metrics: Metrics) -> None:
        self.tagger = tagger
        self.limits = limits
        self.metrics = metrics
        self.turns: deque[_Job] = deque()  # jobs with texts not in a call yet, in turn
        self.live: set[_Job] = set()
        self.arrived = asyncio.Event()
        self.waiting = 0  # texts queued or being tagged
        self.closing = False
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tagging")

    async def tag(self, texts: list[str], timeout: float | None = None) -> list:
        """`records.Tagged` records of `texts`, tagged with whatever else is waiting; a
        `RequestError` 504 after `timeout` seconds."""
        if self.closing:
            raise RequestError(503, "the server is shutting down; retry on another replica",
                               {"Retry-After": "1"})
        if self.waiting + len(texts) > self.limits.max_queue_texts:
            raise RequestError(503, "the server is busy; retry shortly",
                               {"Retry-After": "1"})
        job = _Job(texts, asyncio.get_running_loop().create_future())
        self.turns.append(job)
        self.live.add(job)
        self._count(len(texts))
        self.arrived.set()
        try:
            return await asyncio.wait_for(job.future, timeout)
        except TimeoutError:
            raise RequestError(504, f"the request was not tagged within its deadline of "
                                    f"{timeout:g} s; send fewer or shorter texts, or ask "
                                    "for a longer deadline") from None
        finally:
            self.live.discard(job)

    def fail_all(self, error: RequestError) -> None:
        """Answer every request still waiting with `error` (at the end of the grace)."""
        for job in list(self.live):
            if not job.future.done():
                job.future.set_exception(error)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.turns:
                self.arrived.clear()
                await self.arrived.wait()
                # Requests that arrive together are tagged together.
                await asyncio.sleep(self.limits.batch_timeout_ms / 1000)
            call = self._take()
            if not call:
                continue
            started = time.perf_counter()
            results = await loop.run_in_executor(
                self.executor, self._tag_call, [job.texts[i] for job, i in call])
            self.metrics.batch_texts.observe(len(call))
            self.metrics.tagging_seconds.inc(time.perf_counter() - started)
            self.metrics.tokens.inc(sum(len(r.tokens) for r in results
                                        if not isinstance(r, Exception)))
            for (job, i), result in zip(call, results, strict=True):
                self._deliver(job, i, result)
            self._count(-len(call))

    def _take(self) -> list[tuple[_Job, int]]:
        """The next call's (job, text index) pairs: one text from each waiting job in turn,
        while the call has room; a job whose next text does not fit keeps its turn."""
        call: list[tuple[_Job, int]] = []
        chars = 0
        skipped: deque[_Job] = deque()
        while self.turns and len(call) < self.limits.max_batch_texts:
            job = self.turns.popleft()
            if job.future.done():  # past its deadline, its client gone, or failed
                self._count(job.taken - len(job.texts))
                continue
            size = len(job.texts[job.taken])
            if call and chars + size > self.limits.max_batch_chars:
                skipped.append(job)
                continue
            call.append((job, job.taken))
            chars += size
            job.taken += 1
            if job.taken < len(job.texts):
                self.turns.append(job)
        skipped.extend(self.turns)
        self.turns = skipped
        return call

    def _tag_call(self, texts: list[str]) -> list:
        """Each text's record, or the exception that tagging it alone raised."""
        try:
            return self.tagger.tag(texts)
        except Exception as error:
            if len(texts) == 1:
                return [error]
        # One text's failure must not fail the others: each alone, so only its request fails.
        results = []
        for text in texts:
            try:
                results.extend(self.tagger.tag([text]))
            except Exception as error:
                results.append(error)
        return results

    def _deliver(self, job: _Job, index: int, result: Any) -> None:
        if job.future.done():
            return
        if isinstance(result, Exception):
            job.future.set_exception(TaggingFailed(index, result))
            return
        job.results[index] = result
        job.left -= 1
        if job.left == 0:
            job.future.set_result(job.results)

    def _count(self, change: int) -> None:
        self.waiting += change
        self.metrics.queued.set(self.waiting)


class TaggingFailed(RequestError):
    """Tagging one text failed on its own: a 500 for its request only."""

    def __init__(self, index: int, cause: Exception) -> None:
        super().__init__(500, f"tagging text {index} failed ({type(cause).__name__}: {cause})")


def prediction(tagged) -> dict[str, Any]:
    """One instance's outputs, named as the SavedModel's signature names them."""
    return {
        "lengths": len(tagged.tokens), "tokens": tagged.tokens,
        "starts": [s for s, _ in tagged.offsets], "ends": [e for _, e in tagged.offsets],
        "tags": tagged.tags, "confidences": tagged.to_dict()["confidences"],
        "span_counts": len(tagged.spans), "span_labels": [s.label for s in tagged.spans],
        "span_starts": [s.start for s in tagged.spans],
        "span_ends": [s.end for s in tagged.spans],
        "span_confidences": [s.to_dict()["confidence"] for s in tagged.spans],
        "multiword_counts": len(tagged.multiword),
        "multiword_starts": [s for s, _ in tagged.multiword],
        "multiword_ends": [e for _, e in tagged.multiword],
        **tagged.columns,  # a model's further heads: xpos, feats, lemma, ...
    }


def signature_outputs(tagger) -> dict[str, tuple[str, list[int]]]:
    """The outputs of `tagger`'s signature: OUTPUTS, and a string per token for each
    head after the first, by its column (as the SavedModel has them)."""
    return {**OUTPUTS, **{head.column: ("DT_STRING", [-1]) for head in tagger.heads[1:]}}


def create_app(tagger, name: str, limits: Limits | None = None,
               labels: tuple[str, ...] = (), access_log: bool = True) -> Starlette:
    """The ASGI application serving `tagger` under model name `name`, as version 1 and
    under the version `labels`. `access_log`: a JSON line per request on the
    "tagger.serve" logger (server errors are logged either way)."""
    limits = limits or Limits()
    metrics = Metrics()
    state: dict[str, Any] = {"ready": False}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        batcher = Batcher(tagger, limits, metrics)
        state["batcher"] = batcher
        state["loop"] = asyncio.get_running_loop()
        worker = asyncio.create_task(batcher.run())
        await batcher.tag(["Warm up the network ."])  # before /readyz says yes
        state["ready"] = True
        try:
            yield
        finally:
            state["ready"] = False
            worker.cancel()
            batcher.executor.shutdown(wait=True, cancel_futures=True)

    def begin_shutdown(drained: Callable[[], None]) -> None:
        """The first time: report not ready, answer new requests 503, and give those
        waiting the grace period to be tagged (what is left then is answered 503); call
        `drained` once every waiting request has its answer. Again: the grace ends now."""
        if "loop" not in state:  # still starting: Uvicorn stops before serving anything
            drained()
            return
        shut_down = RequestError(503, "the server shut down before this request was tagged; "
                                      "retry on another replica", {"Retry-After": "1"})

        async def drain(batcher: Batcher) -> None:
            while batcher.live:
                await asyncio.sleep(0.05)
            drained()

        def start() -> None:
            batcher = state["batcher"]
            if batcher.closing:
                batcher.fail_all(shut_down)
                return
            state["ready"] = False
            batcher.closing = True
            state["loop"].call_later(limits.grace_seconds, batcher.fail_all, shut_down)
            state["drain"] = state["loop"].create_task(drain(batcher))
        state["loop"].call_soon_threadsafe(start)

    def finish(request: Request, response: Response, started: float,
               error: str | None = None) -> Response:
        """Count the request, give it its id, and log it: one JSON line per request (with
        `access_log`) and every server error with its cause."""
        latency = time.perf_counter() - started
        request_id = request.headers.get("x-request-id", "")[:64]
        if not request_id or not request_id.isprintable():
            request_id = uuid.uuid4().hex[:16]
        response.headers["X-Request-ID"] = request_id
        label = getattr(request.state, "endpoint", "other")
        status = response.status_code
        metrics.requests.labels(label, str(status)).inc()
        metrics.latency.labels(label).observe(latency)
        if access_log or status >= 500:
            line = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "request_id": request_id, "method": request.method,
                    "path": request.url.path, "status": status,
                    "texts": getattr(request.state, "texts", 0),
                    "tokens": getattr(request.state, "tokens", 0),
                    "latency_ms": round(latency * 1000, 1)}
            if status >= 500:
                line["error"] = error
            LOG.log(logging.ERROR if status >= 500 else logging.INFO, json.dumps(line))
        return response

    def endpoint(label: str, handler):
        async def wrapped(request: Request) -> Response:
            started = time.perf_counter()
            request.state.endpoint = label
            error = None
            try:
                response = await handler(request)
            except RequestError as refused:
                response = JSONResponse({"error": refused.message}, refused.status,
                                        refused.headers)
                error = refused.message
            except Exception as failure:  # a bug or a failed tagging call: JSON, not a page
                error = f"{type(failure).__name__}: {failure}"
                response = JSONResponse({"error": f"tagging failed: {failure}"}, 500)
            return finish(request, response, started, error)
        return wrapped

    def servable(match: re.Match) -> None:
        """Check the model name, version and label of a TF Serving path, as TF Serving
        does (its messages and codes)."""
        asked, version, label = match["name"], match["version"], match["label"]
        if asked is None:
            raise RequestError(400, "Missing model name in request.")
        if asked != name or (version is not None and version != VERSION):
            spec = f"Specific({asked}, {version})" if version else f"Latest({asked})"
            raise RequestError(404, f"Servable not found for request: {spec}")
        if label is not None and label not in labels:
            raise RequestError(400, f"Unrecognized servable version label: {label}")

    def status() -> dict[str, Any]:
        return {"model_version_status": [
            {"version": VERSION, "state": "AVAILABLE" if state["ready"] else "LOADING",
             "status": {"error_code": "OK", "error_message": ""}}]}

    def metadata() -> dict[str, Any]:
        outputs = {key: {"dtype": dtype, "tensor_shape": {"dim": [{"size": "-1"}, *(
            {"size": str(d)} for d in dims)]}, "name": key}
            for key, (dtype, dims) in signature_outputs(tagger).items()}
        signature = {"inputs": {"texts": {"dtype": "DT_STRING", "name": "texts",
                                          "tensor_shape": {"dim": [{"size": "-1"}]}}},
                     "outputs": outputs, "method_name": "tensorflow/serving/predict"}
        return {
            "model_spec": {"name": name, "signature_name": "", "version": VERSION},
            "metadata": {"signature_def": {"signature_def": {SIGNATURE: signature}}},
            "tagger": {"labels": tagger.labels, "scheme": tagger.scheme,
                       "metrics": tagger.metrics},
        }

    async def models(request: Request) -> Response:
        """Every /v1/models path: status, metadata and the verbs."""
        path = request.url.path
        if request.method == "POST" and (match := _VERB_PATH.fullmatch(path)):
            request.state.endpoint = match["verb"]
            servable(match)
            if request.state.endpoint != "predict":
                raise RequestError(400, f"the model's signature {SIGNATURE!r} is a predict "
                                        f"signature: use :predict, not :{match['verb']}")
            return await predict(request)
        if request.method == "GET" and (match := _INFO_PATH.fullmatch(path)):
            request.state.endpoint = "metadata" if match["metadata"] else "status"
            servable(match)
            return JSONResponse(metadata() if match["metadata"] else status())
        if _VERB_PATH.fullmatch(path) or _INFO_PATH.fullmatch(path):
            raise RequestError(405, f"{request.method} is not allowed on {path}")
        raise RequestError(404, f"Malformed request: {request.method} {path}")

    async def predict(request: Request) -> Response:
        body = await read_json(request, limits.max_body_bytes)
        signature = body.get("signature_name", "")
        if not isinstance(signature, str):
            raise RequestError(400, "'signature_name' key must be a string value.")
        if signature not in ("", SIGNATURE):
            raise RequestError(400, f'Serving signature name: "{signature}" not found in '
                                    "signature def")
        if "instances" in body and "inputs" in body:
            raise RequestError(400, "Not formatted correctly expecting only one of 'inputs' "
                                    "or 'instances' keys to exist")
        if "instances" in body:
            instances = _list(body["instances"], "instances")
            if not instances:
                raise RequestError(400, "No values in 'instances' array")
            texts = [_instance_text(i) for i in instances]
        elif "inputs" in body:
            inputs = body["inputs"]
            if isinstance(inputs, dict):
                if "texts" not in inputs:
                    raise RequestError(400, "Missing named input: texts in 'inputs' object.")
                inputs = inputs["texts"]
            texts = _strings(inputs, "inputs")
            if not texts:  # as for 'instances': a predict call has a text
                raise RequestError(400, "No values in 'inputs' array")
        else:
            raise RequestError(400, "Missing 'inputs' or 'instances' key")
        rows = [prediction(t) for t in await tag(request, texts)]
        if "instances" in body:
            return JSONResponse({"predictions": rows})
        return JSONResponse({"outputs": {key: [r[key] for r in rows]
                                         for key in signature_outputs(tagger)}})

    async def tag_endpoint(request: Request) -> Response:
        body = await read_json(request, limits.max_body_bytes)
        threshold = body.get("min_confidence", 0.0)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) \
                or not 0 <= threshold <= 1:
            raise RequestError(400, '"min_confidence" must be a number from 0 to 1')
        if "documents" in body:
            if "texts" in body:
                raise RequestError(400, 'give "texts" or "documents", not both')
            return JSONResponse({"documents": [
                {"records": [t.above(threshold).to_dict() for t in records]}
                for records in await tag_documents(request, body["documents"])]})
        texts = _strings(body.get("texts"), "texts")
        tagged = await tag(request, texts)
        return JSONResponse({"records": [t.above(threshold).to_dict()
                                         for t in tagged]})

    def checked(texts: list[str], what: str, most: int, advice: str) -> None:
        if len(texts) > limits.max_texts:
            raise RequestError(413, f"{len(texts)} {what}s in one request; the limit is "
                                    f"{limits.max_texts}: split the request")
        for i, text in enumerate(texts):
            if len(text) > most:
                raise RequestError(413, f"{what} {i} has {len(text)} characters; the limit "
                                        f"is {most}: {advice}")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as error:  # JSON may escape a lone surrogate
                raise RequestError(400, f"{what} {i} is not valid Unicode (a lone surrogate "
                                        f"at character {error.start}): send UTF-8 text"
                                   ) from None

    async def tag_documents(request: Request, value: Any) -> list[list]:
        """Each document cut into its sentences (off the event loop: tokenizing), which are
        queued as texts, never truncated; their records placed back in the documents."""
        documents = _strings(value, "documents")
        checked(documents, "document", limits.max_document_chars,
                "split it into several documents")
        batcher = state["batcher"]
        found = await asyncio.get_running_loop().run_in_executor(
            batcher.executor, batcher.tagger.document_sentences, documents)
        pieces = [document[a:b] for document, sentences in zip(documents, found, strict=True)
                  for _, a, b in sentences]
        tagged = iter(await queued(request, pieces))
        return [place(tagged, sentences) for sentences in found]

    async def tag(request: Request, texts: list[str]) -> list:
        checked(texts, "text", limits.max_chars, "split it into paragraphs")
        return await queued(request, texts)

    async def queued(request: Request, texts: list[str]) -> list:
        """`texts` tagged by the batcher, with whatever else is waiting."""
        request.state.texts = len(texts)
        if not texts:
            return []
        # A client that hangs up takes its texts out of the queue: they would only delay
        # the others.
        tagging = asyncio.ensure_future(state["batcher"].tag(texts, limits.deadline_seconds))
        gone = asyncio.ensure_future(disconnected(request))
        await asyncio.wait({tagging, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not tagging.done():
            tagging.cancel()
            raise RequestError(CLIENT_CLOSED, "the client closed the connection")
        gone.cancel()
        tagged = tagging.result()
        request.state.tokens = sum(len(t.tokens) for t in tagged)
        return tagged

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if state["ready"]:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "loading" if "batcher" not in state
                             or not state["batcher"].closing else "shutting down"}, 503)

    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(metrics.registry),
                        media_type="text/plain; version=0.0.4; charset=utf-8")

    page = resources.files("tagger.apps").joinpath("page.html").read_text(encoding="utf-8")

    async def index(request: Request) -> Response:
        return HTMLResponse(page.replace("{{NAME}}", html.escape(name)))

    routes = [
        Route("/", endpoint("page", index)),
        Route("/healthz", endpoint("healthz", healthz)),
        Route("/readyz", endpoint("readyz", readyz)),
        Route("/metrics", endpoint("metrics", prometheus)),
        Route("/v1/tag", endpoint("tag", tag_endpoint), methods=["POST"]),
        Route("/v1/models{rest:path}", endpoint("models", models),
              methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]

    async def http_error(request: Request, error: HTTPException) -> Response:
        # Unknown paths and wrong methods: JSON, like every other error.
        message = {404: f"no such path {request.url.path}",
                   405: f"{request.method} is not allowed on {request.url.path}"}
        return finish(request, JSONResponse(
            {"error": message.get(error.status_code, error.detail)}, error.status_code,
            dict(error.headers or {})), time.perf_counter())

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error})
    app.state.begin_shutdown = begin_shutdown
    return app


async def disconnected(request: Request) -> None:
    """Return when the client of `request` (whose body has been read) hangs up."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def read_json(request: Request, limit: int) -> dict:
    """The request's JSON object, read up to `limit` bytes (413 beyond, 400 if malformed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the body has {declared} bytes; the limit is {limit}")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise RequestError(413, f"the body is over the limit of {limit} bytes")
    except ClientDisconnect:
        raise RequestError(CLIENT_CLOSED, "the client closed the connection before the end "
                                          "of its body") from None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(400, f"the body is not valid JSON ({error})") from None
    except RecursionError:  # Python's parser recurses once per level of nesting
        raise RequestError(400, "the body's JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise RequestError(400, "the body must be a JSON object")
    return data


def _list(value: Any, field: str) -> list:
    if not isinstance(value, list):
        raise RequestError(400, f'"{field}" must be a list')
    return value


def _strings(value: Any, field: str) -> list[str]:
    values = _list(value, field)
    for i, text in enumerate(values):
        if not isinstance(text, str):
            raise RequestError(400, f'"{field}"[{i}] must be a string, not '
                                    f'{type(text).__name__}')
    return values


def _instance_text(instance: Any) -> str:
    """A row-format instance: a string, or {"texts": string} (the input's name)."""
    if isinstance(instance, dict):
        instance = instance.get("texts")
    if not isinstance(instance, str):
        raise RequestError(400, 'each instance must be a text, or {"texts": text}')
    return instance


def check_names(name: str, labels: tuple[str, ...] = ()) -> str:
    """`name` once it and the version `labels` are names a request path can hold, as TF
    Serving's REST paths read them (`/v1/models/NAME/labels/LABEL:predict`): not empty,
    no "/" or ":", no control characters."""
    for value, option in [(name, "name"), *((label, "label") for label in labels)]:
        if not _NAME.fullmatch(value):
            raise TaggerError(f"`{option}` {value!r} cannot be named in a request path "
                              "(/v1/models/NAME/labels/LABEL:predict): give a name without "
                              "'/', ':' or control characters", param=option)
    return name


def check_address(host: str, port: int) -> None:
    """Fail with a clear message, before the model loads, if the address cannot be bound."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        raise TaggerError(f"cannot listen on {host}:{port} ({error.strerror}); choose another "
                          "`port` or `host`", param="port") from None



def run(tagger, name: str, host: str, port: int, limits: Limits | None = None,
        labels: tuple[str, ...] = (), access_log: bool = True) -> None:
    """Serve until SIGTERM or Ctrl-C: requests in flight get `limits.grace_seconds` to
    finish, what is left is answered 503, then exit status 0."""
    import uvicorn

    limits = limits or Limits()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    app = create_app(tagger, name, limits, labels, access_log)

    class Server(uvicorn.Server):
        """Stops on SIGTERM or SIGINT as `begin_shutdown` says, listening until every
        request has its answer; a third signal stops at once. Uvicorn's own handling
        (which stops listening at once, and raises the signal again after the shutdown)
        is not used: the process exits 0."""

        signals = 0

        def handle_exit(self, sig: int, frame: Any) -> None:
            self.signals += 1
            if self.signals > 2:
                self.should_exit = self.force_exit = True
            else:
                app.state.begin_shutdown(lambda: setattr(self, "should_exit", True))

    # Past the grace every request has its answer; Uvicorn's own timeout (which cancels
    # handlers) is only a backstop for a connection that never closes.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            timeout_graceful_shutdown=limits.grace_seconds + 2)
    Server(config).run()
