"""Routing as pure functions over many configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.config import Config, load_config
from gateway.errors import NoUsableProvider, UnknownModel
from gateway.health import ProviderHealth, retry_after_seconds
from gateway.routing import resolve

TABLES = {
    "anthropic": {"claude-sonnet-4-6": {"input": 3, "output": 15}},
    "openai": {"gpt-5": {"input": 1.25, "output": 10}, "gpt-4o": {"input": 2.5, "output": 10}},
    "xai": {"grok-4": {"input": 3, "output": 15}},
    "openrouter": {
        "claude-sonnet-4-6": {"id": "anthropic/claude-sonnet-4.6", "input": 3, "output": 15},
        "gpt-5": {"id": "openai/gpt-5", "input": 1.0, "output": 9},
        "grok-4": {"id": "x-ai/grok-4", "input": 2, "output": 10},
        "gpt-4o": {"id": "openai/gpt-4o", "input": 2.5, "output": 10},
    },
}
ALL_KEYS = {"ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o", "XAI_API_KEY": "x", "OPENROUTER_API_KEY": "r"}


def config(tmp_path: Path, env: dict[str, str] = ALL_KEYS, tables=TABLES, **top) -> Config:
    (tmp_path / "pricing").mkdir(exist_ok=True)
    for provider, models in tables.items():
        doc = {"provider": provider, "unit": "usd_per_million_tokens", "models": models}
        (tmp_path / "pricing" / f"{provider}.yaml").write_text(yaml.safe_dump(doc))
    (tmp_path / "ekai.yaml").write_text(yaml.safe_dump(top, sort_keys=False))
    return load_config(tmp_path / "ekai.yaml", env=env)


def names(cfg: Config, model: str, forced: str | None = None) -> list[tuple[str, str]]:
    return [(t.provider.name, t.upstream_model) for t in resolve(cfg, model, forced).targets]


def test_cheapest_first_with_the_providers_own_id(tmp_path):
    assert names(config(tmp_path), "gpt-5") == [("openrouter", "openai/gpt-5"), ("openai", "gpt-5")]


def test_ties_go_to_the_provider_listed_first(tmp_path):
    assert names(config(tmp_path), "claude-sonnet-4-6") == [
        ("anthropic", "claude-sonnet-4-6"), ("openrouter", "anthropic/claude-sonnet-4.6")]
    assert names(config(tmp_path), "gpt-4o")[0] == ("openai", "gpt-4o")
    cfg = config(tmp_path, providers={"openrouter": {}, "openai": {}})
    assert names(cfg, "gpt-4o")[0] == ("openrouter", "openai/gpt-4o")


def test_pins_come_first_even_when_dearer_or_unlisted(tmp_path):
    cfg = config(tmp_path)
    assert names(cfg, "grok-4") == [("xai", "grok-4"), ("openrouter", "x-ai/grok-4")]
    assert names(cfg, "grok-9-new") == [("xai", "grok-9-new")]  # unlisted, pinned anyway
    cfg = config(tmp_path, routing={"pins": {"gpt-*": ["openai"]}})
    assert names(cfg, "gpt-5")[0] == ("openai", "gpt-5")
    assert names(cfg, "grok-4")[0] == ("openrouter", "x-ai/grok-4")  # pins replaced: no grok pin


def test_aliases(tmp_path):
    cfg = config(tmp_path, aliases={"sonnet": "claude-sonnet-4-6", "cheap": "gpt-5"})
    route = resolve(cfg, "sonnet")
    assert route.model == "sonnet" and route.resolved == "claude-sonnet-4-6"
    assert names(cfg, "cheap")[0] == ("openrouter", "openai/gpt-5")


def test_missing_keys_skip_providers(tmp_path):
    cfg = config(tmp_path, env={"OPENAI_API_KEY": "o"})
    assert names(cfg, "gpt-5") == [("openai", "gpt-5")]
    with pytest.raises(NoUsableProvider) as e:
        resolve(cfg, "claude-sonnet-4-6")
    assert "ANTHROPIC_API_KEY" in e.value.message and "OPENROUTER_API_KEY" in e.value.message


def test_slugs(tmp_path):
    cfg = config(tmp_path)
    assert names(cfg, "anthropic/claude-sonnet-4.6") == [("openrouter", "anthropic/claude-sonnet-4.6")]
    assert names(cfg, "qwen/qwen3-coder:free") == [("openrouter", "qwen/qwen3-coder:free")]
    with pytest.raises(NoUsableProvider):
        resolve(config(tmp_path, env={"OPENAI_API_KEY": "o"}), "qwen/qwen3-coder")


def test_unknown_model(tmp_path):
    with pytest.raises(UnknownModel) as e:
        resolve(config(tmp_path), "gpt-7-imaginary")
    assert e.value.status == 404 and "gpt-7-imaginary" in e.value.message


def test_forced_provider(tmp_path):
    cfg = config(tmp_path)
    assert names(cfg, "gpt-5", forced="openai") == [("openai", "gpt-5")]
    assert names(cfg, "sonnet-x", forced="openrouter") == [("openrouter", "sonnet-x")]
    with pytest.raises(UnknownModel) as e:
        resolve(cfg, "gpt-5", forced="nope")
    assert e.value.status == 400
    with pytest.raises(NoUsableProvider):
        resolve(config(tmp_path, env={}), "gpt-5", forced="openai")


def test_ordered_strategy_and_no_fallback(tmp_path):
    cfg = config(tmp_path, routing={"strategy": "ordered"})
    assert names(cfg, "gpt-5")[0] == ("openai", "gpt-5")
    cfg = config(tmp_path, routing={"fallback": False})
    assert names(cfg, "gpt-5") == [("openrouter", "openai/gpt-5")]


def test_custom_provider_by_pin(tmp_path):
    cfg = config(tmp_path, providers={"local": {"format": "openai", "base_url": "http://127.0.0.1:9/v1"}},
                 routing={"pins": {"llama*": ["local"]}})
    assert names(cfg, "llama3.2") == [("local", "llama3.2")]
    assert next(iter(cfg.providers)) == "local"


def test_health_moves_failing_providers_last_and_recovers():
    h = ProviderHealth()
    for _ in range(3):
        h.failed("a", "HTTP 500")
    assert h.order(["a", "b"], ["A", "B"]) == ["B", "A"] and h.cooling("a") > 0
    h.ok("a")
    assert h.order(["a", "b"], ["A", "B"]) == ["A", "B"]
    h.failed("b", "HTTP 429", retry_after=12)
    assert 11 < h.cooling("b") <= 12 and h.status("b")["consecutive_failures"] == 1


def test_retry_after_forms():
    assert retry_after_seconds({"retry-after": "7"}) == 7
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "7"}) == 1.5
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
