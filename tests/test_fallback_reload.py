"""Fallback between providers, and live reload of ekai.yaml and the price tables, end to end."""

from __future__ import annotations

import os
import threading
import time

import httpx
import openai
import pytest

from tests.conftest import KEYS, write_config
from tests.fakes.upstream import Reply, openai_stream
from tests.gateway_proc import Gateway

CHAT = {"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}


def chat(gw: Gateway, body: dict | None = None, **kw) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", json=body or CHAT, timeout=15, **kw)


@pytest.fixture
def gw_short(fake, tmp_path):
    write_config(tmp_path, fake)
    text = (tmp_path / "ekai.yaml").read_text().replace(
        "server: {host: 127.0.0.1, port: 3001}",
        "server: {host: 127.0.0.1, port: 3001, timeouts: {first_byte: 0.5}}",
    )
    (tmp_path / "ekai.yaml").write_text(text)
    gw = Gateway(tmp_path, env=KEYS).start()
    yield gw
    gw.stop()


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(status=500, json={"error": {"message": "boom", "type": "server_error"}}), "500"),
        (Reply(status=429, json={"error": {"message": "slow down"}}), "429"),
        (Reply(status=503, json={"error": {"message": "overloaded"}}), "503"),
        (Reply(delay=2.0, json={}), "timeout"),
    ],
)
def test_fallback_to_the_next_provider(gw_short, fake, reply, reason):
    reply.provider = "openrouter"  # gpt-5 is cheapest at openrouter, then openai
    fake.queue(reply)
    resp = chat(gw_short)
    assert resp.status_code == 200 and resp.headers["x-ekai-provider"] == "openai"
    row = gw_short.row(resp.headers["x-request-id"])
    assert row["provider"] == "openai" and row["attempts"] == f"openrouter:{reason}"
    assert row["error"] is None and row["cost_pico_usd"] > 0


def test_connect_error_falls_back(fake, tmp_path):
    providers = "\n".join([
        "  openrouter: {format: openai, base_url: 'http://127.0.0.1:9/v1', api_key_env: OPENROUTER_API_KEY}",
        f"  openai: {{format: openai, base_url: {fake.base_url('openai', 'openai')}, api_key_env: OPENAI_API_KEY}}",
    ])
    write_config(tmp_path, fake, providers=providers)
    gw = Gateway(tmp_path, env=KEYS).start()
    try:
        resp = chat(gw)
        assert resp.status_code == 200
        assert gw.row(resp.headers["x-request-id"])["attempts"] == "openrouter:connect"
        health = httpx.get(gw.url + "/health").json()["providers"]["openrouter"]
        assert health["consecutive_failures"] == 1 and "connect" in health["last_error"]
    finally:
        gw.stop()


def test_client_mistakes_are_not_retried_and_the_last_error_is_reported(gw_short, fake):
    fake.queue(Reply(status=400, provider="openrouter",
                     json={"error": {"message": "bad param", "type": "invalid_request_error"}}))
    resp = chat(gw_short)
    assert resp.status_code == 400 and "bad param" in resp.json()["error"]["message"]
    assert [s.provider for s in fake.seen] == ["openrouter"]

    fake.queue(Reply(status=500, provider="openrouter", json={"error": {"message": "a"}}),
               Reply(status=502, provider="openai", json={"error": {"message": "b down"}}))
    resp = chat(gw_short)
    assert resp.status_code == 502 and "b down" in resp.json()["error"]["message"]
    row = gw_short.row(resp.headers["x-request-id"])
    assert row["attempts"] == "openrouter:500" and row["provider"] == "openai" and row["status"] == 502


def test_retry_after_cools_a_provider_down(gw_short, fake):
    fake.queue(Reply(status=429, provider="openrouter", headers={"retry-after": "30"},
                     json={"error": {"message": "rate limited"}}))
    assert chat(gw_short).headers["x-ekai-provider"] == "openai"
    resp = chat(gw_short)  # openrouter is cooling down: openai first, no failed attempt
    assert resp.headers["x-ekai-provider"] == "openai"
    assert gw_short.row(resp.headers["x-request-id"])["attempts"] is None
    health = httpx.get(gw_short.url + "/health").json()["providers"]["openrouter"]
    assert 25 < health["cooling_down_s"] <= 30


def write_atomically(path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp~")
    tmp.write_text(text)
    os.replace(tmp, path)


def wait_provider(gw: Gateway, expected: str, body: dict | None = None, timeout: float = 20.0,
                  in_a_row: int = 1) -> None:
    """Poll until `in_a_row` consecutive requests are served by `expected` (with several workers,
    a run of them shows that every worker has the new config, not just the one that answered)."""
    deadline = time.monotonic() + timeout
    run = 0
    while run < in_a_row:
        resp = chat(gw, body)
        if resp.status_code == 200 and resp.headers["x-ekai-provider"] == expected:
            run += 1
            continue
        run = 0
        if time.monotonic() > deadline:
            raise AssertionError(f"still {resp.status_code} {resp.headers.get('x-ekai-provider')}: {resp.text}")
        time.sleep(0.1)


@pytest.mark.parametrize("workers", [1, 2])
def test_live_reload(fake, tmp_path, workers):
    write_config(tmp_path, fake)
    gw = Gateway(tmp_path, env=KEYS, args=["--workers", str(workers)]).start()
    try:
        assert chat(gw).headers["x-ekai-provider"] == "openrouter"
        # a long stream that must survive the edits below
        fake.queue(Reply(events=openai_stream("gpt-5", ["w"] * 12, None, include_usage=True),
                         chunk_delay=0.25, provider="openrouter"))
        streamed: list[str] = []

        def stream() -> None:
            with httpx.stream("POST", gw.url + "/v1/chat/completions", json={**CHAT, "stream": True},
                              timeout=30) as r:
                streamed.extend(r.iter_lines())

        t = threading.Thread(target=stream)
        t.start()
        deadline = time.monotonic() + 20
        while not streamed:  # the stream is under way before the edits start
            assert time.monotonic() < deadline, "the stream did not start"
            time.sleep(0.05)

        # 1. a price edit saved by rename (as editors do) moves gpt-5 to openai
        prices = tmp_path / "pricing" / "openrouter.yaml"
        write_atomically(prices, prices.read_text().replace("input: 1.0, output: 9.0", "input: 9.0, output: 90"))
        wait_provider(gw, "openai", in_a_row=4 * workers)  # how fast is bench/'s business

        # 2. a broken edit, in place, is refused; the last good config keeps serving
        config = tmp_path / "ekai.yaml"
        good = config.read_text()
        config.write_text(good.replace("routing:\n  strategy: cheapest", "routing:\n  strategy: fastest"))
        deadline = time.monotonic() + 20
        while True:
            health = httpx.get(gw.url + "/health").json()["config"]
            if health["last_error"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert "ekai.yaml:" in health["last_error"] and "routing.strategy" in health["last_error"]
        for _ in range(6):
            assert chat(gw).headers["x-ekai-provider"] == "openai"
        assert "config not applied" in gw.output() and "routing.strategy" in gw.output()

        # 3. a good in-place edit: a new alias, and a pin that sends gpt-5 back to openrouter
        config.write_text(good.replace("  sonnet: claude-sonnet-4-6", "  sonnet: claude-sonnet-4-6\n  five: gpt-5")
                          .replace('{"grok-*": [xai]}', '{"grok-*": [xai], "gpt-5": [openrouter]}'))
        wait_provider(gw, "openrouter", {**CHAT, "model": "five"}, in_a_row=4 * workers)
        for _ in range(8):  # every worker serves the new config
            assert chat(gw, {**CHAT, "model": "five"}).headers["x-ekai-provider"] == "openrouter"
        digests = {httpx.get(gw.url + "/health").json()["config"]["digest"] for _ in range(8)}
        assert len(digests) == 1
        assert httpx.get(gw.url + "/health").json()["config"]["last_error"] is None

        t.join(15)
        streamed = [line for line in streamed if line]
        assert streamed[-1] == "data: [DONE]" and sum(line.startswith("data: {") for line in streamed) >= 14
    finally:
        gw.stop()


def test_sdk_sees_the_reload_too(fake, tmp_path):
    write_config(tmp_path, fake)
    gw = Gateway(tmp_path, env=KEYS).start()
    try:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0)
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="brand-new", messages=[{"role": "user", "content": "x"}])
        config = tmp_path / "ekai.yaml"
        write_atomically(config, config.read_text().replace("  sonnet: claude-sonnet-4-6",
                                                            "  sonnet: claude-sonnet-4-6\n  brand-new: gpt-4o-mini"))
        deadline = time.monotonic() + 3
        while True:
            try:
                reply = client.chat.completions.create(model="brand-new", messages=[{"role": "user", "content": "x"}])
                break
            except openai.NotFoundError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert reply.choices[0].message.content
    finally:
        gw.stop()
