"""Retention (an injected clock, no sleeping), restart, `retention_days: 0`, the config key,
and a history too long for the target model's context window."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from gateway.config import ConfigError, load_config
from gateway.conversations.service import DAY, Conversations, Sweeper
from gateway.conversations.store import NotFound, SQLiteStore, StoredResponse
from tests.conftest import KEYS, PRICING, write_config
from tests.fakes.upstream import FakeUpstream, wait_for
from tests.gateway_proc import Gateway

HEADER = "x-ekai-conversation"
T0 = 1_800_000_000.0


def _turn(text: str) -> list[dict]:
    return [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
    ]


def _response(rid: str, created: float) -> StoredResponse:
    return StoredResponse(rid, None, created, None, "openai", False, {"id": rid, "output": []}, [])


def test_sweep_with_an_injected_clock(tmp_path: Path):
    db = tmp_path / "usage.db"
    store = SQLiteStore(db)
    store.append("old", None, _turn("old"), T0)
    store.append("fresh", None, _turn("fresh"), T0 + 20 * DAY)
    store.put_response(_response("resp_old", T0))
    store.put_response(_response("resp_fresh", T0 + 20 * DAY))
    store.close()

    now = [T0 + 29 * DAY]
    conversations = Conversations(db)
    sweeper = Sweeper(conversations, lambda: 30, clock=lambda: now[0])
    try:
        assert asyncio.run(sweeper.run_once()) == 0  # 29 days: everything kept
        now[0] = T0 + 31 * DAY
        assert asyncio.run(sweeper.run_once()) == 4  # 'old' (row + 2 items) and resp_old
        check = SQLiteStore(db)
        assert check.history("old", None) == [] and len(check.history("fresh", None)) == 2
        with pytest.raises(NotFound):
            check.get_response("resp_old", None)
        assert check.get_response("resp_fresh", None).id == "resp_fresh"
        check.close()
        # an appended turn renews a conversation: it is kept 30 days from its last turn
        store = SQLiteStore(db)
        store.append("fresh", None, _turn("again"), T0 + 45 * DAY)
        store.close()
        now[0] = T0 + 60 * DAY
        asyncio.run(sweeper.run_once())
        assert len(SQLiteStore(db).history("fresh", None)) == 4
    finally:
        conversations.close()


def test_retention_zero_sweeps_everything(tmp_path: Path):
    db = tmp_path / "usage.db"
    store = SQLiteStore(db)
    store.append("c", "alice", _turn("x"), time.time())
    store.close()
    conversations = Conversations(db)
    try:
        assert asyncio.run(Sweeper(conversations, lambda: 0).run_once()) == 3
    finally:
        conversations.close()


def test_the_gateway_sweeps_at_start(fake: FakeUpstream, tmp_path: Path):
    write_config(tmp_path, fake, extra="conversations: {retention_days: 7}")
    store = SQLiteStore(tmp_path / "usage.db")
    store.append("ancient", None, _turn("x"), time.time() - 8 * DAY)
    store.append("recent", None, _turn("y"), time.time() - 6 * DAY)
    store.close()
    gw = Gateway(tmp_path, env=KEYS).start()
    try:

        def ids() -> set[str]:
            conn = sqlite3.connect(tmp_path / "usage.db")
            try:
                return {r[0] for r in conn.execute("SELECT id FROM conversations")}
            finally:
                conn.close()

        wait_for(lambda: ids() == {"recent"}, timeout=10)
    finally:
        gw.stop()


def test_a_restart_keeps_conversations(fake: FakeUpstream, tmp_path: Path):
    write_config(tmp_path, fake)
    gw = Gateway(tmp_path, env=KEYS).start()
    sdk = openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0, default_headers={HEADER: "r1"})
    try:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Before."}])
    finally:
        gw.stop()
    gw = Gateway(tmp_path, env=KEYS).start()
    try:
        client = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
        client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=50,
            messages=[{"role": "user", "content": "After."}],
            extra_headers={HEADER: "r1"},
        )
        sent = fake.last("anthropic").body["messages"]
        assert sent[0] == {"role": "user", "content": [{"type": "text", "text": "Before."}]}
        assert sent[2] == {"role": "user", "content": "After."}
    finally:
        gw.stop()


def test_retention_zero_stores_nothing_and_refuses_the_header(fake: FakeUpstream, tmp_path: Path):
    write_config(tmp_path, fake, extra="conversations: {retention_days: 0}")
    gw = Gateway(tmp_path, env=KEYS).start()
    try:
        sdk = openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0)
        with pytest.raises(openai.BadRequestError) as err:
            sdk.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={HEADER: "c1"},
            )
        assert err.value.code == "conversations_disabled" and "retention_days" in err.value.message
        created = sdk.responses.create(model="gpt-4o-mini", input="not kept")
        with pytest.raises(openai.NotFoundError):
            sdk.responses.retrieve(created.id)
        # previous_response_id goes to the provider that may hold it, untouched
        sdk.responses.create(model="gpt-4o-mini", input="next", previous_response_id=created.id)
        assert fake.last("openai").body["previous_response_id"] == created.id
    finally:
        gw.stop()


def test_retention_days_is_validated_with_file_line_and_key(fake: FakeUpstream, tmp_path: Path):
    path = write_config(tmp_path, fake, extra="conversations:\n  retention_days: -3")
    with pytest.raises(ConfigError) as err:
        load_config(path, env=KEYS)
    assert any("ekai.yaml:" in p and "conversations.retention_days" in p for p in err.value.problems)
    path = write_config(tmp_path, fake, extra="conversations:\n  keep: 3")
    with pytest.raises(ConfigError) as err:
        load_config(path, env=KEYS)
    assert any("conversations.keep" in p and "unknown key" in p for p in err.value.problems)


def test_a_history_beyond_the_context_window_is_a_clear_400(fake: FakeUpstream, tmp_path: Path):
    write_config(tmp_path, fake)
    small = PRICING["openai"].replace(
        "gpt-4o-mini: {input: 0.15, output: 0.6, cache_read: 0.075}",
        "gpt-4o-mini: {input: 0.15, output: 0.6, cache_read: 0.075, context_window: 500}",
    )
    assert small != PRICING["openai"]
    (tmp_path / "pricing" / "openai.yaml").write_text(small)
    gw = Gateway(tmp_path, env=KEYS).start()
    try:
        sdk = openai.OpenAI(
            base_url=gw.url + "/v1", api_key="k", max_retries=0, default_headers={HEADER: "big"}
        )
        sdk.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "word " * 600}]
        )
        calls = len(fake.seen)
        with pytest.raises(openai.BadRequestError) as err:
            sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "more"}])
        assert err.value.code == "context_length_exceeded"
        assert "context window of 500 tokens" in err.value.message and "about" in err.value.message
        assert len(fake.seen) == calls  # refused before any provider was asked
        # the same conversation still goes on with a model whose window is large enough
        sdk.chat.completions.create(model="claude-sonnet-4-6", messages=[{"role": "user", "content": "more"}])
    finally:
        gw.stop()


def test_two_workers_appending_to_one_conversation_keep_every_turn(fake: FakeUpstream, tmp_path: Path):
    """Two worker processes, each with its own store connection: BEGIN IMMEDIATE orders them."""
    import json
    import threading

    write_config(tmp_path, fake)
    gw = Gateway(tmp_path, env=KEYS, args=["--workers", "2"]).start()
    n, errors = 5, []

    def run(name: str) -> None:
        try:
            for i in range(n):  # a new connection each time, so both workers get requests
                with httpx.Client() as http:
                    r = http.post(
                        gw.url + "/v1/chat/completions",
                        headers={HEADER: "race-w"},
                        json={
                            "model": "gpt-4o-mini",
                            "messages": [{"role": "user", "content": f"{name} {i}"}],
                        },
                    )
                    assert r.status_code == 200, r.text
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=run, args=(x,)) for x in "AB"]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        conn = sqlite3.connect(tmp_path / "usage.db")
        rows = conn.execute(
            "SELECT seq, item FROM conversation_items WHERE conversation_id = 'race-w' ORDER BY seq"
        )
        items = [(seq, json.loads(item)) for seq, item in rows]
        conn.close()
        assert [seq for seq, _ in items] == list(range(1, 4 * n + 1))
        users = [i["content"][0]["text"] for _, i in items[0::2]]
        assert all(i["role"] == "assistant" for _, i in items[1::2])
        for name in "AB":
            assert [u for u in users if u.startswith(name)] == [f"{name} {i}" for i in range(n)]
    finally:
        gw.stop()
