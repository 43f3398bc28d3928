"""A minimal, fast fake provider for the benchmark: both wire formats, streaming or not.

    python bench/fake_upstream.py [--port P] [--chunks N] [--chunk-delay-ms MS]

One process, one event loop (uvloop when installed), a raw asyncio protocol with httptools as the
HTTP/1.1 parser: no framework, so the fake costs as little CPU per request as Python allows and
the benchmark measures the gateway, not the fake. Any path ending in `/chat/completions` answers as
an OpenAI-format provider, any path ending in `/messages` as Anthropic, `/responses` as the
OpenAI Responses API; the leading segment (the
provider name in `http://127.0.0.1:P/<name>/v1`) is ignored.

- OpenAI non-stream: a canned `chat.completion` with usage, cached tokens included.
- OpenAI stream: a role chunk, N content chunks, a finish chunk, then (only when the request has
  `stream_options.include_usage`) a usage chunk with `choices: []`, then `data: [DONE]`. Like the
  real API, with include_usage every other chunk carries `"usage":null`.
- Anthropic non-stream: a canned `message` with usage, cache reads and writes included.
- Anthropic stream: message_start (with usage), ping, content_block_start, N text deltas,
  content_block_stop, message_delta (stop_reason, output_tokens), message_stop.

Streams use chunked transfer encoding, one write per event (like a server flushing each token).
By default the first event (with the headers) goes out at once, then after a 1 ms pause
(`--first-gap-ms`) the rest back to back: so the time to the first byte measures relaying the
first event, not the whole stream, and the relay sees more than one read per stream, as with a
real provider. `--chunk-delay-ms` spaces out every event; `--first-gap-ms 0` sends one burst.

Replies are built once per (kind, model) and cached in a small bounded dict; nothing about
requests is recorded, so memory stays flat however long it runs.

It prints `READY <port>` on stdout once listening, and stops on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

import httptools

OPENAI_USAGE = {
    "prompt_tokens": 1250,
    "completion_tokens": 180,
    "total_tokens": 1430,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}
ANTHROPIC_USAGE = {
    "input_tokens": 226,
    "cache_creation_input_tokens": 128,
    "cache_read_input_tokens": 1024,
    "output_tokens": 180,
}
TEXT = "The quick brown fox jumps over the lazy dog."
WORDS = ["The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", "."]


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (f"event: {event}\n" if event else "").encode() + f"data: {payload}\n\n".encode()


def openai_completion(model: str) -> bytes:
    return _dumps(
        {
            "id": "chatcmpl-bench0001",
            "object": "chat.completion",
            "created": 1764230400,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": TEXT, "refusal": None, "annotations": []},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": OPENAI_USAGE,
            "service_tier": "default",
            "system_fingerprint": "fp_bench",
        }
    )


def openai_stream(model: str, chunks: int, include_usage: bool) -> list[bytes]:
    base = {"id": "chatcmpl-bench0001", "object": "chat.completion.chunk", "created": 1764230400}
    base |= {"model": model, "service_tier": "default", "system_fingerprint": "fp_bench"}
    extra = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _sse({**base, "choices": [choice], **extra})

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": WORDS[i % len(WORDS)]}) for i in range(chunks)]
    events.append(chunk({}, "stop"))
    if include_usage:
        events.append(_sse({**base, "choices": [], "usage": OPENAI_USAGE}))
    events.append(_sse("[DONE]"))
    return events


def anthropic_message(model: str) -> bytes:
    return _dumps(
        {
            "id": "msg_bench0001",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": TEXT}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": ANTHROPIC_USAGE,
        }
    )


def anthropic_stream(model: str, chunks: int) -> list[bytes]:
    start_usage = {**ANTHROPIC_USAGE, "output_tokens": 1}
    message = {
        "id": "msg_bench0001",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    events = [
        _sse({"type": "message_start", "message": message}, "message_start"),
        _sse({"type": "ping"}, "ping"),
        _sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),
    ]
    for i in range(chunks):
        delta = {"type": "text_delta", "text": WORDS[i % len(WORDS)]}
        events.append(
            _sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")
        )
    events += [
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": ANTHROPIC_USAGE["output_tokens"]},
            },
            "message_delta",
        ),
        _sse({"type": "message_stop"}, "message_stop"),
    ]
    return events


RESPONSES_USAGE = {
    "input_tokens": 1250,
    "input_tokens_details": {"cached_tokens": 1024},
    "output_tokens": 180,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 1430,
}


def _response(model: str, status: str, output: list[Any], usage: Any) -> dict[str, Any]:
    return {
        "id": "resp_bench0001",
        "object": "response",
        "created_at": 1764230400,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
    }


_MESSAGE = {"type": "message", "id": "msg_bench0001", "status": "completed", "role": "assistant"}
_TEXT_PART = {"type": "output_text", "annotations": [], "logprobs": []}


def responses_json(model: str) -> bytes:
    item = {**_MESSAGE, "content": [{**_TEXT_PART, "text": TEXT}]}
    return _dumps(_response(model, "completed", [item], RESPONSES_USAGE))


def responses_stream(model: str, chunks: int) -> list[bytes]:
    """The Responses API's event stream for one text message, every payload with its type and
    sequence_number (what api.openai.com sends)."""
    seq = iter(range(10**6))
    events: list[bytes] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append(_sse({"type": kind, "sequence_number": next(seq), **fields}, kind))

    start = _response(model, "in_progress", [], None)
    emit("response.created", response=start)
    emit("response.in_progress", response=start)
    ref = {"item_id": "msg_bench0001", "output_index": 0}
    emit(
        "response.output_item.added",
        output_index=0,
        item={**_MESSAGE, "status": "in_progress", "content": []},
    )
    emit("response.content_part.added", **ref, content_index=0, part={**_TEXT_PART, "text": ""})
    words = [WORDS[i % len(WORDS)] for i in range(chunks)]
    for word in words:
        emit("response.output_text.delta", **ref, content_index=0, delta=word, logprobs=[])
    text = "".join(words)
    emit("response.output_text.done", **ref, content_index=0, text=text, logprobs=[])
    emit("response.content_part.done", **ref, content_index=0, part={**_TEXT_PART, "text": text})
    item = {**_MESSAGE, "content": [{**_TEXT_PART, "text": text}]}
    emit("response.output_item.done", output_index=0, item=item)
    done = _response(model, "completed", [item], RESPONSES_USAGE)
    done["status"] = done.pop("status")  # last, so the bench's 64-byte tail can see how it ended
    emit("response.completed", response=done)
    return events


_HEAD_JSON = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n"
_HEAD_SSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n%s\r\n"
)
_CLOSE = b"connection: close\r\n"


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Replies:
    """Canned replies by (kind, model, stream, include_usage); bounded, so memory cannot grow."""

    MAX = 64

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self._cache: dict[tuple[str, str, bool, bool], Any] = {}

    def get(self, kind: str, model: str, stream: bool, include_usage: bool) -> Any:
        key = (kind, model, stream, include_usage)
        found = self._cache.get(key)
        if found is None:
            if kind == "openai":
                found = (
                    openai_stream(model, self.chunks, include_usage) if stream else openai_completion(model)
                )
            elif kind == "responses":
                found = responses_stream(model, self.chunks) if stream else responses_json(model)
            else:
                found = anthropic_stream(model, self.chunks) if stream else anthropic_message(model)
            if stream:
                found = [_chunked(e) for e in found]
            if len(self._cache) >= self.MAX:
                self._cache.clear()
            self._cache[key] = found
        return found


class FakeProtocol(asyncio.Protocol):
    __slots__ = (
        "_body",
        "_keep_alive",
        "_parser",
        "_task",
        "_url",
        "delay",
        "first_gap",
        "replies",
        "transport",
    )

    def __init__(self, replies: Replies, delay: float, first_gap: float) -> None:
        self.replies = replies
        self.delay = delay
        self.first_gap = first_gap
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._body: list[bytes] = []
        self._keep_alive = True
        self._task: asyncio.Task[None] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._reply_error(400, b"bad request")
            if self.transport:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._body = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()
        path = self._url.split(b"?", 1)[0]
        if path.endswith(b"/chat/completions"):
            kind = "openai"
        elif path.endswith(b"/messages"):
            kind = "anthropic"
        elif path.endswith(b"/responses"):
            kind = "responses"
        else:
            self._reply_error(404, b"no such route")
            return
        try:
            body = json.loads(b"".join(self._body))
            model = str(body.get("model") or "unknown")
            stream = body.get("stream") is True
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
        except (ValueError, AttributeError):
            self._reply_error(400, b"body is not a JSON object")
            return
        self._body = []
        reply = self.replies.get(kind, model[:100], stream, include_usage)
        conn = b"" if self._keep_alive else _CLOSE
        if not stream:
            self._write(_HEAD_JSON % (len(reply), conn) + reply)
            self._maybe_close()
        elif self.delay <= 0 and self.first_gap <= 0:
            self._write(_HEAD_SSE % conn)
            for event in reply:
                self._write(event)
            self._write(b"0\r\n\r\n")
            self._maybe_close()
        else:
            self._parser_pause()
            self._task = asyncio.get_running_loop().create_task(self._slow_stream(reply, conn))

    # replies
    def _write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def _maybe_close(self) -> None:
        if not self._keep_alive and self.transport is not None:
            self.transport.close()

    def _parser_pause(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    async def _slow_stream(self, reply: list[bytes], conn: bytes) -> None:
        self._write(_HEAD_SSE % conn + reply[0])
        await asyncio.sleep(self.first_gap or self.delay)
        for event in reply[1:]:
            self._write(event)
            if self.delay > 0:
                await asyncio.sleep(self.delay)
        self._write(b"0\r\n\r\n")
        self._maybe_close()
        if self.transport is not None:
            self.transport.resume_reading()

    def _reply_error(self, status: int, message: bytes) -> None:
        body = _dumps({"error": {"message": message.decode(), "type": "invalid_request_error"}})
        self._write(
            b"HTTP/1.1 %d Error\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (status, len(body), body)
        )


async def serve(host: str, port: int, chunks: int, delay_ms: float, first_gap_ms: float) -> None:
    loop = asyncio.get_running_loop()
    replies = Replies(chunks)
    server = await loop.create_server(
        lambda: FakeProtocol(replies, delay_ms / 1000, first_gap_ms / 1000),
        host,
        port,
        backlog=1024,
        reuse_address=True,
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed as READY <port>)")
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream (default 20)")
    parser.add_argument(
        "--first-gap-ms",
        type=float,
        default=1.0,
        help="pause after a stream's first event (default 1; 0 with no chunk delay: one burst)",
    )
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0, help="pause between stream events")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the fake listens on loopback only")
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    runner(serve(args.host, args.port, args.chunks, args.chunk_delay_ms, args.first_gap_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
