"""The usage table on PostgreSQL: two gateway instances on one database, against the real server.

Set EKAI_TEST_POSTGRES_URL (an admin URL: each test creates and drops its own database), e.g.
`EKAI_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test`; without it these tests skip.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from gateway import db
from tests.conftest import KEYS, write_config
from tests.gateway_proc import ROOT, Gateway
from tests.pg import query

# Expected costs (tests/conftest.py prices x tests/fakes/upstream.py default usage), by hand:
# gpt-4o-mini: 1500 uncached x 0.15 + 5000 cached x 0.075 + 250 out x 0.6 = 750 micro-USD
MINI_PICO = 750_000_000
# claude-sonnet-4-6: 1200 x 3 + 300 cache write x 3.75 + 5000 cache read x 0.3 + 250 x 15 = 9975 micro-USD
SONNET_PICO = 9_975_000_000


def pg_config(folder: Path, fake, url: str, extra: str = "") -> Path:
    path = write_config(folder, fake, extra=extra)
    path.write_text(path.read_text().replace("usage: {database: usage.db}", f'usage: {{database: "{url}"}}'))
    return path


def instances(tmp_path: Path, fake, url: str, n: int = 2, extra: str = "", env: dict[str, str] | None = None):
    """n gateways (own folders, the same ekai.yaml text), started at the same moment."""
    gws = []
    for i in range(n):
        folder = tmp_path / f"gw{i}"
        folder.mkdir()
        pg_config(folder, fake, url, extra)
        gws.append(Gateway(folder, env={**KEYS, **(env or {})}))
    errors: list[BaseException] = []

    def start(g: Gateway) -> None:
        try:
            g.start(timeout=60)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(g,)) for g in gws]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for g in gws:
            g.stop()
        raise errors[0]
    return gws


def wait_rows(url: str, n: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        count = query(url, "SELECT count(*) AS n FROM usage")[0]["n"]
        if count >= n or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def test_concurrent_migrations_run_once(pg_url):
    """Eight connections migrate a fresh database at once: one creates it, the rest find it done."""
    import psycopg

    results: list[list[int]] = []
    barrier = threading.Barrier(8)

    def run() -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            barrier.wait()
            results.append(db.migrate_pg(conn))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(len, results)) == [0] * 7 + [len(db.MIGRATIONS)]
    assert query(pg_url, "SELECT version FROM ekai_schema_version") == [{"version": db.SCHEMA_VERSION}]
    columns = query(
        pg_url,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'usage' ORDER BY ordinal_position",
    )
    assert [c["column_name"] for c in columns] == ["id", *db.USAGE_COLUMNS]


def test_a_wrong_url_fails_fast_in_one_line_without_the_password(tmp_path, fake, pg_url):
    bad = pg_url.replace("postgresql://postgres@", "postgresql://postgres:s3cret-pw@") + "_nope"
    pg_config(tmp_path, fake, bad)
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(tmp_path / "ekai.yaml"), "--port", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and "cannot connect to postgresql://postgres:***@" in err[0], done.stderr
    assert "does not exist" in err[0]
    assert "s3cret-pw" not in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


async def _traffic(urls: list[str], n: int, fake) -> dict[str, list[str]]:
    """n requests spread over `urls`: non-stream chat, Messages streams, upstream 400s and clients
    leaving mid-stream. Returns request ids by kind."""
    from tests.fakes.upstream import Reply, openai_stream

    kinds: dict[str, list[str]] = {"chat": [], "stream": [], "fail": [], "left": []}
    plan = [("chat", "stream", "fail", "left")[i % 4] for i in range(n)]
    fails = plan.count("fail")
    lefts = plan.count("left")
    fake.queue(*[Reply(status=400, json={"error": {"message": "bad", "type": "invalid_request_error"}}, provider="xai") for _ in range(fails)])
    fake.queue(*[Reply(events=openai_stream("grok-4", ["a"] * 50, None, include_usage=True), chunk_delay=0.02, provider="openrouter") for _ in range(lefts)])
    sem = asyncio.Semaphore(16)
    async with httpx.AsyncClient(timeout=60) as client:

        async def one(i: int, kind: str) -> None:
            base = urls[i % len(urls)]
            async with sem:
                if kind == "chat":
                    r = await client.post(base + "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
                    assert r.status_code == 200, r.text
                    kinds[kind].append(r.headers["x-request-id"])
                elif kind == "stream":
                    r = await client.post(base + "/v1/messages", json={"model": "claude-sonnet-4-6", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "hi"}]})
                    assert r.status_code == 200 and "message_stop" in r.text
                    kinds[kind].append(r.headers["x-request-id"])
                elif kind == "fail":
                    r = await client.post(base + "/v1/chat/completions", json={"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]})
                    assert r.status_code == 400, r.text
                    kinds[kind].append(r.headers["x-request-id"])
                else:  # the client leaves after the first bytes of a stream
                    body = {"model": "moonshotai/kimi-k2", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
                    async with client.stream("POST", base + "/v1/chat/completions", json=body) as r:
                        kinds[kind].append(r.headers["x-request-id"])
                        async for _ in r.aiter_bytes():
                            break

        await asyncio.gather(*(one(i, k) for i, k in enumerate(plan)))
    return kinds


def _usage(url: str) -> dict:
    r = httpx.get(url + "/usage", params={"group_by": "key,client,session"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_two_instances_write_one_table_and_report_the_same_totals(tmp_path, fake, pg_url):
    # the 2,000 (about 6 s here); EKAI_PG_REQUESTS=N for another count
    n = int(os.environ.get("EKAI_PG_REQUESTS", "2000"))
    a, b = instances(tmp_path, fake, pg_url)
    try:
        kinds = asyncio.run(_traffic([a.url, b.url], n, fake))
        assert wait_rows(pg_url, n) == n
        rows = query(pg_url, "SELECT * FROM usage")
        by_id = {r["request_id"]: r for r in rows}
        assert len(by_id) == n == sum(map(len, kinds.values()))  # exactly one row per request
        for rid in kinds["chat"]:
            assert by_id[rid]["status"] == 200 and by_id[rid]["cost_pico_usd"] == MINI_PICO
        for rid in kinds["stream"]:
            assert by_id[rid]["status"] == 200 and by_id[rid]["cost_pico_usd"] == SONNET_PICO
            assert by_id[rid]["stream"] == 1
        for rid in kinds["fail"]:
            assert by_id[rid]["status"] == 400 and by_id[rid]["error"] and not by_id[rid]["cost_pico_usd"]
        for rid in kinds["left"]:
            assert by_id[rid]["provider"] == "openrouter" and by_id[rid]["error"]  # client left: recorded
        served = {r["request_id"][:16] for r in rows}  # req_<12 hex per process>: both instances wrote
        assert len(served) >= 2
        ua, ub = _usage(a.url), _usage(b.url)
        assert ua == ub
        sums = query(pg_url, "SELECT count(*) AS requests, sum(cost_pico_usd) AS pico, sum(input_tokens) AS input, count(error) AS errors FROM usage")[0]
        t = ua["totals"]
        assert t["requests"] == sums["requests"] == n
        assert t["input_tokens"] == sums["input"] and t["errors"] == sums["errors"] == len(kinds["fail"]) + len(kinds["left"])
        assert round(t["cost_usd"] * 1e12) == int(sums["pico"])
        assert sum(round(p["cost_usd"] * 1e12) for p in ua["by_provider"]) == int(sums["pico"])
        assert sum(k["requests"] for k in ua["by_key"]) == n
        health = httpx.get(a.url + "/health").json()["usage"]
        assert health["backend"] == "postgresql" and health["backlog"] == 0 and health["rows_dropped"] == 0
    finally:
        a.stop()
        b.stop()


def _dbname(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _kill_writers(url: str) -> int:
    """pg_terminate_backend on every ekai connection to the test database; how many."""
    rows = query(
        url,
        "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = 'ekai' AND pid <> pg_backend_pid()",
    )
    return len(rows)


def _chat(url: str, n: int) -> list[str]:
    ids = []
    with httpx.Client(timeout=30) as client:
        for _ in range(n):
            r = client.post(url + "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code == 200, r.text
            ids.append(r.headers["x-request-id"])
    return ids


def test_killed_connections_under_load_lose_no_row(tmp_path, fake, pg_url):
    a, b = instances(tmp_path, fake, pg_url)
    try:
        sent: list[str] = []
        stop = threading.Event()

        def load(url: str) -> None:
            while not stop.is_set():
                sent.extend(_chat(url, 5))

        threads = [threading.Thread(target=load, args=(g.url,)) for g in (a, b)]
        for t in threads:
            t.start()
        killed = 0
        deadline = time.monotonic() + 60
        while killed < 6 and time.monotonic() < deadline:  # kill whatever is connected, repeatedly
            if wait_rows(pg_url, len(sent) // 2 + 1, timeout=5) and _kill_writers(pg_url):
                killed += 1
        stop.set()
        for t in threads:
            t.join()
        assert killed >= 3
        assert wait_rows(pg_url, len(sent)) == len(sent)
        ids = [r["request_id"] for r in query(pg_url, "SELECT request_id FROM usage")]
        assert sorted(ids) == sorted(sent)  # every request once, none lost, none twice
        errors = [httpx.get(g.url + "/health").json()["usage"]["last_error"] for g in (a, b)]
        assert any(e and ("OperationalError" in e or "terminat" in e) for e in errors), errors
    finally:
        a.stop()
        b.stop()


def test_an_outage_keeps_rows_up_to_the_bound_and_drops_the_oldest_visibly(tmp_path, fake, pg_url):
    """The database refuses connections (ALLOW_CONNECTIONS false: an outage of this database only,
    the server is shared); rows wait in the backlog, the oldest past `max_backlog` are dropped and
    counted; when it is back, every kept row is written."""
    folder = tmp_path / "gw"
    folder.mkdir()
    path = pg_config(folder, fake, pg_url)
    path.write_text(path.read_text().replace(f'usage: {{database: "{pg_url}"}}', f'usage: {{database: "{pg_url}", max_backlog: 20}}'))
    gw = Gateway(folder, env=KEYS).start()
    admin = pg_url.rsplit("/", 1)[0] + "/postgres"
    name = _dbname(pg_url)
    try:
        before = _chat(gw.url, 5)
        assert wait_rows(pg_url, 5) == 5
        query(admin, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            query(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            during = _chat(gw.url, 30)  # answered: the outage is the database's, not the clients'
            deadline = time.monotonic() + 30
            while True:
                usage = httpx.get(gw.url + "/health").json()["usage"]
                if usage["rows_dropped"] == 10 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert usage["rows_dropped"] == 10 and usage["backlog"] == 20
            assert usage["last_error"] and usage["last_error_at"]
            metrics = httpx.get(gw.url + "/metrics", timeout=30).text
            assert "ekai_usage_rows_dropped_total 10.0" in metrics
            r = httpx.get(gw.url + "/usage", timeout=30)  # a clear 503, not a traceback
            assert r.status_code == 503 and "usage database cannot be read" in r.json()["error"]["message"]
        finally:
            query(admin, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        assert wait_rows(pg_url, 25) == 25
        ids = {r["request_id"] for r in query(pg_url, "SELECT request_id FROM usage")}
        assert ids == set(before) | set(during[10:])  # the 10 oldest of the outage were dropped
        assert "dropped the" in gw.output()  # logged, never hidden
    finally:
        gw.stop()


BUDGET_KEY = "gw-ci-secret-0001"


def test_a_budget_spent_on_one_instance_is_refused_on_the_other(tmp_path, fake, pg_url):
    extra = "auth:\n  keys:\n    ci:\n      env: EKAI_KEY_CI\n      budget: {daily_usd: 0.002}\n"
    a, b = instances(tmp_path, fake, pg_url, extra=extra, env={"EKAI_KEY_CI": BUDGET_KEY})
    headers = {"authorization": f"Bearer {BUDGET_KEY}"}
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    try:
        with httpx.Client(timeout=30, headers=headers) as client:
            spent = 0
            while True:  # 750 micro-USD each: the third crosses 0.002 USD on A
                r = client.post(a.url + "/v1/chat/completions", json=body)
                if r.status_code == 429:
                    break
                assert r.status_code == 200, r.text
                spent += 1
                assert spent <= 6
            assert spent >= 3
            deadline = time.monotonic() + 15  # B learns it from the table within its reconcile interval
            while True:
                r = client.post(b.url + "/v1/chat/completions", json=body)
                if r.status_code == 429 or time.monotonic() > deadline:
                    break
            assert r.status_code == 429 and r.json()["error"]["code"] == "budget_exceeded"
            assert "budget exceeded: key 'ci' daily_usd" in r.json()["error"]["message"]
    finally:
        a.stop()
        b.stop()


def test_spend_of_rows_dropped_in_an_outage_still_counts_toward_the_budget(tmp_path, fake, pg_url):
    """During an outage the backlog passes its bound and the oldest rows, the costed ones, are
    dropped: they will never be in the table. Once the database is back and the spend reconciled
    from it, the key must still be over its budget."""
    folder = tmp_path / "gw"
    folder.mkdir()
    extra = "auth:\n  keys:\n    ci:\n      env: EKAI_KEY_CI\n      budget: {daily_usd: 0.002}\n"
    path = pg_config(folder, fake, pg_url, extra)
    path.write_text(path.read_text().replace(f'usage: {{database: "{pg_url}"}}', f'usage: {{database: "{pg_url}", max_backlog: 5}}'))
    gw = Gateway(folder, env={**KEYS, "EKAI_KEY_CI": BUDGET_KEY}).start()
    admin = pg_url.rsplit("/", 1)[0] + "/postgres"
    name = _dbname(pg_url)
    headers = {"authorization": f"Bearer {BUDGET_KEY}"}
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}

    def health() -> dict:
        return httpx.get(gw.url + "/health", headers=headers, timeout=30).json()

    try:
        with httpx.Client(timeout=30, headers=headers) as client:
            query(admin, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            try:
                query(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
                statuses = [client.post(gw.url + "/v1/chat/completions", json=body).status_code for _ in range(12)]
                assert statuses[:3] == [200, 200, 200] and set(statuses[3:]) == {429}  # 3 x 750 micro-USD
                deadline = time.monotonic() + 30
                while health()["usage"]["rows_dropped"] < 7 and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert health()["usage"]["rows_dropped"] == 7  # the 3 costed rows among them
            finally:
                query(admin, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            assert wait_rows(pg_url, 5) == 5
            assert query(pg_url, "SELECT coalesce(sum(cost_pico_usd), 0) AS c FROM usage")[0]["c"] == 0
            seen = health()["limits"]["reconciled"]
            deadline = time.monotonic() + 30  # two reconciles after the rows landed: the table is read
            while health()["limits"]["reconciled"] < seen + 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert health()["limits"]["keys"]["ci"]["spent_today_usd"] >= 0.00225
            r = client.post(gw.url + "/v1/chat/completions", json=body)
            assert r.status_code == 429 and r.json()["error"]["code"] == "budget_exceeded"
    finally:
        gw.stop()


def test_the_password_is_never_shown(tmp_path, fake, pg_url):
    """trust auth ignores the password, so a URL with one still connects: it must not appear on
    /health, in the log, or in the startup lines."""
    url = pg_url.replace("postgresql://postgres@", "postgresql://postgres:pw-visible-9@")
    pg_config(tmp_path, fake, url)
    gw = Gateway(tmp_path, env=KEYS).start()
    try:
        _chat(gw.url, 1)
        assert wait_rows(pg_url, 1) == 1
        health = httpx.get(gw.url + "/health").text
        assert "pw-visible-9" not in health and "postgres:***@" in health
    finally:
        gw.stop()
    assert "pw-visible-9" not in gw.output() and "postgres:***@" in gw.output()


def test_rpm_is_shared_by_instances_on_one_database(tmp_path, fake, pg_url):
    """rpm 3: three requests on A fill the window; once B has read A's counts from PostgreSQL
    (its /health shows them), B refuses the fourth. Without sharing B would admit three more."""
    extra = "auth:\n  keys:\n    ci:\n      env: EKAI_KEY_CI\n      limits: {rpm: 3}\n"
    a, b = instances(tmp_path, fake, pg_url, extra=extra, env={"EKAI_KEY_CI": BUDGET_KEY})
    headers = {"authorization": f"Bearer {BUDGET_KEY}"}
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    try:
        with httpx.Client(timeout=30, headers=headers) as client:
            for _ in range(3):
                r = client.post(a.url + "/v1/chat/completions", json=body)
                assert r.status_code == 200, r.text
            deadline = time.monotonic() + 15
            while True:
                seen = client.get(b.url + "/health").json()["limits"]["keys"]["ci"]["rpm"]
                if seen >= 3 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert seen == 3  # B counts A's three
            r = client.post(b.url + "/v1/chat/completions", json=body)
            assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded", r.text
            assert "rpm 3" in r.json()["error"]["message"] and int(r.headers["retry-after"]) >= 1
    finally:
        a.stop()
        b.stop()


def test_a_conversation_carries_on_across_instances(tmp_path, fake, pg_url):
    """x-ekai-conversation on PostgreSQL: turn 1 on instance A, turn 2 on instance B gets turn 1's
    items prepended (gateway.conversations.pg_store); `ekai conversations show` reads them."""
    from tests.fakes.upstream import Reply, openai_completion

    a, b = instances(tmp_path, fake, pg_url)
    try:
        hdr = {"x-ekai-conversation": "trip-pg"}
        fake.queue(Reply(json=openai_completion("gpt-4o-mini", "Paris is lovely."), provider="openai"))
        r = httpx.post(a.url + "/v1/chat/completions", headers=hdr, timeout=30,
                       json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Plan a trip to Paris."}]})
        assert r.status_code == 200, r.text
        r = httpx.post(b.url + "/v1/messages", headers=hdr, timeout=30,
                       json={"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": [{"role": "user", "content": "And the weather?"}]})
        assert r.status_code == 200, r.text
        assert fake.last("anthropic").body["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": "Plan a trip to Paris."}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Paris is lovely."}]},
            {"role": "user", "content": "And the weather?"},
        ]
        rows = query(pg_url, "SELECT count(*) AS n FROM conversation_items WHERE conversation_id = 'trip-pg'")
        assert rows == [{"n": 4}]
        shown = subprocess.run(
            [sys.executable, "-m", "gateway", "conversations", "show", "trip-pg", "--config", str(a.config)],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )
        assert shown.returncode == 0, shown.stderr
        assert "Plan a trip to Paris." in shown.stdout and len(shown.stdout.splitlines()) == 4
    finally:
        a.stop()
        b.stop()


def test_postgresql_stores_exactly_what_sqlite_stores(tmp_path, pg_url):
    """The same records through the SQLite and the PostgreSQL writer give the same rows, value for
    value (floats, exact pico-USD, NULLs, text with quotes, backslashes and non-ASCII); a NUL, which
    PostgreSQL text cannot hold, becomes U+FFFD there; a row neither database can take (a token
    count past 64 bits) costs only itself on both."""
    import sqlite3

    from gateway.database import Database
    from gateway.pricing import Tokens
    from gateway.usage import UsageRecord, UsageWriter

    def records() -> list[UsageRecord]:
        out = []
        for i in range(6):
            r = UsageRecord(f"req_same_{i}", "anthropic", 1_765_000_000.123 + i, 0.0)
            r.provider, r.model, r.provider_model, r.status = "anthropic", "claude-sonnet-4-6", "claude-x", 200
            r.tokens = Tokens(input=1200 + i, cache_read=5000, cache_write=300, cache_write_1h=100, output=250)
            r.cost_pico, r.cost_source, r.latency_ms, r.ttft_ms = 9_975_000_001 + i, "price_table", 12.3456 + i, None
            r.error = 'upstream said "no" \\ \u00e9\u6f22' if i == 1 else None
            r.tags, r.session_id, r.client = '{"team":"ml"}', f"s{i % 2}", "claude-code"
            out.append(r)
        out[3].error = "bad\x00byte"
        out[4].tokens = Tokens(output=2**70)
        return out

    def stored(writer: UsageWriter, fetch) -> tuple[list, int]:
        writer.start()
        for r in records():
            writer.put(r)
        writer.stop()
        return fetch(), writer.failed

    columns = ", ".join(db.USAGE_COLUMNS)
    lite_rows, lite_failed = stored(
        UsageWriter(tmp_path / "usage.db"),
        lambda: sqlite3.connect(tmp_path / "usage.db").execute(f"SELECT {columns} FROM usage ORDER BY id").fetchall(),
    )
    pg_rows, pg_failed = stored(
        UsageWriter(Database.postgresql(pg_url)),
        lambda: [tuple(r.values()) for r in query(pg_url, f"SELECT {columns} FROM usage ORDER BY id")],
    )
    assert lite_failed == pg_failed == 1
    assert [r[1] for r in pg_rows] == ["req_same_0", "req_same_1", "req_same_2", "req_same_3", "req_same_5"]
    error = db.USAGE_COLUMNS.index("error")
    assert lite_rows[3][error] == "bad\x00byte" and pg_rows[3][error] == "bad\ufffdbyte"
    nul_as_fffd = [
        (*row[:error], "bad\ufffdbyte" if row[1] == "req_same_3" else row[error], *row[error + 1 :])
        for row in lite_rows
    ]
    assert pg_rows == nul_as_fffd
