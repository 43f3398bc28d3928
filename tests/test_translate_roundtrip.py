"""Multi-turn tool conversations through the translators, as a client and a fake upstream play
them: each turn's request is translated and validated, the fake upstream answers in its own
format, the answer is translated back and read by the client's official SDK, and the client's
next turn is built from what its SDK returned (ids, names and thinking blocks included).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.translate import (
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    ToolNameMap,
    anthropic_to_openai_request,
    anthropic_to_openai_response,
    openai_to_anthropic_request,
    openai_to_anthropic_response,
    strip_unsigned_thinking,
)
from tests.fakes.builders import anthropic_events, openai_chunks
from tests.fakes.sdk import (
    anthropic_final_message,
    anthropic_parse_message,
    openai_parse_completion,
    openai_stream_final,
)
from tests.fakes.validate import validate_anthropic_request, validate_openai_request

CITIES = ["Paris", "Rome"]

# --- OpenAI client, Anthropic upstream --------------------------------------------------------


def fake_anthropic(request: dict[str, Any], turn: int) -> dict[str, Any]:
    """An Anthropic upstream: calls the weather tool for each city, then answers."""
    assert validate_anthropic_request(request) == []
    last = request["messages"][-1]["content"]
    if any(b["type"] == "tool_result" for b in last):
        content: list[dict[str, Any]] = [{"type": "text", "text": "Paris 18C, Rome 24C."}]
        stop = "end_turn"
    else:
        content = [{"type": "thinking", "thinking": "Call the tool twice.",
                    "signature": f"sig-{turn}"},
                   {"type": "text", "text": "Checking."}]
        content += [{"type": "tool_use", "id": f"toolu_{turn}{i}", "name": "get_weather",
                     "input": {"city": city}} for i, city in enumerate(CITIES)]
        stop = "tool_use"
    return {"id": f"msg_{turn}", "type": "message", "role": "assistant", "model": "claude",
            "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5}}


OPENAI_TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}}, "required": ["city"]}}}]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("keeps_extras", [True, False])
def test_openai_client_with_anthropic_upstream(stream: bool, keeps_extras: bool) -> None:
    messages: list[dict[str, Any]] = [{"role": "system", "content": "Be terse."},
                                      {"role": "user", "content": "Weather in Paris and Rome?"}]
    body = {"model": "claude", "messages": messages, "tools": OPENAI_TOOLS,
            "reasoning_effort": "high", "stream": stream}
    for turn in range(2):
        request = openai_to_anthropic_request(body, model="claude-sonnet-4-6")
        reply = fake_anthropic(request, turn)
        if stream:
            translator = AnthropicToOpenAIStream(model="claude", include_usage=True)
            frames = [f for e, d in anthropic_events(reply["content"],
                                                     stop_reason=reply["stop_reason"])
                      for f in translator.feed(e, d)] + translator.finish()
            completion = openai_stream_final(frames, tools=OPENAI_TOOLS)
        else:
            completion = openai_parse_completion(
                anthropic_to_openai_response(reply, model="claude"))
        message = completion.choices[0].message
        if turn == 1:
            assert message.content == "Paris 18C, Rome 24C."
            assert completion.choices[0].finish_reason == "stop"
            break
        assert completion.choices[0].finish_reason == "tool_calls"
        calls = message.tool_calls or []
        assert [json.loads(c.function.arguments)["city"] for c in calls] == CITIES
        if keeps_extras:  # a LiteLLM-style client hands thinking_blocks back
            assistant = message.model_dump(exclude_none=True)
            assistant.pop("parsed", None)
            for c in assistant.get("tool_calls", []):
                c["function"].pop("parsed_arguments", None)
        else:  # a plain client keeps only the standard fields
            assistant = {"role": "assistant", "content": message.content,
                         "tool_calls": [c.model_dump(exclude_none=True,
                                                     exclude={"function": {"parsed_arguments"}})
                                        for c in calls]}
        messages.append(assistant)
        messages += [{"role": "tool", "tool_call_id": c.id,
                      "content": f"{json.loads(c.function.arguments)['city']}: fine"}
                     for c in calls]
        next_request = openai_to_anthropic_request(body, model="claude-sonnet-4-6")
        assert validate_anthropic_request(next_request) == []
        replayed = next_request["messages"][1]["content"]
        if keeps_extras:  # §9.20: the signed block is back, first, so thinking stays on
            assert replayed[0] == {"type": "thinking", "thinking": "Call the tool twice.",
                                   "signature": "sig-0"}
            assert next_request["thinking"] == {"type": "adaptive"}
        else:
            assert "thinking" not in next_request
        uses = [b["id"] for b in replayed if b["type"] == "tool_use"]
        results = [b["tool_use_id"] for b in next_request["messages"][2]["content"]]
        assert uses == results == ["toolu_00", "toolu_01"]


# --- Anthropic client, OpenAI-format upstream -------------------------------------------------

LONG = "mcp__chrome_devtools__take_a_full_page_screenshot_and_return_it_as_png_data"
ANTHROPIC_TOOLS = [{"name": LONG, "input_schema": {"type": "object", "properties": {}}},
                   {"name": "Read", "input_schema": {"type": "object", "properties": {
                       "path": {"type": "string"}}}}]


def fake_openai_calls(request: dict[str, Any], provider: str) -> list[dict[str, Any]]:
    """An OpenAI-format upstream: calls every declared function once, Kimi-style ids."""
    assert validate_openai_request(request, provider=provider) == []
    if request["messages"][-1]["role"] == "tool":
        return []
    return [{"id": f"functions.{t['function']['name'][:10]}:{i}",
             "name": t["function"]["name"], "arguments": json.dumps({"path": f"/f{i}"})}
            for i, t in enumerate(request["tools"])]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("provider", ["openai", "xai", "openrouter"])
def test_anthropic_client_with_openai_upstream(stream: bool, provider: str) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Screenshot and read."}]
    body = {"model": "m", "max_tokens": 2000, "messages": messages, "tools": ANTHROPIC_TOOLS,
            "thinking": {"type": "enabled", "budget_tokens": 1024}, "stream": stream,
            "metadata": {"user_id": "session-1"}}
    for turn in range(2):
        request, names = anthropic_to_openai_request(body, model="gpt-5", provider=provider)
        calls = fake_openai_calls(request, provider)
        usage = {"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57}
        if stream:
            assert request["stream_options"] == {"include_usage": True}
            chunks = openai_chunks(reasoning="plan", text="" if calls else "Done.", calls=calls,
                                   finish="tool_calls" if calls else "stop", usage=usage)
            translator = OpenAIToAnthropicStream(model="m", provider=provider, tool_names=names)
            frames = [f for c in chunks for f in translator.feed(c)] + translator.finish()
            message = anthropic_final_message(frames)
        else:
            tool_calls = [{"id": c["id"], "type": "function",
                           "function": {"name": c["name"], "arguments": c["arguments"]}}
                          for c in calls]
            resp = {"id": f"chatcmpl-{turn}", "choices": [{"index": 0, "finish_reason":
                    "tool_calls" if calls else "stop", "message": {
                        "role": "assistant", "content": None if calls else "Done.",
                        "reasoning_content": "plan", "tool_calls": tool_calls or None}}],
                    "usage": usage}
            message = anthropic_parse_message(openai_to_anthropic_response(
                resp, model="m", provider=provider, tool_names=names))
        if turn == 1:
            assert message.stop_reason == "end_turn"
            assert message.content[-1].text == "Done."
            break
        uses = [b for b in message.content if b.type == "tool_use"]
        assert [b.name for b in uses] == [LONG, "Read"]  # §9.19: original names restored
        assert all(b.id.replace("_", "").replace("-", "").isalnum() for b in uses)  # §9.18
        assert message.stop_reason == "tool_use"
        messages.append({"role": "assistant",
                         "content": [b.model_dump(exclude_none=True) for b in message.content]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": b.id, "content": "ok"} for b in uses]})
        # The unsigned thinking block would be refused by Anthropic itself...
        assert any("signature" in p for p in validate_anthropic_request(body))
        # ...and the pass-through helper makes the same history valid for it.
        assert validate_anthropic_request(strip_unsigned_thinking(body)) == []
        again, names_again = anthropic_to_openai_request(body, model="gpt-5", provider=provider)
        assert validate_openai_request(again, provider=provider) == []
        assert isinstance(names_again, ToolNameMap) and dict(names_again) == dict(names)
        history = again["messages"][1]
        declared = {t["function"]["name"] for t in again["tools"]}
        assert {c["function"]["name"] for c in history["tool_calls"]} == declared
        assert [c["id"] for c in history["tool_calls"]] == [
            m["tool_call_id"] for m in again["messages"][2:4]]
