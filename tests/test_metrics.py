"""GET /metrics: scraped with prometheus_client's own parser and checked against the usage rows."""

from __future__ import annotations

import time
from collections import Counter, defaultdict

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import KEYS, PRICING, write_config
from tests.fakes.upstream import Reply
from tests.gateway_proc import Gateway

KNOWN = {line.strip().split(":")[0] for text in PRICING.values() for line in text.splitlines() if line.startswith("  ")}
KNOWN |= {"sonnet"}
KINDS = {"input": "input_tokens", "cache_read": "cache_read_tokens", "cache_write": "cache_write_tokens",
         "output": "output_tokens", "reasoning": "reasoning_tokens"}


def scrape(gw: Gateway, **kw) -> dict[str, list]:
    resp = httpx.get(gw.url + "/metrics", timeout=10, **kw)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    samples: dict[str, list] = defaultdict(list)
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            samples[s.name].append(s)
    return samples


def total(samples: dict[str, list], name: str, **labels: str) -> float:
    return sum(s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items()))


def wait_scrape(gw: Gateway, predicate, timeout: float = 10.0, **kw) -> dict[str, list]:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(gw, **kw)
        if predicate(samples):
            return samples
        if time.monotonic() > deadline:
            state = {n: [(x.labels, x.value) for x in v] for n, v in samples.items()
                     if n.startswith(("ekai_config", "ekai_provider", "ekai_fallbacks", "ekai_requests"))}
            raise AssertionError(f"metrics never reached the expected state: {state}")
        time.sleep(0.05)


def save(path, text: str) -> None:
    """As editors do: write aside, rename over (a watcher never reads a half-written file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def traffic(gw: Gateway, fake) -> list[str]:
    """Both formats, streamed and not, a cross-format request, a fallback, client errors and an
    unknown model. Returns the request ids."""
    ids = []

    def send(path: str, body: dict, headers: dict | None = None, stream: bool = False) -> None:
        if stream:
            with httpx.stream("POST", gw.url + path, json=body, headers=headers or {}, timeout=15) as r:
                r.read()
        else:
            r = httpx.post(gw.url + path, json=body, headers=headers or {}, timeout=15)
        ids.append(r.headers["x-request-id"])

    user = [{"role": "user", "content": "hi"}]
    send("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": user})
    send("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": user, "stream": True}, stream=True)
    send("/v1/messages", {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": user})
    send("/v1/messages", {"model": "sonnet", "max_tokens": 10, "messages": user, "stream": True}, stream=True)
    send("/v1/messages", {"model": "gpt-4o-mini", "max_tokens": 10, "messages": user})  # cross format
    fake.queue(Reply(status=500, json={"error": {"message": "boom", "type": "server_error"}}, provider="openrouter"))
    send("/v1/chat/completions", {"model": "gpt-5", "messages": user})  # openrouter 500, then openai
    fake.queue(Reply(status=400, json={"type": "error", "error": {"type": "invalid_request_error", "message": "no"}},
                     provider="anthropic"))
    send("/v1/messages", {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": user})  # upstream 400
    send("/v1/messages", {"model": "claude-haiku-4-5", "messages": user})  # no max_tokens: our 400
    send("/v1/chat/completions", {"model": "made-up-model-8d1f", "messages": user})  # 404, label "other"
    return ids


def check_against_rows(gw: Gateway, samples: dict[str, list], rows: list[dict]) -> None:
    expected = Counter(
        (r["client_format"], r["provider"] or "none", r["model"] if r["model"] in KNOWN else "other", str(r["status"]))
        for r in rows
    )
    got = Counter()
    for s in samples["ekai_requests_total"]:
        got[(s.labels["client_format"], s.labels["provider"], s.labels["model"], s.labels["status"])] += int(s.value)
    assert got == expected
    for kind, column in KINDS.items():
        assert total(samples, "ekai_tokens_total", kind=kind) == sum(r[column] for r in rows), kind
        for model in {r["model"] for r in rows if r["model"] in KNOWN}:
            by_model = sum(r[column] for r in rows if r["model"] == model)
            assert total(samples, "ekai_tokens_total", kind=kind, model=model) == by_model
    cost = sum(r["cost_usd"] or 0 for r in rows)
    assert cost > 0 and total(samples, "ekai_cost_usd_total") == pytest.approx(cost, rel=1e-9)
    fallbacks = Counter(a for r in rows if r["attempts"] for a in r["attempts"].split(","))
    assert fallbacks == {"openrouter:500": 1}
    assert total(samples, "ekai_fallbacks_total", provider="openrouter", outcome="500") == 1
    assert total(samples, "ekai_upstream_attempts_total") == sum(1 for r in rows if r["provider"]) + 1
    ok = [r for r in rows if r["status"] < 400]
    assert total(samples, "ekai_request_duration_seconds_count") == len(ok)
    assert total(samples, "ekai_time_to_first_byte_seconds_count") == len(ok)
    assert total(samples, "ekai_request_duration_seconds_sum") == pytest.approx(
        sum(r["latency_ms"] for r in ok) / 1000, rel=1e-3)
    for name, column in (("ekai_time_to_first_byte_seconds", "ttft_ms"), ("ekai_request_duration_seconds", "latency_ms")):
        buckets = defaultdict(float)
        for s in samples[name + "_bucket"]:
            buckets[s.labels["le"]] += s.value
        assert buckets["+Inf"] == len(ok)
        for le, count in buckets.items():  # cumulative, as Prometheus reads them
            assert count == sum(1 for r in ok if r[column] / 1000 <= float(le)), (name, le)
    assert total(samples, "ekai_usage_rows_written_total") == len(rows)
    assert total(samples, "ekai_usage_rows_failed_total") == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_match_the_usage_rows(fake, tmp_path, workers):
    write_config(tmp_path, fake)
    args = ["--workers", str(workers)] if workers > 1 else []
    gw = Gateway(tmp_path, env=KEYS, args=args).start()
    try:
        ids = traffic(gw, fake)
        rows = []
        deadline = time.monotonic() + 10
        while len(rows) < len(ids) and time.monotonic() < deadline:
            rows = gw.rows()
            time.sleep(0.02)
        assert sorted(r["request_id"] for r in rows) == sorted(ids)
        assert {r["client_format"] for r in rows} == {"openai", "anthropic"}
        samples = wait_scrape(gw, lambda s: total(s, "ekai_usage_rows_written_total") >= len(rows))
        check_against_rows(gw, samples, rows)
        for _ in range(4):  # whichever worker answers, one consistent set
            check_against_rows(gw, scrape(gw), rows)
        # a client making up model names creates no series
        for i in range(5):
            httpx.post(gw.url + "/v1/chat/completions", json={"model": f"random-{i}", "messages": []}, timeout=5)
        samples = wait_scrape(gw, lambda s: total(s, "ekai_requests_total") == len(rows) + 5)
        assert {s.labels["model"] for s in samples["ekai_requests_total"]} <= KNOWN | {"other"}
        assert not any("req_" in line for line in httpx.get(gw.url + "/metrics", timeout=5).text.splitlines())
    finally:
        gw.stop()


def test_provider_cooling_gauge_and_config_reload_counters(fake, tmp_path):
    write_config(tmp_path, fake)
    gw = Gateway(tmp_path, env=KEYS, args=["--workers", "2"]).start()
    try:
        samples = scrape(gw)
        assert total(samples, "ekai_provider_cooling_down", provider="openrouter") == 0
        fake.queue(Reply(status=429, json={"error": {"message": "slow down"}}, headers={"retry-after": "60"},
                         provider="openrouter"))
        resp = httpx.post(gw.url + "/v1/chat/completions",
                          json={"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}, timeout=15)
        assert resp.headers["x-ekai-provider"] == "openai"
        samples = wait_scrape(gw, lambda s: total(s, "ekai_provider_cooling_down", provider="openrouter") == 1
                              and total(s, "ekai_fallbacks_total", provider="openrouter", outcome="429") == 1)
        assert total(samples, "ekai_provider_cooling_down", provider="openai") == 0

        config = tmp_path / "ekai.yaml"
        good = config.read_text().replace("sonnet: claude-sonnet-4-6", "sonnet: claude-haiku-4-5")
        save(config, good)
        samples = wait_scrape(gw, lambda s: total(s, "ekai_config_reloads_total", result="applied") >= 2)
        applied = total(samples, "ekai_config_reloads_total", result="applied")  # once per worker
        assert total(samples, "ekai_config_reloads_total", result="rejected") == 0
        save(config, good + "\nrouting: [broken\n")
        samples = wait_scrape(gw, lambda s: total(s, "ekai_config_reloads_total", result="rejected") >= 2)
        assert total(samples, "ekai_config_reloads_total", result="applied") == applied
        assert total(samples, "ekai_usage_queue_depth") == 0
    finally:
        gw.stop()


def test_metrics_need_a_gateway_key_when_auth_is_on(fake, tmp_path):
    write_config(tmp_path, fake, extra="auth:\n  keys:\n    laptop: EKAI_KEY_LAPTOP\n")
    gw = Gateway(tmp_path, env={**KEYS, "EKAI_KEY_LAPTOP": "metrics-key-1"}).start()
    try:
        assert httpx.get(gw.url + "/metrics", timeout=5).status_code == 401
        samples = scrape(gw, headers={"authorization": "Bearer metrics-key-1"})
        assert "ekai_usage_rows_written_total" in samples
        assert "metrics-key-1" not in httpx.get(gw.url + "/metrics", headers={"x-api-key": "metrics-key-1"}).text
    finally:
        gw.stop()
