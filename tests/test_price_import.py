"""Tests of the price importers (gateway/price_import.py) and of the shipped pricing/*.yaml.

The importer tests use small hand-written samples in LiteLLM's and OpenRouter's shapes; the last
group reads the tables this repository ships and checks units, ranges and well-known prices.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.price_import import (
    LITELLM_SOURCE,
    MergeSummary,
    format_price,
    import_litellm,
    import_openrouter,
    merge_tables,
    per_million,
    read_table,
    render_table,
    run_import,
    summarize_merge,
    update_pricing_file,
    write_table,
)

PRICING_DIR = Path(__file__).resolve().parent.parent / "pricing"
PRICE_FIELDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h")
D = Decimal


def chat(provider: str, input_: float, output: float, **extra: Any) -> dict[str, Any]:
    """A LiteLLM chat entry."""
    return {
        "litellm_provider": provider,
        "mode": "chat",
        "input_cost_per_token": input_,
        "output_cost_per_token": output,
        **extra,
    }


LITELLM_SAMPLE: dict[str, Any] = {
    "sample_spec": {"litellm_provider": "one of https://docs.litellm.ai/docs/providers"},
    "claude-sonnet-4-6": chat(
        "anthropic",
        3e-06,
        1.5e-05,
        cache_read_input_token_cost=3e-07,
        cache_creation_input_token_cost=3.75e-06,
        cache_creation_input_token_cost_above_1hr=6e-06,
        input_cost_per_token_above_200k_tokens=6e-06,
        output_cost_per_token_above_200k_tokens=2.25e-05,
        cache_read_input_token_cost_above_200k_tokens=6e-07,
        cache_creation_input_token_cost_above_200k_tokens=7.5e-06,
        cache_creation_input_token_cost_above_1hr_above_200k_tokens=1.2e-05,
        input_cost_per_token_batches=1.5e-06,
        input_cost_per_token_above_200k_tokens_batches=3e-06,
    ),
    "claude-haiku-4-5": chat("anthropic", 1e-06, 5e-06),
    "us.anthropic.claude-sonnet-4-6": chat("bedrock_converse", 3.3e-06, 1.65e-05),
    "anthropic.claude-sonnet-4-6": chat("bedrock", 3e-06, 1.5e-05),
    "azure/gpt-4o": chat("azure", 2.5e-06, 1e-05),
    "gpt-4o": chat("openai", 2.5e-06, 1e-05, cache_read_input_token_cost=1.25e-06),
    "gpt-4o-mini": chat("openai", 1.5e-07, 6e-07, cache_read_input_token_cost=7.5e-08),
    "ft:gpt-4o-mini-2024-07-18": chat("openai", 3e-07, 1.2e-06),
    "gpt-audio": chat("openai", 2.5e-06, 1e-05, supports_audio_output=True),
    "openai/container": {"litellm_provider": "openai", "mode": "chat"},
    "gpt-unpriced": chat("openai", 1e-06, None),
    "gpt-negative": chat("openai", -1, 1e-06),
    "o1-pro": {**chat("openai", 1.5e-04, 6e-04), "mode": "responses"},
    "text-embedding-3-small": {**chat("openai", 2e-08, 0.0), "mode": "embedding"},
    "gpt-image-1": {**chat("openai", 5e-06, 4e-05), "mode": "image_generation"},
    "gpt-realtime": {**chat("openai", 4e-06, 1.6e-05), "mode": "realtime"},
    "tts-1": {
        "litellm_provider": "openai",
        "mode": "audio_speech",
        "input_cost_per_character": 1.5e-05,
    },
    "omni-moderation-latest": {**chat("openai", 0.0, 0.0), "mode": "moderation"},
    "xai/grok-4": chat("xai", 3e-06, 1.5e-05, cache_read_input_token_cost=7.5e-07),
    "xai/grok-imagine-image": {"litellm_provider": "xai", "mode": "image_generation"},
    "azure_ai/grok-4": chat("azure_ai", 3e-06, 1.5e-05),
    "openrouter/anthropic/claude-sonnet-4.6": chat(
        "openrouter", 3e-06, 1.5e-05, cache_read_input_token_cost=3e-07
    ),
    "openrouter/anthropic/claude-sonnet-4.6:thinking": chat("openrouter", 3e-06, 1.5e-05),
    "openrouter/anthropic/claude-3.5-sonnet": chat("openrouter", 6e-06, 3e-05),
    "openrouter/openai/gpt-4o": chat("openrouter", 2.5e-06, 1e-05),
    "openrouter/x-ai/grok-4": chat("openrouter", 3e-06, 1.5e-05),
    "openrouter/google/gemini-2.5-pro": chat("openrouter", 1.25e-06, 1e-05),
    "openrouter/openai/text-embedding-3-small": {
        **chat("openrouter", 2e-08, 0.0),
        "mode": "embedding",
    },
}


# --- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_token", "expected"),
    [
        (3e-06, "3.0"),
        (1.5e-05, "15.0"),
        (7.5e-08, "0.075"),
        (3e-07, "0.3"),
        (1.25e-06, "1.25"),
        (5e-09, "0.005"),
        (1.125e-04, "112.5"),
        (0.001, "1000.0"),
        (0, "0.0"),
        (0.0, "0.0"),
        ("0.000003", "3.0"),
        ("0.0000003", "0.3"),
        ("0.00000375", "3.75"),
        (2.0751953125e-09, "0.0020751953125"),
        (3.0000000000000004e-07, "0.3"),  # float noise already in a source is rounded away
        (0.1 * 3e-06, "0.3"),  # and so is noise made by float arithmetic
    ],
)
def test_per_token_prices_become_exact_per_million_decimals(per_token: object, expected: str):
    value = per_million(per_token)
    assert value is not None
    assert format_price(value) == expected
    assert value == Decimal(expected)


@pytest.mark.parametrize("per_token", [None, -1, "-1", -0.5, "abc", "", True, float("nan"), [1]])
def test_unknown_prices_are_none_not_zero(per_token: object):
    assert per_million(per_token) is None


def test_format_price_never_uses_exponents():
    assert format_price(D("1E+3")) == "1000.0"
    assert format_price(D("5E-7")) == "0.0000005"
    assert format_price(D("0.0750")) == "0.075"


# --- LiteLLM ---------------------------------------------------------------------------------


def test_anthropic_table_takes_only_anthropic_chat_models():
    table = import_litellm(LITELLM_SAMPLE, "anthropic")
    assert sorted(table) == ["claude-haiku-4-5", "claude-sonnet-4-6"]


def test_anthropic_entry_has_cache_prices_and_tier():
    entry = import_litellm(LITELLM_SAMPLE, "anthropic")["claude-sonnet-4-6"]
    assert entry == {
        "input": D("3"),
        "output": D("15"),
        "cache_read": D("0.3"),
        "cache_write": D("3.75"),
        "cache_write_1h": D("6"),
        "tiers": [
            {
                "above_input_tokens": 200000,
                "input": D("6"),
                "output": D("22.5"),
                "cache_read": D("0.6"),
                "cache_write": D("7.5"),
                "cache_write_1h": D("12"),
            }
        ],
    }


def test_tiers_follow_any_threshold_and_sort():
    raw = chat(
        "openai",
        2e-06,
        1e-05,
        input_cost_per_token_above_272k_tokens=4e-06,
        output_cost_per_token_above_272k_tokens=1.5e-05,
        input_cost_per_token_above_128k_tokens=3e-06,
        output_cost_per_token_above_128k_tokens=1.2e-05,
        output_cost_per_token_above_272k_tokens_priority=9e-05,
    )
    tiers = import_litellm({"m": raw}, "openai")["m"]["tiers"]
    assert tiers == [
        {"above_input_tokens": 128000, "input": D("3"), "output": D("12")},
        {"above_input_tokens": 272000, "input": D("4"), "output": D("15")},
    ]


def test_openai_table_leaves_out_non_chat_fine_tuned_audio_and_unpriced():
    table = import_litellm(LITELLM_SAMPLE, "openai")
    assert sorted(table) == ["gpt-4o", "gpt-4o-mini", "o1-pro"]
    assert table["o1-pro"] == {"input": D("150"), "output": D("600"), "format": "responses"}
    assert table["gpt-4o"] == {"input": D("2.5"), "output": D("10"), "cache_read": D("1.25")}
    assert table["gpt-4o-mini"]["cache_read"] == D("0.075")


def test_xai_keys_lose_their_prefix():
    table = import_litellm(LITELLM_SAMPLE, "xai")
    assert table == {"grok-4": {"input": D("3"), "output": D("15"), "cache_read": D("0.75")}}


def test_unknown_provider_is_refused():
    with pytest.raises(ValueError, match="unknown provider"):
        import_litellm(LITELLM_SAMPLE, "gemini")


def test_openrouter_key_rule_from_litellm():
    table = import_litellm(LITELLM_SAMPLE, "openrouter")
    assert table["claude-sonnet-4-6"]["id"] == "anthropic/claude-sonnet-4.6"
    assert table["claude-sonnet-4-6"]["cache_read"] == D("0.3")
    assert table["gpt-4o"] == {"id": "openai/gpt-4o", "input": D("2.5"), "output": D("10")}
    assert table["grok-4"]["id"] == "x-ai/grok-4"
    # no direct table has these: the slug is the key, and no id is needed
    assert table["google/gemini-2.5-pro"] == {"input": D("1.25"), "output": D("10")}
    assert "id" not in table["anthropic/claude-3.5-sonnet"]
    assert "anthropic/claude-sonnet-4.6:thinking" in table
    assert "openai/text-embedding-3-small" not in table
    assert len(table) == 6


def test_openrouter_key_rule_uses_the_given_direct_names():
    table = import_litellm(LITELLM_SAMPLE, "openrouter", direct_models={"claude-3-5-sonnet"})
    assert table["claude-3-5-sonnet"]["id"] == "anthropic/claude-3.5-sonnet"
    assert "anthropic/claude-sonnet-4.6" in table
    assert "claude-sonnet-4-6" not in table


def test_openrouter_never_emits_two_entries_with_one_key():
    data = {
        "openrouter/anthropic/claude-sonnet-4.6": chat("openrouter", 3e-06, 1.5e-05),
        "openrouter/anthropic/claude-sonnet-4-6": chat("openrouter", 4e-06, 1.6e-05),
    }
    table = import_litellm(data, "openrouter", direct_models={"claude-sonnet-4-6"})
    assert len(table) == 2
    ids = {key: entry.get("id", key) for key, entry in table.items()}
    assert sorted(ids.values()) == sorted(["anthropic/claude-sonnet-4.6", "anthropic/claude-sonnet-4-6"])
    assert "claude-sonnet-4-6" in table


# --- OpenRouter /api/v1/models ---------------------------------------------------------------


def or_model(slug: str, pricing: dict[str, str], outputs: list[str] | None = None) -> dict[str, Any]:
    """One model object of OpenRouter's /api/v1/models."""
    model: dict[str, Any] = {"id": slug, "name": slug, "pricing": pricing}
    if outputs is not None:
        model["architecture"] = {"input_modalities": ["text"], "output_modalities": outputs}
    return model


OPENROUTER_SAMPLE: dict[str, Any] = {
    "data": [
        or_model(
            "anthropic/claude-sonnet-4.6",
            {
                "prompt": "0.000003",
                "completion": "0.000015",
                "input_cache_read": "0.0000003",
                "input_cache_write": "0.00000375",
                "request": "0",
                "image": "0.0048",
            },
            ["text"],
        ),
        or_model("openai/gpt-4o-mini", {"prompt": "0.00000015", "completion": "0.0000006"}, ["text"]),
        or_model("openrouter/auto", {"prompt": "-1", "completion": "-1"}, ["text"]),
        or_model("openai/gpt-image-1", {"prompt": "0.000005", "completion": "0.00004"}, ["image"]),
        or_model(
            "google/gemini-2.5-flash-image",
            {"prompt": "0.0000003", "completion": "0.0000025"},
            ["image", "text"],
        ),
        or_model("meta-llama/llama-3.3-70b-instruct:free", {"prompt": "0", "completion": "0"}),
        or_model("mistralai/no-completion-price", {"prompt": "0.000001"}, ["text"]),
        or_model(
            "x-ai/grok-4",
            {"prompt": "0.000003", "completion": "0.000015", "input_cache_read": "-1"},
            ["text"],
        ),
        {"id": "broken/no-pricing"},
        "not a model",
    ]
}


def test_openrouter_json_import():
    table = import_openrouter(OPENROUTER_SAMPLE, {"claude-sonnet-4-6", "gpt-4o-mini", "grok-4"})
    assert sorted(table) == [
        "claude-sonnet-4-6",
        "google/gemini-2.5-flash-image",
        "gpt-4o-mini",
        "grok-4",
        "meta-llama/llama-3.3-70b-instruct:free",
    ]
    assert table["claude-sonnet-4-6"] == {
        "id": "anthropic/claude-sonnet-4.6",
        "input": D("3"),
        "output": D("15"),
        "cache_read": D("0.3"),
        "cache_write": D("3.75"),
    }
    assert table["gpt-4o-mini"] == {
        "id": "openai/gpt-4o-mini",
        "input": D("0.15"),
        "output": D("0.6"),
    }
    assert table["grok-4"] == {"id": "x-ai/grok-4", "input": D("3"), "output": D("15")}
    assert table["meta-llama/llama-3.3-70b-instruct:free"] == {"input": D("0"), "output": D("0")}


def test_openrouter_json_import_without_direct_names_keys_by_slug():
    table = import_openrouter(OPENROUTER_SAMPLE)
    assert "anthropic/claude-sonnet-4.6" in table
    assert all("id" not in entry for entry in table.values())


@pytest.mark.parametrize("document", [{}, {"data": {}}, {"models": []}, []])
def test_openrouter_json_of_another_shape_is_refused(document: Any):
    with pytest.raises(ValueError, match="OpenRouter"):
        import_openrouter(document)


# --- merging ---------------------------------------------------------------------------------


EXISTING: dict[str, Any] = {
    "mine": {"input": D("1"), "output": D("2"), "user": True},
    "shared": {"input": D("9"), "output": D("9"), "user": True},
    "moved": {"input": D("3"), "output": D("15")},
    "same": {"input": D("0.15"), "output": D("0.6")},
    "stale": {"input": D("5"), "output": D("5")},
}
IMPORTED: dict[str, Any] = {
    "shared": {"input": D("3"), "output": D("15")},
    "moved": {"input": D("2.5"), "output": D("15")},
    "same": {"input": D("0.15"), "output": D("0.6")},
    "new": {"input": D("1.25"), "output": D("10")},
}


def test_merge_keeps_user_entries_and_drops_stale_ones():
    merged = merge_tables(EXISTING, IMPORTED)
    assert list(merged) == ["mine", "moved", "new", "same", "shared"]
    assert merged["mine"] == EXISTING["mine"]
    assert merged["shared"] == EXISTING["shared"]  # the user's entry wins over the import
    assert merged["moved"] == IMPORTED["moved"]
    assert "stale" not in merged


def test_merge_summary():
    summary = summarize_merge(EXISTING, IMPORTED)
    assert summary == MergeSummary(
        added=("new",),
        changed=("moved",),
        removed=("stale",),
        kept_user=("mine", "shared"),
        unchanged=("same",),
    )
    assert str(summary) == "5 models: 1 added, 1 changed, 1 removed, 2 user entries kept"


def test_merge_does_not_mutate_its_inputs():
    before = json.dumps(EXISTING, default=str), json.dumps(IMPORTED, default=str)
    merge_tables(EXISTING, IMPORTED)
    summarize_merge(EXISTING, IMPORTED)
    assert (json.dumps(EXISTING, default=str), json.dumps(IMPORTED, default=str)) == before


# --- files -----------------------------------------------------------------------------------


def test_written_table_reads_back_sorted_and_readable(tmp_path: Path):
    models = {
        "zeta": {"input": D("0.075"), "output": D("0.3")},
        "alpha": import_litellm(LITELLM_SAMPLE, "anthropic")["claude-sonnet-4-6"],
        "vendor/odd:key": {"id": "x", "input": D("1"), "output": D("2")},
        "yes": {"input": D("0"), "output": D("0")},
    }
    path = tmp_path / "anthropic.yaml"
    write_table(path, "anthropic", models, LITELLM_SOURCE, date(2026, 11, 27))
    text = path.read_text()
    assert text.startswith("#")
    assert "updated: 2026-11-27\n" in text
    assert "    input: 0.075\n" in text and "e-0" not in text
    assert [m.group(1) for m in re.finditer(r"^  (\S.*):$", text, re.M)] == [
        "alpha",
        "vendor/odd:key",
        '"yes"',
        "zeta",
    ]
    loaded = yaml.safe_load(text)
    assert loaded["models"]["yes"] == {"input": 0.0, "output": 0.0}
    assert loaded["models"]["alpha"]["tiers"][0]["cache_write_1h"] == 12.0
    assert loaded["updated"] == date(2026, 11, 27)
    table = read_table(path)
    assert table["models"] == models
    assert table["provider"] == "anthropic" and table["updated"] == "2026-11-27"


def test_render_is_stable():
    table = import_litellm(LITELLM_SAMPLE, "openai")
    reordered = dict(reversed(list(table.items())))
    first = render_table("openai", table, LITELLM_SOURCE, "2026-11-27")
    assert first == render_table("openai", reordered, LITELLM_SOURCE, "2026-11-27")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("provider: openai\nunit: usd_per_million_tokens\nmodels: {}\n", "expected 'xai'"),
        ("provider: xai\nunit: usd_per_token\nmodels: {}\n", "unit is 'usd_per_token'"),
        ("provider: xai\nunit: usd_per_million_tokens\nmodels: [1]\n", "models must map"),
        ("provider: [xai\n", "not valid YAML"),
        ("- a list\n", "expected a mapping"),
    ],
)
def test_read_table_refuses_malformed_files(tmp_path: Path, text: str, message: str):
    path = tmp_path / "xai.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(message)):
        read_table(path)


def test_update_pricing_file_keeps_user_entries_on_disk(tmp_path: Path):
    path = tmp_path / "openai.yaml"
    path.write_text(
        "provider: openai\nunit: usd_per_million_tokens\nsource: me\nupdated: 2026-01-01\n"
        "models:\n"
        "  my-model:\n    input: 0.30\n    output: 1.2\n    note: local vLLM\n    user: true\n"
        "  gpt-4o:\n    input: 5.0\n    output: 15.0\n    user: true\n"
        "  gpt-3.5-turbo:\n    input: 0.5\n    output: 1.5\n"
    )
    imported = import_litellm(LITELLM_SAMPLE, "openai")
    summary = update_pricing_file(path, "openai", imported, LITELLM_SOURCE, "2026-11-27")
    assert (len(summary.added), len(summary.removed), len(summary.kept_user)) == (2, 1, 2)
    models = yaml.safe_load(path.read_text())["models"]
    assert models["o1-pro"]["format"] == "responses"  # written as the config loader reads it
    assert models["my-model"] == {"input": 0.3, "output": 1.2, "note": "local vLLM", "user": True}
    assert models["gpt-4o"] == {"input": 5.0, "output": 15.0, "user": True}
    assert models["gpt-4o-mini"]["input"] == 0.15
    assert "gpt-3.5-turbo" not in models
    again = update_pricing_file(path, "openai", imported, LITELLM_SOURCE, "2026-11-27")
    assert (again.added, again.changed, again.removed) == ((), (), ())


def test_run_import_litellm(tmp_path: Path):
    source = tmp_path / "prices.json"
    source.write_text(json.dumps(LITELLM_SAMPLE))
    pricing = tmp_path / "pricing"
    lines = run_import("litellm", source, pricing, updated=date(2026, 11, 27))
    assert len(lines) == 4
    summary = "2 models: 2 added, 0 changed, 0 removed, 0 user entries kept"
    assert lines[0] == f"{pricing / 'anthropic.yaml'}: {summary}"
    assert sorted(p.name for p in pricing.iterdir()) == [
        "anthropic.yaml",
        "openai.yaml",
        "openrouter.yaml",
        "xai.yaml",
    ]
    openrouter = read_table(pricing / "openrouter.yaml")
    assert openrouter["models"]["claude-sonnet-4-6"]["id"] == "anthropic/claude-sonnet-4.6"
    assert openrouter["source"] == LITELLM_SOURCE and openrouter["updated"] == "2026-11-27"


def test_run_import_openrouter_keys_by_the_direct_tables_on_disk(tmp_path: Path):
    pricing = tmp_path / "pricing"
    write_table(
        pricing / "anthropic.yaml",
        "anthropic",
        {"claude-sonnet-4-6": {"input": D(3), "output": D(15)}},
        "x",
        "2026-11-27",
    )
    source = tmp_path / "models.json"
    source.write_text(json.dumps(OPENROUTER_SAMPLE))
    [line] = run_import("openrouter", source, pricing)
    assert line.startswith(f"{pricing / 'openrouter.yaml'}: 5 models: 5 added")
    models = read_table(pricing / "openrouter.yaml")["models"]
    assert models["claude-sonnet-4-6"]["id"] == "anthropic/claude-sonnet-4.6"
    assert "openai/gpt-4o-mini" in models  # no openai table on disk


def test_run_import_names_the_given_source_and_date(tmp_path: Path):
    pricing = tmp_path / "pricing"
    source = tmp_path / "models.json"
    source.write_text(json.dumps(OPENROUTER_SAMPLE))
    origin = "a copy of https://openrouter.ai/api/v1/models, saved 2026-10-08"
    run_import("openrouter", source, pricing, updated=date(2026, 10, 8), source=origin)
    table = read_table(pricing / "openrouter.yaml")
    assert (table["source"], table["updated"]) == (origin, "2026-10-08")
    run_import("openrouter", source, pricing)
    assert read_table(pricing / "openrouter.yaml")["source"] == "https://openrouter.ai/api/v1/models"


def test_run_import_leaves_a_table_alone_when_the_source_has_nothing_for_it(tmp_path: Path):
    pricing = tmp_path / "pricing"
    mine = {"input": D("3"), "output": D("15")}
    write_table(pricing / "openrouter.yaml", "openrouter", {"some/model": mine}, "x", "2026-01-01")
    before = (pricing / "openrouter.yaml").read_text()
    source = tmp_path / "prices.json"
    source.write_text(json.dumps({"gpt-4o": LITELLM_SAMPLE["gpt-4o"]}))
    lines = run_import("litellm", source, pricing)
    assert lines[-1].endswith("left unchanged (prices.json has no openrouter chat model)")
    assert "not written" in lines[0]  # no anthropic model: no anthropic.yaml either
    assert (pricing / "openrouter.yaml").read_text() == before
    assert not (pricing / "anthropic.yaml").exists()


@pytest.mark.parametrize(
    ("kind", "content", "message"),
    [
        ("litellm", None, "cannot read"),
        ("litellm", "{not json", "not JSON"),
        ("litellm", '{"a": 1}', "not LiteLLM's price map"),
        ("litellm", "[]", "not LiteLLM's price map"),
        ("openrouter", '{"data": 3}', "not an OpenRouter /api/v1/models answer"),
        ("openrouter", json.dumps(LITELLM_SAMPLE), "not an OpenRouter /api/v1/models answer"),
        ("anthropic", "{}", "unknown price source 'anthropic'"),
    ],
)
def test_run_import_errors_are_one_line(tmp_path: Path, kind: str, content: str | None, message: str):
    source = tmp_path / "in.json"
    if content is not None:
        source.write_text(content)
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        run_import(kind, source, tmp_path / "pricing")
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "pricing").exists()


# --- the shipped tables ----------------------------------------------------------------------


SHIPPED = sorted(PRICING_DIR.glob("*.yaml"))
NUMBER_LINE = re.compile(r"^\s+(?:- )?(input|output|cache_read|cache_write|cache_write_1h): (?P<value>.*)$")


def shipped(provider: str) -> dict[str, Any]:
    return yaml.safe_load((PRICING_DIR / f"{provider}.yaml").read_text())["models"]


def all_prices(models: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(model, field, value) for every price of every model, tiers included."""
    found = []
    for key, entry in models.items():
        for part in [entry, *entry.get("tiers", [])]:
            found += [(key, field, part[field]) for field in PRICE_FIELDS if field in part]
    return found


def test_the_four_tables_are_shipped():
    assert [path.name for path in SHIPPED] == [
        "anthropic.yaml",
        "openai.yaml",
        "openrouter.yaml",
        "xai.yaml",
    ]
    assert not (PRICING_DIR / "__init__.py").exists()


# The date of each shipped table's data: LiteLLM's map for the direct tables, a saved copy of
# OpenRouter's /api/v1/models for openrouter.yaml.
SHIPPED_DATES = {"openrouter": date(2026, 10, 8)}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_shipped_table_header(path: Path):
    document = yaml.safe_load(path.read_text())
    assert document["provider"] == path.stem
    assert document["unit"] == "usd_per_million_tokens"
    assert document["source"].startswith("https://")
    assert document["updated"] == SHIPPED_DATES.get(path.stem, date(2026, 11, 27))
    assert isinstance(document["models"], dict)
    assert read_table(path)["provider"] == path.stem


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_shipped_numbers_are_plain_non_negative_decimals(path: Path):
    lines = [m["value"] for m in map(NUMBER_LINE.match, path.read_text().splitlines()) if m]
    assert all(re.fullmatch(r"\d+\.\d+", value) for value in lines), lines
    # at most the importer's 12 significant digits (OpenRouter has repeating prices: 1/12 USD)
    assert all(len(value.replace(".", "").lstrip("0")) <= 12 for value in lines), "float noise?"
    for key, field, value in all_prices(yaml.safe_load(path.read_text())["models"]):
        assert isinstance(value, float) and value >= 0, (key, field, value)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_shipped_prices_are_per_million_not_per_token(path: Path):
    """0.0001 to 1000 USD per million tokens, or exactly zero: catches 1e6-fold unit mistakes."""
    for key, field, value in all_prices(yaml.safe_load(path.read_text())["models"]):
        assert value == 0 or 0.0001 <= value <= 1000, (key, field, value)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_shipped_tables_hold_only_text_chat_models(path: Path):
    odd = re.compile(
        r"embed|tts|whisper|transcri|realtime|image|moderation|dall-e|sora|audio|^ft:|^(us|eu|apac|global)\.|^azure"
    )
    models = yaml.safe_load(path.read_text())["models"]
    if path.stem == "openrouter":
        # OpenRouter's models are chosen by output modality: one that writes text besides images
        # or audio (google/gemini-2.5-flash-image, openai/gpt-audio) is kept, as an import keeps it
        odd = re.compile(odd.pattern.replace("|image", "").replace("|audio", ""))
    assert not [key for key in models if odd.search(key)]
    if path.stem != "openrouter":
        assert not [key for key in models if "/" in key]
    for entry in models.values():
        assert "input" in entry and "output" in entry
        tiers = entry.get("tiers", [])
        thresholds = [tier["above_input_tokens"] for tier in tiers]
        assert thresholds == sorted(set(thresholds))


def test_shipped_anthropic_prices():
    models = shipped("anthropic")
    assert models["claude-sonnet-4-6"] == {
        "input": 3.0,
        "output": 15.0,
        "cache_read": 0.3,
        "cache_write": 3.75,
        "cache_write_1h": 6.0,
    }
    assert models["claude-haiku-4-5"]["input"] == 1.0 and models["claude-haiku-4-5"]["output"] == 5.0
    for opus in ("claude-opus-4-5", "claude-opus-4-6", "claude-opus-4-7"):
        assert (models[opus]["input"], models[opus]["output"]) == (5.0, 25.0)
        assert (models[opus]["cache_read"], models[opus]["cache_write"]) == (0.5, 6.25)


def test_shipped_openai_prices():
    models = shipped("openai")
    assert models["gpt-4o"] == {"input": 2.5, "output": 10.0, "cache_read": 1.25}
    assert models["gpt-4o-mini"] == {"input": 0.15, "output": 0.6, "cache_read": 0.075}
    assert (models["gpt-5"]["input"], models["gpt-5"]["output"]) == (1.25, 10.0)
    assert models["gpt-5"]["cache_read"] == 0.125
    assert models["gpt-5.5"]["tiers"] == [
        {"above_input_tokens": 272000, "input": 10.0, "output": 45.0, "cache_read": 1.0}
    ]


def test_shipped_xai_prices():
    models = shipped("xai")
    assert models["grok-4.20"] == {
        "input": 1.25,
        "output": 2.5,
        "cache_read": 0.2,
        "tiers": [{"above_input_tokens": 200000, "input": 2.5, "output": 5.0, "cache_read": 0.4}],
    }
    assert "grok-code-fast-1" in models


def test_shipped_openrouter_table_follows_the_key_rule():
    models = shipped("openrouter")
    if not models:
        pytest.skip("pricing/openrouter.yaml is empty: the LiteLLM snapshot has no openrouter entry")
    direct = set(shipped("anthropic")) | set(shipped("openai")) | set(shipped("xai"))
    for key, entry in models.items():
        assert ("id" in entry) == (key in direct), key
        if "id" in entry:
            assert "/" in entry["id"] and "/" not in key
    sonnet = models["claude-sonnet-4-6"]
    assert sonnet["id"] == "anthropic/claude-sonnet-4.6"
    assert (sonnet["input"], sonnet["output"]) == (3.0, 15.0)
