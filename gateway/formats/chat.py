"""OpenAI Chat Completions: `POST /v1/chat/completions`, and every OpenAI-compatible provider.

Usage (the one normaliser of this format, for the row and the translated reply alike):
`prompt_tokens` INCLUDES `prompt_tokens_details.cached_tokens` (and `cache_write_tokens` where a
provider reports it), so those are subtracted. `completion_tokens` includes `reasoning_tokens`,
except in a dialect with `reasoning_outside_completion` (xAI): then reasoning is added to output.
In a stream the LAST non-null usage wins (xAI repeats it; OpenAI sends it once, last).
"""

from __future__ import annotations

from typing import Any

from gateway.dialects import Dialect
from gateway.errors import ClientError, openai_error_body
from gateway.formats.common import error_message, is_int, kind, nonneg, require, require_model
from gateway.pricing import Tokens
from gateway.sse import SSEEvent

NAME = "openai"
UPSTREAM_PATH = "chat/completions"
USAGE_MERGES = False  # a later usage object replaces the earlier one

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


def check_request(body: dict[str, Any], *, count_tokens: bool = False) -> None:
    """What the gateway relies on to route and account; the rest is the provider's to judge."""
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
    for key in ("max_tokens", "max_completion_tokens"):
        if body.get(key) is not None:
            require(is_int(body[key]) and body[key] >= 1, f"'{key}' must be a positive integer.", key)
    if body.get("stream_options") is not None:
        require(
            isinstance(body["stream_options"], dict), "'stream_options' must be an object.", "stream_options"
        )


def error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return openai_error_body(status, message, param=param, code=code)


def tokens(usage: dict[str, Any], quirks: Dialect) -> Tokens:
    """Normalise a Chat Completions `usage` object (OpenAI, xAI, OpenRouter, compatible servers)."""
    prompt = nonneg(usage.get("prompt_tokens"))
    completion = nonneg(usage.get("completion_tokens"))
    pdetails = usage.get("prompt_tokens_details")
    pdetails = pdetails if isinstance(pdetails, dict) else {}
    cdetails = usage.get("completion_tokens_details")
    cdetails = cdetails if isinstance(cdetails, dict) else {}
    cache_read = nonneg(pdetails.get("cached_tokens"))
    cache_write = nonneg(pdetails.get("cache_write_tokens")) or nonneg(pdetails.get("cache_creation_tokens"))
    reasoning = nonneg(cdetails.get("reasoning_tokens"))
    if quirks.reasoning_outside_completion:
        completion += reasoning
    return Tokens(
        input=max(prompt - cache_read - cache_write, 0),
        cache_read=cache_read,
        cache_write=cache_write,
        output=completion,
        reasoning=reasoning,
    )


def observe_event(ev: SSEEvent, meter: Any) -> None:
    """A chunk with a non-null `usage` (the usage chunk; xAI puts it on every chunk)."""
    data = ev.data
    if data is not None and '"usage"' in data and '"usage":null' not in data and not ev.is_done:
        parsed = ev.json()
        if isinstance(parsed, dict):
            meter.observe(parsed.get("usage"))


def canonical_usage(usage: dict[str, Any], quirks: Dialect) -> dict[str, Any]:
    """`usage` as OpenAI itself counts (reasoning inside `completion_tokens`), for a translator
    that builds the client's usage from it: the client is told what the row records."""
    if not quirks.reasoning_outside_completion:
        return usage
    t = tokens(usage, quirks)
    prompt = nonneg(usage.get("prompt_tokens"))
    return {**usage, "completion_tokens": t.output, "total_tokens": prompt + t.output}


# --- a translator reading this format's stream (gateway.bridges._TranslatingRelay) ---


def stream_error(event: str | None, data: dict[str, Any]) -> tuple[str, str] | None:
    """(message, error type) when a chunk reports an error (`{"error": ...}` mid-stream)."""
    if data.get("error"):
        return error_message(data, ""), "api_error"
    return None


def machine_args(event: str | None, data: dict[str, Any]) -> tuple[Any, ...]:
    return (data,)
