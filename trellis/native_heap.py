"""The C heap of a server process: how many glibc malloc arenas its threads share.

glibc gives threads that allocate at the same time arenas of their own, up to eight per core, and an arena
keeps the free space between its live chunks: it is reused by that arena's threads only, and handed back to
the system only where whole pages are free. A front of ``serve --workers`` runs its calls on a pool of
~50 threads (the admission queue lets eight run at once, but every pool thread that ever ran one has an
arena), and their native allocations (libgit2's objects and reads, gRPC's buffers, tree-sitter's trees,
Python's objects above 512 bytes) are short-lived ones among long-lived ones (libgit2's object cache, the
parse cache's trees): each arena's free space kept growing. Under ``bench_load.py`` with small cache
bounds a front's arenas held ~40 MB in use and grew by ~5 MB/min of free space, 16 arenas on 2 cores
(benchmarks/RESULTS.md, "Issue 12, memory level of the fronts").

:func:`limit_arenas` caps the arenas (``mallopt(M_ARENA_MAX)``), as the environment variable
``MALLOC_ARENA_MAX`` would for a whole process tree, which it leaves alone when it is set. The threads of
a front run Python under one GIL, so they seldom allocate at the same time: two arenas serve them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["arenas_in_use", "limit_arenas"]

_M_ARENA_MAX = -8  # glibc's malloc.h


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_info") else None  # glibc, not musl


def limit_arenas(arenas: int) -> bool:
    """Let this process's threads share at most ``arenas`` malloc arenas from now on (0: glibc's default, eight
    per core). Arenas made before stay. Returns whether the limit was set: not off glibc, nor when the
    environment sets ``MALLOC_ARENA_MAX`` (that setting wins)."""
    if arenas <= 0 or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    libc = _libc()
    return libc is not None and libc.mallopt(_M_ARENA_MAX, arenas) == 1


def arenas_in_use() -> int | None:
    """The malloc arenas this process has made (glibc's ``malloc_info``), or None off glibc."""
    libc = _libc()
    if libc is None:
        return None
    libc.open_memstream.restype = ctypes.c_void_p
    libc.open_memstream.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    buffer, size = ctypes.c_void_p(), ctypes.c_size_t()
    stream = libc.open_memstream(ctypes.byref(buffer), ctypes.byref(size))
    if not stream:
        return None
    try:
        libc.malloc_info(0, stream)
    finally:
        libc.fclose(stream)
    text = ctypes.string_at(buffer.value, size.value).decode() if buffer.value else ""
    libc.free.argtypes = [ctypes.c_void_p]
    libc.free(buffer)
    return text.count("<heap nr=")
