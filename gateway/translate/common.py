"""Small helpers shared by the request, response and stream translators."""

from __future__ import annotations

import json
from typing import Any

JSON_TOOL_NAME = "json_tool_call"
"""Name of the forced tool that emulates OpenAI ``response_format`` on Anthropic (LiteLLM's)."""


def parse_arguments(arguments: object) -> dict[str, Any]:
    """OpenAI ``function.arguments`` -> an Anthropic ``input`` object (protocol.md §9.11).

    Empty or null becomes ``{}``. Invalid JSON, or JSON that is not an object, is kept verbatim
    under ``_raw`` so that nothing the model produced is lost and ``input`` stays an object.
    Some OpenAI-compatible servers send a parsed object instead of a string; it is taken as is.
    """
    if arguments is None:
        return {}
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str):
        return {"_raw": json.dumps(arguments)}
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"_raw": arguments}


def dump_arguments(tool_input: object) -> str:
    """Anthropic ``input`` -> OpenAI ``arguments``: always a JSON string, ``"{}"`` when empty."""
    if tool_input is None or tool_input == {}:
        return "{}"
    return json.dumps(tool_input, ensure_ascii=False)


def as_number(value: object) -> float | None:
    """``value`` as a float if it is a JSON number (booleans are not numbers here), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def as_int(value: object) -> int | None:
    """``value`` if it is a JSON integer (not a boolean), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_dict(value: object) -> dict[str, Any]:
    """``value`` if it is a dict, else an empty dict (for optional nested objects)."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """``value`` if it is a list, else an empty list."""
    return value if isinstance(value, list) else []
