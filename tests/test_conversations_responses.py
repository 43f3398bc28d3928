"""Stored responses through the real gateway, with the official `openai` SDK: `store` (default
true) keeps a response and its input, `previous_response_id` continues it on any provider (the
stored items replayed in the next provider's own format, or the id forwarded untouched to the
OpenAI provider that holds it), retrieve / input_items / delete, `store: false`, another key."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.conftest import KEYS, write_config
from tests.fakes.responses import function_call, message, response_events
from tests.fakes.upstream import FakeUpstream, Reply, anthropic_message
from tests.gateway_proc import Gateway
from tests.test_responses_route import providers_for

ALICE, BOB = "gw-alice-key-0001", "gw-bob-key-0002"
AUTH = "auth: {keys: {alice: ALICE_GW_KEY, bob: BOB_GW_KEY}}"


@pytest.fixture(scope="module")
def sgw(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("stored")
    write_config(folder, fake, extra=AUTH, providers=providers_for(fake))
    gateway = Gateway(folder, env={**KEYS, "ALICE_GW_KEY": ALICE, "BOB_GW_KEY": BOB}).start()
    yield gateway
    gateway.stop()


def client(gw: Gateway, key: str = ALICE) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def test_store_by_default_then_retrieve_list_and_delete_with_the_sdk(sgw, fake):
    sdk = client(sgw)
    created = sdk.responses.create(model="gpt-4o-mini", input="Remember the number 7.")
    assert fake.last("openai").body.get("store") is None  # the client's body went as it came
    got = sdk.responses.retrieve(created.id)
    assert got.id == created.id and got.output_text == "Hello from the fake."
    items = list(sdk.responses.input_items.list(created.id))
    assert [(i.type, i.role, i.content[0].text) for i in items] == [
        ("message", "user", "Remember the number 7.")
    ]
    sdk.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.delete(created.id)


def test_input_items_paginate_as_at_openai(sgw, fake):
    sdk = client(sgw)
    turns = [{"role": "user", "content": f"line {i}"} for i in range(5)]
    created = sdk.responses.create(model="gpt-4o-mini", input=turns)
    first = sdk.responses.input_items.list(created.id, limit=2)
    assert [i.content[0].text for i in first.data] == ["line 4", "line 3"]  # desc by default
    assert first.has_more is True and first.last_id == first.data[-1].id
    everything = [i.content[0].text for i in sdk.responses.input_items.list(created.id, limit=2)]
    assert everything == ["line 4", "line 3", "line 2", "line 1", "line 0"]  # auto-paged with `after`
    asc = sdk.responses.input_items.list(created.id, order="asc", limit=3)
    assert [i.content[0].text for i in asc.data] == ["line 0", "line 1", "line 2"] and asc.has_more
    last = sdk.responses.input_items.list(created.id, order="asc", after=asc.last_id)
    assert [i.content[0].text for i in last.data] == ["line 3", "line 4"] and last.has_more is False
    bad = httpx.get(
        f"{sgw.url}/v1/responses/{created.id}/input_items?limit=0",
        headers={"authorization": f"Bearer {ALICE}"},
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "limit"


def test_previous_response_id_across_providers_and_back(sgw, fake):
    sdk = client(sgw)
    # turn 1 on GPT, passed through to the OpenAI provider, which stores it too
    first = sdk.responses.create(model="gpt-4o-mini", input="My name is Ada.")
    # turn 2 on Claude: the gateway replays turn 1 as Messages
    fake.queue(Reply(json=anthropic_message("claude-sonnet-4-6", "Hi Ada."), provider="anthropic"))
    second = sdk.responses.create(
        model="claude-sonnet-4-6", input="What is my name?", previous_response_id=first.id
    )
    assert second.output_text == "Hi Ada."
    sent = fake.last("anthropic").body
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "My name is Ada."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello from the fake."}]},
        {"role": "user", "content": [{"type": "text", "text": "What is my name?"}]},
    ]
    # turn 3 back on GPT: turn 2 lives only in the gateway, so the whole history is replayed
    third = sdk.responses.create(model="gpt-4o-mini", input="Thanks.", previous_response_id=second.id)
    sent = fake.last("openai").body
    assert "previous_response_id" not in sent
    replayed = [(i.get("role"), str(i.get("content"))) for i in sent["input"]]
    assert [r for r, _ in replayed] == ["user", "assistant", "user", "assistant", "user"]
    assert "Hi Ada." in replayed[3][1] and "Thanks." in replayed[4][1]
    assert all("id" not in i for i in sent["input"])  # ids the provider never stored are not sent
    # turn 4 on GPT again: the OpenAI provider holds turn 3 itself: the id goes untouched
    sdk.responses.create(model="gpt-4o-mini", input="Bye.", previous_response_id=third.id)
    sent = fake.last("openai").body
    assert sent["previous_response_id"] == third.id and sent["input"] == "Bye."


def test_a_streamed_translated_response_is_stored_under_the_id_the_client_saw(sgw, fake):
    sdk = client(sgw)
    with sdk.responses.stream(model="claude-sonnet-4-6", input="Stream me.") as stream:
        final = stream.get_final_response()
    got = sdk.responses.retrieve(final.id)
    assert got.output_text == final.output_text == "Hello from the fake."
    # and it continues on a Chat Completions provider (Grok) with a function call in it
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}]
    fake.queue(
        Reply(
            events=response_events("gpt-4o-mini", [function_call("get_weather", "{}", "call_9")]),
            provider="openai",
        )
    )
    with sdk.responses.stream(
        model="gpt-4o-mini", input="Weather?", tools=tools, previous_response_id=final.id
    ) as stream:
        called = stream.get_final_response()
    assert called.output[0].type == "function_call"
    fake.queue(
        Reply(
            json={
                "id": "c1",
                "object": "chat.completion",
                "created": 1,
                "model": "grok-4",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Sunny."},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
            },
            provider="xai",
        )
    )
    done = sdk.responses.create(
        model="grok-4",
        input=[{"type": "function_call_output", "call_id": "call_9", "output": "sunny"}],
        tools=tools,
        previous_response_id=called.id,
    )
    assert done.output_text == "Sunny."
    messages = fake.last("xai").body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "tool"]
    assert messages[3]["tool_calls"][0]["id"] == "call_9" and messages[4]["tool_call_id"] == "call_9"


def test_store_false_stores_nothing(sgw, fake):
    sdk = client(sgw)
    created = sdk.responses.create(model="gpt-4o-mini", input="Forget me.", store=False)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(created.id)
    with pytest.raises(openai.BadRequestError) as err:
        sdk.responses.create(model="claude-sonnet-4-6", input="again", previous_response_id=created.id)
    assert err.value.code == "previous_response_not_found"


def test_another_key_sees_nothing(sgw, fake):
    mine = client(sgw).responses.create(model="gpt-4o-mini", input="Alice's secret.")
    theirs = client(sgw, BOB)
    with pytest.raises(openai.NotFoundError) as err:
        theirs.responses.retrieve(mine.id)
    assert "secret" not in str(err.value.body)
    with pytest.raises(openai.NotFoundError):
        list(theirs.responses.input_items.list(mine.id))
    with pytest.raises(openai.NotFoundError):
        theirs.responses.delete(mine.id)
    calls = len(fake.seen)
    with pytest.raises(openai.BadRequestError) as bad:
        theirs.responses.create(model="gpt-4o-mini", input="go on", previous_response_id=mine.id)
    assert bad.value.code == "previous_response_not_found"
    assert len(fake.seen) == calls  # never forwarded to the provider that holds it
    assert client(sgw).responses.retrieve(mine.id).id == mine.id  # still Alice's


def test_unknown_previous_response_id_is_a_clear_400_on_a_translated_provider(sgw, fake):
    with pytest.raises(openai.BadRequestError) as err:
        client(sgw).responses.create(model="claude-sonnet-4-6", input="hi", previous_response_id="resp_nope")
    assert err.value.code == "previous_response_not_found" and "resp_nope" in err.value.message
    assert fake.seen == []
    # an id the gateway never held goes to a Responses provider untouched: it may hold it
    client(sgw).responses.create(model="gpt-4o-mini", input="hi", previous_response_id="resp_elsewhere")
    assert fake.last("openai").body["previous_response_id"] == "resp_elsewhere"


def test_a_response_with_a_reasoning_item_replays_on_claude(sgw, fake):
    items = [message("Done.")]
    fake.queue(Reply(events=response_events("gpt-4o-mini", items), provider="openai"))
    with client(sgw).responses.stream(model="gpt-4o-mini", input="Go.") as stream:
        first = stream.get_final_response()
    client(sgw).responses.create(model="claude-sonnet-4-6", input="More.", previous_response_id=first.id)
    assert "Done." in str(fake.last("anthropic").body["messages"])


def test_routes_without_the_v1_prefix(sgw, fake):
    created = client(sgw).responses.create(model="gpt-4o-mini", input="no v1")
    auth = {"authorization": f"Bearer {ALICE}"}
    assert httpx.get(f"{sgw.url}/responses/{created.id}", headers=auth).json()["id"] == created.id
    items = httpx.get(f"{sgw.url}/responses/{created.id}/input_items", headers=auth).json()
    assert items["object"] == "list" and items["data"][0]["role"] == "user"
    assert httpx.delete(f"{sgw.url}/responses/{created.id}", headers=auth).json()["deleted"] is True
    assert httpx.get(f"{sgw.url}/responses/{created.id}", headers=auth).status_code == 404
