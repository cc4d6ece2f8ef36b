"""The MCP server, driven by the official MCP client: over stdio (spawning `trellis mcp`) and over
streamable HTTP (`trellis serve --mcp`, and the HTTP server beside an in-test server), against real servers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client as McpClient
from mcp.client.stdio import StdioServerParameters

from tests.conftest import repo_path, snapshot
from trellis.client import Client
from trellis.mcp_server import start_http
from trellis.server import RunningServer

TOOLS = {
    "list_repositories",
    "get_branch",
    "read_file",
    "list_tree",
    "log",
    "diff",
    "query",
    "start_session",
    "end_session",
    "record_step",
    "commit",
    "merge",
    "verify",
    "wait_run",
}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env.update({"COLUMNS": "200", **extra})
    return env


def stdio(*args: str, **env: str) -> StdioServerParameters:
    """`trellis mcp ARGS` as an MCP client spawns it."""
    return StdioServerParameters(command=sys.executable, args=["-m", "trellis", "mcp", *args], env=_env(**env))


def run(server: Any, body: Callable[[McpClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with McpClient(server) as mcp:
            return await body(mcp)

    return run_async(main)


def run_async(main: Callable[[], Awaitable[Any]]) -> Any:
    try:
        return anyio.run(main)
    except BaseExceptionGroup as group:  # the task groups of the client: show the test's own failure
        while isinstance(group, BaseExceptionGroup) and len(group.exceptions) == 1:
            group = group.exceptions[0]  # type: ignore[assignment]
        raise group from None


async def call(mcp: McpClient, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await mcp.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
    return result.structured_content


async def call_error(mcp: McpClient, tool: str, **arguments: Any) -> tuple[str, dict[str, Any]]:
    """The text and the structured error of a call that must fail as a tool error."""
    result = await mcp.call_tool(tool, arguments)
    assert result.is_error, result
    text = result.content[0].text  # type: ignore[union-attr]
    assert "Traceback" not in text
    return text, (result.structured_content or {}).get("error", {})


@pytest.fixture
def demo(client: Client) -> str:
    """A repository with one Python file on main."""
    client.create_repository("demo")
    client.commit("demo", "main", {"app.py": "def f():\n    return 1\n\n\ndef g():\n    return 2\n"}, "base")
    return "demo"


def test_stdio_lists_described_tools(server: RunningServer, demo: str) -> None:
    async def body(mcp: McpClient) -> None:
        tools = {t.name: t for t in (await mcp.list_tools()).tools}
        assert TOOLS <= set(tools)
        for tool in tools.values():
            assert len(tool.description or "") > 40, tool.name
            for name, _schema in tool.input_schema.get("properties", {}).items():
                assert "ctx" != name and "client" != name
        commit = tools["commit"].input_schema
        assert {"repository", "branch", "changes", "message"} <= set(commit["required"])
        assert {"expected_head", "on_stale", "session_id", "step"} <= set(commit["properties"])
        assert tools["read_file"].annotations is not None and tools["read_file"].annotations.read_only_hint

    run(stdio("--server", server.address, "--agent", "alice"), body)


def test_stdio_session_commit_round_trip(server: RunningServer, client: Client, demo: str) -> None:
    head = client.get_branch(demo, "main").head_commit_id

    async def body(mcp: McpClient) -> dict[str, Any]:
        session = await call(mcp, "start_session", repository=demo, task="add h", model="test-model")
        branch = session["branch_id"]
        assert branch.startswith("agents/alice/")
        step = {"thought": "h is missing", "action": "edit", "input_tokens": 12, "output_tokens": 3}
        landed = await call(
            mcp,
            "commit",
            repository=demo,
            branch=branch,
            message="Add h",
            expected_head=head,
            session_id=session["session_id"],
            step=step,
            wait_for_diff=True,
            changes=[
                {
                    "op": "put",
                    "path": "app.py",
                    "content": "def f():\n    return 1\n\n\ndef g():\n    return 2\n\n\ndef h():\n    return 3\n",
                },
                {"op": "put", "path": "data.bin", "content": "AAEC", "encoding": "base64"},
            ],
        )
        assert landed["step"]["input"]["thought"] == "h is missing"
        assert any(c["qualname"] == "app.h" for c in landed["diff"]["entity_changes"]), landed
        commit_id = landed["commit"]["commit_id"]
        read = await call(mcp, "read_file", repository=demo, path="data.bin", revision=commit_id)
        assert read["encoding"] == "base64" and read["content"] == "AAEC"
        diff = await call(mcp, "diff", repository=demo, new_revision=branch, old_revision="main")
        assert [(c["qualname"], c["change"]) for c in diff["entity_changes"]] == [("app.h", "added")]
        lines = (await call(mcp, "diff", repository=demo, new_revision=branch, old_revision="main", line_diff=True))[
            "line_diffs"
        ]
        assert lines["app.py"]["encoding"] == "utf-8" and "+def h():" in lines["app.py"]["content"]
        log = await call(mcp, "log", repository=demo, revision=branch, limit=5)
        assert [c["message"].splitlines()[0] for c in log["commits"]] == ["Add h", "base", "Create repository demo"]
        assert log["commits"][0]["trailers"]["Trellis-Session"] == session["session_id"]
        tree = await call(mcp, "list_tree", repository=demo, revision=branch)
        assert {e["path"] for e in tree["entries"]} == {"app.py", "data.bin"}
        await call(
            mcp,
            "record_step",
            repository=demo,
            session_id=session["session_id"],
            step={"thought": "done", "action": "review"},
        )
        merged = await call(
            mcp,
            "merge",
            repository=demo,
            target_branch="main",
            source_revision=branch,
            preview=False,
            expected_head=head,
        )
        assert merged["conflicts"] == [] and merged["commit"]["commit_id"] == commit_id
        ended = await call(mcp, "end_session", repository=demo, session_id=session["session_id"], outcome="h added")
        assert ended["status"] == "succeeded" and ended["step_count"] == 2 and ended["commit_count"] == 1
        # (the index catches up with commits asynchronously: ask something that does not depend on timing)
        rows = await call(
            mcp,
            "query",
            sql="SELECT * FROM (SELECT 42 AS answer, 'x' AS letter UNION ALL SELECT 43, 'y') ORDER BY answer",
            max_rows=1,
        )
        assert rows == {"rows": [{"answer": 42, "letter": "x"}], "truncated": True}
        bound = await call(mcp, "query", sql="SELECT $a AS a, $b AS b", params={"a": "it's", "b": 2})
        assert bound["rows"] == [{"a": "it's", "b": 2}]
        text, error = await call_error(mcp, "query", sql="SELECT ?", params=[1, 2])
        assert error.get("reason") == "QUERY_PARAM_COUNT", text
        return landed

    landed = run(stdio("--server", server.address, "--agent", "alice"), body)
    assert client.get_branch(demo, "main").head_commit_id == landed["commit"]["commit_id"]
    assert client.read_file(demo, "data.bin").content == b"\x00\x01\x02"


def test_stdio_carries_lines_larger_than_a_pipe_buffer(server: RunningServer, client: Client, demo: str) -> None:
    """One JSON-RPC line each way far above a pipe's buffer and asyncio's default line limit (64 KiB), non-ASCII."""
    content = "".join(f"# ligne {i}: café ✓\n" for i in range(40_000))  # ~1 MB

    async def body(mcp: McpClient) -> str:
        await call(
            mcp,
            "commit",
            repository=demo,
            branch="main",
            message="big",
            changes=[{"op": "put", "path": "big.py", "content": content}],
        )
        return str((await call(mcp, "read_file", repository=demo, path="big.py"))["content"])

    assert run(stdio("--server", server.address, "--agent", "alice"), body) == content
    assert client.read_file(demo, "big.py").content == content.encode()


def test_stdio_bad_input_is_a_clear_tool_error_and_writes_nothing(
    data_dir: Path, server: RunningServer, client: Client, demo: str
) -> None:
    head = client.get_branch(demo, "main").head_commit_id
    client.commit(demo, "main", {"other.py": "X = 1\n"}, "moves main")

    async def body(mcp: McpClient) -> None:
        # A stale compare-and-swap: the reason, the message and where the branch is now.
        text, error = await call_error(
            mcp,
            "commit",
            repository=demo,
            branch="main",
            message="stale",
            expected_head=head,
            changes=[{"op": "put", "path": "a.py", "content": "A"}],
        )
        assert text.startswith("STALE_HEAD: ") and error["reason"] == "STALE_HEAD"
        assert error["actual_head"] == client.get_branch(demo, "main").head_commit_id
        # An unsafe path, refused by the server's validation.
        text, error = await call_error(
            mcp,
            "commit",
            repository=demo,
            branch="main",
            message="escape",
            changes=[{"op": "put", "path": "../evil", "content": "x"}],
        )
        assert error["reason"].startswith("INVALID") and "../evil" in text
        # Arguments outside the schema are refused before reaching Trellis.
        result = await mcp.call_tool(
            "commit", {"repository": demo, "branch": "main", "message": "m", "changes": [{"op": "chmod", "path": "a"}]}
        )
        assert result.is_error and "op" in result.content[0].text  # type: ignore[union-attr]
        # A put without content, bad base64, an unknown repository.
        text, error = await call_error(
            mcp, "commit", repository=demo, branch="main", message="m", changes=[{"op": "put", "path": "a.py"}]
        )
        assert error["reason"] == "INVALID_ARGUMENT" and "content" in text
        text, error = await call_error(
            mcp,
            "commit",
            repository=demo,
            branch="main",
            message="m",
            changes=[{"op": "put", "path": "a.bin", "content": "!!", "encoding": "base64"}],
        )
        assert error["reason"] == "INVALID_ARGUMENT" and "base64" in text
        text, error = await call_error(mcp, "read_file", repository="nope", path="a.py")
        assert error["reason"] == "REPOSITORY_NOT_FOUND"
        text, error = await call_error(mcp, "query", sql="DELETE FROM commits")
        assert error["reason"] and "Traceback" not in text

    refs = snapshot(data_dir, demo)
    run(stdio("--server", server.address, "--agent", "alice"), body)
    assert snapshot(data_dir, demo) == refs
    assert next(client.log(demo, "main")).message.startswith("moves main")


def _conflicting(client: Client, repo: str) -> None:
    client.create_branch(repo, "feature", "main")
    client.commit(repo, "main", {"app.py": "def f():\n    return 10\n\n\ndef g():\n    return 2\n"}, "main f")
    client.commit(repo, "feature", {"app.py": "def f():\n    return 20\n\n\ndef g():\n    return 2\n"}, "feature f")


async def _preview_conflict(mcp: McpClient, repo: str) -> dict[str, Any]:
    preview = await call(mcp, "merge", repository=repo, target_branch="main", source_revision="feature")
    assert preview["commit"] is None
    [conflict] = preview["conflicts"]
    assert conflict["path"] == "app.py" and conflict["qualname"] == "app.f"
    assert "return 10" in conflict["left"] and "return 20" in conflict["right"] and "return 1" in conflict["base"]
    return preview


def test_stdio_merge_preview_with_conflicts_in_process(data_dir: Path) -> None:
    """`trellis mcp --data-dir` with no server running opens the data directory in-process."""
    from trellis.config import ServerConfig
    from trellis.server import build_server

    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    try:
        with Client(running.address, agent="alice") as client:
            client.create_repository("demo")
            client.commit("demo", "main", {"app.py": "def f():\n    return 1\n\n\ndef g():\n    return 2\n"}, "b")
            _conflicting(client, "demo")
    finally:
        running.stop(grace=1)
    refs = snapshot(data_dir, "demo")
    run(stdio("--data-dir", str(data_dir)), lambda mcp: _preview_conflict(mcp, "demo"))
    assert snapshot(data_dir, "demo") == refs
    assert repo_path(data_dir, "demo").exists()


def test_http_beside_a_server(server: RunningServer, client: Client, demo: str) -> None:
    _conflicting(client, demo)
    http = start_http(server.address, "127.0.0.1:0")
    try:

        async def body(mcp: McpClient) -> None:
            assert TOOLS <= {t.name for t in (await mcp.list_tools()).tools}
            await _preview_conflict(mcp, demo)
            landed = await call(
                mcp,
                "commit",
                repository=demo,
                branch="feature",
                message="via http",
                changes=[{"op": "delete", "path": "app.py"}],
            )
            assert landed["commit"]["message"].startswith("via http")
            text, error = await call_error(mcp, "get_branch", repository=demo, branch="missing")
            assert error["reason"] == "BRANCH_NOT_FOUND" and text.startswith("BRANCH_NOT_FOUND: ")

        run(http.url, body)
    finally:
        http.stop()
    assert [p.path for p in client.list_tree(demo, revision="feature")] == []


def test_http_callers_act_with_their_own_tokens(tmp_path: Path) -> None:
    """Over HTTP each caller's bearer token reaches Trellis: no token, a bad one, an agent's, an admin's."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    from trellis.auth import Grant, Role, TokenStore
    from trellis.config import ServerConfig
    from trellis.server import build_server

    data = tmp_path / "data"
    data.mkdir()
    tokens = TokenStore(data)
    admin = tokens.create("admin", grants=(Grant("*", Role.ADMIN),))[1]
    alice = tokens.create("alice", grants=(Grant("demo*", Role.AGENT),))[1]
    running = build_server(ServerConfig(data_dir=data, address="127.0.0.1:0"))
    http = start_http(running.address, "127.0.0.1:0")
    try:
        with Client(running.address, token=admin) as client:
            client.create_repository("demo")
            client.commit("demo", "main", {"app.py": "X = 1\n"}, "base")
            head = client.get_branch("demo", "main").head_commit_id

        def as_caller(token: str | None, body: Callable[[McpClient], Awaitable[Any]]) -> Any:
            async def main() -> Any:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                async with httpx2.AsyncClient(headers=headers, timeout=60) as http_client:
                    async with McpClient(streamable_http_client(http.url, http_client=http_client)) as mcp:
                        return await body(mcp)

            return run_async(main)

        async def anonymous(mcp: McpClient) -> str:
            return (await call_error(mcp, "list_repositories"))[1]["reason"]

        assert as_caller(None, anonymous) == "MISSING_TOKEN"
        assert as_caller("trellis_0_nope", anonymous) == "INVALID_TOKEN"

        async def agent(mcp: McpClient) -> None:
            text, error = await call_error(
                mcp,
                "commit",
                repository="demo",
                branch="main",
                message="m",
                changes=[{"op": "put", "path": "app.py", "content": "X = 2\n"}],
            )
            assert error["reason"] == "BRANCH_OUTSIDE_NAMESPACE" and "agents/alice/" in text
            session = await call(mcp, "start_session", repository="demo", task="t")
            assert session["agent"] == "alice" and session["branch_id"].startswith("agents/alice/")

        as_caller(alice, agent)
        with Client(running.address, token=admin) as client:
            assert client.get_branch("demo", "main").head_commit_id == head
    finally:
        http.stop()
        running.stop(grace=1)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`trellis serve --mcp 127.0.0.1:0` as a process; yields the MCP URL it logs."""
    log = tmp_path / "serve.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trellis",
                "serve",
                "--data-dir",
                str(tmp_path / "served"),
                "--listen",
                "127.0.0.1:0",
                "--mcp",
                "127.0.0.1:0",
            ],
            stdout=out,
            stderr=out,
            env=_env(),
        )
    try:
        for _ in range(1200):  # up to two minutes on a loaded machine; usually a second or two
            found = re.search(r"http://127\.0\.0\.1:\d+/mcp\b", log.read_text(errors="replace"))
            if found or process.poll() is not None:
                break
            time.sleep(0.1)
        assert found, log.read_text(errors="replace")
        yield found.group(0)
    finally:
        process.terminate()
        process.wait(30)


def test_serve_mcp_over_http(served: str) -> None:
    async def body(mcp: McpClient) -> None:
        text, error = await call_error(mcp, "read_file", repository="none", path="x")
        assert error["reason"] == "REPOSITORY_NOT_FOUND"
        assert (await call(mcp, "list_repositories"))["repositories"] == []

    run(served, body)


def test_serve_mcp_refuses_a_remote_address_in_clear(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "trellis",
            "serve",
            "--data-dir",
            str(tmp_path / "d"),
            "--listen",
            "127.0.0.1:0",
            "--mcp",
            "0.0.0.0:0",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert result.returncode == 1 and "refusing to serve MCP" in result.stderr and "Traceback" not in result.stderr
