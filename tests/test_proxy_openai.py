"""OpenAI clients to OpenAI-format providers (openai, xai, openrouter, custom), through the real gateway."""

from __future__ import annotations

import itertools

import httpx
import openai
import pytest

from tests.conftest import KEYS, write_config
from tests.fakes.upstream import Reply, openai_completion, openai_stream
from tests.gateway_proc import Gateway


def client(gw: Gateway, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="client-key-not-forwarded", max_retries=0, **kw)


def test_non_streaming_reply_usage_and_cost(gw, fake):
    raw = client(gw).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], temperature=0.2
    )
    reply = raw.parse()
    assert reply.choices[0].message.content == "Hello from the fake."
    assert raw.headers["x-ekai-provider"] == "openai"
    seen = fake.last("openai")
    assert seen.path == "/openai/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {KEYS['OPENAI_API_KEY']}"  # the provider's key
    assert "client-key-not-forwarded" not in str(seen.headers)
    assert seen.body["temperature"] == 0.2 and "stream_options" not in seen.body

    row = gw.row(raw.headers["x-request-id"])
    # prompt_tokens 6500 includes 5000 cached -> 1500 uncached; completion 250 includes 100 reasoning
    assert (row["input_tokens"], row["cache_read_tokens"], row["cache_write_tokens"]) == (1500, 5000, 0)
    assert (row["output_tokens"], row["reasoning_tokens"]) == (250, 100)
    # 1500*0.15 + 5000*0.075 + 250*0.6 = 750 per 1M -> $0.00075
    assert row["cost_pico_usd"] == 750_000_000
    assert row["cost_usd"] == pytest.approx(0.00075, abs=1e-15)
    assert row["status"] == 200 and row["error"] is None and row["stream"] == 0
    assert row["client_format"] == "openai" and row["provider"] == "openai"
    assert row["ts"].endswith("Z") and len(row["ts"]) == 24
    assert row["latency_ms"] > 0 and row["ttft_ms"] > 0


def test_stream_drops_the_usage_chunk_the_client_did_not_ask_for(gw, fake):
    with client(gw).chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    ) as resp:
        request_id = resp.headers["x-request-id"]
        chunks = list(resp.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from the fake."
    assert all(c.choices for c in chunks), "a usage-only chunk reached a client that did not ask"
    assert all(c.usage is None for c in chunks)
    assert fake.last("openai").body["stream_options"] == {"include_usage": True}  # forced upstream
    row = gw.row(request_id)
    assert row["stream"] == 1 and row["output_tokens"] == 250 and row["cost_pico_usd"] == 750_000_000


def test_stream_keeps_the_usage_chunk_when_asked(gw, fake):
    stream = client(gw).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 6500


def test_stream_helper_accumulates(gw, fake):
    with client(gw).chat.completions.stream(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Hello from the fake."


def test_stream_events_are_forwarded_as_they_arrive(gw, fake):
    """Each upstream event reaches the client before the next is produced (no buffering)."""
    fake.queue(
        Reply(
            events=openai_stream("gpt-4o-mini", ["a", "b", "c", "d"], None, include_usage=True),
            chunk_delay=0.3,
        )
    )
    import time

    arrivals = []
    with httpx.stream(
        "POST",
        gw.url + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": True},
        timeout=10,
    ) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: {"):
                arrivals.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) >= 5
    assert sum(g > 0.2 for g in gaps) >= 4, f"events arrived together: gaps {gaps}"


def test_grok_goes_to_xai_and_reasoning_is_billed_as_output(gw, fake):
    # xAI's completion_tokens excludes reasoning; total_tokens gives it away
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 50,
        "total_tokens": 1350,
        "prompt_tokens_details": {"cached_tokens": 200},
        "completion_tokens_details": {"reasoning_tokens": 300},
    }
    fake.queue(Reply(json=openai_completion("grok-4", usage=usage)))
    raw = client(gw).chat.completions.with_raw_response.create(
        model="grok-4", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-ekai-provider"] == "xai"
    assert fake.last("xai").headers["authorization"] == f"Bearer {KEYS['XAI_API_KEY']}"
    row = gw.row(raw.headers["x-request-id"])
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"], row["reasoning_tokens"]) == (
        800,
        200,
        350,
        300,
    )
    # 800*3 + 200*0.75 + 350*15 = 2400 + 150 + 5250 = 7800 per 1M
    assert row["cost_pico_usd"] == 7_800_000_000


def test_openrouter_cost_is_taken_from_its_usage(gw, fake):
    usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120, "cost": 0.0001234}
    fake.queue(Reply(json=openai_completion("moonshotai/kimi-k2", usage=usage)))
    raw = client(gw).chat.completions.with_raw_response.create(
        model="moonshotai/kimi-k2", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-ekai-provider"] == "openrouter"
    assert fake.last("openrouter").body["model"] == "moonshotai/kimi-k2"
    row = gw.row(raw.headers["x-request-id"])
    assert row["cost_source"] == "provider" and row["cost_pico_usd"] == 123_400_000


def test_cheapest_provider_gets_the_model_with_its_own_id(gw, fake):
    # gpt-5: openai 1.25+10, openrouter 1.0+9 -> openrouter, as openai/gpt-5
    raw = client(gw).chat.completions.with_raw_response.create(
        model="gpt-5", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-ekai-provider"] == "openrouter"
    assert fake.last("openrouter").body["model"] == "openai/gpt-5"


def test_unlisted_vendor_slug_goes_to_openrouter_unpriced(gw, fake):
    raw = client(gw).chat.completions.with_raw_response.create(
        model="mistralai/some-new-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-ekai-provider"] == "openrouter"
    row = gw.row(raw.headers["x-request-id"])
    assert row["cost_usd"] is None and row["cost_pico_usd"] is None
    assert row["input_tokens"] == 1500 and row["status"] == 200


def test_forced_provider_header(gw, fake):
    raw = client(gw).chat.completions.with_raw_response.create(
        model="gpt-5",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-ekai-provider": "openai"},
    )
    assert raw.headers["x-ekai-provider"] == "openai"
    assert fake.last("openai").body["model"] == "gpt-5"


def test_custom_openai_compatible_provider_without_key(fake, tmp_path):
    providers = f"  local: {{format: openai, base_url: {fake.base_url('local', 'openai')}}}"
    write_config(tmp_path, fake, providers=providers)
    text = (
        (tmp_path / "ekai.yaml")
        .read_text()
        .replace('{"grok-*": [xai]}', '{"grok-*": [xai], "llama*": [local]}')
    )
    (tmp_path / "ekai.yaml").write_text(text)
    gw = Gateway(tmp_path, env={}).start()
    try:
        raw = client(gw).chat.completions.with_raw_response.create(
            model="llama3", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.headers["x-ekai-provider"] == "local"
        assert gw.row(raw.headers["x-request-id"])["cost_usd"] is None  # no price table: NULL cost
        seen = fake.last("local")
        assert seen.body["model"] == "llama3" and "authorization" not in seen.headers
    finally:
        gw.stop()
