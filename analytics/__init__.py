"""ekai's analytics: reading the gateway's usage database.

- `duck`: DuckDB connections onto the SQLite file (live view for `ekai sql`, in-memory snapshot
  for the dashboard), with DuckDB's sqlite extension installed from its PyPI wheel.
- `queries`: the dashboard's figures, one pure function each, every one a DuckDB query over all
  rows in range.
- `rollup`: hourly cells (the rows summed per hour and filter value) that the snapshot keeps
  with its copy, so that those figures sum a small table instead of every row.
- `prices`: the price tables, read leniently from pricing/*.yaml (for what caching saved).
- `sql`: `ekai sql`, printing a query's result as a table, CSV or JSON.
- `dashboard`: the marimo app (`marimo run analytics/dashboard.py`).
- `demo`: realistic made-up rows, for the benchmark, the screenshot script and trying things.
"""
