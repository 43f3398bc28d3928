"""A tiny OTLP/HTTP trace receiver on loopback: decodes ExportTraceServiceRequest protobufs."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def attr_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def attributes(items: Any) -> dict[str, Any]:
    return {kv.key: attr_value(kv.value) for kv in items}


class OTLPReceiver:
    def __init__(self, port: int = 0) -> None:
        self.spans: list[dict[str, Any]] = []
        self.content_types: list[str] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with receiver._lock:
                    receiver.paths.append(self.path)
                    receiver.content_types.append(self.headers.get("content-type", ""))
                    for rs in request.resource_spans:
                        resource = attributes(rs.resource.attributes)
                        for ss in rs.scope_spans:
                            for span in ss.spans:
                                receiver.spans.append({
                                    "name": span.name,
                                    "kind": span.kind,
                                    "start": span.start_time_unix_nano,
                                    "end": span.end_time_unix_nano,
                                    "attributes": attributes(span.attributes),
                                    "events": [
                                        {"name": e.name, "time": e.time_unix_nano, "attributes": attributes(e.attributes)}
                                        for e in span.events
                                    ],
                                    "status": span.status.code,
                                    "status_message": span.status.message,
                                    "resource": resource,
                                    "raw": span.SerializeToString(),
                                })
                out = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> OTLPReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def by_request_id(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {s["attributes"]["ekai.request_id"]: s for s in self.spans}
