"""Property: after any sequence of operations on the repositories, the index equals git.

Operations go through ``vcs.Store`` (commits, branches, merges, sessions, steps,
deleting branches and repositories); the indexer syncs at random points. The
oracle is real git: ``git for-each-ref`` for the tips, ``git rev-list`` for
the commits (minus the first-parent chains of the session refs).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis import vcs
from trellis.query import Indexer

from ..conftest import git
from .conftest import dump

ALICE = vcs.Identity("alice")
REPOS = ["r1", "r2"]
BRANCHES = ["main", "b1", "b2"]
PATHS = ["a.py", "b.py", "d/c.py"]

op = st.one_of(
    st.tuples(
        st.just("commit"),
        st.sampled_from(REPOS),
        st.sampled_from(BRANCHES),
        st.sampled_from(PATHS),
        st.integers(0, 3),
        st.booleans(),
    ),
    st.tuples(st.just("branch"), st.sampled_from(REPOS), st.sampled_from(BRANCHES[1:]), st.sampled_from(BRANCHES)),
    st.tuples(st.just("delete_branch"), st.sampled_from(REPOS), st.sampled_from(BRANCHES[1:])),
    st.tuples(st.just("merge"), st.sampled_from(REPOS), st.sampled_from(BRANCHES), st.sampled_from(BRANCHES)),
    st.tuples(st.just("session"), st.sampled_from(REPOS)),
    st.tuples(st.just("session_commit"), st.sampled_from(REPOS), st.sampled_from(PATHS), st.integers(0, 3)),
    st.tuples(st.just("step"), st.sampled_from(REPOS)),
    st.tuples(st.just("end_session"), st.sampled_from(REPOS)),
    st.tuples(st.just("delete_session_branch"), st.sampled_from(REPOS)),
    st.tuples(st.just("delete_repo"), st.sampled_from(REPOS)),
    st.tuples(
        st.just("sync"),
    ),
)


def _apply(store: vcs.Store, sessions: dict[str, list[vcs.Session]], step: tuple[Any, ...]) -> None:
    kind, *args = step
    try:
        if kind == "sync":
            return
        repo = args[0]
        if repo not in [r.repository_id for r in store.list_repositories().items]:
            store.create_repository(repo, ALICE)
            sessions[repo] = []
        if kind == "commit":
            _, branch, path, content, delete = args
            change: vcs.Change = vcs.DeleteFile(path) if delete else vcs.PutFile(path, b"v%d\n" % content)
            store.commit(repo, branch, [change], f"{kind} {path}", ALICE)
        elif kind == "branch":
            store.create_branch(repo, args[1], args[2])
        elif kind == "delete_branch":
            store.delete_branch(repo, args[1])
        elif kind == "merge":
            store.merge(repo, args[1], args[2], ALICE)
        elif kind == "session":
            sessions[repo].append(store.create_session(repo, ALICE, model="m", task="t"))
        elif kind == "session_commit" and sessions[repo]:
            s = sessions[repo][-1]
            store.commit(
                repo,
                s.branch_id,
                [vcs.PutFile(args[1], b"s%d\n" % args[2])],
                "session work",
                ALICE,
                session_id=s.session_id,
                step=vcs.StepInput(action="edit", input_tokens=3),
            )
        elif kind == "step" and sessions[repo]:
            store.record_step(repo, sessions[repo][-1].session_id, vcs.StepInput(action="think"), ALICE)
        elif kind == "end_session" and sessions[repo]:
            store.end_session(repo, sessions[repo][-1].session_id, vcs.SessionStatus.FAILED, ALICE)
        elif kind == "delete_session_branch" and sessions[repo]:
            store.delete_branch(repo, sessions[repo][-1].branch_id)
        elif kind == "delete_repo":
            store.delete_repository(repo)
            sessions[repo] = []
    except vcs.VcsError:
        pass  # an operation the model would refuse (missing branch, empty change…): nothing changed


def _git_state(data_dir: Path) -> dict[str, tuple[set[str], set[str]]]:
    state = {}
    for path in sorted((data_dir / "repos").glob("*.git")):
        refs = {
            line
            for line in git(
                path,
                "for-each-ref",
                "--format=%(refname) %(objectname)",
                "refs/heads",
                "refs/tags",
                "refs/trellis/sessions",
            ).splitlines()
        }
        commits = set(git(path, "rev-list", "--all").split()) if refs else set()
        for line in refs:
            ref, _ = line.split()
            if ref.startswith("refs/trellis/sessions/"):
                commits -= set(git(path, "rev-list", "--first-parent", ref).split())
        state[path.name.removesuffix(".git")] = (refs, commits)
    return state


def _index_state(ix: Indexer) -> dict[str, tuple[set[str], set[str]]]:
    con = ix.connection
    state: dict[str, tuple[set[str], set[str]]] = {}
    for (repo,) in con.execute("SELECT repository FROM repositories").fetchall():
        refs = {
            f"{r} {c}"
            for r, c in con.execute("SELECT ref_name, commit_id FROM refs WHERE repository = ?", [repo]).fetchall()
        }
        commits = {c for (c,) in con.execute("SELECT commit_id FROM commits WHERE repository = ?", [repo]).fetchall()}
        state[repo] = (refs, commits)
    return state


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=18))
def test_index_equals_git_after_any_operations(ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        store = vcs.Store(data_dir)
        sessions: dict[str, list[vcs.Session]] = {r: [] for r in REPOS}
        with Indexer(data_dir, entity_differ=None) as ix:
            for step in ops:
                _apply(store, sessions, step)
                if step[0] == "sync":
                    ix.sync()
                    assert ix.check() == []
            ix.sync()
            assert ix.check() == []
            assert _index_state(ix) == _git_state(data_dir)
            steps_in_git = sum(
                s.step_count
                for r in store.list_repositories().items
                for s in store.list_sessions(r.repository_id).items
            )
            assert ix.connection.execute("SELECT count(*) FROM steps").fetchall()[0][0] == steps_in_git
            incremental = dump(ix)
            ix.rebuild()
            assert dump(ix) == incremental
