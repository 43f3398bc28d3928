"""Build upstream event sequences (what Anthropic or an OpenAI-format provider streams).

The builders take a high-level description of a reply (blocks, tool calls, stop reason, usage)
and produce the events a real upstream would send, split into fragments of ``size`` characters.
Tests then feed them through a translator and compare what the *client's SDK* reconstructs with
the description, so a test fails whenever a translator loses, duplicates or misplaces anything.
"""

from __future__ import annotations

import json
from typing import Any


def split(text: str, size: int) -> list[str]:
    """``text`` in pieces of ``size`` characters (at least one piece, possibly empty)."""
    if size <= 0 or not text:
        return [text]
    return [text[i : i + size] for i in range(0, len(text), size)]


# --- Anthropic --------------------------------------------------------------------------------


def anthropic_events(
    blocks: list[dict[str, Any]], *, stop_reason: str = "end_turn", size: int = 5,
    usage: dict[str, int] | None = None, message_id: str = "msg_01Test",
    model: str = "claude-sonnet-4-5-20250929", ping: bool = True,
) -> list[tuple[str, dict[str, Any]]]:
    """A complete Anthropic Messages stream for ``blocks``, as (event, data) pairs."""
    usage = usage or {"input_tokens": 10, "output_tokens": 5}
    start_usage = {"input_tokens": usage.get("input_tokens", 0),
                   "cache_creation_input_tokens": usage.get("cache_creation_input_tokens", 0),
                   "cache_read_input_tokens": usage.get("cache_read_input_tokens", 0),
                   "output_tokens": 1}
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {
        "type": "message_start", "message": {
            "id": message_id, "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}})]
    if ping:
        events.append(("ping", {"type": "ping"}))
    for index, block in enumerate(blocks):
        events += _anthropic_block_events(index, block, size)
    events.append(("message_delta", {
        "type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": usage.get("output_tokens", 0)}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _anthropic_block_events(index: int, block: dict[str, Any],
                            size: int) -> list[tuple[str, dict[str, Any]]]:
    btype = block["type"]
    events: list[tuple[str, dict[str, Any]]] = []

    def delta(d: dict[str, Any]) -> None:
        events.append(("content_block_delta",
                       {"type": "content_block_delta", "index": index, "delta": d}))

    if btype == "text":
        start: dict[str, Any] = {"type": "text", "text": ""}
    elif btype == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
    elif btype == "redacted_thinking":
        start = {"type": "redacted_thinking", "data": block["data"]}
    elif btype in ("tool_use", "server_tool_use"):
        start = {"type": btype, "id": block["id"], "name": block["name"], "input": {}}
    else:
        start = dict(block)
    events.append(("content_block_start",
                   {"type": "content_block_start", "index": index, "content_block": start}))
    if btype == "text":
        for piece in split(block["text"], size):
            delta({"type": "text_delta", "text": piece})
    elif btype == "thinking":
        for piece in split(block["thinking"], size):
            delta({"type": "thinking_delta", "thinking": piece})
        delta({"type": "signature_delta", "signature": block["signature"]})
    elif btype in ("tool_use", "server_tool_use"):
        delta({"type": "input_json_delta", "partial_json": ""})
        for piece in split(json.dumps(block["input"]), size):
            delta({"type": "input_json_delta", "partial_json": piece})
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def anthropic_sse(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    """The events as Anthropic SSE bytes (to check the builder itself with the SDK)."""
    return b"".join(f"event: {e}\ndata: {json.dumps(d)}\n\n".encode() for e, d in events)


# --- OpenAI -----------------------------------------------------------------------------------


def _chunk(delta: dict[str, Any], finish: str | None = None, *, chunk_id: str,
           model: str) -> dict[str, Any]:
    return {"id": chunk_id, "object": "chat.completion.chunk", "created": 1760000000,
            "model": model, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                         "finish_reason": finish}]}


def openai_chunks(
    *, text: str = "", reasoning: str = "", reasoning_key: str = "reasoning_content",
    calls: list[dict[str, Any]] | None = None, finish: str | None = "stop",
    usage: dict[str, Any] | None = None, size: int = 5, interleave: bool = False,
    whole_calls: bool = False, usage_on_finish: bool = False, trailing_empty: bool = False,
    chunk_id: str = "chatcmpl-B9x", model: str = "gpt-4o-2024-08-06",
) -> list[dict[str, Any]]:
    """A Chat Completions stream: role, reasoning, text, tool calls, finish, then usage.

    ``calls`` items are ``{"id", "name", "arguments"}`` (arguments a string). ``interleave``
    alternates argument fragments of the calls; ``whole_calls`` sends each call in one chunk;
    ``usage_on_finish`` puts usage on the finish chunk (xAI), ``trailing_empty`` adds an empty
    chunk with ``usage: null`` after it.
    """
    calls = calls or []

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return _chunk(delta, finish_reason, chunk_id=chunk_id, model=model)

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({reasoning_key: piece}) for piece in split(reasoning, size) if piece]
    chunks += [chunk({"content": piece}) for piece in split(text, size) if piece]
    if whole_calls:
        for k, call in enumerate(calls):
            chunks.append(chunk({"tool_calls": [{"index": k, "id": call["id"], "type": "function",
                                                 "function": {"name": call["name"],
                                                              "arguments": call["arguments"]}}]}))
    else:
        fragments: list[list[dict[str, Any]]] = []
        for k, call in enumerate(calls):
            first = {"index": k, "id": call["id"], "type": "function",
                     "function": {"name": call["name"], "arguments": ""}}
            rest = [{"index": k, "function": {"arguments": piece}}
                    for piece in split(call["arguments"], size) if piece]
            fragments.append([first, *rest])
        if interleave:
            longest = max((len(f) for f in fragments), default=0)
            order = [f[i] for i in range(longest) for f in fragments if i < len(f)]
        else:
            order = [fragment for f in fragments for fragment in f]
        chunks += [chunk({"tool_calls": [fragment]}) for fragment in order]
    if finish is not None:
        last = chunk({}, finish)
        if usage is not None and usage_on_finish:
            last["usage"] = usage
        chunks.append(last)
    if trailing_empty:
        empty = chunk({})
        empty["usage"] = None
        chunks.append(empty)
    if usage is not None and not usage_on_finish:
        chunks.append({"id": chunk_id, "object": "chat.completion.chunk", "created": 1760000000,
                       "model": model, "choices": [], "usage": usage})
    return chunks
