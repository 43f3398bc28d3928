"""Where conversation content lives: its own tables beside `usage`, never in `usage`.

Two kinds of stored content, both kept as Responses API items (the neutral form every client
format can be replayed in, gateway.conversations.items):

- conversations (`x-ekai-conversation: ID`): an ordered list of items per conversation id. Each
  request appends its new user turn and the reply in ONE transaction (`BEGIN IMMEDIATE`, then
  `max(seq)+1`), so two clients appending at once keep every turn, in the order they finished.
- stored responses (`store`, `previous_response_id`): one row per response id (`resp_...` as the
  client saw it) holding the response object, its input items, the id it continued, and the
  provider that served it natively (an OpenAI-family provider that stored it too), if any.

Every row records the name of the gateway key that created it (`owner`; NULL without auth).
Lookups match the owner with `IS`, so another key's content is simply not found (a 404, never the
content), and rows created without auth are visible to unauthenticated requests only.

`ConversationStore` is the interface (a PostgreSQL implementation is one more class);
`SQLiteStore` is today's, on the usage database file. Its methods are synchronous: the gateway
calls them from one dedicated thread (gateway.conversations.service), the CLI directly.

Schema: the tables `conversations`, `conversation_items` and `stored_responses` are migration 4
of gateway/db.py (the one schema definition, for SQLite and PostgreSQL alike); opening a store
migrates its database first.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from gateway import db
from gateway.database import Database


class NotFound(Exception):
    """No such conversation or response for this owner."""


@dataclass(frozen=True)
class StoredResponse:
    id: str
    owner: str | None
    created: float
    previous_response_id: str | None
    provider: str | None
    native: bool
    response: dict[str, Any]
    input: list[dict[str, Any]]


@dataclass(frozen=True)
class ConversationInfo:
    id: str
    owner: str | None
    created: float
    updated: float
    items: int


class ConversationStore(Protocol):
    """What the gateway and the CLI need from a store of conversations and responses."""

    def history(self, conversation_id: str, owner: str | None) -> list[dict[str, Any]]:
        """The conversation's items in order; [] for a new one; NotFound if another owner's."""
        ...

    def append(self, conversation_id: str, owner: str | None, items: list[dict[str, Any]], now: float) -> int:
        """Append items in one transaction (creating the conversation); returns the first seq."""
        ...

    def put_response(self, stored: StoredResponse) -> None: ...

    def get_response(self, response_id: str, owner: str | None) -> StoredResponse: ...

    def response_chain(self, response_id: str, owner: str | None) -> list[StoredResponse]:
        """The response and those it continued, oldest first (NotFound if any link is missing)."""
        ...

    def delete_response(self, response_id: str, owner: str | None) -> None: ...

    def holds_response(self, response_id: str) -> bool:
        """Whether any owner's response has this id (so it must not go to a provider)."""
        ...

    def list_conversations(
        self, owner: str | None = None, *, any_owner: bool = False
    ) -> list[ConversationInfo]: ...

    def delete_conversation(
        self, conversation_id: str, owner: str | None, *, any_owner: bool = False
    ) -> None: ...

    def sweep(self, before: float) -> int:
        """Delete everything last written before `before` (unix seconds); returns rows removed."""
        ...

    def close(self) -> None: ...


MAX_CHAIN = 1000  # previous_response_id links followed at most


def stored_response(row: Any, response_id: str) -> StoredResponse:
    """A `stored_responses` row (id, owner, created, previous_response_id, provider, native,
    response, input) as a StoredResponse; NotFound for no row. Shared by both stores."""
    if row is None:
        raise NotFound(response_id)
    return StoredResponse(
        row[0], row[1], row[2], row[3], row[4], bool(row[5]), orjson.loads(row[6]), orjson.loads(row[7])
    )


class ResponseReads:
    """What both stores do the same way on top of their own `_get` (one row, under `_lock`)."""

    _lock: threading.Lock

    def _get(self, response_id: str, owner: str | None) -> StoredResponse:
        raise NotImplementedError

    def get_response(self, response_id: str, owner: str | None) -> StoredResponse:
        with self._lock:
            return self._get(response_id, owner)

    def response_chain(self, response_id: str, owner: str | None) -> list[StoredResponse]:
        chain: list[StoredResponse] = []
        seen: set[str] = set()
        with self._lock:
            current: str | None = response_id
            while current is not None and current not in seen and len(chain) < MAX_CHAIN:
                seen.add(current)
                stored = self._get(current, owner)
                chain.append(stored)
                current = stored.previous_response_id
        chain.reverse()
        return chain


class SQLiteStore(ResponseReads):
    """The store on a SQLite file (the usage database). One connection, used by one thread at a
    time (a lock guards it, so the CLI and tests may call from anywhere)."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None, timeout=10.0, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=10000")
        db.migrate(self._conn)  # the conversation tables are migration 4
        self._lock = threading.Lock()

    # --- conversations ---

    def _owner_of(self, conversation_id: str) -> tuple[bool, str | None]:
        row = self._conn.execute(
            "SELECT owner FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        return (row is not None, row[0] if row else None)

    def history(self, conversation_id: str, owner: str | None) -> list[dict[str, Any]]:
        with self._lock:
            exists, found = self._owner_of(conversation_id)
            if not exists:
                return []
            if found != owner:
                raise NotFound(conversation_id)
            rows = self._conn.execute(
                "SELECT item FROM conversation_items WHERE conversation_id = ? ORDER BY seq",
                (conversation_id,),
            ).fetchall()
        return [orjson.loads(r[0]) for r in rows]

    def append(self, conversation_id: str, owner: str | None, items: list[dict[str, Any]], now: float) -> int:
        blobs = [orjson.dumps(i).decode() for i in items]
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                exists, found = self._owner_of(conversation_id)
                if exists and found != owner:
                    raise NotFound(conversation_id)
                if exists:
                    conn.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
                else:
                    conn.execute(
                        "INSERT INTO conversations (id, owner, created, updated) VALUES (?, ?, ?, ?)",
                        (conversation_id, owner, now, now),
                    )
                (first,) = conn.execute(
                    "SELECT coalesce(max(seq), 0) + 1 FROM conversation_items WHERE conversation_id = ?",
                    (conversation_id,),
                ).fetchone()
                conn.executemany(
                    "INSERT INTO conversation_items (conversation_id, seq, created, item) "
                    "VALUES (?, ?, ?, ?)",
                    [(conversation_id, first + i, now, blob) for i, blob in enumerate(blobs)],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return int(first)

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
            sql += " WHERE c.owner IS ?"
            params = (owner,)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY c.updated DESC", params).fetchall()
        return [ConversationInfo(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def delete_conversation(
        self, conversation_id: str, owner: str | None, *, any_owner: bool = False
    ) -> None:
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                exists, found = self._owner_of(conversation_id)
                if not exists or (not any_owner and found != owner):
                    raise NotFound(conversation_id)
                conn.execute("DELETE FROM conversation_items WHERE conversation_id = ?", (conversation_id,))
                conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    # --- stored responses ---

    def put_response(self, stored: StoredResponse) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO stored_responses "
                "(id, owner, created, previous_response_id, provider, native, response, input) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
            "SELECT id, owner, created, previous_response_id, provider, native, response, input "
            "FROM stored_responses WHERE id = ? AND owner IS ?",
            (response_id, owner),
        ).fetchone()
        return stored_response(row, response_id)

    def holds_response(self, response_id: str) -> bool:
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM stored_responses WHERE id = ?", (response_id,)).fetchone()
        return row is not None

    def delete_response(self, response_id: str, owner: str | None) -> None:
        with self._lock:
            cur = self._conn.execute(
                "DELETE FROM stored_responses WHERE id = ? AND owner IS ?", (response_id, owner)
            )
        if cur.rowcount == 0:
            raise NotFound(response_id)

    # --- retention ---

    def sweep(self, before: float) -> int:
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                old = [
                    r[0] for r in conn.execute("SELECT id FROM conversations WHERE updated < ?", (before,))
                ]
                removed = 0
                for cid in old:
                    removed += conn.execute(
                        "DELETE FROM conversation_items WHERE conversation_id = ?", (cid,)
                    ).rowcount
                    conn.execute("DELETE FROM conversations WHERE id = ?", (cid,))
                removed += len(old)
                removed += conn.execute("DELETE FROM stored_responses WHERE created < ?", (before,)).rowcount
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return removed

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def open_store(database: Database | str | Path) -> ConversationStore:
    """The store for a config's database: SQLite (the usage file) or PostgreSQL
    (gateway.conversations.pg_store, usage.database a postgresql:// URL)."""
    if isinstance(database, Database) and database.is_postgres:
        from gateway.conversations.pg_store import PostgresStore

        return PostgresStore(database)
    path = database.file if isinstance(database, Database) else database
    db.connect(path).close()  # the usage table first, so the file has its usual schema
    return SQLiteStore(path)
