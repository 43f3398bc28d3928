"""Server-sent events: an incremental parser for upstream streams.

Bytes arrive in arbitrary pieces; `SSEParser.feed` returns the events completed so far, each
with its raw bytes (normalised to `\\n` line ends, ending in a blank line) so a same-format stream
can be forwarded byte for byte, and its `event:` name and `data:` text for those that need
looking into. JSON is parsed lazily, at most once per event. Comment lines (`: ping`,
`: OPENROUTER PROCESSING`) become events with no data; they are never parsed as JSON.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


class SSEEvent:
    __slots__ = ("_json", "data", "event", "raw")

    def __init__(self, raw: bytes, event: str | None, data: str | None) -> None:
        self.raw = raw
        self.event = event
        self.data = data
        self._json: Any = None

    @property
    def is_done(self) -> bool:
        return self.data is not None and self.data.strip() == "[DONE]"

    def json(self) -> Any:
        """The data parsed as JSON (cached); None for comments, [DONE] or invalid JSON."""
        if self._json is None and self.data and not self.is_done:
            try:
                self._json = orjson.loads(self.data)
            except ValueError:
                self._json = None
        return self._json


def _parse_block(block: bytes) -> SSEEvent:
    event: str | None = None
    data: list[str] = []
    for line in block.decode("utf-8", "replace").split("\n"):
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    return SSEEvent(block + b"\n\n", event, "\n".join(data) if data else None)


class SSEParser:
    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
            if buf.endswith(b"\r"):  # a \r\n split across two chunks: wait for the \n
                self._buf = buf
                return self._split(keep_tail=True)
            buf = buf.replace(b"\r", b"\n")
        self._buf = buf
        return self._split(keep_tail=False)

    def _split(self, keep_tail: bool) -> list[SSEEvent]:
        buf = self._buf
        if keep_tail:
            tail, buf = buf[-1:], buf[:-1]
        else:
            tail = b""
        events: list[SSEEvent] = []
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            block = buf[start:end]
            start = end + 2
            if block.strip(b"\n"):
                events.append(_parse_block(block.strip(b"\n")))
        self._buf = buf[start:] + tail
        return events

    def close(self) -> list[SSEEvent]:
        """Whatever is left when the stream ends (a last event without its blank line)."""
        rest = self._buf.replace(b"\r", b"").strip(b"\n")
        self._buf = b""
        return [_parse_block(rest)] if rest else []


def frame(data: Any, event: str | None = None) -> bytes:
    """One SSE event: `event: NAME` (when given) and `data: JSON`."""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    if event:
        return f"event: {event}\ndata: {body}\n\n".encode()
    return f"data: {body}\n\n".encode()
