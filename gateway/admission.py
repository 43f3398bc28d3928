"""Admission: may this key send this request now? The budgets, rate limits and model allowlists
of gateway.limits, enforced on the proxy path (one `admit` before the request goes upstream, one
`finish` after its row is queued).

Checks, in order (the first that fails answers; nothing is sent upstream):

1. `models`: the alias-resolved model must match one of the key's globs -> 403
   (OpenAI `permission_denied`, Anthropic `permission_error`).
2. The key's `budget`, then the gateway's `auth.budget`: day, then month. Spend at or over the
   budget -> 429 (OpenAI `budget_exceeded`, Anthropic `rate_limit_error`), `retry-after` = whole
   seconds until that UTC window resets.
3. The key's `tpm`, then `rpm` (gateway.ratelimit, shared by all workers) -> 429
   (`rate_limit_exceeded`), `retry-after` = whole seconds until the window frees up.

A refused request takes no rpm slot and spends nothing; it is still a usage row (status and the
error naming the limit), written by the proxy like any other failure.

With no budget, limit or allowlist configured `admit` is one attribute test.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.config import Config
from gateway.errors import GatewayError
from gateway.limits import Budget, Calendar, Clock, KeyPolicy, usd, whole_seconds
from gateway.pricing import pico_to_usd
from gateway.ratelimit import PRESENCE_SECONDS, PUBLISH_SECONDS, Refused, Windows, folder_for
from gateway.shared_limits import SYNC_SECONDS, SharedLimits
from gateway.spend import TOTAL, SpendBook
from gateway.storage import READ_ERRORS
from gateway.usage import UsageRecord, UsageWriter

log = logging.getLogger("ekai.limits")

# A budget refusal whose window resets later than this says `x-should-retry: false`: the OpenAI and
# Anthropic SDKs (and Claude Code) obey it, where they would otherwise sleep until `retry-after`.
NO_RETRY_AFTER = 60


SHARE_ERRORS: tuple[type[BaseException], ...] = (OSError, *READ_ERRORS)


def limits_folder(cfg: Config) -> Path:
    """Where the rpm/tpm window files live: beside a SQLite file; with PostgreSQL, beside the
    config file (one folder per database URL), so the windows are shared by the instances of
    ONE machine and are per machine across machines (README: PostgreSQL)."""
    if not cfg.database.is_postgres:
        return folder_for(cfg.database.file)
    digest = hashlib.sha256(cfg.database.dsn.encode()).hexdigest()[:12]
    return cfg.path.parent / f".ekai-pg-{digest}.limits"


class Forbidden(GatewayError):
    status = 403


class OverLimit(GatewayError):
    status = 429


class Admission:
    """One per worker: the spend book, the shared rate windows, the clock."""

    def __init__(self, cfg: Config, writer: UsageWriter, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.now = self.clock.now
        self.writer = writer
        self.spend = SpendBook(cfg.database, self.clock.now, lambda: writer.done, writer.given_up)
        folder = limits_folder(cfg)
        self.windows = Windows(folder)
        self._open = self.windows.open  # key name -> its open window (the hot path looks here first)
        # PostgreSQL: rpm/tpm of the other instances (gateway.shared_limits), key -> (requests, tokens)
        self.shared = SharedLimits(cfg.database, folder) if cfg.database.is_postgres else None
        self.others: dict[str, tuple[int, int]] = {}
        self._shared_task: asyncio.Task[None] | None = None
        self._presence_task: asyncio.Task[None] | None = None
        self._cfg: Config | None = None  # the config the spend book's caps come from
        # the calendar of the UTC day being served, and that day's [start, end) in epoch seconds
        self._cal = Calendar.at(0)
        self._cal_from, self._cal_until = 0.0, 0.0  # empty: the first request computes it
        # the UTC day of a row's ts (real time, not the test clock), for the same kind of range
        self._day, self._day_from, self._day_until = "", 0.0, 0.0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._publishing: asyncio.TimerHandle | None = None  # tokens waiting for other workers

    # --- lifecycle ---

    async def start(self, store: Any) -> None:
        self._loop = asyncio.get_running_loop()
        if _has_budget(store.config):
            try:
                await self.spend.reconcile()  # seeded before the first request is admitted
            except READ_ERRORS as exc:  # the reconcile loop retries
                log.warning("spend not seeded from the usage table yet: %s", exc)
        self._task = asyncio.get_running_loop().create_task(
            self.spend.run(self._stop, lambda: _has_budget(store.config))
        )
        if self.shared is not None:
            self._shared_task = asyncio.get_running_loop().create_task(self._share(store))
        self._presence_task = asyncio.get_running_loop().create_task(self._watch_presence())

    async def _watch_presence(self) -> None:
        """Every PRESENCE_SECONDS: is this process still alone with the rate windows? (Then their
        flock is skipped: gateway.ratelimit.Presence.)"""
        while not self._stop.is_set():
            try:
                self.windows.check_alone()
            except OSError:
                log.exception("rate windows: presence check failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), PRESENCE_SECONDS)

    async def stop(self) -> None:
        self._stop.set()
        if self._publishing is not None:
            self._publishing.cancel()
        for task in (self._task, self._shared_task, self._presence_task):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.shared is not None:
            self.shared.close()
        self.spend.close()
        self.windows.close()

    async def _share(self, store: Any) -> None:
        """Every SYNC_SECONDS while a key has rpm/tpm: publish this machine's windows, read the
        other instances' (gateway.shared_limits)."""
        assert self.shared is not None
        loop = asyncio.get_running_loop()
        failing = False
        while not self._stop.is_set():
            policies = [p for p in store.config.key_policies.values() if p.windowed]
            if policies:
                now = self.clock.now()
                try:
                    mine = {p.name: self.windows.get(p.name).per_second(now) for p in policies}
                    self.others = await loop.run_in_executor(None, self.shared.sync, mine, now)
                    if failing:
                        log.warning("rate windows shared again")
                        failing = False
                except SHARE_ERRORS as exc:
                    if not failing:  # once per outage
                        log.warning("rate windows not shared (this machine's own still hold): %s", exc)
                    failing = True
                    self.others = {}
            elif self.others:
                self.others = {}
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), SYNC_SECONDS)

    def calendar(self, now: float) -> Calendar:
        if not self._cal_from <= now < self._cal_until:
            self._cal = Calendar.at(now)
            self._cal_from, self._cal_until = self._cal.day_ends - 86400, self._cal.day_ends
        return self._cal

    # --- the hot path ---

    def admit(self, cfg: Config, key: str | None, model: str) -> None:
        """Raise Forbidden / OverLimit when `key` may not send `model` (alias-resolved) now.

        On every request of a gateway with limits, so written for few calls: a budget is one
        look at the spend book's `over` set (only a key in it is checked exactly, by
        `_check_budget`), a rate limit one call into the key's shared window."""
        if not cfg.limited:
            return
        if cfg is not self._cfg:  # a new config: the budgets' caps may have changed
            self._configure(cfg)
        policy = cfg.key_policies.get(key) if key is not None else None
        if policy is not None and policy.models is not None and not policy.allows(model):
            raise _forbidden(key, model, policy)
        over = self.spend.over
        if over and (key in over or TOTAL in over):
            self._check_budgets(cfg, policy, key, self.now())  # raises when really over
        if policy is not None and policy.windowed:
            window = self._open.get(policy.name) or self.windows.get(policy.name)
            try:
                window.admit(policy, self.now(), self.others.get(policy.name) if self.others else None)
            except Refused as exc:
                raise OverLimit(
                    f"Rate limit exceeded: key '{key}' {exc.what} (rolling 60 s); "
                    f"retry in {exc.retry_after} s.",
                    code="rate_limit_exceeded",
                    headers={"retry-after": str(exc.retry_after)},
                ) from None

    def _configure(self, cfg: Config) -> None:
        """The caps of every budget of `cfg`, for the spend book's room (gateway.spend)."""
        caps: dict[str | None, tuple[int, int]] = {
            name: (p.budget.day_cap, p.budget.month_cap)
            for name, p in cfg.key_policies.items()
            if p.budget is not None
        }
        if cfg.gateway_budget is not None:
            caps[TOTAL] = (cfg.gateway_budget.day_cap, cfg.gateway_budget.month_cap)
        self.spend.set_caps(caps)
        self._cfg = cfg

    def _check_budgets(self, cfg: Config, policy: KeyPolicy | None, key: str | None, now: float) -> None:
        over = self.spend.over
        if key in over and policy is not None and policy.budget is not None:
            self._check_budget(policy.budget, key, now)
        if TOTAL in over and cfg.gateway_budget is not None:
            self._check_budget(cfg.gateway_budget, TOTAL, now)

    @staticmethod
    def check_model(cfg: Config, key: str | None, model: str) -> KeyPolicy | None:
        """The key's policy; raises Forbidden when its `models` do not cover `model`."""
        policy = cfg.key_policies.get(key) if key is not None else None
        if policy is not None and not policy.allows(model):
            raise _forbidden(key, model, policy)
        return policy

    def _check_budget(self, budget: Budget, key: str | None, now: float) -> None:
        """Raise OverLimit when the day or month is spent (`key` TOTAL: the gateway's budget);
        `retry-after` is the LATER reset of the windows that are over (a key over its month gains
        nothing at midnight)."""
        cal = self.calendar(now)
        spend = self.spend
        over: tuple[str, Any, int, str, float] | None = None
        if budget.daily_pico is not None:
            spent = spend.spent_day(cal.day, key)
            if spent >= budget.daily_pico:
                over = ("daily_usd", budget.daily_usd, spent, "today", cal.day_ends - now)
        if budget.monthly_pico is not None:
            spent = spend.spent_month(cal.month, key)
            if spent >= budget.monthly_pico:
                over = ("monthly_usd", budget.monthly_usd, spent, "this month", cal.month_ends - now)
        if over is None:
            return
        what, limit, spent, when, left = over
        who = "gateway" if key == TOTAL else f"key '{key}'"
        retry = whole_seconds(left)
        headers = {"retry-after": str(retry)}
        if retry > NO_RETRY_AFTER:  # the SDKs honour any retry-after: they would sleep for hours
            headers["x-should-retry"] = "false"
        raise OverLimit(
            f"budget exceeded: {who} {what} {limit} (spent {usd(spent)} USD {when}, UTC); "
            f"resets in {retry} s.",
            code="budget_exceeded",
            headers=headers,
        )

    def finish(self, cfg: Config, rec: UsageRecord) -> None:
        """After the request's row is queued: count its cost and tokens."""
        if not cfg.limited:
            return
        key = rec.api_key_name
        pico = rec.cost_pico
        if pico and self.spend.last_id is not None:  # the book is live (a budget is set)
            started = rec.started
            day = self._day if self._day_from <= started < self._day_until else self._day_of(started)
            self.spend.record(self.writer.queued, day, key, pico)
        policy = cfg.key_policies.get(key) if key is not None else None
        if policy is not None and policy.tpm is not None:
            t = rec.tokens
            window = self._open.get(policy.name) or self.windows.get(policy.name)
            window.add_tokens(t.input + t.cache_read + t.cache_write + t.output, self.now())
            if self._publishing is None and self._loop is not None:
                self._publishing = self._loop.call_later(PUBLISH_SECONDS, self._publish)

    def _publish(self) -> None:
        """The tokens this worker counted since, into the shared windows (gateway.ratelimit)."""
        self._publishing = None
        try:
            self.windows.publish()
        except OSError:
            log.exception("tpm windows not updated")

    def _day_of(self, epoch: float) -> str:
        """'2026-12-06': the day part of the row's ts (usage.iso_ms), kept for the rest of that day."""
        start = epoch // 86400 * 86400  # UTC days are 86,400 epoch seconds each
        self._day = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d")
        self._day_from, self._day_until = start, start + 86400
        return self._day

    # --- /health ---

    def status(self, cfg: Config) -> dict[str, Any]:
        now = self.clock.now()
        cal = Calendar.at(now)

        tracked = self.spend.last_id is not None  # spend is tracked while any budget is set

        def budget_view(budget: Budget | None, key: str | None) -> dict[str, Any]:
            out: dict[str, Any] = {}
            if tracked:
                out["spent_today_usd"] = pico_to_usd(self.spend.spent_day(cal.day, key))
                out["spent_month_usd"] = pico_to_usd(self.spend.spent_month(cal.month, key))
            if budget is not None:
                out["daily_usd"] = float(budget.daily_usd) if budget.daily_usd is not None else None
                out["monthly_usd"] = float(budget.monthly_usd) if budget.monthly_usd is not None else None
            return out

        keys: dict[str, Any] = {}
        for name in cfg.auth_envs:
            policy: KeyPolicy | None = cfg.key_policies.get(name)
            view = budget_view(policy.budget if policy else None, name)
            if policy is not None and policy.windowed:
                requests, tokens = self.windows.get(name).current(policy, now)
                other_r, other_t = self.others.get(name, (0, 0))  # other instances (PostgreSQL)
                view.update(
                    rpm=requests + other_r, rpm_limit=policy.rpm, tpm=tokens + other_t, tpm_limit=policy.tpm
                )
            if policy is not None and policy.models is not None:
                view["models"] = list(policy.models)
            keys[name] = view
        return {
            "day": cal.day,
            "month": cal.month,
            "gateway": budget_view(cfg.gateway_budget, TOTAL),
            "keys": keys,
            "reconciled": self.spend.reconciled,
        }


def _forbidden(key: str | None, model: str, policy: KeyPolicy) -> Forbidden:
    return Forbidden(
        f"The gateway key '{key}' may not use model '{model}' (allowed: {', '.join(policy.models or ())}).",
        code="permission_denied",
    )


def _has_budget(cfg: Config) -> bool:
    return cfg.gateway_budget is not None or any(p.budget is not None for p in cfg.key_policies.values())
