"""OpenTelemetry traces of each proxied request, over OTLP/HTTP (protobuf). Off by default.

`telemetry.otlp_endpoint: http://collector:4318` turns them on (the exporter posts to
`{endpoint}/v1/traces`). Read at start: a changed endpoint takes effect at the next restart (a
reload logs that once); the key is validated on every load like the rest of ekai.yaml.

How: the span of a request is built from its finished UsageRecord in the usage writer thread (a
usage-writer observer, as for metrics and the access log), with the record's own start time and
duration, then handed to the SDK's BatchSpanProcessor, whose own thread exports batches. Why not
spans opened on the event loop: a record already holds everything a span needs, the request path
stays as measured, and the SDK's per-span work (ids, attributes, locks) happens off the loop.

A collector that is down or slow never touches a request: the batch queue is bounded
(`MAX_QUEUE` spans; beyond it the SDK drops spans), each export gives up after
`EXPORT_TIMEOUT_S`, and both run in threads the request path never waits for. Nor does it cost
CPU: once an export has failed, records are not turned into spans at all (they would only be
dropped), except one span every `PROBE_SECONDS` that probes the collector; the first export that
succeeds turns tracing back on. Spans of the requests in between are lost (logged, counted). A
collector that refuses connections when ekai starts counts as down from the start.

Each span follows the GenAI semantic conventions (kind CLIENT: the gateway calling a model):
name `chat {model}`; `gen_ai.operation.name` `chat`; `gen_ai.provider.name` (the configured
provider name: `anthropic`, `openai`, `xai`, `openrouter`, ...); `gen_ai.request.model` (as the
client sent it); `gen_ai.response.model` (the model id sent to the provider);
`gen_ai.usage.input_tokens` (the whole prompt: uncached + cache read + cache write, as the
convention asks), `gen_ai.usage.output_tokens`, `gen_ai.usage.cache_read.input_tokens`,
`gen_ai.usage.cache_creation.input_tokens`, `gen_ai.usage.reasoning.output_tokens`;
`gen_ai.request.stream`, `gen_ai.response.time_to_first_chunk` (seconds, streams);
`http.response.status_code`; on failure `error.type` (the status) and an ERROR status whose
description is the error message. ekai's own: `ekai.request_id`, `ekai.client_format`,
`ekai.cost_usd`, `ekai.cost_source`, `ekai.api_key_name`, `ekai.session_id` when known. Each
upstream attempt is an `ekai.upstream_attempt` event (`ekai.provider`, `ekai.outcome`: the status,
`timeout` or `connect`). No prompt or completion text is ever on a span: a record holds none.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.parse
from typing import Any

from gateway.pricing import pico_to_usd

log = logging.getLogger("ekai.tracing")

MAX_QUEUE = 4096
BATCH = 512
SCHEDULE_MS = 1000
EXPORT_TIMEOUT_S = 3.0
PROBE_SECONDS = 5.0
ATTEMPT = "ekai.upstream_attempt"


def span_attributes(r: Any) -> dict[str, Any]:
    """The attributes of one finished UsageRecord's span (None values left out)."""
    t = r.tokens
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": r.provider,
        "gen_ai.request.model": r.model,
        "gen_ai.response.model": r.provider_model,
        "gen_ai.request.stream": r.stream,
        "gen_ai.usage.input_tokens": t.input + t.cache_read + t.cache_write,
        "gen_ai.usage.output_tokens": t.output,
        "gen_ai.usage.cache_read.input_tokens": t.cache_read,
        "gen_ai.usage.cache_creation.input_tokens": t.cache_write,
        "gen_ai.usage.reasoning.output_tokens": t.reasoning,
        "http.response.status_code": r.status,
        "ekai.request_id": r.request_id,
        "ekai.client_format": r.client_format,
        "ekai.cost_usd": pico_to_usd(r.cost_pico) if r.cost_pico is not None else None,
        "ekai.cost_source": r.cost_source,
        "ekai.api_key_name": r.api_key_name,
        "ekai.session_id": getattr(r, "session_id", None),
    }
    if r.stream and r.ttft_ms is not None:
        attrs["gen_ai.response.time_to_first_chunk"] = r.ttft_ms / 1000
    if r.status >= 400 or r.error:
        attrs["error.type"] = str(r.status) if r.status else "error"
    return {k: v for k, v in attrs.items() if v is not None}


def watched_exporter(endpoint: str) -> Any:
    """The OTLP/HTTP exporter, remembering whether its last export reached the collector
    (`.failing`). Built here so the SDK is imported only when tracing is on."""
    from collections.abc import Sequence

    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class WatchedExporter(SpanExporter):
        def __init__(self, inner: SpanExporter) -> None:
            self.inner = inner
            self.failing = False

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            result = self.inner.export(spans)
            self.failing = result is not SpanExportResult.SUCCESS
            return result

        def shutdown(self) -> None:
            self.inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return self.inner.force_flush(timeout_millis)

    return WatchedExporter(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", timeout=EXPORT_TIMEOUT_S))


class Tracer:
    """A usage-writer observer that turns each record into a span and queues it for export."""

    def __init__(self, endpoint: str, store: Any) -> None:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self.endpoint = endpoint
        self.store = store
        self._warned: str | None = endpoint
        self._kind = SpanKind.CLIENT
        self._error = (Status, StatusCode.ERROR)
        resource = Resource.create()  # reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: "ekai"}))  # unless they name it
        self.provider = TracerProvider(resource=resource)
        self.exporter = watched_exporter(endpoint)
        self.dropped = 0  # records not traced while the collector was down
        self._down = False
        self._probe_at = 0.0
        self.provider.add_span_processor(
            BatchSpanProcessor(
                self.exporter,
                max_queue_size=MAX_QUEUE,
                max_export_batch_size=BATCH,
                schedule_delay_millis=SCHEDULE_MS,
                export_timeout_millis=EXPORT_TIMEOUT_S * 1000,
            )
        )
        self.tracer = self.provider.get_tracer("ekai.gateway")
        threading.Thread(target=self._first_probe, name="ekai-otlp-probe", daemon=True).start()

    def _first_probe(self) -> None:
        """A collector that refuses connections at start is down from the start: no span is built
        until a probe span gets through (instead of the seconds the first export takes to fail)."""
        url = urllib.parse.urlsplit(self.endpoint)
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            socket.create_connection((url.hostname or "127.0.0.1", port), timeout=2).close()
        except OSError:
            self.exporter.failing = True

    def __call__(self, records: list[Any]) -> None:
        configured = self.store.config.otlp_endpoint
        if configured != self._warned:
            self._warned = configured
            log.warning("telemetry.otlp_endpoint is now %s: takes effect when ekai restarts", configured)
        if self.exporter.failing:
            if not self._down:
                self._down = True
                log.warning("OTLP collector at %s does not answer: spans are dropped until it does "
                            "(probed every %g s)", self.endpoint, PROBE_SECONDS)
            now = time.monotonic()
            if now < self._probe_at:
                self.dropped += len(records)
                return
            self._probe_at = now + PROBE_SECONDS
            self.dropped += len(records) - 1
            records = records[:1]  # one span probes the collector
        elif self._down:
            self._down = False
            log.warning("OTLP collector at %s answers again: %d requests were not traced",
                        self.endpoint, self.dropped)
        for r in records:
            self._span(r)

    def _span(self, r: Any) -> None:
        start = int(r.started * 1e9)
        end = start + int((r.latency_ms or 0.0) * 1e6)
        span = self.tracer.start_span(
            f"chat {r.model}" if r.model else "chat",
            kind=self._kind,
            start_time=start,
            attributes=span_attributes(r),
        )
        for attempt in r.attempts:
            name, _, outcome = attempt.rpartition(":")
            span.add_event(ATTEMPT, {"ekai.provider": name, "ekai.outcome": outcome}, start)
        if r.provider:
            span.add_event(ATTEMPT, {"ekai.provider": r.provider, "ekai.outcome": str(r.status)}, end)
        if r.status >= 400 or r.error:
            status, code = self._error
            span.set_status(status(code, (r.error or "")[:300]))
        span.end(end_time=end)

    def shutdown(self) -> None:
        """Flush what is queued (bounded by the export timeout) and stop the export thread."""
        try:
            self.provider.shutdown()
        except Exception:
            log.exception("trace exporter shutdown failed")


def start(store: Any) -> Tracer | None:
    endpoint = store.config.otlp_endpoint
    if not endpoint:
        return None
    tracer = Tracer(endpoint, store)
    log.info("traces exported to %s/v1/traces", endpoint)
    return tracer
