"""Chat Completions request -> OpenAI Responses request, for a Responses-only upstream model.

:func:`chat_to_responses_request`:

* A single leading ``system``/``developer`` message -> ``instructions``; every other one (a
  second leading block, or one later in the conversation) -> an input message with its role.
* ``user`` -> a ``message`` item (``text`` -> ``input_text``, ``image_url`` -> ``input_image``,
  ``file`` -> ``input_file``; ``input_audio`` -> 400); ``assistant`` -> a ``message`` item with
  its text (or refusal) plus one ``function_call`` item per tool call (blank arguments ``{}``);
  ``thinking_blocks`` entries minted from an OpenAI reasoning item (``ekai.openai.``) -> that
  reasoning item again, placed before the assistant's message; Claude-signed ones are dropped
  (they belong to Anthropic). ``tool`` -> ``function_call_output``. A legacy assistant
  ``function_call`` gets the id ``call_legacy_<i>`` and the next ``function`` message answers it
  (a ``function`` message with no call to answer -> 400).
* ``tools`` -> flat function tools (``strict`` false unless the client set it: the Responses API
  defaults to true, Chat to false); ``functions``/``function_call`` (legacy) likewise.
  ``tool_choice`` -> the flat shape.
* ``max_completion_tokens``/``max_tokens`` -> ``max_output_tokens`` (raised to 16, the
  Responses minimum). ``reasoning_effort`` -> ``reasoning.effort``. ``response_format`` ->
  ``text.format``; ``verbosity`` -> ``text.verbosity``. ``temperature``, ``top_p``,
  ``parallel_tool_calls``, ``user``, ``safety_identifier``, ``prompt_cache_key``,
  ``prompt_cache_retention``, ``service_tier``, ``metadata``, ``stream`` as is.
* Always ``store: false`` (the gateway does not want OpenAI to keep state for translated
  requests) with ``include: ["reasoning.encrypted_content"]`` for reasoning models, so their
  reasoning can come back on the next turn.
* Refused (400): ``n`` > 1, ``logprobs``, audio (``audio``, ``modalities``), ``stop`` (the
  Responses API has no stop sequences; dropping them would change the answer). Dropped:
  ``stream_options`` (the stream translator honours ``include_usage``), ``seed``,
  ``presence_penalty``, ``frequency_penalty``, ``logit_bias``, ``top_logprobs`` without
  ``logprobs``, ``prediction``, ``web_search_options``, ``store``.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.translate.common import as_dict, as_int, as_list
from gateway.translate.errors import TranslationError
from gateway.translate.models import is_openai_reasoning_model
from gateway.translate.responses_api.common import (
    OPENAI_MINT,
    mint_reasoning,
)

__all__ = ["chat_to_responses_request"]

_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
RESPONSES_MIN_OUTPUT_TOKENS = 16


# --- Chat -> Responses ------------------------------------------------------------------------


def _input_parts(content: object, param: str) -> str | list[dict[str, Any]]:
    """Chat user/system content -> Responses input content (a string stays a string)."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if not isinstance(content, list):
        raise TranslationError("content must be a string or an array of parts", param)
    parts: list[dict[str, Any]] = []
    for j, raw in enumerate(content):
        part = as_dict(raw)
        where = f"{param}[{j}]"
        ptype = part.get("type")
        if ptype == "text":
            parts.append({"type": "input_text", "text": str(part.get("text") or "")})
        elif ptype == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise TranslationError("image_url.url is required", where)
            detail = as_dict(image).get("detail")
            parts.append(
                {
                    "type": "input_image",
                    "image_url": url,
                    "detail": detail if detail in ("low", "high", "auto") else "auto",
                }
            )
        elif ptype == "file":
            file = as_dict(part.get("file"))
            entry: dict[str, Any] = {"type": "input_file"}
            for key in ("file_data", "file_id", "filename"):
                if isinstance(file.get(key), str) and file[key]:
                    entry[key] = file[key]
            if "file_data" not in entry and "file_id" not in entry:
                raise TranslationError("file needs file_data or file_id", where)
            parts.append(entry)
        elif ptype == "input_audio":
            raise TranslationError("Audio input is not supported for this model", f"{where}.type")
        else:
            raise TranslationError(f"Unsupported content part type {ptype!r}", f"{where}.type")
    return parts


def _assistant_text(content: object) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for part in map(as_dict, as_list(content)):
        if part.get("type") == "text":
            texts.append(str(part.get("text") or ""))
        elif part.get("type") == "refusal":
            texts.append(str(part.get("refusal") or ""))
    return "".join(texts)


def _assistant_items(message: dict[str, Any], index: int) -> list[dict[str, Any]]:
    param = f"messages[{index}]"
    items: list[dict[str, Any]] = []
    for block in map(as_dict, as_list(message.get("thinking_blocks"))):
        signature = block.get("signature")
        if isinstance(signature, str) and signature.startswith(OPENAI_MINT):
            item = mint_reasoning(block)
            if item is not None:
                items.append(item)
    text = _assistant_text(message.get("content"))
    refusal = message.get("refusal")
    if not text and isinstance(refusal, str):
        text = refusal
    if text:
        items.append({"type": "message", "role": "assistant", "content": text})
    calls = [as_dict(c) for c in as_list(message.get("tool_calls"))]
    if isinstance(message.get("function_call"), dict):
        calls.append({"id": f"call_legacy_{index}", "function": message["function_call"]})
    for k, call in enumerate(calls):
        if call.get("type", "function") != "function":
            raise TranslationError(
                f"Unsupported tool call type {call.get('type')!r}", f"{param}.tool_calls[{k}].type"
            )
        function = as_dict(call.get("function"))
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            arguments = json.dumps(arguments, ensure_ascii=False)
        arguments = arguments if isinstance(arguments, str) and arguments.strip() else "{}"
        items.append(
            {
                "type": "function_call",
                "call_id": str(call.get("id") or f"call_{k}"),
                "name": str(function.get("name") or ""),
                "arguments": arguments,
            }
        )
    return items


def _responses_input(messages: list[Any]) -> tuple[str | None, list[dict[str, Any]]]:
    """Chat messages -> (instructions, input items)."""
    instructions: str | None = None
    start = 0
    first = as_dict(messages[0]) if messages else {}
    second = as_dict(messages[1]) if len(messages) > 1 else {}
    if first.get("role") in ("system", "developer") and second.get("role") not in ("system", "developer"):
        content = _input_parts(first.get("content"), "messages[0].content")
        if isinstance(content, str):
            instructions, start = content, 1
        elif all(p["type"] == "input_text" for p in content):
            instructions, start = "\n\n".join(p["text"] for p in content), 1
    items: list[dict[str, Any]] = []
    legacy_ids: list[str] = []
    for i in range(start, len(messages)):
        message = as_dict(messages[i])
        param = f"messages[{i}]"
        role = message.get("role")
        if role in ("system", "developer", "user"):
            items.append(
                {
                    "type": "message",
                    "role": role,
                    "content": _input_parts(message.get("content"), f"{param}.content"),
                }
            )
        elif role == "assistant":
            new = _assistant_items(message, i)
            legacy_ids += [
                it["call_id"] for it in new if str(it.get("call_id", "")).startswith("call_legacy_")
            ]
            items += new
        elif role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": str(message.get("tool_call_id") or ""),
                    "output": _assistant_text(message.get("content")),
                }
            )
        elif role == "function" and legacy_ids:
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": legacy_ids.pop(0),
                    "output": _assistant_text(message.get("content")),
                }
            )
        else:
            raise TranslationError(f"Unsupported message role {role!r}", f"{param}.role")
    return instructions, items


def _responses_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    raw = [as_dict(t) for t in as_list(body.get("tools"))]
    raw += [{"type": "function", "function": f} for f in map(as_dict, as_list(body.get("functions")))]
    tools: list[dict[str, Any]] = []
    for i, tool in enumerate(raw):
        if tool.get("type", "function") != "function":
            raise TranslationError(f"Unsupported tool type {tool.get('type')!r}", f"tools[{i}].type")
        function = as_dict(tool.get("function"))
        params = function.get("parameters")
        entry: dict[str, Any] = {
            "type": "function",
            "name": str(function.get("name") or ""),
            "parameters": params if isinstance(params, dict) else dict(_EMPTY_SCHEMA),
            "strict": function.get("strict") if isinstance(function.get("strict"), bool) else False,
        }
        if function.get("description"):
            entry["description"] = str(function["description"])
        tools.append(entry)
    return tools


def _responses_tool_choice(body: dict[str, Any]) -> object:
    choice = body.get("tool_choice")
    if choice is None and body.get("function_call") is not None:
        legacy = body["function_call"]
        choice = legacy if isinstance(legacy, str) else {"type": "function", "function": legacy}
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    data = as_dict(choice)
    name = as_dict(data.get("function")).get("name")
    if data.get("type") == "function" and isinstance(name, str):
        return {"type": "function", "name": name}
    raise TranslationError(f"Unsupported tool_choice {choice!r}", "tool_choice")


def _text_config(body: dict[str, Any]) -> dict[str, Any]:
    text: dict[str, Any] = {}
    fmt = body.get("response_format")
    if fmt is not None:
        ftype = as_dict(fmt).get("type")
        if ftype == "json_schema":
            schema = as_dict(as_dict(fmt).get("json_schema"))
            entry: dict[str, Any] = {"type": "json_schema", "name": str(schema.get("name") or "response")}
            for key in ("schema", "strict", "description"):
                if schema.get(key) is not None:
                    entry[key] = schema[key]
            text["format"] = entry
        elif ftype in ("json_object", "text"):
            text["format"] = {"type": ftype}
        else:
            raise TranslationError(f"Unsupported response_format type {ftype!r}", "response_format")
    if isinstance(body.get("verbosity"), str):
        text["verbosity"] = body["verbosity"]
    return text


def _reject_chat_only(body: dict[str, Any]) -> None:
    n = body.get("n")
    if n is not None and n != 1:
        raise TranslationError("n>1 is not supported for this model", "n")
    if body.get("logprobs") is True:
        raise TranslationError("logprobs are not supported for this model", "logprobs")
    if body.get("audio") is not None or "audio" in as_list(body.get("modalities")):
        raise TranslationError("Audio output is not supported for this model", "modalities")
    if body.get("stop"):
        raise TranslationError("stop sequences are not supported by this model's API", "stop")
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise TranslationError("messages must be a non-empty array", "messages")


def chat_to_responses_request(body: dict[str, Any], *, model: str) -> dict[str, Any]:
    """A Chat Completions request -> a Responses request for ``model`` (module docstring).

    Raises :class:`TranslationError` (400) for what the Responses API cannot take.
    """
    if not isinstance(body, dict):
        raise TranslationError("The request body must be a JSON object")
    _reject_chat_only(body)
    instructions, items = _responses_input(body["messages"])
    out: dict[str, Any] = {"model": model}
    if instructions is not None:
        out["instructions"] = instructions
    out["input"] = items
    tools = _responses_tools(body)
    if tools:
        out["tools"] = tools
        choice = _responses_tool_choice(body)
        if choice is not None:
            out["tool_choice"] = choice
        if isinstance(body.get("parallel_tool_calls"), bool):
            out["parallel_tool_calls"] = body["parallel_tool_calls"]
    limit = as_int(body.get("max_completion_tokens")) or as_int(body.get("max_tokens"))
    if limit is not None and limit > 0:
        out["max_output_tokens"] = max(limit, RESPONSES_MIN_OUTPUT_TOKENS)
    for key in (
        "temperature",
        "top_p",
        "user",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "service_tier",
        "metadata",
    ):
        if body.get(key) is not None:
            out[key] = body[key]
    effort = body.get("reasoning_effort")
    if isinstance(effort, str):
        out["reasoning"] = {"effort": effort}
    text = _text_config(body)
    if text:
        out["text"] = text
    if body.get("stream") is True:
        out["stream"] = True
    out["store"] = False
    reasoning = (isinstance(effort, str) and effort != "none") or is_openai_reasoning_model(model)
    if reasoning:
        out["include"] = ["reasoning.encrypted_content"]
    return out
