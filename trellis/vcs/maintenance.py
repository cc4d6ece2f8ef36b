"""Repository maintenance: loose objects packed in the background, packs kept few.

Every micro-commit leaves about five loose objects (a blob, the trees on its
path, the commit; a session step as many again), one file each. Left alone,
100,000 commits leave 500,000 files. :class:`Maintainer` watches the writes of
a :class:`~trellis.vcs.store.Store` and, in its own thread, runs :func:`maintain` on a
repository once it holds ``loose_limit`` loose objects:

1. ``git pack-objects --revs --unpacked`` writes one new pack with the loose
   objects of the commits made since the last run: git walks from the refs'
   targets down to the targets the last run recorded (``trellis-maintenance-tips``,
   everything below them is packed) and names each object by its path, so its
   delta search stores each tree and file as a delta against an earlier version
   of itself. (Packed as unnamed objects, paired by size alone, micro-commits
   took 2.4 times the space git's own repack gives them after 20,000 commits,
   and a roll-up never searches again between objects of one pack.) Loose
   objects no ref reaches (writes in flight, lost compare-and-swaps) wait until
   they are half of ``loose_limit``; then, and on a first run or whenever the
   record is missing or unsound, ``git pack-objects --stdin-packs --unpacked``
   packs every loose object, reachable or not. git writes a pack under a
   temporary name and renames it into place when complete;
2. the new pack is synced (the store's sync function) before anything is
   deleted, so that a power loss leaves either the old files or the new pack;
3. each loose object a pack holds is deleted (a loose copy of an object packed
   earlier too); then the small packs are rolled up into one more new pack
   (``--stdin-packs``: git names their objects by walking their commits, and
   pairs objects of different packs), synced, and each rolled-up pack is
   deleted once its objects are checked to be in the new one (``.idx`` first).

A roll-up waits while maintenance is behind (twice the loose-object limit or
more): such a run packs only the loose objects, at the server's priority.
While a roll-up runs (a big one takes seconds), the loose objects are
counted every half second and, once at the limit, packed beside it (step 1).
When git's share of a busy machine is too small for even the loose passes to
keep up, the :class:`Maintainer` holds the repository's writers at three
times the limit until a pass has caught up: the writes slow down, the loose
objects stay bounded.

Nothing that is in no pack is ever deleted, and nothing unreachable is pruned:
a concurrent writer that found an object already present (and so did not
write it) still finds it, loose or packed. Readers that looked for a loose
object that has just been packed find it in the pack: libgit2 rescans the
pack directory when an object is missing, and so does git. No lock is held
against writers or readers; one maintenance runs per repository at a time
(an ``flock`` on ``trellis-maintenance`` in the repository).

Roll-ups keep the packs in a geometric progression (factor 2 by object count,
as ``git repack --geometric=2``): the smallest packs are combined whenever one
is not at least twice the size of all smaller ones together, so a repository
with N objects has at most about log2(N) packs and each object is rewritten
about log2(N) times over its life.
"""

from __future__ import annotations

import bisect
import fcntl
import logging
import mmap
import os
import re
import shutil
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .durability import SyncFunction
from .errors import VcsError

if TYPE_CHECKING:
    from .store import Store

__all__ = [
    "LOOSE_LIMIT",
    "MaintenanceFailed",
    "MaintenanceResult",
    "Maintainer",
    "PackFile",
    "PackIndex",
    "WriterHolds",
    "estimate_loose_objects",
    "loose_objects",
    "maintain",
    "pack_files",
    "plan_rollup",
]

log = logging.getLogger(__name__)

LOOSE_LIMIT = 2000
"""Loose objects a repository may gather before it is packed (about 400 micro-commits)."""
HOLD_FACTOR = 3
"""A repository's writers wait once it holds this many times its loose-object limit (see :class:`Maintainer`)."""
HOLD_TIMEOUT = 30.0
"""Seconds a repository's writers are held at most, whether maintenance caught up or not."""

_HEX2 = re.compile(r"[0-9a-f]{2}")
_HEX38 = re.compile(r"[0-9a-f]{38}")
_PACK = re.compile(r"pack-[0-9a-f]{40}")
_PACK_SUFFIXES = (".idx", ".pack", ".rev", ".bitmap", ".mtimes", ".promisor")  # .idx first: hides the pack
LOCK_FILE = "trellis-maintenance"  # flock-ed, never removed (not "*.lock": recovery removes those)
TIPS_FILE = "trellis-maintenance-tips"  # the ref targets whose every object is in a pack
_OID = re.compile(r"[0-9a-f]{40}")
_GIT_MALLOC = {"MALLOC_TOP_PAD_": str(4 << 20)}
"""glibc's allocator in the git processes keeps 4 MiB spare at the top of the heap instead of giving it back to the
kernel after each free. ``pack-objects`` inflates every loose object several times (a 32 KiB zlib window and the
object's buffer, each allocated and freed): with glibc's defaults the heap shrank and grew again around each one,
about four ``brk`` calls and the page faults that refill the pages per object, 30% of git's CPU for a loose pass
(benchmarks/RESULTS.md, "git objects per commit"). Set only where the caller's environment does not set it."""


class MaintenanceFailed(VcsError):
    """git failed, or the new pack does not hold what it should; nothing was deleted."""

    reason = "MAINTENANCE_FAILED"


@dataclass(frozen=True, slots=True)
class PackFile:
    name: str  # "pack-<40 hex>"
    objects: int


@dataclass(frozen=True, slots=True)
class MaintenanceResult:
    loose_before: int
    loose_deleted: int
    packs_rolled_up: int
    new_pack: str  # "" when there was nothing to do
    packs_after: int


class PackIndex:
    """A pack's ``.idx`` (version 2), memory-mapped: the sorted object ids it holds."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if self._map[:8] != b"\xfftOc\x00\x00\x00\x02":
            self._map.close()
            raise MaintenanceFailed(f"{path} is not a version 2 pack index")
        self._fanout = struct.unpack_from(">256I", self._map, 8)
        self.count: int = self._fanout[255]
        self._table = 8 + 256 * 4  # then count sorted 20-byte ids

    def _id(self, i: int) -> bytes:
        start = self._table + 20 * i
        return self._map[start : start + 20]

    def __contains__(self, oid: bytes) -> bool:
        lo = self._fanout[oid[0] - 1] if oid[0] else 0
        hi = self._fanout[oid[0]]
        i = bisect.bisect_left(_Ids(self), oid, lo, hi)
        return i < hi and self._id(i) == oid

    def ids(self) -> set[bytes]:
        table = self._map[self._table : self._table + 20 * self.count]
        return {table[i : i + 20] for i in range(0, len(table), 20)}

    def close(self) -> None:
        self._map.close()

    def __enter__(self) -> PackIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Ids(Sequence[bytes]):
    """A pack index's id table as a sequence, for :func:`bisect.bisect_left`."""

    def __init__(self, index: PackIndex) -> None:
        self._index = index

    def __len__(self) -> int:
        return self._index.count

    def __getitem__(self, i: int) -> bytes:  # type: ignore[override]  # no slices: bisect only indexes
        return self._index._id(i)


def loose_objects(path: Path) -> list[str]:
    """The ids of the loose objects of the repository at ``path``."""
    found: list[str] = []
    objects = path / "objects"
    try:
        fanout = [e for e in os.scandir(objects) if _HEX2.fullmatch(e.name)]
    except FileNotFoundError:
        return found
    for d in fanout:
        try:
            found.extend(d.name + e.name for e in os.scandir(d.path) if _HEX38.fullmatch(e.name))
        except FileNotFoundError:  # git removed an empty fan-out directory
            continue
    return found


def estimate_loose_objects(path: Path, enough: int = 256) -> int:
    """About how many loose objects the repository at ``path`` holds, read from as few fan-out directories as give
    ``enough`` of them (object ids are uniform: git's ``gc --auto`` reads one directory). Exact below ``enough``.

    The maintainer counts every hundred writes: listing every loose object (2,000 and more, their names checked
    and joined) cost 0.1 ms per commit in Python on the writers' threads; this reads a tenth as many entries.
    """
    objects = os.path.join(path, "objects")
    seen = 0
    for i in range(256):
        try:
            with os.scandir(f"{objects}/{i:02x}") as entries:
                seen += sum(1 for e in entries if len(e.name) == 38)
        except FileNotFoundError:
            pass
        if seen >= enough:
            return seen * 256 // (i + 1)
    return seen


def pack_files(path: Path) -> list[PackFile]:
    """The repository's packs with an index, smallest first (packs with a ``.keep`` are left out)."""
    pack_dir = path / "objects" / "pack"
    packs = []
    try:
        names = {e.name for e in os.scandir(pack_dir)}
    except FileNotFoundError:
        return []
    for name in names:
        stem = name.removesuffix(".idx")
        if stem == name or not _PACK.fullmatch(stem) or f"{stem}.pack" not in names or f"{stem}.keep" in names:
            continue
        try:
            with PackIndex(pack_dir / name) as index:
                packs.append(PackFile(stem, index.count))
        except (FileNotFoundError, ValueError):  # deleted meanwhile, or empty
            continue
    return sorted(packs, key=lambda p: (p.objects, p.name))


def plan_rollup(packs: Sequence[PackFile], loose: int, factor: int = 2) -> list[PackFile]:
    """The packs to combine with ``loose`` loose objects so that the packs stay a geometric progression.

    ``packs`` smallest first. The packs above the highest break of the
    progression (a pack smaller than ``factor`` times the one below it) stay;
    the ones below it are combined, and so is each next pack smaller than
    ``factor`` times what is being combined.
    """
    sizes = [p.objects for p in packs]
    split = len(sizes) - 1 if sizes else 0
    while split > 0 and sizes[split] >= factor * sizes[split - 1]:
        split -= 1
    # packs[split:] are a progression; packs[:split] are not part of it.
    total = loose + sum(sizes[:split])
    while split < len(sizes) and sizes[split] < factor * total:
        total += sizes[split]
        split += 1
    chosen = list(packs[:split])
    if len(chosen) == 1 and not loose:
        return []  # rewriting one pack alone gains nothing
    return chosen


def maintain(
    path: Path,
    *,
    sync: SyncFunction | None,
    factor: int = 2,
    git: str = "git",
    env: Mapping[str, str] | None = None,
    on_step: Callable[[str], None] | None = None,
    loose_limit: int = LOOSE_LIMIT,
) -> MaintenanceResult:
    """Pack the loose objects of the repository at ``path`` and roll up small packs (see the module docstring).

    ``sync`` makes the new pack durable before anything is deleted (None: the
    data directory is not synced at all). ``on_step`` is called with "packed",
    "synced" and "deleted" as each step ends. Returns a result with an empty
    ``new_pack`` if another maintenance holds the repository or there was
    nothing to do. git runs at a low priority (nice 10) while there are fewer
    than twice ``loose_limit`` loose objects, and at the server's own once
    there are more: a busy server's writers then share the CPU with it instead
    of starving it, so the loose objects stay bounded.
    """
    lock_fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return MaintenanceResult(0, 0, 0, "", len(pack_files(path)))
        return _maintain(path, sync, factor, git, env, on_step or (lambda step: None), loose_limit)
    finally:
        os.close(lock_fd)


def _maintain(
    path: Path,
    sync: SyncFunction | None,
    factor: int,
    git: str,
    env: Mapping[str, str] | None,
    on_step: Callable[[str], None],
    loose_limit: int,
) -> MaintenanceResult:
    loose = loose_objects(path)
    if not loose:
        packs = pack_files(path)
        return _pack(path, [], plan_rollup(packs, 0, factor), packs, sync, git, env, on_step, loose_limit)
    first = _pack_loose(path, loose, sync, git, env, on_step, loose_limit)
    if first.loose_before >= 2 * loose_limit:
        return first  # behind: the packs roll up once maintenance has caught up
    packs = pack_files(path)
    rollup = plan_rollup(packs, 0, factor)
    if not rollup:
        return first
    during: list[MaintenanceResult] = []

    def meanwhile() -> None:
        # A big roll-up takes seconds, and the writes go on: their loose objects are packed beside it.
        if estimate_loose_objects(path) >= loose_limit:
            during.append(_pack_loose(path, loose_objects(path), sync, git, env, on_step, loose_limit))

    second = _pack(path, [], rollup, packs, sync, git, env, on_step, loose_limit, meanwhile=meanwhile)
    return MaintenanceResult(
        first.loose_before + sum(r.loose_before for r in during),
        first.loose_deleted + sum(r.loose_deleted for r in during),
        second.packs_rolled_up,
        second.new_pack,
        len(pack_files(path)),
    )


def _pack_loose(
    path: Path,
    loose: list[str],
    sync: SyncFunction | None,
    git: str,
    env: Mapping[str, str] | None,
    on_step: Callable[[str], None],
    loose_limit: int,
) -> MaintenanceResult:
    """Pack the loose objects of the new commits (and every loose object when needed); record the tips."""
    packed_tips = _read_tips(path)
    tips = _ref_tips(path, git, env)
    first: MaintenanceResult | None = None
    if packed_tips is not None and tips:
        # The new commits' objects, walked from the refs down to the tips packed last time: git names each
        # object by its path, so its delta search pairs each tree and file with their earlier versions.
        revs = "".join(f"{t}\n" for t in tips) + "--not\n" + "".join(f"{t}\n" for t in packed_tips)
        packs = pack_files(path)
        try:
            first = _pack(path, loose, [], packs, sync, git, env, on_step, loose_limit, revs=revs)
        except MaintenanceFailed as exc:  # e.g. a recorded tip no longer exists: pack every loose object
            log.warning("maintenance of %s: packing the new commits failed, packing every loose object: %s", path, exc)
    if first is None or len(loose) - first.loose_deleted >= max(loose_limit // 2, 1):
        # No record of what was packed, or too many loose objects that no ref reaches (writes in flight, lost
        # compare-and-swaps): every loose object, reachable or not.
        loose = loose_objects(path) if first is not None else loose
        packs = pack_files(path)
        sweep = _pack(path, loose, [], packs, sync, git, env, on_step, loose_limit)
        first = sweep if first is None else _merged(first, sweep)
    _write_tips(path, tips)
    return first


def _merged(first: MaintenanceResult, second: MaintenanceResult) -> MaintenanceResult:
    return MaintenanceResult(
        first.loose_before,
        first.loose_deleted + second.loose_deleted,
        0,
        second.new_pack or first.new_pack,
        second.packs_after,
    )


def _git_env(env: Mapping[str, str] | None) -> dict[str, str] | None:
    """The environment of the git processes maintenance runs: ``env`` with :data:`_GIT_MALLOC` unless it sets
    those variables itself; None (this process's, as it is) without one — a domain module reads no environment,
    the server passes its own (:func:`trellis.config.git_env`)."""
    return None if env is None else {**_GIT_MALLOC, **env}


def _read_tips(path: Path) -> list[str] | None:
    """The ref targets the last run packed everything below, or None if unknown."""
    try:
        text = (path / TIPS_FILE).read_text()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    tips = text.split()
    return tips if all(_OID.fullmatch(t) for t in tips) else None


def _write_tips(path: Path, tips: Sequence[str]) -> None:
    tmp = path / f"{TIPS_FILE}.tmp"
    tmp.write_text("".join(f"{t}\n" for t in tips))
    os.replace(tmp, path / TIPS_FILE)


def _ref_tips(path: Path, git: str, env: Mapping[str, str] | None) -> list[str]:
    """The distinct objects the repository's refs point to."""
    proc = subprocess.run(
        [git, "--git-dir", str(path), "for-each-ref", "--format=%(objectname)"],
        capture_output=True,
        text=True,
        env=_git_env(env),
    )
    if proc.returncode != 0:
        raise MaintenanceFailed(f"git for-each-ref failed in {path}: {proc.stderr.strip()[-2000:]}")
    return sorted(set(proc.stdout.split()))


def _pack(
    path: Path,
    loose: list[str],
    rollup: list[PackFile],
    packs: list[PackFile],
    sync: SyncFunction | None,
    git: str,
    env: Mapping[str, str] | None,
    on_step: Callable[[str], None],
    loose_limit: int,
    revs: str | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> MaintenanceResult:
    """One new pack holding ``loose`` and the objects of ``rollup``; then those loose objects and packs go.

    With ``revs`` (revision arguments, one a line), the new pack holds instead the loose objects reachable
    from them (``git pack-objects --revs --unpacked``), and the loose objects of ``loose`` it holds go.
    ``meanwhile`` is called every half second while git runs.
    """
    if not loose and not rollup:
        return MaintenanceResult(0, 0, 0, "", len(packs))
    pack_dir = path / "objects" / "pack"
    pack_dir.mkdir(exist_ok=True)
    command = [
        git,
        "--git-dir",
        str(path),
        "-c",
        "pack.threads=1",
        "-c",
        "pack.writeBitmaps=false",
        "pack-objects",
        *(["--revs", "--unpacked"] if revs is not None else ["--stdin-packs", *(["--unpacked"] if loose else [])]),
        "--non-empty",
        "-q",
        str(pack_dir / "pack"),
    ]
    nice = shutil.which("nice")
    if len(loose) < 2 * loose_limit and nice:  # background work: requests first, unless behind
        command = [nice, "-n", "10", *command]
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_git_env(env),
        )
    except OSError as exc:
        raise MaintenanceFailed(f"cannot run git pack-objects in {path}: {exc}") from None

    stdin: str | None = revs if revs is not None else "".join(f"{p.name}.pack\n" for p in rollup)
    while True:
        try:
            stdout, stderr = proc.communicate(stdin, timeout=None if meanwhile is None else 0.5)
            break
        except subprocess.TimeoutExpired:
            stdin = None  # sent; communicate goes on collecting the output
            assert meanwhile is not None
            try:
                meanwhile()
            except BaseException:
                proc.kill()
                proc.communicate()
                raise
    if proc.returncode != 0:
        raise MaintenanceFailed(f"git pack-objects failed in {path}: {stderr.strip()[-2000:]}")
    digest = stdout.strip()
    if not digest:  # nothing new to pack; the loose objects a pack already holds (a writer raced) still go
        return MaintenanceResult(
            len(loose), _delete_packed_loose(path, loose, None, pack_dir, packs), 0, "", len(packs)
        )
    new_pack = f"pack-{digest}"
    on_step("packed")
    if sync is not None:
        sync([pack_dir])
    on_step("synced")
    with PackIndex(pack_dir / f"{new_pack}.idx") as new:
        kept = [p for p in packs if p not in rollup and p.name != new_pack]
        deleted = _delete_packed_loose(path, loose, new, pack_dir, kept)
        rolled = 0
        new_ids = new.ids() if rollup else set()
        for pack in rollup:
            if pack.name == new_pack:
                continue
            with PackIndex(pack_dir / f"{pack.name}.idx") as old:
                missing = len(old.ids() - new_ids)
            if missing:
                raise MaintenanceFailed(f"{new_pack} lacks {missing} objects of {pack.name}; kept both")
            for suffix in _PACK_SUFFIXES:
                (pack_dir / f"{pack.name}{suffix}").unlink(missing_ok=True)
            rolled += 1
    on_step("deleted")
    return MaintenanceResult(len(loose), deleted, rolled, new_pack, len(pack_files(path)))


def _delete_packed_loose(
    path: Path, loose: list[str], new: PackIndex | None, pack_dir: Path, kept: list[PackFile]
) -> int:
    """Delete each of ``loose`` that a pack holds (the new one, else one that stays); leave the others."""
    others = [PackIndex(pack_dir / f"{p.name}.idx") for p in kept]
    if new is not None:
        others.insert(0, new)
    deleted = 0
    objects = os.path.join(path, "objects")
    try:
        for oid in loose:
            raw = bytes.fromhex(oid)
            if any(raw in index for index in others):
                try:
                    os.unlink(f"{objects}/{oid[:2]}/{oid[2:]}")
                    deleted += 1
                except FileNotFoundError:
                    pass
    finally:
        for index in others[1:] if new is not None else others:
            index.close()
    return deleted


class WriterHolds:
    """The repositories whose writers wait for maintenance to catch up, each until it is let go or its hold is
    ``timeout`` seconds old.

    A :class:`Maintainer` holds and lets go; the writers of its store wait in
    :meth:`wait`. The fronts of ``serve --workers N`` (whose writes another
    process maintains) keep a copy that the index process refreshes
    (:meth:`held`, then :meth:`replace`), and their writers wait on it the same
    way: the hold times out on both sides, so a front whose index process died
    is not held for longer than ``timeout``.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._until: dict[str, float] = {}  # repository -> when its hold ends at the latest (monotonic)
        self._cond = threading.Condition()

    def hold(self, repository: str) -> None:
        """Hold ``repository``'s writers (a hold already in place keeps its end)."""
        with self._cond:
            self._until.setdefault(repository, time.monotonic() + self.timeout)

    def release(self, repository: str) -> None:
        with self._cond:
            if self._until.pop(repository, None) is not None:
                self._cond.notify_all()

    def replace(self, held: Mapping[str, float]) -> None:
        """Hold exactly ``held`` (repository -> seconds its hold has left), as another process's :meth:`held`."""
        now = time.monotonic()
        with self._cond:
            self._until = {repository: now + left for repository, left in held.items()}
            self._cond.notify_all()

    def held(self) -> dict[str, float]:
        """The repositories held now, with the seconds each hold has left (ended ones are dropped)."""
        now = time.monotonic()
        with self._cond:
            self._until = {r: until for r, until in self._until.items() if until > now}
            return {r: until - now for r, until in self._until.items()}

    def __contains__(self, repository: object) -> bool:
        with self._cond:
            until = self._until.get(repository) if isinstance(repository, str) else None
            return until is not None and until > time.monotonic()

    def __bool__(self) -> bool:
        return bool(self.held())

    def wait(self, repository: str, waiting: Callable[[], AbstractContextManager[None]] = nullcontext) -> None:
        """Return once ``repository``'s writers are not held; ``waiting`` is entered around the wait (a server
        gives the caller's admission slot up meanwhile)."""
        if repository not in self:
            return
        with waiting(), self._cond:
            while (until := self._until.get(repository)) is not None:
                left = until - time.monotonic()
                if left <= 0:
                    log.warning("maintenance of %s: writers held for %.0f s; let go", repository, self.timeout)
                    del self._until[repository]
                    self._cond.notify_all()
                    return
                self._cond.wait(left)


class Maintainer:
    """Runs :func:`maintain` in a background thread on each repository of ``store`` that needs it.

    Register :meth:`notice` as a write listener of the store: every
    ``check_every`` writes to a repository (by default a twentieth of
    ``loose_limit``, at most 100), its loose objects are counted
    (:func:`estimate_loose_objects`), and once there are ``loose_limit`` of
    them the repository is queued. Writes another process made and reported
    are counted with :meth:`count`. After a run that deleted packs the store
    reopens the repository.

    Once a repository holds ``hold_at`` loose objects (default three times
    ``loose_limit``), its writers are held (:attr:`holds`): :meth:`notice`,
    called on the writer's thread after its write was acknowledged durable
    and before the caller is answered, waits (its admission slot given up)
    until a pass has brought the count below ``hold_at`` again, or the hold is
    ``hold_timeout`` seconds old. git packs a loose object for about a tenth
    of the CPU the server spent writing it, but on a machine whose cores are
    taken (by the server's own writers and by other processes) git's fair
    share can fall below that tenth, and then nothing but fewer writes bounds
    the loose objects: in one 10 s sample in ten they reached 10,000-25,000
    (benchmarks/RESULTS.md). A run that fails, or finds another process
    maintaining the repository, lets the writers go. ``hold_at=0``: never
    hold. The fronts of ``serve --workers N`` hold their writers on a copy of
    :attr:`holds` that the index process's maintainer keeps up to date
    (:mod:`trellis.workers`).
    """

    def __init__(
        self,
        store: Store,
        *,
        sync: SyncFunction | None,
        loose_limit: int = LOOSE_LIMIT,
        check_every: int | None = None,
        git: str = "git",
        env: Mapping[str, str] | None = None,
        hold_at: int | None = None,
        hold_timeout: float = HOLD_TIMEOUT,
    ) -> None:
        self.store = store
        self.sync = sync
        self.loose_limit = loose_limit
        # about a quarter of the limit in loose objects between two counts (five objects a write)
        self.check_every = max(1, min(100, loose_limit // 20)) if check_every is None else check_every
        self.git = git
        self.env = env
        self.hold_at = HOLD_FACTOR * loose_limit if hold_at is None else hold_at
        self.holds = WriterHolds(hold_timeout)
        self.runs = 0
        self._writes: dict[str, int] = {}
        self._queue: list[str] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self) -> Maintainer:
        """Start the thread, and queue every repository that already has enough loose objects."""
        self._thread = threading.Thread(target=self._run, name="trellis-maintenance", daemon=True)
        self._thread.start()
        threading.Thread(target=self._scan, name="trellis-maintenance-scan", daemon=True).start()
        return self

    def _scan(self) -> None:
        for entry in self.store.repos_dir.iterdir():
            if entry.name.endswith(".git") and not entry.name.startswith("."):
                self._check(entry.name.removesuffix(".git"))

    def notice(self, repository: str) -> None:
        """A write to ``repository`` was acknowledged (a store write listener): count it, and wait while the
        repository's writers are held."""
        self.count(repository)
        self.holds.wait(repository, self.store.waiting)

    def count(self, repository: str, writes: int = 1) -> None:
        """``writes`` writes to ``repository`` were acknowledged (by another process: nothing waits here)."""
        with self._cond:
            n = self._writes.get(repository, 0) + writes
            self._writes[repository] = n % self.check_every
        if n >= self.check_every:
            self._check(repository)

    def _check(self, repository: str) -> None:
        try:
            count = estimate_loose_objects(self.store.repository_path(repository))
        except (OSError, VcsError):
            return
        if count >= self.loose_limit:
            with self._cond:
                if self.hold_at and count >= self.hold_at and not self._closed:
                    self.holds.hold(repository)
                if repository not in self._queue:
                    self._queue.append(repository)
                    self._cond.notify_all()

    def _packed(self, repository: str) -> None:
        """A pass (or a roll-up) deleted what it packed: let the writers go if the count is below ``hold_at``."""
        if repository in self.holds:
            try:
                count = estimate_loose_objects(self.store.repository_path(repository))
            except (OSError, VcsError):
                count = 0
            if count < self.hold_at:
                self.holds.release(repository)

    def run_now(self, repository: str) -> MaintenanceResult:
        """Maintain ``repository`` in the calling thread."""
        result = maintain(
            self.store.repository_path(repository),
            sync=self.sync,
            git=self.git,
            env=self.env,
            on_step=lambda step: self._packed(repository) if step == "deleted" else None,
            loose_limit=self.loose_limit,
        )
        self.runs += 1
        if result.packs_rolled_up:
            self.store.reopen(repository)
        return result

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                repository = self._queue.pop(0)
            result: MaintenanceResult | None = None
            try:
                result = self.run_now(repository)
                log.info(
                    "maintenance of %s: %d loose objects packed, %d packs rolled up, %d packs now",
                    repository,
                    result.loose_deleted,
                    result.packs_rolled_up,
                    result.packs_after,
                )
            except FileNotFoundError:  # the repository was deleted meanwhile
                pass
            except VcsError as exc:
                log.error("maintenance of %s failed: %s", repository, exc.message)
            except Exception:  # keep maintaining the others
                log.exception("maintenance of %s failed", repository)
            finally:
                self._after_run(repository, result)

    def _after_run(self, repository: str, result: MaintenanceResult | None) -> None:
        """Writers held on ``repository`` go unless the run packed something and the count is still high: then
        the repository runs again at once (the writers, held, no longer notice anything)."""
        if repository not in self.holds:
            return
        if result is None or not (result.loose_deleted or result.new_pack):  # failed, or another process's turn
            self.holds.release(repository)
            return
        self._packed(repository)
        with self._cond:
            if repository in self.holds and repository not in self._queue:
                self._queue.append(repository)

    def close(self) -> None:
        """Stop after the current run (a git process in flight finishes: it leaves no partial state)."""
        with self._cond:
            self._closed = True
            self.holds.replace({})
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=60)
