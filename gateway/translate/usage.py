"""Token usage and stop reasons, converted between the two formats (protocol.md §2.3, §2.4, §8).

The one rule that every gateway gets wrong at least once: Anthropic's ``input_tokens`` *excludes*
cache reads and writes, OpenAI's ``prompt_tokens`` *includes* them. So toward OpenAI the three
Anthropic counts are added up, and toward Anthropic the cached parts are subtracted (never below 0).

Provider quirks handled here rather than in every caller:

* xAI's ``completion_tokens`` excludes reasoning (``total = prompt + completion + reasoning``), so
  for a dialect with ``reasoning_outside_completion`` the reasoning tokens are added to Anthropic
  ``output_tokens`` (gateway.formats.chat.tokens, the normaliser the usage row uses too).
* ``prompt_tokens_details.cache_write_tokens`` (OpenAI SDK 3.3.1+, OpenRouter) becomes
  ``cache_creation_input_tokens``; absent means 0.

Stop reasons never pass through unmapped: an unknown Anthropic ``stop_reason`` becomes ``stop``
(strict OpenAI parsers reject unknown values), an unknown ``finish_reason`` becomes ``end_turn``.
OpenRouter's ``finish_reason: "error"`` is not a stop reason at all; callers check
:func:`is_error_finish` and raise instead.
"""

from __future__ import annotations

from typing import Any

from gateway.dialects import DEFAULT_DIALECT, DIALECTS
from gateway.formats.chat import tokens as chat_tokens

_FINISH_BY_STOP: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

_STOP_BY_FINISH: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def _int(value: object) -> int:
    """A non-negative int from a usage field that may be missing, null, a float or junk."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float):
        return max(int(value), 0)
    return 0


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def finish_reason_for(stop_reason: str | None) -> str:
    """Anthropic ``stop_reason`` -> OpenAI ``finish_reason``."""
    return _FINISH_BY_STOP.get(stop_reason or "", "stop")


def stop_reason_for(finish_reason: str | None, *, has_tool_calls: bool) -> str:
    """OpenAI ``finish_reason`` -> Anthropic ``stop_reason`` (``stop`` + tool calls: tool_use)."""
    if has_tool_calls and finish_reason in (None, "stop", "tool_calls", "function_call"):
        return "tool_use"
    return _STOP_BY_FINISH.get(finish_reason or "", "end_turn")


def is_error_finish(finish_reason: object) -> bool:
    """True for OpenRouter's ``finish_reason: "error"``, which must surface as an error."""
    return finish_reason == "error"


def openai_usage_from_anthropic(usage: dict[str, Any] | None) -> dict[str, Any]:
    """Anthropic ``usage`` -> OpenAI ``usage`` (prompt includes cache reads and writes)."""
    u = _dict(usage)
    uncached = _int(u.get("input_tokens"))
    cache_read = _int(u.get("cache_read_input_tokens"))
    cache_write = _int(u.get("cache_creation_input_tokens"))
    output = _int(u.get("output_tokens"))
    thinking = _int(_dict(u.get("output_tokens_details")).get("thinking_tokens"))
    prompt = uncached + cache_read + cache_write
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": cache_read, "cache_write_tokens": cache_write},
        "completion_tokens_details": {"reasoning_tokens": thinking},
    }


def anthropic_usage_from_openai(usage: dict[str, Any] | None, *, provider: str) -> dict[str, int]:
    """OpenAI-family ``usage`` -> Anthropic ``usage`` with the four counts the SDK reads.

    ``provider`` is the provider's dialect (gateway.dialects); the counts come from the one Chat
    Completions normaliser (gateway.formats.chat.tokens), the same that writes the usage row."""
    t = chat_tokens(_dict(usage), DIALECTS.get(provider, DIALECTS[DEFAULT_DIALECT]))
    return {
        "input_tokens": t.input,
        "cache_creation_input_tokens": t.cache_write,
        "cache_read_input_tokens": t.cache_read,
        "output_tokens": t.output,
    }
