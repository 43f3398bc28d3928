"""Shared fixtures: a fake provider on loopback and a real gateway process pointed at it."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import Gateway
from tests.pg import pg_url  # noqa: F401 (fixture: a fresh PostgreSQL database, or a skip)

KEYS = {
    "ANTHROPIC_API_KEY": "test-anthropic-key-0001",
    "OPENAI_API_KEY": "test-openai-key-0001",
    "XAI_API_KEY": "test-xai-key-0001",
    "OPENROUTER_API_KEY": "test-openrouter-key-0001",
}

# Prices the tests compute costs from by hand (USD per 1M tokens).
PRICING = {
    "anthropic": """
provider: anthropic
unit: usd_per_million_tokens
models:
  claude-sonnet-4-6: {input: 3.0, output: 15.0, cache_read: 0.3, cache_write: 3.75, cache_write_1h: 6.0}
  claude-haiku-4-5: {id: claude-haiku-4-5-20251001, input: 1.0, output: 5.0, cache_read: 0.1, cache_write: 1.25}
""",
    "openai": """
provider: openai
unit: usd_per_million_tokens
models:
  gpt-4o-mini: {input: 0.15, output: 0.6, cache_read: 0.075}
  gpt-5: {input: 1.25, output: 10.0, cache_read: 0.125}
""",
    "xai": """
provider: xai
unit: usd_per_million_tokens
models:
  grok-4: {input: 3.0, output: 15.0, cache_read: 0.75}
""",
    "openrouter": """
provider: openrouter
unit: usd_per_million_tokens
models:
  claude-sonnet-4-6: {id: anthropic/claude-sonnet-4.6, input: 3.5, output: 16.0, cache_read: 0.35, cache_write: 4.0}
  gpt-5: {id: openai/gpt-5, input: 1.0, output: 9.0, cache_read: 0.1}
  moonshotai/kimi-k2: {input: 0.5, output: 2.4}
""",
}


def write_config(folder: Path, fake: FakeUpstream, extra: str = "", providers: str | None = None) -> Path:
    """An ekai.yaml whose four providers all live on the fake upstream."""
    (folder / "pricing").mkdir(exist_ok=True)
    for name, text in PRICING.items():
        (folder / "pricing" / f"{name}.yaml").write_text(text)
    if providers is None:
        providers = "\n".join(
            f"  {name}: {{format: {fmt}, base_url: {fake.base_url(name, fmt)}, api_key_env: {name.upper()}_API_KEY}}"
            for name, fmt in [
                ("anthropic", "anthropic"),
                ("openai", "openai"),
                ("xai", "openai"),
                ("openrouter", "openai"),
            ]
        )
    text = f"""
server: {{host: 127.0.0.1, port: 3001}}
usage: {{database: usage.db}}
pricing: {{files: [pricing/*.yaml]}}
providers:
{providers}
aliases:
  sonnet: claude-sonnet-4-6
routing:
  strategy: cheapest
  pins: {{"grok-*": [xai]}}
  fallback: true
{extra}
"""
    path = folder / "ekai.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeUpstream]:
    server = FakeUpstream()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_fake(request: pytest.FixtureRequest) -> None:
    if "fake" in request.fixturenames:
        request.getfixturevalue("fake").reset()


@pytest.fixture(scope="session")
def gw(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The shared gateway: all four providers on the fake, all keys set."""
    folder = tmp_path_factory.mktemp("gw")
    write_config(folder, fake)
    gateway = Gateway(folder, env=KEYS).start()
    yield gateway
    gateway.stop()


def pytest_report_header() -> list[str]:
    import duckdb
    import sanic

    return [
        f"sqlite {sqlite3.sqlite_version}, duckdb {duckdb.__version__}, sanic {sanic.__version__}, "
        f"python {sys.version.split()[0]}"
    ]
