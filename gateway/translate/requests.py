"""Request translation in both directions (the rules live in the two modules imported here).

* :func:`openai_to_anthropic_request`, OpenAI client -> Anthropic upstream:
  :mod:`gateway.translate.request_to_anthropic`.
* :func:`anthropic_to_openai_request`, Anthropic client -> OpenAI-format upstream (OpenAI, xAI,
  OpenRouter, any compatible server): :mod:`gateway.translate.request_to_openai`.

:func:`strip_unsigned_thinking` is for the Anthropic -> Anthropic pass-through: it removes the
unsigned thinking blocks a client collected from OpenAI-format providers.

``DEFAULT_MAX_TOKENS`` and the per-model ceilings are in :mod:`gateway.translate.models`.
"""

from __future__ import annotations

from gateway.translate.models import DEFAULT_MAX_TOKENS, claude_limits
from gateway.translate.names import ToolNameMap
from gateway.translate.request_to_anthropic import (
    openai_to_anthropic_request,
    strip_unsigned_thinking,
)
from gateway.translate.request_to_openai import anthropic_to_openai_request

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "ToolNameMap",
    "anthropic_to_openai_request",
    "claude_limits",
    "openai_to_anthropic_request",
    "strip_unsigned_thinking",
]
