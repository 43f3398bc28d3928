"""Running spend totals per key and for the whole gateway, per UTC day and month.

The usage table is the truth; this is a per-worker cache of it, so the hot path never queries
the database. One table of totals, `all`, touched only on the event loop, sums three things:

- the rows already in the table, by day / month and key. Seeded at start from the rows of the
  current month (`ts >= month start`, the ts index), then brought up to date every
  `RECONCILE_SECONDS` from the rows with `id` above the last one seen (the primary key: SQLite
  commits one writer at a time, so ids only grow in commit order; on PostgreSQL every insert
  takes the same advisory lock for the same reason, gateway.storage). Every worker's and every
  instance's rows land in the same table, so every worker converges on the same totals. Reads go
  through gateway.storage.Reader (SQLite or PostgreSQL).
- `pending`: the spend of this worker's own requests whose rows may not be written yet (the
  usage writer commits every 0.2 s). Each is tagged with the writer's queue sequence number; once
  the writer has committed that far AND a reconcile has read the table after it, the entry is
  taken off again (its cost now comes from the table). Between those two moments a row can be
  counted twice for up to one reconcile interval: the error is on the safe side (a refusal a
  little early).
- `kept`: the cost of this worker's requests whose rows the writer gave up on (dropped past
  `usage.max_backlog` during a long database outage, refused, or left unwritten at stop): the
  table never gets them, so they stay counted here for the life of the worker.

A budget check is one lookup in `all`; a finished request is one addition to it. Rows are
bucketed by their `ts` (the request START, as the table says), so a request that started
yesterday and ended today counts toward yesterday.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from gateway.database import Database
from gateway.limits import Calendar
from gateway.storage import READ_ERRORS, Reader

log = logging.getLogger("ekai.spend")

RECONCILE_SECONDS = 0.5
TOTAL = "\x00gateway"  # the key under which the whole gateway's spend is kept


def utc_day(epoch: float) -> str:
    """'2026-12-06': the UTC day of `epoch`, as a row's ts starts."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%d")


class Totals:
    """pico-USD by (day or month) -> key (None: no key; TOTAL: everyone)."""

    __slots__ = ("days", "months")

    def __init__(self) -> None:
        self.days: dict[str, dict[str | None, int]] = {}
        self.months: dict[str, dict[str | None, int]] = {}

    def add(self, day: str, key: str | None, pico: int) -> None:
        bucket = self.days.get(day)
        if bucket is None:
            bucket = self.days[day] = {}
        bucket[key] = bucket.get(key, 0) + pico
        bucket[TOTAL] = bucket.get(TOTAL, 0) + pico
        month = day[:7]
        bucket = self.months.get(month)
        if bucket is None:
            bucket = self.months[month] = {}
        bucket[key] = bucket.get(key, 0) + pico
        bucket[TOTAL] = bucket.get(TOTAL, 0) + pico

    def day(self, day: str, key: str | None) -> int:
        bucket = self.days.get(day)
        return bucket.get(key, 0) if bucket else 0

    def month(self, month: str, key: str | None) -> int:
        bucket = self.months.get(month)
        return bucket.get(key, 0) if bucket else 0

    def prune(self, month: str) -> None:
        """Forget months before `month` (and their days)."""
        for old in [m for m in self.months if m < month]:
            del self.months[old]
        for old in [d for d in self.days if d[:7] < month]:
            del self.days[old]


class SpendBook:
    """One per worker. `spent_*` are the hot path; `record` after each request; `run` reconciles."""

    def __init__(
        self,
        database: Database,
        clock: Callable[[], float],
        done: Callable[[], int],
        given_up: deque[tuple[float, str | None, int]] | None = None,
    ) -> None:
        self.database = database
        self.clock = clock
        self.done = done  # how many records the usage writer has committed (or given up on)
        self.given_up = given_up if given_up is not None else deque()  # the writer's (UsageWriter)
        self.kept = Totals()
        self.all = Totals()  # the table's rows + pending + kept: the hot path reads only this
        self.pending: deque[tuple[int, str, str | None, int]] = deque()  # (seq, day, key, pico)
        self.last_id: int | None = None  # None: not seeded
        self.reconciled = 0  # reconciles done (tests and /health)
        self._conn: Reader | None = None

    # --- hot path ---

    def spent_day(self, day: str, key: str | None) -> int:
        return self.all.day(day, key)

    def spent_month(self, month: str, key: str | None) -> int:
        return self.all.month(month, key)

    def record(self, seq: int, day: str, key: str | None, pico: int) -> None:
        """This worker's request `seq` (the writer's queue number) cost `pico`."""
        if pico:
            self.pending.append((seq, day, key, pico))
            self.all.add(day, key, pico)

    # --- reconcile ---

    def _read(self, last_id: int | None, month_start: str) -> tuple[int, list[tuple[str, str | None, int]]]:
        """(new last id, [(day, key, pico)]) from the table. Runs in a thread."""
        if self._conn is None:
            self._conn = Reader(self.database)
        conn = self._conn
        if last_id is None:
            top = int(conn.all("SELECT coalesce(max(id), 0) FROM usage")[0][0])
            rows = conn.all(
                "SELECT substr(ts, 1, 10), api_key_name, sum(cost_pico_usd) FROM usage"
                " WHERE ts >= ? AND id <= ? AND cost_pico_usd > 0 GROUP BY 1, 2",
                (month_start, top),
            )
            return top, [(day, key, int(pico)) for day, key, pico in rows]  # PostgreSQL: numeric
        groups = conn.all(
            "SELECT substr(ts, 1, 10), api_key_name, sum(cost_pico_usd), max(id) FROM usage"
            " WHERE id > ? GROUP BY 1, 2",
            (last_id,),
        )
        top = max((int(g[3]) for g in groups), default=last_id)
        return top, [(day, key, int(pico)) for day, key, pico, _ in groups if pico]

    def _apply(self, done: int, last_id: int, rows: list[tuple[str, str | None, int]], month: str) -> None:
        if self.last_id is None:  # seeding: the table's totals start afresh, pending and kept stay
            self.all = Totals()
            for _, day, key, pico in self.pending:
                self.all.add(day, key, pico)
            for day, bucket in self.kept.days.items():
                for key, pico in bucket.items():
                    if key != TOTAL:
                        self.all.add(day, key, pico)
        for day, key, pico in rows:
            if day[:7] >= month:
                self.all.add(day, key, pico)
        self.last_id = last_id
        while self.given_up:  # never reaching the table: counted here instead
            started, key, pico = self.given_up.popleft()
            day = utc_day(started)
            self.kept.add(day, key, pico)
            self.all.add(day, key, pico)
        written: dict[tuple[str, str | None], int] = {}  # in the table now: counted from there
        pending = self.pending
        while pending and pending[0][0] <= done:
            _, day, key, pico = pending.popleft()
            written[day, key] = written.get((day, key), 0) + pico
        for (day, key), pico in written.items():
            self.all.add(day, key, -pico)
        self.kept.prune(month)
        self.all.prune(month)
        self.reconciled += 1

    async def reconcile(self) -> None:
        """Bring `db` up to date with the table (seeding it the first time)."""
        cal = Calendar.at(self.clock())
        done = self.done()  # read BEFORE the query: records up to here are surely in it
        loop = asyncio.get_running_loop()
        last_id, rows = await loop.run_in_executor(None, self._read, self.last_id, cal.month_start_iso)
        self._apply(done, last_id, rows, cal.month)

    async def run(self, stop: asyncio.Event, active: Callable[[], bool]) -> None:
        """Reconcile every RECONCILE_SECONDS while `active()` (a budget is configured), until `stop`."""
        failing = False
        while not stop.is_set():
            try:
                if active():
                    await self.reconcile()
                elif self.last_id is not None:  # nothing to enforce: stop reading, re-seed later
                    self.last_id = None
                    self.pending.clear()
                    self.kept = Totals()
                    self.all = Totals()
                    self.given_up.clear()
                if failing:
                    log.warning("spend reconcile works again")
                    failing = False
            except READ_ERRORS as exc:
                if not failing:  # once per outage, not every RECONCILE_SECONDS
                    log.warning("spend reconcile failed (will retry every %s s): %s", RECONCILE_SECONDS, exc)
                failing = True
                self.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RECONCILE_SECONDS)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
