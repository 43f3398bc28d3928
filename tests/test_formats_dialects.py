"""The wire-format registry, one error table, one usage normaliser per format, provider dialects
as data: through the real gateway where it matters to a user, and the registry's own rules."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from gateway import bridges, formats
from gateway.config import ConfigError, load_config
from tests.conftest import KEYS, write_config
from tests.fakes.builders import openai_chunks
from tests.fakes.upstream import FakeUpstream, Reply
from tests.gateway_proc import Gateway


def oa(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0)


def an(gw: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)


def test_every_pair_of_formats_has_a_bridge():
    pairs = {(c, u) for c in formats.FORMATS for u in formats.FORMATS}
    assert pairs == set(bridges.BRIDGES)
    assert set(formats.FORMATS) == {"openai", "anthropic", "responses"}


# --- one error path -----------------------------------------------------------------------


def test_an_error_in_a_200_from_claude_is_an_upstream_error_not_a_500(gw, fake):
    """Anthropic can answer 200 with `{"type": "error"}`; an OpenAI client must see the error."""
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    fake.queue(Reply(json=body, provider="anthropic"))
    with pytest.raises(openai.APIStatusError) as info:
        oa(gw).chat.completions.create(
            model="claude-sonnet-4-6",
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-ekai-provider": "anthropic"},
        )
    assert info.value.status_code == 529
    assert info.value.body["message"] == "Overloaded" and info.value.body["code"] == "overloaded"
    row = gw.row(info.value.response.headers["x-request-id"])
    assert row["status"] == 529 and "Overloaded" in row["error"]


def test_a_translation_error_keeps_its_param_and_code(gw, fake):
    with pytest.raises(openai.BadRequestError) as info:
        oa(gw).chat.completions.create(
            model="claude-sonnet-4-6", n=2, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.body["param"] == "n"
    assert info.value.body["code"] == "unsupported_parameter"


# --- dialects -----------------------------------------------------------------------------

GROK_USAGE = {
    "prompt_tokens": 100,
    "completion_tokens": 10,
    "total_tokens": 160,
    "completion_tokens_details": {"reasoning_tokens": 50},
}
GROK_PRICES = """
provider: grok
unit: usd_per_million_tokens
models:
  grok-4-mine: {id: grok-4, input: 3.0, output: 15.0}
"""


@pytest.mark.parametrize(("dialect", "output"), [("dialect: xai", 60), ("", 10)])
def test_a_users_own_entry_gets_the_xai_billing_rule_by_setting_its_dialect(fake, tmp_path, dialect, output):
    extra = f", {dialect}" if dialect else ""
    providers = f"  grok: {{format: openai, base_url: {fake.base_url('xai', 'openai')}, api_key_env: XAI_API_KEY{extra}}}"
    write_config(tmp_path, fake, providers=providers)
    (tmp_path / "pricing" / "grok.yaml").write_text(GROK_PRICES)
    gateway = Gateway(tmp_path, env=KEYS).start()
    try:
        chunks = openai_chunks(text="42.", model="grok-4", usage=GROK_USAGE, usage_on_finish=True)
        fake.queue(Reply(events=[(None, c) for c in chunks] + [(None, "[DONE]")], provider="xai"))
        with an(gateway).messages.stream(
            model="grok-4-mine", max_tokens=100, messages=[{"role": "user", "content": "answer?"}]
        ) as stream:
            final = stream.get_final_message()
            request_id = stream.response.headers["x-request-id"]
        row = gateway.row(request_id)
        # the client's reply and the usage row agree: one normaliser
        assert final.usage.output_tokens == row["output_tokens"] == output
        assert row["cost_pico_usd"] == (100 * 3 + output * 15) * 10**6
    finally:
        gateway.stop()


def test_openrouter_reasoning_is_validated_as_openrouter(gw, fake):
    """The fake plays OpenRouter: its `reasoning` object is accepted, and checked as OpenRouter's."""
    chunks = openai_chunks(
        text="ok",
        model="anthropic/claude-sonnet-4.6",
        usage={"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    )
    fake.queue(Reply(events=[(None, c) for c in chunks] + [(None, "[DONE]")], provider="openrouter"))
    with an(gw).messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "think"}],
        extra_headers={"x-ekai-provider": "openrouter"},
    ) as stream:
        final = stream.get_final_message()
    assert final.content[-1].text == "ok"
    seen = fake.last("openrouter")
    assert seen.body["reasoning"] == {"max_tokens": 1024}
    assert "reasoning_effort" not in seen.body


def test_dialect_and_formats_are_validated_with_file_line_and_key(tmp_path, fake):
    providers = (
        "  mine: {format: openai, base_url: http://127.0.0.1:1/v1, dialect: grok}\n"
        "  claude2: {format: anthropic, base_url: http://127.0.0.1:1, responses: true}\n"
        "  odd: {format: gemini, base_url: http://127.0.0.1:1}"
    )
    write_config(tmp_path, fake, providers=providers)
    (tmp_path / "pricing" / "bad.yaml").write_text(
        "provider: openai\nunit: usd_per_million_tokens\nmodels:\n  m1: {input: 1, output: 2, format: chat}\n"
    )
    (tmp_path / "pricing" / "claude2.yaml").write_text(
        "provider: anthropic\nunit: usd_per_million_tokens\nmodels:\n  m2: {input: 1, output: 2, format: responses}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "ekai.yaml", env={})
    text = str(info.value)
    assert "claude2.yaml:4: models.m2.format: anthropic speaks Anthropic Messages" in text
    assert "ekai.yaml:" in text and "providers.mine.dialect: must be one of" in text
    assert "providers.claude2.responses" in text
    assert "providers.odd.format: must be 'openai', 'anthropic' or 'responses'" in text
    assert "bad.yaml:4: models.m1.format" in text


def test_default_providers_have_their_dialects(tmp_path, fake):
    (tmp_path / "ekai.yaml").write_text("pricing: {files: []}\n")
    cfg = load_config(tmp_path / "ekai.yaml", env={})
    got = {name: (p.dialect, p.responses) for name, p in cfg.providers.items()}
    assert got == {
        "anthropic": ("anthropic", False),
        "openai": ("openai", True),
        "xai": ("xai", True),
        "openrouter": ("openrouter", True),
    }


# --- count_tokens goes the proxy's way ------------------------------------------------------


def test_count_tokens_falls_back_and_is_recorded(fake: FakeUpstream, tmp_path):
    providers = "\n".join(
        [
            f"  anthropic: {{format: anthropic, base_url: {fake.base_url('anthropic', 'anthropic')}, api_key_env: ANTHROPIC_API_KEY}}",
            f"  backup: {{format: anthropic, base_url: {fake.base_url('backup', 'anthropic')}, api_key_env: ANTHROPIC_API_KEY}}",
        ]
    )
    write_config(tmp_path, fake, providers=providers)
    (tmp_path / "pricing" / "backup.yaml").write_text(
        "provider: backup\nunit: usd_per_million_tokens\nmodels:\n  claude-sonnet-4-6: {input: 3.0, output: 15.0}\n"
    )
    gateway = Gateway(tmp_path, env=KEYS).start()
    try:
        fake.queue(
            Reply(
                status=529,
                json={"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
                provider="anthropic",
            ),
            Reply(json={"input_tokens": 77}, provider="backup"),
        )
        resp = httpx.post(
            gateway.url + "/v1/messages/count_tokens",
            timeout=10,
            json={"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert resp.status_code == 200 and resp.json() == {"input_tokens": 77}
        assert resp.headers["x-ekai-provider"] == "backup"
        row = gateway.row(resp.headers["x-request-id"])
        assert row["provider"] == "backup" and row["attempts"] == "anthropic:529" and row["status"] == 200
        assert row["cost_pico_usd"] in (None, 0) and row["output_tokens"] == 0
        health = httpx.get(gateway.url + "/health").json()
        assert health["providers"]["anthropic"]["ready"] is True
    finally:
        gateway.stop()
