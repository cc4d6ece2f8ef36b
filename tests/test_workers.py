"""The link between a front of ``serve --workers N`` and the index process, over a real socket."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from tests.conftest import repo_path
from trellis import semantic_diff, vcs
from trellis.indexing import Index
from trellis.query import Indexer
from trellis.workers import _CHANNEL_OPTIONS, Host, IndexHost, Link, RemoteIndex

from .query.conftest import dump

ALICE = vcs.Identity("alice")


@pytest.fixture
def linked(data_dir: Path, tmp_path: Path) -> Iterator[tuple[Index, RemoteIndex]]:
    """An index process's ``Index`` behind its link, and a front's ``RemoteIndex`` talking to it."""
    index = Index(data_dir, semantic_diff.ParseCache(8 << 20), snapshot_interval=0)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_CHANNEL_OPTIONS)
    server.add_generic_rpc_handlers((Host({"index": IndexHost(index, None)}).handler(),))
    socket_path = str(tmp_path / "index.sock")
    server.add_insecure_port(f"unix:{socket_path}")
    server.start()
    front = RemoteIndex(Link(socket_path))
    try:
        yield index, front
    finally:
        front.close()
        front.link.close()
        server.stop(0)
        index.close()


def test_a_fronts_notice_carries_the_deltas_of_its_commits(
    store: vcs.Store, data_dir: Path, linked: tuple[Index, RemoteIndex]
) -> None:
    index, front = linked
    store.create_repository("r", ALICE)
    front.changed("r")
    assert front.wait_idle(30)
    first = store.commit("r", "main", [vcs.PutFile("src/a.py", b"def f():\n    return 1\n")], "one", ALICE)
    second = store.commit("r", "main", [vcs.PutFile("src/a.py", b"def f():\n    return 2\n")], "two", ALICE)
    with Indexer(data_dir, data_dir / "git.duckdb") as from_git:
        from_git.sync()
        expected = dump(from_git)
    # The commits' trees and new blobs are gone: the index process can only index them from the deltas it was sent.
    repo = store.open("r")
    gone = [str(repo[c.commit.commit_id].tree_id) for c in (first, second)]  # type: ignore[attr-defined]
    gone += [str(repo[t]["src"].id) for t in gone]  # type: ignore[index]
    gone += [f.new[1] for c in (first, second) for f in c.delta.files if f.new is not None]  # type: ignore[union-attr]
    for object_id in gone:
        (repo_path(data_dir, "r") / "objects" / object_id[:2] / object_id[2:]).unlink()
    front.changed("r", first.delta)
    front.changed("r", second.delta)
    assert front.wait_idle(30)
    assert dump(index.indexer) == expected
