"""Records: small documents other layers keep in git, beside the code.

A record lives at ``refs/trellis/<namespace>/<key>`` as a commit whose tree
holds the record's files; each write is a new commit on top of the previous
one, so a record keeps its history and plain git can read it
(``git show refs/trellis/runs/<id>:run.json``). Verification runs and the
repository-level pipeline are records; the index rebuilds from them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pygit2

from .commits import COMMITTER, signature
from .errors import InvalidArgument, NotFound
from .model import Identity
from .refs import RefLocks, git_name

__all__ = ["RECORD_REF_PREFIX", "list_records", "read_record", "record_version", "write_record"]

RECORD_REF_PREFIX = "refs/trellis/"
_NAMESPACE = re.compile(r"[a-z][a-z0-9-]{0,31}")
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}(/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){0,3}")
_RESERVED = frozenset({"sessions"})


def _refname(namespace: str, key: str) -> str:
    if not _NAMESPACE.fullmatch(namespace) or namespace in _RESERVED:
        raise InvalidArgument(f"record namespace {namespace!r} is not valid", reason="INVALID_RECORD")
    if not _KEY.fullmatch(key) or ".." in key or key.endswith(".lock"):
        raise InvalidArgument(f"record key {key!r} is not valid", reason="INVALID_RECORD")
    return f"{RECORD_REF_PREFIX}{namespace}/{key}"


def _tree(repo: pygit2.Repository, files: Mapping[str, bytes]) -> pygit2.Oid:
    nested: dict[str, object] = {}
    for path, data in files.items():
        if not _FILE.fullmatch(path) or ".." in path:
            raise InvalidArgument(f"record file {path!r} is not valid", reason="INVALID_RECORD")
        *dirs, name = path.split("/")
        node = nested
        for d in dirs:
            node = node.setdefault(d, {})  # type: ignore[assignment]
        node[name] = data

    def build(node: dict[str, object]) -> pygit2.Oid:
        builder = repo.TreeBuilder()
        for name, value in sorted(node.items()):
            if isinstance(value, dict):
                builder.insert(name, build(value), pygit2.enums.FileMode.TREE)
            else:
                assert isinstance(value, bytes)
                builder.insert(name, repo.create_blob(value), pygit2.enums.FileMode.BLOB)
        return builder.write()

    return build(nested)


def write_record(
    repo: pygit2.Repository,
    locks: RefLocks,
    repository: str,
    namespace: str,
    key: str,
    files: Mapping[str, bytes],
    message: str,
    actor: Identity,
) -> str:
    """Replace the record's files (a new commit on its ref); returns the commit id."""
    refname = _refname(namespace, key)
    with locks.hold(repository, refname):
        ref = repo.references.get(git_name(refname))
        tree = _tree(repo, files)
        parents = [ref.target] if ref is not None else []
        if ref is not None and repo[ref.target].tree_id == tree:  # type: ignore[attr-defined]
            return str(ref.target)
        commit = repo.create_commit(None, signature(actor), signature(COMMITTER), message.strip() + "\n", tree, parents)
        if ref is None:
            repo.references.create(refname, commit)
        else:
            ref.set_target(commit, message.strip().splitlines()[0] if message.strip() else "record")
        return str(commit)


def read_record(repo: pygit2.Repository, namespace: str, key: str) -> dict[str, bytes]:
    """The record's files; :class:`NotFound` if there is no such record."""
    ref = repo.references.get(git_name(_refname(namespace, key)))
    if ref is None:
        raise NotFound(f"no {namespace} record {key!r}", reason="RECORD_NOT_FOUND")
    files: dict[str, bytes] = {}

    def walk(tree: pygit2.Tree, prefix: str) -> None:
        for entry in tree:
            obj = repo[entry.id]
            if isinstance(obj, pygit2.Tree):
                walk(obj, f"{prefix}{entry.name}/")
            elif isinstance(obj, pygit2.Blob):
                files[prefix + (entry.name or "")] = obj.data

    commit = repo[ref.target]
    assert isinstance(commit, pygit2.Commit)
    walk(commit.tree, "")
    return files


def record_version(repo: pygit2.Repository, namespace: str, key: str) -> str | None:
    """The id of the record's current commit (each write makes a new one), None if there is no such record.

    One reference lookup: a reader that keeps what it read of a version knows, from this alone, whether the
    record changed since (in this process or another)."""
    ref = repo.references.get(git_name(_refname(namespace, key)))
    return str(ref.target) if ref is not None else None


def list_records(repo: pygit2.Repository, namespace: str) -> list[str]:
    """The keys of a namespace's records, sorted."""
    prefix = _refname(namespace, "x")[:-1]
    return sorted(name[len(prefix) :] for name in repo.references if name.startswith(prefix))
