"""Ref locks across processes: compare-and-swap and idempotent retries hold when two processes share a
data directory (``serve --workers N``), and a ref lock file left by a killed writer does not wedge the ref."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from tests.conftest import assert_fsck_clean, first_parent_history, repo_path
from trellis import vcs

ALICE = vcs.Identity("alice")


def _race(root: str, worker: int, rounds: int, go: mp.Barrier, results: mp.Queue) -> None:  # type: ignore[type-arg]
    store = vcs.Store(Path(root), durability=vcs.Durability.NONE)
    go.wait(120)
    landed, stale = [], 0
    for i in range(rounds):
        head = store.get_branch("demo", "main").head_commit_id
        try:
            result = store.commit(
                "demo",
                "main",
                [vcs.PutFile("counter.txt", f"{worker}-{i}\n".encode())],
                f"worker {worker} round {i}",
                ALICE,
                expected_head=head,
            )
        except vcs.StaleHead:
            stale += 1
        else:
            landed.append(result.commit.commit_id)
    results.put((landed, stale))


def test_compare_and_swap_across_processes(tmp_path: Path) -> None:
    store = vcs.Store(tmp_path, durability=vcs.Durability.NONE)
    store.create_repository("demo", ALICE)
    ctx = mp.get_context("spawn")
    results, go = ctx.Queue(), ctx.Barrier(3)  # all start racing at once
    workers = [ctx.Process(target=_race, args=(str(tmp_path), w, 150, go, results)) for w in range(3)]
    for p in workers:
        p.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for p in workers:
        p.join(timeout=60)
        assert p.exitcode == 0
    landed = [c for ids, _ in outcomes for c in ids]
    history = first_parent_history(repo_path(tmp_path, "demo"), "main")
    # Every acknowledged commit is on the branch, once, and nothing else landed: no lost update.
    assert sorted(history[:-1]) == sorted(landed)
    assert len(set(landed)) == len(landed)
    assert sum(stale for _, stale in outcomes) + len(landed) == 450
    assert_fsck_clean(repo_path(tmp_path, "demo"))


def _retry(root: str, request_id: str, results: mp.Queue) -> None:  # type: ignore[type-arg]
    store = vcs.Store(Path(root), durability=vcs.Durability.NONE)
    ids = []
    for _ in range(20):
        result = store.commit("demo", "main", [vcs.PutFile("a.txt", b"once\n")], "once", ALICE, request_id=request_id)
        ids.append(result.commit.commit_id)
    results.put(ids)


def test_request_id_is_idempotent_across_processes(tmp_path: Path) -> None:
    store = vcs.Store(tmp_path, durability=vcs.Durability.NONE)
    store.create_repository("demo", ALICE)
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    workers = [ctx.Process(target=_retry, args=(str(tmp_path), "req-1", results)) for _ in range(3)]
    for p in workers:
        p.start()
    ids = {c for _ in workers for c in results.get(timeout=120)}
    for p in workers:
        p.join(timeout=60)
    assert len(ids) == 1
    assert len(first_parent_history(repo_path(tmp_path, "demo"), "main")) == 2


def test_a_ref_lock_left_by_a_killed_writer_is_cleared(tmp_path: Path) -> None:
    store = vcs.Store(tmp_path, durability=vcs.Durability.NONE)
    store.create_repository("demo", ALICE)
    store.create_branch("demo", "work")
    store.commit("demo", "work", [vcs.PutFile("a.txt", b"1\n")], "one", ALICE)
    # What libgit2 leaves when its process dies between locking the ref and renaming the lock into place.
    (repo_path(tmp_path, "demo") / "refs" / "heads" / "work.lock").write_text("0" * 40 + "\n")
    result = store.commit("demo", "work", [vcs.PutFile("a.txt", b"2\n")], "two", ALICE)
    assert store.get_branch("demo", "work").head_commit_id == result.commit.commit_id
    assert_fsck_clean(repo_path(tmp_path, "demo"))
