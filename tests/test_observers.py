"""Usage-writer observers (metrics, access log, traces) and the pure helpers behind the ops routes."""

from __future__ import annotations

import io
import sqlite3
import time

import pytest

from gateway import model_pages
from gateway.accesslog import AccessLog
from gateway.config import load_config
from gateway.errors import ClientError
from gateway.pricing import Tokens
from gateway.usage import UsageRecord, UsageWriter
from tests.conftest import KEYS, write_config


def record(i: int) -> UsageRecord:
    r = UsageRecord(request_id=f"req_obs_{i}", client_format="openai", started=time.time(), started_mono=0.0)
    r.provider, r.model, r.provider_model, r.status, r.latency_ms = "openai", "gpt-4o-mini", "gpt-4o-mini", 200, 5.0
    return r


def test_an_observer_that_fails_costs_no_row_and_no_other_observer(tmp_path):
    seen: list[str] = []

    def broken(records: list[UsageRecord]) -> None:
        raise RuntimeError("observer bug")

    writer = UsageWriter(tmp_path / "usage.db")
    writer.observers += [broken, lambda records: seen.extend(r.request_id for r in records)]
    writer.start()
    for i in range(5):
        writer.put(record(i))
    writer.stop()
    conn = sqlite3.connect(tmp_path / "usage.db")
    assert conn.execute("SELECT count(*) FROM usage").fetchone()[0] == 5
    assert seen == [f"req_obs_{i}" for i in range(5)]
    assert writer.failed == 0


class Store:
    def __init__(self, config) -> None:
        self.config = config


class FakeProvider:
    def base_url(self, name: str, fmt: str) -> str:
        return f"http://127.0.0.1:9/{name}" + ("" if fmt == "anthropic" else "/v1")


@pytest.fixture
def cfg(tmp_path):
    return load_config(write_config(tmp_path, FakeProvider()), env=KEYS)  # type: ignore[arg-type]


def test_access_log_writes_a_batch_with_one_write(cfg):
    class Counting(io.StringIO):
        writes = 0

        def write(self, s: str) -> int:
            Counting.writes += 1
            return super().write(s)

    out = Counting()
    AccessLog(Store(cfg), stream=out)([record(i) for i in range(50)])
    assert Counting.writes == 1 and len(out.getvalue().splitlines()) == 50


def test_anthropic_model_pages(cfg):
    names = model_pages.routable_models(cfg)
    assert len(names) > 4
    first = model_pages.anthropic_page(cfg, {"limit": "2"})
    assert [m["id"] for m in first["data"]] == names[:2] and first["has_more"] is True
    after = model_pages.anthropic_page(cfg, {"limit": "2", "after_id": first["last_id"]})
    assert [m["id"] for m in after["data"]] == names[2:4]
    before = model_pages.anthropic_page(cfg, {"limit": "2", "before_id": after["first_id"]})
    assert [m["id"] for m in before["data"]] == names[:2] and before["has_more"] is False
    everything = model_pages.anthropic_page(cfg, {"limit": "1000"})
    assert [m["id"] for m in everything["data"]] == names and everything["has_more"] is False
    assert model_pages.anthropic_page(cfg, {})["data"] == everything["data"][:20]
    for bad in ({"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"after_id": "nope"},
                {"after_id": names[0], "before_id": names[1]}):
        with pytest.raises(ClientError):
            model_pages.anthropic_page(cfg, bad)


def test_a_row_the_database_refuses_costs_only_itself(tmp_path):
    """One record the database cannot store (a token count past 64 bits) in a batch of five: the
    writer writes the batch again row by row, so the four good rows are kept."""
    writer = UsageWriter(tmp_path / "usage.db")
    records = [record(i) for i in range(5)]
    records[2].tokens = Tokens(output=2**70)
    writer.start()
    for r in records:
        writer.put(r)
    writer.stop()
    conn = sqlite3.connect(tmp_path / "usage.db")
    ids = [row[0] for row in conn.execute("SELECT request_id FROM usage ORDER BY id")]
    assert ids == ["req_obs_0", "req_obs_1", "req_obs_3", "req_obs_4"]
    assert writer.failed == 1
