"""Translation between the OpenAI Chat Completions and Anthropic Messages wire formats.

Pure functions and small state machines over parsed JSON: no I/O, no server, no third-party
packages. The server calls them when the client's format differs from the upstream's (protocol.md:
same-format routes pass through and only fix parameters).

Modules:
    requests   request bodies, both directions (rules in request_to_anthropic / request_to_openai)
    responses  non-streaming responses, both directions
    streams    SSE stream state machines, both directions
    errors     TranslationError, UpstreamError, error bodies across formats
    usage      token usage and stop/finish reasons
    names      tool-call ids and tool names (ToolNameMap)
    models     per-model output ceilings, thinking kinds, reasoning-model detection
    count      a count_tokens estimate for non-Anthropic models
    responses_api  OpenAI Responses API <-> Chat Completions (Messages by composition through Chat)
"""

from gateway.translate.count import estimate_input_tokens
from gateway.translate.errors import (
    TranslationError,
    UpstreamError,
    anthropic_error_body,
    anthropic_error_to_openai,
    openai_error_body,
    openai_error_to_anthropic,
)
from gateway.translate.models import DEFAULT_MAX_TOKENS, claude_limits
from gateway.translate.names import ToolNameMap
from gateway.translate.requests import (
    anthropic_to_openai_request,
    openai_to_anthropic_request,
    strip_unsigned_thinking,
)
from gateway.translate.responses import anthropic_to_openai_response, openai_to_anthropic_response
from gateway.translate.responses_api import (
    ChatToResponsesStream,
    ResponsesToChatStream,
    chat_to_responses_request,
    chat_to_responses_response,
    responses_to_chat_request,
    responses_to_chat_response,
)
from gateway.translate.streams import AnthropicToOpenAIStream, OpenAIToAnthropicStream

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "AnthropicToOpenAIStream",
    "ChatToResponsesStream",
    "OpenAIToAnthropicStream",
    "ResponsesToChatStream",
    "ToolNameMap",
    "TranslationError",
    "UpstreamError",
    "anthropic_error_body",
    "anthropic_error_to_openai",
    "anthropic_to_openai_request",
    "anthropic_to_openai_response",
    "chat_to_responses_request",
    "chat_to_responses_response",
    "claude_limits",
    "estimate_input_tokens",
    "openai_error_body",
    "openai_error_to_anthropic",
    "openai_to_anthropic_request",
    "openai_to_anthropic_response",
    "responses_to_chat_request",
    "responses_to_chat_response",
    "strip_unsigned_thinking",
]
