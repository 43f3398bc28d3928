"""Usage rows with answers worked out by hand, for the analytics tests.

Eight requests over three UTC days. The expected figures in the tests are computed from the
table below with pencil and paper (see the comments there), not by running the code under test.

 #  ts (UTC)                  provider    model                        fmt        status  in    cr    cw    cw1h  out  cost   latency ttft
 1  2026-11-01 09:00:00.000   anthropic   claude-sonnet-4-6            anthropic  200     1000  4000  2000  0     500  0.5    1000    100
 2  2026-11-01 10:30:00.000   anthropic   claude-sonnet-4-6            openai     200     100   0     0     0     50   0.25   2000    200
 3  2026-11-01 10:45:00.000   openai      gpt-5                        openai     200     300   1000  0     0     100  1.0    3000    300   (40 reasoning)
 4  2026-11-01 11:00:00.000   openai      gpt-5                        openai     429     0     0     0     0     0    0.0     10      10    error
 5  2026-11-02 00:00:00.000   openrouter  sonnet (alias; upstream id anthropic/claude-sonnet-4.6)
                                                                       anthropic  200     10    1000  500   200   20   2.0    4000    400
 6  2026-11-02 09:00:00.000   openrouter  meta-llama/llama-4-maverick  openai     200     5     100   0     0     5    NULL   5000    500   (no price)
 7  2026-11-02 23:59:59.999   xai         grok-4                       openai     502     0     0     0     0     0    0.0     20      20    error
 8  2026-11-03 00:00:00.000   anthropic   claude-sonnet-4-6            anthropic  200     1     0     0     0     1    0.125  6000    600
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gateway.db import USAGE_COLUMNS, connect, insert_sql

DEFAULTS: dict[str, Any] = {
    "client_format": "openai",
    "provider": "openai",
    "model": "gpt-5",
    "provider_model": None,
    "stream": 0,
    "status": 200,
    "input_tokens": 0,
    "cache_read_tokens": 0,
    "cache_write_tokens": 0,
    "output_tokens": 0,
    "reasoning_tokens": 0,
    "cost_usd": 0.0,
    "latency_ms": 100.0,
    "ttft_ms": 50.0,
    "error": None,
    "cost_pico_usd": None,
    "cost_source": None,
    "price_version": None,
    "attempts": None,
    "api_key_name": None,
    "cache_write_1h_tokens": 0,
}


def row(ts: str, **values: Any) -> dict[str, Any]:
    """One usage row: DEFAULTS overridden by `values`; provider_model defaults to model."""
    merged = {**DEFAULTS, "ts": ts, **values}
    if merged["provider_model"] is None:
        merged["provider_model"] = merged["model"]
    return merged


KNOWN: list[dict[str, Any]] = [
    row("2026-11-01T09:00:00.000Z", provider="anthropic", model="claude-sonnet-4-6",
        client_format="anthropic", input_tokens=1000, cache_read_tokens=4000,
        cache_write_tokens=2000, output_tokens=500, cost_usd=0.5, latency_ms=1000.0, ttft_ms=100.0,
        stream=1),
    row("2026-11-01T10:30:00.000Z", provider="anthropic", model="claude-sonnet-4-6",
        input_tokens=100, output_tokens=50, cost_usd=0.25, latency_ms=2000.0, ttft_ms=200.0),
    row("2026-11-01T10:45:00.000Z", provider="openai", model="gpt-5", input_tokens=300,
        cache_read_tokens=1000, output_tokens=100, reasoning_tokens=40, cost_usd=1.0,
        latency_ms=3000.0, ttft_ms=300.0),
    row("2026-11-01T11:00:00.000Z", provider="openai", model="gpt-5", status=429,
        error="rate limited by upstream (429)", latency_ms=10.0, ttft_ms=10.0,
        attempts="xai:429"),
    row("2026-11-02T00:00:00.000Z", provider="openrouter", model="sonnet",
        provider_model="anthropic/claude-sonnet-4.6", client_format="anthropic",
        input_tokens=10, cache_read_tokens=1000, cache_write_tokens=500,
        cache_write_1h_tokens=200, output_tokens=20, cost_usd=2.0, latency_ms=4000.0,
        ttft_ms=400.0),
    row("2026-11-02T09:00:00.000Z", provider="openrouter", model="meta-llama/llama-4-maverick",
        input_tokens=5, cache_read_tokens=100, output_tokens=5, cost_usd=None,
        latency_ms=5000.0, ttft_ms=500.0),
    row("2026-11-02T23:59:59.999Z", provider="xai", model="grok-4", status=502,
        error="upstream connection error", latency_ms=20.0, ttft_ms=20.0),
    row("2026-11-03T00:00:00.000Z", provider="anthropic", model="claude-sonnet-4-6",
        client_format="anthropic", input_tokens=1, output_tokens=1, cost_usd=0.125,
        latency_ms=6000.0, ttft_ms=600.0),
]  # fmt: skip

# Price tables in pricing/*.yaml form (USD per 1M tokens) and what analytics.prices makes of them.
PRICING_YAML: dict[str, str] = {
    "anthropic": """
provider: anthropic
unit: usd_per_million_tokens
models:
  claude-sonnet-4-6:
    input: 3.0
    output: 15.0
    cache_read: 0.3
    cache_write: 3.75
    cache_write_1h: 6.0
""",
    "openai": """
provider: openai
unit: usd_per_million_tokens
models:
  gpt-5: {input: 1.25, output: 10.0, cache_read: 0.125}
""",
    "openrouter": """
provider: openrouter
unit: usd_per_million_tokens
models:
  claude-sonnet-4-6:
    id: anthropic/claude-sonnet-4.6
    input: 3.5
    output: 16.0
    cache_read: 0.35
    cache_write: 4.0
""",
}


def write_usage(db: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Create the usage database at `db` with the gateway's own schema and append `rows`
    (each gets request id req-<n> unless it has one)."""
    con = connect(db)
    try:
        con.execute("BEGIN")
        values = []
        for i, r in enumerate(rows):
            unknown = set(r) - set(USAGE_COLUMNS)
            assert not unknown, f"not usage columns: {unknown}"
            full = {"request_id": f"req-{i:06d}", **r}
            values.append(tuple(full.get(c) for c in USAGE_COLUMNS))  # absent -> NULL
        con.executemany(insert_sql(), values)
        con.execute("COMMIT")
    finally:
        con.close()
    return db


def write_config(folder: Path, database: str = "usage.db") -> Path:
    """An ekai.yaml naming `database` and the PRICING_YAML tables, in `folder`."""
    (folder / "pricing").mkdir(parents=True, exist_ok=True)
    for name, text in PRICING_YAML.items():
        (folder / "pricing" / f"{name}.yaml").write_text(text, encoding="utf-8")
    path = folder / "ekai.yaml"
    path.write_text(
        f"usage:\n  database: {database}\npricing:\n  files: [pricing/*.yaml]\n", encoding="utf-8"
    )
    return path
