""".env beside ekai.yaml: read at start, watched like the config, never over the real environment."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import write_config
from tests.gateway_proc import Gateway

ANTHROPIC_SECRET = "sk-ant-from-dotenv-0001"
OPENAI_SECRET = "sk-openai-from-dotenv-0002"


def health(gw: Gateway, **kw) -> dict:
    return httpx.get(gw.url + "/health", timeout=5, **kw).json()


def wait_ready(gw: Gateway, provider: str, ready: bool, timeout: float = 10.0, **kw) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = health(gw, **kw)
        if body["providers"][provider]["ready"] is ready:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{provider} ready={ready} not reached: {body['providers'][provider]}")
        time.sleep(0.05)


def message(gw: Gateway, model: str = "claude-haiku-4-5", **kw) -> httpx.Response:
    body = {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(gw.url + "/v1/messages", json=body, timeout=15, **kw)


def rewrite(path: Path, text: str) -> None:
    tmp = path.with_name(".env.tmp-edit")  # the way editors save: write aside, rename over
    tmp.write_text(text)
    tmp.replace(path)


def test_dotenv_read_at_start_edited_live_and_removed(fake, tmp_path):
    write_config(tmp_path, fake)
    env_file = tmp_path / ".env"
    env_file.write_text(f'# provider keys\nexport ANTHROPIC_API_KEY="{ANTHROPIC_SECRET}"  # quoted, exported\n')
    gw = Gateway(tmp_path, env={}).start()
    try:
        body = wait_ready(gw, "anthropic", True, timeout=0.5)
        assert body["providers"]["openai"]["ready"] is False
        resp = message(gw)
        assert resp.status_code == 200, resp.text
        assert fake.last("anthropic").headers["x-api-key"] == ANTHROPIC_SECRET

        # a key added to .env: ready without a restart
        rewrite(env_file, env_file.read_text() + f"OPENAI_API_KEY='{OPENAI_SECRET}'\n")
        wait_ready(gw, "openai", True)
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        resp = httpx.post(gw.url + "/v1/chat/completions", json=chat, timeout=15)
        assert resp.status_code == 200, resp.text
        assert fake.last("openai").headers["authorization"] == f"Bearer {OPENAI_SECRET}"

        # a removed line removes the provider's readiness
        rewrite(env_file, f"OPENAI_API_KEY={OPENAI_SECRET}\n")
        body = wait_ready(gw, "anthropic", False)
        assert body["providers"]["anthropic"]["missing_env"] == "ANTHROPIC_API_KEY"
        resp = message(gw)
        assert resp.status_code == 503, resp.text
        assert ".env" in resp.json()["error"]["message"]  # the hint says where a key may go

        text = httpx.get(gw.url + "/health", timeout=5).text
        assert ANTHROPIC_SECRET not in text and OPENAI_SECRET not in text
    finally:
        gw.stop()
    log = gw.output()
    assert ANTHROPIC_SECRET not in log and OPENAI_SECRET not in log
    assert ".env" in log  # `ekai serve` says where a missing key may go, instead of "restart"
    assert "restart it" not in log
    assert f"from {env_file}: ANTHROPIC_API_KEY\n" in log  # the names it read, never the values


def test_the_real_environment_wins_over_dotenv(fake, tmp_path):
    write_config(tmp_path, fake)
    env_file = tmp_path / ".env"
    env_file.write_text("ANTHROPIC_API_KEY=from-the-file\nOPENAI_API_KEY=openai-from-the-file\n")
    gw = Gateway(tmp_path, env={"ANTHROPIC_API_KEY": "from-the-process"}).start()
    try:
        assert message(gw).status_code == 200
        assert fake.last("anthropic").headers["x-api-key"] == "from-the-process"
        # removing the file's lines removes what came from the file, never the process's own value
        rewrite(env_file, "# nothing here any more\n")
        wait_ready(gw, "openai", False)
        assert health(gw)["providers"]["anthropic"]["ready"] is True
        assert message(gw).status_code == 200
        assert fake.last("anthropic").headers["x-api-key"] == "from-the-process"
    finally:
        gw.stop()
    assert f"from {env_file}: OPENAI_API_KEY\n" in gw.output()  # ANTHROPIC_API_KEY is the process's
    assert "from-the-file" not in gw.output() and "from-the-process" not in gw.output()


@pytest.mark.parametrize("workers", [1, 2])
def test_gateway_keys_from_dotenv_rotate_live(fake, tmp_path, workers):
    write_config(tmp_path, fake, extra="auth:\n  keys:\n    laptop: EKAI_KEY_LAPTOP\n")
    env_file = tmp_path / ".env"
    env_file.write_text("EKAI_KEY_LAPTOP=first-gateway-key\nANTHROPIC_API_KEY=k-ant\n")
    args = ["--workers", str(workers)] if workers > 1 else []
    gw = Gateway(tmp_path, env={}, args=args).start()
    try:
        assert message(gw).status_code == 401
        assert message(gw, headers={"x-api-key": "first-gateway-key"}).status_code == 200
        rewrite(env_file, "EKAI_KEY_LAPTOP=second-gateway-key\nANTHROPIC_API_KEY=k-ant\n")
        deadline = time.monotonic() + 10
        new: set[int] = set()
        old: set[int] = set()
        while time.monotonic() < deadline:  # every worker must pick the new key up, and drop the old
            new = {message(gw, headers={"x-api-key": "second-gateway-key"}).status_code for _ in range(8)}
            old = {message(gw, headers={"x-api-key": "first-gateway-key"}).status_code for _ in range(8)}
            if new == {200} and old == {401}:
                break
            time.sleep(0.05)
        assert (new, old) == ({200}, {401})
        body = httpx.get(gw.url + "/health", headers={"x-api-key": "second-gateway-key"}, timeout=5).text
        assert "second-gateway-key" not in body and "k-ant" not in body
    finally:
        gw.stop()
