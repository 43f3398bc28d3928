"""Errors the gateway answers with, and how each client API spells them.

    GatewayError                 one HTTP status, one error type, a message safe to show a client
    ├── ClientError              400: the request itself is wrong (bad JSON, wrong type, bad param)
    ├── AuthError                401: missing or wrong gateway key
    ├── UnknownModel             404: no provider lists the model
    ├── NoUsableProvider         503: providers list the model but none has its key set
    ├── PayloadTooLarge          413
    └── UpstreamError            an upstream failed: its status (or 502 / 504) and its message
        └── UpstreamTimeout      504

`error_body(fmt, ...)` renders any of them in the client's own shape: OpenAI's
`{"error": {"message", "type", "param", "code"}}` or Anthropic's
`{"type": "error", "error": {"type", "message"}}`. Messages never contain a key.
"""

from __future__ import annotations

from typing import Any, Literal

ClientFormat = Literal["openai", "anthropic"]

# HTTP status -> (Anthropic error.type, OpenAI error.type, OpenAI error.code)
_TYPES: dict[int, tuple[str, str, str | None]] = {
    400: ("invalid_request_error", "invalid_request_error", None),
    401: ("authentication_error", "authentication_error", "invalid_api_key"),
    402: ("billing_error", "insufficient_quota", "insufficient_quota"),
    403: ("permission_error", "permission_error", None),
    404: ("not_found_error", "invalid_request_error", "model_not_found"),
    405: ("invalid_request_error", "invalid_request_error", "method_not_allowed"),
    408: ("timeout_error", "timeout", "timeout"),
    409: ("invalid_request_error", "invalid_request_error", "conflict"),
    413: ("request_too_large", "invalid_request_error", "request_too_large"),
    415: ("invalid_request_error", "invalid_request_error", "unsupported_media_type"),
    422: ("invalid_request_error", "invalid_request_error", None),
    429: ("rate_limit_error", "rate_limit_exceeded", "rate_limit_exceeded"),
    500: ("api_error", "server_error", None),
    502: ("api_error", "server_error", "bad_gateway"),
    503: ("api_error", "server_error", "service_unavailable"),
    504: ("timeout_error", "timeout", "timeout"),
    529: ("overloaded_error", "server_error", "overloaded"),
}


def error_types(status: int) -> tuple[str, str, str | None]:
    """(Anthropic type, OpenAI type, OpenAI code) for an HTTP status."""
    if status in _TYPES:
        return _TYPES[status]
    return _TYPES[400] if status < 500 else _TYPES[500]


class GatewayError(Exception):
    """An error with a status and a client-safe message."""

    status: int = 500

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.param = param
        self.code = code
        self.headers = headers or {}


class ClientError(GatewayError):
    status = 400


class AuthError(GatewayError):
    status = 401


class UnknownModel(GatewayError):
    status = 404


class NoUsableProvider(GatewayError):
    status = 503


class PayloadTooLarge(GatewayError):
    status = 413


class UpstreamError(GatewayError):
    """An upstream failure. `body` is the error already rendered for the client, when known."""

    status = 502

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, status=status, headers=headers)
        self.body = body


class UpstreamTimeout(UpstreamError):
    status = 504


def error_body(
    fmt: ClientFormat,
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """The error JSON for a client speaking `fmt`."""
    anthropic_type, openai_type, openai_code = error_types(status)
    if fmt == "anthropic":
        return {"type": "error", "error": {"type": anthropic_type, "message": message}}
    return {
        "error": {
            "message": message,
            "type": openai_type,
            "param": param,
            "code": code or openai_code,
        }
    }


def render(fmt: ClientFormat, exc: GatewayError) -> dict[str, Any]:
    """The error JSON for `exc` in the client's shape."""
    if isinstance(exc, UpstreamError) and exc.body is not None:
        return exc.body
    return error_body(fmt, exc.status, exc.message, param=exc.param, code=exc.code)
