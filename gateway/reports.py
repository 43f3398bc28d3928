"""GET /usage: aggregates over the usage table, computed in the database (SQLite or PostgreSQL,
the same statements through gateway.storage.Reader) over every row in range.

Costs are summed as integers (`cost_pico_usd`) and converted once, so totals equal the sum of
the rows exactly. Runs on a read-only connection in a worker thread, never on the event loop.

Query parameters (`UsageQuery.parse`; anything wrong is a 400 in OpenAI's error shape):
    since, until          ISO 8601 instants (naive = UTC): since <= ts < until
    session, key, client  exact-match filters on session_id, api_key_name, client (and
    conversation          conversation_id); they apply to everything: totals, every by_* list
                          and the CSV rows
    group_by              session, key, client, conversation, comma-separated and/or repeated
                          (`group_by=session,key` adds both `by_session` and `by_key`; each is
                          its own list, not a cross product)
    format                json (default) or csv
Every by_* list has a group for NULL (requests without a session, key or known client), so each
list's sums equal `totals` exactly. `by_session` entries add first_seen / last_seen (ts of the
first and last request), `models`, `clients` and `agents` (sorted distinct names); lists are ordered by
cost, then requests, descending.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway import db
from gateway.database import Database
from gateway.errors import ClientError
from gateway.pricing import pico_to_usd
from gateway.storage import Reader, exists

_SUMS = """
    count(*) AS requests,
    coalesce(sum(input_tokens), 0) AS input_tokens,
    coalesce(sum(output_tokens), 0) AS output_tokens,
    coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
    coalesce(sum(cache_write_tokens), 0) AS cache_write_tokens,
    coalesce(sum(reasoning_tokens), 0) AS reasoning_tokens,
    coalesce(sum(cost_pico_usd), 0) AS cost_pico,
    count(error) AS errors
"""


def parse_instant(value: str | None, name: str) -> str | None:
    """An ISO 8601 date or time (naive = UTC) -> the usage table's ts format, for comparison."""
    if value is None or value == "":
        return None
    try:
        text = value.strip().replace("Z", "+00:00").replace(" ", "+", 1) if "T" in value else value
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ClientError(
            f"'{name}' must be an ISO 8601 date or time such as 2026-11-27 or "
            f"2026-11-27T09:00:00Z, got {value!r}.",
            param=name,
        ) from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# group_by name -> (list name, column)
GROUPS: dict[str, tuple[str, str]] = {
    "session": ("by_session", "session_id"),
    "key": ("by_key", "api_key_name"),
    "client": ("by_client", "client"),
    "conversation": ("by_conversation", "conversation_id"),
}
FILTERS: dict[str, str] = {
    "session": "session_id",
    "key": "api_key_name",
    "client": "client",
    "conversation": "conversation_id",
}
MAX_FILTER = 1024


@dataclass(frozen=True, slots=True)
class UsageQuery:
    since: str | None = None
    until: str | None = None
    filters: tuple[tuple[str, str], ...] = ()  # (column, value), ANDed
    group_by: tuple[str, ...] = ()  # keys of GROUPS, in the order asked

    @classmethod
    def parse(cls, args: Mapping[str, Sequence[str]]) -> UsageQuery:
        """From a query string's arguments (name -> values). Raises ClientError."""
        since = parse_instant(_one(args, "since"), "since")
        until = parse_instant(_one(args, "until"), "until")
        filters = []
        for name, column in FILTERS.items():
            value = _one(args, name)
            if value is not None:
                if value == "" or len(value) > MAX_FILTER:
                    raise ClientError(
                        f"'{name}' must be 1 to {MAX_FILTER} characters.", param=name
                    )
                filters.append((column, value))
        group_by: list[str] = []
        for value in args.get("group_by", ()):
            for name in value.split(","):
                name = name.strip()
                if name not in GROUPS:
                    raise ClientError(
                        f"'group_by' takes {', '.join(GROUPS)} (comma-separated), got {name!r}.",
                        param="group_by",
                    )
                if name not in group_by:
                    group_by.append(name)
        return cls(since, until, tuple(filters), tuple(group_by))

    def where(self) -> tuple[str, list[str]]:
        clauses, params = [], []
        if self.since:
            clauses.append("ts >= ?")
            params.append(self.since)
        if self.until:
            clauses.append("ts < ?")
            params.append(self.until)
        for column, value in self.filters:
            clauses.append(f"{column} = ?")
            params.append(value)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _one(args: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = args.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ClientError(f"'{name}' may be given once.", param=name)
    return values[0]


_INTEGERS = frozenset(
    ("requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
     "reasoning_tokens", "errors")
)


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    """A result row as /usage shows it. PostgreSQL's sum(bigint) is numeric (Decimal): the sums
    are integers, so int() is exact, and cost_usd comes from the exact integer pico-USD total."""
    out = {k: (int(v) if k in _INTEGERS else v) for k, v in row.items() if k != "cost_pico"}
    out["cost_usd"] = pico_to_usd(int(row["cost_pico"] or 0))
    for name in ("models", "clients", "agents"):
        if name in out:  # distinct names -> a sorted list without NULL
            values: Any = out[name]
            values = orjson.loads(values) if isinstance(values, str) else (values or [])
            out[name] = sorted(v for v in values if v is not None)
    return out


# The one spelling that differs between the backends: a column's distinct values as a list.
_DISTINCT = {False: "json_group_array(DISTINCT {c})", True: "array_agg(DISTINCT {c})"}


def _session_extra(postgres: bool) -> str:
    d = _DISTINCT[postgres]
    return (
        "min(ts) AS first_seen, max(ts) AS last_seen, "
        f"{d.format(c='model')} AS models, {d.format(c='client')} AS clients, "
        f"{d.format(c='agent')} AS agents, "
    )


def _grouped(conn: Reader, group: str, where: str, params: list[str]) -> list[dict[str, Any]]:
    _, column = GROUPS[group]
    extra = _session_extra(conn.postgres) if group == "session" else ""
    # NULLS FIRST: SQLite's default for ascending order, spelled out so PostgreSQL agrees.
    return conn.dicts(
        f"SELECT {column}, {extra}{_SUMS} FROM usage{where} GROUP BY {column} "
        f"ORDER BY cost_pico DESC, requests DESC, {column} NULLS FIRST",
        params,
    )


def summary(database: Database, query: UsageQuery) -> dict[str, Any]:
    since, until = query.since, query.until
    where, params = query.where()
    lists = [GROUPS[g][0] for g in query.group_by]
    if not exists(database):
        empty = {
            "requests": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "reasoning_tokens": 0,
            "errors": 0,
            "cost_usd": 0.0,
        }
        return {
            "since": since,
            "until": until,
            "totals": empty,
            "by_provider": [],
            "by_model": [],
            "by_day": [],
            **{name: [] for name in lists},
        }
    conn = Reader(database)
    try:
        totals = conn.dicts(f"SELECT {_SUMS} FROM usage{where}", params)[0]
        by_provider = conn.dicts(
            f"SELECT provider, {_SUMS} FROM usage{where} GROUP BY provider "
            "ORDER BY cost_pico DESC, requests DESC, provider NULLS FIRST",
            params,
        )
        by_model = conn.dicts(
            f"SELECT model, provider, {_SUMS} FROM usage{where} GROUP BY model, provider "
            "ORDER BY cost_pico DESC, requests DESC, model NULLS FIRST, provider NULLS FIRST",
            params,
        )
        by_day = conn.dicts(
            f"SELECT substr(ts, 1, 10) AS day, {_SUMS} FROM usage{where} GROUP BY day ORDER BY day",
            params,
        )
        grouped = {GROUPS[g][0]: _grouped(conn, g, where, params) for g in query.group_by}
    finally:
        conn.close()
    return {
        "since": since,
        "until": until,
        "totals": _shape(totals),
        "by_provider": [_shape(r) for r in by_provider],
        "by_model": [_shape(r) for r in by_model],
        "by_day": [_shape(r) for r in by_day],
        **{name: [_shape(r) for r in rows] for name, rows in grouped.items()},
    }


def rows_csv(database: Database, query: UsageQuery) -> str:
    where, params = query.where()
    out = io.StringIO()
    writer = csv.writer(out)
    columns = ["id", *db.USAGE_COLUMNS]
    writer.writerow(columns)
    if not exists(database):
        return out.getvalue()
    conn = Reader(database)
    try:
        for row in conn.all(f"SELECT {', '.join(columns)} FROM usage{where} ORDER BY id", params):
            writer.writerow(row)
    finally:
        conn.close()
    return out.getvalue()
