"""HTTP routes. Thin: each one reads the config snapshot and calls the module that does the work.

POST /v1/chat/completions        proxy.handle (OpenAI client)
POST /v1/messages                proxy.handle (Anthropic client)
POST /v1/responses               proxy.handle (OpenAI Responses client: Codex)
GET/DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items   stored responses
                                 (gateway.conversations.routes)
POST /v1/messages/count_tokens   count_tokens.handle: the provider's count, or an estimate
GET  /v1/models                  every routable model and alias, OpenAI list shape (Anthropic's
                                 Models API shape for a client sending anthropic-version)
HEAD /, GET /                    the base-URL probe (Claude Code): 200, touches nothing
GET  /usage                      aggregates (reports.summary) or rows as CSV
GET  /health                     status, each provider's readiness, config digest and errors
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from gateway import count_tokens as counting
from gateway import model_pages, proxy, reports
from gateway.config import Config
from gateway.conversations import routes as stored
from gateway.errors import GatewayError, render
from gateway.routing import routing_table
from gateway.storage import READ_ERRORS

bp = Blueprint("ekai")


@bp.post("/v1/chat/completions")
@bp.post("/chat/completions", name="chat_completions_no_v1")  # clients configured without /v1
async def chat_completions(request: Request) -> HTTPResponse | None:
    return await proxy.handle(request, "openai")


@bp.post("/v1/messages")
@bp.post("/v1/v1/messages", name="messages_double_v1")  # ANTHROPIC_BASE_URL ending in /v1
async def messages(request: Request) -> HTTPResponse | None:
    return await proxy.handle(request, "anthropic")


@bp.post("/v1/responses")
@bp.post("/responses", name="responses_no_v1")  # clients configured without /v1
async def responses(request: Request) -> HTTPResponse | None:
    return await proxy.handle(request, "responses")


@bp.get("/v1/responses/<response_id:str>")
@bp.get("/responses/<response_id:str>", name="responses_retrieve_no_v1")
async def responses_retrieve(request: Request, response_id: str) -> HTTPResponse:
    return await stored.retrieve(request, response_id)


@bp.delete("/v1/responses/<response_id:str>")
@bp.delete("/responses/<response_id:str>", name="responses_delete_no_v1")
async def responses_delete(request: Request, response_id: str) -> HTTPResponse:
    return await stored.delete(request, response_id)


@bp.get("/v1/responses/<response_id:str>/input_items")
@bp.get("/responses/<response_id:str>/input_items", name="responses_input_items_no_v1")
async def responses_input_items(request: Request, response_id: str) -> HTTPResponse:
    return await stored.input_items(request, response_id)


@bp.post("/v1/messages/count_tokens")
async def count_tokens(request: Request) -> HTTPResponse:
    return await counting.handle(request)


@bp.get("/v1/models")
async def models(request: Request) -> HTTPResponse:
    """OpenAI's list shape, with Anthropic's fields too, so both SDKs' `models.list()` parse it."""
    cfg: Config = request.app.ctx.store.config
    if "anthropic-version" in request.headers:  # an Anthropic SDK, Claude Code's model discovery
        try:
            return proxy.json_response(model_pages.anthropic_page(cfg, request.args), 200)
        except GatewayError as exc:
            return proxy.json_response(render("anthropic", exc), exc.status)
    created = int(cfg.loaded_at)
    created_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
    data: list[dict[str, Any]] = []
    key = getattr(request.ctx, "key_name", None)
    policy = cfg.key_policies.get(key) if key is not None else None  # its `models` allowlist
    for model, targets, _keyless in routing_table(cfg):
        if not targets or (policy is not None and not policy.allows(cfg.aliases.get(model, model))):
            continue
        entry: dict[str, Any] = {
            "id": model,
            "object": "model",
            "created": created,
            "owned_by": targets[0].provider.name,
            "type": "model",
            "display_name": model,
            "created_at": created_at,
            "providers": [t.provider.name for t in targets],
        }
        if model in cfg.aliases:
            entry["alias_of"] = cfg.aliases[model]
        data.append(entry)
    page = {
        "object": "list",
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
    return proxy.json_response(page, 200)


@bp.route("/", methods=["GET", "HEAD"])
async def root(request: Request) -> HTTPResponse:
    """The probe of the base URL (Claude Code sends `HEAD /` first): answered without touching
    a provider, the config or the database."""
    if request.method == "HEAD":
        return HTTPResponse(status=200)
    return proxy.json_response({"name": "ekai", "status": "ok"}, 200)


@bp.get("/usage")
async def usage(request: Request) -> HTTPResponse:
    cfg: Config = request.app.ctx.store.config
    try:
        query = reports.UsageQuery.parse(dict(request.args))  # name -> every value given
    except GatewayError as exc:
        return proxy.json_response(render("openai", exc), exc.status)
    fmt = request.args.get("format", "json")
    loop = asyncio.get_running_loop()
    try:
        return await _usage_report(loop, cfg, query, fmt)
    except READ_ERRORS as exc:  # PostgreSQL away, a damaged file: one line, in OpenAI's shape
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        err = GatewayError(f"The usage database cannot be read now: {line}", status=503)
        return proxy.json_response(render("openai", err), 503)


async def _usage_report(
    loop: asyncio.AbstractEventLoop, cfg: Config, query: reports.UsageQuery, fmt: str
) -> HTTPResponse:
    if fmt == "csv":
        text = await loop.run_in_executor(None, reports.rows_csv, cfg.database, query)
        return HTTPResponse(
            text.encode(),
            content_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="usage.csv"'},
        )
    if fmt != "json":
        err = GatewayError("'format' must be json or csv.", status=400, param="format")
        return proxy.json_response(render("openai", err), 400)
    data = await loop.run_in_executor(None, reports.summary, cfg.database, query)
    return proxy.json_response(data, 200)


@bp.get("/health")
async def health(request: Request) -> HTTPResponse:
    store = request.app.ctx.store
    cfg: Config = store.config
    if cfg.auth_keys and getattr(request.ctx, "key_name", None) is None:
        return proxy.json_response({"status": "ok"}, 200)  # details need a gateway key
    providers = {
        p.name: {
            "format": p.format,
            "base_url": p.base_url,
            "ready": p.usable,
            **({} if p.usable else {"missing_env": p.api_key_env}),
            **request.app.ctx.health.status(p.name),
        }
        for p in cfg.providers.values()
    }
    writer = request.app.ctx.writer
    return proxy.json_response(
        {
            "status": "ok",
            "providers": providers,
            "config": store.status(),
            "usage": writer.status(),  # database (no password), rows written/failed/dropped, backlog
            "limits": request.app.ctx.admission.status(cfg),
        },
        200,
    )
