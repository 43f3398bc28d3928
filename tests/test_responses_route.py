"""POST /v1/responses through the real gateway, with the official `openai` SDK as the client:
passthrough to a provider serving the Responses API, usage rows and costs, errors, fallback,
streams that break. (Translated paths: tests/test_responses_translated.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.conftest import KEYS, write_config
from tests.fakes.responses import (
    RESPONSES_USAGE,
    function_call,
    message,
    reasoning,
    response_events,
    response_json,
)
from tests.fakes.upstream import FakeUpstream, Reply
from tests.gateway_proc import Gateway

PROVIDERS = "\n".join(
    [
        "  anthropic: {format: anthropic, base_url: %(anthropic)s, api_key_env: ANTHROPIC_API_KEY}",
        "  openai: {format: openai, base_url: %(openai)s, api_key_env: OPENAI_API_KEY}",
        # Grok through Chat Completions: a Responses client is translated for it
        "  xai: {format: openai, base_url: %(xai)s, api_key_env: XAI_API_KEY, responses: false}",
        "  openrouter: {format: openai, base_url: %(openrouter)s, api_key_env: OPENROUTER_API_KEY}",
        "  codexonly: {format: responses, base_url: %(codexonly)s, api_key_env: OPENAI_API_KEY}",
    ]
)
CODEX_PRICES = """
provider: openai
unit: usd_per_million_tokens
models:
  gpt-5.1-codex: {input: 1.25, output: 10.0, cache_read: 0.125, format: responses}
"""
ONLY_PRICES = """
provider: codexonly
unit: usd_per_million_tokens
models:
  codex-mini: {input: 1.5, output: 6.0, cache_read: 0.375}
"""


def providers_for(fake: FakeUpstream) -> str:
    names = ("anthropic", "openai", "xai", "openrouter", "codexonly")
    return PROVIDERS % {n: fake.base_url(n, "anthropic" if n == "anthropic" else "openai") for n in names}


@pytest.fixture(scope="module")
def rgw(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("responses")
    write_config(folder, fake, providers=providers_for(fake))
    (folder / "pricing" / "openai-codex.yaml").write_text(CODEX_PRICES)
    (folder / "pricing" / "codexonly.yaml").write_text(ONLY_PRICES)
    gateway = Gateway(folder, env=KEYS).start()
    yield gateway
    gateway.stop()


def client(gw: Gateway, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="client-key-not-forwarded", max_retries=0, **kw)


# 6500 input incl. 5000 cached -> 1500 uncached; 250 output incl. 100 reasoning
GPT4O_MINI_COST = 1500 * 150_000 + 5000 * 75_000 + 250 * 600_000  # pico-USD at 0.15 / 0.075 / 0.6


def test_passthrough_non_streaming_forwards_the_bytes_and_records_the_row(rgw, fake):
    body = {"model": "gpt-4o-mini", "input": "hi", "instructions": "Be brief.", "store": False}
    resp = httpx.post(rgw.url + "/v1/responses", json=body, headers={"authorization": "Bearer x"})
    assert resp.status_code == 200, resp.text
    parsed = client(rgw).responses.create(**body)  # the SDK parses the same reply
    assert parsed.output_text == "Hello from the fake."
    assert parsed.usage is not None and parsed.usage.input_tokens_details.cached_tokens == 5000
    seen = fake.last("openai")
    assert seen.path == "/openai/v1/responses" and seen.body == body
    assert seen.headers["authorization"] == f"Bearer {KEYS['OPENAI_API_KEY']}"
    assert resp.headers["x-ekai-provider"] == "openai"
    row = rgw.row(resp.headers["x-request-id"])
    assert row["client_format"] == "responses" and row["provider"] == "openai" and row["stream"] == 0
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"], row["reasoning_tokens"]) == (
        1500,
        5000,
        250,
        100,
    )
    assert row["cost_pico_usd"] == GPT4O_MINI_COST == 750_000_000
    assert row["status"] == 200 and row["error"] is None


def test_passthrough_without_v1_prefix(rgw, fake):
    resp = httpx.post(rgw.url + "/responses", json={"model": "gpt-4o-mini", "input": "hi"})
    assert resp.status_code == 200 and resp.json()["object"] == "response"
    assert fake.last("openai").path == "/openai/v1/responses"


def test_passthrough_stream_with_the_sdk_stream_helper(rgw, fake):
    items = [reasoning("Thinking it over."), message("Streamed hello.")]
    fake.queue(Reply(events=response_events("gpt-4o-mini", items), provider="openai"))
    with client(rgw).responses.with_streaming_response.create(
        model="gpt-4o-mini", input="hi", stream=True
    ) as raw:
        request_id = raw.headers["x-request-id"]
        events = list(raw.parse())
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Streamed hello."
    assert "response.reasoning_summary_text.delta" in kinds
    row = rgw.row(request_id)
    assert row["stream"] == 1 and row["client_format"] == "responses"
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (1500, 5000, 250)
    assert row["cost_pico_usd"] == GPT4O_MINI_COST and row["error"] is None


def test_stream_helper_accumulates_a_function_call(rgw, fake):
    call = function_call("get_weather", '{"city": "Paris"}', call_id="call_w1")
    fake.queue(Reply(events=response_events("gpt-4o-mini", [call]), provider="openai"))
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}]
    with client(rgw).responses.stream(model="gpt-4o-mini", input="weather?", tools=tools) as stream:
        final = stream.get_final_response()
    out = final.output[0]
    assert out.type == "function_call" and out.name == "get_weather" and out.arguments == '{"city": "Paris"}'
    assert fake.last("openai").body["tools"] == tools


def test_multi_turn_with_function_call_output_goes_through(rgw, fake):
    turn = [
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]
    reply = client(rgw).responses.create(model="gpt-4o-mini", input=turn)
    assert reply.output_text == "Hello from the fake."
    assert fake.last("openai").body["input"] == turn


def test_a_model_mapped_to_another_id_is_rewritten_and_routed_by_price(rgw, fake):
    # gpt-5: openrouter (1 + 9) is cheaper than openai (1.25 + 10); openrouter serves /responses too
    resp = client(rgw).responses.with_raw_response.create(model="gpt-5", input="hi")
    assert resp.headers["x-ekai-provider"] == "openrouter"
    assert fake.last("openrouter").body["model"] == "openai/gpt-5"
    row = rgw.row(resp.headers["x-request-id"])
    assert row["provider_model"] == "openai/gpt-5"
    assert row["cost_pico_usd"] == 1500 * 1_000_000 + 5000 * 100_000 + 250 * 9_000_000


def test_format_responses_provider_serves_its_models(rgw, fake):
    resp = client(rgw).responses.with_raw_response.create(model="codex-mini", input="hi")
    assert resp.headers["x-ekai-provider"] == "codexonly"
    assert fake.last("codexonly").path == "/codexonly/v1/responses"
    row = rgw.row(resp.headers["x-request-id"])
    assert row["cost_pico_usd"] == 1500 * 1_500_000 + 5000 * 375_000 + 250 * 6_000_000


# --- errors ---------------------------------------------------------------------------------


def test_upstream_error_keeps_status_and_openai_shape(rgw, fake):
    body = {
        "error": {
            "message": "Invalid 'input': bad.",
            "type": "invalid_request_error",
            "param": "input",
            "code": "invalid_value",
        }
    }
    fake.queue(Reply(status=400, json=body, provider="openai"))
    with pytest.raises(openai.BadRequestError) as info:
        client(rgw).responses.create(model="gpt-4o-mini", input="hi")
    assert info.value.status_code == 400
    assert info.value.body == body["error"]  # the upstream's error as it was, param and code included
    row = rgw.row(info.value.response.headers["x-request-id"])
    assert row["status"] == 400 and "Invalid 'input'" in row["error"] and row["client_format"] == "responses"


def test_fallback_after_a_429(rgw, fake):
    fake.queue(
        Reply(
            status=429,
            json={"error": {"message": "slow down", "type": "rate_limit_exceeded"}},
            provider="openrouter",
        )
    )
    resp = client(rgw).responses.with_raw_response.create(model="gpt-5", input="hi")
    assert resp.headers["x-ekai-provider"] == "openai"
    assert resp.parse().output_text == "Hello from the fake."
    row = rgw.row(resp.headers["x-request-id"])
    assert row["attempts"] == "openrouter:429" and row["provider"] == "openai" and row["status"] == 200


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "hi"}, "model"),
        ({"model": "gpt-4o-mini", "input": 5}, "input"),
        ({"model": "gpt-4o-mini"}, "input"),
        ({"model": "gpt-4o-mini", "input": ["text"]}, "input[0]"),
        ({"model": "gpt-4o-mini", "input": "hi", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "gpt-4o-mini", "input": "hi", "stream": "yes"}, "stream"),
    ],
)
def test_bad_requests_get_a_400_naming_the_parameter(rgw, fake, body, param):
    resp = httpx.post(rgw.url + "/v1/responses", json=body)
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["param"] == param and err["type"] == "invalid_request_error"
    rid = resp.headers["x-request-id"]
    assert rgw.row(rid)["client_format"] == "responses" and rgw.row(rid)["status"] == 400


def test_unknown_model_is_a_404_in_openai_shape(rgw, fake):
    with pytest.raises(openai.NotFoundError) as info:
        client(rgw).responses.create(model="no-such-model", input="hi")
    assert info.value.body["code"] == "model_not_found"


def test_responses_subroutes_answer_in_openai_shape(rgw):
    resp = httpx.get(rgw.url + "/v1/responses/resp_123")
    assert resp.status_code in (404, 405)
    assert "error" in resp.json() and "message" in resp.json()["error"]


def test_the_providers_own_failure_event_passes_through_and_is_recorded(rgw, fake):
    fake.queue(
        Reply(
            events=response_events("gpt-4o-mini", [message("partial")], fail="model crashed"),
            provider="openai",
        )
    )
    with client(rgw).responses.with_streaming_response.create(
        model="gpt-4o-mini", input="hi", stream=True
    ) as raw:
        request_id = raw.headers["x-request-id"]
        events = list(raw.parse())
    assert events[-1].type == "response.failed"
    assert events[-1].response.error.message == "model crashed"
    row = rgw.row(request_id)
    assert row["error"] and "model crashed" in row["error"]


def test_a_stream_cut_short_ends_with_response_failed_never_completed(rgw, fake):
    events = response_events("gpt-4o-mini", [message("never finished")])
    cut_at = next(i for i, (name, _) in enumerate(events) if name == "response.output_text.done")
    fake.queue(Reply(events=events[:cut_at], cut=True, provider="openai"))
    with client(rgw).responses.with_streaming_response.create(
        model="gpt-4o-mini", input="hi", stream=True
    ) as raw:
        request_id = raw.headers["x-request-id"]
        got = list(raw.parse())
    kinds = [e.type for e in got]
    assert kinds[-1] == "response.failed" and "response.completed" not in kinds
    assert got[-1].sequence_number == got[-2].sequence_number + 1
    assert got[-1].response.id == got[0].response.id  # the failure names the response that started
    row = rgw.row(request_id)
    assert row["error"] and row["status"] == 200


def test_incomplete_is_a_normal_end(rgw, fake):
    fake.queue(
        Reply(
            events=response_events("gpt-4o-mini", [message("trunc")], status="incomplete"), provider="openai"
        )
    )
    with client(rgw).responses.with_streaming_response.create(
        model="gpt-4o-mini", input="hi", stream=True
    ) as raw:
        request_id = raw.headers["x-request-id"]
        got = list(raw.parse())
    assert got[-1].type == "response.incomplete"
    assert got[-1].response.incomplete_details.reason == "max_output_tokens"
    row = rgw.row(request_id)
    assert row["error"] is None and row["output_tokens"] == 250


def test_unknown_future_item_types_pass_through_on_the_same_format(rgw, fake):
    """The gateway does not judge item types it does not translate: the provider does."""
    future = {"type": "hologram_call", "call_id": "h1", "payload": {}}
    resp = httpx.post(rgw.url + "/v1/responses", json={"model": "gpt-4o-mini", "input": [future]})
    assert resp.status_code == 400  # the (fake) provider refuses it, naming the type
    assert "hologram_call" in resp.json()["error"]["message"]
    assert fake.last("openai").body["input"] == [future]


def test_stream_options_go_through(rgw, fake):
    fake.queue(Reply(events=response_events("gpt-4o-mini"), provider="openai"))
    body = {
        "model": "gpt-4o-mini",
        "input": "hi",
        "stream": True,
        "stream_options": {"include_obfuscation": False},
    }
    with httpx.stream("POST", rgw.url + "/v1/responses", json=body) as resp:
        text = resp.read().decode()
    assert "response.completed" in text
    assert fake.last("openai").body["stream_options"] == {"include_obfuscation": False}


def test_usage_json_carries_the_cached_and_reasoning_details(rgw, fake):
    usage = {
        **RESPONSES_USAGE,
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 10,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 110,
    }
    fake.queue(Reply(json=response_json("gpt-4o-mini", usage=usage), provider="openai"))
    resp = client(rgw).responses.with_raw_response.create(model="gpt-4o-mini", input="hi")
    row = rgw.row(resp.headers["x-request-id"])
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (100, 0, 10)
    assert row["cost_pico_usd"] == 100 * 150_000 + 10 * 600_000


# --- gateway keys, aliases, pins and hot reload, as on the other routes ----------------------


def test_gateway_keys_aliases_and_reload_apply_to_responses(fake, tmp_path):
    from tests.test_fallback_reload import write_atomically

    write_config(tmp_path, fake, extra="auth:\n  keys: {team: TEAM_KEY}")
    gw = Gateway(tmp_path, env={**KEYS, "TEAM_KEY": "team-secret-1"}).start()
    try:
        resp = httpx.post(gw.url + "/v1/responses", json={"model": "gpt-4o-mini", "input": "x"})
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_api_key"
        good = openai.OpenAI(base_url=gw.url + "/v1", api_key="team-secret-1", max_retries=0)
        raw = good.responses.with_raw_response.create(model="sonnet", input="x")  # alias -> Claude
        assert raw.headers["x-ekai-provider"] == "anthropic"
        assert gw.row(raw.headers["x-request-id"])["api_key_name"] == "team"
        # a pin added by a live edit sends gpt-5 to openai's Responses endpoint
        config = tmp_path / "ekai.yaml"
        write_atomically(
            config, config.read_text().replace('{"grok-*": [xai]}', '{"grok-*": [xai], "gpt-5": [openai]}')
        )

        def provider() -> str:
            return good.responses.with_raw_response.create(model="gpt-5", input="x").headers[
                "x-ekai-provider"
            ]

        from tests.fakes.upstream import wait_for

        wait_for(lambda: provider() == "openai", timeout=5)
        assert fake.last("openai").path == "/openai/v1/responses"
    finally:
        gw.stop()


def test_a_client_leaving_after_the_whole_answer_is_not_an_error(rgw, fake):
    """Codex closes the connection as soon as it reads `response.completed`; the gateway may still
    be waiting for the provider to close its side. That is a complete answer, not a failure."""
    from tests.fakes.upstream import encode_event

    events = b"".join(encode_event(n, d) for n, d in response_events("gpt-4o-mini", [message("done")]))
    fake.queue(Reply(raw_chunks=[events, b": still open\n\n"], chunk_delay=1.0, provider="openai"))
    body = {"model": "gpt-4o-mini", "input": "hi", "stream": True}
    with httpx.stream("POST", rgw.url + "/v1/responses", json=body, timeout=10) as resp:
        request_id = resp.headers["x-request-id"]
        seen = b""
        for chunk in resp.iter_bytes():
            seen += chunk
            if b"response.completed" in seen:
                break  # leave now, as Codex does
    row = rgw.row(request_id)
    assert row["status"] == 200 and row["error"] is None and row["output_tokens"] == 250
