"""One SIGKILL-and-restart cycle of ``scripts/crash_loop.py`` under a push load with sessions and steps.

tests/e2e/test_durability.py kills a server in a storm of plain commits and checks that no
acknowledged commit is lost. This test runs one cycle of the crash loop instead, which adds
what that one does not cover: session commits with steps (unary and ``CommitStream``) and
``RecordStep``; agents that survive the crash and retry the *same* request (same
``request_id``) against the restarted server, which must recognise commits that landed before
the crash and record their missing steps instead of committing twice; every acknowledged step
checked in its session; and the index checked against git with ``trellis check`` after the
restart. ``python scripts/crash_loop.py`` runs 20 cycles with 32 agents (docs/reliability.md).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _crash_loop():  # type: ignore[no-untyped-def]
    # The agents run in spawned processes, which import the module by name: keep scripts/ on the path.
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    return importlib.import_module("crash_loop")


def test_one_sigkill_cycle_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    crash_loop = _crash_loop()
    lines: list[str] = []
    report = crash_loop.run(
        tmp_path,
        cycles=1,
        agents=8,
        processes=1,
        min_load_s=1.0,
        max_load_s=1.5,
        min_acks=20,
        check_index_every=1,
        seed=1,
        say=lines.append,
    )
    assert report.ok, "\n".join([*lines, *report.problems[:20]])
    assert report.cycles == 1 and report.index_checks == 1
    # Every kind of agent got acknowledgements, and they were all found on disk.
    assert report.commits_checked >= 20, report.summary()
    assert report.steps_checked >= 10, report.summary()
    # The agents noticed the crash (and retried through it).
    assert report.transport_errors >= 1, report.summary()


def test_one_cycle_with_workers_kills_one_process_then_all(tmp_path: Path) -> None:
    """``serve --workers 2``: a random process (here, with this seed, the one picked) dies under load, the
    others go on acknowledging, then the whole group dies; nothing acknowledged is lost."""
    crash_loop = _crash_loop()
    lines: list[str] = []
    report = crash_loop.run(
        tmp_path,
        cycles=1,
        agents=8,
        processes=1,
        min_load_s=1.0,
        max_load_s=1.5,
        min_acks=20,
        check_index_every=1,
        seed=1,
        workers=2,
        say=lines.append,
    )
    assert report.ok, "\n".join([*lines, *report.problems[:20]])
    assert "SIGKILL of the" in lines[0] and report.commits_checked >= 20, lines
