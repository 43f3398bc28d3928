"""The proxy path of one request: parse, resolve, send (with fallback), relay, record.

Every request to a proxy route ends as exactly one usage row, written in `finally` so that
errors, client disconnects and cancellations are recorded too. The row is handed to the writer
thread without awaiting anything.

Fallback: a connect error, a timeout, a 429 or a 5xx from one provider, before anything has been
sent to the client, moves on to the next provider of the route; what happened is kept in the
row's `attempts` column (`xai:429,openrouter:timeout`). A client's own mistake (other 4xx) is
answered at once. Once the first byte of a stream has gone out the provider can no longer change:
a later failure becomes an error event in the client's stream format.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp
import orjson
from sanic import Request
from sanic.response import HTTPResponse

from gateway import formats, passthrough
from gateway.bridges import Bridge, bridge_for, upstream_format
from gateway.config import Config
from gateway.errors import ClientFormat, GatewayError, UpstreamError, UpstreamTimeout, render
from gateway.health import ProviderHealth, retry_after_seconds
from gateway.identity import identify
from gateway.parse import check_request, parse_json
from gateway.providers import Upstream, upstream_headers
from gateway.routing import Route, Target, resolve
from gateway.sse import SSEParser
from gateway.usage import UsageMeter, UsageRecord

log = logging.getLogger("ekai.proxy")

RETRYABLE = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
PATHS: dict[str, str] = {name: module.UPSTREAM_PATH for name, module in formats.FORMATS.items()}


def json_response(data: Any, status: int, headers: dict[str, str] | None = None) -> HTTPResponse:
    body = orjson.dumps(data)
    return HTTPResponse(body, status=status, headers=headers, content_type="application/json")


def new_record(request: Request, fmt: ClientFormat) -> UsageRecord:
    rec = UsageRecord(
        request_id=request.ctx.request_id,
        client_format=fmt,
        started=request.ctx.started,
        started_mono=request.ctx.started_mono,
        api_key_name=getattr(request.ctx, "key_name", None),
    )
    rec.identify(identify(request.headers))  # who asked; a bad x-ekai-* header sets rec.refusal
    return rec


async def handle(request: Request, fmt: ClientFormat) -> HTTPResponse | None:
    """POST /v1/chat/completions (fmt='openai'), /v1/messages ('anthropic'), /v1/responses
    ('responses'): any client format, any provider (gateway.formats, gateway.bridges)."""
    cfg: Config = request.app.ctx.store.config
    rec = new_record(request, fmt)
    try:
        body = parse_json(request.body, request.headers.get("content-type"))
        model = body.get("model")
        rec.model = model if isinstance(model, str) else None
        rec.stream = body.get("stream") is True
        if rec.refusal:
            raise rec.refusal  # 400 in the client's shape, recorded like any refused request
        check_request(fmt, body)
        route = resolve(cfg, body["model"], request.headers.get("x-ekai-provider"))
        request.app.ctx.admission.admit(cfg, rec.api_key_name, route.resolved)  # 403 / 429: gateway.admission
        return await _forward(request, cfg, route, body, fmt, rec)
    except GatewayError as exc:
        rec.status, rec.error = exc.status, exc.message
        if isinstance(exc, passthrough.VerbatimUpstreamError):  # the provider's own bytes
            return exc.response()
        return json_response(render(fmt, exc), exc.status, exc.headers)
    except asyncio.CancelledError:
        if not rec.delivered:  # a client leaving after the whole answer is not a failure
            rec.error = rec.error or "client disconnected"
            rec.status = rec.status or 499
        raise
    except Exception as exc:  # a bug: answer in the client's shape, keep the traceback in the log
        log.exception("unexpected error in request %s", rec.request_id)
        rec.status, rec.error = 500, f"internal error: {type(exc).__name__}"
        err = GatewayError("The gateway hit an internal error; see its log.", status=500)
        return json_response(render(fmt, err), 500)
    finally:
        rec.finish()
        request.app.ctx.writer.put(rec)
        request.app.ctx.admission.finish(cfg, rec)


def _protocol_headers(request: Request) -> dict[str, str]:
    return passthrough.client_headers(request.headers)


async def _open(
    request: Request,
    cfg: Config,
    route: Route,
    body: dict[str, Any],
    fmt: ClientFormat,
    rec: UsageRecord,
) -> tuple[Target, Bridge, aiohttp.ClientResponse, str]:
    """Send to the route's providers in turn until one answers with a success status.
    Returns the target, its bridge, the response and the wire format it was sent in.

    Cooling providers (gateway.health) are tried last. All attempts together get at most
    `timeouts.total` seconds; each one at most `timeouts.first_byte` until its headers.
    """
    upstream: Upstream = request.app.ctx.upstream
    health: ProviderHealth = request.app.ctx.health
    client_headers = _protocol_headers(request)
    passed = formats.FORMATS[fmt].PASS_QUERY  # e.g. Messages' ?beta=true, for the same format only
    query = "&".join(f"{k}={v}" for k, v in passed.items() if request.args.get(k) == v) if passed else ""
    targets = health.order([t.provider.name for t in route.targets], route.targets)
    deadline = time.monotonic() + cfg.timeouts.total
    last = len(targets) - 1
    for i, target in enumerate(targets):
        provider = target.provider
        wire = upstream_format(fmt, target)
        bridge = bridge_for(fmt, wire)
        payload = bridge.request_body(body, request.body, target, rec.stream)  # a ClientError here is final
        rec.provider, rec.provider_model = provider.name, target.upstream_model
        headers = upstream_headers(provider, client_headers, same_format=bridge.same_format)
        first_byte = max(min(cfg.timeouts.first_byte, deadline - time.monotonic()), 0.001)
        try:
            resp = await upstream.send(
                provider,
                PATHS[wire],
                payload,
                headers,
                query=query if bridge.same_format else "",
                timeouts=cfg.timeouts,
                first_byte=first_byte,
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
            return target, bridge, resp, wire
        if resp.status in RETRYABLE:
            health.failed(provider.name, f"HTTP {resp.status}", retry_after_seconds(resp.headers))
            if i < last and time.monotonic() < deadline:
                rec.attempts.append(f"{provider.name}:{resp.status}")
                resp.release()
                continue
        raise await _upstream_failure(resp, bridge, provider.name)
    raise AssertionError("a route has at least one target")


async def _upstream_failure(resp: aiohttp.ClientResponse, bridge: Bridge, name: str) -> UpstreamError:
    """The provider's error, passed on with its status, in the client's shape."""
    try:
        raw = await asyncio.wait_for(resp.read(), 30)
    except (TimeoutError, aiohttp.ClientError):
        raw = b""
    finally:
        resp.release()
    text = raw.decode("utf-8", "replace")
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    body = bridge.error_body(resp.status, data, text)
    headers = passthrough.to_client(resp.headers, bridge.client, bridge.same_format)  # same format: wire
    message = f"{name} {resp.status}: {_message_of(body) or f'{name} answered {resp.status}'}"
    if bridge.same_format and body is data:  # already in the client's shape: forwarded unmodified
        return passthrough.VerbatimUpstreamError(
            message, status=resp.status, body=body, raw=raw, headers=headers
        )
    return UpstreamError(message, status=resp.status, body=body, headers=headers)


def _message_of(body: dict[str, Any]) -> str | None:
    err = body.get("error")
    return err.get("message") if isinstance(err, dict) else None


async def _forward(
    request: Request,
    cfg: Config,
    route: Route,
    body: dict[str, Any],
    fmt: ClientFormat,
    rec: UsageRecord,
) -> HTTPResponse | None:
    target, bridge, resp, wire = await _open(request, cfg, route, body, fmt, rec)
    meter = UsageMeter(wire, target.provider.quirks)
    price = target.price.price if target.price else None
    headers = {
        "x-ekai-provider": target.provider.name,
        "x-request-id": rec.request_id,
        **passthrough.to_client(resp.headers, wire, bridge.same_format),
    }
    if not rec.stream:
        try:
            raw = await resp.read()
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{target.provider.name} timed out sending its reply") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"{target.provider.name} reply failed: {type(exc).__name__}") from exc
        finally:
            resp.release()
        try:
            data = orjson.loads(raw)
        except ValueError as exc:
            raise UpstreamError(f"{target.provider.name} sent a reply that is not JSON") from exc
        if not isinstance(data, dict):
            raise UpstreamError(f"{target.provider.name} sent a reply that is not a JSON object")
        meter.observe(data.get("usage"))
        rec.price(meter, price)
        out = bridge.response_body(raw, data, target)
        rec.status = resp.status
        rec.mark_first_byte()
        return HTTPResponse(out, status=resp.status, headers=headers, content_type="application/json")
    await _relay_stream(request, target, bridge, resp, body, meter, rec, headers)
    return None


async def _relay_stream(
    request: Request,
    target: Target,
    bridge: Bridge,
    resp: aiohttp.ClientResponse,
    body: dict[str, Any],
    meter: UsageMeter,
    rec: UsageRecord,
    headers: dict[str, str],
) -> None:
    relay = bridge.relay(body, target)
    parser = SSEParser()
    price = target.price.price if target.price else None
    out_stream = await request.respond(
        status=200,
        headers={**headers, "cache-control": "no-cache", "x-accel-buffering": "no"},
        content_type="text/event-stream; charset=utf-8",
    )
    rec.status = 200
    complete = False
    try:
        try:
            async for chunk in resp.content.iter_any():
                frames = _relay_events(parser.feed(chunk), relay, meter)
                if frames:
                    await out_stream.send(b"".join(frames))
                    rec.mark_first_byte()
                    rec.delivered = relay.complete
            frames = _relay_events(parser.close(), relay, meter)
            frames += relay.finish()
        except (TimeoutError, aiohttp.ClientError) as exc:
            what = "timed out" if isinstance(exc, TimeoutError) else f"failed ({type(exc).__name__})"
            frames = relay.fail(f"{target.provider.name} stream {what}")
        if frames:
            await out_stream.send(b"".join(frames))
            rec.mark_first_byte()
        rec.delivered = relay.complete
        await out_stream.eof()
        complete = True
    finally:
        if complete:
            resp.release()
        else:
            resp.close()  # client gone or cancelled: drop the upstream connection too
        rec.price(meter, price)
        rec.error = rec.error or relay.error
    return None


def _relay_events(events: list[Any], relay: Any, meter: UsageMeter) -> list[bytes]:
    frames: list[bytes] = []
    observe = meter.observe_event  # the upstream format's module knows which events carry usage
    for ev in events:
        if ev.data is not None:
            observe(ev)
        frames += relay.feed(ev)
    return frames


def now() -> tuple[float, float]:
    return time.time(), time.perf_counter()
