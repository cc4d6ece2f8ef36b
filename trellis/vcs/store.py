"""The store: every repository of a data directory, and the operations on them.

``Store`` is the version-control core's one entry point. It owns the bare
repositories under ``<root>/repos/<name>.git``, the per-ref locks that make
compare-and-swap possible (across the processes of ``serve --workers N`` too,
see :mod:`trellis.vcs.refs`), and the limits applied to every request. It never reads
the environment.
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pygit2

from . import history, merging, reads, records, sessions
from .commits import COMMITTER, compose_message, land_commit, signature, write_commit
from .durability import Durability, GroupSync, SyncFunction, sync_filesystems
from .errors import AlreadyExists, InvalidArgument, LimitExceeded, NotFound, StaleHead, out_of_space
from .merging import FileMerger
from .model import (
    Branch,
    Change,
    ChangedFiles,
    Commit,
    CommitDelta,
    CommitResult,
    FileContent,
    Identity,
    Limits,
    MergeResult,
    OnStale,
    Page,
    Repository,
    Session,
    SessionStatus,
    Step,
    StepInput,
    TreeEntry,
)
from .objects import commit_value
from .paging import decode_token, encode_token, page_size
from .redaction import Redactor
from .refs import RefLocks, git_name
from .revisions import default_branch, full_commit_id, resolve_commit
from .validation import (
    check_branch_name,
    check_repository_name,
    check_request_id,
    check_text,
)

__all__ = ["Store"]

_TMP_PREFIX = ".tmp-"
# Per-step bounds keep session totals far inside int64 (the API's integer type).
MAX_STEP_COUNT = 10**12
MAX_STEP_COST = 1e9
_TRASH_PREFIX = ".trash-"


class _NothingToWrite(Exception):
    """Raised inside a merge's landing to leave without writing (preview, conflicts, up to date)."""

    def __init__(self, head: pygit2.Commit) -> None:
        super().__init__("nothing to write")
        self.head = head


class Store:
    def __init__(
        self,
        root: Path,
        limits: Limits | None = None,
        *,
        merger: FileMerger | None = None,
        redactor: Redactor | None = None,
        durability: Durability = Durability.DURABLE,
        sync: SyncFunction = sync_filesystems,
    ) -> None:
        """``merger`` merges the content of files both sides changed (default: libgit2's line merge);
        ``redactor`` replaces credentials in steps and sessions before they are written (default: the
        built-in patterns, see :mod:`trellis.vcs.redaction`). With ``durability`` DURABLE (the default) no write
        returns before ``sync`` has made it durable, writes that arrive together sharing one sync
        (:mod:`trellis.vcs.durability`)."""
        self.root = Path(root)
        self.limits = limits or Limits()
        self.merger = merger
        self.redactor = redactor if redactor is not None else Redactor()
        self.repos_dir = self.root / "repos"
        self.repos_dir.mkdir(parents=True, exist_ok=True)
        self._locks = RefLocks(self.repository_path)
        self._sessions = sessions.SessionCache()
        self._open: dict[str, pygit2.Repository] = {}
        self._packs_seen: dict[str, int] = {}  # open repository -> mtime of its objects/pack when opened
        self._dirs: dict[str, Path] = {}  # repository -> its git directory, as its handle names it
        self._open_guard = threading.Lock()
        self._group = GroupSync(sync) if durability is Durability.DURABLE else None
        self.write_listeners: list[Callable[[str], None]] = []
        """Called with the repository's name after each acknowledged write (maintenance counts them)."""
        self.waiting: Callable[[], AbstractContextManager[None]] = nullcontext
        """Entered around a write's wait for its sync (a server lets other requests run meanwhile)."""

    # -- lifecycle -----------------------------------------------------------

    def recover(self) -> list[str]:
        """Clean up after a crash: half-made repositories, deleted ones, stale ref locks.

        Only safe while holding the data directory (no other writer). Returns
        what was removed, for the log.
        """
        removed: list[str] = []
        for entry in self.repos_dir.iterdir():
            if entry.name.startswith((_TMP_PREFIX, _TRASH_PREFIX)):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(str(entry))
                continue
            # Stale ref locks, and the temporary files of an object or pack write cut short.
            for stale in [
                *entry.glob("*.lock"),
                *entry.joinpath("refs").rglob("*.lock"),
                *entry.glob("objects/tmp_*"),
                *entry.glob("objects/pack/tmp_*"),
            ]:
                stale.unlink(missing_ok=True)
                removed.append(str(stale))
        return removed

    def repository_path(self, name: str) -> Path:
        return self.repos_dir / f"{check_repository_name(name)}.git"

    def open(self, name: str) -> pygit2.Repository:
        repo = self._open.get(name)  # an open repository's name was checked when it was opened
        if repo is not None:
            return repo
        path = self.repository_path(name)
        with self._open_guard:
            repo = self._open.get(name)
            if repo is None:
                if not path.is_dir():
                    raise NotFound(
                        f"repository {name!r} not found: create it with CreateRepository (trellis repo create NAME)",
                        reason="REPOSITORY_NOT_FOUND",
                        repository=name,
                    )
                self._packs_seen[name] = _packs_mtime(path)
                repo = self._open[name] = pygit2.Repository(str(path))
            return repo

    def reopen_repacked(self) -> list[str]:
        """Reopen every open repository whose packs changed since it was opened (another process's
        maintenance deleted some: libgit2 keeps deleted packs open, and their disk space, for the life of a
        handle). Returns their names. A process that does not maintain the repositories itself calls it
        now and then (``serve --workers``: each front)."""
        with self._open_guard:
            opened = list(self._packs_seen.items())
        changed = []
        for name, seen in opened:
            try:
                now = _packs_mtime(self.repository_path(name))
            except OSError:  # deleted meanwhile
                now = -1
            if now != seen:
                self.reopen(name)
                changed.append(name)
        return changed

    def reopen(self, name: str) -> None:
        """Let the next call open ``name`` afresh.

        Calls in flight keep the handle they have. Maintenance calls this after
        it deleted packs: libgit2 keeps every pack it has read open for the
        life of the handle, deleted or not.
        """
        with self._open_guard:
            self._open.pop(name, None)
            self._packs_seen.pop(name, None)

    def sync(self) -> None:
        """Make everything in the data directory durable now (after recovery, before serving)."""
        if self._group is not None:
            self._group.wait(self.repos_dir)

    def _git_dir(self, name: str, repo: pygit2.Repository) -> Path:
        """The open repository's git directory as a ``Path`` (made once: a commit acknowledges it every time)."""
        path = self._dirs.get(name)
        if path is None:
            path = self._dirs[name] = Path(repo.path)
        return path

    def _acknowledge(self, name: str, path: Path) -> None:
        """Return once the writes made under ``path`` are durable; then tell the write listeners.

        Called after the write, outside every lock, so that the writes of other
        callers proceed meanwhile and share the sync (:class:`GroupSync`).
        """
        if self._group is not None:
            with self.waiting():
                self._group.wait(path)
        for listener in self.write_listeners:
            listener(name)

    # -- repositories --------------------------------------------------------

    def create_repository(
        self, name: str, creator: Identity, *, default_branch: str = "main", description: str = ""
    ) -> Repository:
        path = self.repository_path(name)
        check_branch_name(default_branch)
        check_text(description, "description", 4096, reason="DESCRIPTION_TOO_LARGE", allow_nul=False)
        if path.exists():
            raise AlreadyExists(f"repository {name!r} already exists", reason="REPOSITORY_EXISTS")
        staging = self.repos_dir / f"{_TMP_PREFIX}{name}-{secrets.token_hex(4)}"
        try:
            repo = pygit2.init_repository(str(staging), bare=True, initial_head=default_branch)
            repo.config["trellis.description"] = description
            repo.config["trellis.createTime"] = str(int(time.time()))
            repo.config["core.logAllRefUpdates"] = "false"
            repo.config["gc.auto"] = "0"
            empty = repo.TreeBuilder().write()
            repo.create_commit(
                f"refs/heads/{default_branch}",
                signature(creator),
                signature(COMMITTER),
                f"Create repository {name}\n",
                empty,
                [],
            )
        except BaseException:  # e.g. the disk is full: leave no half-made staging directory behind
            shutil.rmtree(staging, ignore_errors=True)
            raise
        try:
            os.rename(staging, path)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            raise AlreadyExists(f"repository {name!r} already exists", reason="REPOSITORY_EXISTS") from None
        self._acknowledge(name, path)
        return self.get_repository(name)

    def get_repository(self, name: str) -> Repository:
        repo = self.open(name)
        branch = default_branch(repo)
        ref = repo.references.get(git_name(f"refs/heads/{branch}"))
        config = repo.config
        return Repository(
            repository_id=name,
            default_branch=branch,
            description=(config["trellis.description"] or "") if "trellis.description" in config else "",
            create_time=int(config["trellis.createTime"] or 0) if "trellis.createTime" in config else 0,
            head_commit_id=str(ref.target) if ref is not None else "",
        )

    def list_repositories(self, *, requested_page_size: int = 0, page_token: str = "") -> Page[Repository]:
        size = page_size(requested_page_size, self.limits)
        after = str(decode_token(page_token, after=str).get("after", ""))
        names = sorted(
            entry.name.removesuffix(".git")
            for entry in self.repos_dir.iterdir()
            if entry.name.endswith(".git") and not entry.name.startswith(".")
        )
        names = [n for n in names if n > after]
        items = []
        for name in names[:size]:
            try:
                items.append(self.get_repository(name))
            except NotFound:  # deleted meanwhile
                continue
        more = len(names) > size
        return Page(items, encode_token(after=names[size - 1]) if more else "")

    def delete_repository(self, name: str) -> None:
        path = self.repository_path(name)
        trash = self.repos_dir / f"{_TRASH_PREFIX}{name}-{secrets.token_hex(4)}"
        with self._open_guard:
            try:
                os.rename(path, trash)
            except FileNotFoundError:
                raise NotFound(f"repository {name!r} not found", reason="REPOSITORY_NOT_FOUND") from None
            self._open.pop(name, None)
            self._packs_seen.pop(name, None)
            self._dirs.pop(name, None)
        self._locks.forget_repository(name)
        if self._group is not None:  # the rename is what deletes it; the files may go later
            self._group.wait(self.repos_dir)
        shutil.rmtree(trash, ignore_errors=True)

    # -- commits -------------------------------------------------------------

    def commit(
        self,
        repository: str,
        branch: str,
        changes: Sequence[Change],
        message: str,
        author: Identity,
        *,
        expected_head: str | None = None,
        on_stale: OnStale = OnStale.FAIL,
        session_id: str | None = None,
        step: StepInput | None = None,
        request_id: str | None = None,
    ) -> CommitResult:
        """Land ``changes`` as one commit on ``branch`` (see :func:`trellis.vcs.commits.land_commit`).

        With a session, the commit carries ``Trellis-Agent``, ``Trellis-Session``
        and ``Trellis-Step`` trailers and the step is recorded in the session.
        """
        check_branch_name(branch)
        check_text(message, "message", self.limits.max_message_bytes, reason="MESSAGE_TOO_LARGE", allow_nul=False)
        if request_id:
            check_request_id(request_id)
        repo = self.open(repository)
        delta: CommitDelta | None = None

        def land(trailers: dict[str, str]) -> tuple[Commit, bool, bool]:
            nonlocal delta
            commit, rebased, replayed, delta = land_commit(
                repo,
                self._locks,
                repository,
                branch,
                changes,
                message,
                author,
                expected_head=expected_head,
                on_stale=on_stale,
                limits=self.limits,
                trailers=trailers,
                request_id=request_id,
                merger=self.merger,
            )
            return commit, rebased, replayed

        commit, rebased, recorded = self._land(repository, repo, author, session_id, step, message, land)
        # A replayed request is acknowledged only once durable too: its original may have
        # landed just before a crash, before its sync.
        self._acknowledge(repository, self._git_dir(repository, repo))
        return CommitResult(commit, rebased, recorded, delta)

    def _land(
        self,
        repository: str,
        repo: pygit2.Repository,
        author: Identity,
        session_id: str | None,
        step: StepInput | None,
        message: str,
        land: Callable[[dict[str, str]], tuple[Commit, bool, bool]],
    ) -> tuple[Commit, bool, Step | None]:
        """Run ``land(trailers)``; within a session, with its trailers and its step recorded."""
        if step is not None and not session_id:
            raise InvalidArgument("a step needs the session it belongs to", reason="STEP_WITHOUT_SESSION")
        if not session_id:
            commit, rebased, _ = land({"Trellis-Agent": author.name})
            return commit, rebased, None
        step_input = self.redactor.redact_step(step or StepInput(action="commit", thought=message))
        self._check_step(step_input)
        with sessions.hold_session(self._locks, repository, session_id):
            opened = sessions.check_session_writable(repo, session_id, author, self._sessions)
            commit, rebased, replayed = land(
                {
                    "Trellis-Agent": author.name,
                    "Trellis-Session": session_id,
                    "Trellis-Step": str(opened.session.step_count + 1),
                }
            )
            # A replayed request whose step was lost (a crash between moving the
            # branch and recording its step) gets its step recorded now.
            recorded = sessions.find_step(repo, opened, commit.commit_id) if replayed else None
            if recorded is None:
                recorded = sessions.append_step(repo, opened, step_input, commit.commit_id, author, self._sessions)
        return commit, rebased, recorded

    # -- merges ----------------------------------------------------------------

    def merge(
        self,
        repository: str,
        target_branch: str,
        source_revision: str,
        author: Identity,
        *,
        expected_head: str | None = None,
        message: str = "",
        preview: bool = False,
        session_id: str | None = None,
        step: StepInput | None = None,
    ) -> MergeResult:
        """Merge ``source_revision`` into ``target_branch``: fast-forward, or a three-way merge commit.

        A merge with conflicts, or a preview, writes nothing. Compare-and-swap
        on ``expected_head`` as for commits.
        """
        check_branch_name(target_branch)
        check_text(message, "message", self.limits.max_message_bytes, reason="MESSAGE_TOO_LARGE", allow_nul=False)
        repo = self.open(repository)
        if expected_head is not None:
            expected_head = full_commit_id(repo, expected_head, "expected_head")
        source = resolve_commit(repo, source_revision)
        refname = f"refs/heads/{target_branch}"
        if repo.references.get(git_name(refname)) is None:
            raise NotFound(
                f"branch {target_branch!r} not found in {repository!r}", reason="BRANCH_NOT_FOUND", branch=target_branch
            )
        outcome: list[merging.TreeMerge] = []

        def land(trailers: dict[str, str]) -> tuple[Commit, bool, bool]:
            with self._locks.hold(repository, refname):
                ref = repo.references[git_name(refname)]
                head = repo[ref.target]
                assert isinstance(head, pygit2.Commit)
                if expected_head is not None and expected_head != str(head.id):
                    raise StaleHead(target_branch, expected_head, str(head.id))
                merge = merging.merge_commits(repo, head, source, self.merger)
                outcome.append(merge)
                if preview or not merge.clean or merge.up_to_date:
                    raise _NothingToWrite(head)
                if merge.fast_forward:
                    ref.set_target(source.id, f"merge (fast-forward): {author.name}")
                    return commit_value(source), False, False
                tree_id = merging.write_merge(repo, merge)
                text = message or f"Merge {source_revision} into {target_branch}"
                commit = write_commit(repo, author, compose_message(text, trailers), tree_id, [head.id, source.id])
                ref.set_target(commit.commit_id, f"merge: {author.name}")
                return commit, False, False

        try:
            commit, _, recorded = self._land(repository, repo, author, session_id, step, message or "merge", land)
        except _NothingToWrite as nothing:
            merge = outcome[-1]
            landed = None if preview or not merge.clean else commit_value(nothing.head)
            return MergeResult(landed, merge.strategy, merge.conflicts, merge.up_to_date, None)
        merge = outcome[-1]
        self._acknowledge(repository, self._git_dir(repository, repo))
        return MergeResult(commit, merge.strategy, (), False, recorded)

    def get_commit(self, repository: str, revision: str) -> Commit:
        return commit_value(resolve_commit(self.open(repository), revision))

    # -- plain reads for the layers above (vcs/reads.py) ------------------------

    def tree_blobs(self, repository: str, tree_id: str, where: Callable[[str], bool] | None = None) -> dict[str, str]:
        """``path -> blob id`` of every file of a tree (only where ``where(path)`` if given)."""
        return reads.tree_blobs(self.open(repository), tree_id, where)

    def tree_files(self, repository: str, tree_id: str, paths: Iterable[str]) -> dict[str, bytes]:
        """The content of each of ``paths`` that is a file of the tree (the others are left out)."""
        return reads.tree_files(self.open(repository), tree_id, paths)

    def tree_entry_id(self, repository: str, tree_id: str, path: str) -> str | None:
        return reads.tree_entry_id(self.open(repository), tree_id, path)

    def read_blob(self, repository: str, blob_id: str) -> bytes | None:
        return reads.read_blob(self.open(repository), blob_id)

    def full_commit_id(self, repository: str, commit_id: str, what: str = "commit id") -> str:
        """The full id of a commit given by its id or a unique prefix (refused as ``what`` otherwise)."""
        return full_commit_id(self.open(repository), commit_id, what)

    def merge_base(self, repository: str, a: str, b: str) -> str | None:
        return reads.merge_base(self.open(repository), a, b)

    def history(
        self, repository: str, revision: str, *, first_parent: bool = False, limit: int = 0
    ) -> Iterator[Commit]:
        """Commits from ``revision`` back, newest first (``list_commits`` pages them for clients)."""
        return reads.history(self.open(repository), revision, first_parent=first_parent, limit=limit)

    def list_commits(
        self, repository: str, revision: str = "", path: str = "", *, page_size: int = 0, page_token: str = ""
    ) -> Page[Commit]:
        return history.list_commits(
            self.open(repository),
            revision,
            path,
            self.limits,
            requested_page_size=page_size,
            page_token=page_token,
        )

    def diff_endpoints(self, repository: str, old_revision: str, new_revision: str) -> tuple[str, str]:
        """Commit ids a diff compares ("" for the parent of a root commit); reads no file."""
        old, new = history.diff_endpoints(self.open(repository), old_revision, new_revision)
        return (str(old.id) if old is not None else ""), str(new.id)

    def changed_files(
        self, repository: str, old_revision: str, new_revision: str, paths: Sequence[str] = ()
    ) -> ChangedFiles:
        return history.changed_files(self.open(repository), old_revision, new_revision, list(paths), self.limits)

    def read_file(self, repository: str, revision: str, path: str) -> FileContent:
        return history.read_file(self.open(repository), revision, path, self.limits)

    def list_tree(
        self,
        repository: str,
        revision: str = "",
        path: str = "",
        *,
        recursive: bool = False,
        page_size: int = 0,
        page_token: str = "",
    ) -> Page[TreeEntry]:
        return history.list_tree(
            self.open(repository),
            revision,
            path,
            recursive,
            self.limits,
            requested_page_size=page_size,
            page_token=page_token,
        )

    # -- branches ------------------------------------------------------------

    def create_branch(self, repository: str, branch: str, revision: str = "") -> Branch:
        check_branch_name(branch)
        repo = self.open(repository)
        target = resolve_commit(repo, revision)
        refname = f"refs/heads/{branch}"
        with self._locks.hold(repository, refname):
            if repo.references.get(git_name(refname)) is not None:
                raise AlreadyExists(f"branch {branch!r} already exists", reason="BRANCH_EXISTS", branch=branch)
            try:
                repo.references.create(refname, target.id)
            except (pygit2.GitError, ValueError, OSError) as exc:
                if out_of_space(exc):
                    raise
                # e.g. "agents/a" exists as a branch and "agents/a/b" is asked for
                raise InvalidArgument(
                    f"cannot create branch {branch!r}: {exc}", reason="BRANCH_NAME_CONFLICT"
                ) from None
        self._acknowledge(repository, self._git_dir(repository, repo))
        return Branch(branch, str(target.id))

    def get_branch(self, repository: str, branch: str) -> Branch:
        check_branch_name(branch)
        ref = self.open(repository).references.get(git_name(f"refs/heads/{branch}"))
        if ref is None:
            raise NotFound(f"branch {branch!r} not found in {repository!r}", reason="BRANCH_NOT_FOUND", branch=branch)
        return Branch(branch, str(ref.target))

    def list_branches(
        self, repository: str, prefix: str = "", *, page_size: int = 0, page_token: str = ""
    ) -> Page[Branch]:
        repo = self.open(repository)
        size = _page(page_size, self.limits)
        after = str(decode_token(page_token, after=str).get("after", ""))
        full_prefix = f"refs/heads/{prefix}"
        names = sorted(name.removeprefix("refs/heads/") for name in repo.references if name.startswith(full_prefix))
        names = [n for n in names if n > after]
        items = []
        for name in names[:size]:
            ref = repo.references.get(git_name(f"refs/heads/{name}"))
            if ref is not None:
                items.append(Branch(name, str(ref.target)))
        more = len(names) > size
        return Page(items, encode_token(after=names[size - 1]) if more else "")

    def delete_branch(self, repository: str, branch: str, *, expected_head: str | None = None) -> None:
        check_branch_name(branch)
        repo = self.open(repository)
        if expected_head is not None:
            expected_head = full_commit_id(repo, expected_head, "expected_head")
        if branch == default_branch(repo):
            raise InvalidArgument(
                f"branch {branch!r} is the repository's default branch and cannot be deleted",
                reason="DEFAULT_BRANCH",
            )
        refname = f"refs/heads/{branch}"
        with self._locks.hold(repository, refname):
            ref = repo.references.get(git_name(refname))
            if ref is None:
                raise NotFound(f"branch {branch!r} not found", reason="BRANCH_NOT_FOUND", branch=branch)
            if expected_head is not None and str(ref.target) != expected_head:
                raise StaleHead(branch, expected_head, str(ref.target))
            # libgit2 rewrites packed-refs under packed-refs.lock to delete a ref; one left by a writer
            # killed mid-delete would refuse every later delete. Held here across processes, it is stale.
            with self._locks.hold(repository, "packed-refs"):
                ref.delete()
        self._acknowledge(repository, self._git_dir(repository, repo))

    # -- records ---------------------------------------------------------------

    def write_record(
        self, repository: str, namespace: str, key: str, files: dict[str, bytes], message: str, actor: Identity
    ) -> str:
        """Keep ``files`` as the record ``refs/trellis/<namespace>/<key>`` (see :mod:`trellis.vcs.records`)."""
        repo = self.open(repository)
        commit_id = records.write_record(repo, self._locks, repository, namespace, key, files, message, actor)
        self._acknowledge(repository, self._git_dir(repository, repo))
        return commit_id

    def read_record(self, repository: str, namespace: str, key: str) -> dict[str, bytes]:
        return records.read_record(self.open(repository), namespace, key)

    def record_version(self, repository: str, namespace: str, key: str) -> str | None:
        """The record's current version (see :func:`trellis.vcs.records.record_version`), None if there is none."""
        return records.record_version(self.open(repository), namespace, key)

    def list_records(self, repository: str, namespace: str) -> list[str]:
        return records.list_records(self.open(repository), namespace)

    # -- sessions ------------------------------------------------------------

    def create_session(
        self,
        repository: str,
        agent: Identity,
        *,
        model: str = "",
        task: str = "",
        base_revision: str = "",
        branch: str = "",
        metadata: dict[str, str] | None = None,
    ) -> Session:
        repo = self.open(repository)
        base = resolve_commit(repo, base_revision)
        counts: Counter[str] = Counter()
        redacted = self.redactor.redact(task)
        counts.update(redacted.counts)
        session = sessions.create_session(
            repo,
            self._locks,
            repository,
            agent,
            model=model,
            task=redacted.text,
            base=base,
            branch_id=branch or None,
            metadata=self.redactor.redact_metadata(metadata or {}, counts),
            limits=self.limits,
            cache=self._sessions,
        )
        self._acknowledge(repository, self._git_dir(repository, repo))
        return session

    def get_session(self, repository: str, session_id: str) -> Session:
        return sessions.get_session(self.open(repository), session_id, self._sessions)

    def list_sessions(
        self, repository: str, agent: str = "", *, page_size: int = 0, page_token: str = ""
    ) -> Page[Session]:
        return sessions.list_sessions(
            self.open(repository),
            agent,
            self.limits,
            requested_page_size=page_size,
            page_token=page_token,
            cache=self._sessions,
        )

    def end_session(
        self, repository: str, session_id: str, status: SessionStatus, actor: Identity, outcome: str = ""
    ) -> Session:
        repo = self.open(repository)
        ended = sessions.end_session(
            repo,
            self._locks,
            repository,
            session_id,
            status,
            self.redactor.redact(outcome).text,
            actor,
            self._sessions,
        )
        self._acknowledge(repository, self._git_dir(repository, repo))
        return ended

    def record_step(self, repository: str, session_id: str, step: StepInput, actor: Identity) -> Step:
        """Record a step that changed no code (its credentials redacted)."""
        step = self.redactor.redact_step(step)
        self._check_step(step)
        repo = self.open(repository)
        with sessions.hold_session(self._locks, repository, session_id):
            opened = sessions.check_session_writable(repo, session_id, actor, self._sessions)
            recorded = sessions.append_step(repo, opened, step, "", actor, self._sessions)
        self._acknowledge(repository, self._git_dir(repository, repo))
        return recorded

    def record_steps(self, repository: str, session_id: str, steps: Sequence[StepInput], actor: Identity) -> list[Step]:
        """Record several steps that changed no code at once (each redacted and checked as by
        :meth:`record_step`): one write, all or nothing."""
        if len(steps) > self.limits.max_batch_steps:
            raise LimitExceeded(
                f"{len(steps)} steps in one call; the limit is {self.limits.max_batch_steps}: send them in parts",
                reason="TOO_MANY_STEPS",
            )
        checked = [self.redactor.redact_step(step) for step in steps]
        for step in checked:
            self._check_step(step)
        repo = self.open(repository)
        with sessions.hold_session(self._locks, repository, session_id):
            opened = sessions.check_session_writable(repo, session_id, actor, self._sessions)
            recorded = sessions.append_steps(repo, opened, checked, actor, self._sessions)
        self._acknowledge(repository, self._git_dir(repository, repo))
        return recorded

    def list_steps(self, repository: str, session_id: str, *, page_size: int = 0, page_token: str = "") -> Page[Step]:
        return sessions.list_steps(
            self.open(repository),
            session_id,
            self.limits,
            requested_page_size=page_size,
            page_token=page_token,
            cache=self._sessions,
        )

    def _check_step(self, step: StepInput) -> None:
        limit = self.limits.max_step_bytes
        check_text(step.thought, "thought", limit, reason="THOUGHT_TOO_LARGE")
        check_text(step.action, "action", limit, reason="ACTION_TOO_LARGE")
        check_text(step.arguments_json, "arguments_json", limit, reason="ARGUMENTS_JSON_TOO_LARGE")
        check_text(step.observation, "observation", limit, reason="OBSERVATION_TOO_LARGE")
        counts = (step.input_tokens, step.output_tokens, step.latency_ms)
        if (
            min(counts) < 0
            or max(counts) > MAX_STEP_COUNT
            or not math.isfinite(step.cost_usd)
            or not 0 <= step.cost_usd <= MAX_STEP_COST
        ):
            raise InvalidArgument(
                f"token counts and latency must be non-negative integers up to {MAX_STEP_COUNT:.0e}, "
                f"and cost a finite non-negative number up to {MAX_STEP_COST:.0e}",
                reason="INVALID_STEP",
            )
        size = sessions.step_input_size(step)
        if size > self.limits.max_step_bytes:
            raise LimitExceeded(
                f"the step is {size} bytes; the limit is {self.limits.max_step_bytes}", reason="STEP_TOO_LARGE"
            )


def _packs_mtime(path: Path) -> int:
    """When a pack was last added to or deleted from the repository at ``path`` (0: no pack directory)."""
    try:
        return os.stat(path / "objects" / "pack").st_mtime_ns
    except FileNotFoundError:
        return 0


def _page(requested: int, limits: Limits) -> int:
    return page_size(requested, limits)
