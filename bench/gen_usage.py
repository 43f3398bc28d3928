"""Write millions of realistic usage rows fast: coding-agent sessions, SDK scripts, keys, caching.

    python bench/gen_usage.py var/big.db --rows 10000000 [--days 30] [--seed 7] [--pricing-dir DIR]

The rows are what a team running coding agents through ekai produces: sessions of tens to
hundreds of requests (Claude Code, Codex, scripts on the OpenAI and Anthropic SDKs, curl),
each under one gateway key, with a main model and sub-agent requests (`agent`) on a cheaper
one, prompts that grow turn by turn and are mostly read from the provider's prompt cache (with
the first turn writing it and the odd cache miss), reasoning tokens on the GPT models, about 2%
failures (429, 529, 5xx), and one OpenRouter model without a price (cost NULL).

How it is fast. Nothing is generated row by row in Python: DuckDB computes every column with
vectorised SQL from counter-based pseudo-random numbers (`hash(row, salt)`, so the output is
deterministic for a seed), and writes it into the SQLite file through its sqlite extension, in
chunks of sessions ordered by start time (ids then follow time closely, as in the gateway, where
a row is written when its request ends). The table is created first by `gateway.db.connect`, so
the schema, indexes and migrations are the gateway's own, and the columns written are
`gateway.db.USAGE_COLUMNS` (a column the generator has no value for keeps its default). Into an
empty table it writes as a bulk load: a rollback journal instead of the WAL (which writes every
page twice) and the secondary indexes (session, key, conversation) dropped while it writes and
built again at the end, one sort each instead of millions of inserts at random places; request
ids follow time, as the gateway's do, so their UNIQUE index grows at its end. The file it leaves
has the gateway's indexes and WAL mode. See bench/README.md for its speed.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analytics import duck  # noqa: E402
from gateway.db import USAGE_COLUMNS  # noqa: E402
from gateway.db import connect as gateway_connect  # noqa: E402

# model, provider, provider model id, price per 1M tokens (input, output, cache read, cache
# write; None: no price), median time to first byte (ms), output tokens per second.
MODELS: tuple[tuple[str, str, str, tuple[float, float, float, float] | None, int, int], ...] = (
    ("claude-sonnet-4-6", "anthropic", "claude-sonnet-4-6", (3, 15, 0.3, 3.75), 900, 70),
    ("claude-opus-4-6", "anthropic", "claude-opus-4-6", (5, 25, 0.5, 6.25), 1500, 45),
    ("claude-haiku-4-5", "anthropic", "claude-haiku-4-5", (1, 5, 0.1, 1.25), 450, 140),
    ("claude-sonnet-4-6", "openrouter", "anthropic/claude-sonnet-4.6", (3, 15, 0.3, 3.75),
     1100, 65),
    ("gpt-5.1-codex", "openai", "gpt-5.1-codex", (1.25, 10, 0.125, 1.25), 1600, 60),
    ("gpt-5", "openai", "gpt-5", (1.25, 10, 0.125, 1.25), 1800, 60),
    ("gpt-5-mini", "openai", "gpt-5-mini", (0.25, 2, 0.025, 0.25), 700, 110),
    ("grok-4", "xai", "grok-4", (3, 15, 0.75, 3), 1300, 55),
    ("meta-llama/llama-4-maverick", "openrouter", "meta-llama/llama-4-maverick", None, 600, 90),
)  # fmt: skip

# What a session looks like per client: (client, share of sessions, client_format, version,
# main models, sub-agent model, sub-agent names, share of sessions that carry a session id).
CLIENTS: tuple[tuple[str, float, str, str, tuple[int, ...], int, tuple[str, ...], float], ...] = (
    ("claude-code", 0.42, "anthropic", "2.1.197", (0, 0, 0, 1, 3), 2,
     ("Explore", "general-purpose", "code-reviewer"), 1.0),
    ("codex", 0.25, "responses", "0.171.0", (4, 4, 5), 6, ("explorer", "worker"), 1.0),
    ("openai-python", 0.12, "openai", "2.8.1", (5, 6, 6, 7), 6, (), 0.5),
    ("anthropic-python", 0.08, "anthropic", "0.71.0", (0, 2, 2), 2, (), 0.5),
    ("openai-node", 0.07, "openai", "6.9.0", (6, 8), 6, (), 0.3),
    ("curl", 0.03, "openai", "8.5.0", (6, 8), 6, (), 0.0),
    ("", 0.03, "openai", "", (7,), 7, (), 0.0),  # an unknown User-Agent: client NULL
)  # fmt: skip

KEYS = ("alice-laptop", "bob-laptop", "ci", "eval-runner", "carol-laptop", "")  # "": no auth
TAGS = ('{"team":"platform"}', '{"team":"search","env":"dev"}', '{"project":"migration"}')
FAILURES = (
    (429, "rate limited by upstream (429)"),
    (529, "upstream overloaded (529)"),
    (502, "upstream connection error: connection reset by peer"),
    (500, "upstream error 500: internal server error"),
)
MEAN_SESSION = 100  # requests per session, on average (exponential: tens to hundreds)


def _values(rows: Sequence[Sequence[object]]) -> str:
    def lit(v: object) -> str:
        if v is None:
            return "NULL"
        if isinstance(v, str):
            return duck.sql_string(v)
        if isinstance(v, tuple):
            return "[" + ", ".join(lit(x) for x in v) + "]"
        return repr(v)

    return ", ".join("(" + ", ".join(lit(v) for v in row) + ")" for row in rows)


def setup_sql(seed: int) -> str:
    """Lookup tables and the `r(i, salt)` macro: a uniform [0, 1) number per row and salt."""
    models = [
        (i, m, p, pm, *(price or (None, None, None, None)), ttft, tps)
        for i, (m, p, pm, price, ttft, tps) in enumerate(MODELS)
    ]
    clients = []
    lo = 0.0
    for i, (name, share, fmt, version, mains, sub, agents, with_id) in enumerate(CLIENTS):
        clients.append(
            (i, name or None, lo, lo + share, fmt, version or None, mains, sub, agents, with_id)
        )
        lo += share
    return f"""
        CREATE OR REPLACE MACRO r(i, salt) AS
            (hash(i::BIGINT * 1000003 + salt + {int(seed)} * 7919) % 1000000007) / 1000000007.0;
        CREATE OR REPLACE TABLE models AS SELECT * FROM (VALUES {_values(models)})
            t(mi, model, provider, provider_model, p_in, p_out, p_cr, p_cw, ttft, tps);
        CREATE OR REPLACE TABLE clients AS SELECT * FROM (VALUES {_values(clients)})
            t(ci, client, lo, hi, client_format, client_version, mains, sub, agents, with_id);
        CREATE OR REPLACE TABLE keys AS SELECT * FROM (VALUES {_values([(i, k or None) for i, k in enumerate(KEYS)])})
            t(ki, api_key_name);
        CREATE OR REPLACE TABLE failures AS SELECT * FROM (VALUES {_values([(i, st, e) for i, (st, e) in enumerate(FAILURES)])})
            t(fi, f_status, f_error);
    """  # noqa: E501


# One row per session: who, when, how long. Sessions are numbered in start-time order.
SESSIONS_SQL = """
    SELECT s,
           $start_ms + (s + r(s, 1)) * $span_ms / $sessions AS start_ms,
           least(5000, greatest(3, ceil(-ln(1 - r(s, 2)) * $mean)))::BIGINT AS n,
           3000 + r(s, 3) * 40000 AS gap_ms,
           c.*,
           (floor(r(s, 5) * {keys}))::INT AS ki,
           r(s, 6) AS u_id,
           r(s, 7) AS u_tag,
           mains[1 + floor(r(s, 8) * len(mains))::INT] AS main_mi
    FROM range($s0, $s1) t(s)
    JOIN clients c ON r(s, 4) >= c.lo AND r(s, 4) < c.hi
"""

ROWS_SQL = """
WITH sess AS ({sessions}),
req AS (
    SELECT sess.*, k, s * 65536 + k AS rk,
           CASE WHEN len(agents) > 0 AND r(s * 65536 + k, 11) < 0.25
                THEN agents[1 + floor(r(s * 65536 + k, 12) * len(agents))::INT] END AS agent
    FROM sess, range(n) u(k)
),
priced AS (
    SELECT req.*, m.*,
           (start_ms + k * gap_ms * (0.5 + r(rk, 13))) AS ms,
           r(rk, 14) < 0.02 AS failed,
           floor(CASE WHEN agent IS NULL  -- the main thread's context grows turn by turn
                      THEN least(190000, 6000 + k * (400 + r(s, 15) * 2000))
                      ELSE 3000 + r(rk, 15) * 25000  -- a sub-agent starts its own, small one
                 END + r(rk, 16) * 3000)::BIGINT AS prompt,
           CASE WHEN r(rk, 17) < 0.04 THEN 'miss'
                WHEN k = 0 OR (agent IS NOT NULL AND r(rk, 18) < 0.5) THEN 'write'
                ELSE 'read' END AS cache,
           (20 + floor(-ln(1 - r(rk, 19)) * 600))::BIGINT AS out_n
    FROM req JOIN models m ON m.mi = CASE WHEN agent IS NULL THEN main_mi ELSE sub END
),
tokens AS (
    SELECT *,
        CASE WHEN failed THEN 0
             WHEN cache = 'read' THEN floor(prompt * (0.86 + r(rk, 20) * 0.12))
             ELSE 0 END::BIGINT AS cr,
        CASE WHEN failed OR p_cw IS NULL OR provider IN ('openai', 'xai') THEN 0
             WHEN cache = 'write' THEN floor(prompt * 0.9)
             WHEN cache = 'read' THEN floor(prompt * 0.04 * r(rk, 21))
             ELSE floor(prompt * 0.5) END::BIGINT AS cw,
        CASE WHEN failed THEN 0 ELSE out_n END AS out
    FROM priced
)
SELECT
    strftime(make_timestamp((ms * 1000)::BIGINT), '%Y-%m-%dT%H:%M:%S.%gZ') AS ts,
    -- in time order, like the gateway's: the UNIQUE index on it then grows at its end
    'gen-' || $seed || '-' || printf('%015d', (ms * 1000)::BIGINT) || '-' || rk AS request_id,
    client_format, provider, model, provider_model,
    CASE WHEN client IN ('claude-code', 'codex') OR r(rk, 22) < 0.6 THEN 1 ELSE 0 END AS stream,
    CASE WHEN failed THEN f_status ELSE 200 END AS status,
    CASE WHEN failed THEN 0 ELSE prompt - cr - cw END AS input_tokens,
    cr AS cache_read_tokens, cw AS cache_write_tokens, out AS output_tokens,
    CASE WHEN model LIKE 'gpt-5%' THEN floor(out * 0.4)::BIGINT ELSE 0 END AS reasoning_tokens,
    CASE WHEN failed THEN 0.0 WHEN p_in IS NULL THEN NULL
         ELSE ((prompt - cr - cw) * p_in + cr * p_cr + cw * p_cw + out * p_out) / 1e6
    END AS cost_usd,
    round(CASE WHEN failed THEN ttft * 0.2
               ELSE ttft * (0.6 + r(rk, 23)) + out * 1000.0 / tps END, 1) AS latency_ms,
    round(CASE WHEN failed THEN ttft * 0.2 ELSE ttft * (0.6 + r(rk, 23)) END, 1) AS ttft_ms,
    CASE WHEN failed THEN f_error END AS error,
    CASE WHEN failed OR p_in IS NULL THEN NULL
         ELSE round(((prompt - cr - cw) * p_in + cr * p_cr + cw * p_cw + out * p_out) * 1e6)
    END::BIGINT AS cost_pico_usd,
    CASE WHEN p_in IS NULL THEN NULL ELSE 'price_table' END AS cost_source,
    CASE WHEN failed AND r(rk, 24) < 0.5 THEN 'anthropic:' || f_status END AS attempts,
    api_key_name,
    CASE WHEN u_id < with_id THEN
         CASE WHEN client IN ('claude-code', 'codex')
              THEN printf('%08x-%04x-4%03x-a%03x-%012x', hash(s, 31) % 4294967296,
                             hash(s, 32) % 65536, hash(s, 33) % 4096, hash(s, 34) % 4096,
                             hash(s, 35) % 281474976710656)
              ELSE 'job-' || s END
    END AS session_id,
    client, client_version, agent,
    CASE WHEN u_tag < 0.3 THEN $tags[1 + floor(u_tag * 10)::INT] END AS tags
FROM tokens
LEFT JOIN failures ON failures.fi = floor(r(rk, 25) * {failures})::INT
LEFT JOIN keys USING (ki)
ORDER BY ms
"""


def generate(
    db: str | Path,
    rows: int,
    *,
    days: float = 30.0,
    end: datetime | None = None,
    seed: int = 7,
    chunks: int = 0,
    progress: bool = False,
) -> int:
    """Append `rows` generated rows to the usage table at `db` (created with the gateway's
    schema when missing); returns the number written."""
    db = Path(db)
    gateway_connect(db).close()  # the gateway's schema and migrations; closed before DuckDB opens it
    indexes = _bulk_mode(db)
    try:
        return _generate(db, rows, days=days, end=end, seed=seed, chunks=chunks, progress=progress)
    finally:
        _end_bulk_mode(db, indexes)


def _bulk_mode(db: Path) -> list[str]:
    """Into an empty table, write as a bulk load: a rollback journal instead of the WAL (which
    writes every page twice) and the secondary indexes dropped (their keys arrive in random
    order; building one afterwards is a single sort). Returns the indexes to recreate."""
    con = sqlite3.connect(db, isolation_level=None)
    try:
        if con.execute("SELECT count(*) FROM (SELECT 1 FROM usage LIMIT 1)").fetchone() != (0,):
            return []  # appending to a table with rows: as the gateway would
        con.execute("PRAGMA journal_mode=DELETE")
        found = con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage' "
            "AND sql IS NOT NULL AND name != 'usage_ts'"
        ).fetchall()
        for name, _ in found:
            con.execute(f'DROP INDEX "{name}"')
        return [sql for _, sql in found]
    finally:
        con.close()


def _end_bulk_mode(db: Path, indexes: list[str]) -> None:
    if not indexes:
        return
    con = sqlite3.connect(db, isolation_level=None)
    try:
        for sql in indexes:
            con.execute(sql)
        con.execute("PRAGMA journal_mode=WAL")  # the gateway's mode
    finally:
        con.close()


def _generate(
    db: Path, rows: int, *, days: float, end: datetime | None, seed: int, chunks: int,
    progress: bool,
) -> int:  # fmt: skip
    end = end or datetime.now(UTC)
    end_ms = int(end.timestamp() * 1000)
    start_ms = int((end - timedelta(days=days)).timestamp() * 1000)
    # How many sessions hold `rows` requests (their lengths are random): the period is then
    # shared out among exactly those, so the newest row is close to `end`.
    guess = max(1, round(rows / MEAN_SESSION * 1.3) + 20)
    sessions_sql = SESSIONS_SQL.format(keys=len(KEYS))
    chunks = chunks or max(1, rows // 1_000_000)
    con = duck.new_connection()
    duck.ensure_sqlite_extension(con)
    con.execute(setup_sql(seed))
    con.execute(f"ATTACH {duck.sql_string(str(db))} AS out (TYPE sqlite)")
    have = {
        str(r[0])
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = 'out' "
            "AND table_name = 'usage'"
        ).fetchall()
    }
    # The gateway's columns this generator has values for, in the gateway's order (plus any
    # contract column the table has that an older USAGE_COLUMNS does not list yet).
    names = [c for c in USAGE_COLUMNS if c in have and c in KNOWN_OUTPUTS]
    names += sorted(c for c in have & KNOWN_OUTPUTS if c not in names)
    found = con.execute(
        f"SELECT min(s) + 1 FROM (SELECT s, sum(n) OVER (ORDER BY s) AS c FROM ({sessions_sql}))"
        " WHERE c >= $rows",
        {"start_ms": 0, "span_ms": 1, "sessions": 1, "mean": MEAN_SESSION, "s0": 0,
         "s1": guess, "rows": rows},
    ).fetchone()  # fmt: skip
    sessions = int(found[0]) if found and found[0] is not None else guess
    select = ROWS_SQL.format(sessions=sessions_sql, failures=len(FAILURES))
    row = con.execute("SELECT count(*) FROM out.usage").fetchone()
    before = int(row[0]) if row else 0  # appending to a table that has rows already
    written = 0
    started = time.perf_counter()
    try:
        for c in range(chunks):
            if written >= rows:
                break
            s0, s1 = sessions * c // chunks, sessions * (c + 1) // chunks
            con.execute(
                f"INSERT INTO out.usage ({', '.join(names)}) "
                f"SELECT {', '.join(names)} FROM ({select}) LIMIT $limit",
                {
                    "start_ms": start_ms, "span_ms": end_ms - start_ms, "sessions": sessions,
                    "mean": MEAN_SESSION, "s0": s0, "s1": s1, "seed": seed,
                    "tags": list(TAGS), "limit": rows - written,
                },
            )  # fmt: skip
            row = con.execute("SELECT count(*) FROM out.usage").fetchone()
            written = (int(row[0]) if row else 0) - before
            if progress:
                print(f"  {written:>12,} rows  {time.perf_counter() - started:6.1f} s", flush=True)
    finally:
        con.execute("DETACH out")
        con.close()
    return written


KNOWN_OUTPUTS = frozenset(
    (
        "ts", "request_id", "client_format", "provider", "model", "provider_model", "stream",
        "status", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
        "reasoning_tokens", "cost_usd", "latency_ms", "ttft_ms", "error", "cost_pico_usd",
        "cost_source", "attempts", "api_key_name", "session_id", "client", "client_version",
        "agent", "tags",
    )
)  # fmt: skip


def pricing_tables() -> dict[str, dict[str, object]]:
    """The generator's prices as pricing/<provider>.yaml documents, keyed by provider."""
    tables: dict[str, dict[str, object]] = {}
    for model, provider, provider_model, price, _ttft, _tps in MODELS:
        if price is None:
            continue
        p_in, p_out, p_cr, p_cw = price
        entry: dict[str, object] = {"input": p_in, "output": p_out, "cache_read": p_cr,
                                    "cache_write": p_cw}  # fmt: skip
        if provider_model != model:
            entry["id"] = provider_model
        table = tables.setdefault(
            provider, {"provider": provider, "unit": "usd_per_million_tokens", "models": {}}
        )
        models = table["models"]
        assert isinstance(models, dict)
        models[model] = entry
    return tables


def write_pricing(directory: str | Path) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for provider, table in pricing_tables().items():
        path = directory / f"{provider}.yaml"
        path.write_text(yaml.safe_dump(table, sort_keys=False), encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/gen_usage.py", description=__doc__)
    parser.add_argument("db", type=Path, help="SQLite file to append to (created if missing)")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pricing-dir", type=Path, help="also write the price tables here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    n = generate(args.db, args.rows, days=args.days, seed=args.seed, progress=True)
    print(f"wrote {n:,} rows to {args.db} in {time.perf_counter() - started:.1f} s")
    if args.pricing_dir:
        for path in write_pricing(args.pricing_dir):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
