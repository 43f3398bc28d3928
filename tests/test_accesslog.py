"""The access log: one line per request, text or JSON, matching the usage row; no key, no prompt."""

from __future__ import annotations

import json
import re
import time

import httpx

from tests.conftest import KEYS, write_config
from tests.gateway_proc import Gateway

PROMPT = "PROMPT-TEXT-must-never-be-logged-5d2c"


def line_of(gw: Gateway, request_id: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        for line in gw.output().splitlines():
            if request_id in line:
                return line
        if time.monotonic() > deadline:
            raise AssertionError(f"no access-log line for {request_id}")
        time.sleep(0.02)


WORD = re.compile(r'[^\s"]*"(?:[^"\\]|\\.)*"|\S+')  # a bare word, or name="json string"


def parse_text(line: str) -> dict:
    words = WORD.findall(line)
    out = {"ts": words[0], "request_id": words[1], "client_format": words[2], "status": int(words[3]),
           "model": json.loads(words[4]) if words[4].startswith('"') else words[4], "served": words[6]}
    for word in words[7:]:
        name, _, value = word.partition("=")
        out[name] = json.loads(value) if value.startswith('"') else value
    return out


def wait_reload(gw: Gateway, headers: dict, old: str | None, timeout: float = 10.0) -> str:
    """The config digest on /health, once it differs from `old`."""
    deadline = time.monotonic() + timeout
    while True:
        digest = httpx.get(gw.url + "/health", headers=headers, timeout=5).json()["config"]["digest"]
        if digest != old:
            return digest
        assert time.monotonic() < deadline, "the config was not reloaded"
        time.sleep(0.05)


def chat(gw: Gateway, model: str = "gpt-4o-mini", **kw) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
    return httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=15, **kw)


def test_text_lines_match_the_usage_rows(gw):
    ids = []
    for model in ("gpt-4o-mini", "claude-sonnet-4-6", "made-up model\nwith a newline"):
        ids.append(chat(gw, model).headers["x-request-id"])
    with httpx.stream("POST", gw.url + "/v1/messages", timeout=15, json={
        "model": "sonnet", "max_tokens": 20, "stream": True, "messages": [{"role": "user", "content": PROMPT}],
    }) as resp:
        resp.read()
        ids.append(resp.headers["x-request-id"])
    for request_id in ids:
        row = gw.row(request_id)
        f = parse_text(line_of(gw, request_id))
        assert f["client_format"] == row["client_format"]
        assert f["status"] == row["status"]
        assert f["model"] == row["model"]
        assert f["served"] == (f"{row['provider']}/{row['provider_model']}" if row["provider"] else "-")
        assert int(f["in"]) == row["input_tokens"] and int(f["out"]) == row["output_tokens"]
        assert int(f["cache_read"]) == row["cache_read_tokens"]
        assert int(f["cache_write"]) == row["cache_write_tokens"]
        assert int(f["reasoning"]) == row["reasoning_tokens"]
        assert f["cost"] == ("-" if row["cost_usd"] is None else f"{row['cost_usd']:.6f}")
        assert float(f["ms"]) == round(row["latency_ms"], 1)
        assert f.get("error") == (row["error"][:300] if row["error"] else None)
    log = gw.output()
    assert PROMPT not in log
    assert not any(secret in log for secret in KEYS.values())
    assert "made-up model\nwith" not in log  # a client's newline cannot forge a line


def test_json_lines_follow_the_live_config(fake, tmp_path):
    config = write_config(tmp_path, fake, extra="")
    config.write_text(config.read_text().replace(
        "server: {host: 127.0.0.1, port: 3001}", "server: {host: 127.0.0.1, port: 3001, log_format: json}"))
    write_key = "auth:\n  keys:\n    laptop: EKAI_KEY_LAPTOP\n"
    config.write_text(config.read_text() + write_key)
    gw = Gateway(tmp_path, env={**KEYS, "EKAI_KEY_LAPTOP": "gateway-key-never-logged"}).start()
    headers = {"authorization": "Bearer gateway-key-never-logged"}
    try:
        first = chat(gw, headers=headers).headers["x-request-id"]
        row = gw.row(first)
        entry = json.loads(line_of(gw, first))
        assert entry["request_id"] == first and entry["key"] == "laptop"
        assert entry["provider"] == row["provider"] and entry["model"] == row["model"]
        assert (entry["input"], entry["output"]) == (row["input_tokens"], row["output_tokens"])
        assert entry["cost_usd"] == row["cost_usd"] and entry["ms"] == round(row["latency_ms"], 1)
        assert entry["status"] == 200 and entry["error"] is None
        # a failed request is logged too (its own status and error)
        failed = httpx.post(gw.url + "/v1/messages", json={"model": "claude-haiku-4-5", "messages": []},
                            headers=headers, timeout=5).headers["x-request-id"]
        entry = json.loads(line_of(gw, failed))
        assert entry["status"] == 400 and entry["error"] and entry["provider"] is None

        # turned off live, then on again: the request in between has no line
        text = config.read_text()
        digest = wait_reload(gw, headers, None)
        config.write_text(text.replace("log_format: json", "log_format: json, access_log: false"))
        digest = wait_reload(gw, headers, digest)
        silent = chat(gw, headers=headers).headers["x-request-id"]
        gw.row(silent)
        config.write_text(text)
        wait_reload(gw, headers, digest)
        back = chat(gw, headers=headers).headers["x-request-id"]
        line_of(gw, back)
        assert silent not in gw.output()  # the writer thread logs in order: skipped, not late
    finally:
        gw.stop()
    assert "gateway-key-never-logged" not in gw.output() and PROMPT not in gw.output()
