"""usage.database: a path or a postgresql:// URL (gateway.database), and the URL's password kept
out of everything shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config
from gateway.database import Database, redact


def test_a_path_is_relative_to_the_config_folder(tmp_path: Path) -> None:
    d = Database.parse("data/u.db", tmp_path)
    assert d.kind == "sqlite" and d.file == (tmp_path / "data" / "u.db").resolve()
    assert not d.is_postgres


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://ekai:s3cret@db:5432/ekai", "postgresql://ekai:***@db:5432/ekai"),
        ("postgres://ekai:s3cret@db/ekai?sslmode=require", "postgresql://ekai:***@db/ekai?sslmode=require"),
        ("postgresql://ekai@db/ekai", "postgresql://ekai@db/ekai"),
        ("postgresql://ekai:p%40ss@[::1]:5432/ekai", "postgresql://ekai:***@[::1]:5432/ekai"),
    ],
)
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    d = Database.parse(url, Path("/"))
    assert d.kind == "postgresql" and str(d) == shown
    assert "s3cret" not in repr(d) and "p%40ss" not in repr(d)
    assert d.dsn.startswith("postgresql://")  # postgres:// is normalised, the password kept to connect


def test_redact_keeps_urls_without_a_password() -> None:
    assert redact("postgresql://db/x") == "postgresql://db/x"


def test_a_bad_url_is_refused_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "ekai.yaml").write_text("usage:\n  database: postgresql://u:pw-x@db:notaport/x\n")
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "ekai.yaml", env={})
    text = str(e.value)
    assert "ekai.yaml:2" in text and "usage.database" in text and "pw-x" not in text


def test_max_backlog_must_be_a_positive_whole_number(tmp_path: Path) -> None:
    (tmp_path / "ekai.yaml").write_text("usage:\n  max_backlog: 0\n")
    with pytest.raises(ConfigError, match="max_backlog"):
        load_config(tmp_path / "ekai.yaml", env={})
    (tmp_path / "ekai.yaml").write_text("usage:\n  max_backlog: 1000\n")
    assert load_config(tmp_path / "ekai.yaml", env={}).max_backlog == 1000


def test_a_sqlite_database_is_path_like_and_a_postgres_one_is_not(tmp_path: Path) -> None:
    import os
    import sqlite3

    d = Database.parse("u.db", tmp_path)
    assert Path(d) == tmp_path.resolve() / "u.db" and os.fspath(d) == str(tmp_path.resolve() / "u.db")
    sqlite3.connect(d).close()  # code written for a Path keeps working
    with pytest.raises(TypeError, match="PostgreSQL"):
        Path(Database.parse("postgresql://u:pw@db/x", tmp_path))
