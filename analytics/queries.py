"""The dashboard's figures, one pure function each.

Every function takes a DuckDB connection in which `usage` is the usage table (either the live
view of `analytics.duck.connect` or the copy of `analytics.duck.Snapshot`) and a
`Filters` value, and returns a Polars frame or a small dataclass. Each one is a single SQL query
that aggregates every row in range inside DuckDB; nothing is fetched into Python and then
summarised, and nothing is computed over a capped sample. Only the `limit` of the row listings
(`recent_errors`, `latest_requests`) caps anything, and it caps what is listed, not what is
counted.

The sums come from hourly cells (`analytics.rollup`, via `cells`): on a Snapshot, its table of
cells maintained with the copy plus the rows of the hours a period cuts; elsewhere, cells made
from the rows on the fly. Either way they cover exactly the rows that match the filters. The
latency percentiles (not a sum) come, on a Snapshot, from its daily histograms plus the rows of
the days a period cuts, to within 1% (`latency`); the row listings and one session's requests
read rows through `id` ranges (the newest ids; the session's first and last id from its cells),
so they touch a few row groups of the copy, not all of them. While a Snapshot's first copy is
still on its way (`duck.pending`), the rows a query needs beyond the cells are read from the file
by id (`duck.raw_rows`) and `latency` raises StillCopying.

User choices reach SQL only as bound parameters (`$name`). The two things that cannot be
parameters, a grouping column and a time bucket, are looked up in closed tables
(`SPLITS`, `BUCKETS`) and anything else is refused with ValueError.

Conventions:
- Times are UTC. `start` is inclusive and `end` exclusive; either may be None (open).
- A request failed when its status is 400 or more or it carries an error text.
- Latency percentiles are over successful requests only: a request refused in 3 ms would
  otherwise pull the p50 of a slow model down.
- Spend is `sum(cost_usd)`; rows with no known price (NULL) are counted separately, never as 0.
- A NULL provider or model (a request refused before routing) is grouped as "(unknown)".
- Integer sums are cast to BIGINT: DuckDB's `sum(BIGINT)` is a HUGEINT, which reaches Polars as
  Decimal(38,0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

import duckdb
import polars as pl

from analytics import duck, rollup
from gateway.limits import Calendar

Bucket = Literal["hour", "day"]
Split = Literal["provider", "model", "key", "client"]

BUCKETS: tuple[str, ...] = ("hour", "day")
NO_KEY = "(no key)"  # requests made without a gateway key (auth off)
UNKNOWN = "(unknown)"
MAIN_AGENT = "(main)"  # a session's requests that name no sub-agent
SPLITS: dict[str, str] = {
    "provider": f"coalesce(provider, '{UNKNOWN}')",
    "model": f"coalesce(model, '{UNKNOWN}')",
    "key": f"coalesce(api_key_name, '{NO_KEY}')",
    "client": f"coalesce(client, '{UNKNOWN}')",
}
OTHER = "(other)"

# `ts` is TEXT in the live view and already a TIMESTAMP in a snapshot; the cast serves both
# (on a TIMESTAMP it is free).
TS = rollup.TS
FAILED = rollup.FAILED

TOKEN_KINDS: tuple[tuple[str, str], ...] = (
    ("input", "input_tokens"),
    ("cache read", "cache_read_tokens"),
    ("cache write", "cache_write_tokens"),
    ("output", "output_tokens"),
)


def _utc_naive(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Filters:
    """What the dashboard's controls select. Empty tuples mean "all"."""

    start: datetime | None = None
    end: datetime | None = None
    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    client_formats: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()  # gateway key names; NO_KEY selects requests without one
    clients: tuple[str, ...] = ()  # client programs; UNKNOWN selects requests naming none
    sessions: tuple[str, ...] = ()  # session ids

    def __post_init__(self) -> None:
        # Aware datetimes become naive UTC, the type of the snapshot's `ts`; lists become tuples.
        object.__setattr__(self, "start", _utc_naive(self.start))
        object.__setattr__(self, "end", _utc_naive(self.end))
        for name in ("providers", "models", "client_formats", "keys", "clients", "sessions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))


Params = dict[str, Any]


def where(f: Filters) -> tuple[str, Params]:
    """The WHERE clause (or "") and its named parameters for a `Filters`."""
    clauses: list[str] = []
    params: Params = {}
    if f.start is not None:
        clauses.append(f"{TS} >= $start")
        params["start"] = f.start
    if f.end is not None:
        clauses.append(f"{TS} < $end")
        params["end"] = f.end
    for column, values in (
        ("provider", f.providers),
        ("model", f.models),
        ("client_format", f.client_formats),
        ("session_id", f.sessions),
    ):
        if values:
            clauses.append(f"list_contains(${column}s, {column})")
            params[f"{column}s"] = list(values)
    for split, values in (("key", f.keys), ("client", f.clients)):
        if values:  # by the label the tables show, so "(no key)" selects the NULLs
            clauses.append(f"list_contains(${split}s, {SPLITS[split]})")
            params[f"{split}s"] = list(values)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _and(clause: str, condition: str) -> str:
    return f"{clause} AND {condition}" if clause else f"WHERE {condition}"


def _split_expr(split: str) -> str:
    try:
        return SPLITS[split]
    except KeyError:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, not {split!r}") from None


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: Params) -> pl.DataFrame:
    return con.execute(sql, params).pl()


def _hour_floor(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def _hour_ceil(value: datetime) -> datetime:
    floor = _hour_floor(value)
    return floor if floor == value else floor + timedelta(hours=1)


def _day_floor(value: datetime) -> datetime:
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


def _day_ceil(value: datetime) -> datetime:
    floor = _day_floor(value)
    return floor if floor == value else floor + timedelta(days=1)


Cut = list[tuple[datetime | None, datetime | None]]


def _whole_and_cut(
    f: Filters,
    clause: str,
    params: Params,
    unit: str,
    floor: Any,
    ceil: Any,
    prefix: str,
) -> tuple[str | None, Cut]:
    """Split `f`'s period into whole `unit`s (the WHERE clause over a table of `unit` cells,
    or None when there are none) and the ranges at its ends that cut a `unit` (rows)."""
    lo = None if f.start is None else ceil(f.start)
    hi = None if f.end is None else floor(f.end)
    cut: Cut = []
    if lo is not None and hi is not None and lo >= hi:  # within a unit or two: rows only
        return None, [(f.start, f.end)]
    whole = clause
    if lo is not None:
        whole = _and(whole, f"{unit} >= ${prefix}_lo")
        params[f"{prefix}_lo"] = lo
        if f.start is not None and f.start < lo:
            cut.append((f.start, lo))
    if hi is not None:
        whole = _and(whole, f"{unit} < ${prefix}_hi")
        params[f"{prefix}_hi"] = hi
        if f.end is not None and hi < f.end:
            cut.append((hi, f.end))
    return whole, cut


def _cut_clause(clause: str, params: Params, cut: Cut, i: int, prefix: str = "cut") -> str:
    """`clause` restricted to the time range `cut[i]`, its bounds added to `params`."""
    start, end = cut[i]
    edge = clause
    for name, op, value in ((f"{prefix}{i}_start", ">=", start), (f"{prefix}{i}_end", "<", end)):
        if value is not None:
            edge = _and(edge, f"{TS} {op} ${name}")
            params[name] = value
    return edge


def cells(con: duckdb.DuckDBPyConnection, f: Filters) -> tuple[str, Params]:
    """A FROM item (a parenthesised query) of hourly cells (`analytics.rollup`) that together
    hold exactly the rows matching `f`, and its parameters.

    With the cells table (a Snapshot): its cells of the hours the period covers whole, plus
    cells made from the rows of the hours at its ends that it cuts (found through the copy's
    zone maps on `ts`). Without it: cells made from the matching rows.
    """
    if not rollup.present(con):
        clause, params = where(f)
        return f"({rollup.cells_sql(clause)})", params
    clause, params = where(replace(f, start=None, end=None))
    whole, cut = _whole_and_cut(f, clause, params, "hour", _hour_floor, _hour_ceil, "cells")
    parts = [] if whole is None else [f"SELECT * FROM {rollup.TABLE} {whole}"]
    copying = duck.pending(con) is not None
    for i, (start, end) in enumerate(cut):
        source = "usage"
        if copying:  # the cut hours' rows may not be in the copy yet: their ids, from the cells
            source = duck.raw_rows(con, *_id_span(con, start, end))
        parts.append(rollup.cells_sql(_cut_clause(clause, params, cut, i), source))
    return "(" + " UNION ALL BY NAME ".join(parts) + ")", params


def _id_span(
    con: duckdb.DuckDBPyConnection, start: datetime | None, end: datetime | None
) -> tuple[int | None, int | None]:
    """The smallest and largest id of the rows of the hours that [start, end) touches (from
    the cells; (None, None) when they hold none)."""
    row = con.execute(
        f"SELECT min(min_id), max(max_id) FROM {rollup.TABLE} "
        "WHERE ($lo IS NULL OR hour >= $lo) AND ($hi IS NULL OR hour < $hi)",
        {
            "lo": None if start is None else _hour_floor(start),
            "hi": None if end is None else _hour_ceil(end),
        },
    ).fetchone()
    if not row or row[0] is None:
        return 1, 0  # nothing: an empty span
    return int(row[0]), int(row[1])


def _newest(
    con: duckdb.DuckDBPyConnection, columns: str, f: Filters, limit: int, condition: str = ""
) -> pl.DataFrame:
    """The newest `limit` rows (by id) matching `f` and `condition`, newest first.

    On a Snapshot, tried first among the last 16 x `limit` ids, then 16 times as many, ...:
    once a window holds `limit` matching rows they are the newest (every row outside it is
    older), and the copy's zone maps on `id` skip the rest of the table."""
    clause, params = where(f)
    if condition:
        clause = _and(clause, condition)
    params["limit"] = limit
    sql = f"SELECT {columns} FROM {{source}} {{clause}} ORDER BY id DESC LIMIT $limit"
    if limit > 0 and rollup.present(con):
        row = con.execute(f"SELECT max(max_id) FROM {rollup.TABLE}").fetchone()
        top = int(row[0]) if row and row[0] is not None else 0
        span = 16 * limit
        while span < top:
            params["id_floor"] = top - span
            source = duck.raw_rows(con, top - span + 1)  # (rows on their way to the copy too)
            frame = _frame(
                con, sql.format(source=source, clause=_and(clause, "id > $id_floor")), params
            )
            if frame.height >= limit:
                return frame
            span *= 16
        params.pop("id_floor", None)
    return _frame(con, sql.format(source=duck.raw_rows(con), clause=clause), params)


# --- filter choices -------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterOptions:
    """The values the controls can offer, over the whole table."""

    requests: int = 0
    first: datetime | None = None
    last: datetime | None = None
    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    client_formats: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()


def filter_options(con: duckdb.DuckDBPyConnection) -> FilterOptions:
    """Row count, time span and the distinct providers, models, client formats, keys and
    clients (the last two by their labels: NO_KEY, UNKNOWN for NULL)."""
    source, params = cells(con, Filters())
    row = con.execute(
        f"""
        SELECT coalesce(sum(requests), 0)::BIGINT, min(min_ts), max(max_ts),
               list(DISTINCT provider ORDER BY provider),
               list(DISTINCT model ORDER BY model),
               list(DISTINCT client_format ORDER BY client_format),
               list(DISTINCT {SPLITS["key"]} ORDER BY {SPLITS["key"]}),
               list(DISTINCT {SPLITS["client"]} ORDER BY {SPLITS["client"]})
        FROM {source}
        """,
        params,
    ).fetchone()
    assert row is not None  # an aggregate without GROUP BY always returns one row
    requests, first, last, providers, models, formats, keys, clients = row
    return FilterOptions(
        requests=int(requests),
        first=first,
        last=last,
        providers=tuple(providers or ()),
        models=tuple(models or ()),
        client_formats=tuple(formats or ()),
        keys=tuple(keys if requests else ()),
        clients=tuple(clients if requests else ()),
    )


# --- totals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    """The headline numbers for a period."""

    requests: int = 0
    failed: int = 0
    unpriced: int = 0  # requests whose cost is unknown (cost_usd NULL)
    spend_usd: float = 0.0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens

    @property
    def error_rate(self) -> float:
        return self.failed / self.requests if self.requests else 0.0


def totals(con: duckdb.DuckDBPyConnection, f: Filters) -> Totals:
    """Requests, failures, spend and tokens by kind over every row that matches `f`."""
    source, params = cells(con, f)
    row = con.execute(
        f"""
        SELECT coalesce(sum(requests), 0)::BIGINT,
               coalesce(sum(failed), 0)::BIGINT,
               coalesce(sum(unpriced), 0)::BIGINT,
               coalesce(sum(spend_pico) / 1e12, 0)::DOUBLE,
               coalesce(sum(input_tokens), 0)::BIGINT,
               coalesce(sum(cache_read_tokens), 0)::BIGINT,
               coalesce(sum(cache_write_tokens), 0)::BIGINT,
               coalesce(sum(output_tokens), 0)::BIGINT,
               coalesce(sum(reasoning_tokens), 0)::BIGINT
        FROM {source}
        """,
        params,
    ).fetchone()
    assert row is not None
    return Totals(*row)


# --- spend over time ------------------------------------------------------------------------


def spend_over_time(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    *,
    bucket: Bucket = "day",
    split: Split = "provider",
    top: int = 8,
) -> pl.DataFrame:
    """Spend and requests per time bucket and provider (or model).

    Columns: `bucket` (start of the hour or day, UTC), `key`, `spend_usd`, `requests`. The `top`
    keys by spend in the period keep their name; the rest are summed as "(other)", so a chart
    stays readable with fifty models and the stacked total is still exact. Buckets without
    requests are absent.
    """
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {BUCKETS}, not {bucket!r}")
    key = _split_expr(split)
    source, params = cells(con, f)
    params |= {"top": max(int(top), 0)}
    # Aggregate into (bucket, key) cells first; ranking and folding into "(other)" then work on
    # a few hundred cells. The bucket is a literal from the closed BUCKETS list (a constant
    # date_trunc unit is much faster than a parameter); an hourly cell lies in one bucket.
    return _frame(
        con,
        f"""
        WITH cells AS (
            SELECT date_trunc('{bucket}', hour) AS bucket, {key} AS key,
                   sum(spend_pico) AS spend_pico, sum(requests) AS requests
            FROM {source}
            WHERE hour IS NOT NULL
            GROUP BY ALL
        ),
        ranked AS (
            SELECT key, row_number() OVER (
                ORDER BY coalesce(sum(spend_pico), 0) DESC, sum(requests) DESC, key
            ) AS rank
            FROM cells GROUP BY key
        )
        SELECT bucket,
               CASE WHEN rank <= $top THEN cells.key ELSE '{OTHER}' END AS key,
               coalesce(sum(spend_pico) / 1e12, 0)::DOUBLE AS spend_usd,
               sum(requests)::BIGINT AS requests
        FROM cells JOIN ranked USING (key)
        GROUP BY ALL
        ORDER BY bucket, key
        """,
        params,
    )


# --- tokens and cost ------------------------------------------------------------------------


def token_mix_frame(t: Totals) -> pl.DataFrame:
    """The token mix of already computed totals (see `token_mix`)."""
    counts = [getattr(t, column) for _, column in TOKEN_KINDS]
    whole = sum(counts)
    return pl.DataFrame(
        {
            "kind": [kind for kind, _ in TOKEN_KINDS],
            "tokens": counts,
            "share": [n / whole if whole else 0.0 for n in counts],
        },
        schema={"kind": pl.String, "tokens": pl.Int64, "share": pl.Float64},
    )


def token_mix(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """Tokens by kind: columns `kind` (input, cache read, cache write, output), `tokens`, `share`.

    `share` is the kind's fraction of all tokens (0 when there are none). Reasoning tokens are
    part of output and not a kind of their own. The sums are `totals`'s; a caller that already
    has them can use `token_mix_frame` and skip the second scan.
    """
    return token_mix_frame(totals(con, f))


def cost_by(con: duckdb.DuckDBPyConnection, f: Filters, *, by: Split = "model") -> pl.DataFrame:
    """Spend, requests and tokens per model (or provider), most expensive first.

    Columns: `key`, `requests`, `spend_usd`, `share` (of the period's spend), `unpriced`
    (requests with no known cost), `input_tokens`, `cache_read_tokens`, `cache_write_tokens`,
    `output_tokens`.
    """
    key = _split_expr(by)
    source, params = cells(con, f)
    return _frame(
        con,
        f"""
        SELECT {key} AS key,
               sum(requests)::BIGINT AS requests,
               coalesce(sum(spend_pico) / 1e12, 0)::DOUBLE AS spend_usd,
               coalesce(sum(spend_pico) / nullif(sum(sum(spend_pico)) OVER (), 0), 0)::DOUBLE AS share,
               sum(unpriced)::BIGINT AS unpriced,
               coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens,
               coalesce(sum(cache_read_tokens), 0)::BIGINT AS cache_read_tokens,
               coalesce(sum(cache_write_tokens), 0)::BIGINT AS cache_write_tokens,
               coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens
        FROM {source}
        GROUP BY 1
        ORDER BY spend_usd DESC, requests DESC, key
        """,
        params,
    )


# --- cache savings --------------------------------------------------------------------------


class Price(NamedTuple):
    """A model's base prices at one provider, USD per 1M tokens (None: the table omits it)."""

    input: float
    cache_read: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = None


Prices = Mapping[tuple[str, str], Price]

SAVINGS_SCHEMA: dict[str, Any] = {
    "provider": pl.String,
    "model": pl.String,
    "cache_read_tokens": pl.Int64,
    "cache_write_tokens": pl.Int64,
    "saved_on_reads_usd": pl.Float64,
    "extra_on_writes_usd": pl.Float64,
    "net_saved_usd": pl.Float64,
}


def price_cache_tokens(
    reads: int, writes: int, writes_1h: int, price: Price | None
) -> tuple[float | None, float | None]:
    """(saved on cache reads, extra paid for cache writes) in USD, against the input price.

    Follows the gateway's cost formula (gateway/pricing.py): a cache price the table lacks is
    billed at the input price (so it saves nothing and costs nothing extra), and the 1-hour
    part of the writes is priced at `cache_write_1h`, else `cache_write`. Both are None when
    the model has no price at all.
    """
    if price is None:
        return None, None
    read_rate = price.input if price.cache_read is None else price.cache_read
    write_rate = price.input if price.cache_write is None else price.cache_write
    write_1h_rate = write_rate if price.cache_write_1h is None else price.cache_write_1h
    saved = reads * (price.input - read_rate)
    extra = (writes - writes_1h) * (write_rate - price.input) + writes_1h * (
        write_1h_rate - price.input
    )
    return saved / 1e6, extra / 1e6


def lookup_price(prices: Prices, provider: str, model: str, provider_model: str) -> Price | None:
    """The price of a row's model: by the name the client sent, else by the upstream id.

    The second lookup catches aliases: a client that sent `sonnet` has `model = 'sonnet'`
    but `provider_model = 'claude-sonnet-4-6'` (or OpenRouter's `anthropic/claude-sonnet-4.6`),
    and the price tables list both names and ids.
    """
    return prices.get((provider, model)) or prices.get((provider, provider_model))


def cache_savings(con: duckdb.DuckDBPyConnection, f: Filters, prices: Prices) -> pl.DataFrame:
    """What prompt caching saved per provider and model, at today's base prices.

    For each (provider, model), with prices per 1M tokens from the price tables:
      saved_on_reads  = cache_read_tokens  * (input - cache_read)
      extra_on_writes = cache_write_tokens * (cache_write - input)   (writes usually cost more;
                        the 1-hour part at cache_write_1h)
      net_saved       = saved_on_reads - extra_on_writes
    i.e. what those prompt tokens would have cost uncached minus what they cost. The rows store
    costs but not the prices behind them, so this prices the token sums with the current tables:
    an approximation when prices changed within the period, and long-prompt price tiers are not
    applied (base prices only). A model with no price has null savings.

    The token sums run in DuckDB over every row; only the small per-model result is priced here.
    """
    source, params = cells(con, f)
    sums = con.execute(  # over the rows that read or wrote the cache (rollup.CACHED)
        f"""
        SELECT coalesce(provider, '(unknown)'), coalesce(model, '(unknown)'),
               coalesce(provider_model, ''),
               sum(cached_read_tokens)::BIGINT, sum(cached_write_tokens)::BIGINT,
               sum(cached_write_1h_tokens)::BIGINT
        FROM {source}
        WHERE cached > 0
        GROUP BY ALL
        """,
        params,
    ).fetchall()
    priced = [
        (provider, model, reads, writes, *price_cache_tokens(reads, writes, writes_1h, price))
        for provider, model, provider_model, reads, writes, writes_1h in sums
        for price in [lookup_price(prices, provider, model, provider_model)]
    ]
    rows = pl.DataFrame(priced, schema=list(SAVINGS_SCHEMA)[:-1], orient="row")

    def exact_sum(column: str) -> pl.Expr:  # null if any part is unknown, unlike pl.sum
        col = pl.col(column)
        return pl.when(col.is_null().any()).then(None).otherwise(col.sum()).alias(column)

    return (
        rows.cast(dict(list(SAVINGS_SCHEMA.items())[:-1]))
        .group_by("provider", "model")
        .agg(
            pl.col("cache_read_tokens").sum(),
            pl.col("cache_write_tokens").sum(),
            exact_sum("saved_on_reads_usd"),
            exact_sum("extra_on_writes_usd"),
        )
        .with_columns(
            (pl.col("saved_on_reads_usd") - pl.col("extra_on_writes_usd")).alias("net_saved_usd")
        )
        .sort(
            ["net_saved_usd", "provider", "model"],
            descending=[True, False, False],
            nulls_last=True,
        )
    )


def total_savings(savings: pl.DataFrame) -> float:
    """The sum of `net_saved_usd` over the rows where it is known."""
    value = savings.get_column("net_saved_usd").sum() if savings.height else 0.0
    return float(value or 0.0)


# --- latency and errors ---------------------------------------------------------------------


class StillCopying(Exception):
    """A figure that needs every row, asked while a Snapshot's first copy is under way
    (`analytics.duck.Snapshot`): the rest of the page is exact meanwhile."""


LATENCY_SCHEMA: dict[str, Any] = {
    "provider": pl.String,
    "model": pl.String,
    "requests": pl.Int64,
    "ttft_p50_ms": pl.Float64,
    "ttft_p95_ms": pl.Float64,
    "latency_p50_ms": pl.Float64,
    "latency_p95_ms": pl.Float64,
}
QUANTILES = (0.5, 0.95)


def latency(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """p50 and p95 of time to first byte and total latency per provider and model (successes).

    Columns: `provider`, `model`, `requests`, `ttft_p50_ms`, `ttft_p95_ms`, `latency_p50_ms`,
    `latency_p95_ms` (continuous quantiles, i.e. interpolated), busiest first.

    On a Snapshot (its latency histograms present) and without a session filter, the whole
    days of the period come from the histograms (`analytics.rollup`, LATENCY_TABLE) and the
    rows of the days it cuts are binned on the fly: `requests` is exact, each percentile is
    within `rollup.LATENCY_ERROR` (1%) of the exact one. Otherwise (a session's few requests,
    or the live view) the exact `quantile_cont` of the rows.
    """
    if duck.pending(con) is not None:
        raise StillCopying("the latency percentiles wait for the first copy of the rows")
    if f.sessions or not rollup.present(con, rollup.LATENCY_TABLE):
        return latency_exact(con, f)
    clause, params = where(replace(f, start=None, end=None))
    whole, cut = _whole_and_cut(f, clause, params, "day", _day_floor, _day_ceil, "lat")
    dims = "provider, model, kind, bin, n"
    parts = [] if whole is None else [f"SELECT {dims} FROM {rollup.LATENCY_TABLE} {whole}"]
    for i in range(len(cut)):
        edge = _cut_clause(clause, params, cut, i, "lat_cut")
        parts.append(f"SELECT {dims} FROM ({rollup.latency_entries_sql(edge, unit=None)})")
    found = con.execute(
        f"""
        SELECT {SPLITS["provider"]} AS p, {SPLITS["model"]} AS m, kind, bin, sum(n)::BIGINT
        FROM ({" UNION ALL ".join(parts)})
        GROUP BY ALL
        ORDER BY p, m, kind, bin NULLS LAST
        """,
        params,
    ).fetchall()
    return latency_from_histograms(found)


def latency_from_histograms(entries: list[tuple[str, str, str, int | None, int]]) -> pl.DataFrame:
    """The latency frame from merged histogram entries (provider, model, kind, bin, n), sorted
    by provider, model, kind and bin (NULL bins last)."""
    groups: dict[tuple[str, str], dict[str, list[tuple[int | None, int]]]] = {}
    for provider, model, kind, b, n in entries:
        groups.setdefault((provider, model), {}).setdefault(kind, []).append((b, int(n)))
    out = []
    for (provider, model), kinds in groups.items():
        total = kinds.get("total", [])
        out.append(
            (
                provider,
                model,
                sum(n for _, n in total),
                *_histogram_quantiles(kinds.get("ttft", [])),
                *_histogram_quantiles(total),
            )
        )
    frame = pl.DataFrame(out, schema=LATENCY_SCHEMA, orient="row")
    return frame.sort(["requests", "provider", "model"], descending=[True, False, False])


def _histogram_quantiles(bins: list[tuple[int | None, int]]) -> list[float | None]:
    """QUANTILES of the values in `bins` (sorted (bin, count), NULL bins ignored), interpolated
    as `quantile_cont` interpolates (between the values at ranks floor and ceil of q(N - 1)),
    each value taken as its bin's representative."""
    counted = [(b, n) for b, n in bins if b is not None and n > 0]
    size = sum(n for _, n in counted)
    if not size:
        return [None] * len(QUANTILES)

    def at(rank: int) -> float:  # the value of 0-based rank `rank`
        seen = 0
        for b, n in counted:
            seen += n
            if rank < seen:
                return rollup.bin_value(b)
        return rollup.bin_value(counted[-1][0])

    result: list[float | None] = []
    for quantile in QUANTILES:
        position = quantile * (size - 1)
        low = int(position)
        share = position - low
        value = at(low)
        if share:
            value += share * (at(low + 1) - value)
        result.append(value)
    return result


def latency_exact(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    """`latency` from the rows themselves: exact `quantile_cont`, reading every matching row."""
    clause, params = where(f)
    clause = _and(clause, f"NOT {FAILED}")
    return _frame(
        con,
        f"""
        WITH q AS (  -- both quantiles of a column from one sort of it
            SELECT {SPLITS["provider"]} AS provider, {SPLITS["model"]} AS model,
                   count(*)::BIGINT AS requests,
                   quantile_cont(ttft_ms, [0.5, 0.95]) AS ttft,
                   quantile_cont(latency_ms, [0.5, 0.95]) AS total
            FROM usage {clause}
            GROUP BY ALL
        )
        SELECT provider, model, requests,
               ttft[1] AS ttft_p50_ms, ttft[2] AS ttft_p95_ms,
               total[1] AS latency_p50_ms, total[2] AS latency_p95_ms
        FROM q
        ORDER BY requests DESC, provider, model
        """,
        params,
    )


def errors_by(
    con: duckdb.DuckDBPyConnection, f: Filters, *, by: Split = "provider"
) -> pl.DataFrame:
    """Requests, failures and error rate per provider (or model), worst rate first."""
    key = _split_expr(by)
    source, params = cells(con, f)
    return _frame(
        con,
        f"""
        SELECT {key} AS key,
               sum(requests)::BIGINT AS requests,
               sum(failed)::BIGINT AS failed,
               (sum(failed) / sum(requests))::DOUBLE AS error_rate
        FROM {source}
        GROUP BY 1
        ORDER BY error_rate DESC, requests DESC, key
        """,
        params,
    )


RECENT_ERROR_COLUMNS = "ts, provider, model, status, error, attempts, client_format, request_id"
LATEST_COLUMNS = (
    "ts, client_format, provider, model, stream, status, input_tokens, cache_read_tokens, "
    "cache_write_tokens, output_tokens, cost_usd, ttft_ms, latency_ms, error, request_id"
)


def recent_errors(con: duckdb.DuckDBPyConnection, f: Filters, *, limit: int = 20) -> pl.DataFrame:
    """The newest `limit` failed requests, newest first."""
    return _newest(con, RECENT_ERROR_COLUMNS, f, max(int(limit), 0), FAILED)


def latest_requests(con: duckdb.DuckDBPyConnection, f: Filters, *, limit: int = 50) -> pl.DataFrame:
    """The newest `limit` requests, newest first (by id, which is the order they were written)."""
    return _newest(con, LATEST_COLUMNS, f, max(int(limit), 0))


# --- sessions -------------------------------------------------------------------------------

# The cache hit rate of a set of requests (of cells): the share of their prompt tokens read from
# the provider's cache (NULL when they sent no prompt, e.g. all failed).
HIT_RATE = "(sum(cache_read_tokens) / nullif(sum(prompt_tokens), 0))::DOUBLE"


def top_sessions(con: duckdb.DuckDBPyConnection, f: Filters, *, limit: int = 20) -> pl.DataFrame:
    """The `limit` most expensive sessions among the requests that match `f`.

    One row per `session_id` (requests without one are not a session): `session_id`, `client`
    (the one with the most requests, ties to the first by name; UNKNOWN when none says), `key`
    (likewise, NO_KEY), `models` (the distinct models, sorted, comma-separated), `agents`
    (distinct sub-agents), `requests`, `failed`, `spend_usd`, `unpriced`, `prompt_tokens`
    (input + cache read + cache write), `cache_read_tokens`, `output_tokens`, `cache_hit_rate`
    (cache read / prompt), `first`, `last` (UTC) and `duration_s` (first to last request
    start). Most expensive first.
    """
    source, params = cells(con, f)
    params["limit"] = max(int(limit), 0)
    # Rank every session by spend, then compute the other figures over the winners' cells.
    return _frame(
        con,
        f"""
        WITH c AS MATERIALIZED (SELECT * FROM {source} WHERE session_id IS NOT NULL),
        top AS (
            SELECT session_id,
                   coalesce(sum(spend_pico) / 1e12, 0)::DOUBLE AS spend_usd,
                   sum(requests)::BIGINT AS requests
            FROM c
            GROUP BY session_id
            ORDER BY spend_usd DESC, requests DESC, session_id
            LIMIT $limit
        ),
        picked AS MATERIALIZED (SELECT c.* FROM c SEMI JOIN top USING (session_id)),
        labels AS (
            SELECT session_id, {SPLITS["client"]} AS client, {SPLITS["key"]} AS key, requests
            FROM picked
        ),
        most AS (  -- each session's client and key with the most requests (ties: by name)
            SELECT session_id, first(client ORDER BY n DESC, client) AS client,
                   any_value(key) AS key
            FROM (SELECT session_id, client, sum(requests) AS n FROM labels GROUP BY ALL)
            JOIN (
                SELECT session_id, first(key ORDER BY n DESC, key) AS key
                FROM (SELECT session_id, key, sum(requests) AS n FROM labels GROUP BY ALL)
                GROUP BY session_id
            ) USING (session_id)
            GROUP BY session_id
        )
        SELECT session_id,
               any_value(most.client) AS client,
               any_value(most.key) AS key,
               string_agg(DISTINCT {SPLITS["model"]}, ', ' ORDER BY {SPLITS["model"]}) AS models,
               count(DISTINCT agent)::BIGINT AS agents,
               any_value(top.requests) AS requests,
               sum(failed)::BIGINT AS failed,
               any_value(top.spend_usd) AS spend_usd,
               sum(unpriced)::BIGINT AS unpriced,
               sum(prompt_tokens)::BIGINT AS prompt_tokens,
               sum(cache_read_tokens)::BIGINT AS cache_read_tokens,
               sum(output_tokens)::BIGINT AS output_tokens,
               {HIT_RATE} AS cache_hit_rate,
               min(min_ts) AS first,
               max(max_ts) AS last,
               (epoch_ms(max(max_ts)) - epoch_ms(min(min_ts))) / 1000.0 AS duration_s
        FROM picked JOIN top USING (session_id) JOIN most USING (session_id)
        GROUP BY session_id
        ORDER BY spend_usd DESC, requests DESC, session_id
        """,
        params,
    )


def session_timeline(con: duckdb.DuckDBPyConnection, session_id: str) -> pl.DataFrame:
    """Every request of one session, oldest first: what each turn and sub-agent cost.

    The whole session, whatever the other filters (a session is one story; cutting it at a
    period's edge would hide its start). Columns: `turn` (1, 2, ... in request order), `ts`,
    `model`, `agent` (MAIN_AGENT when the request names none), `provider`, `status`,
    `input_tokens`, `cache_read_tokens`, `cache_write_tokens`, `output_tokens`, `cost_usd`,
    `cumulative_usd` (the session's spend up to and including this request; unpriced requests
    add 0), `cache_hit_rate` (this request's cache read / prompt; NULL without a prompt),
    `latency_ms`, `error`, `request_id`.
    """
    clause, params = "WHERE session_id = $session", {"session": session_id}
    source = "usage"
    if rollup.present(con):  # only the row groups between the session's first and last id
        span = con.execute(
            f"SELECT min(min_id), max(max_id) FROM {rollup.TABLE} WHERE session_id = $session",
            params,
        ).fetchone()
        clause += " AND id BETWEEN $first_id AND $last_id"
        params |= {"first_id": span[0] if span else None, "last_id": span[1] if span else None}
        if span and span[0] is not None:  # rows still on their way: from the file's index
            sqlite_where = f"session_id = {duck.sql_string(session_id)}"
            source = duck.raw_rows(con, int(span[0]), int(span[1]), sqlite_where)
    return _frame(
        con,
        f"""
        SELECT row_number() OVER w::BIGINT AS turn,
               {TS} AS ts,
               {SPLITS["model"]} AS model,
               coalesce(agent, '{MAIN_AGENT}') AS agent,
               {SPLITS["provider"]} AS provider,
               status, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens,
               cost_usd,
               sum(coalesce(cost_usd, 0)) OVER w::DOUBLE AS cumulative_usd,
               (cache_read_tokens / nullif(input_tokens + cache_read_tokens
                                          + cache_write_tokens, 0))::DOUBLE AS cache_hit_rate,
               latency_ms, error, request_id
        FROM {source}
        {clause}
        WINDOW w AS (ORDER BY {TS}, id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        ORDER BY turn
        """,
        params,
    )


def session_breakdown(con: duckdb.DuckDBPyConnection, session_id: str) -> pl.DataFrame:
    """One session's requests, spend, tokens and cache hit rate per model and agent.

    Columns: `model`, `agent` (MAIN_AGENT for requests naming none), `requests`, `spend_usd`,
    `share` (of the session's spend), `prompt_tokens`, `output_tokens`, `cache_hit_rate`.
    Most expensive first.
    """
    source, params = cells(con, Filters(sessions=(session_id,)))
    return _frame(
        con,
        f"""
        SELECT {SPLITS["model"]} AS model,
               coalesce(agent, '{MAIN_AGENT}') AS agent,
               sum(requests)::BIGINT AS requests,
               coalesce(sum(spend_pico) / 1e12, 0)::DOUBLE AS spend_usd,
               coalesce(sum(spend_pico) / nullif(sum(sum(spend_pico)) OVER (), 0), 0)::DOUBLE AS share,
               sum(prompt_tokens)::BIGINT AS prompt_tokens,
               sum(output_tokens)::BIGINT AS output_tokens,
               {HIT_RATE} AS cache_hit_rate
        FROM {source}
        GROUP BY ALL
        ORDER BY spend_usd DESC, requests DESC, model, agent
        """,
        params,
    )


# --- spend against budgets --------------------------------------------------------------------


def key_spend(con: duckdb.DuckDBPyConnection, now: datetime) -> pl.DataFrame:
    """Each key's exact spend (integer pico-USD) in the UTC day and the UTC month `now` is in.

    The windows are gateway.spend's: a row counts toward the day and the month its `ts` (the
    request start) falls in, `cost_pico_usd` summed exactly (NULL, an unknown price, counts
    nothing). Independent of the dashboard's filters. Columns: key (NO_KEY for requests without
    one), today_pico, month_pico; ordered by month_pico, largest first.
    """
    now = _utc_naive(now) or now
    cal = Calendar.at(now.replace(tzinfo=UTC).timestamp())
    day_start = datetime.fromisoformat(cal.day)
    month_start = datetime.fromisoformat(f"{cal.month}-01")
    day_end = datetime.fromtimestamp(cal.day_ends, UTC).replace(tzinfo=None)
    month_end = datetime.fromtimestamp(cal.month_ends, UTC).replace(tzinfo=None)
    # whole UTC hours: the cells of the month, the day's picked by their hour
    source, params = cells(con, Filters(start=month_start, end=month_end))
    params |= {"day_start": day_start, "day_end": day_end}
    return _frame(
        con,
        f"""
        SELECT coalesce(api_key_name, '{NO_KEY}') AS key,
               coalesce(sum(cost_pico) FILTER (
                   WHERE hour >= $day_start AND hour < $day_end), 0)::BIGINT AS today_pico,
               coalesce(sum(cost_pico), 0)::BIGINT AS month_pico
        FROM {source}
        GROUP BY 1
        ORDER BY month_pico DESC, key
        """,
        params,
    )
