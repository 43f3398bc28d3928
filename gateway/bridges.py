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

from gateway import formats, translate
from gateway.errors import ClientError, ClientFormat, UpstreamError, error_body, error_types
from gateway.formats import chat as chat_fmt
from gateway.formats import responses as responses_fmt
from gateway.routing import Target
from gateway.sse import SSEEvent, frame
from gateway.translate import responses_api as rapi

_DONE = b"data: [DONE]\n\n"


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


class StreamRelay(Protocol):
    error: str | None  # set when the stream failed (mid-stream error or cut short)

    @property
    def complete(self) -> bool: ...  # the stream's successful end has been produced

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


def openai_family_error(status: int, data: Any, text: str) -> dict[str, Any]:
    """An OpenAI-family provider's error (Chat Completions or Responses) for an OpenAI-shaped
    client: its own `error` object kept (param and code included), completed where it lacks."""
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        if {"message", "type", "param", "code"} <= data["error"].keys():
            return data  # already complete: forwarded as the provider sent it (byte for byte, proxy)
        err = dict(data["error"])
        err.setdefault("type", error_types(status)[1])
        err.setdefault("param", None)
        err.setdefault("code", None)
        if not isinstance(err.get("message"), str):
            err["message"] = _upstream_message(data, text)
        return {"error": err}
    return error_body("openai", status, _upstream_message(data, text))


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

    @property
    def complete(self) -> bool:
        return self.done and self.error is None

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

    @property
    def complete(self) -> bool:
        return self.stopped and self.error is None

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
        return openai_family_error(status, data, text)

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
    """A request the target cannot take: 400 naming the parameter, with the translator's code."""
    code = getattr(exc, "code", None) or "unsupported_parameter"
    return ClientError(str(exc), param=getattr(exc, "param", None), code=code)


_STATUS_BY_ANTHROPIC_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def anthropic_reply_error(data: dict[str, Any]) -> UpstreamError | None:
    """An Anthropic reply that is an error in a 200 (`{"type": "error", ...}`): an upstream error
    with the status its type stands for (unknown or `api_error`: 502), for the client to see as
    one, never a success or an internal error."""
    if data.get("type") != "error":
        return None
    err = data.get("error")
    kind = err.get("type") if isinstance(err, dict) else None
    status = _STATUS_BY_ANTHROPIC_TYPE.get(kind if isinstance(kind, str) else "", 502)
    body = translate.anthropic_error_to_openai(status, data, "")
    return UpstreamError(
        f"upstream error in a 200 reply: {_upstream_message(data, '')}", status=status, body=body
    )


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
        error = anthropic_reply_error(data)
        if error is not None:
            raise error
        return _dumps(translate.anthropic_to_openai_response(data, model=target.upstream_model))

    def error_body(self, status: int, data: Any, text: str) -> dict[str, Any]:
        return translate.anthropic_error_to_openai(status, data if isinstance(data, dict) else None, text)

    def relay(self, body: dict[str, Any], target: Target) -> StreamRelay:
        options = body.get("stream_options")
        asked = isinstance(options, dict) and options.get("include_usage") is True
        return _TranslatingRelay(
            translate.AnthropicToOpenAIStream(model=target.upstream_model, include_usage=asked),
            upstream="anthropic",
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
                body, model=target.upstream_model, provider=target.provider.dialect
            )
        except translate.TranslationError as exc:
            raise _translation_error(exc) from exc
        return _dumps(out)

    def response_body(self, raw: bytes, data: dict[str, Any], target: Target) -> bytes:
        try:
            message = translate.openai_to_anthropic_response(
                data,
                model=target.upstream_model,
                provider=target.provider.dialect,
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
                provider=target.provider.dialect,
                tool_names=self.tool_names,
            ),
            upstream="openai",
        )


class _TranslatingRelay:
    """Adapts a translator state machine (gateway.translate.streams) to StreamRelay.

    `upstream` is the provider's wire format; its module says how an event is handed to the
    machine (`machine_args`) and which events are errors (`stream_error`)."""

    def __init__(self, machine: Any, *, upstream: str) -> None:
        self.machine = machine
        self.upstream = formats.FORMATS[upstream]  # how its events reach the machine, which are errors
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
        error = self.upstream.stream_error(ev.event, data)
        if error is not None:
            return self.fail(*error)
        out: list[bytes] = self.machine.feed(*self.upstream.machine_args(ev.event, data))
        self._note_error(out)
        return out

    def _note_error(self, frames: list[bytes]) -> None:
        for f in frames:
            if f.startswith(_ERROR_FRAMES) or b'"type":"response.failed"' in f[:80]:
                self.error = self.error or "the provider reported an error mid-stream"
                self.closed = True

    @property
    def complete(self) -> bool:
        return self.closed and self.error is None

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


_ERROR_FRAMES = (b"event: error", b'data: {"error"', b"event: response.failed", b'data: {"type":"error"')


def _chat_chunks(frames: list[bytes]) -> list[dict[str, Any] | None]:
    """The chunks inside Chat Completions frames (None for `[DONE]`); comments are dropped."""
    chunks: list[dict[str, Any] | None] = []
    for f in frames:
        for block in f.split(b"\n\n"):
            if not block.startswith(b"data: "):
                continue
            payload = block[6:].strip()
            if payload == b"[DONE]":
                chunks.append(None)
                continue
            data = orjson.loads(payload)
            if isinstance(data, dict):
                chunks.append(data)
    return chunks


class ComposedStream:
    """Two stream machines through Chat Completions: `first` turns the upstream's events into
    chat chunk frames, `second` turns chat chunks into the client's frames. Only the
    cross-format paths that have no direct translator pay for the intermediate frames."""

    def __init__(self, first: Any, second: Any) -> None:
        self.first = first
        self.second = second
        self.over = False

    def _through(self, frames: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for chunk in _chat_chunks(frames):
            if self.over:
                break
            if chunk is None:
                continue  # [DONE]: the second machine ends in finish()
            err = chunk.get("error")
            if err:
                self.over = True
                message = err.get("message") if isinstance(err, dict) else str(err)
                kind = err.get("type") if isinstance(err, dict) else None
                out += self.second.error(str(message), str(kind or "server_error"))
                continue
            out += self.second.feed(chunk)
        return out

    def feed(self, *args: Any) -> list[bytes]:
        return self._through(self.first.feed(*args))

    def finish(self) -> list[bytes]:
        out = self._through(self.first.finish())
        if not self.over:
            self.over = True
            out += self.second.finish()
        return out

    def error(self, message: str, kind: str = "api_error") -> list[bytes]:
        if self.over:
            return []
        self.over = True
        out: list[bytes] = self.second.error(message, kind)
        return out


# --- the Responses API ------------------------------------------------------------------------


class ResponsesRelay:
    """Forwards a Responses stream event by event; ends it with `response.failed` if it breaks.

    The stream is over at `response.completed` / `response.incomplete` (success) or
    `response.failed` / `error` (the provider's failure, recorded). Only the event names are
    read (the `event:` line; the payload's `type` where a server omits it); `response.created`
    is parsed once so a failure the gateway adds can name the response."""

    def __init__(self) -> None:
        self.ended = False
        self.error: str | None = None
        self.response: dict[str, Any] = {}
        self.last: SSEEvent | None = None

    def feed(self, ev: SSEEvent) -> list[bytes]:
        if self.ended:
            return []
        if ev.data is None:
            return [b": keep-alive\n\n"] if ev.raw.startswith(b":") else []
        kind = responses_fmt.event_type(ev)
        if kind in ("response.completed", "response.incomplete"):
            self.ended = True
        elif kind == "response.failed" or kind == "error":
            self.ended = True
            data = ev.json()
            inner = data.get("response") if isinstance(data, dict) and kind == "response.failed" else data
            self.error = _upstream_message(inner if isinstance(inner, dict) else {}, ev.data)
        elif kind == "response.created":
            data = ev.json()
            if isinstance(data, dict) and isinstance(data.get("response"), dict):
                self.response = data["response"]
        self.last = ev
        return [ev.raw]

    @property
    def complete(self) -> bool:
        return self.ended and self.error is None

    def finish(self) -> list[bytes]:
        if self.ended:
            return []
        return self.fail("the provider's stream ended before the response was complete")

    def fail(self, message: str, kind: str = "server_error") -> list[bytes]:
        if self.ended:
            return []
        self.ended = True
        self.error = message
        last = self.last.json() if self.last is not None else None
        seq = last.get("sequence_number") if isinstance(last, dict) else None
        return [failed_event(self.response, message, kind, (seq + 1) if isinstance(seq, int) else 0)]


def failed_event(response: dict[str, Any], message: str, kind: str, sequence_number: int) -> bytes:
    """A `response.failed` event ending a Responses stream the gateway has to cut short."""
    failed = {
        "id": "resp_failed",
        "object": "response",
        "created_at": 0,
        "model": "",
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        **response,
        "status": "failed",
        "error": {
            "code": "server_error" if kind in ("api_error", "server_error") else kind,
            "message": message,
        },
        "incomplete_details": None,
        "usage": None,
    }
    payload = {"type": "response.failed", "sequence_number": sequence_number, "response": failed}
    return frame(payload, "response.failed")


def _check_previous_response(body: dict[str, Any], target: Target) -> None:
    """A translated provider holds no earlier responses: say so rather than drop the field."""
    previous = body.get("previous_response_id")
    if previous is not None:
        raise ClientError(
            f"'previous_response_id' ({previous!r}) needs the provider that stored that response; "
            f"{target.provider.name} serves {target.upstream_model} through translation and holds "
            "none. Send the whole conversation in 'input' (with store=false, as Codex does).",
            param="previous_response_id",
            code="previous_response_not_found",
        )


class ResponsesPassthrough:
    """A Responses client, a provider serving the Responses API: bytes through."""

    client: ClientFormat = "responses"
    same_format = True

    def request_body(self, body: dict[str, Any], raw: bytes, target: Target, stream: bool) -> bytes:
        if body["model"] == target.upstream_model:
            return raw  # nothing to change: the client's bytes go as they came
        return _dumps({**body, "model": target.upstream_model})

    def response_body(self, raw: bytes, data: dict[str, Any], target: Target) -> bytes:
        return raw

    def error_body(self, status: int, data: Any, text: str) -> dict[str, Any]:
        return openai_family_error(status, data, text)

    def relay(self, body: dict[str, Any], target: Target) -> StreamRelay:
        return ResponsesRelay()


class ResponsesToChat:
    """A Responses client, a Chat Completions provider (xAI, OpenRouter, any compatible server)."""

    client: ClientFormat = "responses"
    same_format = False

    def __init__(self) -> None:
        self.request: dict[str, Any] = {}

    def request_body(self, body: dict[str, Any], raw: bytes, target: Target, stream: bool) -> bytes:
        _check_previous_response(body, target)
        self.request = body
        try:
            # Claude's signed thinking (thinking_blocks) only for the Claude leg: Chat APIs refuse it
            out = rapi.responses_to_chat_request(body, model=target.upstream_model, thinking_blocks=False)
        except translate.TranslationError as exc:
            raise _translation_error(exc) from exc
        if stream:
            out["stream_options"] = {**(out.get("stream_options") or {}), "include_usage": True}
        return _dumps(out)

    def response_body(self, raw: bytes, data: dict[str, Any], target: Target) -> bytes:
        if isinstance(data.get("usage"), dict):
            data = {**data, "usage": chat_fmt.canonical_usage(data["usage"], target.provider.quirks)}
        return _dumps(_chat_to_responses(data, target, self.request))

    def error_body(self, status: int, data: Any, text: str) -> dict[str, Any]:
        return openai_family_error(status, data, text)

    def relay(self, body: dict[str, Any], target: Target) -> StreamRelay:
        machine: Any = rapi.ChatToResponsesStream(target.upstream_model, body)
        if target.provider.quirks.reasoning_outside_completion:
            machine = _CanonicalUsage(machine, target)
        return _TranslatingRelay(machine, upstream="openai")


class _CanonicalUsage:
    """Feeds a Chat Completions stream machine usage as OpenAI counts it (gateway.dialects)."""

    def __init__(self, machine: Any, target: Target) -> None:
        self.machine = machine
        self.quirks = target.provider.quirks
        self.finish = machine.finish
        self.error = machine.error

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            chunk = {**chunk, "usage": chat_fmt.canonical_usage(usage, self.quirks)}
        out: list[bytes] = self.machine.feed(chunk)
        return out


def _chat_to_responses(data: dict[str, Any], target: Target, request: dict[str, Any]) -> dict[str, Any]:
    try:
        out: dict[str, Any] = rapi.chat_to_responses_response(
            data, model=target.upstream_model, request=request
        )
    except translate.UpstreamError as exc:  # an error reported inside a 200 body
        raise UpstreamError(str(exc), status=exc.status, body=exc.openai_body()) from exc
    return out


class ResponsesToAnthropic:
    """A Responses client, an Anthropic provider: through Chat Completions, both ways."""

    client: ClientFormat = "responses"
    same_format = False

    def __init__(self) -> None:
        self.request: dict[str, Any] = {}

    def request_body(self, body: dict[str, Any], raw: bytes, target: Target, stream: bool) -> bytes:
        _check_previous_response(body, target)
        self.request = body
        try:
            chat = rapi.responses_to_chat_request(body, model=target.upstream_model)
            return _dumps(translate.openai_to_anthropic_request(chat, model=target.upstream_model))
        except translate.TranslationError as exc:
            raise _translation_error(exc) from exc

    def response_body(self, raw: bytes, data: dict[str, Any], target: Target) -> bytes:
        error = anthropic_reply_error(data)
        if error is not None:
            raise error
        chat = translate.anthropic_to_openai_response(data, model=target.upstream_model)
        return _dumps(_chat_to_responses(chat, target, self.request))

    def error_body(self, status: int, data: Any, text: str) -> dict[str, Any]:
        return translate.anthropic_error_to_openai(status, data if isinstance(data, dict) else None, text)

    def relay(self, body: dict[str, Any], target: Target) -> StreamRelay:
        first = translate.AnthropicToOpenAIStream(model=target.upstream_model, include_usage=True)
        second = rapi.ChatToResponsesStream(target.upstream_model, body)
        return _TranslatingRelay(ComposedStream(first, second), upstream="anthropic")


class ChatToResponses:
    """A Chat Completions client, a model served only through the Responses API."""

    client: ClientFormat = "openai"
    same_format = False

    def request_body(self, body: dict[str, Any], raw: bytes, target: Target, stream: bool) -> bytes:
        try:
            return _dumps(rapi.chat_to_responses_request(body, model=target.upstream_model))
        except translate.TranslationError as exc:
            raise _translation_error(exc) from exc

    def response_body(self, raw: bytes, data: dict[str, Any], target: Target) -> bytes:
        return _dumps(_responses_to_chat(data, target))

    def error_body(self, status: int, data: Any, text: str) -> dict[str, Any]:
        return openai_family_error(status, data, text)

    def relay(self, body: dict[str, Any], target: Target) -> StreamRelay:
        options = body.get("stream_options")
        asked = isinstance(options, dict) and options.get("include_usage") is True
        return _TranslatingRelay(
            rapi.ResponsesToChatStream(target.upstream_model, asked), upstream="responses"
        )


def _responses_to_chat(data: dict[str, Any], target: Target) -> dict[str, Any]:
    if data.get("status") == "failed" or (data.get("error") and not data.get("output")):
        err = data.get("error")
        message = _upstream_message({"error": err} if err else data, "")
        raise UpstreamError(
            f"upstream error in a 200 reply: {message}", status=502, body=error_body("openai", 502, message)
        )
    out: dict[str, Any] = rapi.responses_to_chat_response(data, model=target.upstream_model)
    return out


class AnthropicToResponses:
    """A Messages client (Claude Code), a model served only through the Responses API: through
    Chat Completions, both ways."""

    client: ClientFormat = "anthropic"
    same_format = False

    def __init__(self) -> None:
        self.tool_names: Any = None

    def request_body(self, body: dict[str, Any], raw: bytes, target: Target, stream: bool) -> bytes:
        try:
            chat, self.tool_names = translate.anthropic_to_openai_request(
                body, model=target.upstream_model, provider=target.provider.dialect
            )
            return _dumps(rapi.chat_to_responses_request(chat, model=target.upstream_model))
        except translate.TranslationError as exc:
            raise _translation_error(exc) from exc

    def response_body(self, raw: bytes, data: dict[str, Any], target: Target) -> bytes:
        chat = _responses_to_chat(data, target)
        try:
            message = translate.openai_to_anthropic_response(
                chat,
                model=target.upstream_model,
                provider=target.provider.dialect,
                tool_names=self.tool_names,
            )
        except translate.UpstreamError as exc:
            raise UpstreamError(str(exc), status=exc.status, body=exc.anthropic_body()) from exc
        return _dumps(message)

    def error_body(self, status: int, data: Any, text: str) -> dict[str, Any]:
        return translate.openai_error_to_anthropic(status, data if isinstance(data, dict) else None, text)

    def relay(self, body: dict[str, Any], target: Target) -> StreamRelay:
        first = rapi.ResponsesToChatStream(target.upstream_model, True)
        second = translate.OpenAIToAnthropicStream(
            model=target.upstream_model, provider=target.provider.dialect, tool_names=self.tool_names
        )
        return _TranslatingRelay(ComposedStream(first, second), upstream="responses")


# --- the registry -----------------------------------------------------------------------------

# (client format, upstream format) -> the bridge class (instantiated per request: some keep state)
BRIDGES: dict[tuple[str, str], type[Any]] = {
    ("openai", "openai"): OpenAIPassthrough,
    ("openai", "anthropic"): OpenAIToAnthropic,
    ("openai", "responses"): ChatToResponses,
    ("anthropic", "anthropic"): AnthropicPassthrough,
    ("anthropic", "openai"): AnthropicToOpenAI,
    ("anthropic", "responses"): AnthropicToResponses,
    ("responses", "responses"): ResponsesPassthrough,
    ("responses", "openai"): ResponsesToChat,
    ("responses", "anthropic"): ResponsesToAnthropic,
}

_missing = [(c, u) for c in formats.FORMATS for u in formats.FORMATS if (c, u) not in BRIDGES]
if _missing:  # a format without its bridges is an error when the gateway starts
    raise ImportError(f"no bridge for (client, upstream) format pairs: {_missing}")


def upstream_format(client: str, target: Target) -> str:
    """The wire format a request is sent in: the provider's, except that a provider serving the
    Responses API too gets a Responses client's request as is, and a model whose price entry says
    `format: responses` is sent only through the Responses API."""
    provider = target.provider
    if provider.format != "openai":
        return provider.format
    if target.price is not None and target.price.responses_only:
        return "responses"
    return "responses" if client == "responses" and provider.responses else "openai"


def bridge_for(client: ClientFormat, upstream: str) -> Bridge:
    bridge: Bridge = BRIDGES[(client, upstream)]()
    return bridge
