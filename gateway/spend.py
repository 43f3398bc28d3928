"""Running spend totals per key and for the whole gateway, per UTC day and month.

The usage table is the truth; this is a per-worker cache of it, so the hot path never queries
the database. A key's (or the gateway's) spend in a day or month is the sum of three parts:

- `table`: the rows already in the table, by day / month and key. Seeded at start from the rows
  of the current month (`ts >= month start`, the ts index), then brought up to date every
  `RECONCILE_SECONDS` from the rows with `id` above the last one seen (the primary key: SQLite
  commits one writer at a time, so ids only grow in commit order; on PostgreSQL every insert
  takes the same advisory lock for the same reason, gateway.storage). Every worker's and every
  instance's rows land in the same table, so every worker converges on the same totals. Reads go
  through gateway.storage.Reader (SQLite or PostgreSQL).
- `pending`: the spend of this worker's own requests whose rows may not be written yet (the
  usage writer commits every 0.2 s). Each is tagged with the writer's queue sequence number; once
  the writer has committed that far AND a reconcile has read the table after it, the entry is
  dropped (its cost now comes from the table). Between those two moments a row can be counted
  twice for up to one reconcile interval: the error is on the safe side (a refusal a little
  early).
- `kept`: the cost of this worker's requests whose rows the writer gave up on (dropped past
  `usage.max_backlog` during a long database outage, refused, or left unwritten at stop): the
  table never gets them, so they stay counted here for the life of the worker.

The hot path does not add these up. Admission gives the book each budget's caps (`set_caps`);
the book keeps, for the current UTC day and month, the `room` each capped key (and the gateway,
`TOTAL`) has left, recomputed from the three parts at every reconcile and config change and
lowered by each finished request's cost as it is recorded. A key whose room is used up goes into
`over`, and only those are checked exactly (`spent_day`, `spent_month`) before a refusal. So an
admission reads one set, and a finished request is an append and a subtraction or two. The room
errs only on the safe side between recomputes (a request that started yesterday and ends today
still lowers today's room), and `over` only ever sends a key to the exact check, which decides.

Rows are bucketed by their `ts` (the request START, as the table says), so a request that started
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
    """One per worker. `over` and `record` are the hot path; `run` reconciles."""

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
        self.table = Totals()  # the rows read from the table
        self.kept = Totals()  # given up on: never in the table
        self.pending: deque[tuple[int, str, str | None, int]] = deque()  # (seq, day, key, pico)
        self.caps: dict[str | None, tuple[int, int]] = {}  # key or TOTAL -> (day cap, month cap)
        self.room: dict[str | None, int] = {}  # key or TOTAL -> pico-USD left today and this month
        self.over: set[str | None] = set()  # room used up: admission checks these exactly
        self.last_id: int | None = None  # None: not seeded
        self.reconciled = 0  # reconciles done (tests and /health)
        self._conn: Reader | None = None

    # --- hot path ---

    def record(self, seq: int, day: str, key: str | None, pico: int) -> None:
        """This worker's request `seq` (the writer's queue number) cost `pico`."""
        if pico:
            self.pending.append((seq, day, key, pico))
            room = self.room
            if room:  # a budget watches this key or the gateway: lower their room
                left = room.get(key)
                if left is not None:
                    left = room[key] = left - pico
                    if left <= 0:
                        self.over.add(key)
                left = room.get(TOTAL)
                if left is not None:
                    left = room[TOTAL] = left - pico
                    if left <= 0:
                        self.over.add(TOTAL)

    # --- exact figures (a refusal's check, /health) ---

    def spent_day(self, day: str, key: str | None) -> int:
        return sum(part.day(day, key) for part in self._parts())

    def spent_month(self, month: str, key: str | None) -> int:
        return sum(part.month(month, key) for part in self._parts())

    def _parts(self) -> tuple[Totals, Totals, Totals]:
        """The table's, the kept and this worker's pending spend: one pass over the pending entries."""
        fresh = Totals()
        for _, day, key, pico in self.pending:
            fresh.add(day, key, pico)
        return self.table, self.kept, fresh

    def set_caps(self, caps: dict[str | None, tuple[int, int]]) -> None:
        """The budgets' caps (admission, at every config change); the room follows at once."""
        self.caps = caps
        self._measure()

    def _measure(self) -> None:
        """Each capped key's room from the exact figures, for the clock's day and month."""
        if not self.caps or self.last_id is None:  # nothing to watch, or not seeded yet
            self.room, self.over = {}, set()
            return
        cal = Calendar.at(self.clock())
        parts = self._parts()
        room = {
            who: min(
                day_cap - sum(part.day(cal.day, who) for part in parts),
                month_cap - sum(part.month(cal.month, who) for part in parts),
            )
            for who, (day_cap, month_cap) in self.caps.items()
        }
        self.room, self.over = room, {who for who, left in room.items() if left <= 0}

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
        if self.last_id is None:  # seeding: the table's totals start afresh
            self.table = Totals()
        for day, key, pico in rows:
            if day[:7] >= month:
                self.table.add(day, key, pico)
        self.last_id = last_id
        while self.given_up:  # never reaching the table: counted here instead
            started, key, pico = self.given_up.popleft()
            self.kept.add(utc_day(started), key, pico)
        pending = self.pending  # in the table now: counted from there
        while pending and pending[0][0] <= done:
            pending.popleft()
        self.kept.prune(month)
        self.table.prune(month)
        self._measure()
        self.reconciled += 1

    async def reconcile(self) -> None:
        """Bring `table` up to date with the usage table (seeding it the first time)."""
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
                    self.table = Totals()
                    self.given_up.clear()
                    self._measure()
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
