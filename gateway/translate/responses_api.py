"""STUB until branch responses-translate lands (its version replaces this file on merge)."""

from __future__ import annotations

from typing import Any


def responses_to_chat_request(body: dict[str, Any], *, model: str) -> dict[str, Any]:
    raise NotImplementedError


def chat_to_responses_response(data: dict[str, Any], *, model: str, request: dict[str, Any]) -> dict[str, Any]:
    raise NotImplementedError


class ChatToResponsesStream:
    def __init__(self, model: str, request: dict[str, Any]) -> None:
        raise NotImplementedError

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        raise NotImplementedError

    def finish(self) -> list[bytes]:
        raise NotImplementedError

    def error(self, message: str, kind: str = "server_error") -> list[bytes]:
        raise NotImplementedError


def chat_to_responses_request(body: dict[str, Any], *, model: str) -> dict[str, Any]:
    raise NotImplementedError


def responses_to_chat_response(data: dict[str, Any], *, model: str) -> dict[str, Any]:
    raise NotImplementedError


class ResponsesToChatStream:
    def __init__(self, model: str, include_usage: bool) -> None:
        raise NotImplementedError

    def feed(self, event: str | None, data: dict[str, Any]) -> list[bytes]:
        raise NotImplementedError

    def finish(self) -> list[bytes]:
        raise NotImplementedError

    def error(self, message: str, kind: str = "server_error") -> list[bytes]:
        raise NotImplementedError
