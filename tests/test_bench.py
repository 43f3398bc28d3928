"""bench/: the fake upstream speaks both formats correctly, and the benchmark runs end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / "fake_upstream.py"), "--chunks", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY "), line
        yield f"http://127.0.0.1:{line.split()[1]}"
    finally:
        proc.terminate()
        proc.wait(10)


def _events(text: str) -> list[tuple[str | None, str]]:
    out = []
    for block in text.strip().split("\n\n"):
        event = None
        data = ""
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        out.append((event, data))
    return out


def test_openai_non_stream_has_usage_with_cached_tokens(fake_url: str) -> None:
    r = httpx.post(f"{fake_url}/openai/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": []})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "gpt-4o-mini"
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] > 0


def test_openai_stream_honours_include_usage(fake_url: str) -> None:
    url = f"{fake_url}/xai/v1/chat/completions"
    plain = _events(httpx.post(url, json={"model": "m", "stream": True}).text)
    assert plain[-1] == (None, "[DONE]")
    chunks = [json.loads(d) for _, d in plain[:-1]]
    assert len(chunks) == 1 + 3 + 1  # role, 3 content chunks, finish
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"

    asked = _events(
        httpx.post(url, json={"model": "m", "stream": True, "stream_options": {"include_usage": True}}).text
    )
    assert asked[-1] == (None, "[DONE]")
    chunks = [json.loads(d) for _, d in asked[:-1]]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    assert all(c["usage"] is None for c in chunks[:-1])


def test_anthropic_both_shapes(fake_url: str) -> None:
    url = f"{fake_url}/anthropic/v1/messages"
    body = httpx.post(url, json={"model": "claude-haiku-4-5", "max_tokens": 5}).json()
    assert body["type"] == "message"
    assert body["usage"]["cache_read_input_tokens"] > 0
    events = _events(httpx.post(url, json={"model": "claude-haiku-4-5", "stream": True}).text)
    names = [e for e, _ in events]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[3:6] == ["content_block_delta"] * 3
    assert names[6:] == ["content_block_stop", "message_delta", "message_stop"]
    start = json.loads(events[0][1])
    assert start["message"]["usage"]["input_tokens"] > 0


def test_unknown_path_and_bad_body(fake_url: str) -> None:
    assert httpx.post(f"{fake_url}/nowhere", json={}).status_code == 404
    r = httpx.post(f"{fake_url}/openai/v1/chat/completions", content=b"not json")
    assert r.status_code == 400


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.skipif(os.environ.get("EKAI_SLOW") != "1", reason="slow: set EKAI_SLOW=1")
def test_bench_quick_runs_and_every_request_has_a_row(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(BENCH / "bench.py"), "--quick", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    (one,) = result["passes"]
    assert one["usage"]["ok"]
    assert one["usage"]["rows"] == one["usage"]["requests_sent"]
    assert one["openai"]["concurrent"]["gateway"]["rps"] > 0


def test_responses_replies_parse_with_the_openai_sdk(fake_url: str) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{fake_url}/openai/v1", api_key="k", max_retries=0)
    reply = client.responses.create(model="gpt-4o-mini", input="hi")
    assert (
        reply.output_text and reply.usage is not None and reply.usage.input_tokens_details.cached_tokens > 0
    )
    events = list(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert (
        "".join(e.delta for e in events if e.type == "response.output_text.delta")
        == events[-1].response.output_text
    )
