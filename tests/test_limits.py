"""Budgets, rate limits and allowlists: config validation (file:line:key), the shared rpm/tpm
windows with an explicit clock, the calendar windows, and the spend book's arithmetic."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from gateway import db
from gateway.config import load_config
from gateway.database import Database
from gateway.limits import Calendar, Clock, KeyPolicy
from gateway.ratelimit import KeyWindow, Refused
from gateway.spend import TOTAL, SpendBook
from tests.test_cli import ekai
from tests.test_config import make, problems

LONG_FORM = """auth:
  keys:
    laptop: EKAI_KEY_LAPTOP
    ci:
      env: EKAI_KEY_CI
      budget: {daily_usd: 5.00, monthly_usd: 50}
      limits: {rpm: 60, tpm: 200000}
      models: ["gpt-*", "claude-haiku-*"]
  budget: {daily_usd: 20.00}
"""


def test_the_long_form_and_the_gateway_budget(tmp_path):
    cfg = load_config(make(tmp_path, LONG_FORM), env={"EKAI_KEY_CI": "k-ci", "EKAI_KEY_LAPTOP": "k-l"})
    assert cfg.auth_keys == {"k-ci": "ci", "k-l": "laptop"}  # the long form's env is a key like the short
    ci = cfg.key_policies["ci"]
    assert ci.budget is not None and ci.budget.daily_usd == Decimal("5.00")
    assert ci.budget.daily_pico == 5 * 10**12 and ci.budget.monthly_pico == 50 * 10**12
    assert (ci.rpm, ci.tpm, ci.models) == (60, 200000, ("gpt-*", "claude-haiku-*"))
    assert "laptop" not in cfg.key_policies  # the short form: no limits
    assert cfg.gateway_budget is not None and cfg.gateway_budget.daily_pico == 20 * 10**12
    assert cfg.gateway_budget.monthly_pico is None and cfg.limited


def test_no_limits_configured_costs_nothing(tmp_path):
    cfg = load_config(make(tmp_path, "auth:\n  keys:\n    a: {env: EKAI_A}\n"), env={"EKAI_A": "x"})
    assert cfg.auth_keys == {"x": "a"} and not cfg.limited


@pytest.mark.parametrize(
    "entry, expected",
    [
        ("{env: E, budget: {daily_usd: -1}}", "ekai.yaml:4: auth.keys.ci.budget.daily_usd: must be a number >= 0"),
        ("{env: E, limits: {rpm: 0}}", "ekai.yaml:4: auth.keys.ci.limits.rpm: must be a whole number >= 1, got 0"),
        ("{env: E, limits: {tpm: 1.5}}", "ekai.yaml:4: auth.keys.ci.limits.tpm: must be a whole number >= 1"),
        ("{env: E, limits: {rpm: yes}}", "ekai.yaml:4: auth.keys.ci.limits.rpm: must be a whole number >= 1"),
        ("{env: E, limits: {rps: 3}}", "ekai.yaml:4: auth.keys.ci.limits.rps: unknown key (known: rpm, tpm)"),
        ("{env: E, spend: 3}", "ekai.yaml:4: auth.keys.ci.spend: unknown key (known: budget, env, limits, models)"),
        ("{env: E, models: gpt-*}", "ekai.yaml:4: auth.keys.ci.models: must be a list of model-name globs"),
        ("{env: E, models: [gpt-*, 7]}", "ekai.yaml:4: auth.keys.ci.models.1: must be a non-empty string"),
        ("{budget: {daily_usd: 1}}", "ekai.yaml:4: auth.keys.ci.env: must be a non-empty string"),
        ("{env: E, budget: {weekly_usd: 1}}", "ekai.yaml:4: auth.keys.ci.budget.weekly_usd: unknown key"),
    ],
)
def test_bad_values_are_refused_with_file_line_and_key(tmp_path, entry, expected):
    found = problems(make(tmp_path, f"server: {{port: 3001}}\nauth:\n  keys:\n    ci: {entry}\n"))
    assert any(p.startswith(expected) for p in found), found


def test_a_negative_gateway_budget_is_refused_on_its_line(tmp_path):
    text = "auth:\n  keys: {a: E}\n  budget:\n    monthly_usd: -3\n"
    assert problems(make(tmp_path, text)) == ["ekai.yaml:4: auth.budget.monthly_usd: must be a number >= 0"]


def test_ekai_check_refuses_rpm_zero(tmp_path):
    make(tmp_path, "auth:\n  keys:\n    ci:\n      env: E\n      limits:\n        rpm: 0\n")
    done = ekai("check", "--config", str(tmp_path / "ekai.yaml"))
    assert done.returncode == 1
    assert "ekai.yaml:6: auth.keys.ci.limits.rpm: must be a whole number >= 1, got 0" in done.stderr


def test_allowlist_globs_match_whole_names():
    p = KeyPolicy.build("ci", None, None, None, ("gpt-*", "claude-haiku-*"))
    assert p.allows("gpt-4o-mini") and p.allows("claude-haiku-4-5")
    assert not p.allows("claude-sonnet-4-6") and not p.allows("my-gpt-4")
    assert not KeyPolicy.build("none", None, None, None, ()).allows("gpt-5")  # models: [] allows nothing
    assert KeyPolicy.build("all", None, 5, None, None).allows("anything")


# --- windows with an explicit clock ---


def test_rpm_is_exact_over_a_rolling_minute(tmp_path):
    w = KeyWindow(tmp_path / "k")
    p = KeyPolicy.build("k", None, 3, None, None)
    t0 = 1_000_000.0
    for dt in (0.0, 10.0, 20.5):
        w.admit(p, t0 + dt)
    with pytest.raises(Refused) as e:
        w.admit(p, t0 + 30)
    assert e.value.retry_after == 30  # the slot taken at t0 frees at t0 + 60
    with pytest.raises(Refused) as e:
        w.admit(p, t0 + 59.2)
    assert e.value.retry_after == 1  # 0.8 s rounds up to a whole second
    w.admit(p, t0 + 60)  # the first slot has left the window
    with pytest.raises(Refused):
        w.admit(p, t0 + 69)
    assert w.current(p, t0 + 69) == (3, 0)


def test_other_instances_counts_take_their_share_of_the_limits(tmp_path):
    """gateway.shared_limits passes the other instances' (requests, tokens) in the window."""
    w = KeyWindow(tmp_path / "k")
    p = KeyPolicy.build("k", None, 5, None, None)
    t0 = 1_000_000.0
    w.admit(p, t0, (3, 0))
    w.admit(p, t0 + 10, (3, 0))
    with pytest.raises(Refused) as e:  # 2 here + 3 elsewhere = 5
        w.admit(p, t0 + 20, (3, 0))
    assert e.value.retry_after == 40  # this machine's 2nd most recent slot (t0) frees at t0 + 60
    w.admit(p, t0 + 20, (2, 0))  # one fewer elsewhere: room again
    with pytest.raises(Refused) as e:
        w.admit(p, t0 + 21, (5, 0))  # the others alone fill it
    assert e.value.retry_after >= 1
    assert w.per_second(t0 + 21) == [(int(t0), 1, 0), (int(t0) + 10, 1, 0), (int(t0) + 20, 1, 0)]
    tpm = KeyPolicy.build("t", None, None, 1000, None)
    wt = KeyWindow(tmp_path / "t")
    wt.add_tokens(400, t0)
    wt.admit(tpm, t0 + 1, (0, 500))  # 900 < 1000
    with pytest.raises(Refused):
        wt.admit(tpm, t0 + 1, (0, 600))  # 1000: at the limit
    assert wt.per_second(t0 + 1) == [(int(t0), 0, 400)]


def test_rpm_is_shared_by_every_open_handle_of_the_file(tmp_path):
    """Two handles = two workers: together they never admit more than rpm."""
    a, b = KeyWindow(tmp_path / "k"), KeyWindow(tmp_path / "k")
    p = KeyPolicy.build("k", None, 4, None, None)
    admitted = 0
    for i in range(10):
        try:
            (a if i % 2 else b).admit(p, 500.0 + i)
            admitted += 1
        except Refused:
            pass
    assert admitted == 4


def test_a_changed_rpm_starts_the_ring_afresh(tmp_path):
    w = KeyWindow(tmp_path / "k")
    w.admit(KeyPolicy.build("k", None, 1, None, None), 100.0)
    with pytest.raises(Refused):
        w.admit(KeyPolicy.build("k", None, 1, None, None), 101.0)
    w.admit(KeyPolicy.build("k", None, 5, None, None), 102.0)  # raised to 5: admitted
    assert w.current(KeyPolicy.build("k", None, 5, None, None), 103.0) == (1, 0)


def test_tpm_counts_tokens_when_requests_end(tmp_path):
    w = KeyWindow(tmp_path / "k")
    p = KeyPolicy.build("k", None, None, 1000, None)
    w.admit(p, 100.0)
    w.add_tokens(600, 100.4)
    w.admit(p, 101.0)  # 600 < 1000
    w.add_tokens(500, 110.9)  # 1100 in the window now
    with pytest.raises(Refused) as e:
        w.admit(p, 120.0)
    assert e.value.retry_after == 40  # the 600 of second 100 leave the window at 160
    assert w.current(p, 120.0) == (0, 1100)
    w.admit(p, 160.0)  # 500 < 1000
    with pytest.raises(Refused):  # a refused request took no rpm slot and no tokens
        KeyWindow(tmp_path / "k").admit(KeyPolicy.build("k", None, None, 500, None), 165.0)


def test_a_workers_waiting_tokens_count_at_once_and_a_refusal_looks_again(tmp_path):
    """Tokens not yet published count in the worker's own admissions at once; when their sum
    says 'over', the admission writes them and looks again, so tokens that have left the window
    meanwhile refuse nobody."""
    w = KeyWindow(tmp_path / "k")
    p = KeyPolicy.build("k", None, None, 1000, None)
    w.add_tokens(1000, 100.2)
    with pytest.raises(Refused) as e:  # unpublished, yet counted
        w.admit(p, 100.5)
    assert e.value.retry_after == 60
    w2 = KeyWindow(tmp_path / "k2")
    w2.add_tokens(900, 100.0)  # never published: its second leaves the window at 160
    w2.add_tokens(200, 161.0)
    w2.admit(p, 161.5)  # 1100 waiting, but only 200 inside the window: admitted
    assert w2.current(p, 161.5) == (0, 200)


def test_a_ring_grown_by_another_handle_is_mapped_again(tmp_path):
    """Another worker raises rpm: the file grows; this handle's smaller mapping is replaced
    before it reads the larger ring (never an index past its map)."""
    a, b = KeyWindow(tmp_path / "k"), KeyWindow(tmp_path / "k")
    small, big = KeyPolicy.build("k", None, 2, None, None), KeyPolicy.build("k", None, 5000, None, None)
    a.admit(small, 100.0)
    b.admit(small, 101.0)
    a.admit(big, 102.0)  # a starts the ring afresh at 5,000 slots: the file grows
    for i in range(4999):
        b.admit(big, 103.0 + i * 0.001)
    with pytest.raises(Refused):
        a.admit(big, 110.0)
    assert b.current(big, 110.0) == (5000, 0)


def test_calendar_windows_are_utc():
    late = datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC).timestamp()
    cal = Calendar.at(late)
    assert (cal.day, cal.month) == ("2026-12-31", "2026-12")
    assert cal.day_ends - late == 30 and cal.month_ends - late == 30
    assert cal.month_start_iso == "2026-12-01T00:00:00.000Z"


def test_the_test_clock_reads_its_offset_file(tmp_path):
    clock = Clock(str(tmp_path / "clock"))
    assert abs(clock.now() - Clock("").now()) < 5  # no file yet: real time
    (tmp_path / "clock").write_text("86400")
    assert 86395 < clock.now() - Clock("").now() < 86405


# --- the spend book ---


def _row(conn: sqlite3.Connection, rid: str, ts: str, key: str | None, pico: int | None) -> None:
    conn.execute(
        "INSERT INTO usage (ts, request_id, client_format, status, cost_pico_usd, api_key_name)"
        " VALUES (?, ?, 'openai', 200, ?, ?)",
        (ts, rid, pico, key),
    )


def test_spend_is_seeded_from_the_month_then_reconciled_by_id(tmp_path: Path):
    conn = db.connect(tmp_path / "u.db")
    _row(conn, "a", "2026-11-30T23:59:59.999Z", "ci", 7)  # last month: not counted
    _row(conn, "b", "2026-12-01T00:00:00.000Z", "ci", 100)
    _row(conn, "c", "2026-12-06T10:00:00.000Z", "ci", 20)
    _row(conn, "d", "2026-12-06T11:00:00.000Z", None, 3)
    _row(conn, "e", "2026-12-06T11:00:00.000Z", "ci", None)
    now = datetime(2026, 12, 6, 12, tzinfo=UTC).timestamp()
    done = [0]
    book = SpendBook(Database.sqlite(tmp_path / "u.db"), lambda: now, lambda: done[0])
    asyncio.run(book.reconcile())
    assert book.spent_day("2026-12-06", "ci") == 20 and book.spent_month("2026-12", "ci") == 120
    assert book.spent_day("2026-12-06", TOTAL) == 23 and book.spent_month("2026-12", None) == 3
    book.record(1, "2026-12-06", "ci", 5)  # this worker's own request, not written yet
    assert book.spent_day("2026-12-06", "ci") == 25
    _row(conn, "f", "2026-12-06T12:00:00.000Z", "ci", 5)  # ... now written
    done[0] = 1
    _row(conn, "g", "2026-12-06T12:00:01.000Z", "other", 1000)  # another worker's
    asyncio.run(book.reconcile())
    assert book.spent_day("2026-12-06", "ci") == 25  # counted once, from the table
    assert book.spent_day("2026-12-06", "other") == 1000 and book.spent_day("2026-12-06", TOTAL) == 1028
    book.close()


def test_the_cost_of_a_row_never_written_stays_counted(tmp_path: Path):
    """A request whose row the writer gave up on (dropped past the backlog in a database outage)
    never reaches the table: its cost must not vanish from the budget once the writer moves past it."""
    from collections import deque

    db.connect(tmp_path / "u.db").close()
    now = datetime(2026, 12, 6, 12, tzinfo=UTC).timestamp()
    done = [0]
    given_up: deque[tuple[float, str | None, int]] = deque()
    book = SpendBook(Database.sqlite(tmp_path / "u.db"), lambda: now, lambda: done[0], given_up)
    asyncio.run(book.reconcile())
    book.record(1, "2026-12-06", "ci", 40)
    given_up.append((now - 5, "ci", 40))  # the writer dropped it ...
    done[0] = 1  # ... and moved on
    asyncio.run(book.reconcile())
    assert book.spent_day("2026-12-06", "ci") == 40 and book.spent_month("2026-12", TOTAL) == 40
    asyncio.run(book.reconcile())
    assert book.spent_day("2026-12-06", "ci") == 40  # once, and for good
    book.close()


def test_a_keys_room_follows_its_spend_and_is_measured_again_at_each_reconcile(tmp_path: Path):
    """Admission looks only at `over`: the keys whose room (cap minus today's or this month's
    spend) is used up. Recording lowers the room at once; a reconcile measures it again from the
    table (another worker's rows) and for the clock's day (a new day gives the day's room back)."""
    conn = db.connect(tmp_path / "u.db")
    _row(conn, "a", "2026-12-06T10:00:00.000Z", "ci", 60)
    _row(conn, "b", "2026-12-06T10:00:01.000Z", "laptop", 500)
    now = [datetime(2026, 12, 6, 12, tzinfo=UTC).timestamp()]
    done = [0]
    book = SpendBook(Database.sqlite(tmp_path / "u.db"), lambda: now[0], lambda: done[0])
    asyncio.run(book.reconcile())
    book.set_caps({"ci": (100, 150), TOTAL: (1000, 10_000)})
    assert book.room == {"ci": 40, TOTAL: 440} and not book.over
    book.record(1, "2026-12-06", "ci", 30)
    book.record(2, "2026-12-06", "laptop", 5)  # no cap of its own: only the gateway's room
    assert book.room == {"ci": 10, TOTAL: 405} and not book.over
    book.record(3, "2026-12-06", "ci", 10)  # 100 today: at the cap
    assert book.over == {"ci"} and book.spent_day("2026-12-06", "ci") == 100
    _row(conn, "c", "2026-12-06T11:00:00.000Z", "other", 500)  # another worker's: the gateway is over
    asyncio.run(book.reconcile())
    assert book.over == {"ci", TOTAL} and book.room[TOTAL] == 1000 - 1105
    now[0] += 86400  # the next day: today's spend starts afresh, the month's stays
    asyncio.run(book.reconcile())
    assert book.room == {"ci": 150 - 100, TOTAL: 1000} and not book.over
    book.set_caps({"ci": (100, 90)})  # a live edit lowers the month below what is spent
    assert book.over == {"ci"} and book.room == {"ci": -10}
    book.close()


def test_an_rpm_too_large_for_the_shared_ring_is_refused(tmp_path):
    found = problems(make(tmp_path, "auth:\n  keys:\n    ci: {env: E, limits: {rpm: 5000000}}\n"))
    assert found == ["ekai.yaml:3: auth.keys.ci.limits.rpm: must be at most 1,000,000 (leave it out for no limit), "
                     "got 5000000"]


def test_ekai_check_lists_each_keys_limits(tmp_path):
    make(tmp_path, LONG_FORM)
    done = ekai("check", "--config", str(tmp_path / "ekai.yaml"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "gateway budget: $20.0/day" in lines
    assert "key laptop: no limits" in lines
    assert "key ci: $5.0/day $50/month; rpm 60, tpm 200000; models: gpt-*, claude-haiku-*" in lines


def test_the_cached_tpm_total_follows_tokens_added_within_the_second(tmp_path):
    a, b = KeyWindow(tmp_path / "k"), KeyWindow(tmp_path / "k")  # two workers
    p = KeyPolicy.build("k", None, None, 500, None)
    a.admit(p, 100.1)  # caches second 100: 0 tokens
    b.add_tokens(300, 99.9)  # a request that ended just before (another worker's clock read)
    b.add_tokens(300, 100.5)
    b.publish()  # what gateway.admission does within PUBLISH_SECONDS (or b's next admission)
    with pytest.raises(Refused):  # 600 >= 500, from the cache kept exact by both additions
        a.admit(p, 100.7)
    assert a.current(p, 100.8) == (0, 600)
    with pytest.raises(Refused) as e:  # a new second sums the buckets afresh: still 600
        b.admit(p, 101.0)
    assert e.value.retry_after == 58  # the 300 of second 99 leave at 159, leaving 300 < 500
    a.admit(p, 159.0)


def test_a_window_held_by_another_process_is_waited_for(tmp_path):
    """The lock is a real flock: while another process holds the key's file, an admission waits
    (the GIL-keeping fast path only takes a free lock), and goes through once it is let go."""
    import subprocess
    import sys
    import threading

    window = KeyWindow(tmp_path / "k")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.readline()", str(tmp_path / "k")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        p = KeyPolicy.build("k", None, 4, None, None)
        done = threading.Event()
        admitting = threading.Thread(target=lambda: (window.admit(p, 500.0), done.set()))
        admitting.start()
        assert not done.wait(0.3), "admitted while another process held the window's lock"
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        admitting.join(10)
        assert done.is_set()
        assert window.current(p, 500.0)[0] == 1
    finally:
        holder.kill()
        holder.wait()
        window.close()


def test_a_workers_tokens_reach_the_other_workers_within_the_publish_interval(tmp_path):
    """Admission.finish counts a request's tokens without taking the file's lock; its next
    admission or a timer PUBLISH_SECONDS later writes them where every worker reads."""
    from gateway.admission import Admission
    from gateway.pricing import Tokens
    from gateway.usage import UsageRecord

    path = make(tmp_path, "auth:\n  keys:\n    ci: {env: E, limits: {tpm: 1000}}\n")
    cfg = load_config(path, env={"E": "k"})

    class Writer:
        def __init__(self) -> None:
            from collections import deque

            self.queued = self.done = 0
            self.given_up: deque[tuple[float, str | None, int]] = deque()

    async def run() -> tuple[int, int]:
        adm = Admission(cfg, Writer())  # type: ignore[arg-type]
        await adm.start(type("Store", (), {"config": cfg})())
        other: KeyWindow | None = None
        try:
            adm.admit(cfg, "ci", "gpt-4o-mini")
            other = KeyWindow(next(adm.windows.folder.iterdir()))  # another worker's handle
            rec = UsageRecord("r1", "openai", 0.0, 0.0, api_key_name="ci")
            rec.tokens = Tokens(input=700, output=100)
            adm.finish(cfg, rec)
            policy = cfg.key_policies["ci"]
            before = other.current(policy, adm.clock.now())[1]
            deadline = asyncio.get_running_loop().time() + 5
            # polling a file another handle writes: there is no event to wait on
            while other.current(policy, adm.clock.now())[1] == 0 and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            return before, other.current(policy, adm.clock.now())[1]
        finally:
            if other is not None:
                other.close()
            await adm.stop()

    before, after = asyncio.run(run())
    assert (before, after) == (0, 800)


def test_a_process_alone_with_its_windows_skips_the_lock_until_another_comes(tmp_path):
    """Windows = one process's view of the folder. Alone, it needs no flock; once a second one
    has opened the folder, the first's next presence check makes both lock again, and together
    they never admit more than rpm."""
    from gateway.ratelimit import Windows

    first = Windows(tmp_path)
    p = KeyPolicy.build("k", None, 4, None, None)
    first.get("k").admit(p, 500.0)
    assert first.presence is not None and first.presence.alone  # nobody else: no lock taken
    second = Windows(tmp_path)
    try:
        second.get("k")
        assert second.presence is not None and not second.presence.alone  # the first is there
        first.check_alone()  # its next check (every PRESENCE_SECONDS in the gateway)
        assert not first.presence.alone
        admitted = 1
        for i in range(10):
            try:
                (first if i % 2 else second).get("k").admit(p, 500.0 + i)
                admitted += 1
            except Refused:
                pass
        assert admitted == 4
    finally:
        second.close()
    first.check_alone()
    assert first.presence.alone  # the other went away
    first.close()
