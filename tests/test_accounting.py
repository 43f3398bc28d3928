"""Token normalisation and the cost formula, against hand-computed values."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.pricing import Price, Rates, Tier, Tokens, cost_pico
from gateway.sse import SSEParser
from gateway.usage import UsageMeter, provider_cost_usd, tokens_from_anthropic, tokens_from_openai

D = Decimal
SONNET = Price(Rates(D("3"), D("15"), D("0.3"), D("3.75"), D("6")))


def test_anthropic_input_excludes_cache_so_nothing_is_subtracted():
    t = tokens_from_anthropic(
        {
            "input_tokens": 10,
            "cache_read_input_tokens": 2000,
            "cache_creation_input_tokens": 500,
            "output_tokens": 40,
        }
    )
    assert t == Tokens(input=10, cache_read=2000, cache_write=500, output=40)
    assert t.prompt == 2510


def test_openai_prompt_includes_cached_tokens():
    t = tokens_from_openai(
        {
            "prompt_tokens": 2510,
            "completion_tokens": 40,
            "total_tokens": 2550,
            "prompt_tokens_details": {"cached_tokens": 2000, "cache_write_tokens": 500},
            "completion_tokens_details": {"reasoning_tokens": 30},
        }
    )
    assert t == Tokens(input=10, cache_read=2000, cache_write=500, output=40, reasoning=30)


def test_xai_reasoning_is_added_to_output():
    """A property of the provider's dialect (gateway.dialects), not of its name or the numbers."""
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 10,
        "total_tokens": 160,
        "completion_tokens_details": {"reasoning_tokens": 50},
    }
    t = tokens_from_openai(usage, "xai")
    assert (t.output, t.reasoning) == (60, 50)
    assert tokens_from_openai(usage, "openai").output == 10


def test_junk_usage_counts_as_zero():
    assert tokens_from_openai({"prompt_tokens": "9", "completion_tokens": None}) == Tokens()
    assert tokens_from_anthropic({"input_tokens": True, "output_tokens": -5}) == Tokens()


def test_cost_formula_each_kind_at_its_own_price():
    # 1000*3 + 2000*0.3 + 300*3.75 + 200*6 + 100*15 = 3000+600+1125+1200+1500 = 7425 per 1M
    t = Tokens(input=1000, cache_read=2000, cache_write=500, cache_write_1h=200, output=100)
    assert cost_pico(t, SONNET) == 7_425_000_000


def test_missing_cache_prices_fall_back_to_input_never_free():
    price = Price(Rates(D("2"), D("8")))
    assert cost_pico(Tokens(cache_read=1000, cache_write=1000), price) == 4_000_000_000


def test_tiers_apply_above_the_threshold_of_the_whole_prompt():
    price = Price(Rates(D("3"), D("15")), tiers=(Tier(200_000, Rates(D("6"), D("22.5"))),))
    assert cost_pico(Tokens(input=200_000, output=1), price) == 200_000 * 3 * 10**6 + 15 * 10**6
    # 150k uncached + 60k cache reads: the prompt is over 200k, so the whole request is at tier prices
    t = Tokens(input=150_000, cache_read=60_000, output=10)
    assert cost_pico(t, price) == (150_000 * 6 + 60_000 * 6 + 10 * D("22.5")) * 10**6


def test_small_costs_are_exact_not_rounded_away():
    price = Price(Rates(D("0.0075"), D("0.02")))
    assert cost_pico(Tokens(input=1, output=1), price) == 27_500  # $0.0000000275


def test_sums_of_rows_do_not_drift():
    rows = [cost_pico(Tokens(input=7, output=3), Price(Rates(D("0.1"), D("0.3")))) for _ in range(100_000)]
    assert sum(rows) == 100_000 * (7 * 100_000 + 3 * 300_000)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"cost": 0.0001234}, D("0.0001234")),
        ({"cost": 0, "is_byok": True, "cost_details": {"upstream_inference_cost": 0.5}}, D("0.5")),
        ({"cost": "abc"}, None),
        ({"cost": None}, None),
        ({}, None),
    ],
)
def test_openrouter_cost(usage, expected):
    assert provider_cost_usd(usage) == expected


def test_stream_meter_keeps_the_latest_values():
    meter = UsageMeter("anthropic")
    meter.observe_anthropic_event(
        "message_start",
        {"message": {"usage": {"input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 1}}},
    )
    meter.observe_anthropic_event("message_delta", {"usage": {"output_tokens": 77, "input_tokens": None}})
    assert meter.tokens() == Tokens(input=5, cache_read=100, output=77)
    om = UsageMeter("openai")
    om.observe({"prompt_tokens": 1, "completion_tokens": 1})
    om.observe({"prompt_tokens": 9, "completion_tokens": 4})
    assert om.tokens().output == 4


def test_sse_parser_handles_any_split_crlf_and_comments():
    stream = (
        b': OPENROUTER PROCESSING\r\n\r\nevent: message_start\r\ndata: {"a": 1}\r\n\r\n'
        b"data: line1\ndata: line2\n\ndata: [DONE]\n\n"
    )
    for size in (1, 2, 3, 7, len(stream)):
        parser = SSEParser()
        events = []
        for i in range(0, len(stream), size):
            events += parser.feed(stream[i : i + size])
        events += parser.close()
        assert [(e.event, e.data) for e in events] == [
            (None, None),
            ("message_start", '{"a": 1}'),
            (None, "line1\nline2"),
            (None, "[DONE]"),
        ]
        assert events[1].json() == {"a": 1} and events[3].is_done and events[0].json() is None
