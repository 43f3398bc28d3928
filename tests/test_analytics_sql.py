"""`ekai sql` (analytics.sql.run): the three formats, --schema, and errors as one line."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
from pathlib import Path

import duckdb
import pytest

from analytics import duck, sql
from tests.analytics_fixtures import KNOWN, write_usage

BY_PROVIDER = """
    SELECT provider, count(*) AS requests, sum(cost_usd) AS spend, sum(input_tokens) AS input
    FROM usage GROUP BY provider ORDER BY provider
"""


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_usage(tmp_path_factory.mktemp("sql") / "usage.db", KNOWN)


def run(query: str | None, db: Path, **kwargs: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = sql.run(query, db=db, out=out, err=err, **kwargs)  # type: ignore[arg-type]
    return code, out.getvalue(), err.getvalue()


def test_table_format(db: Path) -> None:
    code, out, err = run(BY_PROVIDER, db)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["provider", "requests", "spend", "input"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["anthropic", "3", "0.875", "1101"]
    assert lines[-1] == "(4 rows)"
    # the last column holds numbers, right-aligned: every line ends in the same column
    assert len({len(line) for line in lines[:6]}) == 1


def test_table_spells_null_and_keeps_one_line_per_row(db: Path) -> None:
    code, out, _ = run("SELECT NULL AS nothing, 'two' || chr(10) || 'lines' AS text", db)
    assert code == 0
    assert out.splitlines()[2].split() == ["NULL", "two\\nlines"]
    assert out.splitlines()[-1] == "(1 row)"


def test_csv_format(db: Path) -> None:
    code, out, _ = run(BY_PROVIDER + " LIMIT 2", db, fmt="csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows == [
        ["provider", "requests", "spend", "input"],
        ["anthropic", "3", "0.875", "1101"],
        ["openai", "2", "1.0", "300"],
    ]


def test_csv_null_is_empty_and_quoting_works(db: Path) -> None:
    code, out, _ = run("""SELECT NULL AS a, 'x,"y"' AS b""", db, fmt="csv")
    assert code == 0
    assert out == 'a,b\n,"x,""y"""\n'


def test_json_format(db: Path) -> None:
    code, out, _ = run(BY_PROVIDER, db, fmt="json")
    assert code == 0
    data = json.loads(out)
    assert data[0] == {"provider": "anthropic", "requests": 3, "spend": 0.875, "input": 1101}
    assert [r["provider"] for r in data] == ["anthropic", "openai", "openrouter", "xai"]
    assert data[2]["spend"] == 2.0  # the NULL cost of row 6 is skipped by sum, not counted as 0


def test_json_values_that_json_cannot_spell(db: Path) -> None:
    query = """
        SELECT 'nan'::DOUBLE AS nan, 1.50::DECIMAL(10, 2) AS dec, 12::DECIMAL(10, 2) AS whole,
               TIMESTAMP '2026-11-01 09:00:00' AS at, [1, 2] AS list, {'a': NULL} AS struct,
               sum(input_tokens) AS hugeint
        FROM usage
    """
    code, out, _ = run(query, db, fmt="json")
    assert code == 0
    assert json.loads(out) == [
        {
            "nan": None,
            "dec": 1.5,
            "whole": 12,
            "at": "2026-11-01T09:00:00",
            "list": [1, 2],
            "struct": {"a": None},
            "hugeint": 1416,
        }
    ]


def test_json_of_no_rows_is_an_empty_array(db: Path) -> None:
    assert run("SELECT * FROM usage WHERE false", db, fmt="json")[:2] == (0, "[]\n")


def test_usage_has_the_contract_columns(db: Path) -> None:
    code, out, _ = run("SELECT ts, cost_usd FROM usage ORDER BY id LIMIT 1", db, fmt="json")
    assert code == 0
    assert json.loads(out) == [{"ts": "2026-11-01T09:00:00.000Z", "cost_usd": 0.5}]


def test_schema(db: Path) -> None:
    code, out, _ = run(None, db, schema=True)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["column", "type"]
    columns = dict(line.split() for line in lines[2:-1])
    assert columns["ts"] == "VARCHAR"
    assert columns["cost_usd"] == "DOUBLE"
    assert columns["input_tokens"] == "BIGINT"
    assert list(columns)[:3] == ["id", "ts", "request_id"]


def test_schema_as_json(db: Path) -> None:
    code, out, _ = run(None, db, schema=True, fmt="json")
    assert code == 0
    assert {"column": "model", "type": "VARCHAR"} in json.loads(out)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELEC 1", "Parser Error"),
        ("SELECT nope FROM usage", "nope"),
        ("SELECT * FROM usages", "usages"),
        ("SELECT 'x'::INTEGER", "conversion"),
    ],
)
def test_a_bad_query_is_one_line(db: Path, query: str, message: str) -> None:
    code, out, err = run(query, db)
    assert code == 1
    assert out == ""
    assert err.startswith("error: ") and err.endswith("\n")
    assert err.count("\n") == 1
    assert message.lower() in err.lower()
    assert "Traceback" not in err


def test_the_database_cannot_be_changed(db: Path) -> None:
    before = os.path.getmtime(db)
    for statement in (
        "DELETE FROM usage",
        "DROP VIEW usage",
        "UPDATE ekai_sqlite.usage SET status = 1",
    ):
        code, _, err = run(statement, db)
        if statement.startswith("DROP"):
            continue  # dropping the temporary view is harmless: the file is untouched
        assert code == 1 and err.startswith("error: ")
    assert os.path.getmtime(db) == before
    assert run("SELECT count(*) AS n FROM usage", db, fmt="csv")[1] == "n\n8\n"


def test_several_statements_print_the_last_result(db: Path) -> None:
    code, out, _ = run("CREATE TEMP TABLE t AS SELECT 1 AS x; SELECT x FROM t", db, fmt="csv")
    assert (code, out) == (0, "x\n1\n")


def test_a_missing_database_is_one_line(tmp_path: Path) -> None:
    code, out, err = run("SELECT 1", tmp_path / "nope.db")
    assert (code, out) == (1, "")
    assert err.startswith("error: no usage database at ") and err.count("\n") == 1


def test_a_file_that_is_not_a_usage_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    code, _, err = run("SELECT 1", junk)
    assert code == 1 and err.startswith("error: cannot read") and err.count("\n") == 1
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()  # not a usage db
    code, _, err = run("SELECT 1", other)
    assert code == 1 and "has no usage table" in err


def test_misuse_exits_2(db: Path) -> None:
    code, _, err = run(None, db)
    assert code == 2 and err.startswith("error: no query")
    code, _, err = run("SELECT 1", db, fmt="xml")
    assert code == 2 and "unknown format" in err


def test_a_missing_extension_names_the_pip_command(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(duck.EXTENSION_DIR_ENV, str(tmp_path / "empty-extension-dir"))
    monkeypatch.setattr(duck, "wheel_extension_file", lambda *a, **k: None)
    code, _, err = run("SELECT 1", db)
    assert code == 1
    assert err.count("\n") == 1
    assert f"pip install duckdb-extension-sqlite-scanner=={duckdb.__version__}" in err


def test_the_extension_is_installed_from_the_wheel_once(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "extensions"
    monkeypatch.setenv(duck.EXTENSION_DIR_ENV, str(target))
    assert duck.wheel_extension_file() is not None
    assert run("SELECT count(*) FROM usage", db)[0] == 0
    installed = list(target.rglob("sqlite_scanner.duckdb_extension"))
    assert len(installed) == 1 and f"v{duckdb.__version__}" in str(installed[0])
    # from now on the wheel is not needed
    monkeypatch.setattr(duck, "wheel_extension_file", lambda *a, **k: None)
    assert run("SELECT count(*) FROM usage", db)[0] == 0


def test_resolve_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "conf" / "ekai.yaml"
    config.parent.mkdir()
    config.write_text("usage:\n  database: data/usage.db\n")
    monkeypatch.delenv(duck.CONFIG_ENV, raising=False)
    assert duck.resolve_database(tmp_path / "x.db", config) == (tmp_path / "x.db").resolve()
    assert duck.resolve_database(None, config) == (config.parent / "data" / "usage.db").resolve()
    monkeypatch.setenv(duck.CONFIG_ENV, str(config))
    assert duck.resolve_database() == (config.parent / "data" / "usage.db").resolve()
    monkeypatch.delenv(duck.CONFIG_ENV)
    monkeypatch.chdir(tmp_path)
    assert duck.resolve_database() == (tmp_path / "usage.db").resolve()  # ./ekai.yaml's default


def test_format_table_is_pure() -> None:
    assert sql.format_table(["a", "long name"], [(1, "x"), (None, None)]) == [
        "   a  long name",
        "----  ---------",
        "   1  x",
        "NULL  NULL",
        "(2 rows)",
    ]


def test_a_damaged_installed_extension_falls_back_to_the_wheel(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file that is not a (signed) extension where DuckDB looks for the installed one. (Written
    # fresh, never loaded: overwriting a copy this process has loaded would pull its mapped pages
    # away, a bus error.)
    target = tmp_path / "extensions"
    platform = duckdb.connect().execute("PRAGMA platform").fetchone()[0]  # type: ignore[index]
    damaged = target / f"v{duckdb.__version__}" / platform / "sqlite_scanner.duckdb_extension"
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"\0" * 4096)
    monkeypatch.setenv(duck.EXTENSION_DIR_ENV, str(target))
    con = duck.new_connection()
    assert duck._installed(con)
    con.close()
    assert run("SELECT count(*) AS n FROM usage", db, fmt="csv")[1] == "n\n8\n"
    monkeypatch.setattr(duck, "wheel_extension_file", lambda *a, **k: None)
    code, _, err = run("SELECT 1", db)
    assert code == 1 and "pip install duckdb-extension-sqlite-scanner" in err
    assert err.count("\n") == 1
