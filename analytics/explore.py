"""Ad-hoc SQL over ekai's usage table, as a marimo notebook.

    marimo edit analytics/explore.py                        # database named by ./ekai.yaml
    marimo edit analytics/explore.py -- --db var/usage.db   # or --config PATH, --no-cache

Every SQL cell (`mo.sql`) runs in DuckDB against `usage`, the same copy of the table the
dashboard queries (`analytics.duck.Snapshot`: the contract's columns, `ts` as a UTC TIMESTAMP,
brought up to date incrementally, kept in the cache folder between runs). Change a worked query
or add a SQL cell (the "SQL" button under a cell) and its result is a Polars frame named by the
cell, which the chart at the bottom can draw. Re-run the "copy" cell to read rows added since.
The token columns: the prompt is `input_tokens + cache_read_tokens + cache_write_tokens`, so the
cache hit rate is `cache_read_tokens` over that sum. For the file itself, with every column the
gateway writes, use `ekai sql "..."` in a terminal.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="ekai: explore usage")

with app.setup:
    import argparse
    import sys
    from pathlib import Path

    # `marimo edit analytics/explore.py` puts analytics/ on sys.path, not the repository root.
    _root = str(Path(__file__).resolve().parent.parent)
    if _root not in sys.path:
        sys.path.insert(0, _root)

    import altair as alt
    import marimo as mo
    import polars as pl

    from analytics import duck


@app.function
def parse_args(argv: list[str]) -> argparse.Namespace:
    """The options after `--`: --db, --config, --cache, --no-cache. Unknown ones are ignored."""
    parser = argparse.ArgumentParser(prog="analytics/explore.py", add_help=False)
    parser.add_argument(
        "--db", help="usage database: a file or a postgresql:// URL (default: from the config)"
    )
    parser.add_argument("--config", type=Path, help="ekai.yaml (default: $EKAI_CONFIG, ./ekai.yaml)")
    parser.add_argument("--cache", type=Path, help="where the copy is kept between runs")
    parser.add_argument("--no-cache", action="store_true", help="a temporary copy instead")
    args, _unknown = parser.parse_known_args(argv)
    return args


@app.cell(hide_code=True)
def _():
    mo.md(r"""
    # Explore ekai usage with SQL

    Each cell below is DuckDB SQL over `usage` (one row per request through the gateway).
    Edit them, or add your own with the **SQL** button. The chart at the bottom draws any
    of the results.
    """)
    return


@app.cell(hide_code=True)
def _():
    # The copy of the usage table that every SQL cell below queries (engine=con).
    _args = parse_args(sys.argv[1:])
    db_path = duck.resolve_database(_args.db, duck.resolve_config(_args.config))
    _cache = None if _args.no_cache else (_args.cache or duck.cache_directory())
    snapshot = duck.shared_snapshot(db_path, _cache)
    snapshot.refresh()
    snapshot.wait()  # SQL cells read the rows themselves: a first copy is finished here
    con = snapshot.cursor()
    mo.md(f"`{duck.shown(db_path)}`: {snapshot.rows:,} requests (times in UTC)")
    return con, db_path, snapshot


@app.cell(hide_code=True)
def _():
    mo.md(r"""
    ## Cost per session
    """)
    return


@app.cell
def _(con):
    cost_per_session = mo.sql(
        f"""
        SELECT session_id,
               mode(client) AS client,
               count(*) AS requests,
               round(sum(cost_usd), 4) AS cost_usd,
               round(sum(cache_read_tokens)
                     / nullif(sum(input_tokens + cache_read_tokens + cache_write_tokens), 0), 4)
                   AS cache_hit_rate,
               min(ts) AS first,
               max(ts) AS last
        FROM usage
        WHERE session_id IS NOT NULL
        GROUP BY session_id
        ORDER BY cost_usd DESC NULLS LAST, session_id
        LIMIT 20
        """,
        engine=con,
    )
    return (cost_per_session,)


@app.cell(hide_code=True)
def _():
    mo.md(r"""
    ## Cache hit rate per model
    """)
    return


@app.cell
def _(con):
    cache_hit_by_model = mo.sql(
        f"""
        SELECT model,
               count(*) AS requests,
               sum(cache_read_tokens)::BIGINT AS cache_read_tokens,
               sum(input_tokens + cache_read_tokens + cache_write_tokens)::BIGINT AS prompt_tokens,
               round(sum(cache_read_tokens)
                     / nullif(sum(input_tokens + cache_read_tokens + cache_write_tokens), 0), 4)
                   AS cache_hit_rate
        FROM usage
        GROUP BY model
        ORDER BY prompt_tokens DESC, model
        """,
        engine=con,
    )
    return (cache_hit_by_model,)


@app.cell(hide_code=True)
def _():
    mo.md(r"""
    ## The 20 slowest requests
    """)
    return


@app.cell
def _(con):
    slowest = mo.sql(
        f"""
        SELECT ts, model, provider, client, session_id, status,
               round(latency_ms) AS latency_ms, round(ttft_ms) AS ttft_ms, output_tokens
        FROM usage
        WHERE latency_ms IS NOT NULL
        ORDER BY latency_ms DESC, id
        LIMIT 20
        """,
        engine=con,
    )
    return (slowest,)


@app.cell(hide_code=True)
def _():
    mo.md(r"""
    ## Your query
    """)
    return


@app.cell
def _(con):
    mine = mo.sql(
        f"""
        SELECT date_trunc('day', ts) AS day, coalesce(client, '(unknown)') AS client,
               round(sum(cost_usd), 4) AS cost_usd, count(*) AS requests
        FROM usage
        GROUP BY ALL
        ORDER BY day, client
        """,
        engine=con,
    )
    return (mine,)


@app.cell(hide_code=True)
def _(cache_hit_by_model, cost_per_session, mine, slowest):
    results = {
        "your query": mine,
        "cost per session": cost_per_session,
        "cache hit rate per model": cache_hit_by_model,
        "slowest requests": slowest,
    }
    which = mo.ui.dropdown(options=list(results), value="your query", label="Chart the result of")
    which
    return results, which


@app.cell(hide_code=True)
def _(results, which):
    frame = results[which.value]
    _columns = list(frame.columns)
    _numbers = [c for c, t in frame.schema.items() if t.is_numeric()] or _columns
    x_col = mo.ui.dropdown(options=_columns, value=_columns[0], label="x")
    y_col = mo.ui.dropdown(options=_columns, value=_numbers[-1 if len(_numbers) > 1 else 0], label="y")
    color_col = mo.ui.dropdown(options=["(none)", *_columns], value="(none)", label="colour")
    mark = mo.ui.radio(options=["bar", "line", "point"], value="bar", inline=True, label="mark")
    mo.hstack([x_col, y_col, color_col, mark], justify="start", gap=1.5)
    return color_col, frame, mark, x_col, y_col


@app.cell(hide_code=True)
def _(color_col, frame, mark, x_col, y_col):
    def _kind(column: str) -> str:
        dtype = frame.schema[column]
        if dtype.is_temporal():
            return "T"
        return "Q" if dtype.is_numeric() else "N"

    # Datetimes as ISO text with a Z, which Vega reads as UTC.
    _data = frame.with_columns(
        pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        for c, t in frame.schema.items()
        if t.is_temporal()
    )
    _encode = {
        "x": alt.X(f"{x_col.value}:{_kind(x_col.value)}", sort=None),
        "y": alt.Y(f"{y_col.value}:{_kind(y_col.value)}"),
        "tooltip": list(frame.columns),
    }
    if color_col.value != "(none)":
        _encode["color"] = alt.Color(f"{color_col.value}:N")
    _base = alt.Chart(_data)
    _marked = {"bar": _base.mark_bar(), "line": _base.mark_line(point=True), "point": _base.mark_point()}
    result_chart = _marked[mark.value].encode(**_encode).properties(width="container", height=300)
    mo.ui.altair_chart(result_chart, chart_selection=False, legend_selection=False)
    return (result_chart,)


if __name__ == "__main__":
    app.run()
