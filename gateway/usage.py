"""Usage: reading token counts out of upstream replies, and writing one row per request.

Token normalisation (the usage table's convention: `input_tokens` is the UNCACHED prompt) is
one function per wire format, in gateway.formats (chat, messages, responses), used for the row
and, by the translators, for the client's reply. Provider quirks come from the provider's
dialect (gateway.dialects): xAI's reasoning outside `completion_tokens`, OpenRouter's own
`usage.cost` (USD, plus the upstream cost on BYOK), which is then the cost.

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

from gateway import db, formats
from gateway.dialects import DIALECTS, Dialect
from gateway.errors import GatewayError
from gateway.identity import Who
from gateway.pricing import Price, Tokens, cost_pico, pico_to_usd, usd_to_pico

log = logging.getLogger("ekai.usage")

BATCH = 500
FLUSH_SECONDS = 0.2


def tokens_from_anthropic(usage: dict[str, Any]) -> Tokens:
    """Normalise an Anthropic `usage` object (gateway.formats.messages.tokens)."""
    return formats.messages.tokens(usage, DIALECTS["anthropic"])


def tokens_from_openai(usage: dict[str, Any], dialect: str = "openai") -> Tokens:
    """Normalise a Chat Completions `usage` object (gateway.formats.chat.tokens)."""
    return formats.chat.tokens(usage, DIALECTS[dialect])


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
    """Collects the usage of one upstream reply, whatever its format, streamed or not.

    `fmt` is the UPSTREAM wire format (its module normalises the tokens), `quirks` the
    provider's dialect (gateway.dialects)."""

    __slots__ = ("_merge", "_module", "_usage", "fmt", "quirks")

    def __init__(self, fmt: str, quirks: Dialect | None = None) -> None:
        self.fmt = fmt
        self._module = formats.FORMATS[fmt]
        self._merge: bool = self._module.USAGE_MERGES
        self.quirks = quirks or DIALECTS["anthropic" if fmt == "anthropic" else "openai"]
        self._usage: dict[str, Any] | None = None

    def observe(self, usage: Any) -> None:
        """Feed a `usage` object seen anywhere in the reply (body, chunk, event)."""
        if not isinstance(usage, dict):
            return
        if self._merge and self._usage is not None:
            for key, value in usage.items():  # message_delta repeats fields: the latest wins
                if value is not None:
                    self._usage[key] = value
        elif self._merge:
            self._usage = {k: v for k, v in usage.items() if v is not None}
        else:
            self._usage = usage  # the last non-null usage wins

    def observe_event(self, ev: Any) -> None:
        """A stream event of the upstream format (the format module knows which carry usage)."""
        self._module.observe_event(ev, self)

    def observe_anthropic_event(self, name: str | None, data: dict[str, Any]) -> None:
        if name == "message_start" or data.get("type") == "message_start":
            message = data.get("message")
            if isinstance(message, dict):
                self.observe(message.get("usage"))
        elif name == "message_delta" or data.get("type") == "message_delta":
            self.observe(data.get("usage"))

    @property
    def seen(self) -> bool:
        return bool(self._usage) if self._merge else self._usage is not None

    def tokens(self) -> Tokens:
        tokens: Tokens = self._module.tokens(self._usage or {}, self.quirks)
        return tokens

    def provider_cost(self) -> Decimal | None:
        if not (self.quirks.reports_cost and self._usage):
            return None
        return provider_cost_usd(self._usage)


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
    delivered: bool = False  # the whole answer reached the client (not a column)
    session_id: str | None = None  # who asked (gateway.identity)
    client: str | None = None
    client_version: str | None = None
    agent: str | None = None
    tags: str | None = None  # a JSON object as text
    refusal: GatewayError | None = None  # a bad x-ekai-* header: answered 400, still recorded

    def identify(self, who: Who) -> None:
        """Take who asked (gateway.identity) into the row."""
        self.client, self.client_version = who.client, who.client_version
        self.session_id, self.agent, self.tags = who.session_id, who.agent, who.tags
        self.refusal = who.problem

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
            self.session_id,
            self.client,
            self.client_version,
            self.agent,
            self.tags,
        )


_INSERT = db.insert_sql(or_ignore=True)
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
        self.queued = 0  # records put so far (gateway.spend numbers its entries with it)
        self.done = 0  # records committed or given up on, in queue order
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
        self.queued += 1

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
                self.done += len(batch)
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
