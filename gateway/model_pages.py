"""`GET /v1/models` for a client that speaks Anthropic: the Models API's own page shape.

Who speaks Anthropic: a request carrying `anthropic-version` (every Anthropic SDK and Claude Code
send it; `x-api-key` is no signal, since OpenAI clients may carry a gateway key in it). Such a
client gets `{"data": [{"type": "model", "id", "display_name", "created_at", "lifecycle"}],
"has_more", "first_id", "last_id"}` with Anthropic's paging (`limit` 1..1000, default 20;
`after_id`, `before_id`), which the SDK's `client.models.list()` walks and Claude Code's
gateway model discovery (`?limit=1000`) reads. Every other client gets the OpenAI list shape
(gateway.handlers.models).

The models are the same in both shapes: every model and alias some usable provider can serve.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from gateway.config import Config
from gateway.errors import ClientError
from gateway.routing import routing_table

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


def routable_models(cfg: Config) -> list[str]:
    return [model for model, targets, _keyless in routing_table(cfg) if targets]


def anthropic_page(cfg: Config, args: Mapping[str, Any]) -> dict[str, Any]:
    """One page of the Anthropic Models API. Raises ClientError on a bad `limit` or cursor."""
    raw_limit = _arg(args, "limit")
    try:
        limit = int(raw_limit) if raw_limit is not None else DEFAULT_LIMIT
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ClientError(f"limit: must be an integer from 1 to {MAX_LIMIT}", param="limit")
    names = routable_models(cfg)
    after, before = _arg(args, "after_id"), _arg(args, "before_id")
    if after is not None and before is not None:
        raise ClientError("after_id and before_id cannot be used together", param="after_id")
    start, end = 0, len(names)
    if after is not None:
        start = _index(names, after, "after_id") + 1
        end = min(start + limit, len(names))
        has_more = end < len(names)
    elif before is not None:
        end = _index(names, before, "before_id")
        start = max(end - limit, 0)
        has_more = start > 0
    else:
        end = min(limit, len(names))
        has_more = end < len(names)
    created_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(cfg.loaded_at)))
    data = [
        {"type": "model", "id": name, "display_name": name, "created_at": created_at, "lifecycle": "active"}
        for name in names[start:end]
    ]
    return {
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def _arg(args: Mapping[str, Any], name: str) -> str | None:
    value = args.get(name)
    if isinstance(value, list):  # Sanic's RequestParameters.get already gives the first
        value = value[0] if value else None
    return value if isinstance(value, str) else None


def _index(names: list[str], model: str, param: str) -> int:
    try:
        return names.index(model)
    except ValueError:
        raise ClientError(f"{param}: no model {model!r} in this list", param=param) from None
