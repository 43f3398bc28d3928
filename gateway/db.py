"""The usage database: schema, connections and where the file lives.

One SQLite file, one table `usage`, one row per proxied request (failures included). The columns
of ../shared/CONTRACT.md keep their names and meaning; the ones after `error` are ekai's additions.
The table is STRICT (a wrong type is refused at write time, so DuckDB scans never hit a mixed
column) and the file is in WAL mode (readers never block the gateway's writer).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import yaml

SCHEMA_VERSION = 1

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
    cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0,  -- the 1-hour part of cache_write_tokens
    conversation_id    TEXT                -- x-ekai-conversation ID, or a stored Responses chain's first id
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
    "conversation_id",
)

# columns added after a database may have been created: (name, declaration), added when missing
ADDED_COLUMNS: tuple[tuple[str, str], ...] = (("conversation_id", "TEXT"),)


def connect(path: str | Path) -> sqlite3.Connection:
    """Open the usage database for writing, creating the file and table when needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.executescript(USAGE_DDL)
    present = {row[1] for row in conn.execute("PRAGMA table_info(usage)")}
    for name, decl in ADDED_COLUMNS:
        if name not in present:
            conn.execute(f"ALTER TABLE usage ADD COLUMN {name} {decl}")
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return conn


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """Open the usage database read-only (dashboard, `ekai sql`, `/usage`)."""
    uri = f"file:{Path(path).resolve()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=5.0, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def database_path_from_config(config_path: str | Path) -> Path:
    """The usage database named by `usage.database` in an ekai.yaml (relative to its folder).

    Reads only that one key, so readers (dashboard, `ekai sql`) work even while the rest of the
    config has an error. Defaults to `usage.db` beside the config file.
    """
    config_path = Path(config_path)
    name = "usage.db"
    try:
        data = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        data = {}
    usage = data.get("usage") if isinstance(data, dict) else None
    if isinstance(usage, dict) and isinstance(usage.get("database"), str):
        name = usage["database"]
    db = Path(name).expanduser()
    return db if db.is_absolute() else (config_path.parent / db).resolve()
