"""Every client on every API: the Responses SDK on Claude and on Grok (Chat Completions), and
Chat Completions and Anthropic clients on a model served only through the Responses API
(`format: responses` in its price entry). Through the real gateway, the official SDKs parsing every
reply and stream, usage rows checked against hand-computed costs."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

from tests.fakes.builders import anthropic_events, openai_chunks
from tests.fakes.responses import (
    RESPONSES_USAGE,
    function_call,
    message,
    reasoning,
    response_events,
    response_json,
)
from tests.fakes.upstream import ANTHROPIC_USAGE, Reply, anthropic_message, openai_completion, wait_for
from tests.gateway_proc import Gateway
from tests.test_responses_route import rgw as _shared_gateway

rgw = _shared_gateway  # the gateway of tests/test_responses_route.py (module-scoped fixture)


def oa(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0)


def an(gw: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)


WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
SONNET_COST = 1200 * 3_000_000 + 300 * 3_750_000 + 5000 * 300_000 + 250 * 15_000_000
XAI_USAGE = {
    "prompt_tokens": 1000,
    "completion_tokens": 100,
    "total_tokens": 1150,
    "prompt_tokens_details": {"cached_tokens": 400},
    "completion_tokens_details": {"reasoning_tokens": 50},
}
GROK_COST = 600 * 3_000_000 + 400 * 750_000 + 150 * 15_000_000
CODEX_COST = 1500 * 1_250_000 + 5000 * 125_000 + 250 * 10_000_000


def sse(chunks):
    return [(None, c) for c in chunks] + [(None, "[DONE]")]


# --- Responses client -> Claude ---------------------------------------------------------------


def test_responses_sdk_on_claude_non_streaming(rgw, fake):
    fake.queue(Reply(json=anthropic_message("claude-sonnet-4-6", "Bonjour."), provider="anthropic"))
    raw = oa(rgw).responses.with_raw_response.create(
        model="claude-sonnet-4-6", instructions="Answer in French.", input="hello", max_output_tokens=100
    )
    reply = raw.parse()
    assert reply.output_text == "Bonjour." and reply.status == "completed"
    assert reply.usage.input_tokens == 1200 + 300 + 5000  # Responses input includes cached tokens
    assert reply.usage.input_tokens_details.cached_tokens == 5000
    sent = fake.last("anthropic").body
    assert sent["max_tokens"] == 100 and "Answer in French." in json.dumps(sent.get("system"))
    row = rgw.row(raw.headers["x-request-id"])
    assert row["client_format"] == "responses" and row["provider"] == "anthropic"
    assert row["cost_pico_usd"] == SONNET_COST


def test_responses_sdk_on_claude_stream_with_a_tool_call(rgw, fake):
    blocks = [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    fake.queue(
        Reply(
            events=anthropic_events(
                blocks, stop_reason="tool_use", usage=ANTHROPIC_USAGE, model="claude-sonnet-4-6"
            ),
            provider="anthropic",
        )
    )
    with oa(rgw).responses.stream(
        model="claude-sonnet-4-6", input="weather in Paris?", tools=[WEATHER]
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    calls = [o for o in final.output if o.type == "function_call"]
    assert calls and calls[0].name == "get_weather" and json.loads(calls[0].arguments) == {"city": "Paris"}
    assert final.usage.output_tokens == 250
    sent = fake.last("anthropic").body
    assert sent["tools"][0]["name"] == "get_weather" and sent["stream"] is True


def test_responses_multi_turn_on_claude_carries_the_tool_output(rgw, fake):
    fake.queue(Reply(json=anthropic_message("claude-sonnet-4-6", "It is sunny."), provider="anthropic"))
    turn = [
        {"role": "user", "content": "weather?"},
        {
            "type": "function_call",
            "call_id": "call_9",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_9", "output": "sunny"},
    ]
    reply = oa(rgw).responses.create(model="claude-sonnet-4-6", input=turn, tools=[WEATHER])
    assert reply.output_text == "It is sunny."
    msgs = fake.last("anthropic").body["messages"]
    blocks = [b for m in msgs if isinstance(m["content"], list) for b in m["content"]]
    assert {"tool_use", "tool_result"} <= {b["type"] for b in blocks}


def test_previous_response_id_to_a_translated_provider_is_a_clear_400(rgw, fake):
    with pytest.raises(openai.BadRequestError) as info:
        oa(rgw).responses.create(
            model="claude-sonnet-4-6", input="and then?", previous_response_id="resp_abc"
        )
    assert info.value.body["param"] == "previous_response_id"
    assert "resp_abc" in info.value.body["message"]
    assert not [s for s in fake.seen if s.provider == "anthropic"]


def test_previous_response_id_passes_through_to_a_responses_provider(rgw, fake):
    oa(rgw).responses.create(model="gpt-4o-mini", input="and then?", previous_response_id="resp_abc")
    assert fake.last("openai").body["previous_response_id"] == "resp_abc"


def test_claude_error_reaches_a_responses_client_in_openai_shape(rgw, fake):
    fake.queue(
        Reply(
            status=400,
            json={
                "type": "error",
                "error": {"type": "invalid_request_error", "message": "prompt is too long"},
            },
            provider="anthropic",
        )
    )
    with pytest.raises(openai.BadRequestError) as info:
        oa(rgw).responses.create(
            model="claude-sonnet-4-6", input="x", extra_headers={"x-ekai-provider": "anthropic"}
        )
    assert info.value.body["message"] == "prompt is too long"


def test_claude_mid_stream_error_ends_with_failed_never_completed(rgw, fake):
    events = anthropic_events([{"type": "text", "text": "partial answer"}], usage=ANTHROPIC_USAGE)
    cut = [e for e in events if e[0] not in ("message_delta", "message_stop", "content_block_stop")]
    cut.append(("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
    fake.queue(Reply(events=cut, provider="anthropic"))
    with oa(rgw).responses.with_streaming_response.create(
        model="claude-sonnet-4-6", input="x", stream=True, extra_headers={"x-ekai-provider": "anthropic"}
    ) as raw:
        request_id = raw.headers["x-request-id"]
        got = list(raw.parse())
    kinds = [e.type for e in got]
    assert "response.completed" not in kinds
    assert kinds[-1] in ("response.failed", "error")
    assert rgw.row(request_id)["error"]


def test_unknown_item_type_across_formats_is_a_400_naming_it(rgw, fake):
    future = {"type": "hologram_call", "call_id": "h1"}
    resp = httpx.post(rgw.url + "/v1/responses", json={"model": "claude-sonnet-4-6", "input": [future]})
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert "hologram_call" in err["message"] and err["param"]
    assert not [s for s in fake.seen if s.provider == "anthropic"]


# --- Responses client -> Grok over Chat Completions --------------------------------------------


def test_responses_sdk_on_grok_non_streaming(rgw, fake):
    fake.queue(Reply(json=openai_completion("grok-4", "Grok says hi.", usage=XAI_USAGE), provider="xai"))
    raw = oa(rgw).responses.with_raw_response.create(model="grok-4", input="hi")
    reply = raw.parse()
    assert reply.output_text == "Grok says hi."
    assert fake.last("xai").path == "/xai/v1/chat/completions"
    row = rgw.row(raw.headers["x-request-id"])
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (600, 400, 150)
    assert row["cost_pico_usd"] == GROK_COST
    # the client is told the same output count the row records (one normaliser, xAI dialect)
    assert reply.usage.output_tokens == 150


def test_responses_sdk_on_grok_stream_parallel_calls_interleaved(rgw, fake):
    calls = [
        {"id": "call_a", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"id": "call_b", "name": "get_weather", "arguments": '{"city": "Rome"}'},
    ]
    chunks = openai_chunks(
        calls=calls, finish="tool_calls", usage=XAI_USAGE, interleave=True, size=4, model="grok-4"
    )
    fake.queue(Reply(events=sse(chunks), provider="xai"))
    before = len(rgw.rows("model = 'grok-4' AND stream = 1"))
    with oa(rgw).responses.stream(
        model="grok-4", input="weather?", tools=[WEATHER], parallel_tool_calls=True
    ) as s:
        final = s.get_final_response()
    got = [(o.call_id, json.loads(o.arguments)) for o in final.output if o.type == "function_call"]
    assert got == [("call_a", {"city": "Paris"}), ("call_b", {"city": "Rome"})]
    sent = fake.last("xai").body
    assert sent["stream_options"]["include_usage"] is True and sent["parallel_tool_calls"] is True
    assert final.usage.output_tokens == 150  # xAI dialect: reasoning counted in, as in the row
    row = wait_for(lambda: rgw.rows("model = 'grok-4' AND stream = 1")[before:])[0]
    assert row["cost_pico_usd"] == GROK_COST and row["output_tokens"] == 150


# --- Chat Completions and Anthropic clients -> a Responses-only model --------------------------


def test_chat_client_on_a_responses_only_model(rgw, fake):
    raw = oa(rgw).chat.completions.with_raw_response.create(
        model="gpt-5.1-codex",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
    )
    reply = raw.parse()
    assert reply.choices[0].message.content == "Hello from the fake."
    seen = fake.last("openai")
    assert seen.path == "/openai/v1/responses" and "messages" not in seen.body
    assert reply.usage.prompt_tokens == 6500 and reply.usage.prompt_tokens_details.cached_tokens == 5000
    row = rgw.row(raw.headers["x-request-id"])
    assert row["client_format"] == "openai" and row["cost_pico_usd"] == CODEX_COST


def test_chat_client_stream_on_a_responses_only_model(rgw, fake):
    items = [reasoning("hmm"), message("Streamed via Responses.")]
    fake.queue(Reply(events=response_events("gpt-5.1-codex", items), provider="openai"))
    stream = oa(rgw).chat.completions.create(
        model="gpt-5.1-codex",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Streamed via Responses."
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 250


def test_claude_code_shaped_request_on_gpt_5_1_codex_streamed_with_tools(rgw, fake):
    call = function_call("Bash", json.dumps({"command": "ls"}), call_id="call_cc1")
    fake.queue(
        Reply(events=response_events("gpt-5.1-codex", [message("Let me look."), call]), provider="openai")
    )
    tools = [
        {"name": n, "description": n, "input_schema": {"type": "object", "properties": {}}}
        for n in ("Bash", "Read")
    ]
    body = dict(
        model="gpt-5.1-codex",
        max_tokens=32000,
        tools=tools,
        system=[
            {"type": "text", "text": "You are Claude Code."},
            {"type": "text", "text": "Env info.", "cache_control": {"type": "ephemeral"}},
        ],
        metadata={"user_id": json.dumps({"device": "abc"})},
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>x</system-reminder>"},
                    {"type": "text", "text": "list files"},
                ],
            }
        ],
        extra_query={"beta": "true"},
    )
    with an(rgw).messages.stream(**body) as stream:
        final = stream.get_final_message()
        request_id = stream.response.headers["x-request-id"]
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert (final.content[1].name, final.content[1].input) == ("Bash", {"command": "ls"})
    sent = fake.last("openai")
    assert sent.path == "/openai/v1/responses" and sent.body["stream"] is True
    assert {t["name"] for t in sent.body["tools"]} == {"Bash", "Read"}
    row = rgw.row(request_id)
    assert row["client_format"] == "anthropic" and row["provider"] == "openai"
    assert row["cost_pico_usd"] == CODEX_COST

    # the tool result goes back as a function_call_output
    fake.queue(Reply(json=response_json("gpt-5.1-codex", [message("Done.")]), provider="openai"))
    body["messages"] = [
        *body["messages"],
        {"role": "assistant", "content": [b.model_dump() for b in final.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": final.content[1].id, "content": "a.txt"}],
        },
    ]
    reply = an(rgw).messages.create(**{**body, "max_tokens": 1024})  # the SDK streams 32000 only
    assert reply.content[0].text == "Done."
    items = fake.last("openai").body["input"]
    outputs = [i for i in items if i.get("type") == "function_call_output"]
    assert outputs and outputs[0]["call_id"] == "call_cc1" and "a.txt" in json.dumps(outputs[0]["output"])


def test_anthropic_client_gets_a_responses_upstream_error_in_its_shape(rgw, fake):
    fake.queue(
        Reply(
            status=429,
            json={
                "error": {
                    "message": "Rate limit reached",
                    "type": "rate_limit_exceeded",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            },
            provider="openai",
        )
    )
    with pytest.raises(anthropic.RateLimitError) as info:
        an(rgw).messages.create(
            model="gpt-5.1-codex", max_tokens=50, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.body["error"]["type"] == "rate_limit_error"


def test_responses_usage_is_normalised_once_for_a_chat_client(rgw, fake):
    usage = {**RESPONSES_USAGE, "input_tokens": 2000, "input_tokens_details": {"cached_tokens": 500}}
    fake.queue(Reply(json=response_json("gpt-5.1-codex", usage=usage), provider="openai"))
    raw = oa(rgw).chat.completions.with_raw_response.create(
        model="gpt-5.1-codex", messages=[{"role": "user", "content": "x"}]
    )
    row = rgw.row(raw.headers["x-request-id"])
    assert (row["input_tokens"], row["cache_read_tokens"]) == (1500, 500)
    assert raw.parse().usage.prompt_tokens == 2000


# --- edge cases, each through the gateway --------------------------------------------------------


def test_edge_instructions_and_developer_messages_both_reach_claude_as_system(rgw, fake):
    fake.queue(Reply(json=anthropic_message("claude-sonnet-4-6", "ok"), provider="anthropic"))
    oa(rgw).responses.create(
        model="claude-sonnet-4-6",
        instructions="RULE-ONE",
        input=[{"role": "developer", "content": "RULE-TWO"}, {"role": "user", "content": "hi"}],
    )
    sent = fake.last("anthropic").body
    system = json.dumps(sent.get("system"))
    assert "RULE-ONE" in system and "RULE-TWO" in json.dumps(sent)
    assert sent["messages"][0]["role"] == "user"


def test_edge_reasoning_only_output_from_claude(rgw, fake):
    thinking = {"type": "thinking", "thinking": "Pondering deeply.", "signature": "sig-abc"}
    fake.queue(
        Reply(
            events=anthropic_events([thinking], usage=ANTHROPIC_USAGE, model="claude-sonnet-4-6"),
            provider="anthropic",
        )
    )
    with oa(rgw).responses.stream(
        model="claude-sonnet-4-6", input="think only", reasoning={"effort": "high", "summary": "auto"}
    ) as stream:
        final = stream.get_final_response()
    assert [o.type for o in final.output] == ["reasoning"]
    assert final.output[0].summary and final.output[0].summary[0].text == "Pondering deeply."
    assert final.status == "completed" and final.output_text == ""


def test_edge_a_tool_call_with_empty_arguments_from_grok(rgw, fake):
    call = {"id": "call_empty", "name": "get_time", "arguments": ""}
    fake.queue(
        Reply(
            json={
                **openai_completion("grok-4", "", usage=XAI_USAGE),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "tool_calls",
                        "logprobs": None,
                        "message": {
                            "role": "assistant",
                            "content": None,
                            "refusal": None,
                            "tool_calls": [
                                {
                                    "id": call["id"],
                                    "type": "function",
                                    "function": {"name": "get_time", "arguments": ""},
                                }
                            ],
                        },
                    }
                ],
            },
            provider="xai",
        )
    )
    tool = {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}}
    reply = oa(rgw).responses.create(model="grok-4", input="time?", tools=[tool])
    calls = [o for o in reply.output if o.type == "function_call"]
    assert calls and calls[0].call_id == "call_empty" and json.loads(calls[0].arguments or "{}") == {}


def test_edge_max_output_tokens_hit_mid_tool_call_is_incomplete(rgw, fake):
    blocks = [{"type": "tool_use", "id": "toolu_cut", "name": "get_weather", "input": {"city": "Par"}}]
    fake.queue(
        Reply(
            events=anthropic_events(
                blocks, stop_reason="max_tokens", usage=ANTHROPIC_USAGE, model="claude-sonnet-4-6"
            ),
            provider="anthropic",
        )
    )
    with oa(rgw).responses.with_streaming_response.create(
        model="claude-sonnet-4-6", input="weather?", tools=[WEATHER], max_output_tokens=16, stream=True
    ) as raw:
        events = list(raw.parse())
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"
    assert "response.completed" not in [e.type for e in events]


def test_edge_refusal_from_a_responses_model_reaches_a_chat_client(rgw, fake):
    fake.queue(
        Reply(
            json=response_json("gpt-5.1-codex", [message("I can't help with that.", refusal=True)]),
            provider="openai",
        )
    )
    reply = oa(rgw).chat.completions.create(
        model="gpt-5.1-codex", messages=[{"role": "user", "content": "x"}]
    )
    assert reply.choices[0].message.refusal == "I can't help with that."


def test_edge_multiple_system_blocks_from_claude_code_on_a_responses_model(rgw, fake):
    body = dict(
        model="gpt-5.1-codex",
        max_tokens=1024,
        system=[{"type": "text", "text": "BLOCK-A"}, {"type": "text", "text": "BLOCK-B"}],
        messages=[{"role": "user", "content": "hi"}],
    )
    reply = an(rgw).messages.create(**body)
    assert reply.content[0].text == "Hello from the fake."
    sent = fake.last("openai").body
    text = json.dumps({k: sent.get(k) for k in ("instructions", "input")})
    assert "BLOCK-A" in text and "BLOCK-B" in text


# --- structured output, images, reasoning round trip on Claude ----------------------------------


def test_text_format_json_schema_on_claude(rgw, fake):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    fake.queue(
        Reply(
            json={
                **anthropic_message("claude-sonnet-4-6"),
                "stop_reason": "tool_use",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_json",
                        "name": "json_tool_call",
                        "input": {"city": "Paris"},
                    }
                ],
            },
            provider="anthropic",
        )
    )
    reply = oa(rgw).responses.create(
        model="claude-sonnet-4-6",
        input="where?",
        text={"format": {"type": "json_schema", "name": "place", "schema": schema, "strict": True}},
    )
    assert json.loads(reply.output_text) == {"city": "Paris"}
    sent = fake.last("anthropic").body
    assert json.dumps(schema["properties"]) in json.dumps(sent)


def test_input_image_reaches_claude_as_an_image_block(rgw, fake):
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    oa(rgw).responses.create(
        model="claude-sonnet-4-6",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "what is this?"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{pixel}", "detail": "auto"},
                ],
            }
        ],
    )
    blocks = fake.last("anthropic").body["messages"][0]["content"]
    images = [b for b in blocks if b["type"] == "image"]
    assert images and images[0]["source"] == {"type": "base64", "media_type": "image/png", "data": pixel}


def test_claude_reasoning_round_trips_through_a_responses_client(rgw, fake):
    """A reasoning item minted from Claude's signed thinking comes back to Claude as that block."""
    thinking = {"type": "thinking", "thinking": "Let me see.", "signature": "sig-claude-123"}
    fake.queue(
        Reply(
            json={
                **anthropic_message("claude-sonnet-4-6"),
                "content": [thinking, {"type": "text", "text": "Four."}],
            },
            provider="anthropic",
        )
    )
    first = oa(rgw).responses.create(
        model="claude-sonnet-4-6",
        input="2+2?",
        store=False,
        include=["reasoning.encrypted_content"],
        reasoning={"effort": "medium", "summary": "auto"},
    )
    items = [o.model_dump(exclude_none=True) for o in first.output]
    assert items[0]["type"] == "reasoning" and items[0].get("encrypted_content")
    oa(rgw).responses.create(
        model="claude-sonnet-4-6",
        store=False,
        reasoning={"effort": "medium"},
        input=[{"role": "user", "content": "2+2?"}, *items, {"role": "user", "content": "and 3+3?"}],
    )
    assistant = next(m for m in fake.last("anthropic").body["messages"] if m["role"] == "assistant")
    back = [b for b in assistant["content"] if b["type"] == "thinking"]
    assert back == [{"type": "thinking", "thinking": "Let me see.", "signature": "sig-claude-123"}]


# --- a Responses upstream failing mid-stream, for Chat and Messages clients -------------------


def test_chat_client_sees_a_mid_stream_failure_of_a_responses_model(rgw, fake):
    fake.queue(
        Reply(
            events=response_events("gpt-5.1-codex", [message("partial")], fail="backend crashed"),
            provider="openai",
        )
    )
    with oa(rgw).chat.completions.with_streaming_response.create(
        model="gpt-5.1-codex", messages=[{"role": "user", "content": "x"}], stream=True
    ) as raw:
        request_id = raw.headers["x-request-id"]
        with pytest.raises(openai.APIError) as info:
            list(raw.parse())
    assert "backend crashed" in str(info.value)
    assert "backend crashed" in rgw.row(request_id)["error"]


def test_anthropic_client_sees_a_cut_responses_stream_as_an_error(rgw, fake):
    events = response_events("gpt-5.1-codex", [message("never finished")])
    cut_at = next(i for i, (name, _) in enumerate(events) if name == "response.output_text.done")
    fake.queue(Reply(events=events[:cut_at], cut=True, provider="openai"))
    with (
        an(rgw).messages.stream(
            model="gpt-5.1-codex", max_tokens=100, messages=[{"role": "user", "content": "x"}]
        ) as stream,
        pytest.raises(anthropic.APIStatusError),
    ):
        stream.get_final_message()


def test_openrouter_cost_on_a_responses_passthrough(rgw, fake):
    usage = {**RESPONSES_USAGE, "cost": 0.0123}
    fake.queue(Reply(json=response_json("openai/gpt-5", usage=usage), provider="openrouter"))
    raw = oa(rgw).responses.with_raw_response.create(model="gpt-5", input="x")
    assert raw.headers["x-ekai-provider"] == "openrouter"
    row = rgw.row(raw.headers["x-request-id"])
    assert row["cost_source"] == "provider" and row["cost_pico_usd"] == 12_300_000_000


def test_edge_an_image_to_a_text_only_model_gets_the_providers_400(rgw, fake):
    """The image is carried (as a Chat image part); the provider's refusal reaches the client with
    its status and message, in the Responses client's shape."""
    refusal = {
        "error": {
            "message": "Image inputs are not supported by this model.",
            "type": "invalid_request_error",
            "param": "messages[0].content[1]",
            "code": "image_not_supported",
        }
    }
    fake.queue(Reply(status=400, json=refusal, provider="xai"))
    pixel = "data:image/png;base64,iVBORw0KGgo="
    with pytest.raises(openai.BadRequestError) as info:
        oa(rgw).responses.create(
            model="grok-4",
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "what is this?"},
                        {"type": "input_image", "image_url": pixel},
                    ],
                }
            ],
        )
    assert info.value.body == refusal["error"]
    parts = fake.last("xai").body["messages"][-1]["content"]
    assert parts[1]["type"] == "image_url" and parts[1]["image_url"]["url"] == pixel
