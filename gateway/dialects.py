"""Provider dialects: what makes one OpenAI-compatible provider differ from another, as data.

A provider entry names its dialect (`dialect: xai`); the shipped providers have theirs by default,
a user's own entry picks one (a `grok:` entry pointing at api.x.ai sets `dialect: xai` and gets
the xAI billing rule). Nothing in the gateway tests a provider's *name* for a quirk: callers read
the fields below, and the request/response translators take the dialect's `name`.

    dialect      reasoning outside      reports     request fields the translators use
                 completion_tokens      usage.cost
    openai       no                     no          max_completion_tokens, reasoning_effort,
                                                    safety_identifier
    xai          yes                    no          max_completion_tokens, reasoning_effort (per model)
    openrouter   no                     yes         reasoning {effort|max_tokens}, top_k, cache_control
                                                    on anthropic/* models, thinking blocks kept
    compatible   no                     no          max_tokens, reasoning_effort (a vLLM, Ollama,
                                                    llama.cpp... server)
    anthropic    (an Anthropic Messages provider; the counts are Anthropic's own)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    reasoning_outside_completion: bool = False  # total = prompt + completion + reasoning
    reports_cost: bool = False  # `usage.cost` in USD is the bill (OpenRouter credits)


DIALECTS: dict[str, Dialect] = {
    "openai": Dialect("openai"),
    "xai": Dialect("xai", reasoning_outside_completion=True),
    "openrouter": Dialect("openrouter", reports_cost=True),
    "compatible": Dialect("compatible"),
    "anthropic": Dialect("anthropic"),
}

DEFAULT_DIALECT = "compatible"  # a user's own OpenAI-format entry without `dialect:`
