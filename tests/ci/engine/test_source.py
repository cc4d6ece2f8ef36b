"""Where a commit's pipeline comes from, and the parse cache."""

from __future__ import annotations

import pytest

from trellis import vcs
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
