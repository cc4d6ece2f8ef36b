"""Compare-and-swap under contention: 16 clients push to one branch; nothing is lost, history is linear."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.conftest import assert_fsck_clean, first_parent_history, git, repo_path
from trellis import vcs
from trellis.client import Client
from trellis.server import RunningServer

THREADS = 16
ATTEMPTS = 40


def test_sixteen_clients_compare_and_swap_on_one_branch(server: RunningServer, data_dir: Path) -> None:
    with Client(server.address, agent="setup") as setup:
        root = setup.create_repository("race").head_commit_id

    acknowledged: dict[str, tuple[int, int]] = {}  # commit id -> (thread, attempt)
    stale_reports: list[tuple[str, str]] = []  # (expected head we sent, actual head reported)
    errors: list[BaseException] = []
    guard = threading.Lock()
    start = threading.Barrier(THREADS)

    def agent(index: int) -> None:
        try:
            with Client(server.address, agent=f"agent-{index}") as client:
                start.wait()
                head = client.get_branch("race", "main").head_commit_id
                for attempt in range(ATTEMPTS):
                    try:
                        result = client.commit(
                            "race",
                            "main",
                            {f"agents/{index}/{attempt}.txt": f"{index}:{attempt}\n"},
                            f"agent {index} attempt {attempt}",
                            expected_head=head,
                        )
                    except vcs.StaleHead as stale:
                        assert stale.reason == "STALE_HEAD"
                        assert stale.actual_head != head
                        with guard:
                            stale_reports.append((head, stale.actual_head))
                        head = stale.actual_head  # retry from the head the server named
                        continue
                    assert result.commit.parent_ids == (head,)
                    with guard:
                        acknowledged[result.commit.commit_id] = (index, attempt)
                    head = result.commit.commit_id
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=agent, args=(i,), name=f"cas-{i}") for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]

    path = repo_path(data_dir, "race")
    history = first_parent_history(path, "main")
    position = {commit: i for i, commit in enumerate(reversed(history))}  # root is 0, newest is last
    # Every acknowledged commit is in the history, and the history holds nothing else.
    assert set(acknowledged) <= set(history)
    assert len(history) == len(acknowledged) + 1 and history[-1] == root
    # Linear: no merges anywhere.
    assert git(path, "rev-list", "--merges", "main") == ""
    assert git(path, "rev-list", "--count", "main").strip() == str(len(history))
    # Each stale report named a real, newer head than the one the client sent.
    assert stale_reports, "16 writers on one branch must collide"
    for sent, actual in stale_reports:
        assert actual in position, actual
        assert position[actual] > position[sent]
    # Every attempt either landed or was reported stale: nothing silently dropped.
    assert len(acknowledged) + len(stale_reports) == THREADS * ATTEMPTS
    # And every file an acknowledgement promised is in the final tree.
    files = git(path, "ls-tree", "-r", "--name-only", "main").split()
    assert sorted(files) == sorted(f"agents/{i}/{a}.txt" for i, a in acknowledged.values())
    assert_fsck_clean(path)


def test_rebase_under_contention_lands_every_commit(server: RunningServer, data_dir: Path) -> None:
    """With on_stale=REBASE, disjoint changes from stale heads all land, without retries."""
    with Client(server.address, agent="setup") as setup:
        base = setup.create_repository("rebase").head_commit_id
    landed: list[str] = []
    errors: list[BaseException] = []
    guard = threading.Lock()

    def agent(index: int) -> None:
        try:
            with Client(server.address, agent=f"agent-{index}") as client:
                for n in range(10):
                    result = client.commit(
                        "rebase", "main", {f"a{index}/f{n}": f"{n}"}, expected_head=base, on_stale="rebase"
                    )
                    with guard:
                        landed.append(result.commit.commit_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    path = repo_path(data_dir, "rebase")
    history = first_parent_history(path, "main")
    assert len(history) == 81 and set(landed) == set(history[:-1])
    assert len(git(path, "ls-tree", "-r", "--name-only", "main").split()) == 80
    assert_fsck_clean(path)
