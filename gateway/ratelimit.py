"""rpm / tpm windows shared by every worker process (and every instance) on one machine.

One small file per limited key, in a folder beside the usage database
(`usage.db` -> `usage.db.limits/<hash of the key name>`), read and written with pread/pwrite
under an exclusive `flock`. Every worker opens the same files, so the limit is exact across
workers: an admission is one locked read-check-write (about 6 system calls, a few microseconds),
and no two workers can both take the last slot. The files hold only timestamps and token counts,
never a key or a prompt.

Layout (little-endian):

    0    header   magic u64, rpm capacity i64, ring head i64, (reserved)    32 bytes
    32   tpm      60 buckets of (second i64, tokens i64), bucket = second % 60   960 bytes
    992  rpm      ring of `capacity` float64 admission times (the last `capacity` admissions)

rpm: a request is admitted when the oldest of the last `rpm` admissions is 60 s old or more
(exactly "fewer than rpm admissions in the rolling 60 s"). Refused requests take no slot.
`retry-after` is the whole seconds until that oldest slot leaves the window. When `rpm` changes
in the config the ring is started afresh (the past minute's admissions are forgotten once).

tpm: tokens of a request are added to the bucket of the second it ENDED; the window is the 60
one-second buckets before now (so tpm's rolling window moves in whole seconds). A request is
admitted while the window's tokens are below `tpm`; `retry-after` is the whole seconds until
enough buckets leave the window to bring it below.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import os
import struct
from pathlib import Path

from gateway.limits import WINDOW_SECONDS, KeyPolicy, whole_seconds

MAGIC = 0xEE_4A_11_0001
_HEADER = struct.Struct("<qqqq")
_BUCKET = struct.Struct("<qq")
_SLOT = struct.Struct("<d")
_HEAD = struct.Struct("<q")
BUCKETS = 60
TPM_AT = _HEADER.size
RING_AT = TPM_AT + BUCKETS * _BUCKET.size


class Refused(Exception):
    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(what)
        self.what = what
        self.retry_after = retry_after


class KeyWindow:
    """The shared rpm ring and tpm buckets of one key (one open file)."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            raw = os.pread(self.fd, _HEADER.size, 0)
            if len(raw) < _HEADER.size or _HEADER.unpack(raw)[0] != MAGIC:  # new: empty buckets, no ring
                os.pwrite(self.fd, _HEADER.pack(MAGIC, 0, 0, 0) + bytes(RING_AT - _HEADER.size), 0)
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self.fd)

    def _ring(self, rpm: int) -> tuple[int, int]:
        """(capacity, head) of the rpm ring, started afresh when rpm changed. Under the lock."""
        _, cap, head, _ = _HEADER.unpack(os.pread(self.fd, _HEADER.size, 0))
        if cap != rpm:
            os.pwrite(self.fd, bytes(rpm * _SLOT.size), RING_AT)
            os.pwrite(self.fd, _HEADER.pack(MAGIC, rpm, 0, 0), 0)
            cap, head = rpm, 0
        return cap, head

    def _tokens(self, now: float) -> list[tuple[int, int]]:
        """(second, tokens) of the buckets inside the window, oldest first."""
        raw = os.pread(self.fd, BUCKETS * _BUCKET.size, TPM_AT)
        current = math.floor(now)
        live = []
        for sec, tokens in _BUCKET.iter_unpack(raw.ljust(BUCKETS * _BUCKET.size, b"\0")):
            if tokens and current - BUCKETS < sec <= current:
                live.append((sec, tokens))
        live.sort()
        return live

    def admit(self, policy: KeyPolicy, now: float) -> None:
        """Take an rpm slot, after checking tpm; raises Refused (taking nothing) when over."""
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            if policy.tpm is not None:
                live = self._tokens(now)
                used = sum(t for _, t in live)
                if used >= policy.tpm:
                    for sec, tokens in live:  # wait until the window drops below tpm
                        used -= tokens
                        if used < policy.tpm:
                            raise Refused(f"tpm {policy.tpm}", whole_seconds(sec + BUCKETS - now))
            if policy.rpm is not None:
                cap, head = self._ring(policy.rpm)
                at = RING_AT + head * _SLOT.size
                (oldest,) = _SLOT.unpack(os.pread(self.fd, _SLOT.size, at))
                if oldest > now - WINDOW_SECONDS:
                    raise Refused(f"rpm {policy.rpm}", whole_seconds(oldest + WINDOW_SECONDS - now))
                os.pwrite(self.fd, _SLOT.pack(now), at)
                os.pwrite(self.fd, _HEAD.pack((head + 1) % cap), 16)
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def add_tokens(self, tokens: int, now: float) -> None:
        if tokens <= 0:
            return
        sec = math.floor(now)
        at = TPM_AT + (sec % BUCKETS) * _BUCKET.size
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            raw = os.pread(self.fd, _BUCKET.size, at)
            old_sec, old = _BUCKET.unpack(raw) if len(raw) == _BUCKET.size else (0, 0)
            total = old + tokens if old_sec == sec else tokens
            os.pwrite(self.fd, _BUCKET.pack(sec, total), at)
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def current(self, policy: KeyPolicy, now: float) -> tuple[int, int]:
        """(requests, tokens) in the window now, for /health."""
        fcntl.flock(self.fd, fcntl.LOCK_SH)
        try:
            tokens = sum(t for _, t in self._tokens(now))
            requests = 0
            raw = os.pread(self.fd, _HEADER.size, 0)
            if len(raw) == _HEADER.size:
                magic, cap, _, _ = _HEADER.unpack(raw)
                if magic == MAGIC and cap:
                    ring = os.pread(self.fd, cap * _SLOT.size, RING_AT)
                    requests = sum(1 for (t,) in _SLOT.iter_unpack(ring) if t > now - WINDOW_SECONDS)
            return requests, tokens
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)


class Windows:
    """Every key's KeyWindow, opened on first use, in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._open: dict[str, KeyWindow] = {}

    def get(self, name: str) -> KeyWindow:
        window = self._open.get(name)
        if window is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256(name.encode()).hexdigest()[:24]
            window = self._open[name] = KeyWindow(self.folder / digest)
        return window

    def close(self) -> None:
        for window in self._open.values():
            window.close()
        self._open.clear()


def folder_for(database: Path) -> Path:
    return database.with_name(database.name + ".limits")
