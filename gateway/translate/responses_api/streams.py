"""Streaming translation between the OpenAI Responses API and Chat Completions.

Both classes have the shape of :mod:`gateway.translate.streams`'s state machines (``feed``,
``finish``, ``error``; complete SSE frames as bytes; ``[]`` after the end), so the same relay
drives them. Neither holds the reply back: every upstream event is translated when it arrives.

Chat chunks -> Responses events (:class:`ChatToResponsesStream`)
    * Frames are ``event: <type>`` + ``data: <json>``; every payload has ``type`` and a
      ``sequence_number`` counting from 0 (Codex fails on a payload without ``type``).
    * ``response.created`` then ``response.in_progress`` first (the response echoes the request
      as in :func:`.replies.response_object`, ``status: "in_progress"``, no output yet).
    * Reasoning deltas (``reasoning_content``/``reasoning``) -> a ``reasoning`` item:
      ``output_item.added``, ``reasoning_summary_part.added``, ``reasoning_summary_text.delta``...;
      it is closed (``summary_text.done``, ``summary_part.done``, ``output_item.done``) when text
      or a tool call starts, or when a ``thinking_blocks`` entry (Claude's signed block, sent by
      the Messages leg when the block ends) arrives: the item then carries the minted
      ``encrypted_content`` (:mod:`.common`). A redacted block is an item of its own.
    * ``content`` -> an assistant ``message`` item: ``output_item.added``,
      ``content_part.added`` (``output_text``), ``output_text.delta`` (``logprobs: []``),
      then ``output_text.done``, ``content_part.done``, ``output_item.done``. ``refusal`` ->
      a ``refusal`` part with ``refusal.delta``/``refusal.done``.
    * Each Chat tool-call ``index`` -> its own ``function_call`` item, opened as soon as its name
      is known, its argument fragments -> ``function_call_arguments.delta`` on that item's
      ``output_index``, so calls whose fragments arrive interleaved stay separate. Calls are
      closed (``function_call_arguments.done``, ``output_item.done``) at the end. A call of a
      custom tool becomes a ``custom_tool_call`` item; its input is decoded from the
      ``{"input": "..."}`` arguments as they stream (:class:`InputDecoder`) and sent as
      ``custom_tool_call_input.delta`` events, ``.done`` carrying the whole input at the end.
    * The end (:meth:`finish`, after ``[DONE]``; the usage chunk comes after ``finish_reason``)
      closes every open item and sends ``response.completed`` (``response.incomplete`` with
      ``incomplete_details.reason`` ``max_output_tokens``/``content_filter`` for
      ``length``/``content_filter``; the item being written, e.g. a tool call cut short, is
      ``incomplete``) with the whole output and the usage.
    * An ``error`` chunk, ``finish_reason: "error"``, :meth:`error`, or an end without a
      ``finish_reason`` -> ``response.failed`` with ``error: {code, message}`` and the output so
      far; never ``response.completed`` after an error.

Responses events -> Chat chunks (:class:`ResponsesToChatStream`)
    * ``data: {chat.completion.chunk}`` frames and ``data: [DONE]``, as
      :class:`~gateway.translate.streams.AnthropicToOpenAIStream` sends them: ``role`` once in the
      first chunk, ``"usage": null`` on content chunks and a final ``choices: []`` usage chunk
      only when the client asked for ``include_usage``.
    * ``output_text.delta`` -> ``content`` (a blank line before a second message's text);
      ``refusal.delta`` -> ``refusal``;
      ``reasoning_summary_text.delta`` / ``reasoning_text.delta`` -> ``reasoning_content`` (a
      blank line between summary parts); a reasoning item with ``encrypted_content`` ->
      ``thinking_blocks: [{"index", "type": "thinking", "thinking", "signature":
      "ekai.openai.<id>.<encrypted_content>"}]`` when it is done.
    * A ``function_call`` item -> a tool call numbered by its own counter (``id`` = ``call_id``,
      name and type in the first fragment only), ``function_call_arguments.delta`` -> argument
      fragments; arguments that only arrive in ``.done``/``output_item.done`` are sent then
      (blank: ``{}``).
    * ``response.completed`` / ``response.incomplete`` -> the ``finish_reason`` chunk (``stop``,
      ``tool_calls``, ``length``, ``content_filter``), the usage chunk, ``[DONE]``.
      ``response.failed`` or an ``error`` event -> an OpenAI error frame then ``[DONE]``; an end
      without any of them -> an error too.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from gateway.translate.common import as_dict, as_int, as_list
from gateway.translate.errors import anthropic_type_for_openai, openai_type_for_anthropic
from gateway.translate.responses_api.common import (
    INCOMPLETE_BY_FINISH,
    ResponsesTools,
    chat_usage_from_responses,
    finish_reason_from,
    mint_reasoning,
    new_id,
    openai_thinking_entry,
    response_error_code,
    responses_usage_from_chat,
)
from gateway.translate.responses_api.replies import call_item, response_object
from gateway.translate.streams import DONE, EARLY_END_MESSAGE, openai_frame
from gateway.translate.usage import is_error_finish

Item = dict[str, Any]


def _dumps(payload: object) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


# --- Chat upstream -> Responses client --------------------------------------------------------


@dataclass
class _Reasoning:
    index: int
    id: str
    text: list[str] = field(default_factory=list)


@dataclass
class _Message:
    index: int
    id: str
    parts: list[dict[str, Any]] = field(default_factory=list)  # finished parts
    kind: str | None = None  # "output_text" | "refusal": the open part
    text: list[str] = field(default_factory=list)


_INPUT_PREFIX = re.compile(r'\s*\{\s*"input"\s*:\s*"')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class InputDecoder:
    """Decodes the ``input`` string of ``{"input": "..."}`` arguments as their fragments arrive.

    A custom tool is called as a function whose arguments are that JSON object; the decoder lets
    its freeform input stream live as ``custom_tool_call_input.delta`` events. Arguments of any
    other shape (another key first, not an object) stop it (:attr:`failed`); the caller then
    relies on the complete arguments at the end.
    """

    def __init__(self) -> None:
        self._head = ""  # text before the string value, until the prefix is recognised
        self._escape = ""  # an escape sequence cut by a fragment boundary
        self._started = False
        self.failed = False
        self.closed = False

    def feed(self, fragment: str) -> str:
        """The decoded input text carried by ``fragment`` (possibly empty)."""
        if self.failed or self.closed:
            return ""
        if not self._started:
            self._head += fragment
            match = _INPUT_PREFIX.match(self._head)
            if match is None:
                self.failed = not _could_start(self._head)
                return ""
            self._started = True
            fragment, self._head = self._head[match.end() :], ""
        out: list[str] = []
        text = self._escape + fragment
        self._escape = ""
        i = 0
        while i < len(text):
            char = text[i]
            if char == '"':
                self.closed = True
                break
            if char != "\\":
                j = i
                while j < len(text) and text[j] not in '"\\':
                    j += 1
                out.append(text[i:j])
                i = j
                continue
            if i + 1 >= len(text):
                self._escape = text[i:]
                break
            code = text[i + 1]
            if code == "u":
                if i + 6 > len(text):
                    self._escape = text[i:]
                    break
                value = int(text[i + 2 : i + 6], 16) if _is_hex(text[i + 2 : i + 6]) else 0xFFFD
                if 0xD800 <= value < 0xDC00:  # a surrogate pair needs the next escape too
                    if i + 12 > len(text):
                        self._escape = text[i:]
                        break
                    low = text[i + 8 : i + 12]
                    if text[i + 6 : i + 8] == "\\u" and _is_hex(low):
                        pair = 0x10000 + ((value - 0xD800) << 10) + (int(low, 16) - 0xDC00)
                        out.append(chr(pair))
                        i += 12
                        continue
                out.append("\ufffd" if 0xD800 <= value < 0xE000 else chr(value))  # lone surrogate
                i += 6
                continue
            out.append(_ESCAPES.get(code, code))
            i += 2
        return "".join(out)


def _is_hex(text: str) -> bool:
    return len(text) == 4 and all(c in "0123456789abcdefABCDEF" for c in text)


def _could_start(head: str) -> bool:
    """True while ``head`` may still grow into ``{"input": "`` (any JSON whitespace)."""
    compact = "".join(head.split())
    return '{"input":"'.startswith(compact)


@dataclass
class _Call:
    id: str | None = None
    name: str | None = None
    args: list[str] = field(default_factory=list)
    index: int | None = None  # output_index once opened
    item_id: str = ""
    custom: bool = False
    sent: bool = False  # a non-blank fragment was sent
    decoder: InputDecoder = field(default_factory=InputDecoder)
    streamed: list[str] = field(default_factory=list)  # custom input sent so far


class ChatToResponsesStream:
    """Chat Completions chunks in, Responses SSE events out (module docstring).

    ``request`` is the client's own Responses request body (echoed in the response objects, its
    tools map Chat function names back); ``model`` is the name reported to the client. Feed it
    parsed Chat chunks (the ``[DONE]`` marker is not a chunk: call :meth:`finish` instead).
    """

    def __init__(self, model: str, request: dict[str, Any]) -> None:
        self._model = model
        self._request = as_dict(request)
        self._tools = ResponsesTools.from_request(self._request)
        self._id = new_id("resp_")
        self._created = int(time.time())
        self._seq = 0
        self._started = False
        self._done = False
        self._output: dict[int, Item] = {}  # finished items by output_index
        self._next_index = 0
        self._reasoning: _Reasoning | None = None
        self._message: _Message | None = None
        self._calls: dict[int, _Call] = {}
        self._last_call: int | None = None
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None

    # frames

    def _event(self, etype: str, **fields: Any) -> bytes:
        payload = {"type": etype, "sequence_number": self._seq, **fields}
        self._seq += 1
        return f"event: {etype}\ndata: {_dumps(payload)}\n\n".encode("utf-8", "replace")  # lone surrogates

    def _response(self, status: str, *, reason: str | None = None, error: Item | None = None) -> Item:
        final = status != "in_progress"
        return response_object(
            self._request,
            model=self._model,
            response_id=self._id,
            created_at=self._created,
            status=status,
            output=[self._output[i] for i in sorted(self._output)] if final else [],
            usage=responses_usage_from_chat(self._usage) if final and self._usage is not None else None,
            incomplete_reason=reason,
            error=error,
        )

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        response = self._response("in_progress")
        return [
            self._event("response.created", response=response),
            self._event("response.in_progress", response=response),
        ]

    def _new_index(self) -> int:
        index = self._next_index
        self._next_index += 1
        return index

    # reasoning

    def _open_reasoning(self) -> list[bytes]:
        frames = self._close_message()
        item = _Reasoning(self._new_index(), new_id("rs_"))
        self._reasoning = item
        frames.append(
            self._event(
                "response.output_item.added",
                output_index=item.index,
                item={"id": item.id, "type": "reasoning", "summary": []},
            )
        )
        frames.append(
            self._event(
                "response.reasoning_summary_part.added",
                item_id=item.id,
                output_index=item.index,
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            )
        )
        return frames

    def _reasoning_delta(self, text: str) -> list[bytes]:
        frames = [] if self._reasoning is not None else self._open_reasoning()
        item = self._reasoning
        assert item is not None
        item.text.append(text)
        frames.append(
            self._event(
                "response.reasoning_summary_text.delta",
                item_id=item.id,
                output_index=item.index,
                summary_index=0,
                delta=text,
            )
        )
        return frames

    def _close_reasoning(self, block: dict[str, Any] | None = None) -> list[bytes]:
        item = self._reasoning
        if item is None:
            return []
        self._reasoning = None
        text = "".join(item.text)
        if block is not None and isinstance(block.get("thinking"), str):
            text = block["thinking"]
        part = {"type": "summary_text", "text": text}
        frames = [
            self._event(
                "response.reasoning_summary_text.done",
                item_id=item.id,
                output_index=item.index,
                summary_index=0,
                text=text,
            ),
            self._event(
                "response.reasoning_summary_part.done",
                item_id=item.id,
                output_index=item.index,
                summary_index=0,
                part=part,
            ),
        ]
        final = mint_reasoning(block, item.id) if block is not None else None
        if final is None:
            final = {"id": item.id, "type": "reasoning", "summary": [part] if text else []}
        self._output[item.index] = final
        frames.append(self._event("response.output_item.done", output_index=item.index, item=final))
        return frames

    def _thinking_entry(self, block: dict[str, Any]) -> list[bytes]:
        if block.get("type") == "thinking":
            frames: list[bytes] = []
            if self._reasoning is None:
                frames += self._open_reasoning()
                if block.get("thinking"):
                    frames += self._reasoning_delta(str(block["thinking"]))
            return frames + self._close_reasoning(block)
        final = mint_reasoning(block)
        if final is None:
            return []
        frames = self._close_reasoning() + self._close_message()
        index = self._new_index()
        self._output[index] = final
        return [
            *frames,
            self._event(
                "response.output_item.added",
                output_index=index,
                item={"id": final["id"], "type": "reasoning", "summary": []},
            ),
            self._event("response.output_item.done", output_index=index, item=final),
        ]

    # message

    def _message_delta(self, kind: str, text: str) -> list[bytes]:
        frames = self._close_reasoning()
        if self._message is None:
            self._message = _Message(self._new_index(), new_id("msg_"))
            frames.append(
                self._event(
                    "response.output_item.added",
                    output_index=self._message.index,
                    item={
                        "id": self._message.id,
                        "type": "message",
                        "role": "assistant",
                        "status": "in_progress",
                        "content": [],
                    },
                )
            )
        msg = self._message
        if msg.kind != kind:
            frames += self._close_part()
            msg.kind = kind
            part = (
                {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                if kind == "output_text"
                else {"type": "refusal", "refusal": ""}
            )
            frames.append(
                self._event(
                    "response.content_part.added",
                    item_id=msg.id,
                    output_index=msg.index,
                    content_index=len(msg.parts),
                    part=part,
                )
            )
        msg.text.append(text)
        where = {"item_id": msg.id, "output_index": msg.index, "content_index": len(msg.parts)}
        if kind == "output_text":
            frames.append(self._event("response.output_text.delta", **where, delta=text, logprobs=[]))
        else:
            frames.append(self._event("response.refusal.delta", **where, delta=text))
        return frames

    def _close_part(self) -> list[bytes]:
        msg = self._message
        if msg is None or msg.kind is None:
            return []
        text = "".join(msg.text)
        where = {"item_id": msg.id, "output_index": msg.index, "content_index": len(msg.parts)}
        if msg.kind == "output_text":
            part: dict[str, Any] = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            frames = [self._event("response.output_text.done", **where, text=text, logprobs=[])]
        else:
            part = {"type": "refusal", "refusal": text}
            frames = [self._event("response.refusal.done", **where, refusal=text)]
        frames.append(self._event("response.content_part.done", **where, part=part))
        msg.parts.append(part)
        msg.kind, msg.text = None, []
        return frames

    def _close_message(self, status: str = "completed") -> list[bytes]:
        msg = self._message
        if msg is None:
            return []
        frames = self._close_part()
        self._message = None
        item = {"id": msg.id, "type": "message", "role": "assistant", "status": status, "content": msg.parts}
        self._output[msg.index] = item
        frames.append(self._event("response.output_item.done", output_index=msg.index, item=item))
        return frames

    # tool calls

    def _call_for(self, fragment: dict[str, Any]) -> _Call:
        index = fragment.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            known = {c.id for c in self._calls.values()}
            if (fragment.get("id") and fragment["id"] not in known) or self._last_call is None:
                index = max(self._calls, default=-1) + 1
            else:
                index = self._last_call
        self._last_call = index
        return self._calls.setdefault(index, _Call())

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
        if arguments:
            call.args.append(arguments)
        frames: list[bytes] = []
        if call.index is None and call.name:
            frames += self._open_call(call)
            arguments = "".join(call.args)
        if call.index is not None and call.custom:
            text = call.decoder.feed(arguments)
            if text:
                call.streamed.append(text)
                frames.append(
                    self._event(
                        "response.custom_tool_call_input.delta",
                        item_id=call.item_id,
                        output_index=call.index,
                        delta=text,
                    )
                )
        elif call.index is not None:
            if not call.sent:
                arguments = arguments.lstrip()
            if arguments:
                call.sent = True
                frames.append(
                    self._event(
                        "response.function_call_arguments.delta",
                        item_id=call.item_id,
                        output_index=call.index,
                        delta=arguments,
                    )
                )
        return frames

    def _open_call(self, call: _Call) -> list[bytes]:
        frames = self._close_reasoning() + self._close_message()
        call.index = self._new_index()
        call.id = call.id or new_id("call_")
        item = call_item(self._tools, call.id, call.name or "", "", "in_progress")
        call.custom = item["type"] == "custom_tool_call"
        call.item_id = item["id"]
        if call.custom:
            item["input"] = ""
        else:
            item["arguments"] = ""
        frames.append(self._event("response.output_item.added", output_index=call.index, item=item))
        return frames

    def _close_calls(self, incomplete: bool) -> list[bytes]:
        frames: list[bytes] = []
        opened = sorted((c for c in self._calls.values() if c.name), key=lambda c: c.index or 0)
        for call in opened:
            if call.index is None:
                frames += self._open_call(call)
        last = max((c.index for c in opened if c.index is not None), default=None)
        for call in opened:
            assert call.index is not None and call.id is not None
            status = (
                "incomplete"
                if incomplete and call.index == last and last == self._next_index - 1
                else "completed"
            )
            item = call_item(self._tools, call.id, call.name or "", "".join(call.args), status)
            item["id"] = call.item_id
            if call.custom:
                value = item["input"]
                streamed = "".join(call.streamed)
                rest = value[len(streamed) :] if value.startswith(streamed) else ""
                if rest:  # arguments of another shape, or a cut: the rest of the input at once
                    frames.append(
                        self._event(
                            "response.custom_tool_call_input.delta",
                            item_id=call.item_id,
                            output_index=call.index,
                            delta=rest,
                        )
                    )
                frames.append(
                    self._event(
                        "response.custom_tool_call_input.done",
                        item_id=call.item_id,
                        output_index=call.index,
                        input=value,
                    )
                )
            else:
                frames.append(
                    self._event(
                        "response.function_call_arguments.done",
                        item_id=call.item_id,
                        output_index=call.index,
                        name=item["name"],
                        arguments=item["arguments"],
                    )
                )
            self._output[call.index] = item
            frames.append(self._event("response.output_item.done", output_index=call.index, item=item))
        self._calls = {}
        return frames

    # chunks

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        """Frames for one parsed upstream chunk."""
        if self._done:
            return []
        data = as_dict(chunk)
        frames = self._start()
        if data.get("error"):
            error = as_dict(data.get("error"))
            message = error.get("message") if isinstance(error.get("message"), str) else "Upstream error"
            etype = error.get("type")
            kind = anthropic_type_for_openai(etype if isinstance(etype, str) else None, error.get("code"))
            return frames + self.error(str(message), kind)
        if isinstance(data.get("usage"), dict):
            self._usage = data["usage"]
        for choice in map(as_dict, as_list(data.get("choices"))):
            if choice.get("index", 0) != 0:
                continue
            frames += self._delta(as_dict(choice.get("delta")))
            finish = choice.get("finish_reason")
            if is_error_finish(finish):
                return frames + self.error('Upstream reported finish_reason "error"', "api_error")
            if isinstance(finish, str) and finish:
                self._finish = finish
        return frames

    def _delta(self, delta: dict[str, Any]) -> list[bytes]:
        frames: list[bytes] = []
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            frames += self._reasoning_delta(reasoning)
        for block in map(as_dict, as_list(delta.get("thinking_blocks"))):
            frames += self._thinking_entry(block)
        content = delta.get("content")
        if isinstance(content, str) and content:
            frames += self._message_delta("output_text", content)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            frames += self._message_delta("refusal", refusal)
        calls = as_list(delta.get("tool_calls"))
        if not calls and isinstance(delta.get("function_call"), dict):
            calls = [{"index": 0, "function": delta["function_call"]}]
        for fragment in calls:
            frames += self._tool_fragment(as_dict(fragment))
        return frames

    def _close_all(self, incomplete: bool) -> list[bytes]:
        last_is_message = self._message is not None and self._message.index == self._next_index - 1
        frames = self._close_reasoning()
        frames += self._close_message("incomplete" if incomplete and last_is_message else "completed")
        return frames + self._close_calls(incomplete)

    def finish(self) -> list[bytes]:
        """Frames for ``[DONE]`` or the end of the upstream body (module docstring)."""
        if self._done:
            return []
        if self._finish is None:
            return self.error(EARLY_END_MESSAGE, "api_error")
        frames = self._start()
        reason = INCOMPLETE_BY_FINISH.get(self._finish)
        frames += self._close_all(reason is not None)
        self._done = True
        if reason is not None:
            return [
                *frames,
                self._event("response.incomplete", response=self._response("incomplete", reason=reason)),
            ]
        return [*frames, self._event("response.completed", response=self._response("completed"))]

    def error(self, message: str, kind: str = "api_error") -> list[bytes]:
        """A mid-stream failure -> ``response.failed`` (``kind``: an Anthropic error type)."""
        if self._done:
            return []
        frames = self._start()
        self._done = True
        otype, _ = openai_type_for_anthropic(kind)
        error = {"code": response_error_code(kind), "message": message, "type": otype}
        return [*frames, self._event("response.failed", response=self._response("failed", error=error))]


# --- Responses upstream -> Chat client --------------------------------------------------------


class ResponsesToChatStream:
    """Responses SSE events in, Chat Completions chunks out (module docstring)."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self._model = model
        self._include_usage = include_usage
        self._id = "chatcmpl-" + new_id("")
        self._created = int(time.time())
        self._started = False
        self._done = False
        self._calls: dict[int, int] = {}  # output_index -> Chat tool-call index
        self._sent_args: set[int] = set()  # output indices whose arguments were sent
        self._summary: tuple[int, int] | None = None  # (output_index, summary_index) last seen
        self._reasoning_kind: dict[int, str] = {}  # output_index -> the first reasoning event type
        self._text_item: int | None = None  # output_index of the message whose text is streaming
        self._next_thinking = 0

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

    def _start(self, response: object = None) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        upstream = as_dict(response)
        if isinstance(upstream.get("id"), str) and upstream["id"]:
            self._id = "chatcmpl-" + upstream["id"]
        created = as_int(upstream.get("created_at"))
        if created:
            self._created = created
        return [self._chunk({"role": "assistant", "content": ""})]

    def feed(self, event: str | None, data: dict[str, Any]) -> list[bytes]:
        """Frames for one upstream event (``event`` None: ``data["type"]`` is used)."""
        if self._done:
            return []
        data = as_dict(data)
        kind = event or data.get("type")
        if kind == "error":
            message = data.get("message") or as_dict(data.get("error")).get("message") or "Upstream error"
            code = data.get("code") or as_dict(data.get("error")).get("code")
            return self._start() + self.error(str(message), anthropic_type_for_openai(None, code))
        frames = self._start(data.get("response"))
        if kind == "response.output_text.delta":
            text = data.get("delta")
            if isinstance(text, str) and text:
                index = as_int(data.get("output_index"))
                if self._text_item is not None and index != self._text_item:
                    text = "\n\n" + text  # a second message item, joined as in the reply translator
                self._text_item = index
                frames.append(self._chunk({"content": text}))
        elif kind == "response.refusal.delta":
            text = data.get("delta")
            if isinstance(text, str) and text:
                frames.append(self._chunk({"refusal": text}))
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            frames += self._reasoning(str(kind), data)
        elif kind == "response.output_item.added":
            frames += self._item_added(data)
        elif kind == "response.function_call_arguments.delta":
            frames += self._arguments(as_int(data.get("output_index")), data.get("delta"))
        elif kind in ("response.function_call_arguments.done", "response.output_item.done"):
            frames += self._item_done(kind, data)
        elif kind in ("response.completed", "response.incomplete"):
            frames += self._end(as_dict(data.get("response")))
        elif kind == "response.failed":
            error = as_dict(as_dict(data.get("response")).get("error"))
            code = error.get("code")
            frames += self.error(
                str(error.get("message") or "Upstream response failed"), anthropic_type_for_openai(None, code)
            )
        return frames  # other events (in_progress, content_part.*, *.done...) carry nothing new

    def _reasoning(self, kind: str, data: dict[str, Any]) -> list[bytes]:
        text = data.get("delta")
        if not isinstance(text, str) or not text:
            return []
        index = as_int(data.get("output_index")) or 0
        if self._reasoning_kind.setdefault(index, kind) != kind:
            return []  # an item with both summaries and raw reasoning text: the first kind wins
        key = (index, as_int(data.get("summary_index")) or 0)
        if self._summary is not None and self._summary != key:
            text = "\n\n" + text
        self._summary = key
        return [self._chunk({"reasoning_content": text})]

    def _item_added(self, data: dict[str, Any]) -> list[bytes]:
        item = as_dict(data.get("item"))
        index = as_int(data.get("output_index"))
        if item.get("type") not in ("function_call", "custom_tool_call") or index is None:
            return []
        k = len(self._calls)
        self._calls[index] = k
        arguments = item.get("arguments") if item.get("type") == "function_call" else None
        call = {
            "index": k,
            "id": str(item.get("call_id") or new_id("call_")),
            "type": "function",
            "function": {"name": str(item.get("name") or ""), "arguments": ""},
        }
        frames = [self._chunk({"tool_calls": [call]})]
        return frames + self._arguments(index, arguments)

    def _arguments(self, index: int | None, delta: object) -> list[bytes]:
        if index is None or index not in self._calls or not isinstance(delta, str) or not delta:
            return []
        self._sent_args.add(index)
        return [
            self._chunk({"tool_calls": [{"index": self._calls[index], "function": {"arguments": delta}}]})
        ]

    def _item_done(self, kind: str, data: dict[str, Any]) -> list[bytes]:
        index = as_int(data.get("output_index"))
        item = as_dict(data.get("item"))
        if kind == "response.output_item.done" and item.get("type") == "reasoning":
            entry = openai_thinking_entry(item)
            if entry is None:
                return []
            entry = {"index": self._next_thinking, **entry}
            self._next_thinking += 1
            return [self._chunk({"thinking_blocks": [entry]})]
        if index is None or index not in self._calls or index in self._sent_args:
            return []
        if kind == "response.function_call_arguments.done":
            arguments = data.get("arguments")
        elif item.get("type") == "custom_tool_call":
            arguments = json.dumps({"input": str(item.get("input") or "")}, ensure_ascii=False)
        else:
            arguments = item.get("arguments")
        if not isinstance(arguments, str) or not arguments.strip():
            arguments = "{}"
        return self._arguments(index, arguments)

    def _end(self, response: dict[str, Any]) -> list[bytes]:
        frames: list[bytes] = []
        for index, item in enumerate(map(as_dict, as_list(response.get("output")))):
            if item.get("type") in ("function_call", "custom_tool_call") and index not in self._calls:
                # a call the stream never announced (a server that only sends the final object)
                frames += self._item_added({"item": item, "output_index": index})
                frames += self._item_done("response.output_item.done", {"item": item, "output_index": index})
        finish = finish_reason_from(
            response.get("status"), response.get("incomplete_details"), bool(self._calls)
        )
        frames.append(self._chunk({}, finish))
        if self._include_usage:
            frames.append(
                openai_frame(
                    {
                        "id": self._id,
                        "object": "chat.completion.chunk",
                        "created": self._created,
                        "model": self._model,
                        "choices": [],
                        "usage": chat_usage_from_responses(response.get("usage")),
                    }
                )
            )
        frames.append(DONE)
        self._done = True
        return frames

    def finish(self) -> list[bytes]:
        """Frames for the end of the upstream body: an error if the response never ended."""
        if self._done:
            return []
        return self._start() + self.error(EARLY_END_MESSAGE, "api_error")

    def error(self, message: str, kind: str = "api_error") -> list[bytes]:
        """A mid-stream failure: the OpenAI error object, then ``[DONE]`` (``kind``: Anthropic type)."""
        if self._done:
            return []
        self._done = True
        otype, code = openai_type_for_anthropic(kind)
        body = {"error": {"message": message, "type": otype, "param": None, "code": code}}
        return [openai_frame(body), DONE]


__all__ = ["ChatToResponsesStream", "ResponsesToChatStream"]
