"""vcs.refstate: one digest of what a repository's references, HEAD and configuration say (real git)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import git, repo_path
from trellis import vcs
from trellis.vcs.refstate import refs_state

ALICE = vcs.Identity("alice")


def test_the_digest_follows_every_reference_head_and_the_configuration(store: vcs.Store, data_dir: Path) -> None:
    store.create_repository("demo", ALICE)
    store.commit("demo", "main", [vcs.PutFile("a.py", b"x = 1\n")], "one", ALICE)
    path = repo_path(data_dir, "demo")
    seen = {refs_state(path)}
    assert refs_state(path) in seen  # nothing moved: the same digest

    def changed() -> None:
        state = refs_state(path)
        assert state is not None and state not in seen
        seen.add(state)

    store.commit("demo", "main", [vcs.PutFile("a.py", b"x = 2\n")], "two", ALICE)
    changed()  # a branch moved
    store.create_branch("demo", "side")
    changed()  # a branch appeared
    git(path, "pack-refs", "--all")
    changed()  # the same references, now packed: a change of the files (a sync finds nothing new, no harm)
    store.commit("demo", "side", [vcs.PutFile("b.py", b"y = 1\n")], "side", ALICE)
    changed()  # a loose reference over a packed one
    git(path, "symbolic-ref", "HEAD", "refs/heads/side")
    changed()  # HEAD
    git(path, "config", "trellis.description", "another")
    changed()  # the configuration (the description)
    session = store.create_session("demo", ALICE)
    changed()  # a session's reference
    before = refs_state(path)
    (path / "refs" / "heads" / "main.lock").write_text("0" * 40 + "\n")  # an update in progress
    assert refs_state(path) == before
    store.end_session("demo", session.session_id, vcs.SessionStatus.SUCCEEDED, ALICE)
    changed()


def test_no_digest_without_a_repository_or_for_a_reftable(tmp_path: Path) -> None:
    assert refs_state(tmp_path / "missing.git") is None
    (tmp_path / "plain").mkdir()
    assert refs_state(tmp_path / "plain") is None
    reftable = tmp_path / "r.git"
    (reftable / "reftable").mkdir(parents=True)
    (reftable / "HEAD").write_text("ref: refs/heads/.invalid\n")
    assert refs_state(reftable) is None


def test_the_digest_is_hashlibs_blake2b() -> None:
    """refs_state hashes with ``_blake2`` to skip hashlib's OpenSSL import: the very function hashlib gives."""
    import hashlib

    from trellis.vcs import refstate

    assert refstate.blake2b is hashlib.blake2b
