"""The wire formats the gateway speaks, one module each, registered in one table.

    name         module      client routes                      upstream path
    openai       chat        POST /v1/chat/completions          {base_url}/chat/completions
    anthropic    messages    POST /v1/messages                  {base_url}/v1/messages
    responses    responses   POST /v1/responses                 {base_url}/responses

A format module knows its own API and nothing of the others: which fields the gateway needs
checked (`check_request`), its error body (`error_body`), how its `usage` object becomes the
usage table's tokens (`tokens`: the ONE normaliser of that format, used for the row and by the
translators for the client's reply), which stream events carry usage (`observe_event`), and how
to talk to a provider of that format (`UPSTREAM_PATH`, `BASE_SUFFIX`, `auth_headers`,
`FIXED_HEADERS`, `PASS_HEADERS`: gateway.providers; `REPLY_HEADERS`: gateway.passthrough).

Translating between two formats is a *bridge* (gateway.bridges), looked up by the pair
(client format, upstream format) in a table checked when the gateway starts: a pair without a
bridge is an error at import, never a silent fallthrough.

Adding a fourth format (say Gemini's native API): a module here with the same five names, an
entry in FORMATS, a route in gateway/handlers.py, and a bridge for each pair with the existing
formats in gateway/bridges.py (the translators in gateway/translate). Its tests: the fake
provider's endpoint for it, and the SDK round trips of tests/test_formats*.py.
"""

from __future__ import annotations

from types import ModuleType
from typing import Literal

from gateway.formats import chat, messages, responses

ClientFormat = Literal["openai", "anthropic", "responses"]

FORMATS: dict[str, ModuleType] = {m.NAME: m for m in (chat, messages, responses)}

REQUIRED = (
    "NAME",
    "UPSTREAM_PATH",
    "USAGE_MERGES",
    "BASE_SUFFIX",
    "FIXED_HEADERS",
    "PASS_HEADERS",
    "REPLY_HEADERS",
    "PASS_QUERY",
    "auth_headers",
    "check_request",
    "error_body",
    "tokens",
    "observe_event",
    "stream_error",
    "machine_args",
)
for _module in FORMATS.values():  # a format module missing a part fails at import, not per request
    _missing = [name for name in REQUIRED if not hasattr(_module, name)]
    if _missing:
        raise ImportError(f"wire format {_module.__name__} lacks {', '.join(_missing)}")


def get(name: str) -> ModuleType:
    return FORMATS[name]


def for_path(path: str) -> str:
    """The format of a client route (for errors Sanic raises before a handler runs)."""
    if path.startswith(("/v1/messages", "/v1/v1/messages")):
        return "anthropic"
    if path.startswith(("/v1/responses", "/responses")):
        return "responses"
    return "openai"
