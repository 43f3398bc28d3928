"""The cost matrix: every provider convention, streamed and not, with and without cache, with
reasoning: the recorded tokens and cost equal hand-computed values (peers.md §3 lists the bugs
other gateways shipped here; each has a row below).

Prices (tests/conftest.py PRICING), USD per 1M tokens:
  anthropic claude-sonnet-4-6: input 3, output 15, cache_read 0.3, cache_write 3.75, cache_write_1h 6
  openai gpt-4o-mini: input 0.15, output 0.6, cache_read 0.075
  xai grok-4: input 3, output 15, cache_read 0.75
  openrouter moonshotai/kimi-k2: input 0.5, output 2.4 (but OpenRouter's own usage.cost wins)
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from tests.fakes.upstream import Reply, anthropic_message, anthropic_stream, openai_completion, openai_stream


def pico(usd_per_million: Decimal | int | str) -> int:
    """USD-per-1M arithmetic -> pico-dollars."""
    return int(Decimal(usd_per_million) * 10**6)


# name, client path, model, upstream usage, stream?, expected (input, cache_read, cache_write, output, reasoning), pico
ANTHROPIC_CACHE = {"input_tokens": 100, "cache_read_input_tokens": 20_000, "cache_creation_input_tokens": 3_000,
                   "output_tokens": 500}
ANTHROPIC_PLAIN = {"input_tokens": 100, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0,
                   "output_tokens": 500}
OPENAI_CACHE = {"prompt_tokens": 21_000, "completion_tokens": 900, "total_tokens": 21_900,
                "prompt_tokens_details": {"cached_tokens": 20_000},
                "completion_tokens_details": {"reasoning_tokens": 600}}
OPENAI_PLAIN = {"prompt_tokens": 1_000, "completion_tokens": 900, "total_tokens": 1_900}
XAI_REASONING = {"prompt_tokens": 21_000, "completion_tokens": 300, "total_tokens": 21_900,
                 "prompt_tokens_details": {"cached_tokens": 20_000},
                 "completion_tokens_details": {"reasoning_tokens": 600}}
OPENROUTER = {"prompt_tokens": 1_000, "completion_tokens": 900, "total_tokens": 1_900, "cost": 0.00266}

CASES = [
    # Anthropic direct: input excludes cache; cache creation counted once (LiteLLM #9812, Bifrost #3451)
    ("anthropic-cache", "claude-sonnet-4-6", ANTHROPIC_CACHE, (100, 20_000, 3_000, 500, 0),
     pico(100 * 3 + 20_000 * Decimal("0.3") + 3_000 * Decimal("3.75") + 500 * 15)),
    ("anthropic-plain", "claude-sonnet-4-6", ANTHROPIC_PLAIN, (100, 0, 0, 500, 0), pico(100 * 3 + 500 * 15)),
    # OpenAI direct: prompt includes cached; cached priced at cache_read (Bifrost #904), reasoning inside output
    ("openai-cache", "gpt-4o-mini", OPENAI_CACHE, (1_000, 20_000, 0, 900, 600),
     pico(1_000 * Decimal("0.15") + 20_000 * Decimal("0.075") + 900 * Decimal("0.6"))),
    ("openai-plain", "gpt-4o-mini", OPENAI_PLAIN, (1_000, 0, 0, 900, 0),
     pico(1_000 * Decimal("0.15") + 900 * Decimal("0.6"))),
    # xAI: completion excludes reasoning, so output = 300 + 600
    ("xai-reasoning", "grok-4", XAI_REASONING, (1_000, 20_000, 0, 900, 600),
     pico(1_000 * 3 + 20_000 * Decimal("0.75") + 900 * 15)),
    # OpenRouter: its own usage.cost is the cost
    ("openrouter-cost", "moonshotai/kimi-k2", OPENROUTER, (1_000, 0, 0, 900, 0), 2_660_000_000),
]


def _reply(model: str, usage: dict, stream: bool, anthropic_upstream: bool) -> Reply:
    if anthropic_upstream:
        if stream:
            return Reply(events=anthropic_stream(model, ["a", "b"], usage=usage))
        return Reply(json=anthropic_message(model, usage=usage))
    if stream:
        return Reply(events=openai_stream(model, ["a", "b"], usage, include_usage=True))
    return Reply(json=openai_completion(model, usage=usage))


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(("name", "model", "usage", "tokens", "cost"), CASES, ids=[c[0] for c in CASES])
def test_same_format(gw, fake, name, model, usage, tokens, cost, stream):
    anthropic_upstream = model.startswith("claude")
    fake.queue(_reply(model, usage, stream, anthropic_upstream))
    if anthropic_upstream:
        path, body = "/v1/messages", {"model": model, "max_tokens": 50, "stream": stream,
                                      "messages": [{"role": "user", "content": "x"}]}
    else:
        path, body = "/v1/chat/completions", {"model": model, "stream": stream,
                                              "messages": [{"role": "user", "content": "x"}]}
    resp = httpx.post(gw.url + path, json=body, timeout=10)
    assert resp.status_code == 200
    row = gw.row(resp.headers["x-request-id"])
    got = (row["input_tokens"], row["cache_read_tokens"], row["cache_write_tokens"], row["output_tokens"],
           row["reasoning_tokens"])
    assert got == tokens
    assert row["cost_pico_usd"] == cost
    assert row["cost_usd"] == pytest.approx(cost / 1e12, rel=1e-12)
    assert row["price_version"] or row["cost_source"] == "provider"


def test_stream_without_client_usage_still_counts(gw, fake):
    """LiteLLM #5632: streams without include_usage were estimated; we ask upstream and count exactly."""
    resp = httpx.post(gw.url + "/v1/chat/completions", timeout=10,
                      json={"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    assert '"usage":{' not in resp.text
    row = gw.row(resp.headers["x-request-id"])
    assert row["output_tokens"] == 250 and row["cost_pico_usd"] == 750_000_000


def test_a_price_edit_does_not_rewrite_history(fake, tmp_path):
    """Each row keeps the cost and the price entry it was priced with when the table changes."""
    import os
    import time

    from tests.conftest import KEYS, write_config
    from tests.gateway_proc import Gateway

    write_config(tmp_path, fake)
    gw = Gateway(tmp_path, env=KEYS).start()
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}
    try:
        first = gw.row(httpx.post(gw.url + "/v1/chat/completions", json=body).headers["x-request-id"])
        table = tmp_path / "pricing" / "openai.yaml"
        tmp = tmp_path / "pricing" / "openai.yaml.tmp~"
        tmp.write_text(table.read_text().replace("{input: 0.15, output: 0.6", "{input: 0.3, output: 1.2"))
        os.replace(tmp, table)
        deadline = time.monotonic() + 5
        while True:
            resp = httpx.post(gw.url + "/v1/chat/completions", json=body)
            second = gw.row(resp.headers["x-request-id"])
            if second["price_version"] != first["price_version"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert second["price_version"] != first["price_version"]
        assert second["cost_pico_usd"] == 1_125_000_000  # 1500*0.3 + 5000*0.075 + 250*1.2
        again = gw.rows("request_id = ?", (first["request_id"],))[0]
        assert again["cost_pico_usd"] == first["cost_pico_usd"] == 750_000_000  # history unchanged
    finally:
        gw.stop()


def test_usage_totals_equal_the_sum_of_the_rows(gw):
    import time

    time.sleep(0.5)  # let earlier tests' rows reach the database first
    rows = gw.rows()
    totals = httpx.get(gw.url + "/usage", timeout=10).json()["totals"]
    assert totals["requests"] == len(rows)
    exact = sum(r["cost_pico_usd"] or 0 for r in rows)
    assert totals["cost_usd"] == float(Decimal(exact) / 10**12)


TRANSLATED = [
    # OpenAI client -> Anthropic provider: Anthropic's usage convention, priced at Anthropic's table
    ("openai->anthropic", "/v1/chat/completions", "claude-sonnet-4-6", ANTHROPIC_CACHE, True,
     (100, 20_000, 3_000, 500, 0), CASES[0][4]),
    # Anthropic client -> OpenAI provider: OpenAI's convention (prompt includes cached)
    ("anthropic->openai", "/v1/messages", "gpt-4o-mini", OPENAI_CACHE, False,
     (1_000, 20_000, 0, 900, 600), CASES[2][4]),
    # Anthropic client -> xAI: reasoning outside completion_tokens
    ("anthropic->xai", "/v1/messages", "grok-4", XAI_REASONING, False, (1_000, 20_000, 0, 900, 600), CASES[4][4]),
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(("name", "path", "model", "usage", "anthropic_upstream", "tokens", "cost"), TRANSLATED,
                         ids=[c[0] for c in TRANSLATED])
def test_translated(gw, fake, name, path, model, usage, anthropic_upstream, tokens, cost, stream):
    fake.queue(_reply(model, usage, stream, anthropic_upstream))
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "x"}]}
    if path == "/v1/messages":
        body["max_tokens"] = 50
    resp = httpx.post(gw.url + path, json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    row = gw.row(resp.headers["x-request-id"])
    got = (row["input_tokens"], row["cache_read_tokens"], row["cache_write_tokens"], row["output_tokens"],
           row["reasoning_tokens"])
    assert got == tokens and row["cost_pico_usd"] == cost
