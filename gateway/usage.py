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

import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from gateway import formats
from gateway.database import Database
from gateway.db import USAGE_COLUMNS
from gateway.dialects import DIALECTS, Dialect
from gateway.errors import GatewayError
from gateway.identity import Who
from gateway.pricing import Price, Tokens, cost_pico, pico_to_usd, usd_to_pico
from gateway.storage import Storage, open_storage

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
    conversation_id: str | None = None  # an id, never content (gateway.conversations)
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
            self.conversation_id,
        )


_STOP = object()
_REQUEST_ID = USAGE_COLUMNS.index("request_id")  # a row's request id, for the log

# The bound of the backlog (rows queued and not yet written). While the database is away rows
# wait in memory (~1 KB each: 50,000 is ~50 MB); past the bound the OLDEST are dropped, counted in
# `dropped`, logged, and shown on /health. Sized for minutes of a busy gateway's traffic.
MAX_BACKLOG = 50_000
MAX_BACKOFF = 5.0  # seconds between retries while the database is away
STOP_RETRY_SECONDS = 5.0  # at stop, how long rows wait for a database that is away


class UsageWriter:
    """One thread, one connection (through gateway.storage), batched commits. `put` is safe
    from the event loop and never blocks."""

    def __init__(self, database: Database | Path, storage: Storage | None = None) -> None:
        if isinstance(database, Path):
            database = Database.sqlite(database)
        self.database = database
        self.storage: Storage = storage or open_storage(database)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.written = 0
        self.failed = 0
        self.dropped = 0  # oldest rows dropped because the backlog passed MAX_BACKLOG
        self.queued = 0  # records put so far (gateway.spend numbers its entries with it)
        self.done = 0  # records committed or given up on, in queue order
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.max_backlog = MAX_BACKLOG
        # (started, api key name, pico-USD) of costed records never written (dropped past the
        # backlog, refused, or left at stop): gateway.spend keeps counting them toward budgets,
        # since the table never will. Appended here, taken on the event loop (deque: thread-safe).
        self.given_up: deque[tuple[float, str | None, int]] = deque(maxlen=1_000_000)

        # called in this thread with each batch once written: metrics, access log, traces
        # (gateway.metrics, gateway.accesslog, gateway.tracing), so they cost the event loop nothing
        self.observers: list[Callable[[list[UsageRecord]], None]] = []

    def queue_depth(self) -> int:
        """Records waiting to be written (queued, or held while the database is away)."""
        return self.backlog

    def _observe(self, records: list[UsageRecord]) -> None:
        for observer in self.observers:
            try:
                observer(records)
            except Exception:  # an observer's bug must never cost a row
                log.exception("usage observer %r failed on %d records", observer, len(records))

    @property
    def backlog(self) -> int:
        return self.queued - self.done

    def start(self) -> None:
        try:
            self.storage.open()  # fail now, loudly, if the file cannot be created
        except Exception as exc:
            if not self.storage.transient(exc):
                raise
            self._error(exc)  # PostgreSQL away: the thread keeps retrying; rows wait
            log.warning("usage database unavailable at start, will retry: %s", exc)
        self._thread = threading.Thread(target=self._run, name="ekai-usage", daemon=True)
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

    def status(self) -> dict[str, Any]:
        """For /health: what was written, what waits, what was lost and why."""
        return {
            "database": str(self.database),  # a URL's password shows as ***
            "backend": self.database.kind,
            "rows_written": self.written,
            "rows_failed": self.failed,
            "rows_dropped": self.dropped,
            "backlog": self.backlog,
            "max_backlog": self.max_backlog,
            "last_error": self.last_error,
            "last_error_at": iso_ms(self.last_error_at) if self.last_error_at else None,
        }

    def _give_up(self, records: list[UsageRecord]) -> None:
        self.given_up.extend((r.started, r.api_key_name, r.cost_pico) for r in records if r.cost_pico)

    def _error(self, exc: BaseException) -> None:
        text = str(exc).strip().splitlines()
        self.last_error = f"{type(exc).__name__}: {text[0] if text else ''}"
        self.last_error_at = time.time()

    def _drain(self, pending: deque[Any]) -> bool:
        """Move everything queued into `pending`; True when the stop marker was seen."""
        stop = False
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return stop
            if item is _STOP:
                stop = True
            else:
                pending.append(item)

    def _trim(self, pending: deque[Any]) -> None:
        over = len(pending) - self.max_backlog
        if over > 0:
            dropped = [pending.popleft() for _ in range(over)]
            self._give_up(dropped)
            self._observe(dropped)  # metrics and the access log still see those requests
            self.dropped += over
            self.done += over
            log.error(
                "usage backlog over %d rows (database away: %s): dropped the %d oldest "
                "(%d dropped so far)", self.max_backlog, self.last_error, over, self.dropped,
            )

    def _run(self) -> None:
        pending: deque[Any] = deque()
        stopping = False
        backoff = 0.0
        stop_deadline = 0.0
        while True:
            if not pending and not stopping:
                item = self._queue.get()  # idle until a record comes
                if item is _STOP:
                    stopping = True
                else:
                    pending.append(item)
                    # Let records gather for FLUSH_SECONDS without blocking in get(): a thread
                    # blocked in get() is woken, and takes the GIL from the event loop, per record.
                    self._stopping.wait(FLUSH_SECONDS)
            if self._drain(pending):
                stopping = True
            self._trim(pending)
            if not pending:
                if stopping:
                    break
                continue
            batch = [pending.popleft() for _ in range(min(BATCH, len(pending)))]
            try:
                written = self._write(batch)
            except Exception:  # never let the thread die: log, count, go on
                log.exception("usage batch of %d rows lost", len(batch))
                self.failed += len(batch)
                self._give_up(batch)
                written = True
            if written:
                self.done += len(batch)
                self._observe(batch)
                backoff = 0.0
                continue
            pending.extendleft(reversed(batch))  # the server is away: keep them, oldest first
            if stopping:
                stop_deadline = stop_deadline or time.monotonic() + STOP_RETRY_SECONDS
                if time.monotonic() >= stop_deadline:
                    log.error("stopping with %d usage rows not written: %s", len(pending), self.last_error)
                    self.failed += len(pending)
                    self._give_up(list(pending))  # before `done` moves: gateway.spend reads it first
                    self.done += len(pending)
                    self._observe(list(pending))
                    break
            backoff = min(max(backoff * 2, 0.1), MAX_BACKOFF)
            if stopping:
                time.sleep(min(backoff, 0.5))
            else:
                self._stopping.wait(backoff)
        self.storage.close()

    def _write(self, records: list[UsageRecord]) -> bool:
        """Write `records`; False when the database is away (the caller keeps them and retries).
        Rows that cannot be built, or that a working database refuses, are counted in `failed`
        (True: done with them). A batch the database refuses is written again row by row, so one
        bad row costs only itself."""
        built: list[tuple[UsageRecord, tuple[Any, ...]]] = []
        for record in records:
            try:
                built.append((record, record.row()))
            except Exception:  # one bad record must not stop the writer
                log.exception("usage row for %s could not be built; skipped", record.request_id)
                self.failed += 1
                self._give_up([record])
        if not built:
            return True
        rows = [row for _, row in built]
        if len(rows) > 1:
            try:
                self.storage.write(rows)
                self.written += len(rows)
                return True
            except Exception as exc:
                self._error(exc)
                if self.storage.transient(exc):
                    log.warning("usage database away, %d rows wait: %s", self.backlog, self.last_error)
                    return False
                log.warning("usage batch of %d rows refused, writing them one by one: %s", len(rows), exc)
        # one by one (request ids already written are skipped, so a retry after an outage is safe)
        for record, row in built:
            for attempt in range(3):
                try:
                    self.storage.write([row])
                    self.written += 1
                    break
                except Exception as exc:
                    self._error(exc)
                    if self.storage.transient(exc):
                        log.warning("usage database away, %d rows wait: %s", self.backlog, self.last_error)
                        return False
                    log.warning("usage row %s refused (attempt %d): %s", row[_REQUEST_ID], attempt + 1, exc)
                    time.sleep(0.1 * (attempt + 1))
            else:
                self.failed += 1
                self._give_up([record])
                log.error("usage row %s dropped after 3 failed writes", row[_REQUEST_ID])
        return True


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))
