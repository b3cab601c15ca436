"""`tagger serve`: an HTTP service with TensorFlow Serving's REST API, /v1/tag and a page.

    GET  /v1/models/NAME             model status (TF Serving's shape)
    GET  /v1/models/NAME/metadata    the signature: inputs and outputs
    POST /v1/models/NAME:predict     {"instances": ["text", ...]} or {"inputs": [...]}
    POST /v1/tag                     {"texts": [...], "min_confidence": 0.5} -> {"records": [...]}
    GET  /healthz, /readyz, /metrics (Prometheus), / (a page to try the model)

Starlette on Uvicorn: a small, well-kept ASGI stack; the event loop only parses and queues
requests, and one worker thread runs the tagging (the backends release the GIL). Requests that
arrive within `batch_timeout_ms` of each other are tagged in one call of up to
`max_batch_texts` texts, as TF Serving's batching does; past `max_queue_texts` waiting texts
the server answers 503 with Retry-After instead of growing.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import signal
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tagger.errors import TaggerError

# The records' fields, as the exported SavedModel's signature names them (unpadded here).
OUTPUTS = {
    "lengths": ("DT_INT32", []), "tokens": ("DT_STRING", [-1]), "starts": ("DT_INT32", [-1]),
    "ends": ("DT_INT32", [-1]), "tags": ("DT_STRING", [-1]),
    "confidences": ("DT_FLOAT", [-1]), "span_counts": ("DT_INT32", []),
    "span_labels": ("DT_STRING", [-1]), "span_starts": ("DT_INT32", [-1]),
    "span_ends": ("DT_INT32", [-1]), "span_confidences": ("DT_FLOAT", [-1]),
}


@dataclass(frozen=True)
class Limits:
    """What one request may hold, and how requests are batched and queued."""

    max_body_bytes: int = 1_000_000
    max_texts: int = 256  # per request
    max_chars: int = 20_000  # per text
    max_batch_texts: int = 64
    batch_timeout_ms: float = 5.0
    max_queue_texts: int = 2048


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


class Batcher:
    """Collects the texts of concurrent requests and tags them in batched calls."""

    def __init__(self, tagger, limits: Limits, metrics: Metrics) -> None:
        self.tagger = tagger
        self.limits = limits
        self.metrics = metrics
        self.queue: asyncio.Queue = asyncio.Queue()
        self.waiting = 0  # texts queued or being tagged
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tagging")

    def _tag(self, texts: list[str]) -> list:
        return self.tagger.tag(texts)

    async def tag(self, texts: list[str]) -> list:
        """`records.Tagged` records of `texts`, tagged with whatever else is waiting."""
        if self.waiting + len(texts) > self.limits.max_queue_texts:
            raise RequestError(503, "the server is busy; retry shortly",
                               {"Retry-After": "1"})
        future = asyncio.get_running_loop().create_future()
        self.waiting += len(texts)
        self.metrics.queued.set(self.waiting)
        self.queue.put_nowait((texts, future))
        return await future

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            size = len(batch[0][0])
            deadline = loop.time() + self.limits.batch_timeout_ms / 1000
            while size < self.limits.max_batch_texts:
                try:
                    item = await asyncio.wait_for(self.queue.get(), deadline - loop.time())
                except TimeoutError:
                    break
                batch.append(item)
                size += len(item[0])
            texts = [text for item, _ in batch for text in item]
            started = time.perf_counter()
            try:
                tagged = await loop.run_in_executor(self.executor, self._tag, texts)
                self.metrics.batch_texts.observe(len(texts))
                self.metrics.tokens.inc(sum(len(t.tokens) for t in tagged))
                self.metrics.tagging_seconds.inc(time.perf_counter() - started)
                for item, future in batch:
                    if not future.done():  # its client may have gone
                        future.set_result(tagged[:len(item)])
                    tagged = tagged[len(item):]
            except Exception as error:  # tell every waiting request, keep serving
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
            finally:
                self.waiting -= size
                self.metrics.queued.set(self.waiting)


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
    }


def create_app(tagger, name: str, limits: Limits = Limits()) -> Starlette:
    """The ASGI application serving `tagger` under model name `name`."""
    metrics = Metrics()
    state: dict[str, Any] = {"ready": False}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        batcher = Batcher(tagger, limits, metrics)
        state["batcher"] = batcher
        worker = asyncio.create_task(batcher.run())
        await batcher.tag(["Warm up the network ."])  # before /readyz says yes
        state["ready"] = True
        try:
            yield
        finally:
            state["ready"] = False
            worker.cancel()
            batcher.executor.shutdown(wait=True)

    def endpoint(label: str, handler):
        async def wrapped(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = await handler(request)
            except RequestError as error:
                response = JSONResponse({"error": error.message}, error.status, error.headers)
            except Exception as error:  # a bug or a failed tagging call: JSON, not a page
                response = JSONResponse({"error": f"tagging failed: {error}"}, 500)
            metrics.requests.labels(label, str(response.status_code)).inc()
            metrics.latency.labels(label).observe(time.perf_counter() - started)
            return response
        return wrapped

    def check_name(request: Request) -> None:
        if request.path_params["name"] != name:
            raise RequestError(404, f"no model named {request.path_params['name']!r}; "
                                    f"this server has {name!r}")

    async def status(request: Request) -> Response:
        check_name(request)
        return JSONResponse({"model_version_status": [
            {"version": "1", "state": "AVAILABLE" if state["ready"] else "LOADING",
             "status": {"error_code": "OK", "error_message": ""}}]})

    async def metadata(request: Request) -> Response:
        check_name(request)
        outputs = {key: {"dtype": dtype, "tensor_shape": {"dim": [{"size": "-1"}, *(
            {"size": str(d)} for d in dims)]}, "name": key}
            for key, (dtype, dims) in OUTPUTS.items()}
        signature = {"inputs": {"texts": {"dtype": "DT_STRING", "name": "texts",
                                          "tensor_shape": {"dim": [{"size": "-1"}]}}},
                     "outputs": outputs, "method_name": "tensorflow/serving/predict"}
        return JSONResponse({
            "model_spec": {"name": name, "signature_name": "", "version": "1"},
            "metadata": {"signature_def": {"signature_def": {"serving_default": signature}}},
            "tagger": {"labels": tagger.labels, "scheme": tagger.scheme,
                       "metrics": tagger.metrics},
        })

    async def predict(request: Request) -> Response:
        check_name(request)
        body = await read_json(request, limits.max_body_bytes)
        if "instances" in body:
            texts = [_instance_text(i) for i in _list(body["instances"], "instances")]
            row = True
        elif "inputs" in body:
            inputs = body["inputs"]
            if isinstance(inputs, dict):
                inputs = inputs.get("texts")
            texts = _strings(inputs, "inputs")
            row = False
        else:
            raise RequestError(400, 'the body needs "instances" (or "inputs"): a list of texts')
        tagged = await tag(texts)
        rows = [prediction(t) for t in tagged]
        if row:
            return JSONResponse({"predictions": rows})
        return JSONResponse({"outputs": {key: [r[key] for r in rows] for key in OUTPUTS}})

    async def tag_endpoint(request: Request) -> Response:
        body = await read_json(request, limits.max_body_bytes)
        texts = _strings(body.get("texts"), "texts")
        threshold = body.get("min_confidence", 0.0)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) \
                or not 0 <= threshold <= 1:
            raise RequestError(400, '"min_confidence" must be a number from 0 to 1')
        tagged = await tag(texts)
        return JSONResponse({"records": [t.above(threshold).to_dict()
                                         for t in tagged]})

    async def tag(texts: list[str]) -> list:
        if len(texts) > limits.max_texts:
            raise RequestError(413, f"{len(texts)} texts in one request; the limit is "
                                    f"{limits.max_texts}: split the request")
        for i, text in enumerate(texts):
            if len(text) > limits.max_chars:
                raise RequestError(413, f"text {i} has {len(text)} characters; the limit is "
                                        f"{limits.max_chars}: split it into paragraphs")
        if not texts:
            return []
        return await state["batcher"].tag(texts)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if state["ready"]:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "loading"}, 503)

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
        Route("/v1/models/{name}", endpoint("status", status)),
        Route("/v1/models/{name}/metadata", endpoint("metadata", metadata)),
        Route("/v1/models/{name}:predict", endpoint("predict", predict), methods=["POST"]),
    ]
    async def http_error(request: Request, error: HTTPException) -> Response:
        # Unknown paths and wrong methods: JSON, like every other error.
        message = {404: f"no such path {request.url.path}",
                   405: f"{request.method} is not allowed on {request.url.path}"}
        metrics.requests.labels("other", str(error.status_code)).inc()
        return JSONResponse({"error": message.get(error.status_code, error.detail)},
                            error.status_code, dict(error.headers or {}))

    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={HTTPException: http_error})


async def read_json(request: Request, limit: int) -> dict:
    """The request's JSON object, read up to `limit` bytes (413 beyond, 400 if malformed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the body has {declared} bytes; the limit is {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestError(413, f"the body is over the limit of {limit} bytes")
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


def check_address(host: str, port: int) -> None:
    """Fail with a clear message, before the model loads, if the address cannot be bound."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        raise TaggerError(f"cannot listen on {host}:{port} ({error.strerror}); choose another "
                          "`port` or `host`", param="port") from None


def run(tagger, name: str, host: str, port: int, limits: Limits = Limits()) -> None:
    """Serve until SIGTERM or Ctrl-C: in-flight requests finish, then exit status 0."""
    import uvicorn

    # Uvicorn drains on SIGTERM, then raises the signal again for the handler it found:
    # this one makes that a clean exit rather than death by signal.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    config = uvicorn.Config(create_app(tagger, name, limits), host=host, port=port,
                            log_level="warning", timeout_graceful_shutdown=30)
    uvicorn.Server(config).run()
