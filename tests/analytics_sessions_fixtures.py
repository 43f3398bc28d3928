"""Usage rows in sessions, with answers worked out by hand, for the Sessions view and notebook.

Nine requests: three sessions and one request outside any session. The expected figures in the
tests come from this table with pencil and paper, not from the code under test.

 #  ts (UTC)                 session  client         key    model              agent     status  in    cr    cw    out  cost
 1  2026-11-01 10:00:00.000  s-A      claude-code    alice  claude-sonnet-4-6  -         200     100   0     9000  200  0.04
 2  2026-11-01 10:01:00.000  s-A      claude-code    alice  claude-sonnet-4-6  -         200     50    9000  500   300  0.02
 3  2026-11-01 10:02:00.000  s-A      claude-code    alice  claude-haiku-4-5   Explore   200     1000  0     0     100  0.005
 4  2026-11-01 10:05:00.000  s-A      claude-code    alice  claude-sonnet-4-6  -         200     10    9500  0     50   0.01
 5  2026-11-01 11:00:00.000  s-B      codex          bob    gpt-5.1-codex      -         200     2000  0     0     100  0.5
 6  2026-11-01 11:00:30.000  s-B      codex          bob    gpt-5.1-codex      -         429     0     0     0     0    0.0   (error)
 7  2026-11-01 11:10:00.000  s-B      codex          bob    gpt-5.1-codex      explorer  200     500   1500  0     100  0.3
 8  2026-11-02 09:00:00.000  s-C      openai-python  -      gpt-5-mini         -         200     100   0     0     10   0.001
 9  2026-11-02 10:00:00.000  -        curl           alice  gpt-5-mini         -         200     100   0     0     10   0.002

Per session (prompt = in + cr + cw; hit rate = cr / prompt; duration = last start - first):
  s-B  3 requests, 1 failed, $0.80,  prompt 2000 + 0 + 2000 = 4000, cr 1500 -> 0.375, 600 s
  s-A  4 requests, $0.075, prompt 9100 + 9550 + 1000 + 9510 = 29160, cr 18500 -> 0.634431, 300 s
  s-C  1 request,  $0.001, prompt 100, cr 0 -> 0.0, 0 s
Per key: bob $0.80 (3), alice $0.077 (5), (no key) $0.001 (1).
Per client: codex $0.80, claude-code $0.075, curl $0.002, openai-python $0.001.
"""

from __future__ import annotations

from typing import Any

from tests.analytics_fixtures import row


def _a(ts: str, **values: Any) -> dict[str, Any]:
    return row(ts, **{"session_id": "s-A", "client": "claude-code", "client_version": "2.1.197",
                      "api_key_name": "alice", "provider": "anthropic",
                      "client_format": "anthropic", "model": "claude-sonnet-4-6", **values})  # fmt: skip


def _b(ts: str, **values: Any) -> dict[str, Any]:
    return row(ts, **{"session_id": "s-B", "client": "codex", "client_version": "0.171.0",
                      "api_key_name": "bob", "provider": "openai", "client_format": "responses",
                      "model": "gpt-5.1-codex", **values})  # fmt: skip


SESSIONS: list[dict[str, Any]] = [
    _a("2026-11-01T10:00:00.000Z", input_tokens=100, cache_write_tokens=9000, output_tokens=200,
       cost_usd=0.04),
    _a("2026-11-01T10:01:00.000Z", input_tokens=50, cache_read_tokens=9000,
       cache_write_tokens=500, output_tokens=300, cost_usd=0.02),
    _a("2026-11-01T10:02:00.000Z", model="claude-haiku-4-5", agent="Explore", input_tokens=1000,
       output_tokens=100, cost_usd=0.005),
    _a("2026-11-01T10:05:00.000Z", input_tokens=10, cache_read_tokens=9500, output_tokens=50,
       cost_usd=0.01, tags='{"team":"search"}'),
    _b("2026-11-01T11:00:00.000Z", input_tokens=2000, output_tokens=100, cost_usd=0.5),
    _b("2026-11-01T11:00:30.000Z", status=429, error="rate limited by upstream (429)"),
    _b("2026-11-01T11:10:00.000Z", agent="explorer", input_tokens=500, cache_read_tokens=1500,
       output_tokens=100, cost_usd=0.3),
    row("2026-11-02T09:00:00.000Z", session_id="s-C", client="openai-python",
        client_version="2.8.1", model="gpt-5-mini", input_tokens=100, output_tokens=10,
        cost_usd=0.001),
    row("2026-11-02T10:00:00.000Z", client="curl", client_version="8.5.0", api_key_name="alice",
        model="gpt-5-mini", input_tokens=100, output_tokens=10, cost_usd=0.002),
]  # fmt: skip
