"""Commit round trip through MCP over stdio vs the same commit through the SDK (goal: <= 3 ms above).

A real server on a temporary data directory; the SDK commits directly; the MCP client (the official
one) spawns `trellis mcp --server ADDRESS` and calls its `commit` tool. Each commit is one small file put
with expected_head (a compare-and-swap), as an agent's micro-commit. Prints p50/p90 of each and the
difference, and the CPU time (user+sys) of the `trellis mcp` process per commit (a session without commits
subtracted: start-up is not part of the round trip).

    python benchmarks/bench_mcp.py [--commits 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client as McpClient
from mcp.client.stdio import StdioServerParameters

from trellis.client import Client
from trellis.config import ServerConfig
from trellis.mcp_server import ClientPool, build_mcp
from trellis.server import build_server

CPU_WRAPPER = (
    "import resource, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
    "u = resource.getrusage(resource.RUSAGE_CHILDREN); open(sys.argv[1], 'w').write(str(u.ru_utime + u.ru_stime)); "
    "sys.exit(rc)"
)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.9)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=200, help="commits per mode (default 200)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        running = build_server(ServerConfig(data_dir=Path(tmp), address="127.0.0.1:0"))
        try:
            with Client(running.address, agent="bench") as client:
                client.create_repository("bench")
                head = client.commit("bench", "main", {"seed.txt": "0\n"}, "seed").commit.commit_id
                for i in range(20):  # warm-up
                    head = client.commit("bench", "main", {"w.txt": f"{i}\n"}, "w", expected_head=head).commit.commit_id
                sdk = []
                for i in range(args.commits):
                    start = time.perf_counter()
                    head = client.commit(
                        "bench", "main", {"sdk.txt": f"{i}\n"}, f"sdk {i}", expected_head=head
                    ).commit.commit_id
                    sdk.append(time.perf_counter() - start)

            async def through_mcp(server: object, commits: int = args.commits) -> list[float]:
                nonlocal head
                samples = []
                async with McpClient(server) as mcp:
                    for i in range(20 + commits if commits else 0):
                        start = time.perf_counter()
                        result = await mcp.call_tool(
                            "commit",
                            {
                                "repository": "bench",
                                "branch": "main",
                                "message": f"mcp {i}",
                                "expected_head": head,
                                "changes": [{"op": "put", "path": "mcp.txt", "content": f"{i}\n"}],
                            },
                        )
                        elapsed = time.perf_counter() - start
                        assert not result.is_error, result.content
                        head = result.structured_content["commit"]["commit_id"]  # type: ignore[index]
                        if i >= 20:
                            samples.append(elapsed)
                return samples

            def stdio(cpu_file: Path) -> StdioServerParameters:
                """`trellis mcp`, run by a parent that writes the CPU seconds it used to cpu_file."""
                return StdioServerParameters(
                    command=sys.executable,
                    args=[
                        "-c",
                        CPU_WRAPPER,
                        str(cpu_file),
                        *[sys.executable, "-m", "trellis", "mcp", "--server", running.address, "--agent", "bench"],
                    ],
                )

            mcp = anyio.run(through_mcp, stdio(Path(tmp) / "cpu-commits"))
            anyio.run(through_mcp, stdio(Path(tmp) / "cpu-idle"), 0)
            cpu = float((Path(tmp) / "cpu-commits").read_text()) - float((Path(tmp) / "cpu-idle").read_text())
            # The same tools connected in-process (no transport): what the adapter itself costs.
            with Client(running.address, agent="bench") as direct:
                inproc = anyio.run(through_mcp, build_mcp(ClientPool(running.address, client=direct)))
        finally:
            running.stop(grace=1)
    sdk50, sdk90 = percentiles(sdk)
    mcp50, mcp90 = percentiles(mcp)
    in50, in90 = percentiles(inproc)
    print(f"{args.commits} commits each (one small put with expected_head), p50 / p90:")
    print(f"  SDK (baseline)      {sdk50:6.2f} ms / {sdk90:6.2f} ms")
    print(f"  MCP in-process      {in50:6.2f} ms / {in90:6.2f} ms   (the tools without a transport)")
    print(f"  MCP over stdio      {mcp50:6.2f} ms / {mcp90:6.2f} ms")
    print(f"  trellis mcp CPU     {cpu / (20 + args.commits) * 1000:6.2f} ms per commit (user+sys, start-up excluded)")
    print(
        f"  MCP above the SDK   {mcp50 - sdk50:+6.2f} ms at p50 (goal <= 3 ms: {'met' if mcp50 - sdk50 <= 3 else 'NOT met'}),"
        f" ratio {mcp50 / sdk50:.2f}x"
    )


if __name__ == "__main__":
    main()
