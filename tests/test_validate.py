"""The fake upstreams' validators: they accept real-API-valid bodies and flag each 400 cause.

Each invalid case changes one thing in a valid base body and names the problem expected; a
validator that lets it through (or that flags the valid bases) fails here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes.validate import (
    validate_anthropic_request,
    validate_openai_request,
    validate_responses_request,
)

TOOL = {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}


def anthropic_base() -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5", "max_tokens": 1024,
        "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                 "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "text", "text": "Thanks"}]},
        ],
        "tools": [TOOL], "tool_choice": {"type": "auto"}, "metadata": {"user_id": "u-1"},
        "temperature": 0.5, "stop_sequences": ["END"], "stream": True,
    }


def openai_base() -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                                         {"type": "image_url",
                                          "image_url": {"url": "https://x.test/a.png"}}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{}"}},
                {"id": "call_2", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text",
                                                                     "text": "20C"}]},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather",
                                                    "parameters": {"type": "object"}}}],
        "tool_choice": "auto", "parallel_tool_calls": True, "max_completion_tokens": 100,
        "stream": True, "stream_options": {"include_usage": True},
    }


def test_bases_are_valid() -> None:
    assert validate_anthropic_request(anthropic_base()) == []
    assert validate_openai_request(openai_base()) == []


Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return mutate


def _delete(key: str) -> Mutation:
    return lambda body: body.pop(key)


ANTHROPIC_INVALID: list[tuple[str, Mutation, str]] = [
    ("no model", _delete("model"), "model"),
    ("no max_tokens", _delete("max_tokens"), "max_tokens"),
    ("max_tokens zero", _set("max_tokens", 0), "max_tokens"),
    ("max_tokens bool", _set("max_tokens", True), "max_tokens"),
    ("messages empty", _set("messages", []), "non-empty"),
    ("messages not list", _set("messages", "hi"), "non-empty"),
    ("unknown field", _set("stream_options", {"include_usage": True}), "Extra inputs"),
    ("openai n leaked", _set("n", 1), "Extra inputs"),
    ("unknown role", _set("messages.0.role", "tool"), "role"),
    ("extra message key", _set("messages.1.thinking_blocks", []), "extra inputs"),
    ("first message assistant", lambda b: b["messages"].insert(
        0, {"role": "assistant", "content": "Hi"}), "first message"),
    ("empty text block", _set("messages.2.content.1.text", ""), "non-whitespace"),
    ("whitespace text block", _set("messages.2.content.1.text", " \n"), "non-whitespace"),
    ("empty user string", _set("messages.0.content", ""), "non-empty"),
    ("empty system text", _set("system.0.text", ""), "non-whitespace"),
    ("bad tool id", _set("messages.1.content.1.id", "functions.Bash:0"), "pattern"),
    ("bad tool result id", _set("messages.2.content.0.tool_use_id", "call.1"), "pattern"),
    ("tool input not object", _set("messages.1.content.1.input", "{}"), "dictionary"),
    ("tool_use without result", _set("messages.2.content", [{"type": "text", "text": "x"}]),
     "without tool_result"),
    ("result answers nothing", _set("messages.2.content.0.tool_use_id", "toolu_9"),
     "unexpected tool_use_id"),
    ("results not first", _set("messages.2.content", [
        {"type": "text", "text": "Thanks"},
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]),
     "must come before"),
    ("tool history without tools", _delete("tools"), "must define tools"),
    ("tool_choice without tools", lambda b: (b.pop("tools"), b["messages"].__setitem__(
        slice(1, None), [])), "tool_choice"),
    ("tool_choice unknown tool", _set("tool_choice", {"type": "tool", "name": "nope"}),
     "no tool named"),
    ("tool_result in assistant turn", _set("messages.1.content.0", {
        "type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}), "only allowed"),
    ("metadata extra key", _set("metadata", {"user_id": "u", "session": "s"}), "metadata"),
    ("metadata email", _set("metadata", {"user_id": "ada@example.com"}), "personal"),
    ("temperature above 1", _set("temperature", 1.5), "temperature"),
    ("temperature and top_p", _set("top_p", 0.9), "both"),
    ("whitespace stop", _set("stop_sequences", ["\n"]), "stop"),
    ("budget too small", lambda b: b.update(thinking={"type": "enabled", "budget_tokens": 512},
                                            temperature=1), "1024"),
    ("budget over max_tokens", lambda b: b.update(
        thinking={"type": "enabled", "budget_tokens": 2048}, temperature=1), "greater"),
    ("thinking with temperature", lambda b: b.update(thinking={"type": "adaptive"}),
     "temperature"),
    ("thinking with top_k", lambda b: b.update(thinking={"type": "adaptive"}, top_k=5,
                                               temperature=1), "top_k"),
    ("thinking with forced tool", lambda b: b.update(
        thinking={"type": "adaptive"}, temperature=1,
        tool_choice={"type": "any"}), "forces tool use"),
    ("thinking tool loop without thinking block", lambda b: b.update(
        thinking={"type": "adaptive"}, temperature=1), "Expected `thinking`"),
    ("unsigned thinking block", _set("messages.1.content.0", {
        "type": "thinking", "thinking": "hmm", "signature": ""}), "signature"),
    ("bad image type", _set("messages.0.content", [{"type": "image", "source": {
        "type": "base64", "media_type": "image/bmp", "data": "AAAA"}}]), "media_type"),
    ("unknown block type", _set("messages.0.content", [{"type": "image_url",
                                                         "image_url": {"url": "x"}}]),
     "unknown content block"),
    ("trailing whitespace in final assistant", lambda b: b["messages"].append(
        {"role": "assistant", "content": "Sure: "}), "trailing whitespace"),
    ("prefill with thinking", lambda b: (b["messages"].append(
        {"role": "assistant", "content": "Sure"}), b.update(
        thinking={"type": "adaptive"}, temperature=1)), "Prefill"),
    ("duplicate tool ids", lambda b: b["messages"].extend([
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                                           "name": "get_weather", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]}]),
     "unique"),
    ("five cache breakpoints", lambda b: b.update(system=[
        {"type": "text", "text": f"s{i}", "cache_control": {"type": "ephemeral"}}
        for i in range(5)]), "maximum of 4"),
    ("tool schema not object", _set("tools", [{"name": "t", "input_schema": {
        "type": "array"}}]), "input_schema"),
    ("bad output_config", _set("output_config", {"effort": "extreme"}), "effort"),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in ANTHROPIC_INVALID],
                         ids=[name for name, _, _ in ANTHROPIC_INVALID])
def test_anthropic_validator_flags(mutate: Mutation, expected: str) -> None:
    body = copy.deepcopy(anthropic_base())
    mutate(body)
    problems = validate_anthropic_request(body)
    assert any(expected.lower() in p.lower() for p in problems), problems


ANTHROPIC_VALID: list[tuple[str, Mutation]] = [
    ("system message inside messages", lambda b: b["messages"].insert(
        1, {"role": "system", "content": "Mid-conversation system text."})),
    ("consecutive user turns merge", lambda b: b["messages"].insert(
        1, {"role": "user", "content": "More context."})),
    ("thinking tool loop with signed block", lambda b: (b.update(
        thinking={"type": "enabled", "budget_tokens": 1024}, temperature=1, max_tokens=2048),
        b["messages"][1]["content"].insert(0, {"type": "thinking", "thinking": "t",
                                               "signature": "sig"}))),
    ("is_error result", _set("messages.2.content.0.is_error", True)),
    ("server tool", lambda b: b["tools"].append({"type": "web_search_20250305",
                                                 "name": "web_search"})),
    ("final assistant prefill", lambda b: b["messages"].append(
        {"role": "assistant", "content": "Sure:"})),
    ("url image", _set("messages.0.content", [{"type": "image", "source": {
        "type": "url", "url": "https://x.test/a.png"}}])),
]


@pytest.mark.parametrize("mutate", [m for _, m in ANTHROPIC_VALID],
                         ids=[name for name, _ in ANTHROPIC_VALID])
def test_anthropic_validator_accepts(mutate: Mutation) -> None:
    body = copy.deepcopy(anthropic_base())
    mutate(body)
    assert validate_anthropic_request(body) == []


OPENAI_INVALID: list[tuple[str, Mutation, str]] = [
    ("no model", _delete("model"), "model"),
    ("messages empty", _set("messages", []), "non-empty"),
    ("unknown role", _set("messages.0.role", "robot"), "role"),
    ("unknown field", _set("max_output_tokens", 5), "Unrecognized"),
    ("anthropic field leaked", _set("stop_sequences", ["x"]), "Unrecognized"),
    ("extra message key", _set("messages.2.thinking_blocks", []), "additional properties"),
    ("tool without preceding call", lambda b: b["messages"].insert(
        1, {"role": "tool", "tool_call_id": "call_1", "content": "x"}), "preceding"),
    ("tool answering unknown id", _set("messages.3.tool_call_id", "call_9"), "preceding"),
    ("missing tool answer", lambda b: b["messages"].pop(4), "followed by tool messages"),
    ("calls at the end", lambda b: b["messages"].__delitem__(slice(3, None)),
     "followed by tool messages"),
    ("tool content not text", _set("messages.4.content", [{
        "type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]), "not allowed"),
    ("function name too long", _set("messages.2.tool_calls.0.function.name", "x" * 65),
     "function.name"),
    ("function name bad chars", _set("tools.0.function.name", "get.weather"), "function.name"),
    ("arguments not string", _set("messages.2.tool_calls.0.function.arguments", {}),
     "arguments"),
    ("tool call id too long", lambda b: (b["messages"][2]["tool_calls"][0].update(id="c" * 41),
                                         b["messages"][3].update(tool_call_id="c" * 41)),
     "too long"),
    ("n zero", _set("n", 0), "n:"),
    ("stream_options without stream", _delete("stream"), "stream_options"),
    ("both max token fields", _set("max_tokens", 10), "both"),
    ("tool_choice without tools", lambda b: b.pop("tools"), "tool_choice"),
    ("parallel_tool_calls without tools", lambda b: (b.pop("tools"), b.pop("tool_choice")),
     "parallel_tool_calls"),
    ("temperature above 2", _set("temperature", 2.5), "temperature"),
    ("five stops", _set("stop", ["a", "b", "c", "d", "e"]), "at most 4"),
    ("content null without calls", _set("messages.5", {"role": "assistant", "content": None}),
     "required"),
    ("bad reasoning effort", _set("reasoning_effort", "extreme"), "reasoning_effort"),
    ("openrouter field to openai", _set("reasoning", {"effort": "low"}), "Unrecognized"),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in OPENAI_INVALID],
                         ids=[name for name, _, _ in OPENAI_INVALID])
def test_openai_validator_flags(mutate: Mutation, expected: str) -> None:
    body = copy.deepcopy(openai_base())
    mutate(body)
    problems = validate_openai_request(body)
    assert any(expected.lower() in p.lower() for p in problems), problems


def test_openai_validator_provider_extensions() -> None:
    body = openai_base()
    body.update(reasoning={"max_tokens": 2048}, top_k=5)
    body["messages"][2]["reasoning_details"] = [{"type": "reasoning.text", "text": "t"}]
    assert validate_openai_request(body, provider="openrouter") == []
    assert validate_openai_request(body, provider="openai") != []


# --- OpenAI Responses -------------------------------------------------------------------------


def responses_base() -> dict[str, Any]:
    """A Codex-like Responses request: developer messages, tools of three kinds, a tool loop."""
    return {
        "model": "gpt-5.1-codex",
        "instructions": "Be terse.",
        "input": [
            {"type": "message", "role": "developer",
             "content": [{"type": "input_text", "text": "Sandbox: workspace-write"}]},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "Weather?"},
                {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "auto"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather",
             "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            {"type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch",
             "input": "*** Begin Patch"},
            {"type": "custom_tool_call_output", "call_id": "call_2",
             "output": [{"type": "input_text", "text": "Done"}]},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "18C.", "annotations": []}]},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [
            {"type": "function", "name": "get_weather", "description": "Weather",
             "parameters": {"type": "object", "properties": {}}, "strict": False},
            {"type": "custom", "name": "apply_patch", "description": "Patch files",
             "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
            {"type": "namespace", "name": "mcp__docs__", "description": "Docs",
             "tools": [{"type": "function", "name": "search", "parameters": {"type": "object"},
                        "strict": False}]},
            {"type": "web_search"},
        ],
        "tool_choice": "auto", "parallel_tool_calls": True, "max_output_tokens": 1000,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "text": {"format": {"type": "json_schema", "name": "answer",
                            "schema": {"type": "object"}, "strict": True},
                 "verbosity": "low"},
        "store": False, "include": ["reasoning.encrypted_content"], "stream": True,
        "prompt_cache_key": "thread-1", "client_metadata": {"x": "y"},
    }


def test_responses_base_is_valid() -> None:
    assert validate_responses_request(responses_base()) == []
    assert validate_responses_request({"model": "gpt-5", "input": "hi"}) == []


RESPONSES_INVALID: list[tuple[str, Mutation, str]] = [
    ("no model", _delete("model"), "model"),
    ("chat messages field", _set("messages", []), "Unknown parameter"),
    ("chat max_tokens", _set("max_tokens", 10), "Unknown parameter"),
    ("chat response_format", _set("response_format", {"type": "json_object"}),
     "Unknown parameter"),
    ("unknown item type", _set("input.8", {"type": "future_item", "x": 1}), "future_item"),
    ("output without its call", _set("input.4.call_id", "call_9"), "No tool call found"),
    ("custom output without its call", _set("input.6.call_id", "call_1"), "No tool call"),
    ("output before its call", lambda b: b["input"].insert(
        2, {"type": "function_call_output", "call_id": "call_1", "output": "x"}),
     "No tool call found"),
    ("bad role", _set("input.8.role", "tool"), "role"),
    ("input_text in assistant", _set("input.7.content.0", {"type": "input_text", "text": "x"}),
     "input_text"),
    ("output_text in user", _set("input.1.content.0", {"type": "output_text", "text": "x"}),
     "output_text"),
    ("chat text part", _set("input.1.content.0", {"type": "text", "text": "x"}), "'text'"),
    ("image without url", _set("input.1.content.1", {"type": "input_image"}), "image_url"),
    ("reasoning without encrypted content, store false",
     _set("input.2", {"type": "reasoning", "id": "rs_1", "summary": []}), "encrypted_content"),
    ("function call without name", _set("input.3.name", ""), "name"),
    ("nested chat tool shape", _set("tools.0", {"type": "function", "function": {
        "name": "get_weather", "parameters": {}}}), "function"),
    ("unknown tool type", _set("tools.3", {"type": "retrieval"}), "retrieval"),
    ("bad function name", _set("tools.0.name", "get.weather"), "name"),
    ("chat tool_choice shape", _set("tool_choice", {"type": "function",
                                                    "function": {"name": "get_weather"}}),
     "tool_choice"),
    ("unknown tool_choice name", _set("tool_choice", {"type": "function", "name": "nope"}),
     "unknown tool"),
    ("max_output_tokens below 16", _set("max_output_tokens", 8), "minimum"),
    ("temperature above 2", _set("temperature", 3), "temperature"),
    ("bad effort", _set("reasoning.effort", "extreme"), "effort"),
    ("nested json_schema", _set("text.format", {"type": "json_schema", "json_schema": {
        "name": "a", "schema": {}}}), "json_schema"),
    ("stream_options without stream", lambda b: b.update(stream=False,
                                                         stream_options={}), "stream_options"),
    ("bad include", _set("include", ["everything"]), "include"),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in RESPONSES_INVALID],
                         ids=[name for name, _, _ in RESPONSES_INVALID])
def test_responses_validator_flags(mutate: Mutation, expected: str) -> None:
    body = copy.deepcopy(responses_base())
    mutate(body)
    problems = validate_responses_request(body)
    assert any(expected.lower() in p.lower() for p in problems), problems
