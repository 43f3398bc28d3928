"""The same rows in a SQLite file and in PostgreSQL give the same figures: `ekai usage copy`,
`/usage` (gateway.reports), `ekai sql` and the dashboard's snapshot queries. Against the real
server (EKAI_TEST_POSTGRES_URL; skipped without it, see tests/pg.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from analytics import duck, queries
from gateway import reports
from gateway.database import Database
from tests.analytics_fixtures import KNOWN, row, write_usage
from tests.gateway_proc import ROOT
from tests.pg import query

MORE = [  # sessions, keys and clients, so every /usage list has groups (and NULL groups)
    row("2026-11-03T01:00:00.000Z", session_id="s-1", api_key_name="ci", client="claude-code",
        agent="main", cost_pico_usd=3_000_000_000, cost_usd=0.003, input_tokens=7),
    row("2026-11-03T01:00:01.000Z", session_id="s-1", api_key_name="ci", client="claude-code",
        agent="explore", model="claude-haiku-4-5", cost_pico_usd=1_000_000_001, cost_usd=0.001000000001),
    row("2026-11-03T02:00:00.000Z", session_id="s-2", api_key_name="laptop", client="codex",
        cost_pico_usd=2**40, cost_usd=2**40 / 1e12, error="boom", status=500),
]


def ekai(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_copy_twice_then_the_same_figures_everywhere(tmp_path: Path, pg_url: str) -> None:
    file = write_usage(tmp_path / "usage.db", [*KNOWN, *MORE])
    n = len(KNOWN) + len(MORE)
    first = ekai("usage", "copy", "--from", str(file), "--to", pg_url)
    assert first.returncode == 0, first.stderr
    assert f"{n} rows read" in first.stdout and f"{n} copied" in first.stdout
    again = ekai("usage", "copy", "--from", str(file), "--to", pg_url)
    assert again.returncode == 0, again.stderr
    assert f"0 copied to {pg_url}, {n} already there" in again.stdout  # nothing twice
    assert query(pg_url, "SELECT count(*) AS n, count(DISTINCT request_id) AS d FROM usage") == [{"n": n, "d": n}]

    # /usage: the same JSON over both backends, every list
    q = reports.UsageQuery.parse({"group_by": ["session,key,client"]})
    lite = reports.summary(Database.sqlite(file), q)
    pg = reports.summary(Database.postgresql(pg_url), q)
    assert orjson.dumps(lite) == orjson.dumps(pg)
    assert lite["totals"]["requests"] == n and lite["by_session"] and lite["by_key"]
    assert reports.rows_csv(Database.sqlite(file), q).split("\n")[0] == reports.rows_csv(Database.postgresql(pg_url), q).split("\n")[0]
    q2 = reports.UsageQuery.parse({"since": ["2026-11-02"], "key": ["ci"]})
    assert reports.summary(Database.sqlite(file), q2) == reports.summary(Database.postgresql(pg_url), q2)

    # ekai sql: the same output over the file and over PostgreSQL
    sql = ("SELECT provider, model, count(*) AS n, sum(cost_usd) AS usd, sum(input_tokens) AS input, "
           "min(ts) AS first FROM usage GROUP BY ALL ORDER BY ALL")
    a = ekai("sql", "--db", str(file), "--format", "json", sql)
    b = ekai("sql", "--db", pg_url, "--format", "json", sql)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout and len(orjson.loads(a.stdout)) > 3

    # the dashboard's snapshot and its queries
    for cache in (None, tmp_path / "cache"):
        s1, s2 = duck.Snapshot(file, cache=cache), duck.Snapshot(pg_url, cache=cache)
        try:
            assert s1.refresh() == s2.refresh() == n
            f = queries.Filters()
            assert queries.totals(s1.cursor(), f) == queries.totals(s2.cursor(), f)
            assert queries.cost_by(s1.cursor(), f, by="model").equals(queries.cost_by(s2.cursor(), f, by="model"))
            assert queries.top_sessions(s1.cursor(), f).equals(queries.top_sessions(s2.cursor(), f))
            assert s2.refresh() == 0  # incremental: nothing new
        finally:
            s1.close()
            s2.close()


def test_ekai_sql_on_a_wrong_url_is_one_line_without_the_password(pg_url: str) -> None:
    bad = pg_url.replace("postgresql://postgres@", "postgresql://postgres:pw-s3cret@") + "_nope"
    done = ekai("sql", "--db", bad, "SELECT 1")
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "pw-s3cret" not in done.stderr, done.stderr
    assert "postgres:***@" in done.stderr


def test_copy_moves_conversations_and_stored_responses_once(tmp_path: Path, pg_url: str) -> None:
    """`ekai usage copy` takes the conversation tables along: a conversation and a stored response
    written in the SQLite file read the same from PostgreSQL; again copies nothing twice; a
    conversation that grew in the file since gets only its new items."""
    from gateway.conversations.store import StoredResponse, open_store

    file = write_usage(tmp_path / "usage.db", KNOWN)
    lite = open_store(Database.sqlite(file))
    turns = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": f"turn {i} \u00e9"}]}
             for i in range(3)]
    lite.append("conv-1", "ci", turns[:2], 1_765_000_000.5)
    lite.append("conv-2", None, turns[2:], 1_765_000_001.25)
    response = StoredResponse("resp_1", "ci", 1_765_000_002.0, None, "openai", True,
                              {"id": "resp_1", "object": "response", "output": []}, turns[:1])
    lite.put_response(response)

    first = ekai("usage", "copy", "--from", str(file), "--to", pg_url)
    assert first.returncode == 0, first.stderr
    assert ("conversations: 2 read, 2 copied, conversation_items: 3 read, 3 copied, "
            "stored_responses: 1 read, 1 copied") in first.stdout
    pg = open_store(Database.postgresql(pg_url))
    try:
        assert pg.history("conv-1", "ci") == lite.history("conv-1", "ci") == turns[:2]
        assert pg.history("conv-2", None) == turns[2:]
        assert pg.get_response("resp_1", "ci") == response

        lite.append("conv-1", "ci", [turns[2]], 1_765_000_003.0)  # it grew in the file
        again = ekai("usage", "copy", "--from", str(file), "--to", pg_url)
        assert again.returncode == 0, again.stderr
        assert ("conversations: 2 read, 0 copied, conversation_items: 4 read, 1 copied, "
                "stored_responses: 1 read, 0 copied") in again.stdout
        assert pg.history("conv-1", "ci") == turns
        assert query(pg_url, "SELECT updated FROM conversations WHERE id = 'conv-1'") == [{"updated": 1_765_000_003.0}]
    finally:
        pg.close()
        lite.close()
