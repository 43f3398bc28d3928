"""Translation between the OpenAI Responses API and OpenAI Chat Completions (stubs: in progress).

Direction A (a Responses client, a Chat Completions upstream; composed with the Chat <-> Messages
translators for Claude): :func:`responses_to_chat_request`, :func:`chat_to_responses_response`,
:class:`ChatToResponsesStream`.

Direction B (a Chat client, a Responses-only upstream): :func:`chat_to_responses_request`,
:func:`responses_to_chat_response`, :class:`ResponsesToChatStream`.
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
