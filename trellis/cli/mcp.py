"""``trellis mcp``: serve the Model Context Protocol over stdio (the server itself is trellis/mcp_server.py)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "mcp",
        parents=[common],
        help="serve the Model Context Protocol over stdio, for an agent to use Trellis",
        description="Serve Trellis as MCP tools (sessions, commits, reads, semantic diff, merge, verification, "
        "SQL) over stdin/stdout, for an MCP-capable agent to spawn. It connects like every command: --server / "
        "$TRELLIS_SERVER, else the data directory's server, else the data directory in-process; --token / "
        "$TRELLIS_TOKEN and --agent say who the agent is. For MCP over HTTP see `trellis serve --mcp`. "
        "Setup for agents: docs/mcp.md.",
    )
    p.set_defaults(run=run)


def require_mcp() -> None:
    """A clear error, not an ImportError, when the optional MCP SDK is not installed."""
    import importlib.util

    if importlib.util.find_spec("mcp") is None:
        from ..server import ConfigError

        raise ConfigError("the MCP server needs the MCP SDK: pip install 'trellis-vcs[mcp]'")


def run(args: argparse.Namespace) -> int:
    require_mcp()
    from ..mcp_server import ClientPool, serve_stdio
    from .context import connect

    with connect(args, creates=True) as client:
        pool = ClientPool(client.target, client=client)
        serve_stdio(pool)
    return 0
