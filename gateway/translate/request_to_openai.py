"""Anthropic Messages request -> OpenAI Chat Completions request (protocol.md §1, §9).

``provider`` is the provider's dialect (gateway.dialects, from its config entry, never its name):
``"openai"``, ``"xai"``, ``"openrouter"``; any other value (``"compatible"``) is a generic
OpenAI-compatible server (vLLM, Ollama, LM Studio...) and gets the most conservative form.

Messages.

* ``system`` (string or blocks) becomes the first ``system`` message; ``role: "system"`` messages
  inside ``messages`` (what Claude Code sends for non-Claude models) stay system messages at their
  place. Text blocks are joined with a blank line into one string, which every OpenAI-compatible
  server accepts; only OpenRouter with an ``anthropic/*`` model gets text parts, because that is
  where ``cache_control`` survives.
* A user turn is split: one ``tool`` message per ``tool_result`` first, in order (OpenAI wants them
  right after the assistant's ``tool_calls``), then one ``user`` message with the rest. Tool
  messages are text-only, so images inside a ``tool_result`` move to that user message (before
  the turn's own content); ``is_error`` becomes a ``"[tool error] "`` prefix. Text-only user
  content becomes a single string, anything with images or files becomes parts.
* An assistant turn: text blocks joined into ``content`` (``null`` when there are tool calls and no
  text), ``tool_use`` blocks into ``tool_calls`` with JSON-string ``arguments``. Thinking blocks are
  dropped, except toward OpenRouter where signed ones travel as ``reasoning_details`` (its
  documented way to hand reasoning back). Server-tool blocks (``server_tool_use``,
  ``web_search_tool_result``...) are dropped: the OpenAI side has nothing to run them.
* Tool-call ids longer than OpenAI's 40 characters are shortened deterministically, in the call and
  in its result alike.

Tools. Custom tools become functions (``cache_control``, ``strict`` and the other Anthropic-only
keys dropped). Server tools (any ``type`` other than ``custom``) are dropped without error.
Names that OpenAI would reject are replaced through a :class:`ToolNameMap`, returned to the caller
so that responses and streams can restore the client's names. ``tool_choice``: auto/any/none/tool
-> ``"auto"``/``"required"``/``"none"``/named function (``"required"`` when the named tool was a
dropped server tool); ``disable_parallel_tool_use`` -> ``parallel_tool_calls: false``. All three
are left out when no function tool remains.

Parameters.

* ``max_tokens`` -> ``max_completion_tokens`` for OpenAI and xAI (reasoning models reject
  ``max_tokens``), ``max_tokens`` for OpenRouter (its documented name) and generic servers.
* ``temperature``/``top_p`` pass through (both are valid OpenAI ranges), but not to OpenAI
  reasoning models, which reject them. ``top_k`` only to OpenRouter. ``stop_sequences`` -> ``stop``
  (first 4), not to OpenAI or xAI reasoning models.
* Thinking: ``enabled.budget_tokens`` is bucketed (< 2048 low, < 8192 medium, else high);
  ``adaptive`` uses ``output_config.effort`` (xhigh/max -> high). The result becomes
  ``reasoning_effort`` only for models that accept it (OpenAI o-series/gpt-5; xAI per model), and
  ``reasoning: {max_tokens}`` / ``{effort}`` / ``{enabled}`` for OpenRouter. Generic servers get
  nothing.
* ``output_config.format`` (or legacy ``output_format``) json_schema -> ``response_format``
  json_schema named ``response`` with ``strict: false`` (OpenAI's strict mode would need the schema
  rewritten).
* ``metadata.user_id`` -> ``safety_identifier`` (OpenAI) or ``user`` (others), replaced by a hash
  when longer than 64 characters (Claude Code sends a long JSON string there).
* ``stream: true`` always comes with ``stream_options: {"include_usage": true}``; without it there
  is no usage to put in the final ``message_delta``.
* Dropped: ``context_management``, ``container``, ``mcp_servers``, ``service_tier``, top-level
  ``cache_control``, ``inference_geo``, the rest of ``output_config``, and unknown fields.

Refused with :class:`TranslationError`: unknown roles or block types, image/document sources that
are not inline data or a URL (Files API ids), PDF documents to xAI.
"""

from __future__ import annotations

import hashlib
from typing import Any

from gateway.translate.common import as_dict, as_list, dump_arguments
from gateway.translate.errors import TranslationError
from gateway.translate.models import (
    is_openai_reasoning_model,
    is_xai_reasoning_model,
    xai_reasoning_efforts,
)
from gateway.translate.names import ToolNameMap, openai_tool_id

Message = dict[str, Any]
Part = dict[str, Any]

TOOL_ERROR_PREFIX = "[tool error] "
MAX_STOP = 4
MAX_USER_ID = 64
_EFFORTS = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}
_TEXT_LIKE = ("text", "search_result")


def _keeps_cache_control(provider: str, model: str) -> bool:
    return provider == "openrouter" and model.startswith("anthropic/")


# --- content --------------------------------------------------------------------------------


def _text_part(block: dict[str, Any], keep_cache: bool) -> Part:
    part: Part = {"type": "text", "text": _block_text(block)}
    if keep_cache and isinstance(block.get("cache_control"), dict):
        part["cache_control"] = block["cache_control"]
    return part


def _block_text(block: dict[str, Any]) -> str:
    """The text of a text-like block (text, search_result, a mid-conversation system block)."""
    text = block.get("text")
    if isinstance(text, str):
        return text
    if block.get("type") == "search_result":
        inner = " ".join(_block_text(as_dict(b)) for b in as_list(block.get("content")))
        return f"{block.get('title', '')}\n{inner}".strip()
    return ""


def _image_part(block: dict[str, Any], param: str) -> Part:
    source = as_dict(block.get("source"))
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    elif source.get("type") == "url" and isinstance(source.get("url"), str):
        url = source["url"]
    else:
        raise TranslationError(f"Unsupported image source {source.get('type')!r}", param)
    return {"type": "image_url", "image_url": {"url": url}}


def _document_parts(block: dict[str, Any], provider: str, param: str) -> list[Part]:
    source = as_dict(block.get("source"))
    stype = source.get("type")
    if stype == "text":
        return [{"type": "text", "text": str(source.get("data") or "")}]
    if stype == "content":
        return [
            {"type": "text", "text": _block_text(as_dict(b))}
            for b in as_list(source.get("content"))
            if _block_text(as_dict(b))
        ]
    if stype == "base64" and source.get("media_type") == "application/pdf":
        if provider == "xai":
            raise TranslationError("PDF documents are not supported by xAI", param)
        name = str(block.get("title") or "document.pdf")
        return [
            {
                "type": "file",
                "file": {"filename": name, "file_data": f"data:application/pdf;base64,{source.get('data')}"},
            }
        ]
    raise TranslationError(f"Unsupported document source {stype!r}", param)


def _content_parts(blocks: list[Any], provider: str, keep_cache: bool, param: str) -> list[Part]:
    """Anthropic user/system content blocks (no tool results) -> OpenAI content parts."""
    parts: list[Part] = []
    for j, raw in enumerate(blocks):
        block = as_dict(raw)
        btype = block.get("type")
        where = f"{param}[{j}]"
        if btype in _TEXT_LIKE or (btype is None and isinstance(block.get("text"), str)):
            parts.append(_text_part(block, keep_cache))
        elif btype == "image":
            parts.append(_image_part(block, where))
        elif btype == "document":
            parts += _document_parts(block, provider, where)
        else:
            raise TranslationError(f"Unsupported content block type {btype!r}", where)
    return parts


def _compact(parts: list[Part]) -> str | list[Part]:
    """Text-only parts without cache markers -> one string; anything else stays parts."""
    if all(p["type"] == "text" and "cache_control" not in p for p in parts):
        return "\n\n".join(p["text"] for p in parts)
    return parts


def _system_message(system: object, keep_cache: bool) -> Message | None:
    if isinstance(system, str):
        return {"role": "system", "content": system} if system else None
    blocks = [as_dict(b) for b in as_list(system)]
    parts = [_text_part(b, keep_cache) for b in blocks if _block_text(b)]
    if not parts:
        return None
    return {"role": "system", "content": _compact(parts)}


def _tool_message(block: dict[str, Any], provider: str, param: str) -> tuple[Message, list[Part]]:
    """A tool_result block -> (tool message, image parts that must move to the user message)."""
    content = block.get("content")
    texts: list[str] = []
    images: list[Part] = []
    if isinstance(content, str):
        texts.append(content)
    for j, raw in enumerate(as_list(content)):
        inner = as_dict(raw)
        if inner.get("type") == "image":
            images.append(_image_part(inner, f"{param}.content[{j}]"))
        elif inner.get("type") == "document":
            for part in _document_parts(inner, provider, f"{param}.content[{j}]"):
                if part["type"] == "text":
                    texts.append(part["text"])
                else:
                    images.append(part)
        else:
            texts.append(_block_text(inner))
    text = "\n\n".join(t for t in texts if t)
    if block.get("is_error"):
        text = TOOL_ERROR_PREFIX + text
    tool_id = openai_tool_id(str(block.get("tool_use_id") or ""))
    return {"role": "tool", "tool_call_id": tool_id, "content": text}, images


def _user_messages(content: object, provider: str, keep_cache: bool, param: str) -> list[Message]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tool_messages: list[Message] = []
    moved: list[Part] = []
    rest: list[Any] = []
    for j, raw in enumerate(as_list(content)):
        block = as_dict(raw)
        if block.get("type") == "tool_result":
            message, images = _tool_message(block, provider, f"{param}[{j}]")
            tool_messages.append(message)
            moved += images
        else:
            rest.append(block)
    parts = moved + _content_parts(rest, provider, keep_cache, param)
    if parts:
        tool_messages.append({"role": "user", "content": _compact(parts)})
    return tool_messages


def _reasoning_detail(block: dict[str, Any]) -> dict[str, Any] | None:
    """A signed thinking block -> an OpenRouter ``reasoning_details`` entry."""
    if block.get("type") == "thinking" and block.get("signature"):
        return {
            "type": "reasoning.text",
            "text": block.get("thinking") or "",
            "signature": block["signature"],
            "format": "anthropic-claude-v1",
        }
    if block.get("type") == "redacted_thinking" and block.get("data"):
        return {"type": "reasoning.encrypted", "data": block["data"], "format": "anthropic-claude-v1"}
    return None


def _assistant_message(content: object, provider: str, names: ToolNameMap) -> Message | None:
    if isinstance(content, str):
        return {"role": "assistant", "content": content} if content else None
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    details: list[dict[str, Any]] = []
    for raw in as_list(content):
        block = as_dict(raw)
        btype = block.get("type")
        if btype == "text":
            texts.append(str(block.get("text") or ""))
        elif btype == "tool_use":
            calls.append(
                {
                    "id": openai_tool_id(str(block.get("id") or "")),
                    "type": "function",
                    "function": {
                        "name": names.to_safe(str(block.get("name") or "")),
                        "arguments": dump_arguments(block.get("input")),
                    },
                }
            )
        elif btype in ("thinking", "redacted_thinking") and provider == "openrouter":
            detail = _reasoning_detail(block)
            if detail:
                details.append(detail)
        # thinking for other providers and server-tool blocks: dropped (module docstring)
    text = "".join(texts)
    if not text and not calls:
        return None
    message: Message = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    if details:
        message["reasoning_details"] = details
    return message


def _messages(body: dict[str, Any], provider: str, model: str, names: ToolNameMap) -> list[Message]:
    keep_cache = _keeps_cache_control(provider, model)
    messages: list[Message] = []
    system = _system_message(body.get("system"), keep_cache)
    if system:
        messages.append(system)
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list):
        raise TranslationError("messages must be an array", "messages")
    for i, raw in enumerate(raw_messages):
        message = as_dict(raw)
        role = message.get("role")
        param = f"messages.{i}.content"
        content = message.get("content")
        if role == "system":
            inline = _system_message(content, keep_cache)
            messages += [inline] if inline else []
        elif role == "user":
            messages += _user_messages(content, provider, keep_cache, param)
        elif role == "assistant":
            assistant = _assistant_message(content, provider, names)
            messages += [assistant] if assistant else []
        else:
            raise TranslationError(f"Unsupported message role {role!r}", f"messages.{i}.role")
    return _repair_tool_sequence(messages)


def _missing_result(tool_id: str) -> Message:
    return {"role": "tool", "tool_call_id": tool_id, "content": TOOL_ERROR_PREFIX + "No result"}


def _orphan_result(message: Message) -> Message:
    label = f"[result of tool call {message['tool_call_id']}]"
    return {"role": "user", "content": f"{label} {message['content']}".rstrip()}


def _repair_tool_sequence(messages: list[Message]) -> list[Message]:
    """Make OpenAI's tool rules hold whatever the client sent.

    Every ``tool_calls`` id gets a tool message before the next other message (a missing one is
    answered ``"[tool error] No result"``), a tool message that answers no pending call becomes
    user text, and system messages that sit between a call and its results (mid-conversation
    system messages) wait until the results are in.
    """
    out: list[Message] = []
    pending: list[str] = []
    held: list[Message] = []
    for message in messages:
        role = message["role"]
        if role == "tool" and message["tool_call_id"] in pending:
            pending.remove(message["tool_call_id"])
            out.append(message)
            continue
        if pending and role in ("tool", "system"):
            held.append(_orphan_result(message) if role == "tool" else message)
            continue
        out += [_missing_result(i) for i in pending] + held
        pending, held = [], []
        if role == "tool":
            out.append(_orphan_result(message))
            continue
        out.append(message)
        pending = [c["id"] for c in message.get("tool_calls") or []]
    return out + [_missing_result(i) for i in pending] + held


# --- tools ----------------------------------------------------------------------------------


def _is_custom_tool(tool: dict[str, Any]) -> bool:
    return tool.get("type") in (None, "custom") and isinstance(tool.get("name"), str)


def _tool_names(body: dict[str, Any]) -> ToolNameMap:
    names = [t["name"] for t in map(as_dict, as_list(body.get("tools"))) if _is_custom_tool(t)]
    for message in map(as_dict, as_list(body.get("messages"))):
        for block in map(as_dict, as_list(message.get("content"))):
            if block.get("type") == "tool_use" and isinstance(block.get("name"), str):
                names.append(block["name"])
    return ToolNameMap.build(names)


def _tools(body: dict[str, Any], names: ToolNameMap) -> list[dict[str, Any]]:
    tools = []
    for tool in map(as_dict, as_list(body.get("tools"))):
        if not _is_custom_tool(tool):
            continue  # server tool (web_search_*, bash_*, ...): nothing to run it on this side
        function: dict[str, Any] = {"name": names.to_safe(tool["name"])}
        if isinstance(tool.get("description"), str) and tool["description"]:
            function["description"] = tool["description"]
        schema = tool.get("input_schema")
        function["parameters"] = schema if isinstance(schema, dict) else {"type": "object", "properties": {}}
        tools.append({"type": "function", "function": function})
    return tools


def _tool_choice(choice: object, names: ToolNameMap, defined: set[str]) -> object:
    choice = as_dict(choice)
    ctype = choice.get("type")
    if ctype == "any":
        return "required"
    if ctype == "none":
        return "none"
    if ctype == "tool" and isinstance(choice.get("name"), str):
        safe = names.to_safe(choice["name"])
        if safe in defined:
            return {"type": "function", "function": {"name": safe}}
        return "required"  # the named tool was a dropped server tool: still force a call
    if ctype == "auto":
        return "auto"
    return None


# --- parameters -----------------------------------------------------------------------------


def _effort(body: dict[str, Any]) -> tuple[str | None, int | None]:
    """(effort level, exact budget) asked for by ``thinking`` / ``output_config.effort``."""
    thinking = as_dict(body.get("thinking"))
    configured = as_dict(body.get("output_config")).get("effort")
    configured = _EFFORTS.get(configured) if isinstance(configured, str) else None
    if thinking.get("type") == "disabled":
        return None, None
    if thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, int) and not isinstance(budget, bool):
            level = "low" if budget < 2048 else "medium" if budget < 8192 else "high"
            return configured or level, budget
        return configured or "medium", None
    return configured, None


def _reasoning_fields(body: dict[str, Any], provider: str, model: str) -> dict[str, Any]:
    effort, budget = _effort(body)
    adaptive = as_dict(body.get("thinking")).get("type") == "adaptive"
    if provider == "openrouter":
        if budget is not None:
            return {"reasoning": {"max_tokens": budget}}
        if effort:
            return {"reasoning": {"effort": effort}}
        return {"reasoning": {"enabled": True}} if adaptive else {}
    if effort is None:
        return {}
    if provider == "openai" and is_openai_reasoning_model(model):
        return {"reasoning_effort": effort}
    if provider == "xai":
        allowed = xai_reasoning_efforts(model)
        if effort in allowed:
            return {"reasoning_effort": effort}
        if allowed:
            return {"reasoning_effort": "low" if effort == "low" else "high"}
    return {}


def _response_format(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = as_dict(as_dict(body.get("output_config")).get("format")) or as_dict(body.get("output_format"))
    if fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
        return None
    return {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": fmt["schema"], "strict": False},
    }


def _user_field(body: dict[str, Any], provider: str) -> dict[str, Any]:
    user_id = as_dict(body.get("metadata")).get("user_id")
    if not isinstance(user_id, str) or not user_id:
        return {}
    if len(user_id) > MAX_USER_ID:
        user_id = "user_" + hashlib.sha256(user_id.encode()).hexdigest()[:32]
    return {"safety_identifier" if provider == "openai" else "user": user_id}


def _is_reasoning(provider: str, model: str) -> bool:
    if provider == "openai":
        return is_openai_reasoning_model(model)
    if provider == "xai":
        return is_xai_reasoning_model(model)
    return False


def _sampling(body: dict[str, Any], provider: str, model: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    reasoning = _is_reasoning(provider, model)
    if not (provider == "openai" and reasoning):
        for key in ("temperature", "top_p"):
            value = body.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[key] = value
    top_k = body.get("top_k")
    if provider == "openrouter" and isinstance(top_k, int) and not isinstance(top_k, bool):
        out["top_k"] = top_k
    stops = [s for s in as_list(body.get("stop_sequences")) if isinstance(s, str) and s]
    if stops and not reasoning:
        out["stop"] = stops[:MAX_STOP]
    return out


# --- entry point ----------------------------------------------------------------------------


def anthropic_to_openai_request(
    body: dict[str, Any], *, model: str, provider: str
) -> tuple[dict[str, Any], ToolNameMap]:
    """An Anthropic Messages request -> (OpenAI Chat Completions request, tool name map)."""
    names = _tool_names(body)
    out: dict[str, Any] = {"model": model, "messages": _messages(body, provider, model, names)}
    tools = _tools(body, names)
    if tools:
        out["tools"] = tools
        defined = {t["function"]["name"] for t in tools}
        choice = _tool_choice(body.get("tool_choice"), names, defined)
        if choice is not None:
            out["tool_choice"] = choice
        if as_dict(body.get("tool_choice")).get("disable_parallel_tool_use") is True:
            out["parallel_tool_calls"] = False
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        key = "max_completion_tokens" if provider in ("openai", "xai") else "max_tokens"
        out[key] = max_tokens
    out.update(_sampling(body, provider, model))
    out.update(_reasoning_fields(body, provider, model))
    response_format = _response_format(body)
    if response_format:
        out["response_format"] = response_format
    out.update(_user_field(body, provider))
    if "stream" in body:
        out["stream"] = bool(body["stream"])
        if out["stream"]:
            out["stream_options"] = {"include_usage": True}
    return out, names
