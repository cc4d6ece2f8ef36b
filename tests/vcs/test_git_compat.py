"""What Trellis writes is plain, valid git: fsck-clean, readable with git, recoverable after a crash."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import GIT_ENV, assert_fsck_clean, git, repo_path
from trellis import vcs


def test_everything_stays_fsck_clean(store: vcs.Store, alice: vcs.Identity, data_dir: Path) -> None:
    demo = store.create_repository("demo", alice)
    c1 = store.commit(
        "demo", "main", [vcs.PutFile("a/b.txt", b"b\n"), vcs.PutFile("x.sh", b"#!", True)], "m", alice
    ).commit
    store.commit("demo", "main", [vcs.RenameFile("a/b.txt", "c/d.txt"), vcs.DeleteFile("x.sh")], "m", alice)
    store.commit(
        "demo",
        "main",
        [vcs.PutFile("e/e.txt", b"e\n")],
        "m",
        alice,
        expected_head=c1.commit_id,
        on_stale=vcs.OnStale.REBASE,
    )
    store.create_branch("demo", "side", demo.head_commit_id)
    store.commit("demo", "side", [vcs.PutFile("side.txt", b"s")], "m", alice, request_id="side-1")
    session = store.create_session("demo", alice, model="m")
    store.record_step("demo", session.session_id, vcs.StepInput(thought="t", metadata={"k": "v"}), alice)
    store.commit(
        "demo",
        session.branch_id,
        [vcs.PutFile("s.txt", "ünïcødé\n".encode())],
        "Ünïcode message",
        alice,
        session_id=session.session_id,
    )
    store.end_session("demo", session.session_id, vcs.SessionStatus.FAILED, alice, "gave up")
    store.delete_branch("demo", "side")
    assert_fsck_clean(repo_path(data_dir, "demo"))


def test_git_log_shows_the_trailers(store: vcs.Store, alice: vcs.Identity, data_dir: Path) -> None:
    store.create_repository("demo", alice)
    session = store.create_session("demo", alice)
    commit = store.commit(
        "demo", session.branch_id, [vcs.PutFile("f", b"1")], "Do a thing", alice, session_id=session.session_id
    ).commit
    path = repo_path(data_dir, "demo")
    trailers = git(path, "log", "-1", "--format=%(trailers:only,unfold)", session.branch_id).strip().splitlines()
    assert trailers == ["Trellis-Agent: alice", f"Trellis-Session: {session.session_id}", "Trellis-Step: 1"]
    assert commit.message.endswith("Trellis-Step: 1\n")
    assert git(path, "log", "-1", "--format=%an <%ae>|%cn", session.branch_id).strip() == (
        "alice <alice@agents.trellis.invalid>|trellis"
    )


def test_plain_commits_carry_the_agent_trailer(store: vcs.Store, alice: vcs.Identity, data_dir: Path) -> None:
    store.create_repository("demo", alice)
    store.commit("demo", "main", [vcs.PutFile("f", b"1")], "plain", alice)
    out = git(repo_path(data_dir, "demo"), "log", "-1", "--format=%(trailers:key=Trellis-Agent,valueonly)", "main")
    assert out.strip() == "alice"


def test_recover_removes_stale_ref_lock_files(store: vcs.Store, alice: vcs.Identity, data_dir: Path) -> None:
    store.create_repository("demo", alice)
    store.create_branch("demo", "agents/alice/s1")
    path = repo_path(data_dir, "demo")
    stale = [path / "refs" / "heads" / "main.lock", path / "refs" / "heads" / "agents" / "alice" / "s1.lock"]
    for lock in stale:
        lock.write_text("0" * 40 + "\n")
    # A crash left the locks behind: a fresh store (a restarted server) recovers first.
    fresh = vcs.Store(data_dir)
    removed = fresh.recover()
    assert sorted(removed) == sorted(str(p) for p in stale)
    assert not any(p.exists() for p in stale)
    fresh.commit("demo", "main", [vcs.PutFile("after", b"crash")], "m", alice)
    fresh.commit("demo", "agents/alice/s1", [vcs.PutFile("after", b"crash")], "m", alice)
    assert fresh.recover() == []
    assert_fsck_clean(path)


def test_repository_is_usable_by_plain_git_clone(
    store: vcs.Store, alice: vcs.Identity, data_dir: Path, tmp_path: Path
) -> None:
    store.create_repository("demo", alice)
    store.commit(
        "demo", "main", [vcs.PutFile("src/app.py", b"print(1)\n"), vcs.PutFile("run", b"#!", True)], "m", alice
    )
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", str(repo_path(data_dir, "demo")), str(clone)],
        check=True,
        capture_output=True,
        env=GIT_ENV,
    )
    assert (clone / "src" / "app.py").read_bytes() == b"print(1)\n"
    assert (clone / "run").stat().st_mode & 0o111


@pytest.mark.parametrize("name", ["demo", "a.b_c-d"])
def test_repositories_live_where_the_docs_say(store: vcs.Store, alice: vcs.Identity, data_dir: Path, name: str) -> None:
    store.create_repository(name, alice)
    assert store.repository_path(name) == repo_path(data_dir, name)
    assert (repo_path(data_dir, name) / "HEAD").is_file()
