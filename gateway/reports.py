"""GET /usage: aggregates over the usage table, computed in SQLite over every row in range.

Costs are summed as integers (`cost_pico_usd`) and converted once, so totals equal the sum of
the rows exactly. Runs on a read-only connection in a worker thread, never on the event loop.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway import db
from gateway.errors import ClientError
from gateway.pricing import pico_to_usd

_SUMS = """
    count(*) AS requests,
    coalesce(sum(input_tokens), 0) AS input_tokens,
    coalesce(sum(output_tokens), 0) AS output_tokens,
    coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
    coalesce(sum(cache_write_tokens), 0) AS cache_write_tokens,
    coalesce(sum(reasoning_tokens), 0) AS reasoning_tokens,
    coalesce(sum(cost_pico_usd), 0) AS cost_pico,
    sum(error IS NOT NULL) AS errors
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


def _where(since: str | None, until: str | None) -> tuple[str, list[str]]:
    clauses, params = [], []
    if since:
        clauses.append("ts >= ?")
        params.append(since)
    if until:
        clauses.append("ts < ?")
        params.append(until)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _shape(row: sqlite3.Row) -> dict[str, Any]:
    out = {k: row[k] for k in row.keys() if k != "cost_pico"}  # noqa: SIM118 (sqlite3.Row)
    out["cost_usd"] = pico_to_usd(row["cost_pico"] or 0)
    return out


def summary(path: Path, since: str | None, until: str | None) -> dict[str, Any]:
    where, params = _where(since, until)
    if not path.exists():
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
        }
    conn = db.connect_readonly(path)
    conn.row_factory = sqlite3.Row
    try:
        totals = conn.execute(f"SELECT {_SUMS} FROM usage{where}", params).fetchone()
        by_provider = conn.execute(
            f"SELECT provider, {_SUMS} FROM usage{where} GROUP BY provider ORDER BY cost_pico DESC",
            params,
        ).fetchall()
        by_model = conn.execute(
            f"SELECT model, provider, {_SUMS} FROM usage{where} "
            "GROUP BY model, provider ORDER BY cost_pico DESC",
            params,
        ).fetchall()
        by_day = conn.execute(
            f"SELECT substr(ts, 1, 10) AS day, {_SUMS} FROM usage{where} GROUP BY day ORDER BY day",
            params,
        ).fetchall()
    finally:
        conn.close()
    return {
        "since": since,
        "until": until,
        "totals": _shape(totals),
        "by_provider": [_shape(r) for r in by_provider],
        "by_model": [_shape(r) for r in by_model],
        "by_day": [_shape(r) for r in by_day],
    }


def rows_csv(path: Path, since: str | None, until: str | None) -> str:
    where, params = _where(since, until)
    out = io.StringIO()
    writer = csv.writer(out)
    columns = ["id", *db.USAGE_COLUMNS]
    writer.writerow(columns)
    if not path.exists():
        return out.getvalue()
    conn = db.connect_readonly(path)
    try:
        cursor = conn.execute(f"SELECT {', '.join(columns)} FROM usage{where} ORDER BY id", params)
        for row in cursor:
            writer.writerow(row)
    finally:
        conn.close()
    return out.getvalue()
