"""OpenAI Responses API: `POST /v1/responses`, and providers that serve `{base_url}/responses`.

Usage: `input_tokens` INCLUDES `input_tokens_details.cached_tokens` (subtracted: the usage
table's input is the uncached prompt); `output_tokens` INCLUDES
`output_tokens_details.reasoning_tokens`. In a dialect with `reasoning_outside_completion` (xAI)
whose total gives it away (`total = input + output + reasoning`), reasoning is added to output.

Streams: every event's payload has `type` and `sequence_number`; usage comes once, inside the
terminal event's `response` (`response.completed`, `response.incomplete` or `response.failed`).
"""

from __future__ import annotations

from typing import Any

from gateway.dialects import Dialect
from gateway.errors import ClientError, openai_error_body
from gateway.formats.common import error_message, is_int, kind, nonneg, require, require_model
from gateway.pricing import Tokens
from gateway.sse import SSEEvent

NAME = "responses"
UPSTREAM_PATH = "responses"
USAGE_MERGES = False

# talking to a provider of this format (gateway.providers): the suffix added to a base_url that
# lacks it, headers sent on every request, and the client's headers and query parameters passed
# on when the client speaks this format too
BASE_SUFFIX = ""
FIXED_HEADERS: dict[str, str] = {}
PASS_HEADERS = ("openai-organization", "openai-project")
REPLY_HEADERS = ("x-ratelimit-",)  # provider reply headers a same-format client gets back
PASS_QUERY: dict[str, str] = {}


def auth_headers(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def check_request(body: dict[str, Any], *, count_tokens: bool = False) -> None:
    """What the gateway relies on to route and account; the provider judges the rest (unknown
    item types go through untouched to a Responses provider; a translator refuses them)."""
    require_model(body)
    items = body.get("input")
    if items is None:
        require(
            body.get("previous_response_id") is not None or body.get("conversation") is not None,
            "Missing required field 'input'.",
            "input",
        )
    elif isinstance(items, list):
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ClientError(f"'input[{i}]' must be an object, got {kind(item)}.", param=f"input[{i}]")
            if not isinstance(item.get("type", item.get("role")), str):
                raise ClientError(
                    f"'input[{i}]' needs a 'type' (or a 'role' for a message).", param=f"input[{i}]"
                )
    elif not isinstance(items, str):
        raise ClientError(f"'input' must be a string or an array of items, got {kind(items)}.", param="input")
    stream = body.get("stream", False)
    if not (isinstance(stream, bool) or stream is None):
        raise ClientError(f"'stream' must be a boolean, got {kind(stream)}.", param="stream")
    if body.get("max_output_tokens") is not None:
        require(
            is_int(body["max_output_tokens"]) and body["max_output_tokens"] >= 1,
            "'max_output_tokens' must be a positive integer.",
            "max_output_tokens",
        )
    if body.get("stream_options") is not None:
        require(
            isinstance(body["stream_options"], dict), "'stream_options' must be an object.", "stream_options"
        )
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str | list):
        raise ClientError(f"'instructions' must be a string, got {kind(instructions)}.", param="instructions")
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise ClientError(f"'tools' must be an array, got {kind(tools)}.", param="tools")


def error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return openai_error_body(status, message, param=param, code=code)


def tokens(usage: dict[str, Any], quirks: Dialect) -> Tokens:
    """Normalise a Responses `usage` object."""
    total_in = nonneg(usage.get("input_tokens"))
    output = nonneg(usage.get("output_tokens"))
    idetails = usage.get("input_tokens_details")
    idetails = idetails if isinstance(idetails, dict) else {}
    odetails = usage.get("output_tokens_details")
    odetails = odetails if isinstance(odetails, dict) else {}
    cache_read = nonneg(idetails.get("cached_tokens"))
    cache_write = nonneg(idetails.get("cache_write_tokens")) or nonneg(idetails.get("cache_creation_tokens"))
    reasoning = nonneg(odetails.get("reasoning_tokens"))
    if (
        quirks.reasoning_outside_completion
        and nonneg(usage.get("total_tokens")) == total_in + output + reasoning
    ):
        output += reasoning
    return Tokens(
        input=max(total_in - cache_read - cache_write, 0),
        cache_read=cache_read,
        cache_write=cache_write,
        output=output,
        reasoning=reasoning,
    )


def event_type(ev: SSEEvent) -> str | None:
    """The event's type: its `event:` line, else the payload's `type` (parsed only then)."""
    if ev.event:
        return ev.event
    data = ev.json()
    return data.get("type") if isinstance(data, dict) else None


def observe_event(ev: SSEEvent, meter: Any) -> None:
    """The terminal event's `response.usage`."""
    data = ev.data
    if data is None or '"usage"' not in data:
        return
    if event_type(ev) in TERMINAL_EVENTS:
        parsed = ev.json()
        response = parsed.get("response") if isinstance(parsed, dict) else None
        if isinstance(response, dict):
            meter.observe(response.get("usage"))


# --- a translator reading this format's stream (gateway.bridges._TranslatingRelay) ---


def stream_error(event: str | None, data: dict[str, Any]) -> tuple[str, str] | None:
    """(message, error type) for an `error` event or `response.failed`."""
    kind = event or data.get("type")
    if kind == "error":
        return error_message(data, ""), str(data.get("code") or "server_error")
    if kind == "response.failed":
        response = data.get("response")
        return error_message(response, ""), "api_error"
    return None


def machine_args(event: str | None, data: dict[str, Any]) -> tuple[Any, ...]:
    return (event or data.get("type"), data)
