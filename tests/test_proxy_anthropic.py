"""Anthropic clients to Anthropic, through the real gateway."""

from __future__ import annotations

import anthropic
import httpx

from tests.conftest import KEYS
from tests.fakes.upstream import Reply, anthropic_message, anthropic_stream
from tests.gateway_proc import Gateway


def client(gw: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="client-key-not-forwarded", max_retries=0)


def test_non_streaming_reply_usage_and_cost(gw, fake):
    raw = client(gw).messages.with_raw_response.create(
        model="claude-sonnet-4-6",
        max_tokens=100,
        system="Be terse.",
        messages=[{"role": "user", "content": "hi"}],
    )
    msg = raw.parse()
    assert msg.content[0].text == "Hello from the fake." and msg.stop_reason == "end_turn"
    assert raw.headers["x-ekai-provider"] == "anthropic"
    seen = fake.last("anthropic")
    assert seen.path == "/anthropic/v1/messages"
    assert seen.headers["x-api-key"] == KEYS["ANTHROPIC_API_KEY"]
    assert "client-key-not-forwarded" not in str(seen.headers)
    assert seen.body["system"] == "Be terse." and seen.body["max_tokens"] == 100
    row = gw.row(raw.headers["x-request-id"])
    # Anthropic's input_tokens already excludes cache reads and writes: nothing is subtracted
    assert (
        row["input_tokens"],
        row["cache_read_tokens"],
        row["cache_write_tokens"],
        row["output_tokens"],
    ) == (1200, 5000, 300, 250)
    # 1200*3 + 5000*0.3 + 300*3.75 + 250*15 = 3600 + 1500 + 1125 + 3750 = 9975 per 1M
    assert row["cost_pico_usd"] == 9_975_000_000 and row["cost_usd"] == 0.009975


def test_stream_with_the_sdk_helper(gw, fake):
    with client(gw).messages.stream(
        model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        request_id = stream.response.headers["x-request-id"]
    assert text == "Hello from the fake."
    assert final.usage.output_tokens == 250 and final.usage.cache_read_input_tokens == 5000
    row = gw.row(request_id)
    assert row["stream"] == 1 and row["cost_pico_usd"] == 9_975_000_000 and row["error"] is None


def test_alias_and_provider_model_id(gw, fake):
    raw = client(gw).messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    assert fake.last("anthropic").body["model"] == "claude-haiku-4-5-20251001"
    row = gw.row(raw.headers["x-request-id"])
    assert row["model"] == "claude-haiku-4-5" and row["provider_model"] == "claude-haiku-4-5-20251001"
    client(gw).messages.create(model="sonnet", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert fake.last("anthropic").body["model"] == "claude-sonnet-4-6"


def test_version_beta_headers_and_beta_query_reach_anthropic(gw, fake):
    c = client(gw)
    c.beta.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=10,
        messages=[{"role": "user", "content": "hi"}],
        betas=["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"],
        extra_query={"beta": "true"},  # what Claude Code sends
    )
    seen = fake.last("anthropic")
    assert seen.query == "beta=true"
    assert seen.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14,context-1m-2025-08-07"
    assert seen.headers["anthropic-version"] == c.default_headers["anthropic-version"]  # not pinned
    c.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=10,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"anthropic-version": "2023-06-01"},
    )
    seen = fake.last("anthropic")
    assert seen.query == "" and "anthropic-beta" not in seen.headers
    assert seen.headers["anthropic-version"] == "2023-06-01"


def test_one_hour_cache_writes_are_priced_apart(gw, fake):
    usage = {
        "input_tokens": 10,
        "cache_creation_input_tokens": 1000,
        "cache_read_input_tokens": 0,
        "output_tokens": 5,
        "cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 600},
    }
    fake.queue(Reply(json=anthropic_message("claude-sonnet-4-6", usage=usage)))
    raw = client(gw).messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    row = gw.row(raw.headers["x-request-id"])
    assert row["cache_write_tokens"] == 1000 and row["cache_write_1h_tokens"] == 600
    # 10*3 + 400*3.75 + 600*6 + 5*15 = 30 + 1500 + 3600 + 75 = 5205 per 1M
    assert row["cost_pico_usd"] == 5_205_000_000


def test_stream_usage_from_message_start_and_delta(gw, fake):
    usage = {
        "input_tokens": 7,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 2048,
        "output_tokens": 96,
    }
    fake.queue(Reply(events=anthropic_stream("claude-sonnet-4-6", ["x"], usage=usage)))
    with client(gw).messages.stream(
        model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        stream.get_final_message()
        request_id = stream.response.headers["x-request-id"]
    row = gw.row(request_id)
    # cache reads priced at the cache price, not as input, when streaming (LiteLLM #11789)
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (7, 2048, 96)
    assert row["cost_pico_usd"] == (7 * 3 * 10**6) + (2048 * 3 * 10**5) + (96 * 15 * 10**6)


def test_count_tokens_is_forwarded_for_claude(gw, fake):
    resp = client(gw).messages.count_tokens(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}]
    )
    assert resp.input_tokens == 42
    seen = fake.last("anthropic")
    assert seen.path == "/anthropic/v1/messages/count_tokens"
    assert seen.headers["x-api-key"] == KEYS["ANTHROPIC_API_KEY"]


def test_head_of_base_url_is_harmless(gw):
    # Claude Code sends HEAD {base_url} first; any clean answer is fine
    resp = httpx.head(gw.url, timeout=5)
    assert resp.status_code in (200, 404, 405)
    assert "x-request-id" in resp.headers
