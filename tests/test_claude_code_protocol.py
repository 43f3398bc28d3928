"""Claude Code's LLM gateway protocol, point by point (../shared/reference/clients.md).

Each test drives the real gateway with a fake Anthropic (or OpenAI-format) provider on loopback
and checks what the provider saw and what the client got back.
"""

from __future__ import annotations

import json
import os
import subprocess
from email.utils import formatdate

import anthropic
import httpx
import openai
import pytest

from tests.conftest import KEYS, write_config
from tests.fakes.upstream import Reply, anthropic_message
from tests.gateway_proc import Gateway
from tests.real_clients import cli

FUTURE_BETA = "anthropic-future-thing-2027-01-01"
FUTURE_HEADER = "anthropic-made-up-header"


def messages_body(model: str, **extra) -> dict:
    return {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}], **extra}


def post(gw: Gateway, body: dict, headers: dict | None = None, path: str = "/v1/messages") -> httpx.Response:
    return httpx.post(gw.url + path, json=body, headers=headers or {}, timeout=15)


@pytest.fixture(scope="module")
def gw_429(fake, tmp_path_factory):
    """A gateway of its own for 429s: a retry-after cools its provider down, which must not
    reorder the shared gateway's routes under other tests."""
    folder = tmp_path_factory.mktemp("gw429")
    write_config(folder, fake)
    gateway = Gateway(folder, env=KEYS).start()
    yield gateway
    gateway.stop()


@pytest.fixture
def lax_fake(fake):
    """The fake Anthropic refuses unknown body fields, as the real API does without the beta that
    defines them; a made-up future field needs it to look the other way."""
    fake.strict = False
    yield fake
    fake.strict = True


@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "claude-haiku-4-5"])  # bytes as-is / model id rewritten
@pytest.mark.parametrize("stream", [False, True])
def test_every_anthropic_header_and_unknown_field_reaches_the_provider(gw, lax_fake, model, stream):
    headers = {
        "anthropic-version": "2023-06-01",
        "anthropic-beta": f"claude-code-20250219,{FUTURE_BETA}",
        FUTURE_HEADER: "yes",
        "anthropic-dangerous-direct-browser-access": "true",
        "x-claude-code-session-id": "0b7c9a3e-0000-4000-8000-000000000001",
    }
    body = messages_body(model, stream=stream, future_field={"nested": [1, 2]}, cache_control={"type": "ephemeral"})
    resp = post(gw, body, headers, path="/v1/messages?beta=true")
    assert resp.status_code == 200, resp.text
    seen = lax_fake.last("anthropic")
    assert seen.query == "beta=true"
    assert seen.headers["anthropic-beta"] == f"claude-code-20250219,{FUTURE_BETA}"
    assert seen.headers[FUTURE_HEADER] == "yes"
    assert seen.headers["anthropic-dangerous-direct-browser-access"] == "true"
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.body["future_field"] == {"nested": [1, 2]}
    assert seen.body["cache_control"] == {"type": "ephemeral"}
    assert seen.headers["x-api-key"] == KEYS["ANTHROPIC_API_KEY"]  # and the client's key is not


def test_anthropic_headers_do_not_cross_to_an_openai_format_provider(gw, fake):
    headers = {"anthropic-version": "2023-06-01", "anthropic-beta": FUTURE_BETA, FUTURE_HEADER: "yes"}
    resp = post(gw, messages_body("gpt-4o-mini"), headers)
    assert resp.status_code == 200, resp.text
    seen = fake.last("openai")
    assert not [h for h in seen.headers if h.startswith("anthropic-")]


def test_rate_limit_headers_come_back_on_success(gw, fake):
    fake.queue(
        Reply(
            json=anthropic_message("claude-sonnet-4-6"),
            headers={
                "anthropic-ratelimit-unified-status": "allowed",
                "anthropic-ratelimit-unified-5h-utilization": "0.42",
                "anthropic-ratelimit-unified-reset": "1796590000",
                "x-should-retry": "false",
                "request-id": "req_upstream_1",
            },
            provider="anthropic",
        )
    )
    resp = post(gw, messages_body("claude-sonnet-4-6"), {"anthropic-version": "2023-06-01"})
    assert resp.status_code == 200
    assert resp.headers["anthropic-ratelimit-unified-status"] == "allowed"
    assert resp.headers["anthropic-ratelimit-unified-5h-utilization"] == "0.42"
    assert resp.headers["anthropic-ratelimit-unified-reset"] == "1796590000"
    assert resp.headers["x-should-retry"] == "false"
    assert resp.headers["request-id"] == "req_upstream_1"


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ({"retry-after": "7"}, "7"),
        ({"retry-after": "1.2"}, "2"),  # whole seconds, rounded up
        ({"retry-after-ms": "1500"}, "2"),
        ({"retry-after": formatdate(usegmt=True)}, "0"),  # an HTTP date: seconds from now
    ],
)
def test_retry_after_in_whole_seconds_and_x_should_retry(gw_429, fake, sent, expected):
    # claude-haiku-4-5 has one provider: the 429 is the answer, no fallback
    raw = json.dumps({"type": "error", "error": {"type": "rate_limit_error", "message": "Number of request tokens has exceeded your per-minute rate limit"}})
    fake.queue(Reply(status=429, json=json.loads(raw), headers={**sent, "x-should-retry": "true"}, provider="anthropic"))
    resp = post(gw_429, messages_body("claude-haiku-4-5"), {"anthropic-version": "2023-06-01"})
    assert resp.status_code == 429
    assert resp.headers["retry-after"] == expected
    assert resp.headers["x-should-retry"] == "true"
    if "retry-after-ms" in sent:
        assert resp.headers["retry-after-ms"] == "1500"


@pytest.mark.parametrize(
    ("status", "kind", "message"),
    [
        (529, "overloaded_error", "Overloaded"),
        (400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
        (413, "request_too_large", "Request exceeds the maximum allowed number of bytes."),
    ],
)
def test_upstream_error_bodies_are_forwarded_byte_for_byte(gw, fake, status, kind, message):
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011CU"}
    sent = json.dumps(body).encode()  # the fake's aiohttp json_response writes json.dumps' spacing
    fake.queue(Reply(status=status, json=body, provider="anthropic"))
    resp = post(gw, messages_body("claude-haiku-4-5"), {"anthropic-version": "2023-06-01"})
    assert resp.status_code == status
    assert resp.content == sent


def test_openai_error_bodies_are_forwarded_byte_for_byte_too(gw, fake):
    body = {"error": {"message": "This model's maximum context length is 128000 tokens.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}
    fake.queue(Reply(status=400, json=body, provider="openai"))
    resp = post(gw, {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}, path="/v1/chat/completions")
    assert resp.status_code == 400
    assert resp.content == json.dumps(body).encode()


def test_ping_events_are_relayed(gw, fake):
    with httpx.stream(
        "POST", gw.url + "/v1/messages", json=messages_body("claude-sonnet-4-6", stream=True),
        headers={"anthropic-version": "2023-06-01", "x-ekai-provider": "anthropic"}, timeout=15,
    ) as resp:
        text = resp.read().decode()
    assert resp.status_code == 200
    assert 'event: ping\ndata: {"type": "ping"}' in text  # the fake's ping, as it sent it


def test_head_probe_of_the_base_url_is_answered_without_a_provider(gw, fake):
    resp = httpx.head(gw.url + "/", timeout=5)
    assert resp.status_code == 200 and resp.content == b""
    assert fake.seen == []
    assert httpx.get(gw.url + "/", timeout=5).json()["status"] == "ok"


def test_head_probe_needs_no_gateway_key(fake, tmp_path):
    write_config(tmp_path, fake, extra="auth:\n  keys:\n    laptop: EKAI_KEY_LAPTOP\n")
    gw = Gateway(tmp_path, env={**KEYS, "EKAI_KEY_LAPTOP": "gw-key-1"}).start()
    try:
        assert httpx.head(gw.url + "/", timeout=5).status_code == 200
        assert httpx.get(gw.url + "/v1/models", timeout=5).status_code == 401  # the rest still needs it
    finally:
        gw.stop()


def routable(gw: Gateway) -> list[str]:
    return [m["id"] for m in httpx.get(gw.url + "/v1/models", timeout=5).json()["data"]]


def test_models_list_in_the_anthropic_shape_for_anthropic_clients(gw):
    expected = routable(gw)
    assert "claude-sonnet-4-6" in expected and "gpt-4o-mini" in expected
    raw = httpx.get(gw.url + "/v1/models?limit=1000", headers={"anthropic-version": "2023-06-01"}, timeout=5).json()
    assert "object" not in raw and raw["has_more"] is False
    assert [m["id"] for m in raw["data"]] == expected
    assert {m["type"] for m in raw["data"]} == {"model"}
    client = anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)
    listed = list(client.models.list(limit=1000))
    assert [m.id for m in listed] == expected
    assert all(m.display_name and m.created_at.year >= 2026 for m in listed)
    # the SDK walks Anthropic's paging (after_id) across pages of 2
    assert [m.id for m in client.models.list(limit=2)] == expected
    page = client.models.list(limit=2)
    assert page.has_more is True and page.last_id == expected[1]


def test_models_list_paging_errors_in_the_anthropic_shape(gw):
    resp = httpx.get(gw.url + "/v1/models?limit=0", headers={"anthropic-version": "2023-06-01"}, timeout=5)
    assert resp.status_code == 400
    assert resp.json()["type"] == "error" and resp.json()["error"]["type"] == "invalid_request_error"


def test_models_list_in_the_openai_shape_otherwise(gw):
    raw = httpx.get(gw.url + "/v1/models", timeout=5).json()
    assert raw["object"] == "list"
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == routable(gw)


def test_claude_code_discovers_the_gateways_models(gw, fake, tmp_path):
    """A real Claude Code run with gateway model discovery lists the gateway's models: it caches
    what GET /v1/models?limit=1000 returned (the Claude ones) in ~/.claude/cache/."""
    claude = cli("claude")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": gw.url,
        "ANTHROPIC_API_KEY": "dummy-key-not-forwarded",
        "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    proc = subprocess.run(
        [str(claude), "-p", "say hi", "--model", "claude-haiku-4-5", "--debug"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Hello from the fake." in proc.stdout
    cache = json.loads((home / ".claude" / "cache" / "gateway-models.json").read_text())
    assert cache["baseUrl"] == gw.url
    claude_models = [m for m in routable(gw) if "claude" in m or "anthropic" in m]
    assert [m["id"] for m in cache["models"]] == claude_models
    debug = (home / ".claude" / "debug" / "latest").read_text()
    assert f"[gatewayDiscovery] cached {len(claude_models)} models" in debug
    assert fake.last("anthropic").headers["x-api-key"] == KEYS["ANTHROPIC_API_KEY"]
