"""DuckDB connections onto the gateway's SQLite usage file.

Everything in `analytics/` reads the usage table through one of the two factories here:

- `connect(db)`: a live view. The SQLite file is ATTACHed READ_ONLY and `usage` is a temporary
  view over it with exactly the contract's columns and types (`ts` stays TEXT). `ekai sql` uses
  this: one query, no copy, and whatever the user writes runs against the file as it is now.
- `Snapshot(db)`: a private, compressed in-memory copy that `refresh()` keeps up to date by
  reading only the rows it has not seen (`id` greater than the last one copied). The dashboard
  uses this: every figure on the page comes from the same set of rows, the aggregates run on
  DuckDB's columnar copy (tens of milliseconds) instead of each re-scanning SQLite, and a refresh
  costs what the new rows cost, not what the table costs. `snapshot(db)` is a one-off full copy.

How a refresh reads. The usage table is append-only and SQLite gives a new row the largest id
plus one, one writer at a time, so "rows with id > last" is exactly what is new. A few new rows
are read with `sqlite_query` (the statement runs inside SQLite, so `WHERE id > ?` uses the
primary key); a large backlog (the first copy) with the sqlite scanner, which reads the whole
table in parallel but filters only after reading (FULL_SCAN_SHARE); a first copy of 1M rows or
more makes the hourly cells straight from the file first and copies the rows afterwards, in the
background (`Snapshot._cells_first`, `copy_in_background`). The rows are appended to the
copy, a DuckDB database file (compressed columns, ~50 bytes a row), and in the same transaction
their hourly cells are merged into the copy's cells table (`analytics.rollup`), from which the
dashboard's sums are read. A file that was replaced (its row at the last id seen has another
request id, or its largest id went down) is copied again from the start. The gateway never
deletes or updates usage rows; if someone does by hand, delete the cached copy (`cache_file`) or
run with `--no-cache` to read the table afresh.

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

import atexit
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from analytics import rollup
from gateway.database import Database, is_url, redact
from gateway.db import database_from_config

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


# PostgreSQL (usage.database a postgresql:// URL): DuckDB's postgres extension, from its PyPI
# wheel `duckdb-extension-postgres-scanner` (pinned with duckdb), installed the same way.
PG_EXTENSION = "postgres_scanner"
PG_EXTENSION_PACKAGE = "duckdb-extension-postgres-scanner"


def is_postgres(db: str | Path) -> bool:
    """Whether `db` names a PostgreSQL database (a postgresql:// URL) rather than a file."""
    return isinstance(db, str) and is_url(db)


def shown(db: str | Path) -> str:
    """`db` fit for a message: a URL's password replaced by ***."""
    return redact(str(db)) if is_postgres(db) else str(db)


def install_hint(version: str = duckdb.__version__, package: str = EXTENSION_PACKAGE) -> str:
    """The command that installs the extension matching this DuckDB."""
    return f"pip install {package}=={version}"


def extension_directory(environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where the extension is installed: `$EKAI_DUCKDB_EXTENSION_DIR`, else DuckDB's default."""
    value = environ.get(EXTENSION_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def wheel_extension_file(version: str = duckdb.__version__, extension: str = EXTENSION) -> Path | None:
    """The extension binary inside the installed PyPI wheel, if that wheel matches `version`."""
    spec = importlib.util.find_spec(f"duckdb_extension_{extension}")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "extensions" / f"v{version}" / f"{extension}.duckdb_extension"
        if candidate.is_file():
            return candidate
    return None


def _missing_message(extension: str = EXTENSION) -> str:
    package = PG_EXTENSION_PACKAGE if extension == PG_EXTENSION else EXTENSION_PACKAGE
    try:
        have = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        have = None
    if have is None:
        found = f"{package} is not installed"
    else:
        found = f"{package} {have} is installed but duckdb is {duckdb.__version__}"
    kind = extension.split("_")[0]
    return f"DuckDB's {kind} extension is missing ({found}); run: {install_hint(package=package)}"


def sql_string(value: str) -> str:
    """`value` as a SQL string literal. Only for statements that take no parameters (ATTACH)."""
    return "'" + value.replace("'", "''") + "'"


def new_connection(environ: Mapping[str, str] = os.environ) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that never downloads anything and works in UTC."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False
    }
    ext_dir = extension_directory(environ)
    if ext_dir is not None:
        config["extension_directory"] = str(ext_dir)
    con = duckdb.connect(":memory:", config=config)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # it would draw on `ekai sql`'s terminal
    return con


def _installed(con: duckdb.DuckDBPyConnection, extension: str = EXTENSION) -> bool:
    row = con.execute(
        "SELECT installed FROM duckdb_extensions() WHERE extension_name = ?", [extension]
    ).fetchone()
    return bool(row and row[0])


def ensure_sqlite_extension(con: duckdb.DuckDBPyConnection, extension: str = EXTENSION) -> None:
    """Load the sqlite extension into `con`, installing it from the PyPI wheel the first time.

    Raises ExtensionMissing, with the pip command that fixes it, when neither an installed copy
    nor the wheel's file loads.
    """
    wheel_file = wheel_extension_file(extension=extension)
    try:
        if not _installed(con, extension) and wheel_file is not None:
            try:
                con.execute(f"INSTALL {sql_string(str(wheel_file))}")
            except duckdb.IOException:
                # Extension directory not writable (read-only home, container): load in place.
                con.execute(f"LOAD {sql_string(str(wheel_file))}")
                return
        con.execute(f"LOAD {extension}")
    except duckdb.Error as exc:
        if wheel_file is None:  # nothing installed and no wheel, or an unloadable copy
            raise ExtensionMissing(f"{_missing_message(extension)} ({_first_line(exc)})") from exc
        try:  # an installed copy that does not load (damaged, another build): the wheel's own
            con.execute(f"LOAD {sql_string(str(wheel_file))}")
        except duckdb.Error as again:
            raise ExtensionMissing(f"{_missing_message(extension)} ({_first_line(again)})") from again


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
) -> Path | str:
    """The usage database: `db` if given, else the one named by the config file: a file's Path,
    or a postgresql:// URL (a str).

    The config file is found by `resolve_config`. One that does not exist still names a
    database: `usage.db` beside it.
    """
    if db is not None:
        if is_url(str(db)):
            return Database.postgresql(str(db)).dsn
        return Path(db).expanduser().resolve()
    found = database_from_config(resolve_config(config, environ))
    return found.dsn if found.is_postgres else found.file


def attach(con: duckdb.DuckDBPyConnection, db: str | Path) -> None:
    """ATTACH the SQLite file (or PostgreSQL database) at `db` READ_ONLY as `ATTACHED`, checking
    it has a usage table."""
    _attach_as(con, db, ATTACHED)


def _attach_as(con: duckdb.DuckDBPyConnection, db: str | Path, name: str) -> None:
    if is_postgres(db):
        _attach_postgres(con, str(db), name)
        return
    path = Path(db)
    if not path.is_file():
        raise DatabaseMissing(
            f"no usage database at {path} (it appears once `ekai serve` has started)"
        )
    ensure_sqlite_extension(con)
    try:
        con.execute(f"ATTACH {sql_string(str(path))} AS {name} (TYPE sqlite, READ_ONLY)")
        found = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = 'usage'",
            [name],
        ).fetchone()
    except duckdb.Error as exc:
        raise NotAUsageDatabase(f"cannot read {path} as SQLite: {_first_line(exc)}") from exc
    if not found or not found[0]:
        con.execute(f"DETACH {name}")
        raise NotAUsageDatabase(f"{path} has no usage table")


def _attach_postgres(con: duckdb.DuckDBPyConnection, url: str, name: str = ATTACHED) -> None:
    ensure_sqlite_extension(con, PG_EXTENSION)
    try:
        con.execute(f"ATTACH {sql_string(url)} AS {name} (TYPE postgres, READ_ONLY)")
        found = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = 'usage'",
            [name],
        ).fetchone()
    except duckdb.Error as exc:
        message = _first_line(exc)
        secret = urlsplit(url).password
        if secret:
            message = message.replace(secret, "***")
        raise NotAUsageDatabase(f"cannot read {redact(url)}: {message}") from exc
    if not found or not found[0]:
        con.execute(f"DETACH {name}")
        raise NotAUsageDatabase(
            f"{redact(url)} has no usage table (it appears once `ekai serve` has started)"
        )


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
    "api_key_name": "VARCHAR",
    "session_id": "VARCHAR",
    "client": "VARCHAR",
    "client_version": "VARCHAR",
    "agent": "VARCHAR",
    "tags": "VARCHAR",
    "cost_pico_usd": "BIGINT",  # exact spend, for the budget panel (sums without rounding)
}


def snapshot_select(present: set[str]) -> str:
    """The SELECT list that copies SNAPSHOT_COLUMNS from a table with the columns `present`.

    `ts` is parsed to a UTC TIMESTAMP (NULL where the text does not parse); a column the table
    lacks becomes NULL (0 for token counts) of the right type, so the queries need not care.
    """
    return ", ".join(
        f"{part} AS {name}" if part != name else name
        for part, name in zip(_select_parts(present), SNAPSHOT_COLUMNS, strict=True)
    )


def _select_parts(present: set[str]) -> list[str]:
    """The expression of each SNAPSHOT_COLUMNS column (see `snapshot_select`), unnamed."""
    parts = []
    for name, kind in SNAPSHOT_COLUMNS.items():
        if name == "ts":  # the gateway's own "...Z" (UTC) parses faster as a plain TIMESTAMP
            parts.append(
                "CASE WHEN ts LIKE '%Z' THEN TRY_CAST(ts AS TIMESTAMP) "
                "ELSE timezone('UTC', TRY_CAST(ts AS TIMESTAMPTZ)) END"
            )
        elif name in present:
            parts.append(name)
        else:
            default = "0" if name.endswith("_tokens") else "NULL"
            parts.append(f"CAST({default} AS {kind})")
    return parts


def _present_columns(con: duckdb.DuckDBPyConnection, name: str = ATTACHED) -> set[str]:
    return {
        str(row[0])
        for row in con.execute(
            "SELECT column_name FROM duckdb_columns() "
            "WHERE database_name = ? AND table_name = 'usage'",
            [name],
        ).fetchall()
    }


def _inside(con: duckdb.DuckDBPyConnection, name: str = ATTACHED) -> str:
    """The table function that runs a statement inside the attached database."""
    row = con.execute("SELECT type FROM duckdb_databases() WHERE database_name = ?", [name]).fetchone()
    return "postgres_query" if row and row[0] == "postgres" else "sqlite_query"


def _sqlite_scalar(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    """The one value of `sql` run inside the attached SQLite file or PostgreSQL database
    (sqlite_query types an expression's result as text, so callers cast)."""
    row = con.execute(f"SELECT * FROM {_inside(con)}({sql_string(ATTACHED)}, {sql_string(sql)})")
    found = row.fetchone()
    return found[0] if found else None


CACHE_DIR_ENV = "EKAI_CACHE_DIR"
SNAPSHOT_DB = "snap"  # the name the copy's DuckDB database is attached under
MEMORY_LIMIT = "1GB"  # DuckDB's buffer pool for the copy: the rest stays on disk
# Above this share of the table missing from the copy, one parallel scan of the whole file is
# cheaper than reading the missing ids through SQLite (measured: ~2.5 s per 1M rows for the
# scan of everything, ~6 s per 1M rows read by id).
FULL_SCAN_SHARE = 0.2
# A refresh that copied at least this many rows checkpoints the copy at once (compressing them);
# fewer wait in DuckDB's write-ahead log for its automatic checkpoint (at 16 MB of log), so a
# refresh every 10 s does not pay a checkpoint each time.
CHECKPOINT_ROWS = 100_000
# A refresh appends its rows' latency histogram entries; the days they touch are merged (one
# entry per day, dimensions and bin) once this many rows arrived since the last merge. Merging
# at every refresh cost ~0.1 s of a 10,000-row refresh at 10M rows; unmerged entries only add
# rows to the latency query's sum.
LATENCY_MERGE_ROWS = 200_000
# A first copy of at least this many rows is made in two steps: the hourly cells straight from
# the file (the scanner reads only the columns they need), so the page can render, then the rows
# in the background (see `Snapshot`).
BACKGROUND_ROWS = 1_000_000
COPY_ATTACHED = "ekai_sqlite_copy"  # the file, attached for the background copy's duration
PENDING = "usage_pending"  # the ids the background copy has still to copy (one row, or none)


def pending(con: duckdb.DuckDBPyConnection) -> tuple[int, int] | None:
    """(lo, hi) when `con`'s current schema is a Snapshot whose rows lo < id <= hi are in its
    cells but not yet in its copy (a first copy under way in the background), else None."""
    if not rollup.present(con, PENDING):
        return None
    row = con.execute(f"SELECT lo, hi FROM {PENDING}").fetchone()
    return (int(row[0]), int(row[1])) if row else None


def raw_rows(con: duckdb.DuckDBPyConnection, lo: int | None = None, hi: int | None = None,
             sqlite_where: str = "") -> str:  # fmt: skip
    """A FROM item holding the rows of `usage` with lo <= id <= hi (None: open), whether or not
    they have reached the copy: while a background copy is under way, the ids it has yet to
    copy are read from the file by primary key (with `sqlite_where`, SQLite SQL, also applied
    there: the caller's own filter still applies to every row)."""
    span = pending(con)
    if span is None:
        return "usage"
    first, last = span[0] + 1, span[1]
    if lo is not None:
        first = max(first, lo)
    if hi is not None:
        last = min(last, hi)
    if first > last:
        return "usage"
    inner = f"SELECT * FROM usage WHERE id >= {int(first)} AND id <= {int(last)}"
    if sqlite_where:
        inner += f" AND ({sqlite_where})"
    source = f"{_inside(con, COPY_ATTACHED)}({sql_string(COPY_ATTACHED)}, {sql_string(inner)})"
    typed = ", ".join(
        f"CAST({part} AS {'TIMESTAMP' if name == 'ts' else kind}) AS {name}"
        for part, (name, kind) in zip(
            _select_parts(_present_columns(con, COPY_ATTACHED)), SNAPSHOT_COLUMNS.items(), strict=True
        )
    )
    # the copy's rows outside the span read above (a chunk that lands meanwhile is not read twice)
    copied = f"SELECT * FROM usage WHERE NOT (id > {span[0]} AND id <= {span[1]})"
    return f"({copied} UNION ALL BY NAME SELECT {typed} FROM {source}) AS usage"


def cache_directory(environ: Mapping[str, str] = os.environ) -> Path:
    """Where snapshots are kept between runs: `$EKAI_CACHE_DIR`, else `$XDG_CACHE_HOME/ekai`,
    else `~/.cache/ekai`."""
    value = environ.get(CACHE_DIR_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    xdg = environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "ekai"


def cache_file(db: str | Path, directory: Path) -> Path:
    """The snapshot file for the usage database `db`: one per database path (or URL)."""
    if is_postgres(db):
        digest = hashlib.sha256(str(db).encode()).hexdigest()[:16]
        return directory / f"snapshot-postgresql-{digest}.duckdb"
    resolved = str(Path(db).expanduser().resolve())
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:16]
    return directory / f"snapshot-{Path(resolved).stem}-{digest}.duckdb"


def _table_columns() -> str:
    return ", ".join(
        f"{name} {'TIMESTAMP' if name == 'ts' else kind}" for name, kind in SNAPSHOT_COLUMNS.items()
    )


class Snapshot:
    """A DuckDB copy of the usage table that `refresh()` brings up to date incrementally.

    The copy is a DuckDB database file (compressed columns, about 40 bytes a row; DuckDB keeps
    what it reads in a buffer pool capped at MEMORY_LIMIT, so 10M rows cost a few hundred MB of
    memory, not the ~250 bytes a row an uncompressed in-memory table takes). With `cache` a
    directory, the file is `cache_file(db, cache)` and survives the process, so the next start
    reads only what was added meanwhile; a file another process holds, or one that cannot be
    read, is replaced by a private temporary one. With `cache=None` the file is temporary and
    removed by `close()`.

    `con`'s default database holds the copy as table `usage` (the SNAPSHOT_COLUMNS, `ts` a naive
    UTC TIMESTAMP). Reading threads take their own `cursor()`; `refresh()` may run while they
    query (DuckDB is MVCC: a query sees the rows committed when it started), and refreshes are
    serialised by a lock.
    """

    def __init__(
        self, db: str | Path, *, cache: Path | None = None, background: bool | None = None
    ) -> None:
        self.db: str | Path = db if is_postgres(db) else Path(db)
        self._lock = threading.Lock()
        self._tmp: Path | None = None
        # None: a first copy of BACKGROUND_ROWS or more copies its rows in the background
        self._background = background
        self._copier: threading.Thread | None = None
        self._copy_error: BaseException | None = None
        self._copy_cursor: duckdb.DuckDBPyConnection | None = None
        self.con = new_connection()
        try:
            # Rows are appended in any order (in parallel); every query orders explicitly.
            self.con.execute("SET preserve_insertion_order = false")
            self.con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
            self.path = self._attach_copy(cache)
            self.con.execute(f"USE {SNAPSHOT_DB}")
            self._check_table()
            self._count, self._last_id, self._last_request_id = self._state()
            # the id up to which latency entries were last merged (see _catch_up); entries a
            # previous process left unmerged are merged with the next merge of their day
            self._latency_merged = self._last_id
        except BaseException:
            self.close()
            raise

    def _attach_copy(self, cache: Path | None) -> Path:
        if cache is not None:
            path = cache_file(self.db, cache)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.con.execute(f"ATTACH {sql_string(str(path))} AS {SNAPSHOT_DB}")
                return path
            except (OSError, duckdb.Error):
                pass  # held by another dashboard, damaged, read-only: a private copy instead
        self._tmp = Path(tempfile.mkdtemp(prefix="ekai-snapshot-"))
        path = self._tmp / "snapshot.duckdb"
        self.con.execute(f"ATTACH {sql_string(str(path))} AS {SNAPSHOT_DB}")
        return path

    def _check_table(self) -> None:
        """Create the tables, or recreate them when an older ekai wrote other columns: the
        copy of the rows, and its hourly cells (`analytics.rollup`), made from the copy when
        they are missing (a copy kept by an ekai from before them)."""
        have = self.con.execute(
            "SELECT list(column_name ORDER BY column_index) FROM duckdb_columns() "
            "WHERE database_name = ? AND table_name = 'usage'",
            [SNAPSHOT_DB],
        ).fetchone()
        if not have or list(have[0] or []) != list(SNAPSHOT_COLUMNS):
            self.con.execute(f"CREATE OR REPLACE TABLE {SNAPSHOT_DB}.usage ({_table_columns()})")
            self.con.execute(f"DROP TABLE IF EXISTS {SNAPSHOT_DB}.{PENDING}")
        if not rollup.matches(self.con):
            if self.pending() is not None:  # cells without all their rows: start again
                self.con.execute(f"DELETE FROM {SNAPSHOT_DB}.usage")
                self.con.execute(f"DROP TABLE {SNAPSHOT_DB}.{PENDING}")
            rollup.build(self.con)

    def pending(self) -> tuple[int, int] | None:
        """(lo, hi): the rows with lo < id <= hi are in the cells but not yet in the copy (the
        background copy is on its way), or None."""
        return pending(self.con)

    def _state(self, after: int = 0) -> tuple[int, int, str | None]:
        """Rows, largest id and its request_id, of the copy's rows with id > `after` (with
        `after` 0 and a background copy under way, of the rows the cells hold)."""
        if not after and self.pending() is not None:
            found = self.con.execute(
                f"SELECT coalesce(sum(requests), 0)::BIGINT, coalesce(max(max_id), 0), "
                f"(SELECT top_request_id FROM {SNAPSHOT_DB}.{PENDING}) "
                f"FROM {SNAPSHOT_DB}.{rollup.TABLE}"
            ).fetchone()
            assert found is not None
            top = int(found[1])
            have = self.con.execute(
                f"SELECT request_id FROM {SNAPSHOT_DB}.usage WHERE id = $top", {"top": top}
            ).fetchone()
            return int(found[0]), top, have[0] if have else found[2]
        row = self.con.execute(
            f"SELECT count(*), coalesce(max(id), 0), arg_max(request_id, id) "
            f"FROM {SNAPSHOT_DB}.usage WHERE id > $after",
            {"after": after},
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), row[2]

    @property
    def rows(self) -> int:
        """Rows in the copy."""
        return self._count

    @property
    def last_id(self) -> int:
        """The largest id copied (0: none)."""
        return self._last_id

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection onto the same copy, for another thread."""
        cur = self.con.cursor()
        cur.execute(f"USE {SNAPSHOT_DB}")
        return cur

    def _stop_copy(self) -> None:
        """Interrupt a background copy and wait for its thread (its transaction rolls back; the
        next start resumes it). Also run at interpreter exit: a DuckDB query still running in a
        thread when Python finalizes aborts the process."""
        if self._copier is not None:
            if self._copier.is_alive() and self._copy_cursor is not None:
                with contextlib.suppress(duckdb.Error):
                    self._copy_cursor.interrupt()
            self._copier.join()

    def close(self) -> None:
        self._stop_copy()
        with contextlib.suppress(duckdb.Error):
            self.con.execute(f"DETACH DATABASE IF EXISTS {COPY_ATTACHED}")
        self.con.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    @property
    def copying(self) -> bool:
        """Whether rows the cells hold are still being copied (see `pending`)."""
        return self.pending() is not None

    def wait(self) -> None:
        """Return once every row is in the copy (runs the background copy here if none runs);
        re-raises what stopped the background copy."""
        copier = self._copier
        if copier is not None:
            copier.join()
        if self._copy_error is not None:
            raise AnalyticsError(f"cannot copy {shown(self.db)}: {_first_line(self._copy_error)}")
        if self.pending() is not None:
            self.copy_pending()

    def _attach_copy_source(self, con: duckdb.DuckDBPyConnection) -> None:
        """The file attached as COPY_ATTACHED (for the background copy and the queries' reads
        of the rows it has yet to copy), unless it is."""
        row = con.execute(
            "SELECT count(*) FROM duckdb_databases() WHERE database_name = ?", [COPY_ATTACHED]
        ).fetchone()
        if not row or not row[0]:
            try:
                _attach_as(con, self.db, COPY_ATTACHED)
            except NotAUsageDatabase:  # attached meanwhile by the other thread: fine
                again = con.execute(
                    "SELECT count(*) FROM duckdb_databases() WHERE database_name = ?",
                    [COPY_ATTACHED],
                ).fetchone()
                if not again or not again[0]:
                    raise

    def copy_in_background(self) -> None:
        """Start copying the pending rows (`pending`) in a background thread, unless they are
        all copied or a thread is at it. The dashboard calls this once the page's figures are
        computed, so the copy (seconds of both cores at 10M rows) does not slow the first
        render; `refresh` never starts it."""
        with self._lock:
            if self.copying:
                self._start_copy()

    def _start_copy(self) -> None:
        """Copy the pending rows in a background thread (called with the lock held)."""
        if self._copier is not None and self._copier.is_alive():
            return
        self._copy_error = None
        self._copier = threading.Thread(target=self._copy_in_background, daemon=True,
                                        name="ekai-snapshot-copy")  # fmt: skip
        self._copier.start()
        ref = weakref.WeakMethod(self._stop_copy)

        def stop_at_exit() -> None:
            method = ref()
            if method is not None:
                method()

        atexit.register(stop_at_exit)

    def _copy_in_background(self) -> None:
        try:
            self.copy_pending()
        except BaseException as exc:
            self._copy_error = exc

    def copy_pending(self) -> None:
        """Copy the rows the cells hold but the copy does not (`pending`), with their latency
        histograms, in one transaction, through the sqlite scanner (parallel). No lock is held
        meanwhile: refreshes append newer rows and merge their cells beside it (appends do not
        conflict; the histogram entries are appended unmerged, which the queries sum anyway,
        and merged by a later refresh that touches their day)."""
        cur = self._copy_cursor = self.con.cursor()
        try:
            cur.execute(f"USE {SNAPSHOT_DB}")
            span = pending(cur)
            if span is None:
                return
            self._attach_copy_source(cur)
            lo, hi = span
            source = f"{COPY_ATTACHED}.usage WHERE id > {lo} AND id <= {hi}"
            select = snapshot_select(_present_columns(cur, COPY_ATTACHED))
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.execute(f"INSERT INTO {SNAPSHOT_DB}.usage SELECT {select} FROM {source}")
                cur.execute(
                    f"INSERT INTO {SNAPSHOT_DB}.{rollup.LATENCY_TABLE} "
                    f"{rollup.latency_sql(f'WHERE id > {lo} AND id <= {hi}')}"
                )
                cur.execute(f"DROP TABLE {SNAPSHOT_DB}.{PENDING}")
                cur.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    cur.execute("ROLLBACK")
                raise
            # compress what was copied now (else DuckDB does it when it can); the file stays
            # attached as COPY_ATTACHED for queries that read `pending` just before the copy
            # landed: the next refresh detaches it.
            with contextlib.suppress(duckdb.Error):
                cur.execute(f"CHECKPOINT {SNAPSHOT_DB}")
        finally:
            cur.close()

    def refresh(self) -> int:
        """Copy the rows added to the file since the last refresh; returns how many.

        Raises DatabaseMissing / NotAUsageDatabase / ExtensionMissing as `attach` does, and
        AnalyticsError when the file cannot be read; the copy then keeps what it had.
        """
        with self._lock:
            con = self.con
            attach(con, self.db)
            try:
                if self._copier is None or not self._copier.is_alive():
                    if self.copying:  # (left half done by an earlier process, perhaps)
                        self._attach_copy_source(con)
                    else:
                        with contextlib.suppress(duckdb.Error):
                            con.execute(f"DETACH DATABASE IF EXISTS {COPY_ATTACHED}")
                return self._catch_up(con)
            except duckdb.Error as exc:  # the file changed under us, is damaged, ...
                raise AnalyticsError(f"cannot read {shown(self.db)}: {_first_line(exc)}") from exc
            finally:
                with contextlib.suppress(duckdb.Error):
                    con.execute(f"DETACH {ATTACHED}")

    def _cells_first(self, con: duckdb.DuckDBPyConnection, top: int) -> int:
        """A first copy in two steps: the hourly cells of rows 1..`top` straight from the file
        now (the scanner reads only the columns the cells use), their rows later, in the
        background (`copy_in_background`) or by `wait`; meanwhile the queries read the rows
        the copy lacks from the file (`raw_rows`), and the latency percentiles wait for them
        (`queries.StillCopying`)."""
        present = _present_columns(con)
        rows = f"(SELECT {snapshot_select(present)} FROM {ATTACHED}.usage WHERE id <= {top}) AS usage"
        cells = rollup.cells_sql().replace("FROM usage", f"FROM {rows}", 1)
        top_request = _sqlite_scalar(con, f"SELECT request_id FROM usage WHERE id = {top}")
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"DELETE FROM {SNAPSHOT_DB}.{rollup.TABLE}")
            con.execute(f"INSERT INTO {SNAPSHOT_DB}.{rollup.TABLE} {cells}")
            con.execute(
                f"CREATE OR REPLACE TABLE {SNAPSHOT_DB}.{PENDING} "
                "(lo BIGINT, hi BIGINT, top_request_id VARCHAR)"
            )
            con.execute(
                f"INSERT INTO {SNAPSHOT_DB}.{PENDING} VALUES (0, $top, $request)",
                {"top": top, "request": top_request},
            )
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        self._count, self._last_id, self._last_request_id = self._state()
        self._latency_merged = top  # the background copy's entries come merged per day
        self._attach_copy_source(con)
        return self._count

    def _catch_up(self, con: duckdb.DuckDBPyConnection) -> int:
        found = _sqlite_scalar(con, "SELECT max(id) FROM usage")
        top = int(str(found)) if found is not None else 0
        last_id = self._last_id
        if last_id and (
            top < last_id
            or _sqlite_scalar(con, f"SELECT request_id FROM usage WHERE id = {last_id}")
            != self._last_request_id
        ):  # another file under the same name (restored, recreated): start again
            self._stop_copy()  # (a first copy of the old file under way: interrupted)
            con.execute(f"DELETE FROM {SNAPSHOT_DB}.usage")
            con.execute(f"DELETE FROM {SNAPSHOT_DB}.{rollup.TABLE}")
            con.execute(f"DELETE FROM {SNAPSHOT_DB}.{rollup.LATENCY_TABLE}")
            con.execute(f"DROP TABLE IF EXISTS {SNAPSHOT_DB}.{PENDING}")
            self._count, self._last_id, self._last_request_id = 0, 0, None
            last_id = 0
        if top <= last_id:
            return 0
        background = self._background
        if background is None:
            background = not is_postgres(self.db) and top >= BACKGROUND_ROWS
        if not last_id and background and not self.copying:
            return self._cells_first(con, top)
        select = snapshot_select(_present_columns(con))
        if top - last_id > FULL_SCAN_SHARE * top:
            # the scanner: parallel, reads the whole file (filters are applied after reading)
            source = f"{ATTACHED}.usage WHERE id > {last_id} AND id <= {top}"
        else:  # inside SQLite, by primary key: only the new rows are read
            inner = f"SELECT * FROM usage WHERE id > {last_id} AND id <= {top}"
            source = f"{_inside(con)}({sql_string(ATTACHED)}, {sql_string(inner)})"
        con.execute("BEGIN TRANSACTION")  # rows and cells change together for every reader
        try:
            con.execute(f"INSERT INTO {SNAPSHOT_DB}.usage SELECT {select} FROM {source}")
            # latency entries are merged every LATENCY_MERGE_ROWS rows, not at every refresh (a
            # first copy's entries are one per day, dimensions and bin already)
            if not last_id:
                self._latency_merged = top
            due = top - self._latency_merged >= LATENCY_MERGE_ROWS
            rollup.update(con, last_id, latency_merge_after=self._latency_merged if due else -1)
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        if due:
            self._latency_merged = top
        if top - last_id >= CHECKPOINT_ROWS:  # a small batch waits for DuckDB's own checkpoint
            with contextlib.suppress(duckdb.TransactionException):  # a background copy runs
                con.execute(f"CHECKPOINT {SNAPSHOT_DB}")
        added, new_last, new_request_id = self._state(after=last_id)
        if added:
            self._count += added
            self._last_id, self._last_request_id = new_last, new_request_id
        return added


def lower_priority(niceness: int) -> int:
    """Run this process at CPU priority `niceness` (0 normal, 19 lowest) unless it already runs
    lower; returns the niceness now. The dashboard does this: on a machine shared with the
    gateway, a refresh's queries (seconds of CPU at 10M rows) should take the CPU the gateway
    leaves idle, not slow the requests it serves."""
    current = os.nice(0)
    if niceness > current:
        with contextlib.suppress(OSError):
            return os.nice(niceness - current)
    return current


_SHARED: dict[tuple[str | Path, Path | None], Snapshot] = {}
_SHARED_LOCK = threading.Lock()


def shared_snapshot(db: str | Path, cache: Path | None = None) -> Snapshot:
    """The process's one Snapshot of `db`, created on first use.

    `marimo run` serves every viewer from one process (a kernel thread per browser tab): they
    share one copy, and a refresh by one is seen by all, instead of each tab holding its own
    copy of the table. Each caller queries through its own `cursor()`.
    """
    key: tuple[str | Path, Path | None] = (
        db if is_postgres(db) else Path(db).expanduser().resolve(), cache
    )
    with _SHARED_LOCK:
        snap = _SHARED.get(key)
        if snap is None:
            snap = _SHARED[key] = Snapshot(key[0], cache=cache)
        return snap


def snapshot(db: str | Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection holding a full copy of the usage table, detached from the file.

    A one-off `Snapshot(db)` refreshed once; the returned connection owns it (closing it frees
    the copy).
    """
    snap = Snapshot(db, background=False)
    try:
        snap.refresh()
    except BaseException:
        snap.close()
        raise
    if snap._tmp is not None:  # the temporary file goes when the process does
        weakref.finalize(snap.con, shutil.rmtree, snap._tmp, True)
    return snap.con
