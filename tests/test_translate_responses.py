"""Non-streaming response translation, both directions (protocol.md §2), checked by parsing the
result with the official SDKs. Edge cases are numbered as in protocol.md §9.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.translate import (
    ToolNameMap,
    UpstreamError,
    anthropic_to_openai_response,
    openai_to_anthropic_response,
)
from tests.fakes.sdk import anthropic_parse_message, openai_parse_completion

# === Anthropic Message -> OpenAI chat.completion ==============================================

PROTOCOL_MESSAGE: dict[str, Any] = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "thinking", "thinking": "Need both cities...", "signature": "EqQBCgIYAhIM"},
        {"type": "text", "text": "Checking both cities."},
        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
         "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use", "stop_sequence": None,
    "usage": {"input_tokens": 412, "cache_creation_input_tokens": 0,
              "cache_read_input_tokens": 2048, "output_tokens": 96},
}


def test_protocol_example_to_openai() -> None:
    """protocol.md §2.1, field for field (created is the current time)."""
    out = anthropic_to_openai_response(PROTOCOL_MESSAGE, model="claude-sonnet-4-5-20250929")
    assert isinstance(out.pop("created"), int)
    assert out == {
        "id": "chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL", "object": "chat.completion",
        "model": "claude-sonnet-4-5-20250929", "system_fingerprint": None,
        "choices": [{"index": 0, "logprobs": None, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Checking both cities.", "refusal": None,
            "reasoning_content": "Need both cities...",
            "thinking_blocks": [{"type": "thinking", "thinking": "Need both cities...",
                                 "signature": "EqQBCgIYAhIM"}],
            "tool_calls": [{"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
                            "function": {"name": "get_weather",
                                         "arguments": '{"city": "Paris"}'}}]}}],
        "usage": {"prompt_tokens": 2460, "completion_tokens": 96, "total_tokens": 2556,
                  "prompt_tokens_details": {"cached_tokens": 2048, "cache_write_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0}},
    }


def test_openai_sdk_parses_the_translation() -> None:
    completion = openai_parse_completion(
        anthropic_to_openai_response(PROTOCOL_MESSAGE, model="claude-sonnet-4-5"))
    message = completion.choices[0].message
    assert message.content == "Checking both cities."
    assert message.tool_calls is not None
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Paris"}
    assert completion.usage is not None and completion.usage.prompt_tokens == 2460


def _message(content: list[dict[str, Any]], stop_reason: str = "end_turn",
             usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
            "content": content, "stop_reason": stop_reason, "stop_sequence": None,
            "usage": usage or {"input_tokens": 1, "output_tokens": 1}}


@pytest.mark.parametrize(("stop_reason", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("tool_use", "tool_calls"),
    ("pause_turn", "stop"), ("refusal", "content_filter"), (None, "stop"), ("new", "stop"),
])
def test_stop_reason_to_finish_reason(stop_reason: str | None, finish: str) -> None:
    """§2.3 and §9.36."""
    out = anthropic_to_openai_response(_message([{"type": "text", "text": "x"}], stop_reason),
                                       model="m")
    assert out["choices"][0]["finish_reason"] == finish


def test_json_tool_emulation_becomes_content() -> None:
    """§9.35: json_tool_call -> content with finish_reason stop, not a tool call."""
    msg = _message([{"type": "text", "text": "Here you go:"},
                    {"type": "tool_use", "id": "toolu_1", "name": "json_tool_call",
                     "input": {"name": "Ada", "age": 36}}], "tool_use")
    out = anthropic_to_openai_response(msg, model="m")
    choice = out["choices"][0]
    assert json.loads(choice["message"]["content"]) == {"name": "Ada", "age": 36}
    assert "tool_calls" not in choice["message"]
    assert choice["finish_reason"] == "stop"


def test_no_text_and_no_tools() -> None:
    out = anthropic_to_openai_response(_message([]), model="m")
    message = out["choices"][0]["message"]
    assert message["content"] is None
    assert "tool_calls" not in message  # never an empty list
    assert "reasoning_content" not in message and "thinking_blocks" not in message


def test_usage_with_cache_writes_and_thinking_tokens() -> None:
    """§9.29: prompt = input + cache reads + cache writes."""
    usage = {"input_tokens": 10, "cache_creation_input_tokens": 200,
             "cache_read_input_tokens": 3000, "output_tokens": 50,
             "output_tokens_details": {"thinking_tokens": 20}}
    out = anthropic_to_openai_response(_message([{"type": "text", "text": "x"}], usage=usage),
                                       model="m")
    assert out["usage"] == {
        "prompt_tokens": 3210, "completion_tokens": 50, "total_tokens": 3260,
        "prompt_tokens_details": {"cached_tokens": 3000, "cache_write_tokens": 200},
        "completion_tokens_details": {"reasoning_tokens": 20}}


def test_redacted_thinking_and_server_tools() -> None:
    msg = _message([
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
         "input": {"query": "q"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
        {"type": "text", "text": "Result.", "citations": [{"type": "web_search_result_location",
                                                           "url": "https://x.test"}]},
        {"type": "text", "text": " More."}])
    message = anthropic_to_openai_response(msg, model="m")["choices"][0]["message"]
    assert message["content"] == "Result. More."
    assert message["thinking_blocks"] == [{"type": "redacted_thinking", "data": "opaque"}]
    assert "tool_calls" not in message and "reasoning_content" not in message


def test_anthropic_error_body_raises() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(UpstreamError) as info:
        anthropic_to_openai_response(body, model="m")
    assert info.value.error_type == "overloaded_error"
    assert info.value.openai_body()["error"]["code"] == "overloaded"


# === OpenAI chat.completion -> Anthropic Message ==============================================


def _completion(message: dict[str, Any], finish: str | None = "stop",
                usage: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", **message},
                         "finish_reason": finish, "logprobs": None}],
            "usage": usage or {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
            **extra}


def test_tool_calls_to_anthropic() -> None:
    """§2.2, §9.11, §9.18, §9.19: order, ids, names, inputs."""
    long_name = "mcp__playwright__browser_take_screenshot_of_the_full_page_and_save_it"
    names = ToolNameMap.build([long_name])
    safe = names.to_safe(long_name)
    resp = _completion({"content": "Let me look.", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": safe,
                                                          "arguments": '{"full": true}'}},
        {"id": "functions.Read:1", "type": "function", "function": {"name": "Read",
                                                                    "arguments": ""}},
        {"id": "call_3", "type": "function", "function": {"name": "Read",
                                                          "arguments": "{oops"}},
    ]}, finish="tool_calls")
    out = openai_to_anthropic_response(resp, model="gpt-4o", provider="openai",
                                       tool_names=names)
    parsed = anthropic_parse_message(out)
    assert [b.type for b in parsed.content] == ["text", "tool_use", "tool_use", "tool_use"]
    assert parsed.content[1].name == long_name and parsed.content[1].input == {"full": True}
    assert parsed.content[2].input == {}
    assert parsed.content[2].id.startswith("functions_Read_1_")
    assert parsed.content[3].input == {"_raw": "{oops"}
    assert parsed.stop_reason == "tool_use"
    assert out["id"] == "msg_chatcmpl-1" and out["model"] == "gpt-4o"


@pytest.mark.parametrize(("finish", "has_calls", "stop"), [
    ("stop", False, "end_turn"), ("stop", True, "tool_use"), ("length", False, "max_tokens"),
    ("tool_calls", True, "tool_use"), ("function_call", True, "tool_use"),
    ("content_filter", False, "refusal"), (None, False, "end_turn"), ("eos", False, "end_turn"),
])
def test_finish_reason_to_stop_reason(finish: str | None, has_calls: bool, stop: str) -> None:
    message: dict[str, Any] = {"content": "x"}
    if has_calls:
        message["tool_calls"] = [{"id": "c", "type": "function",
                                  "function": {"name": "f", "arguments": "{}"}}]
    out = openai_to_anthropic_response(_completion(message, finish), model="m",
                                       provider="openai")
    assert out["stop_reason"] == stop


def test_refusal() -> None:
    out = openai_to_anthropic_response(_completion({"content": None, "refusal": "No."}),
                                       model="m", provider="openai")
    assert out["content"] == [{"type": "text", "text": "No."}]
    assert out["stop_reason"] == "refusal"


def test_reasoning_content_becomes_unsigned_thinking() -> None:
    out = openai_to_anthropic_response(
        _completion({"content": "42", "reasoning_content": "6 times 7"}), model="grok-3-mini",
        provider="xai")
    assert out["content"] == [{"type": "thinking", "thinking": "6 times 7", "signature": ""},
                              {"type": "text", "text": "42"}]
    assert anthropic_parse_message(out).content[0].type == "thinking"


def test_openrouter_reasoning_details_keep_signatures() -> None:
    message = {"content": "42", "reasoning": "6 times 7", "reasoning_details": [
        {"type": "reasoning.text", "text": "6 times 7", "signature": "sig-1"},
        {"type": "reasoning.encrypted", "data": "opaque"}]}
    out = openai_to_anthropic_response(_completion(message), model="m", provider="openrouter")
    assert out["content"][:2] == [
        {"type": "thinking", "thinking": "6 times 7", "signature": "sig-1"},
        {"type": "redacted_thinking", "data": "opaque"}]


USAGE_CASES: list[tuple[str, dict[str, Any], dict[str, int]]] = [
    ("openai", {"prompt_tokens": 2460, "completion_tokens": 96, "total_tokens": 2556,
                "prompt_tokens_details": {"cached_tokens": 2048},
                "completion_tokens_details": {"reasoning_tokens": 64}},
     {"input_tokens": 412, "cache_read_input_tokens": 2048, "cache_creation_input_tokens": 0,
      "output_tokens": 96}),
    ("openrouter", {"prompt_tokens": 1000, "completion_tokens": 10, "total_tokens": 1010,
                    "cost": 0.01, "prompt_tokens_details": {"cached_tokens": 600,
                                                            "cache_write_tokens": 300}},
     {"input_tokens": 100, "cache_read_input_tokens": 600, "cache_creation_input_tokens": 300,
      "output_tokens": 10}),
    ("xai", {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 150,
             "completion_tokens_details": {"reasoning_tokens": 30},
             "prompt_tokens_details": {"cached_tokens": 64}},
     {"input_tokens": 36, "cache_read_input_tokens": 64, "cache_creation_input_tokens": 0,
      "output_tokens": 50}),
    ("openai", {"prompt_tokens": None, "completion_tokens": "junk"},
     {"input_tokens": 0, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0,
      "output_tokens": 0}),
]


@pytest.mark.parametrize(("provider", "usage", "expected"), USAGE_CASES)
def test_usage_to_anthropic(provider: str, usage: dict[str, Any],
                            expected: dict[str, int]) -> None:
    """§9.29 and §9.30: cached parts subtracted, xAI reasoning added to output."""
    out = openai_to_anthropic_response(_completion({"content": "x"}, usage=usage), model="m",
                                       provider=provider)
    assert out["usage"] == expected
    assert anthropic_parse_message(out).usage.input_tokens == expected["input_tokens"]


@pytest.mark.parametrize(("body", "status", "error_type"), [
    (_completion({"content": ""}, "error", error={"code": 502, "message": "Provider down"}),
     502, "api_error"),
    ({"error": {"code": 429, "message": "Rate limited"}, "choices": []}, 429,
     "rate_limit_error"),
    ({"id": "x", "choices": []}, 502, "api_error"),
    ({"error": {"message": "bad", "type": "invalid_request_error"}}, 502,
     "invalid_request_error"),
    ("not an object", 502, "api_error"),
])
def test_error_bodies_raise(body: Any, status: int, error_type: str) -> None:
    """§5.3 rule 5: finish_reason error and error bodies are errors, not stops."""
    with pytest.raises(UpstreamError) as info:
        openai_to_anthropic_response(body, model="m", provider="openrouter")
    assert info.value.status == status
    assert info.value.error_type == error_type
    assert info.value.anthropic_body()["type"] == "error"
