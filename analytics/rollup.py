"""Hourly cells: the usage rows pre-aggregated per hour and per value of every filter.

A *cell* is the sums of the rows that share an hour (`date_trunc('hour', ts)`) and one value of
each dimension in DIMS (provider, model, provider model, client API, gateway key, client,
session, sub-agent). Every figure of the dashboard except the latency percentiles and the row
listings is a sum, count, minimum or maximum of rows, so it is the same sum over cells: the
dashboard's filters select whole cells (a filter on a dimension keeps or drops a cell as it
would each of its rows), and a period keeps the cells of the hours it covers completely plus
the rows of the hours it cuts (`queries.cells`). At 10M rows of coding-agent traffic there are
about 25 times fewer cells than rows, so a panel sums a small table instead of scanning every
row.

`analytics.duck.Snapshot` keeps these cells in the table TABLE beside its copy of the rows and
maintains them with the copy: `update(con, after)` adds the cells of the rows with id > `after`
and merges them into the cells of the hours they touch, in the same transaction as the rows, so
a query sees rows and cells from the same refresh. A connection without TABLE (the live view of
`duck.connect`) gets its cells from the rows on the fly (`cells_sql`), so each figure has one
definition whatever the connection.

The measures are exact and do not depend on the order rows are added in: counts and integer sums
add up exactly, and spend is summed as whole pico-USD (each row's `cost_usd` rounded to 1e-12 USD,
which is exactly the gateway's `cost_pico_usd`), so the same rows give the same spend to the last
digit whatever copy, order or cells they are summed from. (A sum of DOUBLEs in parallel differs
in its last bits from run to run.) A cell holds up to 2^63 pico-USD, $9.2M in one hour for one
provider, model, key, client, session and agent; more makes the refresh fail, not the figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

import duckdb

TABLE = "usage_hourly"
LATENCY_TABLE = "usage_latency"

# `ts` is TEXT in the live view and a TIMESTAMP in a snapshot; the cast serves both.
TS = "TRY_CAST(ts AS TIMESTAMP)"
FAILED = "(status >= 400 OR error IS NOT NULL)"
CACHED = "(cache_read_tokens > 0 OR cache_write_tokens > 0)"

DIMS: tuple[str, ...] = (
    "provider",
    "model",
    "provider_model",
    "client_format",
    "api_key_name",
    "client",
    "session_id",
    "agent",
)

# name, aggregate over rows, aggregate over cells (merging cells of the same hour and values)
MEASURES: tuple[tuple[str, str, str], ...] = (
    ("requests", "count(*)", "sum"),
    ("failed", f"count(*) FILTER (WHERE {FAILED})", "sum"),
    ("unpriced", "count(*) FILTER (WHERE cost_usd IS NULL)", "sum"),
    ("spend_pico", "sum(TRY_CAST(round(cost_usd * 1e12) AS HUGEINT))", "sum"),
    ("cost_pico", "sum(cost_pico_usd)", "sum"),
    ("input_tokens", "sum(input_tokens)", "sum"),
    ("cache_read_tokens", "sum(cache_read_tokens)", "sum"),
    ("cache_write_tokens", "sum(cache_write_tokens)", "sum"),
    ("output_tokens", "sum(output_tokens)", "sum"),
    ("reasoning_tokens", "sum(reasoning_tokens)", "sum"),
    ("prompt_tokens", "sum(input_tokens + cache_read_tokens + cache_write_tokens)", "sum"),
    # the rows that read or wrote the cache, and their cache tokens (what caching saved)
    ("cached", f"count(*) FILTER (WHERE {CACHED})", "sum"),
    ("cached_read_tokens", f"sum(cache_read_tokens) FILTER (WHERE {CACHED})", "sum"),
    ("cached_write_tokens", f"sum(cache_write_tokens) FILTER (WHERE {CACHED})", "sum"),
    ("cached_write_1h_tokens", f"sum(cache_write_1h_tokens) FILTER (WHERE {CACHED})", "sum"),
    ("min_ts", f"min({TS})", "min"),
    ("max_ts", f"max({TS})", "max"),
    ("min_id", "min(id)", "min"),  # where a cell's rows are in the copy, for drilling down
    ("max_id", "max(id)", "max"),
)

# Counts and integer sums are BIGINT (DuckDB's sum of BIGINT is a HUGEINT, several times slower
# to read back; no hour's cell comes near 2^63 tokens or pico-USD).
NOT_BIGINT = frozenset(("min_ts", "max_ts"))
COLUMNS: tuple[str, ...] = ("hour", *DIMS, *(name for name, _, _ in MEASURES))


def cells_sql(clause: str = "", source: str = "usage") -> str:
    """The cells of the rows of `usage` (or the FROM item `source`) that match `clause` (a WHERE
    clause or "")."""
    measures = ", ".join(
        f"{sql} AS {name}" if name in NOT_BIGINT else f"({sql})::BIGINT AS {name}"
        for name, sql, _ in MEASURES
    )
    return (
        f"SELECT date_trunc('hour', {TS}) AS hour, {', '.join(DIMS)}, {measures} "
        f"FROM {source} {clause} GROUP BY ALL"
    )


def _merge_sql(clause: str) -> str:
    """Cells of TABLE that match `clause`, merged so each hour and values is one cell."""
    measures = ", ".join(
        f"{how}({name}){'' if name in NOT_BIGINT else '::BIGINT'} AS {name}"
        for name, _, how in MEASURES
    )
    return f"SELECT hour, {', '.join(DIMS)}, {measures} FROM {TABLE} {clause} GROUP BY ALL"


def present(con: duckdb.DuckDBPyConnection, table: str = TABLE) -> bool:
    """Whether `con`'s current schema holds the cells table (a Snapshot's connection), or
    `table`."""
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = current_schema() AND table_name = ?",
        [table],
    ).fetchone()
    return bool(row and row[0])


def build(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create TABLE and LATENCY_TABLE from every row of `usage` in `con`'s current schema."""
    con.execute(f"CREATE OR REPLACE TABLE {TABLE} AS {cells_sql()}")
    build_latency(con)


def build_latency(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create LATENCY_TABLE from every row of `usage` in `con`'s current schema."""
    con.execute(f"CREATE OR REPLACE TABLE {LATENCY_TABLE} AS {latency_sql()}")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [
        (str(c[0]), str(c[1]))
        for c in con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = current_schema() "
            "AND table_name = ? ORDER BY column_index",
            [table],
        ).fetchall()
    ]


def matches(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether TABLE and LATENCY_TABLE exist with this version's columns and types."""
    for table, sql in ((TABLE, cells_sql()), (LATENCY_TABLE, latency_sql())):
        want = [(str(c[0]), str(c[1])) for c in con.execute(f"DESCRIBE {sql}").fetchall()]
        if _columns(con, table) != want:
            return False
    return True


def update(
    con: duckdb.DuckDBPyConnection, after: int, *, latency_merge_after: int | None = None
) -> None:
    """Add the rows of `usage` with id > `after` to TABLE and LATENCY_TABLE.

    Their cells are appended, then the hours they touch are merged back to one cell per hour and
    values (a refresh every 10 s would otherwise leave a cell per refresh in the current hour).
    Their latency entries are appended too; the days touched by the rows with id >
    `latency_merge_after` (default `after`) are merged, and with `latency_merge_after` -1 none
    (entries of the same bin add up in the queries anyway; merging only keeps the table small,
    so a caller may merge every so many rows instead of at every refresh). Run it in the
    transaction that inserted the rows.
    """
    _append(con, TABLE, cells_sql(f"WHERE id > {int(after)}"), "hour", after, _merge_sql)
    merge_after = after if latency_merge_after is None else latency_merge_after
    _append(
        con, LATENCY_TABLE, latency_sql(f"WHERE id > {int(after)}"), "day",
        None if merge_after < 0 else merge_after, _merge_latency_sql,
    )  # fmt: skip


def _append(
    con: duckdb.DuckDBPyConnection,
    table: str,
    insert: str,
    unit: str,
    after: int | None,
    merge: Callable[[str], str],
) -> None:
    """INSERT `insert` into `table`, then merge the `unit`s that rows with id > `after` touch
    (None: merge nothing)."""
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    had_cells = bool(row and row[0])
    con.execute(f"INSERT INTO {table} {insert}")
    if not had_cells or after is None:
        return
    span = f"id > {int(after)}"
    found = con.execute(
        f"SELECT list(DISTINCT t) FILTER (WHERE t IS NOT NULL), "
        f"count(*) FILTER (WHERE t IS NULL) > 0 "
        f"FROM (SELECT date_trunc('{unit}', {TS}) AS t FROM usage WHERE {span})"
    ).fetchone()
    hours: list[datetime] = list(found[0] or []) if found else []
    nulls = bool(found and found[1])
    touched = f"WHERE list_contains($hours::TIMESTAMP[], {unit}) OR ({unit} IS NULL AND $nulls)"
    params = {"hours": hours, "nulls": nulls}
    con.execute(f"CREATE OR REPLACE TABLE {table}_merged AS {merge(touched)}", params)
    con.execute(f"DELETE FROM {table} {touched}", params)
    con.execute(f"INSERT INTO {table} SELECT * FROM {table}_merged")
    con.execute(f"DROP TABLE {table}_merged")


# --- latency histograms -----------------------------------------------------------------------
#
# Percentiles are not sums, so the cells cannot give them. LATENCY_TABLE holds, per UTC day and
# value of the dimensions the latency figure can be filtered by (provider, model, client API,
# key, client), a histogram of the successful requests' time to first byte and total latency:
# how many values fell in each logarithmic bin of relative width RATIO. A value x > 0 is in bin
# b = round(ln x / ln RATIO), whose representative RATIO**b is within a factor sqrt(RATIO) of x;
# the percentile read from merged histograms (the representatives of the two ranks a continuous
# quantile interpolates between, interpolated the same way) is therefore within
# LATENCY_ERROR = sqrt(RATIO) - 1 (0.995%) of the exact `quantile_cont` of the rows. A NULL value
# keeps bin NULL (counted as a request, not in the percentile); 0 is bin 0 (exact), a negative
# value the negated bin of its magnitude. Whole days: 10M rows over 30 days make ~0.8M entries.

RATIO = 1.02
LATENCY_ERROR = math.sqrt(RATIO) - 1
_OFFSET = 100_000  # bins of |x| from 1e-300 up are > 0 after it, so the sign marks negatives
LATENCY_DIMS: tuple[str, ...] = ("provider", "model", "client_format", "api_key_name", "client")


def bin_sql(column: str) -> str:
    """The histogram bin of `column` (INTEGER; 0 for 0, NULL for NULL)."""
    return (
        f"(sign({column}) * (round(ln(abs({column}) + ({column} = 0)::INTEGER) / ln({RATIO})) "
        f"+ {_OFFSET}))::INTEGER"
    )


def bin_value(b: int) -> float:
    """The representative value of bin `b` (see `bin_sql`)."""
    if b == 0:
        return 0.0
    return math.copysign(RATIO ** (abs(b) - _OFFSET), b)


def latency_entries_sql(clause: str = "", *, unit: str | None = "day") -> str:
    """Histogram entries (`[day,] dims, kind, bin, n`) of the successful rows of `usage` that
    match `clause` (a WHERE clause or ""); `unit` None leaves the time out."""
    where = f"{clause} AND NOT {FAILED}" if clause else f"WHERE NOT {FAILED}"
    time = f"date_trunc('{unit}', {TS}) AS {unit}, " if unit else ""
    dims = ", ".join(LATENCY_DIMS)
    return " UNION ALL ".join(
        f"SELECT {time}{dims}, '{kind}' AS kind, {bin_sql(column)} AS bin, count(*)::BIGINT AS n "
        f"FROM usage {where} GROUP BY ALL"
        for kind, column in (("ttft", "ttft_ms"), ("total", "latency_ms"))
    )


def latency_sql(clause: str = "") -> str:
    """The LATENCY_TABLE entries of the rows of `usage` that match `clause`."""
    return latency_entries_sql(clause)


def _merge_latency_sql(clause: str) -> str:
    dims = ", ".join(LATENCY_DIMS)
    return (
        f"SELECT day, {dims}, kind, bin, sum(n)::BIGINT AS n FROM {LATENCY_TABLE} {clause} "
        "GROUP BY ALL"
    )
