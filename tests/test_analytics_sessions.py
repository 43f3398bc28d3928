"""The Sessions view's queries and the key / client / session filters, on rows with known
answers (tests/analytics_sessions_fixtures.py), through both the live view and the snapshot;
and the incremental snapshot: a refresh copies exactly the rows added since the last one."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from analytics import duck
from analytics import queries as q
from gateway.db import connect, insert_sql
from tests.analytics_fixtures import KNOWN, row, write_usage
from tests.analytics_sessions_fixtures import SESSIONS

ALL = q.Filters()


@pytest.fixture(scope="module")
def sessions_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_usage(tmp_path_factory.mktemp("sessions") / "usage.db", SESSIONS)


@pytest.fixture(params=["live", "snapshot"])
def con(request: pytest.FixtureRequest, sessions_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    opener = duck.connect if request.param == "live" else duck.snapshot
    connection = opener(sessions_db)
    yield connection
    connection.close()


# --- most expensive sessions ----------------------------------------------------------------


def test_top_sessions(con: duckdb.DuckDBPyConnection) -> None:
    top = q.top_sessions(con, ALL)
    assert top["session_id"].to_list() == ["s-B", "s-A", "s-C"]  # the curl row has no session
    b, a, c = top.rows(named=True)
    assert (b["client"], b["key"], b["requests"], b["failed"]) == ("codex", "bob", 3, 1)
    assert b["spend_usd"] == pytest.approx(0.8)
    assert b["cache_hit_rate"] == pytest.approx(1500 / 4000)
    assert b["duration_s"] == pytest.approx(600.0)
    assert b["models"] == "gpt-5.1-codex" and b["agents"] == 1
    assert (a["client"], a["key"], a["requests"], a["failed"]) == ("claude-code", "alice", 4, 0)
    assert a["spend_usd"] == pytest.approx(0.075)
    assert a["prompt_tokens"] == 29160 and a["cache_read_tokens"] == 18500
    assert a["cache_hit_rate"] == pytest.approx(18500 / 29160)
    assert a["duration_s"] == pytest.approx(300.0)
    assert a["models"] == "claude-haiku-4-5, claude-sonnet-4-6"
    assert (c["key"], c["cache_hit_rate"], c["duration_s"]) == (q.NO_KEY, 0.0, 0.0)
    assert q.top_sessions(con, ALL, limit=1)["session_id"].to_list() == ["s-B"]


def test_filters_by_key_client_and_session(con: duckdb.DuckDBPyConnection) -> None:
    alice = q.Filters(keys=("alice",))
    assert q.top_sessions(con, alice)["session_id"].to_list() == ["s-A"]
    t = q.totals(con, alice)
    assert (t.requests, t.spend_usd) == (5, pytest.approx(0.077))
    assert q.totals(con, q.Filters(keys=(q.NO_KEY,))).requests == 1  # the NULL key, by label
    assert q.top_sessions(con, q.Filters(clients=("codex",)))["session_id"].to_list() == ["s-B"]
    t = q.totals(con, q.Filters(sessions=("s-A",)))
    assert (t.requests, t.spend_usd, t.cache_read_tokens) == (4, pytest.approx(0.075), 18500)
    both = q.Filters(keys=("alice",), clients=("curl",))
    assert q.totals(con, both).spend_usd == pytest.approx(0.002)


def test_spend_by_key_and_client(con: duckdb.DuckDBPyConnection) -> None:
    by_key = q.cost_by(con, ALL, by="key")
    assert by_key["key"].to_list() == ["bob", "alice", q.NO_KEY]
    assert by_key["requests"].to_list() == [3, 5, 1]
    assert by_key["spend_usd"].to_list() == pytest.approx([0.8, 0.077, 0.001])
    by_client = q.cost_by(con, ALL, by="client")
    assert by_client["key"].to_list() == ["codex", "claude-code", "curl", "openai-python"]
    assert by_client["spend_usd"].to_list() == pytest.approx([0.8, 0.075, 0.002, 0.001])
    assert sum(by_client["share"]) == pytest.approx(1.0)


def test_filter_options_list_keys_and_clients(con: duckdb.DuckDBPyConnection) -> None:
    options = q.filter_options(con)
    assert options.keys == (q.NO_KEY, "alice", "bob")
    assert options.clients == ("claude-code", "codex", "curl", "openai-python")


# --- one session ----------------------------------------------------------------------------


def test_session_timeline(con: duckdb.DuckDBPyConnection) -> None:
    tl = q.session_timeline(con, "s-A")
    assert tl["turn"].to_list() == [1, 2, 3, 4]
    assert tl["agent"].to_list() == [q.MAIN_AGENT, q.MAIN_AGENT, "Explore", q.MAIN_AGENT]
    assert tl["model"].to_list()[2] == "claude-haiku-4-5"
    assert tl["cumulative_usd"].to_list() == pytest.approx([0.04, 0.06, 0.065, 0.075])
    assert tl["cache_hit_rate"].to_list() == pytest.approx(
        [0.0, 9000 / 9550, 0.0, 9500 / 9510]
    )  # the first turn writes the cache, the later main turns read it
    failed = q.session_timeline(con, "s-B")
    assert failed["status"].to_list() == [200, 429, 200]
    assert failed["cache_hit_rate"][1] is None  # a request with no prompt has no rate
    assert q.session_timeline(con, "nope").height == 0


def test_session_breakdown(con: duckdb.DuckDBPyConnection) -> None:
    parts = q.session_breakdown(con, "s-A")
    assert parts.select("model", "agent", "requests").rows() == [
        ("claude-sonnet-4-6", q.MAIN_AGENT, 3),
        ("claude-haiku-4-5", "Explore", 1),
    ]
    assert parts["spend_usd"].to_list() == pytest.approx([0.07, 0.005])
    assert parts["share"].to_list() == pytest.approx([0.07 / 0.075, 0.005 / 0.075])
    assert parts["cache_hit_rate"].to_list() == pytest.approx([18500 / 28160, 0.0])


# --- incremental snapshot -------------------------------------------------------------------


def append(db: Path, rows: list[dict], start: int) -> None:
    from gateway.db import USAGE_COLUMNS

    con = connect(db)
    try:
        con.executemany(
            insert_sql(),
            [
                tuple({"request_id": f"new-{start + i}", **r}.get(c) for c in USAGE_COLUMNS)
                for i, r in enumerate(rows)
            ],
        )
    finally:
        con.close()


def test_refresh_copies_only_the_new_rows(tmp_path: Path) -> None:
    db = write_usage(tmp_path / "usage.db", KNOWN)
    snap = duck.Snapshot(db)
    try:
        assert snap.refresh() == 8 and snap.last_id == 8
        assert snap.refresh() == 0
        # enough rows for the by-id path (under FULL_SCAN_SHARE of the table) and the scan path
        append(db, [row("2026-11-04T00:00:00.000Z", cost_usd=1.0)], 0)
        assert snap.refresh() == 1
        append(db, [row("2026-11-05T00:00:00.000Z", cost_usd=0.5)] * 20, 1)
        assert snap.refresh() == 20
        t = q.totals(snap.con, ALL)
        assert (t.requests, t.spend_usd) == (29, pytest.approx(3.875 + 1.0 + 10.0))
        ids = snap.con.execute("SELECT count(DISTINCT id), max(id) FROM usage").fetchone()
        assert ids == (29, 29)  # no row twice, none missing
    finally:
        snap.close()
    assert not snap.path.exists()  # a temporary copy goes with close()


def test_a_cached_snapshot_survives_the_process_and_catches_up(tmp_path: Path) -> None:
    db = write_usage(tmp_path / "usage.db", KNOWN)
    cache = tmp_path / "cache"
    first = duck.Snapshot(db, cache=cache)
    first.refresh()
    first.close()
    assert first.path.exists() and first.path.parent == cache
    append(db, [row("2026-11-04T00:00:00.000Z", cost_usd=1.0)], 0)
    again = duck.Snapshot(db, cache=cache)
    try:
        assert again.rows == 8  # what the last run copied, before reading the file
        assert again.refresh() == 1
        assert q.totals(again.con, ALL).spend_usd == pytest.approx(4.875)
        # a second process (here: a second Snapshot) cannot share the file: it gets its own
        other = duck.Snapshot(db, cache=cache)
        assert other.path != again.path and other.refresh() == 9
        other.close()
    finally:
        again.close()


def test_a_replaced_database_is_copied_again(tmp_path: Path) -> None:
    db = write_usage(tmp_path / "usage.db", KNOWN)
    snap = duck.Snapshot(db)
    try:
        snap.refresh()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        # a new database, longer than the old one, with other request ids
        write_usage(db, [row("2026-12-01T00:00:00.000Z", request_id=f"x{i}") for i in range(9)])
        assert snap.refresh() == 9
        assert q.totals(snap.con, ALL).requests == 9
    finally:
        snap.close()


def test_shared_snapshot_serves_threads_through_cursors(tmp_path: Path) -> None:
    db = write_usage(tmp_path / "usage.db", SESSIONS)
    snap = duck.shared_snapshot(db)
    assert duck.shared_snapshot(db) is snap
    snap.refresh()
    seen: list[int] = []

    def read() -> None:
        cur = snap.cursor()
        seen.append(q.totals(cur, ALL).requests)
        cur.close()

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert seen == [9, 9, 9, 9]


def test_refresh_of_a_missing_file_keeps_the_copy(tmp_path: Path) -> None:
    db = write_usage(tmp_path / "usage.db", KNOWN)
    snap = duck.Snapshot(db)
    try:
        snap.refresh()
        moved = tmp_path / "moved.db"
        db.rename(moved)
        with pytest.raises(duck.DatabaseMissing):
            snap.refresh()
        assert q.totals(snap.con, ALL).requests == 8
        # nothing left attached to the (now gone) file
        assert sqlite3.connect(moved).execute("SELECT count(*) FROM usage").fetchone() == (8,)
    finally:
        snap.close()
