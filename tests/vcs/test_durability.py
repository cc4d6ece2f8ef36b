"""Durable acknowledgements: no write returns before a sync covered it, and concurrent writes share syncs."""

from __future__ import annotations

import errno
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import ALICE, assert_fsck_clean
from tests.sync_recorder import SyncRecorder
from trellis import vcs


def _wait_until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    done = threading.Event()
    for _ in range(2000):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError(f"never happened: {what}")


class BlockingSync:
    """A sync that records the paths of each call and waits for the test to let it finish."""

    def __init__(self) -> None:
        self.calls: list[list[Path]] = []
        self.release = threading.Semaphore(0)
        self.fail_next: OSError | None = None

    def __call__(self, paths: list[Path]) -> None:
        self.calls.append(paths)
        self.release.acquire()
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error


def test_writes_that_arrive_during_a_sync_share_the_next_one(tmp_path: Path) -> None:
    sync = BlockingSync()
    group = vcs.GroupSync(sync)
    first = threading.Thread(target=group.wait, args=(tmp_path / "a",))
    first.start()
    _wait_until(lambda: len(sync.calls) == 1, "the first caller leads a sync")
    # Three more writes complete while that sync runs: none of them is covered by it.
    others = [threading.Thread(target=group.wait, args=(tmp_path / name,)) for name in "bcd"]
    for t in others:
        t.start()
    _wait_until(lambda: group.waiting == 4, "the three wait")
    assert len(sync.calls) == 1 and all(t.is_alive() for t in others)
    sync.release.release()
    first.join(10)
    assert not first.is_alive()
    # One of them leads a second sync that covers all three; they return only once it is done.
    _wait_until(lambda: len(sync.calls) == 2, "a second sync")
    assert sorted(sync.calls[1]) == [tmp_path / "b", tmp_path / "c", tmp_path / "d"]
    assert all(t.is_alive() for t in others)
    sync.release.release()
    for t in others:
        t.join(10)
        assert not t.is_alive()
    assert group.syncs == 2 and group.waiting == 0


def test_a_failed_sync_fails_every_write_it_covered_and_the_next_sync_starts_afresh(tmp_path: Path) -> None:
    sync = BlockingSync()
    group = vcs.GroupSync(sync)
    sync.fail_next = OSError(errno.EIO, "Input/output error")
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            group.wait(tmp_path / name)
        except OSError as exc:
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(name,)) for name in "ab"]
    writers[0].start()
    _wait_until(lambda: len(sync.calls) == 1, "a sync")
    writers[1].start()
    _wait_until(lambda: group.waiting == 2, "the second writer waits")
    sync.release.release()  # the first sync fails: its writer gets the error ...
    _wait_until(lambda: len(sync.calls) == 2, "a second sync")
    sync.release.release()  # ... the second writer, covered by the next sync, does not
    for t in writers:
        t.join(10)
    assert len(errors) == 1 and errors[0].errno == errno.EIO
    assert "not made durable" in str(errors[0])


def test_out_of_space_during_a_sync_is_reported_as_such(tmp_path: Path) -> None:
    def full(paths: list[Path]) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as raised:
        vcs.GroupSync(full).wait(tmp_path)
    assert vcs.errors.out_of_space(raised.value)


def test_every_acknowledged_write_was_synced_before_it_returned(data_dir: Path) -> None:
    recorder = SyncRecorder()
    store = vcs.Store(data_dir, sync=recorder)
    store.create_repository("demo", ALICE)
    repo = store.repository_path("demo")
    recorder.acknowledged(repo, "refs/heads/main", store.get_branch("demo", "main").head_commit_id)
    branches = [f"b{i}" for i in range(8)]
    for branch in branches:
        made = store.create_branch("demo", branch)
        recorder.acknowledged(repo, f"refs/heads/{branch}", made.head_commit_id)

    def agent(branch: str) -> None:
        session = store.create_session("demo", ALICE, branch=f"s/{branch}")
        for n in range(12):
            if n % 3:
                result = store.commit(
                    "demo", branch, [vcs.PutFile(f"{branch}/f{n % 4}.txt", f"{n}\n".encode())], f"edit {n}", ALICE
                )
                recorder.acknowledged(repo, f"refs/heads/{branch}", result.commit.commit_id)
            else:
                result = store.commit(
                    "demo",
                    f"s/{branch}",
                    [vcs.PutFile("s.txt", f"{branch} {n}\n".encode())],
                    f"step {n}",
                    ALICE,
                    session_id=session.session_id,
                )
                recorder.acknowledged(repo, f"refs/heads/s/{branch}", result.commit.commit_id)
                # The step's session commit names the code commit as its second parent.
                tip = store.open("demo").references[f"refs/trellis/sessions/{session.session_id}"].target
                recorder.acknowledged(repo, f"refs/trellis/sessions/{session.session_id}", str(tip))

    with ThreadPoolExecutor(len(branches)) as pool:
        list(pool.map(agent, branches))
    assert recorder.check() == 1 + len(branches) + len(branches) * 12 + len(branches) * 4
    assert_fsck_clean(repo)


def test_a_write_is_not_synced_with_durability_none(data_dir: Path) -> None:
    recorder = SyncRecorder()
    store = vcs.Store(data_dir, durability=vcs.Durability.NONE, sync=recorder)
    store.create_repository("demo", ALICE)
    store.commit("demo", "main", [vcs.PutFile("a.txt", b"a")], "m", ALICE)
    assert recorder.syncs == 0
