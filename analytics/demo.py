"""Realistic made-up usage rows, for the benchmark, the screenshot script and trying the dashboard.

    python -m analytics.demo usage.db --rows 100000 --days 30 [--pricing-dir DIR]

writes rows into `usage.db` (created with `gateway.db.connect`, so the schema is the gateway's
own) and, with `--pricing-dir`, the price tables the rows were priced with, in the format of
pricing/*.yaml, so the dashboard's cache savings have prices to work with.

The shape is meant to look like a small team's traffic: a diurnal curve, mostly Claude and GPT
models, heavy prompt caching on the Anthropic models, reasoning tokens on the reasoning models,
about 3% failures (429s, 5xx, timeouts) with fallbacks recorded in `attempts`, and one
OpenRouter model with no price (cost NULL). Generation is deterministic for a given seed and
`end`. Speed matters more than beauty here (a million rows in well under a minute): request ids
are counters, not uuid4, and timestamps are formatted from integer milliseconds.
"""

from __future__ import annotations

import argparse
import math
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from gateway.db import connect, insert_sql


@dataclass(frozen=True)
class DemoModel:
    provider: str
    model: str
    provider_model: str
    weight: float  # share of traffic
    price: tuple[float, float, float | None, float | None] | None  # in, out, cache r, cache w
    ttft_ms: float  # median time to first byte
    tokens_per_s: float
    reasoning: bool = False
    caching: float = 0.0  # probability that a request reads from the prompt cache


MODELS: tuple[DemoModel, ...] = (
    DemoModel(
        "anthropic", "claude-sonnet-4-6", "claude-sonnet-4-6", 30, (3, 15, 0.3, 3.75), 900, 70,
        caching=0.8,
    ),
    DemoModel(
        "anthropic", "claude-haiku-4-5", "claude-haiku-4-5", 14, (1, 5, 0.1, 1.25), 450, 140,
        caching=0.7,
    ),
    DemoModel(
        "anthropic", "claude-opus-4-6", "claude-opus-4-6", 4, (5, 25, 0.5, 6.25), 1500, 45,
        caching=0.8,
    ),
    DemoModel(
        "openrouter", "claude-sonnet-4-6", "anthropic/claude-sonnet-4.6", 6,
        (3, 15, 0.3, 3.75), 1100, 65, caching=0.6,
    ),
    DemoModel(
        "openai", "gpt-5", "gpt-5", 16, (1.25, 10, 0.125, None), 1800, 60, reasoning=True,
        caching=0.4,
    ),
    DemoModel(
        "openai", "gpt-5-mini", "gpt-5-mini", 14, (0.25, 2, 0.025, None), 700, 110,
        reasoning=True, caching=0.4,
    ),
    DemoModel(
        "xai", "grok-4", "grok-4", 8, (3, 15, 0.75, None), 1300, 55, reasoning=True, caching=0.3
    ),
    DemoModel(
        "openrouter", "meta-llama/llama-4-maverick", "meta-llama/llama-4-maverick", 3, None,
        600, 90,
    ),
    DemoModel(
        "openrouter", "deepseek/deepseek-chat", "deepseek/deepseek-chat", 5,
        (0.27, 1.1, 0.07, None), 1000, 40, caching=0.5,
    ),
)  # fmt: skip

FAILURES: tuple[tuple[int, str], ...] = (
    (429, "rate limited by upstream (429)"),
    (502, "upstream connection error: connection reset by peer"),
    (529, "upstream overloaded (529)"),
    (504, "upstream timeout after 60.0 s before the first byte"),
    (400, "invalid request: messages: at least one message is required"),
    (500, "upstream error 500: internal server error"),
)


def _iso(ms: int) -> str:
    """Epoch milliseconds as the usage table's `ts` text: 2026-11-27T09:00:00.123Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def _diurnal(hour: float) -> float:
    """Relative traffic at an hour of the UTC day: a working-day bump around 14:00."""
    return 0.25 + math.exp(-(((hour - 14.0) / 4.0) ** 2))


def _timestamps(rng: random.Random, n: int, start_ms: int, end_ms: int) -> list[int]:
    """`n` sorted times in [start, end) with a diurnal density (rejection sampling)."""
    out: list[int] = []
    span = end_ms - start_ms
    peak = _diurnal(14.0)
    while len(out) < n:
        ms = start_ms + int(rng.random() * span)
        if rng.random() * peak <= _diurnal((ms // 1000 % 86400) / 3600):
            out.append(ms)
    out.sort()
    return out


def _cost(m: DemoModel, inp: int, cr: int, cw: int, out: int) -> float | None:
    if m.price is None:
        return None
    p_in, p_out, p_cr, p_cw = m.price
    return (
        inp * p_in + cr * (p_cr if p_cr is not None else p_in)
        + cw * (p_cw if p_cw is not None else p_in) + out * p_out
    ) / 1e6  # fmt: skip


def demo_rows(
    n: int, *, days: float = 30.0, end: datetime | None = None, seed: int = 7
) -> Iterator[tuple[object, ...]]:
    """`n` rows in `USAGE_COLUMNS` order, oldest first, over the `days` before `end` (now)."""
    rng = random.Random(seed)
    end = end or datetime.now(UTC)
    end_ms = int(end.timestamp() * 1000)
    start_ms = int((end - timedelta(days=days)).timestamp() * 1000)
    weights = [m.weight for m in MODELS]
    for i, ms in enumerate(_timestamps(rng, n, start_ms, end_ms)):
        m = rng.choices(MODELS, weights)[0]
        fmt = "anthropic" if m.model.startswith("claude") and rng.random() < 0.8 else "openai"
        stream = int(rng.random() < 0.7)
        attempts = None
        if rng.random() < 0.03:
            status, error = rng.choice(FAILURES)
            if status in (429, 529) and rng.random() < 0.5:
                attempts = f"{rng.choice(['xai', 'openai', 'anthropic'])}:{status}"
            ttft = rng.lognormvariate(math.log(m.ttft_ms / 3), 0.8)
            inp = cr = cw = out = reasoning = 0
            latency = ttft
            cost: float | None = 0.0
        else:
            status, error = 200, None
            prompt = int(rng.lognormvariate(math.log(3000), 1.1)) + 20
            cr = cw = 0
            if rng.random() < m.caching:
                cr = int(prompt * rng.uniform(0.6, 0.95))
                if m.price and m.price[3] is not None and rng.random() < 0.3:
                    cw = int((prompt - cr) * rng.uniform(0.3, 0.9))
            elif m.price and m.price[3] is not None and rng.random() < 0.2:
                cw = int(prompt * rng.uniform(0.5, 0.9))
            inp = prompt - cr - cw
            out = int(rng.lognormvariate(math.log(350), 0.9)) + 1
            reasoning = int(out * rng.uniform(0.2, 0.7)) if m.reasoning else 0
            ttft = rng.lognormvariate(math.log(m.ttft_ms), 0.45)
            latency = ttft + out / m.tokens_per_s * 1000 * rng.uniform(0.8, 1.25)
            cost = _cost(m, inp, cr, cw, out)
            if rng.random() < 0.01:
                attempts = f"{rng.choice(['xai', 'openai'])}:timeout"
        cost_pico = None if cost is None else round(cost * 1e12)
        yield (
            _iso(ms), f"demo-{end_ms:x}-{i:07d}", fmt, m.provider, m.model, m.provider_model,
            stream, status, inp, cr, cw, out, reasoning, cost, round(latency, 1),
            round(ttft, 1), error, cost_pico, None if cost is None else "price_table",
            None, attempts, None, 0,
            None, None, None, None, None,  # session_id, client, client_version, agent, tags
            None,  # conversation_id
        )  # fmt: skip


def write_rows(db: str | Path, rows: Iterator[Sequence[object]], batch: int = 50_000) -> int:
    """Append `rows` (in `USAGE_COLUMNS` order) to the usage table at `db`; returns the count."""
    con = connect(db)
    sql = insert_sql()
    count = 0
    try:
        chunk: list[Sequence[object]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= batch:
                count += _flush(con, sql, chunk)
        count += _flush(con, sql, chunk)
    finally:
        con.close()
    return count


def _flush(con: sqlite3.Connection, sql: str, chunk: list[Sequence[object]]) -> int:
    if not chunk:
        return 0
    con.execute("BEGIN IMMEDIATE")
    con.executemany(sql, chunk)
    con.execute("COMMIT")
    n = len(chunk)
    chunk.clear()
    return n


def pricing_tables() -> dict[str, dict[str, object]]:
    """The demo prices as pricing/<provider>.yaml documents, keyed by provider."""
    tables: dict[str, dict[str, object]] = {}
    for m in MODELS:
        if m.price is None:
            continue
        p_in, p_out, p_cr, p_cw = m.price
        entry: dict[str, object] = {"input": p_in, "output": p_out}
        if m.provider_model != m.model:
            entry["id"] = m.provider_model
        if p_cr is not None:
            entry["cache_read"] = p_cr
        if p_cw is not None:
            entry["cache_write"] = p_cw
        table = tables.setdefault(
            m.provider, {"provider": m.provider, "unit": "usd_per_million_tokens", "models": {}}
        )
        models = table["models"]
        assert isinstance(models, dict)
        models[m.model] = entry
    return tables


def write_pricing(directory: str | Path) -> list[Path]:
    """Write `pricing_tables()` as <directory>/<provider>.yaml; returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for provider, table in pricing_tables().items():
        path = directory / f"{provider}.yaml"
        path.write_text(yaml.safe_dump(table, sort_keys=False), encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.demo", description=__doc__)
    parser.add_argument("db", type=Path, help="SQLite file to append to (created if missing)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pricing-dir", type=Path, help="also write the demo price tables here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    count = write_rows(args.db, demo_rows(args.rows, days=args.days, seed=args.seed))
    print(f"wrote {count} rows to {args.db} in {time.perf_counter() - started:.1f} s")
    if args.pricing_dir:
        for path in write_pricing(args.pricing_dir):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
