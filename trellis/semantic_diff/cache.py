"""A thread-safe LRU of parse results, bounded by an estimate of the memory they hold.

Keys are ``(language, blob id)``: git blob ids when the caller has them (the
server always does), otherwise a BLAKE2 digest of the content. A micro-commit
changes a few files whose old versions were parsed when the previous commit
was diffed, so the old side is almost always a hit and the new side is parsed
incrementally from it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .parse import Parsed

__all__ = ["CacheStats", "ParseCache"]

DEFAULT_MAX_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters of a :class:`ParseCache`."""

    hits: int
    misses: int
    entries: int
    bytes: int
    max_bytes: int


class ParseCache:
    """LRU of parsed files keyed by ``(language, blob id)``, at most ``max_bytes`` (estimated).

    The estimate counts the content, the tree-sitter tree (about 24 bytes per
    content byte) and the entity records. An entry larger than the whole bound
    is not kept. Safe to share between threads.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], Parsed] = OrderedDict()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Parsed | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return entry

    def put(self, key: tuple[str, str], parsed: Parsed) -> None:
        cost = parsed.cost
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.cost
            if cost > self.max_bytes:
                return
            self._entries[key] = parsed
            self._bytes += cost
            while self._bytes > self.max_bytes and self._entries:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.cost

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._entries), self._bytes, self.max_bytes)
