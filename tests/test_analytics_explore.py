"""The explore notebook (analytics/explore.py), headless: its worked SQL cells run over a
database with sessions and their figures are checked against the fixtures' hand-computed ones;
`marimo export html` (exit 1 when a cell fails) runs it as a user's machine would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from analytics.explore import app, parse_args
from tests.analytics_fixtures import KNOWN, write_usage
from tests.analytics_sessions_fixtures import SESSIONS

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "analytics" / "explore.py"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """KNOWN (latencies 10 ms to 6 s, no sessions) and SESSIONS (three sessions) together."""
    return write_usage(tmp_path_factory.mktemp("explore") / "usage.db", KNOWN + SESSIONS)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EKAI_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_worked_queries(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["explore.py", "--db", str(db)])
    _outputs, defs = app.run()
    sessions = defs["cost_per_session"]
    assert sessions["session_id"].to_list() == ["s-B", "s-A", "s-C"]
    assert sessions["cost_usd"].to_list() == pytest.approx([0.8, 0.075, 0.001])
    assert sessions["cache_hit_rate"].to_list() == pytest.approx([0.375, 0.6344, 0.0], abs=1e-4)
    assert sessions["client"].to_list() == ["codex", "claude-code", "openai-python"]

    by_model = {r["model"]: r for r in defs["cache_hit_by_model"].iter_rows(named=True)}
    # claude-sonnet-4-6: KNOWN rows 1, 2, 8 (prompt 7000 + 100 + 1, cache read 4000) and
    # SESSIONS rows 1, 2, 4 (prompt 28160, cache read 18500)
    sonnet = by_model["claude-sonnet-4-6"]
    assert (sonnet["cache_read_tokens"], sonnet["prompt_tokens"]) == (22500, 35261)
    assert sonnet["cache_hit_rate"] == pytest.approx(22500 / 35261, abs=1e-4)
    assert by_model["gpt-5.1-codex"]["cache_hit_rate"] == pytest.approx(0.375)

    slowest = defs["slowest"]
    assert slowest.height == 17  # every row has a latency: fewer than 20
    assert slowest["latency_ms"].to_list()[:3] == [6000.0, 5000.0, 4000.0]
    assert defs["result_chart"].to_dict()["mark"]["type"] == "bar"  # the chart drew a result


def test_export_runs_every_cell(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "explore.html"
    done = subprocess.run(
        [sys.executable, "-m", "marimo", "export", "html", str(NOTEBOOK), "-o", str(out),
         "--", "--db", str(db)],
        cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "s-B" in out.read_text(encoding="utf-8")


def test_parse_args() -> None:
    args = parse_args(["--db", "x.db", "--no-cache", "--other"])
    assert (args.db, args.no_cache, args.config) == ("x.db", True, None)  # a file or a postgresql:// URL
