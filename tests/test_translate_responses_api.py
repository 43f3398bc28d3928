"""The Responses API <-> Chat Completions translators, checked rule by rule.

Outgoing requests are checked with the fake providers' strict validators (Chat, Responses, and
Anthropic for the composed leg to Claude); replies and streams are parsed by the official
``openai`` SDK (its Responses types and stream accumulator, its Chat parser), and the assertions
are on what the SDK reconstructed. Labelled issue edge cases are marked ``EDGE:``.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from gateway.translate import (
    AnthropicToOpenAIStream,
    ChatToResponsesStream,
    OpenAIToAnthropicStream,
    ResponsesToChatStream,
    TranslationError,
    UpstreamError,
    anthropic_to_openai_request,
    anthropic_to_openai_response,
    chat_to_responses_request,
    chat_to_responses_response,
    openai_to_anthropic_request,
    openai_to_anthropic_response,
    responses_to_chat_request,
    responses_to_chat_response,
)
from gateway.translate.responses_api.streams import InputDecoder
from tests.fakes.builders import anthropic_events, openai_chunks
from tests.fakes.sdk import (
    accumulate_openai_chunks,
    anthropic_final_message,
    anthropic_parse_message,
    openai_parse_completion,
    openai_stream_chunks,
    openai_stream_final,
    responses_parse,
    responses_stream_events,
    responses_stream_final,
    responses_stream_helper_events,
    sse_payloads,
)
from tests.fakes.validate import (
    validate_anthropic_request,
    validate_openai_request,
    validate_responses_request,
)

SCHEMA = {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}
SIGNATURE = "EqQBCkYIBxgCKkD" + "a" * 40
STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def codex_request(**extra: Any) -> dict[str, Any]:
    """What Codex 0.171 sends (clients.md): developer messages, namespace, custom and web tools."""
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "input": [
            {"type": "message", "role": "developer",
             "content": [{"type": "input_text", "text": "You are Codex."}]},
            {"type": "message", "role": "developer",
             "content": [{"type": "input_text", "text": "Sandbox: workspace-write."}]},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "<environment_context>cwd=/w"
                                                        "</environment_context>"}]},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "List the files."}]},
        ],
        "tools": [
            {"type": "function", "name": "exec_command", "description": "Run a command",
             "parameters": SCHEMA, "strict": False},
            {"type": "custom", "name": "apply_patch", "description": "Edit files.",
             "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
            {"type": "namespace", "name": "mcp__docs__", "description": "Docs server",
             "tools": [{"type": "function", "name": "search", "description": "Search docs",
                        "parameters": {"type": "object", "properties": {}}, "strict": False}]},
            {"type": "web_search"},
        ],
        "tool_choice": "auto", "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False, "stream": True, "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "0199-thread", "client_metadata": {"x-codex-turn": "1"},
    }
    body.update(extra)
    return body


def tool_loop(*items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = codex_request(**extra)
    body["input"] = [*body["input"], *items]
    return body


def call(call_id: str, name: str = "exec_command", arguments: str = '{"cmd":"ls"}',
         **extra: Any) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments,
            **extra}


def output(call_id: str, text: str = "a.txt") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": text}


def chat_ok(body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """responses_to_chat_request, checked by the strict Chat validator."""
    chat = responses_to_chat_request(body, model="gpt-4o", **kwargs)
    assert validate_openai_request(chat) == []
    return chat


def refused(fn: Any, body: dict[str, Any]) -> TranslationError:
    with pytest.raises(TranslationError) as info:
        fn(body, model="m")
    return info.value


# === Direction A: Responses request -> Chat request ===========================================


def test_codex_request_becomes_a_valid_chat_request() -> None:
    chat = chat_ok(codex_request())
    assert [m["role"] for m in chat["messages"]] == ["system", "system", "user", "user"]
    assert chat["messages"][3]["content"] == "List the files."
    names = [t["function"]["name"] for t in chat["tools"]]
    assert names == ["exec_command", "apply_patch", "mcp__docs__search"]  # web_search dropped
    assert chat["tool_choice"] == "auto" and chat["parallel_tool_calls"] is False
    assert chat["reasoning_effort"] == "medium"
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    assert chat["prompt_cache_key"] == "0199-thread"
    for dropped in ("store", "include", "client_metadata", "input", "reasoning"):
        assert dropped not in chat


def test_edge_instructions_vs_developer_messages() -> None:
    """EDGE: instructions vs developer messages: instructions first, developer messages in place."""
    body = {"model": "m", "instructions": "Be terse.", "input": [
        {"role": "user", "content": "hi"},
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": "again"}]}
    chat = chat_ok(body)
    assert chat["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "hi"},
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "again"}]


def test_edge_multiple_system_blocks() -> None:
    """EDGE: multiple system blocks: each stays a system message, in order, texts kept apart."""
    body = {"model": "m", "instructions": "A", "input": [
        {"role": "system", "content": [{"type": "input_text", "text": "B1"},
                                       {"type": "input_text", "text": "B2"}]},
        {"role": "developer", "content": "C"}, {"role": "user", "content": "hi"}]}
    chat = chat_ok(body)
    assert chat["messages"][:3] == [
        {"role": "system", "content": "A"},
        {"role": "system", "content": [{"type": "text", "text": "B1"}, {"type": "text", "text": "B2"}]},
        {"role": "system", "content": "C"}]
    # and through to Claude: all three hoisted into the system blocks, in order
    anthropic = openai_to_anthropic_request(chat, model="claude-sonnet-4-6")
    assert [b["text"] for b in anthropic["system"]] == ["A", "B1", "B2", "C"]


def test_input_string_is_one_user_message() -> None:
    chat = chat_ok({"model": "m", "input": "hello"})
    assert chat["messages"] == [{"role": "user", "content": "hello"}]


def test_consecutive_calls_group_into_one_assistant_message() -> None:
    body = tool_loop(
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "Looking.", "annotations": []}]},
        call("call_A"), call("call_B", arguments='{"cmd":"pwd"}'),
        output("call_A"), output("call_B", "/w"))
    chat = chat_ok(body)
    assistant, tool_a, tool_b = chat["messages"][-3:]
    assert assistant["content"] == "Looking."
    assert [(c["id"], c["function"]["arguments"]) for c in assistant["tool_calls"]] == [
        ("call_A", '{"cmd":"ls"}'), ("call_B", '{"cmd":"pwd"}')]
    assert tool_a == {"role": "tool", "tool_call_id": "call_A", "content": "a.txt"}
    assert tool_b["tool_call_id"] == "call_B"


def test_edge_tool_call_with_empty_arguments_in_history() -> None:
    """EDGE: a tool call with empty arguments: sent as ``{}``."""
    chat = chat_ok(tool_loop(call("call_A", arguments=""), output("call_A")))
    assert chat["messages"][-2]["tool_calls"][0]["function"]["arguments"] == "{}"


def test_long_call_ids_are_shortened_on_both_sides() -> None:
    long_id = "call_" + "x" * 60
    chat = chat_ok(tool_loop(call(long_id), output(long_id)))
    call_id = chat["messages"][-2]["tool_calls"][0]["id"]
    assert len(call_id) <= 40 and chat["messages"][-1]["tool_call_id"] == call_id


def test_function_call_output_as_parts_with_an_image() -> None:
    image = {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}
    body = tool_loop(call("call_A"), {"type": "function_call_output", "call_id": "call_A",
                                      "output": [{"type": "input_text", "text": "shot:"}, image]},
                     {"role": "user", "content": "What is in it?"})
    chat = chat_ok(body)
    tool, media, user = chat["messages"][-3:]
    assert tool == {"role": "tool", "tool_call_id": "call_A", "content": "shot:"}
    assert media["role"] == "user" and media["content"][1]["type"] == "image_url"
    assert user == {"role": "user", "content": "What is in it?"}


def test_custom_tool_becomes_a_function_with_one_string_input() -> None:
    patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch"
    body = tool_loop({"type": "custom_tool_call", "call_id": "call_P", "name": "apply_patch",
                      "input": patch},
                     {"type": "custom_tool_call_output", "call_id": "call_P", "output": "Done"})
    chat = chat_ok(body)
    tool = next(t for t in chat["tools"] if t["function"]["name"] == "apply_patch")["function"]
    assert tool["parameters"]["properties"]["input"]["type"] == "string"
    assert tool["parameters"]["required"] == ["input"]
    assert "start: /.+/" in tool["description"]  # the grammar is the model's only guide
    sent = chat["messages"][-2]["tool_calls"][0]
    assert json.loads(sent["function"]["arguments"]) == {"input": patch}
    assert chat["messages"][-1] == {"role": "tool", "tool_call_id": "call_P", "content": "Done"}


def test_namespace_tools_flatten_and_calls_in_history_use_the_flat_name() -> None:
    body = tool_loop(call("call_N", name="search", arguments="{}", namespace="mcp__docs__"),
                     output("call_N"))
    body["tools"].append({"type": "namespace", "name": "jira", "description": "Jira",
                          "tools": [{"type": "function", "name": "search", "strict": False,
                                     "parameters": {"type": "object"}}]})
    chat = chat_ok(body)
    names = [t["function"]["name"] for t in chat["tools"]]
    assert "mcp__docs__search" in names and "jira__search" in names
    assert chat["messages"][-2]["tool_calls"][0]["function"]["name"] == "mcp__docs__search"


def test_namespace_name_collision_with_a_plain_tool_stays_unambiguous() -> None:
    body = {"model": "m", "input": "hi", "tools": [
        {"type": "function", "name": "docs__search", "parameters": None, "strict": None},
        {"type": "namespace", "name": "docs", "description": "",
         "tools": [{"type": "function", "name": "search", "parameters": None}]}]}
    chat = chat_ok(body)
    names = [t["function"]["name"] for t in chat["tools"]]
    assert names[0] == "docs__search" and names[1] != "docs__search" and len(set(names)) == 2
    reply = chat_to_responses_response(chat_completion(tool_calls=[
        {"id": "c1", "type": "function", "function": {"name": names[1], "arguments": "{}"}},
        {"id": "c2", "type": "function", "function": {"name": names[0], "arguments": "{}"}}]),
        model="m", request=body)
    items = [(i["name"], i.get("namespace")) for i in reply["output"]]
    assert items == [("search", "docs"), ("docs__search", None)]


def test_hosted_web_search_is_dropped_other_hosted_tools_refused() -> None:
    only_search = {"model": "m", "input": "hi", "tools": [{"type": "web_search"}],
                   "tool_choice": "auto", "parallel_tool_calls": True}
    chat = chat_ok(only_search)
    assert "tools" not in chat and "tool_choice" not in chat and "parallel_tool_calls" not in chat
    for i, ttype in enumerate(("file_search", "computer_use_preview", "image_generation",
                               "code_interpreter", "local_shell", "mcp")):
        body = {"model": "m", "input": "hi",
                "tools": [{"type": "web_search_preview"}] * i + [{"type": ttype}]}
        error = refused(responses_to_chat_request, body)
        assert error.param == f"tools[{i}].type" and ttype in error.message


def test_tool_choice_mapping() -> None:
    base = codex_request()
    cases: list[tuple[Any, Any]] = [
        ("required", "required"), ("none", "none"),
        ({"type": "function", "name": "exec_command"},
         {"type": "function", "function": {"name": "exec_command"}}),
        ({"type": "custom", "name": "apply_patch"},
         {"type": "function", "function": {"name": "apply_patch"}}),
    ]
    for choice, expected in cases:
        assert chat_ok({**base, "tool_choice": choice})["tool_choice"] == expected
    allowed = chat_ok({**base, "tool_choice": {"type": "allowed_tools", "mode": "required", "tools": [
        {"type": "function", "name": "exec_command"}]}})
    assert allowed["tool_choice"] == "required"
    assert [t["function"]["name"] for t in allowed["tools"]] == ["exec_command"]
    error = refused(responses_to_chat_request, {**base, "tool_choice": {"type": "file_search"}})
    assert error.param == "tool_choice"


def test_parameters_mapping() -> None:
    body = {"model": "m", "input": "hi", "max_output_tokens": 300, "temperature": 0.2,
            "top_p": 0.9, "user": "u1", "safety_identifier": "s1", "metadata": {"k": "v"},
            "text": {"format": {"type": "json_schema", "name": "answer", "schema": SCHEMA,
                                "strict": True}, "verbosity": "low"},
            "truncation": "auto", "store": True, "include": ["message.output_text.logprobs"],
            "service_tier": "auto", "prompt_cache_retention": "24h", "max_tool_calls": 3}
    chat = chat_ok(body)
    assert chat["max_completion_tokens"] == 300 and "max_tokens" not in chat
    assert chat["temperature"] == 0.2 and chat["top_p"] == 0.9
    assert chat["user"] == "u1" and chat["safety_identifier"] == "s1"
    assert chat["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "answer", "schema": SCHEMA, "strict": True}}
    assert chat["verbosity"] == "low"
    assert "metadata" not in chat and "store" not in chat and "stream" not in chat
    assert chat_ok({"model": "m", "input": "hi", "text": {"format": {"type": "json_object"}}})[
        "response_format"] == {"type": "json_object"}
    assert "response_format" not in chat_ok({"model": "m", "input": "hi",
                                             "text": {"format": {"type": "text"}}})


def test_edge_responses_request_with_stream_options() -> None:
    """EDGE: stream_options (Responses' include_obfuscation) is dropped; Chat gets include_usage."""
    chat = chat_ok({"model": "m", "input": "hi", "stream": True,
                    "stream_options": {"include_obfuscation": False}})
    assert chat["stream_options"] == {"include_usage": True}
    assert "stream_options" not in chat_ok({"model": "m", "input": "hi",
                                            "stream_options": {"include_obfuscation": True}})


@pytest.mark.parametrize(("field", "value"), [
    ("max_output_tokens", 0), ("max_output_tokens", "100"), ("tools", [{"type": "function"}]),
    ("previous_response_id", "resp_123"), ("conversation", "conv_1"), ("background", True),
    ("prompt", {"id": "pmpt_1"}), ("top_logprobs", 3)])
def test_stateful_or_unavailable_fields_are_refused(field: str, value: Any) -> None:
    error = refused(responses_to_chat_request, {"model": "m", "input": "hi", field: value})
    assert error.param == (field if field != "tools" else "tools[0].name")
    if field == "previous_response_id":
        assert "not hold" in error.message


def test_edge_unknown_future_item_type_is_refused_naming_it() -> None:
    """EDGE: unknown future item types -> 400 naming the type, param input[i].type."""
    body = tool_loop({"type": "hologram_call", "id": "h1"})
    error = refused(responses_to_chat_request, body)
    assert error.param == "input[4].type" and "hologram_call" in error.message
    assert error.openai_body()["error"]["param"] == "input[4].type"


@pytest.mark.parametrize(("item", "param"), [
    ({"type": "computer_call", "call_id": "c"}, "input[0].type"),
    ({"type": "item_reference", "id": "msg_1"}, "input[0].type"),
    ({"role": "user", "content": [{"type": "input_video", "url": "x"}]}, "input[0].content[0].type"),
    ({"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]},
     "input[0].content[0].type"),
    ({"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]},
     "input[0].content[0].file_id"),
    ({"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]},
     "input[0].content[0]"),
    ({"role": "tool", "content": "x"}, "input[0].role"),
    ({"role": "developer", "content": [{"type": "input_image", "image_url": "https://x.test/a.png"}]},
     "input[0].content[0].type"),
    ({"type": "function_call", "name": "f", "arguments": "{}"}, "input[0].call_id"),
])
def test_untranslatable_input_is_refused_with_its_param(item: dict[str, Any], param: str) -> None:
    error = refused(responses_to_chat_request, {"model": "m", "input": [item]})
    assert error.param == param


def test_edge_image_input_is_carried() -> None:
    """EDGE: an image input becomes an image_url part (a text-only model is the route's concern)."""
    body = {"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": "https://x.test/cat.png", "detail": "low"},
        {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}]}]}
    chat = chat_ok(body)
    assert chat["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://x.test/cat.png", "detail": "low"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=",
                                  "filename": "a.pdf"}}]


def test_assistant_refusal_in_history() -> None:
    chat = chat_ok({"model": "m", "input": [
        {"role": "user", "content": "bad"},
        {"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
        {"role": "user", "content": "ok"}]})
    assert chat["messages"][1] == {"role": "assistant", "content": None, "refusal": "No."}


def minted_reasoning(text: str = "Let me list.", signature: str = SIGNATURE) -> dict[str, Any]:
    return {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": text}],
            "encrypted_content": "ekai.anthropic." + signature}


def test_reasoning_minted_from_claude_becomes_thinking_blocks() -> None:
    body = tool_loop(minted_reasoning(), call("call_A"), output("call_A"))
    chat = responses_to_chat_request(body, model="claude-sonnet-4-6")
    assistant = chat["messages"][-2]
    assert assistant["thinking_blocks"] == [
        {"type": "thinking", "thinking": "Let me list.", "signature": SIGNATURE}]
    # composed to Claude with thinking on: the signed block leads the tool-use turn, and the
    # request passes the strict Anthropic validator (a tool loop needs it)
    anthropic = openai_to_anthropic_request(chat, model="claude-sonnet-4-6")
    assert anthropic.get("thinking") is not None
    turn = next(m for m in anthropic["messages"] if m["role"] == "assistant")
    assert turn["content"][0] == {"type": "thinking", "thinking": "Let me list.",
                                  "signature": SIGNATURE}
    assert validate_anthropic_request(anthropic) == []
    # for a Chat upstream that refuses unknown message fields
    plain = chat_ok(body, thinking_blocks=False)
    assert "thinking_blocks" not in plain["messages"][-2]


def test_redacted_thinking_round_trips_and_foreign_reasoning_is_dropped() -> None:
    redacted = {"type": "reasoning", "id": "rs_2", "summary": [],
                "encrypted_content": "ekai.anthropic-redacted.REDACTEDDATA"}
    foreign = {"type": "reasoning", "id": "rs_3", "summary": [{"type": "summary_text", "text": "x"}],
               "encrypted_content": "gAAAAABopenai-opaque"}
    plain = {"type": "reasoning", "id": "rs_4", "summary": [{"type": "summary_text", "text": "y"}]}
    body = tool_loop(foreign, plain, redacted, call("call_A"), output("call_A"))
    chat = responses_to_chat_request(body, model="m")
    assert chat["messages"][-2]["thinking_blocks"] == [
        {"type": "redacted_thinking", "data": "REDACTEDDATA"}]
    only_foreign = tool_loop(foreign, {"role": "user", "content": "next"})
    chat = chat_ok(only_foreign)
    assert [m["role"] for m in chat["messages"]][-2:] == ["user", "user"]  # nothing invented


def test_codex_tool_loop_composes_to_a_valid_claude_request() -> None:
    body = tool_loop(
        {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "Listing.", "annotations": []}]},
        call("call_A", arguments=""), output("call_A"),
        {"type": "custom_tool_call", "call_id": "call_P", "name": "apply_patch", "input": "*** Begin"},
        {"type": "custom_tool_call_output", "call_id": "call_P", "output": "ok"},
        call("call_N", name="search", namespace="mcp__docs__", arguments='{"q":"x"}'),
        output("call_N", "found"))
    anthropic = openai_to_anthropic_request(responses_to_chat_request(body, model="claude-sonnet-4-6"),
                                            model="claude-sonnet-4-6")
    assert validate_anthropic_request(anthropic) == []
    assert [t["name"] for t in anthropic["tools"]] == ["exec_command", "apply_patch",
                                                       "mcp__docs__search"]


# === Direction A: chat.completion -> Responses response =======================================


def chat_completion(content: str | None = None, *, tool_calls: list[dict[str, Any]] | None = None,
                    finish: str = "stop", usage: dict[str, Any] | None = None,
                    **message: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None, **message}
    if tool_calls:
        msg["tool_calls"] = tool_calls
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1760000000,
            "model": "gpt-4o", "choices": [{"index": 0, "message": msg, "finish_reason": finish,
                                            "logprobs": None}],
            "usage": usage or {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                               "prompt_tokens_details": {"cached_tokens": 60},
                               "completion_tokens_details": {"reasoning_tokens": 8}}}


def sdk_response(data: dict[str, Any], request: dict[str, Any] | None = None) -> Response:
    body = chat_to_responses_response(data, model="claude-sonnet-4-6",
                                      request=request or codex_request(stream=False))
    strict = Response.model_validate(body)  # strict pydantic validation of every field
    parsed = responses_parse(body)  # and what a client of the gateway gets
    assert parsed.id == strict.id
    return parsed


def test_text_reply_and_usage() -> None:
    resp = sdk_response(chat_completion("Two files."))
    assert resp.object == "response" and resp.id.startswith("resp_")
    assert resp.status == "completed" and resp.output_text == "Two files."
    message = resp.output[0]
    assert message.type == "message" and message.content[0].type == "output_text"
    assert message.content[0].annotations == []
    assert resp.usage is not None
    assert (resp.usage.input_tokens, resp.usage.input_tokens_details.cached_tokens) == (100, 60)
    assert (resp.usage.output_tokens, resp.usage.output_tokens_details.reasoning_tokens) == (20, 8)
    assert resp.usage.total_tokens == 120
    # the request's settings are echoed
    assert resp.parallel_tool_calls is False and resp.tool_choice == "auto"
    assert [t.type for t in resp.tools] == ["function", "custom", "namespace", "web_search"]
    assert resp.reasoning is not None and resp.reasoning.effort == "medium"
    assert resp.model == "claude-sonnet-4-6"


def test_tool_calls_become_function_custom_and_namespaced_items() -> None:
    calls = [
        {"id": "toolu_1", "type": "function",
         "function": {"name": "exec_command", "arguments": '{"cmd":"ls"}'}},
        {"id": "toolu_2", "type": "function",
         "function": {"name": "apply_patch", "arguments": json.dumps({"input": "*** Begin Patch"})}},
        {"id": "toolu_3", "type": "function", "function": {"name": "mcp__docs__search",
                                                           "arguments": ""}},
    ]
    resp = sdk_response(chat_completion("On it.", tool_calls=calls, finish="tool_calls"))
    message, fn, custom, namespaced = resp.output
    assert message.type == "message"
    assert fn.type == "function_call" and (fn.call_id, fn.name, fn.arguments) == (
        "toolu_1", "exec_command", '{"cmd":"ls"}')
    assert custom.type == "custom_tool_call" and (custom.name, custom.input) == (
        "apply_patch", "*** Begin Patch")
    assert namespaced.type == "function_call"
    assert (namespaced.name, namespaced.namespace, namespaced.arguments) == ("search", "mcp__docs__", "{}")
    assert resp.status == "completed"


def test_claude_thinking_is_minted_and_round_trips_to_claude() -> None:
    claude = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6",
              "content": [{"type": "thinking", "thinking": "I should list.", "signature": SIGNATURE},
                          {"type": "redacted_thinking", "data": "RDATA"},
                          {"type": "tool_use", "id": "toolu_9", "name": "exec_command",
                           "input": {"cmd": "ls"}}],
              "stop_reason": "tool_use", "stop_sequence": None,
              "usage": {"input_tokens": 10, "output_tokens": 30, "cache_read_input_tokens": 90}}
    chat = anthropic_to_openai_response(claude, model="claude-sonnet-4-6")
    resp = sdk_response(chat)
    thinking, redacted, fn = resp.output
    assert thinking.type == "reasoning" and thinking.summary[0].text == "I should list."
    assert thinking.encrypted_content == "ekai.anthropic." + SIGNATURE
    assert redacted.type == "reasoning" and redacted.encrypted_content == "ekai.anthropic-redacted.RDATA"
    assert fn.type == "function_call" and fn.call_id == "toolu_9"
    assert resp.usage is not None and resp.usage.input_tokens == 100  # cached included
    assert resp.usage.input_tokens_details.cached_tokens == 90
    # Codex sends the items back with the tool result: Claude gets its signed blocks again
    items = [i.model_dump(exclude_none=True) for i in resp.output]
    nxt = tool_loop(*items, output("toolu_9"))
    anthropic = openai_to_anthropic_request(responses_to_chat_request(nxt, model="claude-sonnet-4-6"),
                                            model="claude-sonnet-4-6")
    turn = next(m for m in anthropic["messages"] if m["role"] == "assistant")
    assert turn["content"][:2] == [
        {"type": "thinking", "thinking": "I should list.", "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": "RDATA"}]
    assert validate_anthropic_request(anthropic) == []


def test_edge_reasoning_only_output() -> None:
    """EDGE: reasoning-only output: one reasoning item, no message, output_text empty."""
    resp = sdk_response(chat_completion(None, reasoning_content="Thinking about it."))
    assert len(resp.output) == 1 and resp.output[0].type == "reasoning"
    assert resp.output[0].summary[0].text == "Thinking about it."
    assert resp.output[0].encrypted_content is None
    assert resp.output_text == ""


def test_edge_refusal() -> None:
    """EDGE: refusal -> a refusal content part."""
    resp = sdk_response(chat_completion(None, refusal="I can't help with that."))
    part = resp.output[0].content[0]
    assert part.type == "refusal" and part.refusal == "I can't help with that."


def test_length_and_content_filter_are_incomplete() -> None:
    resp = sdk_response(chat_completion("Partial", finish="length"))
    assert resp.status == "incomplete" and resp.incomplete_details is not None
    assert resp.incomplete_details.reason == "max_output_tokens"
    assert resp.output[0].status == "incomplete"
    resp = sdk_response(chat_completion("x", finish="content_filter"))
    assert resp.incomplete_details is not None and resp.incomplete_details.reason == "content_filter"


def test_edge_max_output_tokens_hit_mid_tool_call_reply() -> None:
    """EDGE: max_output_tokens hit mid-tool-call: incomplete, the cut call marked incomplete."""
    calls = [{"id": "c1", "type": "function", "function": {"name": "exec_command",
                                                           "arguments": '{"cmd": "l'}}]
    resp = sdk_response(chat_completion(None, tool_calls=calls, finish="length"))
    assert resp.status == "incomplete" and resp.output[0].status == "incomplete"


@pytest.mark.parametrize("data", [
    {"error": {"message": "Provider down", "code": 503}},
    {**chat_completion("x"), "choices": [{"index": 0, "message": {"role": "assistant", "content": ""},
                                          "finish_reason": "error"}]},
    {"id": "x", "choices": []},
])
def test_error_in_disguise_raises_upstream_error(data: dict[str, Any]) -> None:
    with pytest.raises(UpstreamError):
        chat_to_responses_response(data, model="m", request={"model": "m", "input": "hi"})


def test_minimal_request_echo_defaults_validate() -> None:
    body = chat_to_responses_response(chat_completion("hi"), model="m", request={"model": "m",
                                                                                  "input": "hi"})
    resp = Response.model_validate(body)
    assert resp.tools == [] and resp.tool_choice == "auto" and resp.parallel_tool_calls is True
    assert resp.text is not None and resp.text.format is not None and resp.text.format.type == "text"


# === Direction A: Chat chunks -> Responses events =============================================

USAGE = {"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62,
         "prompt_tokens_details": {"cached_tokens": 30},
         "completion_tokens_details": {"reasoning_tokens": 4}}


def c2r(chunks: list[dict[str, Any]], request: dict[str, Any] | None = None) -> list[bytes]:
    stream = ChatToResponsesStream("claude-sonnet-4-6", request or codex_request())
    frames: list[bytes] = []
    for chunk in chunks:
        frames += stream.feed(chunk)
    frames += stream.finish()
    assert stream.finish() == [] and stream.error("late", "api_error") == []
    return frames


def events_of(frames: list[bytes]) -> list[dict[str, Any]]:
    """The payloads, checked: event name == type, sequence_number 0, 1, 2..."""
    pairs = sse_payloads(frames)
    for n, (event, data) in enumerate(pairs):
        assert isinstance(data, dict) and data["type"] == event, (event, data)
        assert data["sequence_number"] == n
        STREAM_EVENT.validate_python(data)  # strict: every required field, every literal
    return [data for _, data in pairs]


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1760000000,
            "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_stream_text_parsed_by_the_sdk() -> None:
    frames = c2r(openai_chunks(text="Two files: a.txt and b.txt.", usage=USAGE, size=4))
    types = [e["type"] for e in events_of(frames)]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed" and types.count("response.output_text.delta") == 7
    final = responses_stream_final(frames)
    assert final.output_text == "Two files: a.txt and b.txt." and final.status == "completed"
    assert final.usage is not None and final.usage.input_tokens == 50
    assert final.usage.input_tokens_details.cached_tokens == 30
    assert final.usage.output_tokens_details.reasoning_tokens == 4
    deltas = [e for e in responses_stream_helper_events(frames) if e.type == "response.output_text.delta"]
    assert deltas[-1].snapshot == "Two files: a.txt and b.txt."
    assert all(d.logprobs == [] for d in deltas)


def test_stream_reasoning_then_text() -> None:
    frames = c2r(openai_chunks(reasoning="I will count.", text="Two.", usage=USAGE))
    final = responses_stream_final(frames)
    reasoning, message = final.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "I will count."
    assert reasoning.encrypted_content is None
    assert message.type == "message" and final.output_text == "Two."
    types = [e["type"] for e in events_of(frames)]
    assert "response.reasoning_summary_text.delta" in types
    assert types.index("response.reasoning_summary_part.done") < types.index("response.content_part.added")


def test_edge_stream_reasoning_only_output() -> None:
    """EDGE: reasoning-only output, streamed."""
    final = responses_stream_final(c2r(openai_chunks(reasoning="Hmm, nothing to say.", usage=USAGE)))
    assert [i.type for i in final.output] == ["reasoning"] and final.output_text == ""


def claude_through_chat(blocks: list[dict[str, Any]], stop: str = "end_turn") -> list[dict[str, Any]]:
    """Claude's stream as the Messages->Chat leg hands it on (parsed Chat chunks)."""
    stream = AnthropicToOpenAIStream(model="claude-sonnet-4-6", include_usage=True)
    frames: list[bytes] = []
    for event, data in anthropic_events(blocks, stop_reason=stop,
                                        usage={"input_tokens": 7, "output_tokens": 40}):
        frames += stream.feed(event, data)
    frames += stream.finish()
    return [data for _, data in sse_payloads(frames) if data != "[DONE]"]


def test_stream_claude_thinking_text_and_tool_use_composed() -> None:
    blocks = [{"type": "thinking", "thinking": "List the directory first.", "signature": SIGNATURE},
              {"type": "text", "text": "Let me look."},
              {"type": "tool_use", "id": "toolu_7", "name": "exec_command", "input": {"cmd": "ls"}},
              {"type": "tool_use", "id": "toolu_8", "name": "apply_patch",
               "input": {"input": "*** Begin Patch\n*** End Patch"}}]
    frames = c2r(claude_through_chat(blocks, stop="tool_use"))
    events_of(frames)
    final = responses_stream_final(frames)
    reasoning, message, fn, custom = final.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "List the directory first."
    assert reasoning.encrypted_content == "ekai.anthropic." + SIGNATURE
    assert message.type == "message" and final.output_text == "Let me look."
    assert fn.type == "function_call" and (fn.call_id, json.loads(fn.arguments)) == (
        "toolu_7", {"cmd": "ls"})
    assert custom.type == "custom_tool_call" and custom.input == "*** Begin Patch\n*** End Patch"
    assert final.usage is not None and final.usage.input_tokens == 7


def test_edge_parallel_tool_calls_streamed_interleaved() -> None:
    """EDGE: parallel tool calls whose fragments alternate: two separate, complete items."""
    calls = [{"id": "call_A", "name": "exec_command", "arguments": '{"cmd": "ls -la /tmp"}'},
             {"id": "call_B", "name": "exec_command", "arguments": '{"cmd": "cat README.md"}'}]
    frames = c2r(openai_chunks(calls=calls, finish="tool_calls", usage=USAGE, size=3,
                               interleave=True))
    indices = [e["output_index"] for e in events_of(frames)
               if e["type"] == "response.function_call_arguments.delta"]
    assert indices[:4] == [0, 1, 0, 1]  # really interleaved
    final = responses_stream_final(frames)
    got = [(i.call_id, json.loads(i.arguments)) for i in final.output if i.type == "function_call"]
    assert got == [("call_A", {"cmd": "ls -la /tmp"}), ("call_B", {"cmd": "cat README.md"})]
    done = [e for e in responses_stream_helper_events(frames)
            if e.type == "response.function_call_arguments.done"]
    assert [e.arguments for e in done] == [c["arguments"] for c in calls]


def test_edge_stream_tool_call_with_empty_arguments() -> None:
    """EDGE: a streamed tool call with empty arguments ends with ``{}``."""
    frames = c2r(openai_chunks(calls=[{"id": "call_E", "name": "exec_command", "arguments": ""}],
                               finish="tool_calls", usage=USAGE))
    final = responses_stream_final(frames)
    assert final.output[0].type == "function_call" and final.output[0].arguments == "{}"


def test_edge_max_output_tokens_hit_mid_tool_call_stream() -> None:
    """EDGE: max_output_tokens hit mid-tool-call: response.incomplete, the call incomplete."""
    frames = c2r(openai_chunks(text="Running:", calls=[
        {"id": "call_L", "name": "exec_command", "arguments": '{"cmd": "find / -na'}],
        finish="length", usage=USAGE))
    events = responses_stream_events(frames)
    types = [e.type for e in events]
    assert types[-1] == "response.incomplete" and "response.completed" not in types
    last = events[-1].response
    assert last.status == "incomplete" and last.incomplete_details.reason == "max_output_tokens"
    assert last.output[0].status == "completed" and last.output[1].status == "incomplete"
    assert last.usage.output_tokens == 12


def test_edge_stream_refusal() -> None:
    """EDGE: refusal, streamed as a refusal part."""
    chunks = [chunk({"role": "assistant", "content": ""}), chunk({"refusal": "I can't "}),
              chunk({"refusal": "do that."}), chunk({}, "stop")]
    frames = c2r(chunks)
    types = [e["type"] for e in events_of(frames)]
    assert "response.refusal.delta" in types and "response.refusal.done" in types
    final = responses_stream_final(frames)
    assert final.output[0].content[0].type == "refusal"
    assert final.output[0].content[0].refusal == "I can't do that."


def test_stream_namespaced_tool_call() -> None:
    frames = c2r(openai_chunks(calls=[{"id": "c1", "name": "mcp__docs__search",
                                       "arguments": '{"q": "x"}'}], finish="tool_calls"))
    item = responses_stream_final(frames).output[0]
    assert (item.type, item.name, item.namespace) == ("function_call", "search", "mcp__docs__")


@pytest.mark.parametrize(("tail", "message"), [
    ([{"error": {"message": "Provider disconnected", "type": "server_error"}}], "Provider disconnected"),
    ([chunk({}, "error")], "error"),
    ([], "ended before"),
])
def test_stream_errors_end_with_response_failed(tail: list[dict[str, Any]], message: str) -> None:
    chunks = openai_chunks(text="Half an answ", finish=None) + tail
    frames = c2r(chunks)
    events = responses_stream_events(frames)
    types = [e.type for e in events]
    assert types[-1] == "response.failed" and "response.completed" not in types
    failed = events[-1].response
    assert failed.status == "failed" and message in failed.error.message
    assert failed.error.code == "server_error"
    events_of(frames)


def test_stream_error_method_and_rate_limits() -> None:
    stream = ChatToResponsesStream("m", {"model": "m", "input": "hi"})
    frames = stream.feed(chunk({"content": "x"})) + stream.error("Slow down", "rate_limit_error")
    assert stream.feed(chunk({}, "stop")) == [] and stream.finish() == []
    last = events_of(frames)[-1]
    assert last["type"] == "response.failed"
    assert last["response"]["error"]["code"] == "rate_limit_exceeded"
    Response.model_validate(last["response"])


# === Direction B: Chat request -> Responses request ===========================================


def responses_ok(body: dict[str, Any], model: str = "gpt-5.1-codex") -> dict[str, Any]:
    out = chat_to_responses_request(body, model=model)
    assert validate_responses_request(out) == []
    return out


def chat_tool_loop() -> dict[str, Any]:
    return {
        "model": "gpt-5.1-codex",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": [
                {"type": "text", "text": "Weather and a picture?"},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "high"}}]},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}},
                {"id": "call_2", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "2C"}]},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                                    "parameters": SCHEMA}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": True, "max_tokens": 500, "reasoning_effort": "high",
        "stream": True, "stream_options": {"include_usage": True}, "temperature": 1,
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": SCHEMA}},
        "verbosity": "low", "user": "u1", "metadata": {"k": "v"}, "seed": 3,
    }


def test_chat_tool_loop_becomes_a_valid_responses_request() -> None:
    out = responses_ok(chat_tool_loop())
    assert out["instructions"] == "Be terse."
    assert [i["type"] for i in out["input"]] == [
        "message", "message", "function_call", "function_call", "function_call_output",
        "function_call_output", "message"]
    assert out["input"][0]["content"][1] == {"type": "input_image", "image_url": "https://x.test/a.png",
                                             "detail": "high"}
    assert out["input"][2]["arguments"] == "{}"  # EDGE: empty arguments
    assert out["input"][5]["output"] == "2C"
    assert out["tools"] == [{"type": "function", "name": "get_weather", "description": "Weather",
                             "parameters": SCHEMA, "strict": False}]
    assert out["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert out["max_output_tokens"] == 500 and out["reasoning"] == {"effort": "high"}
    assert out["text"] == {"format": {"type": "json_schema", "name": "w", "schema": SCHEMA},
                           "verbosity": "low"}
    assert out["store"] is False and out["include"] == ["reasoning.encrypted_content"]
    assert out["stream"] is True and "stream_options" not in out and "seed" not in out


def test_edge_b_instructions_only_for_a_single_leading_system_message() -> None:
    """EDGE (B): multiple system blocks stay input messages with their roles, in place."""
    body = {"model": "m", "messages": [
        {"role": "system", "content": "A"}, {"role": "developer", "content": "B"},
        {"role": "user", "content": "hi"}, {"role": "system", "content": "C"}]}
    out = responses_ok(body, model="gpt-4.1")
    assert "instructions" not in out
    assert [(i["role"], i["content"]) for i in out["input"]] == [
        ("system", "A"), ("developer", "B"), ("user", "hi"), ("system", "C")]
    assert "include" not in out  # not a reasoning model, no effort asked


def test_b_small_max_tokens_is_raised_to_the_responses_minimum() -> None:
    out = responses_ok({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                        "max_completion_tokens": 1})
    assert out["max_output_tokens"] == 16


@pytest.mark.parametrize(("extra", "param"), [
    ({"n": 2}, "n"), ({"logprobs": True}, "logprobs"), ({"modalities": ["text", "audio"]}, "modalities"),
    ({"stop": ["END"]}, "stop"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
     "messages[0].content[0].type"),
    ({"messages": []}, "messages"),
])
def test_b_refused_parameters(extra: dict[str, Any], param: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}
    assert refused(chat_to_responses_request, body).param == param


def test_b_reasoning_sent_back_openai_minted_kept_claude_dropped() -> None:
    body = {"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "ok", "thinking_blocks": [
            {"type": "thinking", "thinking": "t", "signature": "ekai.openai.rs_9.gAAAopaque"},
            {"type": "thinking", "thinking": "c", "signature": SIGNATURE}]},
        {"role": "user", "content": "more"}]}
    out = responses_ok(body)
    assert out["input"][1] == {"id": "rs_9", "type": "reasoning",
                               "summary": [{"type": "summary_text", "text": "t"}],
                               "encrypted_content": "gAAAopaque"}
    assert [i.get("type") for i in out["input"]] == ["message", "reasoning", "message", "message"]


def test_b_claude_code_request_composes_to_a_valid_responses_request() -> None:
    claude_code = {
        "model": "gpt-5.1-codex", "max_tokens": 32000, "stream": True,
        "system": [{"type": "text", "text": "You are Claude Code."},
                   {"type": "text", "text": "Env.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"},
                                         {"type": "text", "text": "List files"}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "t", "signature": SIGNATURE},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                          "content": "a.txt", "is_error": False}]}],
        "tools": [{"name": "Bash", "description": "Run", "input_schema": SCHEMA}],
        "thinking": {"type": "adaptive"}, "metadata": {"user_id": "{\"session\":\"s\"}"},
    }
    chat, _ = anthropic_to_openai_request(claude_code, model="gpt-5.1-codex", provider="openai")
    out = responses_ok(chat)
    assert out["max_output_tokens"] == 32000
    assert [i["type"] for i in out["input"]][-2:] == ["function_call", "function_call_output"]


# === Direction B: Responses response -> chat.completion =======================================


def responses_reply(*output: dict[str, Any], status: str = "completed",
                    reason: str | None = None) -> dict[str, Any]:
    body = chat_to_responses_response(chat_completion("x"), model="gpt-5.1-codex",
                                      request={"model": "gpt-5.1-codex", "input": "hi"})
    body.update(output=list(output), status=status,
                incomplete_details={"reason": reason} if reason else None,
                usage={"input_tokens": 80, "input_tokens_details": {"cached_tokens": 64,
                                                                "cache_write_tokens": 0},
                       "output_tokens": 30, "output_tokens_details": {"reasoning_tokens": 20},
                       "total_tokens": 110})
    Response.model_validate(body)  # what we feed is a real Responses body
    return body


REASONING_ITEM = {"id": "rs_1", "type": "reasoning", "encrypted_content": "gAAAAopaque",
                  "summary": [{"type": "summary_text", "text": "**Plan** check weather"}]}
TEXT_ITEM = {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "It is 18C.", "annotations": []}]}
CALL_ITEM = {"id": "fc_1", "type": "function_call", "call_id": "call_9", "name": "get_weather",
             "arguments": '{"city":"Oslo"}', "status": "completed"}


def test_b_reply_text_reasoning_and_usage_parsed_by_the_sdk() -> None:
    chat = responses_to_chat_response(responses_reply(REASONING_ITEM, TEXT_ITEM), model="gpt-5.1-codex")
    ChatCompletion.model_validate(chat)  # strict
    parsed = openai_parse_completion(chat)
    message = parsed.choices[0].message
    assert message.content == "It is 18C." and parsed.choices[0].finish_reason == "stop"
    extra = message.model_extra or {}
    assert extra["reasoning_content"] == "**Plan** check weather"
    assert extra["thinking_blocks"][0]["signature"] == "ekai.openai.rs_1.gAAAAopaque"
    assert parsed.usage is not None
    assert (parsed.usage.prompt_tokens, parsed.usage.completion_tokens) == (80, 30)
    assert parsed.usage.prompt_tokens_details is not None
    assert parsed.usage.prompt_tokens_details.cached_tokens == 64
    assert parsed.usage.completion_tokens_details is not None
    assert parsed.usage.completion_tokens_details.reasoning_tokens == 20
    # sent back by the Chat client, the reasoning item is restored for the next turn
    nxt = {"model": "m", "messages": [{"role": "user", "content": "hi"}, chat["choices"][0]["message"],
                                      {"role": "user", "content": "and tomorrow?"}]}
    restored = responses_ok(nxt)["input"][1]
    assert restored["id"] == "rs_1" and restored["encrypted_content"] == "gAAAAopaque"


def test_b_reply_tool_calls_and_finish_reasons() -> None:
    chat = responses_to_chat_response(responses_reply(CALL_ITEM), model="m")
    parsed = openai_parse_completion(chat)
    assert parsed.choices[0].finish_reason == "tool_calls" and parsed.choices[0].message.content is None
    tool_call = parsed.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert tool_call.id == "call_9" and tool_call.function.arguments == '{"city":"Oslo"}'  # type: ignore[union-attr]
    cut = responses_to_chat_response(responses_reply(TEXT_ITEM, status="incomplete",
                                                     reason="max_output_tokens"), model="m")
    assert cut["choices"][0]["finish_reason"] == "length"
    filtered = responses_to_chat_response(responses_reply(TEXT_ITEM, status="incomplete",
                                                          reason="content_filter"), model="m")
    assert filtered["choices"][0]["finish_reason"] == "content_filter"
    refusal = {**TEXT_ITEM, "content": [{"type": "refusal", "refusal": "No."}]}
    message = responses_to_chat_response(responses_reply(refusal), model="m")["choices"][0]["message"]
    assert message["refusal"] == "No." and message["content"] is None


def test_b_reply_composes_to_anthropic() -> None:
    chat = responses_to_chat_response(responses_reply(REASONING_ITEM, TEXT_ITEM, CALL_ITEM), model="m")
    message = anthropic_parse_message(openai_to_anthropic_response(chat, model="m", provider="openai"))
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    assert message.stop_reason == "tool_use" and message.usage.cache_read_input_tokens == 64


@pytest.mark.parametrize("body", [
    {"id": "resp_1", "object": "response", "status": "failed",
     "error": {"code": "server_error", "message": "The model crashed"}},
    {"error": {"message": "Rate limited", "type": "rate_limit_exceeded", "code": "rate_limit_exceeded"}},
    "not json",
])
def test_b_failed_reply_raises_upstream_error(body: Any) -> None:
    with pytest.raises(UpstreamError):
        responses_to_chat_response(body, model="m")


# === Direction B: Responses events -> Chat chunks =============================================


def r2c(payloads: list[dict[str, Any]], *, include_usage: bool = True,
        named: bool = True) -> list[bytes]:
    stream = ResponsesToChatStream("gpt-5.1-codex", include_usage)
    frames: list[bytes] = []
    for data in payloads:
        frames += stream.feed(data["type"] if named else None, data)
    frames += stream.finish()
    for _, chunk_data in sse_payloads(frames):
        if isinstance(chunk_data, dict) and "error" not in chunk_data:
            ChatCompletionChunk.model_validate(chunk_data)  # strict
    return frames


def round_trip(chunks: list[dict[str, Any]], request: dict[str, Any] | None = None,
               **kwargs: Any) -> list[bytes]:
    """Chat chunks -> Responses events -> Chat chunks (both state machines)."""
    events = [data for _, data in sse_payloads(c2r(chunks, request))]
    return r2c(events, **kwargs)


def test_b_stream_round_trip_text_reasoning_and_interleaved_calls() -> None:
    calls = [{"id": "call_A", "name": "get_weather", "arguments": '{"city": "Oslo"}'},
             {"id": "call_B", "name": "get_weather", "arguments": '{"city": "Paris"}'}]
    original = openai_chunks(reasoning="Two cities.", text="Checking both.", calls=calls,
                             finish="tool_calls", usage=USAGE, interleave=True, size=3)
    frames = round_trip(original, {"model": "m", "input": "hi",
                                   "tools": [{"type": "function", "name": "get_weather"}]})
    got = accumulate_openai_chunks(openai_stream_chunks(frames))
    assert got["text"] == "Checking both." and got["reasoning"] == "Two cities."
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in got["calls"]] == [
        ("call_A", "get_weather", {"city": "Oslo"}), ("call_B", "get_weather", {"city": "Paris"})]
    assert got["finish"] == "tool_calls" and got["roles"] == ["assistant"]
    assert got["usage"].prompt_tokens == 50 and got["usage"].completion_tokens == 12
    final = openai_stream_final(frames)
    assert final.choices[0].message.content == "Checking both."


def responses_events(*items_events: list[dict[str, Any]], status: str = "completed",
                     reason: str | None = None) -> list[dict[str, Any]]:
    """A hand-written OpenAI Responses stream (as api.openai.com sends it, minus some fields)."""
    base = responses_reply(status="in_progress")
    events: list[dict[str, Any]] = [{"type": "response.created", "response": base},
                                    {"type": "response.in_progress", "response": base}]
    for group in items_events:
        events += group
    end = responses_reply(REASONING_ITEM, TEXT_ITEM, status=status, reason=reason)
    end["id"] = base["id"]
    events.append({"type": "response.completed" if status == "completed" else "response.incomplete",
                   "response": end})
    return [{**e, "sequence_number": n} for n, e in enumerate(events)]


REASONING_EVENTS = [
    {"type": "response.output_item.added", "output_index": 0,
     "item": {"id": "rs_1", "type": "reasoning", "summary": []}},
    {"type": "response.reasoning_summary_part.added", "item_id": "rs_1", "output_index": 0,
     "summary_index": 0, "part": {"type": "summary_text", "text": ""}},
    {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "output_index": 0,
     "summary_index": 0, "delta": "Plan A."},
    {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "output_index": 0,
     "summary_index": 1, "delta": "Plan B."},
    {"type": "response.output_item.done", "output_index": 0, "item": REASONING_ITEM},
]
TEXT_EVENTS = [
    {"type": "response.output_item.added", "output_index": 1,
     "item": {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress",
              "content": []}},
    {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1, "content_index": 0,
     "delta": "It is ", "logprobs": []},
    {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1, "content_index": 0,
     "delta": "18C.", "logprobs": []},
    {"type": "response.output_text.done", "item_id": "msg_1", "output_index": 1, "content_index": 0,
     "text": "It is 18C.", "logprobs": []},
]
CALL_EVENTS = [  # arguments only in .done (some servers)
    {"type": "response.output_item.added", "output_index": 2,
     "item": {**CALL_ITEM, "arguments": "", "status": "in_progress"}},
    {"type": "response.function_call_arguments.done", "item_id": "fc_1", "output_index": 2,
     "arguments": '{"city":"Oslo"}'},
    {"type": "response.output_item.done", "output_index": 2, "item": CALL_ITEM},
]


def test_b_stream_openai_events_parsed_by_the_chat_sdk() -> None:
    events = responses_events(REASONING_EVENTS, TEXT_EVENTS, CALL_EVENTS)
    for named in (True, False):
        frames = r2c(events, named=named)
        got = accumulate_openai_chunks(openai_stream_chunks(frames))
        assert got["text"] == "It is 18C." and got["reasoning"] == "Plan A.\n\nPlan B."
        assert got["calls"] == [{"id": "call_9", "name": "get_weather", "arguments": '{"city":"Oslo"}'}]
        assert got["finish"] == "tool_calls"
        assert got["usage"].prompt_tokens_details.cached_tokens == 64
        thinking = [d["choices"][0]["delta"]["thinking_blocks"] for _, d in sse_payloads(frames)
                    if d != "[DONE]" and d["choices"] and "thinking_blocks" in d["choices"][0]["delta"]]
        assert thinking == [[{"index": 0, "type": "thinking", "thinking": "**Plan** check weather",
                              "signature": "ekai.openai.rs_1.gAAAAopaque"}]]


def test_b_stream_incomplete_and_no_usage_without_include_usage() -> None:
    frames = r2c(responses_events(TEXT_EVENTS, status="incomplete", reason="max_output_tokens"),
                 include_usage=False)
    payloads = [d for _, d in sse_payloads(frames)]
    assert payloads[-1] == "[DONE]" and payloads[-2]["choices"][0]["finish_reason"] == "length"
    assert all("usage" not in p for p in payloads[:-1])


@pytest.mark.parametrize("tail", [
    [{"type": "response.failed", "response": {"id": "r", "status": "failed",
                                              "error": {"code": "server_error", "message": "Model crashed"}}}],
    [{"type": "error", "code": "server_error", "message": "Model crashed"}],
    [],
])
def test_b_stream_failure_is_an_error_frame_then_done(tail: list[dict[str, Any]]) -> None:
    events = responses_events(TEXT_EVENTS)[:-1] + tail
    payloads = [d for _, d in sse_payloads(r2c(events))]
    assert payloads[-1] == "[DONE]" and "error" in payloads[-2]
    assert all("finish_reason" not in str(p.get("choices")) or p["choices"][0]["finish_reason"] is None
               for p in payloads[:-2] if isinstance(p, dict) and p.get("choices"))
    if tail:
        assert payloads[-2]["error"]["message"] == "Model crashed"


# === A real Codex request =====================================================================


def test_real_codex_0171_request_translates_for_every_upstream() -> None:
    """tests/data/codex_0171_request.json: the third request of a real ``codex exec`` run
    (Codex 0.171, a custom provider, served by these translators; long prompts trimmed): a
    namespace tool, ``web_search``, ``client_metadata``, a Claude-minted reasoning item and two
    tool round trips."""
    path = Path(__file__).parent / "data" / "codex_0171_request.json"
    body = json.loads(path.read_text())
    assert validate_responses_request(body) == []
    plain = chat_ok(body, thinking_blocks=False)
    names = [t["function"]["name"] for t in plain["tools"]]
    assert "exec_command" in names and "multi_agent_v1__close_agent" in names
    assert len(names) == len(set(names)) == sum(
        len(t["tools"]) if t["type"] == "namespace" else t["type"] != "web_search" for t in body["tools"])
    chat = responses_to_chat_request(body, model="claude-sonnet-4-6")
    assert any(m.get("thinking_blocks") for m in chat["messages"])
    anthropic = openai_to_anthropic_request(chat, model="claude-sonnet-4-6")
    assert validate_anthropic_request(anthropic) == []


# === More stream shapes =======================================================================


def test_stream_whole_calls_and_usage_on_the_finish_chunk() -> None:
    """xAI/Gemini style: each call complete in one chunk, usage on the finish chunk."""
    calls = [{"id": "c1", "name": "exec_command", "arguments": '{"cmd":"ls"}'},
             {"id": "c2", "name": "exec_command", "arguments": '{"cmd":"pwd"}'}]
    frames = c2r(openai_chunks(calls=calls, finish="tool_calls", usage=USAGE, whole_calls=True,
                               usage_on_finish=True, trailing_empty=True))
    final = responses_stream_final(frames)
    assert [(i.call_id, i.arguments) for i in final.output] == [
        ("c1", '{"cmd":"ls"}'), ("c2", '{"cmd":"pwd"}')]
    assert final.usage is not None and final.usage.total_tokens == 62


def test_stream_call_whose_name_arrives_after_its_first_fragment() -> None:
    chunks = [chunk({"role": "assistant", "content": ""}),
              chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function",
                                     "function": {"arguments": '{"cmd":'}}]}),
              chunk({"tool_calls": [{"index": 0, "function": {"name": "exec_command",
                                                              "arguments": '"ls"}'}}]}),
              chunk({}, "tool_calls")]
    final = responses_stream_final(c2r(chunks))
    assert (final.output[0].name, final.output[0].arguments) == ("exec_command", '{"cmd":"ls"}')


def test_b_stream_composes_to_an_anthropic_client() -> None:
    """Claude Code on a Responses-only model, streamed: Responses -> Chat -> Messages."""
    events = responses_events(REASONING_EVENTS, TEXT_EVENTS, CALL_EVENTS)
    chunks = [d for _, d in sse_payloads(r2c(events)) if d != "[DONE]"]
    o2a = OpenAIToAnthropicStream(model="gpt-5.1-codex", provider="openai")
    frames: list[bytes] = []
    for c in chunks:
        frames += o2a.feed(c)
    message = anthropic_final_message(frames + o2a.finish())
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[2].input == {"city": "Oslo"}  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use" and message.usage.cache_read_input_tokens == 64


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(min_size=0, max_size=40), reasoning=st.text(max_size=20),
       args=st.lists(st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=8),
                                     max_size=3), max_size=3),
       size=st.integers(min_value=1, max_value=7), interleave=st.booleans(),
       finish=st.sampled_from(["stop", "length"]))
def test_property_chat_responses_chat_round_trip(text: str, reasoning: str, args: list[dict[str, str]],
                                                 size: int, interleave: bool, finish: str) -> None:
    """Whatever a Chat upstream streams survives Chat -> Responses -> Chat, as the SDKs see it."""
    calls = [{"id": f"call_{k}", "name": "exec_command", "arguments": json.dumps(a)}
             for k, a in enumerate(args)]
    if calls and finish == "stop":
        finish = "tool_calls"
    original = openai_chunks(text=text, reasoning=reasoning, calls=calls, finish=finish,
                             usage=USAGE, size=size, interleave=interleave)
    frames = c2r(original)
    events_of(frames)
    responses_stream_events(frames)  # the SDK's typed parse of every event
    got = accumulate_openai_chunks(openai_stream_chunks(r2c([d for _, d in sse_payloads(frames)])))
    assert got["text"] == text and got["reasoning"] == reasoning
    assert [(c["id"], json.loads(c["arguments"])) for c in got["calls"]] == [
        (c["id"], json.loads(c["arguments"])) for c in calls]
    assert got["finish"] == finish and got["usage"].completion_tokens == 12


def test_b_stream_item_with_summary_and_raw_reasoning_is_not_doubled() -> None:
    raw = [{"type": "response.reasoning_text.delta", "item_id": "rs_1", "output_index": 0,
            "content_index": 0, "delta": "raw thoughts"}]
    events = responses_events(REASONING_EVENTS[:3] + raw + REASONING_EVENTS[3:], TEXT_EVENTS)
    got = accumulate_openai_chunks(openai_stream_chunks(r2c(events)))
    assert got["reasoning"] == "Plan A.\n\nPlan B."


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=60), ascii_only=st.booleans(), spaced=st.booleans(),
       cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_property_custom_input_decoder(text: str, ascii_only: bool, spaced: bool, cuts: list[int]) -> None:
    """The live decoder of ``{"input": "..."}`` yields exactly the input, however it is cut."""
    arguments = json.dumps({"input": text}, ensure_ascii=ascii_only,
                           separators=(", ", ": ") if spaced else (",", ":"))
    points = sorted({min(c, len(arguments)) for c in cuts} | {0, len(arguments)})
    decoder = InputDecoder()
    out = "".join(decoder.feed(arguments[a:b]) for a, b in itertools.pairwise(points))
    expected = "".join("\ufffd" if 0xD800 <= ord(c) < 0xE000 else c for c in text)
    assert out == expected and decoder.closed and not decoder.failed


def test_custom_input_decoder_gives_up_on_other_shapes() -> None:
    decoder = InputDecoder()
    assert decoder.feed('{"patch": "x"}') == "" and decoder.failed
    frames = c2r([chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {
        "name": "apply_patch", "arguments": '{"patch": "*** Begin"}'}}]}), chunk({}, "tool_calls")])
    item = responses_stream_final(frames).output[0]
    assert item.type == "custom_tool_call" and item.input == '{"patch": "*** Begin"}'


def test_stream_custom_tool_input_streams_live() -> None:
    patch = '*** Begin Patch\n*** Add File: "q".txt\n+caf\u00e9 \U0001f600\n*** End Patch\n'
    frames = c2r(openai_chunks(calls=[{"id": "c1", "name": "apply_patch",
                                       "arguments": json.dumps({"input": patch})}],
                               finish="tool_calls", size=4))
    events = events_of(frames)
    deltas = [e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta"]
    assert len(deltas) > 10 and "".join(deltas) == patch
    done = next(e for e in events if e["type"] == "response.custom_tool_call_input.done")
    assert done["input"] == patch
    assert responses_stream_final(frames).output[0].input == patch


def test_stream_lone_surrogate_in_custom_input_does_not_crash() -> None:
    frames = c2r([chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {
        "name": "apply_patch", "arguments": '{"input": "a\\ud800b"}'}}]}), chunk({}, "tool_calls")])
    assert responses_stream_final(frames).output[0].input == "a\ufffdb"
    streamed = [e["delta"] for e in events_of(frames) if e["type"] == "response.custom_tool_call_input.delta"]
    assert "".join(streamed) == "a\ufffdb"
    body = chat_to_responses_response(chat_completion(None, tool_calls=[
        {"id": "c1", "type": "function", "function": {"name": "apply_patch",
                                                      "arguments": '{"input": "a\\ud800b"}'}}]),
        model="m", request=codex_request())
    assert body["output"][0]["input"] == "a\ufffdb"
    json.dumps(body).encode()


def test_b_legacy_functions_and_function_call() -> None:
    body = {"model": "m", "functions": [{"name": "f", "parameters": {"type": "object"}}],
            "function_call": {"name": "f"}, "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
                {"role": "function", "name": "f", "content": "42"}]}
    out = responses_ok(body)
    assert out["tools"][0]["name"] == "f" and out["tool_choice"] == {"type": "function", "name": "f"}
    assert out["input"][1]["call_id"] == out["input"][2]["call_id"] == "call_legacy_1"
    orphan = {"model": "m", "messages": [{"role": "function", "name": "f", "content": "42"}]}
    assert refused(chat_to_responses_request, orphan).param == "messages[0].role"


# === Property: any well-formed Codex-like conversation translates validly ======================


@st.composite
def conversations(draw: st.DrawFn) -> dict[str, Any]:
    words = st.text(alphabet="abc xyz.\n", min_size=1, max_size=12).filter(str.strip)
    items: list[dict[str, Any]] = []
    n = 0
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        parts: list[dict[str, Any]] = [{"type": "input_text", "text": draw(words)}]
        role = draw(st.sampled_from(["user", "user", "developer"]))
        if role == "user" and draw(st.booleans()):  # system/developer images: a 400, tested apart
            parts.append({"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="})
        items.append({"type": "message", "role": role, "content": parts})
        if items[-1]["role"] == "developer":
            items.append({"role": "user", "content": draw(words)})
        if draw(st.booleans()):
            items.append(minted_reasoning(draw(words)))
        if draw(st.booleans()):
            items.append({"type": "message", "role": "assistant",
                          "content": [{"type": "output_text", "text": draw(words), "annotations": []}]})
        calls = []
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            n += 1
            kind = draw(st.sampled_from(["function", "custom", "namespaced"]))
            if kind == "custom":
                calls.append({"type": "custom_tool_call", "call_id": f"call_{n}", "name": "apply_patch",
                              "input": draw(words)})
            else:
                calls.append(call(f"call_{n}", **({"name": "search", "namespace": "mcp__docs__"}
                                                  if kind == "namespaced" else {}),
                                  arguments=draw(st.sampled_from(["", "{}", '{"cmd":"ls"}']))))
        items += calls
        outputs = [{"type": "custom_tool_call_output" if c["type"] == "custom_tool_call"
                    else "function_call_output", "call_id": c["call_id"], "output": draw(words)}
                   for c in calls]
        items += list(reversed(outputs)) if draw(st.booleans()) else outputs
        if calls and draw(st.booleans()):
            items.append({"type": "message", "role": "assistant",
                          "content": [{"type": "output_text", "text": draw(words), "annotations": []}]})
    body = codex_request(input=items)
    if draw(st.booleans()):
        body["instructions"] = draw(words)
    body["reasoning"] = {"effort": draw(st.sampled_from(["low", "high"]))} if draw(st.booleans()) else {}
    return body


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=conversations())
def test_property_conversations_translate_validly(body: dict[str, Any]) -> None:
    assert validate_responses_request(body) == []
    chat_ok(body, thinking_blocks=False)
    anthropic = openai_to_anthropic_request(responses_to_chat_request(body, model="claude-sonnet-4-6"),
                                            model="claude-sonnet-4-6")
    assert validate_anthropic_request(anthropic) == []


def test_b_two_message_items_join_like_the_reply() -> None:
    second = [{**e, "output_index": 3, "item_id": "msg_2"} for e in TEXT_EVENTS[1:3]]
    events = responses_events(TEXT_EVENTS, second)
    got = accumulate_openai_chunks(openai_stream_chunks(r2c(events)))
    reply = responses_to_chat_response(responses_reply(TEXT_ITEM, {**TEXT_ITEM, "id": "msg_2"}), model="m")
    assert got["text"] == reply["choices"][0]["message"]["content"] == "It is 18C.\n\nIt is 18C."


@st.composite
def chat_conversations(draw: st.DrawFn) -> dict[str, Any]:
    words = st.text(alphabet="abc xyz.", min_size=1, max_size=10).filter(str.strip)
    messages: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        messages.append({"role": draw(st.sampled_from(["system", "developer"])), "content": draw(words)})
    n = 0
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        content: Any = draw(words)
        if draw(st.booleans()):
            content = [{"type": "text", "text": content},
                       {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]
        messages.append({"role": "user", "content": content})
        ids = []
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            n += 1
            ids.append(f"call_{n}")
        if ids or draw(st.booleans()):
            messages.append({"role": "assistant", "content": draw(st.sampled_from([None, "ok"])) if ids else "ok",
                             **({"tool_calls": [{"id": i, "type": "function", "function": {
                                 "name": "get_weather", "arguments": draw(st.sampled_from(["", "{}"]))}}
                                 for i in ids]} if ids else {})})
            messages += [{"role": "tool", "tool_call_id": i, "content": draw(words)} for i in ids]
        if draw(st.booleans()):
            messages.append({"role": "system", "content": draw(words)})
    body: dict[str, Any] = {"model": "m", "messages": messages,
                            "tools": [{"type": "function", "function": {"name": "get_weather"}}]}
    if draw(st.booleans()):
        body["max_tokens"] = draw(st.integers(min_value=1, max_value=100))
    return body


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=chat_conversations())
def test_property_chat_conversations_translate_validly(body: dict[str, Any]) -> None:
    assert validate_openai_request(body) == []
    out = responses_ok(body)
    leading = list(itertools.takewhile(lambda m: m["role"] in ("system", "developer"), body["messages"]))
    assert ("instructions" in out) == (len(leading) == 1)
