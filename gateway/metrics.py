"""Prometheus metrics: `GET /metrics`, one consistent set across `--workers N`.

Library: the maintained `prometheus-client`, in its multiprocess mode. `ekai serve` points
`PROMETHEUS_MULTIPROC_DIR` at a fresh folder per server run (gateway.cli.metrics_dir) before any
worker imports this module; each worker writes its samples to mmap'd files there and the worker
that answers a scrape merges them all. Without that variable (the app built in-process) the
metrics live in this process's default registry.

Off the hot path: a request only hands its finished UsageRecord to the usage writer (as before);
the writer thread calls `MetricsObserver` once per batch, which adds the batch up locally and
touches the mmap'd files once per label set (a multiprocess `inc` costs ~1 us, a labelled
histogram `observe` ~3 us, measured). Gauges that change without traffic (provider cooldowns, the
usage queue) and the reload counters are refreshed by one ticker thread per worker every
`TICK_SECONDS`, and by the scraping worker just before it answers.

Labels are bounded, so a scrape stays small whatever clients send:
- `client_format`: the API the client spoke (`openai`, `anthropic`, ...: one per route);
- `provider`: a configured provider name, or `none` when no provider was reached;
- `model`: the model name the client sent when a price table or an alias knows it, else `other`
  (a client inventing model names cannot create series);
- `status`: the HTTP status returned; `kind`: a token kind; `outcome`: an attempt's HTTP status,
  or `timeout` / `connect` for one that fell back without a status.
No request id, session id, key or free text is ever a label.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import os
import threading
from collections import defaultdict
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from gateway.config import Config

log = logging.getLogger("ekai.metrics")

TICK_SECONDS = 2.0
TOKEN_KINDS = ("input", "cache_read", "cache_write", "output", "reasoning")
# LLM requests take from tens of milliseconds (a cached short answer) to many minutes (a long
# agentic stream): buckets spread over that range.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600, 1800)
TTFB_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20, 30, 60, 120)
PICO = 10**12

REQUESTS = Counter(
    "ekai_requests", "Proxied requests, by the API the client spoke, provider, model and status.",
    ["client_format", "provider", "model", "status"],
)
TOKENS = Counter(
    "ekai_tokens", "Tokens by kind (input is uncached prompt; reasoning is part of output).",
    ["provider", "model", "kind"],
)
COST = Counter("ekai_cost_usd", "Cost in USD of the requests (price tables or the provider's own).",
               ["provider", "model"])
LATENCY = Histogram(
    "ekai_request_duration_seconds", "Successful requests: until the last byte reached the client.",
    ["provider", "model"], buckets=LATENCY_BUCKETS,
)
TTFB = Histogram(
    "ekai_time_to_first_byte_seconds", "Successful requests: until the first byte reached the client.",
    ["provider", "model"], buckets=TTFB_BUCKETS,
)
ATTEMPTS = Counter("ekai_upstream_attempts", "Requests sent to a provider, by how each attempt ended.",
                   ["provider", "outcome"])
FALLBACKS = Counter("ekai_fallbacks", "Attempts given up for the next provider, by provider and reason.",
                    ["provider", "outcome"])
COOLING = Gauge("ekai_provider_cooling_down", "1 while a provider cools down (is tried last) in a worker.",
                ["provider"], multiprocess_mode="livemax")
QUEUE = Gauge("ekai_usage_queue_depth", "Usage records waiting for the writer thread (all workers).",
              multiprocess_mode="livesum")
ROWS_WRITTEN = Counter("ekai_usage_rows_written", "Usage rows committed to the database.")
ROWS_FAILED = Counter("ekai_usage_rows_failed", "Usage records that could not be written.")
ROWS_DROPPED = Counter("ekai_usage_rows_dropped",
                       "Usage records dropped (oldest first) past usage.max_backlog, database away.")
RELOADS = Counter("ekai_config_reloads", "Config reloads (each worker reloads itself), by result.",
                  ["result"])


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def known_models(cfg: Config) -> frozenset[str]:
    """Model names that may be a label value: every name a price table lists, and every alias.
    Computed once per config snapshot."""
    cached = _KNOWN.get(id(cfg))
    if cached is not None and cached[0] is cfg:
        return cached[1]
    names = {model for table in cfg.prices.values() for model in table} | set(cfg.aliases)
    result = frozenset(names)
    _KNOWN.clear()  # one snapshot at a time is current
    _KNOWN[id(cfg)] = (cfg, result)
    return result


_KNOWN: dict[int, tuple[Config, frozenset[str]]] = {}


class MetricsObserver:
    """Adds up each batch of finished UsageRecords; called in the usage writer thread.

    A batch is summed locally first (one dict entry per label set; histogram observations
    bucketed with bisect), then each sum touches its mmap'd value once. Label children are
    cached: prometheus-client's `labels()` is the costliest part of an update."""

    def __init__(self, store: Any, health: Any, writer: Any) -> None:
        self.store = store
        self.health = health
        self.writer = writer
        self._written = 0
        self._failed = 0
        self._dropped = 0
        self._reloads = 0
        self._reload_errors = 0
        self._gauges: dict[tuple[str, ...], float] = {}  # last value set, to skip unchanged ones
        self._children: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()  # the ticker and the scraping request both refresh
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _child(self, metric: Any, labels: tuple[str, ...]) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            if len(self._children) > 50_000:  # bounded labels make this unreachable; still, stay bounded
                self._children.clear()
            child = self._children[key] = metric.labels(*labels)
        return child

    def __call__(self, records: list[Any]) -> None:
        known = known_models(self.store.config)
        requests: dict[tuple[str, str, str, str], int] = defaultdict(int)
        tokens: dict[tuple[str, str, str], int] = defaultdict(int)
        cost: dict[tuple[str, str], int] = defaultdict(int)
        attempts: dict[tuple[str, str], int] = defaultdict(int)
        fallbacks: dict[tuple[str, str], int] = defaultdict(int)
        latency: dict[tuple[str, str], list[float]] = defaultdict(list)
        ttfb: dict[tuple[str, str], list[float]] = defaultdict(list)
        for r in records:
            provider = r.provider or "none"
            model = r.model if r.model in known else "other"
            status = r.status
            requests[(r.client_format, provider, model, str(status))] += 1
            t = r.tokens
            for kind, n in zip(TOKEN_KINDS, (t.input, t.cache_read, t.cache_write, t.output, t.reasoning),
                               strict=True):
                if n:
                    tokens[(provider, model, kind)] += n
            if r.cost_pico:
                cost[(provider, model)] += r.cost_pico
            for attempt in r.attempts:
                name, _, reason = attempt.rpartition(":")
                fallbacks[(name, reason)] += 1
                attempts[(name, reason)] += 1
            if r.provider:
                attempts[(provider, str(status))] += 1
            if 0 < status < 400:
                if r.latency_ms is not None:
                    latency[(provider, model)].append(r.latency_ms / 1000)
                if r.ttft_ms is not None:
                    ttfb[(provider, model)].append(r.ttft_ms / 1000)
        for key, n in requests.items():
            self._child(REQUESTS, key).inc(n)
        for tkey, n in tokens.items():
            self._child(TOKENS, tkey).inc(n)
        for ckey, pico in cost.items():
            self._child(COST, ckey).inc(pico / PICO)
        for akey, n in attempts.items():
            self._child(ATTEMPTS, akey).inc(n)
        for fkey, n in fallbacks.items():
            self._child(FALLBACKS, fkey).inc(n)
        for hist, bounds, observed in ((LATENCY, LATENCY_BUCKETS, latency), (TTFB, TTFB_BUCKETS, ttfb)):
            for hkey, seconds in observed.items():
                _observe_many(self._child(hist, hkey), bounds, seconds)
        self.refresh()

    def _set(self, gauge: Any, labels: tuple[str, ...], value: float) -> None:
        key = (gauge._name, *labels)
        if self._gauges.get(key) != value:
            self._gauges[key] = value
            (self._child(gauge, labels) if labels else gauge).set(value)

    def refresh(self) -> None:
        """Gauges and the counters kept elsewhere (writer rows, config reloads), as deltas."""
        with self._lock:
            writer, store = self.writer, self.store
            written, failed = writer.written, writer.failed
            if written > self._written:
                ROWS_WRITTEN.inc(written - self._written)
            if failed > self._failed:
                ROWS_FAILED.inc(failed - self._failed)
            self._written, self._failed = written, failed
            dropped = getattr(writer, "dropped", 0)
            if dropped > self._dropped:
                ROWS_DROPPED.inc(dropped - self._dropped)
            self._dropped = dropped
            reloads, errors = getattr(store, "reloads", 0), getattr(store, "reload_errors", 0)
            if reloads > self._reloads:
                RELOADS.labels("applied").inc(reloads - self._reloads)
            if errors > self._reload_errors:
                RELOADS.labels("rejected").inc(errors - self._reload_errors)
            self._reloads, self._reload_errors = reloads, errors
            self._set(QUEUE, (), writer.queue_depth())
            for name in store.config.providers:
                self._set(COOLING, (name,), 1 if self.health.cooling(name) else 0)

    def start(self) -> None:
        self.refresh()

        def tick() -> None:
            while not self._stop.wait(TICK_SECONDS):
                try:
                    self.refresh()
                except Exception:  # never let the ticker die
                    log.exception("metrics refresh failed")

        self._thread = threading.Thread(target=tick, name="ekai-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if multiprocess_dir():
            with contextlib.suppress(OSError):  # its live gauges leave the merged view; counters stay
                multiprocess.mark_process_dead(os.getpid())


def _observe_many(child: Any, bounds: tuple[float, ...], values: list[float]) -> None:
    """`child.observe(v)` for each value, with one mmap write per touched bucket: the same
    bucket rule as Histogram.observe (the first upper bound >= v; above the last, +Inf)."""
    counts = [0] * (len(bounds) + 1)
    for v in values:
        counts[bisect.bisect_left(bounds, v)] += 1
    buckets = child._buckets  # prometheus-client's per-bucket values (non-cumulative, +Inf last)
    for i, n in enumerate(counts):
        if n:
            buckets[i].inc(n)
    child._sum.inc(sum(values))


def exposition() -> bytes:
    """The text format of every worker's metrics (reads the multiprocess folder)."""
    path = multiprocess_dir()
    if path is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    return generate_latest(registry)


bp = Blueprint("ekai_metrics")


@bp.get("/metrics")
async def metrics(request: Request) -> HTTPResponse:
    """Prometheus text format. Needs a gateway key when auth is on (app.identify)."""
    observer: MetricsObserver | None = getattr(request.app.ctx, "metrics", None)
    loop = asyncio.get_running_loop()
    if observer is not None:
        await loop.run_in_executor(None, observer.refresh)
    body = await loop.run_in_executor(None, exposition)
    return HTTPResponse(body, status=200, content_type=CONTENT_TYPE_LATEST)
