"""The count_tokens estimate for non-Anthropic models (gateway/translate/count.py)."""

from __future__ import annotations

from gateway.translate import estimate_input_tokens
from gateway.translate.count import (
    DOCUMENT_TOKENS,
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD,
    REQUEST_OVERHEAD,
    TOOLS_SYSTEM_PROMPT,
)


def body(**extra: object) -> dict[str, object]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 400}], **extra}


def test_text_is_bytes_over_four() -> None:
    assert estimate_input_tokens(body()) == REQUEST_OVERHEAD + MESSAGE_OVERHEAD + 100


def test_non_latin_text_is_not_undercounted() -> None:
    cjk = estimate_input_tokens({"messages": [{"role": "user", "content": "漢" * 100}]})
    ascii_ = estimate_input_tokens({"messages": [{"role": "user", "content": "a" * 100}]})
    assert cjk - ascii_ == 75 - 25  # 300 bytes vs 100 bytes


def test_system_tools_images_and_documents_count() -> None:
    base = estimate_input_tokens(body())
    assert estimate_input_tokens(body(system="y" * 40)) == base + 10
    assert estimate_input_tokens(body(system=[{"type": "text", "text": "y" * 40}])) == base + 10
    with_tool = estimate_input_tokens(body(tools=[{"name": "t", "description": "d" * 400,
                                                   "input_schema": {"type": "object"}}]))
    assert with_tool > base + TOOLS_SYSTEM_PROMPT + 100
    image = {"role": "user", "content": [{"type": "image", "source": {
        "type": "base64", "media_type": "image/png", "data": "A" * 100_000}}]}
    assert estimate_input_tokens({"messages": [image]}) == (
        REQUEST_OVERHEAD + MESSAGE_OVERHEAD + IMAGE_TOKENS)
    pdf = {"role": "user", "content": [{"type": "document", "source": {
        "type": "base64", "media_type": "application/pdf", "data": "JVBER"}}]}
    assert estimate_input_tokens({"messages": [pdf]}) == (
        REQUEST_OVERHEAD + MESSAGE_OVERHEAD + DOCUMENT_TOKENS)


def test_tool_use_and_results_count() -> None:
    messages = [{"role": "user", "content": "go"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "ls",
                                                   "input": {"path": "p" * 80}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                                              "content": [{"type": "text", "text": "r" * 400}]}]}]
    estimate = estimate_input_tokens({"messages": messages})
    assert estimate >= REQUEST_OVERHEAD + 3 * MESSAGE_OVERHEAD + 1 + 20 + 100


def test_junk_does_not_crash() -> None:
    assert estimate_input_tokens({}) == REQUEST_OVERHEAD
    assert estimate_input_tokens({"messages": "nope", "tools": None, "system": 5}) >= 0
