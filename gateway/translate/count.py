"""A token estimate for ``POST /v1/messages/count_tokens`` when the model is not Anthropic's.

Anthropic's count is free and exact, so the server forwards Anthropic models there. For other
providers there is no counting endpoint, and answering 404 breaks Claude Code (protocol.md §7),
so this module gives an estimate with the standard library only (tiktoken is not a dependency):

* text: UTF-8 bytes / 4, rounded up per piece. Four bytes per token is the usual rule for English
  with BPE tokenizers; counting bytes rather than characters keeps CJK and other non-Latin text
  (3 bytes per character, about one token each) from being undercounted fourfold.
* every message: 4 tokens of framing (role and separators, as in OpenAI's cookbook counting);
  the request itself: 3 tokens for the reply priming.
* tools: the JSON of each definition (name, description, schema) counted as text, 8 tokens of
  framing each, and a one-off 350 tokens for the tool-use system prompt providers add
  (Anthropic documents 346 for its own models).
* ``tool_use`` input and structured tool results: their JSON counted as text.
* images: a flat 1,600 tokens each, the most Anthropic charges for one image (about 1.15
  megapixels; larger images are scaled down to that). Documents (PDF): a flat 3,000 tokens, since
  the page count is not known without parsing the file.

The result is an estimate for context meters and budgeting, not for billing: billing uses the
usage the upstream reports.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.translate.common import as_dict, as_list

BYTES_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4
REQUEST_OVERHEAD = 3
TOOL_OVERHEAD = 8
TOOLS_SYSTEM_PROMPT = 350
IMAGE_TOKENS = 1600
DOCUMENT_TOKENS = 3000


def _text_tokens(text: str) -> int:
    if not text:
        return 0
    return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN)


def _json_tokens(value: object) -> int:
    return _text_tokens(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _block_tokens(block: object) -> int:
    if isinstance(block, str):
        return _text_tokens(block)
    block = as_dict(block)
    btype = block.get("type")
    if btype == "text":
        return _text_tokens(str(block.get("text") or ""))
    if btype == "image":
        return IMAGE_TOKENS
    if btype == "document":
        source = as_dict(block.get("source"))
        if source.get("type") == "text":
            return _text_tokens(str(source.get("data") or ""))
        return DOCUMENT_TOKENS
    if btype == "thinking":
        return _text_tokens(str(block.get("thinking") or ""))
    if btype in ("tool_use", "server_tool_use"):
        return _text_tokens(str(block.get("name") or "")) + _json_tokens(block.get("input"))
    if btype == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            return sum(_block_tokens(b) for b in content)
        return _text_tokens(str(content or ""))
    return _json_tokens(block)  # redacted thinking, search results...: their JSON as text


def _content_tokens(content: object) -> int:
    if isinstance(content, str):
        return _text_tokens(content)
    return sum(_block_tokens(b) for b in as_list(content))


def estimate_input_tokens(body: dict[str, Any]) -> int:
    """Estimated input tokens of an Anthropic count_tokens (or messages) body; see module doc."""
    total = REQUEST_OVERHEAD + _content_tokens(body.get("system"))
    for message in map(as_dict, as_list(body.get("messages"))):
        total += MESSAGE_OVERHEAD + _content_tokens(message.get("content"))
    tools = [as_dict(t) for t in as_list(body.get("tools"))]
    if tools:
        total += TOOLS_SYSTEM_PROMPT
        for tool in tools:
            definition = {
                k: tool.get(k)
                for k in ("name", "description", "input_schema", "type")
                if tool.get(k) is not None
            }
            total += TOOL_OVERHEAD + _json_tokens(definition)
    return total
