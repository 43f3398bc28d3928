"""Request translation between the Responses API and Chat Completions, both directions.

* :func:`responses_to_chat_request`, a Responses client -> a Chat upstream (and Claude through
  Chat): rules in :mod:`.request_to_chat`.
* :func:`chat_to_responses_request`, a Chat client -> a Responses-only upstream: rules in
  :mod:`.request_to_responses`.
"""

from __future__ import annotations

from gateway.translate.responses_api.request_to_chat import responses_to_chat_request
from gateway.translate.responses_api.request_to_responses import chat_to_responses_request

__all__ = ["chat_to_responses_request", "responses_to_chat_request"]
