"""Repositories: create, get, list with paging, delete, and name validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import assert_fsck_clean, git, repo_path
from trellis import vcs


def test_create_makes_a_bare_repository_with_an_empty_first_commit(
    store: vcs.Store, alice: vcs.Identity, data_dir: Path
) -> None:
    repo = store.create_repository("demo", alice, description="a demo")
    assert repo.repository_id == "demo"
    assert repo.default_branch == "main"
    assert repo.description == "a demo"
    assert repo.create_time > 0
    assert len(repo.head_commit_id) == 40
    path = repo_path(data_dir, "demo")
    assert git(path, "rev-parse", "--is-bare-repository").strip() == "true"
    assert git(path, "rev-parse", "refs/heads/main").strip() == repo.head_commit_id
    assert git(path, "ls-tree", "-r", "main") == ""
    assert git(path, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert_fsck_clean(path)


def test_create_with_another_default_branch(store: vcs.Store, alice: vcs.Identity) -> None:
    repo = store.create_repository("demo", alice, default_branch="trunk")
    assert repo.default_branch == "trunk"
    assert store.get_branch("demo", "trunk").head_commit_id == repo.head_commit_id
    with pytest.raises(vcs.NotFound):
        store.get_branch("demo", "main")


def test_create_twice_is_already_exists(store: vcs.Store, alice: vcs.Identity) -> None:
    store.create_repository("demo", alice)
    with pytest.raises(vcs.AlreadyExists) as info:
        store.create_repository("demo", alice)
    assert info.value.reason == "REPOSITORY_EXISTS"


def test_get_returns_what_create_returned(store: vcs.Store, alice: vcs.Identity) -> None:
    created = store.create_repository("demo", alice, description="d")
    assert store.get_repository("demo") == created


def test_get_missing_is_not_found(store: vcs.Store) -> None:
    with pytest.raises(vcs.NotFound) as info:
        store.get_repository("nope")
    assert info.value.reason == "REPOSITORY_NOT_FOUND"
    assert "create" in info.value.message.lower()


def test_list_pages_through_every_repository_in_name_order(store: vcs.Store, alice: vcs.Identity) -> None:
    names = [f"repo-{i:02d}" for i in range(23)]
    for name in reversed(names):
        store.create_repository(name, alice)
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = store.list_repositories(requested_page_size=5, page_token=token)
        assert len(page.items) <= 5
        seen += [r.repository_id for r in page.items]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == names
    assert pages == 5


def test_list_ignores_staging_and_trash_directories(store: vcs.Store, alice: vcs.Identity, data_dir: Path) -> None:
    store.create_repository("real", alice)
    (data_dir / "repos" / ".tmp-half-made-1234").mkdir()
    (data_dir / "repos" / ".trash-gone-1234.git").mkdir()
    assert [r.repository_id for r in store.list_repositories().items] == ["real"]
    removed = store.recover()
    assert len(removed) == 2
    assert sorted(p.name for p in (data_dir / "repos").iterdir()) == ["real.git"]


def test_delete_removes_the_repository(store: vcs.Store, alice: vcs.Identity, data_dir: Path) -> None:
    store.create_repository("demo", alice)
    store.commit("demo", "main", [vcs.PutFile("a", b"1")], "m", alice)
    store.delete_repository("demo")
    assert not repo_path(data_dir, "demo").exists()
    with pytest.raises(vcs.NotFound):
        store.get_repository("demo")
    with pytest.raises(vcs.NotFound):
        store.delete_repository("demo")
    # The name can be used again, and the new repository starts from scratch.
    again = store.create_repository("demo", alice)
    assert store.list_commits("demo").items[0].commit_id == again.head_commit_id
    assert len(store.list_commits("demo").items) == 1


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a/b",
        "..",
        "a..b",
        ".hidden",
        "-dash",
        "_under",
        "x.git",
        "x.lock",
        "trailing.",
        "a" * 101,
        "sp ace",
        "tab\t",
        "nul\x00",
        "ünïcode",
        "\udcff",
        "bad\udcffname",
    ],
)
def test_invalid_repository_names_are_rejected(
    store: vcs.Store, alice: vcs.Identity, data_dir: Path, name: str
) -> None:
    with pytest.raises(vcs.InvalidArgument) as info:
        store.create_repository(name, alice)
    assert info.value.reason in ("INVALID_REPOSITORY_NAME", "INVALID_ENCODING")
    assert list((data_dir / "repos").iterdir()) == []


def test_surrogate_name_reports_an_encoding_problem(store: vcs.Store, alice: vcs.Identity) -> None:
    with pytest.raises(vcs.InvalidArgument) as info:
        store.create_repository("\udcff", alice)
    assert info.value.reason == "INVALID_ENCODING"
    assert "UTF-8" in info.value.message


@pytest.mark.parametrize("name", ["a", "A1", "my-repo", "my_repo", "v1.2", "a" * 100])
def test_valid_repository_names_are_accepted(store: vcs.Store, alice: vcs.Identity, name: str) -> None:
    assert store.create_repository(name, alice).repository_id == name


def test_description_is_stored_faithfully_or_rejected(store: vcs.Store, alice: vcs.Identity) -> None:
    try:
        store.create_repository("demo", alice, description="a\x00b")
    except vcs.InvalidArgument:
        return
    assert store.get_repository("demo").description == "a\x00b"


def test_description_with_quotes_and_newlines_round_trips(store: vcs.Store, alice: vcs.Identity) -> None:
    text = 'line one\nline "two" \\ [section] ; # not a comment'
    store.create_repository("demo", alice, description=text)
    assert store.get_repository("demo").description == text
