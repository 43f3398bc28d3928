"""The hourly cells (analytics/rollup.py) give every figure the rows give.

Each figure is computed twice over the same rows: on a connection whose `usage` is only the rows
(the queries then make cells from the matching rows on the fly) and on one that also holds the
cells table, built once and then updated incrementally (the Snapshot's path: whole hours from
the table, the hours a period cuts from the rows). Periods start and end anywhere within an
hour; rows arrive late (an old `ts`) or without a parsable `ts`. The two must be equal to the
last digit (spend is summed as whole pico-USD, so the order of addition does not matter). The
figures themselves are
checked against hand-worked answers and a plain-Python reference in test_analytics_queries.py
and test_analytics_sessions.py, through the Snapshot as well.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from analytics import duck, rollup
from analytics import queries as q
from analytics.prices import load_prices
from tests.analytics_fixtures import row
from tests.test_analytics_queries import _memory_usage, random_row

_spec = importlib.util.spec_from_file_location(
    "gen_usage", Path(__file__).resolve().parent.parent / "bench" / "gen_usage.py"
)
assert _spec is not None and _spec.loader is not None
gen_usage = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_usage)

PRICES: q.Prices = {
    ("anthropic", "m1"): q.Price(3.0, 0.3, 3.75, 6.0),
    ("openai", "m2"): q.Price(1.25, 0.125),
}


def figures(con: duckdb.DuckDBPyConnection, f: q.Filters, prices: q.Prices) -> dict[str, Any]:
    """Every figure of the dashboard for filters `f` (and the budget panel's, for `f.end`)."""
    out: dict[str, Any] = {
        "options": asdict(q.filter_options(con)),
        "totals": asdict(q.totals(con, f)),
        "savings": q.cache_savings(con, f, prices),
        "latency": q.latency(con, f),
        "recent_errors": q.recent_errors(con, f, limit=7),
        "latest": q.latest_requests(con, f, limit=9),
        "top_sessions": q.top_sessions(con, f, limit=6),
    }
    for bucket in ("hour", "day"):
        for split in ("provider", "model"):
            out[f"over_time {bucket} {split}"] = q.spend_over_time(
                con, f, bucket=bucket, split=split, top=2  # type: ignore[arg-type]
            )
    for by in ("model", "provider", "key", "client"):
        out[f"cost_by {by}"] = q.cost_by(con, f, by=by)  # type: ignore[arg-type]
        out[f"errors_by {by}"] = q.errors_by(con, f, by=by)  # type: ignore[arg-type]
    sessions = out["top_sessions"]["session_id"].to_list()
    for sid in sessions[:2]:
        out[f"timeline {sid}"] = q.session_timeline(con, sid)
        out[f"breakdown {sid}"] = q.session_breakdown(con, sid)
    if f.end is not None:
        out["key_spend"] = q.key_spend(con, f.end)
    return out


def assert_latency_close(want: pl.DataFrame, got: pl.DataFrame) -> None:
    """The histogram percentiles against the rows' exact ones: the same routes and requests,
    each percentile within the documented relative error (rollup.LATENCY_ERROR)."""
    assert got.columns == want.columns and got.schema == want.schema
    assert_frame_equal(got.select("provider", "model", "requests"),
                       want.select("provider", "model", "requests"))  # fmt: skip
    for column in want.columns[3:]:
        for exact, approx in zip(want[column], got[column], strict=True):
            if exact is None:
                assert approx is None, column
            else:
                assert approx is not None, column
                assert abs(approx - exact) <= rollup.LATENCY_ERROR * abs(exact) + 1e-9, (
                    column, exact, approx,
                )


def assert_same(rows: dict[str, Any], cells: dict[str, Any]) -> None:
    assert rows.keys() == cells.keys()
    for name, want in rows.items():
        got = cells[name]
        if name == "latency" and rollup.LATENCY_ERROR:
            assert_latency_close(want, got)
        elif isinstance(want, pl.DataFrame):
            assert_frame_equal(got, want), name
        else:
            assert got.keys() == want.keys(), name
            for key, value in want.items():
                assert got[key] == value, f"{name}.{key}"


def with_cells(
    rows: list[dict[str, Any]], first: int, *, merge_latency: bool = True
) -> duckdb.DuckDBPyConnection:
    """The rows in memory, with cells made from the first `first` and then updated with the
    rest, as a Snapshot's refreshes do (merging the latency entries, or not)."""
    con = _memory_usage(rows)
    con.execute(f"CREATE TABLE {rollup.TABLE} AS {rollup.cells_sql(f'WHERE id <= {first}')}")
    con.execute(
        f"CREATE TABLE {rollup.LATENCY_TABLE} AS {rollup.latency_sql(f'WHERE id <= {first}')}"
    )
    rollup.update(con, first, latency_merge_after=None if merge_latency else -1)
    return con


when = st.integers(0, 3 * 24 * 60 * 60).map(lambda s: datetime(2026, 11, 1) + timedelta(seconds=s))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        random_row.map(lambda r: {**r, "session_id": f"s{r['output_tokens'] % 3}"}), max_size=40
    ),
    split=st.integers(0, 40),
    start=st.one_of(st.none(), when),
    length=st.one_of(st.none(), st.integers(1, 3 * 24 * 60 * 60)),
    providers=st.lists(st.sampled_from(["anthropic", "openai"]), max_size=1, unique=True),
)
def test_cells_give_the_figures_of_the_rows(
    rows: list[dict[str, Any]],
    split: int,
    start: datetime | None,
    length: int | None,
    providers: list[str],
) -> None:
    end = None if length is None else (start or datetime(2026, 11, 1)) + timedelta(seconds=length)
    f = q.Filters(start=start, end=end, providers=tuple(providers))
    plain = _memory_usage(rows)
    cells = with_cells(rows, min(split, len(rows)))
    assert not rollup.present(plain) and rollup.present(cells)
    assert_same(figures(plain, f, PRICES), figures(cells, f, PRICES))


def test_merged_cells_are_one_per_hour_and_values() -> None:
    rows = [row(f"2026-11-01T10:{m:02d}:00.000Z", cost_usd=0.5) for m in range(0, 60, 5)]
    con = with_cells(rows, 4)
    dims = ", ".join(("hour", *rollup.DIMS))
    dupes = con.execute(
        f"SELECT count(*) FROM (SELECT {dims} FROM {rollup.TABLE} GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()
    assert dupes == (0,)
    assert con.execute(f"SELECT sum(requests), sum(spend_pico) FROM {rollup.TABLE}").fetchone() == (
        12,
        6 * 10**12,
    )


# --- the Snapshot keeps its cells with its copy ---------------------------------------------


def _plain_copy(snap: duck.Snapshot) -> duckdb.DuckDBPyConnection:
    """A connection whose `usage` is the snapshot's rows and nothing else."""
    rows = snap.con.execute("SELECT * FROM usage").arrow()  # noqa: F841 (read by DuckDB below)
    con = duck.new_connection()
    con.execute("CREATE TABLE usage AS SELECT * FROM rows")
    return con


def _append(db: Path, rows: list[dict[str, Any]], start: int) -> None:
    from tests.test_analytics_sessions import append

    append(db, rows, start)


def test_a_snapshot_refreshed_step_by_step_gives_the_figures_of_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    end = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
    gen_usage.generate(db, 4000, days=2, end=end, seed=5)
    prices = load_prices(gen_usage.write_pricing(tmp_path / "pricing")).prices
    snap = duck.Snapshot(db)
    try:
        snap.refresh()
        periods = [
            q.Filters(),
            q.Filters(start=datetime(2026, 11, 19, 7, 41, 13)),
            q.Filters(start=datetime(2026, 11, 18, 23, 5), end=datetime(2026, 11, 20, 3, 17)),
            q.Filters(start=datetime(2026, 11, 19, 5, 10), end=datetime(2026, 11, 19, 5, 50)),
            q.Filters(start=datetime(2026, 11, 19, 5, 10), end=datetime(2026, 11, 19, 6, 50)),
        ]
        others = [
            q.Filters(start=datetime(2026, 11, 19, 1, 30), keys=("ci", q.NO_KEY)),
            q.Filters(clients=("claude-code",), models=("claude-sonnet-4-6",)),
            q.Filters(providers=("openai",), client_formats=("responses",)),
        ]
        for step in range(3):
            plain = _plain_copy(snap)
            for f in periods + others:
                assert_same(figures(plain, f, prices), figures(snap.con, f, prices))
            one = q.top_sessions(plain, q.Filters(), limit=1)["session_id"][0]
            f = q.Filters(sessions=(one,), start=datetime(2026, 11, 19, 12, 0, 1))
            assert_same(figures(plain, f, prices), figures(snap.con, f, prices))
            plain.close()
            # more rows: new ones in the current hour, late ones in old hours, unparsable times
            gen_usage.generate(db, 300, days=0.05, end=end + timedelta(minutes=step), seed=10 + step)
            _append(
                db,
                [
                    row("2026-11-19T05:20:00.000Z", cost_usd=0.25, api_key_name="ci"),
                    row("not a time", cost_usd=1.0, status=500, error="boom"),
                    row("2026-11-19T07:41:13.000Z", cost_usd=0.125, session_id=one),
                ],
                start=10 * step,
            )
            assert snap.refresh() == 303
    finally:
        snap.close()


# --- latency histograms: percentiles within the documented bound -----------------------------

latency_value = st.one_of(
    st.none(),
    st.just(0.0),
    st.floats(0.001, 1e6, allow_nan=False),
)  # times are never negative (the bound holds for values of one sign)


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(
        st.tuples(
            latency_value,
            latency_value,
            st.sampled_from(["anthropic", "openai", None]),
            st.integers(0, 5 * 24 * 60),
            st.sampled_from([200, 200, 200, 500]),
        ),
        max_size=60,
    ),
    split=st.integers(0, 60),
    start=st.one_of(st.none(), st.integers(0, 5 * 24 * 60)),
    length=st.one_of(st.none(), st.integers(1, 5 * 24 * 60)),
)
def test_histogram_percentiles_are_within_the_bound(
    values: list[tuple[float | None, float | None, str | None, int, int]],
    split: int,
    start: int | None,
    length: int | None,
) -> None:
    base = datetime(2026, 11, 1, 3, 17)
    rows = [
        row(
            f"{base + timedelta(minutes=minute):%Y-%m-%dT%H:%M:%S}.000Z",
            provider=provider,
            model="m1" if provider else None,
            status=status,
            ttft_ms=ttft,
            latency_ms=total,
        )
        for ttft, total, provider, minute, status in values
    ]
    lo = None if start is None else base + timedelta(minutes=start)
    hi = None if length is None else (lo or base) + timedelta(minutes=length)
    f = q.Filters(start=lo, end=hi)
    exact = q.latency(_memory_usage(rows), f)
    cells = with_cells(rows, min(split, len(rows)), merge_latency=split % 2 == 0)
    assert_latency_close(exact, q.latency(cells, f))


def test_histogram_percentiles_are_approximate_but_close() -> None:
    """The bound is not vacuous: values inside one bin come back as its representative."""
    rows = [row("2026-11-01T10:00:00.000Z", latency_ms=v, ttft_ms=v) for v in (1000.0, 1004.0)]
    exact = q.latency(_memory_usage(rows), q.Filters())
    approx = q.latency(with_cells(rows, 2), q.Filters())
    assert exact["latency_p50_ms"][0] == 1002.0
    assert approx["latency_p50_ms"][0] != 1002.0
    assert_latency_close(exact, approx)
    assert rollup.LATENCY_ERROR < 0.01


# --- a first copy in two steps: cells now, rows in the background -----------------------------


def test_cells_first_then_rows_in_the_background(tmp_path: Path, monkeypatch: Any) -> None:
    """While the rows are still on their way (the background copy held back here), every
    figure but the latency percentiles is already the rows' own (the rows the copy lacks are
    read from the file), latency says it waits; new rows may arrive meanwhile; once the copy is
    done every figure is the rows' own, latency included."""
    db = tmp_path / "usage.db"
    end = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
    gen_usage.generate(db, 4000, days=2, end=end, seed=5)
    prices = load_prices(gen_usage.write_pricing(tmp_path / "pricing")).prices
    snap = duck.Snapshot(db, background=True)
    reference = duck.Snapshot(db)
    periods = [
        q.Filters(),
        q.Filters(start=datetime(2026, 11, 19, 7, 41, 13)),
        q.Filters(start=datetime(2026, 11, 18, 23, 5), end=datetime(2026, 11, 20, 3, 17)),
        q.Filters(start=datetime(2026, 11, 19, 5, 10), end=datetime(2026, 11, 19, 5, 50)),
        q.Filters(start=datetime(2026, 11, 19, 1, 30), keys=("ci", q.NO_KEY)),
    ]
    try:
        assert snap.refresh() == 4000 and snap.copying and snap.rows == 4000
        assert snap.con.execute("SELECT count(*) FROM usage").fetchone() == (0,)
        for step in range(3):
            reference.refresh()
            plain = _plain_copy(reference)
            one = q.top_sessions(plain, q.Filters(), limit=1)["session_id"][0]
            for f in [*periods, q.Filters(sessions=(one,))]:
                want = figures(plain, f, prices)
                with pytest.raises(q.StillCopying):
                    q.latency(snap.con, f)
                monkeypatch.setattr(q, "latency", lambda con, f: "waits")
                try:
                    got = figures(snap.con, f, prices)
                finally:
                    monkeypatch.undo()
                assert got.pop("latency") == "waits"
                want.pop("latency")
                assert_same(want, got)
            plain.close()
            gen_usage.generate(db, 200, days=0.05, end=end + timedelta(minutes=step), seed=10 + step)
            assert snap.refresh() == 200
        snap.copy_pending()  # what the background thread does
        assert not snap.copying and snap.rows == 4600
        reference.refresh()
        plain = _plain_copy(reference)
        for f in periods:
            assert_same(figures(plain, f, prices), figures(snap.con, f, prices))
        assert_frame_equal(
            snap.con.execute("SELECT * FROM usage ORDER BY id").pl(),
            plain.execute("SELECT * FROM usage ORDER BY id").pl(),
        )
        plain.close()
        gen_usage.generate(db, 100, days=0.05, end=end + timedelta(minutes=5), seed=20)
        assert snap.refresh() == 100 and reference.refresh() == 100
        plain = _plain_copy(reference)
        for f in periods:
            assert_same(figures(plain, f, prices), figures(snap.con, f, prices))
    finally:
        snap.close()
        reference.close()


def test_a_copy_left_half_done_resumes_in_the_background(tmp_path: Path) -> None:
    """A dashboard stopped during its first copy leaves cells without their rows in its kept
    file; the next start reports the same rows at once and finishes the copy in its thread."""
    db = tmp_path / "usage.db"
    gen_usage.generate(db, 3000, days=2, end=datetime(2026, 11, 20, 12, 30, tzinfo=UTC), seed=6)
    cache = tmp_path / "cache"
    first = duck.Snapshot(db, cache=cache, background=True)
    assert first.refresh() == 3000 and first.copying
    first.close()
    again = duck.Snapshot(db, cache=cache)
    reference = duck.Snapshot(db)
    try:
        assert again.copying and again.rows == 3000 and again.last_id == 3000
        assert again.refresh() == 0 and again.copying  # nothing new, nothing copied yet
        again.copy_in_background()
        again.wait()
        assert not again.copying
        reference.refresh()
        plain = _plain_copy(reference)
        f = q.Filters(start=datetime(2026, 11, 19, 7, 41, 13))
        assert_same(figures(plain, f, PRICES), figures(again.con, f, PRICES))
        assert again.con.execute("SELECT count(*) FROM usage").fetchone() == (3000,)
    finally:
        again.close()
        reference.close()
