"""Provider health: a provider that keeps failing is tried last for a while, then again.

Per worker process, in memory. A failure is a connect error, a timeout, a 429 or a 5xx. After
`THRESHOLD` failures in a row a provider cools down for `COOLDOWN` seconds, doubling with each
further failure up to `MAX_COOLDOWN`; a `retry-after` from the provider sets the cooldown directly
(capped the same way). A cooling provider is not dropped: it moves to the end of the try order, so
a request still reaches it when every other provider fails too. One success clears it.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping, Sequence
from typing import TypeVar

THRESHOLD = 3
COOLDOWN = 30.0
MAX_COOLDOWN = 300.0

T = TypeVar("T")


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms`, else `retry-after` (seconds or an HTTP date), else None."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


class ProviderHealth:
    def __init__(self) -> None:
        self.failures: dict[str, int] = {}
        self.until: dict[str, float] = {}
        self.last_error: dict[str, str] = {}

    def ok(self, name: str) -> None:
        if name in self.failures:
            del self.failures[name]
            self.until.pop(name, None)

    def failed(self, name: str, reason: str, retry_after: float | None = None) -> None:
        count = self.failures.get(name, 0) + 1
        self.failures[name] = count
        self.last_error[name] = reason
        now = time.monotonic()
        if retry_after is not None and retry_after > 0:
            self.until[name] = now + min(retry_after, MAX_COOLDOWN)
        elif count >= THRESHOLD:
            self.until[name] = now + min(COOLDOWN * 2 ** (count - THRESHOLD), MAX_COOLDOWN)

    def cooling(self, name: str) -> float:
        """Seconds of cooldown left (0 when the provider is fine)."""
        until = self.until.get(name)
        return max(until - time.monotonic(), 0.0) if until else 0.0

    def order(self, names: Sequence[str], items: Sequence[T]) -> list[T]:
        """`items` (one per name) with cooling providers moved to the end, order otherwise kept."""
        if not self.until:
            return list(items)
        fine = [item for name, item in zip(names, items, strict=True) if not self.cooling(name)]
        cool = [item for name, item in zip(names, items, strict=True) if self.cooling(name)]
        return fine + cool

    def status(self, name: str) -> dict[str, object]:
        left = self.cooling(name)
        out: dict[str, object] = {"consecutive_failures": self.failures.get(name, 0)}
        if left:
            out["cooling_down_s"] = round(left, 1)
        if name in self.failures and name in self.last_error:
            out["last_error"] = self.last_error[name]
        return out
