"""The marimo dashboard, headless: exported to HTML by `marimo export html` (which exits non-zero
when any cell fails) and run in-process with `app.run()`, on a populated, an empty and a missing
database; plus its small helper functions."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from analytics import duck
from analytics.dashboard import (
    app,
    cell_format,
    count,
    money,
    parse_args,
    period_bounds,
    pick_bucket,
)
from tests.analytics_fixtures import KNOWN, row, write_config, write_usage
from tests.analytics_sessions_fixtures import SESSIONS

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "analytics" / "dashboard.py"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Snapshots are kept in a per-test folder, never in the user's ~/.cache."""
    monkeypatch.setenv("EKAI_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def with_sessions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ekai.yaml naming a database holding the SESSIONS rows."""
    folder = tmp_path_factory.mktemp("dash-sessions")
    write_usage(folder / "usage.db", SESSIONS)
    return write_config(folder)


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ekai.yaml with price tables, naming a database holding the KNOWN rows."""
    folder = tmp_path_factory.mktemp("dash")
    write_usage(folder / "usage.db", KNOWN)
    return write_config(folder)


def export(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    out = tmp_path / "out.html"
    done = subprocess.run(
        [sys.executable, "-m", "marimo", "export", "html", str(DASHBOARD), "-o", str(out),
         "--", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    return done, out.read_text(encoding="utf-8") if out.exists() else ""


# --- headless export --------------------------------------------------------------------------


def test_export_populated(populated: Path, tmp_path: Path) -> None:
    done, html = export(tmp_path, "--config", str(populated), "--period", "all")
    assert done.returncode == 0, done.stderr
    # the tokens KPI (1416 + 6100 + 2500 + 676), which only a cell that ran can have written
    assert "10,692" in html


def test_export_empty_database(tmp_path: Path) -> None:
    db = write_usage(tmp_path / "fresh.db", [])
    done, html = export(tmp_path, "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert str(db) in html  # the first-run message names the file


def test_export_missing_database(tmp_path: Path) -> None:
    done, html = export(tmp_path, "--db", str(tmp_path / "not-yet.db"))
    assert done.returncode == 0, done.stderr
    assert "not-yet.db" in html


# --- in-process app.run() ---------------------------------------------------------------------


def run_app(monkeypatch: pytest.MonkeyPatch, *args: str) -> dict:
    # --nice 0: the dashboard lowers its process's CPU priority, which here is pytest's own
    monkeypatch.setattr(sys, "argv", ["dashboard.py", *args, "--nice", "0"])
    _outputs, defs = app.run()
    return dict(defs)


def test_app_run_populated(populated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    defs = run_app(monkeypatch, "--config", str(populated), "--period", "all")
    assert defs["totals"].requests == 8
    assert defs["totals"].spend_usd == pytest.approx(3.875)
    assert defs["net_saved"] == pytest.approx(0.0093 + 0.001125 + 0.0029)
    assert defs["bucket_unit"] == "hour"  # auto: the data spans two days
    assert defs["over_time"]["spend_usd"].sum() == pytest.approx(3.875)
    assert defs["by_provider"].height == 4
    assert isinstance(defs["latest"], pl.DataFrame) and defs["latest"].height == 8
    assert defs["recent"].height == 2


def test_app_run_sessions_view(
    with_sessions: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defs = run_app(monkeypatch, "--config", str(with_sessions), "--period", "all")
    top = defs["top_sessions"]
    assert top["session_id"].to_list() == ["s-B", "s-A", "s-C"]
    assert top["spend_usd"].to_list() == pytest.approx([0.8, 0.075, 0.001])
    assert top["cache_hit_rate"].to_list() == pytest.approx([0.375, 18500 / 29160, 0.0])
    # the timeline shows the table's selection, by default its first (most expensive) row
    assert defs["chosen_session"] == "s-B"
    assert defs["timeline"]["cumulative_usd"].to_list() == pytest.approx([0.5, 0.5, 0.8])
    assert defs["breakdown"]["agent"].to_list() == ["(main)", "explorer"]
    assert defs["by_key"]["key"].to_list() == ["bob", "alice", "(no key)"]
    assert defs["by_client"]["spend_usd"].to_list() == pytest.approx([0.8, 0.075, 0.002, 0.001])
    assert list(cache_dir.glob("snapshot-usage-*.duckdb"))  # the copy is kept for next time


def test_export_sessions_view(with_sessions: Path, tmp_path: Path) -> None:
    done, html = export(tmp_path, "--config", str(with_sessions), "--period", "all")
    assert done.returncode == 0, done.stderr
    assert "Session timeline" in html and "s-B" in html and "Cost by gateway key" in html


def test_app_run_finds_the_database_through_ekai_yaml(
    populated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EKAI_CONFIG", raising=False)
    monkeypatch.chdir(populated.parent)  # ./ekai.yaml names usage.db beside it
    defs = run_app(monkeypatch, "--period", "all")
    assert defs["db_path"] == (populated.parent / "usage.db").resolve()
    assert defs["totals"].requests == 8
    assert len(defs["price_book"].prices) == 4  # three tables, one model listed by name and id


def test_app_run_stops_with_a_message_when_empty_or_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = write_usage(tmp_path / "empty.db", [])
    defs = run_app(monkeypatch, "--db", str(empty))
    assert defs["problem"] is None and defs["everything"].requests == 0
    assert "con" not in defs and "totals" not in defs  # mo.stop: data cells skipped, not failed
    defs = run_app(monkeypatch, "--db", str(tmp_path / "missing.db"))
    assert defs["problem"] == "missing"
    assert "totals" not in defs


def test_app_run_with_a_period_that_holds_nothing(
    populated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defs = run_app(monkeypatch, "--config", str(populated), "--period", "24h")  # rows are old
    assert defs["everything"].requests == 8
    assert defs["totals"].requests == 0
    assert "selected" not in defs and "over_time" not in defs  # stopped: "no requests match"


# --- helpers ----------------------------------------------------------------------------------


def test_parse_args_ignores_what_it_does_not_know() -> None:
    args = parse_args(["--db", "x.db", "--unknown", "1"])
    assert (args.db, args.config, args.period) == ("x.db", None, "30d")  # a file or a postgresql:// URL
    assert (args.cache, args.no_cache) == (None, False)
    assert parse_args(["--no-cache"]).no_cache
    assert parse_args(["--period", "all"]).period == "all"


def test_period_bounds() -> None:
    now = datetime(2026, 11, 27, 12)
    assert period_bounds("7d", None, now) == (now - timedelta(days=7), None)
    assert period_bounds("all", None, now) == (None, None)
    custom = (date(2026, 11, 1), date(2026, 11, 2))
    assert period_bounds("custom", custom, now) == (
        datetime(2026, 11, 1),
        datetime(2026, 11, 3),  # the end day is included
    )


def test_pick_bucket() -> None:
    now = datetime(2026, 11, 27)
    assert pick_bucket("day", now - timedelta(hours=2), None, None, now) == "day"
    assert pick_bucket("auto", now - timedelta(days=1), None, None, now) == "hour"
    assert pick_bucket("auto", now - timedelta(days=30), None, None, now) == "day"
    assert pick_bucket("auto", None, None, now - timedelta(days=2), now) == "hour"
    assert pick_bucket("auto", None, None, None, None) == "day"


def test_number_formats() -> None:
    assert money(1234.5) == "$1,234.50"
    assert money(0.00123) == "$0.0012"
    assert money(None) == "n/a"
    assert count(999) == "999"
    assert count(1_234_567) == "1.23 M"
    assert count(5_860_000_000) == "5.86 B"
    assert cell_format("error_rate", pl.Float64)(0.25) == "25.00%"
    assert cell_format("input_tokens", pl.Int64)(1234567.0) == "1,234,567"
    assert cell_format("status", pl.Int64) is None
    assert cell_format("model", pl.String) is None


# --- spend per key against its budget ---------------------------------------------------------


@pytest.fixture
def with_budgets(tmp_path: Path) -> tuple[Path, datetime]:
    """An ekai.yaml with keys and budgets (their env vars unset), naming a database with spend
    today, earlier this month (when today is not the 1st) and last month."""
    now = datetime.now(UTC)
    today = now.strftime("%Y-%m-%d")
    month_start = now.replace(day=1).strftime("%Y-%m-%d")
    last_month = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m-%d")
    rows = [
        row(f"{today}T00:00:00.000Z", api_key_name="ci", cost_pico_usd=1_250_000_000_000),
        row(f"{today}T00:00:00.001Z", api_key_name="laptop", cost_pico_usd=70_000_000_000),
        row(f"{month_start}T00:00:00.000Z", api_key_name="ci", cost_pico_usd=2_000_000_000_000),
        row(f"{last_month}T23:59:59.999Z", api_key_name="ci", cost_pico_usd=9_000_000_000_000),
    ]
    write_usage(tmp_path / "usage.db", rows)
    config = tmp_path / "ekai.yaml"
    config.write_text(
        "usage: {database: usage.db}\n"
        "auth:\n"
        "  keys:\n"
        "    laptop: EKAI_KEY_LAPTOP_UNSET\n"
        "    ci: {env: EKAI_KEY_CI_UNSET, budget: {daily_usd: 5, monthly_usd: 20}}\n"
        "  budget: {daily_usd: 10}\n",
        encoding="utf-8",
    )
    return config, now


def test_app_run_budget_panel(
    with_budgets: tuple[Path, datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, written = with_budgets
    # the period filter does not matter: the panel is today / this month whatever it selects
    defs = run_app(monkeypatch, "--config", str(config), "--period", "24h")
    if defs["now"].date() != written.date():
        pytest.skip("the UTC day changed between writing the rows and running the dashboard")
    first = written.day == 1  # then the month-start row is today's too
    table = {r["key"]: r for r in defs["budget_table"].to_dicts()}
    assert list(table) == ["laptop", "ci", "(whole gateway)"]
    ci, laptop, total = table["ci"], table["laptop"], table["(whole gateway)"]
    assert ci["today_usd"] == pytest.approx(3.25 if first else 1.25)
    assert ci["daily_used"] == pytest.approx((3.25 if first else 1.25) / 5)
    assert ci["month_usd"] == pytest.approx(3.25)
    assert ci["monthly_used"] == pytest.approx(3.25 / 20)
    assert laptop["today_usd"] == pytest.approx(0.07) and laptop["daily_used"] is None
    assert total["today_pico"] == (3_320_000_000_000 if first else 1_320_000_000_000)
    assert total["daily_used"] == pytest.approx(total["today_pico"] / 1e13)
    assert total["monthly_budget_usd"] is None


def test_app_run_budget_panel_without_auth(
    populated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defs = run_app(monkeypatch, "--config", str(populated), "--period", "all")
    assert not defs["key_budgets"].found
    assert defs["budget_table"].height == 0


def test_export_budget_panel(with_budgets: tuple[Path, datetime], tmp_path: Path) -> None:
    config, _ = with_budgets
    done, html = export(tmp_path, "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "Spend per key against its budget" in html and "whole gateway" in html


def test_app_run_budget_panel_with_a_bad_budget(
    with_budgets: tuple[Path, datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _ = with_budgets
    config.write_text(config.read_text().replace("daily_usd: 10", "daily_usd: ten"))
    defs = run_app(monkeypatch, "--config", str(config), "--period", "all")
    assert defs["key_budgets"].problems == ("ekai.yaml:6: auth.budget.daily_usd: must be a number, got 'ten'",)
    assert list(defs["budget_table"]["key"]) == ["laptop", "ci"]  # the rest still shown


def test_app_run_first_start_renders_from_cells_then_copies(
    populated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first start on a large table (here: any table) renders every figure from cells and
    the file, with the latency panel loading; its last cell asks for the background copy, after
    which the latency percentiles appear."""
    asked: list[duck.Snapshot] = []
    monkeypatch.setattr(duck, "BACKGROUND_ROWS", 1)
    monkeypatch.setattr(duck.Snapshot, "copy_in_background", lambda self: asked.append(self))
    args = ("--config", str(populated), "--period", "all", "--no-cache")
    defs = run_app(monkeypatch, *args)
    assert len(asked) == 1 and asked[0].copying
    snap = asked[0]
    try:
        assert defs["totals"].requests == 8 and defs["latest"].height == 8
        assert defs["recent"].height == 2  # rows read from the file meanwhile
        assert defs.get("lat") is None  # the latency panel says it is loading
        snap.wait()  # the copy, here rather than in a thread
        defs = run_app(monkeypatch, *args)
        assert defs["lat"]["requests"].sum() == 6 and not snap.copying
    finally:
        with duck._SHARED_LOCK:
            for key, value in list(duck._SHARED.items()):
                if value is snap:
                    del duck._SHARED[key]
        snap.close()
