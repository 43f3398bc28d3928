"""Reading a client's request body: JSON, and the fields the gateway itself relies on.

The gateway checks what it needs to route and account (`model`, `messages`, `stream`,
`max_tokens`) and the obvious type errors, and answers them with a 400 in the client's shape
naming the field. Everything else is the provider's to judge: its own 400 is passed on.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import ClientError, ClientFormat


def parse_json(raw: bytes, content_type: str | None) -> dict[str, Any]:
    if content_type and "json" not in content_type.lower() and "text/plain" not in content_type:
        raise ClientError(
            f"Content-Type must be application/json, got {content_type.split(';')[0]!r}.",
            status=415,
        )
    if not raw or not raw.strip():
        raise ClientError("The request body is empty; send a JSON object.")
    try:
        body = orjson.loads(raw)  # several times faster than json on Claude Code's ~100 KB bodies
    except orjson.JSONDecodeError as exc:
        if "UTF-8" in exc.msg:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as bad:
                raise ClientError(f"The request body is not valid UTF-8 (byte {bad.start}).") from exc
            raise ClientError("The request body is not valid UTF-8.") from exc
        raise ClientError(
            f"The request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from exc
    if not isinstance(body, dict):
        raise ClientError(f"The request body must be a JSON object, not {_kind(body)}.")
    return body


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _require(cond: bool, message: str, param: str) -> None:
    if not cond:
        raise ClientError(message, param=param)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_request(fmt: ClientFormat, body: dict[str, Any], *, count_tokens: bool = False) -> None:
    """Raise ClientError for a body the gateway cannot route or account."""
    # runs on every request: the f-string messages are built only when a check fails
    model = body.get("model")
    _require("model" in body, "Missing required field 'model'.", "model")
    if not (isinstance(model, str) and model.strip()):
        raise ClientError(f"'model' must be a non-empty string, got {_kind(model)}.", param="model")
    messages = body.get("messages")
    _require("messages" in body, "Missing required field 'messages'.", "messages")
    if not isinstance(messages, list):
        raise ClientError(f"'messages' must be an array, got {_kind(messages)}.", param="messages")
    _require(len(messages) > 0, "'messages' must contain at least one message.", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            got = _kind(message)
            raise ClientError(f"'messages[{i}]' must be an object, got {got}.", param=f"messages[{i}]")
        if not isinstance(message.get("role"), str):
            raise ClientError(f"'messages[{i}].role' must be a string.", param=f"messages[{i}].role")
    stream = body.get("stream", False)
    if not (isinstance(stream, bool) or stream is None):
        raise ClientError(f"'stream' must be a boolean, got {_kind(stream)}.", param="stream")
    for key in ("max_tokens", "max_completion_tokens"):
        if body.get(key) is not None:
            _require(
                _is_int(body[key]) and body[key] >= 1,
                f"'{key}' must be a positive integer.",
                key,
            )
    if fmt == "anthropic" and not count_tokens:
        _require("max_tokens" in body, "Missing required field 'max_tokens'.", "max_tokens")
    if fmt == "openai" and body.get("stream_options") is not None:
        _require(
            isinstance(body["stream_options"], dict),
            "'stream_options' must be an object.",
            "stream_options",
        )
