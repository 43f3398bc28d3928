"""rpm / tpm across machines: each instance publishes its windows to PostgreSQL and reads the others'.

On one machine the windows are exact (gateway.ratelimit: memory-mapped files shared by every
worker and instance there). With a PostgreSQL `usage.database`, every `SYNC_SECONDS` each worker
writes its machine's per-second counts (requests admitted, tokens counted) of every rate-limited
key into `ekai_rate_windows`, under an id for its window folder on this host (all workers of a
machine publish the same numbers under the same id: idempotent), and reads the sum of the OTHER
instances' counts over the last 60 s. Admission takes those off this machine's share of the limit
(`KeyWindow.admit(..., others)`). So the limits hold across instances to within what the others
admit between two syncs (about 0.5 s plus a round trip), the same bound as budgets; while
PostgreSQL is away each machine falls back to its own windows (the last counts read age out
with the window). The table holds key names, seconds and counts, never a key or a prompt.
"""

from __future__ import annotations

import hashlib
import logging
import socket
from pathlib import Path
from typing import Any

import psycopg

from gateway.database import Database
from gateway.limits import WINDOW_SECONDS
from gateway.storage import pg_connect

log = logging.getLogger("ekai.limits")

SYNC_SECONDS = 0.5
DDL = (
    "CREATE TABLE IF NOT EXISTS ekai_rate_windows ("
    " instance TEXT NOT NULL, key_name TEXT NOT NULL, second BIGINT NOT NULL,"
    " requests BIGINT NOT NULL, tokens BIGINT NOT NULL, PRIMARY KEY (instance, key_name, second))"
)
UPSERT = (
    "INSERT INTO ekai_rate_windows (instance, key_name, second, requests, tokens) "
    "SELECT %s, * FROM unnest(%s::text[], %s::int8[], %s::int8[], %s::int8[]) "
    "ON CONFLICT (instance, key_name, second) DO UPDATE "
    "SET requests = excluded.requests, tokens = excluded.tokens"
)


def instance_id(folder: Path) -> str:
    """This machine's windows: the host name and the window folder."""
    return hashlib.sha256(f"{socket.gethostname()}\x00{folder.resolve()}".encode()).hexdigest()[:16]


class SharedLimits:
    def __init__(self, database: Database, folder: Path) -> None:
        self.database = database
        self.instance = instance_id(folder)
        self._conn: psycopg.Connection[Any] | None = None

    def sync(self, mine: dict[str, list[tuple[int, int, int]]], now: float) -> dict[str, tuple[int, int]]:
        """Publish `mine` (key -> [(second, requests, tokens)]) and return the other instances'
        (requests, tokens) per key in the window at `now`. Runs in a thread."""
        if self._conn is None or self._conn.closed:
            self._conn = pg_connect(self.database)
            self._conn.execute(DDL)
        conn = self._conn
        keys, seconds, requests, tokens = [], [], [], []
        for key, rows in mine.items():
            for sec, r, t in rows:
                keys.append(key)
                seconds.append(sec)
                requests.append(r)
                tokens.append(t)
        low = int(now) - WINDOW_SECONDS
        try:
            with conn.pipeline(), conn.transaction():
                conn.execute("DELETE FROM ekai_rate_windows WHERE instance = %s", (self.instance,))
                if keys:
                    conn.execute(UPSERT, (self.instance, keys, seconds, requests, tokens))
                # the others: old rows of dead instances stay out of the window by `second`
                cur = conn.execute(
                    "SELECT key_name, sum(requests), sum(tokens) FROM ekai_rate_windows "
                    "WHERE instance <> %s AND second > %s GROUP BY key_name",
                    (self.instance, low),
                )
            rows = cur.fetchall()
        except psycopg.Error:
            self.close()
            raise
        return {str(row[0]): (int(row[1]), int(row[2])) for row in rows}

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
