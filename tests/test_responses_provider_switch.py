"""A Codex conversation that changes provider mid-way (a pin changed, a fallback): the reasoning
items Claude's turns left in the history must not leak into a Chat Completions upstream, which
refuses unknown message fields (the fake validates as strictly as the real API)."""

from __future__ import annotations

import openai

from tests.fakes.upstream import Reply, openai_completion
from tests.gateway_proc import Gateway
from tests.test_responses_route import rgw as _shared_gateway

rgw = _shared_gateway  # the gateway of tests/test_responses_route.py (module-scoped fixture)

CLAUDE_TURN = [
    {"type": "message", "role": "user", "content": "List the files."},
    {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "ls first"}],
     "encrypted_content": "ekai.anthropic.EqQBCkYIBxgCKkDsig"},
    {"type": "function_call", "call_id": "toolu_1", "name": "exec_command", "arguments": '{"cmd":"ls"}'},
    {"type": "function_call_output", "call_id": "toolu_1", "output": "a.txt"},
]
EXEC = {"type": "function", "name": "exec_command", "parameters": {"type": "object"}, "strict": False}


def test_claude_reasoning_in_history_does_not_reach_a_chat_upstream(rgw: Gateway, fake) -> None:
    fake.queue(Reply(json=openai_completion("grok-4", "One file: a.txt."), provider="xai"))
    client = openai.OpenAI(base_url=rgw.url + "/v1", api_key="k", max_retries=0)
    reply = client.responses.create(model="grok-4", input=CLAUDE_TURN, tools=[EXEC])
    assert reply.output_text == "One file: a.txt."
    sent = fake.last("xai").body
    assistant = next(m for m in sent["messages"] if m["role"] == "assistant")
    assert "thinking_blocks" not in assistant and assistant["tool_calls"][0]["id"] == "toolu_1"
