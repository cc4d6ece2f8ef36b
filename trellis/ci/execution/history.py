"""Recorded test durations: what balances shards and sets each test's timeout.

Per repository, the last few durations of every test that passed (a failure
or a timeout says nothing about how long the test takes). Kept in memory and
in one JSON file per repository under ``root`` (written atomically after each
job), so a restarted server keeps its estimates.

Beside them, per stage definition (a ``scope``), what a confirmation learned
about the project's test order (:mod:`trellis.ci.execution.confirm`): for a
test found order-dependent, the earlier tests that made it pass (narrowed
once), run before it the next time instead of its whole collection prefix.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["TRUSTED", "TestTimes"]

KEEP = 10  # durations kept per test
TRUSTED = 3  # durations before a test's p95 alone sets its timeout


class TestTimes:
    """Durations per repository and test id; ``root`` None keeps them in memory only."""

    __test__ = False  # not a pytest test class

    def __init__(self, root: Path | None = None, *, keep: int = KEEP) -> None:
        self.root = Path(root) if root is not None else None
        self.keep = keep
        self._data: dict[str, dict[str, list[float]]] = {}
        self._needs: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {}  # repository -> scope -> test -> before
        self._guard = threading.Lock()

    def _path(self, repository: str) -> Path | None:
        if self.root is None:
            return None
        return self.root / f"{hashlib.sha256(repository.encode()).hexdigest()[:24]}.json"

    def _load(self, repository: str) -> dict[str, list[float]]:
        found = self._data.get(repository)
        if found is not None:
            return found
        loaded: dict[str, list[float]] = {}
        needs: dict[str, dict[str, tuple[str, ...]]] = {}
        path = self._path(repository)
        if path is not None:
            try:
                raw = json.loads(path.read_bytes())
            except (OSError, ValueError):
                raw = {}
            if not isinstance(raw, dict):
                raw = {}
            try:
                loaded = {str(k): [float(x) for x in v][-self.keep :] for k, v in raw.get("tests", {}).items()}
            except (ValueError, TypeError, AttributeError):
                loaded = {}
            try:
                needs = {
                    str(scope): {str(k): tuple(str(x) for x in v) for k, v in tests.items()}
                    for scope, tests in raw.get("needs", {}).items()
                }
            except (ValueError, TypeError, AttributeError):
                needs = {}
        self._data[repository] = loaded
        self._needs[repository] = needs
        return loaded

    def record(self, repository: str, results: Iterable[tuple[str, str, float]]) -> None:
        """Add (test id, outcome, seconds) of a job; only passed tests count."""
        with self._guard:
            data = self._load(repository)
            changed = False
            for nodeid, outcome, seconds in results:
                if outcome != "passed" or not math.isfinite(seconds) or seconds < 0:
                    continue
                series = data.setdefault(nodeid, [])
                series.append(round(seconds, 6))
                del series[: -self.keep]
                changed = True
            if changed:
                self._save(repository)

    def needs(self, repository: str, scope: str) -> dict[str, tuple[str, ...]]:
        """For each test found order-dependent under ``scope``: the earlier tests that made it pass."""
        with self._guard:
            self._load(repository)
            return dict(self._needs[repository].get(scope, {}))

    def remember_needs(self, repository: str, scope: str, needs: Mapping[str, Iterable[str]]) -> None:
        """Record (replacing what was there) the earlier tests each test of ``needs`` passed after."""
        if not needs:
            return
        with self._guard:
            self._load(repository)
            self._needs[repository].setdefault(scope, {}).update({k: tuple(v) for k, v in needs.items()})
            self._save(repository)

    def _save(self, repository: str) -> None:
        path = self._path(repository)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        needs = {scope: {k: list(v) for k, v in tests.items()} for scope, tests in self._needs[repository].items()}
        tmp.write_text(json.dumps({"repository": repository, "tests": self._data[repository], "needs": needs}))
        os.replace(tmp, path)

    def expected(self, repository: str) -> dict[str, float]:
        """The median recorded duration of each test (what shards are balanced by)."""
        with self._guard:
            return {k: _quantile(v, 0.5) for k, v in self._load(repository).items() if v}

    def p95(self, repository: str) -> dict[str, float]:
        with self._guard:
            return {k: _quantile(v, 0.95) for k, v in self._load(repository).items() if v}

    def timeouts(
        self, repository: str, *, factor: float, floor_s: float, default_s: float, cap_s: float
    ) -> dict[str, float]:
        """Each recorded test's timeout: ``factor`` x its p95, at least ``floor_s``, at most ``cap_s``.

        With fewer than :data:`TRUSTED` durations the p95 is a guess (one run on a quiet
        machine says little about the next on a busy one): at least ``default_s`` then.
        """
        with self._guard:
            data = {k: v for k, v in self._load(repository).items() if v}
        out: dict[str, float] = {}
        for nodeid, series in data.items():
            floor = floor_s if len(series) >= TRUSTED else max(floor_s, default_s)
            out[nodeid] = round(min(cap_s, max(floor, factor * _quantile(series, 0.95))), 3)
        return out


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1 if q > 0 else 0)]
