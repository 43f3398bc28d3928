"""What a gateway key may spend and use: the policy values, their config parsing, and the
window arithmetic. Pure: no I/O except the test clock; enforcement lives in gateway.admission.

Config (`auth.keys` long form, CONTRACT.md):

    auth:
      keys:
        laptop: EKAI_KEY_LAPTOP                 # short form: no limits
        ci:
          env: EKAI_KEY_CI
          budget: {daily_usd: 5.00, monthly_usd: 50.00}
          limits: {rpm: 60, tpm: 200000}
          models: ["gpt-*", "claude-haiku-*"]
      budget: {daily_usd: 20.00, monthly_usd: 300.00}   # the whole gateway

Rules a newcomer needs:

- Budgets are per UTC calendar day / month. A window's spend is the sum of `cost_pico_usd` of the
  rows whose `ts` (request start) falls in it. A request is refused when the spend is AT or over
  the budget; `retry-after` is the whole seconds until the window resets (next UTC midnight, or the
  1st of next month). A budget of 0 refuses every request.
- `rpm`: requests admitted in the last 60 s (rolling). `tpm`: input + cache + output tokens of the
  requests that ENDED in the last 60 s, counted when each ends (no up-front estimate): a request
  is admitted while the window's tokens are below `tpm`.
- `models`: fnmatch globs (case-sensitive) matched against the model name AFTER alias
  resolution (`sonnet` -> `claude-sonnet-4-6`: the glob must match `claude-sonnet-4-6`).
- Clock: `Clock()` is `time.time`. Tests only: `EKAI_TEST_CLOCK_FILE=PATH` makes every clock of the
  process read PATH (a number of seconds, default 0) and add it to the real time, so a test can
  move windows forward without sleeping. Every worker reads the same file.
"""

from __future__ import annotations

import fnmatch
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from gateway.pricing import usd_to_pico

WINDOW_SECONDS = 60.0  # rpm / tpm: rolling window
CLOCK_ENV = "EKAI_TEST_CLOCK_FILE"


# --- policy values ----------------------------------------------------------------------------


NO_CAP = 1 << 126  # pico-USD no spend reaches


@dataclass(frozen=True, slots=True)
class Budget:
    """USD per UTC day / month, None when not limited; also held as integer pico-USD."""

    daily_usd: Decimal | None = None
    monthly_usd: Decimal | None = None
    daily_pico: int | None = None
    monthly_pico: int | None = None
    # the same as caps for the hot path: spend at or over one is refused (no cap: never reached)
    day_cap: int = field(init=False, default=NO_CAP)
    month_cap: int = field(init=False, default=NO_CAP)

    def __post_init__(self) -> None:
        object.__setattr__(self, "day_cap", NO_CAP if self.daily_pico is None else self.daily_pico)
        object.__setattr__(self, "month_cap", NO_CAP if self.monthly_pico is None else self.monthly_pico)

    @staticmethod
    def of(daily: Decimal | None, monthly: Decimal | None) -> Budget | None:
        if daily is None and monthly is None:
            return None
        return Budget(
            daily,
            monthly,
            usd_to_pico(daily) if daily is not None else None,
            usd_to_pico(monthly) if monthly is not None else None,
        )


@dataclass(frozen=True)
class KeyPolicy:
    """What one gateway key may do. Precomputed once per config snapshot."""

    name: str
    budget: Budget | None = None
    rpm: int | None = None
    tpm: int | None = None
    models: tuple[str, ...] | None = None  # None: every model
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    _memo: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)
    windowed: bool = field(init=False, compare=False, repr=False)  # has rpm or tpm

    def __post_init__(self) -> None:
        object.__setattr__(self, "windowed", self.rpm is not None or self.tpm is not None)

    @staticmethod
    def build(
        name: str, budget: Budget | None, rpm: int | None, tpm: int | None, models: tuple[str, ...] | None
    ) -> KeyPolicy:
        pattern = None
        if models is not None:
            pattern = re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in models) or "(?!)")
        return KeyPolicy(name, budget, rpm, tpm, models, pattern)

    def allows(self, model: str) -> bool:
        """Whether `model` (already alias-resolved) matches one of the key's globs."""
        if self._pattern is None:
            return True
        ok = self._memo.get(model)
        if ok is None:
            ok = self._pattern.fullmatch(model) is not None
            if len(self._memo) < 4096:  # bounded: clients choose model names
                self._memo[model] = ok
        return ok


# --- config parsing ---------------------------------------------------------------------------

Path_ = tuple[str | int, ...]


class Checker(Protocol):
    """The subset of gateway.config._Checker used here (file:line:key errors)."""

    def fail(self, at: Path_, message: str) -> None: ...
    def mapping(self, value: Any, at: Path_, *, optional: bool = True) -> dict[str, Any]: ...
    def keys(self, value: dict[str, Any], at: Path_, allowed: set[str]) -> None: ...
    def string(self, value: Any, at: Path_) -> str | None: ...
    def number(self, value: Any, at: Path_, *, minimum: float = 0) -> Decimal | None: ...


KEY_FIELDS = {"env", "budget", "limits", "models"}


def parse_budget(c: Checker, raw: Any, at: Path_) -> Budget | None:
    values = c.mapping(raw, at)
    c.keys(values, at, {"daily_usd", "monthly_usd"})
    daily = c.number(values["daily_usd"], (*at, "daily_usd")) if "daily_usd" in values else None
    monthly = c.number(values["monthly_usd"], (*at, "monthly_usd")) if "monthly_usd" in values else None
    return Budget.of(daily, monthly)


MAX_RPM = 1_000_000  # the shared ring holds one timestamp per slot (8 MB at this size)


def _whole(c: Checker, value: Any, at: Path_, maximum: int | None = None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        c.fail(at, f"must be a whole number >= 1, got {value!r}")
        return None
    if maximum is not None and value > maximum:
        c.fail(at, f"must be at most {maximum:,} (leave it out for no limit), got {value!r}")
        return None
    return value


def parse_key(c: Checker, name: str, spec: Any, at: Path_) -> tuple[str | None, KeyPolicy | None]:
    """One `auth.keys` entry: `name: ENV_VAR` or the long form. Returns (env var, policy or None)."""
    if isinstance(spec, str) or not isinstance(spec, dict):
        return c.string(spec, at), None
    c.keys(spec, at, KEY_FIELDS)
    env = c.string(spec.get("env"), (*at, "env"))
    budget = parse_budget(c, spec.get("budget"), (*at, "budget"))
    limits = c.mapping(spec.get("limits"), (*at, "limits"))
    c.keys(limits, (*at, "limits"), {"rpm", "tpm"})
    rpm = _whole(c, limits["rpm"], (*at, "limits", "rpm"), MAX_RPM) if "rpm" in limits else None
    tpm = _whole(c, limits["tpm"], (*at, "limits", "tpm")) if "tpm" in limits else None
    models: tuple[str, ...] | None = None
    if "models" in spec:
        raw = spec["models"]
        if not isinstance(raw, list):
            c.fail((*at, "models"), 'must be a list of model-name globs, e.g. ["gpt-*"]')
        else:
            good = []
            for i, glob in enumerate(raw):
                if not isinstance(glob, str) or not glob.strip():
                    c.fail((*at, "models", i), f"must be a non-empty string (a glob), got {glob!r}")
                else:
                    good.append(glob)
            models = tuple(good)
    if budget is None and rpm is None and tpm is None and models is None:
        return env, None
    return env, KeyPolicy.build(name, budget, rpm, tpm, models)


def describe(names: Any, policies: dict[str, KeyPolicy] | Any, gateway: Budget | None) -> list[str]:
    """`ekai check`'s lines about gateway keys: each key's budget, limits and models."""

    def budget(b: Budget | None) -> str:
        if b is None:
            return "no budget"
        parts = [
            f"${b.daily_usd}/day" if b.daily_usd is not None else "",
            f"${b.monthly_usd}/month" if b.monthly_usd is not None else "",
        ]
        return " ".join(p for p in parts if p)

    lines = [f"gateway budget: {budget(gateway)}"] if gateway is not None else []
    for name in names:
        p = policies.get(name)
        if p is None:
            lines.append(f"key {name}: no limits")
            continue
        rate = (
            ", ".join(f"{n} {v}" for n, v in (("rpm", p.rpm), ("tpm", p.tpm)) if v is not None)
            or "no rate limit"
        )
        models = ", ".join(p.models) if p.models is not None else "any model"
        lines.append(f"key {name}: {budget(p.budget)}; {rate}; models: {models or '(none)'}")
    return lines


# --- clock and calendar windows ---------------------------------------------------------------


class Clock:
    """Seconds since the epoch. Real time, unless EKAI_TEST_CLOCK_FILE is set (tests only)."""

    def __init__(self, offset_file: str | None = None) -> None:
        self.offset_file = offset_file if offset_file is not None else os.environ.get(CLOCK_ENV)
        self.now: Callable[[], float] = self._shifted if self.offset_file else time.time

    _offset = 0.0

    def _shifted(self) -> float:
        try:
            with open(self.offset_file or "", encoding="utf-8") as f:
                text = f.read().strip()
            if text:  # empty: caught mid-write; keep the last offset
                self._offset = float(text)
        except FileNotFoundError:
            self._offset = 0.0
        except (OSError, ValueError):
            pass
        return time.time() + self._offset


@dataclass(frozen=True, slots=True)
class Calendar:
    """The UTC day and month `now` falls in, and when each ends."""

    day: str  # '2026-12-06' (the prefix of a usage row's ts)
    month: str  # '2026-12'
    day_ends: float
    month_ends: float

    @staticmethod
    def at(now: float) -> Calendar:
        t = datetime.fromtimestamp(now, UTC)
        day_start = datetime(t.year, t.month, t.day, tzinfo=UTC).timestamp()
        nxt = datetime(t.year + (t.month == 12), t.month % 12 + 1, 1, tzinfo=UTC)
        return Calendar(t.strftime("%Y-%m-%d"), t.strftime("%Y-%m"), day_start + 86400, nxt.timestamp())

    @property
    def month_start_iso(self) -> str:
        return f"{self.month}-01T00:00:00.000Z"


def whole_seconds(seconds: float) -> int:
    """`retry-after` value: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(seconds - 1e-9))


def usd(pico: int) -> str:
    return f"{Decimal(pico) / Decimal(10) ** 12:.4f}"
