"""Who may do what: roles, grants, and the one policy table every RPC goes through.

A token carries *grants*: ``(repositories, role)`` pairs, where
``repositories`` is a repository name or a glob (``*``, ``team-*``). A
caller's role in a repository is the highest role of the grants that match
its name. Roles are ordered::

    reader < agent < maintainer < admin

- **reader** reads and queries: commits, files, branches, sessions, diffs, runs;
  it may preview a merge (``preview`` writes nothing) between any two branches.
- **agent** also writes, but only branches under its own namespace
  ``agents/<agent>/`` and only its own sessions; it starts sessions and runs.
- **maintainer** also writes any branch (merges into protected branches),
  sets pipelines and reviews (WatchReviews, PostVerdict).
- **admin** also creates and deletes repositories (creating one needs an admin
  grant whose pattern matches the new name) and, with a grant on ``*``,
  exports the index on the server.

Whatever the role, a session is written (steps, commits in it, ending it)
only by the agent that created it. ``Query`` spans every repository, so it
needs a grant on ``*`` (reader or above). On a local-mode server (no tokens,
loopback only) every caller is admin on ``*``.

:data:`POLICY` maps the full name of every RPC to a :class:`Rule`: the role it
needs and how to find, in the request, the repository it touches and the
branch and session it writes. ``TrellisInterceptor`` applies it before the
servicer runs, so a denied request writes nothing; a test checks that every
RPC of every service has an entry, and the interceptor refuses a method
without one.
"""

from __future__ import annotations

import enum
import fnmatch
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from google.rpc import status_pb2

from trellis.vcs import InvalidArgument, NotFound, PermissionDenied
from trellis.vcs.validation import check_branch_name, check_repository_name

from . import names
from .v1 import changes_pb2, repositories_pb2

__all__ = [
    "LOCAL_GRANTS",
    "POLICY",
    "Authorizer",
    "Grant",
    "Principal",
    "Role",
    "Rule",
    "StreamItems",
    "Target",
    "parse_grants",
]


class Role(enum.IntEnum):
    """What a grant allows in the repositories it matches; a higher role includes the lower ones."""

    READER = 1
    AGENT = 2
    MAINTAINER = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise InvalidArgument(
                f"unknown role {text!r}: use reader, agent, maintainer or admin", reason="INVALID_ROLE"
            ) from None


# A repository name, or a glob over names: the name characters plus * ? [ ] !
_PATTERN = re.compile(r"[A-Za-z0-9._\-*?\[\]!]{1,100}")


@dataclass(frozen=True, slots=True)
class Grant:
    """``role`` in every repository whose name matches ``repositories`` (a name or a glob)."""

    repositories: str
    role: Role

    def __post_init__(self) -> None:
        if not _PATTERN.fullmatch(self.repositories):
            raise InvalidArgument(
                f"invalid repository pattern {self.repositories!r}: use a repository name or a glob "
                "such as '*' or 'team-*'",
                reason="INVALID_GRANT",
            )

    def matches(self, repository: str) -> bool:
        pattern = self.repositories
        return pattern == "*" or pattern == repository or fnmatch.fnmatchcase(repository, pattern)

    def __str__(self) -> str:
        return f"{self.repositories}:{self.role.label}"

    @classmethod
    def parse(cls, text: str) -> Grant:
        """``REPOSITORIES:ROLE``, for example ``demo:maintainer`` or ``*:reader``."""
        pattern, sep, role = text.rpartition(":")
        if not sep or not pattern:
            raise InvalidArgument(
                f"invalid grant {text!r}: expected REPOSITORIES:ROLE, such as 'demo:maintainer' or '*:reader'",
                reason="INVALID_GRANT",
            )
        return cls(pattern, Role.parse(role))


def parse_grants(pairs: Iterable[Sequence[str]]) -> tuple[Grant, ...]:
    """Grants from stored ``[pattern, role]`` pairs."""
    return tuple(Grant(str(pattern), Role.parse(str(role))) for pattern, role in pairs)


LOCAL_GRANTS = (Grant("*", Role.ADMIN),)
"""What every caller of a local-mode server holds."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: its agent name and the grants of its token."""

    name: str
    grants: tuple[Grant, ...]
    token_id: str = ""
    local: bool = False

    def role_in(self, repository: str) -> Role | None:
        """The highest role any grant gives in ``repository``, or None."""
        best: Role | None = None
        for grant in self.grants:
            if (best is None or grant.role > best) and grant.matches(repository):
                best = grant.role
        return best

    def global_role(self) -> Role | None:
        """The role granted on ``*``: what the caller may do across every repository."""
        roles = [g.role for g in self.grants if g.repositories == "*"]
        return max(roles) if roles else None

    @property
    def namespace(self) -> str:
        """The branch prefix an agent writes without the maintainer role."""
        return f"agents/{self.name}/"


@dataclass(frozen=True, slots=True)
class Target:
    """What one request touches, as its :class:`Rule` finds it."""

    repository: str | None
    """The repository, or None when the request spans every repository (checked against ``*`` grants)."""

    branch: str | None = None
    """A branch the request writes; outside ``agents/<caller>/`` it needs the rule's ``branch_role``."""

    session: str | None = None
    """A session the request writes; only the agent that created it may."""


@dataclass(frozen=True, slots=True)
class StreamItems:
    """A client-streaming RPC whose items are authorised (and rate-limited) one by one.

    A refused item is answered with ``error(item, status)`` and the stream
    goes on, as the servicer answers any other failed item.
    """

    request: Callable[[Any], Any]
    error: Callable[[Any, status_pb2.Status], Any]


@dataclass(frozen=True, slots=True)
class Rule:
    """The policy of one RPC."""

    role: Role | None
    """The minimum role in the target repository; None: any authenticated caller (see ``filter``)."""

    target: Callable[[Any], Target]
    """How to find the repository, branch and session in the request (or in one stream item)."""

    branch_role: Role = Role.MAINTAINER
    """The role needed to write a branch outside the caller's ``agents/<agent>/`` namespace."""

    protected_role: Role | None = None
    """The role needed when the written branch is protected (its pipeline requires stages)."""

    reads_only: Callable[[Any], bool] | None = None
    """Says when a request writes nothing (a merge preview): it then needs only the reader role."""

    items: StreamItems | None = None
    filter: Callable[[Principal, Any], Any] | None = None
    """Trims the response to what the caller may read (for lists that span repositories)."""

    change_bytes: Callable[[Any], int] | None = None
    """The bytes a request writes into one commit, for the per-commit quota."""

    creates_repository: bool = False
    deletes_repository: bool = False


# -- finding the target in a request ------------------------------------------


def _nothing(request: Any) -> Target:
    return Target(None)


def _repository(field: str) -> Callable[[Any], Target]:
    def target(request: Any) -> Target:
        return Target(names.parse_repository(getattr(request, field), field))

    return target


def _new_repository(field: str) -> Callable[[Any], Target]:
    def target(request: Any) -> Target:
        return Target(check_repository_name(getattr(request, field)))

    return target


def _within(field: str) -> Callable[[Any], Target]:
    """A resource inside a repository (`repositories/{repo}/...`): only the repository matters."""

    def target(request: Any) -> Target:
        value: str = getattr(request, field)
        repository, sep, rest = value.removeprefix("repositories/").partition("/")
        if not value.startswith("repositories/") or not sep or not rest:
            raise InvalidArgument(
                f"invalid {field} {value[:200]!r}: expected 'repositories/{{repository}}/...'",
                reason="INVALID_RESOURCE_NAME",
                field=field,
            )
        return Target(check_repository_name(repository))

    return target


def _commit_parts(request: Any) -> Target:
    repository, branch = names.parse_branch(request.name)
    session = names.parse_session(request.session, "session")[1] if request.session else None
    return Target(repository, branch=branch, session=session)


def _read_branch(request: Any) -> Target:
    return Target(names.parse_branch(request.name)[0])


def _read_commit(request: Any) -> Target:
    return Target(names.parse_commit(request.name)[0])


def _create_branch(request: Any) -> Target:
    return Target(names.parse_repository(request.parent, "parent"), branch=check_branch_name(request.branch_id))


def _delete_branch(request: Any) -> Target:
    repository, branch = names.parse_branch(request.name)
    return Target(repository, branch=branch)


def _merge(request: Any) -> Target:
    repository, branch = names.parse_branch(request.name)
    session = names.parse_session(request.session, "session")[1] if request.session else None
    return Target(repository, branch=branch, session=session)


def _create_session(request: Any) -> Target:
    # An empty branch_id means `agents/<caller>/<session_id>`: the caller's own namespace.
    branch = check_branch_name(request.branch_id) if request.branch_id else None
    return Target(names.parse_repository(request.parent, "parent"), branch=branch)


def _read_session(field: str) -> Callable[[Any], Target]:
    def target(request: Any) -> Target:
        return Target(names.parse_session(getattr(request, field), field)[0])

    return target


def _write_session(field: str) -> Callable[[Any], Target]:
    def target(request: Any) -> Target:
        repository, session = names.parse_session(getattr(request, field), field)
        return Target(repository, session=session)

    return target


def _change_bytes(request: Any) -> int:
    return sum(change.ByteSize() for change in request.changes)


def _readable_repositories(principal: Principal, response: Any) -> Any:
    if principal.global_role() is not None:
        return response
    kept = [r for r in response.repositories if principal.role_in(r.repository_id) is not None]
    if len(kept) != len(response.repositories):
        trimmed = repositories_pb2.ListRepositoriesResponse(next_page_token=response.next_page_token)
        trimmed.repositories.extend(kept)
        return trimmed
    return response


_COMMIT_ITEMS = StreamItems(
    request=lambda item: item.commit,
    error=lambda item, status: changes_pb2.CommitStreamResponse(sequence=item.sequence, error=status),
)

READER, AGENT, MAINTAINER, ADMIN = Role.READER, Role.AGENT, Role.MAINTAINER, Role.ADMIN
_REPOS = "/trellis.v1.RepositoryService/"
_CHANGES = "/trellis.v1.ChangeService/"
_SESSIONS = "/trellis.v1.SessionService/"
_DIFFS = "/trellis.v1.DiffService/"
_PIPELINES = "/trellis.v1.PipelineService/"
_QUERIES = "/trellis.v1.QueryService/"

POLICY: dict[str, Rule] = {
    # Repositories: admins create (the grant's pattern must match the new name) and delete.
    _REPOS + "CreateRepository": Rule(ADMIN, _new_repository("repository_id"), creates_repository=True),
    _REPOS + "GetRepository": Rule(READER, _repository("name")),
    _REPOS + "ListRepositories": Rule(None, _nothing, filter=_readable_repositories),
    _REPOS + "DeleteRepository": Rule(ADMIN, _repository("name"), deletes_repository=True),
    # Code: agents write their own namespace and sessions; maintainers write any branch.
    _CHANGES + "Commit": Rule(AGENT, _commit_parts, change_bytes=_change_bytes),
    _CHANGES + "CommitStream": Rule(AGENT, _commit_parts, items=_COMMIT_ITEMS, change_bytes=_change_bytes),
    _CHANGES + "GetCommit": Rule(READER, _read_commit),
    _CHANGES + "ListCommits": Rule(READER, _repository("parent")),
    _CHANGES + "GetFile": Rule(READER, _repository("parent")),
    _CHANGES + "ReadFile": Rule(READER, _repository("parent")),
    _CHANGES + "ListTree": Rule(READER, _repository("parent")),
    _CHANGES + "CreateBranch": Rule(AGENT, _create_branch),
    _CHANGES + "GetBranch": Rule(READER, _read_branch),
    _CHANGES + "ListBranches": Rule(READER, _repository("parent")),
    _CHANGES + "DeleteBranch": Rule(AGENT, _delete_branch),
    # A merge preview writes nothing: anyone who can read the repository (both branches) may ask for one.
    _CHANGES + "Merge": Rule(AGENT, _merge, protected_role=MAINTAINER, reads_only=lambda request: request.preview),
    # Sessions: an agent starts sessions (on its own namespace) and writes only its own.
    _SESSIONS + "CreateSession": Rule(AGENT, _create_session),
    _SESSIONS + "GetSession": Rule(READER, _read_session("name")),
    _SESSIONS + "ListSessions": Rule(READER, _repository("parent")),
    _SESSIONS + "EndSession": Rule(AGENT, _write_session("name")),
    _SESSIONS + "RecordStep": Rule(AGENT, _write_session("parent")),
    _SESSIONS + "RecordSteps": Rule(AGENT, _write_session("parent")),
    _SESSIONS + "ListSteps": Rule(READER, _read_session("parent")),
    _DIFFS + "Diff": Rule(READER, _repository("parent")),
    # Verification: agents start runs; maintainers set pipelines and review (watch the chunks
    # waiting for a verdict, post verdicts): an agent must not pass its own change through review.
    _PIPELINES + "SetPipeline": Rule(MAINTAINER, _repository("parent")),
    _PIPELINES + "GetPipeline": Rule(READER, _repository("parent")),
    _PIPELINES + "Verify": Rule(AGENT, _repository("parent")),
    _PIPELINES + "GetRun": Rule(READER, _within("name")),
    _PIPELINES + "ListRuns": Rule(READER, _repository("parent")),
    _PIPELINES + "WatchRun": Rule(READER, _within("name")),
    _PIPELINES + "PostVerdict": Rule(MAINTAINER, _within("name")),
    _PIPELINES + "WatchReviews": Rule(MAINTAINER, _repository("parent")),
    # The index spans every repository: Query and CheckIndex need a grant on `*`; Export writes server files,
    # ImportRepository reads them, RebuildIndex replaces the whole index.
    _QUERIES + "Query": Rule(READER, _nothing),
    _QUERIES + "Export": Rule(ADMIN, _nothing),
    _QUERIES + "ImportRepository": Rule(ADMIN, _nothing),
    _QUERIES + "CheckIndex": Rule(READER, _nothing),
    _QUERIES + "RebuildIndex": Rule(ADMIN, _nothing),
}


class Authorizer:
    """Applies :data:`POLICY`.

    ``session_agent(repository, session_id)`` names a session's creator;
    ``protected(repository, branch)`` says whether a branch is protected (its
    pipeline requires stages before it moves).
    """

    _CACHE_LIMIT = 100_000

    def __init__(
        self,
        session_agent: Callable[[str, str], str],
        policy: dict[str, Rule] | None = None,
        *,
        protected: Callable[[str, str], bool] | None = None,
    ) -> None:
        self._session_agent = session_agent
        self._protected = protected
        self._policy = POLICY if policy is None else policy
        self._owners: dict[tuple[str, str], str] = {}
        self._guard = threading.Lock()

    def rule(self, method: str) -> Rule:
        rule = self._policy.get(method)
        if rule is None:  # fail closed: a new RPC must be given a rule first
            raise PermissionDenied(
                f"{method} has no authorisation rule, so nobody may call it (a server bug: add it to "
                "trellis/authz.py POLICY)",
                reason="NO_POLICY",
            )
        return rule

    def check(self, principal: Principal, method: str, rule: Rule, request: Any) -> Target:
        """Raise PermissionDenied unless ``principal`` may make ``request``; return what it touches."""
        target = rule.target(request)
        needed = rule.role
        if needed is None:
            return target
        if rule.reads_only is not None and rule.reads_only(request):
            # It writes no branch and no session: reading the repository (both sides) is all it does.
            target, needed = Target(target.repository), READER
        what = method.rsplit("/", 1)[-1]
        if target.repository is None:
            role = principal.global_role()
            if role is None or role < needed:
                raise _role_denied(principal, what, needed, "*", role)
            return target
        role = principal.role_in(target.repository)
        if role is None or role < needed:
            raise _role_denied(principal, what, needed, target.repository, role)
        if target.branch is not None and role < rule.branch_role and not target.branch.startswith(principal.namespace):
            raise PermissionDenied(
                f"{what}: agent {principal.name!r} writes only branches under {principal.namespace!r}; "
                f"branch {target.branch!r} of repository {target.repository!r} needs the "
                f"{rule.branch_role.label} role (yours is {role.label})",
                reason="BRANCH_OUTSIDE_NAMESPACE",
                repository=target.repository,
                branch=target.branch,
                namespace=principal.namespace,
                required_role=rule.branch_role.label,
            )
        if (
            target.branch is not None
            and rule.protected_role is not None
            and role < rule.protected_role
            and self._protected is not None
            and self._protected(target.repository, target.branch)
        ):
            raise PermissionDenied(
                f"{what}: branch {target.branch!r} of repository {target.repository!r} is protected; moving it "
                f"needs the {rule.protected_role.label} role (yours is {role.label})",
                reason="PROTECTED_BRANCH_ROLE",
                repository=target.repository,
                branch=target.branch,
                required_role=rule.protected_role.label,
            )
        if target.session is not None:
            owner = self._owner(target.repository, target.session)
            if owner is not None and owner != principal.name:
                raise PermissionDenied(
                    f"session {target.session!r} belongs to agent {owner!r}, not {principal.name!r}: "
                    "only the agent that started a session writes to it",
                    reason="NOT_SESSION_OWNER",
                    repository=target.repository,
                    session=target.session,
                )
        return target

    def _owner(self, repository: str, session_id: str) -> str | None:
        key = (repository, session_id)
        owner = self._owners.get(key)
        if owner is not None:
            return owner
        try:
            owner = self._session_agent(repository, session_id)
        except NotFound:
            return None  # the servicer reports it
        with self._guard:
            if len(self._owners) >= self._CACHE_LIMIT:
                self._owners.clear()
            self._owners[key] = owner  # a session never changes hands
        return owner

    def forget_repository(self, repository: str) -> None:
        """Drop what is cached about a deleted repository (a new one may reuse the name)."""
        with self._guard:
            for key in [k for k in self._owners if k[0] == repository]:
                del self._owners[key]


def _role_denied(principal: Principal, what: str, needed: Role, repository: str, role: Role | None) -> PermissionDenied:
    where = "every repository ('*')" if repository == "*" else f"repository {repository!r}"
    have = f"your token gives {role.label} there" if role is not None else "your token gives no role there"
    return PermissionDenied(
        f"{what} needs the {needed.label} role on {where}; {have}. Ask an admin for a token with "
        f"`trellis token create {principal.name} --role {needed.label} --repo '{repository}'`",
        reason="INSUFFICIENT_ROLE",
        repository=repository,
        required_role=needed.label,
        role=role.label if role is not None else "",
    )
