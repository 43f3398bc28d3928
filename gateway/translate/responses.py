"""Non-streaming response translation in both directions (protocol.md §2).

Anthropic ``Message`` -> OpenAI ``chat.completion``:

* text blocks are joined into ``content`` (``null`` when there is none), ``tool_use`` blocks become
  ``tool_calls`` (left out when empty: some clients take an empty list for a tool turn);
* thinking goes to two extension fields: ``reasoning_content`` (the text, DeepSeek/vLLM/LiteLLM
  convention) and ``thinking_blocks`` (the signed blocks, LiteLLM's convention) that the client
  sends back on its next assistant message so that a tool loop with thinking keeps working;
* a ``tool_use`` of the ``json_tool_call`` emulation (see the request translator) becomes the
  message ``content`` (``json.dumps`` of its input, replacing any chatter around it) with
  ``finish_reason: "stop"``, never a tool call;
* ``created`` is the current time (Anthropic has no timestamp); ``id`` is ``chatcmpl-`` + the
  message id; usage per :mod:`gateway.translate.usage`.

OpenAI ``chat.completion`` -> Anthropic ``Message``:

* content order: thinking (from OpenRouter's signed ``reasoning_details`` when present, else an
  unsigned block from ``reasoning_content``/``reasoning``), text, then one ``tool_use`` per call,
  with ids sanitised, names restored through the :class:`ToolNameMap`, ``input`` parsed (``{}``
  for empty arguments, ``{"_raw": ...}`` for invalid JSON);
* a ``refusal`` becomes a text block and ``stop_reason: "refusal"``;
* an error in disguise raises :class:`~gateway.translate.errors.UpstreamError`: a top-level
  ``error`` object, ``finish_reason: "error"`` (OpenRouter), or no choices at all.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from gateway.translate.common import (
    JSON_TOOL_NAME,
    as_dict,
    as_int,
    as_list,
    dump_arguments,
    parse_arguments,
)
from gateway.translate.errors import UpstreamError, anthropic_type_for_openai
from gateway.translate.names import ToolNameMap, new_tool_id, sanitize_tool_id
from gateway.translate.usage import (
    anthropic_usage_from_openai,
    finish_reason_for,
    is_error_finish,
    openai_usage_from_anthropic,
    stop_reason_for,
)

Block = dict[str, Any]


# --- Anthropic -> OpenAI ----------------------------------------------------------------------


def _thinking_entry(block: Block) -> dict[str, Any] | None:
    if block.get("type") == "thinking":
        return {
            "type": "thinking",
            "thinking": block.get("thinking") or "",
            "signature": block.get("signature") or "",
        }
    if block.get("type") == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.get("data") or ""}
    return None


def _openai_tool_call(block: Block) -> dict[str, Any]:
    return {
        "id": block.get("id") or new_tool_id(),
        "type": "function",
        "function": {"name": block.get("name") or "", "arguments": dump_arguments(block.get("input"))},
    }


def anthropic_to_openai_response(msg: dict[str, Any], *, model: str) -> dict[str, Any]:
    """An Anthropic ``Message`` -> an OpenAI ``chat.completion`` reporting ``model``."""
    if not isinstance(msg, dict) or msg.get("type") == "error":
        error = as_dict(as_dict(msg).get("error"))
        raise UpstreamError(
            str(error.get("message") or "Upstream returned an error body"),
            error_type=str(error.get("type") or "api_error"),
        )
    texts: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    json_output: str | None = None
    for block in map(as_dict, as_list(msg.get("content"))):
        btype = block.get("type")
        if btype == "text":
            texts.append(str(block.get("text") or ""))
        elif btype in ("thinking", "redacted_thinking"):
            entry = _thinking_entry(block)
            if entry:
                thinking_blocks.append(entry)
            if btype == "thinking" and block.get("thinking"):
                reasoning.append(block["thinking"])
        elif btype == "tool_use" and block.get("name") == JSON_TOOL_NAME:
            json_output = json.dumps(block.get("input") or {}, ensure_ascii=False)
        elif btype == "tool_use":
            calls.append(_openai_tool_call(block))
        # server_tool_use, web_search_tool_result, ...: ran upstream, nothing to hand the client

    finish = finish_reason_for(msg.get("stop_reason"))
    if json_output is not None:
        content: str | None = json_output
        if not calls and finish == "tool_calls":
            finish = "stop"
    else:
        content = "".join(texts) or None
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if thinking_blocks:
        message["thinking_blocks"] = thinking_blocks
    if calls:
        message["tool_calls"] = calls
    return {
        "id": "chatcmpl-" + str(msg.get("id") or uuid.uuid4().hex),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": openai_usage_from_anthropic(msg.get("usage")),
    }


# --- OpenAI -> Anthropic ----------------------------------------------------------------------


def _raise_if_error(resp: object) -> dict[str, Any]:
    """The first choice of a completion, or raise UpstreamError (see module docstring)."""
    if not isinstance(resp, dict):
        raise UpstreamError("Upstream returned a body that is not a JSON object")
    error = resp.get("error")
    choices = as_list(resp.get("choices"))
    choice = as_dict(choices[0]) if choices else {}
    if error or not choices or is_error_finish(choice.get("finish_reason")):
        raise upstream_error_from(error)
    return choice


def upstream_error_from(error: object) -> UpstreamError:
    """An :class:`UpstreamError` from an OpenAI-style ``error`` object (or nothing usable)."""
    error_dict = as_dict(error)
    message = error_dict.get("message") if error_dict else error
    if not isinstance(message, str) or not message.strip():
        message = "Upstream reported an error without details"
    code = error_dict.get("code")
    etype = error_dict.get("type")
    status = as_int(code)
    if status is None or not 400 <= status <= 599:
        status = 502
    return UpstreamError(
        message,
        error_type=anthropic_type_for_openai(etype if isinstance(etype, str) else None, code),
        status=status,
    )


def _thinking_blocks(message: dict[str, Any]) -> list[Block]:
    """Signed blocks from OpenRouter ``reasoning_details``, else one unsigned thinking block."""
    blocks: list[Block] = []
    for detail in map(as_dict, as_list(message.get("reasoning_details"))):
        if detail.get("type") == "reasoning.text" and detail.get("text"):
            blocks.append(
                {
                    "type": "thinking",
                    "thinking": detail["text"],
                    "signature": str(detail.get("signature") or ""),
                }
            )
        elif detail.get("type") == "reasoning.encrypted" and detail.get("data"):
            blocks.append({"type": "redacted_thinking", "data": detail["data"]})
    if blocks:
        return blocks
    text = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(text, str) and text:
        return [{"type": "thinking", "thinking": text, "signature": ""}]
    return []


def _message_text(content: object) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(as_dict(p).get("text") or "") for p in as_list(content))


def anthropic_tool_use(call: dict[str, Any], tool_names: ToolNameMap | None) -> Block:
    """An OpenAI tool call (complete) -> an Anthropic ``tool_use`` block."""
    function = as_dict(call.get("function"))
    name = str(function.get("name") or "")
    return {
        "type": "tool_use",
        "id": sanitize_tool_id(call.get("id")) if call.get("id") else new_tool_id(),
        "name": tool_names.restore(name) if tool_names else name,
        "input": parse_arguments(function.get("arguments")),
    }


def openai_to_anthropic_response(
    resp: dict[str, Any], *, model: str, provider: str, tool_names: ToolNameMap | None = None
) -> dict[str, Any]:
    """An OpenAI-family ``chat.completion`` -> an Anthropic ``Message`` reporting ``model``.

    Raises :class:`UpstreamError` when the body is an error in disguise.
    """
    choice = _raise_if_error(resp)
    message = as_dict(choice.get("message"))
    content: list[Block] = _thinking_blocks(message)
    text = _message_text(message.get("content"))
    if text:
        content.append({"type": "text", "text": text})
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        content.append({"type": "text", "text": refusal})
    calls = [as_dict(c) for c in as_list(message.get("tool_calls"))]
    if isinstance(message.get("function_call"), dict):
        calls.append({"function": message["function_call"]})
    content += [anthropic_tool_use(c, tool_names) for c in calls]
    if isinstance(refusal, str) and refusal:
        stop_reason = "refusal"
    else:
        stop_reason = stop_reason_for(choice.get("finish_reason"), has_tool_calls=bool(calls))
    upstream_id = resp.get("id")
    return {
        "id": "msg_" + (upstream_id if isinstance(upstream_id, str) and upstream_id else uuid.uuid4().hex),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": anthropic_usage_from_openai(resp.get("usage"), provider=provider),
    }
