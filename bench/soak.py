#!/usr/bin/env python3
"""Soak, crash and reader checks: the real gateway under a few hundred streams and thousands of requests.

    python bench/soak.py                 # full run (a few minutes)
    python bench/soak.py --quick         # small numbers (~30 s)
    python bench/soak.py --workers 2 --json soak.json
    python bench/soak.py --only crash    # load, crash, reader: any comma-separated subset

It starts a lean fake provider (its own process, this file with --fake-serve: no request log, the
behaviour of each request chosen by a directive in its last message) and a gateway (`ekai serve`,
1 worker unless --workers N, through bench/soak_probe.py, which only adds GET /_soak/stats), then:

(a)+(b) load, in --rounds rounds: --streams concurrent streams (OpenAI and Anthropic, each lasting
    1-2 s, --disconnect-fraction of them dropped by the client mid-stream), then --requests
    non-streaming requests at --concurrency, --fault-fraction of them upstream faults (refused
    connection, slow headers, slow body, stalled or cut stream, malformed JSON or SSE, 429, 500,
    529). Checks: usage rows == requests sent (disconnects and faults included), each row's
    status/error as expected, no unexpected client error; after each round, once idle: RSS (VmRSS,
    VmHWM) flat across rounds; open fds by kind (/proc/PID/fd joined with /proc/net/tcp) back to
    the baseline bar the upstream keep-alive pool, no socket in CLOSE_WAIT, no upstream connection
    still held by a response or missing from aiohttp's pool; asyncio tasks back to their idle
    number. Also counted: the kernel's listen-queue overflows during the stream burst.
(c) crash, --crash-cycles times on the same file: mixed load at --crash-concurrency, then
    `kill -9` of every gateway process; rows vs the requests the clients saw complete,
    `PRAGMA integrity_check`, a sqlite3 and a DuckDB read of the file; at the end a restart on the
    same file. The bound: the writer thread commits a batch once it holds BATCH (500) rows or
    FLUSH_SECONDS (0.2 s) after the batch's first row, so a crash loses the rows handed to the
    writer in the last FLUSH_SECONDS plus the duration of the commit in flight (at most BATCH of
    them while the writer keeps up), per worker process.
(d) readers, --reader-cycles cycles of three phases of --reader-requests requests: no reader;
    readers on the live file (a sqlite3 mode=ro loop of `SELECT count(*), sum(cost_pico_usd) FROM
    usage`, a sqlite3 connection holding one read transaction open throughout, a DuckDB
    sqlite-scanner loop; each its own process at nice 10, over --seed-rows seeded rows); the same
    readers on a copy of the file (the control: same CPU taken, no shared file). Checks: rows ==
    requests, no failed writes, the held transaction kept its snapshot, the writer's commit times
    (timed by the probe) and requests/s with live readers no worse than with readers on the copy.

Prints a summary, exits 1 if an invariant fails; --json PATH writes every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import select
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from gateway.usage import BATCH, FLUSH_SECONDS  # noqa: E402
from tests.fakes.upstream import (  # noqa: E402
    anthropic_message,
    anthropic_stream,
    encode_event,
    openai_completion,
    openai_stream,
)
from tests.gateway_proc import Gateway, free_port  # noqa: E402

ANTHROPIC_MODEL = "claude-haiku-4-5"
OPENAI_MODEL = "gpt-4o-mini"
DEAD_MODEL = "dead-model"  # pinned to a provider whose port refuses connections
KEYS = {"ANTHROPIC_API_KEY": "soak-anthropic-key-0001", "OPENAI_API_KEY": "soak-openai-key-0001"}
PRICING = {
    "anthropic.yaml": "provider: anthropic\nunit: usd_per_million_tokens\nmodels:\n"
    "  claude-haiku-4-5: {input: 1.0, output: 5.0, cache_read: 0.1, cache_write: 1.25}\n",
    "openai.yaml": "provider: openai\nunit: usd_per_million_tokens\nmodels:\n"
    "  gpt-4o-mini: {input: 0.15, output: 0.6, cache_read: 0.075}\n",
}


# --- the lean fake provider ---------------------------------------------------------------------


def directive(body: Any) -> dict[str, Any]:
    """The behaviour asked for in the last message: `soak:{"fault": "cut", ...}`."""
    try:
        content = body["messages"][-1]["content"]
    except (KeyError, IndexError, TypeError):
        return {}
    if isinstance(content, str) and content.startswith("soak:"):
        try:
            found = json.loads(content[5:])
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}
    return {}


def _error_reply(anthropic: bool, code: int) -> web.Response:
    if anthropic:
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(code, "api_error")
        return web.json_response(
            {"type": "error", "error": {"type": kind, "message": f"fake {code}"}}, status=code
        )
    body = {"error": {"message": f"fake {code}", "type": "server_error", "param": None, "code": None}}
    return web.json_response(body, status=code)


async def _fake_handler(request: web.Request) -> web.StreamResponse:
    anthropic = request.path.endswith("/messages")
    try:
        body = json.loads(await request.read())
    except ValueError:
        return _error_reply(anthropic, 400)
    d = directive(body)
    fault = d.get("fault")
    model = body.get("model", "?")
    pause = float(d.get("pause", 0))
    if fault == "slow_headers":
        await asyncio.sleep(pause)
    if fault == "status":
        return _error_reply(anthropic, int(d.get("code", 500)))
    if fault == "bad_json":
        return web.Response(body=b'{"id": "x", "choices": [', content_type="application/json")
    if fault == "slow_body":
        resp = web.StreamResponse(headers={"content-type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"id": ')
        await asyncio.sleep(pause)
        with contextlib.suppress(ConnectionError):
            await resp.write(b'"x"}')
            await resp.write_eof()
        return resp
    if body.get("stream") is not True:
        return web.json_response(anthropic_message(model) if anthropic else openai_completion(model))
    words = [f"w{i} " for i in range(int(d.get("words", 4)))]
    if anthropic:
        events = anthropic_stream(model, words)
    else:
        asked = bool((body.get("stream_options") or {}).get("include_usage"))
        events = openai_stream(model, words, None, include_usage=asked)
    chunks = [encode_event(name, data) for name, data in events]
    if fault == "bad_sse":
        chunks = [*chunks[:2], b"data: {broken json\n\n", b"garbage\n\n"]
    elif fault in ("cut", "slow_stream"):
        chunks = chunks[:3]
    delay = float(d.get("delay", 0))
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await resp.prepare(request)
    try:
        for chunk in chunks:
            await resp.write(chunk)
            if delay:
                await asyncio.sleep(delay)
        if fault == "slow_stream":
            await asyncio.sleep(pause)
        if fault == "cut":
            request.transport.close()  # type: ignore[union-attr]
            return resp
        await resp.write_eof()
    except ConnectionError:  # the gateway dropped us (its client went away, or it timed out)
        pass
    return resp


def serve_fake(port: int = 0) -> None:
    """Run the fake provider until SIGTERM/SIGINT or until the parent process is gone."""

    async def run() -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/{provider}/v1/messages", _fake_handler)
        app.router.add_post("/{provider}/v1/chat/completions", _fake_handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
        await site.start()
        print(f"PORT {site._server.sockets[0].getsockname()[1]}", flush=True)  # type: ignore[union-attr]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        parent = os.getppid()
        while not stop.is_set() and os.getppid() == parent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        await runner.cleanup()

    asyncio.run(run())


class FakeProcess:
    """The fake provider in its own process (it must not share a GIL with the load clients)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self, timeout: float = 15.0) -> FakeProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.soak", "--fake-serve"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"fake provider did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def __enter__(self) -> FakeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the gateway under test -----------------------------------------------------------------------


def write_config(folder: Path, fake_port: int, *, first_byte: float = 3.0, idle: float = 3.0) -> Path:
    """An ekai.yaml: anthropic and openai on the fake, `dead` on a port nobody listens on."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pricing").mkdir(parents=True, exist_ok=True)
    for name, text in PRICING.items():
        (folder / "pricing" / name).write_text(text)
    up = f"http://127.0.0.1:{fake_port}"
    text = f"""
server: {{host: 127.0.0.1, port: 3001, timeouts: {{first_byte: {first_byte}, idle: {idle}}}}}
usage: {{database: usage.db}}
pricing: {{files: [pricing/*.yaml]}}
providers:
  anthropic: {{format: anthropic, base_url: {up}/anthropic, api_key_env: ANTHROPIC_API_KEY}}
  openai: {{format: openai, base_url: {up}/openai/v1, api_key_env: OPENAI_API_KEY}}
  dead: {{format: openai, base_url: http://127.0.0.1:{free_port()}/v1}}
  xai: null
  openrouter: null
routing:
  pins: {{"dead-*": [dead]}}
"""
    path = folder / "ekai.yaml"
    path.write_text(text)
    return path


PROBE = "import sys, bench.soak_probe as p; sys.exit(p.main())"


class SoakGateway(Gateway):
    """tests.gateway_proc.Gateway run through bench/soak_probe.py (GET /_soak/stats), N workers."""

    def __init__(self, folder: Path, workers: int = 1) -> None:
        super().__init__(folder, env=KEYS, args=["--workers", str(workers)] if workers > 1 else [])
        self.workers = workers
        self.pid = 0

    def start(self, timeout: float = 30.0) -> SoakGateway:
        cmd = [sys.executable, "-c", PROBE, "serve", "--config", str(self.config), "--port", str(self.port)]
        self._logfile = open(self.log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [*cmd, *self.args], cwd=ROOT, env=self.env, stdout=self._logfile, stderr=subprocess.STDOUT
        )
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.output()}")
            try:
                pids = self.worker_pids()
                if len(pids) >= self.workers and _http_ok(self.url + "/health"):
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gateway did not start:\n{self.output()}")

    def all_pids(self) -> list[int]:
        """The main process and its descendants (workers; not multiprocessing's resource tracker)."""
        found = [self.pid]
        for pid in descendants(self.pid):
            if "resource_tracker" not in _cmdline(pid):
                found.append(pid)
        return found

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the main one with 1 worker, else its children."""
        if self.workers == 1:
            return [self.pid]
        return [p for p in self.all_pids() if p != self.pid and "spawn" in _cmdline(p)]

    def kill9(self) -> list[int]:
        pids = self.all_pids()
        for pid in reversed(pids):  # workers first, so none is left orphaned
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)
        for pid in pids[1:]:  # give the kernel a moment to reap the orphans
            deadline = time.monotonic() + 5
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        self.stop()
        return pids


def _http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo and len(out) < 256:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


# --- what /proc says about a process --------------------------------------------------------------


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) in MB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out["rss_mb" if key == "VmRSS" else "peak_mb"] = round(int(value.split()[0]) / 1024, 1)
    return out


def _tcp_table() -> dict[int, tuple[int, int, str]]:
    """socket inode -> (local port, remote port, state) for every TCP socket."""
    table: dict[int, tuple[int, int, str]] = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 10:
                continue
            local, remote, state, inode = parts[1], parts[2], parts[3], int(parts[9])
            table[inode] = (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16), state)
    return table


def fd_kinds(pid: int, gateway_port: int, upstream_port: int) -> dict[str, int]:
    """Open fds of a process by kind: listen, client (sockets from clients), upstream (sockets to
    the provider), other_socket, file, pipe, anon (epoll, eventfd...), total; and close_wait: TCP
    sockets the peer has closed but this process has not (a connection nobody will close)."""
    counts = dict.fromkeys(("listen", "client", "upstream", "other_socket", "file", "pipe", "anon"), 0)
    table = _tcp_table()
    close_wait = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            info = table.get(int(target[8:-1]))
            if info is not None and info[2] == "08":
                close_wait += 1
            if info is None:
                counts["other_socket"] += 1
            elif info[2] == "0A":
                counts["listen"] += 1
            elif info[0] == gateway_port:
                counts["client"] += 1
            elif info[1] == upstream_port:
                counts["upstream"] += 1
            else:
                counts["other_socket"] += 1
        elif target.startswith("pipe:"):
            counts["pipe"] += 1
        elif target.startswith("anon_inode:"):
            counts["anon"] += 1
        else:
            counts["file"] += 1
    counts["total"] = sum(counts.values())
    counts["close_wait"] = close_wait
    return counts


def listen_overflows() -> int:
    """The kernel's count of connections refused because a listen queue was full (system-wide:
    SYNs dropped there are retried by the client after 1 s, then 3 s)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for head, values in zip(lines[::2], lines[1::2], strict=False):
        if head.startswith("TcpExt:"):
            return dict(zip(head.split()[1:], map(int, values.split()[1:]), strict=False)).get(
                "ListenOverflows", 0
            )
    return 0


def fixed_fds(kinds: dict[str, int]) -> int:
    """The fds that must not change between idle moments: all but the upstream keep-alive pool
    (aiohttp closes idle upstream connections after 15 s) and client sockets."""
    return kinds["total"] - kinds["upstream"] - kinds["client"]


async def probe_stats(url: str, attempts: int = 1) -> dict[int, dict[str, Any]]:
    """GET /_soak/stats, each attempt on a fresh connection (so that several workers answer)."""
    seen: dict[int, dict[str, Any]] = {}
    for _ in range(attempts):
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.get(url + "/_soak/stats", headers={"connection": "close"}) as resp,
        ):
            data = await resp.json()
        seen[data["pid"]] = data
    return seen


async def snapshot(gw: SoakGateway, upstream_port: int, settle: float = 1.0) -> dict[str, Any]:
    """Memory, fds and tasks of every worker, once idle."""
    await asyncio.sleep(settle)
    probes = await probe_stats(gw.url, attempts=1 if gw.workers == 1 else 6 * gw.workers)
    await asyncio.sleep(0.2)  # the probe's own connection closes
    procs = {}
    for pid in gw.worker_pids():
        procs[pid] = {**memory_mb(pid), "fds": fd_kinds(pid, gw.port, upstream_port)}
        if pid in probes:
            procs[pid]["tasks"] = probes[pid]["tasks"]
            procs[pid]["gc_objects"] = probes[pid]["gc_objects"]
            procs[pid]["rows_failed"] = probes[pid]["rows_failed"]
            procs[pid]["upstream_in_use"] = probes[pid]["upstream_in_use"]
            procs[pid]["upstream_idle"] = probes[pid]["upstream_idle"]
    return {
        "rss_mb": round(sum(p["rss_mb"] for p in procs.values()), 1),
        "peak_mb": round(sum(p["peak_mb"] for p in procs.values()), 1),
        "fds": sum(p["fds"]["total"] for p in procs.values()),
        "fixed_fds": sum(fixed_fds(p["fds"]) for p in procs.values()),
        "client_fds": sum(p["fds"]["client"] for p in procs.values()),
        "upstream_fds": sum(p["fds"]["upstream"] for p in procs.values()),
        "close_wait": sum(p["fds"]["close_wait"] for p in procs.values()),
        # upstream connections held by a response nobody will release (should be 0 when idle)
        "upstream_in_use": sum(p.get("upstream_in_use", 0) for p in procs.values()),
        # upstream sockets open but not in aiohttp's pool: lost by the connector (should be 0)
        "upstream_unaccounted": sum(
            p["fds"]["upstream"] - p.get("upstream_idle", 0) - p.get("upstream_in_use", 0)
            for p in procs.values()
            if "upstream_idle" in p
        ),
        "tasks": sum(p.get("tasks", 0) for p in procs.values()),
        "gc_objects": sum(p.get("gc_objects", 0) for p in procs.values()),
        "rows_failed": sum(p.get("rows_failed", 0) for p in procs.values()),
        "processes": {str(k): v for k, v in procs.items()},
    }


# --- requests -----------------------------------------------------------------------------------


@dataclass
class Spec:
    """One request to send, and what the client must see."""

    fmt: str  # client format: "openai" | "anthropic"
    kind: str  # "plain" | "stream" | "disconnect" | a fault name
    model: str
    stream: bool = False
    directive: dict[str, Any] = field(default_factory=dict)
    status: int = 200  # expected HTTP status
    stream_error: bool = False  # a 200 stream that must end in an error event
    disconnect_after: int = 0  # the client drops the connection after this many events

    def body(self) -> bytes:
        content = "soak:" + json.dumps(self.directive, separators=(",", ":"))
        body: dict[str, Any] = {"model": self.model, "messages": [{"role": "user", "content": content}]}
        if self.fmt == "anthropic":
            body["max_tokens"] = 64
        if self.stream:
            body["stream"] = True
        return json.dumps(body).encode()

    @property
    def path(self) -> str:
        return "/v1/messages" if self.fmt == "anthropic" else "/v1/chat/completions"

    @property
    def row_error(self) -> bool:
        """Whether the usage row must carry an error."""
        return self.kind not in ("plain", "stream")


def _model(fmt: str) -> str:
    return ANTHROPIC_MODEL if fmt == "anthropic" else OPENAI_MODEL


def plain(fmt: str) -> Spec:
    return Spec(fmt, "plain", _model(fmt))


def stream(fmt: str, seconds: float = 1.5, words: int = 20) -> Spec:
    return Spec(fmt, "stream", _model(fmt), stream=True, directive={"words": words, "delay": seconds / words})


def disconnect(fmt: str, seconds: float = 1.5, words: int = 20, after: int = 3) -> Spec:
    spec = stream(fmt, seconds, words)
    spec.kind, spec.disconnect_after = "disconnect", after
    return spec


FAULTS = (
    "refused",
    "slow_headers",
    "slow_body",
    "slow_stream",
    "cut",
    "bad_json",
    "bad_sse",
    "429",
    "500",
    "529",
)


def fault(name: str, fmt: str, pause: float) -> Spec:
    """An upstream fault; `pause` must exceed the gateway's first_byte/idle timeouts."""
    if name == "refused":
        return Spec("openai", name, DEAD_MODEL, status=502)
    if name in ("429", "500", "529"):
        fmt = "anthropic" if name == "529" else fmt
        return Spec(
            fmt, name, _model(fmt), directive={"fault": "status", "code": int(name)}, status=int(name)
        )
    if name == "slow_headers":
        return Spec(fmt, name, _model(fmt), directive={"fault": name, "pause": pause}, status=504)
    if name == "slow_body":
        return Spec(fmt, name, _model(fmt), directive={"fault": name, "pause": pause}, status=504)
    if name == "bad_json":
        return Spec(fmt, name, _model(fmt), directive={"fault": name}, status=502)
    if name in ("cut", "bad_sse", "slow_stream"):
        return Spec(
            fmt, name, _model(fmt), stream=True, directive={"fault": name, "pause": pause}, stream_error=True
        )
    raise ValueError(name)


@dataclass
class Outcome:
    kind: str
    fmt: str
    request_id: str | None
    status: int | None
    ok: bool  # the client saw what it should
    problem: str | None
    t_start: float
    t_done: float  # time.monotonic() when the client had the whole answer (or gave up)
    ttfb: float | None = None


def _stream_ok(fmt: str, raw: bytes) -> bool:
    if fmt == "anthropic":
        return b"event: message_stop" in raw and b"event: error" not in raw
    return raw.rstrip().endswith(b"data: [DONE]") and b'"error"' not in raw


def _stream_failed_clearly(fmt: str, raw: bytes) -> bool:
    if fmt == "anthropic":
        return b"event: error" in raw
    return b'"error"' in raw and raw.rstrip().endswith(b"data: [DONE]")


def _error_shape_ok(fmt: str, raw: bytes) -> bool:
    try:
        data = json.loads(raw)
    except ValueError:
        return False
    if fmt == "anthropic":
        return data.get("type") == "error" and bool(data.get("error", {}).get("message"))
    return isinstance(data.get("error"), dict) and bool(data["error"].get("message"))


async def send(session: aiohttp.ClientSession, url: str, spec: Spec) -> Outcome:
    t0 = time.monotonic()
    rid: str | None = None
    status: int | None = None
    ttfb: float | None = None
    try:
        async with session.post(
            url + spec.path, data=spec.body(), headers={"content-type": "application/json"}
        ) as resp:
            rid, status, ttfb = resp.headers.get("x-request-id"), resp.status, time.monotonic() - t0
            if spec.disconnect_after:
                seen = 0
                async for line in resp.content:
                    if line.startswith(b"data:"):
                        seen += 1
                        if seen >= spec.disconnect_after:
                            break
                resp.close()  # drop the connection mid-stream
                ok = status == 200 and seen >= spec.disconnect_after
                return Outcome(
                    spec.kind,
                    spec.fmt,
                    rid,
                    status,
                    ok,
                    None if ok else "stream too short",
                    t0,
                    time.monotonic(),
                    ttfb,
                )
            raw = await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Outcome(
            spec.kind,
            spec.fmt,
            rid,
            status,
            False,
            f"{type(exc).__name__}: {exc}"[:200],
            t0,
            time.monotonic(),
            ttfb,
        )
    done = time.monotonic()
    problem = None
    if status != spec.status:
        problem = f"status {status}, expected {spec.status}: {raw[:200]!r}"
    elif spec.stream_error:
        if not _stream_failed_clearly(spec.fmt, raw):
            problem = f"stream did not end in an error event: {raw[-200:]!r}"
    elif spec.stream:
        if not _stream_ok(spec.fmt, raw):
            problem = f"stream incomplete or with an error: {raw[-200:]!r}"
    elif status >= 400:
        if not _error_shape_ok(spec.fmt, raw):
            problem = f"error not in the client's shape: {raw[:200]!r}"
    elif b'"usage"' not in raw:
        problem = f"no usage in reply: {raw[:200]!r}"
    if rid is None:
        problem = problem or "no x-request-id"
    return Outcome(spec.kind, spec.fmt, rid, status, problem is None, problem, t0, done, ttfb)


def client_session(limit: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120, sock_connect=30), trust_env=False
    )


async def run_specs(url: str, specs: list[Spec], concurrency: int, deadline_s: float = 600) -> list[Outcome]:
    """Send every spec, at most `concurrency` at a time; bounded by `deadline_s` seconds."""
    sem = asyncio.Semaphore(concurrency)
    async with client_session(concurrency) as session:

        async def one(spec: Spec) -> Outcome:
            async with sem:
                return await send(session, url, spec)

        return await asyncio.wait_for(asyncio.gather(*(one(s) for s in specs)), deadline_s)


# --- the usage table ----------------------------------------------------------------------------


def read_rows(db: Path) -> dict[str, tuple[int, str | None]]:
    """request_id -> (status, error) for every row not seeded by the soak itself."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return {
            rid: (status, error)
            for rid, status, error in conn.execute(
                "SELECT request_id, status, error FROM usage WHERE request_id NOT LIKE 'seed%'"
            )
        }
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def wait_rows(
    db: Path, expected: int, timeout: float = 10.0
) -> tuple[dict[str, tuple[int, str | None]], float]:
    """The rows once there are `expected` of them (or at the timeout), and how long that took."""
    t0 = time.monotonic()
    while True:
        rows = read_rows(db)
        if len(rows) >= expected or time.monotonic() - t0 > timeout:
            return rows, time.monotonic() - t0
        time.sleep(0.02)


def check_rows(
    outcomes: list[Outcome], specs: list[Spec], rows: dict[str, tuple[int, str | None]]
) -> list[str]:
    """Every request the client got an id for has its row, with an error exactly when expected."""
    problems: list[str] = []
    for out, spec in zip(outcomes, specs, strict=True):
        if out.request_id is None:
            continue
        row = rows.get(out.request_id)
        if row is None:
            problems.append(f"{out.kind} {out.request_id}: no usage row")
            continue
        status, error = row
        if spec.kind == "disconnect":
            if error != "client disconnected":
                problems.append(f"disconnect {out.request_id}: row error {error!r}")
        elif spec.row_error and not error:
            problems.append(f"{spec.kind} {out.request_id}: row without error (status {status})")
        elif not spec.row_error and (error or status != 200):
            problems.append(f"{spec.kind} {out.request_id}: row status {status} error {error!r}")
        elif spec.status != 200 and status != spec.status:
            problems.append(f"{spec.kind} {out.request_id}: row status {status}, client saw {spec.status}")
    return problems


def latency_summary(outcomes: list[Outcome], seconds: float) -> dict[str, Any]:
    lat = sorted(o.t_done - o.t_start for o in outcomes)
    ttfb = sorted(o.ttfb for o in outcomes if o.ttfb is not None)

    def pct(values: list[float], q: float) -> float | None:
        return round(values[min(int(q * len(values)), len(values) - 1)] * 1000, 1) if values else None

    return {
        "requests": len(outcomes),
        "seconds": round(seconds, 2),
        "rps": round(len(outcomes) / seconds, 1) if seconds else None,
        "latency_p50_ms": pct(lat, 0.5),
        "latency_p99_ms": pct(lat, 0.99),
        "ttfb_p50_ms": pct(ttfb, 0.5),
        "ttfb_max_ms": pct(ttfb, 1.0),
    }


# --- (a)+(b): load rounds -------------------------------------------------------------------------


@dataclass
class Settings:
    workers: int = 1
    rounds: int = 2
    streams: int = 300
    stream_seconds: tuple[float, float] = (1.0, 2.0)
    disconnect_fraction: float = 0.1
    requests: int = 5000
    concurrency: int = 50
    fault_fraction: float = 0.05
    crash_concurrency: int = 64
    crash_seconds: float = 3.0
    crash_cycles: int = 3
    reader_requests: int = 2000
    reader_cycles: int = 3
    seed_rows: int = 200_000
    timeout: float = 3.0  # the gateway's first_byte and idle timeouts; slow faults pause 1 s longer
    seed: int = 7
    rss_growth_limit_mb: float = 15.0
    reader_min_ratio: float = 0.75

    @classmethod
    def quick(cls, **overrides: Any) -> Settings:
        base = cls(
            rounds=2,
            streams=60,
            requests=600,
            concurrency=32,
            crash_seconds=1.5,
            crash_cycles=2,
            reader_min_ratio=0.6,
            reader_cycles=2,
            reader_requests=300,
            seed_rows=20_000,
            timeout=1.0,
        )
        for k, v in overrides.items():
            setattr(base, k, v)
        return base


def stream_specs(s: Settings, rng: random.Random) -> list[Spec]:
    specs = []
    for i in range(s.streams):
        fmt = "anthropic" if i % 2 else "openai"
        seconds = rng.uniform(*s.stream_seconds)
        if rng.random() < s.disconnect_fraction:
            specs.append(disconnect(fmt, seconds, after=rng.randint(2, 8)))
        else:
            specs.append(stream(fmt, seconds))
    return specs


def request_specs(s: Settings, rng: random.Random) -> list[Spec]:
    specs = []
    for i in range(s.requests):
        fmt = "anthropic" if i % 2 else "openai"
        if rng.random() < s.fault_fraction:
            specs.append(fault(rng.choice(FAULTS), fmt, s.timeout + 1.0))
        else:
            specs.append(plain(fmt))
    return specs


async def load_rounds(s: Settings, fake_port: int, folder: Path, log: Any = print) -> dict[str, Any]:
    rng = random.Random(s.seed)
    write_config(folder, fake_port, first_byte=s.timeout, idle=s.timeout)
    gw = SoakGateway(folder, s.workers).start()
    result: dict[str, Any] = {"rounds": [], "problems": []}
    try:
        result["start"] = await snapshot(gw, fake_port, settle=0.5)
        # warm-up: one of each kind, so lazy imports and pools exist before the baseline
        warm = [plain("openai"), plain("anthropic"), stream("openai", 0.1, 2), stream("anthropic", 0.1, 2)]
        warm += [fault(name, "openai", s.timeout + 1.0) for name in FAULTS]
        # several passes, each on new connections: with N workers the kernel picks which worker
        # accepts, and a worker that first meets a kind after the baseline opens an fd "late"
        sent = []
        for _ in range(2 * s.workers):
            sent += await run_specs(gw.url, warm, len(warm))
        total_sent = len(sent)
        result["warm_problems"] = [f"{o.kind}: {o.problem}" for o in sent if not o.ok]
        result["baseline"] = await snapshot(gw, fake_port)
        for r in range(s.rounds):
            t0 = time.monotonic()
            sspecs = stream_specs(s, rng)
            overflows = listen_overflows()
            souts = await run_specs(gw.url, sspecs, len(sspecs))
            overflows = listen_overflows() - overflows
            t1 = time.monotonic()
            mid = memory_mb(gw.worker_pids()[0]) if s.workers == 1 else {}
            rspecs = request_specs(s, rng)
            routs = await run_specs(gw.url, rspecs, s.concurrency)
            t2 = time.monotonic()
            total_sent += len(sspecs) + len(rspecs)
            rows, drain = wait_rows(gw.db, total_sent)
            specs, outs = sspecs + rspecs, souts + routs
            unexpected = [f"{o.kind}/{o.fmt}: {o.problem}" for o in outs if not o.ok]
            row_problems = check_rows(outs, specs, rows)
            snap = await snapshot(gw, fake_port)
            rnd = {
                "round": r + 1,
                "streams": {
                    **latency_summary(souts, t1 - t0),
                    "disconnects": sum(1 for sp in sspecs if sp.kind == "disconnect"),
                    "listen_overflows": overflows,
                },
                "requests": {
                    **latency_summary(routs, t2 - t1),
                    "faults": sum(1 for sp in rspecs if sp.kind not in ("plain",)),
                    "plain_latency_p99_ms": latency_summary([o for o in routs if o.kind == "plain"], t2 - t1)[
                        "latency_p99_ms"
                    ],
                },
                "sent_total": total_sent,
                "rows_total": len(rows),
                "rows_equal_requests": len(rows) == total_sent,
                "rows_drain_s": round(drain, 3),
                "unexpected_errors": len(unexpected),
                "row_problems": len(row_problems),
                "rss_mb_after_streams": mid.get("rss_mb"),
                "after": snap,
            }
            result["rounds"].append(rnd)
            result["problems"] += unexpected[:20] + row_problems[:20]
            log(
                f"  round {r + 1}: {len(sspecs)} streams ({rnd['streams']['disconnects']} dropped) in "
                f"{t1 - t0:.1f}s, {len(rspecs)} requests ({rnd['requests']['faults']} faults) at "
                f"{s.concurrency} in {t2 - t1:.1f}s ({rnd['requests']['rps']}/s); "
                f"rows {len(rows)}/{total_sent}; "
                f"unexpected {len(unexpected)}; RSS {snap['rss_mb']} MB (peak {snap['peak_mb']}); "
                f"fds {snap['fds']} (fixed {snap['fixed_fds']}, upstream pool {snap['upstream_fds']}); "
                f"tasks {snap['tasks']}"
            )
        result["sent"] = total_sent
    finally:
        gw.stop()
    result["log_warnings"] = _log_warnings(gw.output())
    return result


def _log_warnings(text: str) -> list[str]:
    keys = ("Traceback", "ERROR", "usage write failed", "dropped", "Unclosed", "Task was destroyed")
    return [line for line in text.splitlines() if any(k in line for k in keys)][:20]


def load_verdict(res: dict[str, Any], s: Settings) -> dict[str, bool]:
    rounds = res["rounds"]
    first, last = rounds[0]["after"], rounds[-1]["after"]
    base = res["baseline"]
    return {
        "rows == requests (every round)": all(r["rows_equal_requests"] for r in rounds),
        "no unexpected client error": all(r["unexpected_errors"] == 0 for r in rounds)
        and not res["warm_problems"],
        "every row's status/error as expected": all(r["row_problems"] == 0 for r in rounds),
        f"RSS flat across rounds (growth < {s.rss_growth_limit_mb} MB)": (
            last["rss_mb"] - first["rss_mb"] < s.rss_growth_limit_mb
        ),
        "fds back to baseline (bar the upstream keep-alive pool)": all(
            r["after"]["fixed_fds"] == base["fixed_fds"] and r["after"]["client_fds"] == 0 for r in rounds
        ),
        "no socket left in CLOSE_WAIT": all(r["after"]["close_wait"] == 0 for r in rounds),
        "no upstream connection held or lost when idle": all(
            r["after"]["upstream_in_use"] == 0 and r["after"]["upstream_unaccounted"] == 0 for r in rounds
        ),
        "upstream pool <= peak concurrency": all(
            r["after"]["upstream_fds"] <= max(s.streams, s.concurrency) + 10 for r in rounds
        ),
        "asyncio tasks back to baseline": all(r["after"]["tasks"] <= base["tasks"] for r in rounds),
        "no failed usage writes": all(r["after"]["rows_failed"] == 0 for r in rounds),
    }


# --- (c): kill -9 under load ----------------------------------------------------------------------


async def _load_until_kill(s: Settings, gw: SoakGateway, rng: random.Random) -> dict[str, Any]:
    """Mixed load at s.crash_concurrency, then kill -9 of every gateway process."""
    outcomes: list[Outcome] = []
    stop = asyncio.Event()

    async def client(i: int, session: aiohttp.ClientSession) -> None:
        n = 0
        while not stop.is_set() and n < 100_000:
            n += 1
            fmt = "anthropic" if (i + n) % 2 else "openai"
            spec = stream(fmt, rng.uniform(0.1, 0.5), 5) if rng.random() < 0.1 else plain(fmt)
            outcomes.append(await send(session, gw.url, spec))

    async with client_session(s.crash_concurrency) as session:
        tasks = [asyncio.create_task(client(i, session)) for i in range(s.crash_concurrency)]
        await asyncio.sleep(s.crash_seconds + rng.uniform(0, 0.5))
        t_kill, wall_kill = time.monotonic(), time.time()
        pids = gw.kill9()
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
    return {"outcomes": outcomes, "t_kill": t_kill, "wall_kill": wall_kill, "pids": pids}


def newest_put(db: Path) -> float | None:
    """The newest committed row's hand-over time to the writer (start + latency), epoch seconds."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        ts, latency = conn.execute(
            "SELECT ts, latency_ms FROM usage WHERE request_id NOT LIKE 'seed%' "
            "ORDER BY julianday(ts) * 86400000.0 + latency_ms DESC LIMIT 1"
        ).fetchone() or (None, None)
    finally:
        conn.close()
    if ts is None:
        return None
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() + (latency or 0) / 1000


async def crash_run(s: Settings, fake_port: int, folder: Path, log: Any = print) -> dict[str, Any]:
    """s.crash_cycles times: start the gateway on the same file, load it, kill -9, inspect."""
    rng = random.Random(s.seed + 1)
    write_config(folder, fake_port, first_byte=s.timeout, idle=s.timeout)
    db = folder / "usage.db"
    kills: list[dict[str, Any]] = []
    window = FLUSH_SECONDS + 0.05
    for cycle in range(s.crash_cycles):
        gw = SoakGateway(folder, s.workers).start()
        run = await _load_until_kill(s, gw, rng)
        outcomes, t_kill = run["outcomes"], run["t_kill"]
        completed = {o.request_id: o for o in outcomes if o.ok and o.t_done <= t_kill and o.request_id}
        rows = read_rows(db)
        lost = [completed[rid] for rid in completed.keys() - rows.keys()]
        ages = sorted(round(t_kill - o.t_done, 3) for o in lost)
        started = min((o.t_start for o in outcomes), default=t_kill)
        put = newest_put(db)
        kill = {
            "cycle": cycle + 1,
            "killed_pids": run["pids"],
            "requests_sent": len(outcomes),
            "completed_before_kill": len(completed),
            "client_errors_at_kill": sum(1 for o in outcomes if not o.ok),
            "requests_per_s": round(len(completed) / max(t_kill - started, 1e-9), 1),
            "rows_in_db": len(rows),
            "rows_lost": len(lost),
            "max_lost_age_s": ages[-1] if ages else 0.0,
            "lost_ages_s": ages[:50],
            "completed_in_last_flush_window": sum(
                1 for o in completed.values() if t_kill - o.t_done <= window
            ),
            "newest_committed_row_age_s": round(run["wall_kill"] - put, 3) if put else None,
            **inspect_db(db),
        }
        kills.append(kill)
        log(
            f"  kill -9 #{cycle + 1}: {len(completed)} requests completed at "
            f"{s.crash_concurrency} concurrent "
            f"({kill['requests_per_s']}/s); lost {len(lost)} (max age {kill['max_lost_age_s']}s; "
            f"{kill['completed_in_last_flush_window']} completed in the last {window:.2f}s; "
            f"newest committed row "
            f"handed over {kill['newest_committed_row_age_s']}s before the kill); integrity "
            f"{kill['integrity_check']}; duckdb rows {kill['duckdb_rows']} / sqlite {kill['sqlite_rows']}"
        )

    rows = read_rows(db)
    gw = SoakGateway(folder, s.workers).start()  # the same file after the crashes: writes go on
    try:
        again = await run_specs(gw.url, [plain("openai"), plain("anthropic")] * 10, 8)
        rows_after, _ = wait_rows(db, len(rows) + len(again))
    finally:
        gw.stop()
    return {
        "concurrency": s.crash_concurrency,
        "kills": kills,
        "completed_before_kill": sum(k["completed_before_kill"] for k in kills),
        "rows_lost": sum(k["rows_lost"] for k in kills),
        "rows_lost_per_kill": [k["rows_lost"] for k in kills],
        "max_lost_age_s": max((k["max_lost_age_s"] for k in kills), default=0.0),
        "requests_per_s": round(statistics.mean(k["requests_per_s"] for k in kills), 1),
        "integrity_check": "ok" if all(k["integrity_check"] == "ok" for k in kills) else "FAILED",
        "duckdb_agrees": all(k["duckdb_agrees"] for k in kills),
        "duckdb_error": next((k["duckdb_error"] for k in kills if k["duckdb_error"]), None),
        "bound": f"rows handed to the writer in the last {FLUSH_SECONDS}s plus the commit in flight "
        f"(at most {BATCH} per worker while the writer keeps up)",
        "restart_rows_ok": len(rows_after) == len(rows) + len(again) and all(o.ok for o in again),
    }


DUCKDB_COUNT = """
import json, sys, duckdb
con = duckdb.connect()
try:
    con.execute("LOAD sqlite")
except duckdb.Error as exc:
    print(json.dumps({"error": f"sqlite extension unavailable: {exc}"})); sys.exit(0)
con.execute(f"ATTACH '{sys.argv[1]}' AS u (TYPE sqlite, READ_ONLY)")
n, cost = con.execute("SELECT count(*), sum(cost_pico_usd) FROM u.usage").fetchone()
print(json.dumps({"rows": n, "cost_pico": int(cost or 0)}))
"""


def inspect_db(db: Path) -> dict[str, Any]:
    """After a crash: what a read-only sqlite3 reader sees, integrity, and a DuckDB read."""
    out: dict[str, Any] = {"wal_bytes_after_crash": _size(db.with_name(db.name + "-wal"))}
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        out["sqlite_rows"], out["sqlite_cost_pico"] = ro.execute(
            "SELECT count(*), coalesce(sum(cost_pico_usd), 0) FROM usage"
        ).fetchone()
        out["integrity_check"] = ro.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        ro.close()
    done = subprocess.run(
        [sys.executable, "-c", DUCKDB_COUNT, str(db)], capture_output=True, text=True, timeout=120
    )
    try:
        duck = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        duck = {"error": (done.stderr or done.stdout)[-300:]}
    out["duckdb_rows"] = duck.get("rows")
    out["duckdb_error"] = duck.get("error")
    out["duckdb_agrees"] = (
        duck.get("rows") == out["sqlite_rows"] and duck.get("cost_pico") == out["sqlite_cost_pico"]
    )
    return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def crash_verdict(res: dict[str, Any], s: Settings) -> dict[str, bool]:
    return {
        "integrity_check ok after every kill -9": res["integrity_check"] == "ok",
        "DuckDB reads the same rows as sqlite3": res["duckdb_agrees"] or bool(res["duckdb_error"]),
        f"rows lost only from the last flush window (age <= {FLUSH_SECONDS}s + 0.3s)": (
            res["max_lost_age_s"] <= FLUSH_SECONDS + 0.3
        ),
        f"rows lost <= {BATCH} per worker per kill": max(res["rows_lost_per_kill"]) <= BATCH * s.workers,
        "restart on the same file writes on": res["restart_rows_ok"],
    }


# --- (d): readers never block the writer ---------------------------------------------------------


def seed_rows(db: Path, n: int) -> None:
    """`n` plausible rows (request_id 'seed...'), so that readers' scans take real time."""
    from gateway import db as gwdb

    conn = gwdb.connect(db)
    rng = random.Random(1)
    conn.execute("BEGIN")
    for start in range(0, n, 10_000):
        batch = []
        for i in range(start, min(start + 10_000, n)):
            cost = rng.randint(10**6, 10**10)
            row = {
                "ts": f"2026-01-{1 + i % 28:02d}T00:00:00.000Z",
                "request_id": f"seed{i}",
                "client_format": "openai",
                "provider": "openai",
                "model": OPENAI_MODEL,
                "provider_model": OPENAI_MODEL,
                "stream": 0,
                "status": 200,
                "input_tokens": 1500,
                "cache_read_tokens": 5000,
                "cache_write_tokens": 0,
                "output_tokens": 250,
                "reasoning_tokens": 100,
                "cost_usd": cost / 1e12,
                "latency_ms": 12.5,
                "ttft_ms": 12.5,
                "cost_pico_usd": cost,
                "cost_source": "price_table",
                "price_version": "v1",
                "cache_write_1h_tokens": 0,
            }
            batch.append(tuple(row.get(c) for c in gwdb.USAGE_COLUMNS))  # absent -> NULL
        conn.executemany(gwdb.insert_sql(), batch)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def run_reader(kind: str, db: str, seconds: float) -> None:
    """A reader process: loop a query (or hold a read transaction) until SIGTERM or `seconds`."""
    os.nice(10)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    times: list[float] = []
    out: dict[str, Any] = {"kind": kind}
    deadline = time.monotonic() + seconds
    query = "SELECT count(*), sum(cost_pico_usd) FROM usage"
    if kind == "duckdb":
        import duckdb

        con = duckdb.connect()
        try:
            con.execute("LOAD sqlite")
        except duckdb.Error as exc:
            print(json.dumps({"kind": kind, "error": str(exc)}), flush=True)
            return
        con.execute(f"ATTACH '{db}' AS u (TYPE sqlite, READ_ONLY)")
        run = lambda: con.execute(query.replace("usage", "u.usage")).fetchone()  # noqa: E731
    else:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None, timeout=10)
        if kind == "hold":  # one read transaction, open the whole time
            conn.execute("BEGIN")
            out["snapshot_rows"] = conn.execute(query).fetchone()[0]
        run = lambda: conn.execute(query).fetchone()  # noqa: E731
    print("READY", flush=True)
    while not stop["now"] and time.monotonic() < deadline:
        t0 = time.perf_counter()
        rows = run()
        times.append(time.perf_counter() - t0)
        out["last_rows"] = rows[0]
        time.sleep(0.2 if kind == "hold" else 0.005)
    out.update(
        queries=len(times),
        mean_ms=round(statistics.mean(times) * 1000, 2) if times else None,
        max_ms=round(max(times) * 1000, 2) if times else None,
    )
    print(json.dumps(out), flush=True)


class Readers:
    """Reader processes on `db`: each prints READY once it holds its connection, JSON stats at the end."""

    def __init__(self, db: Path, kinds: tuple[str, ...] = ("sqlite", "hold", "duckdb"), seconds: float = 600):
        self.errors: list[dict[str, Any]] = []
        self.procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.soak",
                    "--reader",
                    kind,
                    "--db",
                    str(db),
                    "--reader-seconds",
                    str(seconds),
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            for kind in kinds
        ]
        for p, kind in zip(self.procs, kinds, strict=True):  # bounded wait for each to be ready
            assert p.stdout is not None
            ready, _, _ = select.select([p.stdout], [], [], 30)
            line = p.stdout.readline() if ready else ""
            if line.strip() != "READY":
                self.errors.append({"kind": kind, "error": f"reader did not start: {line.strip()[:300]!r}"})

    def stop(self) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                text, _ = p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                text, _ = p.communicate(timeout=5)
            try:
                results.append(json.loads(text.strip().splitlines()[-1]))
            except (ValueError, IndexError):
                results.append({"error": text[-300:]})
        return results + self.errors


READER_CYCLE = ("none", "live", "copy")


async def commit_stats(gw: SoakGateway, reset: bool = False) -> dict[str, Any]:
    """The writer threads' batch commits since the last reset (bench/soak_probe.py), all workers."""
    seen: dict[int, dict[str, Any]] = {}
    query = "?reset=1" if reset else ""
    for _ in range(1 if gw.workers == 1 else 8 * gw.workers):
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.get(gw.url + "/_soak/stats" + query, headers={"connection": "close"}) as resp,
        ):
            data = await resp.json()
        seen.setdefault(data["pid"], data["commit"])
        if len(seen) >= gw.workers:
            break
    parts = list(seen.values())
    timed = [p for p in parts if p["commits"]]
    return {
        "commits": sum(p["commits"] for p in parts),
        "rows": sum(p["rows"] for p in parts),
        "p50_ms": max((p["p50_ms"] for p in timed), default=None),
        "p99_ms": max((p["p99_ms"] for p in timed), default=None),
        "max_ms": max((p["max_ms"] for p in timed), default=None),
    }


async def reader_run(s: Settings, fake_port: int, folder: Path, log: Any = print) -> dict[str, Any]:
    """Requests/s and the writer's commit times without readers, with readers on the live file, and
    with the same readers on a copy of it (the control: the same CPU taken from the gateway, no
    shared file), in s.reader_cycles interleaved cycles (so that a machine's drifting load is shared)."""
    write_config(folder, fake_port, first_byte=s.timeout, idle=s.timeout)
    db = folder / "usage.db"
    t0 = time.monotonic()
    seed_rows(db, s.seed_rows)
    copy = folder / "copy.db"
    shutil.copyfile(db, copy)
    seeded_s = time.monotonic() - t0
    gw = SoakGateway(folder, s.workers).start()
    phases: list[dict[str, Any]] = []
    sent = 0
    try:
        await run_specs(gw.url, [plain("openai"), plain("anthropic")] * 20, 16)  # warm-up
        sent += 40
        wait_rows(db, sent)
        for name in READER_CYCLE * s.reader_cycles:
            readers = Readers(db if name == "live" else copy) if name != "none" else None
            specs = [plain("anthropic" if i % 2 else "openai") for i in range(s.reader_requests)]
            await commit_stats(gw, reset=True)
            t1 = time.monotonic()
            outs = await run_specs(gw.url, specs, s.concurrency)
            t2 = time.monotonic()
            sent += len(specs)
            rows, drain = wait_rows(db, sent)
            commits = await commit_stats(gw)
            wal = _size(db.with_name(db.name + "-wal"))
            reader_stats = readers.stop() if readers else []
            phase = {
                "readers": name,
                **latency_summary(outs, t2 - t1),
                "unexpected_errors": sum(1 for o in outs if not o.ok),
                "rows_equal_requests": len(rows) == sent,
                "rows_drain_s": round(drain, 3),
                "commit": commits,
                "wal_bytes": wal,
                "reader_stats": reader_stats,
            }
            phases.append(phase)
            log(
                f"  readers {name:>4}: {len(specs)} requests at {s.concurrency} -> {phase['rps']}/s, "
                f"p99 {phase['latency_p99_ms']} ms; commits {commits['commits']} "
                f"(p50 {commits['p50_ms']} ms, "
                f"max {commits['max_ms']} ms); rows {len(rows)}/{sent} (all visible {drain:.2f}s after "
                f"the last reply); WAL {wal // 1024} KiB"
                + "".join(
                    f"; {r.get('kind')}: {r.get('queries')} q, mean {r.get('mean_ms')} ms"
                    + (
                        f" (snapshot {r.get('snapshot_rows')}->{r.get('last_rows')})"
                        if r.get("kind") == "hold"
                        else ""
                    )
                    + (f" ERROR {r['error'][:80]}" if "error" in r else "")
                    for r in reader_stats
                )
            )
        stats = await snapshot(gw, fake_port, settle=0.3)
    finally:
        gw.stop()

    def of(kind: str) -> list[dict[str, Any]]:
        return [p for p in phases if p["readers"] == kind]

    def per_cycle(other: str) -> list[float]:
        cycles = [phases[i : i + len(READER_CYCLE)] for i in range(0, len(phases), len(READER_CYCLE))]
        ratios = []
        for cycle in cycles:
            by = {p["readers"]: p["rps"] for p in cycle}
            if by.get("live") and by.get(other):
                ratios.append(round(by["live"] / by[other], 3))
        return ratios

    kinds = ("none", "copy", "live")
    rps = {k: round(statistics.median(p["rps"] for p in of(k)), 1) for k in kinds}
    commit_p50 = {k: round(statistics.median(p["commit"]["p50_ms"] or 0 for p in of(k)), 2) for k in kinds}
    commit_max = {k: max(p["commit"]["max_ms"] or 0 for p in of(k)) for k in kinds}
    return {
        "seed_rows": s.seed_rows,
        "seed_seconds": round(seeded_s, 1),
        "phases": phases,
        "rps_median": rps,
        "p99_ms_worst": {k: max(p["latency_p99_ms"] for p in of(k)) for k in kinds},
        "commit_p50_ms_median": commit_p50,
        "commit_max_ms": commit_max,
        # per cycle (adjacent phases, so that the machine's drifting load mostly cancels), then the median
        "rps_live_vs_none_per_cycle": per_cycle("none"),
        "rps_live_vs_copy_per_cycle": per_cycle("copy"),
        "rps_live_vs_none": round(statistics.median(per_cycle("none")), 3),
        "rps_live_vs_copy": round(statistics.median(per_cycle("copy")), 3),
        "max_drain_s_with_live_readers": max(p["rows_drain_s"] for p in of("live")),
        "max_wal_bytes": max(p["wal_bytes"] for p in phases),
        "rows_failed": stats["rows_failed"],
        "log_warnings": _log_warnings(gw.output()),
    }


def reader_verdict(res: dict[str, Any], s: Settings) -> dict[str, bool]:
    phases = res["phases"]
    live = [r for p in phases if p["readers"] == "live" for r in p["reader_stats"]]
    holds = [r for r in live if r.get("kind") == "hold"]
    p50, top = res["commit_p50_ms_median"], res["commit_max_ms"]
    return {
        "rows == requests in every phase": all(p["rows_equal_requests"] for p in phases),
        "no unexpected client error": all(p["unexpected_errors"] == 0 for p in phases),
        "no failed usage writes": res["rows_failed"] == 0
        and not any("usage write" in w for w in res["log_warnings"]),
        "readers ran (no reader error)": all("error" not in r and r.get("queries", 0) > 0 for r in live),
        "a held read transaction kept its snapshot while rows were written": bool(holds)
        and all(r.get("last_rows") == r.get("snapshot_rows") for r in holds),
        f"rows committed within {FLUSH_SECONDS}s + 0.5s with readers on": (
            res["max_drain_s_with_live_readers"] <= FLUSH_SECONDS + 0.5
        ),
        "no commit waited on a reader (live readers: median commit <= 3x + 2 ms, max < 1 s)": (
            p50["live"] <= 3 * p50["none"] + 2 and top["live"] < 1000
        ),
        f"requests/s with readers on the live file >= {s.reader_min_ratio} x with them on a copy "
        "(median of the cycles)": (res["rps_live_vs_copy"] >= s.reader_min_ratio),
    }


# --- the whole run ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import sqlite3 as _sqlite

    import sanic

    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem,
        "python": platform.python_version(),
        "sanic": sanic.__version__,
        "aiohttp": aiohttp.__version__,
        "sqlite": _sqlite.sqlite_version,
    }


async def run_all(s: Settings, only: set[str], workdir: Path, log: Any = print) -> dict[str, Any]:
    report: dict[str, Any] = {"machine": machine(), "settings": asdict(s), "verdicts": {}}
    with FakeProcess() as fake:
        if "load" in only:
            log(
                f"load: {s.rounds} rounds of {s.streams} concurrent streams + {s.requests} requests "
                f"at {s.concurrency}, {s.workers} worker(s)"
            )
            report["load"] = await load_rounds(s, fake.port, workdir / "load", log)
            report["verdicts"]["load"] = load_verdict(report["load"], s)
        if "crash" in only:
            log(f"crash: load at {s.crash_concurrency} concurrent, kill -9 after ~{s.crash_seconds}s")
            report["crash"] = await crash_run(s, fake.port, workdir / "crash", log)
            report["verdicts"]["crash"] = crash_verdict(report["crash"], s)
        if "reader" in only:
            log(f"readers: {s.seed_rows} seeded rows, {s.reader_requests} requests per phase")
            report["reader"] = await reader_run(s, fake.port, workdir / "reader", log)
            report["verdicts"]["reader"] = reader_verdict(report["reader"], s)
    report["ok"] = all(all(v.values()) for v in report["verdicts"].values())
    return report


def print_summary(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(
        f"\n== soak summary ({m['date']}, {m['cores']} cores, {m['cpu']}, python {m['python']}, "
        f"sqlite {m['sqlite']}) =="
    )
    load = report.get("load")
    if load:
        b = load["baseline"]
        print(
            f"load: {load['sent']} requests; start RSS {load['start']['rss_mb']} MB, after warm-up "
            f"{b['rss_mb']} MB, fds {b['fds']}, tasks {b['tasks']}"
        )
        for r in load["rounds"]:
            a = r["after"]
            print(
                f"  round {r['round']}: streams {r['streams']['requests']} "
                f"(p50 {r['streams']['latency_p50_ms']} ms, "
                f"ttfb max {r['streams']['ttfb_max_ms']} ms, "
                f"listen overflows {r['streams']['listen_overflows']}), "
                f"requests {r['requests']['requests']} ({r['requests']['rps']}/s, p99 "
                f"{r['requests']['latency_p99_ms']} ms, "
                f"without faults {r['requests']['plain_latency_p99_ms']} ms); rows "
                f"{r['rows_total']}/{r['sent_total']}; RSS {a['rss_mb']} MB peak {a['peak_mb']} MB; "
                f"fds {a['fds']} (fixed {a['fixed_fds']}, client {a['client_fds']}, upstream pool "
                f"{a['upstream_fds']}); tasks {a['tasks']}; gc objects {a['gc_objects']}"
            )
        for p in load["problems"][:10]:
            print(f"    problem: {p}")
        for w in load["log_warnings"][:5]:
            print(f"    log: {w}")
    crash = report.get("crash")
    if crash:
        print(
            f"crash: {len(crash['kills'])} x kill -9 under load at {crash['concurrency']} concurrent "
            f"({crash['requests_per_s']}/s): {crash['completed_before_kill']} requests completed before the "
            f"kills, rows lost per kill {crash['rows_lost_per_kill']} (max age {crash['max_lost_age_s']} s); "
            f"integrity_check {crash['integrity_check']}; DuckDB agrees {crash['duckdb_agrees']}"
            f"{' (' + crash['duckdb_error'] + ')' if crash['duckdb_error'] else ''}; restart ok "
            f"{crash['restart_rows_ok']}"
        )
        for k in crash["kills"]:
            print(
                f"  kill #{k['cycle']}: completed {k['completed_before_kill']}, lost {k['rows_lost']}, "
                f"completed in the last flush window {k['completed_in_last_flush_window']}, "
                f"newest committed row "
                f"handed over {k['newest_committed_row_age_s']} s before the kill, WAL "
                f"{k['wal_bytes_after_crash'] // 1024} KiB"
            )
        print(f"  bound: {crash['bound']}")
    reader = report.get("reader")
    if reader:
        r, p99, cp, cm = (
            reader["rps_median"],
            reader["p99_ms_worst"],
            reader["commit_p50_ms_median"],
            reader["commit_max_ms"],
        )
        print(
            f"readers: {reader['seed_rows']} seeded rows, {len(reader['phases'])} interleaved phases; median "
            f"requests/s: none {r['none']}, readers on a copy {r['copy']}, "
            f"readers on the live file {r['live']}; live/copy per cycle "
            f"{reader['rps_live_vs_copy_per_cycle']} (median {reader['rps_live_vs_copy']}), "
            f"live/none per cycle {reader['rps_live_vs_none_per_cycle']} "
            f"(median {reader['rps_live_vs_none']}); worst p99 ms {p99}"
        )
        print(
            f"  usage writer commits: median p50 ms {cp}, max ms {cm}; rows visible within "
            f"{reader['max_drain_s_with_live_readers']} s of the last reply; WAL up to "
            f"{reader['max_wal_bytes'] // 1024} KiB (a held read transaction stops checkpoints)"
        )
    for part, verdicts in report["verdicts"].items():
        for name, ok in verdicts.items():
            print(f"  [{'PASS' if ok else 'FAIL'}] {part}: {name}")
    print("OK" if report["ok"] else "FAILED")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small numbers (~30 s)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--rounds", type=int)
    p.add_argument("--streams", type=int, help="concurrent streams per round (300)")
    p.add_argument("--requests", type=int, help="non-streaming requests per round (5000)")
    p.add_argument("--concurrency", type=int, help="for the non-streaming requests (50)")
    p.add_argument("--disconnect-fraction", type=float)
    p.add_argument("--fault-fraction", type=float)
    p.add_argument("--crash-concurrency", type=int)
    p.add_argument("--crash-seconds", type=float)
    p.add_argument("--crash-cycles", type=int)
    p.add_argument("--reader-requests", type=int)
    p.add_argument("--reader-cycles", type=int, help="cycles of (none, live, copy) reader phases (3)")
    p.add_argument("--seed-rows", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--only", default="load,crash,reader", help="comma-separated: load, crash, reader")
    p.add_argument("--json", type=Path, help="write every figure here")
    p.add_argument("--keep", action="store_true", help="keep the work folder (databases, gateway logs)")
    # internal: the fake provider and the reader processes
    p.add_argument("--fake-serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--reader", help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    p.add_argument("--reader-seconds", type=float, default=600, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.fake_serve:
        serve_fake()
        return 0
    if args.reader:
        run_reader(args.reader, args.db, args.reader_seconds)
        return 0
    overrides = {
        k: v
        for k, v in vars(args).items()
        if v is not None and k in Settings.__dataclass_fields__ and k != "workers"
    }
    s = Settings.quick(**overrides) if args.quick else Settings(**overrides)
    s.workers = args.workers
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    workdir = Path(tempfile.mkdtemp(prefix="ekai-soak-"))
    try:
        report = asyncio.run(run_all(s, only, workdir))
    finally:
        if args.keep:
            print(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_summary(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
