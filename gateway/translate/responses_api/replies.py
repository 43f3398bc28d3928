"""Non-streaming reply translation between the OpenAI Responses API and Chat Completions.

``chat.completion`` -> Responses ``response`` (:func:`chat_to_responses_response`):

* ``id`` ``resp_`` + 32 hex digits, ``object: "response"``, ``created_at`` from the completion,
  ``model`` as reported by the gateway; the request's settings are echoed as the SDK expects them
  (``instructions``, ``tools``, ``tool_choice``, ``parallel_tool_calls``, ``temperature``,
  ``top_p``, ``max_output_tokens``, ``text``, ``reasoning``, ``metadata``, ``truncation``,
  ``user``...), with OpenAI's defaults where the client set nothing; ``store`` is ``false``
  (nothing is kept).
* ``output`` in this order: reasoning items (one per ``thinking_blocks`` entry, minted as in
  :mod:`.common`; without thinking blocks, ``reasoning_content``/``reasoning`` text becomes one
  reasoning item with a summary and no ``encrypted_content``), then one assistant ``message``
  (``output_text`` with ``annotations: []``, and/or a ``refusal`` part) when there is text or a
  refusal, then one ``function_call`` per tool call (``call_id`` = the Chat id, blank arguments
  ``{}``; ``namespace`` set again for flattened namespace tools) or ``custom_tool_call`` for a
  custom tool (``input`` = the ``input`` argument, or the raw arguments if they are not
  ``{"input": "..."}``).
* ``finish_reason`` ``length`` -> ``status: "incomplete"``, ``incomplete_details.reason:
  "max_output_tokens"`` (the last item, cut short, is ``incomplete`` too); ``content_filter`` ->
  ``incomplete`` / ``content_filter``; anything else ``completed``.
* ``usage``: ``input_tokens`` = ``prompt_tokens`` (cached included), ``cached_tokens``,
  ``cache_write_tokens``, ``output_tokens`` = ``completion_tokens`` (reasoning included),
  ``reasoning_tokens``, ``total_tokens`` = input + output.
* An error in disguise (a top-level ``error``, ``finish_reason: "error"``, no choices) raises
  :class:`~gateway.translate.errors.UpstreamError`.

Responses ``response`` -> ``chat.completion`` (:func:`responses_to_chat_response`):

* ``message`` items -> ``content`` (``output_text`` parts joined; separate messages joined by a
  blank line; ``null`` when there is none), ``refusal`` parts -> ``refusal``; ``function_call``
  -> ``tool_calls`` (id = ``call_id``); ``custom_tool_call`` -> a tool call with arguments
  ``{"input": ...}``; reasoning summaries (else reasoning text) -> ``reasoning_content``, and a
  reasoning item with ``encrypted_content`` -> a ``thinking_blocks`` entry (signature
  ``ekai.openai.<id>.<encrypted_content>``) so that the client can send it back.
* ``finish_reason``: ``incomplete`` -> ``length`` (``content_filter`` when that was the reason),
  tool calls -> ``tool_calls``, else ``stop``. ``usage`` under Chat's names, same counts.
* ``status: "failed"`` or an ``error`` object raises :class:`UpstreamError`.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from gateway.translate.common import as_dict, as_int, as_list, as_number, parse_arguments
from gateway.translate.errors import UpstreamError
from gateway.translate.responses import upstream_error_from
from gateway.translate.responses_api.common import (
    INCOMPLETE_BY_FINISH,
    ResponsesTools,
    chat_usage_from_responses,
    finish_reason_from,
    mint_reasoning,
    new_id,
    openai_thinking_entry,
    reasoning_text,
    responses_usage_from_chat,
)
from gateway.translate.usage import is_error_finish

Item = dict[str, Any]
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


# --- Chat -> Responses ------------------------------------------------------------------------


def response_object(
    request: dict[str, Any],
    *,
    model: str,
    response_id: str,
    created_at: int,
    status: str,
    output: list[Item],
    usage: dict[str, Any] | None,
    incomplete_reason: str | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Responses ``response`` object echoing ``request``'s settings (module docstring)."""
    req = as_dict(request)
    reasoning = as_dict(req.get("reasoning"))
    text = as_dict(req.get("text"))
    instructions = req.get("instructions")
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "instructions": instructions if isinstance(instructions, str) else None,
        "max_output_tokens": as_int(req.get("max_output_tokens")),
        "model": model,
        "output": output,
        "parallel_tool_calls": req.get("parallel_tool_calls") is not False,
        "previous_response_id": None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": False,
        "temperature": as_number(req.get("temperature")) if req.get("temperature") is not None else 1.0,
        "text": {
            "format": as_dict(text.get("format")) or {"type": "text"},
            "verbosity": text.get("verbosity") or "medium",
        },
        "tool_choice": req.get("tool_choice") if req.get("tool_choice") is not None else "auto",
        "tools": as_list(req.get("tools")),
        "top_p": as_number(req.get("top_p")) if req.get("top_p") is not None else 1.0,
        "truncation": req.get("truncation") if req.get("truncation") in ("auto", "disabled") else "disabled",
        "usage": usage,
        "user": req.get("user") if isinstance(req.get("user"), str) else None,
        "metadata": as_dict(req.get("metadata")),
    }
    response["background"] = False
    response["max_tool_calls"] = as_int(req.get("max_tool_calls"))
    response["top_logprobs"] = 0
    tier = req.get("service_tier")
    response["service_tier"] = tier if tier in ("auto", "default", "flex", "scale", "priority") else "default"
    for key in ("safety_identifier", "prompt_cache_key"):
        if isinstance(req.get(key), str):
            response[key] = req[key]
    if status == "completed":
        response["completed_at"] = int(time.time())
    return response


def custom_input(arguments: object) -> str:
    """The freeform input of a custom tool called as a function (``{"input": "..."}``)."""
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            return arguments
    else:
        parsed = parse_arguments(arguments)
    if isinstance(parsed, dict) and isinstance(parsed.get("input"), str):
        # json.loads lets lone surrogates (\ud800) through; no JSON encoder can write them back
        return _LONE_SURROGATE.sub("\ufffd", str(parsed["input"]))
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def call_item(tools: ResponsesTools, call_id: str, name: str, arguments: str, status: str) -> Item:
    """A Chat tool call -> a ``function_call`` or ``custom_tool_call`` output item."""
    ref = tools.ref(name)
    if ref.custom:
        item: Item = {
            "id": new_id("ctc_"),
            "type": "custom_tool_call",
            "status": status,
            "call_id": call_id,
            "name": ref.name,
            "input": custom_input(arguments),
        }
    else:
        item = {
            "id": new_id("fc_"),
            "type": "function_call",
            "status": status,
            "call_id": call_id,
            "name": ref.name,
            "arguments": arguments if arguments.strip() else "{}",
        }
    if ref.namespace is not None:
        item["namespace"] = ref.namespace
    return item


def message_item(text: str | None, refusal: str | None, status: str, item_id: str | None = None) -> Item:
    """An assistant ``message`` output item with its text and/or refusal part."""
    content: list[dict[str, Any]] = []
    if text:
        content.append({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
    if refusal:
        content.append({"type": "refusal", "refusal": refusal})
    return {
        "id": item_id or new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content,
    }


def _reasoning_items(message: dict[str, Any]) -> list[Item]:
    items = [mint_reasoning(as_dict(b)) for b in as_list(message.get("thinking_blocks"))]
    minted = [item for item in items if item is not None]
    if minted:
        return minted
    text = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(text, str) and text:
        return [
            {"id": new_id("rs_"), "type": "reasoning", "summary": [{"type": "summary_text", "text": text}]}
        ]
    return []


def _message_text(content: object) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(as_dict(p).get("text") or "") for p in as_list(content))


def _first_choice(data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UpstreamError("Upstream returned a body that is not a JSON object")
    choices = as_list(data.get("choices"))
    choice = as_dict(choices[0]) if choices else {}
    if data.get("error") or not choices or is_error_finish(choice.get("finish_reason")):
        raise upstream_error_from(data.get("error"))
    return choice


def chat_to_responses_response(
    data: dict[str, Any], *, model: str, request: dict[str, Any]
) -> dict[str, Any]:
    """A ``chat.completion`` -> a Responses ``response`` object (raises :class:`UpstreamError`).

    ``model`` is the name reported to the client; ``request`` is the client's own Responses
    request body: its settings are echoed and its tools map Chat function names back to
    custom and namespaced tools.
    """
    choice = _first_choice(data)
    message = as_dict(choice.get("message"))
    tools = ResponsesTools.from_request(as_dict(request))
    incomplete = INCOMPLETE_BY_FINISH.get(str(choice.get("finish_reason")))
    output: list[Item] = _reasoning_items(message)
    text = _message_text(message.get("content"))
    refusal = message.get("refusal") if isinstance(message.get("refusal"), str) else None
    if text or refusal:
        output.append(message_item(text, refusal, "completed"))
    calls = [as_dict(c) for c in as_list(message.get("tool_calls"))]
    if isinstance(message.get("function_call"), dict):
        calls.append({"function": message["function_call"]})
    for call in calls:
        function = as_dict(call.get("function"))
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = "" if arguments is None else json.dumps(arguments)
        call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else new_id("call_")
        output.append(call_item(tools, str(call_id), str(function.get("name") or ""), arguments, "completed"))
    if incomplete and output and output[-1]["type"] in ("message", "function_call"):
        output[-1]["status"] = "incomplete"
    created = as_int(data.get("created")) or int(time.time())
    return response_object(
        request,
        model=model,
        response_id=new_id("resp_"),
        created_at=created,
        status="incomplete" if incomplete else "completed",
        output=output,
        usage=responses_usage_from_chat(data.get("usage")),
        incomplete_reason=incomplete,
    )


# --- Responses -> Chat ------------------------------------------------------------------------


def raise_if_failed(data: object) -> dict[str, Any]:
    """``data`` as a response object, or raise :class:`UpstreamError` for a failed one."""
    if not isinstance(data, dict):
        raise UpstreamError("Upstream returned a body that is not a JSON object")
    if data.get("error") or data.get("status") == "failed" or data.get("type") == "error":
        raise upstream_error_from(data.get("error") or data)
    return data


def responses_to_chat_response(data: dict[str, Any], *, model: str) -> dict[str, Any]:
    """A Responses ``response`` object -> a ``chat.completion`` (raises :class:`UpstreamError`)."""
    data = raise_if_failed(data)
    texts: list[str] = []
    refusals: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for item in map(as_dict, as_list(data.get("output"))):
        itype = item.get("type")
        if itype == "message":
            parts = [as_dict(p) for p in as_list(item.get("content"))]
            text = "".join(str(p.get("text") or "") for p in parts if p.get("type") == "output_text")
            if text:
                texts.append(text)
            refusals += [str(p.get("refusal") or "") for p in parts if p.get("type") == "refusal"]
        elif itype == "reasoning":
            text = reasoning_text(item)
            if text:
                reasoning.append(text)
            entry = openai_thinking_entry(item)
            if entry is not None:
                thinking_blocks.append(entry)
        elif itype in ("function_call", "custom_tool_call"):
            if itype == "function_call":
                arguments = item.get("arguments")
                arguments = arguments if isinstance(arguments, str) and arguments.strip() else "{}"
            else:
                arguments = json.dumps({"input": str(item.get("input") or "")}, ensure_ascii=False)
            calls.append(
                {
                    "id": str(item.get("call_id") or new_id("call_")),
                    "type": "function",
                    "function": {"name": str(item.get("name") or ""), "arguments": arguments},
                }
            )
        # hosted tool calls (web_search_call...) ran upstream: nothing for a Chat client
    refusal = "".join(refusals) or None
    message: dict[str, Any] = {"role": "assistant", "content": "\n\n".join(texts) or None, "refusal": refusal}
    if reasoning:
        message["reasoning_content"] = "\n\n".join(reasoning)
    if thinking_blocks:
        message["thinking_blocks"] = thinking_blocks
    if calls:
        message["tool_calls"] = calls
    finish = finish_reason_from(data.get("status"), data.get("incomplete_details"), bool(calls))
    upstream_id = data.get("id")
    return {
        "id": "chatcmpl-" + (upstream_id if isinstance(upstream_id, str) and upstream_id else new_id("")),
        "object": "chat.completion",
        "created": as_int(data.get("created_at")) or int(as_number(data.get("created_at")) or time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": chat_usage_from_responses(data.get("usage")),
    }
