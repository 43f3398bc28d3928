"""The query functions on rows with known answers (tests/analytics_fixtures.py), through both the
live view and the snapshot; plus a property test against a plain-Python reference."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import duck, rollup
from analytics import queries as q
from analytics.prices import load_prices, parse_table, price_files
from gateway.db import migrate
from tests.analytics_fixtures import KNOWN, PRICING_YAML, row, write_config, write_usage


@pytest.fixture(scope="module")
def known_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_usage(tmp_path_factory.mktemp("known") / "usage.db", KNOWN)


@pytest.fixture(params=["live", "snapshot"])
def con(request: pytest.FixtureRequest, known_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    opener = duck.connect if request.param == "live" else duck.snapshot
    connection = opener(known_db)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def prices(tmp_path_factory: pytest.TempPathFactory) -> q.Prices:
    folder = tmp_path_factory.mktemp("cfg")
    book = load_prices(price_files(write_config(folder)))
    assert book.problems == ()
    return book.prices


ALL = q.Filters()
DAY2 = q.Filters(start=datetime(2026, 11, 2), end=datetime(2026, 11, 3))


# --- totals and filters ---------------------------------------------------------------------


def test_totals_over_everything(con: duckdb.DuckDBPyConnection) -> None:
    t = q.totals(con, ALL)
    assert (t.requests, t.failed, t.unpriced) == (8, 2, 1)
    assert t.spend_usd == pytest.approx(3.875)
    assert (t.input_tokens, t.cache_read_tokens, t.cache_write_tokens) == (1416, 6100, 2500)
    assert (t.output_tokens, t.reasoning_tokens) == (676, 40)
    assert t.prompt_tokens == 1416 + 6100 + 2500
    assert t.tokens == 1416 + 6100 + 2500 + 676
    assert t.error_rate == pytest.approx(2 / 8)


def test_period_start_inclusive_end_exclusive(con: duckdb.DuckDBPyConnection) -> None:
    t = q.totals(con, DAY2)  # rows 5 (exactly at start), 6, 7 (last ms); not 8 (exactly at end)
    assert (t.requests, t.failed, t.unpriced) == (3, 1, 1)
    assert t.spend_usd == pytest.approx(2.0)


def test_open_ended_periods(con: duckdb.DuckDBPyConnection) -> None:
    assert q.totals(con, q.Filters(start=datetime(2026, 11, 2))).requests == 4
    assert q.totals(con, q.Filters(end=datetime(2026, 11, 2))).requests == 4


def test_aware_datetimes_are_converted_to_utc(con: duckdb.DuckDBPyConnection) -> None:
    plus2 = timezone(timedelta(hours=2))
    f = q.Filters(start=datetime(2026, 11, 2, 2, 0, tzinfo=plus2))  # = 2026-11-02 00:00 UTC
    assert f.start == datetime(2026, 11, 2)
    assert q.totals(con, f).requests == 4


@pytest.mark.parametrize(
    ("filters", "requests", "spend"),
    [
        (q.Filters(providers=("openai",)), 2, 1.0),
        (q.Filters(providers=["openai", "xai"]), 3, 1.0),
        (q.Filters(models=("claude-sonnet-4-6",)), 3, 0.875),  # not row 5: it sent "sonnet"
        (q.Filters(client_formats=("anthropic",)), 3, 2.625),
        (q.Filters(providers=("anthropic",), client_formats=("openai",)), 1, 0.25),
        (q.Filters(providers=("nobody",)), 0, 0.0),
    ],
)
def test_filters(
    con: duckdb.DuckDBPyConnection, filters: q.Filters, requests: int, spend: float
) -> None:
    t = q.totals(con, filters)
    assert t.requests == requests
    assert t.spend_usd == pytest.approx(spend)


def test_filter_values_are_parameters_not_sql(con: duckdb.DuckDBPyConnection) -> None:
    evil = "x') OR 1=1 OR ('"
    assert q.totals(con, q.Filters(providers=(evil,), models=(evil,))).requests == 0
    clause, params = q.where(q.Filters(providers=(evil,)))
    assert evil not in clause
    assert params == {"providers": [evil]}


def test_where_without_filters_is_empty() -> None:
    assert q.where(q.Filters()) == ("", {})


def test_filter_options(con: duckdb.DuckDBPyConnection) -> None:
    o = q.filter_options(con)
    assert o.requests == 8
    assert o.first == datetime(2026, 11, 1, 9)
    assert o.last == datetime(2026, 11, 3)
    assert o.providers == ("anthropic", "openai", "openrouter", "xai")
    assert o.client_formats == ("anthropic", "openai")
    assert "sonnet" in o.models and len(o.models) == 5


# --- time series and breakdowns -------------------------------------------------------------


def test_spend_per_day_by_provider(con: duckdb.DuckDBPyConnection) -> None:
    frame = q.spend_over_time(con, ALL, bucket="day", split="provider")
    got = {(r["bucket"].day, r["key"]): (r["spend_usd"], r["requests"]) for r in frame.to_dicts()}
    assert got == {
        (1, "anthropic"): (pytest.approx(0.75), 2),
        (1, "openai"): (pytest.approx(1.0), 2),
        (2, "openrouter"): (pytest.approx(2.0), 2),
        (2, "xai"): (pytest.approx(0.0), 1),
        (3, "anthropic"): (pytest.approx(0.125), 1),
    }
    assert frame.columns == ["bucket", "key", "spend_usd", "requests"]
    assert frame["bucket"].is_sorted()


def test_spend_per_hour_by_model(con: duckdb.DuckDBPyConnection) -> None:
    day1 = q.Filters(start=datetime(2026, 11, 1), end=datetime(2026, 11, 2))
    frame = q.spend_over_time(con, day1, bucket="hour", split="model")
    got = {(r["bucket"].hour, r["key"]): r["spend_usd"] for r in frame.to_dicts()}
    assert got == {
        (9, "claude-sonnet-4-6"): pytest.approx(0.5),
        (10, "claude-sonnet-4-6"): pytest.approx(0.25),
        (10, "gpt-5"): pytest.approx(1.0),
        (11, "gpt-5"): pytest.approx(0.0),
    }


def test_spend_over_time_folds_the_tail_into_other(con: duckdb.DuckDBPyConnection) -> None:
    frame = q.spend_over_time(con, ALL, bucket="day", split="provider", top=1)
    got = {(r["bucket"].day, r["key"]): (r["spend_usd"], r["requests"]) for r in frame.to_dicts()}
    assert got == {
        (1, q.OTHER): (pytest.approx(1.75), 4),
        (2, "openrouter"): (pytest.approx(2.0), 2),
        (2, q.OTHER): (pytest.approx(0.0), 1),
        (3, q.OTHER): (pytest.approx(0.125), 1),
    }
    assert frame["spend_usd"].sum() == pytest.approx(3.875)  # folding never loses spend


@pytest.mark.parametrize(("bucket", "split"), [("week", "provider"), ("day", "provider; --")])
def test_unknown_bucket_or_split_is_refused(
    con: duckdb.DuckDBPyConnection, bucket: str, split: str
) -> None:
    with pytest.raises(ValueError):
        q.spend_over_time(con, ALL, bucket=bucket, split=split)  # type: ignore[arg-type]


def test_token_mix(con: duckdb.DuckDBPyConnection) -> None:
    mix = q.token_mix(con, ALL)
    assert mix["kind"].to_list() == ["input", "cache read", "cache write", "output"]
    assert mix["tokens"].to_list() == [1416, 6100, 2500, 676]
    assert mix["share"].sum() == pytest.approx(1.0)
    assert mix["share"][1] == pytest.approx(6100 / 10692)


def test_cost_by_model(con: duckdb.DuckDBPyConnection) -> None:
    frame = q.cost_by(con, ALL, by="model")
    assert frame["key"].to_list() == [
        "sonnet",
        "gpt-5",
        "claude-sonnet-4-6",
        "grok-4",
        "meta-llama/llama-4-maverick",
    ]
    assert frame["spend_usd"].to_list() == pytest.approx([2.0, 1.0, 0.875, 0.0, 0.0])
    assert frame["requests"].to_list() == [1, 2, 3, 1, 1]
    assert frame["unpriced"].to_list() == [0, 0, 0, 0, 1]
    assert frame["share"][0] == pytest.approx(2.0 / 3.875)
    assert frame["input_tokens"].sum() == 1416
    assert frame.schema["input_tokens"] == pl.Int64  # not Decimal (sum of BIGINT is HUGEINT)


def test_cost_by_provider(con: duckdb.DuckDBPyConnection) -> None:
    frame = q.cost_by(con, ALL, by="provider")
    got = dict(zip(frame["key"], frame["spend_usd"], strict=True))
    assert got == pytest.approx({"openrouter": 2.0, "openai": 1.0, "anthropic": 0.875, "xai": 0})


# --- cache savings --------------------------------------------------------------------------


def test_cache_savings(con: duckdb.DuckDBPyConnection, prices: q.Prices) -> None:
    frame = q.cache_savings(con, ALL, prices)
    got = {(r["provider"], r["model"]): r for r in frame.to_dicts()}
    # row 1: reads 4000 * (3 - 0.3) = 0.0108; writes 2000 * (3.75 - 3) = 0.0015
    sonnet = got[("anthropic", "claude-sonnet-4-6")]
    assert sonnet["saved_on_reads_usd"] == pytest.approx(0.0108)
    assert sonnet["extra_on_writes_usd"] == pytest.approx(0.0015)
    assert sonnet["net_saved_usd"] == pytest.approx(0.0093)
    # row 3: no cache_write price (none written anyway); reads 1000 * (1.25 - 0.125)
    assert got[("openai", "gpt-5")]["net_saved_usd"] == pytest.approx(0.001125)
    # row 5: alias "sonnet" priced through its upstream id; no cache_write_1h in the openrouter
    # table, so all 500 writes at cache_write: 1000 * 3.15 - 500 * 0.5 = 0.00315 - 0.00025
    routed = got[("openrouter", "sonnet")]
    assert (routed["cache_read_tokens"], routed["cache_write_tokens"]) == (1000, 500)
    assert routed["net_saved_usd"] == pytest.approx(0.0029)
    # row 6: no price at all: unknown, not zero
    assert got[("openrouter", "meta-llama/llama-4-maverick")]["net_saved_usd"] is None
    assert q.total_savings(frame) == pytest.approx(0.0093 + 0.001125 + 0.0029)
    assert frame["provider"][0] == "anthropic"  # biggest saving first, unknown last
    assert frame["net_saved_usd"][-1] is None


def test_cache_savings_uses_the_one_hour_write_price(con: duckdb.DuckDBPyConnection) -> None:
    prices = {("openrouter", "anthropic/claude-sonnet-4.6"): q.Price(3.5, 0.35, 4.0, 7.0)}
    frame = q.cache_savings(con, q.Filters(providers=("openrouter",)), prices)
    routed = frame.filter(pl.col("model") == "sonnet").row(0, named=True)
    # 300 five-minute writes at +0.5 and 200 one-hour writes at +3.5 per 1M
    assert routed["extra_on_writes_usd"] == pytest.approx((300 * 0.5 + 200 * 3.5) / 1e6)


def test_price_cache_tokens_follows_the_gateway_fallbacks() -> None:
    # no cache prices: billed at the input price, so nothing saved and nothing extra
    assert q.price_cache_tokens(1000, 1000, 0, q.Price(2.0)) == (0.0, 0.0)
    assert q.price_cache_tokens(1000, 0, 0, None) == (None, None)
    saved, extra = q.price_cache_tokens(2_000_000, 1_000_000, 0, q.Price(2.0, 0.5, 2.5))
    assert (saved, extra) == (pytest.approx(3.0), pytest.approx(0.5))


# --- latency, errors, listings --------------------------------------------------------------


# A Snapshot reads whole days' percentiles from its latency histograms: within 1% (rollup).
LATENCY_REL = rollup.LATENCY_ERROR + 1e-12


def test_latency_percentiles_over_successes(con: duckdb.DuckDBPyConnection) -> None:
    frame = q.latency(con, ALL)
    got = {(r["provider"], r["model"]): r for r in frame.to_dicts()}
    assert ("xai", "grok-4") not in got  # its only request failed
    sonnet = got[("anthropic", "claude-sonnet-4-6")]  # latencies 1000, 2000, 6000
    assert sonnet["requests"] == 3
    assert sonnet["latency_p50_ms"] == pytest.approx(2000, rel=LATENCY_REL)
    assert sonnet["latency_p95_ms"] == pytest.approx(2000 + 0.9 * 4000, rel=LATENCY_REL)  # interpolated
    assert sonnet["ttft_p50_ms"] == pytest.approx(200, rel=LATENCY_REL)
    assert sonnet["ttft_p95_ms"] == pytest.approx(200 + 0.9 * 400, rel=LATENCY_REL)
    gpt = got[("openai", "gpt-5")]  # the 429 (10 ms) is left out
    assert (gpt["requests"], gpt["latency_p50_ms"]) == (1, pytest.approx(3000, rel=LATENCY_REL))
    assert frame["provider"][0] == "anthropic"  # busiest first


def test_latency_groups_by_label_when_a_null_and_a_name_share_one() -> None:
    """A request refused before routing (provider NULL) and a provider literally named
    "(unknown)" are one row of the table, as in every other figure."""
    con = _memory_usage(
        [
            row("2026-11-01T09:00:00.000Z", provider=None, model="m", latency_ms=100.0),
            row("2026-11-01T09:01:00.000Z", provider=q.UNKNOWN, model="m", latency_ms=300.0),
        ]
    )
    frame = q.latency(con, ALL)
    assert frame.select("provider", "model", "requests").rows() == [(q.UNKNOWN, "m", 2)]
    assert frame["latency_p50_ms"][0] == pytest.approx(200.0, rel=LATENCY_REL)


def test_errors_by_provider(con: duckdb.DuckDBPyConnection) -> None:
    frame = q.errors_by(con, ALL, by="provider")
    assert frame.rows() == [
        ("xai", 1, 1, 1.0),
        ("openai", 2, 1, 0.5),
        ("anthropic", 3, 0, 0.0),
        ("openrouter", 2, 0, 0.0),
    ]


def test_recent_errors_newest_first(con: duckdb.DuckDBPyConnection) -> None:
    frame = q.recent_errors(con, ALL)
    assert frame["status"].to_list() == [502, 429]
    assert frame["attempts"].to_list() == [None, "xai:429"]
    assert q.recent_errors(con, ALL, limit=1).height == 1
    assert q.recent_errors(con, DAY2)["provider"].to_list() == ["xai"]


def test_latest_requests(con: duckdb.DuckDBPyConnection) -> None:
    frame = q.latest_requests(con, ALL, limit=3)
    assert frame["model"].to_list() == [
        "claude-sonnet-4-6",
        "grok-4",
        "meta-llama/llama-4-maverick",
    ]
    assert "request_id" in frame.columns and "error" in frame.columns
    assert q.latest_requests(con, ALL, limit=0).height == 0


# --- empty database -------------------------------------------------------------------------


def test_everything_works_on_an_empty_table(tmp_path: Path) -> None:
    db = write_usage(tmp_path / "usage.db", [])
    con = duck.snapshot(db)
    assert q.totals(con, ALL) == q.Totals()
    assert q.filter_options(con) == q.FilterOptions()
    assert q.spend_over_time(con, ALL).height == 0
    assert q.token_mix(con, ALL)["tokens"].to_list() == [0, 0, 0, 0]
    assert q.token_mix(con, ALL)["share"].to_list() == [0.0, 0.0, 0.0, 0.0]
    assert q.cost_by(con, ALL).height == 0
    savings = q.cache_savings(con, ALL, {})
    assert savings.height == 0 and savings.columns == list(q.SAVINGS_SCHEMA)
    assert q.total_savings(savings) == 0.0
    assert q.latency(con, ALL).height == 0
    assert q.errors_by(con, ALL).height == 0
    assert q.recent_errors(con, ALL).height == 0
    assert q.latest_requests(con, ALL).height == 0


# --- price tables ---------------------------------------------------------------------------


def test_price_files_follow_the_config(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert [p.name for p in price_files(config)] == [
        "anthropic.yaml",
        "openai.yaml",
        "openrouter.yaml",
    ]
    config.write_text("pricing:\n  files: [pricing/openai.yaml, pricing/missing.yaml]\n")
    assert [p.name for p in price_files(config)] == ["openai.yaml"]
    assert price_files(tmp_path / "absent" / "ekai.yaml") == []


def test_price_tables_list_names_and_ids(prices: q.Prices) -> None:
    assert prices[("anthropic", "claude-sonnet-4-6")] == q.Price(3.0, 0.3, 3.75, 6.0)
    assert (
        prices[("openrouter", "anthropic/claude-sonnet-4.6")]
        == prices[("openrouter", "claude-sonnet-4-6")]
    )
    assert prices[("openai", "gpt-5")] == q.Price(1.25, 0.125, None, None)


def test_bad_price_tables_are_skipped_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(PRICING_YAML["openai"])
    (tmp_path / "b.yaml").write_text("provider: x\nmodels: [1, 2]\n")
    (tmp_path / "c.yaml").write_text("models: {m: {input: 1}}\n")
    (tmp_path / "d.yaml").write_text(
        "provider: y\nmodels:\n  ok: {input: 1}\n  bad: {input: 'n/a'}\n"
    )
    (tmp_path / "e.yaml").write_text("provider: [unclosed\n")
    book = load_prices(sorted(tmp_path.glob("*.yaml")))
    assert set(book.prices) == {("openai", "gpt-5"), ("y", "ok")}
    assert len(book.problems) == 4
    assert any("models.bad" in p for p in book.problems)
    assert parse_table(None, "x")[1] == ["x: no top-level `provider`"]


# --- a property: figures agree with a plain-Python reference on random rows ------------------

PROVIDERS = ["anthropic", "openai", "xai"]
MODELS = ["m1", "m2", "m3"]

random_row = st.builds(
    lambda minute, provider, model, status, tokens, cost, latency: row(
        (datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=minute))
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        provider=provider,
        model=model,
        status=status,
        input_tokens=tokens[0],
        cache_read_tokens=tokens[1],
        cache_write_tokens=tokens[2],
        output_tokens=tokens[3],
        cost_usd=cost,
        latency_ms=latency,
        error=None if status < 400 else "boom",
    ),
    st.integers(0, 3 * 24 * 60),
    st.sampled_from(PROVIDERS),
    st.sampled_from(MODELS),
    st.sampled_from([200, 200, 200, 429, 500]),
    st.tuples(*[st.integers(0, 10**9)] * 4),
    st.one_of(st.none(), st.floats(0, 100, allow_nan=False)),
    st.floats(1, 10**5, allow_nan=False),
)


DUCK_TYPES = {"INTEGER": "BIGINT", "REAL": "DOUBLE", "TEXT": "VARCHAR"}


def _memory_usage(rows: list[dict]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB `usage` table with the SQLite table's columns (no file involved)."""
    con = duck.new_connection()
    ddl = sqlite3.connect(":memory:", isolation_level=None)
    migrate(ddl)  # the gateway's own schema, every migration applied
    columns = [(c[1], DUCK_TYPES[c[2]]) for c in ddl.execute("PRAGMA table_info(usage)")]
    con.execute(f"CREATE TABLE usage ({', '.join(f'{n} {t}' for n, t in columns)})")
    for i, r in enumerate(rows, 1):
        values = {"id": i, "request_id": f"r{i}", "conversation_id": None, **r}
        con.execute(
            f"INSERT INTO usage VALUES ({', '.join('?' * len(columns))})",
            [values.get(name) for name, _ in columns],
        )
    return con


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(random_row, max_size=30),
    providers=st.lists(st.sampled_from(PROVIDERS), max_size=2, unique=True),
    start_minute=st.integers(0, 3 * 24 * 60),
)
def test_figures_match_a_python_reference(
    rows: list[dict], providers: list[str], start_minute: int
) -> None:
    start = datetime(2026, 11, 1) + timedelta(minutes=start_minute)
    f = q.Filters(start=start, providers=tuple(providers))
    kept = [
        r
        for r in rows
        if datetime.fromisoformat(r["ts"].replace("Z", "")) >= start
        and (not providers or r["provider"] in providers)
    ]
    con = _memory_usage(rows)
    t = q.totals(con, f)
    assert t.requests == len(kept)
    assert t.failed == sum(r["status"] >= 400 for r in kept)
    assert t.unpriced == sum(r["cost_usd"] is None for r in kept)
    spend = math.fsum(r["cost_usd"] or 0.0 for r in kept)
    assert t.spend_usd == pytest.approx(spend, abs=1e-9)
    assert t.cache_read_tokens == sum(r["cache_read_tokens"] for r in kept)
    over_time = q.spend_over_time(con, f, bucket="hour", split="model", top=2)
    assert over_time["requests"].sum() == len(kept)
    assert math.fsum(over_time["spend_usd"]) == pytest.approx(spend, abs=1e-9)
    by_model = q.cost_by(con, f, by="model")
    assert by_model["requests"].sum() == len(kept)
    assert by_model["output_tokens"].sum() == sum(r["output_tokens"] for r in kept)
    errors = q.errors_by(con, f, by="provider")
    assert errors["failed"].sum() == t.failed
    latency = q.latency(con, f)
    assert latency["requests"].sum() == len(kept) - t.failed
    assert q.latest_requests(con, f, limit=1000).height == len(kept)


# --- the file stays free for the gateway ------------------------------------------------------

# The writer runs in its own process, as the gateway does. (Python's sqlite3 and DuckDB's sqlite
# extension are two copies of SQLite; with both holding one file open in the same process, POSIX
# locks are shared between them and a close by one drops the other's, the hazard described in
# https://www.sqlite.org/howtocorrupt.html#_multiple_copies_of_sqlite_linked_into_the_same_application
WRITER = """
import sqlite3, sys, time, pathlib
db, stop = sys.argv[1], pathlib.Path(sys.argv[2])
# timeout=0: a write that finds the file locked fails at once instead of waiting
con = sqlite3.connect(db, isolation_level=None, timeout=0)
written = failed = 0
while not stop.exists():
    try:
        con.execute(
            "INSERT INTO usage (ts, request_id, client_format, status) VALUES (?, ?, ?, ?)",
            ("2026-11-05T00:00:00.000Z", f"w{written}-{failed}", "openai", 200),
        )
        written += 1
    except sqlite3.Error as exc:
        failed += 1
        print(exc, file=sys.stderr)
    time.sleep(0.001)
print(written, failed)
"""


def test_reading_never_holds_up_the_writer(tmp_path: Path) -> None:
    db = write_usage(tmp_path / "usage.db", KNOWN)
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), str(stop)], stdout=subprocess.PIPE, text=True
    )
    try:
        time.sleep(0.3)
        for _ in range(10):
            duck.snapshot(db).close()
            live = duck.connect(db)
            live.execute("SELECT count(*) FROM usage").fetchone()
            live.close()
    finally:
        stop.touch()
        out, _ = writer.communicate(timeout=30)
    written, failed = map(int, out.split())
    assert failed == 0 and written > 0
    snap = duck.snapshot(db)
    assert snap.execute("SELECT count(*) FROM usage").fetchone()[0] == len(KNOWN) + written
    snap.close()
    # nothing was left attached: a full checkpoint completes (its busy flag is 0)
    checker = sqlite3.connect(db)
    assert checker.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    checker.close()


def test_snapshot_of_a_table_with_only_the_contract_columns(tmp_path: Path) -> None:
    """A database from before ekai's added columns (or another writer) still works."""
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.execute(
        "CREATE TABLE usage (id INTEGER PRIMARY KEY, ts TEXT, request_id TEXT, "
        "client_format TEXT, provider TEXT, model TEXT, provider_model TEXT, stream INTEGER, "
        "status INTEGER, input_tokens INTEGER, cache_read_tokens INTEGER, "
        "cache_write_tokens INTEGER, output_tokens INTEGER, reasoning_tokens INTEGER, "
        "cost_usd REAL, latency_ms REAL, ttft_ms REAL, error TEXT)"
    )
    con.execute(
        "INSERT INTO usage VALUES (1, '2026-11-01T09:00:00.000Z', 'r1', 'openai', 'openai', "
        "'gpt-5', 'gpt-5', 0, 200, 10, 1000, 0, 5, 0, 0.01, 100.0, 50.0, NULL)"
    )
    con.commit()
    con.close()
    snap = duck.snapshot(db)
    assert q.totals(snap, ALL).cache_read_tokens == 1000
    assert q.recent_errors(snap, ALL).height == 0
    savings = q.cache_savings(snap, ALL, {("openai", "gpt-5"): q.Price(1.25, 0.125)})
    assert savings["net_saved_usd"][0] == pytest.approx(1000 * 1.125 / 1e6)
    assert snap.execute("SELECT attempts, cache_write_1h_tokens FROM usage").fetchone() == (None, 0)
