"""Failures of a subset of the suite, confirmed in the order the project's own run gives them.

A selected subset runs a test without the tests pytest runs before it in the
project's whole run. A test that depends on state those tests leave (a
submodule another test imported, a cache, a module global, the environment,
the working directory, a file) fails in the subset and passes in the whole
run: a failure of the project's test order, not of the change. A shard of a
job is such a subset too: each process runs its part of the collection. So
when a job ran a subset (``only``, ``reused`` tests left out, or in shards)
and tests failed, each failure is confirmed before it is reported: one more
job, on the same tree with the project's own command line, runs what that command collects (no
``only``, nothing reused, one process) *up to the last failing test*
(``TestPlan.until``), in pytest's collection order. A failure that stays
is reported as it came. A failing test that passes after its collection
prefix is *order-dependent*: its result is a pass with the message
``order-dependent: fails without the N tests collected before it``, the
outcome names it (``JobOutcome.order_dependent``) and its job's verdict is
what the project's whole run gives. An injected fault that breaks the test
fails both alone and after its prefix, so it still fails the job.

The other way round, a test that passes alone but fails after its prefix (a
test broken by state another test leaves) is a failure the project's whole
run finds and the subset does not. Finding it for every passing test means
running every passing test's prefix: the whole suite up to the last selected
test, on every push; that is what the periodic or on-demand full run is for
(it reports such a test as a selection miss). Where a confirmation runs
anyway, it costs nothing: a test of the subset that passed there and fails in
the confirmation's prefix run fails the job (``order-dependent: passes alone,
fails after the N tests collected before it``).

What bounds the cost (a real failure pays for one confirmation):

- only a test that passed in an earlier run of the repository (it has a
  recorded duration): a test that never passed has no order to blame;
- the prefix's recorded durations (every recorded test of a file walked
  before the failing test's, and of its own file) at most ``BUDGET_S``;
- the prefix runs only up to the last failing test, in one process, under the
  stage's limits and per-test timeouts; a confirmation that does not end by
  itself (timed out, killed, a collection error) confirms nothing.

What a confirmation learns is kept (``needs``/``remember``, stored beside the
recorded durations per stage definition): when tests are found order-dependent
after their whole prefix, the prefix's files are narrowed once by bisection
(a half of the files, run before the tests, that still makes every one of them
pass is kept; one file left, its tests are bisected; at most ``MAX_NARROWING``
runs) to the earlier tests that make them pass, kept for each of them and for
its parametrised test (which items fail alone may change from run to run). The next confirmation of such a test runs only those before it; a
test that does not pass after them is confirmed after its whole prefix as
above (and narrowed again). So a failure turns into an order-dependent pass
only after a real run of tests the project runs before it, in its order.

With ``fail_fast`` the job stopped at its first failure, so a failure found
order-dependent leaves tests of the selection unrun: they run in one more job
(the same plan without the tests done), whose failures are confirmed the same
way, at most ``MAX_ROUNDS`` times; failures past that stand.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import replace

from .jobs import JobOutcome, JobRequest, TestOutcome, TestPlan, TestResult, summarize
from .shards import collection_order, merge

__all__ = ["BUDGET_S", "MAX_NARROWING", "MAX_ROUNDS", "ORDER_DEPENDENT", "confirm_failures", "is_subset"]

BUDGET_S = 60.0  # recorded seconds of a prefix worth running to confirm a failure
MAX_ROUNDS = 3
MAX_NARROWING = 24  # runs spent, once, narrowing a prefix to the earlier tests an order-dependent test needs
ORDER_DEPENDENT = "order-dependent: "

_Submit = Callable[[JobRequest, int], "Future[JobOutcome]"]
_Remember = Callable[[Mapping[str, tuple[str, ...]]], None]


def is_subset(plan: TestPlan | None, shards: int = 1) -> bool:
    """Does a job with ``plan`` in ``shards`` processes run tests without their prefix: less than its command
    line collects, or split so that each process runs part of it?"""
    return plan is not None and (plan.only is not None or bool(plan.reused) or shards > 1)


def _failing(outcome: JobOutcome) -> list[TestOutcome]:
    return [t for t in outcome.tests if t.outcome in ("failed", "error") and t.index >= 0]


def _file_key(nodeid: str) -> tuple[str, ...]:
    return tuple(nodeid.split("::", 1)[0].split("/"))


def prefix_seconds(nodeid: str, expected: Mapping[str, float]) -> float:
    """The recorded seconds of what runs up to ``nodeid``: every recorded test of a file walked before its
    own, and of its own file (an upper bound within the file)."""
    last = _file_key(nodeid)
    return sum(s for n, s in expected.items() if _file_key(n) <= last)


def _base(nodeid: str) -> str:
    return nodeid.split("[", 1)[0]


def _passed_before(nodeid: str, expected: Mapping[str, float]) -> bool:
    base = _base(nodeid)
    return nodeid in expected or any(_base(n) == base for n in expected)


class _Confirming:
    def __init__(
        self,
        submit: _Submit,
        request: JobRequest,
        shards: int,
        expected: Mapping[str, float],
        budget_s: float,
        needs: Mapping[str, tuple[str, ...]],
        remember: _Remember | None,
    ) -> None:
        self.submit = submit
        self.needs = needs
        self.remember = remember
        self.narrowing: list[JobOutcome] = []  # the runs spent narrowing: their cost is the job's
        self.request = request
        self.plan = request.tests or TestPlan()
        self.shards = shards
        self.expected = expected
        self.budget_s = budget_s
        self.result: Future[JobOutcome] = Future()
        self.lock = threading.Lock()
        self.current: Future[JobOutcome] | None = None
        self.result.add_done_callback(self._on_result)

    def _on_result(self, result: Future[JobOutcome]) -> None:
        if result.cancelled():
            with self.lock:
                current = self.current
            if current is not None:
                current.cancel()

    def _wait(self, future: Future[JobOutcome]) -> JobOutcome | None:
        with self.lock:
            self.current = future
        if self.result.cancelled():
            future.cancel()
            return None
        return future.result()

    def first_done(self, first: Future[JobOutcome]) -> None:
        """The subset's own job ended: its outcome stands unless a test failed; then confirm, in a thread of its own
        (it waits for more jobs)."""
        if self.result.done():
            return
        if first.cancelled():
            self.result.cancel()
            return
        error = first.exception()
        if error is not None:
            self.result.set_exception(error)
            return
        outcome = first.result()
        if outcome.status != "failed" or not _failing(outcome):
            self.result.set_result(outcome)
            return
        threading.Thread(target=self.run, args=(outcome,), name="trellis-confirm-order", daemon=True).start()

    def run(self, outcome: JobOutcome) -> None:
        try:
            confirmed = self._confirm_all(outcome)
        except Exception as exc:  # noqa: BLE001 - the executor failed: the job's future fails with it
            if not self.result.done():
                self.result.set_exception(exc)
            return
        if confirmed is not None and not self.result.done():
            self.result.set_result(confirmed)

    def _confirm_all(self, outcome: JobOutcome) -> JobOutcome | None:
        checked: set[str] = set()
        notes: list[str] = []
        extra: list[JobOutcome] = []
        for round_ in range(MAX_ROUNDS + 1):
            if outcome.status != "failed" or outcome.exit_code != 1:
                break  # killed, timed out, a usage error: nothing to confirm test by test
            failing = [t for t in _failing(outcome) if t.nodeid not in checked]
            if not failing or round_ == MAX_ROUNDS:
                break
            candidates = [t for t in failing if _passed_before(t.nodeid, self.expected)]
            if not candidates:
                break
            found: dict[str, int] = {}
            known = [t for t in candidates if self._needs(t.nodeid) is not None]
            if known:  # the earlier tests that made them pass before, and only those
                before = tuple(dict.fromkeys(n for t in known for n in self._needs(t.nodeid) or ()))
                ids = tuple(t.nodeid for t in known)
                short = self._wait(self._submit_plan((*before, *ids), ids, f"-needs{round_ or ''}"))
                if short is None:
                    return None
                extra.append(short)
                found = self._order_dependent(known, short)
            unknown = [t for t in candidates if t.nodeid not in found]  # or not passing after what they needed
            checked.update(t.nodeid for t in candidates)
            cost = prefix_seconds(max(unknown, key=collection_order).nodeid, self.expected) if unknown else 0.0
            if unknown and cost > self.budget_s:
                notes.append(
                    f"failures not confirmed after their prefix: ~{cost:.0f} s of tests before them "
                    f"(over {self.budget_s:.0f} s)"
                )
            elif unknown:
                check = self._wait(self._submit_prefix(tuple(t.nodeid for t in unknown), round_))
                if check is None:
                    return None
                extra.append(check)
                after = self._order_dependent(unknown, check)
                broken = _broken_by_prefix(outcome, check)
                if broken:
                    outcome = _break(outcome, broken)
                if after and self.remember is not None:
                    learned = self._narrow([t.nodeid for t in unknown if t.nodeid in after], check)
                    if learned is None:
                        return None
                    self.remember(learned)
                found.update(after)
            if not found:
                break
            stopped = bool(outcome.reason and outcome.reason.startswith("stopped at the first failure"))
            outcome = _settle(outcome, found)
            if not (self.plan.fail_fast and stopped) or _failing(outcome):
                continue
            # fail_fast stopped the job at a failure of the order: run the rest of the selection.
            done = tuple(t.nodeid for t in outcome.tests)
            rest = replace(
                self.request,
                job_id=f"{self.request.job_id}-c{round_ + 1}",
                tests=replace(self.plan, exclude=(*self.plan.exclude, *done)),
            )
            more = self._wait(self.submit(rest, self.shards))
            if more is None:
                return None
            merged = merge(
                self.request.job_id,
                [outcome, replace(more, collection=outcome.collection)],
                duration_s=outcome.duration_s + more.duration_s,
            )
            outcome = replace(
                merged,
                reason=more.reason if merged.status == "failed" and more.reason else merged.reason,
                order_dependent=outcome.order_dependent,
            )
        if self.narrowing:
            notes.append(f"the tests order-dependent ones need narrowed in {len(self.narrowing)} runs")
        return _with_checks(outcome, extra, notes, self.narrowing)

    def _needs(self, nodeid: str) -> tuple[str, ...] | None:
        """What ``nodeid`` passed after, or another item of its parametrised test (which items fail alone may
        change from run to run: click's ``test_echo_via_pager``)."""
        found = self.needs.get(nodeid)
        return found if found is not None else self.needs.get(_base(nodeid))

    def _submit_prefix(self, failing: tuple[str, ...], round_: int) -> Future[JobOutcome]:
        return self._submit_plan(None, failing, f"-prefix{round_ or ''}")

    def _submit_plan(self, only: tuple[str, ...] | None, until: tuple[str, ...], suffix: str) -> Future[JobOutcome]:
        """One process, the stage's command line, what it collects (``only`` of it) up to the last of ``until``."""
        plan = replace(
            self.plan,
            shard=(0, 1),
            exclude=(),
            reused=(),
            only=only,
            until=until,
            fail_fast=False,
            evals=None,
        )
        request = replace(self.request, job_id=f"{self.request.job_id}{suffix}", tests=plan)
        return self.submit(request, 1)

    def _narrow(self, found: list[str], check: JobOutcome) -> dict[str, tuple[str, ...]] | None:
        """The earlier tests ``found`` (order-dependent after their prefix in ``check``) need: the prefix's files
        bisected, a half kept while every test of ``found`` still passes after it alone. None: cancelled."""
        after_all = set(found)
        ran = [t.nodeid for t in check.tests if t.index >= 0]
        last = max(ran.index(n) for n in found)
        files: dict[str, list[str]] = {}
        for nodeid in ran[:last]:
            if nodeid not in after_all:
                files.setdefault(nodeid.split("::", 1)[0], []).append(nodeid)
        units = list(files.values())
        tests = [t for t in check.tests if t.nodeid in after_all]
        while len(self.narrowing) + 2 <= MAX_NARROWING:
            if len(units) == 1:  # one file left: its tests, one by one
                units = [[n] for n in units[0]]
            if len(units) < 2:
                break
            half = len(units) // 2
            for part in (units[:half], units[half:]):
                before = tuple(n for unit in part for n in unit)
                run = self._wait(self._submit_plan((*before, *found), tuple(found), f"-narrow{len(self.narrowing)}"))
                if run is None:
                    return None
                self.narrowing.append(run)
                if len(self._order_dependent(tests, run)) == len(found):
                    units = part
                    break
            else:
                break  # each half is needed (or neither alone is enough): keep both
        needed = tuple(n for unit in units for n in unit)
        return dict.fromkeys((*found, *(_base(n) for n in found)), needed)

    @staticmethod
    def _order_dependent(failing: list[TestOutcome], check: JobOutcome) -> dict[str, int]:
        """The failing tests that passed after their prefix, with how many tests ran before each."""
        if check.status not in ("passed", "failed") or check.exit_code not in (0, 1):
            return {}
        ran = [t.nodeid for t in check.tests if t.index >= 0]
        after = {t.nodeid: t.outcome for t in check.tests}
        return {t.nodeid: ran.index(t.nodeid) for t in failing if after.get(t.nodeid) == "passed"}


def _broken_by_prefix(outcome: JobOutcome, check: JobOutcome) -> dict[str, int]:
    """Tests of the subset that passed there but fail after their prefix in ``check`` (the other way round: the
    project's whole run fails them), with how many tests ran before each."""
    if check.status not in ("passed", "failed") or check.exit_code not in (0, 1):
        return {}
    ran = [t.nodeid for t in check.tests if t.index >= 0]
    after = {t.nodeid: t.outcome for t in check.tests}
    return {
        t.nodeid: ran.index(t.nodeid)
        for t in outcome.tests
        if t.outcome == "passed" and not t.message.startswith(ORDER_DEPENDENT) and after.get(t.nodeid) == "failed"
    }


def _relabel(
    outcome: JobOutcome, which: Mapping[str, int], result: TestResult, message: Callable[[TestOutcome, int], str]
) -> tuple[TestOutcome, ...]:
    """``outcome``'s tests, those in ``which`` with ``result`` and ``message(test, tests before it)``."""
    return tuple(
        replace(t, outcome=result, message=message(t, which[t.nodeid])) if t.nodeid in which else t
        for t in outcome.tests
    )


def _break(outcome: JobOutcome, broken: Mapping[str, int]) -> JobOutcome:
    """``outcome`` with the tests in ``broken`` failed, as the project's whole run fails them."""
    tests = _relabel(
        outcome,
        broken,
        "failed",
        lambda t, before: (
            f"{ORDER_DEPENDENT}passes alone, fails after the {before} "
            f"test{'' if before == 1 else 's'} collected before it (as the project's whole run)"
        ),
    )
    return replace(outcome, tests=tests, status="failed", exit_code=1, summary=summarize(tests))


def _settle(outcome: JobOutcome, found: Mapping[str, int]) -> JobOutcome:
    """``outcome`` with the tests in ``found`` turned into the passes they are after their prefix."""
    tests = _relabel(
        outcome,
        found,
        "passed",
        lambda t, before: (
            f"{ORDER_DEPENDENT}{_fails_without(before)} (passed after them; the failure alone was: {t.message[:300]})"
        ),
    )
    still = any(t.outcome in ("failed", "error") for t in tests)
    status = outcome.status
    exit_code = outcome.exit_code
    reason = outcome.reason
    if not still and status == "failed" and exit_code == 1:
        status, exit_code, reason = "passed", 0, None
    return replace(
        outcome,
        tests=tests,
        status=status,
        exit_code=exit_code,
        reason=reason,
        summary="; ".join((summarize(tests), *outcome.notes)),
        order_dependent=(*outcome.order_dependent, *sorted(found.items())),
    )


def _fails_without(before: int) -> str:
    return f"fails without the {before} test{'' if before == 1 else 's'} collected before it"


def _some(items: list[str], shown: int = 3) -> str:
    more = len(items) - shown
    return ", ".join(items[:shown]) + (f" and {more} more" if more > 0 else "")


def _with_checks(
    outcome: JobOutcome, checks: list[JobOutcome], notes: list[str], spent: list[JobOutcome]
) -> JobOutcome:
    """The confirmation jobs' cost and output added to the job's (and the cost of the runs ``spent``
    narrowing); the order-dependent tests named in its summary."""
    summary = outcome.summary
    if outcome.order_dependent:
        named = [f"{nodeid} {_fails_without(before)}" for nodeid, before in outcome.order_dependent]
        summary += f"; {len(named)} {ORDER_DEPENDENT}{_some(named)}"
    broken = [
        f"{t.nodeid} {t.message[len(ORDER_DEPENDENT) :].split(' (', 1)[0]}"
        for t in outcome.tests
        if t.outcome == "failed" and t.message.startswith(ORDER_DEPENDENT)
    ]
    if broken:
        summary += f"; {len(broken)} failing after the tests collected before them: {_some(broken)}"
    for note in notes:
        summary += f"; {note}"
    output = outcome.output + b"".join(
        f"\n===== {c.job_id}: the failures after their collection prefix ({c.summary or c.status}) =====\n".encode()
        + c.output
        for c in checks
    )
    return replace(
        outcome,
        summary=summary,
        output=output,
        duration_s=outcome.duration_s + sum(c.duration_s for c in (*checks, *spent)),
        cpu_s=outcome.cpu_s + sum(c.cpu_s for c in (*checks, *spent)),
        max_rss=max([outcome.max_rss, *(c.max_rss for c in (*checks, *spent))]),
    )


def confirm_failures(
    submit: _Submit,
    request: JobRequest,
    first: Future[JobOutcome],
    *,
    shards: int,
    expected: Mapping[str, float],
    budget_s: float = BUDGET_S,
    needs: Mapping[str, tuple[str, ...]] | None = None,
    remember: _Remember | None = None,
) -> Future[JobOutcome]:
    """The outcome of ``first`` (a job of ``request`` over a subset of the suite), its failures confirmed after
    their collection prefix. ``submit(request, shards)`` runs one more job; ``expected`` holds the recorded
    durations (the tests that passed before); ``needs`` the earlier tests a test found order-dependent before
    passed after, tried first; ``remember`` is given what a confirmation narrows (None: nothing is narrowed).
    Cancelling the returned future cancels what runs."""
    confirming = _Confirming(submit, request, shards, expected, budget_s, needs or {}, remember)
    confirming.current = first
    first.add_done_callback(confirming.first_done)
    return confirming.result
