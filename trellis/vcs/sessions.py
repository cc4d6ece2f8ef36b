"""Sessions and their steps, stored in git under ``refs/trellis/sessions/<id>``.

Each session ref points at a chain of commits (one per event) whose tree is::

    session.json            the session record with running totals
    steps/00000001.json     one file per step, in order

so ``git show refs/trellis/sessions/<id>:session.json`` and
``git log refs/trellis/sessions/<id>`` read them with plain git.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time
from collections.abc import Iterator
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
    "OpenSession",
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
    "step_input_size",
]

SESSION_REF_PREFIX = "refs/trellis/sessions/"
_BLOB = pygit2.enums.FileMode.BLOB
_TREE = pygit2.enums.FileMode.TREE


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


def step_input_size(step: StepInput) -> int:
    return len(json.dumps({f: getattr(step, f) for f in _INPUT_FIELDS}, ensure_ascii=False).encode())


@dataclasses.dataclass(frozen=True, slots=True)
class OpenSession:
    """A session read once for a write: its record, the ref and the commit the ref points at."""

    session: Session
    ref: pygit2.Reference
    tip: pygit2.Commit


def _open(repo: pygit2.Repository, session_id: str) -> OpenSession:
    ref, tip = _ref_and_tip(repo, session_id)
    return OpenSession(_read_session(repo, tip), ref, tip)


def _tip(repo: pygit2.Repository, session_id: str) -> pygit2.Commit:
    return _ref_and_tip(repo, session_id)[1]


def _ref_and_tip(repo: pygit2.Repository, session_id: str) -> tuple[pygit2.Reference, pygit2.Commit]:
    ref = repo.references.get(git_name(_ref(check_session_id(session_id))))
    if ref is None:
        raise NotFound(
            f"session {session_id!r} not found: list sessions with ListSessions",
            reason="SESSION_NOT_FOUND",
            session=session_id,
        )
    commit = repo[ref.target]
    assert isinstance(commit, pygit2.Commit)
    return ref, commit


def _read_session(repo: pygit2.Repository, tip: pygit2.Commit) -> Session:
    blob = tip.tree["session.json"]
    assert isinstance(blob, pygit2.Blob)
    return _session_from(blob.data)


def get_session(repo: pygit2.Repository, session_id: str) -> Session:
    return _read_session(repo, _tip(repo, session_id))


def _write(
    repo: pygit2.Repository,
    session: Session,
    parent: pygit2.Commit | None,
    message: str,
    actor: Identity,
    step: Step | None = None,
    more: tuple[Step, ...] = (),
) -> pygit2.Oid:
    root = repo.TreeBuilder(parent.tree) if parent is not None else repo.TreeBuilder()
    root.insert("session.json", repo.create_blob(_session_json(session)), _BLOB)
    if step is not None:
        existing = root.get("steps")
        steps = repo.TreeBuilder(repo[existing.id]) if existing is not None else repo.TreeBuilder()
        for each in (step, *more):
            steps.insert(_step_name(each.index), repo.create_blob(_step_json(each)), _BLOB)
        root.insert("steps", steps.write(), _TREE)
    # A step's code commit is the second parent, so the session keeps its code
    # reachable even after the agent's branch is deleted (git log --first-parent
    # shows the session events alone).
    parents = [parent.id] if parent is not None else []
    if step is not None and step.commit_id:
        parents.append(pygit2.Oid(hex=step.commit_id))
    return repo.create_commit(
        None,
        signature(actor),
        signature(COMMITTER),
        f"{message}\n\nTrellis-Session: {session.session_id}\nTrellis-Agent: {session.agent}\n",
        root.write(),
        parents,
    )


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
        commit_id = _write(repo, session, None, f"Start session {session_id}", agent)
        repo.references.create(_ref(session_id), commit_id)
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


def check_session_writable(repo: pygit2.Repository, session_id: str, actor: Identity) -> OpenSession:
    """The session, if ``actor`` may record steps in it now (call under :func:`hold_session`)."""
    opened = _open(repo, session_id)
    _check_writable(opened.session, actor)
    return opened


def append_step(
    repo: pygit2.Repository,
    opened: OpenSession,
    step_input: StepInput,
    commit_id: str,
    actor: Identity,
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
    new_tip = _write(repo, updated, opened.tip, title, actor, step)
    opened.ref.set_target(new_tip, title)
    return step


def append_steps(
    repo: pygit2.Repository,
    opened: OpenSession,
    inputs: list[StepInput],
    actor: Identity,
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
    new_tip = _write(repo, updated, opened.tip, title, actor, steps[0], tuple(steps[1:]))
    opened.ref.set_target(new_tip, title)
    return steps


def end_session(
    repo: pygit2.Repository,
    locks: RefLocks,
    repository: str,
    session_id: str,
    status: SessionStatus,
    outcome: str,
    actor: Identity,
) -> Session:
    check_text(outcome, "outcome", 64 * 1024, reason="OUTCOME_TOO_LARGE")
    if status is SessionStatus.ACTIVE:
        raise InvalidArgument("end a session with status succeeded, failed or abandoned", reason="INVALID_STATUS")
    with hold_session(locks, repository, session_id):
        opened = check_session_writable(repo, session_id, actor)
        ended = dataclasses.replace(opened.session, status=status, outcome=outcome, end_time=time.time())
        new_tip = _write(repo, ended, opened.tip, f"End session {session_id}: {status.value}", actor)
        opened.ref.set_target(new_tip, "end session")
        return ended


def find_step(repo: pygit2.Repository, opened: OpenSession, commit_id: str, window: int = 100) -> Step | None:
    """The step among the session's last ``window`` that produced ``commit_id``, if any."""
    session, tip = opened.session, opened.tip
    for index in range(session.step_count, max(0, session.step_count - window), -1):
        try:
            blob = tip.tree[git_name(f"steps/{_step_name(index)}")]
        except KeyError:
            continue
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
        session = get_session(repo, session_id)
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
) -> Page[Step]:
    size = page_size(requested_page_size, limits)
    after = int(decode_token(page_token, after=int).get("after", 0))
    tip = _tip(repo, session_id)
    try:
        steps_tree = tip.tree["steps"]
    except KeyError:
        return Page([], "")
    assert isinstance(steps_tree, pygit2.Tree)
    names = sorted(e.name for e in steps_tree)
    items: list[Step] = []
    more = False
    for name in names:
        index = int(name.removesuffix(".json"))
        if index <= after:
            continue
        if len(items) == size:
            more = True
            break
        blob = repo[steps_tree[git_name(name)].id]
        assert isinstance(blob, pygit2.Blob)
        items.append(_step_from(blob.data))
    token = encode_token(after=items[-1].index) if more and items else ""
    return Page(items, token)
