"""A sync function that records what each sync covered, for the durability tests.

It wraps the real one (``vcs.sync_filesystems``): before each sync it notes
what is on disk in each directory it is given (loose objects and refs, read
from the files), then syncs, then logs the sync as done. A test logs each
acknowledgement in the same log as it arrives, and :meth:`SyncRecorder.check`
proves that every acknowledged write was covered by a sync that had finished
before the acknowledgement: its objects were on disk when that sync started,
and so was its ref (at the acknowledged commit, or at a later one built on it).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pygit2

from trellis import vcs


@dataclass(frozen=True)
class OnDisk:
    objects: frozenset[str]
    refs: dict[str, str]


def on_disk(repo: Path) -> OnDisk:
    """The loose objects and the refs (loose and packed) of the repository at ``repo``, from its files."""
    objects = set()
    for fanout in (repo / "objects").iterdir():
        if len(fanout.name) == 2:
            objects.update(fanout.name + f.name for f in fanout.iterdir() if len(f.name) == 38)
    refs: dict[str, str] = {}
    packed = repo / "packed-refs"
    if packed.exists():
        for line in packed.read_text().splitlines():
            if line and line[0] not in "#^":
                target, name = line.split(" ", 1)
                refs[name] = target
    for dirpath, _, files in os.walk(repo / "refs"):
        for name in files:
            if not name.endswith(".lock"):
                path = Path(dirpath, name)
                refs[path.relative_to(repo).as_posix()] = path.read_text().strip()
    return OnDisk(frozenset(objects), refs)


def new_objects(repo: pygit2.Repository, commit_id: str) -> set[str]:
    """The objects a commit added: itself and every tree and blob its first parent does not have."""
    commit = repo[commit_id]
    assert isinstance(commit, pygit2.Commit)
    found = {commit_id}
    old = {str(commit.parents[0].tree_id)} if commit.parents else set()

    def walk(tree: pygit2.Tree, before: pygit2.Tree | None) -> None:
        found.add(str(tree.id))
        for entry in tree:
            previous = before[entry.name] if before is not None and entry.name in before else None
            if previous is not None and previous.id == entry.id:
                continue
            if entry.type_str == "tree":
                prev_tree = repo[previous.id] if previous is not None and previous.type_str == "tree" else None
                walk(repo[entry.id], prev_tree)  # type: ignore[arg-type]
            else:
                found.add(str(entry.id))

    if str(commit.tree_id) not in old:
        walk(commit.tree, commit.parents[0].tree if commit.parents else None)
    return found


@dataclass(frozen=True)
class Ack:
    repo: Path
    ref: str  # "refs/heads/main"
    commit_id: str


class SyncRecorder:
    """A real sync function that logs what each sync covered; acknowledgements go in the same log."""

    def __init__(self) -> None:
        self.log: list[tuple[str, object]] = []
        self._lock = threading.Lock()

    def __call__(self, paths: list[Path]) -> None:
        covered = {p.resolve(): on_disk(p) for p in paths if (p / "objects").is_dir()}
        vcs.sync_filesystems(paths)
        with self._lock:
            self.log.append(("synced", covered))

    @property
    def syncs(self) -> int:
        return sum(1 for kind, _ in self.log if kind == "synced")

    def acknowledged(self, repo: Path, ref: str, commit_id: str) -> None:
        with self._lock:
            self.log.append(("ack", Ack(repo.resolve(), ref, commit_id)))

    def check(self) -> int:
        """Assert that each acknowledgement follows a finished sync that covered it; return how many were checked."""
        checked = 0
        repos: dict[Path, pygit2.Repository] = {}
        for i, (kind, value) in enumerate(self.log):
            if kind != "ack":
                continue
            ack = value
            assert isinstance(ack, Ack)
            repo = repos.setdefault(ack.repo, pygit2.Repository(str(ack.repo)))
            needed = new_objects(repo, ack.commit_id)
            if not any(
                self._covers(repo, covered, ack, needed) for kind2, covered in self.log[:i] if kind2 == "synced"
            ):
                raise AssertionError(f"{ack.ref} at {ack.commit_id} was acknowledged before a sync covered it")
            checked += 1
        return checked

    @staticmethod
    def _covers(repo: pygit2.Repository, covered: object, ack: Ack, needed: set[str]) -> bool:
        assert isinstance(covered, dict)
        disk = covered.get(ack.repo)
        if disk is None or not needed <= disk.objects:
            return False
        target = disk.refs.get(ack.ref)
        if target is None:
            return False
        return target == ack.commit_id or repo.descendant_of(target, ack.commit_id)
