"""What the translators need to know about upstream models, kept in one small table.

Anthropic side (``claude_limits``): the output ceiling (``max_tokens`` above it is a 400) and the
kind of extended thinking the model takes. The table is matched by id prefix, so dated ids
(``claude-sonnet-4-5-20250929``) and aliases (``claude-sonnet-4-5``) resolve alike; OpenRouter-style
dots (``claude-sonnet-4.5``) are read as dashes. Values are Anthropic's published limits. A model
that is not in the table gets no clamp and a thinking kind guessed from its version: 4.6 and
later take adaptive thinking (budgets are deprecated there), earlier Claude 3.7+/4.x take budgets.
The server can override the ceiling per request (``max_tokens_limit=`` on the request
translator) from its config or from Anthropic's ``/v1/models``.

``DEFAULT_MAX_TOKENS`` (8192) is what an OpenAI client gets when it sends no limit at all, capped
by the model's ceiling (so claude-3-haiku gets 4096). Why not the ceiling itself, as OpenAI's own
"no limit" would suggest: Anthropic meters its output-tokens-per-minute rate limit from
``max_tokens`` up front, and a 64k reservation per request exhausts it quickly; and a long
non-streaming call risks idle-connection timeouts. Why not LiteLLM's 4096: it truncates ordinary
code answers. Clients that want more send ``max_completion_tokens``; values above the ceiling
are clamped rather than rejected.

OpenAI side (``is_openai_reasoning_model``, ``xai_reasoning_efforts``): reasoning models reject
``temperature``/``top_p``/``stop``/``max_tokens``, and only some models take ``reasoning_effort``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

DEFAULT_MAX_TOKENS = 8192

ThinkingKind = Literal["adaptive", "budget", "none"]


@dataclass(frozen=True)
class ClaudeLimits:
    """Output ceiling (None: unknown, no clamp) and thinking kind of one Claude model."""

    max_output: int | None
    thinking: ThinkingKind


# Longest prefix wins; order does not matter (the lookup sorts by length).
_CLAUDE: dict[str, ClaudeLimits] = {
    "claude-opus-4-6": ClaudeLimits(128_000, "adaptive"),
    "claude-sonnet-4-6": ClaudeLimits(64_000, "adaptive"),
    "claude-opus-4-5": ClaudeLimits(64_000, "budget"),
    "claude-sonnet-4-5": ClaudeLimits(64_000, "budget"),
    "claude-haiku-4-5": ClaudeLimits(64_000, "budget"),
    "claude-opus-4-1": ClaudeLimits(32_000, "budget"),
    "claude-opus-4": ClaudeLimits(32_000, "budget"),
    "claude-sonnet-4": ClaudeLimits(64_000, "budget"),
    "claude-3-7-sonnet": ClaudeLimits(64_000, "budget"),
    "claude-3-5-sonnet": ClaudeLimits(8_192, "none"),
    "claude-3-5-haiku": ClaudeLimits(8_192, "none"),
    "claude-3-opus": ClaudeLimits(4_096, "none"),
    "claude-3-haiku": ClaudeLimits(4_096, "none"),
}
_CLAUDE_PREFIXES = sorted(_CLAUDE, key=len, reverse=True)
_MINOR_RE = re.compile(r"^-?\d{1,2}(?!\d)")
_VERSION_RE = re.compile(r"claude-(?:[a-z]+-)?(\d+)-(\d+)")


def _normalize(model: str) -> str:
    return model.rsplit("/", 1)[-1].replace(".", "-").lower()


def claude_limits(model: str) -> ClaudeLimits:
    """Ceiling and thinking kind for an Anthropic model id (see the module docstring)."""
    name = _normalize(model)
    for prefix in _CLAUDE_PREFIXES:
        # "claude-opus-4" must not swallow "claude-opus-4-10"; a date suffix is fine.
        if name.startswith(prefix) and not _MINOR_RE.match(name[len(prefix) :]):
            return _CLAUDE[prefix]
    match = _VERSION_RE.search(name)
    if match and (int(match.group(1)), int(match.group(2))) >= (4, 6):
        return ClaudeLimits(None, "adaptive")
    return ClaudeLimits(None, "budget")


_OPENAI_REASONING_RE = re.compile(r"^(o\d|gpt-5|codex)")


def is_openai_reasoning_model(model: str) -> bool:
    """o-series and gpt-5 models: no temperature/top_p/stop, ``max_completion_tokens`` only."""
    name = model.rsplit("/", 1)[-1].lower()
    if name.startswith("gpt-5") and "chat" in name:
        return False  # gpt-5-chat-latest is a non-reasoning model
    return bool(_OPENAI_REASONING_RE.match(name))


_GROK_VERSION_RE = re.compile(r"^grok-(\d+)(?:[.-](\d+))?")


def is_xai_reasoning_model(model: str) -> bool:
    """grok-3-mini and grok-4 and later reason; they reject ``stop`` and penalties."""
    name = model.rsplit("/", 1)[-1].lower()
    if name.startswith(("grok-3-mini", "grok-code")):
        return True
    match = _GROK_VERSION_RE.match(name)
    return bool(match and int(match.group(1)) >= 4 and "non-reasoning" not in name)


def xai_reasoning_efforts(model: str) -> tuple[str, ...]:
    """The ``reasoning_effort`` values an xAI model accepts (empty: do not send it).

    grok-3-mini takes low/high; grok-4.3 and later take none/low/medium/high; grok-4, 4.1 and
    4.20 answer 400 "Model does not support parameter reasoningEffort" (protocol.md §8).
    """
    name = model.rsplit("/", 1)[-1].lower()
    if name.startswith("grok-3-mini"):
        return ("low", "high")
    match = _GROK_VERSION_RE.match(name)
    if not match:
        return ()
    major, minor = int(match.group(1)), match.group(2) or "0"
    # grok-4.20 came out before 4.3 and rejects the parameter: a single-digit minor of 3+ only.
    if major > 4 or (major == 4 and len(minor) == 1 and int(minor) >= 3):
        return ("none", "low", "medium", "high")
    return ()
