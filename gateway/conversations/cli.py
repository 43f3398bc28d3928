"""`ekai conversations list|show|delete`: the stored conversations, from the terminal.

The operator's view: every owner's conversations (the owner is the gateway key's name, `-` for
none). `show` prints the stored items, one JSON object a line, oldest first.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson

from gateway.conversations.store import NotFound, SQLiteStore, open_store
from gateway.database import Database
from gateway.storage import StorageUnavailable


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def run(action: str, conversation_id: str | None, database: Database | Path, key: str | None) -> int:
    if isinstance(database, Path):
        database = Database.sqlite(database)
    if not database.is_postgres and not database.file.exists():
        print(f"ekai conversations: no database at {database}", file=sys.stderr)
        return 1
    try:
        store = SQLiteStore(database.file) if not database.is_postgres else open_store(database)
    except StorageUnavailable as exc:
        print(f"ekai conversations: {exc}", file=sys.stderr)
        return 1
    try:
        if action == "list":
            rows = store.list_conversations(key, any_owner=key is None)
            print(f"{'id':<40} {'owner':<16} {'items':>6}  {'created (UTC)':<19}  {'updated (UTC)':<19}")
            for c in rows:
                print(f"{c.id:<40} {c.owner or '-':<16} {c.items:>6}  {_when(c.created)}  {_when(c.updated)}")
            return 0
        if not conversation_id:
            print(f"ekai conversations {action}: give a conversation ID", file=sys.stderr)
            return 1
        owners = {c.id: c.owner for c in store.list_conversations(any_owner=True)}
        if conversation_id not in owners:
            print(f"ekai conversations: no conversation {conversation_id!r}", file=sys.stderr)
            return 1
        if action == "show":
            for item in store.history(conversation_id, owners[conversation_id]):
                sys.stdout.write(orjson.dumps(item).decode() + "\n")
            return 0
        store.delete_conversation(conversation_id, None, any_owner=True)
        print(f"deleted conversation {conversation_id}")
        return 0
    except NotFound:
        print(f"ekai conversations: no conversation {conversation_id!r}", file=sys.stderr)
        return 1
    finally:
        store.close()
