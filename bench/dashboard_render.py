"""How long the dashboard's first render takes on a big usage database.

    python bench/dashboard_render.py [--rows 1000000] [--db PATH] [--repeat 3] [--keep DIR]

Writes `--rows` demo rows (analytics/demo.py: 30 days, nine models, ~3% failures) into a
temporary usage database with the gateway's schema, plus demo price tables and an ekai.yaml,
then measures the first render three ways:

1. queries: the exact sequence of reads and query functions the dashboard's first render runs
   (one snapshot of the file, the filter lists from it, then every figure), each timed, in
   this process. This is the data work, with no marimo or browser in it.
2. app.run(): the whole notebook executed headless in a fresh Python process, as `python
   analytics/dashboard.py` would; reported with and without the process's imports.
3. marimo export html: the command-line export's wall time, i.e. a new process that starts
   marimo, runs every cell and serialises the outputs (charts and tables) to HTML.

It also times a filter change (every figure again on the in-memory snapshot, no file read) and
reports the snapshot's memory. Medians over `--repeat` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics import duck  # noqa: E402
from analytics import queries as q  # noqa: E402
from analytics.demo import demo_rows, write_pricing, write_rows  # noqa: E402
from analytics.prices import load_prices, price_files  # noqa: E402

APP_RUN = """
import sys, time, json
started = time.perf_counter()
sys.argv = ["dashboard.py", "--config", sys.argv[1]]
from analytics.dashboard import app
imported = time.perf_counter()
_, defs = app.run()
done = time.perf_counter()
assert defs["totals"].requests > 0, "the dashboard rendered no data"
print(json.dumps({"imports": imported - started, "run": done - imported}))
"""


def figures(con: duckdb.DuckDBPyConnection, f: q.Filters, prices: q.Prices) -> dict[str, float]:
    """Every query of the dashboard's data cells, in cell order; seconds per step."""
    steps: list[tuple[str, Callable[[], object]]] = [
        ("totals", lambda: q.totals(con, f)),
        ("cache_savings", lambda: q.cache_savings(con, f, prices)),
        ("spend_over_time", lambda: q.spend_over_time(con, f, bucket="day")),
        ("cost_by model, provider", lambda: (q.cost_by(con, f), q.cost_by(con, f, by="provider"))),
        ("latency", lambda: q.latency(con, f)),
        ("errors_by x2, recent_errors", lambda: (
            q.errors_by(con, f), q.errors_by(con, f, by="model"), q.recent_errors(con, f)
        )),
        ("latest_requests", lambda: q.latest_requests(con, f, limit=100)),
    ]  # fmt: skip
    timings = {}
    for name, step in steps:
        started = time.perf_counter()
        step()
        timings[name] = time.perf_counter() - started
    return timings


def first_render_queries(db: Path, prices: q.Prices) -> dict[str, float]:
    """The data work of a first render, step by step (seconds)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    snap = duck.snapshot(db)
    timings["snapshot (file -> memory)"] = time.perf_counter() - started
    started = time.perf_counter()
    q.filter_options(snap)
    timings["filter_options"] = time.perf_counter() - started
    now = datetime.now(UTC).replace(tzinfo=None)
    timings |= figures(snap, q.Filters(start=now - timedelta(days=30)), prices)
    snap.close()
    return timings


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    row = con.execute(sql).fetchone()
    return float(row[0]) if row and row[0] is not None else 0.0


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="measure this database instead of demo rows")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the demo database here and keep it")
    args = parser.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="ekai-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    db = args.db.resolve() if args.db else work / "usage.db"
    config = work / "ekai.yaml"
    config.write_text(f"usage:\n  database: {db}\npricing:\n  files: [pricing/*.yaml]\n")
    write_pricing(work / "pricing")
    try:
        if not args.db and not db.exists():
            started = time.perf_counter()
            write_rows(db, demo_rows(args.rows, days=30))
            print(f"generated {args.rows:,} rows in {time.perf_counter() - started:.1f} s")
        prices = load_prices(price_files(config)).prices
        snap = duck.snapshot(db)
        rows = q.totals(snap, q.Filters()).requests
        memory = scalar(snap, "SELECT sum(memory_usage_bytes) / 1e6 FROM duckdb_memory()")
        snap.close()
        print(f"database: {db} ({db.stat().st_size / 1e6:.0f} MB, {rows:,} rows)")
        print(f"snapshot in memory: {memory:.0f} MB")

        queries = median_of([first_render_queries(db, prices) for _ in range(args.repeat)])
        print(f"\n1. first render, data work (median of {args.repeat}):")
        for name, seconds in queries.items():
            print(f"   {name:28s} {seconds * 1000:8.0f} ms")
        print(f"   {'total':28s} {sum(queries.values()) * 1000:8.0f} ms")

        snap = duck.snapshot(db)
        now = datetime.now(UTC).replace(tzinfo=None)
        changes = [
            figures(snap, q.Filters(start=now - timedelta(days=7), providers=("anthropic",)), prices)
            for _ in range(args.repeat)
        ]
        snap.close()
        print(f"   filter change (figures only) {sum(median_of(changes).values()) * 1000:6.0f} ms")

        runs = []
        for _ in range(args.repeat):
            done = subprocess.run(
                [sys.executable, "-c", APP_RUN, str(config)],
                cwd=ROOT, capture_output=True, text=True, check=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )  # fmt: skip
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        app = median_of(runs)
        print("\n2. app.run() in a fresh process:")
        print(f"   imports {app['imports']:.2f} s + run {app['run']:.2f} s")

        walls = []
        for _ in range(args.repeat):
            out = work / "export.html"
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "marimo", "export", "html", "analytics/dashboard.py",
                 "-o", str(out), "--", "--config", str(config)],
                cwd=ROOT, capture_output=True, text=True, check=True,
            )  # fmt: skip
            walls.append(time.perf_counter() - started)
        print(f"\n3. marimo export html wall time: {statistics.median(walls):.2f} s")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
