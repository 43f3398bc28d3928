"""OpenTelemetry traces: one span per request, exported over OTLP/HTTP, checked against the rows."""

from __future__ import annotations

import socket
import time
from datetime import datetime

import httpx
import pytest

from tests.conftest import KEYS, write_config
from tests.fakes.otlp import OTLPReceiver
from tests.fakes.upstream import Reply
from tests.gateway_proc import Gateway, free_port

PROMPT = "PROMPT-TEXT-never-on-a-span-91ac"
SPAN_KIND_CLIENT = 3
STATUS_ERROR = 2


def with_telemetry(tmp_path, fake, endpoint: str):
    config = write_config(tmp_path, fake)
    config.write_text(config.read_text() + f"\ntelemetry:\n  otlp_endpoint: {endpoint}\n")
    return config


def traffic(gw: Gateway, fake) -> list[str]:
    user = [{"role": "user", "content": PROMPT}]
    ids = []
    for path, body in [
        ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": user}),
        ("/v1/messages", {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": user}),
        ("/v1/messages", {"model": "gpt-4o-mini", "max_tokens": 10, "messages": user, "stream": True}),
        ("/v1/chat/completions", {"model": "gpt-5", "messages": user}),  # after the queued 500: a fallback
        ("/v1/messages", {"model": "claude-haiku-4-5", "messages": user}),  # no max_tokens: 400
    ]:
        if body["model"] == "gpt-5":
            fake.queue(Reply(status=500, json={"error": {"message": "boom", "type": "server_error"}},
                             provider="openrouter"))
        with httpx.stream("POST", gw.url + path, json=body, timeout=15) as resp:
            resp.read()
            ids.append(resp.headers["x-request-id"])
    return ids


def epoch_ns(ts: str) -> int:
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000) * 1_000_000


def test_each_request_is_a_genai_span(fake, tmp_path):
    receiver = OTLPReceiver().start()
    with_telemetry(tmp_path, fake, receiver.url)
    gw = Gateway(tmp_path, env=KEYS).start()
    try:
        ids = traffic(gw, fake)
        deadline = time.monotonic() + 15
        while set(receiver.by_request_id()) < set(ids):
            assert time.monotonic() < deadline, f"spans received: {len(receiver.spans)}"
            time.sleep(0.05)
        spans = receiver.by_request_id()
        assert set(receiver.paths) == {"/v1/traces"}
        assert set(receiver.content_types) == {"application/x-protobuf"}
        for request_id in ids:
            row, span = gw.row(request_id), spans[request_id]
            a = span["attributes"]
            assert span["kind"] == SPAN_KIND_CLIENT
            assert span["name"] == f"chat {row['model']}"
            assert span["resource"]["service.name"] == "ekai"
            assert a["gen_ai.operation.name"] == "chat"
            assert a["gen_ai.request.model"] == row["model"]
            assert a.get("gen_ai.provider.name") == row["provider"]
            assert a.get("gen_ai.response.model") == row["provider_model"]
            prompt = row["input_tokens"] + row["cache_read_tokens"] + row["cache_write_tokens"]
            assert a["gen_ai.usage.input_tokens"] == prompt
            assert a["gen_ai.usage.output_tokens"] == row["output_tokens"]
            assert a["gen_ai.usage.cache_read.input_tokens"] == row["cache_read_tokens"]
            assert a["gen_ai.usage.cache_creation.input_tokens"] == row["cache_write_tokens"]
            assert a["gen_ai.usage.reasoning.output_tokens"] == row["reasoning_tokens"]
            assert a["http.response.status_code"] == row["status"]
            assert a["ekai.client_format"] == row["client_format"]
            assert a.get("ekai.cost_usd") == row["cost_usd"]
            assert span["start"] // 1_000_000 == epoch_ns(row["ts"]) // 1_000_000
            assert (span["end"] - span["start"]) / 1e6 == pytest.approx(row["latency_ms"], abs=0.01)
            attempts = [(e["attributes"]["ekai.provider"], e["attributes"]["ekai.outcome"])
                        for e in span["events"] if e["name"] == "ekai.upstream_attempt"]
            expected = [tuple(x.split(":")) for x in (row["attempts"] or "").split(",") if x]
            if row["provider"]:
                expected.append((row["provider"], str(row["status"])))
            assert attempts == expected
            if row["status"] >= 400:
                assert span["status"] == STATUS_ERROR and a["error.type"] == str(row["status"])
                assert span["status_message"] == row["error"]
            else:
                assert "error.type" not in a
            assert PROMPT.encode() not in span["raw"]
        assert spans[ids[3]]["events"][0]["attributes"] == {"ekai.provider": "openrouter", "ekai.outcome": "500"}
        assert spans[ids[2]]["attributes"]["gen_ai.request.stream"] is True
        assert spans[ids[2]]["attributes"]["gen_ai.response.time_to_first_chunk"] > 0
        assert len(receiver.spans) == len(ids)  # one span per request, nothing else
    finally:
        gw.stop()
        receiver.stop()
    assert PROMPT not in gw.output()


@pytest.mark.parametrize("collector", ["refused", "black hole"])
def test_a_collector_that_is_down_costs_requests_nothing(fake, tmp_path, collector):
    hole = None
    if collector == "refused":
        endpoint = f"http://127.0.0.1:{free_port()}"
    else:  # accepts connections, never answers: every export runs into its timeout
        hole = socket.socket()
        hole.bind(("127.0.0.1", 0))
        hole.listen(1000)
        endpoint = f"http://127.0.0.1:{hole.getsockname()[1]}"
    with_telemetry(tmp_path, fake, endpoint)
    gw = Gateway(tmp_path, env=KEYS).start()
    try:
        ids = []
        for _ in range(3):
            ids += traffic(gw, fake)
        for request_id in ids:
            assert gw.row(request_id)["request_id"] == request_id
        statuses = [gw.row(i)["status"] for i in ids]
        assert statuses.count(200) == 12 and statuses.count(400) == 3
        assert httpx.get(gw.url + "/health", timeout=5).json()["status"] == "ok"
    finally:
        gw.stop()
        if hole is not None:
            hole.close()


def test_tracing_resumes_when_the_collector_comes_back(fake, tmp_path):
    port = free_port()
    with_telemetry(tmp_path, fake, f"http://127.0.0.1:{port}")
    gw = Gateway(tmp_path, env={**KEYS, "OTEL_SERVICE_NAME": "gateway-eu-1"}).start()
    receiver = None
    try:
        deadline = time.monotonic() + 60
        while "does not answer" not in gw.output():  # the first export fails (after its retries)
            assert time.monotonic() < deadline
            traffic(gw, fake)
            time.sleep(0.2)
        receiver = OTLPReceiver(port).start()
        deadline = time.monotonic() + 60
        late: list[str] = []
        while not (set(late) and set(late) <= set(receiver.by_request_id())):
            assert time.monotonic() < deadline, "tracing did not resume"
            if "answers again" in gw.output():
                late += traffic(gw, fake)  # traced again: every one of these gets its span
            else:
                traffic(gw, fake)  # a probe span goes out every few seconds
            time.sleep(0.2)
        assert "requests were not traced" in gw.output()
        assert {s["resource"]["service.name"] for s in receiver.spans} == {"gateway-eu-1"}  # the standard variable wins
    finally:
        gw.stop()
        if receiver is not None:
            receiver.stop()


def test_telemetry_endpoint_is_validated(fake, tmp_path):
    from gateway.config import ConfigError, load_config

    config = with_telemetry(tmp_path, fake, "collector:4318")
    with pytest.raises(ConfigError) as err:
        load_config(config, env=KEYS)
    assert any("ekai.yaml:" in p and "telemetry.otlp_endpoint" in p for p in err.value.problems)
    config.write_text(config.read_text().replace("otlp_endpoint: collector:4318", "otlp_endpont: x"))
    with pytest.raises(ConfigError) as err:
        load_config(config, env=KEYS)
    assert any("telemetry.otlp_endpont: unknown key" in p for p in err.value.problems)
    config.write_text(config.read_text().replace("otlp_endpont: x", "otlp_endpoint: null"))
    assert load_config(config, env=KEYS).otlp_endpoint is None
