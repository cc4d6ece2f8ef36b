"""Repository maintenance: loose objects packed, packs rolled up, never an object lost, never one missing."""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import threading
import time
import zlib
from pathlib import Path

import pygit2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ALICE, assert_fsck_clean, git, git_wrapper, most_loose_objects
from trellis import vcs
from trellis.vcs.maintenance import (
    PackFile,
    estimate_loose_objects,
    loose_objects,
    maintain,
    pack_files,
    plan_rollup,
)


def _store(data_dir: Path) -> vcs.Store:
    return vcs.Store(data_dir, durability=vcs.Durability.NONE)


def _demo(data_dir: Path) -> tuple[vcs.Store, Path]:
    """A store with an empty repository "demo", and the repository's path."""
    store = _store(data_dir)
    store.create_repository("demo", ALICE)
    return store, store.repository_path("demo")


def _commits(store: vcs.Store, n: int, branch: str = "main", tag: str = "") -> list[str]:
    ids = []
    for i in range(n):
        change = vcs.PutFile(f"d{i % 5}/f{i % 7}.txt", f"{tag} {i}\n".encode() * 30)
        ids.append(store.commit("demo", branch, [change], f"edit {tag} {i}", ALICE).commit.commit_id)
    return ids


def _all_objects(path: Path) -> set[str]:
    return set(git(path, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)").split())


def _is_progression(sizes: list[int], factor: int = 2) -> bool:
    return all(b >= factor * a for a, b in zip(sizes, sizes[1:]))


# -- the plan ---------------------------------------------------------------------------------


def _packs(*sizes: int) -> list[PackFile]:
    return [PackFile(f"pack-{i:040x}", n) for i, n in enumerate(sizes)]


def test_plan_rolls_up_the_packs_below_the_top_of_the_progression() -> None:
    assert plan_rollup(_packs(), 10) == []
    assert plan_rollup(_packs(100), 10) == []  # 100 >= 2 x 10: the loose objects become a pack of their own
    assert plan_rollup(_packs(15), 10) == _packs(15)  # 15 < 2 x 10: combined with them
    assert plan_rollup(_packs(10, 40, 100), 5) == []
    packs = _packs(10, 12, 100)
    assert plan_rollup(packs, 5) == packs[:2]  # 12 < 2 x 10 breaks the progression; 100 >= 2 x 27 stays
    assert plan_rollup(_packs(100), 0) == []  # one pack alone is never rewritten


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 5000), min_size=1, max_size=60))
def test_packs_stay_a_geometric_progression_and_few(batches: list[int]) -> None:
    packs: list[PackFile] = []
    for n, loose in enumerate(batches):
        chosen = plan_rollup(packs, loose)
        kept = [p for p in packs if p not in chosen]
        packs = sorted(
            [*kept, PackFile(f"pack-{n:040x}", loose + sum(p.objects for p in chosen))], key=lambda p: p.objects
        )
        sizes = [p.objects for p in packs]
        assert sum(sizes) == sum(batches[: n + 1])
        assert _is_progression(sizes), sizes
        assert len(packs) <= math.log2(sum(sizes)) + 1


# -- on a real repository ----------------------------------------------------------------------


def test_every_loose_object_is_packed_and_every_object_kept(data_dir: Path) -> None:
    store, path = _demo(data_dir)
    commits = _commits(store, 40)
    repo = store.open("demo")
    unreachable = str(repo.create_blob(b"written by a writer that has not referenced it yet\n"))
    before = _all_objects(path)
    assert unreachable in before and len(loose_objects(path)) == len(before)

    result = maintain(path, sync=vcs.sync_filesystems)

    assert result.loose_before == len(before) == result.loose_deleted
    assert loose_objects(path) == [] and len(pack_files(path)) == 1
    assert _all_objects(path) == before  # the unreachable blob too
    assert_fsck_clean(path)
    # The handle opened before maintenance still reads everything (libgit2 rescans the packs).
    assert repo[unreachable].data.startswith(b"written by")
    assert [c.commit_id for c in store.list_commits("demo", page_size=100).items][:40] == commits[::-1]
    assert store.read_file("demo", commits[-1], "d4/f4.txt").content.startswith(b" 39")


@pytest.mark.parametrize(("loose_limit", "niceness"), [(1000, 10), (20, 0)])
def test_git_runs_at_low_priority_unless_maintenance_is_behind(
    data_dir: Path, tmp_path: Path, loose_limit: int, niceness: int
) -> None:
    """Below twice the limit git is niced (requests first); beyond it, on a saturated server a niced git
    would get a few percent of a core and the loose objects would grow without bound, so it is not."""
    store = _store(data_dir)
    store.create_repository("demo", ALICE)
    _commits(store, 10)  # about 50 loose objects
    seen = tmp_path / "niceness"
    wrapper = tmp_path / "git-wrapper"
    wrapper.write_text(f'#!/bin/sh\nps -o ni= -p $$ > {seen}\nexec git "$@"\n')
    wrapper.chmod(0o755)
    base = int(subprocess.run(["ps", "-o", "ni=", "-p", str(os.getpid())], capture_output=True, text=True).stdout)
    maintain(store.repository_path("demo"), sync=None, git=str(wrapper), loose_limit=loose_limit)
    assert int(seen.read_text()) == min(19, base + niceness)
    assert loose_objects(store.repository_path("demo")) == []


@pytest.mark.parametrize("given", [None, "0"])
def test_git_keeps_its_heap_between_objects_unless_told_otherwise(
    data_dir: Path, tmp_path: Path, given: str | None
) -> None:
    """git pack-objects allocates and frees buffers for every loose object it reads; with glibc's defaults its heap
    shrinks and grows around each (brk calls, page faults: a third of its CPU). Maintenance asks glibc to keep some
    of the heap (MALLOC_TOP_PAD_), unless the environment it was given says otherwise."""
    store = _store(data_dir)
    store.create_repository("demo", ALICE)
    _commits(store, 10)
    seen = tmp_path / "pad"
    wrapper = tmp_path / "git-wrapper"
    wrapper.write_text(
        f'#!/bin/sh\ncase " $* " in *" pack-objects "*) echo "${{MALLOC_TOP_PAD_-unset}}" >> {seen};; esac\n'
        'exec git "$@"\n'
    )
    wrapper.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_TOP_PAD_"}
    if given is not None:
        env["MALLOC_TOP_PAD_"] = given
    maintain(store.repository_path("demo"), sync=None, git=str(wrapper), env=env)
    pads = seen.read_text().split()
    assert pads  # git pack-objects ran
    if given is None:
        assert all(p.isdigit() and int(p) >= 1 << 20 for p in pads), pads
    else:
        assert set(pads) == {given}
    assert loose_objects(store.repository_path("demo")) == []
    assert_fsck_clean(store.repository_path("demo"))


def test_loose_objects_are_packed_before_a_big_roll_up(data_dir: Path) -> None:
    """When the roll-up is big (here: more than 4 times the limit), the loose objects go into a pack of their
    own first and are deleted, then the packs roll up: a long roll-up does not keep them waiting."""
    store, path = _demo(data_dir)
    _commits(store, 20, tag="a")
    maintain(path, sync=None)
    _commits(store, 12, tag="b")
    maintain(path, sync=None, loose_limit=10)  # behind: a second pack, no roll-up (the two break the progression)
    _commits(store, 4, tag="c")
    before = _all_objects(path)
    limit = len(loose_objects(path)) // 2 + 1  # not behind, and the roll-up of both packs is over 4 times it
    steps: list[tuple[str, int, int]] = []
    result = maintain(
        path,
        sync=vcs.sync_filesystems,
        loose_limit=limit,
        on_step=lambda step: steps.append((step, len(loose_objects(path)), len(pack_files(path)))),
    )
    assert [s for s, _, _ in steps] == ["packed", "synced", "deleted"] * 2
    assert steps[2][1] == 0 and steps[2][2] == 3  # loose gone after the first pack, before the roll-up
    assert result.loose_deleted == result.loose_before > 0 and result.packs_rolled_up == 3
    assert loose_objects(path) == [] and len(pack_files(path)) == 1 and _all_objects(path) == before
    assert_fsck_clean(path)


def test_a_run_that_is_behind_packs_only_the_loose_objects(data_dir: Path) -> None:
    """With twice the limit of loose objects or more, the run packs them alone (a roll-up can wait until
    maintenance has caught up); the next run, no longer behind, rolls the packs up."""
    store, path = _demo(data_dir)
    _commits(store, 10, tag="a")
    maintain(path, sync=None)
    _commits(store, 10, tag="b")
    before = _all_objects(path)
    behind = maintain(path, sync=None, loose_limit=10)  # ~50 loose objects: behind
    assert behind.packs_rolled_up == 0 and len(pack_files(path)) == 2 and loose_objects(path) == []
    caught_up = maintain(path, sync=None, loose_limit=10)
    assert caught_up.packs_rolled_up == 2 and len(pack_files(path)) == 1
    assert _all_objects(path) == before
    assert_fsck_clean(path)


def test_roll_ups_keep_the_packs_few_and_the_old_handle_reads_on(data_dir: Path) -> None:
    store, path = _demo(data_dir)
    repo = store.open("demo")
    commits: list[str] = []
    rolled = 0
    for round in range(8):
        commits += _commits(store, 15, tag=str(round))
        for commit_id in commits:  # read through the old handle: it opens the packs it will lose
            assert isinstance(repo[commit_id], pygit2.Commit)
        result = maintain(path, sync=vcs.sync_filesystems)
        rolled += result.packs_rolled_up
        sizes = [p.objects for p in pack_files(path)]
        assert _is_progression(sizes) and len(sizes) <= 3, sizes
        assert loose_objects(path) == []
    assert rolled >= 4
    for commit_id in commits:
        commit = repo[commit_id]
        assert isinstance(commit, pygit2.Commit) and commit.tree is not None
    store.reopen("demo")
    assert store.get_branch("demo", "main").head_commit_id == commits[-1]
    assert_fsck_clean(path)


@pytest.mark.parametrize("crash_after", ["packed", "synced"])
def test_maintenance_cut_short_leaves_a_sound_repository_and_the_next_run_finishes_it(
    data_dir: Path, crash_after: str
) -> None:
    store, path = _demo(data_dir)
    _commits(store, 20, tag="a")
    maintain(path, sync=None)
    _commits(store, 20, tag="b")
    before = _all_objects(path)

    class Crash(Exception):
        pass

    def crash(step: str) -> None:
        if step == crash_after:
            raise Crash(step)

    with pytest.raises(Crash):
        maintain(path, sync=vcs.sync_filesystems, on_step=crash)
    # Nothing was deleted yet: the new pack holds copies of the loose objects and of the old pack.
    assert len(pack_files(path)) == 2 and loose_objects(path)
    assert _all_objects(path) == before
    assert_fsck_clean(path)
    maintain(path, sync=vcs.sync_filesystems)
    assert loose_objects(path) == [] and _all_objects(path) == before
    assert_fsck_clean(path)


def test_recovery_removes_what_a_killed_pack_or_object_write_left(data_dir: Path) -> None:
    store, path = _demo(data_dir)
    leftovers = [path / "objects" / "pack" / "tmp_pack_Ab12Cd", path / "objects" / "tmp_object_git2_x1y2z3"]
    (path / "objects" / "pack").mkdir(exist_ok=True)
    for leftover in leftovers:
        leftover.write_bytes(b"partial")
    removed = store.recover()
    assert sorted(removed) == sorted(str(p) for p in leftovers)
    assert not any(p.exists() for p in leftovers)
    assert_fsck_clean(path)


def test_writers_and_readers_never_miss_an_object_while_maintenance_runs(data_dir: Path) -> None:
    """Four writers and two readers go on while maintenance runs again and again; fsck at each of its steps."""
    store, path = _demo(data_dir)
    branches = [f"w{i}" for i in range(4)]
    for branch in branches:
        store.create_branch("demo", branch)
    acked: list[tuple[str, str, bytes]] = []  # (commit, path, content) once acknowledged
    gate = threading.Condition()
    writing = [0]  # writers inside a commit
    paused = [False]
    budget = [0]  # writers stop at this many acknowledged commits (so that each round stays small)
    stop = threading.Event()
    failures: list[BaseException] = []
    reads = [0]

    def writer(branch: str) -> None:
        n = 0
        try:
            while True:
                with gate:
                    while not stop.is_set() and (paused[0] or len(acked) >= budget[0]):
                        gate.wait(0.05)
                    if stop.is_set():
                        return
                    writing[0] += 1
                file, content = f"{branch}/f{n % 9}.txt", f"{branch} {n}\n".encode() * 20
                try:
                    commit = store.commit("demo", branch, [vcs.PutFile(file, content)], f"{n}", ALICE).commit
                finally:
                    with gate:
                        writing[0] -= 1
                        gate.notify_all()
                with gate:
                    acked.append((commit.commit_id, file, content))
                    gate.notify_all()
                n += 1
        except BaseException as exc:
            failures.append(exc)

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                with gate:
                    if not acked:
                        gate.wait(0.05)
                        continue
                    commit_id, file, content = rng.choice(acked)
                assert store.read_file("demo", commit_id, file).content == content
                assert store.get_commit("demo", commit_id).commit_id == commit_id
                reads[0] += 1
        except BaseException as exc:
            failures.append(exc)

    def fsck_at(step: str) -> None:
        if step == "packed":  # the same files as at "synced"
            return
        # git fsck is not meant to run beside writers (an object written after its scan but named by a ref
        # it reads later is "missing" to it): writers pause while it runs; readers and maintenance do not.
        with gate:
            paused[0] = True
            while writing[0]:
                gate.wait()
        try:
            assert_fsck_clean(path)
        finally:
            with gate:
                paused[0] = False
                gate.notify_all()

    threads = [threading.Thread(target=writer, args=(b,)) for b in branches]
    threads += [threading.Thread(target=reader, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    runs = rolled = 0
    try:
        while (runs < 4 or rolled < 2) and runs < 30 and not failures:
            with gate:
                start = len(acked)
                budget[0] = start + 80  # 40 before maintenance starts, up to 40 more while it runs
                gate.notify_all()
                while len(acked) < start + 40 and not failures:
                    gate.wait(0.05)
            result = maintain(path, sync=vcs.sync_filesystems, on_step=fsck_at)
            runs += 1
            rolled += result.packs_rolled_up
            store.reopen("demo")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not failures, failures[0]
    assert rolled >= 2 and reads[0] > 0
    assert_fsck_clean(path)
    for commit_id, file, content in acked:
        assert store.read_file("demo", commit_id, file).content == content
    for branch in branches:
        heads = {c for c, f, _ in acked if f.startswith(f"{branch}/")}
        assert heads <= set(git(path, "rev-list", branch).split())


def test_the_maintainer_packs_a_repository_once_it_has_enough_loose_objects(data_dir: Path) -> None:
    store = _store(data_dir)
    store.create_repository("demo", ALICE)
    maintainer = vcs.Maintainer(store, sync=None, loose_limit=40, check_every=4)
    store.write_listeners.append(maintainer.notice)
    maintainer.start()
    try:
        _commits(store, 6)  # about 30 loose objects: not yet
        done = threading.Event()
        assert maintainer.runs == 0
        _commits(store, 10, tag="more")
        for _ in range(3000):
            if maintainer.runs:
                break
            done.wait(0.01)
        assert maintainer.runs >= 1
    finally:
        maintainer.close()
    path = store.repository_path("demo")
    assert len(loose_objects(path)) < 40
    assert_fsck_clean(path)


def test_writers_wait_while_the_loose_objects_are_far_above_the_limit(data_dir: Path, tmp_path: Path) -> None:
    """git's share of a busy machine can be too small for its passes to keep up with the writers (100,000
    micro-commits peaked at 10,000-25,000 loose objects against a limit of 2,000): a git that takes 1.5 s per
    pass stands for it. At three times the limit the writers wait for a pass, so the loose objects stay
    bounded by that plus one commit's; every commit is kept, fsck clean."""
    store, path = _demo(data_dir)
    maintainer = vcs.Maintainer(
        store, sync=None, loose_limit=20, check_every=1, git=str(git_wrapper(tmp_path, "sleep 1.5"))
    )
    assert maintainer.hold_at == 60
    store.write_listeners.append(maintainer.notice)
    maintainer.start()
    try:
        with most_loose_objects(path) as most:
            ids = _commits(store, 30)  # about 4 objects each: 120 loose objects within a pass, left alone
    finally:
        maintainer.close()
    assert maintainer.runs >= 1
    assert most[0] <= 60 + 4, most[0]
    assert set(ids) <= set(git(path, "rev-list", "main").split())
    assert_fsck_clean(path)


def test_writers_are_not_held_by_a_maintenance_that_fails(data_dir: Path, tmp_path: Path) -> None:
    store, path = _demo(data_dir)
    maintainer = vcs.Maintainer(
        store, sync=None, loose_limit=5, check_every=1, git=str(git_wrapper(tmp_path, "exit 1")), hold_timeout=600
    )
    store.write_listeners.append(maintainer.notice)
    maintainer.start()
    done = threading.Event()
    writer = threading.Thread(target=lambda: (_commits(store, 20), done.set()))
    try:
        writer.start()
        writer.join(60)
        assert done.is_set()  # each failed run let the writers go
        assert len(loose_objects(path)) > maintainer.hold_at  # past the hold, with nothing packed
    finally:
        maintainer.close()
        writer.join(60)


def test_a_store_that_does_not_maintain_reopens_what_another_process_repacked(data_dir: Path) -> None:
    """``serve --workers``: the index process packs; a front's store drops its handle once the packs changed."""
    front, maintainer = _store(data_dir), _store(data_dir)
    front.create_repository("demo", ALICE)
    commits = _commits(front, 20)
    handle = front.open("demo")
    assert front.reopen_repacked() == []  # nothing changed yet: the handle stays
    assert front.open("demo") is handle
    maintain(maintainer.repository_path("demo"), sync=vcs.sync_filesystems)
    assert front.reopen_repacked() == ["demo"]
    assert front.open("demo") is not handle
    assert front.get_branch("demo", "main").head_commit_id == commits[-1]
    assert front.reopen_repacked() == []


# -- what each run packs: the new commits, named by their paths ----------------------------------


def _objects_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in (path / "objects").rglob("*") if f.is_file())


def _module(d: int, f: int) -> str:
    return "".join(f"def f{k}_{d}_{f}(x):\n    return x * {k} + {d * 20 + f}\n\n" for k in range(20))


def _micro_commits(store: vcs.Store, n: int, start: int = 0) -> None:
    """Micro-commits like an agent's: one ~1 KB module of a 100-file tree gets one more line."""
    rng = random.Random(start)
    for i in range(start, start + n):
        d, f = rng.randrange(5), rng.randrange(20)
        change = vcs.PutFile(f"pkg{d}/mod{f}.py", (_module(d, f) + f"# edit {i}\n").encode())
        store.commit("demo", "main", [change], f"edit {i}", ALICE)


def test_micro_commits_pack_close_to_a_fresh_repack(data_dir: Path, tmp_path: Path) -> None:
    """Packing each batch of loose objects as unnamed objects pairs them for deltas by size alone (and a
    roll-up does not search again between objects one pack already holds): here 1.3 times what git's own
    delta search makes of the same objects, 2.4 times after 20,000 micro-commits (benchmarks/RESULTS.md).
    Walking the new commits names every object by its path, so each tree and file is stored as a delta
    against an earlier version of itself: 1.1 times."""
    store, path = _demo(data_dir)
    seed = [vcs.PutFile(f"pkg{d}/mod{f}.py", _module(d, f).encode()) for d in range(5) for f in range(20)]
    store.commit("demo", "main", seed, "seed", ALICE)
    for batch in range(8):
        _micro_commits(store, 60, start=60 * batch)
        maintain(path, sync=None, loose_limit=150)
    copy = tmp_path / "copy.git"
    shutil.copytree(path, copy)
    git(copy, "repack", "-a", "-d", "-f", "-q")  # git's own delta search over every object, from scratch
    git(copy, "prune-packed")
    assert loose_objects(path) == []
    assert _objects_bytes(path) <= 1.2 * _objects_bytes(copy), (_objects_bytes(path), _objects_bytes(copy))
    assert_fsck_clean(path)


def test_a_run_packs_the_new_commits_and_sweeps_unreachable_objects_at_half_the_limit(data_dir: Path) -> None:
    store, path = _demo(data_dir)
    _commits(store, 10, tag="a")
    maintain(path, sync=None)  # the first run knows nothing: every loose object
    repo = store.open("demo")
    stray = [str(repo.create_blob(f"never referenced {i}\n".encode())) for i in range(3)]
    _commits(store, 10, tag="b")
    before = _all_objects(path)
    result = maintain(path, sync=None, loose_limit=20)  # 3 unreachable < 20 // 2: they wait
    assert sorted(loose_objects(path)) == sorted(stray)
    assert result.loose_deleted == result.loose_before - 3
    stray += [str(repo.create_blob(f"never referenced {i}\n".encode())) for i in range(3, 12)]
    _commits(store, 2, tag="c")
    result = maintain(path, sync=None, loose_limit=20)  # 12 unreachable >= 10: swept into a pack too
    assert loose_objects(path) == [] and result.loose_deleted == result.loose_before
    assert before | set(stray) <= _all_objects(path)
    assert_fsck_clean(path)


@pytest.mark.parametrize("record", ["missing", "garbage", "a tip that is no object"])
def test_without_a_sound_record_of_the_packed_tips_every_loose_object_is_packed(data_dir: Path, record: str) -> None:
    store, path = _demo(data_dir)
    _commits(store, 10, tag="a")
    maintain(path, sync=None)
    _commits(store, 10, tag="b")
    tips = path / "trellis-maintenance-tips"
    if record == "missing":
        tips.unlink()
    elif record == "garbage":
        tips.write_text("not an object id\n")
    else:
        tips.write_text("0123456789abcdef0123456789abcdef01234567\n")
    before = _all_objects(path)
    result = maintain(path, sync=vcs.sync_filesystems)
    assert loose_objects(path) == [] and result.loose_deleted == result.loose_before > 0
    assert _all_objects(path) == before
    assert_fsck_clean(path)
    _commits(store, 5, tag="c")  # and the record is sound again
    maintain(path, sync=None)
    assert loose_objects(path) == []


def test_loose_copies_of_packed_objects_go_even_when_nothing_is_new(data_dir: Path) -> None:
    """A writer that did not yet see an object in a new pack writes it loose again; a run with nothing new to
    pack deletes the copy (before, it stayed and counted towards the limit, run after run)."""
    store, path = _demo(data_dir)
    _commits(store, 10)
    maintain(path, sync=None)
    maintain(path, sync=None)  # the record of what is packed
    blob = git(path, "rev-parse", "main:d0/f0.txt").strip()
    data = git(path, "cat-file", "blob", blob).encode()
    target = path / "objects" / blob[:2] / blob[2:]
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(zlib.compress(b"blob %d\0" % len(data) + data))
    assert loose_objects(path) == [blob]
    packs = len(pack_files(path))
    result = maintain(path, sync=None, loose_limit=1)
    assert loose_objects(path) == [] and result.loose_deleted == 1 and result.new_pack == ""
    assert len(pack_files(path)) == packs
    assert_fsck_clean(path)


def test_the_estimate_of_loose_objects_is_exact_when_few_and_close_when_many(data_dir: Path) -> None:
    store, path = _demo(data_dir)
    _commits(store, 20)
    assert estimate_loose_objects(path) == len(loose_objects(path))  # under 256: every directory read
    repo = store.open("demo")
    for i in range(3000):
        repo.create_blob(f"blob {i}\n".encode())
    exact = len(loose_objects(path))
    estimate = estimate_loose_objects(path)
    assert 0.75 * exact <= estimate <= 1.25 * exact, (estimate, exact)
    assert estimate_loose_objects(path, enough=10**9) == exact


def test_writes_during_a_long_roll_up_are_packed_beside_it(data_dir: Path, tmp_path: Path) -> None:
    """A roll-up of big packs takes seconds while writers go on: their loose objects are packed meanwhile (a
    run of 50,000 micro-commits peaked at 16,000 loose objects during its big roll-up); fsck clean after."""
    store, path = _demo(data_dir)
    _commits(store, 10, tag="a")
    maintain(path, sync=None)
    _commits(store, 10, tag="b")
    maintain(path, sync=None, loose_limit=10)  # behind: a second pack, no roll-up
    assert len(pack_files(path)) == 2
    release = tmp_path / "release"
    wrapper = tmp_path / "git-wrapper"
    wrapper.write_text(  # holds the roll-up (--stdin-packs without --unpacked) until the test releases it
        "#!/bin/sh\n"
        'case "$*" in *--stdin-packs*) case "$*" in *--unpacked*) ;; '
        f"*) n=0; while [ ! -e {release} ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done;; esac;; esac\n"
        'exec git "$@"\n'
    )
    wrapper.chmod(0o755)
    _commits(store, 4, tag="c")
    outcome: list[object] = []
    runner = threading.Thread(
        target=lambda: outcome.append(maintain(path, sync=vcs.sync_filesystems, git=str(wrapper), loose_limit=15))
    )
    runner.start()
    try:
        stalled = threading.Event()
        for _ in range(1200):  # the first pass is done and the roll-up waits: packs are 2 + 1
            if len(pack_files(path)) == 3 and not loose_objects(path):
                break
            stalled.wait(0.05)
        _commits(store, 6, tag="d")  # ~30 loose objects, above the limit, while the roll-up waits
        for _ in range(1200):
            if not loose_objects(path):
                break
            stalled.wait(0.05)
        assert loose_objects(path) == []  # packed beside the roll-up
        assert runner.is_alive()  # which still waits
    finally:
        release.touch()
        runner.join(120)
    result = outcome[0]
    assert isinstance(result, vcs.MaintenanceResult) and result.packs_rolled_up == 3  # with the first pass's
    assert result.loose_deleted == result.loose_before > 0
    assert len(pack_files(path)) == 2  # the roll-up and the pack made beside it
    assert_fsck_clean(path)


def test_a_hold_lets_its_writers_go_once_it_is_timeout_old_and_a_copy_ends_with_it() -> None:
    """A repository far behind holds its writers at most ``hold_timeout`` in all: a hold nobody lets go (a
    maintainer that died, as the index process of ``serve --workers``) ends, and so does a copy of it (a
    front's, refreshed from the maintainer's :meth:`~trellis.vcs.WriterHolds.held`)."""
    holds, copy = vcs.WriterHolds(0.3), vcs.WriterHolds(30)
    holds.hold("demo")
    copy.replace(holds.held())
    assert "demo" in holds and "demo" in copy and "other" not in copy
    started = time.monotonic()
    copy.wait("demo")
    assert 0.2 < time.monotonic() - started < 5
    assert "demo" not in holds and not holds.held() and not copy
    holds.hold("demo")
    copy.replace(holds.held())
    waiter = threading.Thread(target=copy.wait, args=("demo",))
    waiter.start()
    copy.replace({})  # the maintainer let go: so does the copy, at once
    waiter.join(0.2)
    assert not waiter.is_alive()
