"""OpenAI Responses request -> Chat Completions request (also the first leg to Claude).

:func:`responses_to_chat_request`; the Claude translator then takes the Chat body:

* ``instructions`` -> a first ``system`` message. ``system`` and ``developer`` input messages ->
  ``system`` messages in place (every Chat provider takes ``system``; OpenAI treats ``developer``
  the same). ``input`` as a string -> one user message.
* ``message`` items: ``input_text``/``output_text`` -> text parts (a single text part becomes a
  plain string), ``input_image`` with ``image_url`` (http(s) or data URL) -> ``image_url``, with
  ``file_id`` -> 400 (files uploaded to OpenAI are not reachable elsewhere), ``input_file`` with
  ``file_data`` -> a Chat ``file`` part (``file_id``/``file_url`` -> 400), ``refusal`` -> the
  assistant ``refusal``; ``input_audio`` and unknown part types -> 400 naming
  ``input[i].content[j].type``.
* Assistant-side items in a row (an assistant ``message``, ``function_call``,
  ``custom_tool_call``, ``reasoning``) become ONE assistant message: text joined, ``tool_calls``
  in order (``call_id`` kept, shortened past 40 characters by the deterministic rule of
  :func:`~gateway.translate.names.openai_tool_id`, applied to both sides of a pair), and
  ``thinking_blocks`` from reasoning items minted from Claude (see :mod:`.common`); any other
  reasoning item is dropped (it belongs to another provider). Blank ``arguments`` become ``{}``.
  A ``custom_tool_call`` becomes a call of its function with arguments ``{"input": ...}``.
* ``function_call_output``/``custom_tool_call_output`` -> a ``tool`` message; text parts of a list
  output are joined; images in an output (Chat tool messages are text only) follow in one user
  message after the run of tool messages.
* ``web_search_call`` items are dropped (hosted search already ran; its answer is in the
  messages); ``item_reference`` -> 400 (needs stored items); any other item type (computer,
  shell, MCP, image generation... and unknown future types) -> 400 naming ``input[i].type``.
* Tools: ``function`` -> function (``strict`` only when the client set it), ``custom`` -> a
  function with one string parameter ``input`` (the grammar, if any, appended to the
  description), ``namespace`` -> its inner tools flattened (naming rule in :mod:`.common`).
  Hosted ``web_search`` is DROPPED: Codex sends it on every request and refusing it would make
  Codex unusable on other models; the model simply cannot search. Every other hosted tool
  (``file_search``, ``computer_use_preview``, ``image_generation``, ``code_interpreter``,
  ``mcp``, ``local_shell``, ``shell``, ``apply_patch``, ``tool_search``...) -> 400 naming
  ``tools[i].type``. With no tool left, ``tool_choice`` and ``parallel_tool_calls`` go too.
* ``tool_choice``: ``auto``/``none``/``required`` as is; ``{type: function|custom, name}`` -> the
  Chat function; ``allowed_tools`` -> the listed tools only, with ``mode`` as the choice; a hosted
  tool type -> 400.
* ``max_output_tokens`` -> ``max_completion_tokens`` (OpenAI's current name; the Claude
  translator reads it too). ``temperature``, ``top_p``, ``parallel_tool_calls``, ``user``,
  ``safety_identifier``, ``prompt_cache_key``, ``prompt_cache_retention``, ``service_tier`` as
  is. ``reasoning.effort`` -> ``reasoning_effort`` (``reasoning.summary`` is dropped: reasoning
  text, when the upstream gives any, always comes back as a summary). ``text.format``
  ``json_schema`` -> ``response_format`` ``json_schema`` (``name``, ``schema``, ``strict``,
  ``description``), ``json_object`` -> ``json_object``, ``text`` -> nothing;
  ``text.verbosity`` -> ``verbosity``. ``stream: true`` -> ``stream`` + ``stream_options:
  {include_usage: true}``.
* Dropped, harmless: ``store``, ``include`` (encrypted reasoning is minted whenever there is a
  signature), ``metadata`` (echoed in the response, not sent: not every Chat provider takes it),
  ``client_metadata`` (Codex), ``stream_options`` (Responses' only option is obfuscation, which
  the gateway does not add), ``truncation``, ``max_tool_calls`` (limits hosted tools, none run),
  ``context_management``, ``prompt_cache_options`` and any field this module does not know.
* Refused (400), because dropping them would change the answer or the contract:
  ``previous_response_id`` and ``conversation`` (state this provider does not hold),
  ``background: true``, ``prompt`` (a stored prompt template), ``top_logprobs`` > 0.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.translate.common import as_dict, as_int, as_list
from gateway.translate.errors import TranslationError
from gateway.translate.names import openai_tool_id
from gateway.translate.responses_api.common import (
    WEB_SEARCH_TOOLS,
    ResponsesTools,
    custom_description,
    input_schema,
    thinking_block,
)

__all__ = ["responses_to_chat_request"]

Message = dict[str, Any]
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
_STATEFUL = ("previous_response_id", "conversation")


# --- Responses -> Chat: content -------------------------------------------------------------


def _image_part(part: dict[str, Any], param: str) -> dict[str, Any]:
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        if part.get("file_id"):
            raise TranslationError(
                "input_image with a file_id cannot be sent to this model (files uploaded to "
                "OpenAI are not reachable elsewhere): send image_url as a URL or data URL",
                f"{param}.file_id",
            )
        raise TranslationError("input_image needs an image_url", param)
    image: dict[str, Any] = {"url": url}
    if part.get("detail") in ("low", "high", "auto"):
        image["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image}


def _file_part(part: dict[str, Any], param: str) -> dict[str, Any]:
    data = part.get("file_data")
    if not isinstance(data, str) or not data:
        raise TranslationError(
            "input_file needs file_data for this model (file_id and file_url are only reachable by OpenAI)",
            param,
        )
    file: dict[str, Any] = {"file_data": data}
    if isinstance(part.get("filename"), str):
        file["filename"] = part["filename"]
    return {"type": "file", "file": file}


def _content_parts(content: object, param: str, *, media: bool) -> tuple[list[dict[str, Any]], str | None]:
    """Responses message content -> (Chat parts, refusal text). ``media``: images/files allowed."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}], None
    if content is None:
        return [], None
    if not isinstance(content, list):
        raise TranslationError("content must be a string or an array of parts", param)
    parts: list[dict[str, Any]] = []
    refusal: str | None = None
    for j, raw in enumerate(content):
        part = as_dict(raw)
        where = f"{param}[{j}]"
        ptype = part.get("type")
        if ptype in ("input_text", "output_text"):
            parts.append({"type": "text", "text": str(part.get("text") or "")})
        elif ptype == "refusal":
            refusal = (refusal or "") + str(part.get("refusal") or "")
        elif ptype == "input_image" and media:
            parts.append(_image_part(part, where))
        elif ptype == "input_file" and media:
            parts.append(_file_part(part, where))
        elif ptype in ("input_image", "input_file"):
            raise TranslationError(
                f"{ptype} is only carried in user messages and tool outputs for this model", f"{where}.type"
            )
        else:
            raise TranslationError(f"Unsupported content part type {ptype!r}", f"{where}.type")
    return parts, refusal


def _chat_content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """One text part -> a plain string (what every Chat provider takes); else the parts."""
    if len(parts) == 1 and parts[0]["type"] == "text":
        return str(parts[0]["text"])
    if not parts:
        return ""
    return parts


def _text_only(parts: list[dict[str, Any]]) -> str:
    return "".join(str(p.get("text") or "") for p in parts if p.get("type") == "text")


class _Conversation:
    """Builds the Chat message list, merging assistant-side items into one message."""

    def __init__(self, tools: ResponsesTools) -> None:
        self.messages: list[Message] = []
        self._tools = tools
        self._assistant: Message | None = None
        self._pending_media: list[dict[str, Any]] = []

    def _flush_media(self) -> None:
        if self._pending_media:
            self.messages.append({"role": "user", "content": self._pending_media})
            self._pending_media = []

    def _close_assistant(self) -> None:
        if self._assistant is None:
            return
        message, self._assistant = self._assistant, None
        if not message.get("tool_calls") and not message.get("refusal") and message["content"] is None:
            if not message.get("thinking_blocks"):
                return  # only foreign reasoning items: nothing to say
            message["content"] = ""
        self.messages.append(message)

    def assistant(self) -> Message:
        self._flush_media()
        if self._assistant is None:
            self._assistant = {"role": "assistant", "content": None}
        return self._assistant

    def add(self, message: Message) -> None:
        self._close_assistant()
        if message["role"] != "tool":
            self._flush_media()
        self.messages.append(message)

    def add_text(self, text: str) -> None:
        message = self.assistant()
        message["content"] = (message["content"] or "") + text

    def add_call(self, call_id: object, name: str, arguments: str, param: str) -> None:
        if not isinstance(call_id, str) or not call_id:
            raise TranslationError("call_id is required", f"{param}.call_id")
        message = self.assistant()
        message.setdefault("tool_calls", []).append(
            {
                "id": openai_tool_id(call_id),
                "type": "function",
                "function": {"name": name, "arguments": arguments if arguments.strip() else "{}"},
            }
        )

    def add_output(self, item: dict[str, Any], param: str) -> None:
        call_id = item.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise TranslationError("call_id is required", f"{param}.call_id")
        output = item.get("output")
        if isinstance(output, str):
            text = output
        else:
            parts, _ = _content_parts(output, f"{param}.output", media=True)
            text = _text_only(parts)
            media = [p for p in parts if p["type"] != "text"]
            if media:
                note = {"type": "text", "text": f"Attachments of the tool result {call_id}:"}
                self._pending_media += [note, *media]
        self.add({"role": "tool", "tool_call_id": openai_tool_id(call_id), "content": text})

    def finish(self) -> list[Message]:
        self._close_assistant()
        self._flush_media()
        return self.messages


def _message_item(conv: _Conversation, item: dict[str, Any], param: str) -> None:
    role = item.get("role")
    content = item.get("content")
    if role == "assistant":
        parts, refusal = _content_parts(content, f"{param}.content", media=False)
        text = _text_only(parts)
        if text:
            conv.add_text(text)
        elif conv.assistant()["content"] is None and not refusal:
            conv.assistant()["content"] = ""
        if refusal:
            message = conv.assistant()
            message["refusal"] = (message.get("refusal") or "") + refusal
        return
    if role in ("system", "developer"):
        parts, _ = _content_parts(content, f"{param}.content", media=False)
        conv.add({"role": "system", "content": _chat_content(parts)})
        return
    if role == "user":
        parts, refusal = _content_parts(content, f"{param}.content", media=True)
        if refusal:
            parts.append({"type": "text", "text": refusal})
        conv.add({"role": "user", "content": _chat_content(parts)})
        return
    raise TranslationError(f"Unsupported message role {role!r}", f"{param}.role")


def _input_item(conv: _Conversation, tools: ResponsesTools, item: dict[str, Any], param: str) -> None:
    itype = item.get("type")
    if itype is None and "role" in item:
        itype = "message"
    if itype == "message":
        _message_item(conv, item, param)
    elif itype == "function_call":
        namespace = item.get("namespace") if isinstance(item.get("namespace"), str) else None
        name = tools.chat_name(str(item.get("name") or ""), namespace)
        arguments = item.get("arguments")
        if isinstance(arguments, dict):
            arguments = json.dumps(arguments, ensure_ascii=False)
        conv.add_call(item.get("call_id"), name, str(arguments or ""), param)
    elif itype == "custom_tool_call":
        namespace = item.get("namespace") if isinstance(item.get("namespace"), str) else None
        name = tools.chat_name(str(item.get("name") or ""), namespace)
        arguments = json.dumps({"input": str(item.get("input") or "")}, ensure_ascii=False)
        conv.add_call(item.get("call_id"), name, arguments, param)
    elif itype in ("function_call_output", "custom_tool_call_output"):
        conv.add_output(item, param)
    elif itype == "reasoning":
        block = thinking_block(item)
        if block is not None:
            conv.assistant().setdefault("thinking_blocks", []).append(block)
    elif itype == "web_search_call":
        return
    elif itype == "item_reference":
        raise TranslationError(
            "item_reference needs items stored by OpenAI, which this provider does not hold: "
            "send the items themselves",
            f"{param}.type",
        )
    else:
        raise TranslationError(f"Unsupported input item type {itype!r} for this model", f"{param}.type")


# --- Responses -> Chat: tools and parameters --------------------------------------------------


def _function_tool(tool: dict[str, Any], name: str) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name}
    if tool.get("description"):
        function["description"] = str(tool["description"])
    params = tool.get("parameters")
    function["parameters"] = params if isinstance(params, dict) else dict(_EMPTY_SCHEMA)
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _custom_tool(tool: dict[str, Any], name: str) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name, "parameters": input_schema()}
    description = custom_description(tool)
    if description:
        function["description"] = description
    return {"type": "function", "function": function}


def _named(tool: dict[str, Any]) -> bool:
    return isinstance(tool.get("name"), str) and bool(tool["name"])


def _chat_tools(body: dict[str, Any], tools: ResponsesTools) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    raw = body.get("tools")
    if raw is not None and not isinstance(raw, list):
        raise TranslationError("tools must be an array", "tools")
    for i, tool in enumerate(map(as_dict, as_list(raw))):
        ttype = tool.get("type")
        if ttype in ("function", "custom", "namespace") and not _named(tool):
            raise TranslationError(f"A {ttype} tool needs a name", f"tools[{i}].name")
        if ttype == "function":
            result.append(_function_tool(tool, tools.chat_name(str(tool.get("name") or ""))))
        elif ttype == "custom":
            result.append(_custom_tool(tool, tools.chat_name(str(tool.get("name") or ""))))
        elif ttype == "namespace":
            namespace = str(tool.get("name") or "")
            for j, inner in enumerate(map(as_dict, as_list(tool.get("tools")))):
                if not _named(inner):
                    raise TranslationError("A namespace tool needs a name", f"tools[{i}].tools[{j}].name")
                chat = tools.chat_name(str(inner.get("name") or ""), namespace)
                if inner.get("type") == "function":
                    result.append(_function_tool(inner, chat))
                elif inner.get("type") == "custom":
                    result.append(_custom_tool(inner, chat))
                else:
                    raise TranslationError(
                        f"Unsupported tool type {inner.get('type')!r} in a namespace",
                        f"tools[{i}].tools[{j}].type",
                    )
        elif ttype in WEB_SEARCH_TOOLS:
            continue
        else:
            raise TranslationError(
                f"Tool type {ttype!r} is hosted by OpenAI and not available for this model",
                f"tools[{i}].type",
            )
    return result


def _chat_tool_choice(
    choice: object, tools: ResponsesTools, chat_tools: list[dict[str, Any]]
) -> tuple[object, list[dict[str, Any]]]:
    """(Chat tool_choice or None, the tools to send) for a Responses ``tool_choice``."""
    if choice is None or choice in ("auto", "none", "required"):
        return choice, chat_tools
    data = as_dict(choice)
    ctype = data.get("type")
    if ctype in ("function", "custom") and isinstance(data.get("name"), str):
        namespace = data.get("namespace") if isinstance(data.get("namespace"), str) else None
        return {
            "type": "function",
            "function": {"name": tools.chat_name(data["name"], namespace)},
        }, chat_tools
    if ctype == "allowed_tools":
        allowed = set()
        for entry in map(as_dict, as_list(data.get("tools"))):
            if entry.get("type") in ("function", "custom") and isinstance(entry.get("name"), str):
                namespace = entry.get("namespace") if isinstance(entry.get("namespace"), str) else None
                allowed.add(tools.chat_name(entry["name"], namespace))
        kept = [t for t in chat_tools if t["function"]["name"] in allowed]
        mode = data.get("mode") if data.get("mode") in ("auto", "required") else "auto"
        return mode, kept
    raise TranslationError(f"tool_choice {ctype!r} is not available for this model", "tool_choice")


def _response_format(text: dict[str, Any]) -> dict[str, Any] | None:
    fmt = as_dict(text.get("format"))
    ftype = fmt.get("type")
    if ftype == "json_schema":
        schema: dict[str, Any] = {"name": str(fmt.get("name") or "response")}
        for key in ("schema", "strict", "description"):
            if fmt.get(key) is not None:
                schema[key] = fmt[key]
        return {"type": "json_schema", "json_schema": schema}
    if ftype == "json_object":
        return {"type": "json_object"}
    if ftype in (None, "text"):
        return None
    raise TranslationError(f"Unsupported text.format type {ftype!r}", "text.format.type")


def _reject_stateful(body: dict[str, Any]) -> None:
    for key in _STATEFUL:
        if body.get(key):
            raise TranslationError(
                f"{key} refers to state this provider does not hold: send the full conversation "
                "in input instead",
                key,
            )
    if body.get("background") is True:
        raise TranslationError("background responses are not available for this model", "background")
    if body.get("prompt") is not None:
        raise TranslationError("stored prompt templates are not available for this model", "prompt")
    top_logprobs = as_int(body.get("top_logprobs"))
    if top_logprobs:
        raise TranslationError("logprobs are not available for this model", "top_logprobs")


def responses_to_chat_request(
    body: dict[str, Any], *, model: str, thinking_blocks: bool = True
) -> dict[str, Any]:
    """A Responses request -> a Chat Completions request for ``model`` (module docstring).

    ``thinking_blocks=False`` leaves out the signed Claude thinking blocks (the ``thinking_blocks``
    extension field), for Chat upstreams that refuse unknown message fields; the Claude leg needs
    them, so they are kept by default. Raises :class:`TranslationError` (400) for what cannot be
    carried.
    """
    if not isinstance(body, dict):
        raise TranslationError("The request body must be a JSON object")
    _reject_stateful(body)
    tools = ResponsesTools.from_request(body)
    conv = _Conversation(tools)
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        conv.add({"role": "system", "content": instructions})
    elif instructions is not None and not isinstance(instructions, str):
        raise TranslationError("instructions must be a string", "instructions")
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        conv.add({"role": "user", "content": raw_input})
    elif isinstance(raw_input, list):
        for i, item in enumerate(raw_input):
            if not isinstance(item, dict):
                raise TranslationError("input items must be objects", f"input[{i}]")
            _input_item(conv, tools, item, f"input[{i}]")
    elif raw_input is not None:
        raise TranslationError("input must be a string or an array of items", "input")
    messages = conv.finish()
    if not messages:
        raise TranslationError("input is required", "input")
    if not thinking_blocks:
        for message in messages:
            message.pop("thinking_blocks", None)

    out: dict[str, Any] = {"model": model, "messages": messages}
    chat_tools = _chat_tools(body, tools)
    choice, chat_tools = _chat_tool_choice(body.get("tool_choice"), tools, chat_tools)
    if chat_tools:
        out["tools"] = chat_tools
        if choice is not None:
            out["tool_choice"] = choice
        if isinstance(body.get("parallel_tool_calls"), bool):
            out["parallel_tool_calls"] = body["parallel_tool_calls"]
    max_output = body.get("max_output_tokens")
    if max_output is not None:
        if as_int(max_output) is None or max_output < 1:
            raise TranslationError("max_output_tokens must be a positive integer", "max_output_tokens")
        out["max_completion_tokens"] = max_output
    for key in (
        "temperature",
        "top_p",
        "user",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "service_tier",
    ):
        if body.get(key) is not None:
            out[key] = body[key]
    effort = as_dict(body.get("reasoning")).get("effort")
    if isinstance(effort, str):
        out["reasoning_effort"] = effort
    text = as_dict(body.get("text"))
    response_format = _response_format(text)
    if response_format is not None:
        out["response_format"] = response_format
    if isinstance(text.get("verbosity"), str):
        out["verbosity"] = text["verbosity"]
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out
