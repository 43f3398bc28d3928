"""The conversation store on PostgreSQL (gateway.conversations.pg_store) against the real server:
the ConversationStore behaviour, with two stores (two instances) appending to one conversation at
once. Skipped without EKAI_TEST_POSTGRES_URL (tests/pg.py)."""

from __future__ import annotations

import threading

import pytest

from gateway.conversations.pg_store import PostgresStore
from gateway.conversations.store import NotFound, StoredResponse
from gateway.database import Database


def item(text: str) -> dict:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def test_two_instances_append_to_one_conversation_and_keep_every_turn(pg_url: str) -> None:
    a, b = PostgresStore(Database.postgresql(pg_url)), PostgresStore(Database.postgresql(pg_url))
    try:
        def run(store: PostgresStore, name: str) -> None:
            for i in range(20):
                store.append("c1", "ci", [item(f"{name}{i}q"), item(f"{name}{i}a")], 1000.0 + i)

        threads = [threading.Thread(target=run, args=(s, n)) for s, n in ((a, "a"), (b, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        history = a.history("c1", "ci")
        texts = [h["content"][0]["text"] for h in history]
        assert len(texts) == 80 and len(set(texts)) == 80
        for i in range(0, 80, 2):  # each append's two items stay together, in order
            assert texts[i][:-1] == texts[i + 1][:-1] and texts[i].endswith("q")
        with pytest.raises(NotFound):
            b.history("c1", "laptop")  # another key's conversation is not found
        with pytest.raises(NotFound):
            b.append("c1", None, [item("x")], 2000.0)
        assert [c.items for c in a.list_conversations("ci")] == [80]
        assert a.list_conversations(None) == []
    finally:
        a.close()
        b.close()


def test_stored_responses_chain_delete_and_sweep(pg_url: str) -> None:
    s = PostgresStore(Database.postgresql(pg_url))
    try:
        r1 = StoredResponse("resp_1", None, 100.0, None, "openai", True, {"id": "resp_1"}, [item("q1")])
        r2 = StoredResponse("resp_2", None, 200.0, "resp_1", "anthropic", False, {"id": "resp_2"}, [item("q2")])
        s.put_response(r1)
        s.put_response(r2)
        s.put_response(r2)  # replaced, not duplicated
        assert [r.id for r in s.response_chain("resp_2", None)] == ["resp_1", "resp_2"]
        assert s.get_response("resp_2", None) == r2
        with pytest.raises(NotFound):
            s.get_response("resp_2", "ci")  # owner NULL matches only NULL
        assert s.holds_response("resp_1") and not s.holds_response("resp_9")
        s.append("old", None, [item("x")], 50.0)
        s.append("new", None, [item("y")], 500.0)
        assert s.sweep(150.0) == 3  # the old conversation, its item, resp_1
        assert s.history("old", None) == [] and len(s.history("new", None)) == 1
        with pytest.raises(NotFound):
            s.response_chain("resp_2", None)  # a missing link
        s.delete_response("resp_2", None)
        with pytest.raises(NotFound):
            s.delete_response("resp_2", None)
    finally:
        s.close()
