"""POST /v1/messages/count_tokens, the proxy's way: routing, pins, aliases, provider health,
fallback, and one usage row (no tokens, no cost: nothing was generated).

An Anthropic-format provider counts (its `messages/count_tokens`); for any other provider the
gateway answers with its own estimate (`x-ekai-estimate: true`), since Chat Completions and the
Responses API have no counting endpoint. A connect error, a timeout, a 429 or a 5xx from one
provider moves on to the next, as for every other request.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from sanic import Request
from sanic.response import HTTPResponse

from gateway import proxy
from gateway.bridges import AnthropicPassthrough
from gateway.config import Config
from gateway.errors import GatewayError, UpstreamError, UpstreamTimeout, render
from gateway.health import ProviderHealth, retry_after_seconds
from gateway.parse import check_request, parse_json
from gateway.providers import upstream_headers
from gateway.routing import Target, resolve
from gateway.translate import estimate_input_tokens
from gateway.usage import UsageRecord


async def handle(request: Request) -> HTTPResponse:
    cfg: Config = request.app.ctx.store.config
    rec = proxy.new_record(request, "anthropic")
    try:
        body = parse_json(request.body, request.headers.get("content-type"))
        model = body.get("model")
        rec.model = model if isinstance(model, str) else None
        if rec.refusal:
            raise rec.refusal  # a bad x-ekai-* header: 400, recorded
        check_request("anthropic", body, count_tokens=True)
        route = resolve(cfg, body["model"], request.headers.get("x-ekai-provider"))
        request.app.ctx.admission.check_model(cfg, rec.api_key_name, route.resolved)  # allowlist: 403
        return await _count(request, cfg, route.targets, body, rec)
    except GatewayError as exc:
        rec.status, rec.error = exc.status, exc.message
        return proxy.json_response(render("anthropic", exc), exc.status, exc.headers)
    except asyncio.CancelledError:
        rec.error = rec.error or "client disconnected"
        rec.status = rec.status or 499
        raise
    finally:
        rec.finish()
        request.app.ctx.writer.put(rec)


async def _count(
    request: Request, cfg: Config, route_targets: tuple[Target, ...], body: dict[str, Any], rec: UsageRecord
) -> HTTPResponse:
    health: ProviderHealth = request.app.ctx.health
    targets = health.order([t.provider.name for t in route_targets], route_targets)
    client_headers = proxy._protocol_headers(request)
    query = "beta=true" if request.args.get("beta") == "true" else ""
    deadline = time.monotonic() + cfg.timeouts.total
    last = len(targets) - 1
    for i, target in enumerate(targets):
        provider = target.provider
        rec.provider, rec.provider_model = provider.name, target.upstream_model
        headers = {"x-ekai-provider": provider.name, "x-request-id": rec.request_id}
        if provider.format != "anthropic":
            rec.status = 200
            headers["x-ekai-estimate"] = "true"
            return proxy.json_response({"input_tokens": estimate_input_tokens(body)}, 200, headers)
        payload = orjson.dumps({**body, "model": target.upstream_model})
        up_headers = upstream_headers(provider, client_headers, same_format=True)
        try:
            resp = await request.app.ctx.upstream.send(
                provider, "messages/count_tokens", payload, up_headers, timeouts=cfg.timeouts, query=query
            )
        except UpstreamError as exc:
            reason = "timeout" if isinstance(exc, UpstreamTimeout) else "connect"
            health.failed(provider.name, f"{reason}: {exc.message}")
            if i == last or time.monotonic() >= deadline:
                raise
            rec.attempts.append(f"{provider.name}:{reason}")
            continue
        if resp.status < 400:
            health.ok(provider.name)
            try:
                raw = await resp.read()
            finally:
                resp.release()
            rec.status = resp.status
            return HTTPResponse(raw, status=resp.status, headers=headers, content_type="application/json")
        if resp.status in proxy.RETRYABLE:
            health.failed(provider.name, f"HTTP {resp.status}", retry_after_seconds(resp.headers))
            if i < last and time.monotonic() < deadline:
                rec.attempts.append(f"{provider.name}:{resp.status}")
                resp.release()
                continue
        raise await proxy._upstream_failure(resp, AnthropicPassthrough(), provider.name)
    raise AssertionError("a route has at least one target")
