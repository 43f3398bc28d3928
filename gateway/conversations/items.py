"""The neutral form of stored turns, and its conversion to and from each client format.

Stored turns are Responses API items (`message`, `function_call`, `function_call_output`,
`reasoning`, ...): the Responses format can hold what Chat Completions and Messages say, and the
existing translators go Responses <-> Chat and Chat <-> Messages, so composing them replays a
conversation in any client's own format, whichever format stored it.

Rules (each one a decision a newcomer should know):
- a client's system prompt / instructions / developer messages are NOT stored in a conversation:
  each request brings its own, and the gateway prepends only the turns;
- reasoning items are stored only when they carry `encrypted_content` (the only form another
  request can send back);
- items get ids when stored (`msg_...`, for `input_items` pagination); ids are removed on replay,
  since a provider asked with `store: false` refuses ids it never persisted.
"""

from __future__ import annotations

from typing import Any

from gateway import translate
from gateway.bridges import ComposedStream, _TranslatingRelay
from gateway.sse import SSEEvent
from gateway.translate import responses_api as rapi
from gateway.translate.responses_api.common import new_id

Item = dict[str, Any]

_PREFIX = {
    "message": "msg_",
    "function_call": "fc_",
    "function_call_output": "fco_",
    "custom_tool_call": "ctc_",
    "custom_tool_call_output": "ctco_",
    "reasoning": "rs_",
}
_INSTRUCTION_ROLES = ("system", "developer")


def _is_instruction(item: Item) -> bool:
    return item.get("type", "message") == "message" and item.get("role") in _INSTRUCTION_ROLES


def input_list(value: object) -> list[Item]:
    """A Responses `input` (string or item list) as an item list."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if isinstance(value, list):
        return [i for i in value if isinstance(i, dict)]
    return []


def for_storage(items: list[Item], *, keep_instructions: bool = False) -> list[Item]:
    """Items as stored: ids assigned, unusable reasoning and (for conversations) instructions left out."""
    out: list[Item] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "reasoning" and not item.get("encrypted_content"):
            continue
        if not keep_instructions and _is_instruction(item):
            continue
        stored = {"type": kind, **item}
        if kind == "message" and isinstance(stored.get("content"), str):  # as OpenAI lists it
            part = "output_text" if stored.get("role") == "assistant" else "input_text"
            stored["content"] = [{"type": part, "text": stored["content"]}]
        if not isinstance(stored.get("id"), str):
            stored["id"] = new_id(_PREFIX.get(kind, "item_"))
        out.append(stored)
    return out


def for_replay(items: list[Item]) -> list[Item]:
    """Stored items as input items for a new request: without the ids."""
    return [{k: v for k, v in item.items() if k != "id"} for item in items]


# --- a client's new turn -> items ---------------------------------------------------------------


def new_turn(fmt: str, body: dict[str, Any]) -> list[Item]:
    """What the client sends in this request (its own format), as Responses input items."""
    if fmt == "responses":
        return input_list(body.get("input"))
    model = str(body.get("model") or "model")
    if fmt == "anthropic":
        chat, _names = translate.anthropic_to_openai_request(
            {"model": model, "messages": body.get("messages") or [], "max_tokens": 1},
            model=model,
            provider="openai",
        )
        messages = chat["messages"]
    else:
        messages = body.get("messages") or []
    converted = rapi.chat_to_responses_request({"model": model, "messages": messages}, model=model)
    return [i for i in converted["input"] if not _is_instruction(i)]


# --- history -> a client's format ---------------------------------------------------------------


def with_history(fmt: str, body: dict[str, Any], history: list[Item]) -> dict[str, Any]:
    """`body` (the client's format) with the stored items prepended, in that same format.

    Raises translate.TranslationError when the history cannot be said in this format."""
    out = dict(body)
    out.pop("previous_response_id", None)
    if not history:
        return out
    items = for_replay(history)
    if fmt == "responses":
        out["input"] = items + input_list(body.get("input"))
        return out
    model = str(body.get("model") or "model")
    if fmt == "openai":
        chat = rapi.responses_to_chat_request(
            {"model": model, "input": items}, model=model, thinking_blocks=False
        )
        out["messages"] = chat["messages"] + list(body.get("messages") or [])
        return out
    chat = rapi.responses_to_chat_request({"model": model, "input": items}, model=model)
    messages = translate.openai_to_anthropic_request(
        {"model": model, "messages": chat["messages"], "max_tokens": 1}, model=model
    )["messages"]
    out["messages"] = messages + list(body.get("messages") or [])
    return out


# --- a reply -> a response object ---------------------------------------------------------------


def response_from_reply(wire: str, data: dict[str, Any], model: str) -> dict[str, Any] | None:
    """An upstream reply (non-stream, in the upstream's wire format) as a Responses response."""
    if wire == "responses":
        return data
    try:
        if wire == "anthropic":
            data = translate.anthropic_to_openai_response(data, model=model)
        out: dict[str, Any] = rapi.chat_to_responses_response(data, model=model, request={})
    except translate.UpstreamError:
        return None  # an error reply: nothing to store
    return out


class Accumulator:
    """Assembles a streamed upstream reply into a Responses response object, from the events the
    relay has already parsed (SSEEvent caches its JSON): Responses streams carry the whole
    response in their last event; Chat and Messages streams go through the existing translating
    state machines, whose frames are dropped and whose finished response is kept."""

    def __init__(self, wire: str, model: str) -> None:
        self.wire = wire
        self.response: dict[str, Any] | None = None
        self._machine: rapi.ChatToResponsesStream | None = None
        self._relay: _TranslatingRelay | None = None
        if wire != "responses":
            self._machine = rapi.ChatToResponsesStream(model, {})
            inner: Any = self._machine
            if wire == "anthropic":
                inner = ComposedStream(
                    translate.AnthropicToOpenAIStream(model=model, include_usage=True), self._machine
                )
            self._relay = _TranslatingRelay(inner, upstream=wire)

    def feed(self, ev: SSEEvent) -> None:
        if self._relay is not None:
            self._relay.feed(ev)
            return
        kind = ev.event
        if kind in ("response.completed", "response.incomplete") or (
            kind is None and ev.data and '"response.' in ev.data[:60]
        ):
            data = ev.json()
            if isinstance(data, dict) and data.get("type") in ("response.completed", "response.incomplete"):
                response = data.get("response")
                if isinstance(response, dict):
                    self.response = response

    @property
    def current(self) -> dict[str, Any] | None:
        """The assembled response once the stream's end has been seen (else None)."""
        if self._machine is not None:
            return self._machine.final
        return self.response

    def finish(self) -> dict[str, Any] | None:
        """The assembled response, or None when the stream did not end well."""
        if self._relay is not None and self._machine is not None:
            self._relay.finish()
            if self._relay.error:
                return None
            return self._machine.final
        return self.response


def relay_response(relay: Any) -> dict[str, Any] | None:
    """The response a translating Responses relay sent its client (its id is the client's)."""
    machine = getattr(relay, "machine", None)
    machine = getattr(machine, "second", machine)
    final = getattr(machine, "final", None)
    return final if isinstance(final, dict) else None
