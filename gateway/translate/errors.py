"""Errors of the translation layer, and error bodies carried from one wire format to the other.

Two exceptions leave this package:

``TranslationError``
    The *client's request* cannot be carried across (``n`` > 1 to an Anthropic provider, audio
    input, an image type Anthropic does not take...). The server answers 400
    ``invalid_request_error`` in the client's own shape; :meth:`TranslationError.openai_body` and
    :meth:`TranslationError.anthropic_body` build that body.

``UpstreamError``
    The *upstream answered 200 but the body is an error*: OpenRouter reports provider failures as a
    completion whose choice has ``finish_reason: "error"`` and a top-level ``error`` object, and a
    body may have no choices at all. Reporting that as a normal stop would pass a failure off as
    an answer (protocol.md §5.3 rule 5), so the response translators raise this instead. It carries
    a ``status`` suggestion for the client response (the OpenRouter numeric code when it is an HTTP
    status, else 502) and the Anthropic ``error_type``; :meth:`UpstreamError.openai_body` and
    :meth:`UpstreamError.anthropic_body` give the body in either shape.

Upstream HTTP errors (non-2xx) keep their status; only the body changes shape, through
:func:`openai_error_to_anthropic` and :func:`anthropic_error_to_openai` (type names per
protocol.md §5.2). Both accept junk: ``None``, a list, a string, OpenRouter's numeric ``code``, an
HTML page from a proxy. Whatever cannot be read as the expected shape falls back to the raw
``text`` (trimmed), and the type always follows the HTTP status, because both SDKs choose the
exception class from the status alone.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import error_types

MAX_MESSAGE_CHARS = 2000

# HTTP status -> error types: THE table is gateway.errors._TYPES (protocol.md §5.2).

# Anthropic error.type -> OpenAI (type, code), used when there is no HTTP status to go by
# (errors inside a stream) or the Anthropic type is more precise than the status.
_OPENAI_BY_ANTHROPIC_TYPE: dict[str, tuple[str, str | None]] = {
    "invalid_request_error": ("invalid_request_error", None),
    "authentication_error": ("invalid_request_error", "invalid_api_key"),
    "billing_error": ("insufficient_quota", "insufficient_quota"),
    "permission_error": ("permission_error", None),
    "not_found_error": ("invalid_request_error", "model_not_found"),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit_error": ("rate_limit_exceeded", "rate_limit_exceeded"),
    "api_error": ("server_error", None),
    "overloaded_error": ("server_error", "overloaded"),
    "timeout_error": ("timeout", "timeout"),
}

# OpenAI error.type / code -> Anthropic error.type, for stream errors without a status.
_ANTHROPIC_BY_OPENAI_TYPE: dict[str, str] = {
    "invalid_request_error": "invalid_request_error",
    "invalid_api_key": "authentication_error",
    "authentication_error": "authentication_error",
    "insufficient_quota": "billing_error",
    "permission_error": "permission_error",
    "model_not_found": "not_found_error",
    "not_found_error": "not_found_error",
    "rate_limit_exceeded": "rate_limit_error",
    "rate_limit_error": "rate_limit_error",
    "server_error": "api_error",
    "service_unavailable": "overloaded_error",
    "overloaded": "overloaded_error",
    "timeout": "timeout_error",
}


class TranslationError(Exception):
    """A client request that cannot be expressed for the target provider (answer 400)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def openai_body(self) -> dict[str, Any]:
        """The 400 body for an OpenAI client."""
        return openai_error_body(
            self.message, "invalid_request_error", param=self.param, code="unsupported_parameter"
        )

    def anthropic_body(self) -> dict[str, Any]:
        """The 400 body for an Anthropic client (the param name goes into the message)."""
        message = f"{self.param}: {self.message}" if self.param else self.message
        return anthropic_error_body("invalid_request_error", message)


class UpstreamError(Exception):
    """An upstream reply that is an error in disguise (HTTP 200 with an error body or chunk)."""

    def __init__(self, message: str, *, error_type: str = "api_error", status: int = 502) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.status = status

    def openai_body(self) -> dict[str, Any]:
        """The error body for an OpenAI client."""
        otype, code = openai_type_for_anthropic(self.error_type)
        return openai_error_body(self.message, otype, code=code)

    def anthropic_body(self) -> dict[str, Any]:
        """The error body for an Anthropic client."""
        return anthropic_error_body(self.error_type, self.message)


def openai_error_body(
    message: str, type: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}``: the OpenAI error shape."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def anthropic_error_body(type: str, message: str) -> dict[str, Any]:
    """``{"type": "error", "error": {"type", "message"}}``: the Anthropic error shape."""
    return {"type": "error", "error": {"type": type, "message": message}}


def anthropic_type_for_status(status: int) -> str:
    """The Anthropic ``error.type`` for an HTTP status (unknown 4xx: invalid_request_error)."""
    return error_types(status)[0]


def openai_type_for_status(status: int) -> tuple[str, str | None]:
    """The OpenAI ``(error.type, error.code)`` for an HTTP status."""
    _, otype, code = error_types(status)
    return otype, code


def openai_type_for_anthropic(anthropic_type: str) -> tuple[str, str | None]:
    """OpenAI ``(type, code)`` for an Anthropic error type; unknown types pass through."""
    return _OPENAI_BY_ANTHROPIC_TYPE.get(anthropic_type, (anthropic_type, None))


def anthropic_type_for_openai(openai_type: str | None, code: object = None) -> str:
    """Anthropic error type for an OpenAI ``type``/``code`` pair (stream errors have no status)."""
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return anthropic_type_for_status(code)
    for key in (code, openai_type):
        if isinstance(key, str) and key in _ANTHROPIC_BY_OPENAI_TYPE:
            return _ANTHROPIC_BY_OPENAI_TYPE[key]
    return "api_error"


def _trim(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_MESSAGE_CHARS:
        return text[:MAX_MESSAGE_CHARS] + "..."
    return text


def _fallback_message(status: int, text: str) -> str:
    return _trim(text) or f"Upstream returned HTTP {status}"


def _message_from(error: object) -> str | None:
    """The message of an error object, or None if it has no usable one."""
    if isinstance(error, dict):
        message = error.get("message")
        if isinstance(message, str) and message.strip():
            return _trim(message)
    elif isinstance(error, str) and error.strip():
        return _trim(error)
    return None


def openai_error_to_anthropic(status: int, body: dict[str, Any] | None, text: str) -> dict[str, Any]:
    """An OpenAI-family error body (OpenAI, xAI, OpenRouter) -> an Anthropic error body."""
    error = body.get("error", body) if isinstance(body, dict) else None
    message = _message_from(error) or _fallback_message(status, text)
    metadata = error.get("metadata") if isinstance(error, dict) else None
    provider_raw = metadata.get("raw") if isinstance(metadata, dict) else None
    # OpenRouter wraps the provider's own error in metadata.raw; it is often the useful part.
    if isinstance(provider_raw, str) and provider_raw.strip() and provider_raw not in message:
        message = _trim(f"{message} ({provider_raw})")
    return anthropic_error_body(anthropic_type_for_status(status), message)


def anthropic_error_to_openai(status: int, body: dict[str, Any] | None, text: str) -> dict[str, Any]:
    """An Anthropic error body -> an OpenAI error body (``param`` is always null)."""
    error = body.get("error") if isinstance(body, dict) else None
    message = _message_from(error) or _fallback_message(status, text)
    otype, code = openai_type_for_status(status)
    atype = error.get("type") if isinstance(error, dict) else None
    # A precise Anthropic type beats a generic status (an overloaded_error sent with a 500).
    if isinstance(atype, str) and atype in _OPENAI_BY_ANTHROPIC_TYPE:
        otype, code = _OPENAI_BY_ANTHROPIC_TYPE[atype]
    return openai_error_body(message, otype, code=code)
