"""The result cache: a job's verdict, keyed by what determines it.

The key hashes the stage's definition, the job's inputs (the git ids of what
it reads: a file's blob for a syntax check, the whole tree for commands and
tests, plus the substituted command and the selected tests) and the
toolchain (Python, pytest and Trellis versions, the platform). Only verdicts
about the code (passed / failed) are cached, never a timeout, an error of the
check itself or a cancellation. Entries are JSON files under
``<data>/cache/results/`` written atomically, with a bounded in-memory LRU in
front so a repeated job answers in microseconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import threading
from collections import OrderedDict
from dataclasses import replace
from importlib import metadata
from pathlib import Path

from ..runs import JobResult, Verdict, _job_from, _job_json

__all__ = ["ResultCache", "cache_key", "toolchain"]

CACHEABLE = frozenset({Verdict.PASSED, Verdict.FAILED})


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


_TOOLCHAIN: str | None = None


def toolchain() -> str:
    """A digest of what runs the jobs: interpreter, platform, pytest, tree-sitter and Trellis."""
    global _TOOLCHAIN
    if _TOOLCHAIN is None:
        parts = [sys.version, platform.platform(), _version("pytest"), _version("tree-sitter"), _version("trellis-vcs")]
        _TOOLCHAIN = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    return _TOOLCHAIN


def cache_key(definition_hash: str, inputs: tuple[str, ...]) -> str:
    return hashlib.sha256("\0".join((definition_hash, toolchain(), *inputs)).encode()).hexdigest()


class ResultCache:
    def __init__(self, root: Path, *, memory_entries: int = 4096) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._memory: OrderedDict[str, JobResult] = OrderedDict()
        self._limit = memory_entries
        self._guard = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> JobResult | None:
        with self._guard:
            found = self._memory.get(key)
            if found is not None:
                self._memory.move_to_end(key)
                self.hits += 1
                return found
        try:
            found = _job_from(json.loads(self._path(key).read_bytes()))
        except (OSError, ValueError, KeyError, TypeError):
            with self._guard:
                self.misses += 1
            return None
        self._remember(key, found)
        with self._guard:
            self.hits += 1
        return found

    def put(self, key: str, result: JobResult) -> None:
        if result.verdict not in CACHEABLE:
            return
        stored = replace(result, cached=False, start_time=None, end_time=None)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(json.dumps(_job_json(stored)).encode())
        os.replace(tmp, path)
        self._remember(key, stored)

    def _remember(self, key: str, result: JobResult) -> None:
        with self._guard:
            self._memory[key] = result
            self._memory.move_to_end(key)
            while len(self._memory) > self._limit:
                self._memory.popitem(last=False)
