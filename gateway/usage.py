"""Usage: reading token counts out of upstream replies, and writing one row per request.

Token normalisation (the usage table's convention: `input_tokens` is the UNCACHED prompt):

- Anthropic `usage.input_tokens` already excludes cache reads and writes; cache writes may be
  split into 5-minute and 1-hour parts (`cache_creation.ephemeral_{5m,1h}_input_tokens`).
  In a stream, `message_start` carries input and cache counts and `message_delta` the cumulative
  `output_tokens` (and, in newer API versions, repeats the others): the last value seen wins.
- OpenAI-format `prompt_tokens` INCLUDES `prompt_tokens_details.cached_tokens` (and
  `cache_write_tokens` where a provider reports it), so those are subtracted. `completion_tokens`
  includes `reasoning_tokens`, except at xAI, whose `total_tokens` = prompt + completion + reasoning
  gives it away: then reasoning is added to output. In a stream the LAST non-null usage wins.
- OpenRouter's own `usage.cost` (USD) is the cost when present (plus the upstream cost on BYOK).

Writing: handlers call `UsageWriter.put(record)`, which never blocks and never awaits. One daemon
thread owns the only write connection and commits batches (one transaction per batch). On stop
the queue is drained before the thread exits, so a graceful stop loses no row. A crash loses at
most the rows still queued: those handed over in the last `FLUSH_SECONDS` (0.2 s), at most `BATCH`
(500) while the writer keeps up, plus the commit in flight (measured: 0.32 s at most, bench/SOAK.md).
A record that cannot become a row is logged and counted (`failed`, on /health); the thread goes on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from gateway import db
from gateway.pricing import Price, Tokens, cost_pico, pico_to_usd, usd_to_pico

log = logging.getLogger("ekai.usage")

BATCH = 500
FLUSH_SECONDS = 0.2


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def tokens_from_anthropic(usage: dict[str, Any]) -> Tokens:
    """Normalise an Anthropic `usage` object."""
    cache_write = _int(usage.get("cache_creation_input_tokens"))
    split = usage.get("cache_creation")
    one_hour = _int(split.get("ephemeral_1h_input_tokens")) if isinstance(split, dict) else 0
    details = usage.get("output_tokens_details")
    reasoning = _int(details.get("thinking_tokens")) if isinstance(details, dict) else 0
    return Tokens(
        input=_int(usage.get("input_tokens")),
        cache_read=_int(usage.get("cache_read_input_tokens")),
        cache_write=cache_write,
        cache_write_1h=min(one_hour, cache_write),
        output=_int(usage.get("output_tokens")),
        reasoning=reasoning,
    )


def tokens_from_openai(usage: dict[str, Any]) -> Tokens:
    """Normalise an OpenAI-format `usage` object (OpenAI, xAI, OpenRouter, compatible servers)."""
    prompt = _int(usage.get("prompt_tokens"))
    completion = _int(usage.get("completion_tokens"))
    pdetails = usage.get("prompt_tokens_details")
    pdetails = pdetails if isinstance(pdetails, dict) else {}
    cdetails = usage.get("completion_tokens_details")
    cdetails = cdetails if isinstance(cdetails, dict) else {}
    cache_read = _int(pdetails.get("cached_tokens"))
    cache_write = _int(pdetails.get("cache_write_tokens")) or _int(pdetails.get("cache_creation_tokens"))
    reasoning = _int(cdetails.get("reasoning_tokens"))
    total = _int(usage.get("total_tokens"))
    if reasoning and total == prompt + completion + reasoning:
        completion += reasoning  # xAI: completion_tokens excludes reasoning
    return Tokens(
        input=max(prompt - cache_read - cache_write, 0),
        cache_read=cache_read,
        cache_write=cache_write,
        output=completion,
        reasoning=reasoning,
    )


def provider_cost_usd(usage: dict[str, Any]) -> Decimal | None:
    """OpenRouter's `usage.cost` in USD (its credits), plus the upstream cost for BYOK."""
    cost = usage.get("cost")
    if isinstance(cost, bool) or not isinstance(cost, int | float | str):
        return None
    try:
        total = Decimal(str(cost))
        details = usage.get("cost_details")
        if usage.get("is_byok") and isinstance(details, dict):
            upstream = details.get("upstream_inference_cost")
            if isinstance(upstream, int | float) and not isinstance(upstream, bool):
                total += Decimal(str(upstream))
    except InvalidOperation:
        return None
    return total if total.is_finite() and total >= 0 else None


class UsageMeter:
    """Collects the usage of one upstream reply, whatever its format, streamed or not."""

    __slots__ = ("_anthropic", "_openai", "fmt")

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt  # the UPSTREAM format
        self._anthropic: dict[str, Any] = {}
        self._openai: dict[str, Any] | None = None

    def observe(self, usage: Any) -> None:
        """Feed a `usage` object seen anywhere in the reply (body, chunk, event)."""
        if not isinstance(usage, dict):
            return
        if self.fmt == "anthropic":
            for key, value in usage.items():  # message_delta repeats fields: the latest wins
                if value is not None:
                    self._anthropic[key] = value
        else:
            self._openai = usage  # the last non-null usage wins

    def observe_anthropic_event(self, name: str | None, data: dict[str, Any]) -> None:
        if name == "message_start" or data.get("type") == "message_start":
            message = data.get("message")
            if isinstance(message, dict):
                self.observe(message.get("usage"))
        elif name == "message_delta" or data.get("type") == "message_delta":
            self.observe(data.get("usage"))

    @property
    def seen(self) -> bool:
        return bool(self._anthropic) or self._openai is not None

    def tokens(self) -> Tokens:
        if self.fmt == "anthropic":
            return tokens_from_anthropic(self._anthropic)
        return tokens_from_openai(self._openai or {})

    def provider_cost(self) -> Decimal | None:
        return provider_cost_usd(self._openai) if self._openai else None


_iso_second: tuple[int, str] = (-1, "")


def iso_ms(epoch: float) -> str:
    """2026-11-27T09:00:00.123Z (each second is formatted once: most rows share it)."""
    global _iso_second
    second = int(epoch)
    if second != _iso_second[0]:
        _iso_second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S."))
    return f"{_iso_second[1]}{int((epoch - second) * 1000):03d}Z"


@dataclass(slots=True)
class UsageRecord:
    """One request as it will be written. Filled in as the request goes."""

    request_id: str
    client_format: str
    started: float  # time.time() at request start
    started_mono: float  # time.perf_counter() at request start
    provider: str | None = None
    model: str | None = None
    provider_model: str | None = None
    stream: bool = False
    status: int = 0
    tokens: Tokens = field(default_factory=Tokens)
    cost_pico: int | None = None
    cost_source: str | None = None
    price_version: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    error: str | None = None
    attempts: list[str] = field(default_factory=list)
    api_key_name: str | None = None

    def mark_first_byte(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = (time.perf_counter() - self.started_mono) * 1000

    def finish(self) -> None:
        self.latency_ms = (time.perf_counter() - self.started_mono) * 1000
        if self.ttft_ms is None and self.status:
            self.ttft_ms = self.latency_ms

    def price(self, meter: UsageMeter, price: Price | None) -> None:
        """Set tokens and cost from what the meter saw."""
        self.tokens = meter.tokens()
        provider_cost = meter.provider_cost()
        if provider_cost is not None:
            self.cost_pico = usd_to_pico(provider_cost)
            self.cost_source = "provider"
        elif price is not None and meter.seen:
            self.cost_pico = cost_pico(self.tokens, price)
            self.cost_source = "price_table"
        if price is not None:
            self.price_version = price.version

    def row(self) -> tuple[Any, ...]:
        t = self.tokens
        return (
            iso_ms(self.started),
            self.request_id,
            self.client_format,
            self.provider,
            self.model,
            self.provider_model,
            1 if self.stream else 0,
            self.status,
            t.input,
            t.cache_read,
            t.cache_write,
            t.output,
            t.reasoning,
            pico_to_usd(self.cost_pico) if self.cost_pico is not None else None,
            round(self.latency_ms, 3) if self.latency_ms is not None else None,
            round(self.ttft_ms, 3) if self.ttft_ms is not None else None,
            self.error,
            self.cost_pico,
            self.cost_source,
            self.price_version,
            ",".join(self.attempts) or None,
            self.api_key_name,
            t.cache_write_1h,
        )


_INSERT = (
    f"INSERT OR IGNORE INTO usage ({', '.join(db.USAGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in db.USAGE_COLUMNS)})"
)
_STOP = object()


class UsageWriter:
    """One thread, one connection, batched commits. `put` is safe from the event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.written = 0
        self.failed = 0
        # called in this thread with each batch once written: metrics, access log, traces
        # (gateway.metrics, gateway.accesslog, gateway.tracing), so they cost the event loop nothing
        self.observers: list[Callable[[list[UsageRecord]], None]] = []

    def queue_depth(self) -> int:
        return self._queue.qsize()

    def _observe(self, records: list[UsageRecord]) -> None:
        for observer in self.observers:
            try:
                observer(records)
            except Exception:  # an observer's bug must never cost a row
                log.exception("usage observer %r failed on %d records", observer, len(records))

    def start(self) -> None:
        conn = db.connect(self.path)  # fail now, loudly, if the file cannot be created
        self._thread = threading.Thread(target=self._run, args=(conn,), name="ekai-usage", daemon=True)
        self._thread.start()

    def put(self, record: UsageRecord) -> None:
        """Queue a finished record (never blocks). Its row is built in the writer thread."""
        self._queue.put_nowait(record)

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self._queue.put_nowait(_STOP)
        self._stopping.set()
        self._thread.join(timeout)
        self._thread = None

    def _run(self, conn: sqlite3.Connection) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()  # idle until a record comes
            if item is _STOP:
                break
            # Let records gather for FLUSH_SECONDS without blocking in get(): a thread blocked in
            # get() is woken, and takes the GIL from the event loop, once per record.
            self._stopping.wait(FLUSH_SECONDS)
            batches, rows = [], [item]
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                rows.append(item)
                if len(rows) >= BATCH:
                    batches.append(rows)
                    rows = []
            batches.append(rows)
            for batch in batches:
                if not batch:
                    continue
                try:
                    self._write(conn, batch)
                except Exception:  # never let the thread die: log, count, go on
                    log.exception("usage batch of %d rows lost", len(batch))
                    self.failed += len(batch)
                self._observe(batch)
        leftover = []
        while True:  # drain anything queued after the stop marker
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                leftover.append(item)
        if leftover:
            self._write(conn, leftover)
            self._observe(leftover)
        conn.close()

    def _write(self, conn: sqlite3.Connection, records: list[UsageRecord]) -> None:
        rows = []
        for record in records:
            try:
                rows.append(record.row())
            except Exception:  # one bad record must not stop the writer
                log.exception("usage row for %s could not be built; skipped", record.request_id)
                self.failed += 1
        if not rows:
            return
        for attempt in range(5):
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(_INSERT, rows)
                conn.execute("COMMIT")
                self.written += len(rows)
                return
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                log.warning("usage write failed (attempt %d): %s", attempt + 1, exc)
                time.sleep(0.1 * (attempt + 1))
        self.failed += len(rows)
        log.error("dropped %d usage rows after 5 failed writes", len(rows))


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))
