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

ClientFormat = Literal["openai", "anthropic", "responses"]  # the names in gateway.formats.FORMATS

# THE error table (protocol.md §5.2), used by every error the gateway writes or translates:
# HTTP status -> (Anthropic error.type, OpenAI error.type, OpenAI error.code)
_TYPES: dict[int, tuple[str, str, str | None]] = {
    400: ("invalid_request_error", "invalid_request_error", None),
    401: ("authentication_error", "invalid_request_error", "invalid_api_key"),
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
    502: ("api_error", "server_error", None),
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


def openai_error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None, type: str | None = None
) -> dict[str, Any]:
    """OpenAI's shape (Chat Completions and Responses): `{"error": {message, type, param, code}}`."""
    _, openai_type, openai_code = error_types(status)
    return {
        "error": {
            "message": message,
            "type": type or openai_type,
            "param": param,
            "code": code or openai_code,
        }
    }


def anthropic_error_body(
    status: int, message: str, *, param: str | None = None, type: str | None = None
) -> dict[str, Any]:
    """Anthropic's shape: `{"type": "error", "error": {type, message}}`; it has no `param`
    field, so a parameter's name leads the message."""
    if param and param not in message:
        message = f"{param}: {message}"
    return {"type": "error", "error": {"type": type or error_types(status)[0], "message": message}}


def error_body(
    fmt: ClientFormat,
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """The error JSON for a client speaking `fmt` (its format module's `error_body`)."""
    out: dict[str, Any] = formats.FORMATS[fmt].error_body(status, message, param=param, code=code)
    return out


def render(fmt: ClientFormat, exc: GatewayError) -> dict[str, Any]:
    """The error JSON for `exc` in the client's shape."""
    if isinstance(exc, UpstreamError) and exc.body is not None:
        return exc.body
    return error_body(fmt, exc.status, exc.message, param=exc.param, code=exc.code)


from gateway import formats  # noqa: E402  (at the end: the format modules import this one)
