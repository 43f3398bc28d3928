"""How much does the gateway add? Latency, throughput and memory against a fast fake upstream.

    PYTHONPATH=$PWD .venv/bin/python bench/bench.py [--quick] [--pin [on|off|both]] [--workers N]
                                                     [--json PATH] [--concurrency C] ...

One pass: start the fake upstream (bench/fake_upstream.py, own process) and a real gateway
(`python -m gateway serve`, usage logging on, prices loaded so costs are computed) in a temp
folder; warm both up; then for each scenario (OpenAI and Anthropic, non-streaming and streaming)
measure the DIRECT path (load generator -> fake) and the GATEWAY path (load generator ->
gateway -> fake):

- sequential: one request at a time, direct and gateway interleaved in rounds, p50/p99 of the
  total time and, for streams, of the time to the first body byte (TTFB);
- concurrent: C requests in flight (default 32) for a bounded time and count, req/s and p50/p99,
  with the CPU each process used (so a saturated load generator is visible, not hidden).

Reported: gateway minus direct ("added", ms) and gateway / direct (ratios), the gateway's RSS
(after start, after warm-up, at the end) and peak RSS (VmHWM), and a check that the usage table
has exactly one row per request sent to the gateway, each with a cost. Exit status 1 when that
check fails or requests failed; the latency/throughput targets are reported, not enforced.

The load generator is an aiohttp ClientSession in this process, under uvloop, with keep-alive
connections and a connector limit equal to the concurrency. `--pin` pins the gateway to core 0
and the fake and this process to core 1 (sched_setaffinity, as `taskset` does); with `--database`
on a local PostgreSQL server, the server's processes go to core 1 too (a database on its own
machine would not share the gateway's core), and back afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Targets from the issue (2-core machine, one worker, OpenAI non-streaming).
TARGET_ADDED_P50_MS = 1.0
TARGET_RPS = 1500.0

SYSTEM = "You are a concise assistant. Answer in one short sentence."
QUESTION = "Is Santa real? Answer briefly, and say why people tell the story to children."


@dataclass(frozen=True)
class Scenario:
    name: str
    fmt: str  # 'openai' | 'anthropic' | 'responses'
    stream: bool
    model: str

    def body(self) -> bytes:
        if self.fmt == "responses":
            data: dict[str, Any] = {
                "model": self.model,
                "instructions": SYSTEM,
                "input": QUESTION,
                "max_output_tokens": 256,
                "temperature": 0.2,
            }
            if self.stream:
                data["stream"] = True
            return json.dumps(data, separators=(",", ":")).encode()
        if self.fmt == "openai":
            data = {
                "model": self.model,
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": QUESTION},
                ],
                "max_tokens": 256,
                "temperature": 0.2,
            }
            if self.stream:
                data["stream"] = True
                data["stream_options"] = {"include_usage": True}  # same bytes on both paths
        else:
            data = {
                "model": self.model,
                "max_tokens": 256,
                "system": SYSTEM,
                "messages": [{"role": "user", "content": QUESTION}],
                "temperature": 0.2,
            }
            if self.stream:
                data["stream"] = True
        return json.dumps(data, separators=(",", ":")).encode()

    def headers(self) -> dict[str, str]:
        """What real clients send, identity included (gateway.identity reads it on every request):
        Anthropic as Claude Code with its session header, OpenAI as the Python SDK with
        x-ekai-session and x-ekai-tags."""
        h = {"content-type": "application/json"}
        if self.fmt == "anthropic":
            h["anthropic-version"] = "2023-06-01"
            h["user-agent"] = "claude-cli/2.1.332 (external, sdk-cli)"
            h["x-claude-code-session-id"] = "2a44ca10-4665-4db6-93c1-565666213fa7"
        else:
            h["user-agent"] = "OpenAI/Python 3.63.0"
            h["x-ekai-session"] = "bench-session-1"
            h["x-ekai-tags"] = "team=bench,env=local"
        return h

    def gateway_path(self) -> str:
        return {"openai": "/v1/chat/completions", "responses": "/v1/responses"}.get(self.fmt, "/v1/messages")

    def direct_path(self) -> str:
        paths = {"openai": "/openai/v1/chat/completions", "responses": "/openai/v1/responses"}
        return paths.get(self.fmt, "/anthropic/v1/messages")

    def complete(self, tail: bytes) -> bool:
        """Did the reply end the way a good reply of this kind ends?"""
        if not self.stream:
            return tail.endswith(b"}")
        if self.fmt == "openai":
            return tail.endswith(b"data: [DONE]\n\n")
        if self.fmt == "responses":
            return tail.endswith(b'"status":"completed"}}\n\n')  # response.completed (fake_upstream)
        return b"message_stop" in tail


SCENARIOS = [
    Scenario("openai", "openai", False, "gpt-4o-mini"),
    Scenario("openai-stream", "openai", True, "gpt-4o-mini"),
    Scenario("anthropic", "anthropic", False, "claude-haiku-4-5"),
    Scenario("anthropic-stream", "anthropic", True, "claude-haiku-4-5"),
]
# Responses API passthrough (OpenAI client -> a provider serving /responses): only when asked for
# with --scenario, so default runs stay comparable with trees that predate the route.
EXTRA_SCENARIOS = [
    Scenario("responses", "responses", False, "gpt-4o-mini"),
    Scenario("responses-stream", "responses", True, "gpt-4o-mini"),
]


# --- statistics -----------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


@dataclass
class Sample:
    total_ms: list[float] = field(default_factory=list)
    ttfb_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    elapsed_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # process -> % of one core

    @property
    def count(self) -> int:
        return len(self.total_ms)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requests": self.count,
            "errors": self.errors,
            "p50_ms": pct(self.total_ms, 50),
            "p99_ms": pct(self.total_ms, 99),
            "mean_ms": sum(self.total_ms) / self.count if self.count else None,
        }
        if self.ttfb_ms:
            out["ttfb_p50_ms"] = pct(self.ttfb_ms, 50)
            out["ttfb_p99_ms"] = pct(self.ttfb_ms, 99)
        if self.elapsed_s:
            out["elapsed_s"] = self.elapsed_s
            out["rps"] = self.count / self.elapsed_s
        if self.cpu:
            out["cpu_percent"] = self.cpu
            if self.count and "gateway" in self.cpu:
                # CPU time the gateway spent per request: robust to other load on the machine
                out["gateway_cpu_us_per_request"] = (
                    self.cpu["gateway"] / 100 * self.elapsed_s / self.count * 1e6
                )
        if self.first_error:
            out["first_error"] = self.first_error
        return out


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pin(cores: set[int] | None):
    if not cores:
        return None
    return lambda: os.sched_setaffinity(0, cores)


def descendants(pid: int) -> list[int]:
    """pid and every process below it (Sanic's workers when --workers > 1)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime, all threads
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def memory_kb(pids: list[int]) -> dict[str, int]:
    """VmRSS, VmHWM (peak RSS) and RssAnon, summed over the processes."""
    out = {"VmRSS": 0, "VmHWM": 0, "RssAnon": 0}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in out:
                        out[key] += int(value.split()[0])
        except OSError:
            pass
    return out


class Fake:
    def __init__(self, chunks: int, cores: set[int] | None, first_gap_ms: float = 1.0, delay_ms: float = 0.0):
        self.chunks = chunks
        self.first_gap_ms = first_gap_ms
        self.delay_ms = delay_ms
        self.cores = cores
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> Fake:
        cmd = [sys.executable, str(HERE / "fake_upstream.py"), "--chunks", str(self.chunks)]
        cmd += ["--first-gap-ms", str(self.first_gap_ms), "--chunk-delay-ms", str(self.delay_ms)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, preexec_fn=_pin(self.cores))
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until READY (or EOF if it died)
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError(f"fake upstream did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


PROVIDER_KEYS = {
    "EKAI_BENCH_OPENAI_KEY": "bench-openai-key",
    "EKAI_BENCH_ANTHROPIC_KEY": "bench-anthropic-key",
}


BENCH_GATEWAY_KEY = "bench-gateway-key"
# --limits: `auth` = one gateway key (short form); `on` = the same key with a budget, rpm, tpm and
# an allowlist none of which a bench run reaches, plus a gateway-wide budget: the cost of checking.
LIMITS_YAML = {
    "none": "",
    "auth": "auth:\n  keys:\n    bench: EKAI_BENCH_GATEWAY_KEY\n",
    "on": (
        "auth:\n  keys:\n    bench:\n      env: EKAI_BENCH_GATEWAY_KEY\n"
        "      budget: {daily_usd: 1000000, monthly_usd: 10000000}\n"
        "      limits: {rpm: 1000000, tpm: 1000000000000}\n"
        '      models: ["gpt-*", "claude-*", "o*"]\n'
        "  budget: {daily_usd: 1000000, monthly_usd: 10000000}\n"
    ),
    # one part of `on` each, to tell which check costs what
    "budget": (
        "auth:\n  keys:\n    bench:\n      env: EKAI_BENCH_GATEWAY_KEY\n"
        "      budget: {daily_usd: 1000000, monthly_usd: 10000000}\n"
    ),
    "rate": (
        "auth:\n  keys:\n    bench:\n      env: EKAI_BENCH_GATEWAY_KEY\n"
        "      limits: {rpm: 1000000, tpm: 1000000000000}\n"
    ),
    "models": (
        "auth:\n  keys:\n    bench:\n      env: EKAI_BENCH_GATEWAY_KEY\n"
        '      models: ["gpt-*", "claude-*", "o*"]\n'
    ),
    # bench/limits_cost.py: a plain key and a limited one in ONE gateway, measured in turns
    "pair": (
        "auth:\n  keys:\n    bench: EKAI_BENCH_GATEWAY_KEY\n    limited:\n      env: EKAI_BENCH_LIMITED_KEY\n"
        "      budget: {daily_usd: 1000000, monthly_usd: 10000000}\n"
        "      limits: {rpm: 1000000, tpm: 1000000000000}\n"
        '      models: ["gpt-*", "claude-*", "o*"]\n'
        "    only_budget:\n      env: EKAI_BENCH_LIMITED_KEY_BUDGET\n"
        "      budget: {daily_usd: 1000000, monthly_usd: 10000000}\n"
        "    only_rate:\n      env: EKAI_BENCH_LIMITED_KEY_RATE\n"
        "      limits: {rpm: 1000000, tpm: 1000000000000}\n"
        "    only_models:\n      env: EKAI_BENCH_LIMITED_KEY_MODELS\n"
        '      models: ["gpt-*", "claude-*", "o*"]\n'
    ),
}
BENCH_LIMITED_KEY = "bench-limited-key"  # + "-budget", "-rate", "-models": one part each


def write_config(
    folder: Path, fake: Fake, port: int, limits: str = "none", extra: str = "", database: str = "usage.db"
) -> Path:
    """ekai.yaml + the shipped price tables: two providers on the fake, the others removed."""
    pricing = folder / "pricing"
    pricing.mkdir(exist_ok=True)
    for table in (ROOT / "pricing").glob("*.yaml"):
        shutil.copy(table, pricing / table.name)
    text = f"""\
server: {{host: 127.0.0.1, port: {port}}}
usage: {{database: "{database}"}}
pricing: {{files: [pricing/*.yaml]}}
providers:
  openai:     {{format: openai,    base_url: {fake.url}/openai/v1, api_key_env: EKAI_BENCH_OPENAI_KEY}}
  anthropic:  {{format: anthropic, base_url: {fake.url}/anthropic, api_key_env: EKAI_BENCH_ANTHROPIC_KEY}}
  xai: null
  openrouter: null
routing:
  strategy: cheapest
  pins: {{}}
  fallback: true
{LIMITS_YAML[limits]}{extra}
"""
    path = folder / "ekai.yaml"
    path.write_text(text)
    return path


class GatewayProc:
    def __init__(
        self,
        folder: Path,
        workers: int,
        cores: set[int] | None,
        src: Path = ROOT,
        limits: str = "none",
        extra: str = "",
        database: str = "usage.db",
    ) -> None:
        self.limits = limits
        # --database URL: a fresh PostgreSQL database per run, created here and dropped on stop
        self.admin_url = database if database.startswith("postgresql://") else None
        self.pg_url: str | None = None
        self.src = src  # the checkout whose gateway/ package runs
        self.extra = extra  # more ekai.yaml (--config-extra)
        self.folder = folder
        self.workers = workers
        self.cores = cores
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = folder / "usage.db"
        self.log = folder / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, fake: Fake, timeout: float = 30.0) -> GatewayProc:
        database = "usage.db"
        if self.admin_url:
            import psycopg

            name = f"ekai_bench_{os.getpid()}_{self.port}"
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            self.pg_url = database = self.admin_url.rsplit("/", 1)[0] + "/" + name
        config = write_config(self.folder, fake, self.port, self.limits, self.extra, database)
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env |= PROVIDER_KEYS | {"PYTHONUNBUFFERED": "1", "PYTHONPATH": str(self.src)}
        env["EKAI_BENCH_GATEWAY_KEY"] = BENCH_GATEWAY_KEY
        env["EKAI_BENCH_LIMITED_KEY"] = BENCH_LIMITED_KEY
        for part in ("budget", "rate", "models"):
            env[f"EKAI_BENCH_LIMITED_KEY_{part.upper()}"] = f"{BENCH_LIMITED_KEY}-{part}"
        cmd = [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", str(self.port)]
        cmd += ["--workers", str(self.workers)]
        self._logfile = open(self.log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.src,
            env=env,
            stdout=self._logfile,
            stderr=subprocess.STDOUT,
            preexec_fn=_pin(self.cores),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gateway did not start:\n{self.output()}")

    @property
    def pids(self) -> list[int]:
        return descendants(self.proc.pid) if self.proc else []

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # graceful: the usage queue is drained
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._logfile.close()
        code = self.proc.returncode
        self.proc = None
        return code

    def drop_database(self) -> None:
        if self.admin_url and self.pg_url:
            import psycopg

            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_url.rsplit("/", 1)[1]}" WITH (FORCE)')
            self.pg_url = None

    def _pg_rows(self, sql: str) -> list[dict[str, Any]]:
        import psycopg
        from psycopg.rows import dict_row

        assert self.pg_url
        with psycopg.connect(self.pg_url, autocommit=True, row_factory=dict_row) as conn:
            return [
                {k: (float(v) if type(v).__name__ == "Decimal" else v) for k, v in r.items()}
                for r in conn.execute(sql).fetchall()
            ]

    def count_rows(self) -> int:
        if self.pg_url:
            return int(self._pg_rows("SELECT count(*) AS n FROM usage")[0]["n"])
        if not self.db.exists():
            return 0
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM usage").fetchone()[0]
        except sqlite3.OperationalError:
            return 0
        finally:
            conn.close()

    def row_summary(self) -> list[dict[str, Any]]:
        q = """SELECT client_format, stream, status, count(*) AS rows,
                      count(cost_usd) AS priced, min(cost_usd) AS min_cost, max(cost_usd) AS max_cost,
                      sum(input_tokens) AS input, sum(cache_read_tokens) AS cache_read,
                      sum(cache_write_tokens) AS cache_write, sum(output_tokens) AS output,
                      avg(latency_ms) AS mean_latency_ms
               FROM usage GROUP BY client_format, stream, status ORDER BY 1, 2, 3"""
        if self.pg_url:
            return self._pg_rows(q)
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        conn.row_factory = sqlite3.Row
        try:
            q = """SELECT client_format, stream, status, count(*) AS rows,
                          count(cost_usd) AS priced, min(cost_usd) AS min_cost, max(cost_usd) AS max_cost,
                          sum(input_tokens) AS input, sum(cache_read_tokens) AS cache_read,
                          sum(cache_write_tokens) AS cache_write, sum(output_tokens) AS output,
                          avg(latency_ms) AS mean_latency_ms
                   FROM usage GROUP BY client_format, stream, status ORDER BY 1, 2, 3"""
            return [dict(r) for r in conn.execute(q)]
        finally:
            conn.close()


# --- load generator -------------------------------------------------------------------------


class Load:
    """Sends one scenario's request to one base URL, and times it."""

    def __init__(
        self, session: aiohttp.ClientSession, base: str, sc: Scenario, path: str, keyed: bool = False
    ) -> None:
        self.session = session
        self.url = base + path
        self.sc = sc
        self.body = sc.body()
        self.headers = sc.headers() | ({"x-api-key": BENCH_GATEWAY_KEY} if keyed else {})
        self.sent = 0  # every request sent, failed ones included (the gateway rows them too)

    async def one(self, sample: Sample) -> None:
        self.sent += 1
        t0 = time.perf_counter()
        ttfb = None
        try:
            async with self.session.post(self.url, data=self.body, headers=self.headers) as resp:
                if self.sc.stream:
                    first = await resp.content.readany()
                    ttfb = time.perf_counter()
                    tail = first
                    while True:
                        chunk = await resp.content.readany()
                        if not chunk:
                            break
                        tail = (tail + chunk)[-64:]
                else:
                    tail = (await resp.read())[-64:]
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            sample.errors += 1
            sample.first_error = sample.first_error or f"{type(exc).__name__}: {exc}"
            return
        t1 = time.perf_counter()
        if status != 200 or not self.sc.complete(tail):
            sample.errors += 1
            sample.first_error = sample.first_error or f"status {status}, reply ends {tail[-40:]!r}"
            return
        sample.total_ms.append((t1 - t0) * 1000)
        if ttfb is not None:
            sample.ttfb_ms.append((ttfb - t0) * 1000)


async def run_sequential(loads: dict[str, Load], n: int, rounds: int) -> dict[str, Sample]:
    """n requests per path, one at a time; the paths alternate in `rounds` rounds."""
    samples = {name: Sample() for name in loads}
    per_round = max(1, n // rounds)
    for _ in range(rounds):
        for name, load in loads.items():
            for _ in range(per_round):
                await load.one(samples[name])
    return samples


async def run_concurrent(
    load: Load, concurrency: int, max_requests: int, duration: float, pids: dict[str, list[int]]
) -> Sample:
    """`concurrency` requests in flight until `max_requests` are sent or `duration` s pass."""
    sample = Sample()
    left = max_requests
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal left
        while left > 0 and time.perf_counter() < deadline:
            left -= 1
            await load.one(sample)

    cpu0 = {name: cpu_seconds(p) for name, p in pids.items()}
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    sample.elapsed_s = time.perf_counter() - t0
    for name, p in pids.items():
        sample.cpu[name] = round(100 * (cpu_seconds(p) - cpu0[name]) / sample.elapsed_s, 1)
    return sample


# --- one pass -------------------------------------------------------------------------------


@dataclass
class Settings:
    sequential: int
    rounds: int
    concurrency: int
    max_requests: int
    duration: float
    warmup: int
    chunks: int
    first_gap_ms: float
    chunk_delay_ms: float
    workers: int
    scenarios: list[Scenario]
    gateway_src: Path = ROOT
    limits: str = "none"
    config_extra: str = ""
    database: str = "usage.db"


async def measure(gw: GatewayProc, fake: Fake, st: Settings, log: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}
    connector = aiohttp.TCPConnector(limit=st.concurrency, limit_per_host=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    pids = {"gateway": gw.pids, "fake": [fake.proc.pid] if fake.proc else [], "loadgen": [os.getpid()]}
    gw_sent = 0
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False, trust_env=False
    ) as session:
        loads = {
            sc.name: {
                "direct": Load(session, fake.url, sc, sc.direct_path()),
                "gateway": Load(session, gw.url, sc, sc.gateway_path(), st.limits != "none"),
            }
            for sc in st.scenarios
        }
        # warm-up: every scenario, both paths, at the measured concurrency
        for sc in st.scenarios:
            for load in loads[sc.name].values():
                warm = await run_concurrent(load, st.concurrency, st.warmup, 30, {})
                if warm.errors:
                    raise RuntimeError(f"warm-up of {sc.name} via {load.url} failed: {warm.first_error}")
        results["rss_after_warmup_kb"] = memory_kb(gw.pids)
        gc.collect()
        gc.freeze()
        for sc in st.scenarios:
            log(f"  {sc.name}: sequential ({st.sequential} per path) ...")
            seq = await run_sequential(loads[sc.name], st.sequential, st.rounds)
            entry: dict[str, Any] = {"sequential": {k: v.summary() for k, v in seq.items()}}
            entry["concurrent"] = {}
            for path in ("direct", "gateway"):
                log(f"  {sc.name}: {st.concurrency} concurrent via {path} ...")
                conc = await run_concurrent(
                    loads[sc.name][path], st.concurrency, st.max_requests, st.duration, pids
                )
                entry["concurrent"][path] = conc.summary()
            results[sc.name] = entry
        gw_sent = sum(loads[sc.name]["gateway"].sent for sc in st.scenarios)
    gc.unfreeze()
    results["gateway_requests_sent"] = gw_sent
    return results


def pin_database_server(admin_url: str, cores: set[int]) -> Callable[[], None] | None:
    """Pin a LOCAL PostgreSQL server (postmaster and every process it forked) to `cores`, as a
    database on its own machine would be: off the gateway's core. New backends inherit it from the
    postmaster. Returns the undo, or None when that is not possible here (a remote server, or no
    permission to read its data directory or set its affinity): the run then says so."""
    import psycopg

    try:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            row = conn.execute("SHOW data_directory").fetchone()
        postmaster = int((Path(row[0]) / "postmaster.pid").read_text().split()[0]) if row else 0
        pids = descendants(postmaster)  # it and its children
        before = {pid: os.sched_getaffinity(pid) for pid in pids}
        for pid in pids:
            os.sched_setaffinity(pid, cores)
    except (psycopg.Error, OSError, ValueError, IndexError):
        return None

    def undo() -> None:
        for pid, mask in before.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, mask)
        with contextlib.suppress(OSError):  # backends forked meanwhile inherited `cores`
            for pid in descendants(postmaster):
                os.sched_setaffinity(pid, before[postmaster])

    return undo


def run_pass(st: Settings, pinned: bool, log: Any) -> dict[str, Any]:
    gw_cores = {0} if pinned else None
    other_cores = {1} if pinned else None
    before_affinity = os.sched_getaffinity(0)
    if other_cores:
        os.sched_setaffinity(0, other_cores)
    folder = Path(tempfile.mkdtemp(prefix="ekai-bench-"))
    fake = Fake(st.chunks, other_cores, st.first_gap_ms, st.chunk_delay_ms)
    gw = GatewayProc(folder, st.workers, gw_cores, st.gateway_src, st.limits, st.config_extra, st.database)
    out: dict[str, Any] = {"pinned": pinned, "workers": st.workers, "loadavg_start": os.getloadavg()}
    unpin_db = None
    if other_cores and st.database.startswith("postgresql://"):
        unpin_db = pin_database_server(st.database, other_cores)
        out["database_server_pinned"] = unpin_db is not None
        log("  PostgreSQL server " + ("pinned to core 1 (off the gateway's core)" if unpin_db else
            "NOT pinned (not local, or no permission): it shares the gateway's core"))
    try:
        fake.start()
        gw.start(fake)
        time.sleep(0.5)  # let startup settle before reading RSS
        out["rss_start_kb"] = memory_kb(gw.pids)
        fake_rss0 = memory_kb([fake.proc.pid])["VmRSS"] if fake.proc else 0
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:  # pragma: no cover
            runner = asyncio.run
        out.update(runner(measure(gw, fake, st, log)))
        out["rss_end_kb"] = memory_kb(gw.pids)
        out["loadavg_end"] = os.getloadavg()
        out["fake_rss_kb"] = {
            "start": fake_rss0,
            "end": memory_kb([fake.proc.pid])["VmRSS"] if fake.proc else 0,
        }
        # every request to the gateway has its usage row (the writer commits every 0.2 s)
        sent = out["gateway_requests_sent"]
        deadline = time.monotonic() + 15
        rows = gw.count_rows()
        while rows < sent and time.monotonic() < deadline:
            time.sleep(0.1)
            rows = gw.count_rows()
        code = gw.stop()
        rows_after_stop = gw.count_rows()
        out["usage"] = {
            "requests_sent": sent,
            "rows": rows_after_stop,
            "rows_before_stop": rows,
            "ok": rows_after_stop == sent,
            "by_kind": gw.row_summary(),
            "gateway_exit_code": code,
        }
        priced = sum(r["priced"] for r in out["usage"]["by_kind"])
        out["usage"]["unpriced_rows"] = rows_after_stop - priced
        out["usage"]["ok"] = out["usage"]["ok"] and priced == rows_after_stop
    finally:
        gw.stop()
        gw.drop_database()
        fake.stop()
        if unpin_db is not None:
            unpin_db()
        os.sched_setaffinity(0, before_affinity)
        shutil.rmtree(folder, ignore_errors=True)
    return out


# --- report ---------------------------------------------------------------------------------


def _f(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _added(gw: float | None, direct: float | None) -> float | None:
    return None if gw is None or direct is None else gw - direct


def _ratio(gw: float | None, direct: float | None) -> float | None:
    return None if not gw or not direct else gw / direct


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def report(result: dict[str, Any], st: Settings) -> str:
    lines = [
        f"== pass: workers={result['workers']}, "
        + ("pinned (gateway on core 0; fake + load generator on core 1)" if result["pinned"] else "unpinned")
    ]
    seq_rows, conc_rows = [], []
    starved: list[str] = []
    for sc in st.scenarios:
        r = result[sc.name]
        d, g = r["sequential"]["direct"], r["sequential"]["gateway"]
        metrics = [("total", "p50_ms", "p99_ms")]
        if sc.stream:
            metrics.append(("ttfb", "ttfb_p50_ms", "ttfb_p99_ms"))
        for label, k50, k99 in metrics:
            seq_rows.append(
                [
                    f"{sc.name} {label}",
                    _f(d.get(k50), 3),
                    _f(g.get(k50), 3),
                    _f(_added(g.get(k50), d.get(k50)), 3),
                    _f(_ratio(g.get(k50), d.get(k50))),
                    _f(d.get(k99), 3),
                    _f(g.get(k99), 3),
                    _f(_added(g.get(k99), d.get(k99)), 3),
                ]
            )
        d, g = r["concurrent"]["direct"], r["concurrent"]["gateway"]
        metrics = [("total", "p50_ms", "p99_ms")]
        if sc.stream:
            metrics.append(("ttfb", "ttfb_p50_ms", "ttfb_p99_ms"))
        for i, (label, k50, k99) in enumerate(metrics):
            first = i == 0
            cpu = g.get("cpu_percent", {})
            conc_rows.append(
                [
                    f"{sc.name} {label}",
                    _f(d.get("rps"), 0) if first else "",
                    _f(g.get("rps"), 0) if first else "",
                    _f(_ratio(g.get("rps"), d.get("rps"))) if first else "",
                    _f(d.get(k50)),
                    _f(g.get(k50)),
                    _f(_added(g.get(k50), d.get(k50))),
                    _f(d.get(k99)),
                    _f(g.get(k99)),
                    _f(_added(g.get(k99), d.get(k99))),
                    (f"{cpu.get('gateway', 0):.0f}/{cpu.get('fake', 0):.0f}/{cpu.get('loadgen', 0):.0f}")
                    if first
                    else "",
                    _f(g.get("gateway_cpu_us_per_request"), 0) if first else "",
                    str(d["errors"] + g["errors"]) if first else "",
                ]
            )
            if (
                first
                and st.workers == 1
                and cpu
                and cpu.get("gateway", 100) < 90
                and cpu.get("loadgen", 0) < 90
            ):
                starved.append(sc.name)
    lines.append(
        f"\nSequential (1 in flight, {st.sequential} per path, interleaved in {st.rounds} rounds), ms:"
    )
    lines.append(
        table(
            seq_rows,
            ["scenario", "direct p50", "gw p50", "added p50", "ratio", "direct p99", "gw p99", "added p99"],
        )
    )
    lines.append(
        f"\n{st.concurrency} concurrent (each path: up to {st.max_requests} requests or {st.duration:g} s), "
        "ms and req/s:"
    )
    lines.append(
        table(
            conc_rows,
            [
                "scenario",
                "direct rps",
                "gw rps",
                "ratio",
                "direct p50",
                "gw p50",
                "added p50",
                "direct p99",
                "gw p99",
                "added p99",
                "cpu% gw/fake/lg",
                "gw cpu us/req",
                "errors",
            ],
        )
    )
    if starved:
        lines.append(
            f"NOTE: at {st.concurrency} concurrent the gateway used less than 90% of a core per worker in "
            f"{', '.join(starved)}, with the load generator not saturated either: other work was taking "
            "the CPU, so those req/s figures understate the gateway (its CPU us/req is the steadier figure)."
        )
    mb = lambda kb: f"{kb / 1024:.1f} MB"  # noqa: E731
    s, w, e = result["rss_start_kb"], result["rss_after_warmup_kb"], result["rss_end_kb"]
    lines.append(
        f"\nGateway memory: RSS {mb(s['VmRSS'])} after start, {mb(w['VmRSS'])} after warm-up, "
        f"{mb(e['VmRSS'])} at the end; peak RSS (VmHWM) {mb(e['VmHWM'])}; RssAnon at the end "
        f"{mb(e['RssAnon'])}.  Fake upstream RSS {mb(result['fake_rss_kb']['start'])} -> "
        f"{mb(result['fake_rss_kb']['end'])}."
    )
    u = result["usage"]
    lines.append(
        f"Usage rows: {u['rows']} rows for {u['requests_sent']} gateway requests "
        f"(warm-up included), {u['unpriced_rows']} without a cost: {'OK' if u['ok'] else 'MISMATCH'}."
    )
    la0, la1 = result["loadavg_start"], result.get("loadavg_end", (0, 0, 0))
    lines.append(
        f"Load average (1 min) {la0[0]:.2f} at the start, {la1[0]:.2f} at the end "
        "(the pass itself adds about 2; much more means other work shared the cores: noisy figures)."
    )
    t = result.get("targets")
    if t:
        lines.append(
            f"Targets (openai non-stream): added p50 sequential {_f(t['added_p50_ms'], 3)} ms "
            f"(<= {TARGET_ADDED_P50_MS:g}: {'met' if t['latency_met'] else 'NOT met'}); "
            f"{_f(t['rps'], 0)} req/s at {st.concurrency} concurrent "
            f"(>= {TARGET_RPS:g}: {'met' if t['rps_met'] else 'NOT met'})."
        )
    return "\n".join(lines)


def targets(result: dict[str, Any]) -> dict[str, Any] | None:
    r = result.get("openai")
    if not r:
        return None
    added = _added(r["sequential"]["gateway"]["p50_ms"], r["sequential"]["direct"]["p50_ms"])
    rps = r["concurrent"]["gateway"].get("rps")
    return {
        "added_p50_ms": added,
        "rps": rps,
        "latency_met": added is not None and added <= TARGET_ADDED_P50_MS,
        "rps_met": rps is not None and rps >= TARGET_RPS,
    }


def environment() -> dict[str, Any]:
    import sanic

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import uvloop

        uv = uvloop.__version__
    except ImportError:
        uv = None
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "sanic": sanic.__version__,
        "aiohttp": aiohttp.__version__,
        "uvloop": uv,
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "kernel": platform.release(),
        "load_generator": "aiohttp ClientSession (in the bench process, uvloop, keep-alive)",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Measure what the ekai gateway adds over calling a fast fake upstream directly."
    )
    parser.add_argument("--quick", action="store_true", help="small counts: a ~30 s smoke run")
    parser.add_argument("--json", metavar="PATH", help="write all results as JSON")
    parser.add_argument("--workers", type=int, default=1, help="gateway worker processes (default 1)")
    parser.add_argument(
        "--pin",
        nargs="?",
        const="on",
        default="off",
        choices=["on", "off", "both"],
        help="pin the gateway to core 0, fake + load generator to core 1 ('both': a pass each way)",
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sequential", type=int, help="sequential requests per path (default 2000)")
    parser.add_argument("--duration", type=float, help="max seconds per concurrent run (default 8)")
    parser.add_argument("--max-requests", type=int, help="max requests per concurrent run (default 20000)")
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per streamed reply")
    parser.add_argument(
        "--first-gap-ms",
        type=float,
        default=1.0,
        help="fake's pause after a stream's first event (default 1)",
    )
    parser.add_argument(
        "--chunk-delay-ms", type=float, default=0.0, help="fake's pause between stream events"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[s.name for s in SCENARIOS + EXTRA_SCENARIOS],
        help="only these scenarios (repeatable; default the four same-format Chat and Messages ones; "
        "responses, responses-stream on request)",
    )
    parser.add_argument(
        "--gateway-src",
        type=Path,
        default=ROOT,
        help="checkout whose gateway/ runs (default this one): for A/B runs against another worktree",
    )
    parser.add_argument(
        "--limits",
        choices=sorted(LIMITS_YAML),
        default="none",
        help="none (default); auth: one gateway key; on: that key with a budget, rpm, tpm and models "
        "never reached, and a gateway budget (compare 'on' with 'auth' for the cost of the checks); "
        "budget, rate, models: one part of 'on' each",
    )
    parser.add_argument(
        "--config-extra",
        default="",
        metavar="YAML",
        help="top-level ekai.yaml keys appended to the bench config, e.g. 'telemetry: {otlp_endpoint: URL}'",
    )
    parser.add_argument(
        "--database",
        default="usage.db",
        help="usage.database: usage.db (default, SQLite) or a postgresql:// admin URL (a fresh "
        "database is created on that server for the run and dropped after)",
    )
    args = parser.parse_args(argv)
    if not (args.gateway_src / "gateway" / "__main__.py").exists():
        parser.error(f"no gateway/ package under {args.gateway_src}")
    if args.concurrency < 1 or args.workers < 1:
        parser.error("--concurrency and --workers must be at least 1")
    st = Settings(
        sequential=args.sequential or (200 if args.quick else 2000),
        rounds=4 if args.quick else 10,
        concurrency=args.concurrency,
        max_requests=args.max_requests or (2000 if args.quick else 20000),
        duration=min(args.duration or (1.5 if args.quick else 8.0), 60.0),
        warmup=100 if args.quick else 500,
        chunks=args.chunks,
        first_gap_ms=args.first_gap_ms,
        chunk_delay_ms=args.chunk_delay_ms,
        workers=args.workers,
        gateway_src=args.gateway_src.resolve(),
        config_extra=args.config_extra,
        scenarios=[s for s in SCENARIOS + EXTRA_SCENARIOS if s.name in args.scenario]
        if args.scenario
        else SCENARIOS,
        limits=args.limits,
        database=args.database,
    )
    passes = {"off": [False], "on": [True], "both": [False, True]}[args.pin]
    if any(passes) and (os.cpu_count() or 1) < 2:
        parser.error("--pin needs at least 2 CPUs")
    if any(passes) and args.workers > 1:
        print("bench: note: with --pin all gateway workers share core 0", file=sys.stderr)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    env = environment()
    print(
        f"ekai bench, {env['date']}: python {env['python']}, sanic {env['sanic']}, aiohttp {env['aiohttp']}, "
        f"uvloop {env['uvloop']}; {env['cpus']} CPUs ({env['cpu_model']}); load generator: "
        f"{env['load_generator']}; fake: bench/fake_upstream.py, streams of {st.chunks} content chunks, "
        f"{st.first_gap_ms:g} ms after the first event, {st.chunk_delay_ms:g} ms between the others"
    )
    started = time.monotonic()
    out: dict[str, Any] = {
        "environment": env,
        "settings": {**st.__dict__, "scenarios": [s.name for s in st.scenarios]},
    }
    out["passes"] = []
    ok = True
    for pinned in passes:
        log(f"pass: {'pinned' if pinned else 'unpinned'}, workers={st.workers}")
        result = run_pass(st, pinned, log)
        result["targets"] = targets(result)
        out["passes"].append(result)
        print()
        print(report(result, st), flush=True)
        errors = sum(
            result[sc.name][phase][path]["errors"]
            for sc in st.scenarios
            for phase in ("sequential", "concurrent")
            for path in ("direct", "gateway")
        )
        ok = ok and result["usage"]["ok"] and errors == 0
    out["elapsed_s"] = round(time.monotonic() - started, 1)
    out["ok"] = ok
    print(f"\nbench: {'ok' if ok else 'FAILED'} in {out['elapsed_s']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
