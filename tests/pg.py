"""PostgreSQL for tests: a fresh database per test on the server named by EKAI_TEST_POSTGRES_URL.

Never mocked. Where the variable is unset or the server unreachable the tests SKIP with one line
saying how to run them; .ci/run sets it and fails when its server is away.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

ENV = "EKAI_TEST_POSTGRES_URL"
HOW = f"PostgreSQL tests skipped: set {ENV}=postgresql://postgres@127.0.0.1:5432/test to run them"


def admin_url() -> str:
    url = os.environ.get(ENV, "")
    if not url:
        pytest.skip(HOW)
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        pytest.skip(f"{HOW} (server at {ENV} unreachable: {str(exc).strip().splitlines()[0]})")
    return url


def with_dbname(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a new, empty database (dropped afterwards)."""
    import psycopg

    admin = admin_url()
    name = f"ekai_t_{secrets.token_hex(6)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_dbname(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []
