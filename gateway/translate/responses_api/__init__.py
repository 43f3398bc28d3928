"""Translation between the OpenAI Responses API and OpenAI Chat Completions.

Pure functions and state machines over parsed JSON, like the rest of :mod:`gateway.translate`.
Chat Completions is the pivot: a Responses client reaches Claude through Chat (these
translators, then the Chat <-> Messages ones), and a Messages client reaches a Responses-only
model the same way in reverse.

Direction A, a Responses client and a Chat Completions upstream:
:func:`responses_to_chat_request` (:mod:`.request_to_chat`), :func:`chat_to_responses_response`
(:mod:`.replies`), :class:`ChatToResponsesStream` (:mod:`.streams`).

Direction B, a Chat client and a Responses-only upstream: :func:`chat_to_responses_request`
(:mod:`.request_to_responses`), :func:`responses_to_chat_response` (:mod:`.replies`),
:class:`ResponsesToChatStream` (:mod:`.streams`).

What both share (tool-name flattening for custom and namespace tools, the reasoning rule for
``encrypted_content`` minted from Claude signatures and back, usage and finish reasons) is in
:mod:`.common`; each module's docstring lists its rules.
"""

from gateway.translate.responses_api.replies import (
    chat_to_responses_response,
    responses_to_chat_response,
)
from gateway.translate.responses_api.requests import (
    chat_to_responses_request,
    responses_to_chat_request,
)
from gateway.translate.responses_api.streams import ChatToResponsesStream, ResponsesToChatStream

__all__ = [
    "ChatToResponsesStream",
    "ResponsesToChatStream",
    "chat_to_responses_request",
    "chat_to_responses_response",
    "responses_to_chat_request",
    "responses_to_chat_response",
]
