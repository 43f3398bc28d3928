"""What one proxied request does with stored conversations: the hook in gateway.proxy.

`prepare()` runs before the upstream call. It returns None (and costs a header lookup) for a
Chat Completions or Messages request without `x-ekai-conversation`, and for a Responses request
that neither stores (`store: false`, what Codex sends) nor continues (`previous_response_id`).
Otherwise it returns a `Plan`:

- `x-ekai-conversation: ID` loads the conversation's turns (another key's: 404) and prepends
  them to the request in the client's own format (gateway.conversations.items);
- `previous_response_id` loads that response and those it continued, and prepends their input
  and output items, except when the provider that will serve this turn is the OpenAI-family
  provider that stored the response itself (a Responses passthrough with `store` on): then the
  id goes upstream untouched and nothing is prepended. An id the gateway holds for another key
  is a 400 `previous_response_not_found`, as at OpenAI (never forwarded: the provider would
  answer with the content). An id the gateway has never held goes untouched to a provider
  serving the Responses API (it may hold it: a response created before the gateway was in
  front), and is that same 400 for a translated provider.

After the reply is complete (non-stream: before it is returned; stream: before the frames that
end it go out, so a client's next request always sees it) `Plan.save()` appends the new turn and
the reply to the conversation, and stores the response when `store` is on. Nothing of the
content is logged.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import orjson
from sanic import Request

from gateway import translate
from gateway.conversations import items as conv_items
from gateway.conversations.service import Conversations
from gateway.conversations.store import NotFound, StoredResponse
from gateway.errors import ClientError, GatewayError
from gateway.routing import Target
from gateway.translate import count

log = logging.getLogger("ekai.conversations")

HEADER = "x-ekai-conversation"
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class NotFoundError(GatewayError):
    status = 404


@dataclass
class Plan:
    fmt: str
    owner: str | None
    conversation_id: str | None
    store_response: bool
    previous_id: str | None
    new_items: list[dict[str, Any]]
    history: list[dict[str, Any]]
    expanded: dict[str, Any] | None = None
    expanded_raw: bytes | None = None
    native_provider: str | None = None  # holds previous_id itself
    history_tokens: int = 0
    saved: bool = False
    served_native: bool = False
    unknown_previous: bool = False  # an id the gateway never held: only a Responses provider may
    accumulator: conv_items.Accumulator | None = None
    relay: Any = None
    thread_id: str | None = None  # the usage row's conversation_id
    rec: Any = None  # the request's UsageRecord

    def body_for(
        self, body: dict[str, Any], raw: bytes, target: Target, wire: str
    ) -> tuple[dict[str, Any], bytes]:
        """The body to send to `target` (in the client's format) and its bytes."""
        self.served_native = False
        if self.unknown_previous:
            if wire != "responses":
                raise _not_found(str(self.previous_id))
            return body, raw
        if (
            self.native_provider is not None
            and target.provider.name == self.native_provider
            and wire == "responses"
        ):
            self.served_native = True
            return body, raw
        if self.expanded is None:
            return body, raw
        window = target.price.context_window if target.price is not None else None
        if window and self.history_tokens > window:
            raise ClientError(
                f"This conversation's history is about {self.history_tokens} tokens, more than "
                f"{target.upstream_model}'s context window of {window} tokens. Start a new "
                "conversation (delete this one with `ekai conversations delete ID`, or a stored "
                "response with DELETE /v1/responses/{id}) or send a shorter history yourself.",
                param="messages" if self.fmt != "responses" else "input",
                code="context_length_exceeded",
            )
        if self.expanded_raw is None:
            self.expanded_raw = orjson.dumps(self.expanded)
        return self.expanded, self.expanded_raw

    # --- after the reply ---

    def start_stream(self, wire: str, same_format: bool, relay: Any, model: str) -> None:
        if self.fmt == "responses" and not same_format:
            self.relay = relay  # the client's response id is the translating relay's
        else:
            self.accumulator = conv_items.Accumulator(wire, model)

    def observe(self, events: list[Any]) -> None:
        acc = self.accumulator
        if acc is not None:
            for ev in events:
                if ev.data is not None:
                    acc.feed(ev)

    def finish_stream(self) -> None:
        if self.accumulator is not None:
            self.accumulator.finish()

    def stream_response(self) -> dict[str, Any] | None:
        if self.relay is not None:
            return conv_items.relay_response(self.relay)
        if self.accumulator is not None:
            return self.accumulator.current
        return None

    async def save(
        self,
        conversations: Conversations,
        response: dict[str, Any] | None,
        target: Target,
        wire: str,
        same_format: bool,
        store_upstream: bool,
    ) -> None:
        """Append the turn and store the response (once; errors are logged, never the content)."""
        if self.saved or response is None:
            return
        self.saved = True
        if response.get("status") not in ("completed", "incomplete", None):
            return
        output = [o for o in response.get("output") or [] if isinstance(o, dict)]
        now = time.time()
        try:
            if self.conversation_id is not None:
                turn = conv_items.for_storage(self.new_items) + conv_items.for_storage(output)
                await conversations.call("append", self.conversation_id, self.owner, turn, now)
            if self.store_response and isinstance(response.get("id"), str):
                stored = StoredResponse(
                    id=response["id"],
                    owner=self.owner,
                    created=now,
                    # an id held elsewhere starts a new chain here (the provider holds the rest)
                    previous_response_id=None if self.unknown_previous else self.previous_id,
                    provider=target.provider.name,
                    native=wire == "responses" and same_format and store_upstream,
                    response=response,
                    input=conv_items.for_storage(self.new_items, keep_instructions=True),
                )
                await conversations.call("put_response", stored)
                if self.thread_id is None and self.rec is not None:  # the first of a chain
                    self.thread_id = self.rec.conversation_id = stored.id
        except NotFound:
            log.warning(
                "conversation %s changed owner while a request ran: turn not stored", self.conversation_id
            )
        except Exception:
            log.exception("storing a conversation turn failed")


def _not_found(previous: str) -> ClientError:
    return ClientError(
        f"Previous response with id {previous!r} not found.",
        param="previous_response_id",
        code="previous_response_not_found",
    )


def _bad(message: str, param: str, code: str = "invalid_value") -> ClientError:
    return ClientError(message, param=param, code=code)


async def prepare(request: Request, retention_days: float, body: dict[str, Any], fmt: str) -> Plan | None:
    """The plan for this request, or None when it neither stores nor continues anything."""
    header = request.headers.get(HEADER)
    if header is None and fmt != "responses":
        return None
    store_response = fmt == "responses" and body.get("store") is not False and retention_days > 0
    previous = body.get("previous_response_id") if fmt == "responses" else None
    if header is None and previous is None and not store_response:
        return None
    if header is None and previous is not None and retention_days <= 0:
        return None  # nothing is stored here: the provider's own store (or a clear 400) decides
    owner: str | None = getattr(request.ctx, "key_name", None)
    conversations: Conversations = request.app.ctx.conversations
    history: list[dict[str, Any]] = []
    native: str | None = None
    root: str | None = None  # the first response of a stored chain
    if header is not None:
        if retention_days <= 0:
            raise _bad(
                f"{HEADER} needs stored conversations, and this gateway stores none "
                "(conversations.retention_days is 0).",
                HEADER,
                "conversations_disabled",
            )
        if not ID_RE.fullmatch(header):
            raise _bad(
                f"{HEADER} must be 1 to 128 characters: letters, digits, '.', '_', ':' or '-', "
                "starting with a letter or digit.",
                HEADER,
            )
        if previous is not None:
            raise _bad(f"Send either previous_response_id or {HEADER}, not both.", "previous_response_id")
        try:
            history = await conversations.call("history", header, owner)
        except NotFound:
            raise NotFoundError(
                f"Conversation {header!r} not found.", param=HEADER, code="not_found"
            ) from None
    elif previous is not None:
        if not isinstance(previous, str) or not previous:
            raise _bad("previous_response_id must be a response id string.", "previous_response_id")
        try:
            chain: list[StoredResponse] = await conversations.call("response_chain", previous, owner)
        except NotFound:
            if await conversations.call("holds_response", previous):
                raise _not_found(previous) from None
            return Plan(
                fmt=fmt,
                owner=owner,
                conversation_id=None,
                store_response=store_response,
                previous_id=previous,
                new_items=conv_items.new_turn(fmt, body),
                history=[],
                unknown_previous=True,
            )
        for link in chain:
            history += link.input
            history += conv_items.for_storage(
                [o for o in link.response.get("output") or [] if isinstance(o, dict)]
            )
        root = chain[0].id
        if chain[-1].native:
            native = chain[-1].provider
    try:
        new_items = conv_items.new_turn(fmt, body)
        expanded = conv_items.with_history(fmt, body, history) if history else None
    except translate.TranslationError as exc:
        raise ClientError(
            f"The stored conversation cannot be replayed in this request's format: {exc}",
            param=getattr(exc, "param", None),
        ) from exc
    plan = Plan(
        fmt=fmt,
        owner=owner,
        conversation_id=header,
        store_response=store_response,
        previous_id=previous if isinstance(previous, str) else None,
        new_items=new_items,
        history=history,
        expanded=expanded,
        native_provider=native,
        thread_id=header or root,
    )
    if expanded is not None:
        plan.history_tokens = estimate_tokens(fmt, expanded)
    return plan


def estimate_tokens(fmt: str, body: dict[str, Any]) -> int:
    """gateway.translate.count's estimate: exact rules for a Messages body, its bytes-per-token
    rule over the JSON of the turns for the other formats."""
    if fmt == "anthropic":
        return count.estimate_input_tokens(body)
    turns = body.get("input") if fmt == "responses" else body.get("messages")
    return len(orjson.dumps(turns)) // count.BYTES_PER_TOKEN + count.REQUEST_OVERHEAD
