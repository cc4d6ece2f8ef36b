from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from trellis import vcs
from trellis.ci.engine import Verifier

from .fakes import FakeExecutor, Finished, Repo, make_verifier


@pytest.fixture
def repo(store: vcs.Store) -> Repo:
    return Repo(store)


@pytest.fixture
def executor() -> FakeExecutor:
    return FakeExecutor()


@pytest.fixture
def finished() -> Finished:
    return Finished()


@pytest.fixture
def verifier(
    store: vcs.Store, repo: Repo, executor: FakeExecutor, tmp_path: Path, finished: Finished
) -> Iterator[Verifier]:
    v = make_verifier(store, repo, executor, tmp_path, finished)
    try:
        yield v
    finally:
        v.close()
