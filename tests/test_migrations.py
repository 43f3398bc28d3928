"""Schema migrations: a database written by the first release upgrades itself, in place.

tests/data/usage_v1.sql is a dump of a usage.db made by the first release's gateway/db.py
(schema version 1). Each test loads it into a fresh file, so the expected rows come from that
file, not from the code under test.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from gateway import db
from tests.conftest import KEYS, write_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import ROOT, Gateway

V1_DUMP = Path(__file__).parent / "data" / "usage_v1.sql"
NEW_COLUMNS = {"session_id", "client", "client_version", "agent", "tags", "conversation_id"}


def old_database(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.executescript(V1_DUMP.read_text())
    con.close()
    return path


def read(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def columns(path: Path) -> list[str]:
    return [r[1] for r in read(path, "PRAGMA table_info(usage)")]


def test_fixture_is_the_first_release_schema(tmp_path: Path) -> None:
    old = old_database(tmp_path / "old.db")
    assert read(old, "PRAGMA user_version") == [(1,)]
    assert not NEW_COLUMNS & set(columns(old))
    assert read(old, "SELECT count(*) FROM usage") == [(5,)]


def test_old_database_gains_the_columns_and_keeps_every_row(tmp_path: Path) -> None:
    old = old_database(tmp_path / "usage.db")
    before_cols = columns(old)
    before = read(old, "SELECT * FROM usage ORDER BY id")
    inode = old.stat().st_ino

    conn = db.connect(old)
    conn.close()

    after_cols = columns(old)
    assert after_cols[: len(before_cols)] == before_cols  # old columns first, unchanged
    assert set(after_cols) - set(before_cols) == NEW_COLUMNS
    assert read(old, "PRAGMA user_version") == [(db.SCHEMA_VERSION,)]
    width = len(before_cols)
    after = read(old, "SELECT * FROM usage ORDER BY id")
    assert [r[:width] for r in after] == before  # every row, every value
    assert all(v is None for r in after for v in r[width:])  # new columns NULL on old rows
    assert old.stat().st_ino == inode  # altered in place, never rebuilt into another file
    indexes = {r[0] for r in read(old, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"usage_ts", "usage_session_ts", "usage_key_ts", "usage_conversation_ts"} <= indexes


def test_a_second_start_runs_nothing(tmp_path: Path) -> None:
    old = old_database(tmp_path / "usage.db")
    conn = db.connect(old)
    schema = read(old, "SELECT sql FROM sqlite_master ORDER BY name")
    assert db.migrate(conn) == []  # nothing left to run on the same connection
    conn.close()
    conn = sqlite3.connect(old, isolation_level=None)
    assert db.migrate(conn) == []
    conn.close()
    assert read(old, "SELECT sql FROM sqlite_master ORDER BY name") == schema


def test_fresh_database_applies_every_migration(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "new.db", isolation_level=None)
    assert db.migrate(conn) == [m.version for m in db.MIGRATIONS]
    conn.close()
    assert columns(tmp_path / "new.db") == ["id", *db.USAGE_COLUMNS]


def test_column_left_by_a_downgrade_is_not_added_twice(tmp_path: Path) -> None:
    """The first release sets user_version=1 on every start: after upgrade, downgrade, upgrade
    the file says 1 but already has the columns."""
    old = old_database(tmp_path / "usage.db")
    db.connect(old).close()
    con = sqlite3.connect(old)
    con.execute("PRAGMA user_version=1")
    con.close()
    db.connect(old).close()
    assert read(old, "PRAGMA user_version") == [(db.SCHEMA_VERSION,)]
    assert columns(old) == ["id", *db.USAGE_COLUMNS]


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch) -> None:
    old = old_database(tmp_path / "usage.db")
    before = read(old, "SELECT sql FROM sqlite_master ORDER BY name")
    broken = db.Migration(
        db.SCHEMA_VERSION + 1,
        "a step that fails half-way",
        (db.AddColumn("usage", "extra_a", "TEXT"), db.AddColumn("no_such_table", "x", "TEXT")),
    )
    monkeypatch.setattr(db, "MIGRATIONS", (*db.MIGRATIONS, broken))
    monkeypatch.setattr(db, "SCHEMA_VERSION", db.SCHEMA_VERSION + 1)
    conn = sqlite3.connect(old, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        db.migrate(conn)
    conn.close()
    assert read(old, "PRAGMA user_version") == [(1,)]  # not even migration 2 stayed
    assert read(old, "SELECT sql FROM sqlite_master ORDER BY name") == before


RACER = """
import sys, time
from pathlib import Path
go = Path(sys.argv[2])
while not go.exists():  # all racers poll one file, then start at once
    time.sleep(0.001)
from gateway import db
conn = db.connect(sys.argv[1])
print(db.SCHEMA_VERSION, flush=True)
conn.close()
"""


def test_processes_starting_at_once_all_succeed(tmp_path: Path) -> None:
    old = old_database(tmp_path / "usage.db")
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(old), str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    go.touch()
    for p in procs:
        _out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    assert columns(old) == ["id", *db.USAGE_COLUMNS]
    assert read(old, "SELECT count(*) FROM usage") == [(5,)]


@pytest.mark.parametrize("workers", [1, 2])
def test_real_gateway_upgrades_an_old_database(tmp_path: Path, fake: FakeUpstream, workers: int) -> None:
    write_config(tmp_path, fake)
    old_database(tmp_path / "usage.db")
    before = read(tmp_path / "usage.db", "SELECT * FROM usage ORDER BY id")
    gw = Gateway(tmp_path, env=KEYS, args=["--workers", str(workers)]).start()
    try:
        r = httpx.post(
            gw.url + "/v1/chat/completions",
            json={"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]},
            headers={"x-ekai-session": "after-upgrade-1", "x-ekai-tags": "team=infra"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        row = gw.row(r.headers["x-request-id"])
    finally:
        gw.stop()
    assert set(row) >= NEW_COLUMNS
    assert row["session_id"] == "after-upgrade-1" and row["tags"] == '{"team":"infra"}'
    assert row["client"] == "python-httpx" and row["client_version"] == httpx.__version__
    after = read(tmp_path / "usage.db", "SELECT * FROM usage ORDER BY id")
    assert [r[: len(before[0])] for r in after[: len(before)]] == before
    assert len(after) == len(before) + 1
    # and a restart on the upgraded file changes nothing
    schema = read(tmp_path / "usage.db", "SELECT sql FROM sqlite_master ORDER BY name")
    gw = Gateway(tmp_path, env=KEYS).start()
    gw.stop()
    assert read(tmp_path / "usage.db", "SELECT sql FROM sqlite_master ORDER BY name") == schema
    assert read(tmp_path / "usage.db", "SELECT count(*) FROM usage") == [(len(before) + 1,)]


def test_session_and_key_lookups_use_the_partial_indexes(tmp_path: Path) -> None:
    old = old_database(tmp_path / "usage.db")
    db.connect(old).close()
    plans = {
        "usage_session_ts": "SELECT * FROM usage WHERE session_id = ? ORDER BY ts",
        "usage_key_ts": "SELECT sum(cost_pico_usd) FROM usage WHERE api_key_name = ? AND ts >= ?",
    }
    for index, sql in plans.items():
        plan = " ".join(str(r[3]) for r in read(old, "EXPLAIN QUERY PLAN " + sql, ("x",) * sql.count("?")))
        assert index in plan, plan


def test_a_starter_waits_for_a_long_migration_beyond_the_usual_lock_wait(tmp_path: Path) -> None:
    """Another process holding the write lock longer than the connection's own busy timeout
    (as an index build over millions of old rows does) delays a starter; it does not fail it."""
    old = old_database(tmp_path / "usage.db")
    holder = sqlite3.connect(old, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    waiter = sqlite3.connect(old, isolation_level=None, timeout=0.05, check_same_thread=False)
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(_try(db.migrate, waiter)))
    thread.start()
    deadline = time.monotonic() + 1.0  # hold the lock 20 times the waiter's own timeout
    while time.monotonic() < deadline and thread.is_alive():
        thread.join(0.05)
    assert thread.is_alive(), f"gave up while the lock was held: {outcome}"
    holder.execute("COMMIT")
    thread.join(30)
    assert outcome == [list(range(2, db.SCHEMA_VERSION + 1))]
    assert waiter.execute("PRAGMA busy_timeout").fetchone()[0] == 50  # its own wait is back
    waiter.close()
    holder.close()


def _try(fn, *args):
    try:
        return fn(*args)
    except Exception as exc:  # reported through `outcome`
        return exc


def test_a_version_3_database_with_its_conversation_tables_keeps_them(tmp_path: Path) -> None:
    """The previous release created the conversation tables outside the migrations (CREATE TABLE
    IF NOT EXISTS at store open) and recorded version 3. Migration 4 now owns them: on such a file
    it changes nothing in them, keeps their rows, and records version 4; a new file gets them."""
    path = tmp_path / "usage.db"
    conn = db.connect(path)  # today's schema ...
    for table in ("conversation_items", "conversations", "stored_responses"):  # ... taken back to 3,
        conn.execute(f"DROP TABLE {table}")
    conn.execute(  # ... with the tables as the previous release wrote them (its DDL, verbatim)
        "CREATE TABLE conversations (id TEXT PRIMARY KEY, owner TEXT, created REAL NOT NULL, "
        "updated REAL NOT NULL) STRICT"
    )
    conn.execute(
        "CREATE TABLE conversation_items (conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, "
        "created REAL NOT NULL, item TEXT NOT NULL, PRIMARY KEY (conversation_id, seq)) STRICT"
    )
    conn.execute("INSERT INTO conversations VALUES ('c1', 'ci', 1.0, 2.0)")
    conn.execute("INSERT INTO conversation_items VALUES ('c1', 1, 1.0, '{\"type\":\"message\"}')")
    conn.execute("PRAGMA user_version=3")
    conn.close()

    assert db.migrate(sqlite3.connect(path, isolation_level=None)) == [4]
    assert read(path, "PRAGMA user_version") == [(4,)] == [(db.SCHEMA_VERSION,)]
    assert read(path, "SELECT * FROM conversations") == [("c1", "ci", 1.0, 2.0)]
    assert read(path, "SELECT count(*) FROM conversation_items") == [(1,)]
    assert read(path, "SELECT count(*) FROM stored_responses") == [(0,)]  # the one it lacked
    indexes = {r[0] for r in read(path, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"conversations_updated", "stored_responses_created"} <= indexes
