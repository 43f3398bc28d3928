"""`ekai serve` plus one read-only route, GET /_soak/stats, for the soak's leak checks.

    python -c "import sys, bench.soak_probe as p; sys.exit(p.main())" serve --config ekai.yaml

Everything else is the unmodified gateway: `gateway.app.create_app` is wrapped to add the route,
then `gateway.cli.main` runs as usual (with --workers N too: the spawned workers unpickle this
module's `create_app`, which re-applies the wrapper on import). The route answers, for the worker
that serves it: its pid, the asyncio tasks alive (minus the one serving the route), the usage
writer's counters and queue length, how many objects the garbage collector tracks, the
upstream connections aiohttp counts as in use or idle in its pool, and how long the writer
thread's batch commits took (UsageWriter._write is wrapped with a timer; ?reset=1 starts over).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from collections import deque

import gateway.app as _app_module
from gateway import proxy, usage

_original_create_app = _app_module.create_app
_original_write = usage.UsageWriter._write
COMMITS: deque[tuple[float, int]] = deque(maxlen=100_000)  # (seconds, rows) of each batch write


def _timed_write(self, rows):
    """UsageWriter._write (one batch: BEGIN IMMEDIATE, INSERTs, COMMIT, retries), timed."""
    t0 = time.perf_counter()
    try:
        return _original_write(self, rows)
    finally:
        COMMITS.append((time.perf_counter() - t0, len(rows)))


usage.UsageWriter._write = _timed_write  # type: ignore[method-assign]


def _commit_stats(reset: bool) -> dict[str, float | int | None]:
    done = list(COMMITS)
    if reset:
        COMMITS.clear()
    times = sorted(s for s, _ in done)
    if not times:
        return {"commits": 0, "rows": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "commits": len(times),
        "rows": sum(n for _, n in done),
        "p50_ms": round(times[len(times) // 2] * 1000, 2),
        "p99_ms": round(times[min(int(len(times) * 0.99), len(times) - 1)] * 1000, 2),
        "max_ms": round(times[-1] * 1000, 2),
    }


def create_app(path=None, *, name: str = "ekai"):
    app = _original_create_app(path, name=name)

    @app.get("/_soak/stats", name="soak_stats")
    async def stats(request):
        writer = request.app.ctx.writer
        connector = request.app.ctx.upstream.session.connector
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        names: dict[str, int] = {}
        for t in tasks:
            coro = t.get_coro()
            key = getattr(coro, "__qualname__", type(coro).__name__)
            names[key] = names.get(key, 0) + 1
        return proxy.json_response(
            {
                "pid": os.getpid(),
                "tasks": len(tasks),
                "task_kinds": names,
                "rows_written": writer.written,
                "rows_failed": writer.failed,
                "rows_queued": writer._queue.qsize(),
                "gc_objects": len(gc.get_objects()),
                # aiohttp's own books: connections handed to a response and not yet given back,
                # and idle keep-alive connections in the pool
                "upstream_in_use": len(getattr(connector, "_acquired", ())),
                "upstream_idle": sum(len(v) for v in getattr(connector, "_conns", {}).values()),
                # the usage writer's batch commits since the last ?reset=1 (BEGIN..COMMIT, retries included)
                "commit": _commit_stats(request.args.get("reset") == "1"),
            },
            200,
        )

    return app


_app_module.create_app = create_app


def main() -> int:
    from gateway.cli import main as cli_main

    return cli_main(sys.argv[1:])
