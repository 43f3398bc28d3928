"""`x-ekai-conversation`: one conversation carried on by OpenAI-SDK and Anthropic-SDK clients,
across models and providers, through the real gateway. Each fake checks the replayed history
strictly, in its own format, as the real API would (tool calls and results included)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.conftest import KEYS, write_config
from tests.fakes.builders import anthropic_events
from tests.fakes.upstream import FakeUpstream, Reply, anthropic_message, openai_completion, wait_for
from tests.gateway_proc import Gateway

ALICE, BOB = "gw-alice-key-0001", "gw-bob-key-0002"
AUTH = "auth: {keys: {alice: ALICE_GW_KEY, bob: BOB_GW_KEY}}"
ENV = {**KEYS, "ALICE_GW_KEY": ALICE, "BOB_GW_KEY": BOB}
HEADER = "x-ekai-conversation"
WEATHER_OPENAI = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
WEATHER_ANTHROPIC = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("conversations")


@pytest.fixture(scope="module")
def cgw(fake: FakeUpstream, folder: Path) -> Iterator[Gateway]:
    write_config(folder, fake, extra=AUTH)
    gateway = Gateway(folder, env=ENV).start()
    yield gateway
    gateway.stop()


def oai(gw: Gateway, conversation: str, key: str = ALICE) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=gw.url + "/v1", api_key=key, max_retries=0, default_headers={HEADER: conversation}
    )


def ant(gw: Gateway, conversation: str, key: str = ALICE) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=gw.url, api_key=key, max_retries=0, default_headers={HEADER: conversation}
    )


def tool_use_message(model: str) -> dict:
    msg = anthropic_message(model)
    msg["content"] = [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_01Paris", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    msg["stop_reason"] = "tool_use"
    return msg


def test_three_turns_across_clients_models_and_a_tool_call(cgw, fake):
    # turn 1: an OpenAI-SDK script on GPT
    fake.queue(Reply(json=openai_completion("gpt-4o-mini", "Paris is lovely."), provider="openai"))
    first = oai(cgw, "trip-1").chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Plan a trip to Paris."},
        ],
    )
    assert first.choices[0].message.content == "Paris is lovely."
    assert fake.last("openai").body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Plan a trip to Paris."},
    ]
    assert HEADER not in fake.last("openai").headers  # never forwarded upstream

    # turn 2: an Anthropic-SDK script on Claude, which calls a tool
    fake.queue(Reply(json=tool_use_message("claude-sonnet-4-6"), provider="anthropic"))
    second = ant(cgw, "trip-1").messages.create(
        model="claude-sonnet-4-6",
        max_tokens=512,
        tools=WEATHER_ANTHROPIC,
        messages=[{"role": "user", "content": "What's the weather there?"}],
    )
    assert second.stop_reason == "tool_use"
    sent = fake.last("anthropic").body
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Plan a trip to Paris."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Paris is lovely."}]},
        {"role": "user", "content": "What's the weather there?"},
    ]
    assert "system" not in sent  # turn 1's system prompt is turn 1's own

    # turn 3: the OpenAI script answers the tool call, on Grok (another provider, another model)
    fake.queue(Reply(json=openai_completion("grok-4", "It is sunny in Paris."), provider="xai"))
    third = oai(cgw, "trip-1").chat.completions.create(
        model="grok-4",
        tools=WEATHER_OPENAI,
        messages=[{"role": "tool", "tool_call_id": "toolu_01Paris", "content": "sunny, 24C"}],
    )
    assert third.choices[0].message.content == "It is sunny in Paris."
    messages = fake.last("xai").body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "tool"]
    call = messages[3]["tool_calls"][0]
    assert call["id"] == "toolu_01Paris" and call["function"]["name"] == "get_weather"
    assert call["function"]["arguments"] == '{"city": "Paris"}' or '"Paris"' in call["function"]["arguments"]
    assert messages[3]["content"] == "Let me check."
    assert messages[4] == {"role": "tool", "tool_call_id": "toolu_01Paris", "content": "sunny, 24C"}

    # turn 4: back to the Anthropic script on Claude: the tool call and result in Messages form
    fake.queue(Reply(json=anthropic_message("claude-sonnet-4-6", "Enjoy!"), provider="anthropic"))
    ant(cgw, "trip-1").messages.create(
        model="claude-sonnet-4-6",
        max_tokens=512,
        tools=WEATHER_ANTHROPIC,
        messages=[{"role": "user", "content": "Thanks!"}],
    )
    sent = fake.last("anthropic").body["messages"]
    assert [m["role"] for m in sent] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    tool_use = [b for b in sent[3]["content"] if b["type"] == "tool_use"]
    assert tool_use == [
        {"type": "tool_use", "id": "toolu_01Paris", "name": "get_weather", "input": {"city": "Paris"}}
    ]
    result = sent[4]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "toolu_01Paris"
    assert "sunny, 24C" in str(result["content"])
    assert sent[5]["content"] == [{"type": "text", "text": "It is sunny in Paris."}]

    # the usage rows count what was sent and name the conversation
    wait_for(lambda: len(cgw.rows("conversation_id = 'trip-1'")) == 4)
    rows = cgw.rows("conversation_id = 'trip-1'")
    assert [r["api_key_name"] for r in rows] == ["alice"] * 4 and all(r["status"] == 200 for r in rows)
    # tokens are what the provider reported for the whole request, history included
    assert rows[3]["input_tokens"] == 1200 and rows[3]["cache_read_tokens"] == 5000


def test_streamed_turns_are_stored_too(cgw, fake):
    fake.queue(
        Reply(
            events=anthropic_events(
                [{"type": "text", "text": "Streamed answer."}], model="claude-sonnet-4-6"
            ),
            provider="anthropic",
        )
    )
    with oai(cgw, "stream-1").chat.completions.create(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": "Stream please."}], stream=True
    ) as stream:
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Streamed answer."
    ant(cgw, "stream-1").messages.create(
        model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "And then?"}]
    )
    sent = fake.last("anthropic").body["messages"]
    assert sent[:2] == [
        {"role": "user", "content": [{"type": "text", "text": "Stream please."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Streamed answer."}]},
    ]


def test_a_responses_client_joins_the_conversation(cgw, fake):
    ant(cgw, "mixed-1").messages.create(
        model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "Hello Claude."}]
    )
    oai(cgw, "mixed-1").responses.create(model="gpt-4o-mini", input="Hello GPT.", store=False)
    body = fake.last("openai").body
    assert "input" in body or "messages" in body
    turns = body.get("input") or body.get("messages")
    assert "Hello Claude." in str(turns[0]) and "Hello from the fake." in str(turns[1])
    assert "Hello GPT." in str(turns[2])


def test_another_key_gets_a_404_in_its_own_shape(cgw, fake):
    oai(cgw, "alice-only").chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "My secret is 42."}]
    )
    calls = len(fake.seen)
    with pytest.raises(anthropic.NotFoundError) as err:
        ant(cgw, "alice-only", BOB).messages.create(
            model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "What is it?"}]
        )
    assert "42" not in str(err.value.body)
    with pytest.raises(openai.NotFoundError):
        oai(cgw, "alice-only", BOB).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "What is it?"}]
        )
    assert len(fake.seen) == calls


def test_bad_conversation_ids_are_a_400(cgw, fake):
    for bad in ("", "has space", "x" * 129, "../etc"):
        resp = httpx.post(
            cgw.url + "/v1/chat/completions",
            headers={"authorization": f"Bearer {ALICE}", HEADER: bad},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert resp.status_code == 400, bad
        assert resp.json()["error"]["param"] == HEADER
    assert fake.seen == []


def test_concurrent_appends_keep_every_turn_in_order(cgw, fake):
    n = 6
    errors: list[BaseException] = []

    def client_run(name: str) -> None:
        try:
            sdk = oai(cgw, "race-1")
            for i in range(n):
                sdk.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": f"{name} turn {i}"}]
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client_run, args=(name,)) for name in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    out = ekai(cgw, "conversations", "show", "race-1")
    import json

    items = [json.loads(line) for line in out.splitlines()]
    assert len(items) == 4 * n
    users = [i["content"][0]["text"] for i in items[0::2]]
    assert all(i["role"] == "user" for i in items[0::2]) and all(
        i["role"] == "assistant" for i in items[1::2]
    )
    for name in ("A", "B"):  # each client's turns all there, in its own order
        assert [u for u in users if u.startswith(name)] == [f"{name} turn {i}" for i in range(n)]


def ekai(gw: Gateway, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args, "--config", str(gw.folder / "ekai.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_cli_lists_shows_and_deletes(cgw, fake):
    oai(cgw, "cli-1").chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "For the CLI."}]
    )
    listing = ekai(cgw, "conversations", "list")
    line = next(ln for ln in listing.splitlines() if ln.startswith("cli-1 "))
    assert "alice" in line and line.split()[2] == "2"
    assert "For the CLI." in ekai(cgw, "conversations", "show", "cli-1")
    ekai(cgw, "conversations", "delete", "cli-1")
    assert "cli-1 " not in ekai(cgw, "conversations", "list")
    # deleted: the next turn starts afresh
    oai(cgw, "cli-1").chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "New."}]
    )
    assert fake.last("openai").body["messages"] == [{"role": "user", "content": "New."}]


def test_streamed_turns_through_every_upstream_format(cgw, fake):
    # a Messages client streaming from a Chat Completions provider (GPT)
    with ant(cgw, "stream-2").messages.stream(
        model="gpt-4o-mini", max_tokens=100, messages=[{"role": "user", "content": "One."}]
    ) as stream:
        assert stream.get_final_text() == "Hello from the fake."
    # a Responses client streaming from a Responses provider (passthrough), store off
    with oai(cgw, "stream-2").responses.stream(model="gpt-4o-mini", input="Two.", store=False) as stream:
        assert stream.get_final_response().output_text == "Hello from the fake."
    sent = fake.last("openai").body["input"]
    assert [(i["role"], _text(i["content"])) for i in sent] == [
        ("user", "One."),
        ("assistant", "Hello from the fake."),
        ("user", "Two."),
    ]
    # a Chat client on Claude sees all four turns
    oai(cgw, "stream-2").chat.completions.create(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": "Three."}]
    )
    sent = fake.last("anthropic").body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user", "assistant", "user"]
    assert sent[3]["content"] == [{"type": "text", "text": "Hello from the fake."}]


def _text(content: object) -> str:
    return content if isinstance(content, str) else content[0]["text"]  # type: ignore[index]


def test_a_conversation_and_a_previous_response_id_together_is_a_400(cgw, fake):
    with pytest.raises(openai.BadRequestError) as err:
        oai(cgw, "both-1").responses.create(model="gpt-4o-mini", input="hi", previous_response_id="resp_x")
    assert err.value.body["param"] == "previous_response_id"
    assert fake.seen == []


def test_usage_groups_and_filters_by_conversation(cgw, fake):
    for text in ("one", "two"):
        oai(cgw, "costly-1").chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
        )
    oai(cgw, "cheap-1").chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
    )
    auth = {"authorization": f"Bearer {ALICE}"}

    def costly() -> dict:
        return httpx.get(cgw.url + "/usage?conversation=costly-1", headers=auth).json()["totals"]

    wait_for(lambda: costly()["requests"] == 2)
    rows = cgw.rows("conversation_id = 'costly-1'")
    assert costly()["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in rows))
    grouped = httpx.get(cgw.url + "/usage?group_by=conversation", headers=auth).json()["by_conversation"]
    by_id = {g["conversation_id"]: g for g in grouped}
    assert by_id["costly-1"]["requests"] == 2 and by_id["cheap-1"]["requests"] == 1
