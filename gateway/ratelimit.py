"""rpm / tpm windows shared by every worker process (and every instance) on one machine.

One small file per limited key, in a folder beside the usage database
(`usage.db` -> `usage.db.limits/<hash of the key name>`), mapped into memory and read and written
under an exclusive `flock`. Every worker opens the same files, so the limit is exact across
workers: an admission is one locked read-check-write in shared memory (a lock, a few indexes
into the mapping, an unlock), and no two workers can both take the last slot. The lock keeps the
GIL unless another process holds it (`_lock`). The files hold only timestamps and token counts,
never a key or a prompt.

Layout (native byte order, read through int64 / float64 views of the mapping):

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
process, summed per second (`add_tokens` takes no lock), and count in its own admissions at once;
`publish` (gateway.admission calls it within PUBLISH_SECONDS) writes them into the file, so the
other workers see them within 50 ms. That keeps the file out of a request's end entirely.

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
# The file is read through int64 / float64 views of the mapping (`KeyWindow.q`, `.d`): an index
# each, no struct call on the hot path. Native byte order: the file never leaves its machine.
CAP_Q, HEAD_Q, CACHED_SEC_Q, CACHED_TOKENS_Q = 1, 2, 3, 4  # q[0] is the magic number
HEADER_WORDS = 6
BUCKETS = 60
TPM_Q = HEADER_WORDS  # bucket b: q[TPM_Q + 2b] = its second, q[TPM_Q + 2b + 1] = its tokens
RING_Q = TPM_Q + 2 * BUCKETS  # slot i: d[RING_Q + i] = an admission time
RING_AT = RING_Q * 8  # in bytes: 1008
_HEADER = struct.Struct("=qqqqqq")


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

    __slots__ = ("alone", "fd")

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

    __slots__ = ("_pending", "_pending_total", "_view", "d", "fd", "mm", "presence", "q", "slots")

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
            self._map()
        finally:
            _unlock(self.fd)
        # tokens of finished requests not in the file yet: second -> tokens, and their sum
        self._pending: dict[int, int] = {}
        self._pending_total = 0

    def _map(self) -> None:
        """Map the whole file; `q` sees it as int64 words, `d` as float64 slots."""
        self.mm = mmap.mmap(self.fd, os.fstat(self.fd).st_size // 8 * 8)
        self._view = memoryview(self.mm)
        self.q = self._view.cast("q")
        self.d = self._view.cast("d")
        self.slots = len(self.d) - RING_Q  # rpm ring slots this mapping reaches

    def _unmap(self) -> None:
        for view in (self.q, self.d, self._view):
            view.release()
        self.mm.close()

    def close(self) -> None:
        self.publish()
        self._unmap()
        os.close(self.fd)

    def _acquire(self) -> bool:
        """Take the file's lock unless this process is alone with it; whether it was taken."""
        if self.presence is not None and self.presence.alone:
            return False
        _lock(self.fd)
        return True

    def _ring(self, rpm: int) -> None:
        """Make the ring `rpm` slots, started afresh when rpm changed; map the file again when
        it grew (here or in another process). Under the lock."""
        if self.q[CAP_Q] != rpm:
            size = (RING_Q + rpm) * 8
            if os.fstat(self.fd).st_size < size:
                os.ftruncate(self.fd, size)
            if self.slots < rpm:
                self._unmap()
                self._map()
            self.mm[RING_AT:size] = bytes(rpm * 8)
            self.q[CAP_Q] = rpm
            self.q[HEAD_Q] = 0
        elif self.slots < rpm:  # another process grew the file
            self._unmap()
            self._map()

    def _tokens(self, now: float) -> list[tuple[int, int]]:
        """(second, tokens) of the buckets inside the window, oldest first."""
        words = self.q[TPM_Q:RING_Q].tolist()
        current = math.floor(now)
        low = current - BUCKETS
        return sorted(
            (sec, t) for sec, t in zip(words[0::2], words[1::2], strict=True) if t and low < sec <= current
        )

    def _window_tokens(self, second: int) -> int:
        """Tokens in the file's window at `second`: the cached total when it is for this second,
        else summed and cached. Under the lock."""
        q = self.q
        if q[CACHED_SEC_Q] == second:
            return q[CACHED_TOKENS_Q]
        words = q[TPM_Q:RING_Q].tolist()
        low = second - BUCKETS
        used = sum(t for sec, t in zip(words[0::2], words[1::2], strict=True) if low < sec <= second)
        q[CACHED_SEC_Q] = second
        q[CACHED_TOKENS_Q] = used
        return used

    def admit(self, policy: KeyPolicy, now: float, others: tuple[int, int] | None = None) -> None:
        """Take an rpm slot, after checking tpm; raises Refused (taking nothing) when over.
        `others`: (requests, tokens) other instances counted in the window (gateway.shared_limits),
        taken off this machine's share of the limits. The hot path: a few indexes into the map."""
        presence = self.presence
        locked = presence is None or not presence.alone
        if locked:
            _lock(self.fd)
        try:
            q = self.q
            tpm = policy.tpm
            if tpm is not None:
                second = int(now)
                used = q[CACHED_TOKENS_Q] if q[CACHED_SEC_Q] == second else self._window_tokens(second)
                # this process's waiting tokens count too; while the sum is below tpm it is exact
                # or over (a waiting token may have left the window), so only a refusal looks closer
                if others is not None:
                    used += others[1]
                if used + self._pending_total >= tpm:
                    self._check_tpm(tpm, now, others[1] if others is not None else 0)
            rpm = policy.rpm
            if rpm is not None:
                if q[CAP_Q] != rpm or self.slots < rpm:
                    self._ring(rpm)
                    q = self.q
                head = q[HEAD_Q]
                d = self.d
                if others is None:  # the oldest of the last rpm admissions: the slot at head
                    oldest = d[RING_Q + head]
                else:  # the mine-th most recent: this machine's share of the window
                    mine = rpm - others[0]
                    if mine <= 0:
                        raise Refused(f"rpm {rpm}", OTHERS_RETRY)
                    oldest = d[RING_Q + (head - mine) % rpm]
                if oldest > now - WINDOW_SECONDS:
                    raise Refused(f"rpm {rpm}", whole_seconds(oldest + WINDOW_SECONDS - now))
                d[RING_Q + head] = now
                q[HEAD_Q] = head + 1 if head + 1 < rpm else 0
        finally:
            if locked:
                _unlock(self.fd)

    def _check_tpm(self, tpm: int, now: float, others: int) -> None:
        """With this process's waiting tokens written: refuse when the window is at or over tpm,
        with `retry-after` the whole seconds until enough buckets leave it. Under the lock."""
        self._write_tokens()
        used = self._window_tokens(math.floor(now)) + others
        if used < tpm:
            return
        for sec, tokens in self._tokens(now):  # wait until the window drops below tpm
            used -= tokens
            if used < tpm:
                raise Refused(f"tpm {tpm}", whole_seconds(sec + BUCKETS - now))
        raise Refused(f"tpm {tpm}", OTHERS_RETRY)  # over on the others' tokens

    def add_tokens(self, tokens: int, now: float) -> None:
        """A finished request's tokens, counted in the second `now` falls in. No lock: they wait
        in this process (and count in its admissions) until `publish`."""
        if tokens > 0:
            second = int(now)
            self._pending[second] = self._pending.get(second, 0) + tokens
            self._pending_total += tokens

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
        if not self._pending:
            return
        pending, self._pending, self._pending_total = self._pending, {}, 0
        q = self.q
        for sec, tokens in pending.items():
            at = TPM_Q + 2 * (sec % BUCKETS)
            old_sec = q[at]
            if old_sec > sec:  # that bucket already holds a later second: these left the window
                continue
            q[at + 1] = q[at + 1] + tokens if old_sec == sec else tokens
            q[at] = sec
            cached_sec = q[CACHED_SEC_Q]
            if cached_sec - BUCKETS < sec <= cached_sec:  # inside the cached window: keep it exact
                q[CACHED_TOKENS_Q] += tokens
            elif sec > cached_sec:  # a newer second: sum afresh next time
                q[CACHED_SEC_Q] = -1
                q[CACHED_TOKENS_Q] = 0

    def _admissions(self) -> list[float]:
        """The rpm ring's admission times (0.0: never used). Under the lock."""
        cap = self.q[CAP_Q]
        if self.slots < cap:
            self._unmap()
            self._map()
        return list(map(float, self.d[RING_Q : RING_Q + cap].tolist()))

    def per_second(self, now: float) -> list[tuple[int, int, int]]:
        """(second, requests admitted, tokens) of this machine, for each second of the window
        that has any (gateway.shared_limits publishes them)."""
        locked = self._acquire()
        try:
            self._write_tokens()
            seconds: dict[int, list[int]] = {}
            for sec, tokens in self._tokens(now):
                seconds.setdefault(sec, [0, 0])[1] += tokens
            low = now - WINDOW_SECONDS
            for t in self._admissions():
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
            low = now - WINDOW_SECONDS
            return sum(1 for t in self._admissions() if t > low), tokens
        finally:
            if locked:
                _unlock(self.fd)


class Windows:
    """Every key's KeyWindow, opened on first use, in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.open: dict[str, KeyWindow] = {}  # by key name (the hot path looks here first)
        self.presence: Presence | None = None  # held from the first window opened

    def get(self, name: str) -> KeyWindow:
        window = self.open.get(name)
        if window is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            if self.presence is None:
                self.presence = Presence(self.folder)
            digest = hashlib.sha256(name.encode()).hexdigest()[:24]
            window = self.open[name] = KeyWindow(self.folder / digest, self.presence)
        return window

    def check_alone(self) -> None:
        """Every PRESENCE_SECONDS (gateway.admission): does this process still have them alone?"""
        if self.presence is not None:
            self.presence.check()

    def publish(self) -> None:
        """Every window's waiting tokens into its file."""
        for window in self.open.values():
            window.publish()

    def close(self) -> None:
        for window in self.open.values():
            window.close()
        self.open.clear()
        if self.presence is not None:
            self.presence.close()
            self.presence = None


def folder_for(database: Path) -> Path:
    return database.with_name(database.name + ".limits")
