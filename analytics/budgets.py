"""Spend per gateway key against its budget: the dashboard's budget panel.

The budgets are read from ekai.yaml's `auth` section only, with the gateway's own parser
(gateway.limits.parse_key / parse_budget, so a value means here what it means to the gateway),
and WITHOUT the keys' environment variables: the dashboard runs without secrets, and a key's
budget does not depend on its value. Anything wrong elsewhere in the file (a provider without
its key, a bad price table) does not matter here; a bad value inside `auth` is reported in the
panel and that value left out.

The spend is `analytics.queries.key_spend`: the UTC day and month containing "now", the same
windows the gateway enforces (gateway.spend), whatever period the dashboard's filters select.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polars as pl

from gateway.config import read_auth
from gateway.limits import Budget

GATEWAY = "(whole gateway)"  # the row for auth.budget: every key and no key together
PICO = Decimal(10) ** 12


@dataclass(frozen=True)
class KeyBudgets:
    """What ekai.yaml's `auth` section says about budgets."""

    found: bool = False  # the file has an auth section with keys or a gateway budget
    keys: tuple[tuple[str, Budget | None], ...] = ()  # in the file's order
    gateway: Budget | None = None
    problems: tuple[str, ...] = ()  # file:line: key: message, as `ekai check` says it


def load_budgets(config: Path) -> KeyBudgets:
    """The keys and budgets of `config`'s `auth` section (see the module docstring)."""
    auth = read_auth(Path(config))
    if not auth.read:
        return KeyBudgets(problems=auth.problems)
    keys = tuple((name, policy.budget if policy is not None else None) for name, policy in auth.keys)
    found = bool(keys) or auth.gateway_budget is not None
    return KeyBudgets(found, keys, auth.gateway_budget, auth.problems)


def _usd(pico: int | None) -> float | None:
    return None if pico is None else float(Decimal(pico) / PICO)


def _used(spent: int, budget: int | None) -> float | None:
    """Share of the budget spent; None without a budget (or a budget of 0, which refuses all)."""
    return None if not budget else spent / budget


def budget_rows(spend: pl.DataFrame, budgets: KeyBudgets) -> pl.DataFrame:
    """One row per configured key, then GATEWAY (all spend) when `auth.budget` is set.

    `spend` is `key_spend`'s frame. Keys with no budget have null budget and share columns.
    Spend of keys no longer in the file counts only toward GATEWAY.
    """
    by_key = {r["key"]: (r["today_pico"], r["month_pico"]) for r in spend.iter_rows(named=True)}
    rows = [(name, budget, *by_key.get(name, (0, 0))) for name, budget in budgets.keys]
    if budgets.gateway is not None:
        total = (sum(int(v[0]) for v in by_key.values()), sum(int(v[1]) for v in by_key.values()))
        rows.append((GATEWAY, budgets.gateway, *total))
    out = []
    for name, budget, today, month in rows:
        daily = budget.daily_pico if budget is not None else None
        monthly = budget.monthly_pico if budget is not None else None
        out.append(
            {
                "key": name,
                "today_usd": _usd(today),
                "daily_budget_usd": _usd(daily),
                "daily_used": _used(today, daily),
                "month_usd": _usd(month),
                "monthly_budget_usd": _usd(monthly),
                "monthly_used": _used(month, monthly),
                "today_pico": today,
                "month_pico": month,
            }
        )
    schema = {
        "key": pl.String,
        "today_usd": pl.Float64,
        "daily_budget_usd": pl.Float64,
        "daily_used": pl.Float64,
        "month_usd": pl.Float64,
        "monthly_budget_usd": pl.Float64,
        "monthly_used": pl.Float64,
        "today_pico": pl.Int64,
        "month_pico": pl.Int64,
    }
    return pl.DataFrame(out, schema=schema)
