"""Sessions and their steps, stored in git under ``refs/trellis/sessions/<id>``.

Each session ref points at a chain of commits (one per event) whose tree is::

    session.json                    the session record with running totals
    steps/000000/00000001.json      one file per step, in subtrees of 100 steps:
    steps/000001/00000100.json      the subtree's name is the step's number
    ...                             without its last two digits

so ``git show refs/trellis/sessions/<id>:session.json`` and
``git log refs/trellis/sessions/<id>`` read them with plain git. A step
rewrites the root, ``steps/`` and one subtree of at most 100 entries, so its
cost does not grow with the session (one flat ``steps/`` tree, rewritten whole
on every step, made step 4,000 cost three times step 1). Sessions written
before kept every step in ``steps/`` itself (``steps/00000001.json``): readers
read both layouts, and the next step written to such a session moves its steps
into subtrees.

A session is read for every write to it (its totals and status); the reads
are kept in a :class:`SessionCache` by the commit the ref points at, so a
write that follows this process's last write reads no object.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pygit2

from .commits import COMMITTER, signature
from .errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, out_of_space
from .model import Identity, Limits, Page, Session, SessionStatus, Step, StepInput
from .paging import decode_token, encode_token, page_size
from .refs import RefLocks, git_name
from .validation import check_branch_name, check_session_id, check_text

__all__ = [
    "SESSION_REF_PREFIX",
    "STEPS_PER_TREE",
    "OpenSession",
    "SessionCache",
    "SessionTip",
    "append_step",
    "append_steps",
    "check_session_writable",
    "create_session",
    "end_session",
    "find_step",
    "get_session",
    "hold_session",
    "list_sessions",
    "list_steps",
    "new_session_id",
    "step_blobs",
    "step_input_size",
]

SESSION_REF_PREFIX = "refs/trellis/sessions/"
_BLOB = pygit2.enums.FileMode.BLOB
_TREE = pygit2.enums.FileMode.TREE
STEPS_PER_TREE = 100
"""Steps per subtree of ``steps/``: the most entries a step's write rewrites, however long the session."""


_last_ms = 0
_id_guard = threading.Lock()


def new_session_id() -> str:
    """Time-ordered, unique: 12 hex digits of milliseconds then 8 random hex digits.

    The millisecond part never repeats within a process (it is bumped past the
    previous id), so ids made in a burst still sort in creation order.
    """
    global _last_ms
    with _id_guard:
        _last_ms = max(int(time.time() * 1000), _last_ms + 1)
        return f"{_last_ms:012x}{secrets.token_hex(4)}"


def _ref(session_id: str) -> str:
    return SESSION_REF_PREFIX + session_id


@contextmanager
def hold_session(locks: RefLocks, repository: str, session_id: str) -> Iterator[None]:
    with locks.hold(repository, _ref(session_id)):
        yield


def _dump(value: dict[str, Any]) -> bytes:
    # Compact: a step is written (and its blob hashed and compressed) on every session commit; indentation
    # was a fifth of its bytes. Readers parse JSON, whatever its layout (older records are indented).
    return (json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False) + "\n").encode()


def _session_json(session: Session) -> bytes:
    record = {f.name: getattr(session, f.name) for f in dataclasses.fields(session)}
    record["metadata"] = dict(session.metadata)
    record["status"] = session.status.value
    return _dump(record)


def _session_from(data: bytes) -> Session:
    record = json.loads(data)
    record["status"] = SessionStatus(record["status"])
    return Session(**record)


def _step_json(step: Step) -> bytes:
    # (dataclasses.asdict, by hand: it deep-copies every value, a third of recording a step)
    record = {f: getattr(step, f) for f in _STEP_FIELDS}
    record["input"] = {f: getattr(step.input, f) for f in _INPUT_FIELDS}
    record["input"]["metadata"] = dict(step.input.metadata)
    return _dump(record)


_STEP_FIELDS = tuple(f.name for f in dataclasses.fields(Step))
_INPUT_FIELDS = tuple(f.name for f in dataclasses.fields(StepInput))


def _step_from(data: bytes) -> Step:
    record = json.loads(data)
    record["input"] = StepInput(**record["input"])
    return Step(**record)


def _step_name(index: int) -> str:
    return f"{index:08d}.json"


def _subtree_name(index: int) -> str:
    """The subtree of ``steps/`` that holds step ``index``: its number without the last two digits."""
    return f"{index // STEPS_PER_TREE:06d}"


def step_input_size(step: StepInput) -> int:
    return len(json.dumps({f: getattr(step, f) for f in _INPUT_FIELDS}, ensure_ascii=False).encode())


@dataclasses.dataclass(frozen=True, slots=True)
class SessionTip:
    """A session as one commit of its ref holds it: the record, the commit and the commit's tree."""

    session: Session
    commit_id: pygit2.Oid
    tree_id: pygit2.Oid


class SessionCache:
    """Session records by the id of the commit that holds them, the last ``capacity`` used.

    An entry is never stale: a commit id names one content. A write by
    another process moves the ref to a commit this cache has not seen, which
    is then read from git.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = capacity
        self._tips: OrderedDict[pygit2.Oid, SessionTip] = OrderedDict()
        self._guard = threading.Lock()

    def get(self, commit_id: pygit2.Oid) -> SessionTip | None:
        with self._guard:
            tip = self._tips.get(commit_id)
            if tip is not None:
                self._tips.move_to_end(commit_id)
            return tip

    def put(self, tip: SessionTip) -> None:
        with self._guard:
            self._tips[tip.commit_id] = tip
            self._tips.move_to_end(tip.commit_id)
            while len(self._tips) > self._capacity:
                self._tips.popitem(last=False)


@dataclasses.dataclass(frozen=True, slots=True)
class OpenSession:
    """A session read once for a write: its record, the ref and the commit the ref points at."""

    session: Session
    ref: pygit2.Reference
    tip: SessionTip


def _open(repo: pygit2.Repository, session_id: str, cache: SessionCache | None) -> OpenSession:
    ref = repo.references.get(git_name(_ref(check_session_id(session_id))))
    if ref is None:
        raise NotFound(
            f"session {session_id!r} not found: list sessions with ListSessions",
            reason="SESSION_NOT_FOUND",
            session=session_id,
        )
    target = ref.target
    assert isinstance(target, pygit2.Oid)
    tip = cache.get(target) if cache is not None else None
    if tip is None:
        commit = repo[target]
        assert isinstance(commit, pygit2.Commit)
        blob = commit.tree["session.json"]
        assert isinstance(blob, pygit2.Blob)
        tip = SessionTip(_session_from(blob.data), commit.id, commit.tree_id)
        if cache is not None:
            cache.put(tip)
    return OpenSession(tip.session, ref, tip)


def get_session(repo: pygit2.Repository, session_id: str, cache: SessionCache | None = None) -> Session:
    return _open(repo, session_id, cache).session


def _steps_tree(repo: pygit2.Repository, tree_id: pygit2.Oid) -> pygit2.Tree | None:
    tree = repo[tree_id]
    assert isinstance(tree, pygit2.Tree)
    try:
        steps = tree["steps"]
    except KeyError:
        return None
    return steps if isinstance(steps, pygit2.Tree) else None


def _number(name: str) -> int | None:
    return int(name) if name.isascii() and name.isdigit() else None


def step_blobs(repo: pygit2.Repository, steps: pygit2.Tree, after: int = 0) -> list[tuple[int, pygit2.Oid]]:
    """``(index, blob id)`` of each step numbered above ``after`` in a session's ``steps/`` tree, in order.

    Reads both layouts: subtrees of :data:`STEPS_PER_TREE` steps
    (``steps/000123/00012345.json``) and the flat one of sessions written by
    earlier versions (``steps/00012345.json``). Subtrees that hold only steps
    up to ``after`` are not read.
    """
    found: list[tuple[int, pygit2.Oid]] = []
    for entry in steps:
        name = entry.name or ""
        if entry.filemode == _TREE:
            subtree = _number(name)
            if subtree is None or (subtree + 1) * STEPS_PER_TREE - 1 <= after:
                continue
            held = repo[entry.id]
            assert isinstance(held, pygit2.Tree)
            found.extend(_flat_steps(held, after))
        else:
            found.extend(_flat_steps((entry,), after))
    found.sort(key=lambda item: item[0])
    return found


def _flat_steps(entries: Iterable[pygit2.Object], after: int) -> Iterator[tuple[int, pygit2.Oid]]:
    for entry in entries:
        name = entry.name or ""
        if entry.filemode == _TREE or not name.endswith(".json"):
            continue
        index = _number(name.removesuffix(".json"))
        if index is not None and index > after:
            yield index, entry.id


def _write(
    repo: pygit2.Repository,
    session: Session,
    parent: SessionTip | None,
    message: str,
    actor: Identity,
    steps: Sequence[Step] = (),
) -> SessionTip:
    if parent is not None:
        base = repo[parent.tree_id]
        assert isinstance(base, pygit2.Tree)
        root = repo.TreeBuilder(base)
    else:
        root = repo.TreeBuilder()
    root.insert("session.json", repo.create_blob(_session_json(session)), _BLOB)
    if steps:
        root.insert("steps", _add_steps(repo, root.get("steps"), steps), _TREE)
    tree_id = root.write()
    # A step's code commit is the second parent, so the session keeps its code
    # reachable even after the agent's branch is deleted (git log --first-parent
    # shows the session events alone).
    parents = [parent.commit_id] if parent is not None else []
    if steps and steps[0].commit_id:
        parents.append(pygit2.Oid(hex=steps[0].commit_id))
    commit_id = repo.create_commit(
        None,
        signature(actor),
        signature(COMMITTER),
        f"{message}\n\nTrellis-Session: {session.session_id}\nTrellis-Agent: {session.agent}\n",
        tree_id,
        parents,
    )
    return SessionTip(session, commit_id, tree_id)


def _builder(repo: pygit2.Repository, entry: pygit2.Object | None) -> pygit2.TreeBuilder:
    if entry is None or entry.filemode != _TREE:
        return repo.TreeBuilder()
    tree = repo[entry.id]
    assert isinstance(tree, pygit2.Tree)
    return repo.TreeBuilder(tree)


def _add_steps(repo: pygit2.Repository, existing: pygit2.Object | None, steps: Sequence[Step]) -> pygit2.Oid:
    """The ``steps/`` tree with ``steps`` added, each in its subtree (see the module's docstring)."""
    top = _builder(repo, existing)
    into: dict[str, list[tuple[str, pygit2.Oid, int]]] = {}
    if existing is not None and existing.filemode == _TREE:
        old = repo[existing.id]
        assert isinstance(old, pygit2.Tree)
        if len(old) and old[0].filemode != _TREE:  # the flat layout of earlier versions: move its steps once
            for index, blob_id in _flat_steps(old, 0):
                name = _step_name(index)
                top.remove(name)
                into.setdefault(_subtree_name(index), []).append((name, blob_id, _BLOB))
    for step in steps:
        blob_id = repo.create_blob(_step_json(step))
        into.setdefault(_subtree_name(step.index), []).append((_step_name(step.index), blob_id, _BLOB))
    for name, entries in into.items():
        subtree = _builder(repo, top.get(git_name(name)))
        for entry_name, blob_id, mode in entries:
            subtree.insert(entry_name, blob_id, mode)
        top.insert(name, subtree.write(), _TREE)
    return top.write()


def create_session(
    repo: pygit2.Repository,
    locks: RefLocks,
    repository: str,
    agent: Identity,
    *,
    model: str,
    task: str,
    base: pygit2.Commit,
    branch_id: str | None,
    metadata: dict[str, str],
    limits: Limits,
    cache: SessionCache | None = None,
) -> Session:
    check_text(model, "model", 1024, reason="MODEL_TOO_LARGE")
    check_text(task, "task", limits.max_step_bytes, reason="TASK_TOO_LARGE")
    for key, value in metadata.items():
        check_text(key, "metadata key", 256, reason="METADATA_KEY_TOO_LARGE")
        check_text(value, "metadata value", 64 * 1024, reason="METADATA_VALUE_TOO_LARGE")
    session_id = new_session_id()
    branch = branch_id or f"agents/{agent.name}/{session_id}"
    check_branch_name(branch)
    branch_ref = f"refs/heads/{branch}"
    session = Session(
        session_id=session_id,
        agent=agent.name,
        model=model,
        task=task,
        base_commit_id=str(base.id),
        branch_id=branch,
        status=SessionStatus.ACTIVE,
        create_time=time.time(),
        end_time=None,
        step_count=0,
        commit_count=0,
        input_tokens=0,
        output_tokens=0,
        cost_usd=0.0,
        outcome="",
        metadata=dict(metadata),
    )
    with locks.hold(repository, branch_ref):
        if repo.references.get(git_name(branch_ref)) is not None:
            raise AlreadyExists(
                f"branch {branch!r} already exists: pick another branch_id or leave it empty",
                reason="BRANCH_EXISTS",
                branch=branch,
            )
        try:
            repo.references.create(branch_ref, base.id)
        except (pygit2.GitError, ValueError, OSError) as exc:
            if out_of_space(exc):
                raise
            raise InvalidArgument(f"cannot create branch {branch!r}: {exc}", reason="BRANCH_NAME_CONFLICT") from None
        tip = _write(repo, session, None, f"Start session {session_id}", agent)
        repo.references.create(_ref(session_id), tip.commit_id)
    if cache is not None:
        cache.put(tip)
    return session


def _check_writable(session: Session, actor: Identity) -> None:
    if session.agent != actor.name:
        raise PermissionDenied(
            f"session {session.session_id!r} belongs to agent {session.agent!r}, not {actor.name!r}",
            reason="NOT_SESSION_OWNER",
        )
    if session.status is not SessionStatus.ACTIVE:
        raise FailedPrecondition(
            f"session {session.session_id!r} has ended ({session.status.value}); start a new session",
            reason="SESSION_ENDED",
        )


def check_session_writable(
    repo: pygit2.Repository, session_id: str, actor: Identity, cache: SessionCache | None = None
) -> OpenSession:
    """The session, if ``actor`` may record steps in it now (call under :func:`hold_session`)."""
    opened = _open(repo, session_id, cache)
    _check_writable(opened.session, actor)
    return opened


def append_step(
    repo: pygit2.Repository,
    opened: OpenSession,
    step_input: StepInput,
    commit_id: str,
    actor: Identity,
    cache: SessionCache | None = None,
) -> Step:
    """Record the next step (call under :func:`hold_session` after :func:`check_session_writable`)."""
    session = opened.session
    step = Step(
        session_id=session.session_id,
        index=session.step_count + 1,
        input=step_input,
        commit_id=commit_id,
        create_time=time.time(),
    )
    updated = dataclasses.replace(
        session,
        step_count=step.index,
        commit_count=session.commit_count + (1 if commit_id else 0),
        input_tokens=session.input_tokens + step_input.input_tokens,
        output_tokens=session.output_tokens + step_input.output_tokens,
        cost_usd=session.cost_usd + step_input.cost_usd,
    )
    title = f"Step {step.index}: {step_input.action or 'step'}"
    _move(opened, _write(repo, updated, opened.tip, title, actor, (step,)), title, cache)
    return step


def append_steps(
    repo: pygit2.Repository,
    opened: OpenSession,
    inputs: list[StepInput],
    actor: Identity,
    cache: SessionCache | None = None,
) -> list[Step]:
    """Record several steps that changed no code as one event: one commit, one ref update.

    (Call under :func:`hold_session` after :func:`check_session_writable`.)
    Their files and the session's totals are exactly as if each had been
    recorded alone; only ``git log`` of the session shows one commit for them.
    """
    session = opened.session
    now = time.time()
    steps = [
        Step(
            session_id=session.session_id, index=session.step_count + i, input=step_input, commit_id="", create_time=now
        )
        for i, step_input in enumerate(inputs, 1)
    ]
    if not steps:
        return []
    updated = dataclasses.replace(
        session,
        step_count=steps[-1].index,
        input_tokens=session.input_tokens + sum(s.input_tokens for s in inputs),
        output_tokens=session.output_tokens + sum(s.output_tokens for s in inputs),
        cost_usd=session.cost_usd + sum(s.cost_usd for s in inputs),
    )
    title = f"Steps {steps[0].index}-{steps[-1].index}" if len(steps) > 1 else f"Step {steps[0].index}"
    title += f": {len(steps)} recorded at once"
    _move(opened, _write(repo, updated, opened.tip, title, actor, steps), title, cache)
    return steps


def _move(opened: OpenSession, tip: SessionTip, title: str, cache: SessionCache | None) -> None:
    """Point the session's ref at ``tip`` (libgit2 checks it still points where it was read)."""
    opened.ref.set_target(tip.commit_id, title)
    if cache is not None:
        cache.put(tip)


def end_session(
    repo: pygit2.Repository,
    locks: RefLocks,
    repository: str,
    session_id: str,
    status: SessionStatus,
    outcome: str,
    actor: Identity,
    cache: SessionCache | None = None,
) -> Session:
    check_text(outcome, "outcome", 64 * 1024, reason="OUTCOME_TOO_LARGE")
    if status is SessionStatus.ACTIVE:
        raise InvalidArgument("end a session with status succeeded, failed or abandoned", reason="INVALID_STATUS")
    with hold_session(locks, repository, session_id):
        opened = check_session_writable(repo, session_id, actor, cache)
        ended = dataclasses.replace(opened.session, status=status, outcome=outcome, end_time=time.time())
        _move(
            opened,
            _write(repo, ended, opened.tip, f"End session {session_id}: {status.value}", actor),
            "end session",
            cache,
        )
        return ended


def find_step(repo: pygit2.Repository, opened: OpenSession, commit_id: str, window: int = 100) -> Step | None:
    """The step among the session's last ``window`` that produced ``commit_id``, if any."""
    steps = _steps_tree(repo, opened.tip.tree_id)
    if steps is None:
        return None
    for _, blob_id in reversed(step_blobs(repo, steps, max(0, opened.session.step_count - window))):
        blob = repo[blob_id]
        assert isinstance(blob, pygit2.Blob)
        step = _step_from(blob.data)
        if step.commit_id == commit_id:
            return step
    return None


def list_sessions(
    repo: pygit2.Repository,
    agent: str,
    limits: Limits,
    *,
    requested_page_size: int = 0,
    page_token: str = "",
    cache: SessionCache | None = None,
) -> Page[Session]:
    size = page_size(requested_page_size, limits)
    before = decode_token(page_token, before=str).get("before")
    ids = sorted(
        (name.removeprefix(SESSION_REF_PREFIX) for name in repo.references if name.startswith(SESSION_REF_PREFIX)),
        reverse=True,  # ids are time-ordered: newest first
    )
    items: list[Session] = []
    more = False
    for session_id in ids:
        if before is not None and session_id >= str(before):
            continue
        session = get_session(repo, session_id, cache)
        if agent and session.agent != agent:
            continue
        if len(items) == size:
            more = True
            break
        items.append(session)
    token = encode_token(before=items[-1].session_id) if more and items else ""
    return Page(items, token)


def list_steps(
    repo: pygit2.Repository,
    session_id: str,
    limits: Limits,
    *,
    requested_page_size: int = 0,
    page_token: str = "",
    cache: SessionCache | None = None,
) -> Page[Step]:
    size = page_size(requested_page_size, limits)
    after = int(decode_token(page_token, after=int).get("after", 0))
    steps = _steps_tree(repo, _open(repo, session_id, cache).tip.tree_id)
    if steps is None:
        return Page([], "")
    found = step_blobs(repo, steps, after)
    items: list[Step] = []
    for _, blob_id in found[:size]:
        blob = repo[blob_id]
        assert isinstance(blob, pygit2.Blob)
        items.append(_step_from(blob.data))
    token = encode_token(after=items[-1].index) if len(found) > size and items else ""
    return Page(items, token)
