"""Request translation, both directions, table-driven; every output must pass the other side's
validator (tests/fakes/validate.py). Edge cases are numbered as in protocol.md §9.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.translate import (
    DEFAULT_MAX_TOKENS,
    ToolNameMap,
    TranslationError,
    anthropic_to_openai_request,
    openai_to_anthropic_request,
    strip_unsigned_thinking,
)
from tests.fakes.validate import validate_anthropic_request, validate_openai_request

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


def call(call_id: str, name: str = "get_weather", arguments: str = '{"city": "Paris"}'
         ) -> dict[str, Any]:
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": arguments}}


def user(content: Any = "Hi") -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any = None, calls: list[dict[str, Any]] | None = None,
              **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    message.update(extra)
    return message


def tool(call_id: str, content: Any = "18C") -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def to_anthropic(body: dict[str, Any], model: str = "claude-sonnet-4-5",
                 **kwargs: Any) -> dict[str, Any]:
    original = copy.deepcopy(body)
    out = openai_to_anthropic_request(body, model=model, **kwargs)
    assert body == original, "the translator must not modify the client's body"
    problems = validate_anthropic_request(out)
    assert problems == [], (problems, out)
    return out


def to_openai(body: dict[str, Any], provider: str = "openai", model: str = "gpt-4o"
              ) -> tuple[dict[str, Any], ToolNameMap]:
    original = copy.deepcopy(body)
    out, names = anthropic_to_openai_request(body, model=model, provider=provider)
    assert body == original, "the translator must not modify the client's body"
    problems = validate_openai_request(out, provider=provider)
    assert problems == [], (problems, out)
    return out, names


def blocks_of(out: dict[str, Any], role: str | None = None) -> list[dict[str, Any]]:
    return [b for m in out["messages"] if role in (None, m["role"]) for b in m["content"]]


# === OpenAI -> Anthropic ======================================================================


def test_protocol_worked_example() -> None:
    """protocol.md §1.1, field for field."""
    body = {
        "model": "anthropic/claude-sonnet-4-5",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
            user([{"type": "text", "text": "Describe these and get weather for Paris and Rome."},
                  {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo",
                                                      "detail": "high"}},
                  {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]),
            assistant(None, [call("call_a1", arguments='{"city":"Paris"}'),
                             call("call_b2", arguments='{"city":"Rome"}')]),
            tool("call_a1", "18C, cloudy"),
            tool("call_b2", [{"type": "text", "text": "24C, sunny"}]),
            user("Thanks. Summarize."),
        ],
        "tools": [WEATHER_TOOL], "tool_choice": "auto", "parallel_tool_calls": False,
        "max_completion_tokens": 1024, "temperature": 0.3, "stop": ["\n\nHuman:"],
        "user": "user-1234", "stream": True, "stream_options": {"include_usage": True},
    }
    assert to_anthropic(body) == {
        "model": "claude-sonnet-4-5", "max_tokens": 1024,
        "system": [{"type": "text", "text": "You are terse."},
                   {"type": "text", "text": "Answer in English."}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Describe these and get weather for Paris and Rome."},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": "iVBORw0KGgo"}},
                {"type": "image", "source": {"type": "url",
                                             "url": "https://example.com/cat.jpg"}}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_a1", "name": "get_weather",
                 "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_b2", "name": "get_weather",
                 "input": {"city": "Rome"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_a1", "content": "18C, cloudy"},
                {"type": "tool_result", "tool_use_id": "call_b2",
                 "content": [{"type": "text", "text": "24C, sunny"}]},
                {"type": "text", "text": "Thanks. Summarize."}]}],
        "tools": [{"name": "get_weather", "description": "Current weather",
                   "input_schema": WEATHER_TOOL["function"]["parameters"]}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "temperature": 0.3, "stop_sequences": ["\n\nHuman:"],
        "metadata": {"user_id": "user-1234"}, "stream": True,
    }


Check = Callable[[dict[str, Any]], None]


def _system_anywhere(out: dict[str, Any]) -> None:
    assert [b["text"] for b in out["system"]] == ["A", "B", "C"]
    assert out["system"][1]["cache_control"] == {"type": "ephemeral"}
    assert all(m["role"] in ("user", "assistant") for m in out["messages"])


def _empty_text_dropped(out: dict[str, Any]) -> None:
    texts = [b["text"] for b in blocks_of(out) if b["type"] == "text"]
    assert texts == ["real"]
    assert [b["type"] for b in blocks_of(out, "assistant")] == ["tool_use"]


def _trailing_ws(out: dict[str, Any]) -> None:
    last = out["messages"][-1]
    assert last["role"] == "assistant"  # §9.14: kept as a prefill
    assert last["content"][-1]["text"] == "Sure, here is"


def _orphan_call(out: dict[str, Any]) -> None:
    results = [b for b in blocks_of(out, "user") if b["type"] == "tool_result"]
    assert results == [{"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                       {"type": "tool_result", "tool_use_id": "call_2", "is_error": True,
                        "content": "No result"}]


def _orphan_call_at_end(out: dict[str, Any]) -> None:
    assert out["messages"][-1] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_1", "is_error": True,
         "content": "No result"}]}


def _orphan_result(out: dict[str, Any]) -> None:
    assert not any(b["type"] == "tool_result" for b in blocks_of(out))
    assert "[result of tool call call_x] stray" in json.dumps(out["messages"])


def _results_first(out: dict[str, Any]) -> None:
    last = out["messages"][-1]["content"]
    assert [b["type"] for b in last] == ["tool_result", "tool_result", "text", "text"]


def _placeholder_tools(out: dict[str, Any]) -> None:
    assert [t["name"] for t in out["tools"]] == ["get_weather"]
    assert out["tool_choice"] == {"type": "none"}


def _ids_sanitized(out: dict[str, Any]) -> None:
    use = next(b for b in blocks_of(out) if b["type"] == "tool_use")
    result = next(b for b in blocks_of(out) if b["type"] == "tool_result")
    assert use["id"] == result["tool_use_id"]
    assert use["id"].startswith("functions_Bash_0_")


def _duplicate_ids(out: dict[str, Any]) -> None:
    uses = [b["id"] for b in blocks_of(out) if b["type"] == "tool_use"]
    results = [b["tool_use_id"] for b in blocks_of(out) if b["type"] == "tool_result"]
    assert uses == results and len(set(uses)) == 2


def _first_user(out: dict[str, Any]) -> None:
    assert out["messages"][0] == {"role": "user", "content": [{"type": "text", "text": "."}]}
    assert out["messages"][1]["role"] == "assistant"


def _merged(out: dict[str, Any]) -> None:
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]
    assert [b["text"] for b in out["messages"][0]["content"]] == ["one", "two"]
    assert [b["text"] for b in out["messages"][1]["content"]] == ["three", "four"]


def _images(out: dict[str, Any]) -> None:
    sources = [b["source"] for b in blocks_of(out) if b["type"] == "image"]
    assert sources == [{"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
                       {"type": "url", "url": "http://example.com/a.webp"}]


def _sampling_clamped(out: dict[str, Any]) -> None:
    assert out["temperature"] == 1.0
    assert "top_p" not in out


def _stops(out: dict[str, Any]) -> None:
    assert out["stop_sequences"] == ["END"]


def _user_hashed(out: dict[str, Any]) -> None:
    user_id = out["metadata"]["user_id"]
    assert "@" not in user_id and user_id.startswith("user_") and len(user_id) == 37


def _dropped_fields(out: dict[str, Any]) -> None:
    assert set(out) == {"model", "max_tokens", "messages", "stream"}
    assert out["stream"] is False


def _arguments(out: dict[str, Any]) -> None:
    inputs = [b["input"] for b in blocks_of(out) if b["type"] == "tool_use"]
    assert inputs == [{}, {}, {"_raw": "{not json"}, {"_raw": "[1, 2]"}]


def _legacy_functions(out: dict[str, Any]) -> None:
    assert [t["name"] for t in out["tools"]] == ["get_weather"]
    assert out["tool_choice"] == {"type": "tool", "name": "get_weather"}
    use = next(b for b in blocks_of(out) if b["type"] == "tool_use")
    result = next(b for b in blocks_of(out) if b["type"] == "tool_result")
    assert use["id"] == result["tool_use_id"] and result["content"] == "18C"


def _pdf(out: dict[str, Any]) -> None:
    assert blocks_of(out)[0] == {"type": "document", "source": {
        "type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}}


def _refusal_part(out: dict[str, Any]) -> None:
    assert blocks_of(out, "assistant") == [{"type": "text", "text": "I can't."}]


def _tool_defaults(out: dict[str, Any]) -> None:
    assert out["tools"] == [{"name": "ping", "input_schema": {"type": "object",
                                                              "properties": {}}}]


OPENAI_TO_ANTHROPIC: list[tuple[str, dict[str, Any], Check]] = [
    ("system and developer hoisted from anywhere", {"messages": [
        {"role": "system", "content": "A"}, user(),
        {"role": "developer", "content": [{"type": "text", "text": "B",
                                           "cache_control": {"type": "ephemeral"}}]},
        assistant("ok"), {"role": "system", "content": "C"}, user("more")]}, _system_anywhere),
    ("§9.12 empty text dropped", {"messages": [
        user([{"type": "text", "text": ""}, {"type": "text", "text": "real"}]),
        assistant("", [call("call_1")]), tool("call_1"), user("  ")],
        "tools": [WEATHER_TOOL]}, _empty_text_dropped),
    ("§9.13 trailing whitespace of final assistant", {"messages": [
        user(), assistant("Sure, here is \n ")]}, _trailing_ws),
    ("§9.15 tool_use without result", {"messages": [
        user(), assistant(None, [call("call_1"), call("call_2")]), tool("call_1"),
        user("go on")], "tools": [WEATHER_TOOL]}, _orphan_call),
    ("§9.15 tool_use at the very end", {"messages": [
        user(), assistant(None, [call("call_1")])], "tools": [WEATHER_TOOL]},
     _orphan_call_at_end),
    ("result answering no call", {"messages": [
        user(), assistant("hm"), tool("call_x", "stray"), user("next")]}, _orphan_result),
    ("§9.16 results merged before text", {"messages": [
        user(), assistant(None, [call("call_1"), call("call_2")]),
        tool("call_2", "b"), tool("call_1", "a"), user("x"), user("y")],
        "tools": [WEATHER_TOOL]}, _results_first),
    ("§9.17 tool history without tools", {"messages": [
        user(), assistant(None, [call("call_1")]), tool("call_1"), user("and?")]},
     _placeholder_tools),
    ("§9.18 odd tool ids sanitized consistently", {"messages": [
        user(), assistant(None, [call("functions.Bash:0")]), tool("functions.Bash:0")],
        "tools": [WEATHER_TOOL]}, _ids_sanitized),
    ("repeated tool ids made unique", {"messages": [
        user(), assistant(None, [call("call_0")]), tool("call_0"),
        assistant(None, [call("call_0")]), tool("call_0")], "tools": [WEATHER_TOOL]},
     _duplicate_ids),
    ("§9.26 first message not user", {"messages": [assistant("Hello!"), user("Hi")]},
     _first_user),
    ("§9.27 consecutive turns merged", {"messages": [
        user("one"), user("two"), assistant("three"), assistant("four"), user("five")]},
     _merged),
    ("§9.28 images", {"messages": [user([
        {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,/9j/4AAQ"}},
        {"type": "image_url", "image_url": "http://example.com/a.webp"}])]}, _images),
    ("§9.22 §9.23 temperature clamp and top_p dropped", {
        "messages": [user()], "temperature": 1.7, "top_p": 0.5}, _sampling_clamped),
    ("§9.24 whitespace stop dropped", {"messages": [user()], "stop": ["\n", "END", " "]},
     _stops),
    ("§9.34 email user hashed", {"messages": [user()], "user": "Ada@Example.com",
                                 "metadata": {"k": "v"}}, _user_hashed),
    ("unsupported params dropped", {
        "messages": [user()], "presence_penalty": 1, "frequency_penalty": 1, "seed": 3,
        "logit_bias": {"1": 2}, "top_logprobs": None, "logprobs": False, "n": 1,
        "stream": False, "store": True, "service_tier": "flex", "verbosity": "low",
        "prompt_cache_key": "k", "metadata": {"a": "b"}, "web_search_options": {},
        "prediction": {"type": "content", "content": "x"}}, _dropped_fields),
    ("§9.11 arguments empty or not JSON", {"messages": [
        user(), assistant(None, [call("c1", arguments=""), call("c2", arguments=None),  # type: ignore[arg-type]
                                 call("c3", arguments="{not json"),
                                 call("c4", arguments="[1, 2]")]),
        tool("c1"), tool("c2"), tool("c3"), tool("c4")], "tools": [WEATHER_TOOL]},
     _arguments),
    ("legacy functions and function_call", {"messages": [
        user(), assistant(None, function_call={"name": "get_weather", "arguments": "{}"}),
        {"role": "function", "name": "get_weather", "content": "18C"}],
        "functions": [WEATHER_TOOL["function"]], "function_call": {"name": "get_weather"}},
     _legacy_functions),
    ("PDF file part", {"messages": [user([{"type": "file", "file": {
        "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}}])]}, _pdf),
    ("refusal part", {"messages": [user(), assistant([{"type": "refusal",
                                                       "refusal": "I can't."}])]},
     _refusal_part),
    ("tool defaults, strict dropped", {"messages": [user()], "tools": [
        {"type": "function", "function": {"name": "ping", "strict": True}}]}, _tool_defaults),
]


@pytest.mark.parametrize(("body", "check"), [(b, c) for _, b, c in OPENAI_TO_ANTHROPIC],
                         ids=[name for name, _, _ in OPENAI_TO_ANTHROPIC])
def test_openai_to_anthropic(body: dict[str, Any], check: Check) -> None:
    check(to_anthropic({"model": "x", **body}))


TOOL_CHOICES: list[tuple[Any, bool | None, dict[str, Any] | None]] = [
    ("auto", None, {"type": "auto"}),
    ("none", None, {"type": "none"}),
    ("required", None, {"type": "any"}),
    ({"type": "function", "function": {"name": "get_weather"}}, None,
     {"type": "tool", "name": "get_weather"}),
    ({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [
        {"type": "function", "function": {"name": "get_weather"}}]}}, None, {"type": "any"}),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    ("none", False, {"type": "none"}),
    (None, None, None),
]


@pytest.mark.parametrize(("choice", "parallel", "expected"), TOOL_CHOICES)
def test_tool_choice_to_anthropic(choice: Any, parallel: bool | None,
                                  expected: dict[str, Any] | None) -> None:
    other = {"type": "function", "function": {"name": "other", "parameters": {
        "type": "object", "properties": {}}}}
    body: dict[str, Any] = {"model": "x", "messages": [user()], "tools": [WEATHER_TOOL, other]}
    if choice is not None:
        body["tool_choice"] = choice
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    out = to_anthropic(body)
    assert out.get("tool_choice") == expected
    if isinstance(choice, dict) and choice["type"] == "allowed_tools":
        assert [t["name"] for t in out["tools"]] == ["get_weather"]


MAX_TOKENS_CASES: list[tuple[str, dict[str, Any], str, dict[str, Any], int]] = [
    ("max_completion_tokens wins", {"max_completion_tokens": 100, "max_tokens": 50},
     "claude-sonnet-4-5", {}, 100),
    ("max_tokens", {"max_tokens": 50}, "claude-sonnet-4-5", {}, 50),
    ("default", {}, "claude-sonnet-4-5", {}, DEFAULT_MAX_TOKENS),
    ("default capped by a small model", {}, "claude-3-haiku-20240307", {}, 4096),
    ("clamped to the ceiling", {"max_tokens": 100_000}, "claude-sonnet-4-5-20250929", {},
     64_000),
    ("ceiling override", {"max_tokens": 100_000}, "my-claude", {"max_tokens_limit": 20_000},
     20_000),
    ("unknown model: no clamp", {"max_tokens": 100_000}, "claude-future-9", {}, 100_000),
]


@pytest.mark.parametrize(("extra", "model", "kwargs", "expected"),
                         [(e, m, k, x) for _, e, m, k, x in MAX_TOKENS_CASES],
                         ids=[c[0] for c in MAX_TOKENS_CASES])
def test_max_tokens(extra: dict[str, Any], model: str, kwargs: dict[str, Any],
                    expected: int) -> None:
    """§9.25: Anthropic requires max_tokens and rejects values above the model's limit."""
    out = to_anthropic({"model": "x", "messages": [user()], **extra}, model=model, **kwargs)
    assert out["max_tokens"] == expected


THINKING_CASES: list[tuple[str, dict[str, Any], str, dict[str, Any] | None,
                           dict[str, Any] | None, int | None]] = [
    ("budget model, high", {"reasoning_effort": "high", "max_completion_tokens": 2000},
     "claude-sonnet-4-5", {"type": "enabled", "budget_tokens": 4096}, None, 6096),
    ("budget model, minimal", {"reasoning_effort": "minimal"}, "claude-opus-4-1",
     {"type": "enabled", "budget_tokens": 1024}, None, DEFAULT_MAX_TOKENS + 1024),
    ("adaptive model", {"reasoning_effort": "medium"}, "claude-sonnet-4-6",
     {"type": "adaptive"}, {"effort": "medium"}, DEFAULT_MAX_TOKENS),
    ("adaptive model, minimal -> low", {"reasoning_effort": "minimal"}, "claude-opus-4-6",
     {"type": "adaptive"}, {"effort": "low"}, DEFAULT_MAX_TOKENS),
    ("unknown newer model is adaptive", {"reasoning_effort": "high"}, "claude-opus-4-9",
     {"type": "adaptive"}, {"effort": "high"}, DEFAULT_MAX_TOKENS),
    ("model without thinking", {"reasoning_effort": "high"}, "claude-3-5-haiku-20241022",
     None, None, DEFAULT_MAX_TOKENS),
    ("effort none", {"reasoning_effort": "none"}, "claude-sonnet-4-5", None, None,
     DEFAULT_MAX_TOKENS),
    ("budget clamped below the ceiling", {"reasoning_effort": "high", "max_tokens": 4096},
     "claude-3-haiku-20240307", None, None, 4096),
    ("explicit thinking extension", {"thinking": {"type": "enabled", "budget_tokens": 2000},
                                     "max_tokens": 1000},
     "claude-sonnet-4-5", {"type": "enabled", "budget_tokens": 2000}, None, 3000),
]


@pytest.mark.parametrize(("extra", "model", "thinking", "output_config", "max_tokens"),
                         [c[1:] for c in THINKING_CASES], ids=[c[0] for c in THINKING_CASES])
def test_reasoning_effort_to_thinking(extra: dict[str, Any], model: str,
                                      thinking: dict[str, Any] | None,
                                      output_config: dict[str, Any] | None,
                                      max_tokens: int | None) -> None:
    out = to_anthropic({"model": "x", "messages": [user()], **extra}, model=model)
    assert out.get("thinking") == thinking
    assert out.get("output_config") == output_config
    assert out["max_tokens"] == max_tokens


def test_thinking_drops_incompatible_sampling() -> None:
    """§9.21: temperature other than 1, top_k and top_p below 0.95 go when thinking is on."""
    out = to_anthropic({"model": "x", "messages": [user()], "reasoning_effort": "low",
                        "temperature": 0.2, "top_p": 0.5, "top_k": 5})
    assert out["thinking"]["type"] == "enabled"
    assert not {"temperature", "top_p", "top_k"} & set(out)
    kept = to_anthropic({"model": "x", "messages": [user()], "reasoning_effort": "low",
                         "top_p": 0.97})
    assert kept["top_p"] == 0.97
    no_thinking = to_anthropic({"model": "x", "messages": [user()], "top_k": 5})
    assert no_thinking["top_k"] == 5


@pytest.mark.parametrize(("name", "extra"), [
    ("forced tool", {"tool_choice": "required", "tools": [WEATHER_TOOL]}),
    ("named tool", {"tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                    "tools": [WEATHER_TOOL]}),
    ("json emulation", {"response_format": {"type": "json_object"}}),
])
def test_thinking_off_when_tool_is_forced(name: str, extra: dict[str, Any]) -> None:
    """§9.21 and §9.35: a forced tool cannot be combined with thinking."""
    out = to_anthropic({"model": "x", "messages": [user()], "reasoning_effort": "high",
                        **extra})
    assert "thinking" not in out
    assert out["tool_choice"]["type"] in ("any", "tool")


def test_thinking_off_for_prefill() -> None:
    out = to_anthropic({"model": "x", "messages": [user(), assistant("Start:")],
                        "reasoning_effort": "high"})
    assert "thinking" not in out and out["messages"][-1]["role"] == "assistant"


def test_thinking_blocks_carried_back() -> None:
    """§9.20: signed blocks from the thinking_blocks extension go first in the turn."""
    blocks = [{"type": "thinking", "thinking": "Need Paris.", "signature": "sig-1"},
              {"type": "redacted_thinking", "data": "opaque"},
              {"type": "thinking", "thinking": "unsigned", "signature": ""}]
    body = {"model": "x", "reasoning_effort": "high", "tools": [WEATHER_TOOL], "messages": [
        user(), assistant("Let me check.", [call("call_1")], thinking_blocks=blocks,
                          reasoning_content="Need Paris."), tool("call_1")]}
    out = to_anthropic(body, model="claude-sonnet-4-6")
    turn = out["messages"][1]["content"]
    assert turn[:2] == [{"type": "thinking", "thinking": "Need Paris.", "signature": "sig-1"},
                        {"type": "redacted_thinking", "data": "opaque"}]
    assert [b["type"] for b in turn[2:]] == ["text", "tool_use"]
    assert out["thinking"] == {"type": "adaptive"}


def test_thinking_off_when_tool_loop_lacks_thinking_blocks() -> None:
    """§9.20: without the signed blocks, Anthropic would reject thinking: switch it off."""
    body = {"model": "x", "reasoning_effort": "high", "tools": [WEATHER_TOOL], "messages": [
        user(), assistant(None, [call("call_1")]), tool("call_1")]}
    out = to_anthropic(body, model="claude-sonnet-4-6")
    assert "thinking" not in out and "output_config" not in out


def test_response_format_json_schema() -> None:
    """§9.35: response_format becomes the forced json_tool_call."""
    schema = {"type": "object", "properties": {"name": {"type": "string"}},
              "required": ["name"], "additionalProperties": False}
    body = {"model": "x", "messages": [user()], "response_format": {
        "type": "json_schema", "json_schema": {"name": "person", "schema": schema,
                                               "strict": True}}}
    out = to_anthropic(body)
    assert out["tools"] == [{"name": "json_tool_call", "description": out["tools"][0][
        "description"], "input_schema": schema}]
    assert out["tool_choice"] == {"type": "tool", "name": "json_tool_call"}

    with_tools = to_anthropic({**body, "tools": [WEATHER_TOOL]})
    assert [t["name"] for t in with_tools["tools"]] == ["get_weather", "json_tool_call"]
    assert with_tools["tool_choice"] == {"type": "any"}

    text_format = to_anthropic({"model": "x", "messages": [user()],
                                "response_format": {"type": "text"}})
    assert "tools" not in text_format


@pytest.mark.parametrize(("extra", "param"), [
    ({"n": 2}, "n"),
    ({"logprobs": True}, "logprobs"),
    ({"modalities": ["text", "audio"]}, "modalities"),
    ({"messages": [user([{"type": "input_audio", "input_audio": {"data": "AA",
                                                                 "format": "wav"}}])]},
     "messages[0].content[0]"),
    ({"messages": [user([{"type": "image_url", "image_url": {
        "url": "data:image/bmp;base64,Qk0="}}])]}, "messages[0].content[0]"),
    ({"messages": [user([{"type": "image_url", "image_url": {
        "url": "data:image/png,rawbytes"}}])]}, "messages[0].content[0]"),
    ({"messages": [user([{"type": "file", "file": {"file_id": "file-1"}}])]},
     "messages[0].content[0]"),
    ({"tools": [{"type": "custom", "custom": {"name": "grammar"}}]}, "tools[0]"),
    ({"messages": [{"role": "robot", "content": "beep"}]}, "messages[0].role"),
    ({"response_format": {"type": "json_schema", "json_schema": {
        "name": "list", "schema": {"type": "array"}}}}, "response_format"),
])
def test_openai_to_anthropic_refusals(extra: dict[str, Any], param: str) -> None:
    """§9.37 and §9.28: what cannot be carried across is a 400 with the param named."""
    body = {"model": "x", "messages": [user()], **extra}
    with pytest.raises(TranslationError) as info:
        openai_to_anthropic_request(body, model="claude-sonnet-4-5")
    assert info.value.param == param
    assert info.value.openai_body()["error"]["param"] == param
    assert info.value.openai_body()["error"]["type"] == "invalid_request_error"
    assert info.value.anthropic_body()["error"]["type"] == "invalid_request_error"


def test_only_system_messages() -> None:
    out = to_anthropic({"model": "x", "messages": [{"role": "system", "content": "S"}]})
    assert out["messages"] == [{"role": "user", "content": [{"type": "text", "text": "."}]}]


# === Anthropic -> OpenAI ======================================================================


def anthropic_body(**extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 1024,
            "messages": [{"role": "user", "content": "Hi"}], **extra}


A_TOOL = {"name": "get_weather", "description": "Current weather",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
TOOL_LOOP = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "Use the tool.", "signature": "sig-9"},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "P"}},
        {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {}}]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_01", "content": [
            {"type": "text", "text": "18C"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": "iVBOR"}}]},
        {"type": "tool_result", "tool_use_id": "toolu_02", "content": "boom", "is_error": True},
        {"type": "text", "text": "Summarize."}]},
]


def test_tool_loop_to_openai() -> None:
    out, _ = to_openai(anthropic_body(system="Be terse.", messages=TOOL_LOOP, tools=[A_TOOL]))
    assert out["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "toolu_01", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "P"}'}},
            {"id": "toolu_02", "type": "function",
             "function": {"name": "get_weather", "arguments": "{}"}}]},  # §9.11
        {"role": "tool", "tool_call_id": "toolu_01", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_02", "content": "[tool error] boom"},
        {"role": "user", "content": [  # §9.28: the image leaves the tool message
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
            {"type": "text", "text": "Summarize."}]},
    ]
    assert out["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather",
        "parameters": A_TOOL["input_schema"]}}]


def test_thinking_history_per_provider() -> None:
    body = anthropic_body(messages=TOOL_LOOP, tools=[A_TOOL])
    for provider in ("openai", "xai", "vllm"):
        out, _ = to_openai(body, provider=provider)
        assert "reasoning_details" not in json.dumps(out)
        assert "Use the tool." not in json.dumps(out)
    out, _ = to_openai(body, provider="openrouter", model="anthropic/claude-sonnet-4.5")
    assert out["messages"][1]["reasoning_details"] == [
        {"type": "reasoning.text", "text": "Use the tool.", "signature": "sig-9",
         "format": "anthropic-claude-v1"}]


def test_system_blocks_and_cache_control() -> None:
    system = [{"type": "text", "text": "one"},
              {"type": "text", "text": "two", "cache_control": {"type": "ephemeral"}}]
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "b"}]}]
    out, _ = to_openai(anthropic_body(system=system, messages=messages))
    assert out["messages"] == [{"role": "system", "content": "one\n\ntwo"},
                               {"role": "user", "content": "a\n\nb"}]
    kept, _ = to_openai(anthropic_body(system=system, messages=messages),
                        provider="openrouter", model="anthropic/claude-sonnet-4.5")
    assert kept["messages"][0]["content"][1] == {"type": "text", "text": "two",
                                                 "cache_control": {"type": "ephemeral"}}
    assert kept["messages"][1]["content"][0]["cache_control"] == {"type": "ephemeral"}
    other, _ = to_openai(anthropic_body(system=system, messages=messages),
                         provider="openrouter", model="openai/gpt-4o")
    assert "cache_control" not in json.dumps(other)


def test_system_messages_inside_messages_keep_their_place() -> None:
    """clients.md: Claude Code sends role:system inside messages for non-Claude models."""
    messages = [{"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "system", "content": [{"type": "text", "text": "Be brief now."}]},
                {"role": "user", "content": "Go"}]
    out, _ = to_openai(anthropic_body(messages=messages, system="Base"))
    assert [m["role"] for m in out["messages"]] == ["system", "user", "assistant", "system",
                                                   "user"]
    assert out["messages"][3]["content"] == "Be brief now."


def test_system_message_between_call_and_result_waits() -> None:
    messages = [TOOL_LOOP[0], TOOL_LOOP[1],
                {"role": "system", "content": "Reminder."}, TOOL_LOOP[2]]
    out, _ = to_openai(anthropic_body(messages=messages, tools=[A_TOOL]))
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["user", "assistant", "tool", "tool", "system", "user"]


def test_unanswered_tool_use_gets_a_result() -> None:
    messages = [TOOL_LOOP[0], TOOL_LOOP[1], {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"}]}]
    out, _ = to_openai(anthropic_body(messages=messages, tools=[A_TOOL]))
    assert out["messages"][-1] == {"role": "tool", "tool_call_id": "toolu_02",
                                   "content": "[tool error] No result"}


def test_server_tools_dropped() -> None:
    tools = [A_TOOL, {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
             {"type": "bash_20250124", "name": "bash"}]
    messages = [{"role": "user", "content": "Search"},
                {"role": "assistant", "content": [
                    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
                     "input": {"query": "x"}},
                    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1",
                     "content": []},
                    {"type": "text", "text": "Found it."}]},
                {"role": "user", "content": "Thanks"}]
    out, _ = to_openai(anthropic_body(tools=tools, messages=messages,
                                      tool_choice={"type": "tool", "name": "web_search"}))
    assert [t["function"]["name"] for t in out["tools"]] == ["get_weather"]
    assert out["messages"][1] == {"role": "assistant", "content": "Found it."}
    assert out["tool_choice"] == "required"
    only_server, _ = to_openai(anthropic_body(tools=tools[1:], tool_choice={"type": "auto"}))
    assert "tools" not in only_server and "tool_choice" not in only_server


def test_long_and_odd_tool_names() -> None:
    """§9.19: names OpenAI rejects are mapped, consistently, and the map is returned."""
    long_name = "mcp__claude_in_chrome__read_page_content_with_accessibility_tree_and_more"
    tools = [{"name": long_name, "input_schema": {"type": "object"}},
             {"name": "a.b", "input_schema": {"type": "object"}},
             {"name": "a_b", "input_schema": {"type": "object"}}]
    messages = [{"role": "user", "content": "go"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": long_name, "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                              "content": "ok"}]}]
    out, names = to_openai(anthropic_body(tools=tools, messages=messages,
                                          tool_choice={"type": "tool", "name": long_name}))
    safe = [t["function"]["name"] for t in out["tools"]]
    assert safe[2] == "a_b" and safe[1] != "a_b" and len(safe[0]) <= 64
    assert [names.restore(n) for n in safe] == [long_name, "a.b", "a_b"]
    assert out["messages"][1]["tool_calls"][0]["function"]["name"] == safe[0]
    assert out["tool_choice"] == {"type": "function", "function": {"name": safe[0]}}
    assert dict(names) == {safe[0]: long_name, safe[1]: "a.b"}


def test_long_tool_ids_shortened_consistently() -> None:
    long_id = "toolu_" + "x" * 60
    messages = [{"role": "user", "content": "go"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": long_id, "name": "get_weather", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": long_id,
                                              "content": "ok"}]}]
    out, _ = to_openai(anthropic_body(tools=[A_TOOL], messages=messages))
    assert out["messages"][1]["tool_calls"][0]["id"] == out["messages"][2]["tool_call_id"]


@pytest.mark.parametrize(("provider", "model", "key"), [
    ("openai", "gpt-4o", "max_completion_tokens"), ("xai", "grok-4", "max_completion_tokens"),
    ("openrouter", "anthropic/claude-sonnet-4.5", "max_tokens"),
    ("lmstudio", "qwen3", "max_tokens")])
def test_max_tokens_name_per_provider(provider: str, model: str, key: str) -> None:
    """§9.25."""
    out, _ = to_openai(anthropic_body(max_tokens=777), provider=provider, model=model)
    assert out[key] == 777
    assert {"max_tokens", "max_completion_tokens"} - {key} & set(out) == set()


SAMPLING_CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("openai", "gpt-4o", {"temperature": 0.5, "top_p": 0.9, "top_k": 5,
                          "stop_sequences": ["a", "b", "c", "d", "e"]},
     {"temperature": 0.5, "top_p": 0.9, "stop": ["a", "b", "c", "d"]}),
    ("openai", "o3-mini", {"temperature": 0.5, "top_p": 0.9, "stop_sequences": ["a"]}, {}),
    ("openai", "gpt-5.1", {"temperature": 0.5, "stop_sequences": ["a"]}, {}),
    ("xai", "grok-4", {"temperature": 0.5, "stop_sequences": ["a"]}, {"temperature": 0.5}),
    ("xai", "grok-2-1212", {"stop_sequences": ["a"]}, {"stop": ["a"]}),
    ("openrouter", "meta-llama/llama-3.3-70b", {"top_k": 40, "temperature": 1},
     {"top_k": 40, "temperature": 1}),
]


@pytest.mark.parametrize(("provider", "model", "extra", "expected"), SAMPLING_CASES)
def test_sampling_to_openai(provider: str, model: str, extra: dict[str, Any],
                            expected: dict[str, Any]) -> None:
    """§9.24 and §8: stop limited to 4 and dropped for reasoning models; top_k OpenRouter."""
    out, _ = to_openai(anthropic_body(**extra), provider=provider, model=model)
    got = {k: out[k] for k in ("temperature", "top_p", "top_k", "stop") if k in out}
    assert got == expected


REASONING_CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("openai", "o3", {"thinking": {"type": "enabled", "budget_tokens": 1500}},
     {"reasoning_effort": "low"}),
    ("openai", "gpt-5", {"thinking": {"type": "enabled", "budget_tokens": 5000}},
     {"reasoning_effort": "medium"}),
    ("openai", "o4-mini", {"thinking": {"type": "enabled", "budget_tokens": 31999}},
     {"reasoning_effort": "high"}),
    ("openai", "gpt-5", {"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}},
     {"reasoning_effort": "high"}),
    ("openai", "gpt-4o", {"thinking": {"type": "enabled", "budget_tokens": 5000}}, {}),
    ("openai", "o3", {"thinking": {"type": "disabled"}}, {}),
    ("xai", "grok-3-mini", {"thinking": {"type": "enabled", "budget_tokens": 5000}},
     {"reasoning_effort": "high"}),
    ("xai", "grok-4.3", {"thinking": {"type": "enabled", "budget_tokens": 5000}},
     {"reasoning_effort": "medium"}),
    ("xai", "grok-4", {"thinking": {"type": "enabled", "budget_tokens": 5000}}, {}),
    ("xai", "grok-4.20", {"thinking": {"type": "adaptive"}, "output_config": {
        "effort": "low"}}, {}),
    ("openrouter", "anthropic/claude-sonnet-4.5", {"thinking": {
        "type": "enabled", "budget_tokens": 31999}, "max_tokens": 32000},
     {"reasoning": {"max_tokens": 31999}}),
    ("openrouter", "openai/o3", {"thinking": {"type": "adaptive"},
                                 "output_config": {"effort": "medium"}},
     {"reasoning": {"effort": "medium"}}),
    ("openrouter", "x-ai/grok-4", {"thinking": {"type": "adaptive"}},
     {"reasoning": {"enabled": True}}),
    ("vllm", "qwen3", {"thinking": {"type": "enabled", "budget_tokens": 5000}}, {}),
]


@pytest.mark.parametrize(("provider", "model", "extra", "expected"), REASONING_CASES)
def test_thinking_to_reasoning(provider: str, model: str, extra: dict[str, Any],
                               expected: dict[str, Any]) -> None:
    out, _ = to_openai(anthropic_body(**extra), provider=provider, model=model)
    got = {k: out[k] for k in ("reasoning_effort", "reasoning") if k in out}
    assert got == expected


@pytest.mark.parametrize(("provider", "user_id", "expected"), [
    ("openai", "u-1", {"safety_identifier": "u-1"}),
    ("xai", "u-1", {"user": "u-1"}),
    ("openrouter", "u-1", {"user": "u-1"}),
])
def test_metadata_user_id(provider: str, user_id: str, expected: dict[str, str]) -> None:
    out, _ = to_openai(anthropic_body(metadata={"user_id": user_id}), provider=provider)
    assert {k: out[k] for k in ("user", "safety_identifier") if k in out} == expected


def test_long_user_id_is_hashed_stably() -> None:
    user_id = json.dumps({"device_id": "d" * 64, "account_uuid": "a", "session_id": "s"})
    first, _ = to_openai(anthropic_body(metadata={"user_id": user_id}))
    second, _ = to_openai(anthropic_body(metadata={"user_id": user_id}))
    assert first["safety_identifier"] == second["safety_identifier"]
    assert len(first["safety_identifier"]) <= 64


def test_stream_options_and_dropped_fields() -> None:
    body = anthropic_body(
        stream=True, context_management={"edits": [{"type": "clear_thinking_20251015"}]},
        container="c", mcp_servers=[], service_tier="auto", cache_control={"type": "ephemeral"},
        output_config={"effort": "high", "format": {"type": "json_schema", "schema": {
            "type": "object"}}}, inference_geo="us", top_k=3)
    out, _ = to_openai(body)
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
    assert out["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "response", "schema": {"type": "object"}, "strict": False}}
    assert set(out) == {"model", "messages", "max_completion_tokens", "stream",
                        "stream_options", "response_format"}
    not_streaming, _ = to_openai(anthropic_body(stream=False))
    assert "stream_options" not in not_streaming


@pytest.mark.parametrize(("choice", "expected", "parallel"), [
    ({"type": "auto"}, "auto", None), ({"type": "any"}, "required", None),
    ({"type": "none"}, "none", None),
    ({"type": "tool", "name": "get_weather"},
     {"type": "function", "function": {"name": "get_weather"}}, None),
    ({"type": "auto", "disable_parallel_tool_use": True}, "auto", False),
])
def test_tool_choice_to_openai(choice: dict[str, Any], expected: Any,
                               parallel: bool | None) -> None:
    out, _ = to_openai(anthropic_body(tools=[A_TOOL], tool_choice=choice))
    assert out["tool_choice"] == expected
    assert out.get("parallel_tool_calls") == parallel


def test_documents() -> None:
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                          "data": "JVBERi0x"}}
    text_doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                               "data": "plain words"}}
    body = anthropic_body(messages=[{"role": "user", "content": [pdf, text_doc]}])
    out, _ = to_openai(body)
    assert out["messages"][0]["content"] == [
        {"type": "file", "file": {"filename": "document.pdf",
                                  "file_data": "data:application/pdf;base64,JVBERi0x"}},
        {"type": "text", "text": "plain words"}]
    with pytest.raises(TranslationError):
        anthropic_to_openai_request(body, model="grok-4", provider="xai")


def test_claude_code_request_to_every_provider() -> None:
    """clients.md: the shape Claude Code sends, to each OpenAI-format provider."""
    tools = [{"name": f"Tool{i}", "description": "d" * 50, "input_schema": {
        "type": "object", "properties": {"x": {"type": "string"}}}} for i in range(24)]
    tools.append({"name": "mcp__github__create_pull_request_review_comment_with_suggestions",
                  "input_schema": {"type": "object", "properties": {}}})
    body = {
        "model": "gpt-4o-mini", "max_tokens": 32000, "stream": True,
        "system": [{"type": "text", "text": "You are Claude Code."},
                   {"type": "text", "text": "Instructions...", "cache_control": {
                       "type": "ephemeral"}},
                   {"type": "text", "text": "Env...", "cache_control": {"type": "ephemeral"}}],
        "tools": tools,
        "metadata": {"user_id": json.dumps({"device_id": "x" * 64, "session_id": "y" * 36})},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"},
        "messages": [
            {"role": "system", "content": "You are running as a non-Claude model."},
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>a</system-reminder>"},
                {"type": "text", "text": "<system-reminder>b</system-reminder>"},
                {"type": "text", "text": "List files", "cache_control": {"type": "ephemeral"}}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "ls", "signature": "s"},
                {"type": "tool_use", "id": "toolu_01X", "name": "Tool1", "input": {"x": "."}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01X", "is_error": True,
                 "content": "permission denied"}]},
        ],
    }
    for provider, model in (("openai", "gpt-4o-mini"), ("openai", "gpt-5-mini"),
                            ("xai", "grok-4"), ("openrouter", "anthropic/claude-sonnet-4.5"),
                            ("openrouter", "openai/gpt-4o"), ("ollama", "qwen3:8b")):
        out, names = to_openai(body, provider=provider, model=model)
        assert out["stream_options"] == {"include_usage": True}
        assert len(out["tools"]) == 25
        assert names.restore(out["tools"][-1]["function"]["name"]) == tools[-1]["name"]
        assert out["messages"][-1]["content"].startswith("[tool error] ")


# === properties and round trips ===============================================================

_ID_CHARS = "abcXYZ019_-.:/ "
_ids = st.text(alphabet=_ID_CHARS, min_size=1, max_size=12)
_texts = st.sampled_from(["", " ", "\n", "hello", "trailing  ", "  lead", "multi\nline"])


@st.composite
def openai_conversations(draw: st.DrawFn) -> dict[str, Any]:
    """Random Chat Completions bodies with tool loops, odd ids, blanks and system messages."""
    messages: list[dict[str, Any]] = []
    used_ids: set[str] = set()
    for _ in range(draw(st.integers(min_value=1, max_value=7))):
        kind = draw(st.sampled_from(["system", "user", "assistant", "tools", "parts"]))
        if kind == "system":
            messages.append({"role": draw(st.sampled_from(["system", "developer"])),
                             "content": draw(_texts)})
        elif kind == "user":
            messages.append(user(draw(_texts)))
        elif kind == "parts":
            messages.append(user([{"type": "text", "text": draw(_texts)},
                                  {"type": "image_url", "image_url": {
                                      "url": "data:image/png;base64,iVBOR"}}]))
        elif kind == "assistant":
            messages.append(assistant(draw(_texts)))
        else:
            ids = [i for i in draw(st.lists(_ids, min_size=1, max_size=3, unique=True))
                   if i not in used_ids]
            if not ids:
                continue
            used_ids.update(ids)
            messages.append(assistant(draw(st.sampled_from([None, "", "Let me check "])),
                                      [call(i, arguments=draw(st.sampled_from(
                                          ["", "{}", '{"city": "P"}', "{bad"]))) for i in ids]))
            answered = draw(st.lists(st.sampled_from(ids), unique=True, max_size=len(ids)))
            messages += [tool(i, draw(_texts)) for i in answered]
    if not messages:
        messages.append(user("x"))
    body: dict[str, Any] = {"model": "x", "messages": messages}
    if draw(st.booleans()):
        body["tools"] = [WEATHER_TOOL]
        body["tool_choice"] = draw(st.sampled_from(["auto", "none", "required"]))
        body["parallel_tool_calls"] = draw(st.booleans())
    options = {
        "reasoning_effort": st.sampled_from(["none", "minimal", "low", "high"]),
        "temperature": st.floats(min_value=0, max_value=2),
        "top_p": st.floats(min_value=0, max_value=1),
        "stop": st.lists(_texts, max_size=4),
        "max_tokens": st.integers(min_value=1, max_value=200_000),
        "user": st.sampled_from(["u1", "a@b.co"]),
        "response_format": st.sampled_from([{"type": "json_object"}, {"type": "text"}]),
        "stream": st.booleans(),
    }
    for key, strategy in options.items():
        if draw(st.booleans()):
            body[key] = draw(strategy)
    return body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=openai_conversations(),
       model=st.sampled_from(["claude-sonnet-4-5", "claude-sonnet-4-6", "claude-3-haiku"]))
def test_every_openai_conversation_becomes_a_valid_anthropic_request(
        body: dict[str, Any], model: str) -> None:
    to_anthropic(body, model=model)


@st.composite
def anthropic_conversations(draw: st.DrawFn) -> dict[str, Any]:
    """Random valid Messages bodies: tool loops, results with images and errors, thinking."""
    messages: list[dict[str, Any]] = [user(draw(st.sampled_from(["Hi", "Go"])))]
    names = ["get_weather", "mcp__server__" + "x" * 60, "mcp__server__" + "x" * 52 + "y" * 50]
    counter = 0
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        content: list[dict[str, Any]] = []
        if draw(st.booleans()):
            content.append({"type": "thinking", "thinking": "t", "signature": "s"})
        if draw(st.booleans()):
            content.append({"type": "text", "text": "Checking."})
        calls = []
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            counter += 1
            calls.append({"type": "tool_use", "id": f"toolu_{counter}",
                          "name": draw(st.sampled_from(names)),
                          "input": draw(st.sampled_from([{}, {"a": 1}]))})
        content += calls
        if not content:
            content.append({"type": "text", "text": "Ok."})
        messages.append({"role": "assistant", "content": content})
        reply: list[dict[str, Any]] = []
        for c in calls:
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": c["id"]}
            shape = draw(st.sampled_from(["text", "blocks", "image", "error", "none"]))
            if shape == "text":
                result["content"] = "ok"
            elif shape == "blocks":
                result["content"] = [{"type": "text", "text": "a"},
                                     {"type": "text", "text": "b"}]
            elif shape == "image":
                result["content"] = [{"type": "image", "source": {
                    "type": "base64", "media_type": "image/png", "data": "iVBOR"}}]
            elif shape == "error":
                result.update(content="failed", is_error=True)
            reply.append(result)
        if draw(st.booleans()) or not reply:
            reply.append({"type": "text", "text": "continue"})
        messages.append({"role": "user", "content": reply})
        if draw(st.booleans()):
            messages.append({"role": "system", "content": "mid-conversation note"})
    body: dict[str, Any] = {"model": "claude", "max_tokens": 1000, "messages": messages,
                            "tools": [{"name": n, "input_schema": {"type": "object"}}
                                      for n in names]}
    if draw(st.booleans()):
        body["tool_choice"] = draw(st.sampled_from([
            {"type": "auto"}, {"type": "any"}, {"type": "tool", "name": names[1]},
            {"type": "auto", "disable_parallel_tool_use": True}]))
    if draw(st.booleans()):
        body["system"] = draw(st.sampled_from(["S", [{"type": "text", "text": "S1"},
                                                     {"type": "text", "text": "S2"}]]))
    if draw(st.booleans()):
        body["stream"] = draw(st.booleans())
    return body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=anthropic_conversations(), target=st.sampled_from([
    ("openai", "gpt-4o"), ("openai", "o3"), ("xai", "grok-4"),
    ("openrouter", "anthropic/claude-sonnet-4.5"), ("ollama", "llama3")]))
def test_every_anthropic_conversation_becomes_a_valid_openai_request(
        body: dict[str, Any], target: tuple[str, str]) -> None:
    assert validate_anthropic_request(body) == []  # the generator makes valid requests
    to_openai(body, provider=target[0], model=target[1])


def test_strip_unsigned_thinking() -> None:
    signed = {"type": "thinking", "thinking": "t", "signature": "s"}
    unsigned = {"type": "thinking", "thinking": "t", "signature": ""}
    use = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}
    clean = anthropic_body(messages=[user(), {"role": "assistant", "content": [signed, use]},
                                     {"role": "user", "content": [result]}],
                           tools=[A_TOOL], thinking={"type": "adaptive"})
    assert strip_unsigned_thinking(clean) is clean
    dirty = copy.deepcopy(clean)
    dirty["messages"][1]["content"][0] = unsigned
    dirty["messages"].insert(1, {"role": "assistant", "content": [unsigned]})
    dirty["messages"].insert(2, user("again"))
    stripped = strip_unsigned_thinking(dirty)
    assert validate_anthropic_request(dirty) != []
    assert validate_anthropic_request(stripped) == []
    assert "thinking" not in stripped
    assert [m["role"] for m in stripped["messages"]] == ["user", "user", "assistant", "user"]
