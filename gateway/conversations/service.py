"""The store as the request path sees it: one per worker, off the event loop, swept on a timer.

Every store call runs in ONE dedicated thread (a single-worker executor owning the store's
connection), so SQLite never blocks the event loop and calls of one worker never contend with
each other; workers of one server contend through SQLite's own lock (`BEGIN IMMEDIATE`, busy
timeout). Reads (the history) happen before the upstream call, writes after the reply is
complete.

Retention: `Sweeper.run_once()` deletes what was last written more than
`conversations.retention_days` ago, by the injected clock; the gateway runs it at start and then
every `SWEEP_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from gateway.conversations.store import ConversationStore, open_store

log = logging.getLogger("ekai.conversations")

SWEEP_SECONDS = 3600.0
DAY = 86400.0

T = TypeVar("T")


class Conversations:
    def __init__(self, database: str | Path) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ekai-conversations")
        self._database = database
        self._store: ConversationStore | None = None

    def _opened(self) -> ConversationStore:
        if self._store is None:
            self._store = open_store(self._database)
        return self._store

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """`store.method(*args)` in the store's thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(self._invoke, method, args, kwargs))

    def _invoke(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return getattr(self._opened(), method)(*args, **kwargs)

    def close(self) -> None:
        def _close() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None

        self._executor.submit(_close).result(10)
        self._executor.shutdown(wait=True)


class Sweeper:
    """Deletes conversations and stored responses older than the retention window."""

    def __init__(
        self,
        conversations: Conversations,
        retention_days: Callable[[], float],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.conversations = conversations
        self.retention_days = retention_days
        self.clock = clock

    async def run_once(self) -> int:
        days = self.retention_days()
        # 0: nothing is stored any more, and what was stored goes at once
        cutoff = float("inf") if days <= 0 else self.clock() - days * DAY
        removed: int = await self.conversations.call("sweep", cutoff)
        if removed:
            log.info("retention sweep removed %d stored rows", removed)
        return removed

    async def run_forever(self, interval: float = SWEEP_SECONDS) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("conversation retention sweep failed")
            await asyncio.sleep(interval)
