"""Protocol headers that pass between a client and its provider, both ways.

Claude Code's gateway protocol (../shared/reference/clients.md) asks a gateway to be transparent
on the same-format path:

- client -> provider: each format's `PASS_HEADERS` (gateway.formats), where a rule ending in `-`
  is a prefix: Messages passes `anthropic-version`, `anthropic-beta` and EVERY other
  `anthropic-*` header, an open list (a beta invented next month must pass without a gateway
  release); Chat and Responses pass `openai-organization` / `openai-project`. Nothing passes
  across formats: an Anthropic beta means nothing to an OpenAI-format provider.
- provider -> client: `retry-after` (always as whole seconds, rounded up, computed from
  `retry-after-ms` or an HTTP date when that is what the provider sent), `retry-after-ms` and
  `x-should-retry` as sent, the provider's `request-id`, and on the same-format path the
  format's `REPLY_HEADERS` (`anthropic-ratelimit-*`, including Claude Code's
  `anthropic-ratelimit-unified-*`; OpenAI's `x-ratelimit-*`), on successes and errors alike.

Upstream error bodies on the same-format path go back byte for byte when they already have the
client API's error shape (`VerbatimUpstreamError`): Claude Code's retry logic reads their wording.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from typing import Any

from sanic.response import HTTPResponse

from gateway import formats
from gateway.errors import UpstreamError
from gateway.health import retry_after_seconds

_ALWAYS_BACK = ("retry-after-ms", "x-should-retry", "request-id")


@functools.lru_cache(maxsize=64)
def _compiled(rules: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    """A rule ending in '-' is a prefix (an open list: `anthropic-`); any other, a whole name."""
    return frozenset(r for r in rules if not r.endswith("-")), tuple(r for r in rules if r.endswith("-"))


def _matches(name: str, rules: tuple[str, ...]) -> bool:
    exact, prefixes = _compiled(rules)
    return name in exact or (bool(prefixes) and name.startswith(prefixes))


# every header some format may pass upstream: collected once per request, whatever the provider
_ANY_PASS = tuple(dict.fromkeys(rule for m in formats.FORMATS.values() for rule in m.PASS_HEADERS))
_ANY_EXACT, _ANY_PREFIXES = _compiled(_ANY_PASS)


def client_headers(headers: Any) -> dict[str, str]:
    """The client's protocol headers (lower-case names; repeated headers joined with ',')."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in _ANY_EXACT or lower.startswith(_ANY_PREFIXES):
            out[lower] = f"{out[lower]},{value}" if lower in out else value
    return out


def to_upstream(client: Mapping[str, str], rules: tuple[str, ...]) -> Iterable[tuple[str, str]]:
    """The client headers a provider gets on the same-format path: its format's PASS_HEADERS."""
    return ((n, v) for n, v in client.items() if v and _matches(n, rules))


def to_client(upstream: Mapping[str, str], wire: str, same_format: bool) -> dict[str, str]:
    """The provider's response headers the client gets back (`wire`: the format spoken upstream)."""
    out: dict[str, str] = {}
    if "retry-after" in upstream or "retry-after-ms" in upstream:
        seconds = retry_after_seconds(upstream)
        if seconds is not None:
            out["retry-after"] = str(math.ceil(seconds))
    for name in _ALWAYS_BACK:
        value = upstream.get(name)
        if value is not None:
            out[name] = value
    if same_format:
        prefixes = formats.FORMATS[wire].REPLY_HEADERS
        for name, value in upstream.items():
            lower = name.lower()
            if lower.startswith(prefixes):
                out[lower] = value
    return out


class VerbatimUpstreamError(UpstreamError):
    """A provider error whose body goes back to the client exactly as the provider sent it."""

    def __init__(
        self, message: str, *, status: int, body: dict[str, Any], raw: bytes, headers: dict[str, str]
    ) -> None:
        super().__init__(message, status=status, body=body, headers=headers)
        self.raw = raw

    def response(self) -> HTTPResponse:
        headers = self.headers
        return HTTPResponse(self.raw, status=self.status, headers=headers, content_type="application/json")
