"""The conversation store on PostgreSQL (usage.database a postgresql:// URL): the same tables and
behaviour as SQLiteStore (gateway.conversations.store), for several instances on one database.

The tables are migration 4 of gateway/db.py, rendered in PostgreSQL's types (gateway.db.pg_ddl:
REAL -> DOUBLE PRECISION, INTEGER -> BIGINT) and run by db.migrate_pg under its advisory lock.
One psycopg connection (autocommit; explicit transactions), guarded by a lock like
SQLiteStore's. Appends to one conversation from several instances at once are serialised by a
row lock on the conversation (`SELECT ... FOR UPDATE` after an `INSERT ... ON CONFLICT DO
NOTHING`), so every turn is kept, in commit order.
Owners compare with `IS NOT DISTINCT FROM` (SQLite's `IS`): NULL (no auth) matches only NULL.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
import psycopg

from gateway import db
from gateway.conversations.store import (
    ConversationInfo,
    NotFound,
    ResponseReads,
    StoredResponse,
    stored_response,
)
from gateway.database import Database
from gateway.storage import pg_connect

_COLUMNS = "id, owner, created, previous_response_id, provider, native, response, input"


class PostgresStore(ResponseReads):
    def __init__(self, database: Database) -> None:
        self._conn: psycopg.Connection[Any] = pg_connect(database)
        db.migrate_pg(self._conn)  # the conversation tables are migration 4
        self._lock = threading.Lock()

    # --- conversations ---

    def _owner_of(self, conversation_id: str, *, lock: bool = False) -> tuple[bool, str | None]:
        sql = "SELECT owner FROM conversations WHERE id = %s" + (" FOR UPDATE" if lock else "")
        row = self._conn.execute(sql, (conversation_id,)).fetchone()
        return (row is not None, row[0] if row else None)

    def history(self, conversation_id: str, owner: str | None) -> list[dict[str, Any]]:
        with self._lock:
            exists, found = self._owner_of(conversation_id)
            if not exists:
                return []
            if found != owner:
                raise NotFound(conversation_id)
            rows = self._conn.execute(
                "SELECT item FROM conversation_items WHERE conversation_id = %s ORDER BY seq",
                (conversation_id,),
            ).fetchall()
        return [orjson.loads(r[0]) for r in rows]

    def append(self, conversation_id: str, owner: str | None, items: list[dict[str, Any]], now: float) -> int:
        blobs = [orjson.dumps(i).decode() for i in items]
        with self._lock, self._conn.transaction():
            conn = self._conn
            created = conn.execute(
                "INSERT INTO conversations (id, owner, created, updated) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING",
                (conversation_id, owner, now, now),
            ).rowcount
            _, found = self._owner_of(conversation_id, lock=True)  # appenders queue here
            if found != owner:
                raise NotFound(conversation_id)
            if not created:
                conn.execute("UPDATE conversations SET updated = %s WHERE id = %s", (now, conversation_id))
            row = conn.execute(
                "SELECT coalesce(max(seq), 0) + 1 FROM conversation_items WHERE conversation_id = %s",
                (conversation_id,),
            ).fetchone()
            first = int(row[0]) if row else 1
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO conversation_items (conversation_id, seq, created, item) "
                    "VALUES (%s, %s, %s, %s)",
                    [(conversation_id, first + i, now, blob) for i, blob in enumerate(blobs)],
                )
        return first

    def list_conversations(
        self, owner: str | None = None, *, any_owner: bool = False
    ) -> list[ConversationInfo]:
        sql = (
            "SELECT c.id, c.owner, c.created, c.updated, "
            "(SELECT count(*) FROM conversation_items i WHERE i.conversation_id = c.id) "
            "FROM conversations c"
        )
        params: tuple[Any, ...] = ()
        if not any_owner:
            sql += " WHERE c.owner IS NOT DISTINCT FROM %s"
            params = (owner,)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY c.updated DESC", params).fetchall()
        return [ConversationInfo(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]

    def delete_conversation(
        self, conversation_id: str, owner: str | None, *, any_owner: bool = False
    ) -> None:
        with self._lock, self._conn.transaction():
            exists, found = self._owner_of(conversation_id, lock=True)
            if not exists or (not any_owner and found != owner):
                raise NotFound(conversation_id)
            self._conn.execute(
                "DELETE FROM conversation_items WHERE conversation_id = %s", (conversation_id,)
            )
            self._conn.execute("DELETE FROM conversations WHERE id = %s", (conversation_id,))

    # --- stored responses ---

    def put_response(self, stored: StoredResponse) -> None:
        with self._lock:
            self._conn.execute(
                f"INSERT INTO stored_responses ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, created = excluded.created, "
                "previous_response_id = excluded.previous_response_id, provider = excluded.provider, "
                "native = excluded.native, response = excluded.response, input = excluded.input",
                (
                    stored.id,
                    stored.owner,
                    stored.created,
                    stored.previous_response_id,
                    stored.provider,
                    int(stored.native),
                    orjson.dumps(stored.response).decode(),
                    orjson.dumps(stored.input).decode(),
                ),
            )

    def _get(self, response_id: str, owner: str | None) -> StoredResponse:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM stored_responses WHERE id = %s AND owner IS NOT DISTINCT FROM %s",
            (response_id, owner),
        ).fetchone()
        return stored_response(row, response_id)

    def holds_response(self, response_id: str) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM stored_responses WHERE id = %s", (response_id,)
            ).fetchone()
        return row is not None

    def delete_response(self, response_id: str, owner: str | None) -> None:
        with self._lock:
            cur = self._conn.execute(
                "DELETE FROM stored_responses WHERE id = %s AND owner IS NOT DISTINCT FROM %s",
                (response_id, owner),
            )
        if cur.rowcount == 0:
            raise NotFound(response_id)

    # --- retention ---

    def sweep(self, before: float) -> int:
        with self._lock, self._conn.transaction():
            conn = self._conn
            old = [r[0] for r in conn.execute("SELECT id FROM conversations WHERE updated < %s", (before,))]
            removed = 0
            if old:
                removed += conn.execute(
                    "DELETE FROM conversation_items WHERE conversation_id = ANY(%s)", (old,)
                ).rowcount
                conn.execute("DELETE FROM conversations WHERE id = ANY(%s)", (old,))
            removed += len(old)
            removed += conn.execute("DELETE FROM stored_responses WHERE created < %s", (before,)).rowcount
        return removed

    def close(self) -> None:
        with self._lock:
            self._conn.close()
