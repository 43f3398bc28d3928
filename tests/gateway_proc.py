"""Running the real gateway (`python -m gateway serve`) in a subprocess, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    """A gateway process serving one config file in `folder`."""

    def __init__(self, folder: Path, env: dict[str, str] | None = None, args: list[str] | None = None):
        self.folder = folder
        self.config = folder / "ekai.yaml"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = folder / "usage.db"
        self.log = folder / "gateway.log"
        base = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        self.env = {**base, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.args = args or []
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> Gateway:
        cmd = [
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--config",
            str(self.config),
            "--port",
            str(self.port),
            *self.args,
        ]
        self._logfile = open(self.log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=self._logfile, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gateway did not start:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        kids = children(self.proc.pid)  # with --workers N: its workers, Sanic's Manager, ...
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pid in kids:  # whatever outlived the gateway (a main killed after the timeout)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        self._logfile.close()
        code = self.proc.returncode
        self.proc = None
        return code

    # --- the usage table ---
    def rows(self, where: str = "1=1", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        if not self.db.exists():
            return []
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(f"SELECT * FROM usage WHERE {where} ORDER BY id", params)]
        except sqlite3.OperationalError:
            return []
        finally:
            conn.close()

    def row(self, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The usage row of a request, waiting for the writer thread to commit it."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows("request_id = ?", (request_id,))
            if rows:
                return rows[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no usage row for {request_id}")
            time.sleep(0.02)


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc; elsewhere none)."""
    out = []
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                out.append(int(entry))
    return out
