"""Non-streaming reply translation between the Responses API and Chat Completions (stub)."""

from __future__ import annotations

from typing import Any


def chat_to_responses_response(
    data: dict[str, Any], *, model: str, request: dict[str, Any]
) -> dict[str, Any]:
    """A ``chat.completion`` -> a Responses ``response`` object (raises UpstreamError)."""
    raise NotImplementedError


def responses_to_chat_response(data: dict[str, Any], *, model: str) -> dict[str, Any]:
    """A Responses ``response`` object -> a ``chat.completion`` (raises UpstreamError)."""
    raise NotImplementedError
