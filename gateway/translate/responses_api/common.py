"""What the Responses translators share: tool names, minted reasoning, usage, finish reasons.

Tool names (:class:`ResponsesTools`). Chat Completions knows only flat function tools named
``^[a-zA-Z0-9_-]{1,64}$``. A Responses request has three kinds the gateway carries:

* ``function`` tools keep their name (cleaned through :class:`~gateway.translate.names.ToolNameMap`
  only when it is not a valid Chat name);
* ``custom`` (freeform) tools, such as Codex's ``apply_patch``, become a function taking one string
  parameter ``input``; a call of it comes back as a ``custom_tool_call`` whose ``input`` is that
  string;
* ``namespace`` tools (Codex's MCP servers) are flattened: each inner tool becomes a function
  named ``<namespace>__<name>``, or ``<namespace><name>`` when the namespace already ends with
  ``_`` (Codex's ``mcp__server__`` + ``search`` -> ``mcp__server__search``). A call comes back
  with ``name`` and ``namespace`` split again.

The map back is not parsed out of the joined name: it is the table built from the request's own
tools (and the calls in its history), so it is unambiguous by construction. When two tools would
get the same Chat name, or a name is too long or has forbidden characters, the later one gets
:class:`ToolNameMap`'s hashed form. A name the upstream returns that is in no table is passed
through as a plain function call.

Reasoning (:func:`mint_reasoning`, :func:`thinking_block`). A Responses ``reasoning`` item's
``encrypted_content`` is opaque to every provider but the one that made it. When Claude (through
Chat) signs a thinking block, the gateway *mints* a reasoning item whose ``encrypted_content`` is
``ekai.anthropic.`` + the signature (``ekai.anthropic-redacted.`` + the data for a redacted
block) and whose ``summary`` holds the thinking text verbatim (Anthropic checks the signature
against it). Sent back, that item becomes the signed block again. The other way, an OpenAI
reasoning item reaches a Chat client as a ``thinking_blocks`` entry whose ``signature`` is
``ekai.openai.`` + the item id + ``.`` + its ``encrypted_content``; sent back, it becomes the
reasoning item again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from gateway.translate.common import as_dict, as_int, as_list
from gateway.translate.names import ToolNameMap

ANTHROPIC_MINT = "ekai.anthropic."
ANTHROPIC_REDACTED_MINT = "ekai.anthropic-redacted."
OPENAI_MINT = "ekai.openai."
MINT_PREFIX = "ekai."

WEB_SEARCH_TOOLS = frozenset(
    {"web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11"}
)
"""Hosted web search: dropped on the way to a Chat upstream (Codex sends it on every request)."""


def new_id(prefix: str) -> str:
    """A fresh OpenAI-style object id: ``prefix`` + 32 hex digits (``resp_``, ``msg_``...)."""
    return prefix + uuid.uuid4().hex


def input_schema(description: str | None = None) -> dict[str, Any]:
    """The parameters of the function that stands for a custom (freeform) tool."""
    prop: dict[str, Any] = {"type": "string"}
    if description:
        prop["description"] = description
    return {
        "type": "object",
        "properties": {"input": prop},
        "required": ["input"],
        "additionalProperties": False,
    }


def custom_description(tool: dict[str, Any]) -> str:
    """A custom tool's description, plus its grammar when it has one (the model must follow it)."""
    description = str(tool.get("description") or "")
    fmt = as_dict(tool.get("format"))
    if fmt.get("type") == "grammar" and isinstance(fmt.get("definition"), str):
        syntax = str(fmt.get("syntax") or "lark")
        grammar = f"The `input` string must follow this {syntax} grammar:\n{fmt['definition']}"
        description = f"{description}\n\n{grammar}" if description else grammar
    return description


def joined_name(namespace: str, name: str) -> str:
    """The flat name of a namespaced tool (module docstring)."""
    return f"{namespace}{name}" if namespace.endswith("_") else f"{namespace}__{name}"


@dataclass(frozen=True)
class ToolRef:
    """What a Chat function name stands for on the Responses side."""

    name: str
    namespace: str | None = None
    custom: bool = False


class ResponsesTools:
    """Chat function names <-> Responses tools (function, custom, namespaced), per request."""

    def __init__(self, refs: list[ToolRef]) -> None:
        originals = [joined_name(r.namespace, r.name) if r.namespace else r.name for r in refs]
        self._names = ToolNameMap.build(originals)
        self._by_chat: dict[str, ToolRef] = {}
        self._by_ref: dict[tuple[str | None, str], str] = {}
        for ref, original in zip(refs, originals, strict=True):
            key = (ref.namespace, ref.name)
            if key in self._by_ref:
                continue
            chat = self._names.to_safe(original)
            if chat in self._by_chat and self._by_chat[chat] != ref:
                chat = self._names.to_safe(original + "#" + (ref.namespace or ""))
            self._by_ref[key] = chat
            self._by_chat[chat] = ref

    @classmethod
    def from_request(cls, body: dict[str, Any]) -> ResponsesTools:
        """The table for a Responses request: its tools first, then names in its history."""
        refs: list[ToolRef] = []
        for tool in map(as_dict, as_list(body.get("tools"))):
            ttype = tool.get("type")
            if ttype in ("function", "custom") and isinstance(tool.get("name"), str):
                refs.append(ToolRef(tool["name"], None, ttype == "custom"))
            elif ttype == "namespace" and isinstance(tool.get("name"), str):
                for inner in map(as_dict, as_list(tool.get("tools"))):
                    if inner.get("type") in ("function", "custom") and isinstance(inner.get("name"), str):
                        refs.append(ToolRef(inner["name"], tool["name"], inner["type"] == "custom"))
        items = body.get("input")
        for item in map(as_dict, as_list(items)):
            if item.get("type") in ("function_call", "custom_tool_call") and isinstance(
                item.get("name"), str
            ):
                namespace = item.get("namespace") if isinstance(item.get("namespace"), str) else None
                refs.append(ToolRef(item["name"], namespace, item["type"] == "custom_tool_call"))
        return cls(refs)

    def chat_name(self, name: str, namespace: str | None = None) -> str:
        """The Chat function name for a Responses tool (or a call of it)."""
        known = self._by_ref.get((namespace, name))
        if known is not None:
            return known
        return self._names.to_safe(joined_name(namespace, name) if namespace else name)

    def ref(self, chat_name: str) -> ToolRef:
        """What a Chat function name the upstream called stands for."""
        known = self._by_chat.get(chat_name)
        if known is not None:
            return known
        return ToolRef(self._names.restore(chat_name))


# --- reasoning --------------------------------------------------------------------------------


def mint_reasoning(block: dict[str, Any], item_id: str | None = None) -> dict[str, Any] | None:
    """A Chat ``thinking_blocks`` entry -> a Responses reasoning item (None: nothing to carry).

    A signed thinking block gets ``encrypted_content`` ``ekai.anthropic.<signature>``; a
    redacted block ``ekai.anthropic-redacted.<data>``; an unsigned one none; an entry this
    gateway minted from an OpenAI item (``ekai.openai.``) gets its id and content back.
    """
    btype = block.get("type")
    item: dict[str, Any] = {"id": item_id or new_id("rs_"), "type": "reasoning", "summary": []}
    if btype == "thinking":
        text = str(block.get("thinking") or "")
        signature = block.get("signature")
        if text:
            item["summary"] = [{"type": "summary_text", "text": text}]
        if isinstance(signature, str) and signature.startswith(OPENAI_MINT):
            rid, _, content = signature[len(OPENAI_MINT) :].partition(".")
            item["id"], item["encrypted_content"] = rid or item["id"], content
        elif isinstance(signature, str) and signature:
            item["encrypted_content"] = ANTHROPIC_MINT + signature
        elif not text:
            return None
        return item
    if btype == "redacted_thinking" and isinstance(block.get("data"), str) and block["data"]:
        item["encrypted_content"] = ANTHROPIC_REDACTED_MINT + block["data"]
        return item
    return None


def reasoning_text(item: dict[str, Any]) -> str:
    """The text of a reasoning item: its summary parts, else its reasoning_text content."""
    parts = [str(as_dict(p).get("text") or "") for p in as_list(item.get("summary"))]
    if not any(parts):
        parts = [str(as_dict(p).get("text") or "") for p in as_list(item.get("content"))]
    return "\n\n".join(p for p in parts if p)


def thinking_block(item: dict[str, Any]) -> dict[str, Any] | None:
    """A reasoning item minted from Claude -> its signed (or redacted) thinking block, else None."""
    encrypted = item.get("encrypted_content")
    if not isinstance(encrypted, str):
        return None
    if encrypted.startswith(ANTHROPIC_MINT):
        parts = [str(as_dict(p).get("text") or "") for p in as_list(item.get("summary"))]
        return {"type": "thinking", "thinking": "".join(parts), "signature": encrypted[len(ANTHROPIC_MINT) :]}
    if encrypted.startswith(ANTHROPIC_REDACTED_MINT):
        return {"type": "redacted_thinking", "data": encrypted[len(ANTHROPIC_REDACTED_MINT) :]}
    return None


def openai_thinking_entry(item: dict[str, Any]) -> dict[str, Any] | None:
    """An OpenAI reasoning item with ``encrypted_content`` -> a Chat ``thinking_blocks`` entry."""
    encrypted = item.get("encrypted_content")
    if not isinstance(encrypted, str) or not encrypted or encrypted.startswith(MINT_PREFIX):
        return None
    rid = item.get("id") if isinstance(item.get("id"), str) else new_id("rs_")
    return {
        "type": "thinking",
        "thinking": reasoning_text(item),
        "signature": f"{OPENAI_MINT}{rid}.{encrypted}",
    }


# --- usage and finish -------------------------------------------------------------------------


def _count(value: object) -> int:
    number = as_int(value)
    return max(number, 0) if number is not None else 0


def responses_usage_from_chat(usage: object) -> dict[str, Any]:
    """Chat ``usage`` -> Responses ``usage`` (input includes cached, output includes reasoning)."""
    u = as_dict(usage)
    prompt_details = as_dict(u.get("prompt_tokens_details"))
    completion_details = as_dict(u.get("completion_tokens_details"))
    input_tokens = _count(u.get("prompt_tokens"))
    output_tokens = _count(u.get("completion_tokens"))
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {
            "cached_tokens": _count(prompt_details.get("cached_tokens")),
            "cache_write_tokens": _count(prompt_details.get("cache_write_tokens")),
        },
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": _count(completion_details.get("reasoning_tokens"))},
        "total_tokens": input_tokens + output_tokens,
    }


def chat_usage_from_responses(usage: object) -> dict[str, Any]:
    """Responses ``usage`` -> Chat ``usage`` (the same counts under Chat's names)."""
    u = as_dict(usage)
    input_details = as_dict(u.get("input_tokens_details"))
    output_details = as_dict(u.get("output_tokens_details"))
    prompt = _count(u.get("input_tokens"))
    completion = _count(u.get("output_tokens"))
    prompt_details: dict[str, int] = {"cached_tokens": _count(input_details.get("cached_tokens"))}
    if _count(input_details.get("cache_write_tokens")):
        prompt_details["cache_write_tokens"] = _count(input_details.get("cache_write_tokens"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {"reasoning_tokens": _count(output_details.get("reasoning_tokens"))},
    }


INCOMPLETE_BY_FINISH = {"length": "max_output_tokens", "content_filter": "content_filter"}


def finish_reason_from(status: object, incomplete: object, has_calls: bool) -> str:
    """A Responses ``status`` + ``incomplete_details`` -> a Chat ``finish_reason``."""
    if status == "incomplete":
        reason = as_dict(incomplete).get("reason")
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if has_calls else "stop"


def response_error_code(kind: str) -> str:
    """An Anthropic-vocabulary error type -> a ``response.failed`` ``error.code`` the SDK knows."""
    if kind in ("rate_limit_error", "rate_limit_exceeded"):
        return "rate_limit_exceeded"
    if kind == "invalid_request_error":
        return "invalid_prompt"
    return "server_error"
