"""Streaming translation between the Responses API and Chat Completions (stub)."""

from __future__ import annotations

from typing import Any


class ChatToResponsesStream:
    """Chat Completions chunks in, Responses SSE events out."""

    def __init__(self, model: str, request: dict[str, Any]) -> None:
        self._model = model
        self._request = request

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        """Frames for one parsed upstream chunk."""
        raise NotImplementedError

    def finish(self) -> list[bytes]:
        """Frames for the end of the upstream stream."""
        raise NotImplementedError

    def error(self, message: str, kind: str = "api_error") -> list[bytes]:
        """A mid-stream failure (``kind``: an Anthropic error type, as in translate.streams)."""
        raise NotImplementedError


class ResponsesToChatStream:
    """Responses SSE events in, Chat Completions chunks out."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self._model = model
        self._include_usage = include_usage

    def feed(self, event: str | None, data: dict[str, Any]) -> list[bytes]:
        """Frames for one upstream event (``event`` None: ``data["type"]`` is used)."""
        raise NotImplementedError

    def finish(self) -> list[bytes]:
        """Frames for the end of the upstream stream."""
        raise NotImplementedError

    def error(self, message: str, kind: str = "api_error") -> list[bytes]:
        """A mid-stream failure (``kind``: an Anthropic error type, as in translate.streams)."""
        raise NotImplementedError
