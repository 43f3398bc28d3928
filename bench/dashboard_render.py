"""The dashboard on a big usage database: first render, incremental refresh, memory, and what it
costs a gateway writing at full speed meanwhile.

    python bench/dashboard_render.py [--rows 1000000] [--db PATH] [--keep DIR] [--repeat 3]
                                     [--skip-cold] [--skip-app] [--skip-export]
                                     [--gateway [--rounds 3] [--seconds 20] [--tick 10]]

Without `--db`, writes `--rows` rows with bench/gen_usage.py (sessions of coding agents and
SDK scripts, keys, cache mix, ~2% failures) into a usage database with the gateway's schema,
plus its price tables and an ekai.yaml. `--keep DIR` keeps them there (and reuses the database
on the next run). Then, with the machine's load average printed beside every figure:

1. data work of a first render, cold: a new `analytics.duck.Snapshot` with no cache makes the
   hourly cells from the file (at 1M rows or more; below, it copies the table), then every
   query of the page runs (filter lists, every figure, the Sessions view; the latency
   percentiles wait for the rows, copied in the background meanwhile); each step timed, then
   the wait until the background copy is done and the latency percentiles after it. Then the
   same with the copy kept in a cache folder (a restart).
2. a refresh after 10,000 new rows: the rows are appended (as the gateway would), then
   `refresh()` copies them and every figure runs again.
3. app.run(): the whole notebook executed headless in a fresh Python process, as `python
   analytics/dashboard.py` would, cold (`--no-cache`) and warm (cache kept), with the process's
   peak RSS.
4. marimo export html: the command-line export's wall time (skip with `--skip-export`).
5. `--gateway`: a gateway (bench/bench.py's, on its fake provider) writes into this database at
   full speed (32 requests in flight) for `--seconds` per phase, alternately alone and while a
   dashboard process (its copy already made, as for a dashboard left open) refreshes its
   snapshot and re-runs every figure every `--tick` seconds (10: the dashboard's fastest
   setting), `--rounds` times each, interleaved. Reports the
   gateway's throughput and p50/p99 latency in both phases, the refresher's peak RSS, and checks
   that every request the gateway answered is a row in the database and in the final snapshot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
if str(HERE) not in sys.path:  # bench/'s own modules: gen_usage, and bench.py for phase 5
    sys.path.append(str(HERE))

from gen_usage import generate, write_pricing  # noqa: E402

from analytics import duck  # noqa: E402
from analytics import queries as q  # noqa: E402
from analytics.prices import load_prices, price_files  # noqa: E402

APP_RUN = """
import sys, time, json
started = time.perf_counter()
sys.path.append("bench")  # cwd is the repository root
from dashboard_render import peak_rss_mb
sys.argv = ["dashboard.py", "--config", sys.argv[1], *sys.argv[2:]]
from analytics.dashboard import app
imported = time.perf_counter()
_, defs = app.run()
done = time.perf_counter()
assert defs["totals"].requests > 0, "the dashboard rendered no data"
from analytics import duck
for snap in list(duck._SHARED.values()):  # a first start: its rows still being copied
    snap.wait()
copied = time.perf_counter()
print(json.dumps({"imports": imported - started, "run": done - imported,
                  "copy_done": copied - imported, "rss_mb": peak_rss_mb()}))
"""

# The dashboard process of phase 5: refreshes and re-renders every figure until told to stop.
REFRESHER = """
import json, resource, sys, time
from pathlib import Path
from datetime import UTC, datetime, timedelta
sys.path[:0] = [sys.argv[3], sys.argv[3] + "/bench"]
from analytics import duck
from dashboard_render import figures, peak_rss_mb
from analytics.prices import load_prices, price_files
db, config, stop, tick, cache = sys.argv[1], sys.argv[2], sys.argv[4], float(sys.argv[5]), sys.argv[6]
prices = load_prices(price_files(config)).prices
duck.lower_priority(10)  # as the dashboard does (its --nice)
snap = duck.Snapshot(db, cache=Path(cache))
t0 = time.perf_counter(); snap.refresh(); snap.wait(); first = time.perf_counter() - t0
print(json.dumps({"ready": True, "first_copy_s": first}), flush=True)
refreshes, copied, worst = 0, 0, 0.0
import os
next_tick = time.monotonic()
while not os.path.exists(stop):
    if time.monotonic() < next_tick:
        time.sleep(0.05)  # the dashboard's refresh control: one tick every `tick` seconds
        continue
    next_tick += tick
    t0 = time.perf_counter()
    copied += snap.refresh()
    now = datetime.now(UTC).replace(tzinfo=None)
    from analytics import queries as q
    figures(snap.con, q.Filters(start=now - timedelta(days=30)), prices)
    worst = max(worst, time.perf_counter() - t0)
    refreshes += 1
snap.refresh()
rows = snap.rows
print(json.dumps({"refreshes": refreshes, "copied": copied, "worst_s": worst, "rows": rows,
                  "rss_mb": peak_rss_mb()}))
"""


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: on Linux a child
    inherits its parent's figure across fork and exec, so it would report the bench's own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def count_rows(db: Path) -> int:
    """Rows in the file (SQLite's own count, through DuckDB: one SQLite library per process)."""
    con = duck.connect(db)
    try:
        row = con.execute(
            f"SELECT * FROM sqlite_query({duck.sql_string(duck.ATTACHED)}, "
            "'SELECT count(*) FROM usage')"
        ).fetchone()
        return int(str(row[0])) if row else 0
    finally:
        con.close()


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def figures(con: duckdb.DuckDBPyConnection, f: q.Filters, prices: q.Prices) -> dict[str, float]:
    """Every query of the dashboard's data cells, in cell order; seconds per step. As in the
    dashboard, the refresh cell lists the filter values again, and the session timeline is the
    first session of the top-sessions table."""
    found: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], object]]] = [
        ("filter_options (refresh cell)", lambda: q.filter_options(con)),
        ("totals", lambda: q.totals(con, f)),
        ("cache_savings", lambda: q.cache_savings(con, f, prices)),
        ("spend_over_time", lambda: q.spend_over_time(con, f, bucket="day")),
        ("cost_by model, provider, key, client", lambda: [
            q.cost_by(con, f, by=by) for by in ("model", "provider", "key", "client")
        ]),
        ("top_sessions", lambda: found.update(top=q.top_sessions(con, f, limit=25))),
        ("session timeline + breakdown", lambda: _one_session(con, found["top"])),
        ("latency", lambda: _latency(con, f)),
        ("errors_by x2, recent_errors", lambda: (
            q.errors_by(con, f), q.errors_by(con, f, by="model"), q.recent_errors(con, f)
        )),
        ("latest_requests", lambda: q.latest_requests(con, f, limit=100)),
    ]  # fmt: skip
    timings: dict[str, float] = {}
    for name, step in steps:
        with timed(timings, name):
            step()
    return timings


CPU: dict[str, float] = {}  # CPU seconds (this process, all threads) per step of the last `show`


@contextlib.contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Wall seconds into timings[name], CPU seconds of this process into CPU[name]: the CPU
    figure is what the step costs whatever else the machine is doing."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    timings[name] = time.perf_counter() - wall
    CPU[name] = time.process_time() - cpu


def _latency(con: duckdb.DuckDBPyConnection, f: q.Filters) -> None:
    with contextlib.suppress(q.StillCopying):  # a first copy under way: the page says loading
        q.latency(con, f)


def _one_session(con: duckdb.DuckDBPyConnection, top: Any) -> None:
    if top.height:
        q.session_timeline(con, top["session_id"][0])
        q.session_breakdown(con, top["session_id"][0])


def first_render(db: Path, prices: q.Prices, cache: Path | None) -> dict[str, float]:
    """The data work of a first render, step by step (seconds)."""
    timings: dict[str, float] = {}
    with timed(timings, "open the copy"):
        snap = duck.Snapshot(db, cache=cache)
    with timed(timings, "refresh (file -> copy)"):
        snap.refresh()
    with timed(timings, "filter_options"):
        q.filter_options(snap.con)
    now = datetime.now(UTC).replace(tzinfo=None)
    copying = snap.copying
    timings |= figures(snap.con, q.Filters(start=now - timedelta(days=30)), prices)
    if copying:  # a first copy in two steps: the rows were still on their way
        timings["(page ready; latency loading)"] = 0.0
        with timed(timings, "rows copied in the background: until done"):
            snap.wait()
        with timed(timings, "latency, once the copy is done"):
            q.latency(snap.con, q.Filters(start=now - timedelta(days=30)))
    snap.close()
    return timings


def show(title: str, timings: dict[str, float]) -> None:
    print(f"\n{title} ({load()}):   wall ms   CPU ms")
    total = cpu = 0.0
    for name, seconds in timings.items():
        if name.startswith("("):  # a milestone: the sums so far
            print(f"   {name:38s} {total * 1000:8.0f} {cpu * 1000:8.0f}")
            continue
        print(f"   {name:38s} {seconds * 1000:8.0f} {CPU.get(name, 0) * 1000:8.0f}")
        total += seconds
        cpu += CPU.get(name, 0)
    print(f"   {'total':38s} {total * 1000:8.0f} {cpu * 1000:8.0f}")


def append_rows(db: Path, rows: int, seed: int) -> None:
    """`rows` new rows from the last few minutes, in a separate process (one SQLite per process,
    see analytics/duck.py)."""
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gen_usage.py"), str(db), "--rows", str(rows),
         "--days", "0.003", "--seed", str(seed)],
        check=True, capture_output=True,
    )  # fmt: skip


def refresh_after(db: Path, prices: q.Prices, rows: int, repeat: int) -> None:
    snap = duck.Snapshot(db)
    snap.refresh()
    snap.wait()
    runs = []
    for i in range(repeat):
        append_rows(db, rows, seed=1000 + int(time.time()) % 100000 + i)
        copied: dict[str, float] = {}
        with timed(copied, "refresh (new rows -> copy)"):
            added = snap.refresh()
        assert added == rows, (added, rows)
        now = datetime.now(UTC).replace(tzinfo=None)
        runs.append(copied | figures(snap.con, q.Filters(start=now - timedelta(days=30)), prices))
    snap.close()
    show(f"2. refresh after {rows:,} new rows (median of {repeat})", median_of(runs))


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def app_runs(config: Path, repeat: int, cache: Path, cold: bool) -> None:
    print(f"\n3. app.run() in a fresh process ({load()}):")
    kinds = [("cold, --no-cache", ["--no-cache"])] if cold else []
    for label, extra in [*kinds, ("warm, cache kept", [])]:
        runs = []
        for _ in range(repeat):
            done = subprocess.run(
                [sys.executable, "-c", APP_RUN, str(config), *extra],
                cwd=ROOT, capture_output=True, text=True, check=True,
                env={**os.environ, "PYTHONPATH": str(ROOT), "EKAI_CACHE_DIR": str(cache)},
            )  # fmt: skip
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        m = median_of(runs)
        print(
            f"   {label:18s} imports {m['imports']:.2f} s + run {m['run']:.2f} s "
            f"(rows all copied at {m['copy_done']:.2f} s), "
            f"peak RSS {max(r['rss_mb'] for r in runs):.0f} MB ({load()})"
        )


def export_run(config: Path, work: Path, repeat: int, cache: Path) -> None:
    walls = []
    for _ in range(repeat):
        out = work / "export.html"
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "marimo", "export", "html", "analytics/dashboard.py",
             "-o", str(out), "--", "--config", str(config)],
            cwd=ROOT, capture_output=True, text=True, check=True,
            env={**os.environ, "EKAI_CACHE_DIR": str(cache)},
        )  # fmt: skip
        walls.append(time.perf_counter() - started)
    print(f"\n4. marimo export html (warm cache): {statistics.median(walls):.2f} s ({load()})")


def gateway_run(
    db: Path, config: Path, work: Path, rounds: int, seconds: float, tick: float
) -> int:
    """Phase 5; returns 1 when a row went missing."""
    import aiohttp

    import bench as gb  # bench/bench.py

    original = gb.write_config

    def into_db(*args: Any, **kwargs: Any) -> Path:  # the gateway writes into `db`
        path = original(*args, **kwargs)
        path.write_text(path.read_text().replace("usage.db", str(db)))
        return path

    gb.write_config = into_db
    folder = Path(tempfile.mkdtemp(prefix="ekai-gw-", dir=work))
    fake = gb.Fake(chunks=20, cores=None).start()
    gw = gb.GatewayProc(folder, workers=1, cores=None)
    gw.db = db
    scenario = next(sc for sc in gb.SCENARIOS if sc.name == "openai")
    stop = folder / "stop"
    phases: dict[str, list[dict[str, Any]]] = {"alone": [], "with dashboard": []}
    rows_before = gw.count_rows()
    sent = 0
    refresher = None
    result: dict[str, Any] = {}
    try:
        gw.start(fake)

        async def phase() -> dict[str, Any]:
            nonlocal sent
            connector = aiohttp.TCPConnector(limit=32, limit_per_host=0)
            async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
                loader = gb.Load(session, gw.url, scenario, scenario.gateway_path())
                sample = await gb.run_concurrent(loader, 32, 10**9, seconds, {})
                sent += loader.sent
                return sample.summary()

        asyncio.run(phase())  # warm-up
        for r in range(rounds):
            for name in ("alone", "with dashboard") if r % 2 == 0 else ("with dashboard", "alone"):
                if name == "with dashboard":
                    stop.unlink(missing_ok=True)
                    refresher = subprocess.Popen(
                        [sys.executable, "-c", REFRESHER, str(db), str(config), str(ROOT),
                         str(stop), str(tick), str(work / "cache")],
                        stdout=subprocess.PIPE, text=True, cwd=ROOT,
                    )  # fmt: skip
                    assert refresher.stdout is not None
                    ready = json.loads(refresher.stdout.readline())
                    print(f"   dashboard copy ready in {ready['first_copy_s']:.1f} s ({load()})")
                summary = asyncio.run(phase()) | {"load": load()}
                phases[name].append(summary)
                if refresher is not None:
                    stop.touch()
                    out, _ = refresher.communicate(timeout=300)
                    result = json.loads(out.strip().splitlines()[-1])
                    refresher = None
                    summary["refresher"] = result
    finally:
        if refresher is not None:
            refresher.kill()
        gw.stop()
        fake.stop()
        gb.write_config = original
    rows_after = gw.count_rows()
    final = duck.Snapshot(db, cache=work / "cache")  # the dashboard's copy, caught up
    final.refresh()
    final.wait()
    copied = final.rows
    final.close()
    print(f"\n5. a gateway writing at full speed, alone and while a dashboard refreshes "
          f"({rounds} rounds of {seconds:.0f} s each, interleaved):")  # fmt: skip
    for name, runs in phases.items():
        for run in runs:
            extra = ""
            if "refresher" in run:
                rf = run["refresher"]
                extra = (
                    f"; dashboard: {rf['refreshes']} refreshes, {rf['copied']:,} rows copied, "
                    f"slowest refresh+figures {rf['worst_s']:.2f} s, peak RSS {rf['rss_mb']:.0f} MB"
                )
            print(
                f"   {name:15s} {run.get('rps', 0):8.0f} req/s  "
                f"p50 {run.get('p50_ms', 0):.2f} ms  p99 {run.get('p99_ms', 0):.2f} ms  "
                f"errors {run.get('errors', 0)}  ({run['load']}){extra}"
            )
    lost = rows_before + sent - rows_after
    print(f"   rows: {rows_before:,} before + {sent:,} answered = {rows_before + sent:,}; "
          f"database has {rows_after:,} (lost: {lost})")  # fmt: skip
    print(f"   the dashboard's copy, refreshed once more: {copied:,} rows "
          f"({'the same' if copied == rows_after else 'DIFFERENT'})")  # fmt: skip
    return 1 if lost or copied != rows_after else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="measure this database instead of generated rows")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the database here and keep it")
    parser.add_argument("--skip-cold", action="store_true", help="skip 1a; keep the cache")
    parser.add_argument("--skip-app", action="store_true", help="skip app.run() (phase 3)")
    parser.add_argument("--skip-export", action="store_true", help="skip marimo export (4)")
    parser.add_argument("--gateway", action="store_true", help="phase 5: a gateway writing")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0, help="per phase of 5")
    parser.add_argument("--tick", type=float, default=10.0,
                        help="5: seconds between dashboard refreshes (its fastest setting: 10)")  # fmt: skip
    args = parser.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="ekai-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    db = args.db.resolve() if args.db else work / "usage.db"
    config = work / "ekai.yaml"
    config.write_text(f"usage:\n  database: {db}\npricing:\n  files: [pricing/*.yaml]\n")
    write_pricing(work / "pricing")
    cache = work / "cache"
    status = 0
    try:
        print(f"machine: {os.cpu_count()} cores, {load()}")
        if not args.db and not db.exists():
            started = time.perf_counter()
            generate(db, args.rows)
            print(f"generated {args.rows:,} rows in {time.perf_counter() - started:.1f} s "
                  f"({load()})")  # fmt: skip
        prices = load_prices(price_files(config)).prices
        rows = count_rows(db)
        print(f"database: {db} ({db.stat().st_size / 1e6:.0f} MB, {rows:,} rows)")

        if not args.skip_cold:
            show("1a. first render, data work, cold (no cache)", first_render(db, prices, None))
            shutil.rmtree(cache, ignore_errors=True)
        first_render(db, prices, cache)  # fills the cache (or catches it up)
        size = sum(p.stat().st_size for p in cache.glob("*.duckdb"))
        show(f"1b. first render, warm (cache kept: {size / 1e6:.0f} MB on disk)",
             first_render(db, prices, cache))  # fmt: skip
        refresh_after(db, prices, 10_000, args.repeat)
        if not args.skip_app:
            app_runs(config, args.repeat, cache, cold=not args.skip_cold)
        if not args.skip_export:
            export_run(config, work, args.repeat, cache)
        if args.gateway:
            status = gateway_run(db, config, work, args.rounds, args.seconds, args.tick)
        print(f"\nown peak RSS {peak_rss_mb():.0f} MB")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
