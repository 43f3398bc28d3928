"""Run bytes produced by the translators through the official SDKs' own parsers.

Each helper serves the given SSE frames (or JSON body) from an in-memory transport and lets the
real ``anthropic`` / ``openai`` client read them, exactly as it would read a gateway. The SDKs
use ``httpx2`` (their fork of httpx), so the mock transport comes from there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import anthropic
import httpx2
import openai
from anthropic.types import Message
from openai.types.chat import ChatCompletion, ChatCompletionChunk


def _transport(content: bytes, content_type: str, status: int = 200) -> httpx2.MockTransport:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, headers={"content-type": content_type}, content=content)

    return httpx2.MockTransport(handler)


def anthropic_client(content: bytes, content_type: str, status: int = 200) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="test", base_url="http://gateway.test", max_retries=0,
        http_client=httpx2.Client(transport=_transport(content, content_type, status)))


def openai_client(content: bytes, content_type: str, status: int = 200) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="test", base_url="http://gateway.test/v1", max_retries=0,
        http_client=httpx2.Client(transport=_transport(content, content_type, status)))


_ANTHROPIC_ARGS: dict[str, Any] = {
    "model": "claude-test", "max_tokens": 1024, "messages": [{"role": "user", "content": "hi"}]}
_OPENAI_ARGS: dict[str, Any] = {
    "model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


def anthropic_final_message(frames: Iterable[bytes]) -> Message:
    """The Anthropic SDK's accumulated message (``messages.stream(...).get_final_message()``)."""
    client = anthropic_client(b"".join(frames), "text/event-stream")
    with client.messages.stream(**_ANTHROPIC_ARGS) as stream:
        return stream.get_final_message()


def anthropic_raw_events(frames: Iterable[bytes]) -> list[Any]:
    """The events the Anthropic SDK yields for ``messages.create(stream=True)``."""
    client = anthropic_client(b"".join(frames), "text/event-stream")
    return list(client.messages.create(**_ANTHROPIC_ARGS, stream=True))


def anthropic_parse_message(body: dict[str, Any]) -> Message:
    """A non-streaming Anthropic body as parsed by the SDK."""
    client = anthropic_client(json.dumps(body).encode(), "application/json")
    return client.messages.create(**_ANTHROPIC_ARGS)


def openai_stream_final(frames: Iterable[bytes], **kwargs: Any) -> Any:
    """The OpenAI SDK's ``chat.completions.stream(...).get_final_completion()``."""
    client = openai_client(b"".join(frames), "text/event-stream")
    with client.chat.completions.stream(**{**_OPENAI_ARGS, **kwargs}) as stream:
        return stream.get_final_completion()


def openai_stream_chunks(frames: Iterable[bytes]) -> list[ChatCompletionChunk]:
    """The chunks the OpenAI SDK yields for ``chat.completions.create(stream=True)``."""
    client = openai_client(b"".join(frames), "text/event-stream")
    return list(client.chat.completions.create(**_OPENAI_ARGS, stream=True))


def openai_parse_completion(body: dict[str, Any]) -> ChatCompletion:
    """A non-streaming OpenAI body as parsed by the SDK."""
    client = openai_client(json.dumps(body).encode(), "application/json")
    return client.chat.completions.create(**_OPENAI_ARGS)


def accumulate_openai_chunks(chunks: list[ChatCompletionChunk]) -> dict[str, Any]:
    """What a plain ``stream=True`` consumer builds: text, reasoning, tool calls by index."""
    text: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish: str | None = None
    usage = None
    roles: list[str] = []
    for chunk in chunks:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            if delta.role:
                roles.append(delta.role)
            if delta.content:
                text.append(delta.content)
            extra = delta.model_extra or {}
            if extra.get("reasoning_content"):
                reasoning.append(extra["reasoning_content"])
            for tc in delta.tool_calls or []:
                call = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
                if tc.id:
                    assert call["id"] is None, "tool call id repeated in a later fragment"
                    call["id"] = tc.id
                if tc.function and tc.function.name:
                    assert call["name"] is None, "tool name repeated in a later fragment"
                    call["name"] = tc.function.name
                if tc.function and tc.function.arguments:
                    call["arguments"] += tc.function.arguments
            if choice.finish_reason:
                finish = choice.finish_reason
    return {"text": "".join(text), "reasoning": "".join(reasoning),
            "calls": [calls[i] for i in sorted(calls)], "finish": finish, "usage": usage,
            "roles": roles}


# --- OpenAI Responses API ---------------------------------------------------------------------

_RESPONSES_ARGS: dict[str, Any] = {"model": "gpt-test", "input": "hi"}


def responses_parse(body: dict[str, Any]) -> Any:
    """A non-streaming Responses body as parsed by the SDK (``responses.create(...)``)."""
    client = openai_client(json.dumps(body).encode(), "application/json")
    return client.responses.create(**_RESPONSES_ARGS)


def responses_stream_final(frames: Iterable[bytes], **kwargs: Any) -> Any:
    """The SDK's accumulated ``responses.stream(...).get_final_response()``."""
    client = openai_client(b"".join(frames), "text/event-stream")
    with client.responses.stream(**{**_RESPONSES_ARGS, **kwargs}) as stream:
        return stream.get_final_response()


def responses_stream_events(frames: Iterable[bytes]) -> list[Any]:
    """The typed events the SDK yields for ``responses.create(stream=True)``."""
    client = openai_client(b"".join(frames), "text/event-stream")
    return list(client.responses.create(**_RESPONSES_ARGS, stream=True))


def responses_stream_helper_events(frames: Iterable[bytes]) -> list[Any]:
    """The events ``responses.stream(...)`` yields (its accumulator checks every item identity)."""
    client = openai_client(b"".join(frames), "text/event-stream")
    with client.responses.stream(**_RESPONSES_ARGS) as stream:
        return list(stream)


def sse_payloads(frames: Iterable[bytes]) -> list[tuple[str | None, Any]]:
    """Split SSE bytes into (event name, parsed data) pairs; ``[DONE]`` stays a string."""
    pairs: list[tuple[str | None, Any]] = []
    for block in b"".join(frames).decode().split("\n\n"):
        if not block.strip() or block.startswith(":"):
            continue
        event: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: "):
                data.append(line[len("data: "):])
        text = "\n".join(data)
        pairs.append((event, text if text == "[DONE]" else json.loads(text)))
    return pairs
