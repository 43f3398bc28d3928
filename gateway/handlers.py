"""HTTP routes. Thin: each one reads the config snapshot and calls the module that does the work.

POST /v1/chat/completions        proxy.handle (OpenAI client)
POST /v1/messages                proxy.handle (Anthropic client)
POST /v1/messages/count_tokens   Anthropic's own count, or an estimate for other providers
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

import orjson
from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from gateway import model_pages, proxy, reports
from gateway.config import Config
from gateway.errors import ClientFormat, GatewayError, UpstreamError, render
from gateway.parse import check_request, parse_json
from gateway.providers import upstream_headers
from gateway.routing import resolve, routing_table
from gateway.translate import estimate_input_tokens

bp = Blueprint("ekai")


@bp.post("/v1/chat/completions")
@bp.post("/chat/completions", name="chat_completions_no_v1")  # clients configured without /v1
async def chat_completions(request: Request) -> HTTPResponse | None:
    return await proxy.handle(request, "openai")


@bp.post("/v1/messages")
@bp.post("/v1/v1/messages", name="messages_double_v1")  # ANTHROPIC_BASE_URL ending in /v1
async def messages(request: Request) -> HTTPResponse | None:
    return await proxy.handle(request, "anthropic")


@bp.post("/v1/messages/count_tokens")
async def count_tokens(request: Request) -> HTTPResponse:
    cfg: Config = request.app.ctx.store.config
    fmt: ClientFormat = "anthropic"
    try:
        body = parse_json(request.body, request.headers.get("content-type"))
        check_request(fmt, body, count_tokens=True)
        route = resolve(cfg, body["model"], request.headers.get("x-ekai-provider"))
        target = route.targets[0]
        headers = {"x-ekai-provider": target.provider.name}
        if target.provider.format == "anthropic":
            payload = orjson.dumps({**body, "model": target.upstream_model})
            up_headers = upstream_headers(target.provider, proxy._protocol_headers(request), same_format=True)
            resp = await request.app.ctx.upstream.send(
                target.provider,
                "messages/count_tokens",
                payload,
                up_headers,
                timeouts=cfg.timeouts,
                query="beta=true" if request.args.get("beta") == "true" else "",
            )
            try:
                raw = await resp.read()
            finally:
                resp.release()
            return HTTPResponse(raw, status=resp.status, headers=headers, content_type="application/json")
        headers["x-ekai-estimate"] = "true"
        return proxy.json_response({"input_tokens": estimate_input_tokens(body)}, 200, headers)
    except UpstreamError as exc:
        return proxy.json_response(render(fmt, exc), exc.status, exc.headers)
    except GatewayError as exc:
        return proxy.json_response(render(fmt, exc), exc.status, exc.headers)


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
    for model, targets, _keyless in routing_table(cfg):
        if not targets:
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
        since = reports.parse_instant(request.args.get("since"), "since")
        until = reports.parse_instant(request.args.get("until"), "until")
    except GatewayError as exc:
        return proxy.json_response(render("openai", exc), exc.status)
    fmt = request.args.get("format", "json")
    loop = asyncio.get_running_loop()
    if fmt == "csv":
        text = await loop.run_in_executor(None, reports.rows_csv, cfg.database, since, until)
        return HTTPResponse(
            text.encode(),
            content_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="usage.csv"'},
        )
    if fmt != "json":
        err = GatewayError("'format' must be json or csv.", status=400, param="format")
        return proxy.json_response(render("openai", err), 400)
    data = await loop.run_in_executor(None, reports.summary, cfg.database, since, until)
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
            "usage": {
                "database": str(cfg.database),
                "rows_written": writer.written,
                "rows_failed": writer.failed,
            },
        },
        200,
    )
