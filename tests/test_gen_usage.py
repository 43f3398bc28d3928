"""bench/gen_usage.py on a few thousand rows: the row count asked for, the gateway's schema, and
rows whose costs follow from their tokens and the price tables it writes (checked in Python,
independently of the generator's SQL). The 10M-row run is a bench, not a test."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from analytics import duck

# bench/ is not a package (and must not go on sys.path: `import bench` would then find bench.py)
_spec = importlib.util.spec_from_file_location(
    "gen_usage", Path(__file__).resolve().parent.parent / "bench" / "gen_usage.py"
)
assert _spec is not None and _spec.loader is not None
gen_usage = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_usage)
generate, pricing_tables = gen_usage.generate, gen_usage.pricing_tables


def test_rows_sessions_and_costs(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    assert generate(db, 3000, days=2, seed=3) == 3000
    assert generate(db, 500, days=0.01, seed=4) == 500  # appends, with other request ids
    con = duck.connect(db)
    try:
        rows = con.execute(
            "SELECT provider, provider_model, input_tokens, cache_read_tokens, "
            "cache_write_tokens, output_tokens, cost_usd, status, session_id, client, agent "
            "FROM usage"
        ).fetchall()
        assert len(rows) == 3500
        sessions = con.execute(
            "SELECT count(DISTINCT session_id), count(DISTINCT client), "
            "count(DISTINCT api_key_name), count(*) FILTER (WHERE agent IS NOT NULL) FROM usage"
        ).fetchone()
    finally:
        con.close()
    assert sessions is not None
    n_sessions, n_clients, n_keys, sub_agent_rows = sessions
    assert 10 <= n_sessions <= 200 and n_clients >= 4 and n_keys >= 3 and sub_agent_rows > 0
    prices = {
        (provider, entry.get("id", model)): entry
        for provider, table in pricing_tables().items()
        for model, entry in table["models"].items()  # type: ignore[union-attr]
    }
    checked = 0
    for provider, pmodel, inp, cr, cw, out, cost, status, *_ in rows:
        price = prices.get((provider, pmodel))
        if status >= 400:
            assert (inp, cr, cw, out, cost) == (0, 0, 0, 0, 0.0)
        elif price is None:
            assert cost is None  # the unpriced model
        else:
            expected = (inp * price["input"] + cr * price["cache_read"]
                        + cw * price["cache_write"] + out * price["output"]) / 1e6  # fmt: skip
            assert cost == pytest.approx(expected)
            checked += 1
    assert checked > 3000 * 0.8


def test_a_bulk_load_leaves_the_gateways_indexes_and_wal(tmp_path: Path) -> None:
    """Into an empty table the generator drops the secondary indexes and the WAL while it
    writes; the file it leaves has the gateway's own indexes and journal mode."""
    import sqlite3

    from gateway.db import connect

    fresh = tmp_path / "fresh.db"
    connect(fresh).close()
    db = tmp_path / "usage.db"
    generate(db, 2000, days=1, seed=5)

    def indexes(path: Path) -> list[tuple[str, str]]:
        con = sqlite3.connect(path)
        try:
            return con.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name"
            ).fetchall()
        finally:
            con.close()

    assert indexes(db) == indexes(fresh) and len(indexes(db)) >= 4
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        plan = con.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM usage WHERE session_id = 'x' ORDER BY ts"
        ).fetchall()
        assert "usage_session_ts" in str(plan)
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        con.close()
