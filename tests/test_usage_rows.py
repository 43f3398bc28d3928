"""One usage row per request, disconnects and stops included; /usage, /health and /v1/models."""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import io
import os
import signal
import sys
import time

import httpx
import openai
import pytest

from tests.conftest import KEYS, write_config
from tests.fakes.upstream import Reply, anthropic_stream, openai_stream
from tests.gateway_proc import Gateway, children

BODY = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 50,
    "stream": True,
    "messages": [{"role": "user", "content": "count"}],
}


def test_client_disconnect_mid_stream_still_yields_its_row(gw, fake):
    fake.queue(
        Reply(events=anthropic_stream("claude-sonnet-4-6", [f"w{i} " for i in range(50)]), chunk_delay=0.05)
    )
    with httpx.stream("POST", gw.url + "/v1/messages", json=BODY, timeout=10) as resp:
        request_id = resp.headers["x-request-id"]
        for line in resp.iter_lines():
            if "content_block_delta" in line:
                break  # the client goes away after the first text
    row = gw.row(request_id)
    assert row["error"] == "client disconnected"
    assert row["input_tokens"] == 1200 and row["cache_read_tokens"] == 5000  # from message_start
    assert row["stream"] == 1 and row["latency_ms"] < 2000


def test_openai_disconnect_is_recorded_too(gw, fake):
    fake.queue(
        Reply(events=openai_stream("gpt-4o-mini", ["x"] * 40, None, include_usage=True), chunk_delay=0.05)
    )
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    with httpx.stream("POST", gw.url + "/v1/chat/completions", json=body, timeout=10) as resp:
        request_id = resp.headers["x-request-id"]
        next(resp.iter_lines())
    row = gw.row(request_id)
    assert row["error"] == "client disconnected" and row["provider"] == "openai"


def test_graceful_stop_loses_no_row(fake, tmp_path):
    write_config(tmp_path, fake)
    gw = Gateway(tmp_path, env=KEYS).start()
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0)

    def one(_: int) -> str:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        return raw.headers["x-request-id"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(one, range(200)))
    assert gw.stop(signal.SIGTERM) == 0  # stop at once: rows may still be queued
    rows = gw.rows()
    assert len(rows) == 200 and {r["request_id"] for r in rows} == set(ids)


def test_usage_endpoint_totals_groups_and_csv(fake, tmp_path):
    write_config(tmp_path, fake)
    gw = Gateway(tmp_path, env=KEYS).start()
    try:
        oa = openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0)
        for _ in range(3):
            oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        httpx.post(gw.url + "/v1/messages", json={**BODY, "stream": False}, timeout=10)
        httpx.post(gw.url + "/v1/messages", content=b"{bad", timeout=10)
        deadline = time.monotonic() + 10  # the writer commits every 0.2 s
        while (data := httpx.get(gw.url + "/usage", timeout=10).json())["totals"]["requests"] < 5:
            assert time.monotonic() < deadline, data["totals"]
            time.sleep(0.05)  # the poll's pace
        t = data["totals"]
        assert t["requests"] == 5
        assert t["input_tokens"] == 3 * 1500 + 1200 and t["cache_read_tokens"] == 3 * 5000 + 5000
        assert t["cache_write_tokens"] == 300 and t["output_tokens"] == 4 * 250
        assert t["cost_usd"] == (3 * 750 + 9975) / 1e6
        by_provider = {r["provider"]: r for r in data["by_provider"]}
        assert by_provider["openai"]["requests"] == 3 and by_provider["anthropic"]["requests"] == 1
        assert {(r["model"], r["requests"]) for r in data["by_model"]} >= {("gpt-4o-mini", 3)}
        assert len(data["by_day"]) == 1 and data["by_day"][0]["requests"] == 5

        assert httpx.get(gw.url + "/usage?since=2999-01-01", timeout=5).json()["totals"]["requests"] == 0
        assert (
            httpx.get(gw.url + "/usage?until=2000-01-01T00:00:00Z", timeout=5).json()["totals"]["requests"]
            == 0
        )
        bad = httpx.get(gw.url + "/usage?since=yesterday", timeout=5)
        assert bad.status_code == 400 and "since" in bad.json()["error"]["message"]

        text = httpx.get(gw.url + "/usage?format=csv", timeout=5).text
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 5 and rows[0]["client_format"] == "openai"
        assert sum(1 for r in rows if r["error"]) == 1
    finally:
        gw.stop()


def test_health_and_models(fake, tmp_path):
    write_config(tmp_path, fake)
    env = {k: v for k, v in KEYS.items() if k != "XAI_API_KEY"}
    gw = Gateway(tmp_path, env=env).start()
    try:
        health = httpx.get(gw.url + "/health", timeout=5)
        data = health.json()
        assert data["status"] == "ok" and "x-request-id" in health.headers
        assert data["providers"]["openai"]["ready"] is True
        assert data["providers"]["xai"] == {
            **data["providers"]["xai"],
            "ready": False,
            "missing_env": "XAI_API_KEY",
        }
        assert data["config"]["digest"] and data["config"]["last_error"] is None
        assert not any(key in health.text for key in KEYS.values())  # no key value anywhere

        models = openai.OpenAI(base_url=gw.url + "/v1", api_key="k").models.list()
        ids = {m.id for m in models.data}
        assert {"gpt-4o-mini", "claude-sonnet-4-6", "sonnet", "moonshotai/kimi-k2"} <= ids
        assert "grok-4" not in ids  # xai has no key
        import anthropic

        claude_ids = {m.id for m in anthropic.Anthropic(base_url=gw.url, api_key="k").models.list()}
        assert claude_ids == ids
    finally:
        gw.stop()


def _is_worker(pid: int) -> bool:
    """A Sanic server worker (not its Manager process or multiprocessing's resource tracker)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return b"SANIC_WORKER_NAME=" in f.read()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_stop_when_the_main_process_is_killed(fake, tmp_path):
    """`ekai serve --workers 2` killed with SIGKILL (no graceful stop): its workers must not stay
    behind holding the port; they stop gracefully, their queued rows written. (Sanic's Manager
    process and multiprocessing's resource tracker are left behind by a SIGKILL; the test ends
    them.)"""
    write_config(tmp_path, fake)
    gw = Gateway(tmp_path, env=KEYS, args=["--workers", "2"]).start()
    assert gw.proc is not None
    main = gw.proc.pid
    deadline = time.monotonic() + 15
    while len(workers := [p for p in children(main) if _is_worker(p)]) < 2:
        assert time.monotonic() < deadline, "no workers found"
        time.sleep(0.05)  # the poll's pace
    for _ in range(4):
        assert httpx.post(gw.url + "/v1/messages", json={**BODY, "stream": False}, timeout=10).status_code == 200
    os.kill(main, signal.SIGKILL)
    gw.proc.wait(5)
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in workers):
        assert time.monotonic() < deadline, f"workers left running: {[p for p in workers if _alive(p)]}"
        time.sleep(0.05)  # the poll's pace
    gw.proc = None
    for other in children(1):  # what SIGKILL leaves: Sanic's Manager and the resource tracker
        with contextlib.suppress(OSError):
            with open(f"/proc/{other}/environ", "rb") as f:
                mine = str(tmp_path).encode() in f.read()
            if mine:
                os.kill(other, signal.SIGKILL)
    assert len(gw.rows()) == 4  # each worker drained its queue on the way out
