"""`ekai usage copy` for the conversation tables: stored conversations and responses move with the
usage rows when a user grows from a SQLite file to PostgreSQL (or back).

Each table (`conversations`, `conversation_items`, `stored_responses`) is read from the source in
primary-key order, in chunks, and inserted into the target skipping primary keys it already has
(`ON CONFLICT DO NOTHING`): running the copy again copies nothing twice, and a conversation
copied before it grew gets only its new items (and its later `updated`). The target's tables
are created by opening its store (gateway.conversations.store.open_store), as the gateway would.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from gateway import db
from gateway.conversations.store import open_store
from gateway.database import Database
from gateway.storage import Reader, pg_connect, pg_sql

# table -> (its columns, its primary key): copied in this order (items after their conversation)
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "conversations": (("id", "owner", "created", "updated"), ("id",)),
    "conversation_items": (("conversation_id", "seq", "created", "item"), ("conversation_id", "seq")),
    "stored_responses": (
        ("id", "owner", "created", "previous_response_id", "provider", "native", "response", "input"),
        ("id",),
    ),
}
# a column a row already in the target takes the later value of (a conversation that grew since
# the last copy keeps its retention clock from its newest item)
LATEST: dict[str, str] = {"conversations": "updated"}
CHUNK = 500


def copy_conversations(source: Database, target: Database) -> dict[str, tuple[int, int]]:
    """Copy the conversation tables of `source` into `target`; table -> (rows read, rows added).
    A source without those tables (written before they existed) gives zeros."""
    open_store(target).close()  # creates the target's tables
    out: dict[str, tuple[int, int]] = {}
    with Reader(source) as src:
        present = _tables(src)
        sink = _Sink(target)
        try:
            for table, (columns, key) in TABLES.items():
                out[table] = _copy(src, sink, table, columns, key) if table in present else (0, 0)
        finally:
            sink.close()
    return out


def _tables(src: Reader) -> set[str]:
    if src.postgres:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    return {str(row[0]) for row in src.all(sql)}


Columns = tuple[str, ...]


def _copy(src: Reader, sink: _Sink, table: str, columns: Columns, key: Columns) -> tuple[int, int]:
    cols = ", ".join(columns)
    order = ", ".join(key)
    after = f"({order}) > ({', '.join('?' for _ in key)})"  # keyset paging: row comparison
    before = sink.count(table)
    read = 0
    last: tuple[Any, ...] | None = None
    while True:
        where = f"WHERE {after} " if last is not None else ""
        rows = src.all(f"SELECT {cols} FROM {table} {where}ORDER BY {order} LIMIT {CHUNK}", last or ())
        if not rows:
            break
        read += len(rows)
        sink.insert(table, columns, key, rows)
        last = tuple(rows[-1][columns.index(k)] for k in key)
    return read, sink.count(table) - before


class _Sink:
    """A write connection to the target, SQLite or PostgreSQL."""

    def __init__(self, database: Database) -> None:
        self.pg = pg_connect(database) if database.is_postgres else None
        self.lite = None if database.is_postgres else db.connect(database.file)

    def count(self, table: str) -> int:
        sql = f"SELECT count(*) FROM {table}"
        if self.pg is not None:
            row = self.pg.execute(sql).fetchone()
        else:
            assert self.lite is not None
            row = self.lite.execute(sql).fetchone()
        return int(row[0]) if row else 0

    def insert(self, table: str, columns: Columns, key: Columns, rows: list[tuple[Any, ...]]) -> None:
        into = f"INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        latest = LATEST.get(table)
        later = "greatest" if self.pg is not None else "max"
        conflict = f"ON CONFLICT ({', '.join(key)}) DO " + (
            f"UPDATE SET {latest} = {later}({table}.{latest}, excluded.{latest})" if latest else "NOTHING"
        )
        if self.pg is not None:
            sql = f"INSERT {into} {conflict}"
            with self.pg.transaction(), self.pg.cursor() as cur:
                cur.executemany(pg_sql(sql), rows)
            return
        assert self.lite is not None
        try:
            self.lite.execute("BEGIN IMMEDIATE")
            self.lite.executemany(f"INSERT {into} {conflict}", rows)
            self.lite.execute("COMMIT")
        except sqlite3.Error:
            self.lite.execute("ROLLBACK")
            raise

    def close(self) -> None:
        if self.pg is not None:
            self.pg.close()
        if self.lite is not None:
            self.lite.close()
