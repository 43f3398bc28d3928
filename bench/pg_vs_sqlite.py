"""The gateway's cost per request with the usage table in SQLite vs PostgreSQL, interleaved.

Starts the real gateway (tests/gateway_proc.py) against the tests' fake provider, sends 100
warm-up then N sequential Chat Completions requests, and reads the gateway processes' CPU time
from /proc: CPU us per request and wall ms per request, ROUNDS rounds of SQLite then PostgreSQL
(a fresh database on the server of $EKAI_TEST_POSTGRES_URL, dropped after). Results in
bench/README.md ("PostgreSQL vs SQLite").

    EKAI_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/pg_vs_sqlite.py [N] [ROUNDS]
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import KEYS, write_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import Gateway

ADMIN = os.environ.get("EKAI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def family(pid: int) -> list[int]:
    out = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(_stat(int(entry))[1]) == pid:
                    out += family(int(entry))
            except OSError:
                pass
    return out


def run(fake: FakeUpstream, kind: str, n: int) -> tuple[float, float]:
    """(gateway CPU us per request, wall ms per request)."""
    folder = Path(tempfile.mkdtemp(prefix="ekai-pgbench-"))
    path = write_config(folder, fake)
    name = None
    if kind == "postgresql":
        name = "ekai_cpu_" + secrets.token_hex(4)
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = ADMIN.rsplit("/", 1)[0] + "/" + name
        text = path.read_text().replace("usage: {database: usage.db}", f'usage: {{database: "{url}"}}')
        path.write_text(text)
    gw = Gateway(folder, env=KEYS).start()
    try:
        assert gw.proc is not None
        pids = family(gw.proc.pid)
        with httpx.Client() as client:
            for _ in range(100):
                client.post(gw.url + "/v1/chat/completions", json=BODY)
            c0, t0 = sum(map(cpu_seconds, pids)), time.perf_counter()
            for _ in range(n):
                client.post(gw.url + "/v1/chat/completions", json=BODY)
            t1 = time.perf_counter()
            time.sleep(0.5)  # the last batch is written (its CPU counted)
            c1 = sum(map(cpu_seconds, pids))
    finally:
        gw.stop()
        if name:
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    return (c1 - c0) / n * 1e6, (t1 - t0) / n * 1e3


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    fake = FakeUpstream()
    fake.start()
    try:
        for i in range(rounds):
            for kind in ("sqlite", "postgresql"):
                us, ms = run(fake, kind, n)
                print(
                    f"round {i + 1} {kind:<10} gateway CPU {us:5.0f} us/req  wall {ms:6.3f} ms/req  "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
