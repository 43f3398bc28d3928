"""The gateway in-process: `create_app` takes its upstream client and usage sink as arguments, so a
test that is not about the process boundary can run the real app on a loop in a thread, against
the fake provider, and see the usage rows in memory (here: a Storage that keeps them in a list)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import db
from gateway.app import create_app
from gateway.config import Config
from gateway.database import Database
from gateway.providers import Upstream
from gateway.usage import UsageWriter
from tests.conftest import KEYS, write_config
from tests.gateway_proc import free_port


class ListStorage:
    """A usage sink that keeps rows in memory (the Storage protocol of gateway.storage)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.rows: list[dict[str, Any]] = []

    def open(self) -> None:
        pass

    def write(self, rows: Sequence[tuple[Any, ...]]) -> int:
        self.rows.extend(dict(zip(db.USAGE_COLUMNS, r, strict=True)) for r in rows)
        return len(rows)

    def transient(self, exc: BaseException) -> bool:
        return False

    def close(self) -> None:
        pass


class CountingUpstream(Upstream):
    sent = 0

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        CountingUpstream.sent += 1
        return await super().send(*args, **kwargs)


@pytest.fixture
def served(tmp_path: Path, fake, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, ListStorage]]:
    for k, v in KEYS.items():
        monkeypatch.setenv(k, v)
    config = write_config(tmp_path, fake)
    storage: list[ListStorage] = []

    def sink(cfg: Config) -> UsageWriter:
        storage.append(ListStorage(cfg.database))
        return UsageWriter(cfg.database, storage=storage[0])

    app = create_app(config, name=f"ekai_inproc_{free_port()}", upstream=CountingUpstream, usage_sink=sink)
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def run() -> None:
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
        assert server is not None
        await server.startup()
        await server.before_start()
        await server.after_start()
        state["server"] = server
        ready.set()
        await server.serve_forever()

    def main() -> None:
        asyncio.set_event_loop(loop)
        state["task"] = loop.create_task(run())
        loop.run_forever()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert ready.wait(20), "in-process gateway did not start"
    try:
        yield f"http://127.0.0.1:{port}", storage[0]
    finally:
        server = state["server"]

        async def shutdown() -> None:
            await server.before_stop()
            state["task"].cancel()  # stops serve_forever, which closes the listening socket
            await server.after_stop()  # the usage writer drains and stops

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_in_process_with_an_injected_upstream_and_usage_sink(served) -> None:
    url, storage = served
    before = CountingUpstream.sent
    r = httpx.post(url + "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
    assert r.status_code == 200, r.text
    rid = r.headers["x-request-id"]
    deadline = time.monotonic() + 10
    while not storage.rows and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [row["request_id"] for row in storage.rows] == [rid]
    assert storage.rows[0]["cost_pico_usd"] == 750_000_000 and storage.rows[0]["provider"] == "openai"
    assert CountingUpstream.sent == before + 1  # the injected client sent it
