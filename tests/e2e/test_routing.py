"""Repositories sharded across two servers on loopback: the SDK and the CLI follow the routing table."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from trellis import vcs
from trellis.config import ServerConfig
from trellis.errors import InvalidRoutes, NotRouted
from trellis.routing import RoutedClient, RoutingTable
from trellis.server import RunningServer, build_server


@pytest.fixture
def shards(tmp_path: Path) -> Iterator[tuple[RunningServer, RunningServer]]:
    a = build_server(ServerConfig(data_dir=tmp_path / "a", address="127.0.0.1:0", durability=vcs.Durability.NONE))
    try:
        b = build_server(ServerConfig(data_dir=tmp_path / "b", address="127.0.0.1:0", durability=vcs.Durability.NONE))
        try:
            yield a, b
        finally:
            b.stop(grace=1)
    finally:
        a.stop(grace=1)


def _on_disk(server: RunningServer) -> list[str]:
    """The repositories in a server's data directory."""
    return sorted(p.name.removesuffix(".git") for p in (Path(server.store.root) / "repos").glob("*.git"))


def _routes(a: RunningServer, b: RunningServer) -> str:
    return (
        f'[[routes]]\nrepositories = ["payments", "pay-*"]\nserver = "{a.address}"\n\n'
        f'[[routes]]\nrepositories = ["web", "docs-?"]\nserver = "{b.address}"\n'
    )


def test_the_sdk_is_routed_to_the_server_that_owns_each_repository(shards: tuple[RunningServer, RunningServer]) -> None:
    a, b = shards
    table = RoutingTable.parse(_routes(a, b))
    with RoutedClient(table, agent="alice") as trellis:
        for name in ("payments", "pay-ledger", "web", "docs-1"):
            trellis.create_repository(name)
            landed = trellis.commit(name, "main", {"README.md": f"# {name}\n"}, f"start {name}")
            assert trellis.read_file(name, "README.md").content == f"# {name}\n".encode()
            assert trellis.get_branch(name, "main").head_commit_id == landed.commit.commit_id
        session = trellis.create_session("web", task="routed session")
        trellis.commit("web", session.branch_id, {"app.py": "x = 1\n"}, "edit", session=session.session_id)
        assert [s.session_id for s in trellis.list_sessions("web")] == [session.session_id]
        assert {r.repository_id for r in trellis.list_repositories()} == {"payments", "pay-ledger", "web", "docs-1"}
        # Each server holds exactly the repositories routed to it, on disk and through its own API.
        assert _on_disk(a) == ["pay-ledger", "payments"]
        assert _on_disk(b) == ["docs-1", "web"]
        assert {r.repository_id for r in trellis.client_for_server(b.address).list_repositories()} == {"docs-1", "web"}
        # A repository that no route matches: a clear error, before any call reaches a server.
        with pytest.raises(NotRouted) as unrouted:
            trellis.create_repository("mobile")
        assert unrouted.value.reason == "REPOSITORY_NOT_ROUTED" and unrouted.value.metadata["repository"] == "mobile"
        assert isinstance(unrouted.value, vcs.NotFound) and "no server owns repository 'mobile'" in str(unrouted.value)
        assert sorted(_on_disk(a) + _on_disk(b)) == ["docs-1", "pay-ledger", "payments", "web"]
        with pytest.raises(NotRouted, match="spans repositories"):
            trellis.query("SELECT 1")
        # Routed, but not there (the table and the servers disagree): the server's own NOT_FOUND.
        with pytest.raises(vcs.NotFound) as missing:
            trellis.get_repository("docs-2")
        assert missing.value.reason == "REPOSITORY_NOT_FOUND"


def test_the_cli_follows_trellis_routes(shards: tuple[RunningServer, RunningServer], tmp_path: Path) -> None:
    a, b = shards
    routes = tmp_path / "routes.toml"
    routes.write_text(_routes(a, b))
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TRELLIS_ROUTES": str(routes),
        "TRELLIS_DATA": str(tmp_path / "none"),
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "trellis", *args, "--agent", "alice"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=tmp_path,
            check=False,
        )

    for name in ("payments", "web"):
        created = cli("repo", "create", name, "--json")
        assert created.returncode == 0, created.stderr
    (tmp_path / "a.txt").write_text("routed\n")
    committed = cli("commit", "web", "main", "a.txt", "-m", "add a")
    assert committed.returncode == 0, committed.stderr
    assert cli("cat", "web", "a.txt").stdout == "routed\n"
    assert _on_disk(a) == ["payments"] and _on_disk(b) == ["web"]
    listed = cli("repo", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(r["repository_id"] for r in json.loads(listed.stdout)) == ["payments", "web"]
    unrouted = cli("log", "mobile", "--json")
    assert unrouted.returncode == 1
    assert json.loads(unrouted.stderr)["error"]["reason"] == "REPOSITORY_NOT_ROUTED"
    spanning = cli("query", "SELECT 1 AS one", "--json")  # every shard's index: not one server's to answer
    assert spanning.returncode == 1 and "spans repositories" in json.loads(spanning.stderr)["error"]["message"]
    assert not (tmp_path / "none").exists()  # no local data directory was opened instead


def test_a_malformed_routing_table_is_refused_clearly(tmp_path: Path) -> None:
    for text in [
        "",
        "[[routes]]\nserver = 'x:1'\n",
        "[[routes]]\nrepositories = []\nserver = 'x:1'\n",
        "routes = 5\n",
        "[[routes]]\nrepositories = ['a']\nserver = 'x:1'\nextra = 1\n[other]\n",
        "= =",
    ]:
        with pytest.raises(InvalidRoutes) as info:
            RoutingTable.parse(text)
        assert info.value.reason == "INVALID_ROUTES"
    with pytest.raises(InvalidRoutes):
        RoutingTable.load(tmp_path / "missing.toml")
