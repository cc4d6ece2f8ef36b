"""Quota state shared by the fronts of one server (``serve --workers N``): one memory-mapped file.

Each front is a process of its own, so a :class:`~trellis.quotas.QuotaTracker` that kept its token
buckets and stream counts in memory would give an agent that spreads its calls over several
connections N times its allowance. The fronts keep them instead in one table, a file in the
server's run directory, read and written under an ``flock`` (and a thread lock, since an ``flock``
does not exclude the threads of one process from each other):

- one slot per identity (open addressing on a 64-bit digest of the name; a slot is never emptied,
  only reused for another identity once its bucket is full again and it has no open stream), holding
  the token bucket (tokens, time of the last refill on the machine's monotonic clock, which every
  process shares) and
- one open-stream count per front (a column per front), which a front zeroes when it starts: the
  streams of a front that was killed ended with it, and its replacement does not inherit them.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import struct
import threading
from pathlib import Path
from typing import cast

__all__ = ["SharedQuotaTable"]

SLOTS = 16384
FRONTS = 64  # columns of stream counts; front i uses column i % FRONTS
PROBES = 64  # slots looked at for an identity before one is reused
_HEAD = struct.Struct("<Qdd")  # identity digest (0: empty), tokens, stamp
_STREAMS = struct.Struct(f"<{FRONTS}H")
SLOT_BYTES = _HEAD.size + _STREAMS.size
MAGIC = b"trellis-quotas-1"
SIZE = len(MAGIC) + SLOTS * SLOT_BYTES


def _digest(identity: str) -> int:
    return int.from_bytes(hashlib.blake2b(identity.encode(), digest_size=8).digest(), "little") or 1


class SharedQuotaTable:
    """The token buckets and stream counts of every identity, shared through ``path`` (created if missing)."""

    def __init__(self, path: Path, front: int) -> None:
        self.column = front % FRONTS
        self._thread_lock = threading.Lock()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                if os.fstat(self._fd).st_size != SIZE or os.pread(self._fd, len(MAGIC), 0) != MAGIC:
                    os.ftruncate(self._fd, 0)  # a table of another layout, or half made: start empty
                    os.ftruncate(self._fd, SIZE)
                    os.pwrite(self._fd, MAGIC, 0)
                self._map = mmap.mmap(self._fd, SIZE)
                zero = b"\x00\x00"
                for slot in range(SLOTS):  # this front's streams from an earlier life are gone
                    at = self._offset(slot) + _HEAD.size + 2 * self.column
                    self._map[at : at + 2] = zero
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        except BaseException:
            os.close(self._fd)
            raise

    @staticmethod
    def _offset(slot: int) -> int:
        return len(MAGIC) + slot * SLOT_BYTES

    def _slot(self, identity: str, now: float, rate: float, burst: int) -> int:
        """The identity's slot (taken, or reused from an idle identity, if it has none); -1 if none is free."""
        key = _digest(identity)
        start = key % SLOTS
        reusable = -1
        for probe in range(PROBES):
            slot = (start + probe) % SLOTS
            at = self._offset(slot)
            held, tokens, stamp = _HEAD.unpack_from(self._map, at)
            if held == key:
                return slot
            if held == 0:
                _HEAD.pack_into(self._map, at, key, float(burst), now)
                return slot
            if (
                reusable < 0
                and (rate <= 0 or tokens + (now - stamp) * rate >= burst)
                and not any(_STREAMS.unpack_from(self._map, at + _HEAD.size))
            ):
                reusable = slot
        if reusable >= 0:
            at = self._offset(reusable)
            _HEAD.pack_into(self._map, at, key, float(burst), now)
            _STREAMS.pack_into(self._map, at + _HEAD.size, *([0] * FRONTS))
        return reusable

    def take(self, identity: str, now: float, rate: float, burst: int) -> float | None:
        """Spend one token of ``identity``'s bucket: None, or the seconds to wait for one."""
        with self._thread_lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                slot = self._slot(identity, now, rate, burst)
                if slot < 0:
                    return None  # the table is full of active identities: let the call through
                at = self._offset(slot)
                key, tokens, stamp = _HEAD.unpack_from(self._map, at)
                tokens = min(float(burst), tokens + max(0.0, now - stamp) * rate)
                if tokens >= 1.0 - 1e-9:  # (float rounding of the refill)
                    _HEAD.pack_into(self._map, at, key, max(0.0, tokens - 1.0), now)
                    return None
                _HEAD.pack_into(self._map, at, key, tokens, now)
                return cast(float, (1.0 - tokens) / rate)  # struct's values are Any
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def open_stream(self, identity: str, limit: int, now: float, rate: float, burst: int) -> bool:
        """Count one more stream of ``identity`` in this front's column, unless all fronts hold ``limit``."""
        with self._thread_lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                slot = self._slot(identity, now, rate, burst)
                if slot < 0:
                    return True
                at = self._offset(slot) + _HEAD.size
                counts = list(_STREAMS.unpack_from(self._map, at))
                if sum(counts) >= limit or counts[self.column] == 0xFFFF:
                    return False
                counts[self.column] += 1
                _STREAMS.pack_into(self._map, at, *counts)
                return True
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close_stream(self, identity: str) -> None:
        key = _digest(identity)
        with self._thread_lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                start = key % SLOTS
                for probe in range(PROBES):
                    at = self._offset((start + probe) % SLOTS)
                    held = _HEAD.unpack_from(self._map, at)[0]
                    if held == 0:
                        return
                    if held == key:
                        column = at + _HEAD.size + 2 * self.column
                        (count,) = struct.unpack_from("<H", self._map, column)
                        struct.pack_into("<H", self._map, column, max(0, count - 1))
                        return
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)
