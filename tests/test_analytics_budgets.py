"""Spend per key against its budget (the dashboard's budget panel): the windowed spend query on
rows with hand-worked answers, through the live view and the snapshot; the budgets read from
ekai.yaml's `auth` without the keys' environment variables; and the rows the panel shows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from analytics import duck
from analytics import queries as q
from analytics.budgets import GATEWAY, KeyBudgets, budget_rows, load_budgets
from tests.analytics_fixtures import row, write_usage

NOW = datetime(2026, 11, 15, 12, 0)  # naive UTC, as the dashboard passes it
BIG = 2**53 + 1  # pico-USD a float cannot hold exactly (~$9007.20)

# (key, ts, cost_pico_usd). The windows: today = 2026-11-15, this month = 2026-11 (UTC).
SPEND_ROWS = [
    ("alice", "2026-11-15T00:00:00.000Z", 1_000_000_000_001),  # first ms of today
    ("alice", "2026-11-15T01:00:00.000Z", BIG),  # today
    ("alice", "2026-11-14T23:59:59.999Z", 2_000_000_000_000),  # this month, yesterday
    ("alice", "2026-10-31T23:59:59.999Z", 5_000_000_000_000),  # last month: never counted
    ("alice", "2026-11-15T02:00:00.000Z", None),  # no price: counts nothing
    ("bob", "2026-11-15T23:59:59.999Z", 300_000_000_000),  # last ms of today
    ("bob", "2026-12-01T00:00:00.000Z", 9_000_000_000_000),  # next month: never counted
    (None, "2026-11-15T10:00:00.000Z", 40_000_000_000),  # no key
    ("ci", "2026-11-01T00:00:00.000Z", 7),  # first ms of the month
]
# By hand from the table above:
ALICE_TODAY = 1_000_000_000_001 + BIG  # 9_008_199_254_740_994
ALICE_MONTH = ALICE_TODAY + 2_000_000_000_000  # 9_010_199_254_740_994
BOB = 300_000_000_000
NOKEY = 40_000_000_000
CI_MONTH = 7

CONFIG = """\
usage:
  database: usage.db
providers:
  openai: {format: openai, base_url: 12}   # wrong, and no api key: must not matter here
auth:
  keys:
    alice:
      env: EKAI_KEY_ALICE_NOT_SET
      budget: {daily_usd: 10000, monthly_usd: 20000}
    bob: EKAI_KEY_BOB_NOT_SET
    ci:
      env: EKAI_KEY_CI_NOT_SET
      budget: {daily_usd: 5}
      limits: {rpm: 10}
  budget: {monthly_usd: 50000}
"""


def spend_rows() -> list[dict]:
    return [
        row(ts, api_key_name=key, cost_pico_usd=pico, cost_usd=None if pico is None else pico / 1e12)
        for key, ts, pico in SPEND_ROWS
    ]


@pytest.fixture(scope="module")
def spend_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_usage(tmp_path_factory.mktemp("budgets") / "usage.db", spend_rows())


@pytest.fixture(params=["live", "snapshot"])
def con(request: pytest.FixtureRequest, spend_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    opener = duck.connect if request.param == "live" else duck.snapshot
    connection = opener(spend_db)
    yield connection
    connection.close()


# --- the query --------------------------------------------------------------------------------


def test_key_spend_counts_the_utc_day_and_month_exactly(con: duckdb.DuckDBPyConnection) -> None:
    spend = q.key_spend(con, NOW)
    got = {r["key"]: (r["today_pico"], r["month_pico"]) for r in spend.iter_rows(named=True)}
    assert got == {
        "alice": (ALICE_TODAY, ALICE_MONTH),
        "bob": (BOB, BOB),
        q.NO_KEY: (NOKEY, NOKEY),
        "ci": (0, CI_MONTH),
    }
    assert spend["key"].to_list() == ["alice", "bob", q.NO_KEY, "ci"]  # month spend, largest first


def test_key_spend_windows_follow_now(con: duckdb.DuckDBPyConnection) -> None:
    # the last ms of October: only alice's October row; an aware `now` is read as UTC
    october = q.key_spend(con, datetime(2026, 10, 31, 23, 59, 59, 999000, tzinfo=UTC))
    assert october.to_dicts() == [{"key": "alice", "today_pico": 5_000_000_000_000,
                                   "month_pico": 5_000_000_000_000}]  # fmt: skip
    # 1 December: bob's December row is today's and the month's; nothing from November
    december = q.key_spend(con, datetime(2026, 12, 1, 8))
    assert december.to_dicts() == [{"key": "bob", "today_pico": 9_000_000_000_000,
                                     "month_pico": 9_000_000_000_000}]  # fmt: skip
    assert q.key_spend(con, datetime(2027, 1, 1)).height == 0


# --- budgets from ekai.yaml -------------------------------------------------------------------


def test_load_budgets_reads_auth_without_the_keys_env(tmp_path: Path) -> None:
    config = tmp_path / "ekai.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    budgets = load_budgets(config)
    assert budgets.found and budgets.problems == ()
    assert [name for name, _ in budgets.keys] == ["alice", "bob", "ci"]
    alice, bob, ci = (b for _, b in budgets.keys)
    assert alice is not None and (alice.daily_pico, alice.monthly_pico) == (10**16, 2 * 10**16)
    assert bob is None
    assert ci is not None and (ci.daily_pico, ci.monthly_pico) == (5 * 10**12, None)
    assert budgets.gateway is not None and budgets.gateway.monthly_pico == 5 * 10**16


def test_load_budgets_reports_a_bad_value_and_keeps_the_rest(tmp_path: Path) -> None:
    config = tmp_path / "ekai.yaml"
    config.write_text(CONFIG.replace("daily_usd: 5}", "daily_usd: -5}"), encoding="utf-8")
    budgets = load_budgets(config)
    assert len(budgets.problems) == 1
    assert budgets.problems[0].startswith("ekai.yaml:13: auth.keys.ci.budget.daily_usd")
    assert dict(budgets.keys)["alice"] is not None


def test_load_budgets_without_auth_or_file(tmp_path: Path) -> None:
    config = tmp_path / "ekai.yaml"
    config.write_text("usage:\n  database: usage.db\n", encoding="utf-8")
    assert load_budgets(config) == KeyBudgets()
    missing = load_budgets(tmp_path / "none.yaml")
    assert not missing.found and missing.problems


# --- the panel's rows -------------------------------------------------------------------------


def test_budget_rows(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    config = tmp_path / "ekai.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    rows = {r["key"]: r for r in budget_rows(q.key_spend(con, NOW), load_budgets(config)).to_dicts()}
    assert list(rows) == ["alice", "bob", "ci", GATEWAY]  # the file's order, then the gateway
    alice, bob, ci, total = rows["alice"], rows["bob"], rows["ci"], rows[GATEWAY]
    assert (alice["today_pico"], alice["month_pico"]) == (ALICE_TODAY, ALICE_MONTH)
    assert alice["today_usd"] == pytest.approx(9008.199254740994)
    assert alice["daily_budget_usd"] == 10000.0 and alice["monthly_budget_usd"] == 20000.0
    assert alice["daily_used"] == pytest.approx(9008.199254740994 / 10000)
    assert alice["monthly_used"] == pytest.approx(9010.199254740994 / 20000)
    # no budget: spend only
    assert bob["today_usd"] == pytest.approx(0.3) and bob["month_usd"] == pytest.approx(0.3)
    assert bob["daily_budget_usd"] is None and bob["daily_used"] is None
    assert bob["monthly_used"] is None
    # a daily budget only, nothing spent today
    assert (ci["today_pico"], ci["daily_used"], ci["month_pico"]) == (0, 0.0, CI_MONTH)
    assert ci["monthly_budget_usd"] is None and ci["monthly_used"] is None
    # the whole gateway: every key and no key
    assert total["today_pico"] == ALICE_TODAY + BOB + NOKEY
    assert total["month_pico"] == ALICE_MONTH + BOB + NOKEY + CI_MONTH
    assert total["daily_budget_usd"] is None
    assert total["monthly_used"] == pytest.approx((ALICE_MONTH + BOB + NOKEY + CI_MONTH) / 5e16)


def test_budget_rows_without_a_gateway_budget_or_spend() -> None:
    import polars as pl

    empty = pl.DataFrame(schema={"key": pl.String, "today_pico": pl.Int64, "month_pico": pl.Int64})
    frame = budget_rows(empty, KeyBudgets(True, (("laptop", None),), None))
    assert frame.to_dicts()[0]["key"] == "laptop" and frame.height == 1
    assert (frame["today_pico"][0], frame["month_usd"][0]) == (0, 0.0)
    assert budget_rows(empty, KeyBudgets()).height == 0
