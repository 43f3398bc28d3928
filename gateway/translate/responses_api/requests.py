"""Request translation between the Responses API and Chat Completions (stub)."""

from __future__ import annotations

from typing import Any


def responses_to_chat_request(body: dict[str, Any], *, model: str) -> dict[str, Any]:
    """A Responses request -> a Chat Completions request for ``model`` (raises TranslationError)."""
    raise NotImplementedError


def chat_to_responses_request(body: dict[str, Any], *, model: str) -> dict[str, Any]:
    """A Chat Completions request -> a Responses request for ``model`` (raises TranslationError)."""
    raise NotImplementedError
