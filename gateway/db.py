"""The usage database: schema, migrations, connections and where the file lives.

PostgreSQL (gateway.storage) uses the same definition: `pg_ddl` renders USAGE_DDL and each
migration step in PostgreSQL's types (INTEGER -> BIGINT, REAL -> DOUBLE PRECISION, an identity
id), and `migrate_pg` runs the same list under an advisory lock, with the version in
`ekai_schema_version` instead of `PRAGMA user_version`.

One SQLite file, one table `usage`, one row per proxied request (failures included). The columns
of ../shared/CONTRACT.md keep their names and meaning; the ones after `error` are ekai's additions.
The table is STRICT (a wrong type is refused at write time, so DuckDB scans never hit a mixed
column) and the file is in WAL mode (readers never block the gateway's writer).

Schema versions. Version 1 is the table as the first release created it (`USAGE_DDL`, never
edited again). Every later change is one entry of `MIGRATIONS`, numbered from 2, made only of
portable steps (`ALTER TABLE usage ADD COLUMN name TYPE` with TEXT / INTEGER / REAL,
`CREATE INDEX IF NOT EXISTS`, and `CREATE TABLE IF NOT EXISTS` for tables beside `usage`: the
conversation tables, migration 4), so that a PostgreSQL backend can run the same list. `migrate`
applies, inside ONE write transaction, every migration above the version the file records
(`PRAGMA user_version` in SQLite), then records the new version: each runs exactly once, a
crash half-way leaves the file as it was, and a second process starting at the same moment waits
for the lock, then finds nothing left to do. An existing database is altered in place, never
rebuilt: its rows stay. Adding a column is a new migration at the end of the list plus its name
at the end of `USAGE_COLUMNS`; nothing else spells the column list.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway.database import Database

log = logging.getLogger("ekai.db")

# Version 1: the first release's table. Frozen: later changes are MIGRATIONS, never edits here.
USAGE_DDL = """
CREATE TABLE IF NOT EXISTS usage (
    id                 INTEGER PRIMARY KEY,
    ts                 TEXT    NOT NULL,   -- request start, ISO 8601 UTC with ms: 2026-11-27T09:00:00.123Z
    request_id         TEXT    NOT NULL UNIQUE,
    client_format      TEXT    NOT NULL,   -- 'openai' | 'anthropic'
    provider           TEXT,               -- who served it (last one tried, on failure)
    model              TEXT,               -- model name the client sent
    provider_model     TEXT,               -- model id sent upstream
    stream             INTEGER NOT NULL DEFAULT 0,
    status             INTEGER NOT NULL,   -- HTTP status returned to the client
    input_tokens       INTEGER NOT NULL DEFAULT 0,  -- uncached prompt tokens
    cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,  -- reasoning included
    reasoning_tokens   INTEGER NOT NULL DEFAULT 0,
    cost_usd           REAL,               -- NULL when no price is known
    latency_ms         REAL,
    ttft_ms            REAL,
    error              TEXT,               -- NULL on success
    -- ekai's additions
    cost_pico_usd      INTEGER,            -- the exact cost in 1e-12 USD; cost_usd is this / 1e12
    cost_source        TEXT,               -- 'price_table' | 'provider' (OpenRouter's usage.cost) | NULL
    price_version      TEXT,               -- digest of the price entry that priced the row
    attempts           TEXT,               -- providers tried before this one: 'xai:429,openai:timeout'
    api_key_name       TEXT,               -- name (never the value) of the gateway key used
    cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0  -- the 1-hour part of cache_write_tokens
) STRICT;
CREATE INDEX IF NOT EXISTS usage_ts ON usage (ts);
"""

USAGE_COLUMNS: tuple[str, ...] = (
    "ts",
    "request_id",
    "client_format",
    "provider",
    "model",
    "provider_model",
    "stream",
    "status",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "latency_ms",
    "ttft_ms",
    "error",
    "cost_pico_usd",
    "cost_source",
    "price_version",
    "attempts",
    "api_key_name",
    "cache_write_1h_tokens",
    # migration 2: who asked
    "session_id",
    "client",
    "client_version",
    "agent",
    "tags",
    # migration 3: stored conversations
    "conversation_id",
)


@dataclass(frozen=True, slots=True)
class AddColumn:
    """`ALTER TABLE table ADD COLUMN name type`: nullable, no default, a portable type."""

    table: str
    name: str
    type: str  # TEXT | INTEGER | REAL (the same words in SQLite and PostgreSQL)

    def sql(self) -> str:
        return f"ALTER TABLE {self.table} ADD COLUMN {self.name} {self.type}"


@dataclass(frozen=True, slots=True)
class CreateIndex:
    """`CREATE INDEX IF NOT EXISTS name ON table (columns) [WHERE where]` (a partial index, in
    SQLite and PostgreSQL alike, when `where` is set)."""

    name: str
    table: str
    columns: tuple[str, ...]
    where: str | None = None

    def sql(self) -> str:
        sql = f"CREATE INDEX IF NOT EXISTS {self.name} ON {self.table} ({', '.join(self.columns)})"
        return f"{sql} WHERE {self.where}" if self.where else sql


@dataclass(frozen=True, slots=True)
class CreateTable:
    """`CREATE TABLE IF NOT EXISTS name (...)` in SQLite's words (TEXT / INTEGER / REAL, STRICT):
    `pg_ddl` renders it for PostgreSQL. IF NOT EXISTS: a database may hold the table already (the
    conversation tables were created outside migrations before migration 4)."""

    name: str
    ddl: str

    def sql(self) -> str:
        return self.ddl


Step = AddColumn | CreateIndex | CreateTable


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    summary: str
    steps: tuple[Step, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        2,
        "who asked: session, client, agent and tags on every row",
        (
            AddColumn("usage", "session_id", "TEXT"),
            AddColumn("usage", "client", "TEXT"),
            AddColumn("usage", "client_version", "TEXT"),
            AddColumn("usage", "agent", "TEXT"),
            AddColumn("usage", "tags", "TEXT"),  # a JSON object as text: {"team":"infra"}
            # A session's rows, in time order: `?session=ID`, the dashboard's session timeline.
            # One key's rows in a time window: `?key=NAME`, per-key budgets by day and month.
            # Partial: rows without a session (key) cost no index write, and `col = ?` implies
            # `col IS NOT NULL`, so both planners still use them for those lookups.
            CreateIndex("usage_session_ts", "usage", ("session_id", "ts"), "session_id IS NOT NULL"),
            CreateIndex("usage_key_ts", "usage", ("api_key_name", "ts"), "api_key_name IS NOT NULL"),
            # No index on client / agent / tags: a handful of values over millions of rows, so a
            # filter on them reads most of the table anyway; every index costs each INSERT.
        ),
    ),
    Migration(
        3,
        "stored conversations: the conversation (or first stored response) id on every row",
        (
            # x-ekai-conversation ID, or the first response id of a stored previous_response_id
            # chain (gateway.conversations): an id, never content. The content itself lives in
            # the conversations tables (gateway/conversations/store.py), never here.
            AddColumn("usage", "conversation_id", "TEXT"),
            CreateIndex(
                "usage_conversation_ts", "usage", ("conversation_id", "ts"), "conversation_id IS NOT NULL"
            ),
        ),
    ),
    Migration(
        4,
        "stored conversations and responses: their own tables (content, never in usage)",
        (
            CreateTable(
                "conversations",
                """CREATE TABLE IF NOT EXISTS conversations (
    id       TEXT PRIMARY KEY,
    owner    TEXT,            -- gateway key name that created it; NULL without auth
    created  REAL NOT NULL,   -- unix seconds
    updated  REAL NOT NULL
) STRICT""",
            ),
            CreateTable(
                "conversation_items",
                """CREATE TABLE IF NOT EXISTS conversation_items (
    conversation_id TEXT    NOT NULL,
    seq             INTEGER NOT NULL,
    created         REAL    NOT NULL,
    item            TEXT    NOT NULL,  -- one Responses API item, JSON
    PRIMARY KEY (conversation_id, seq)
) STRICT""",
            ),
            CreateTable(
                "stored_responses",
                """CREATE TABLE IF NOT EXISTS stored_responses (
    id                   TEXT PRIMARY KEY,   -- resp_... as returned to the client
    owner                TEXT,
    created              REAL NOT NULL,
    previous_response_id TEXT,
    provider             TEXT,               -- who served it
    native               INTEGER NOT NULL DEFAULT 0,  -- 1: that provider stored it too
    response             TEXT NOT NULL,      -- the response object, JSON
    input                TEXT NOT NULL       -- its input items, JSON list
) STRICT""",
            ),
            CreateIndex("conversations_updated", "conversations", ("updated",)),
            CreateIndex("stored_responses_created", "stored_responses", ("created",)),
        ),
    ),
)

SCHEMA_VERSION = 1 + len(MIGRATIONS)


def connect(path: str | Path) -> sqlite3.Connection:
    """Open the usage database for writing, creating the file and table when needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    migrate(conn)
    return conn


# How long a starting process waits for another one's migration: building an index over an
# old table takes a while (about 1.5 s per million rows here), far beyond the usual 5 s wait.
MIGRATION_LOCK_WAIT_MS = 600_000


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Bring the usage table of `conn` (autocommit mode) to `SCHEMA_VERSION`; returns the
    versions applied (empty when it already was). One IMMEDIATE transaction: concurrent starters
    are serialised by SQLite's write lock (waiting up to MIGRATION_LOCK_WAIT_MS), and the loser
    sees the new version."""
    for i, m in enumerate(MIGRATIONS):
        assert m.version == i + 2, "MIGRATIONS are numbered 2, 3, ... in order"
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        log.warning(
            "usage database is at schema version %d, newer than this release's %d; writing the "
            "columns this release knows",
            found,
            SCHEMA_VERSION,
        )
    if found >= SCHEMA_VERSION:
        return []  # up to date: no write lock taken (other workers may be writing rows)
    wait_ms = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute(f"PRAGMA busy_timeout={MIGRATION_LOCK_WAIT_MS}")
    try:
        return _migrate_locked(conn)
    finally:
        conn.execute(f"PRAGMA busy_timeout={wait_ms}")


def _migrate_locked(conn: sqlite3.Connection) -> list[int]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        start = version = conn.execute("PRAGMA user_version").fetchone()[0]
        applied: list[int] = []
        if version == 0:  # a new file (or one from before versions were recorded): version 1
            for statement in USAGE_DDL.split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            version = 1
        if version < SCHEMA_VERSION:
            log.info("usage database: migrating from schema version %d to %d", version, SCHEMA_VERSION)
        for m in MIGRATIONS:
            if m.version <= version:
                continue
            existing = {row[1] for row in conn.execute("PRAGMA table_info(usage)")}
            for step in m.steps:
                # A column may already be there when the previous release ran on this file after
                # an upgrade (it wrote user_version=1 on every start): adding it again would fail.
                if isinstance(step, AddColumn) and step.name in existing:
                    continue
                conn.execute(step.sql())
            applied.append(m.version)
            version = m.version
        if version != start:
            conn.execute(f"PRAGMA user_version={version}")  # part of the transaction
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if applied:
        log.info("usage database migrated to schema version %d (ran %s)", version, applied)
    return applied


# --- PostgreSQL: the same schema, rendered in its types ------------------------------------------

# The words that differ. INTEGER is 64-bit in SQLite and 32-bit in PostgreSQL (cost_pico_usd passes
# 2^31 at 2 cents), so every INTEGER is BIGINT there; REAL is 8 bytes in SQLite, 4 in PostgreSQL.
_PG_WORDS = (
    ("INTEGER PRIMARY KEY", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    ("INTEGER", "BIGINT"),
    ("REAL", "DOUBLE PRECISION"),
    (") STRICT", ")"),
)
# A key for pg_advisory_xact_lock: serialises migrations (and, in gateway.storage, row inserts).
PG_MIGRATION_LOCK = 0x656B_6169_0001  # "ekai" 1


def pg_ddl(sqlite_sql: str) -> str:
    """A statement of USAGE_DDL or of a migration step, in PostgreSQL's types."""
    out = sqlite_sql
    for old, new in _PG_WORDS:
        out = re.sub(rf"(?<![A-Za-z_]){re.escape(old)}(?![A-Za-z_])", new, out)
    return "\n".join(line.split("--", 1)[0].rstrip() for line in out.splitlines())


PG_VERSION_DDL = "CREATE TABLE IF NOT EXISTS ekai_schema_version (version INTEGER NOT NULL)"


def migrate_pg(conn: Any) -> list[int]:
    """`migrate` for PostgreSQL (a psycopg connection in autocommit mode): the same steps, in one
    transaction under a transaction-level advisory lock, with the version in `ekai_schema_version`.
    Instances starting at once queue on the lock; the later ones find nothing to do."""
    applied: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (PG_MIGRATION_LOCK,))
        conn.execute(PG_VERSION_DDL)
        row = conn.execute("SELECT max(version) FROM ekai_schema_version").fetchone()
        version = row[0] or 0
        start = version
        if version > SCHEMA_VERSION:
            log.warning("usage database is at schema version %d, newer than this release's %d",
                        version, SCHEMA_VERSION)
        if version == 0:
            for statement in USAGE_DDL.split(";\n"):
                if statement.strip():
                    conn.execute(pg_ddl(statement))
            version = 1
        for m in MIGRATIONS:
            if m.version <= version:
                continue
            for step in m.steps:
                sql = step.sql()
                if isinstance(step, AddColumn):
                    sql = sql.replace(" ADD COLUMN ", " ADD COLUMN IF NOT EXISTS ")
                conn.execute(pg_ddl(sql))
            applied.append(m.version)
            version = m.version
        if version != start:
            conn.execute("DELETE FROM ekai_schema_version")
            conn.execute("INSERT INTO ekai_schema_version (version) VALUES (%s)", (version,))
    if applied:
        log.info("usage database migrated to schema version %d (ran %s)", version, applied)
    return applied


def insert_sql(columns: tuple[str, ...] = USAGE_COLUMNS, *, or_ignore: bool = False) -> str:
    """`INSERT INTO usage (columns) VALUES (?, ...)`: the one spelling of the insert."""
    verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
    return f"{verb} INTO usage ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """Open the usage database read-only (dashboard, `ekai sql`, `/usage`)."""
    uri = f"file:{Path(path).resolve()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=5.0, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _usage_database_name(config_path: Path) -> str:
    """`usage.database` as written in the file, or `usage.db` (also when the file is unreadable)."""
    try:
        data = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        data = {}
    usage = data.get("usage") if isinstance(data, dict) else None
    if isinstance(usage, dict) and isinstance(usage.get("database"), str):
        return str(usage["database"])
    return "usage.db"


def database_from_config(config_path: str | Path) -> Database:
    """The usage database named by `usage.database` in an ekai.yaml: a file (relative to the
    config's folder) or a postgresql:// URL. Reads only that key (see database_path_from_config)."""
    config_path = Path(config_path)
    name = _usage_database_name(config_path)
    try:
        return Database.parse(name, config_path.parent.resolve())
    except ValueError:
        return Database.sqlite(config_path.parent.resolve() / "usage.db")


def database_path_from_config(config_path: str | Path) -> Path:
    """The usage database named by `usage.database` in an ekai.yaml (relative to its folder).

    Reads only that one key, so readers (dashboard, `ekai sql`) work even while the rest of the
    config has an error. Defaults to `usage.db` beside the config file.
    """
    config_path = Path(config_path)
    db = Path(_usage_database_name(config_path)).expanduser()
    return db if db.is_absolute() else (config_path.parent / db).resolve()
