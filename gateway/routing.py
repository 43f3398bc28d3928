"""Where a request goes: model name -> providers to try, in order. Pure functions over a Config.

The rule (CONTRACT.md, "Price tables"):

1. An alias is replaced by the model it names.
2. `x-ekai-provider: NAME` forces that provider (it must be usable).
3. Providers pinned for the model (`routing.pins`, globs such as `grok-*`) come first, in the
   order given, whether or not their table lists the model.
4. Then every usable provider whose price table lists the model (by its key, or by the provider's
   own id such as `anthropic/claude-sonnet-4.6`), cheapest `input + output` first, ties in the
   order of `providers`. With `strategy: ordered` price is ignored and provider order decides.
5. A `vendor/model` slug that no table lists goes to OpenRouter unchanged (every provider whose
   `dialect` is openrouter, in provider order).
6. With `fallback: false` only the first candidate is tried.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from gateway.config import Config, Provider
from gateway.errors import NoUsableProvider, UnknownModel
from gateway.pricing import PriceEntry


@dataclass(frozen=True, slots=True)
class Target:
    """One provider that can serve the request, and the model id to send it."""

    provider: Provider
    upstream_model: str
    price: PriceEntry | None


@dataclass(frozen=True, slots=True)
class Route:
    model: str  # as the client sent it
    resolved: str  # after aliases
    targets: tuple[Target, ...]


def listing(cfg: Config, provider: str, model: str) -> PriceEntry | None:
    """The price entry of `model` at `provider`, by table key or by the provider's own id."""
    entry = cfg.prices.get(provider, {}).get(model)
    if entry is None:
        entry = cfg.price_ids.get(provider, {}).get(model)
    return entry


def _target(cfg: Config, provider: Provider, model: str) -> Target:
    entry = listing(cfg, provider.name, model)
    return Target(provider, entry.id if entry else model, entry)


ROUTE_MEMO_SIZE = 4096


def resolve(cfg: Config, model: str, forced: str | None = None) -> Route:
    """The providers to try for `model`, best first. Raises UnknownModel or NoUsableProvider.

    Memoised per config snapshot (a reload brings a new, empty memo); bounded, since clients
    choose the model names."""
    key = (model, forced)
    route = cfg.routes.get(key)
    if route is None:
        route = _resolve(cfg, model, forced)
        if len(cfg.routes) >= ROUTE_MEMO_SIZE:
            cfg.routes.clear()
        cfg.routes[key] = route
    return route


def _resolve(cfg: Config, model: str, forced: str | None) -> Route:
    name = cfg.aliases.get(model, model)
    if forced:
        provider = cfg.providers.get(forced)
        if provider is None:
            raise UnknownModel(
                f"x-ekai-provider names unknown provider {forced!r}; configured: {', '.join(cfg.providers)}",
                status=400,
            )
        if not provider.usable:
            raise NoUsableProvider(_missing_key_message(name, [provider]))
        return Route(model, name, (_target(cfg, provider, name),))

    ordered: list[Provider] = []
    for pattern, names in cfg.pins:
        if fnmatch.fnmatchcase(name, pattern):
            for pinned in names:
                provider = cfg.providers.get(pinned)
                if provider is not None and provider not in ordered:
                    ordered.append(provider)

    listed = [p for p in cfg.providers.values() if listing(cfg, p.name, name) is not None]
    if cfg.strategy == "cheapest":
        position = {p.name: i for i, p in enumerate(cfg.providers.values())}
        listed.sort(key=lambda p: (_price_key(cfg, p, name), position[p.name]))
    ordered += [p for p in listed if p not in ordered]

    if not ordered and "/" in name:  # vendor/model slugs: the OpenRouter-dialect providers
        ordered += [p for p in cfg.providers.values() if p.dialect == "openrouter"]

    usable = [p for p in ordered if p.usable]
    if not usable:
        if ordered:
            raise NoUsableProvider(_missing_key_message(name, ordered))
        raise UnknownModel(
            f"The model {name!r} does not exist or no provider serves it. "
            "No price table lists it; add it to a pricing/*.yaml file, pin it to a provider "
            "under routing.pins, or use a vendor/model name for OpenRouter.",
            code="model_not_found",
        )
    targets = tuple(_target(cfg, p, name) for p in usable)
    return Route(model, name, targets if cfg.fallback else targets[:1])


def _price_key(cfg: Config, provider: Provider, model: str) -> object:
    entry = listing(cfg, provider.name, model)
    return entry.price.sort_key if entry else float("inf")


def _missing_key_message(model: str, providers: list[Provider]) -> str:
    envs = [p.api_key_env for p in providers if p.api_key_env]
    names = ", ".join(p.name for p in providers)
    hint = " or ".join(dict.fromkeys(envs))
    return (
        f"No provider with an API key can serve {model!r} (it is served by: {names}). "
        f"Set {hint} in the environment or in .env beside ekai.yaml (read live, no restart needed)."
    )


def routing_table(cfg: Config) -> list[tuple[str, list[Target], list[str]]]:
    """Every model some table lists, with the targets it resolves to and the providers
    that list it but lack a key (for `ekai check` and /v1/models)."""
    names: dict[str, None] = {}
    for table in cfg.prices.values():
        for model in table:
            names.setdefault(model, None)
    for alias in cfg.aliases:
        names.setdefault(alias, None)
    rows: list[tuple[str, list[Target], list[str]]] = []
    for model in sorted(names):
        resolved = cfg.aliases.get(model, model)
        keyless = [
            p.name
            for p in cfg.providers.values()
            if not p.usable and listing(cfg, p.name, resolved) is not None
        ]
        try:
            targets = list(resolve(cfg, model).targets)
        except (UnknownModel, NoUsableProvider):
            targets = []
        rows.append((model, targets, keyless))
    return rows
