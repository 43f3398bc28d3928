"""Streaming translation: incremental state machines, one upstream SSE event in, frames out.

Both classes follow protocol.md §3.4 and §3.5. They are fed parsed events (the caller splits the
SSE stream, skips comment lines and stops at ``[DONE]``) and return complete SSE frames as bytes,
ready to write. They never hold the reply: each event costs time proportional to its own size.
The only state that grows is per block and small (a thinking block's text, kept to send the
signed block once complete; the argument fragments of tool calls that have to wait, below).

After the end (``message_stop`` / finish, an error, or :meth:`finish`) every method returns ``[]``,
so nothing can follow ``[DONE]`` or ``message_stop``.

Anthropic upstream -> OpenAI client (:class:`AnthropicToOpenAIStream`)
    * ``role`` is sent once, in the first chunk; every chunk carries ``id``, ``object``,
      ``created``, ``model``; ``"usage": null`` on content chunks and the final ``choices: []``
      usage chunk only when the client asked for ``include_usage``.
    * Tool calls are numbered by their own 0-based counter, not by the Anthropic block index;
      ``id``, ``type`` and ``function.name`` appear only in a call's first fragment (the OpenAI SDK
      concatenates repeated strings).
    * ``thinking_delta`` -> ``reasoning_content``; when a thinking block closes, the complete signed
      block is sent once as ``thinking_blocks: [{"index": n, "type", "thinking", "signature"}]``
      (the ``index`` lets the OpenAI SDK's accumulator merge the list).
    * The ``json_tool_call`` emulation streams as ``content`` and finishes with ``stop``.
    * ``ping`` -> ``: ping`` comment. Upstream ``error`` or an early end -> ``data: {"error": ...}``
      then ``data: [DONE]``.

OpenAI-family upstream -> Anthropic client (:class:`OpenAIToAnthropicStream`)
    * ``message_start`` (full usage object, the input estimate) and ``ping`` come first; block
      indices run 0, 1, 2... with exactly one block open at a time.
    * Reasoning (``reasoning_content``, ``reasoning``, OpenRouter ``reasoning_details`` with its
      signature) -> a thinking block; ``content`` -> a text block; each upstream tool-call ``index``
      -> its own ``tool_use`` block.
    * Parallel calls: the first call streams live. A fragment of any other call is buffered with
      that call until the live one is over (text resumes or the stream finishes), then each waiting
      call is sent whole: start, one ``input_json_delta``, stop. This is correct for upstreams that
      interleave fragments of several calls, at the cost of not streaming the arguments of the
      second and later calls live. A call whose first chunk holds everything (xAI, Gemini) gets
      its start and its delta at once.
    * ``finish_reason`` is remembered and ``message_delta`` + ``message_stop`` wait for
      :meth:`finish`, because OpenAI sends usage in a later chunk; usage is the last non-null
      value seen (xAI repeats it), xAI reasoning tokens are added to output. Without any usage,
      input is the estimate and output is the streamed characters / 4.
    * An ``error`` chunk or ``finish_reason: "error"`` (OpenRouter) -> ``event: error``; a stream
      that ends without ``finish_reason`` -> ``event: error`` too, never a fake ``end_turn``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from gateway.translate.common import JSON_TOOL_NAME, as_dict, as_list
from gateway.translate.errors import anthropic_type_for_openai, openai_type_for_anthropic
from gateway.translate.names import ToolNameMap, new_tool_id, sanitize_tool_id
from gateway.translate.usage import (
    anthropic_usage_from_openai,
    finish_reason_for,
    is_error_finish,
    openai_usage_from_anthropic,
    stop_reason_for,
)

DONE = b"data: [DONE]\n\n"
PING_COMMENT = b": ping\n\n"
EARLY_END_MESSAGE = "Upstream stream ended before the response was complete"
CHARS_PER_TOKEN = 4


def _dumps(payload: object) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def openai_frame(payload: dict[str, Any]) -> bytes:
    """One OpenAI SSE frame: ``data: {...}`` and a blank line."""
    return f"data: {_dumps(payload)}\n\n".encode()


def anthropic_frame(event: str, payload: dict[str, Any]) -> bytes:
    """One Anthropic SSE frame; the ``event:`` line is mandatory for the Anthropic SDK."""
    return f"event: {event}\ndata: {_dumps(payload)}\n\n".encode()


# --- Anthropic upstream -> OpenAI client ------------------------------------------------------


class AnthropicToOpenAIStream:
    """Translate an Anthropic Messages event stream into Chat Completions chunks (§3.4)."""

    def __init__(self, *, model: str, include_usage: bool) -> None:
        self._model = model
        self._include_usage = include_usage
        self._id = "chatcmpl-" + uuid.uuid4().hex
        self._created = int(time.time())
        self._started = False
        self._done = False
        self._tool_index: dict[int, int] = {}
        self._next_tool = 0
        self._json_blocks: set[int] = set()
        self._thinking: dict[int, list[str]] = {}
        self._signatures: dict[int, str] = {}
        self._redacted: dict[int, str] = {}
        self._next_thinking = 0
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None

    # frames

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        payload: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if self._include_usage:
            payload["usage"] = None
        return openai_frame(payload)

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def _content(self, text: str) -> list[bytes]:
        return [*self._start(), self._chunk({"content": text})] if text else []

    # events

    def feed(self, event: str | None, data: dict[str, Any]) -> list[bytes]:
        """Frames for one upstream event (``event`` may be None: the data's ``type`` is used)."""
        if self._done:
            return []
        kind = event or as_dict(data).get("type")
        data = as_dict(data)
        if kind == "message_start":
            return self._message_start(as_dict(data.get("message")))
        if kind == "content_block_start":
            return self._block_start(data.get("index", 0), as_dict(data.get("content_block")))
        if kind == "content_block_delta":
            return self._block_delta(data.get("index", 0), as_dict(data.get("delta")))
        if kind == "content_block_stop":
            return self._block_stop(data.get("index", 0))
        if kind == "message_delta":
            self._message_delta(data)
            return []
        if kind == "message_stop":
            return self._message_stop()
        if kind == "ping":
            return [PING_COMMENT]
        if kind == "error":
            error = as_dict(data.get("error"))
            return self.error(
                str(error.get("message") or "Upstream error"), str(error.get("type") or "api_error")
            )
        return []  # unknown event types are ignored, as the Anthropic SDK does

    def _message_start(self, message: dict[str, Any]) -> list[bytes]:
        if isinstance(message.get("id"), str) and not self._started:
            self._id = "chatcmpl-" + message["id"]
        self._usage.update({k: v for k, v in as_dict(message.get("usage")).items() if v is not None})
        return self._start()

    def _block_start(self, index: int, block: dict[str, Any]) -> list[bytes]:
        btype = block.get("type")
        if btype == "text":
            return self._content(str(block.get("text") or ""))
        if btype == "tool_use" and block.get("name") == JSON_TOOL_NAME:
            self._json_blocks.add(index)
            return []
        if btype == "tool_use":
            k = self._next_tool
            self._next_tool += 1
            self._tool_index[index] = k
            tool_input = block.get("input")
            prefilled = isinstance(tool_input, dict) and bool(tool_input)
            arguments = json.dumps(tool_input) if prefilled else ""
            call = {
                "index": k,
                "id": block.get("id") or new_tool_id(),
                "type": "function",
                "function": {"name": block.get("name") or "", "arguments": arguments},
            }
            return [*self._start(), self._chunk({"tool_calls": [call]})]
        if btype == "thinking":
            text = str(block.get("thinking") or "")
            self._thinking[index] = [text]
            return self._reasoning(text)
        if btype == "redacted_thinking":
            self._redacted[index] = str(block.get("data") or "")
        return []  # server_tool_use, web_search_tool_result...: nothing for the client

    def _reasoning(self, text: str) -> list[bytes]:
        return [*self._start(), self._chunk({"reasoning_content": text})] if text else []

    def _block_delta(self, index: int, delta: dict[str, Any]) -> list[bytes]:
        dtype = delta.get("type")
        if dtype == "text_delta":
            return self._content(str(delta.get("text") or ""))
        if dtype == "input_json_delta":
            partial = str(delta.get("partial_json") or "")
            if not partial:
                return []
            if index in self._json_blocks:
                return self._content(partial)
            if index in self._tool_index:
                fragment = {"index": self._tool_index[index], "function": {"arguments": partial}}
                return [self._chunk({"tool_calls": [fragment]})]
            return []
        if dtype == "thinking_delta":
            text = str(delta.get("thinking") or "")
            self._thinking.setdefault(index, []).append(text)
            return self._reasoning(text)
        if dtype == "signature_delta":
            self._signatures[index] = str(delta.get("signature") or "")
        return []  # citations_delta and unknown deltas

    def _block_stop(self, index: int) -> list[bytes]:
        entry: dict[str, Any] | None = None
        if index in self._thinking:
            entry = {
                "type": "thinking",
                "thinking": "".join(self._thinking.pop(index)),
                "signature": self._signatures.pop(index, ""),
            }
        elif index in self._redacted:
            entry = {"type": "redacted_thinking", "data": self._redacted.pop(index)}
        if entry is None:
            return []
        entry = {"index": self._next_thinking, **entry}
        self._next_thinking += 1
        return [*self._start(), self._chunk({"thinking_blocks": [entry]})]

    def _message_delta(self, data: dict[str, Any]) -> None:
        stop = as_dict(data.get("delta")).get("stop_reason")
        if isinstance(stop, str):
            self._stop_reason = stop
        self._usage.update({k: v for k, v in as_dict(data.get("usage")).items() if v is not None})

    def _message_stop(self) -> list[bytes]:
        finish = finish_reason_for(self._stop_reason)
        if finish == "tool_calls" and self._next_tool == 0 and self._json_blocks:
            finish = "stop"  # only the JSON-format emulation was called
        frames = [*self._start(), self._chunk({}, finish)]
        if self._include_usage:
            frames.append(
                openai_frame(
                    {
                        "id": self._id,
                        "object": "chat.completion.chunk",
                        "created": self._created,
                        "model": self._model,
                        "choices": [],
                        "usage": openai_usage_from_anthropic(self._usage),
                    }
                )
            )
        frames.append(DONE)
        self._done = True
        return frames

    def finish(self) -> list[bytes]:
        """Frames for the end of the upstream: an error if ``message_stop`` never came."""
        if self._done:
            return []
        return self.error(EARLY_END_MESSAGE, "api_error")

    def error(self, message: str, type: str = "api_error") -> list[bytes]:
        """A mid-stream failure: the OpenAI error object, then ``[DONE]``.

        ``type`` is an Anthropic error type (what the upstream said); it is mapped to the OpenAI
        vocabulary (``api_error`` -> ``server_error``...), unknown types pass through.
        """
        if self._done:
            return []
        self._done = True
        otype, code = openai_type_for_anthropic(type)
        body = {"error": {"message": message, "type": otype, "param": None, "code": code}}
        return [openai_frame(body), DONE]


# --- OpenAI-family upstream -> Anthropic client -----------------------------------------------


@dataclass
class _Call:
    """One upstream tool call, by its upstream ``index``."""

    id: str | None = None
    name: str | None = None
    pending: list[str] = field(default_factory=list)  # argument fragments not yet sent
    started: bool = False  # its content_block_start was sent
    closed: bool = False
    sent_any: bool = False  # a non-blank argument fragment was sent


class OpenAIToAnthropicStream:
    """Translate Chat Completions chunks (OpenAI, xAI, OpenRouter...) into Anthropic events."""

    def __init__(
        self,
        *,
        model: str,
        provider: str,
        tool_names: ToolNameMap | None = None,
        input_tokens_estimate: int = 0,
    ) -> None:
        self._model = model
        self._provider = provider
        self._names = tool_names
        self._estimate = max(int(input_tokens_estimate), 0)
        self._id = "msg_" + uuid.uuid4().hex
        self._started = False
        self._done = False
        self._block = -1
        self._open: str | None = None  # "thinking" | "text" | "tool"
        self._live: _Call | None = None
        self._calls: dict[int, _Call] = {}
        self._last_index: int | None = None
        self._signature: str | None = None
        self._finish: str | None = None
        self._refusal = False
        self._usage: dict[str, Any] | None = None
        self._chars = 0

    # blocks

    def _start(self, upstream_id: object = None) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        if isinstance(upstream_id, str) and upstream_id:
            self._id = "msg_" + upstream_id
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self._estimate,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 0,
            },
        }
        return [
            anthropic_frame("message_start", {"type": "message_start", "message": message}),
            anthropic_frame("ping", {"type": "ping"}),
        ]

    def _open_block(self, kind: str, body: dict[str, Any]) -> list[bytes]:
        frames = self._close_block()
        self._block += 1
        self._open = kind
        return [
            *frames,
            anthropic_frame(
                "content_block_start",
                {"type": "content_block_start", "index": self._block, "content_block": body},
            ),
        ]

    def _close_block(self) -> list[bytes]:
        if self._open is None:
            return []
        frames: list[bytes] = []
        if self._open == "thinking" and self._signature:
            frames.append(self._delta({"type": "signature_delta", "signature": self._signature}))
            self._signature = None
        if self._open == "tool" and self._live is not None:
            self._live.closed = True
            self._live = None
        self._open = None
        frames.append(
            anthropic_frame("content_block_stop", {"type": "content_block_stop", "index": self._block})
        )
        return frames

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return anthropic_frame(
            "content_block_delta", {"type": "content_block_delta", "index": self._block, "delta": delta}
        )

    # chunks

    def feed(self, data: dict[str, Any]) -> list[bytes]:
        """Frames for one parsed upstream chunk."""
        if self._done:
            return []
        data = as_dict(data)
        frames = self._start(data.get("id"))
        if data.get("error"):
            return frames + self._upstream_error(data.get("error"))
        if isinstance(data.get("usage"), dict):
            self._usage = data["usage"]  # the last non-null value wins (xAI repeats it)
        for choice in map(as_dict, as_list(data.get("choices"))):
            if choice.get("index", 0) != 0:
                continue
            frames += self._choice_delta(as_dict(choice.get("delta")))
            finish = choice.get("finish_reason")
            if is_error_finish(finish):
                return frames + self._upstream_error({"message": 'Upstream reported finish_reason "error"'})
            if isinstance(finish, str) and finish:
                self._finish = finish
        return frames

    def _choice_delta(self, delta: dict[str, Any]) -> list[bytes]:
        frames = self._reasoning(delta)
        content = delta.get("content")
        if isinstance(content, str) and content:
            frames += self._text(content)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._refusal = True
            frames += self._text(refusal)
        calls = as_list(delta.get("tool_calls"))
        if not calls and isinstance(delta.get("function_call"), dict):
            calls = [{"index": 0, "function": delta["function_call"]}]
        for fragment in calls:
            frames += self._tool_fragment(as_dict(fragment))
        return frames

    def _reasoning(self, delta: dict[str, Any]) -> list[bytes]:
        details = [as_dict(d) for d in as_list(delta.get("reasoning_details"))]
        for detail in details:
            if isinstance(detail.get("signature"), str) and detail["signature"]:
                self._signature = detail["signature"]
        text = delta.get("reasoning_content") or delta.get("reasoning")
        if not isinstance(text, str) or not text:
            text = "".join(str(d.get("text") or "") for d in details if d.get("type") == "reasoning.text")
        if not text:
            return []
        frames: list[bytes] = []
        if self._open != "thinking":
            frames += self._end_tool_phase()
            frames += self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
        self._chars += len(text)
        return [*frames, self._delta({"type": "thinking_delta", "thinking": text})]

    def _text(self, text: str) -> list[bytes]:
        frames: list[bytes] = []
        if self._open != "text":
            frames += self._end_tool_phase()
            frames += self._open_block("text", {"type": "text", "text": ""})
        self._chars += len(text)
        return [*frames, self._delta({"type": "text_delta", "text": text})]

    # tool calls

    def _call_for(self, fragment: dict[str, Any]) -> _Call:
        index = fragment.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            # No index (some compatible servers): a new id starts a new call, else continue.
            known = {c.id for c in self._calls.values()}
            if (fragment.get("id") and fragment["id"] not in known) or self._last_index is None:
                index = max(self._calls, default=-1) + 1
            else:
                index = self._last_index
        self._last_index = index
        if index not in self._calls:
            self._calls[index] = _Call()
        return self._calls[index]

    def _tool_fragment(self, fragment: dict[str, Any]) -> list[bytes]:
        call = self._call_for(fragment)
        function = as_dict(fragment.get("function"))
        if isinstance(fragment.get("id"), str) and fragment["id"] and not call.id:
            call.id = fragment["id"]
        if isinstance(function.get("name"), str) and function["name"] and not call.name:
            call.name = function["name"]
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            arguments = json.dumps(arguments)
        arguments = arguments if isinstance(arguments, str) else ""
        if call is self._live:
            return self._arguments(call, arguments)
        if call.closed:
            return []  # a fragment for a call already sent whole: cannot be represented
        if arguments:
            call.pending.append(arguments)
        if call.name and self._live is None and self._first_waiting() is call:
            return self._go_live(call)
        return []

    def _first_waiting(self) -> _Call | None:
        for call in self._calls.values():
            if not call.started:
                return call
        return None

    def _go_live(self, call: _Call) -> list[bytes]:
        body = {
            "type": "tool_use",
            "id": sanitize_tool_id(call.id) if call.id else new_tool_id(),
            "name": self._restore(call.name or "unknown_tool"),
            "input": {},
        }
        frames = self._open_block("tool", body)
        call.started = True
        self._live = call
        pending, call.pending = "".join(call.pending), []
        return frames + self._arguments(call, pending)

    def _arguments(self, call: _Call, arguments: str) -> list[bytes]:
        if not call.sent_any:
            arguments = arguments.lstrip()  # the SDK's partial JSON parser rejects blank input
        if not arguments:
            return []
        call.sent_any = True
        self._chars += len(arguments)
        return [self._delta({"type": "input_json_delta", "partial_json": arguments})]

    def _end_tool_phase(self) -> list[bytes]:
        """Close the live call and send every waiting call whole, in upstream order."""
        if self._live is None and self._first_waiting() is None:
            return []
        frames = self._close_block()
        while (call := self._first_waiting()) is not None:
            frames += self._go_live(call)
            frames += self._close_block()
        return frames

    def _restore(self, name: str) -> str:
        return self._names.restore(name) if self._names else name

    # end

    def _final_usage(self) -> dict[str, int]:
        if self._usage is not None:
            return anthropic_usage_from_openai(self._usage, provider=self._provider)
        return {
            "input_tokens": self._estimate,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": -(-self._chars // CHARS_PER_TOKEN),
        }

    def finish(self) -> list[bytes]:
        """Frames for ``[DONE]`` or the end of the upstream body."""
        if self._done:
            return []
        frames = self._start()
        if self._finish is None:
            return frames + self._close_block() + self.error(EARLY_END_MESSAGE, "api_error")
        frames += self._end_tool_phase() + self._close_block()
        saw_tools = any(c.started for c in self._calls.values())
        stop = "refusal" if self._refusal else stop_reason_for(self._finish, has_tool_calls=saw_tools)
        frames.append(
            anthropic_frame(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": self._final_usage(),
                },
            )
        )
        frames.append(anthropic_frame("message_stop", {"type": "message_stop"}))
        self._done = True
        return frames

    def _upstream_error(self, error: object) -> list[bytes]:
        error_dict = as_dict(error)
        message = error_dict.get("message") if error_dict else error
        if not isinstance(message, str) or not message:
            message = "Upstream reported an error"
        etype = error_dict.get("type")
        return self.error(
            message,
            anthropic_type_for_openai(etype if isinstance(etype, str) else None, error_dict.get("code")),
        )

    def error(self, message: str, type: str = "api_error") -> list[bytes]:
        """A mid-stream failure as ``event: error`` (``type`` is an Anthropic error type)."""
        if self._done:
            return []
        self._done = True
        return [anthropic_frame("error", {"type": "error", "error": {"type": type, "message": message}})]
