"""The access log: one line per proxied request, on stderr, as text or JSON.

On by default (`server.access_log: false` turns it off); `server.log_format: json` writes one JSON
object per line instead of text. Both follow the live config. Sanic's own access log stays off, so
nothing is logged twice.

The lines are written by the usage writer thread, once per batch (gateway.usage.UsageWriter
observers): the event loop pays nothing, and a busy gateway makes one write call per batch, not
one per request.

What a line holds: the request id, start time, the API the client spoke, the client program and
session when known, the gateway key's NAME, the model asked for, the provider and model id that
served it, status, tokens, cost, latency and time to first byte, the attempts that fell back, and
the error message. Never a key's value, never prompt or completion text (a record holds none).

Text: `2026-12-06T20:15:22.123Z req_… anthropic 200 claude-sonnet-4-6 -> anthropic/claude-sonnet-4-6
in=1200 cache_read=5000 cache_write=300 out=250 reasoning=0 cost=0.003855 ms=812.4 ttfb_ms=95.1`,
then `key=… session=… client=… attempts=… error="…"` when set. A value with spaces, quotes or
control characters (a client may send any model name) is written as a JSON string, so a line is
always one line.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

import orjson

from gateway.pricing import pico_to_usd
from gateway.usage import iso_ms

log = logging.getLogger("ekai.access")

ERROR_CHARS = 300  # an upstream message can be long; the usage row keeps it whole
_OPTIONAL = ("key", "client", "client_version", "session", "agent", "attempts", "error")


def fields(r: Any) -> dict[str, Any]:
    """The access-log fields of one finished UsageRecord (same names in text and JSON)."""
    t = r.tokens
    error = r.error[:ERROR_CHARS] if r.error else None
    return {
        "ts": iso_ms(r.started),
        "request_id": r.request_id,
        "client_format": r.client_format,
        "status": r.status,
        "model": r.model,
        "provider": r.provider,
        "provider_model": r.provider_model,
        "stream": r.stream,
        "input": t.input,
        "cache_read": t.cache_read,
        "cache_write": t.cache_write,
        "output": t.output,
        "reasoning": t.reasoning,
        "cost_usd": float(pico_to_usd(r.cost_pico)) if r.cost_pico is not None else None,
        "ms": round(r.latency_ms, 1) if r.latency_ms is not None else None,
        "ttfb_ms": round(r.ttft_ms, 1) if r.ttft_ms is not None else None,
        "key": r.api_key_name,
        "client": getattr(r, "client", None),  # from the sessions work, when present
        "client_version": getattr(r, "client_version", None),
        "session": getattr(r, "session_id", None),
        "agent": getattr(r, "agent", None),
        "attempts": ",".join(r.attempts) or None,
        "error": error,
    }


_PLAIN = re.compile(r'[^\s"\\=]+')  # a value written as it is; anything else becomes a JSON string


def _word(value: Any) -> str:
    if value is None:
        return "-"
    text = value if type(value) is str else str(value)
    if _PLAIN.fullmatch(text) and text.isprintable():
        return text
    return orjson.dumps(text).decode()


def text_line(f: dict[str, Any]) -> str:
    served = f["provider"] or "-"
    if f["provider_model"]:
        served += "/" + _word(f["provider_model"])
    cost = "-" if f["cost_usd"] is None else f"{f['cost_usd']:.6f}"
    parts = [
        f["ts"], f["request_id"], f["client_format"], str(f["status"]), _word(f["model"]), "->", served,
        f"in={f['input']}", f"cache_read={f['cache_read']}", f"cache_write={f['cache_write']}",
        f"out={f['output']}", f"reasoning={f['reasoning']}", f"cost={cost}",
        f"ms={'-' if f['ms'] is None else f['ms']}",
        f"ttfb_ms={'-' if f['ttfb_ms'] is None else f['ttfb_ms']}",
    ]
    parts += [f"{name}={_word(f[name])}" for name in _OPTIONAL if f[name] is not None]
    return " ".join(parts) + "\n"


def json_line(f: dict[str, Any]) -> str:
    return orjson.dumps(f).decode() + "\n"


class AccessLog:
    """A usage-writer observer: writes the batch's lines with one call."""

    def __init__(self, store: Any, stream: TextIO | None = None) -> None:
        self.store = store
        self.stream = stream

    def __call__(self, records: list[Any]) -> None:
        cfg = self.store.config
        if not cfg.access_log or not records:
            return
        render = json_line if cfg.log_format == "json" else text_line
        text = "".join(render(fields(r)) for r in records)
        stream = self.stream or sys.stderr
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # stderr closed or gone: the rows are what matters
            log.debug("access log not written")
