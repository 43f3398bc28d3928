"""The real Codex CLI (`codex exec`) through the gateway, over several turns with tool calls.

Codex speaks only the Responses API. It is pointed at the gateway with a `[model_providers.ekai]`
entry in a temporary CODEX_HOME (`wire_api = "responses"`); analytics, feedback and update checks
are off, so the gateway on 127.0.0.1 is the only thing it talks to. A model catalog
(`model_catalog_json`) tells Codex the models' capabilities, which is what makes it offer its
freeform `apply_patch` tool. The fake provider is scripted, per upstream format, to answer the
first turn with a shell call (`exec_command`), then (passthrough) an `apply_patch` custom tool
call, then a final message; the test checks that the commands really ran, that each next request
carried the tool's output back, and one usage row per request with its exact cost.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import KEYS, write_config
from tests.fakes.builders import anthropic_events, openai_chunks
from tests.fakes.responses import custom_tool_call, function_call, message, response_events
from tests.fakes.upstream import ANTHROPIC_USAGE, FakeUpstream, Reply, wait_for
from tests.gateway_proc import Gateway
from tests.real_clients import cli
from tests.test_responses_route import CODEX_PRICES, providers_for

PATCH = "*** Begin Patch\n*** Add File: patched.txt\n+written by apply_patch\n*** End Patch\n"


def catalog_entry(slug: str) -> dict[str, Any]:
    return {
        "slug": slug,
        "display_name": slug,
        "description": "through ekai",
        "priority": 1,
        "additional_speed_tiers": [],
        "service_tiers": [],
        "availability_nux": None,
        "upgrade": None,
        "default_reasoning_level": "medium",
        "supported_reasoning_levels": [{"effort": "medium", "description": "medium"}],
        "shell_type": "unified_exec",
        "visibility": "list",
        "supported_in_api": True,
        "supports_reasoning_summaries": True,
        "support_verbosity": False,
        "apply_patch_tool_type": "freeform",
        "web_search_tool_type": "text",
        "supports_parallel_tool_calls": True,
        "supports_image_detail_original": False,
        "experimental_supported_tools": [],
        "supports_search_tool": False,
        "context_window": 200000,
        "max_context_window": 200000,
        "effective_context_window_percent": 95,
        "truncation_policy": {"mode": "tokens", "limit": 10000},
        "input_modalities": ["text"],
        "base_instructions": "You are a coding agent.",
    }


def codex_home(folder: Path, base_url: str, retries: int = 0) -> Path:
    home = folder / "codex-home"
    home.mkdir()
    models = ["gpt-5.1-codex", "claude-sonnet-4-6", "grok-4"]
    (home / "catalog.json").write_text(json.dumps({"models": [catalog_entry(m) for m in models]}))
    (home / "config.toml").write_text(
        f"""
model_provider = "ekai"
check_for_update_on_startup = false
model_catalog_json = "{home / "catalog.json"}"

[analytics]
enabled = false

[feedback]
enabled = false

[model_providers.ekai]
name = "ekai gateway"
base_url = "{base_url}"
env_key = "EKAI_GATEWAY_KEY"
wire_api = "responses"
request_max_retries = {retries}
stream_max_retries = {retries}
"""
    )
    return home


@pytest.fixture(scope="module")
def cgw(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("codex-gw")
    write_config(folder, fake, providers=providers_for(fake))
    (folder / "pricing" / "openai-codex.yaml").write_text(CODEX_PRICES)
    gateway = Gateway(folder, env=KEYS).start()
    yield gateway
    gateway.stop()


def run_codex(
    gw: Gateway | None,
    tmp_path: Path,
    model: str,
    prompt: str,
    base_url: str | None = None,
    key: str = "codex-client-key",
    retries: int = 0,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    codex = cli("codex")
    home = codex_home(tmp_path, base_url or f"{gw.url}/v1" if gw else str(base_url), retries)
    work = tmp_path / "work"
    work.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CODEX_HOME": str(home),
        "EKAI_GATEWAY_KEY": key,
        "NO_COLOR": "1",
    }
    last = tmp_path / "last.txt"
    proc = subprocess.run(
        [
            str(codex),
            "exec",
            "--strict-config",
            "--skip-git-repo-check",
            "--ephemeral",
            "-s",
            "danger-full-access",
            "-m",
            model,
            "-C",
            str(work),
            "-o",
            str(last),
            prompt,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    log = gw.output()[-3000:] if gw else ""
    assert proc.returncode == 0, f"codex failed:\n{proc.stdout}\n{proc.stderr}\n{log}"
    return proc, work


def tool_outputs(body: dict[str, Any]) -> list[str]:
    return [
        str(i.get("output"))
        for i in body["input"]
        if i.get("type") in ("function_call_output", "custom_tool_call_output")
    ]


def test_codex_on_a_gpt_model_passthrough(cgw, fake, tmp_path):
    shell = function_call(
        "exec_command", json.dumps({"cmd": "echo made-by-shell > shell.txt && cat shell.txt"})
    )
    fake.queue(
        Reply(events=response_events("gpt-5.1-codex", [shell]), provider="openai"),
        Reply(
            events=response_events("gpt-5.1-codex", [custom_tool_call("apply_patch", PATCH)]),
            provider="openai",
        ),
        Reply(
            events=response_events("gpt-5.1-codex", [message("Both files are written.")]), provider="openai"
        ),
    )
    _, work = run_codex(cgw, tmp_path, "gpt-5.1-codex", "write two files")
    assert (work / "shell.txt").read_text().strip() == "made-by-shell"
    assert (work / "patched.txt").read_text().strip() == "written by apply_patch"
    assert (tmp_path / "last.txt").read_text().strip() == "Both files are written."
    seen = [s for s in fake.seen if s.provider == "openai"]
    assert len(seen) == 3 and all(s.path == "/openai/v1/responses" for s in seen)
    first, second, third = (s.body for s in seen)
    assert first["stream"] is True and first["store"] is False
    assert {"type": "custom", "name": "apply_patch"}.items() <= next(
        t for t in first["tools"] if t.get("name") == "apply_patch"
    ).items()
    assert any("made-by-shell" in out for out in tool_outputs(second))
    assert any("patched.txt" in out or "Success" in out for out in tool_outputs(third))
    # passthrough: Codex's headers that matter upstream reach the provider's key, not the client's
    assert seen[0].headers["authorization"] == f"Bearer {KEYS['OPENAI_API_KEY']}"
    rows = wait_for(lambda: (r := cgw.rows("model = 'gpt-5.1-codex'")) and len(r) >= 3 and r)
    assert [r["client_format"] for r in rows] == ["responses"] * 3
    assert all(r["provider"] == "openai" and r["status"] == 200 and r["error"] is None for r in rows), rows
    # who asked: Codex, one session for the three turns, the main agent
    assert {(r["client"], r["agent"]) for r in rows} == {("codex", "/root")}
    assert len({r["session_id"] for r in rows}) == 1 and rows[0]["session_id"]
    # 6500 in (5000 cached) + 250 out at 1.25 / 0.125 / 10.0
    assert all(r["cost_pico_usd"] == 1500 * 1_250_000 + 5000 * 125_000 + 250 * 10_000_000 for r in rows)


ANTHROPIC_TOOL = {
    "type": "tool_use",
    "id": "toolu_01Shell",
    "name": "exec_command",
    "input": {"cmd": "echo made-by-claude > claude.txt && cat claude.txt"},
}
XAI_USAGE = {
    "prompt_tokens": 1000,
    "completion_tokens": 100,
    "total_tokens": 1150,
    "prompt_tokens_details": {"cached_tokens": 400},
    "completion_tokens_details": {"reasoning_tokens": 50},
}


def anthropic_reply(blocks: list[dict[str, Any]], stop: str) -> Reply:
    return Reply(
        events=[
            (e, d)
            for e, d in anthropic_events(
                blocks, stop_reason=stop, model="claude-sonnet-4-6", usage=ANTHROPIC_USAGE
            )
        ],
        provider="anthropic",
    )


def test_codex_on_a_claude_model_translated(cgw, fake, tmp_path):
    patch = {"type": "tool_use", "id": "toolu_02Patch", "name": "apply_patch", "input": {"input": PATCH}}
    fake.queue(
        anthropic_reply([ANTHROPIC_TOOL], "tool_use"),
        anthropic_reply([patch], "tool_use"),
        anthropic_reply([{"type": "text", "text": "Claude wrote the file."}], "end_turn"),
    )
    _, work = run_codex(cgw, tmp_path, "claude-sonnet-4-6", "write a file")
    assert (work / "claude.txt").read_text().strip() == "made-by-claude"
    # Codex's freeform apply_patch reached Claude as a function with one string `input`, and
    # Claude's call came back to Codex as its custom tool call: the patch was applied
    assert (work / "patched.txt").read_text().strip() == "written by apply_patch"
    assert (tmp_path / "last.txt").read_text().strip() == "Claude wrote the file."
    seen = [s for s in fake.seen if s.provider == "anthropic"]
    assert len(seen) == 3 and all(s.path == "/anthropic/v1/messages" for s in seen)
    patch_tool = next(t for t in seen[0].body["tools"] if t["name"] == "apply_patch")
    assert list(patch_tool["input_schema"]["properties"]) == ["input"]
    results = [
        b
        for m in seen[1].body["messages"]
        for b in (m["content"] if isinstance(m["content"], list) else [])
        if b.get("type") == "tool_result"
    ]
    assert results and results[0]["tool_use_id"] == "toolu_01Shell"
    assert "made-by-claude" in json.dumps(results[0]["content"])
    rows = wait_for(lambda: (r := cgw.rows("model = 'claude-sonnet-4-6'")) and len(r) >= 3 and r)
    assert all(r["client_format"] == "responses" and r["provider"] == "anthropic" for r in rows)
    assert all(r["error"] is None for r in rows)
    got = [
        (r["input_tokens"], r["cache_write_tokens"], r["cache_read_tokens"], r["output_tokens"]) for r in rows
    ]
    assert got == [(1200, 300, 5000, 250)] * 3
    # 1200 * 3 + 300 * 3.75 + 5000 * 0.3 + 250 * 15 per 1M
    assert all(r["cost_pico_usd"] == 9_975_000_000 for r in rows)


def test_codex_on_a_grok_model_translated(cgw, fake, tmp_path):
    call = {
        "id": "call_grok1",
        "name": "exec_command",
        "arguments": json.dumps({"cmd": "echo made-by-grok > grok.txt && cat grok.txt"}),
    }
    fake.queue(
        Reply(
            events=[
                (None, c)
                for c in openai_chunks(calls=[call], finish="tool_calls", usage=XAI_USAGE, model="grok-4")
            ]
            + [(None, "[DONE]")],
            provider="xai",
        ),
        Reply(
            events=[
                (None, c) for c in openai_chunks(text="Grok wrote the file.", usage=XAI_USAGE, model="grok-4")
            ]
            + [(None, "[DONE]")],
            provider="xai",
        ),
    )
    _, work = run_codex(cgw, tmp_path, "grok-4", "write a file")
    assert (work / "grok.txt").read_text().strip() == "made-by-grok"
    assert (tmp_path / "last.txt").read_text().strip() == "Grok wrote the file."
    seen = [s for s in fake.seen if s.provider == "xai"]
    assert len(seen) == 2 and all(s.path == "/xai/v1/chat/completions" for s in seen)
    tool_msgs = [m for m in seen[1].body["messages"] if m.get("role") == "tool"]
    assert (
        tool_msgs
        and tool_msgs[0]["tool_call_id"] == "call_grok1"
        and "made-by-grok" in str(tool_msgs[0]["content"])
    )
    rows = wait_for(lambda: (r := cgw.rows("model = 'grok-4'")) and len(r) >= 2 and r)
    assert all(r["client_format"] == "responses" and r["provider"] == "xai" for r in rows)
    # xAI dialect: reasoning outside completion -> output 100 + 50; input 1000 - 400 cached
    assert all(
        (r["input_tokens"], r["cache_read_tokens"], r["output_tokens"]) == (600, 400, 150) for r in rows
    )
    assert all(r["cost_pico_usd"] == 600 * 3_000_000 + 400 * 750_000 + 150 * 15_000_000 for r in rows)


def test_what_codex_sends(fake, tmp_path):
    """Codex pointed straight at the recording fake: the facts README's "What Codex sends" lists."""
    fake.queue(
        Reply(
            events=response_events("gpt-5.1-codex", [function_call("exec_command", '{"cmd": "true"}')]),
            provider="openai",
        ),
        Reply(events=response_events("gpt-5.1-codex", [message("ok")]), provider="openai"),
    )
    run_codex(None, tmp_path, "gpt-5.1-codex", "hi", base_url=fake.base_url("openai", "openai"))
    assert fake.other == []  # nothing but POST /responses: no /models, no telemetry
    seen = [s for s in fake.seen if s.provider == "openai"]
    assert len(seen) == 2 and all(s.path == "/openai/v1/responses" for s in seen)
    h, body = seen[0].headers, seen[0].body
    assert h["authorization"] == "Bearer codex-client-key" and h["originator"] == "codex_exec"
    assert h["accept"] == "text/event-stream" and h["user-agent"].startswith("codex_exec/")
    assert h["session-id"] == h["thread-id"] and "x-client-request-id" in h
    meta = json.loads(h["x-codex-turn-metadata"])
    assert (
        meta["agent_name"] == "/root" and meta["request_kind"] == "turn" and meta["model"] == "gpt-5.1-codex"
    )
    assert list(body)[:3] == ["model", "stream", "input"] and body["stream"] is True
    assert body["store"] is False and body["include"] == ["reasoning.encrypted_content"]
    assert body["reasoning"]["summary"] == "auto" and body["tool_choice"] == "auto"
    assert body["prompt_cache_key"] == h["thread-id"] and "client_metadata" in body
    assert "instructions" not in body and "previous_response_id" not in body
    roles = [i.get("role") for i in body["input"]]
    assert roles[:2] == ["developer", "developer"] and roles[-1] == "user"
    kinds = {(t["type"], t.get("name")) for t in body["tools"]}
    assert {("function", "exec_command"), ("custom", "apply_patch"), ("web_search", None)} <= kinds
    assert any(t["type"] == "namespace" for t in body["tools"])
    later = [i["type"] for i in seen[1].body["input"] if i.get("type") != "message"]
    assert later == ["function_call", "function_call_output"]
