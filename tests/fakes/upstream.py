"""A fake provider on 127.0.0.1 that speaks the real wire formats.

One aiohttp server, in its own thread, plays every provider: `/<name>/v1/messages` answers as
Anthropic, `/<name>/v1/chat/completions` as an OpenAI-format provider (openai, xai, openrouter),
`/<name>/v1/responses` as the Responses API (tests/fakes/responses.py). Each provider is validated
as the one it plays (`plays`: name -> dialect; xai and openrouter by default, so their request
extensions are checked as theirs and OpenAI's rules for everyone else).
It checks what it receives the way the real APIs do (key header, version header, body rules) and
records every request, so tests can assert what reached the provider.

By default it answers with a canned reply whose usage the test can read back from
`FakeUpstream.default_usage`; a test queues other behaviour with `fake.queue(Reply(...))`: an error
status and body, an SSE stream (events, delays, a cut-off), a hang, or a slow body.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.responses import check_responses_request, response_events, response_json

try:  # strict validators (tests/fakes/validate.py) when present
    from tests.fakes.validate import validate_anthropic_request, validate_openai_request
except ImportError:  # pragma: no cover
    validate_anthropic_request = validate_openai_request = None  # type: ignore[assignment]
try:  # the Responses validator of tests/fakes/validate.py, when present, on top of ours
    from tests.fakes.validate import validate_responses_request  # type: ignore[attr-defined]
except ImportError:
    validate_responses_request = None


@dataclass
class Reply:
    """What the fake answers to the next request (of the given provider, or any)."""

    status: int = 200
    json: Any = None  # a body to send as JSON (non-stream)
    events: list[tuple[str | None, Any]] | None = None  # SSE: (event name or None, data)
    raw_chunks: list[bytes] | None = None  # SSE bytes as-is
    delay: float = 0.0  # before the headers
    chunk_delay: float = 0.0  # between stream chunks
    cut: bool = False  # drop the connection after the events (no terminator)
    headers: dict[str, str] = field(default_factory=dict)
    provider: str | None = None  # only for requests to this provider


@dataclass
class Seen:
    provider: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


ANTHROPIC_USAGE = {
    "input_tokens": 1200,
    "cache_creation_input_tokens": 300,
    "cache_read_input_tokens": 5000,
    "output_tokens": 250,
}
OPENAI_USAGE = {
    "prompt_tokens": 6500,
    "completion_tokens": 250,
    "total_tokens": 6750,
    "prompt_tokens_details": {"cached_tokens": 5000},
    "completion_tokens_details": {"reasoning_tokens": 100},
}


def anthropic_message(model: str, text: str = "Hello from the fake.", usage: dict[str, Any] | None = None):
    return {
        "id": "msg_fake01",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage or ANTHROPIC_USAGE,
    }


def openai_completion(model: str, text: str = "Hello from the fake.", usage: dict[str, Any] | None = None):
    return {
        "id": "chatcmpl-fake01",
        "object": "chat.completion",
        "created": 1760000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage or OPENAI_USAGE,
    }


def anthropic_stream(model: str, words: list[str], usage: dict[str, Any] | None = None):
    usage = usage or ANTHROPIC_USAGE
    start_usage = {**usage, "output_tokens": 1}
    events: list[tuple[str | None, Any]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_fake01",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
    ]
    for w in words:
        events.append(
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}},
            )
        )
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


def openai_stream(model: str, words: list[str], usage: dict[str, Any] | None, *, include_usage: bool):
    base = {"id": "chatcmpl-fake01", "object": "chat.completion.chunk", "created": 1760000000, "model": model}
    extra = {"usage": None} if include_usage else {}
    events: list[tuple[str | None, Any]] = [
        (
            None,
            {
                **base,
                "choices": [
                    {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                ],
                **extra,
            },
        )
    ]
    for w in words:
        events.append(
            (
                None,
                {**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}], **extra},
            )
        )
    events.append((None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], **extra}))
    if include_usage:
        events.append((None, {**base, "choices": [], "usage": usage or OPENAI_USAGE}))
    events.append((None, "[DONE]"))
    return events


def encode_event(name: str | None, data: Any) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {payload}\n\n".encode()


class FakeUpstream:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self.strict = True
        self.plays: dict[str, str] = {"xai": "xai", "openrouter": "openrouter"}  # provider -> dialect
        self.other: list[str] = []  # requests to paths no provider serves ("GET /openai/v1/models")
        self.no_responses: set[str] = set()  # providers whose /responses answers 404 (chat only)

    # --- control, from the test thread ---
    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._replies.clear()
            self.seen.clear()
            self.other.clear()

    def base_url(self, provider: str, fmt: str) -> str:
        root = f"http://127.0.0.1:{self.port}/{provider}"
        return root if fmt == "anthropic" else root + "/v1"

    def last(self, provider: str | None = None) -> Seen:
        for s in reversed(self.seen):
            if provider is None or s.provider == provider:
                return s
        raise AssertionError(f"no request reached {provider or 'any provider'}")

    def _next(self, provider: str) -> Reply | None:
        with self._lock:
            for i, r in enumerate(self._replies):
                if r.provider in (None, provider):
                    del self._replies[i]
                    return r
        return None

    # --- server ---
    def start(self) -> None:
        thread = threading.Thread(target=self._run, name="fake-upstream", daemon=True)
        thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake upstream did not start")

    def stop(self) -> None:
        if self._loop and self._runner:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/{provider}/v1/messages", self._anthropic)
        app.router.add_post("/{provider}/v1/messages/count_tokens", self._count_tokens)
        app.router.add_post("/{provider}/v1/chat/completions", self._openai)
        app.router.add_post("/{provider}/v1/responses", self._responses)
        app.router.add_route("*", "/{tail:.*}", self._other)  # anything else: recorded, then 404
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        self._runner = runner
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        loop.run_forever()

    async def _record(self, request: web.Request) -> tuple[str, Any]:
        provider = request.match_info["provider"]
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.seen.append(
            Seen(
                provider,
                request.path,
                request.query_string,
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        return provider, body

    @staticmethod
    def _anthropic_error(status: int, kind: str, message: str) -> web.Response:
        return web.json_response(
            {"type": "error", "error": {"type": kind, "message": message}}, status=status
        )

    @staticmethod
    def _openai_error(status: int, message: str, kind: str = "invalid_request_error") -> web.Response:
        return web.json_response(
            {"error": {"message": message, "type": kind, "param": None, "code": None}}, status=status
        )

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        provider, body = await self._record(request)
        if not request.headers.get("x-api-key"):
            return self._anthropic_error(401, "authentication_error", "x-api-key header is required")
        if not request.headers.get("anthropic-version"):
            return self._anthropic_error(400, "invalid_request_error", "anthropic-version header is required")
        if not isinstance(body, dict):
            return self._anthropic_error(400, "invalid_request_error", "body must be JSON")
        problems = validate_anthropic_request(body) if (self.strict and validate_anthropic_request) else []
        if "max_tokens" not in body:
            problems.append("max_tokens: Field required")
        if problems:
            return self._anthropic_error(400, "invalid_request_error", "; ".join(problems))
        reply = self._next(provider)
        model = body.get("model", "?")
        if reply is None:
            if body.get("stream"):
                reply = Reply(events=anthropic_stream(model, ["Hello", " from", " the", " fake."]))
            else:
                reply = Reply(json=anthropic_message(model))
        return await self._answer(request, reply)

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        provider, _body = await self._record(request)
        if not request.headers.get("x-api-key"):
            return self._anthropic_error(401, "authentication_error", "x-api-key header is required")
        reply = self._next(provider)
        return await self._answer(request, reply or Reply(json={"input_tokens": 42}))

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        provider, body = await self._record(request)
        auth = request.headers.get("authorization", "")
        if provider != "local" and (not auth.startswith("Bearer ") or len(auth) < 10):  # local: keyless
            return self._openai_error(401, "Incorrect API key provided", "invalid_request_error")
        if not isinstance(body, dict):
            return self._openai_error(400, "We could not parse the JSON body of your request.")
        dialect = self.plays.get(provider, "openai")
        problems = (
            validate_openai_request(body, provider=dialect)
            if (self.strict and validate_openai_request)
            else []
        )
        if problems:
            return self._openai_error(400, "; ".join(problems))
        reply = self._next(provider)
        model = body.get("model", "?")
        if reply is None:
            if body.get("stream"):
                opts = body.get("stream_options") or {}
                reply = Reply(
                    events=openai_stream(
                        model,
                        ["Hello", " from", " the", " fake."],
                        None,
                        include_usage=bool(opts.get("include_usage")),
                    )
                )
            else:
                reply = Reply(json=openai_completion(model))
        return await self._answer(request, reply)

    async def _other(self, request: web.Request) -> web.StreamResponse:
        self.other.append(f"{request.method} {request.path}")
        return self._openai_error(404, f"No route {request.method} {request.path}")

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        provider, body = await self._record(request)
        if provider in self.no_responses:
            return web.json_response(
                {
                    "error": {
                        "message": "Not found",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "not_found",
                    }
                },
                status=404,
            )
        auth = request.headers.get("authorization", "")
        if provider != "local" and (not auth.startswith("Bearer ") or len(auth) < 10):
            return self._openai_error(401, "Incorrect API key provided", "invalid_request_error")
        if not isinstance(body, dict):
            return self._openai_error(400, "We could not parse the JSON body of your request.")
        problems = check_responses_request(body) if self.strict else []
        if self.strict and validate_responses_request is not None:
            problems += [p for p in validate_responses_request(body) if p not in problems]
        if problems:
            return self._openai_error(400, "; ".join(problems))
        reply = self._next(provider)
        model = body.get("model", "?")
        if reply is None:
            if body.get("stream"):
                reply = Reply(events=response_events(model, request=body))
            else:
                reply = Reply(json=response_json(model, request=body))
        return await self._answer(request, reply)

    async def _answer(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.events is None and reply.raw_chunks is None:
            return web.json_response(reply.json, status=reply.status, headers=reply.headers)
        resp = web.StreamResponse(
            status=reply.status, headers={"content-type": "text/event-stream", **reply.headers}
        )
        await resp.prepare(request)
        chunks = reply.raw_chunks or [encode_event(n, d) for n, d in reply.events or []]
        for chunk in chunks:
            await resp.write(chunk)
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
        if reply.cut:
            request.transport.close()  # type: ignore[union-attr]
            return resp
        await resp.write_eof()
        return resp


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
