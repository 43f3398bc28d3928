"""The Sanic application: built by `create_app(config_path)` in every worker process.

Per worker: one config store and its watcher, one shared upstream client, one usage writer
thread. Sanic's own limits are raised above the gateway's (a long stream must never be cut by
Sanic's 60 s response timeout), and Sanic's own errors (404, 405, 413, ...) are answered in the
error shape of the API the path belongs to.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import itertools
import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sanic import Request, Sanic
from sanic.exceptions import RequestCancelled
from sanic.handlers import ErrorHandler
from sanic.response import HTTPResponse

from gateway import accesslog, formats, metrics, proxy, tracing
from gateway.admission import Admission
from gateway.config import Config, load_config
from gateway.conversations.service import Conversations, Sweeper
from gateway.errors import ClientFormat, error_body
from gateway.handlers import bp
from gateway.health import ProviderHealth
from gateway.providers import Upstream
from gateway.reload import ConfigStore, start_watching
from gateway.usage import UsageWriter

log = logging.getLogger("ekai")

OPEN_PATHS = frozenset({"/health", "/"})  # open, but /health's details need a key (handlers.health)


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """--config, else $EKAI_CONFIG, else ./ekai.yaml."""
    return Path(explicit or os.environ.get("EKAI_CONFIG") or "ekai.yaml").resolve()


def client_format(path: str) -> ClientFormat:
    """The API a path belongs to (gateway.formats.for_path), for errors raised before a handler."""
    return formats.for_path(path)  # type: ignore[return-value]


class GatewayErrorHandler(ErrorHandler):
    """Sanic's own errors, in the client's API shape, never with a traceback."""

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, RequestCancelled):  # the client left while we answered: no one to tell
            log.debug("client left during %s %s", request.method, request.path)
            return HTTPResponse(status=499)
        status = getattr(exception, "status_code", 500) or 500
        if status >= 500:
            log.error("unhandled error on %s %s", request.method, request.path, exc_info=exception)
            message = "The gateway hit an internal error; see its log."
        elif status == 404:
            message = f"No route {request.method} {request.path}."
        elif status == 405:
            message = f"Method {request.method} is not allowed on {request.path}."
        elif status == 413:
            message = "The request body is larger than the gateway accepts (server.max_body_mb)."
        else:
            message = str(exception) or "Bad request."
        fmt = client_format(request.path)
        headers = {"x-request-id": getattr(request.ctx, "request_id", "") or _request_id()}
        return proxy.json_response(error_body(fmt, status, message), status, headers)


_ID_PREFIX = "req_" + secrets.token_hex(6)  # random per process: unique across workers and restarts
_ID_COUNTER = itertools.count(1)


def _new_id_prefix() -> None:
    global _ID_PREFIX
    _ID_PREFIX = "req_" + secrets.token_hex(6)


os.register_at_fork(after_in_child=_new_id_prefix)  # forked workers must not share a prefix


def die_with_parent() -> None:
    """In a worker process of `ekai serve --workers N` (Linux): a SIGTERM when the main process
    dies, even by SIGKILL, so no worker is left serving (and holding the port and its usage rows)
    without its supervisor. The SIGTERM stops the worker gracefully: its usage queue is drained.
    Not in a single process: its parent is whatever started it (a shell, a service manager)."""
    if not os.environ.get("SANIC_WORKER_NAME") or not hasattr(os, "getppid"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGTERM) != 0:  # 1: PR_SET_PDEATHSIG
            return
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() == 1:  # the main process died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


# Python's cyclic garbage collector, as tuned in each worker once it has started (`tune_gc`).
# Under load, requests' short-lived objects keep the collector's allocation count above its
# default gen-0 threshold of 700, so it ran ~150 times a second, and a full collection went over
# every object the imports made (~66k): 20-25 us of CPU a request, ~7% of the gateway's. Objects
# made at start are frozen (never scanned again) and gen 0 waits for 7,000 net new container
# objects; in-flight requests stay below that, so under load the collector runs only when
# something really accumulates. (bench/README.md, "Garbage collection").
GC_GEN0_THRESHOLD = 7000


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def _request_id() -> str:
    """req_<12 hex random per process><12 hex counter>: unique, and cheap on the hot path."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):012x}"


def default_usage_sink(cfg: Config) -> UsageWriter:
    """The usage writer for the configured database (SQLite file or PostgreSQL)."""
    writer = UsageWriter(cfg.database)
    writer.max_backlog = cfg.max_backlog
    return writer


def create_app(
    path: str | os.PathLike[str] | None = None,
    *,
    name: str = "ekai",
    upstream: Callable[[], Upstream] = Upstream,
    usage_sink: Callable[[Config], UsageWriter] = default_usage_sink,
) -> Sanic:
    """The app for the config at `path`. `upstream` makes the upstream client and `usage_sink`
    the usage writer, in each worker once its event loop runs; tests pass their own to run the
    gateway in-process (tests/test_inprocess.py)."""
    cfg: Config = load_config(config_path(path))
    app = Sanic(name, error_handler=GatewayErrorHandler())
    app.config.REQUEST_MAX_SIZE = cfg.max_body_bytes
    app.config.RESPONSE_TIMEOUT = int(cfg.timeouts.total + 60)
    app.config.REQUEST_TIMEOUT = 120
    app.config.KEEP_ALIVE_TIMEOUT = 75
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = 30.0
    app.config.NOISY_EXCEPTIONS = False
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.ctx.store = ConfigStore(cfg)
    app.blueprint(bp)
    app.blueprint(metrics.bp)

    @app.before_server_start
    async def start(app: Sanic) -> None:
        die_with_parent()
        app.ctx.writer = usage_sink(app.ctx.store.config)
        app.ctx.writer.start()
        app.ctx.admission = Admission(app.ctx.store.config, app.ctx.writer)
        await app.ctx.admission.start(app.ctx.store)
        app.ctx.upstream = upstream()
        app.ctx.health = ProviderHealth()
        app.ctx.stop_watching = threading.Event()
        start_watching(app.ctx.store, app.ctx.stop_watching)
        app.ctx.metrics = metrics.MetricsObserver(app.ctx.store, app.ctx.health, app.ctx.writer)
        app.ctx.writer.observers.append(app.ctx.metrics)
        app.ctx.writer.observers.append(accesslog.AccessLog(app.ctx.store))
        app.ctx.tracer = tracing.start(app.ctx.store)  # None unless telemetry.otlp_endpoint is set
        if app.ctx.tracer is not None:
            app.ctx.writer.observers.append(app.ctx.tracer)
        app.ctx.metrics.start()
        app.ctx.conversations = Conversations(app.ctx.store.config.database)
        sweeper = Sweeper(app.ctx.conversations, lambda: app.ctx.store.config.conversation_retention_days)
        app.ctx.sweep_task = asyncio.get_running_loop().create_task(sweeper.run_forever())
        tune_gc()  # last: what start made is frozen too

    @app.before_server_stop
    async def stop_watcher(app: Sanic) -> None:
        app.ctx.stop_watching.set()
        app.ctx.sweep_task.cancel()
        await app.ctx.admission.stop()

    @app.after_server_stop
    async def stop(app: Sanic) -> None:
        await app.ctx.upstream.close()
        await asyncio.get_running_loop().run_in_executor(None, app.ctx.writer.stop)
        app.ctx.metrics.stop()
        if app.ctx.tracer is not None:
            await asyncio.get_running_loop().run_in_executor(None, app.ctx.tracer.shutdown)
        await asyncio.get_running_loop().run_in_executor(None, app.ctx.conversations.close)

    @app.on_request(priority=100)  # type: ignore[call-arg]
    async def identify(request: Request) -> HTTPResponse | None:
        request.ctx.request_id = _request_id()
        request.ctx.started = time.time()
        request.ctx.started_mono = time.perf_counter()
        keys = request.app.ctx.store.config.auth_keys
        if keys:
            if request.path in OPEN_PATHS:
                request.ctx.key_name = _key_name(request, keys)
                return None
            return _authenticate(request, keys)
        return None

    @app.on_response
    async def tag(request: Request, response: Any) -> None:
        if response is not None and "x-request-id" not in response.headers:
            response.headers["x-request-id"] = getattr(request.ctx, "request_id", _request_id())

    return app


def _presented_key(request: Request) -> str:
    presented = request.headers.get("x-api-key") or ""
    auth = request.headers.get("authorization") or ""
    if not presented and auth.lower().startswith("bearer "):
        presented = auth[7:].strip()
    return presented


def _key_name(request: Request, keys: Mapping[str, str]) -> str | None:
    """The name of the gateway key the request presents, compared in constant time."""
    presented = _presented_key(request).encode()
    found = None
    for key, name in keys.items():  # every key compared, so timing says nothing about which
        if hmac.compare_digest(presented, key.encode()):
            found = name
    return found


def _authenticate(request: Request, keys: Mapping[str, str]) -> HTTPResponse | None:
    """Gateway keys: `Authorization: Bearer K` or `x-api-key: K`."""
    found = _key_name(request, keys)
    presented = bool(_presented_key(request))
    if found is None:
        fmt = client_format(request.path)
        message = (
            "Missing gateway key: send it as 'Authorization: Bearer KEY' or 'x-api-key: KEY'."
            if not presented
            else "Invalid gateway key."
        )
        return proxy.json_response(
            error_body(fmt, 401, message), 401, {"x-request-id": request.ctx.request_id}
        )
    request.ctx.key_name = found
    return None
