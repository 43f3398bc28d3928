"""Stream translation, checked through the official SDKs' own stream parsers.

Upstream events come from tests/fakes/upstream.py builders; the translated frames are served to
the real ``anthropic`` / ``openai`` clients, and what those clients reconstruct is compared with
the reply the upstream described. Edge cases are numbered as in protocol.md §9.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.translate import AnthropicToOpenAIStream, OpenAIToAnthropicStream, ToolNameMap
from tests.fakes.builders import anthropic_events, anthropic_sse, openai_chunks
from tests.fakes.sdk import (
    accumulate_openai_chunks,
    anthropic_final_message,
    anthropic_raw_events,
    openai_stream_chunks,
    openai_stream_final,
)

# --- helpers ----------------------------------------------------------------------------------


def a2o(events: list[tuple[str | None, dict[str, Any]]], *, include_usage: bool = True,
        model: str = "claude-sonnet-4-5") -> list[bytes]:
    stream = AnthropicToOpenAIStream(model=model, include_usage=include_usage)
    frames: list[bytes] = []
    for event, data in events:
        frames += stream.feed(event, data)
    return frames + stream.finish()


def o2a(chunks: list[dict[str, Any]], *, provider: str = "openai",
        tool_names: ToolNameMap | None = None, estimate: int = 0) -> list[bytes]:
    stream = OpenAIToAnthropicStream(model="gpt-4o", provider=provider, tool_names=tool_names,
                                     input_tokens_estimate=estimate)
    frames: list[bytes] = []
    for chunk in chunks:
        frames += stream.feed(chunk)
    return frames + stream.finish()


def openai_payloads(frames: list[bytes]) -> list[Any]:
    """The JSON payloads of OpenAI frames (comments skipped, [DONE] as the string)."""
    out: list[Any] = []
    for frame in frames:
        assert frame.endswith(b"\n\n")
        if frame.startswith(b":"):
            continue
        assert frame.startswith(b"data: ")
        data = frame[len(b"data: "):].strip()
        assert data, "never send an empty data line to OpenAI clients (§9.31)"
        out.append("[DONE]" if data == b"[DONE]" else json.loads(data))
    return out


def anthropic_frames(frames: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for frame in frames:
        lines = frame.decode().rstrip("\n").split("\n")
        assert lines[0].startswith("event: "), "every Anthropic frame needs an event line (§9.5)"
        assert lines[1].startswith("data: ")
        out.append((lines[0][len("event: "):], json.loads(lines[1][len("data: "):])))
    return out


THINKING = {"type": "thinking", "thinking": "Need both cities...", "signature": "EqQBCgIYAhIM"}
TEXT = {"type": "text", "text": "Checking both cities."}
PARIS = {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}}
ROME = {"type": "tool_use", "id": "toolu_02B", "name": "get_weather",
        "input": {"city": "Rome", "units": {"temp": "C"}}}


def test_upstream_builder_is_what_the_anthropic_sdk_expects() -> None:
    """The fixture builder itself produces a stream the Anthropic SDK accumulates faithfully."""
    events = anthropic_events([THINKING, TEXT, PARIS], stop_reason="tool_use")
    message = anthropic_final_message([anthropic_sse(events)])
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[2].input == {"city": "Paris"}


# --- Anthropic upstream -> OpenAI client (§3.4) -----------------------------------------------


def test_a2o_text_reaches_the_openai_stream_helper() -> None:
    text = "Hello there, this is a reply split across many small deltas."
    frames = a2o(anthropic_events([{"type": "text", "text": text}], size=3))
    completion = openai_stream_final(frames)
    choice = completion.choices[0]
    assert choice.message.content == text
    assert choice.message.role == "assistant"  # §9.1: not "assistantassistant"
    assert choice.finish_reason == "stop"


def test_a2o_thinking_text_and_two_tool_calls() -> None:
    """§9.2, §9.3, §9.4: ids/names once, tool index from 0 after thinking and text blocks."""
    frames = a2o(anthropic_events([THINKING, TEXT, PARIS, ROME], stop_reason="tool_use", size=4))
    completion = openai_stream_final(frames)
    message = completion.choices[0].message
    assert message.content == TEXT["text"]
    assert completion.choices[0].finish_reason == "tool_calls"
    calls = message.tool_calls or []
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("toolu_01A", "get_weather", {"city": "Paris"}),
        ("toolu_02B", "get_weather", {"city": "Rome", "units": {"temp": "C"}})]
    extra = message.model_extra or {}
    assert extra["reasoning_content"] == THINKING["thinking"]
    assert extra["thinking_blocks"] == [{"index": 0, "type": "thinking",
                                         "thinking": THINKING["thinking"],
                                         "signature": THINKING["signature"]}]

    plain = accumulate_openai_chunks(openai_stream_chunks(frames))
    assert plain["roles"] == ["assistant"]  # §9.1: role once, and present
    assert [c["id"] for c in plain["calls"]] == ["toolu_01A", "toolu_02B"]
    assert plain["reasoning"] == THINKING["thinking"]


def test_a2o_tool_indices_in_raw_chunks() -> None:
    frames = a2o(anthropic_events([THINKING, TEXT, PARIS, ROME], stop_reason="tool_use"))
    fragments = [tc for p in openai_payloads(frames) if isinstance(p, dict) and p.get("choices")
                 for tc in p["choices"][0]["delta"].get("tool_calls", [])]
    assert {f["index"] for f in fragments} == {0, 1}  # §9.3: not the block indices 2 and 3
    firsts = [f for f in fragments if "id" in f]
    assert [f["index"] for f in firsts] == [0, 1]
    assert all("name" not in f.get("function", {}) for f in fragments if "id" not in f)  # §9.2


@pytest.mark.parametrize("include_usage", [True, False])
def test_a2o_usage_chunk_only_when_asked(include_usage: bool) -> None:
    """§9.7 and §9.29: the usage chunk and usage:null exist only with include_usage."""
    usage = {"input_tokens": 412, "cache_creation_input_tokens": 100,
             "cache_read_input_tokens": 2048, "output_tokens": 96}
    frames = a2o(anthropic_events([TEXT], usage=usage), include_usage=include_usage)
    payloads = [p for p in openai_payloads(frames) if p != "[DONE]"]
    assert openai_payloads(frames)[-1] == "[DONE]"
    usage_chunks = [p for p in payloads if p["choices"] == []]
    if include_usage:
        assert len(usage_chunks) == 1 and payloads[-1] is usage_chunks[0]
        assert all(p["usage"] is None for p in payloads[:-1])
        parsed = openai_stream_chunks(frames)[-1].usage
        assert parsed is not None
        assert parsed.prompt_tokens == 412 + 100 + 2048
        assert parsed.completion_tokens == 96
        assert parsed.total_tokens == 412 + 100 + 2048 + 96
        assert parsed.prompt_tokens_details.cached_tokens == 2048
        assert parsed.prompt_tokens_details.cache_write_tokens == 100
    else:
        assert usage_chunks == []
        assert all("usage" not in p for p in payloads)
        assert all(chunk.choices for chunk in openai_stream_chunks(frames))


def test_a2o_every_chunk_has_the_chunk_envelope() -> None:
    frames = a2o(anthropic_events([THINKING, TEXT, PARIS], stop_reason="tool_use"))
    payloads = [p for p in openai_payloads(frames) if p != "[DONE]"]
    assert {p["id"] for p in payloads} == {"chatcmpl-msg_01Test"}
    assert {p["object"] for p in payloads} == {"chat.completion.chunk"}
    assert len({p["created"] for p in payloads}) == 1
    assert {p["model"] for p in payloads} == {"claude-sonnet-4-5"}


def test_a2o_ping_becomes_a_comment() -> None:
    frames = a2o(anthropic_events([TEXT], ping=True))
    assert b": ping\n\n" in frames
    assert openai_stream_final(frames).choices[0].message.content == TEXT["text"]


@pytest.mark.parametrize(("stop_reason", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("pause_turn", "stop"),
    ("refusal", "content_filter"), ("something_new", "stop"),
])
def test_a2o_stop_reasons(stop_reason: str, finish: str) -> None:
    """§9.36: every stop reason maps to a finish_reason OpenAI clients know."""
    frames = a2o(anthropic_events([TEXT], stop_reason=stop_reason))
    chunks = openai_stream_chunks(frames)
    assert accumulate_openai_chunks(chunks)["finish"] == finish


def test_a2o_json_tool_emulation_streams_as_content() -> None:
    """§9.35: the forced json_tool_call comes back as content with finish_reason stop."""
    payload = {"name": "Ada", "tags": ["a", "b"], "n": 3}
    block = {"type": "tool_use", "id": "toolu_J", "name": "json_tool_call", "input": payload}
    frames = a2o(anthropic_events([block], stop_reason="tool_use", size=4))
    completion = openai_stream_final(frames)
    assert json.loads(completion.choices[0].message.content) == payload
    assert not completion.choices[0].message.tool_calls
    assert completion.choices[0].finish_reason == "stop"


def test_a2o_server_tools_are_skipped_and_do_not_shift_indices() -> None:
    search = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
              "input": {"query": "weather"}}
    result = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}
    frames = a2o(anthropic_events([search, result, TEXT, PARIS], stop_reason="tool_use"))
    plain = accumulate_openai_chunks(openai_stream_chunks(frames))
    assert [c["id"] for c in plain["calls"]] == ["toolu_01A"]
    assert plain["text"] == TEXT["text"]


def test_a2o_redacted_thinking_is_kept_for_round_trips() -> None:
    redacted = {"type": "redacted_thinking", "data": "EmwKAhgBEgy"}
    frames = a2o(anthropic_events([redacted, TEXT]))
    message = openai_stream_final(frames).choices[0].message
    assert (message.model_extra or {})["thinking_blocks"] == [
        {"index": 0, "type": "redacted_thinking", "data": "EmwKAhgBEgy"}]


def test_a2o_events_without_names_use_the_data_type() -> None:
    events = [(None, data) for _, data in anthropic_events([TEXT])]
    assert openai_stream_final(a2o(events)).choices[0].message.content == TEXT["text"]


def test_a2o_upstream_error_event() -> None:
    events = anthropic_events([TEXT])[:4]
    events.append(("error", {"type": "error",
                             "error": {"type": "overloaded_error", "message": "Overloaded"}}))
    frames = a2o(events)
    payloads = openai_payloads(frames)
    assert payloads[-1] == "[DONE]"
    assert payloads[-2]["error"]["message"] == "Overloaded"
    assert payloads[-2]["error"]["code"] == "overloaded"
    with pytest.raises(openai.APIError, match="Overloaded"):
        openai_stream_final(frames)


def test_a2o_early_end_is_an_error_not_a_stop() -> None:
    """§9.32: an upstream that stops before message_stop must not look like a finished reply."""
    events = [e for e in anthropic_events([TEXT]) if e[0] not in ("message_delta",
                                                                  "message_stop")]
    frames = a2o(events)
    payloads = openai_payloads(frames)
    assert "error" in payloads[-2] and payloads[-1] == "[DONE]"
    assert not any(p != "[DONE]" and p.get("choices") and p["choices"][0]["finish_reason"]
                   for p in payloads)
    with pytest.raises(openai.APIError):
        openai_stream_final(frames)


def test_a2o_nothing_after_done() -> None:
    stream = AnthropicToOpenAIStream(model="m", include_usage=False)
    for event, data in anthropic_events([TEXT]):
        stream.feed(event, data)
    assert stream.feed("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "text_delta", "text": "x"}}) == []
    assert stream.finish() == []
    assert stream.error("late") == []


# --- OpenAI-family upstream -> Anthropic client (§3.5) ----------------------------------------

USAGE = {"prompt_tokens": 2460, "completion_tokens": 96, "total_tokens": 2556,
         "prompt_tokens_details": {"cached_tokens": 2048, "cache_write_tokens": 12},
         "completion_tokens_details": {"reasoning_tokens": 30}}
CALLS = [{"id": "call_a1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
         {"id": "call_b2", "name": "get_weather",
          "arguments": '{"city": "Rome", "days": [1, 2, 3]}'}]


def test_o2a_text_reaches_the_anthropic_sdk() -> None:
    text = "A reply in several pieces, with unicode: žluťoučký kůň."
    message = anthropic_final_message(o2a(openai_chunks(text=text, usage=USAGE, size=3)))
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == text
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 96
    assert message.usage.input_tokens == 2460 - 2048 - 12  # §9.29
    assert message.usage.cache_read_input_tokens == 2048
    assert message.usage.cache_creation_input_tokens == 12


def test_o2a_reasoning_text_and_parallel_calls() -> None:
    chunks = openai_chunks(reasoning="Think first.", text="Checking.", calls=CALLS,
                           finish="tool_calls", usage=USAGE, size=4)
    message = anthropic_final_message(o2a(chunks))
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert message.content[0].thinking == "Think first."
    assert message.content[1].text == "Checking."
    assert [(b.id, b.name, b.input) for b in message.content[2:]] == [
        ("call_a1", "get_weather", {"city": "Paris"}),
        ("call_b2", "get_weather", {"city": "Rome", "days": [1, 2, 3]})]
    assert message.stop_reason == "tool_use"


@pytest.mark.parametrize("mode", ["sequential", "interleave", "whole_calls"])
def test_o2a_parallel_call_shapes(mode: str) -> None:
    """§9.4 and §9.10: each index its own block; interleaved fragments; whole calls."""
    chunks = openai_chunks(calls=CALLS, finish="tool_calls", size=3,
                           interleave=mode == "interleave", whole_calls=mode == "whole_calls")
    message = anthropic_final_message(o2a(chunks))
    assert [(b.id, b.input) for b in message.content] == [
        ("call_a1", {"city": "Paris"}), ("call_b2", {"city": "Rome", "days": [1, 2, 3]})]


def test_o2a_whole_call_and_finish_in_one_chunk() -> None:
    """§9.9 + §9.10: id, name, arguments and finish_reason all in a single chunk."""
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "grok-4",
             "choices": [{"index": 0, "finish_reason": "tool_calls", "delta": {
                 "role": "assistant", "content": "On it.",
                 "tool_calls": [{"index": 0, "id": "call_x", "type": "function",
                                 "function": {"name": "ls", "arguments": '{"path": "/"}'}}]}}]}
    message = anthropic_final_message(o2a([chunk]))
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[0].text == "On it."
    assert message.content[1].input == {"path": "/"}
    assert message.stop_reason == "tool_use"


def test_o2a_content_and_stop_in_one_chunk() -> None:
    chunk = {"id": "c1", "choices": [{"index": 0, "delta": {"content": "All at once."},
                                      "finish_reason": "stop"}]}
    message = anthropic_final_message(o2a([chunk]))
    assert message.content[0].text == "All at once."
    assert message.stop_reason == "end_turn"


@pytest.mark.parametrize(("arguments", "expected"), [("", {}), ("   ", {}),
                                                     ('  {"a": 1}', {"a": 1})])
def test_o2a_empty_or_blank_arguments(arguments: str, expected: dict[str, Any]) -> None:
    """§9.11: empty arguments leave input {} instead of breaking the SDK's JSON parser."""
    calls = [{"id": "call_1", "name": "noop", "arguments": arguments}]
    message = anthropic_final_message(o2a(openai_chunks(calls=calls, finish="tool_calls")))
    assert message.content[0].input == expected


def test_o2a_stop_with_tool_calls_is_tool_use() -> None:
    message = anthropic_final_message(o2a(openai_chunks(calls=CALLS[:1], finish="stop")))
    assert message.stop_reason == "tool_use"


@pytest.mark.parametrize(("finish", "stop"), [("length", "max_tokens"),
                                              ("content_filter", "refusal"),
                                              ("function_call", "tool_use"),
                                              ("weird_new_reason", "end_turn")])
def test_o2a_finish_reasons(finish: str, stop: str) -> None:
    message = anthropic_final_message(o2a(openai_chunks(text="x", finish=finish)))
    assert message.stop_reason == stop


def test_o2a_refusal_delta() -> None:
    chunks = [{"id": "c", "choices": [{"index": 0, "delta": {"refusal": "I can't help."},
                                       "finish_reason": None}]},
              {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
    message = anthropic_final_message(o2a(chunks))
    assert message.content[0].text == "I can't help."
    assert message.stop_reason == "refusal"


def test_o2a_usage_is_the_last_non_null_value_xai() -> None:
    """§9.8 and §9.30: usage on the finish chunk, then an empty chunk; reasoning added."""
    usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 150,
             "completion_tokens_details": {"reasoning_tokens": 30},
             "prompt_tokens_details": {"cached_tokens": 40}}
    chunks = openai_chunks(text="hi", usage=usage, usage_on_finish=True, trailing_empty=True)
    message = anthropic_final_message(o2a(chunks, provider="xai"))
    assert message.usage.output_tokens == 50
    assert message.usage.input_tokens == 60
    assert message.usage.cache_read_input_tokens == 40
    not_xai = anthropic_final_message(o2a(chunks, provider="openai"))
    assert not_xai.usage.output_tokens == 20


def test_o2a_usage_arrives_after_finish() -> None:
    chunks = openai_chunks(text="hi", usage=USAGE)
    assert chunks[-1]["choices"] == [] and chunks[-2]["choices"][0]["finish_reason"] == "stop"
    frames = anthropic_frames(o2a(chunks))
    delta = next(d for e, d in frames if e == "message_delta")
    assert delta["usage"]["output_tokens"] == 96


def test_o2a_without_usage_uses_estimates() -> None:
    frames = anthropic_frames(o2a(openai_chunks(text="x" * 40), estimate=1234))
    start = frames[0][1]["message"]["usage"]
    assert start == {"input_tokens": 1234, "cache_creation_input_tokens": 0,
                     "cache_read_input_tokens": 0, "output_tokens": 0}
    delta = next(d for e, d in frames if e == "message_delta")
    assert delta["usage"]["input_tokens"] == 1234
    assert delta["usage"]["output_tokens"] == 10


def test_o2a_event_order() -> None:
    """§9.6: message_start, ping, contiguous blocks, message_delta, message_stop, nothing after."""
    frames = anthropic_frames(o2a(openai_chunks(reasoning="r", text="t", calls=CALLS,
                                                finish="tool_calls", usage=USAGE)))
    names = [e for e, _ in frames]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    starts = [d["index"] for e, d in frames if e == "content_block_start"]
    stops = [d["index"] for e, d in frames if e == "content_block_stop"]
    assert starts == stops == list(range(len(starts))) == [0, 1, 2, 3]
    open_block = None
    for event, data in frames:  # one block open at a time; deltas only to the open one
        if event == "content_block_start":
            assert open_block is None
            open_block = data["index"]
        elif event == "content_block_delta":
            assert data["index"] == open_block
        elif event == "content_block_stop":
            assert data["index"] == open_block
            open_block = None
    events = anthropic_raw_events(o2a(openai_chunks(text="t", usage=USAGE)))
    assert events[0].type == "message_start" and events[-1].type == "message_stop"


def test_o2a_tool_names_restored_and_ids_sanitized() -> None:
    """§9.18 and §9.19: long names come back whole, odd ids become valid Anthropic ids."""
    long_name = "mcp__filesystem_server__read_multiple_files_with_a_really_long_name_x"
    names = ToolNameMap.build([long_name, "ok_tool"])
    safe = names.to_safe(long_name)
    assert safe != long_name and len(safe) <= 64
    calls = [{"id": "functions.Bash:0", "name": safe, "arguments": '{"p": 1}'},
             {"id": "call_2", "name": "ok_tool", "arguments": "{}"}]
    message = anthropic_final_message(o2a(openai_chunks(calls=calls, finish="tool_calls"),
                                          tool_names=names))
    assert [b.name for b in message.content] == [long_name, "ok_tool"]
    first_id = message.content[0].id
    assert first_id.startswith("functions_Bash_0_")
    assert all(c.isalnum() or c in "_-" for c in first_id)


def test_o2a_error_chunk_becomes_an_error_event() -> None:
    chunks = openai_chunks(text="partial", finish=None)
    chunks.append({"error": {"message": "upstream exploded", "type": "server_error"}})
    frames = o2a(chunks)
    assert anthropic_frames(frames)[-1][0] == "error"
    assert anthropic_frames(frames)[-1][1]["error"] == {"type": "api_error",
                                                        "message": "upstream exploded"}
    with pytest.raises(anthropic.APIStatusError, match="upstream exploded"):
        anthropic_final_message(frames)


def test_o2a_openrouter_finish_reason_error() -> None:
    """§5.3 rule 5: OpenRouter's mid-stream error chunk is an error, not a stop."""
    chunk = {"id": "gen-1", "error": {"code": 502, "message": "Provider disconnected"},
             "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}
    frames = anthropic_frames(o2a([*openai_chunks(text="par", finish=None), chunk],
                                  provider="openrouter"))
    assert frames[-1] == ("error", {"type": "error", "error": {
        "type": "api_error", "message": "Provider disconnected"}})
    assert "message_delta" not in [e for e, _ in frames]
    only_finish = {"id": "gen-1", "choices": [{"index": 0, "delta": {},
                                               "finish_reason": "error"}]}
    assert anthropic_frames(o2a([only_finish]))[-1][0] == "error"


def test_o2a_stream_cut_without_finish_is_an_error() -> None:
    """§9.32: no finish_reason means the reply is incomplete: error, never end_turn."""
    frames = o2a(openai_chunks(text="half a sent", finish=None))
    parsed = anthropic_frames(frames)
    assert parsed[-1][0] == "error"
    assert "message_stop" not in [e for e, _ in parsed]
    with pytest.raises(anthropic.APIStatusError):
        anthropic_final_message(frames)


def test_o2a_nothing_after_message_stop() -> None:
    stream = OpenAIToAnthropicStream(model="m", provider="openai")
    for chunk in openai_chunks(text="done"):
        stream.feed(chunk)
    assert anthropic_frames(stream.finish())[-1][0] == "message_stop"
    assert stream.feed({"choices": [{"index": 0, "delta": {"content": "late"}}]}) == []
    assert stream.finish() == []
    assert stream.error("late") == []


def test_o2a_openrouter_reasoning_with_signature() -> None:
    chunks = [
        {"id": "gen", "choices": [{"index": 0, "delta": {
            "reasoning": "Let me think.",
            "reasoning_details": [{"type": "reasoning.text", "text": "Let me think."}]}}]},
        {"id": "gen", "choices": [{"index": 0, "delta": {
            "reasoning_details": [{"type": "reasoning.text", "text": "",
                                   "signature": "sig-123"}]}}]},
        {"id": "gen", "choices": [{"index": 0, "delta": {"content": "Answer."},
                                   "finish_reason": "stop"}]},
    ]
    message = anthropic_final_message(o2a(chunks, provider="openrouter"))
    assert message.content[0].type == "thinking"
    assert message.content[0].thinking == "Let me think."  # not doubled from reasoning_details
    assert message.content[0].signature == "sig-123"
    assert message.content[1].text == "Answer."


def test_o2a_text_after_tool_calls_flushes_waiting_calls_in_order() -> None:
    chunks = openai_chunks(calls=CALLS, finish=None, interleave=True, size=2)
    chunks += [{"id": "c", "choices": [{"index": 0, "delta": {"content": "Done."},
                                        "finish_reason": "tool_calls"}]}]
    message = anthropic_final_message(o2a(chunks))
    assert [b.type for b in message.content] == ["tool_use", "tool_use", "text"]
    assert message.content[1].input == {"city": "Rome", "days": [1, 2, 3]}


# --- property-based: whatever the chunking, the SDKs rebuild the same reply ----------------

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
_args = st.dictionaries(st.text(alphabet="abcxyz_", min_size=1, max_size=6),
                        st.one_of(st.integers(), st.text(max_size=8), st.booleans(),
                                  st.lists(st.integers(), max_size=3)), max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_text, reasoning=_text, inputs=st.lists(_args, max_size=3),
       size=st.integers(min_value=1, max_value=7), interleave=st.booleans(),
       whole=st.booleans())
def test_o2a_property(text: str, reasoning: str, inputs: list[dict[str, Any]], size: int,
                      interleave: bool, whole: bool) -> None:
    calls = [{"id": f"call_{k}", "name": f"tool_{k}", "arguments": json.dumps(args)}
             for k, args in enumerate(inputs)]
    chunks = openai_chunks(text=text, reasoning=reasoning, calls=calls, size=size,
                           interleave=interleave, whole_calls=whole,
                           finish="tool_calls" if calls else "stop", usage=USAGE)
    message = anthropic_final_message(o2a(chunks))
    thinking = [b.thinking for b in message.content if b.type == "thinking"]
    texts = [b.text for b in message.content if b.type == "text"]
    tools = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert "".join(thinking) == reasoning
    assert "".join(texts) == text
    assert tools == [(f"call_{k}", f"tool_{k}", args) for k, args in enumerate(inputs)]
    assert message.stop_reason == ("tool_use" if calls else "end_turn")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_text, thinking=_text, inputs=st.lists(_args, max_size=3),
       size=st.integers(min_value=1, max_value=7), include_usage=st.booleans())
def test_a2o_property(text: str, thinking: str, inputs: list[dict[str, Any]], size: int,
                      include_usage: bool) -> None:
    blocks: list[dict[str, Any]] = []
    if thinking:
        blocks.append({"type": "thinking", "thinking": thinking, "signature": "sig"})
    if text:
        blocks.append({"type": "text", "text": text})
    blocks += [{"type": "tool_use", "id": f"toolu_{k}", "name": f"tool_{k}", "input": args}
               for k, args in enumerate(inputs)]
    frames = a2o(anthropic_events(blocks, stop_reason="tool_use" if inputs else "end_turn",
                                  size=size), include_usage=include_usage)
    completion = openai_stream_final(frames)
    message = completion.choices[0].message
    assert (message.content or "") == text
    assert [(c.id, c.function.name, json.loads(c.function.arguments))
            for c in message.tool_calls or []] == [
        (f"toolu_{k}", f"tool_{k}", args) for k, args in enumerate(inputs)]
    assert (message.model_extra or {}).get("reasoning_content", "") == thinking
    assert completion.choices[0].finish_reason == ("tool_calls" if inputs else "stop")


def test_o2a_fragments_without_index() -> None:
    """Some compatible servers omit ``index``: a new id starts a new call, else it continues."""
    def chunk(fragment: dict[str, Any]) -> dict[str, Any]:
        return {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [fragment]}}]}
    chunks = [chunk({"id": "call_a", "function": {"name": "f", "arguments": '{"x":'}}),
              chunk({"function": {"arguments": " 1}"}}),
              chunk({"id": "call_b", "function": {"name": "g", "arguments": "{}"}}),
              {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}]
    message = anthropic_final_message(o2a(chunks))
    assert [(b.id, b.name, b.input) for b in message.content] == [
        ("call_a", "f", {"x": 1}), ("call_b", "g", {})]


def test_o2a_name_arriving_after_the_first_fragment() -> None:
    def chunk(fragment: dict[str, Any]) -> dict[str, Any]:
        return {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [fragment]}}]}
    chunks = [chunk({"index": 0, "id": "call_a", "function": {"arguments": '{"x"'}}),
              chunk({"index": 0, "function": {"name": "late", "arguments": ": 2}"}}),
              {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}]
    message = anthropic_final_message(o2a(chunks))
    assert [(b.id, b.name, b.input) for b in message.content] == [("call_a", "late", {"x": 2})]


def test_o2a_error_before_any_chunk() -> None:
    stream = OpenAIToAnthropicStream(model="m", provider="openai")
    frames = anthropic_frames(stream.error("connection reset", "api_error"))
    assert frames == [("error", {"type": "error", "error": {"type": "api_error",
                                                            "message": "connection reset"}})]
    assert stream.feed({"choices": []}) == [] and stream.finish() == []
