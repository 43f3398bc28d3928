"""The real Claude Code CLI against the real gateway, its Anthropic provider the fake on loopback.

Every row of one `claude -p` run must carry the run's one session id, `client = claude-code` and
the installed version; a run where the model calls the Agent tool makes the sub-agent's requests
carry its agent id (Claude Code sends `x-claude-code-agent-id` to a gateway only with
CLAUDE_CODE_GATEWAY_HINT_HEADERS=1).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import KEYS, write_config
from tests.fakes.upstream import ANTHROPIC_USAGE, FakeUpstream, Reply, wait_for
from tests.gateway_proc import Gateway
from tests.real_clients import cli

PACKAGE = (
    Path(__file__).parent / "clients" / "node_modules" / "@anthropic-ai" / "claude-code" / "package.json"
)


@pytest.fixture(scope="module")
def claude() -> Path:
    return cli("claude")


@pytest.fixture
def gw_cc(fake: FakeUpstream, tmp_path: Path):
    folder = tmp_path / "gw"
    folder.mkdir()
    write_config(folder, fake)
    gw = Gateway(folder, env=KEYS).start()
    yield gw
    gw.stop()


def installed_version(claude: Path) -> str:
    out = subprocess.run(
        [str(claude), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env_for(claude.parent, "http://127.0.0.1:9"),
    )
    version = out.stdout.split()[0]
    if PACKAGE.exists():
        assert json.loads(PACKAGE.read_text())["version"] == version
    return version


def env_for(home: Path, base_url: str, **extra: str) -> dict[str, str]:
    """Only loopback, no real key, no home of the machine's user, no non-essential traffic."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "sk-ant-dummy-not-a-key",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",  # no telemetry, error reports, updates
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        **extra,
    }


def run(claude: Path, gw: Gateway, tmp_path: Path, prompt: str, **extra: str) -> str:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    proc = subprocess.run(
        [str(claude), "-p", prompt, "--model", "claude-sonnet-4-6"],
        cwd=work,
        env=env_for(home, gw.url, **extra),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, f"claude failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def settled_rows(gw: Gateway, fake: FakeUpstream, after: int = 0) -> list[dict[str, Any]]:
    """The rows with id > `after`, once there is one per request the fake saw since its reset
    (the writer commits in batches)."""
    proxied = len([s for s in fake.seen if s.path.endswith("/messages")])  # count_tokens: no row
    wait_for(lambda: len(gw.rows("id > ?", (after,))) >= proxied, timeout=10)
    return gw.rows("id > ?", (after,))


def test_claude_code_rows_carry_its_session_client_and_version(claude, gw_cc, fake, tmp_path):
    version = installed_version(claude)
    out = run(claude, gw_cc, tmp_path, "Say hi.")
    assert "Hello from the fake." in out
    rows = settled_rows(gw_cc, fake)
    assert rows and len(rows) == len([s for s in fake.seen if s.path.endswith("/messages")])
    assert {r["client"] for r in rows} == {"claude-code"}
    assert {r["client_version"] for r in rows} == {version}
    sessions = {r["session_id"] for r in rows}
    assert len(sessions) == 1 and None not in sessions
    assert all(r["status"] == 200 and r["stream"] == 1 for r in rows)
    assert all("x-claude-code-session-id" not in s.headers for s in fake.seen)

    # a second run is a second session
    fake.reset()
    run(claude, gw_cc, tmp_path, "Say hi again.")
    rows2 = settled_rows(gw_cc, fake, after=rows[-1]["id"])
    assert rows2 and {r["session_id"] for r in rows2}.isdisjoint(sessions)
    assert len({r["session_id"] for r in rows2}) == 1


def tool_use_stream(model: str, tool_id: str, name: str, tool_input: dict[str, Any]) -> list[tuple[str, Any]]:
    """An Anthropic SSE reply: a signed thinking block (a tool loop with thinking on must start
    with one), then a tool call."""
    return [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_tool01", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {**ANTHROPIC_USAGE, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
            "type": "thinking", "thinking": "", "signature": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {
            "type": "thinking_delta", "thinking": "A sub-agent should do it."}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {
            "type": "signature_delta", "signature": "ZmFrZS1zaWduYXR1cmU="}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": tool_id, "name": name, "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {
            "type": "input_json_delta", "partial_json": json.dumps(tool_input)}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                           "usage": {"output_tokens": 40}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip


def test_claude_code_sub_agent_rows_carry_the_agent(claude, gw_cc, fake, tmp_path):
    fake.queue(
        Reply(
            provider="anthropic",
            events=tool_use_stream(
                "claude-sonnet-4-6",
                "toolu_01AgentCall",
                "Agent",
                {
                    "description": "Greet",
                    "prompt": "Reply with the word hi.",
                    "subagent_type": "general-purpose",
                    "run_in_background": False,
                },
            ),
        )
    )
    run(claude, gw_cc, tmp_path, "Ask a sub-agent to greet.", CLAUDE_CODE_GATEWAY_HINT_HEADERS="1")
    rows = settled_rows(gw_cc, fake)
    assert len(rows) >= 3  # main turn (tool call), the sub-agent, main turn (tool result)
    assert len({r["session_id"] for r in rows}) == 1 and rows[0]["session_id"]
    assert {r["client"] for r in rows} == {"claude-code"}
    main = [r for r in rows if r["agent"] is None]
    sub = [r for r in rows if r["agent"] is not None]
    assert main and sub, [(r["id"], r["agent"]) for r in rows]
    assert len({r["agent"] for r in sub}) == 1
    results = [s for s in fake.seen if any(
        isinstance(m.get("content"), list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" and b.get("tool_use_id") == "toolu_01AgentCall"
            for b in m["content"])
        for m in s.body.get("messages", []))]  # fmt: skip
    assert results, "Claude Code never sent the Agent tool's result back"
    assert not any(k.startswith("x-claude-code-") for s in fake.seen for k in s.headers)
