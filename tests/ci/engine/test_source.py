"""Where a commit's pipeline comes from, and the parse cache."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import repo_path
from trellis import vcs
from trellis.ci.engine import source as source_module
from trellis.ci.engine.source import PipelineSource
from trellis.ci.errors import InvalidRequest, PipelineNotFound, Refused
from trellis.ci.pipeline import PipelineError

from .fakes import ALICE, PIPELINE, Repo

OTHER = '[stages.only]\nrun = "true"\n'


def test_a_commits_trellis_toml_applies_and_is_named_by_the_commit(store: vcs.Store, repo: Repo) -> None:
    commit_id = repo.commit({"trellis.toml": PIPELINE, "app.py": "x = 1\n"})
    source = PipelineSource(store)
    pipeline = source.at(repo.name, store.get_commit(repo.name, commit_id))
    assert pipeline is not None
    assert [s.name for s in pipeline.stages] == ["syntax", "lint", "review"]
    assert pipeline.source == f"{commit_id[:12]}:trellis.toml"
    assert source.get(repo.name, commit_id) == pipeline


def test_without_a_pipeline_at_is_none_and_get_is_not_found(store: vcs.Store, repo: Repo) -> None:
    commit_id = repo.commit({"app.py": "x = 1\n"})
    source = PipelineSource(store)
    assert source.at(repo.name, store.get_commit(repo.name, commit_id)) is None
    with pytest.raises(PipelineNotFound) as caught:
        source.get(repo.name)
    assert caught.value.reason == "PIPELINE_NOT_FOUND"


def test_the_repository_pipeline_wins_over_the_file_and_can_be_removed(store: vcs.Store, repo: Repo) -> None:
    commit_id = repo.commit({"trellis.toml": PIPELINE})
    source = PipelineSource(store)
    set_to = source.set(repo.name, OTHER, ALICE)
    assert set_to is not None and set_to.source == "repository"
    assert [s.name for s in source.get(repo.name, commit_id).stages] == ["only"]
    assert source.set(repo.name, "", ALICE) is None
    assert [s.name for s in source.get(repo.name, commit_id).stages] == ["syntax", "lint", "review"]


def test_invalid_definitions_are_refused_with_invalid_pipeline(store: vcs.Store, repo: Repo) -> None:
    commit_id = repo.commit({"trellis.toml": "[stages.x]\nkind = 'nope'\n"})
    source = PipelineSource(store)
    with pytest.raises(PipelineError):
        source.at(repo.name, store.get_commit(repo.name, commit_id))
    with pytest.raises(Refused) as caught:
        source.get(repo.name, commit_id)
    assert caught.value.reason == "INVALID_PIPELINE"
    with pytest.raises(InvalidRequest) as refused:
        source.set(repo.name, "[stages.x]\nkind = 'nope'\n", ALICE)
    assert refused.value.reason == "INVALID_PIPELINE"


def test_one_parse_per_content_whatever_the_source_name(store: vcs.Store) -> None:
    source = PipelineSource(store)
    first = source.parse(PIPELINE.encode(), "a:trellis.toml")
    again = source.parse(PIPELINE.encode(), "a:trellis.toml")
    renamed = source.parse(PIPELINE.encode(), "b:trellis.toml")
    assert again is first
    assert renamed.source == "b:trellis.toml" and renamed.stages == first.stages


@pytest.mark.parametrize("removal", ["", "  \n", "\n\t\n"])
def test_removing_the_repository_pipeline_with_blank_text_lets_the_file_apply_again(
    store: vcs.Store, repo: Repo, removal: str
) -> None:
    commit_id = repo.commit({"trellis.toml": PIPELINE})
    source = PipelineSource(store)
    source.set(repo.name, OTHER, ALICE)
    assert source.set(repo.name, removal, ALICE) is None
    assert [s.name for s in source.get(repo.name, commit_id).stages] == ["syntax", "lint", "review"]


def _delete_object(data_dir: Path, store: vcs.Store, repository: str, object_id: str) -> None:
    """Remove a loose object from disk and from the store's open handle (libgit2 caches what it read)."""
    repo_path(data_dir, repository).joinpath("objects", object_id[:2], object_id[2:]).unlink()
    store.reopen(repository)


def test_a_trees_pipeline_file_is_read_once(store: vcs.Store, repo: Repo, data_dir: Path) -> None:
    """A branch's head is asked twice (is the branch protected; which pipeline applies to the push): once from git."""
    with_file = store.get_commit(repo.name, repo.commit({"trellis.toml": PIPELINE, "app.py": "x = 1\n"}))
    without = store.get_commit(repo.name, repo.commit({"trellis.toml": None}))
    source = PipelineSource(store)
    first = source.at(repo.name, with_file)
    assert first is not None and source.at(repo.name, without) is None
    for commit in (with_file, without):
        _delete_object(data_dir, store, repo.name, commit.tree_id)
    assert source.at(repo.name, with_file) == first
    assert source.at(repo.name, without) is None
    # Another commit of the same tree is named by its own id.
    renamed = source.at(repo.name, replace(with_file, commit_id="f" * 40))
    assert renamed is not None and renamed.source == f"{'f' * 12}:trellis.toml"


def test_the_repository_pipeline_another_process_sets_or_removes_applies_at_once(
    store: vcs.Store, repo: Repo, data_dir: Path
) -> None:
    commit = store.get_commit(repo.name, repo.commit({"trellis.toml": PIPELINE}))
    here, there = PipelineSource(store), PipelineSource(vcs.Store(data_dir, durability=vcs.Durability.NONE))
    assert [s.name for s in here.at(repo.name, commit).stages] == ["syntax", "lint", "review"]  # type: ignore[union-attr]
    there.set(repo.name, OTHER, ALICE)
    assert [s.name for s in here.at(repo.name, commit).stages] == ["only"]  # type: ignore[union-attr]
    there.set(repo.name, "", ALICE)
    assert [s.name for s in here.at(repo.name, commit).stages] == ["syntax", "lint", "review"]  # type: ignore[union-attr]
    there.set(repo.name, OTHER, ALICE)
    assert [s.name for s in here.at(repo.name, commit).stages] == ["only"]  # type: ignore[union-attr]


def test_the_texts_kept_by_tree_are_bounded_in_bytes(
    store: vcs.Store, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_module, "MAX_KEPT_BYTES", 3 * len(PIPELINE) + 200)
    source = PipelineSource(store)
    for n in range(8):
        text = PIPELINE + f"# {n}\n" + "#" * 40 + "\n"
        commit = store.get_commit(repo.name, repo.commit({"trellis.toml": text}))
        found = source.at(repo.name, commit)
        assert found is not None and [s.name for s in found.stages] == ["syntax", "lint", "review"]
        assert source._kept <= source_module.MAX_KEPT_BYTES
    big = PIPELINE + "#" * source_module.MAX_KEPT_BYTES + "\n"  # larger than the bound: answered, not kept
    assert source.at(repo.name, store.get_commit(repo.name, repo.commit({"trellis.toml": big}))) is not None
    assert source._kept <= source_module.MAX_KEPT_BYTES
