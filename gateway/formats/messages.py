"""Anthropic Messages: `POST /v1/messages` and Anthropic-format providers.

Usage: `input_tokens` already EXCLUDES cache reads and writes; cache writes may be split into
5-minute and 1-hour parts (`cache_creation.ephemeral_{5m,1h}_input_tokens`). In a stream,
`message_start` carries input and cache counts and `message_delta` the cumulative
`output_tokens` (and, in newer API versions, repeats the others): the last value of each field
seen wins.
"""

from __future__ import annotations

from typing import Any

from gateway.dialects import Dialect
from gateway.errors import ClientError, anthropic_error_body
from gateway.formats.common import error_message, is_int, kind, nonneg, require, require_model
from gateway.pricing import Tokens
from gateway.sse import SSEEvent

NAME = "anthropic"
UPSTREAM_PATH = "messages"
USAGE_MERGES = True  # message_delta repeats fields: each field's latest value wins

# talking to a provider of this format (gateway.providers): the suffix added to a base_url that
# lacks it, headers sent on every request, and the client's headers and query parameters passed
# on when the client speaks this format too
BASE_SUFFIX = "/v1"
FIXED_HEADERS: dict[str, str] = {"anthropic-version": "2023-06-01"}
PASS_HEADERS = ("anthropic-",)  # every anthropic-* header: an open list (gateway.passthrough)
REPLY_HEADERS = ("anthropic-ratelimit-",)  # provider reply headers a same-format client gets back
PASS_QUERY: dict[str, str] = {"beta": "true"}


def auth_headers(key: str) -> dict[str, str]:
    return {"x-api-key": key}


def check_request(body: dict[str, Any], *, count_tokens: bool = False) -> None:
    require_model(body)
    messages = body.get("messages")
    require("messages" in body, "Missing required field 'messages'.", "messages")
    if not isinstance(messages, list):
        raise ClientError(f"'messages' must be an array, got {kind(messages)}.", param="messages")
    require(len(messages) > 0, "'messages' must contain at least one message.", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            got = kind(message)
            raise ClientError(f"'messages[{i}]' must be an object, got {got}.", param=f"messages[{i}]")
        if not isinstance(message.get("role"), str):
            raise ClientError(f"'messages[{i}].role' must be a string.", param=f"messages[{i}].role")
    stream = body.get("stream", False)
    if not (isinstance(stream, bool) or stream is None):
        raise ClientError(f"'stream' must be a boolean, got {kind(stream)}.", param="stream")
    if body.get("max_tokens") is not None:
        require(
            is_int(body["max_tokens"]) and body["max_tokens"] >= 1,
            "'max_tokens' must be a positive integer.",
            "max_tokens",
        )
    if not count_tokens:
        require("max_tokens" in body, "Missing required field 'max_tokens'.", "max_tokens")


def error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return anthropic_error_body(status, message, param=param)


def tokens(usage: dict[str, Any], quirks: Dialect) -> Tokens:
    """Normalise an Anthropic `usage` object."""
    cache_write = nonneg(usage.get("cache_creation_input_tokens"))
    split = usage.get("cache_creation")
    one_hour = nonneg(split.get("ephemeral_1h_input_tokens")) if isinstance(split, dict) else 0
    details = usage.get("output_tokens_details")
    reasoning = nonneg(details.get("thinking_tokens")) if isinstance(details, dict) else 0
    return Tokens(
        input=nonneg(usage.get("input_tokens")),
        cache_read=nonneg(usage.get("cache_read_input_tokens")),
        cache_write=cache_write,
        cache_write_1h=min(one_hour, cache_write),
        output=nonneg(usage.get("output_tokens")),
        reasoning=reasoning,
    )


def observe_event(ev: SSEEvent, meter: Any) -> None:
    name = ev.event
    if name == "message_start" or name == "message_delta":
        data = ev.json()
        if isinstance(data, dict):
            meter.observe_anthropic_event(name, data)


# --- a translator reading this format's stream (gateway.bridges._TranslatingRelay) ---


def stream_error(event: str | None, data: dict[str, Any]) -> tuple[str, str] | None:
    """(message, error type) for an `error` event."""
    if event == "error" or data.get("type") == "error":
        err = data.get("error")
        kind = err.get("type") if isinstance(err, dict) else None
        return error_message(data, ""), str(kind or "api_error")
    return None


def machine_args(event: str | None, data: dict[str, Any]) -> tuple[Any, ...]:
    return (event or data.get("type"), data)
