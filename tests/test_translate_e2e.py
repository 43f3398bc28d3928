"""Any client, any model: OpenAI clients on Claude, Anthropic clients on GPT and Grok, through the
real gateway, driven by the official SDKs, against fake providers that validate requests as
strictly as the real APIs (tests/fakes/validate.py)."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

from tests.fakes.builders import anthropic_events, openai_chunks
from tests.fakes.upstream import Reply, anthropic_message, openai_completion
from tests.gateway_proc import Gateway

WEATHER_OPENAI = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
WEATHER_ANTHROPIC = {"name": "get_weather", "description": "Current weather",
                     "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                                      "required": ["city"]}}
CLAUDE_USAGE = {"input_tokens": 40, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 200,
                "output_tokens": 30}


def oa(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0)


def an(gw: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)


def openai_sse(chunks: list[dict]) -> list[tuple[None, object]]:
    return [(None, c) for c in chunks] + [(None, "[DONE]")]


# --- OpenAI client -> Anthropic provider ----------------------------------------------------


def test_openai_client_on_claude_non_streaming(gw, fake):
    fake.queue(Reply(json=anthropic_message("claude-sonnet-4-6", "Bonjour.", usage=CLAUDE_USAGE)))
    raw = oa(gw).chat.completions.with_raw_response.create(
        model="claude-sonnet-4-6",
        messages=[{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Hello"}],
        max_tokens=100, temperature=1.5, stop=["\n\nHuman:"],
    )
    reply = raw.parse()
    assert raw.headers["x-ekai-provider"] == "anthropic"
    assert reply.choices[0].message.content == "Bonjour." and reply.choices[0].finish_reason == "stop"
    # prompt_tokens counts every prompt token, cached ones included
    assert reply.usage.prompt_tokens == 1240 and reply.usage.prompt_tokens_details.cached_tokens == 1000
    sent = fake.last("anthropic").body
    assert sent["system"] in ("Answer in French.", [{"type": "text", "text": "Answer in French."}])
    assert sent["max_tokens"] == 100 and sent["temperature"] == 1 and sent["stop_sequences"] == ["\n\nHuman:"]
    assert fake.last("anthropic").headers["x-api-key"] and "anthropic-beta" not in fake.last("anthropic").headers
    row = gw.row(raw.headers["x-request-id"])
    assert (row["input_tokens"], row["cache_read_tokens"], row["cache_write_tokens"], row["output_tokens"]) == (
        40, 1000, 200, 30)
    assert row["client_format"] == "openai" and row["provider"] == "anthropic"
    assert row["cost_pico_usd"] == (40 * 3 + 1000 * 0.3 + 200 * 3.75 + 30 * 15) * 10**6


def test_openai_client_on_claude_stream_with_tools_multi_turn(gw, fake):
    client = oa(gw)
    events = anthropic_events(
        [{"type": "text", "text": "Checking both."},
         {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
         {"type": "tool_use", "id": "toolu_01B", "name": "get_weather", "input": {"city": "Rome"}}],
        stop_reason="tool_use", usage=CLAUDE_USAGE, model="claude-sonnet-4-6")
    fake.queue(Reply(events=events))
    messages = [{"role": "user", "content": "Weather in Paris and Rome?"}]
    with client.chat.completions.stream(model="claude-sonnet-4-6", messages=messages,
                                        tools=[WEATHER_OPENAI]) as stream:
        final = stream.get_final_completion()
    msg = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls" and msg.content == "Checking both."
    calls = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in msg.tool_calls]
    assert calls == [("toolu_01A", "get_weather", {"city": "Paris"}), ("toolu_01B", "get_weather", {"city": "Rome"})]

    # second turn: the tool results go back; the fake rejects any tool_result without its tool_use
    messages += [msg.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": "toolu_01A", "content": "18C"},
                 {"role": "tool", "tool_call_id": "toolu_01B", "content": "24C"}]
    fake.queue(Reply(events=anthropic_events([{"type": "text", "text": "Paris 18C, Rome 24C."}],
                                             usage=CLAUDE_USAGE, model="claude-sonnet-4-6")))
    stream = client.chat.completions.create(model="claude-sonnet-4-6", messages=messages, tools=[WEATHER_OPENAI],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Paris 18C, Rome 24C."
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 30
    sent = fake.last("anthropic").body
    last_user = sent["messages"][-1]
    assert [b["type"] for b in last_user["content"]] == ["tool_result", "tool_result"]
    assert sent["tools"][0]["name"] == "get_weather" and "input_schema" in sent["tools"][0]


def test_openai_client_on_claude_unsupported_parameter(gw, fake):
    with pytest.raises(openai.BadRequestError) as e:
        oa(gw).chat.completions.create(model="claude-sonnet-4-6", n=2, messages=[{"role": "user", "content": "x"}])
    assert "n" in str(e.value)
    assert fake.seen == []


def test_openai_client_on_claude_upstream_error_shape(gw, fake):
    # (no retry-after here: it would cool anthropic down for the tests after this one)
    fake.queue(Reply(status=429,
                     json={"type": "error", "error": {"type": "rate_limit_error", "message": "Too many tokens"}},
                     provider="anthropic"),
               Reply(status=429, json={"error": {"message": "slow", "code": 429}}, provider="openrouter"))
    with pytest.raises(openai.RateLimitError) as e:
        oa(gw).chat.completions.create(model="claude-sonnet-4-6", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 429


# --- Anthropic client -> OpenAI-format providers --------------------------------------------


def test_anthropic_client_on_gpt_non_streaming(gw, fake):
    usage = {"prompt_tokens": 1200, "completion_tokens": 80, "total_tokens": 1280,
             "prompt_tokens_details": {"cached_tokens": 1000}}
    fake.queue(Reply(json=openai_completion("gpt-4o-mini", "Hi there.", usage=usage)))
    raw = an(gw).messages.with_raw_response.create(
        model="gpt-4o-mini", max_tokens=64, system="Be brief.",
        messages=[{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
    )
    msg = raw.parse()
    assert msg.content[0].text == "Hi there." and msg.stop_reason == "end_turn"
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens) == (200, 1000)
    seen = fake.last("openai")
    assert seen.body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert "anthropic-beta" not in seen.headers and seen.body["model"] == "gpt-4o-mini"
    row = gw.row(raw.headers["x-request-id"])
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (200, 1000, 80)
    assert row["client_format"] == "anthropic" and row["provider"] == "openai"


def test_claude_code_style_stream_on_gpt_with_tools(gw, fake):
    """What Claude Code sends (system blocks with cache_control, a system message inside messages,
    thinking, metadata, context_management, tool_result with is_error) reaches GPT and comes back
    as a stream the Anthropic SDK assembles."""
    chunks = openai_chunks(text="Let me look.", calls=[
        {"id": "call_1", "name": "Bash", "arguments": '{"command": "ls"}'},
        {"id": "call_2", "name": "Read", "arguments": '{"path": "README.md"}'}],
        finish="tool_calls", model="gpt-4o-mini",
        usage={"prompt_tokens": 300, "completion_tokens": 40, "total_tokens": 340})
    fake.queue(Reply(events=openai_sse(chunks)))
    tools = [{"name": n, "description": n, "input_schema": {"type": "object", "properties": {}}}
             for n in ("Bash", "Read")]
    client = an(gw)
    body = dict(
        model="gpt-4o-mini", max_tokens=32000, tools=tools,
        system=[{"type": "text", "text": "You are Claude Code."},
                {"type": "text", "text": "Env info.", "cache_control": {"type": "ephemeral"}}],
        metadata={"user_id": json.dumps({"device": "abc"})},
        thinking={"type": "enabled", "budget_tokens": 31999},
        messages=[{"role": "user", "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"},
                                               {"type": "text", "text": "list files"}]}],
        extra_body={"context_management": {"edits": [{"type": "clear_thinking_20251015"}]}},
        extra_query={"beta": "true"},
    )
    with client.messages.stream(**body) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["text", "tool_use", "tool_use"]
    assert (final.content[1].name, final.content[1].input) == ("Bash", {"command": "ls"})
    assert (final.content[2].name, final.content[2].input) == ("Read", {"path": "README.md"})
    sent = fake.last("openai").body
    assert sent["stream_options"] == {"include_usage": True} and "context_management" not in sent

    # the tool results come back, one of them an error
    fake.queue(Reply(events=openai_sse(openai_chunks(text="Done.", model="gpt-4o-mini",
                                                     usage={"prompt_tokens": 350, "completion_tokens": 5,
                                                            "total_tokens": 355}))))
    body["messages"] = [*body["messages"], {"role": "assistant", "content": [b.model_dump() for b in final.content]},
                        {"role": "user", "content": [
                            {"type": "tool_result", "tool_use_id": final.content[1].id, "content": "a.txt"},
                            {"type": "tool_result", "tool_use_id": final.content[2].id, "content": "no such file",
                             "is_error": True}]}]
    with client.messages.stream(**body) as stream:
        text = "".join(stream.text_stream)
        request_id = stream.response.headers["x-request-id"]
    assert text == "Done."
    sent = fake.last("openai").body
    tool_msgs = [m for m in sent["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_msgs] == ["call_1", "call_2"]
    row = gw.row(request_id)
    assert row["input_tokens"] == 350 and row["output_tokens"] == 5 and row["provider"] == "openai"


def test_anthropic_client_on_grok_stream_with_reasoning(gw, fake):
    chunks = openai_chunks(reasoning="thinking...", text="42.", model="grok-4",
                           usage={"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 160,
                                  "completion_tokens_details": {"reasoning_tokens": 50}},
                           usage_on_finish=True, trailing_empty=True)
    fake.queue(Reply(events=openai_sse(chunks)))
    with an(gw).messages.stream(model="grok-4", max_tokens=100,
                                messages=[{"role": "user", "content": "answer?"}]) as stream:
        final = stream.get_final_message()
        request_id = stream.response.headers["x-request-id"]
    assert [b.type for b in final.content] == ["thinking", "text"] and final.content[1].text == "42."
    assert final.usage.output_tokens == 60  # xAI: reasoning added to output
    row = gw.row(request_id)
    assert row["provider"] == "xai" and row["output_tokens"] == 60 and row["reasoning_tokens"] == 50
    assert row["cost_pico_usd"] == (100 * 3 + 60 * 15) * 10**6


def test_anthropic_client_on_gpt_errors(gw, fake):
    fake.queue(Reply(status=400, json={"error": {"message": "Invalid 'messages[0]'", "type": "invalid_request_error",
                                                 "param": "messages", "code": None}}))
    with pytest.raises(anthropic.BadRequestError) as e:
        an(gw).messages.create(model="gpt-4o-mini", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert e.value.body["error"]["type"] == "invalid_request_error" and "messages[0]" in str(e.value)

    # an error after the stream started: an error event, then the stream ends
    chunks = openai_chunks(text="partial", finish=None, model="gpt-4o-mini")
    fake.queue(Reply(events=[(None, c) for c in chunks] + [(None, {"error": {"message": "upstream died",
                                                                              "type": "server_error"}})]))
    with an(gw).messages.stream(model="gpt-4o-mini", max_tokens=5,
                                messages=[{"role": "user", "content": "x"}]) as stream, \
            pytest.raises(anthropic.APIStatusError) as e2:
        stream.get_final_message()
    assert "upstream died" in str(e2.value)


def test_count_tokens_for_every_model(gw, fake):
    estimate = an(gw).messages.count_tokens(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello " * 100}])
    assert 100 <= estimate.input_tokens <= 400
    resp = httpx.post(gw.url + "/v1/messages/count_tokens?beta=true", timeout=10,
                      json={"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 200 and resp.headers["x-ekai-estimate"] == "true"
    assert fake.seen == []
