"""gateway.identity: client, version, session, agent and tags from request headers (pure)."""

from __future__ import annotations

import json

import pytest

from gateway.errors import ClientError
from gateway.identity import MAX_SESSION, MAX_TAGS, identify, parse_tags, parse_user_agent


@pytest.mark.parametrize(
    ("ua", "client", "version"),
    [
        ("claude-cli/2.1.197 (external, sdk-cli)", "claude-code", "2.1.197"),
        ("claude-cli/2.1.332 (external, cli)", "claude-code", "2.1.332"),
        ("codex_exec/0.171.0 (Debian 12.0.0; x86_64) xterm-256color", "codex", "0.171.0"),
        ("codex_cli_rs/0.171.0 (Mac OS 15.1.0; arm64) iTerm.app/3.5.10", "codex", "0.171.0"),
        ("codex_vscode/0.40.0", "codex", "0.40.0"),
        ("OpenAI/Python 3.63.0", "openai-python", "3.63.0"),
        ("AsyncOpenAI/Python 3.63.0", "openai-python", "3.63.0"),
        ("AzureOpenAI/Python 1.2.3", "openai-python", "1.2.3"),
        ("Anthropic/Python 2.17.0", "anthropic-python", "2.17.0"),
        ("AsyncAnthropic/Python 0.71.0", "anthropic-python", "0.71.0"),
        ("OpenAI/JS 6.1.0", "openai-node", "6.1.0"),
        ("Anthropic/JS 0.128.0", "anthropic-node", "0.128.0"),
        ("curl/8.5.0", "curl", "8.5.0"),
        ("Groq/JS 0.9.0", "groq-node", "0.9.0"),
        ("AsyncCerebras/Python 1.0.1", "cerebras-python", "1.0.1"),
        ("python-httpx/0.28.1", "python-httpx", "0.28.1"),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "mozilla", "5.0"),
        ("MyTool", "mytool", None),
        ("My Tool/1.0", "my", None),  # the first token is `My`: no version
        ("Weird$Name!/1.0", "weirdname", "1.0"),
        ("OpenAI/Python", "openai-python", None),
        ("", None, None),
        (None, None, None),
        ("   ", None, None),
    ],
)
def test_user_agent_rule(ua, client, version):
    assert parse_user_agent(ua) == (client, version)


def test_user_agent_bounds_and_bad_bytes():
    client, version = parse_user_agent("x" * 500 + "/" + "9" * 100)
    assert client == "x" * 64 and version == "9" * 32
    assert parse_user_agent("tool/1.0\udcff\x01") == ("tool", "1.0")


def test_installed_sdks_user_agents():
    import anthropic
    import openai

    for sdk, cls, name in [
        (openai, openai.OpenAI, "openai-python"),
        (openai, openai.AsyncOpenAI, "openai-python"),
        (anthropic, anthropic.Anthropic, "anthropic-python"),
        (anthropic, anthropic.AsyncAnthropic, "anthropic-python"),
    ]:
        ua = cls(api_key="k").user_agent
        assert parse_user_agent(ua) == (name, sdk.__version__), ua


def test_session_precedence():
    both = {
        "x-ekai-session": "mine",
        "x-claude-code-session-id": "cc",
        "session-id": "codex",
        "session_id": "codex2",
    }
    assert identify(both).session_id == "mine"
    del both["x-ekai-session"]
    assert identify(both).session_id == "cc"
    del both["x-claude-code-session-id"]
    assert identify(both).session_id == "codex"
    del both["session-id"]
    assert identify(both).session_id == "codex2"
    assert identify({}).session_id is None
    assert identify({"x-ekai-session": "  padded  "}).session_id == "padded"


def test_session_bound_and_bad_values():
    assert identify({"x-ekai-session": "s" * MAX_SESSION}).problem is None
    for bad in ["s" * (MAX_SESSION + 1), "a\x00b", "caf\udcc3\udca9", "tab\there"]:
        who = identify({"x-ekai-session": bad, "user-agent": "curl/8.5.0"})
        assert isinstance(who.problem, ClientError) and who.problem.status == 400
        assert who.problem.param == "x-ekai-session" and who.session_id is None
        assert who.client == "curl"  # the row still says who asked
    # a client's own header that is unusable is ignored, not refused
    who = identify({"x-claude-code-session-id": "c" * (MAX_SESSION + 1)})
    assert who.problem is None and who.session_id is None


def test_unicode_session_is_fine():
    assert identify({"x-ekai-session": "café-δ"}).session_id == "café-δ"


def test_tags():
    assert parse_tags("team=infra,env=prod") == '{"env":"prod","team":"infra"}'
    assert json.loads(parse_tags(" a = 1 , b=x=y,, c= ")) == {"a": "1", "b": "x=y", "c": ""}
    assert parse_tags("k=v,") == '{"k":"v"}'
    assert parse_tags("ns:key.sub-x_1=über") == '{"ns:key.sub-x_1":"über"}'


@pytest.mark.parametrize(
    "bad",
    ["novalue", "=v", "a=1,a=2", "bad key=v", ",", "k=v\x07", "k=\udcff", "k" * 65 + "=v",
     "k=" + "v" * MAX_TAGS],
)  # fmt: skip
def test_bad_tags(bad):
    with pytest.raises(ClientError) as info:
        parse_tags(bad)
    assert info.value.param == "x-ekai-tags"
    who = identify({"x-ekai-tags": bad, "x-ekai-session": "ok"})
    assert who.problem is not None and who.tags is None and who.session_id == "ok"


def test_agent():
    meta = json.dumps({"session_id": "s", "turn_id": "t", "agent_name": "/root/worker", "model": "m"})
    assert identify({"x-codex-turn-metadata": meta}).agent == "/root/worker"
    assert identify({"x-claude-code-agent-id": "agent-42"}).agent == "agent-42"
    for junk in ["not json", "[1]", '{"agent_name": 3}', "{" + " " * 9000 + "}"]:
        assert identify({"x-codex-turn-metadata": junk}).agent is None
    assert identify({}).agent is None


def test_nothing_sent():
    who = identify({})
    assert (who.client, who.client_version, who.session_id, who.agent, who.tags, who.problem) == (
        None,
        None,
        None,
        None,
        None,
        None,
    )
