"""DuckDB connections onto the gateway's SQLite usage file.

Everything in `analytics/` reads the usage table through one of the two factories here:

- `connect(db)`: a live view. The SQLite file is ATTACHed READ_ONLY and `usage` is a temporary
  view over it with exactly the contract's columns and types (`ts` stays TEXT). `ekai sql` uses
  this: one query, no copy, and whatever the user writes runs against the file as it is now.
- `snapshot(db)`: a private in-memory copy. The file is attached, every row is copied in one
  scan into an in-memory DuckDB table `usage` (with `ts` parsed to a UTC TIMESTAMP), and the file
  is DETACHed again. The dashboard uses this: one short read per refresh, every figure on the
  page comes from the same set of rows, and the aggregates run on DuckDB's columnar copy (tens of
  milliseconds) instead of each re-scanning SQLite (hundreds of milliseconds each, since the
  sqlite scanner pushes projections down but not filters).

Concurrency with the gateway. The gateway writes the file in WAL mode. A WAL reader never blocks
the writer and the writer never blocks a reader; the only harm a reader can do is hold a read
transaction open for long, which stops checkpoints and lets the `-wal` file grow. So nothing here
keeps the file attached longer than a query (`ekai sql`) or a copy (`snapshot`).

One process, one SQLite. The sqlite extension carries its own copy of SQLite, separate from
Python's `sqlite3`. SQLite's locks are POSIX advisory locks, which belong to the process, so two
copies with the same file open in one process can drop each other's locks (sqlite.org,
"How To Corrupt An SQLite Database File", 2.2.1); a test that did so here died of a bus error.
So never use these connections inside the process that writes the file (the gateway reads its
own database, for `/usage`, with `sqlite3`). Separate processes are safe: that is WAL's design.

The sqlite extension. DuckDB's Python wheel does not contain the sqlite extension and by default
downloads it at run time, which fails on a machine that reaches only PyPI. The PyPI wheel
`duckdb-extension-sqlite-scanner` (pinned to the same version as `duckdb` in pyproject.toml)
ships the DuckDB-signed binary. `ensure_sqlite_extension` INSTALLs that file once into DuckDB's
extension directory, after which every DuckDB process on the machine (marimo's `mo.sql`, the
`duckdb` CLI) can load it. The directory is DuckDB's default, `~/.duckdb/extensions`, unless
`$EKAI_DUCKDB_EXTENSION_DIR` names another. When that directory is not writable the file is
LOADed straight from the wheel instead. `autoinstall_known_extensions` is off, so a missing
extension fails at once with `ExtensionMissing` and the pip command that fixes it, never with a
network timeout. Unsigned extensions stay refused.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

import duckdb

from gateway.db import database_path_from_config

EXTENSION = "sqlite_scanner"
EXTENSION_PACKAGE = "duckdb-extension-sqlite-scanner"
EXTENSION_DIR_ENV = "EKAI_DUCKDB_EXTENSION_DIR"
CONFIG_ENV = "EKAI_CONFIG"
DEFAULT_CONFIG = "ekai.yaml"

# The name the SQLite file is attached under. `usage` itself is always a relation in DuckDB's
# in-memory database, so user SQL can also create temporary tables next to it.
ATTACHED = "ekai_sqlite"


class AnalyticsError(Exception):
    """A problem a user can fix; `str(err)` is one line fit to print after `error: `."""


class ExtensionMissing(AnalyticsError):
    """DuckDB's sqlite extension is neither installed nor available from its PyPI wheel."""


class DatabaseMissing(AnalyticsError):
    """The usage database file does not exist (yet)."""


class NotAUsageDatabase(AnalyticsError):
    """The file exists but cannot be read as SQLite, or has no `usage` table."""


def install_hint(version: str = duckdb.__version__) -> str:
    """The command that installs the extension matching this DuckDB."""
    return f"pip install {EXTENSION_PACKAGE}=={version}"


def extension_directory(environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where the extension is installed: `$EKAI_DUCKDB_EXTENSION_DIR`, else DuckDB's default."""
    value = environ.get(EXTENSION_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def wheel_extension_file(version: str = duckdb.__version__) -> Path | None:
    """The extension binary inside the installed PyPI wheel, if that wheel matches `version`."""
    spec = importlib.util.find_spec("duckdb_extension_sqlite_scanner")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "extensions" / f"v{version}" / f"{EXTENSION}.duckdb_extension"
        if candidate.is_file():
            return candidate
    return None


def _missing_message() -> str:
    try:
        have = importlib.metadata.version(EXTENSION_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        have = None
    if have is None:
        found = f"{EXTENSION_PACKAGE} is not installed"
    else:
        found = f"{EXTENSION_PACKAGE} {have} is installed but duckdb is {duckdb.__version__}"
    return f"DuckDB's sqlite extension is missing ({found}); run: {install_hint()}"


def sql_string(value: str) -> str:
    """`value` as a SQL string literal. Only for statements that take no parameters (ATTACH)."""
    return "'" + value.replace("'", "''") + "'"


def new_connection(environ: Mapping[str, str] = os.environ) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that never downloads anything and works in UTC."""
    config: dict[str, str | bool] = {"autoinstall_known_extensions": False}
    ext_dir = extension_directory(environ)
    if ext_dir is not None:
        config["extension_directory"] = str(ext_dir)
    con = duckdb.connect(":memory:", config=config)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # it would draw on `ekai sql`'s terminal
    return con


def _installed(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT installed FROM duckdb_extensions() WHERE extension_name = ?", [EXTENSION]
    ).fetchone()
    return bool(row and row[0])


def ensure_sqlite_extension(con: duckdb.DuckDBPyConnection) -> None:
    """Load the sqlite extension into `con`, installing it from the PyPI wheel the first time.

    Raises ExtensionMissing, with the pip command that fixes it, when neither an installed copy
    nor the wheel's file loads.
    """
    wheel_file = wheel_extension_file()
    try:
        if not _installed(con) and wheel_file is not None:
            try:
                con.execute(f"INSTALL {sql_string(str(wheel_file))}")
            except duckdb.IOException:
                # Extension directory not writable (read-only home, container): load in place.
                con.execute(f"LOAD {sql_string(str(wheel_file))}")
                return
        con.execute(f"LOAD {EXTENSION}")
    except duckdb.Error as exc:
        if wheel_file is None:  # nothing installed and no wheel, or an unloadable copy
            raise ExtensionMissing(f"{_missing_message()} ({_first_line(exc)})") from exc
        try:  # an installed copy that does not load (damaged, another build): the wheel's own
            con.execute(f"LOAD {sql_string(str(wheel_file))}")
        except duckdb.Error as again:
            raise ExtensionMissing(f"{_missing_message()} ({_first_line(again)})") from again


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def resolve_config(
    config: str | Path | None = None, environ: Mapping[str, str] = os.environ
) -> Path:
    """The ekai.yaml to read: `config`, else `$EKAI_CONFIG`, else `./ekai.yaml` (the contract)."""
    return Path(config or environ.get(CONFIG_ENV) or DEFAULT_CONFIG).expanduser()


def resolve_database(
    db: str | Path | None = None,
    config: str | Path | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Path:
    """The usage database: `db` if given, else the one named by the config file.

    The config file is found by `resolve_config`. One that does not exist still names a
    database: `usage.db` beside it.
    """
    if db is not None:
        return Path(db).expanduser().resolve()
    return database_path_from_config(resolve_config(config, environ))


def attach(con: duckdb.DuckDBPyConnection, db: str | Path) -> None:
    """ATTACH the SQLite file at `db` READ_ONLY as `ATTACHED`, checking it has a usage table."""
    path = Path(db)
    if not path.is_file():
        raise DatabaseMissing(
            f"no usage database at {path} (it appears once `ekai serve` has started)"
        )
    ensure_sqlite_extension(con)
    try:
        con.execute(f"ATTACH {sql_string(str(path))} AS {ATTACHED} (TYPE sqlite, READ_ONLY)")
        found = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = 'usage'",
            [ATTACHED],
        ).fetchone()
    except duckdb.Error as exc:
        raise NotAUsageDatabase(f"cannot read {path} as SQLite: {_first_line(exc)}") from exc
    if not found or not found[0]:
        con.execute(f"DETACH {ATTACHED}")
        raise NotAUsageDatabase(f"{path} has no usage table")


def connect(db: str | Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection where `usage` is a live, read-only view of the SQLite table."""
    con = new_connection()
    try:
        attach(con, db)
        con.execute(f"CREATE TEMP VIEW usage AS SELECT * FROM {ATTACHED}.usage")
    except BaseException:
        con.close()
        raise
    return con


# What `snapshot` copies: the columns the figures and listings use, with their types (for
# filling in a column an older database lacks). Copying costs time per column and row (the
# sqlite scanner converts value by value), so bookkeeping columns such as `price_version` and
# anything added to the table later stay in the file; `ekai sql` sees them all.
SNAPSHOT_COLUMNS: dict[str, str] = {
    "id": "BIGINT",
    "ts": "VARCHAR",
    "request_id": "VARCHAR",
    "client_format": "VARCHAR",
    "provider": "VARCHAR",
    "model": "VARCHAR",
    "provider_model": "VARCHAR",
    "stream": "BIGINT",
    "status": "BIGINT",
    "input_tokens": "BIGINT",
    "cache_read_tokens": "BIGINT",
    "cache_write_tokens": "BIGINT",
    "cache_write_1h_tokens": "BIGINT",
    "output_tokens": "BIGINT",
    "reasoning_tokens": "BIGINT",
    "cost_usd": "DOUBLE",
    "latency_ms": "DOUBLE",
    "ttft_ms": "DOUBLE",
    "error": "VARCHAR",
    "attempts": "VARCHAR",
}


def snapshot_select(present: set[str]) -> str:
    """The SELECT list that copies SNAPSHOT_COLUMNS from a table with the columns `present`.

    `ts` is parsed to a UTC TIMESTAMP (NULL where the text does not parse); a column the table
    lacks becomes NULL (0 for token counts) of the right type, so the queries need not care.
    """
    parts = []
    for name, kind in SNAPSHOT_COLUMNS.items():
        if name == "ts":
            parts.append("timezone('UTC', TRY_CAST(ts AS TIMESTAMPTZ)) AS ts")
        elif name in present:
            parts.append(name)
        else:
            default = "0" if name.endswith("_tokens") else "NULL"
            parts.append(f"CAST({default} AS {kind}) AS {name}")
    return ", ".join(parts)


def snapshot(db: str | Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection holding an in-memory copy of the usage table, detached from the file.

    The copy has the SNAPSHOT_COLUMNS, with `ts` as a TIMESTAMP in UTC, so time filters and
    buckets need no per-query string parsing.
    """
    con = new_connection()
    try:
        attach(con, db)
        present = {
            str(row[0])
            for row in con.execute(
                "SELECT column_name FROM duckdb_columns() "
                "WHERE database_name = ? AND table_name = 'usage'",
                [ATTACHED],
            ).fetchall()
        }
        con.execute(
            f"CREATE TABLE usage AS SELECT {snapshot_select(present)} FROM {ATTACHED}.usage"
        )
        con.execute(f"DETACH {ATTACHED}")
    except duckdb.Error as exc:  # the file changed under us, is damaged, ...: one clear line
        con.close()
        raise AnalyticsError(f"cannot read {db}: {_first_line(exc)}") from exc
    except BaseException:
        con.close()
        raise
    return con
