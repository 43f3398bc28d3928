"""Prices and the one cost formula.

Prices are USD per million tokens, held as Decimal (never float) from the YAML text on. A request's
cost is computed from the normalised token counts (see `Tokens`):

    prompt   = input + cache_read + cache_write           (the whole prompt)
    rates    = the tier with the highest threshold below `prompt`, else the base prices
    cost_usd = ( input        * rates.input
               + cache_read   * (rates.cache_read  or rates.input)
               + cache_5m     * (rates.cache_write or rates.input)
               + cache_1h     * (rates.cache_write_1h or rates.cache_write or rates.input)
               + output       * rates.output ) / 1_000_000

where cache_5m = cache_write - cache_write_1h. A cache price the table lacks falls back to the
input price (what providers without a cache discount bill), so cached tokens are never free by
accident. The result is kept exactly as an integer number of pico-dollars (1e-12 USD): with prices
of up to six decimals per million tokens that is exact, and sums of integers never drift.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

PICO = Decimal(10) ** 12
MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Tokens:
    """Normalised token counts of one request (the usage table's convention)."""

    input: int = 0  # uncached prompt tokens
    cache_read: int = 0
    cache_write: int = 0  # all cache writes, the 1-hour ones included
    cache_write_1h: int = 0  # the 1-hour part of cache_write
    output: int = 0  # reasoning included
    reasoning: int = 0  # the reasoning part of output

    @property
    def prompt(self) -> int:
        return self.input + self.cache_read + self.cache_write


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per million tokens."""

    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Tier:
    above_input_tokens: int
    rates: Rates


@dataclass(frozen=True, slots=True)
class Price:
    """A model's price at one provider."""

    base: Rates
    tiers: tuple[Tier, ...] = ()
    version: str = ""  # digest of the entry: which prices priced a usage row

    def rates_for(self, prompt_tokens: int) -> Rates:
        chosen = self.base
        threshold = -1
        for tier in self.tiers:
            if prompt_tokens > tier.above_input_tokens > threshold:
                chosen, threshold = tier.rates, tier.above_input_tokens
        return chosen

    @property
    def sort_key(self) -> Decimal:
        """What cheapest-routing compares: input + output."""
        return self.base.input + self.base.output


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """One model in one provider's price table."""

    provider: str
    model: str  # the name clients use (the table's key)
    id: str  # the provider's own model id
    price: Price
    file: str = ""
    line: int = 0
    user: bool = False
    responses_only: bool = False  # `format: responses`: the provider serves it only via /responses
    context_window: int | None = None  # tokens the model takes in (conversations refuse longer histories)
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)


def cost_pico(tokens: Tokens, price: Price) -> int:
    """The exact cost of `tokens` at `price`, in pico-dollars (1e-12 USD)."""
    r = price.rates_for(tokens.prompt)
    cache_read = r.cache_read if r.cache_read is not None else r.input
    write_5m = r.cache_write if r.cache_write is not None else r.input
    write_1h = r.cache_write_1h if r.cache_write_1h is not None else write_5m
    one_hour = min(tokens.cache_write_1h, tokens.cache_write)
    usd_per_million = (
        tokens.input * r.input
        + tokens.cache_read * cache_read
        + (tokens.cache_write - one_hour) * write_5m
        + one_hour * write_1h
        + tokens.output * r.output
    )
    return int((usd_per_million * PICO / MILLION).to_integral_value(ROUND_HALF_EVEN))


def usd_to_pico(usd: Decimal) -> int:
    return int((usd * PICO).to_integral_value(ROUND_HALF_EVEN))


def pico_to_usd(pico: int) -> float:
    """For the REAL column and JSON: the float nearest the exact value."""
    return float(Decimal(pico) / PICO)


def price_version(provider: str, model: str, raw: object) -> str:
    """A short digest of a price entry as written, so a usage row names the prices it used."""
    text = f"{provider}\x00{model}\x00{raw!r}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]
