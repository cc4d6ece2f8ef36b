"""Branches: create from any revision, list with prefix and paging, delete with compare-and-swap."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import git, object_count, repo_path
from trellis import vcs


@pytest.fixture
def demo(store: vcs.Store, alice: vcs.Identity) -> vcs.Repository:
    return store.create_repository("demo", alice)


def test_create_branch_from_any_revision(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    c1 = store.commit("demo", "main", [vcs.PutFile("a", b"1")], "m", alice).commit.commit_id
    c2 = store.commit("demo", "main", [vcs.PutFile("a", b"2")], "m", alice).commit.commit_id
    assert store.create_branch("demo", "from-default").head_commit_id == c2
    assert store.create_branch("demo", "from-sha", c1).head_commit_id == c1
    assert store.create_branch("demo", "from-ancestor", "main~2").head_commit_id == demo.head_commit_id
    assert store.create_branch("demo", "feature/x", "from-sha").head_commit_id == c1
    assert store.get_branch("demo", "feature/x") == vcs.Branch("feature/x", c1)
    # Branches are independent: a commit on one leaves the others alone.
    c3 = store.commit("demo", "feature/x", [vcs.PutFile("b", b"b")], "m", alice).commit
    assert c3.parent_ids == (c1,)
    assert store.get_branch("demo", "main").head_commit_id == c2
    assert store.read_file("demo", "feature/x", "a").content == b"1"


def test_create_existing_branch_is_already_exists(store: vcs.Store, demo: vcs.Repository) -> None:
    store.create_branch("demo", "b")
    with pytest.raises(vcs.AlreadyExists) as info:
        store.create_branch("demo", "b")
    assert info.value.reason == "BRANCH_EXISTS"
    with pytest.raises(vcs.AlreadyExists):
        store.create_branch("demo", "main")


def test_create_branch_from_unknown_revision(store: vcs.Store, demo: vcs.Repository) -> None:
    with pytest.raises(vcs.NotFound):
        store.create_branch("demo", "b", "no-such-branch")
    assert [b.branch_id for b in store.list_branches("demo").items] == ["main"]


@pytest.mark.parametrize(
    "name",
    [
        "a..b",
        "x.lock",
        "-x",
        "a//b",
        "a/",
        "/a",
        "HEAD",
        "refs/heads/x",
        "a b",
        "a~1",
        "a^",
        "a:b",
        "a\\b",
        ".hidden",
        "a/.b",
        "a@{1}",
        "",
        "x" * 201,
        "\udcff",
    ],
)
def test_invalid_branch_names(store: vcs.Store, demo: vcs.Repository, data_dir: Path, name: str) -> None:
    objects = object_count(repo_path(data_dir, "demo"))
    for _ in range(2):  # refused every time (the check remembers only the names it found valid)
        with pytest.raises(vcs.InvalidArgument) as info:
            store.create_branch("demo", name)
        assert info.value.reason in ("INVALID_BRANCH_NAME", "INVALID_ENCODING")
    assert [b.branch_id for b in store.list_branches("demo").items] == ["main"]
    assert object_count(repo_path(data_dir, "demo")) == objects


@pytest.mark.parametrize(("existing", "wanted"), [("a", "a/b"), ("a/b", "a")])
def test_branch_name_clashing_with_an_existing_branch_is_invalid(
    store: vcs.Store, demo: vcs.Repository, existing: str, wanted: str
) -> None:
    store.create_branch("demo", existing)
    with pytest.raises(vcs.VcsError) as info:
        store.create_branch("demo", wanted)
    assert info.value.reason == "BRANCH_NAME_CONFLICT"
    assert [b.branch_id for b in store.list_branches("demo").items] == sorted(["main", existing])


def test_list_branches_with_prefix_and_paging(store: vcs.Store, demo: vcs.Repository) -> None:
    names = sorted(
        [f"agents/alice/s{i:02d}" for i in range(7)] + [f"agents/bob/s{i}" for i in range(3)] + ["feature", "main"]
    )
    for name in names:
        if name != "main":
            store.create_branch("demo", name)
    assert [b.branch_id for b in store.list_branches("demo", page_size=100).items] == names
    alice = [n for n in names if n.startswith("agents/alice/")]
    seen: list[str] = []
    token = ""
    while True:
        page = store.list_branches("demo", "agents/alice/", page_size=3, page_token=token)
        assert len(page.items) <= 3
        seen += [b.branch_id for b in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == alice
    assert store.list_branches("demo", "nobody/").items == []


def test_delete_branch(store: vcs.Store, demo: vcs.Repository, data_dir: Path) -> None:
    store.create_branch("demo", "doomed")
    store.delete_branch("demo", "doomed")
    assert [b.branch_id for b in store.list_branches("demo").items] == ["main"]
    assert "doomed" not in git(repo_path(data_dir, "demo"), "branch", "--list")
    with pytest.raises(vcs.NotFound) as info:
        store.delete_branch("demo", "doomed")
    assert info.value.reason == "BRANCH_NOT_FOUND"


def test_delete_branch_after_a_process_died_mid_delete(store: vcs.Store, demo: vcs.Repository, data_dir: Path) -> None:
    """A writer killed while deleting a branch leaves libgit2's ``packed-refs.lock`` behind; the next delete,
    holding the repository's packed-refs lock across processes, knows it is stale and goes on."""
    store.create_branch("demo", "doomed")
    git(repo_path(data_dir, "demo"), "pack-refs", "--all")  # the branch now lives in packed-refs too
    stale = repo_path(data_dir, "demo") / "packed-refs.lock"
    stale.write_text("")  # what the killed process left
    store.delete_branch("demo", "doomed")
    assert [b.branch_id for b in store.list_branches("demo").items] == ["main"]
    assert "doomed" not in git(repo_path(data_dir, "demo"), "branch", "--list")
    assert not stale.exists()
    git(repo_path(data_dir, "demo"), "fsck", "--strict")


def test_default_branch_cannot_be_deleted(store: vcs.Store, demo: vcs.Repository) -> None:
    with pytest.raises(vcs.InvalidArgument) as info:
        store.delete_branch("demo", "main")
    assert info.value.reason == "DEFAULT_BRANCH"
    assert "default branch" in info.value.message
    assert store.get_branch("demo", "main").head_commit_id == demo.head_commit_id


def test_delete_with_expected_head(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    store.create_branch("demo", "b")
    moved = store.commit("demo", "b", [vcs.PutFile("x", b"x")], "m", alice).commit.commit_id
    with pytest.raises(vcs.StaleHead) as info:
        store.delete_branch("demo", "b", expected_head=demo.head_commit_id)
    assert info.value.actual_head == moved
    assert store.get_branch("demo", "b").head_commit_id == moved
    with pytest.raises(vcs.InvalidArgument):
        store.delete_branch("demo", "b", expected_head="not-a-sha")
    store.delete_branch("demo", "b", expected_head=moved)
    with pytest.raises(vcs.NotFound):
        store.get_branch("demo", "b")
