"""Talking to providers: one shared aiohttp session, URLs and headers per wire format.

Why aiohttp and not httpx: the upstream client decides most of the gateway's added latency, and
httpx's default transport alone costs more than the whole budget (see bench/ and
../shared/reference/http-client.md). Everything upstream goes through `Upstream.send`, so the
choice lives in this one module.

Keys: a provider's key is read from its `api_key_env` when the config is loaded and is added
here, to the upstream request only. The client's own credentials are never forwarded.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping

import aiohttp

from gateway import formats, passthrough
from gateway.config import Provider, Timeouts
from gateway.errors import UpstreamError, UpstreamTimeout

ANTHROPIC_VERSION = formats.messages.FIXED_HEADERS["anthropic-version"]


def endpoint_url(provider: Provider, path: str) -> str:
    """`path` is the route under the provider's API root: 'messages', 'messages/count_tokens',
    'chat/completions' or 'responses' (the format module's BASE_SUFFIX completes the base)."""
    base = provider.base_url
    suffix = formats.FORMATS[provider.format].BASE_SUFFIX
    if suffix and not base.endswith(suffix):
        base += suffix
    return f"{base}/{path}"


def upstream_headers(
    provider: Provider, client_headers: Mapping[str, str], *, same_format: bool
) -> dict[str, str]:
    """Headers for the upstream request: the provider's key, its format's fixed headers, and the
    client's protocol headers when the client speaks the provider's format."""
    fmt = formats.FORMATS[provider.format]
    headers = {"content-type": "application/json", **provider.headers, **fmt.FIXED_HEADERS}
    if same_format:  # e.g. every anthropic-* header, an open list (gateway.passthrough)
        headers.update(passthrough.to_upstream(client_headers, fmt.PASS_HEADERS))
    if provider.api_key:
        headers.update(fmt.auth_headers(provider.api_key))
    return headers


@functools.lru_cache(maxsize=16)
def _client_timeout(total: float, connect: float, idle: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total, sock_connect=connect, connect=connect, sock_read=idle)


class Upstream:
    """The shared upstream client of one worker process."""

    def __init__(self) -> None:
        connector = aiohttp.TCPConnector(limit=2048, limit_per_host=0, ttl_dns_cache=300)
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=True,
            trust_env=False,
        )

    async def close(self) -> None:
        await self.session.close()

    async def send(
        self,
        provider: Provider,
        path: str,
        body: bytes,
        headers: dict[str, str],
        *,
        timeouts: Timeouts,
        query: str = "",
        first_byte: float | None = None,
    ) -> aiohttp.ClientResponse:
        """POST `body` and return once the response headers are in (within `first_byte`
        seconds, default `timeouts.first_byte`). The caller reads the body and must release
        the response. Connect failures and timeouts become UpstreamError."""
        t = timeouts
        url = endpoint_url(provider, path) + (f"?{query}" if query else "")
        timeout = _client_timeout(t.total, t.connect, t.idle)
        try:
            async with asyncio.timeout(first_byte if first_byte is not None else t.first_byte):
                return await self.session.post(url, data=body, headers=headers, timeout=timeout)
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"{provider.name} did not answer in time ({type(exc).__name__})", status=504
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamError(
                f"could not connect to {provider.name} at {provider.base_url}: {exc.os_error}",
                status=502,
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                f"connection to {provider.name} failed: {type(exc).__name__}: {exc}", status=502
            ) from exc
