"""Budgets, rate limits and model allowlists, end to end through the real gateway with both SDKs.

Costs the tests count on (tests/conftest.py prices, the fake's default usage):
- claude-sonnet-4-6 on the fake Anthropic: 1200 in, 300 cache write, 5000 cache read, 250 out
  = (1200*3 + 300*3.75 + 5000*0.3 + 250*15) / 1e6 = $0.009975, 6750 tokens.
- gpt-4o-mini on the fake OpenAI: 1500 in, 5000 cached, 250 out = $0.00075.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import KEYS, write_config
from tests.fakes.upstream import wait_for
from tests.gateway_proc import ROOT, Gateway

SONNET_PICO = 9_975_000_000  # $0.009975
CI, LAPTOP = "gw-ci-secret-0001", "gw-laptop-secret-0002"
ENV = {**KEYS, "EKAI_KEY_CI": CI, "EKAI_KEY_LAPTOP": LAPTOP}
MSG: dict[str, Any] = {"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


def auth(ci: str, extra: str = "") -> str:
    return f"auth:\n  keys:\n    laptop: EKAI_KEY_LAPTOP\n    ci:\n      env: EKAI_KEY_CI\n{ci}{extra}"


def start(tmp_path: Path, fake, ci: str, extra: str = "", args: list[str] | None = None) -> Gateway:
    write_config(tmp_path, fake, extra=auth(ci, extra))
    clock = tmp_path / "clock"
    return Gateway(tmp_path, env={**ENV, "EKAI_TEST_CLOCK_FILE": str(clock)}, args=args).start()


def claude(gw: Gateway, key: str = CI) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)


def gpt(gw: Gateway, key: str = CI) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def sonnet(gw: Gateway, key: str = CI, **kw: Any) -> Any:
    return claude(gw, key).messages.with_raw_response.create(model="claude-sonnet-4-6", **MSG, **kw)


def health(gw: Gateway) -> dict[str, Any]:
    return httpx.get(gw.url + "/health", headers={"x-api-key": CI}).json()["limits"]


def settle(gw: Gateway, n: int) -> list[dict[str, Any]]:
    """Wait until `n` rows are written; return them."""
    return wait_for(lambda: (rows := gw.rows()) and len(rows) >= n and rows, timeout=10)


def seconds_to_midnight() -> float:
    now = datetime.now(UTC)
    return (datetime(now.year, now.month, now.day, tzinfo=UTC).timestamp() + 86400) - now.timestamp()


@pytest.fixture
def gws():
    started: list[Gateway] = []
    yield started
    for g in started:
        g.stop()


def test_a_key_over_its_daily_budget_is_refused_and_the_other_key_is_not(tmp_path, fake, gws):
    gw = start(tmp_path, fake, "      budget: {daily_usd: 0.015, monthly_usd: 10}\n")
    gws.append(gw)
    assert sonnet(gw).status_code == 200  # spent 0 -> 0.009975
    assert sonnet(gw).status_code == 200  # 0.009975 < 0.015 -> 0.01995
    sent = len(fake.seen)
    with pytest.raises(anthropic.RateLimitError) as e:
        sonnet(gw)
    assert e.value.body["error"]["type"] == "rate_limit_error"
    assert "budget exceeded: key 'ci' daily_usd 0.015" in e.value.message
    retry = int(e.value.response.headers["retry-after"])
    assert abs(retry - seconds_to_midnight()) < 5  # whole seconds until the UTC day resets
    assert e.value.response.headers["x-should-retry"] == "false"  # or the SDKs sleep until midnight
    with pytest.raises(anthropic.RateLimitError):  # so a client with retries asks once, not 3 times
        anthropic.Anthropic(base_url=gw.url, api_key=CI, max_retries=2).messages.create(
            model="claude-sonnet-4-6", **MSG)
    with pytest.raises(openai.RateLimitError) as oe:
        gpt(gw).chat.completions.create(model="gpt-4o-mini", messages=MSG["messages"])
    assert oe.value.code == "budget_exceeded" and oe.value.response.headers["retry-after"]
    assert len(fake.seen) == sent  # the refused requests never went upstream
    assert sonnet(gw, LAPTOP).status_code == 200  # the other key is unaffected
    rows = settle(gw, 6)
    refused = [r for r in rows if r["status"] == 429]
    assert [r["api_key_name"] for r in refused] == ["ci", "ci", "ci"]
    assert all("budget exceeded: key 'ci' daily_usd" in r["error"] for r in refused)
    assert all(r["cost_pico_usd"] is None and r["input_tokens"] == 0 for r in refused)
    view = health(gw)["keys"]["ci"]
    assert view["spent_today_usd"] == pytest.approx(0.01995) and view["daily_usd"] == 0.015
    # `ekai sql` finds who was refused and why
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "sql", "--config", str(gw.config), "--format", "json",
         "SELECT api_key_name, status, error FROM usage WHERE status IN (403, 429) ORDER BY id"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert [(r["api_key_name"], r["status"]) for r in found] == [("ci", 429)] * 3


def test_the_gateway_wide_budget_counts_every_key(tmp_path, fake, gws):
    gw = start(tmp_path, fake, "", extra="  budget: {daily_usd: 0.015}\n")
    gws.append(gw)
    assert sonnet(gw, CI).status_code == 200
    assert sonnet(gw, LAPTOP).status_code == 200  # 0.009975 < 0.015
    for key in (CI, LAPTOP):
        with pytest.raises(openai.RateLimitError) as e:
            gpt(gw, key).chat.completions.create(model="gpt-4o-mini", messages=MSG["messages"])
        assert e.value.code == "budget_exceeded" and "budget exceeded: gateway daily_usd 0.015" in e.value.message
    assert health(gw)["gateway"]["spent_today_usd"] == pytest.approx(0.01995)


def test_rpm_then_tpm_refuse_with_retry_after(tmp_path, fake, gws):
    gw = start(tmp_path, fake, "      limits: {rpm: 3}\n")
    gws.append(gw)
    for _ in range(3):
        assert gpt(gw).chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MSG["messages"]).status_code == 200
    with pytest.raises(openai.RateLimitError) as e:
        gpt(gw).chat.completions.create(model="gpt-4o-mini", messages=MSG["messages"])
    assert e.value.code == "rate_limit_exceeded" and "rpm 3" in e.value.message
    assert 1 <= int(e.value.response.headers["retry-after"]) <= 60
    assert "x-should-retry" not in e.value.response.headers  # a rate limit is worth waiting for
    with pytest.raises(anthropic.RateLimitError):
        sonnet(gw)
    assert sonnet(gw, LAPTOP).status_code == 200
    view = health(gw)["keys"]["ci"]
    assert (view["rpm"], view["rpm_limit"]) == (3, 3)


def test_tpm_counts_the_tokens_of_finished_requests(tmp_path, fake, gws):
    gw = start(tmp_path, fake, "      limits: {tpm: 10000}\n")
    gws.append(gw)
    assert sonnet(gw).status_code == 200  # 0 tokens in the window -> 6750
    assert sonnet(gw, stream=False).status_code == 200  # 6750 < 10000 -> 13500
    with pytest.raises(anthropic.RateLimitError) as e:
        sonnet(gw)
    assert "tpm 10000" in e.value.message and 1 <= int(e.value.response.headers["retry-after"]) <= 60
    with pytest.raises(openai.RateLimitError) as oe:
        gpt(gw).chat.completions.create(model="gpt-4o-mini", messages=MSG["messages"])
    assert oe.value.code == "rate_limit_exceeded"
    assert health(gw)["keys"]["ci"]["tpm"] == 13500


def test_a_model_outside_the_allowlist_is_403_and_never_sent(tmp_path, fake, gws):
    gw = start(tmp_path, fake, '      models: ["gpt-*", "claude-haiku-*"]\n')
    gws.append(gw)
    with pytest.raises(anthropic.PermissionDeniedError) as e:  # the alias resolves to a sonnet
        claude(gw).messages.create(model="sonnet", **MSG)
    assert e.value.body["error"]["type"] == "permission_error"
    assert "may not use model 'claude-sonnet-4-6'" in e.value.message
    with pytest.raises(openai.PermissionDeniedError) as oe:
        gpt(gw).chat.completions.create(model="claude-sonnet-4-6", messages=MSG["messages"])
    assert oe.value.code == "permission_denied"
    assert fake.seen == []  # never sent upstream
    assert gpt(gw).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MSG["messages"]).status_code == 200
    assert claude(gw).messages.with_raw_response.create(model="claude-haiku-4-5", **MSG).status_code == 200
    listed = {m.id for m in gpt(gw).models.list()}
    assert listed == {"gpt-4o-mini", "gpt-5", "claude-haiku-4-5"}
    everything = {m.id for m in gpt(gw, LAPTOP).models.list()}
    assert {"sonnet", "claude-sonnet-4-6", "grok-4"} <= everything
    rows = settle(gw, 4)
    assert [(r["status"], r["model"]) for r in rows if r["status"] == 403] == [
        (403, "sonnet"), (403, "claude-sonnet-4-6")]


def test_spend_survives_a_restart_and_a_raised_budget_lets_the_key_through(tmp_path, fake, gws):
    ci = "      budget: {daily_usd: 0.015}\n"
    gw = start(tmp_path, fake, ci)
    gws.append(gw)
    assert sonnet(gw).status_code == 200
    assert sonnet(gw).status_code == 200
    assert gw.stop() == 0
    gw = Gateway(tmp_path, env={**ENV, "EKAI_TEST_CLOCK_FILE": str(tmp_path / "clock")}).start()
    gws.append(gw)
    with pytest.raises(anthropic.RateLimitError):  # seeded from the table: still over
        sonnet(gw)
    assert health(gw)["keys"]["ci"]["spent_today_usd"] == pytest.approx(0.01995)
    text = gw.config.read_text().replace("daily_usd: 0.015", "daily_usd: 1.5")
    gw.config.write_text(text)
    wait_for(lambda: health(gw)["keys"]["ci"]["daily_usd"] == 1.5, timeout=10)
    assert sonnet(gw).status_code == 200


def test_the_daily_window_and_the_rpm_window_reset_with_the_clock(tmp_path, fake, gws):
    gw = start(tmp_path, fake, "      budget: {daily_usd: 0.001}\n      limits: {rpm: 1}\n")
    gws.append(gw)
    assert sonnet(gw).status_code == 200
    with pytest.raises(anthropic.RateLimitError) as e:
        sonnet(gw)
    assert "budget exceeded" in e.value.message  # the budget is checked first
    clock = tmp_path / "clock"
    clock.write_text(str(seconds_to_midnight() + 1))  # the next UTC day
    assert sonnet(gw).status_code == 200  # a new day; the rpm slot is from "yesterday"
    with pytest.raises(openai.RateLimitError) as oe:  # but the rpm slot is taken again, at the new time
        gpt(gw).chat.completions.create(model="gpt-4o-mini", messages=MSG["messages"])
    assert oe.value.code == "rate_limit_exceeded"


def test_rpm_window_moves_with_the_clock(tmp_path, fake, gws):
    gw = start(tmp_path, fake, "      limits: {rpm: 2}\n")
    gws.append(gw)
    assert sonnet(gw).status_code == 200
    assert sonnet(gw).status_code == 200
    with pytest.raises(anthropic.RateLimitError) as e:
        sonnet(gw)
    assert "rpm 2" in e.value.message
    (tmp_path / "clock").write_text("60.5")
    assert sonnet(gw).status_code == 200


def test_two_workers_share_one_rpm_limit(tmp_path, fake, gws):
    gw = start(tmp_path, fake, "      limits: {rpm: 10}\n", args=["--workers", "2"])
    gws.append(gw)

    def one(barrier: threading.Barrier) -> tuple[int, str]:
        with httpx.Client(timeout=30) as client:  # one connection each, so both workers get some
            barrier.wait()
            r = client.post(gw.url + "/v1/chat/completions", headers={"x-api-key": CI},
                            json={"model": "gpt-4o-mini", "messages": MSG["messages"]})
            return r.status_code, r.headers["x-request-id"][:16]  # req_<random per process>

    answers: list[tuple[int, str]] = []
    for _ in range(10):  # rounds of 15 concurrent requests (all within the minute) until both workers answered
        barrier = threading.Barrier(15)
        with ThreadPoolExecutor(15) as pool:
            answers += pool.map(one, [barrier] * 15)
        if len({w for _, w in answers}) == 2:
            break
    assert len({w for _, w in answers}) == 2, "both workers must have answered for this test to mean anything"
    statuses = [s for s, _ in answers]
    assert statuses.count(200) + statuses.count(429) == len(statuses)
    assert 10 <= statuses.count(200) <= 11  # the contract: at most one more per extra worker


def test_concurrent_streams_cross_the_budget_by_at_most_what_is_in_flight(tmp_path, fake, gws):
    """8 clients stream in a loop until refused. The spend passes the budget by at most the cost
    of the requests in flight when it was crossed: at most 8 (one per client), so < budget + 8 x cost."""
    budget = 0.1
    gw = start(tmp_path, fake, f"      budget: {{daily_usd: {budget}}}\n")
    gws.append(gw)
    clients = 8

    def loop(_: int) -> int:
        done = 0
        client = claude(gw)
        for _ in range(100):
            try:
                with client.messages.stream(model="claude-sonnet-4-6", **MSG) as stream:
                    stream.get_final_message()
                done += 1
            except anthropic.RateLimitError:
                return done
        raise AssertionError("never refused")

    with ThreadPoolExecutor(clients) as pool:
        served = sum(pool.map(loop, range(clients)))
    rows = settle(gw, served + clients)
    spent = sum(r["cost_pico_usd"] or 0 for r in rows)
    assert served * SONNET_PICO == spent
    assert spent >= budget * 1e12  # crossed
    assert spent < budget * 1e12 + clients * SONNET_PICO  # by at most one request per client in flight
    assert sum(1 for r in rows if r["status"] == 429) == clients


def hold_clock_until_refused(tmp_path: Path, gw: Gateway, at: float) -> Callable[[], None]:
    """Hold the gateway's clock (EKAI_TEST_CLOCK_FILE) at `at` until a request of a real CLI has
    been refused, however long the CLI takes to start; then let time run. Returns the stop."""
    clock, refused = tmp_path / "clock", threading.Event()

    def freeze() -> None:
        while not refused.is_set():
            (tmp_path / "clock.new").write_text(str(at - time.time()))
            (tmp_path / "clock.new").replace(clock)  # atomically: the gateway never reads half a file
            if gw.rows("status = 429"):
                refused.set()
            time.sleep(0.02)  # the pace of the freezer thread, not a synchronisation

    freezer = threading.Thread(target=freeze, daemon=True)
    freezer.start()

    def stop() -> None:
        refused.set()
        freezer.join()

    return stop


def test_claude_code_over_its_rpm_waits_and_then_succeeds(tmp_path, fake, gws):
    from tests.real_clients import cli

    exe = cli("claude")
    gw = start(tmp_path, fake, "      limits: {rpm: 1}\n")
    gws.append(gw)
    assert sonnet(gw).status_code == 200  # the only slot of this minute, taken at t0
    held = hold_clock_until_refused(tmp_path, gw, time.time() + 58)  # the slot frees 2 s later
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": "/usr/bin:/bin", "HOME": str(home), "ANTHROPIC_BASE_URL": gw.url, "ANTHROPIC_API_KEY": CI,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
        "ANTHROPIC_MODEL": "claude-sonnet-4-6", "ANTHROPIC_SMALL_FAST_MODEL": "claude-sonnet-4-6",
    }
    try:
        done = subprocess.run([str(exe), "-p", "say hi"], env=env, capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)
    finally:
        held()
    assert done.returncode == 0, (done.stdout, done.stderr, [(r["status"], r["error"]) for r in gw.rows()])
    rows = wait_for(lambda: (rows := gw.rows()) and sum(r["status"] == 200 for r in rows) >= 2 and rows,
                    timeout=10)
    cc = [r for r in rows[1:] if r["model"] == "claude-sonnet-4-6"]
    statuses = [r["status"] for r in cc]
    assert statuses[0] == 429 and 200 in statuses, statuses  # refused, waited, then served
    assert "rpm 1" in cc[0]["error"] and ("retry in 2 s" in cc[0]["error"] or "retry in 1 s" in cc[0]["error"])
    assert "Hello from the fake." in done.stdout  # the run succeeded with the fake's answer


def test_codex_over_its_rpm_backs_off_and_then_succeeds(tmp_path, fake, gws):
    """Codex with its default retries (4) over its key's rpm: refused with retry-after, it backs
    off and the turn succeeds. (Codex's own backoff, not the gateway, decides when it retries.)"""
    from tests.test_codex import run_codex

    gw = start(tmp_path, fake, "      limits: {rpm: 1}\n")
    gws.append(gw)
    assert sonnet(gw).status_code == 200  # the only slot of this minute, taken at t0
    held = hold_clock_until_refused(tmp_path, gw, time.time() + 58.5)  # the slot frees 1.5 s later
    run_dir = tmp_path / "codex"
    run_dir.mkdir()
    try:
        run_codex(gw, run_dir, "claude-sonnet-4-6", "say hi", key=CI, retries=4)  # asserts it exits 0
    finally:
        held()
    rows = wait_for(lambda: (rows := gw.rows()) and sum(r["status"] == 200 for r in rows) >= 2 and rows,
                    timeout=10)
    codex = [r for r in rows[1:] if r["client"] == "codex"]
    statuses = [r["status"] for r in codex]
    assert statuses[0] == 429 and statuses[-1] == 200, statuses  # refused, backed off, then served
    assert "rpm 1" in codex[0]["error"]
    assert (run_dir / "last.txt").read_text().strip() == "Hello from the fake."


def test_two_workers_share_one_budget(tmp_path, fake, gws):
    """Spend in one worker reaches the other through the usage table within a reconcile."""
    gw = start(tmp_path, fake, "      budget: {daily_usd: 0.015}\n", args=["--workers", "2"])
    gws.append(gw)
    for _ in range(2):  # 0.01995 in total once both have ended, whichever worker served them
        with httpx.Client(timeout=30) as client:
            assert client.post(gw.url + "/v1/messages", headers={"x-api-key": CI, "anthropic-version": "2023-06-01"},
                               json={"model": "claude-sonnet-4-6", **MSG}).status_code == 200
    settle(gw, 2)

    def refused_by_both() -> bool:
        """Ten concurrent connections (so both workers answer): all refused, by both workers."""
        barrier = threading.Barrier(10)

        def one(_: int) -> tuple[int, str]:
            with httpx.Client(timeout=30) as client:  # an unpriced model: a worker that did not
                barrier.wait()  # share the spend would never refuse it
                r = client.post(gw.url + "/v1/chat/completions", headers={"x-api-key": CI},
                                json={"model": "meta/unpriced", "messages": MSG["messages"]})
                return r.status_code, r.headers["x-request-id"][:16]

        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(one, range(10)))
        return {s for s, _ in answers} == {429} and len({w for _, w in answers}) == 2

    wait_for(refused_by_both, timeout=15, interval=0.1)


def test_a_spent_month_waits_for_the_month_not_for_midnight(tmp_path, fake, gws):
    gw = start(tmp_path, fake, "      budget: {daily_usd: 0.001, monthly_usd: 0.001}\n")
    gws.append(gw)
    assert sonnet(gw).status_code == 200
    with pytest.raises(anthropic.RateLimitError) as e:
        sonnet(gw)
    assert "monthly_usd 0.001" in e.value.message
    now = datetime.now(UTC)
    month_end = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC).timestamp()
    assert abs(int(e.value.response.headers["retry-after"]) - (month_end - now.timestamp())) < 5


def test_claude_code_over_its_budget_stops_at_once_saying_why(tmp_path, fake, gws):
    from tests.real_clients import cli

    exe = cli("claude")
    gw = start(tmp_path, fake, "      budget: {daily_usd: 0.001}\n")
    gws.append(gw)
    assert sonnet(gw).status_code == 200  # spent: $0.009975 of $0.001
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": "/usr/bin:/bin", "HOME": str(home), "ANTHROPIC_BASE_URL": gw.url, "ANTHROPIC_API_KEY": CI,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
        "ANTHROPIC_MODEL": "claude-sonnet-4-6", "ANTHROPIC_SMALL_FAST_MODEL": "claude-sonnet-4-6",
    }
    done = subprocess.run([str(exe), "-p", "say hi"], env=env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode != 0
    assert "budget exceeded: key 'ci' daily_usd 0.001" in done.stdout + done.stderr  # the user sees why
    marker = sonnet(gw, LAPTOP).headers["x-request-id"]  # one worker, one FIFO writer: once this
    gw.row(marker)  # row is in, every row of Claude Code's requests is in too
    rows = gw.rows("api_key_name = 'ci'")
    assert [r["status"] for r in rows[1:]] == [429]  # asked once: no retry loop against a spent budget
