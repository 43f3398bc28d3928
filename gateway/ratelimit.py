"""rpm / tpm windows shared by every worker process (and every instance) on one machine.

One small file per limited key, in a folder beside the usage database
(`usage.db` -> `usage.db.limits/<hash of the key name>`), mapped into memory and read and written
under an exclusive `flock`. Every worker opens the same files, so the limit is exact across
workers: an admission is one locked read-check-write in shared memory (lock + unlock, about
3 us with rpm and tpm; the tokens of a finished request another 3), and no two workers can both
take the last slot. The lock keeps the GIL unless another process holds it (`_lock`). The files hold only
timestamps and token counts, never a key or a prompt.

Layout (little-endian):

    0     header  magic, rpm capacity, ring head, cached second, cached tokens, (reserved)  6 x i64
    48    tpm     60 buckets of (second i64, tokens i64), bucket = second % 60         960 bytes
    1008  rpm     ring of `capacity` float64 admission times (the last `capacity` admissions)

The header caches the tpm window's total for one second, so an admission sums the 60 buckets
at most once per second per key (across all workers), not on every request.

rpm: a request is admitted when the oldest of the last `rpm` admissions is 60 s old or more
(exactly "fewer than rpm admissions in the rolling 60 s"). Refused requests take no slot.
`retry-after` is the whole seconds until that oldest slot leaves the window. When `rpm` changes
in the config the ring is started afresh (the past minute's admissions are forgotten once).

tpm: tokens of a request are added to the bucket of the second it ENDED; the window is the 60
one-second buckets before now (so tpm's rolling window moves in whole seconds). A request is
admitted while the window's tokens are below `tpm`; `retry-after` is the whole seconds until
enough buckets leave the window to bring it below. A finished request's tokens wait in this
process (`add_tokens` takes no lock) and are written into the file under the lock the process
takes anyway for its next admission, or by `publish` (gateway.admission calls it within
PUBLISH_SECONDS): exact within a worker, and the other workers see them within 50 ms. That
saves a lock, an unlock and two struct round trips on every request.

Alone: while one process is the only one with the folder's windows open (one worker, one
instance: the usual case), there is nobody to lock against, and the flock calls (a third of an
admission's cost) are skipped. Every process holds a read lock on `<folder>/.presence` while it
has the windows open, and every PRESENCE_SECONDS asks whether anyone else holds one
(`Presence.check`). A process that starts using the folder holds its read lock before its first
admission and sees the other, so it always locks; the one that was alone learns of it at its
next check, so for up to PRESENCE_SECONDS after a second worker or instance starts, the first may
race it for the last slot (a request or two over the limit, once).
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import math
import mmap
import os
import struct
from pathlib import Path

from gateway.limits import WINDOW_SECONDS, KeyPolicy, whole_seconds

MAGIC = 0xEE_4A_11_0002
_HEADER = struct.Struct("<qqqqqq")
_RING_HEADER = struct.Struct("<qqq")  # magic, capacity, head
_CACHE = struct.Struct("<qq")  # the second the cached total is for, the total
CACHE_AT = 24
_BUCKET = struct.Struct("<qq")
_BUCKETS = struct.Struct("<120q")  # all 60 buckets at once
_SLOT = struct.Struct("<d")
_HEAD = struct.Struct("<q")
BUCKETS = 60
TPM_AT = _HEADER.size
RING_AT = TPM_AT + BUCKETS * _BUCKET.size


# flock without letting go of the GIL. fcntl.flock releases the GIL around the call, even an
# uncontended one that takes a microsecond; the usage writer thread, which waits for the GIL, then
# takes it and the event loop waits for the writer (up to the 5 ms switch interval) four times a
# request. libc's flock called through PyDLL keeps the GIL; only a lock another process holds is
# waited for with the GIL released (fcntl.flock).
_LIBC = ctypes.PyDLL(None, use_errno=True)
_FLOCK = _LIBC.flock
_FLOCK.argtypes = (ctypes.c_int, ctypes.c_int)
_FLOCK.restype = ctypes.c_int


def _lock(fd: int) -> None:
    if _FLOCK(fd, fcntl.LOCK_EX | fcntl.LOCK_NB) != 0:  # another process holds it: wait, GIL released
        fcntl.flock(fd, fcntl.LOCK_EX)


def _unlock(fd: int) -> None:
    _FLOCK(fd, fcntl.LOCK_UN)


OTHERS_RETRY = 2  # seconds: retry-after when other instances' counts alone fill the window
PUBLISH_SECONDS = 0.05  # a finished request's tokens reach the other workers' windows within this
PRESENCE_SECONDS = 0.5  # how often a process checks whether it still has the windows to itself


class Refused(Exception):
    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(what)
        self.what = what
        self.retry_after = retry_after


_OFD = hasattr(fcntl, "F_OFD_GETLK")  # Linux
_LOCK = struct.Struct("hhqqi")  # struct flock: l_type, l_whence, l_start, l_len, l_pid (native alignment)


class Presence:
    """A read lock on `<folder>/.presence`, held while this process has windows open there;
    `alone` says whether, at the last `check`, no other process held one.

    Linux open-file-description locks (F_OFD_*): a query for a write lock reports another
    holder's lock, never our own, and changes nothing (flock would have to convert our lock to
    ask, and a failed conversion drops it). Elsewhere `alone` stays False: always lock."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(folder / ".presence", os.O_RDWR | os.O_CREAT, 0o600)
        self.alone = False
        if _OFD:
            fcntl.fcntl(self.fd, fcntl.F_OFD_SETLKW, _LOCK.pack(fcntl.F_RDLCK, os.SEEK_SET, 0, 0, 0))
            self.check()

    def check(self) -> bool:
        if _OFD:
            raw = fcntl.fcntl(self.fd, fcntl.F_OFD_GETLK, _LOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
            self.alone = _LOCK.unpack(raw[: _LOCK.size])[0] == fcntl.F_UNLCK
        return self.alone

    def close(self) -> None:
        os.close(self.fd)


class KeyWindow:
    """The shared rpm ring and tpm buckets of one key: one file, mapped into memory.

    Every read and write happens under an exclusive flock on the file (skipped while `presence`
    says this process is alone with the folder's windows). The file only ever grows
    (a larger rpm), never shrinks, so no process's mapping can point past its end; a process
    whose mapping is smaller than the ring the header announces maps the file again."""

    def __init__(self, path: Path, presence: Presence | None = None) -> None:
        self.presence = presence  # None: always lock
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        _lock(self.fd)
        try:
            if os.fstat(self.fd).st_size < RING_AT:
                os.ftruncate(self.fd, RING_AT)  # zeros: empty buckets
            raw = os.pread(self.fd, _HEADER.size, 0)
            if _HEADER.unpack(raw)[0] != MAGIC:  # new (or not ours): empty buckets, no ring
                os.pwrite(self.fd, _HEADER.pack(MAGIC, 0, 0, -1, 0, 0) + bytes(RING_AT - _HEADER.size), 0)
            self.mm = mmap.mmap(self.fd, 0)
        finally:
            _unlock(self.fd)
        self._pending: list[tuple[int, int]] = []  # (second, tokens) not yet in the file

    def close(self) -> None:
        self.publish()
        self.mm.close()
        os.close(self.fd)

    def _acquire(self) -> bool:
        """Take the file's lock unless this process is alone with it; whether it was taken."""
        if self.presence is not None and self.presence.alone:
            return False
        _lock(self.fd)
        return True

    def _ring(self, rpm: int) -> tuple[int, int]:
        """(capacity, head) of the rpm ring, started afresh when rpm changed. Under the lock."""
        _, cap, head = _RING_HEADER.unpack_from(self.mm, 0)
        size = RING_AT + rpm * _SLOT.size
        if cap != rpm:
            if os.fstat(self.fd).st_size < size:
                os.ftruncate(self.fd, size)
            self._map(size)
            self.mm[RING_AT:size] = bytes(rpm * _SLOT.size)
            _RING_HEADER.pack_into(self.mm, 0, MAGIC, rpm, 0)
            return rpm, 0
        self._map(size)
        return cap, head

    def _map(self, size: int) -> None:
        if len(self.mm) < size:  # another process grew the file
            self.mm.close()
            self.mm = mmap.mmap(self.fd, 0)

    def _tokens(self, now: float) -> list[tuple[int, int]]:
        """(second, tokens) of the buckets inside the window, oldest first."""
        values = _BUCKETS.unpack_from(self.mm, TPM_AT)
        low = math.floor(now) - BUCKETS
        current = low + BUCKETS
        return sorted(
            (sec, t) for sec, t in zip(values[0::2], values[1::2], strict=True) if t and low < sec <= current
        )

    def _window_tokens(self, now: float) -> int:
        """Tokens in the window at `now`: the cached total when it is for this second. Under lock."""
        current = math.floor(now)
        cached_sec, cached = _CACHE.unpack_from(self.mm, CACHE_AT)
        if cached_sec == current:
            return int(cached)
        values = _BUCKETS.unpack_from(self.mm, TPM_AT)
        low = current - BUCKETS
        used = sum(t for sec, t in zip(values[0::2], values[1::2], strict=True) if low < sec <= current)
        _CACHE.pack_into(self.mm, CACHE_AT, current, used)
        return used

    def admit(self, policy: KeyPolicy, now: float, others: tuple[int, int] = (0, 0)) -> None:
        """Take an rpm slot, after checking tpm; raises Refused (taking nothing) when over.
        `others`: (requests, tokens) other instances counted in the window (gateway.shared_limits),
        taken off this machine's share of the limits."""
        locked = self._acquire()
        try:
            if self._pending:
                self._write_tokens()
            if policy.tpm is not None:
                used = self._window_tokens(now) + others[1]
                if used >= policy.tpm:
                    for sec, tokens in self._tokens(now):  # wait until the window drops below tpm
                        used -= tokens
                        if used < policy.tpm:
                            raise Refused(f"tpm {policy.tpm}", whole_seconds(sec + BUCKETS - now))
                    raise Refused(f"tpm {policy.tpm}", OTHERS_RETRY)  # over on the others' tokens
            if policy.rpm is not None:
                cap, head = self._ring(policy.rpm)
                mine = policy.rpm - others[0]  # what this machine may have in the window
                if mine <= 0:
                    raise Refused(f"rpm {policy.rpm}", OTHERS_RETRY)
                # the mine-th most recent admission (mine == rpm: the oldest slot, at head)
                (oldest,) = _SLOT.unpack_from(self.mm, RING_AT + ((head - mine) % cap) * _SLOT.size)
                if oldest > now - WINDOW_SECONDS:
                    raise Refused(f"rpm {policy.rpm}", whole_seconds(oldest + WINDOW_SECONDS - now))
                at = RING_AT + head * _SLOT.size
                _SLOT.pack_into(self.mm, at, now)
                _HEAD.pack_into(self.mm, 16, (head + 1) % cap)
        finally:
            if locked:
                _unlock(self.fd)

    def add_tokens(self, tokens: int, now: float) -> None:
        """A finished request's tokens, counted in the second `now` falls in. No lock: they wait
        in this process until its next admission or `publish`."""
        if tokens > 0:
            self._pending.append((math.floor(now), tokens))

    @property
    def unpublished(self) -> bool:
        return bool(self._pending)

    def publish(self) -> None:
        """Write this process's waiting tokens into the shared file."""
        if not self._pending:
            return
        locked = self._acquire()
        try:
            self._write_tokens()
        finally:
            if locked:
                _unlock(self.fd)

    def _write_tokens(self) -> None:
        """The waiting tokens into their buckets. Under the lock."""
        pending, self._pending = self._pending, []
        for sec, tokens in pending:
            at = TPM_AT + (sec % BUCKETS) * _BUCKET.size
            old_sec, old = _BUCKET.unpack_from(self.mm, at)
            if old_sec > sec:  # that bucket already holds a later second: these left the window
                continue
            _BUCKET.pack_into(self.mm, at, sec, old + tokens if old_sec == sec else tokens)
            cached_sec, cached = _CACHE.unpack_from(self.mm, CACHE_AT)
            if cached_sec - BUCKETS < sec <= cached_sec:  # inside the cached window: keep it exact
                _CACHE.pack_into(self.mm, CACHE_AT, cached_sec, cached + tokens)
            elif sec > cached_sec:  # a newer second: sum afresh next time
                _CACHE.pack_into(self.mm, CACHE_AT, -1, 0)

    def per_second(self, now: float) -> list[tuple[int, int, int]]:
        """(second, requests admitted, tokens) of this machine, for each second of the window
        that has any (gateway.shared_limits publishes them)."""
        locked = self._acquire()
        try:
            self._write_tokens()
            seconds: dict[int, list[int]] = {}
            for sec, tokens in self._tokens(now):
                seconds.setdefault(sec, [0, 0])[1] += tokens
            _, cap, _ = _RING_HEADER.unpack_from(self.mm, 0)
            self._map(RING_AT + cap * _SLOT.size)
            low = now - WINDOW_SECONDS
            for (t,) in _SLOT.iter_unpack(self.mm[RING_AT : RING_AT + cap * _SLOT.size]):
                if t > low:
                    seconds.setdefault(math.floor(t), [0, 0])[0] += 1
            return [(sec, r, t) for sec, (r, t) in sorted(seconds.items())]
        finally:
            if locked:
                _unlock(self.fd)

    def current(self, policy: KeyPolicy, now: float) -> tuple[int, int]:
        """(requests, tokens) in the window now, for /health."""
        locked = self._acquire()
        try:
            self._write_tokens()
            tokens = sum(t for _, t in self._tokens(now))
            _, cap, _ = _RING_HEADER.unpack_from(self.mm, 0)
            self._map(RING_AT + cap * _SLOT.size)
            low = now - WINDOW_SECONDS
            ring = self.mm[RING_AT : RING_AT + cap * _SLOT.size]
            requests = sum(1 for (t,) in _SLOT.iter_unpack(ring) if t > low)
            return requests, tokens
        finally:
            if locked:
                _unlock(self.fd)


class Windows:
    """Every key's KeyWindow, opened on first use, in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._open: dict[str, KeyWindow] = {}
        self.presence: Presence | None = None  # held from the first window opened

    def get(self, name: str) -> KeyWindow:
        window = self._open.get(name)
        if window is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            if self.presence is None:
                self.presence = Presence(self.folder)
            digest = hashlib.sha256(name.encode()).hexdigest()[:24]
            window = self._open[name] = KeyWindow(self.folder / digest, self.presence)
        return window

    def check_alone(self) -> None:
        """Every PRESENCE_SECONDS (gateway.admission): does this process still have them alone?"""
        if self.presence is not None:
            self.presence.check()

    def publish(self) -> None:
        """Every window's waiting tokens into its file."""
        for window in self._open.values():
            window.publish()

    def close(self) -> None:
        for window in self._open.values():
            window.close()
        self._open.clear()
        if self.presence is not None:
            self.presence.close()
            self.presence = None


def folder_for(database: Path) -> Path:
    return database.with_name(database.name + ".limits")
