"""GET /usage ?group_by=session|key|client and ?session= / ?key= / ?client= filters.

Rows are made by real requests (official SDKs, curl-like httpx, two gateway keys, failures,
an unpriced model) through a gateway of our own; every expected figure is computed here from
the rows read straight out of the SQLite file, not by the gateway's SQL.
"""

from __future__ import annotations

import contextlib
import csv
import io
import sqlite3
from collections import defaultdict
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import KEYS, write_config
from tests.fakes.upstream import Reply, wait_for
from tests.gateway_proc import Gateway

GATEWAY_KEYS = {"EKAI_KEY_LAPTOP": "gw-laptop-secret-123", "EKAI_KEY_CI": "gw-ci-secret-456"}
LAPTOP, CI = GATEWAY_KEYS["EKAI_KEY_LAPTOP"], GATEWAY_KEYS["EKAI_KEY_CI"]
SUM_COLUMNS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
GROUP_COLUMN = {"by_session": "session_id", "by_key": "api_key_name", "by_client": "client"}


@pytest.fixture(scope="module")
def gw_rows(fake, tmp_path_factory) -> Gateway:
    folder = tmp_path_factory.mktemp("groups")
    write_config(folder, fake, extra="auth:\n  keys:\n    laptop: EKAI_KEY_LAPTOP\n    ci: EKAI_KEY_CI\n")
    gw = Gateway(folder, env={**KEYS, **GATEWAY_KEYS}).start()
    made = 0

    def oa(key: str, session: str | None, **kw: Any) -> None:
        nonlocal made
        headers = {"x-ekai-session": session} if session else {}
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, default_headers=headers)
        made += 1
        with contextlib.suppress(openai.APIStatusError):  # the 404 and 500 are rows too
            client.chat.completions.create(messages=[{"role": "user", "content": "hi"}], **kw)

    def an(key: str, session: str | None, **kw: Any) -> None:
        nonlocal made
        headers = {"x-ekai-session": session} if session else {}
        client = anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, default_headers=headers)
        made += 1
        client.messages.create(max_tokens=20, messages=[{"role": "user", "content": "hi"}], **kw)

    try:
        oa(LAPTOP, "s-alpha", model="gpt-5")
        oa(LAPTOP, "s-alpha", model="gpt-4o-mini")
        oa(LAPTOP, "s-alpha", model="meta-llama/llama-4-maverick")  # no price: cost NULL
        an(LAPTOP, "s-alpha", model="claude-sonnet-4-6", extra_headers={"x-claude-code-agent-id": "reviewer"})
        an(CI, "s-beta", model="claude-haiku-4-5")
        an(CI, "s-beta", model="claude-sonnet-4-6", stream=False)
        oa(CI, None, model="grok-4")
        oa(CI, "s-beta", model="no-such-model")  # 404, still a row
        fake.queue(
            Reply(status=500, json={"error": {"message": "boom", "type": "server_error"}}, provider="xai")
        )
        oa(LAPTOP, "s-gamma", model="grok-4")  # 500 after the only provider: a row with an error
        made += 1
        httpx.post(  # curl, tagged
            gw.url + "/v1/chat/completions",
            json={"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": f"Bearer {CI}", "user-agent": "curl/8.5.0", "x-ekai-tags": "a=b"},
            timeout=10,
        )
        made += 1
        httpx.post(  # a refused header: 400, recorded with its session unset
            gw.url + "/v1/chat/completions",
            json={"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": f"Bearer {LAPTOP}", "x-ekai-tags": "broken"},
            timeout=10,
        )
        wait_for(lambda: len(rows_of(gw)) == made, timeout=10)
    except BaseException:
        gw.stop()
        raise
    yield gw
    gw.stop()


def rows_of(gw: Gateway) -> list[dict[str, Any]]:
    if not gw.db.exists():
        return []
    con = sqlite3.connect(f"file:{gw.db}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM usage ORDER BY id")]
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def usd(pico: int) -> float:
    return float(Decimal(pico) / 10**12)


def expected(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = {c: sum(r[c] for r in rows) for c in SUM_COLUMNS}
    out["requests"] = len(rows)
    out["errors"] = sum(r["error"] is not None for r in rows)
    out["cost_usd"] = usd(sum(r["cost_pico_usd"] or 0 for r in rows))
    return out


def check(entry: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    for name, value in expected(rows).items():
        assert entry[name] == value, (name, entry)


def get(gw: Gateway, query: str) -> dict[str, Any]:
    r = httpx.get(gw.url + "/usage" + query, headers={"authorization": f"Bearer {LAPTOP}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_rows_are_what_the_test_needs(gw_rows):
    rows = rows_of(gw_rows)
    assert {r["session_id"] for r in rows} == {"s-alpha", "s-beta", "s-gamma", None}
    assert {r["api_key_name"] for r in rows} == {"laptop", "ci"}
    assert {r["client"] for r in rows} == {"openai-python", "anthropic-python", "curl", "python-httpx"}
    assert any(r["cost_pico_usd"] is None for r in rows) and any(r["error"] for r in rows)


def test_group_by_all_three_equal_sums_of_the_rows(gw_rows):
    rows = rows_of(gw_rows)
    data = get(gw_rows, "?group_by=session,key&group_by=client")
    check(data["totals"], rows)
    for list_name, column in GROUP_COLUMN.items():
        groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            groups[r[column]].append(r)
        got = {e[column]: e for e in data[list_name]}
        assert set(got) == set(groups), list_name  # NULL is a group too
        for value, members in groups.items():
            check(got[value], members)
        assert sum(e["requests"] for e in data[list_name]) == len(rows)
        costs = [e["cost_usd"] for e in data[list_name]]
        assert costs == sorted(costs, reverse=True)
    alpha = next(e for e in data["by_session"] if e["session_id"] == "s-alpha")
    members = [r for r in rows if r["session_id"] == "s-alpha"]
    assert alpha["first_seen"] == min(r["ts"] for r in members)
    assert alpha["last_seen"] == max(r["ts"] for r in members)
    assert alpha["models"] == sorted({r["model"] for r in members})
    assert alpha["clients"] == ["anthropic-python", "openai-python"]
    assert alpha["agents"] == ["reviewer"]


def test_without_group_by_no_lists_are_added(gw_rows):
    data = get(gw_rows, "")
    assert not {"by_session", "by_key", "by_client"} & set(data)
    assert get(gw_rows, "?group_by=client").keys() >= {"by_client", "totals", "by_provider"}


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("?session=s-alpha", lambda r: r["session_id"] == "s-alpha"),
        ("?key=ci", lambda r: r["api_key_name"] == "ci"),
        ("?client=curl", lambda r: r["client"] == "curl"),
        (
            "?key=laptop&session=s-gamma",
            lambda r: r["api_key_name"] == "laptop" and r["session_id"] == "s-gamma",
        ),
        ("?session=nobody", lambda r: False),
    ],
)
def test_filters_apply_to_everything(gw_rows, query, keep):
    rows = [r for r in rows_of(gw_rows) if keep(r)]
    data = get(gw_rows, query + "&group_by=session,key,client")
    check(data["totals"], rows)
    for list_name in ("by_provider", "by_model", "by_day", *GROUP_COLUMN):
        assert sum(e["requests"] for e in data[list_name]) == len(rows), list_name
    for list_name, column in GROUP_COLUMN.items():
        assert {e[column] for e in data[list_name]} == {r[column] for r in rows}
    text = httpx.get(
        gw_rows.url + "/usage" + query + "&format=csv", headers={"authorization": f"Bearer {LAPTOP}"}
    ).text
    table = list(csv.DictReader(io.StringIO(text)))
    assert [int(t["id"]) for t in table] == [r["id"] for r in rows]
    header = next(csv.reader(io.StringIO(text)))
    assert {"session_id", "client", "client_version", "agent", "tags"} <= set(header)


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("?group_by=model", "group_by"),
        ("?group_by=session,", "group_by"),
        ("?session=a&session=b", "session"),
        ("?key=" + "k" * 1100, "key"),
        ("?since=yesterday&group_by=session", "since"),
    ],
)
def test_bad_parameters_are_400_in_the_openai_shape(gw_rows, query, param):
    r = httpx.get(gw_rows.url + "/usage" + query, headers={"authorization": f"Bearer {LAPTOP}"}, timeout=10)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param and err["message"]
