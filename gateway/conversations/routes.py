"""GET /v1/responses/{id}, GET /v1/responses/{id}/input_items, DELETE /v1/responses/{id}.

Stored responses of every provider, as OpenAI serves its own (the official SDK's
`client.responses.retrieve`, `.input_items.list`, `.delete` parse them). A response stored under
another gateway key is not found (404), never shown.

`input_items` pages like OpenAI: `limit` (1 to 100, default 20), `order` (`desc`, the default, or
`asc`), `after` (an item id: the items after it in that order); the page carries `first_id`,
`last_id` and `has_more`.
"""

from __future__ import annotations

from typing import Any

from sanic import Request
from sanic.response import HTTPResponse

from gateway.conversations.service import Conversations
from gateway.conversations.store import NotFound, StoredResponse
from gateway.errors import ClientError, GatewayError, render
from gateway.proxy import json_response


class _NotFound(GatewayError):
    status = 404


async def _stored(request: Request, response_id: str) -> StoredResponse:
    conversations: Conversations = request.app.ctx.conversations
    try:
        stored: StoredResponse = await conversations.call(
            "get_response", response_id, getattr(request.ctx, "key_name", None)
        )
    except NotFound:
        raise _NotFound(f"Response with id {response_id!r} not found.", param="response_id") from None
    return stored


def _error(exc: GatewayError) -> HTTPResponse:
    return json_response(render("responses", exc), exc.status)


async def retrieve(request: Request, response_id: str) -> HTTPResponse:
    try:
        stored = await _stored(request, response_id)
    except GatewayError as exc:
        return _error(exc)
    return json_response(stored.response, 200)


async def delete(request: Request, response_id: str) -> HTTPResponse:
    conversations: Conversations = request.app.ctx.conversations
    try:
        await conversations.call("delete_response", response_id, getattr(request.ctx, "key_name", None))
    except NotFound:
        return _error(_NotFound(f"Response with id {response_id!r} not found.", param="response_id"))
    return json_response({"id": response_id, "object": "response", "deleted": True}, 200)


def page(items: list[dict[str, Any]], args: Any) -> dict[str, Any]:
    """One page of `items` (oldest first) per OpenAI's list parameters (module docstring)."""
    raw_limit = args.get("limit", "20")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise ClientError("limit must be an integer from 1 to 100.", param="limit") from None
    if not 1 <= limit <= 100:
        raise ClientError("limit must be an integer from 1 to 100.", param="limit")
    order = args.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ClientError("order must be 'asc' or 'desc'.", param="order")
    ordered = items if order == "asc" else list(reversed(items))
    after = args.get("after")
    if after is not None:
        ids = [i.get("id") for i in ordered]
        if after not in ids:
            raise ClientError(f"No item with id {after!r} in this response's input.", param="after")
        ordered = ordered[ids.index(after) + 1 :]
    data = ordered[:limit]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0].get("id") if data else None,
        "last_id": data[-1].get("id") if data else None,
        "has_more": len(ordered) > limit,
    }


async def input_items(request: Request, response_id: str) -> HTTPResponse:
    try:
        stored = await _stored(request, response_id)
        body = page(stored.input, request.args)
    except GatewayError as exc:
        return _error(exc)
    return json_response(body, 200)
