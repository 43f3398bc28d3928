"""Bad input and upstream failures reach each client as a clear error in its own API's shape."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from tests.conftest import write_config
from tests.fakes.upstream import Reply, anthropic_stream
from tests.gateway_proc import Gateway

OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"


def post(gw: Gateway, path: str, content: bytes | str, ctype: str = "application/json") -> httpx.Response:
    return httpx.post(gw.url + path, content=content, headers={"content-type": ctype}, timeout=10)


def assert_openai_error(resp: httpx.Response, status: int, *words: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    err = body["error"]
    assert set(err) >= {"message", "type", "code"} and isinstance(err["message"], str)
    for w in words:
        assert w in err["message"], err["message"]
    assert "Traceback" not in resp.text and "x-request-id" in resp.headers
    return err


def assert_anthropic_error(resp: httpx.Response, status: int, kind: str, *words: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["type"] == "error" and body["error"]["type"] == kind
    for w in words:
        assert w in body["error"]["message"], body["error"]["message"]
    assert "Traceback" not in resp.text and "x-request-id" in resp.headers
    return body["error"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", ["not valid JSON"]),
        (b"", ["empty"]),
        (b"[1, 2]", ["JSON object"]),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', ["'model'"]),
        (b'{"model": 42, "messages": []}', ["'model' must be a non-empty string"]),
        (b'{"model": "gpt-4o-mini"}', ["'messages'"]),
        (b'{"model": "gpt-4o-mini", "messages": "hi"}', ["must be an array"]),
        (b'{"model": "gpt-4o-mini", "messages": []}', ["at least one"]),
        (b'{"model": "gpt-4o-mini", "messages": ["hi"]}', ["messages[0]"]),
        (b'{"model": "gpt-4o-mini", "messages": [{"role": "user"}], "stream": "yes"}', ["'stream'"]),
        (b'{"model": "gpt-4o-mini", "messages": [{"role": "user"}], "max_tokens": -1}', ["max_tokens"]),
        (b'{"model": "x", "messages": [{"role": "user"}]}\xff', ["UTF-8"]),
    ],
)
def test_bad_bodies_both_shapes(gw, fake, body, words):
    assert_openai_error(post(gw, OPENAI, body), 400, *words)
    assert_anthropic_error(post(gw, ANTHROPIC, body), 400, "invalid_request_error", *words)
    assert fake.seen == []  # nothing reached a provider


def test_bad_requests_are_recorded(gw, fake):
    resp = post(gw, OPENAI, b"{oops")
    row = gw.row(resp.headers["x-request-id"])
    assert row["status"] == 400 and "not valid JSON" in row["error"] and row["model"] is None


def test_wrong_content_type(gw):
    assert_openai_error(
        post(gw, OPENAI, b"model=x", "application/x-www-form-urlencoded"), 415, "Content-Type"
    )


def test_anthropic_needs_max_tokens(gw):
    resp = post(
        gw, ANTHROPIC, b'{"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "x"}]}'
    )
    assert_anthropic_error(resp, 400, "invalid_request_error", "max_tokens")


def test_sdks_raise_their_own_error_classes(gw):
    with pytest.raises(openai.NotFoundError) as e:
        openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0).chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert "no-such-model" in str(e.value)
    with pytest.raises(anthropic.NotFoundError) as e2:
        anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0).messages.create(
            model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert e2.value.body["error"]["type"] == "not_found_error"


def test_unknown_route_and_method(gw):
    resp = httpx.get(gw.url + "/v1/nothing-here", timeout=5)
    assert_openai_error(resp, 404, "No route")
    resp = httpx.get(gw.url + "/v1/messages", timeout=5)
    assert_anthropic_error(resp, 405, "invalid_request_error", "not allowed")


def test_upstream_4xx_passes_through_with_status_and_message(gw, fake):
    fake.queue(
        Reply(
            status=400,
            json={
                "type": "error",
                "error": {"type": "invalid_request_error", "message": "messages.0: bad thing"},
            },
        )
    )
    resp = post(
        gw,
        ANTHROPIC,
        b'{"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}',
    )
    assert_anthropic_error(resp, 400, "invalid_request_error", "messages.0: bad thing")
    assert len(fake.seen) == 1  # a client's own mistake is not retried elsewhere
    row = gw.row(resp.headers["x-request-id"])
    assert row["status"] == 400 and "bad thing" in row["error"] and row["provider"] == "anthropic"


def test_upstream_429_keeps_retry_after(gw, fake):
    fake.queue(
        Reply(
            status=429,
            json={
                "error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}
            },
            headers={"retry-after": "7"},
        )
    )
    resp = post(gw, OPENAI, b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}')
    err = assert_openai_error(resp, 429, "Rate limit reached")
    assert err["code"] == "rate_limit_exceeded" and resp.headers["retry-after"] == "7"


def test_upstream_error_body_that_is_not_json(gw, fake):
    fake.queue(Reply(status=502, json=None))  # the body is the JSON `null`
    resp = post(gw, OPENAI, b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}')
    assert_openai_error(resp, 502)


def test_no_provider_with_a_key_names_the_variable(fake, tmp_path):
    write_config(tmp_path, fake)
    gw = Gateway(tmp_path, env={}).start()
    try:
        resp = post(
            gw,
            ANTHROPIC,
            b'{"model": "claude-sonnet-4-6", "max_tokens": 5, '
            b'"messages": [{"role": "user", "content": "x"}]}',
        )
        assert_anthropic_error(resp, 503, "api_error", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY")
        assert fake.seen == []
    finally:
        gw.stop()


def test_timeouts_become_504_and_mid_stream_cuts_become_error_events(fake, tmp_path):
    write_config(tmp_path, fake, extra="")
    text = (
        (tmp_path / "ekai.yaml")
        .read_text()
        .replace(
            "server: {host: 127.0.0.1, port: 3001}",
            "server: {host: 127.0.0.1, port: 3001, timeouts: {first_byte: 0.5, idle: 0.5}}",
        )
    )
    (tmp_path / "ekai.yaml").write_text(text)
    from tests.conftest import KEYS

    gw = Gateway(tmp_path, env=KEYS).start()
    try:
        fake.queue(Reply(delay=2.0, json={}))
        resp = post(gw, OPENAI, b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}')
        assert_openai_error(resp, 504)
        assert gw.row(resp.headers["x-request-id"])["status"] == 504

        # a stream that goes quiet for longer than the idle timeout after it started
        events = anthropic_stream("claude-sonnet-4-6", ["a", "b"])
        fake.queue(Reply(events=events[:4], chunk_delay=2.0))
        with (
            anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0).messages.stream(
                model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            ) as stream,
            pytest.raises(anthropic.APIStatusError) as e,
        ):
            stream.get_final_message()
        assert "timed out" in str(e.value)

        # upstream drops the connection mid-stream: an error event, never a silent stop
        fake.queue(Reply(events=events[:5], cut=True))
        with (
            anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0).messages.stream(
                model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            ) as stream,
            pytest.raises(anthropic.APIStatusError),
        ):
            stream.get_final_message()
        request_id = stream.response.headers["x-request-id"]
        row = gw.row(request_id)
        assert row["status"] == 200 and row["error"] and row["input_tokens"] == 1200
    finally:
        gw.stop()
