"""Error bodies carried across formats (protocol.md §5), read back by the official SDKs."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.translate import (
    TranslationError,
    anthropic_error_to_openai,
    openai_error_to_anthropic,
)
from tests.fakes.sdk import anthropic_client, openai_client

OPENAI_TO_ANTHROPIC: list[tuple[int, Any, str, str, str]] = [
    (400, {"error": {"message": "Invalid 'messages[1]'", "type": "invalid_request_error",
                     "param": "messages[1]", "code": None}}, "", "invalid_request_error",
     "Invalid 'messages[1]'"),
    (401, {"error": {"message": "Incorrect API key", "code": "invalid_api_key"}}, "",
     "authentication_error", "Incorrect API key"),
    (402, {"error": {"code": 402, "message": "Insufficient credits", "metadata": {}}}, "",
     "billing_error", "Insufficient credits"),
    (403, {"error": {"message": "Forbidden"}}, "", "permission_error", "Forbidden"),
    (404, {"error": {"message": "The model `x` does not exist", "code": "model_not_found"}}, "",
     "not_found_error", "The model `x` does not exist"),
    (413, None, "Request Entity Too Large", "request_too_large", "Request Entity Too Large"),
    (429, {"error": {"message": "Rate limit reached", "type": "requests",
                     "code": "rate_limit_exceeded"}}, "", "rate_limit_error",
     "Rate limit reached"),
    (500, None, "<html>Internal Server Error</html>", "api_error",
     "<html>Internal Server Error</html>"),
    (502, {"error": {"code": 502, "message": "Provider returned error",
                     "metadata": {"raw": "upstream timeout", "provider_name": "X"}}}, "",
     "api_error", "Provider returned error (upstream timeout)"),
    (503, ["not", "a", "dict"], "busy", "api_error", "busy"),  # one error table: gateway.errors._TYPES
    (504, {"error": "Gateway Timeout"}, "", "timeout_error", "Gateway Timeout"),
    (529, {}, "", "overloaded_error", "Upstream returned HTTP 529"),
    (418, {"unexpected": True}, "teapot", "invalid_request_error", "teapot"),
]


@pytest.mark.parametrize(("status", "body", "text", "etype", "message"), OPENAI_TO_ANTHROPIC)
def test_openai_error_to_anthropic(status: int, body: Any, text: str, etype: str,
                                   message: str) -> None:
    out = openai_error_to_anthropic(status, body, text)
    assert out == {"type": "error", "error": {"type": etype, "message": message}}


ANTHROPIC_TO_OPENAI: list[tuple[int, Any, str, str, str | None, str]] = [
    (400, {"type": "error", "error": {"type": "invalid_request_error",
                                      "message": "messages.1.content: bad"}}, "",
     "invalid_request_error", None, "messages.1.content: bad"),
    (401, {"type": "error", "error": {"type": "authentication_error",
                                      "message": "invalid x-api-key"}}, "",
     "invalid_request_error", "invalid_api_key", "invalid x-api-key"),
    (404, {"type": "error", "error": {"type": "not_found_error", "message": "model: x"}}, "",
     "invalid_request_error", "model_not_found", "model: x"),
    (429, {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
     "", "rate_limit_exceeded", "rate_limit_exceeded", "slow down"),
    (500, {"type": "error", "error": {"type": "api_error", "message": "Internal"}}, "",
     "server_error", None, "Internal"),
    (529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
     "", "server_error", "overloaded", "Overloaded"),
    (500, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
     "", "server_error", "overloaded", "Overloaded"),
    (504, None, "", "timeout", "timeout", "Upstream returned HTTP 504"),
    (502, "junk", "bad gateway", "server_error", None, "bad gateway"),
    (402, {"type": "error", "error": {"type": "billing_error", "message": "No credit"}}, "",
     "insufficient_quota", "insufficient_quota", "No credit"),
]


@pytest.mark.parametrize(("status", "body", "text", "etype", "code", "message"),
                         ANTHROPIC_TO_OPENAI)
def test_anthropic_error_to_openai(status: int, body: Any, text: str, etype: str,
                                   code: str | None, message: str) -> None:
    out = anthropic_error_to_openai(status, body, text)
    assert out == {"error": {"message": message, "type": etype, "param": None, "code": code}}


def test_long_junk_text_is_trimmed() -> None:
    out = openai_error_to_anthropic(500, None, "x" * 10_000)
    assert len(out["error"]["message"]) < 2100


@pytest.mark.parametrize(("status", "exception"), [
    (400, anthropic.BadRequestError), (401, anthropic.AuthenticationError),
    (404, anthropic.NotFoundError), (429, anthropic.RateLimitError),
    (500, anthropic.InternalServerError), (529, anthropic.APIStatusError)])
def test_anthropic_sdk_reads_translated_errors(status: int,
                                               exception: type[Exception]) -> None:
    body = openai_error_to_anthropic(status, {"error": {"message": "boom"}}, "")
    client = anthropic_client(json.dumps(body).encode(), "application/json", status)
    with pytest.raises(exception) as info:
        client.messages.create(model="m", max_tokens=1, messages=[{"role": "user",
                                                                   "content": "x"}])
    assert "boom" in str(info.value)
    assert info.value.body == body  # type: ignore[attr-defined]


@pytest.mark.parametrize(("status", "exception"), [
    (400, openai.BadRequestError), (401, openai.AuthenticationError),
    (404, openai.NotFoundError), (429, openai.RateLimitError),
    (500, openai.InternalServerError), (529, openai.InternalServerError)])
def test_openai_sdk_reads_translated_errors(status: int, exception: type[Exception]) -> None:
    body = anthropic_error_to_openai(status, {"type": "error", "error": {
        "type": "api_error", "message": "boom"}}, "")
    client = openai_client(json.dumps(body).encode(), "application/json", status)
    with pytest.raises(exception) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert info.value.message.endswith("boom") or "boom" in str(info.value)  # type: ignore[attr-defined]
    assert info.value.type == body["error"]["type"]  # type: ignore[attr-defined]


def test_translation_error_bodies() -> None:
    error = TranslationError("n>1 is not supported for this model", "n")
    assert error.openai_body() == {"error": {
        "message": "n>1 is not supported for this model", "type": "invalid_request_error",
        "param": "n", "code": "unsupported_parameter"}}
    assert error.anthropic_body() == {"type": "error", "error": {
        "type": "invalid_request_error", "message": "n: n>1 is not supported for this model"}}


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from(["error", "message", "type", "code",
                                                        "metadata", "raw"]), inner, max_size=4),
                     max_leaves=12)


@given(status=st.integers(min_value=400, max_value=599), body=_json, text=st.text(max_size=30))
def test_error_translators_never_fail_on_junk(status: int, body: Any, text: str) -> None:
    to_anthropic = openai_error_to_anthropic(status, body, text)
    assert to_anthropic["type"] == "error"
    assert isinstance(to_anthropic["error"]["type"], str)
    assert isinstance(to_anthropic["error"]["message"], str) and to_anthropic["error"]["message"]
    to_openai = anthropic_error_to_openai(status, body, text)
    assert set(to_openai["error"]) == {"message", "type", "param", "code"}
    assert isinstance(to_openai["error"]["message"], str) and to_openai["error"]["message"]
