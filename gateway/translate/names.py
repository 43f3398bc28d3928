"""Identifiers that must survive a trip between the two formats: tool-call ids and tool names.

Tool-call ids. Anthropic accepts only ``^[a-zA-Z0-9_-]+$`` in ``tool_use.id`` and
``tool_result.tool_use_id``; other providers hand out ids such as ``functions.Bash:0`` or
``call-1.2``. :func:`sanitize_tool_id` is a pure function of the id, so applying it to both sides of
a pair (the assistant's call and the tool's answer) keeps them matching without any shared state.
When it has to change an id it appends a short hash of the original, so two ids that differ only in
forbidden characters (``a.b`` and ``a:b``) stay distinct. OpenAI rejects ``tool_calls[].id``
longer than 40 characters, so :func:`openai_tool_id` shortens long ids the same deterministic way.

Tool names. OpenAI function names must match ``^[a-zA-Z0-9_-]{1,64}$``; Anthropic allows longer
ones (MCP tools such as ``mcp__server__very_long_tool_name``). :class:`ToolNameMap` is a plain
``dict`` of *safe name -> original name*, holding only names that had to change; names that were
already valid map to themselves implicitly. Building it needs every name up front (see
:meth:`ToolNameMap.build`) so that a cleaned name never collides with a real tool: ``a.b``
becomes ``a_b`` unless a tool called ``a_b`` exists, in which case it gets the hashed form. Long
names follow LiteLLM's ``truncate_tool_name``: the first 55 characters, ``_``, and 8 hex digits
of a SHA-256.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable

TOOL_ID_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
OPENAI_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_FORBIDDEN = re.compile(r"[^a-zA-Z0-9_-]")

OPENAI_MAX_NAME = 64
OPENAI_MAX_TOOL_ID = 40
_HASH_LEN = 8


def short_hash(text: str, length: int = _HASH_LEN) -> str:
    """First ``length`` hex digits of the SHA-256 of ``text``: stable across processes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def new_tool_id() -> str:
    """A fresh Anthropic-style tool-use id, for upstream calls that arrive without one."""
    return "toolu_" + uuid.uuid4().hex[:24]


def sanitize_tool_id(tool_id: str | None) -> str:
    """Make ``tool_id`` valid for Anthropic, deterministically (same input, same output)."""
    if not tool_id:
        return "toolu_empty"
    if TOOL_ID_RE.match(tool_id):
        return tool_id
    return _FORBIDDEN.sub("_", tool_id) + "_" + short_hash(tool_id)


def openai_tool_id(tool_id: str | None) -> str:
    """Make ``tool_id`` acceptable as an OpenAI ``tool_calls[].id`` (at most 40 characters)."""
    if not tool_id:
        return "call_empty"
    if len(tool_id) <= OPENAI_MAX_TOOL_ID:
        return tool_id
    keep = OPENAI_MAX_TOOL_ID - _HASH_LEN - 1
    return tool_id[:keep] + "_" + short_hash(tool_id)


def _hashed_name(original: str) -> str:
    cleaned = _FORBIDDEN.sub("_", original)
    keep = OPENAI_MAX_NAME - _HASH_LEN - 1
    return cleaned[:keep] + "_" + short_hash(original)


class ToolNameMap(dict[str, str]):
    """Safe OpenAI function name -> original (Anthropic) tool name, for the names that changed.

    It is a ``dict`` so that the server can log it, copy it or keep it per request as is.
    :meth:`restore` turns a name that came back from the upstream into the client's name;
    :meth:`to_safe` gives (and records) the safe name for an original name.
    """

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(items)
        self._reverse: dict[str, str] = {orig: safe for safe, orig in self.items()}
        self._taken: set[str] = set(self.keys())

    @classmethod
    def build(cls, names: Iterable[str]) -> ToolNameMap:
        """Map every name in ``names``; valid names are reserved first so nothing collides."""
        ordered = list(dict.fromkeys(names))
        result = cls()
        for name in ordered:
            if OPENAI_NAME_RE.match(name):
                result._taken.add(name)
                result._reverse[name] = name
        for name in ordered:
            result.to_safe(name)
        return result

    def to_safe(self, original: str) -> str:
        """The OpenAI-safe name for ``original``, recording it if it had to change."""
        known = self._reverse.get(original)
        if known is not None:
            return known
        if OPENAI_NAME_RE.match(original) and original not in self._taken:
            safe = original
        else:
            cleaned = _FORBIDDEN.sub("_", original)
            if 0 < len(cleaned) <= OPENAI_MAX_NAME and cleaned not in self._taken:
                safe = cleaned
            else:
                safe = _hashed_name(original)
            self[safe] = original
        self._taken.add(safe)
        self._reverse[original] = safe
        return safe

    def restore(self, name: str) -> str:
        """The client's original name for a name the upstream used (unknown names unchanged)."""
        return self.get(name, name)
