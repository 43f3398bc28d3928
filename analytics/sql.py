"""`ekai sql`: run one query in DuckDB against the usage table and print the result.

    ekai sql "SELECT provider, sum(cost_usd) FROM usage GROUP BY 1" [--format table|csv|json]
    ekai sql --schema

The CLI (gateway/cli.py) resolves the database path and calls `run`; everything else is here.
`usage` is the live read-only view of `analytics.duck.connect`, with the contract's column names
and types, so what a user writes here also works against the SQLite file itself (`ts` is TEXT;
DuckDB compares it with timestamps after `ts::TIMESTAMP`). The query runs in an in-memory DuckDB,
so it may create temporary tables, but the usage file is attached READ_ONLY: nothing typed here
can change it.

Output formats:
- table: aligned columns, numbers right-aligned, NULL spelled out, then "(N rows)". For people.
- csv: RFC 4180 with a header; NULL is the empty field. For spreadsheets.
- json: one JSON array of objects (column -> value); NULL is null, NaN and infinities are null
  (JSON has no spelling for them), timestamps are ISO 8601, decimals become numbers. For scripts.
csv and json are written in batches as DuckDB produces them, so a large export never sits in
memory twice; the table format has to see every row before it can align the first.

Errors (a bad query, a missing database, a missing sqlite extension) print one line,
`error: ...`, to `err` and return 1: no traceback, since the user's next step is to fix the
query, not to read DuckDB's internals. Misuse (no query, unknown format) returns 2.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import math
import os
import sys
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import duckdb

from analytics import duck

FORMATS: tuple[str, ...] = ("table", "csv", "json")
BATCH_ROWS = 10_000


def run(
    query: str | None,
    *,
    db: Path | str,
    fmt: str = "table",
    schema: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Run `query` (or describe `usage` when `schema`) against the database at `db`.

    Returns the process exit code: 0 on success, 1 when the query or the database fails,
    2 on misuse.
    """
    if fmt not in FORMATS:
        print(f"error: unknown format {fmt!r} (use one of: {', '.join(FORMATS)})", file=err)
        return 2
    if not schema and not (query and query.strip()):
        print('error: no query given (ekai sql "SELECT ... FROM usage", or --schema)', file=err)
        return 2
    try:
        con = duck.connect(db)
    except (duck.AnalyticsError, duckdb.Error) as exc:
        print(f"error: {one_line(exc)}", file=err)
        return 1
    try:
        if schema:
            rows = con.execute("DESCRIBE usage").fetchall()
            write(["column", "type"], [[(r[0], r[1]) for r in rows]], fmt, out)
        else:
            cursor = con.execute(str(query))
            if cursor.description:  # statements such as CREATE TEMP TABLE return nothing
                write([d[0] for d in cursor.description], _batches(cursor), fmt, out)
    except duckdb.Error as exc:
        print(f"error: {one_line(exc)}", file=err)
        return 1
    except BrokenPipeError:  # `ekai sql ... | head`: the reader left, which is not an error
        _silence_stdout(out)
    finally:
        con.close()
    return 0


def _silence_stdout(out: TextIO) -> None:
    """After a broken pipe, point stdout at /dev/null so the exit-time flush stays quiet."""
    if out is sys.stdout:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (DuckDB adds a caret diagram below it)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _batches(cursor: duckdb.DuckDBPyConnection) -> Iterator[list[tuple[Any, ...]]]:
    while batch := cursor.fetchmany(BATCH_ROWS):
        yield batch


def write(
    columns: Sequence[str], batches: Iterable[Sequence[Sequence[Any]]], fmt: str, out: TextIO
) -> None:
    """Write rows, given in batches, as `fmt` (one of FORMATS)."""
    if fmt == "csv":
        write_csv(columns, batches, out)
    elif fmt == "json":
        write_json(columns, batches, out)
    else:
        write_table(columns, [row for batch in batches for row in batch], out)


# --- value conversion -----------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """A DuckDB result value as a JSON-encodable one."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def text(value: Any) -> str:
    """A value as flat text for csv and table cells (None -> "")."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return json.dumps(jsonable(value), ensure_ascii=False)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


# --- formats --------------------------------------------------------------------------------


def write_csv(
    columns: Sequence[str], batches: Iterable[Sequence[Sequence[Any]]], out: TextIO
) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for batch in batches:
        writer.writerows([text(v) for v in row] for row in batch)


def write_json(
    columns: Sequence[str], batches: Iterable[Sequence[Sequence[Any]]], out: TextIO
) -> None:
    out.write("[")
    first = True
    for batch in batches:
        for row in batch:
            record = {c: jsonable(v) for c, v in zip(columns, row, strict=True)}
            out.write(("\n  " if first else ",\n  ") + json.dumps(record, ensure_ascii=False))
            first = False
    out.write("\n]\n" if not first else "]\n")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    # One row, one line: escape what would break the alignment.
    return text(value).replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Aligned text lines: header, rule, one line per row, then "(N rows)"."""
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [
        any(row[i] is not None for row in rows)
        and all(row[i] is None or _is_number(row[i]) for row in rows)
        for i in range(len(columns))
    ]
    widths = [max([len(name), *(len(line[i]) for line in cells)]) for i, name in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    lines = [line(list(columns)), "  ".join("-" * w for w in widths)]
    lines.extend(line(row) for row in cells)
    lines.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return lines


def write_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO) -> None:
    out.write("\n".join(format_table(columns, rows)) + "\n")
