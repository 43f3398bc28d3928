"""Storage: the usage table on a SQLite file or a PostgreSQL server, behind one small interface.

The usage writer (gateway.usage: bounded queue, one thread) holds a `Storage` and calls
`open()` once (connect + migrate), then `write(rows)` per batch; rows are tuples in
`db.USAGE_COLUMNS` order (the one column list). Readers (`/usage`, the spend reconcile) take a
`Reader` from `reader(database)`: SQL written once with `?` placeholders, rewritten to `%s` for
PostgreSQL; both backends run the same statements (see gateway.reports for the few spellings that
differ, as `Dialect` data).

SQLite: `BEGIN IMMEDIATE` + `INSERT OR IGNORE` (one file, one writer at a time across workers).

PostgreSQL (psycopg 3, synchronous: it runs in the writer thread and in executor threads, never
on the event loop): a batch is ONE round trip (pipeline mode): `BEGIN`, a transaction-level
advisory lock, one `INSERT ... SELECT (r->>0)::text, (r->>1)::text, ... FROM
jsonb_array_elements($1::jsonb) r ON CONFLICT (request_id) DO NOTHING`, `COMMIT`. The batch goes
as ONE parameter, the rows as a JSON array of arrays made by orjson (about 1 us of the gateway's
CPU a row; the server parses it): one `unnest` array per column cost 14 us a row of client-side
adaptation and more server time too, a multi-row VALUES 71 (bench/README.md, "The write itself").
PostgreSQL text cannot hold NUL: a NUL in a value (an upstream error message, say) is written as
U+FFFD. The
lock serialises inserts from every instance, so row ids are handed out in commit order, as in
SQLite: gateway.spend reads new rows as `id > last seen id` and would otherwise skip a row whose
id was taken by a transaction that committed later. It costs one lock per batch (a batch every
0.2 s per worker), not per row. Connection trouble (`OperationalError`, `InterfaceError`: server
restarted, connection killed) is `transient`: the writer reconnects and retries with backoff.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol

import orjson
import psycopg

from gateway import db
from gateway.database import Database

log = logging.getLogger("ekai.storage")

Row = tuple[Any, ...]
PG_INSERT_LOCK = 0x656B_6169_0002  # "ekai" 2: pg_advisory_xact_lock key around inserts
CONNECT_TIMEOUT = 5  # seconds, PostgreSQL connects (a server away must not hang a start)

class StorageUnavailable(Exception):
    """The database cannot be opened: one line, safe to print (no password)."""


READ_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, psycopg.Error, StorageUnavailable)


class Storage(Protocol):
    database: Database

    def open(self) -> None:
        """Connect and migrate. Raises StorageUnavailable (or the driver's error)."""

    def write(self, rows: Sequence[Row]) -> int:
        """Insert `rows` in one transaction, skipping request_ids already there; how many were new."""

    def transient(self, exc: BaseException) -> bool:
        """Whether a write error means 'the server is away: reconnect and retry'."""

    def close(self) -> None: ...


def pg_sql(sql: str) -> str:
    """A `?`-placeholder statement in psycopg's `%s` style."""
    return sql.replace("%", "%%").replace("?", "%s")


def _one_line(exc: BaseException, database: Database) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    if database.url:  # never echo a password, even one a driver put in its message
        from urllib.parse import urlsplit

        secret = urlsplit(database.url).password
        if secret:
            first = first.replace(secret, "***")
    return first


class SqliteStorage:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._conn: sqlite3.Connection | None = None
        self._insert = db.insert_sql(or_ignore=True)

    def open(self) -> None:
        self._conn = db.connect(self.database.file)

    def write(self, rows: Sequence[Row]) -> int:
        conn = self._conn
        assert conn is not None, "open() first"
        try:
            conn.execute("BEGIN IMMEDIATE")
            added = conn.executemany(self._insert, rows).rowcount
            conn.execute("COMMIT")
            return added
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def transient(self, exc: BaseException) -> bool:
        return False  # the file is local: a failing write is retried a few times, then counted

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def pg_connect(database: Database, **kwargs: Any) -> psycopg.Connection[Any]:
    """A psycopg connection (autocommit). Raises StorageUnavailable with one clean line."""
    try:
        return psycopg.connect(
            database.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
            application_name="ekai", **kwargs,
        )
    except psycopg.Error as exc:
        raise StorageUnavailable(f"cannot connect to {database}: {_one_line(exc, database)}") from None


class PostgresStorage:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._conn: psycopg.Connection[Any] | None = None
        self._sql: str | None = None  # the insert, once the column types are known

    def open(self) -> None:
        conn = pg_connect(self.database)
        try:
            db.migrate_pg(conn)
            types = dict(
                conn.execute(
                    "SELECT column_name, udt_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = 'usage'"
                ).fetchall()
            )
        except psycopg.Error as exc:
            conn.close()
            raise StorageUnavailable(
                f"cannot create the usage table in {self.database}: {_one_line(exc, self.database)}"
            ) from None
        self._conn = conn
        # text, int8, float8: each column read from its place in the row's JSON array
        values = ", ".join(f"(r->>{i})::{types[c]}" for i, c in enumerate(db.USAGE_COLUMNS))
        self._sql = (
            f"INSERT INTO usage ({', '.join(db.USAGE_COLUMNS)}) SELECT {values} "
            "FROM jsonb_array_elements(%s::jsonb) AS r ON CONFLICT (request_id) DO NOTHING"
        )

    def write(self, rows: Sequence[Row]) -> int:
        if self._conn is None or self._conn.closed:
            self.open()
        conn, sql = self._conn, self._sql
        assert conn is not None and sql is not None
        batch = orjson.dumps(rows)
        if b"\\u0000" in batch:  # PostgreSQL text holds no NUL
            batch = orjson.dumps([_no_nul(row) for row in rows])
        try:
            with conn.pipeline(), conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (PG_INSERT_LOCK,))
                cur = conn.execute(sql, (batch.decode(),))
            return max(cur.rowcount, 0)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            self.close()  # reconnect on the next write
            raise

    def transient(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | StorageUnavailable)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def backend_pid(self) -> int | None:
        """The server process of the write connection (tests kill it with pg_terminate_backend)."""
        return self._conn.info.backend_pid if self._conn is not None and not self._conn.closed else None


def _no_nul(row: Row) -> Row:
    return tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in row)


def open_storage(database: Database) -> Storage:
    """The storage for `database` (not opened yet)."""
    if database.is_postgres:
        return PostgresStorage(database)
    return SqliteStorage(database)


def check(database: Database) -> str | None:
    """Open (connect + migrate) and close `database`; the one-line reason when that fails.
    `ekai serve` calls it before starting workers: a typo in the URL fails fast."""
    store = open_storage(database)
    try:
        store.open()
    except StorageUnavailable as exc:
        return str(exc)
    except (sqlite3.Error, OSError) as exc:
        return f"cannot open {database}: {_one_line(exc, database)}"
    finally:
        store.close()
    return None


# --- readers -------------------------------------------------------------------------------------


class Reader:
    """A read connection: `all(sql, params)` -> tuples, `dicts(...)` -> dicts. `?` placeholders."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.postgres = database.is_postgres
        self._sqlite: sqlite3.Connection | None = None
        self._pg: psycopg.Connection[Any] | None = None
        if self.postgres:
            self._pg = pg_connect(database)
        else:
            self._sqlite = db.connect_readonly(database.file)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if self._pg is not None:
            return self._pg.execute(pg_sql(sql), list(params)).fetchall()  # type: ignore[no-any-return]
        assert self._sqlite is not None
        return self._sqlite.execute(sql, params).fetchall()

    def dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if self._pg is not None:
            cur = self._pg.execute(pg_sql(sql), list(params))
            names = [d.name for d in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        assert self._sqlite is not None
        scur = self._sqlite.execute(sql, params)
        names = [d[0] for d in scur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in scur.fetchall()]

    def columns(self) -> list[str]:
        """The usage table's columns, in order."""
        if self._pg is not None:
            cur = self._pg.execute("SELECT * FROM usage LIMIT 0")
            return [d.name for d in cur.description or ()]
        assert self._sqlite is not None
        scur = self._sqlite.execute("SELECT * FROM usage LIMIT 0")
        return [d[0] for d in scur.description or ()]

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()
            self._pg = None
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


COPY_CHUNK = 2000  # rows per transaction


def copy_usage(source: Database, target: Database) -> tuple[int, int]:
    """Copy every usage row of `source` into `target` (created and migrated when needed), in id
    order, skipping request_ids `target` already has: running it again copies nothing twice.
    Returns (rows read, rows added). Ids are the target's own; every contract column is kept
    (a column an older source lacks is NULL, or its default)."""
    store = open_storage(target)
    store.open()
    read = added = 0
    try:
        with Reader(source) as src:
            have = set(src.columns())
            names = [c if c in have else "NULL" for c in db.USAGE_COLUMNS]
            defaults = {i for i, c in enumerate(db.USAGE_COLUMNS) if c not in have and c.endswith("_tokens")}
            last = -1
            while True:
                rows = src.all(
                    f"SELECT id, {', '.join(names)} FROM usage WHERE id > ? ORDER BY id LIMIT {COPY_CHUNK}",
                    (last,),
                )
                if not rows:
                    break
                last = int(rows[-1][0])
                batch = [tuple(0 if i in defaults else v for i, v in enumerate(r[1:])) for r in rows]
                read += len(batch)
                added += store.write(batch)
    finally:
        store.close()
    return read, added


def exists(database: Database) -> bool:
    """Whether there is anything to read yet (a SQLite file appears with the first start)."""
    return database.is_postgres or database.file.exists()
