"""Bridges: what changes between the client's API and the provider's, for each pair of formats.

A request's path through the gateway is parse -> resolve -> bridge the request -> send ->
bridge the reply -> record. A `Bridge` holds the format-specific parts of that path:

- same format (OpenAI client -> OpenAI-format provider, Anthropic -> Anthropic): the body goes
  through with the model id replaced (and, for OpenAI streams, `stream_options.include_usage`
  forced on so the gateway can count); replies are forwarded byte for byte, except the extra
  usage chunk the client did not ask for;
- cross format: the translators in `gateway.translate` convert requests, replies, stream events
  and errors.

Each bridge reports, through its `StreamRelay`, whether the upstream stream ended properly; a
stream cut short becomes an error event in the client's format, never a silent stop.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from gateway import translate
from gateway.errors import ClientError, ClientFormat, UpstreamError, error_body, error_types
from gateway.routing import Target
from gateway.sse import SSEEvent, frame

_DONE = b"data: [DONE]\n\n"


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


class StreamRelay(Protocol):
    error: str | None  # set when the stream failed (mid-stream error or cut short)

    def feed(self, ev: SSEEvent) -> list[bytes]: ...

    def finish(self) -> list[bytes]: ...

    def fail(self, message: str, kind: str = "api_error") -> list[bytes]: ...


class Bridge(Protocol):
    client: ClientFormat
    same_format: bool

    def request_body(self, body: dict[str, Any], raw: bytes, target: Target, stream: bool) -> bytes: ...

    def response_body(self, raw: bytes, data: dict[str, Any], target: Target) -> bytes: ...

    def error_body(self, status: int, data: Any, text: str) -> dict[str, Any]: ...

    def relay(self, body: dict[str, Any], target: Target) -> StreamRelay: ...


def _upstream_message(data: Any, text: str) -> str:
    """The human message inside an upstream error body of either format."""
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(err, str):
            return err
        if isinstance(data.get("message"), str):
            return data["message"]
    text = text.strip()
    return text[:500] if text else "upstream error with an empty body"


# --- same format ----------------------------------------------------------------------------


class OpenAIRelay:
    """Forwards an OpenAI-format stream; drops the usage-only chunk the client did not ask for."""

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.finished = False  # saw a finish_reason
        self.done = False  # saw [DONE]
        self.error: str | None = None

    def feed(self, ev: SSEEvent) -> list[bytes]:
        if self.done:
            return []
        if ev.data is None:
            return [b": keep-alive\n\n"] if ev.raw.startswith(b":") else []
        if ev.is_done:
            self.done = True
            return [_DONE]
        data = ev.data
        if not (data.startswith("{") and data.rstrip().endswith("}")):
            return self.fail("the provider sent a malformed stream event")
        if '"error"' in data:
            parsed = ev.json()
            if isinstance(parsed, dict) and parsed.get("error"):
                return self.fail(_upstream_message(parsed, data), "server_error")
        if '"finish_reason":"' in data or '"finish_reason": "' in data:
            parsed = ev.json()
            if isinstance(parsed, dict):
                for choice in parsed.get("choices") or []:
                    reason = choice.get("finish_reason")
                    if reason == "error":  # OpenRouter's mid-stream failure
                        return self.fail("the provider reported an error mid-stream")
                    if reason:
                        self.finished = True
        if not self.include_usage and '"usage"' in data and '"usage":null' not in data:
            parsed = ev.json()
            if isinstance(parsed, dict) and not parsed.get("choices"):
                return []
        return [ev.raw]

    def finish(self) -> list[bytes]:
        if self.done or self.error:
            return []
        if self.finished:  # finished but no [DONE]: close it for the client
            self.done = True
            return [_DONE]
        return self.fail("the provider's stream ended before the reply was complete")

    def fail(self, message: str, kind: str = "server_error") -> list[bytes]:
        self.error = message
        self.done = True
        _, openai_type, _ = error_types(502)
        err = {"error": {"message": message, "type": kind or openai_type, "param": None, "code": None}}
        return [b"data: " + _dumps(err) + b"\n\n", _DONE]


class AnthropicRelay:
    """Forwards an Anthropic stream event by event."""

    def __init__(self) -> None:
        self.stopped = False
        self.error: str | None = None

    def feed(self, ev: SSEEvent) -> list[bytes]:
        if self.stopped:
            return []
        if ev.event == "message_stop":
            self.stopped = True
        elif ev.event == "error":
            data = ev.json()
            self.error = _upstream_message(data, ev.data or "")
            self.stopped = True
        return [ev.raw]

    def finish(self) -> list[bytes]:
        if self.stopped:
            return []
        return self.fail("the provider's stream ended before the reply was complete")

    def fail(self, message: str, kind: str = "api_error") -> list[bytes]:
        self.error = message
        self.stopped = True
        return [frame({"type": "error", "error": {"type": kind, "message": message}}, "error")]


class OpenAIPassthrough:
    client: ClientFormat = "openai"
    same_format = True

    def request_body(self, body: dict[str, Any], raw: bytes, target: Target, stream: bool) -> bytes:
        if not stream and body["model"] == target.upstream_model:
            return raw  # nothing to change: the client's bytes go as they came
        out = dict(body)
        out["model"] = target.upstream_model
        if stream:
            options = dict(out.get("stream_options") or {})
            options["include_usage"] = True
            out["stream_options"] = options
        return _dumps(out)

    def response_body(self, raw: bytes, data: dict[str, Any], target: Target) -> bytes:
        return raw

    def error_body(self, status: int, data: Any, text: str) -> dict[str, Any]:
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            if {"message", "type", "param", "code"} <= data["error"].keys():
                return data  # already complete: forwarded as the provider sent it
            err = dict(data["error"])
            err.setdefault("type", error_types(status)[1])
            err.setdefault("param", None)
            err.setdefault("code", None)
            if not isinstance(err.get("message"), str):
                err["message"] = _upstream_message(data, text)
            return {"error": err}
        return error_body("openai", status, _upstream_message(data, text))

    def relay(self, body: dict[str, Any], target: Target) -> StreamRelay:
        options = body.get("stream_options")
        asked = isinstance(options, dict) and options.get("include_usage") is True
        return OpenAIRelay(include_usage=asked)


class AnthropicPassthrough:
    client: ClientFormat = "anthropic"
    same_format = True

    def request_body(self, body: dict[str, Any], raw: bytes, target: Target, stream: bool) -> bytes:
        # thinking blocks without a signature come from an earlier turn served by an
        # OpenAI-format provider through this gateway; Anthropic would reject them
        stripped = translate.strip_unsigned_thinking(body)
        if stripped is body and body["model"] == target.upstream_model:
            return raw  # nothing to change: the client's bytes go as they came
        out = dict(stripped)
        out["model"] = target.upstream_model
        return _dumps(out)

    def response_body(self, raw: bytes, data: dict[str, Any], target: Target) -> bytes:
        return raw

    def error_body(self, status: int, data: Any, text: str) -> dict[str, Any]:
        if isinstance(data, dict) and data.get("type") == "error" and isinstance(data.get("error"), dict):
            return data
        return error_body("anthropic", status, _upstream_message(data, text))

    def relay(self, body: dict[str, Any], target: Target) -> StreamRelay:
        return AnthropicRelay()


# --- cross format ---------------------------------------------------------------------------


def _translation_error(exc: Exception) -> ClientError:
    return ClientError(str(exc), param=getattr(exc, "param", None))


class OpenAIToAnthropic:
    """An OpenAI client, an Anthropic-format provider."""

    client: ClientFormat = "openai"
    same_format = False

    def request_body(self, body: dict[str, Any], raw: bytes, target: Target, stream: bool) -> bytes:
        try:
            return _dumps(translate.openai_to_anthropic_request(body, model=target.upstream_model))
        except translate.TranslationError as exc:
            raise _translation_error(exc) from exc

    def response_body(self, raw: bytes, data: dict[str, Any], target: Target) -> bytes:
        return _dumps(translate.anthropic_to_openai_response(data, model=target.upstream_model))

    def error_body(self, status: int, data: Any, text: str) -> dict[str, Any]:
        return translate.anthropic_error_to_openai(status, data if isinstance(data, dict) else None, text)

    def relay(self, body: dict[str, Any], target: Target) -> StreamRelay:
        options = body.get("stream_options")
        asked = isinstance(options, dict) and options.get("include_usage") is True
        return _TranslatingRelay(
            translate.AnthropicToOpenAIStream(model=target.upstream_model, include_usage=asked),
            anthropic_upstream=True,
        )


class AnthropicToOpenAI:
    """An Anthropic client, an OpenAI-format provider."""

    client: ClientFormat = "anthropic"
    same_format = False

    def __init__(self) -> None:
        self.tool_names: Any = None

    def request_body(self, body: dict[str, Any], raw: bytes, target: Target, stream: bool) -> bytes:
        try:
            out, self.tool_names = translate.anthropic_to_openai_request(
                body, model=target.upstream_model, provider=target.provider.name
            )
        except translate.TranslationError as exc:
            raise _translation_error(exc) from exc
        return _dumps(out)

    def response_body(self, raw: bytes, data: dict[str, Any], target: Target) -> bytes:
        try:
            message = translate.openai_to_anthropic_response(
                data,
                model=target.upstream_model,
                provider=target.provider.name,
                tool_names=self.tool_names,
            )
        except translate.UpstreamError as exc:  # an error reported inside a 200 body
            raise UpstreamError(str(exc), status=exc.status, body=exc.anthropic_body()) from exc
        return _dumps(message)

    def error_body(self, status: int, data: Any, text: str) -> dict[str, Any]:
        return translate.openai_error_to_anthropic(status, data if isinstance(data, dict) else None, text)

    def relay(self, body: dict[str, Any], target: Target) -> StreamRelay:
        return _TranslatingRelay(
            translate.OpenAIToAnthropicStream(
                model=target.upstream_model,
                provider=target.provider.name,
                tool_names=self.tool_names,
            ),
            anthropic_upstream=False,
        )


class _TranslatingRelay:
    """Adapts a translator state machine (gateway.translate.streams) to StreamRelay."""

    def __init__(self, machine: Any, *, anthropic_upstream: bool) -> None:
        self.machine = machine
        self.anthropic_upstream = anthropic_upstream
        self.error: str | None = None
        self.closed = False

    def feed(self, ev: SSEEvent) -> list[bytes]:
        if self.closed or ev.data is None:
            return []
        if ev.is_done:
            return self.finish()
        data = ev.json()
        if not isinstance(data, dict):
            return []
        if self.anthropic_upstream:
            if ev.event == "error" or data.get("type") == "error":
                raw_err = data.get("error")
                err: dict[str, Any] = raw_err if isinstance(raw_err, dict) else {}
                return self.fail(_upstream_message(data, ev.data), str(err.get("type") or "api_error"))
            out: list[bytes] = self.machine.feed(ev.event or data.get("type"), data)
        else:
            if data.get("error"):
                return self.fail(_upstream_message(data, ev.data))
            out = self.machine.feed(data)
        self._note_error(out)
        return out

    def _note_error(self, frames: list[bytes]) -> None:
        for f in frames:
            if f.startswith((b"event: error", b'data: {"error"')):
                self.error = self.error or "the provider reported an error mid-stream"
                self.closed = True

    def finish(self) -> list[bytes]:
        if self.closed:
            return []
        self.closed = True
        out: list[bytes] = self.machine.finish()
        self._note_error(out)
        return out

    def fail(self, message: str, kind: str = "api_error") -> list[bytes]:
        if self.closed:
            return []
        self.closed = True
        self.error = message
        out: list[bytes] = self.machine.error(message, kind)
        return out


def bridge_for(client: ClientFormat, provider_format: str) -> Bridge:
    if client == "openai":
        return OpenAIPassthrough() if provider_format == "openai" else OpenAIToAnthropic()
    return AnthropicPassthrough() if provider_format == "anthropic" else AnthropicToOpenAI()
