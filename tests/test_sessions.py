"""Who asked, through the real gateway: the official SDKs' own User-Agents, session and tag
headers, Codex's and Claude Code's headers, 400s for bad values (recorded), nothing forwarded."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import Gateway

OURS = ("x-ekai-session", "x-ekai-tags", "x-claude-code-session-id", "session-id", "session_id",
        "x-codex-turn-metadata", "x-claude-code-agent-id")  # fmt: skip


def assert_not_forwarded(fake: FakeUpstream) -> None:
    assert fake.seen, "the request reached no provider"
    for seen in fake.seen:
        leaked = [name for name in OURS if name in seen.headers]
        assert not leaked, f"{leaked} reached {seen.provider}"


def test_openai_sdk_row(gw: Gateway, fake: FakeUpstream) -> None:
    client = openai.OpenAI(
        base_url=gw.url + "/v1",
        api_key="k",
        max_retries=0,
        default_headers={"x-ekai-session": "sess-openai-1", "x-ekai-tags": "team=infra,env=ci"},
    )
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-5", messages=[{"role": "user", "content": "hi"}]
    )
    row = gw.row(raw.headers["x-request-id"])
    assert (row["client"], row["client_version"]) == ("openai-python", openai.__version__)
    assert row["session_id"] == "sess-openai-1"
    assert json.loads(row["tags"]) == {"team": "infra", "env": "ci"}
    assert row["tags"] == '{"env":"ci","team":"infra"}'  # sorted keys: one text per tag set
    assert row["agent"] is None and row["status"] == 200
    assert_not_forwarded(fake)


def test_anthropic_sdk_stream_row(gw: Gateway, fake: FakeUpstream) -> None:
    client = anthropic.Anthropic(
        base_url=gw.url, api_key="k", max_retries=0, default_headers={"x-ekai-session": "sess-a"}
    )
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        stream.get_final_message()
        request_id = stream.response.headers["x-request-id"]
    row = gw.row(request_id)
    assert (row["client"], row["client_version"]) == ("anthropic-python", anthropic.__version__)
    assert row["session_id"] == "sess-a" and row["stream"] == 1 and row["tags"] is None
    assert_not_forwarded(fake)


def test_anthropic_sdk_to_an_openai_provider(gw: Gateway, fake: FakeUpstream) -> None:
    """Translated requests carry the identity too (and still forward none of it)."""
    client = anthropic.Anthropic(
        base_url=gw.url, api_key="k", max_retries=0, default_headers={"x-ekai-tags": "job=nightly"}
    )
    raw = client.messages.with_raw_response.create(
        model="gpt-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    row = gw.row(raw.headers["x-request-id"])
    assert row["client"] == "anthropic-python" and row["tags"] == '{"job":"nightly"}'
    assert row["provider"] == "openrouter" or row["provider"] == "openai"
    assert_not_forwarded(fake)


def test_codex_headers(gw: Gateway, fake: FakeUpstream) -> None:
    meta = {"session_id": "0199-codex", "turn_id": "t1", "agent_name": "/root", "model": "gpt-5"}
    r = httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]},
        headers={
            "user-agent": "codex_exec/0.171.0 (Debian 12.0.0; x86_64) xterm",
            "session-id": "0199-codex",
            "x-codex-turn-metadata": json.dumps(meta),
        },
        timeout=10,
    )
    assert r.status_code == 200, r.text
    row = gw.row(r.headers["x-request-id"])
    assert (row["client"], row["client_version"]) == ("codex", "0.171.0")
    assert (row["session_id"], row["agent"]) == ("0199-codex", "/root")
    assert_not_forwarded(fake)


def test_claude_code_headers_and_our_session_wins(gw: Gateway, fake: FakeUpstream) -> None:
    r = httpx.post(
        gw.url + "/v1/messages",
        json={
            "model": "claude-sonnet-4-6",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}],
        },
        headers={
            "user-agent": "claude-cli/2.1.332 (external, sdk-cli)",
            "x-claude-code-session-id": "cc-uuid",
            "x-claude-code-agent-id": "agent-7",
            "x-ekai-session": "override",
            "anthropic-version": "2023-06-01",
        },
        timeout=10,
    )
    assert r.status_code == 200, r.text
    row = gw.row(r.headers["x-request-id"])
    assert (row["client"], row["session_id"], row["agent"]) == ("claude-code", "override", "agent-7")
    assert_not_forwarded(fake)


def test_curl_and_no_user_agent(gw: Gateway) -> None:
    body = {"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(gw.url + "/v1/chat/completions", json=body, headers={"user-agent": "curl/8.5.0"})
    row = gw.row(r.headers["x-request-id"])
    assert (row["client"], row["client_version"], row["session_id"]) == ("curl", "8.5.0", None)
    with httpx.Client() as c:
        c.headers.pop("user-agent")
        r = c.post(gw.url + "/v1/chat/completions", json=body)
    row = gw.row(r.headers["x-request-id"])
    assert (row["client"], row["client_version"]) == (None, None)


BAD = [
    ({"x-ekai-session": "s" * 257}, "x-ekai-session", "at most 256"),
    ({"x-ekai-session": b"caf\xe9"}, "x-ekai-session", "not UTF-8"),
    ({"x-ekai-tags": "team"}, "x-ekai-tags", "key=value"),
    ({"x-ekai-tags": "a=1,a=2"}, "x-ekai-tags", "repeats"),
    ({"x-ekai-tags": "k=" + "v" * 1100}, "x-ekai-tags", "at most 1024"),
    ({"x-ekai-tags": b"k=\xff\xfe"}, "x-ekai-tags", "not UTF-8"),
]


@pytest.mark.parametrize(("headers", "param", "words"), BAD)
def test_bad_header_is_a_recorded_400_in_the_openai_shape(gw, fake, headers, param, words):
    r = httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        headers={"user-agent": "curl/8.5.0", **headers},
        timeout=10,
    )
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param
    assert words in err["message"] and param in err["message"]
    row = gw.row(r.headers["x-request-id"])
    assert row["status"] == 400 and row["error"] == err["message"]
    assert (row["client"], row["model"], row["stream"]) == ("curl", "gpt-5", 1)
    assert not fake.seen  # refused before any provider


@pytest.mark.parametrize(("headers", "param", "words"), [BAD[0], BAD[2], BAD[3]])
def test_bad_header_is_a_recorded_400_in_the_anthropic_shape(gw, fake, headers, param, words):
    client = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers=headers,
        )
    body = info.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "invalid_request_error"
    assert words in body["error"]["message"]
    row = gw.row(info.value.response.headers["x-request-id"])
    assert row["status"] == 400 and row["client"] == "anthropic-python"
    assert not fake.seen


def test_codex_underscore_session_header_reaches_the_row(gw: Gateway, fake: FakeUpstream) -> None:
    """Sanic keeps header names with underscores (some proxies drop them: then `session-id`)."""
    r = httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]},
        headers={"user-agent": "codex_cli_rs/0.171.0 (Mac OS 15.1.0; arm64)", "session_id": "codex-underscore"},
        timeout=10,
    )
    row = gw.row(r.headers["x-request-id"])
    assert (row["client"], row["session_id"]) == ("codex", "codex-underscore")
    assert_not_forwarded(fake)


def test_count_tokens_rows_say_who_asked_and_refuse_bad_tags(gw: Gateway, fake: FakeUpstream) -> None:
    client = anthropic.Anthropic(
        base_url=gw.url, api_key="k", max_retries=0, default_headers={"x-ekai-session": "count-1"}
    )
    raw = client.messages.with_raw_response.count_tokens(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}]
    )
    row = gw.row(raw.headers["x-request-id"])
    assert (row["client"], row["session_id"]) == ("anthropic-python", "count-1")
    assert_not_forwarded(fake)
    fake.reset()
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.count_tokens(
            model="claude-sonnet-4-6",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-ekai-tags": "a=1,a=2"},
        )
    row = gw.row(info.value.response.headers["x-request-id"])
    assert row["status"] == 400 and "repeats" in row["error"]
    assert not fake.seen
