"""ekai.yaml and price-table validation: every problem named by file, line and key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config

GOOD_PRICES = """provider: openai
unit: usd_per_million_tokens
models:
  gpt-4o-mini: {input: 0.15, output: 0.6, cache_read: 0.075}
"""


def make(tmp_path: Path, text: str, prices: str = GOOD_PRICES) -> Path:
    (tmp_path / "pricing").mkdir(exist_ok=True)
    (tmp_path / "pricing" / "openai.yaml").write_text(prices)
    path = tmp_path / "ekai.yaml"
    path.write_text(text)
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_config(path, env=env or {})
    return e.value.problems


def test_the_shipped_config_is_valid():
    cfg = load_config(Path(__file__).parent.parent / "ekai.yaml", env={})
    assert cfg.port == 3001 and cfg.host == "127.0.0.1"
    assert list(cfg.providers) == ["anthropic", "openai", "xai", "openrouter"]
    assert cfg.prices["anthropic"]["claude-sonnet-4-6"].price.base.input == Decimal("3")
    assert cfg.database.file.name == "usage.db"


def test_defaults_and_keys_from_environment(tmp_path):
    cfg = load_config(make(tmp_path, "aliases: {mini: gpt-4o-mini}\n"), env={"OPENAI_API_KEY": "sk-x"})
    assert cfg.providers["openai"].usable and not cfg.providers["anthropic"].usable
    assert "sk-x" not in repr(cfg.providers["openai"])  # the key is never printed
    assert cfg.pins == (("grok-*", ("xai",)),)
    assert cfg.database.file == (tmp_path / "usage.db").resolve()
    assert cfg.aliases == {"mini": "gpt-4o-mini"}


def test_an_empty_key_variable_does_not_make_a_provider_usable(tmp_path):
    cfg = load_config(make(tmp_path, ""), env={"OPENAI_API_KEY": ""})
    assert not cfg.providers["openai"].usable


def test_problems_name_file_line_and_key(tmp_path):
    text = """server:
  port: "eighty"
routing:
  pins:
    "claude-*": [nowhere]
  strategy: fastest
providers:
  local: {format: grpc, base_url: http://x}
  other: {format: openai, base_url: ftp://x}
bogus: 1
"""
    found = problems(make(tmp_path, text))
    assert "ekai.yaml:2: server.port: must be an integer from 1 to 65535" in found
    assert any(
        p.startswith("ekai.yaml:5: routing.pins.claude-*.0: unknown provider 'nowhere'") for p in found
    )
    assert any(p.startswith("ekai.yaml:6: routing.strategy") for p in found)
    assert any(p.startswith("ekai.yaml:8: providers.local.format") for p in found)
    assert any(p.startswith("ekai.yaml:9: providers.other.base_url") for p in found)
    assert any(p.startswith("ekai.yaml:10: bogus: unknown key") for p in found)


def test_yaml_syntax_error_names_the_line(tmp_path):
    found = problems(make(tmp_path, "server:\n  port: 3001\n  host: [unclosed\n"))
    assert len(found) == 1 and found[0].startswith("ekai.yaml:") and "(yaml)" in found[0]


def test_missing_config_file(tmp_path):
    found = problems(tmp_path / "nope.yaml")
    assert "not found" in found[0]


@pytest.mark.parametrize(
    ("prices", "expected"),
    [
        (GOOD_PRICES.replace("usd_per_million_tokens", "usd_per_token"), "openai.yaml:2: unit"),
        (GOOD_PRICES.replace("0.15", "-1"), "openai.yaml:4: models.gpt-4o-mini.input: must be a number >= 0"),
        (GOOD_PRICES.replace("input: 0.15, ", ""), "openai.yaml:4: models.gpt-4o-mini.input: is required"),
        (GOOD_PRICES.replace("0.6", "cheap"), "openai.yaml:4: models.gpt-4o-mini.output: must be a number"),
        (
            GOOD_PRICES.replace("cache_read: 0.075}", "tiers: [{above_input_tokens: lots, input: 1}]}"),
            "openai.yaml:4: models.gpt-4o-mini.tiers.0.above_input_tokens",
        ),
        (GOOD_PRICES.replace("cache_read", "cache_reed"), "models.gpt-4o-mini.cache_reed: unknown key"),
        (GOOD_PRICES.replace("0.15", "0.00000015"), "models.gpt-4o-mini.input: 1.5E-7 looks like a price per token"),
    ],
)
def test_price_table_problems(tmp_path, prices, expected):
    found = problems(make(tmp_path, "", prices=prices))
    assert any(expected in p for p in found), found


def test_prices_are_exact_decimals_and_tiers_inherit(tmp_path):
    prices = GOOD_PRICES.replace(
        "  gpt-4o-mini: {input: 0.15, output: 0.6, cache_read: 0.075}",
        "  gpt-4o-mini:\n    input: 0.1\n    output: 0.2\n    tiers:\n      - {above_input_tokens: 1000, input: 0.3}",
    )
    cfg = load_config(make(tmp_path, "", prices=prices), env={})
    price = cfg.prices["openai"]["gpt-4o-mini"].price
    assert price.base.input == Decimal("0.1") and price.base.input + price.base.output == Decimal("0.3")
    assert price.tiers[0].rates.input == Decimal("0.3") and price.tiers[0].rates.output == Decimal("0.2")


def test_removing_a_default_provider(tmp_path):
    cfg = load_config(make(tmp_path, "providers:\n  xai: null\nrouting:\n  pins: {}\n"), env={})
    assert "xai" not in cfg.providers


def test_user_provider_order_decides_ties(tmp_path):
    cfg = load_config(
        make(tmp_path, "providers:\n  openrouter: {api_key_env: OR_KEY}\n  openai: {}\n"), env={}
    )
    assert list(cfg.providers)[:2] == ["openrouter", "openai"]
    assert cfg.providers["openrouter"].api_key_env == "OR_KEY"
    assert cfg.providers["openrouter"].base_url == "https://openrouter.ai/api/v1"


def test_sanic_limits_never_cut_what_the_gateway_allows(tmp_path):
    """Sanic's RESPONSE_TIMEOUT also ends a stream that goes quiet: it must exceed every gateway timeout."""
    from sanic import Sanic

    from gateway.app import create_app

    Sanic.test_mode = True
    path = make(tmp_path, "server:\n  timeouts: {first_byte: 400, idle: 500, total: 900}\n  max_body_mb: 5\n")
    app = create_app(path, name="limits_test")
    assert app.config.RESPONSE_TIMEOUT > 900 and app.config.GRACEFUL_SHUTDOWN_TIMEOUT >= 30
    assert app.config.REQUEST_MAX_SIZE == 5 * 1024 * 1024
