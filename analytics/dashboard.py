"""ekai's usage dashboard, a marimo app.

    marimo run analytics/dashboard.py                       # database named by ./ekai.yaml
    marimo run analytics/dashboard.py -- --db var/usage.db  # or --config PATH, --period all

How it reads the data. The page queries a DuckDB copy of the usage table
(`analytics.duck.Snapshot`), one per dashboard process, shared by every open tab. Each tick of
the refresh control copies only the rows added since the last one (ids above the last seen), so
a refresh costs what the new rows cost, not what the table costs; the file is attached only for
that short read, so the gateway writing it is never held up. The copy is kept in the cache
directory (`--cache DIR`, default `$EKAI_CACHE_DIR` or ~/.cache/ekai; `--no-cache` for a private
temporary one), so reopening the dashboard reads only what arrived meanwhile. Every figure below
is a query over *all* rows of the copy that match the filters (`analytics.queries`; the sums read
the copy's hourly cells, `analytics.rollup`, which give the same figures in a fraction of the
time); changing a filter re-runs only those queries.

The first start. With no kept copy and a large table (1M rows or more), the page is rendered
from the hourly cells, made straight from the file (a fraction of the time copying every row
takes), and the rows are then copied in the background (the last cell starts it). Until then
the rows a figure needs beyond the cells (the hours a period cuts, the latest requests and
errors, a session's timeline) are read from the file by id, and the latency panel shows that it
is loading: its percentiles need every row. A later start reopens the kept copy (and finishes a
copy that was cut short).

Sessions. A coding agent's session (Claude Code, Codex, or anything sending `x-ekai-session`)
is many requests; the Sessions section lists the period's most expensive ones and, for the one
selected in that table, its timeline: cost and tokens per request, by model and sub-agent, and
whether prompt caching held.

Controls. The lists of providers, models and client formats are read once, when the page opens;
an empty selection means "all", so new values are never hidden, and reloading the page lists
them. Periods ("Last 7 days", ...) are relative to the latest refresh, so the window moves with
time. All times are UTC.

The first-run and missing-database states stop the data cells with a message (`mo.stop`), never
with a failing cell.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="ekai usage")

with app.setup:
    import argparse
    import sys
    from collections.abc import Callable
    from datetime import UTC, date, datetime, timedelta
    from pathlib import Path
    from typing import Any

    # `marimo run analytics/dashboard.py` puts analytics/ on sys.path, not the repository root.
    _root = str(Path(__file__).resolve().parent.parent)
    if _root not in sys.path:
        sys.path.insert(0, _root)

    import altair as alt
    import marimo as mo
    import polars as pl

    from analytics import duck
    from analytics import queries as q
    from analytics.budgets import budget_rows, load_budgets
    from analytics.prices import load_prices, price_files

    PERIODS = {
        "Last 24 hours": "24h",
        "Last 7 days": "7d",
        "Last 30 days": "30d",
        "Last 90 days": "90d",
        "All time": "all",
        "Custom range": "custom",
    }
    PERIOD_DAYS = {"24h": 1, "7d": 7, "30d": 30, "90d": 90}


@app.function
def parse_args(argv: list[str]) -> argparse.Namespace:
    """The options after `--`: --db, --config, --period. Unknown ones are ignored."""
    parser = argparse.ArgumentParser(prog="analytics/dashboard.py", add_help=False)
    parser.add_argument(
        "--db", help="usage database, a file or a postgresql:// URL (default: from the config)"
    )
    parser.add_argument(
        "--config", type=Path, help="ekai.yaml (default: $EKAI_CONFIG, ./ekai.yaml)"
    )
    parser.add_argument("--period", choices=sorted(set(PERIODS.values())), default="30d")
    parser.add_argument("--cache", type=Path, help="where the snapshot is kept between runs")
    parser.add_argument("--no-cache", action="store_true", help="a temporary snapshot instead")
    parser.add_argument(
        "--nice", type=int, default=10, help="CPU priority, 0-19 (default 10: below the gateway)"
    )
    args, _unknown = parser.parse_known_args(argv)
    return args


@app.function
def period_bounds(
    period: str, custom: tuple[date, date] | None, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """[start, end) in naive UTC for a period choice; None is open-ended."""
    if period in PERIOD_DAYS:
        return now - timedelta(days=PERIOD_DAYS[period]), None
    if period == "custom" and custom is not None:
        start_day, end_day = custom
        start = datetime(start_day.year, start_day.month, start_day.day)
        end = datetime(end_day.year, end_day.month, end_day.day) + timedelta(days=1)
        return start, end
    return None, None


@app.function
def pick_bucket(
    choice: str,
    start: datetime | None,
    end: datetime | None,
    first: datetime | None,
    last: datetime | None,
) -> str:
    """The time bucket for a choice of "auto", "hour" or "day": auto is hourly when the period
    (open ends taken from the data's `first` and `last`) spans at most three days."""
    if choice in ("hour", "day"):
        return choice
    lo = start or first
    hi = end or last
    if lo is None or hi is None:
        return "day"
    return "hour" if hi - lo <= timedelta(days=3) else "day"


@app.function
def money(usd: float | None) -> str:
    if usd is None:
        return "n/a"
    return f"${usd:,.2f}" if abs(usd) >= 0.01 or usd == 0 else f"${usd:.4f}"


@app.function
def count(n: float) -> str:
    """1234 -> "1,234"; 5_860_000_000 -> "5.86 B"."""
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if abs(n) >= size:
            return f"{n / size:,.2f} {suffix}"
    return f"{n:,.0f}"


@app.function
def utc_text(frame: pl.DataFrame, column: str, fmt: str = "%Y-%m-%dT%H:%M:%SZ") -> pl.DataFrame:
    """A datetime column as ISO text with a Z, which Vega reads as UTC (naive would be local)."""
    return frame.with_columns(pl.col(column).dt.strftime(fmt))


@app.function
def chart(spec: alt.TopLevelMixin) -> object:
    """An altair chart as a marimo element, without click or legend selection (nothing here
    filters by clicking, and a selection that does nothing would only confuse)."""
    return mo.ui.altair_chart(spec, chart_selection=False, legend_selection=False)


@app.function
def cell_format(column: str, dtype: pl.DataType) -> Callable[[Any], str] | None:
    """How `grid` shows a column, from its name and type (None: marimo's default)."""
    if column in ("error_rate", "share", "cache_hit_rate"):
        return lambda v: "" if v is None else f"{v:.2%}"
    if column == "cost_usd":
        return lambda v: "" if v is None else f"{v:.6f}"
    if column.endswith("_usd"):
        return lambda v: "" if v is None else f"{v:,.2f}"
    if column.endswith("_ms"):
        return lambda v: "" if v is None else f"{v:,.0f}"
    if dtype.is_integer() and column not in ("status", "stream"):
        return lambda v: "" if v is None else f"{int(v):,}"
    return None


@app.function
def grid(frame: pl.DataFrame, *, page_size: int = 10, label: str = "") -> object:
    """A read-only table with numbers formatted for reading."""
    formats = {
        name: fmt
        for name, dtype in frame.schema.items()
        if (fmt := cell_format(name, dtype)) is not None
    }
    return mo.ui.table(
        frame,
        selection=None,
        page_size=page_size,
        show_column_summaries=False,
        format_mapping=formats,
        label=label,
    )


@app.cell(hide_code=True)
def _():
    args = parse_args(sys.argv[1:])
    config_path = duck.resolve_config(args.config)
    db_path = duck.resolve_database(args.db, config_path)
    price_book = load_prices(price_files(config_path))
    cache_dir = None if args.no_cache else (args.cache or duck.cache_directory())
    _niceness = duck.lower_priority(args.nice)  # (assigned: a bare expression would display)
    return args, cache_dir, config_path, db_path, price_book


@app.cell(hide_code=True)
def _(cache_dir, db_path):
    # The process's one copy of the table, and this tab's own connection onto it.
    shared = duck.shared_snapshot(db_path, cache_dir)
    cursor = shared.cursor()
    return cursor, shared


@app.cell(hide_code=True)
def _(cursor, shared):
    # The filter lists are read once per page load (see the module docstring).
    try:
        shared.refresh()
        options = q.filter_options(cursor)
    except duck.AnalyticsError:
        options = q.FilterOptions()
    return (options,)


@app.cell(hide_code=True)
def _(args, options):
    _today = datetime.now(UTC).date()
    _first = options.first.date() if options.first else _today - timedelta(days=30)
    _last = max(options.last.date() if options.last else _today, _today)
    refresh = mo.ui.refresh(options=["10s", "30s", "1m", "5m"], default_interval="1m")
    period = mo.ui.dropdown(
        options=PERIODS,
        value=next(k for k, v in PERIODS.items() if v == args.period),
        label="Period",
    )
    custom = mo.ui.date_range(
        start=min(_first, _last),
        stop=_last,
        value=(max(_first, _last - timedelta(days=6)), _last),
        label="Custom range",
    )
    providers = mo.ui.multiselect(options=list(options.providers), label="Providers")
    models = mo.ui.multiselect(options=list(options.models), label="Models")
    formats = mo.ui.multiselect(options=list(options.client_formats), label="Client API")
    keys = mo.ui.multiselect(options=list(options.keys), label="Keys")
    clients = mo.ui.multiselect(options=list(options.clients), label="Clients")
    session = mo.ui.text(placeholder="session id", label="Session", full_width=False)
    bucket = mo.ui.radio(options=["auto", "hour", "day"], value="auto", inline=True, label="Bucket")
    split = mo.ui.radio(
        options=["provider", "model"], value="provider", inline=True, label="Split by"
    )
    return (
        bucket,
        clients,
        custom,
        formats,
        keys,
        models,
        period,
        providers,
        refresh,
        session,
        split,
    )


@app.cell(hide_code=True)
def _(
    bucket,
    clients,
    custom,
    db_path,
    formats,
    keys,
    models,
    period,
    providers,
    refresh,
    session,
    split,
):
    mo.vstack(
        [
            mo.hstack(
                [mo.md(f"# ekai usage\n`{duck.shown(db_path)}` · times in UTC"), refresh],
                align="center",
            ),
            mo.hstack([period, custom, providers, models, formats], justify="start", gap=1.5),
            mo.hstack([keys, clients, session, bucket, split], justify="start", gap=2),
        ]
    )
    return


@app.cell(hide_code=True)
def _(cursor, refresh, shared):
    refresh.value  # re-run (and copy the new rows) on every tick of the refresh control
    try:
        shared.refresh()
        snap, problem = cursor, None
    except duck.DatabaseMissing:
        snap, problem = None, "missing"
    except duck.AnalyticsError as _exc:  # the copy keeps what it had; say why it is stale
        snap, problem = (cursor, None) if shared.rows else (None, str(_exc))
    now = datetime.now(UTC).replace(tzinfo=None)
    everything = q.filter_options(snap) if snap is not None else q.FilterOptions()

    return everything, now, problem, snap


@app.cell(hide_code=True)
def _(db_path, everything, problem, snap):
    if problem == "missing":
        _message = mo.callout(
            mo.md(
                f"""
                ### No usage database yet

                The dashboard reads `{duck.shown(db_path)}`, which does not exist yet. It is created when
                the gateway starts:

                ```
                ekai serve            # or: make serve
                ```

                Send a request through it (for example point an OpenAI or Anthropic client at
                `http://127.0.0.1:3001`) and this page fills in on its next refresh. To look at
                another database: `marimo run analytics/dashboard.py -- --db PATH`.
                """
            ),
            kind="info",
        )
    elif problem is not None:
        _message = mo.callout(
            mo.md(f"### Cannot read the usage database\n\n{problem}"), kind="danger"
        )
    else:
        _message = mo.callout(
            mo.md(
                f"""
                ### No requests recorded yet

                `{duck.shown(db_path)}` is there but empty. Every request that goes through the gateway
                (`ekai serve`) adds a row; this page refreshes itself and shows them as they come.
                """
            ),
            kind="info",
        )
    # Everything that reads data depends on `con`, which exists only past this point.
    mo.stop(snap is None or everything.requests == 0, _message)
    con = snap
    return (con,)


@app.cell(hide_code=True)
def _(
    bucket,
    clients,
    custom,
    everything,
    formats,
    keys,
    models,
    now,
    period,
    providers,
    session,
):
    _start, _end = period_bounds(period.value, custom.value, now)
    flt = q.Filters(
        start=_start,
        end=_end,
        providers=tuple(providers.value),
        models=tuple(models.value),
        client_formats=tuple(formats.value),
        keys=tuple(keys.value),
        clients=tuple(clients.value),
        sessions=(session.value.strip(),) if session.value.strip() else (),
    )
    bucket_unit = pick_bucket(bucket.value, _start, _end, everything.first, everything.last)
    return bucket_unit, flt


@app.cell(hide_code=True)
def _(con, everything, flt, period):
    totals = q.totals(con, flt)
    mo.stop(
        totals.requests == 0,
        mo.callout(
            mo.md(
                f"No requests match these filters ({period.selected_key.lower()}). "
                f"The database holds {count(everything.requests)} requests, "
                f"from {everything.first:%Y-%m-%d} to {everything.last:%Y-%m-%d}: "
                "try **All time**."
            ),
            kind="warn",
        ),
    )
    selected = flt  # the filters, once they are known to match rows: the charts use these
    return selected, totals


@app.cell(hide_code=True)
def _(con, price_book, selected):
    savings = q.cache_savings(con, selected, price_book.prices)
    net_saved = q.total_savings(savings)
    return net_saved, savings


@app.cell(hide_code=True)
def _(net_saved, totals):
    _tokens = (
        f"in {count(totals.input_tokens)} · cache read {count(totals.cache_read_tokens)} · "
        f"cache write {count(totals.cache_write_tokens)} · out {count(totals.output_tokens)}"
    )
    _unpriced = f"{count(totals.unpriced)} without a price" if totals.unpriced else "all priced"
    mo.hstack(
        [
            mo.stat(money(totals.spend_usd), label="Spend", caption=_unpriced, bordered=True),
            mo.stat(
                count(totals.requests),
                label="Requests",
                caption=f"{count(totals.failed)} failed",
                bordered=True,
            ),
            mo.stat(count(totals.tokens), label="Tokens", caption=_tokens, bordered=True),
            mo.stat(
                money(net_saved),
                label="Saved by caching",
                caption="vs. the same prompts uncached",
                bordered=True,
            ),
            mo.stat(
                f"{totals.error_rate:.2%}",
                label="Error rate",
                caption="status ≥ 400 or an error",
                bordered=True,
            ),
        ],
        widths="equal",
        gap=1,
    )
    return


@app.cell(hide_code=True)
def _(bucket_unit, con, selected, split):
    over_time = q.spend_over_time(con, selected, bucket=bucket_unit, split=split.value)
    _data = utc_text(over_time, "bucket").with_columns(
        pl.col("bucket")
        .str.replace("T", " ")
        .str.slice(0, 16 if bucket_unit == "hour" else 10)
        .alias("when")
    )
    _unit = "utcyearmonthdatehours" if bucket_unit == "hour" else "utcyearmonthdate"
    _chart = (
        alt.Chart(_data)
        .mark_bar()
        .encode(
            # A UTC time unit gives each bar its bucket's full width and UTC axis labels.
            x=alt.X(f"{_unit}(bucket):T", title=None),
            y=alt.Y("spend_usd:Q", title="USD", stack=True),
            color=alt.Color("key:N", title=split.value),
            tooltip=[
                alt.Tooltip("when:N", title=f"{bucket_unit} (UTC)"),
                alt.Tooltip("key:N", title=split.value),
                alt.Tooltip("spend_usd:Q", title="USD", format=",.4f"),
                alt.Tooltip("requests:Q", format=","),
            ],
        )
        .properties(width="container", height=260)
    )
    mo.vstack([mo.md(f"### Spend per {bucket_unit}, by {split.value}"), chart(_chart)])
    return (over_time,)


@app.cell(hide_code=True)
def _(totals):
    mix = q.token_mix_frame(totals)
    _chart = (
        alt.Chart(mix)
        .mark_bar()
        .encode(
            y=alt.Y("kind:N", title=None, sort=list(mix["kind"])),
            x=alt.X("tokens:Q", title="tokens"),
            color=alt.Color("kind:N", legend=None, sort=list(mix["kind"])),
            tooltip=[
                "kind:N",
                alt.Tooltip("tokens:Q", format=","),
                alt.Tooltip("share:Q", format=".1%"),
            ],
        )
        .properties(width="container", height=160)
    )
    _labels = _chart.mark_text(align="left", dx=4).encode(
        text=alt.Text("share:Q", format=".1%"), color=alt.value("#444")
    )
    mo.vstack([mo.md("### Token mix"), chart(_chart + _labels)])
    return (mix,)


@app.cell(hide_code=True)
def _(con, selected):
    by_model = q.cost_by(con, selected, by="model")
    by_provider = q.cost_by(con, selected, by="provider")
    by_key = q.cost_by(con, selected, by="key")
    by_client = q.cost_by(con, selected, by="client")

    def _bars(frame, title):
        return (
            alt.Chart(frame)
            .mark_bar()
            .encode(
                y=alt.Y("key:N", title=None, sort="-x"),
                x=alt.X("spend_usd:Q", title="USD"),
                tooltip=[
                    alt.Tooltip("key:N", title=title),
                    alt.Tooltip("spend_usd:Q", title="USD", format=",.2f"),
                    alt.Tooltip("share:Q", format=".1%"),
                    alt.Tooltip("requests:Q", format=","),
                    alt.Tooltip("unpriced:Q", title="without price", format=","),
                ],
            )
            .properties(width="container", height=max(80, 24 * frame.height))
        )

    mo.vstack(
        [
            mo.hstack(
                [
                    mo.vstack([mo.md("### Cost by model"), chart(_bars(by_model, "model"))]),
                    mo.vstack(
                        [mo.md("### Cost by provider"), chart(_bars(by_provider, "provider"))]
                    ),
                ],
                widths="equal",
                gap=2,
            ),
            mo.hstack(
                [
                    mo.vstack([mo.md("### Cost by gateway key"), chart(_bars(by_key, "key"))]),
                    mo.vstack([mo.md("### Cost by client"), chart(_bars(by_client, "client"))]),
                ],
                widths="equal",
                gap=2,
            ),
        ]
    )
    return by_client, by_key, by_model, by_provider


@app.cell(hide_code=True)
def _(con, config_path, now):
    # The UTC day and month containing now, whatever the period filter: the gateway's windows.
    key_budgets = load_budgets(config_path)
    budget_table = budget_rows(q.key_spend(con, now), key_budgets)
    _title = "### Spend per key against its budget"
    _caption = (
        f"Today ({now:%Y-%m-%d}) and this month ({now:%Y-%m}) in UTC, the windows the gateway "
        "enforces, whatever the period selected above. Budgets from `auth` in "
        f"`{config_path}`; a key without one shows its spend only."
    )
    _problems = (
        [mo.callout(mo.md("Budget settings not read: " + "; ".join(key_budgets.problems)),
                    kind="warn")]
        if key_budgets.problems else []
    )  # fmt: skip
    if not key_budgets.found:
        _panel = mo.vstack(
            [
                mo.md(
                    f"{_title}\n\nNo gateway keys or budgets: `{config_path}` has no `auth` "
                    "section."
                ),
                *_problems,
            ]
        )
    else:
        _pct = lambda v: "" if v is None else f"{v:.1%}"  # noqa: E731
        _table = mo.ui.table(
            budget_table.drop("today_pico", "month_pico"),
            selection=None,
            page_size=10,
            show_column_summaries=False,
            format_mapping={
                "today_usd": money,
                "month_usd": money,
                "daily_budget_usd": lambda v: "" if v is None else money(v),
                "monthly_budget_usd": lambda v: "" if v is None else money(v),
                "daily_used": _pct,
                "monthly_used": _pct,
            },
        )
        _long = (
            budget_table.unpivot(
                index="key", on=["daily_used", "monthly_used"], variable_name="window",
                value_name="used",
            )
            .drop_nulls("used")
            .with_columns(pl.col("window").replace_strict(
                {"daily_used": "today", "monthly_used": "this month"}))
        )  # fmt: skip
        _items = [mo.md(f"{_title}\n\n{_caption}"), *_problems, _table]
        if _long.height:
            _bars = (
                alt.Chart(_long)
                .mark_bar()
                .encode(
                    y=alt.Y("key:N", title=None, sort=list(budget_table["key"])),
                    yOffset=alt.YOffset("window:N"),
                    x=alt.X("used:Q", title="share of budget used", axis=alt.Axis(format="%")),
                    color=alt.Color("window:N", title="window"),
                    tooltip=["key:N", "window:N", alt.Tooltip("used:Q", format=".1%")],
                )
            )
            _limit = alt.Chart(pl.DataFrame({"x": [1.0]})).mark_rule(color="#c00").encode(
                x="x:Q"
            )
            _items.append(
                chart(
                    (_bars + _limit).properties(
                        width="container", height=max(80, 40 * _long["key"].n_unique())
                    )
                )
            )
        _panel = mo.vstack(_items)
    _panel
    return budget_table, key_budgets


@app.cell(hide_code=True)
def _(con, selected):
    top_sessions = q.top_sessions(con, selected, limit=25)
    _shown = utc_text(utc_text(top_sessions, "first", "%Y-%m-%d %H:%M"), "last", "%H:%M")
    _shown = _shown.with_columns(pl.col("duration_s").round(0)).select(
        "session_id", "client", "key", "models", "requests", "failed", "spend_usd",
        "cache_hit_rate", "prompt_tokens", "output_tokens", "first", "last", "duration_s",
    )  # fmt: skip
    session_table = mo.ui.table(
        _shown,
        selection="single",
        initial_selection=[0] if _shown.height else None,
        page_size=8,
        show_column_summaries=False,
        format_mapping={
            "spend_usd": lambda v: money(v),
            "cache_hit_rate": lambda v: "" if v is None else f"{v:.1%}",
            "prompt_tokens": lambda v: count(v or 0),
            "output_tokens": lambda v: count(v or 0),
            "duration_s": lambda v: "" if v is None else str(timedelta(seconds=int(v))),
        },
        label="most expensive sessions in the period (select one for its timeline)",
    )
    mo.vstack(
        [
            mo.md(
                "## Sessions\n\nA session is one agent run or job: Claude Code's and Codex's "
                "own session ids, or `x-ekai-session`. Cache hit rate: prompt tokens read from "
                "the provider's cache / all prompt tokens."
            ),
            session_table
            if top_sessions.height
            else mo.callout(
                mo.md("No request in this period carries a session id."), kind="neutral"
            ),
        ]
    )
    return session_table, top_sessions


@app.cell(hide_code=True)
def _(con, session_table, top_sessions):
    _picked = session_table.value
    mo.stop(top_sessions.height == 0)
    chosen_session = (
        _picked["session_id"][0] if _picked.height else top_sessions["session_id"][0]
    )
    timeline = q.session_timeline(con, chosen_session)
    breakdown = q.session_breakdown(con, chosen_session)
    _data = utc_text(timeline, "ts").with_columns(
        pl.concat_str("model", pl.lit(" · "), "agent").alias("who")
    )
    _tips = [
        alt.Tooltip("turn:Q"),
        alt.Tooltip("ts:N", title="start (UTC)"),
        "model:N",
        "agent:N",
        alt.Tooltip("cost_usd:Q", title="USD", format=",.4f"),
        alt.Tooltip("cumulative_usd:Q", title="session so far", format=",.4f"),
        alt.Tooltip("cache_hit_rate:Q", title="cache hit", format=".1%"),
        alt.Tooltip("input_tokens:Q", title="input", format=","),
        alt.Tooltip("cache_read_tokens:Q", title="cache read", format=","),
        alt.Tooltip("cache_write_tokens:Q", title="cache write", format=","),
        alt.Tooltip("output_tokens:Q", title="output", format=","),
        "status:Q",
    ]
    _cost = (
        alt.Chart(_data)
        .mark_circle(size=60, opacity=0.8)
        .encode(
            x=alt.X("ts:T", title=None, axis=alt.Axis(format="%H:%M")),
            y=alt.Y("cost_usd:Q", title="USD per request"),
            color=alt.Color("who:N", title="model · agent"),
            tooltip=_tips,
        )
        .properties(title="cost per request", width="container", height=220)
    )
    _kinds = {
        "input_tokens": "input",
        "cache_read_tokens": "cache read",
        "cache_write_tokens": "cache write",
        "output_tokens": "output",
    }
    _long = (
        _data.unpivot(
            index=["turn", "ts", "who", "cache_hit_rate"],
            on=list(_kinds),
            variable_name="kind",
            value_name="tokens",
        )
        .with_columns(pl.col("kind").replace_strict(_kinds))
    )
    _step = next(
        (n for n in (1, 2, 5, 10, 20, 50, 100, 200, 500) if timeline.height / n <= 12), 1000
    )
    _tokens = (
        alt.Chart(_long)
        .mark_bar()
        .encode(
            # one band per request, so hundreds of bars never overlap; about a dozen labels
            x=alt.X(
                "turn:O",
                title="request # in the session",
                axis=alt.Axis(labelExpr=f"datum.value % {_step} == 0 ? datum.value : ''",
                              labelAngle=0, ticks=False),
            ),
            y=alt.Y("tokens:Q", title="tokens", stack=True),
            color=alt.Color("kind:N", title="tokens", sort=list(_kinds.values())),
            tooltip=["turn:Q", "who:N", "kind:N", alt.Tooltip("tokens:Q", format=",")],
        )
        .properties(title="tokens per request (cache read = caching held)", width="container",
                    height=220)
    )  # fmt: skip
    _rate = timeline.select(
        pl.col("cache_read_tokens").sum()
         / (pl.col("input_tokens") + pl.col("cache_read_tokens")
            + pl.col("cache_write_tokens")).sum()
    ).item()  # fmt: skip
    _summary = (
        f"**{chosen_session}** · {count(timeline.height)} requests · "
        f"{money(float(timeline['cost_usd'].fill_null(0).sum()))} · cache hit rate "
        + ("n/a" if _rate is None or _rate != _rate else f"{_rate:.1%}")
    )
    mo.vstack(
        [
            mo.md(f"### Session timeline\n{_summary}"),
            mo.hstack([chart(_cost), chart(_tokens)], widths="equal", gap=2),
            grid(breakdown, page_size=6, label="by model and agent"),
        ]
    )
    return breakdown, chosen_session, timeline


@app.cell(hide_code=True)
def _(net_saved, price_book, savings):
    _notes = [
        "What cache reads and writes would have cost at the uncached input price, minus what "
        "they cost, at the current price tables. Total: **" + money(net_saved) + "**."
    ]
    if price_book.problems:
        _notes.append("Price tables skipped: " + "; ".join(price_book.problems))
    if not price_book.prices:
        _notes.append("No price tables found (pricing/*.yaml), so savings are unknown.")
    mo.vstack(
        [
            mo.md("### What caching saved\n\n" + "\n\n".join(_notes)),
            grid(savings, page_size=8),
        ]
    )
    return


@app.cell(hide_code=True)
def _(con, selected):
    try:
        lat = q.latency(con, selected)
    except q.StillCopying:
        lat = None
    mo.stop(
        lat is None,
        mo.vstack(
            [
                mo.md("### Latency (successful requests)"),
                mo.callout(
                    mo.md(
                        "**Loading.** The percentiles need every row, and this first start is "
                        "still copying them in the background (about half a minute per 10M "
                        "rows on two cores); they appear on the next refresh after it is done. "
                        "Every other figure on the page is already complete."
                    ),
                    kind="info",
                ),
            ]
        ),
    )
    _long = (
        lat.with_columns(pl.concat_str("provider", pl.lit(" / "), "model").alias("route"))
        .unpivot(
            index=["route", "requests"],
            on=["ttft_p50_ms", "ttft_p95_ms", "latency_p50_ms", "latency_p95_ms"],
            variable_name="measure",
            value_name="ms",
        )
        .with_columns(
            pl.col("measure").str.starts_with("ttft").alias("is_ttft"),
            pl.col("measure").str.extract(r"_(p\d+)_").alias("pct"),
        )
    )

    def _panel(ttft: bool, title: str):
        return (
            alt.Chart(_long.filter(pl.col("is_ttft") == ttft))
            .mark_bar()
            .encode(
                y=alt.Y("route:N", title=None),
                yOffset=alt.YOffset("pct:N"),
                x=alt.X("ms:Q", title="ms"),
                color=alt.Color("pct:N", title="percentile"),
                tooltip=["route:N", "pct:N", alt.Tooltip("ms:Q", format=",.0f"), "requests:Q"],
            )
            .properties(title=title, width="container", height=max(120, 34 * lat.height))
        )

    mo.vstack(
        [
            mo.md("### Latency (successful requests)"),
            mo.hstack(
                [chart(_panel(True, "time to first byte")), chart(_panel(False, "total"))],
                widths="equal",
                gap=2,
            ),
        ]
    )
    return (lat,)


@app.cell(hide_code=True)
def _(con, selected):
    errors_by_provider = q.errors_by(con, selected, by="provider")
    errors_by_model = q.errors_by(con, selected, by="model")
    recent = q.recent_errors(con, selected, limit=20)
    mo.vstack(
        [
            mo.md("### Errors"),
            mo.hstack(
                [
                    grid(errors_by_provider.rename({"key": "provider"}), label="by provider"),
                    grid(errors_by_model.rename({"key": "model"}), page_size=5, label="by model"),
                ],
                widths="equal",
                gap=2,
            ),
            grid(
                utc_text(recent, "ts", "%Y-%m-%d %H:%M:%S%.3f"),
                page_size=5,
                label="recent errors",
            ),
        ]
    )
    return errors_by_model, errors_by_provider, recent


@app.cell(hide_code=True)
def _(con, selected):
    latest = q.latest_requests(con, selected, limit=100)
    mo.vstack(
        [
            mo.md("### Latest requests"),
            grid(utc_text(latest, "ts", "%Y-%m-%d %H:%M:%S%.3f"), page_size=10),
        ]
    )
    return (latest,)


@app.cell(hide_code=True)
def _(con, shared):
    # A first start (no kept copy) rendered the page from hourly cells made straight from the
    # file; its rows are copied now, in the background, after the figures above (this cell
    # comes last), so the copy does not slow the first render. Until it is done the latency
    # panel says so. Nothing to do otherwise.
    _ready = con is not None and shared.copy_in_background()
    return


if __name__ == "__main__":
    app.run()
