"""Commit round trip through MCP over stdio vs the same commit through the SDK (goal: <= 3 ms above).

A real server on a temporary data directory, in a process of its own (as `trellis serve` runs: neither client
shares its interpreter, and so its GIL, with the server's threads); the SDK commits directly; the MCP client (the
official one) spawns `trellis mcp --server ADDRESS` and calls its `commit` tool. Each commit is one small file
put with expected_head (a compare-and-swap), as an agent's micro-commit. The modes alternate in rounds (SDK,
MCP in-process, MCP over stdio; --rounds times) so that the machine's load changes weigh on each alike; the
difference is taken per round, and its median is the result.

Also prints the CPU time (user+sys) per commit of each party: the SDK client, the MCP client (this process
during the MCP rounds: the official client's JSON-RPC and pydantic work), and the `trellis mcp` process (a
session without commits subtracted: start-up is not part of the round trip).

    python benchmarks/bench_mcp.py [--commits 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import Client as McpClient
from mcp.client.stdio import StdioServerParameters

from trellis.client import Client
from trellis.mcp_server import ClientPool, build_mcp

WARM_UP = 20
CPU_WRAPPER = (
    "import resource, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
    "u = resource.getrusage(resource.RUSAGE_CHILDREN); open(sys.argv[1], 'w').write(str(u.ru_utime + u.ru_stime)); "
    "sys.exit(rc)"
)
SERVE = (
    "import sys; from pathlib import Path; from trellis.config import ServerConfig; "
    "from trellis.server import build_server; "
    "running = build_server(ServerConfig(data_dir=Path(sys.argv[1]), address='127.0.0.1:0')); "
    "print(running.address, flush=True); sys.stdin.read(); running.stop(grace=1)"
)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.9)] * 1000


class Mode:
    """One way of committing: its samples (seconds) and CPU seconds (of this process) over all rounds."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.samples: list[float] = []
        self.rounds: list[float] = []  # p50 of each round, ms
        self.cpu = 0.0

    def record(self, samples: list[float], cpu: float) -> None:
        self.samples += samples
        self.rounds.append(statistics.median(samples) * 1000)
        self.cpu += cpu

    def line(self, note: str = "") -> str:
        p50, p90 = percentiles(self.samples)
        return f"  {self.name:<18}  {p50:6.2f} ms / {p90:6.2f} ms{note}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=300, help="commits per mode and round (default 300)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the modes in turn (default 5)")
    args = parser.parse_args()
    n = args.commits
    sdk, inproc, stdio = Mode("SDK (baseline)"), Mode("MCP in-process"), Mode("MCP over stdio")
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(Path(tmp) / "data")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            address = server.stdout.readline().strip()  # type: ignore[union-attr]
            client = Client(address, agent="bench")
            client.create_repository("bench")
            head = client.commit("bench", "main", {"seed.txt": "0\n"}, "seed").commit.commit_id

            def through_sdk(commits: int) -> list[float]:
                nonlocal head
                samples = []
                for i in range(commits):
                    start = time.perf_counter()
                    head = client.commit(
                        "bench", "main", {"sdk.txt": f"{i}\n"}, f"sdk {i}", expected_head=head
                    ).commit.commit_id
                    samples.append(time.perf_counter() - start)
                return samples

            async def through_mcp(mcp: McpClient, commits: int) -> list[float]:
                nonlocal head
                samples = []
                for i in range(commits):
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
                    samples.append(time.perf_counter() - start)
                    assert not result.is_error, result.content
                    head = result.structured_content["commit"]["commit_id"]
                return samples

            def stdio_server(cpu_file: Path) -> StdioServerParameters:
                """`trellis mcp`, run by a parent that writes the CPU seconds it used to cpu_file."""
                return StdioServerParameters(
                    command=sys.executable,
                    args=[
                        "-c",
                        CPU_WRAPPER,
                        str(cpu_file),
                        *[sys.executable, "-m", "trellis", "mcp", "--server", address, "--agent", "bench"],
                    ],
                )

            async def measure(mode: Mode, run: Callable[[], Awaitable[list[float]]]) -> None:
                start = cpu_seconds()
                samples = await run()
                mode.record(samples, cpu_seconds() - start)

            async def rounds() -> None:
                # The same tools connected in-process (no transport): what the adapter itself costs.
                async with (
                    McpClient(stdio_server(Path(tmp) / "cpu-commits")) as over_stdio,
                    McpClient(build_mcp(ClientPool(address, client=client))) as in_process,
                ):
                    through_sdk(WARM_UP)
                    await through_mcp(in_process, WARM_UP)
                    await through_mcp(over_stdio, WARM_UP)

                    async def sdk_round() -> list[float]:
                        return through_sdk(n)

                    for _ in range(args.rounds):
                        await measure(sdk, sdk_round)
                        await measure(inproc, lambda: through_mcp(in_process, n))
                        await measure(stdio, lambda: through_mcp(over_stdio, n))

            anyio.run(rounds)

            async def idle() -> Any:
                async with McpClient(stdio_server(Path(tmp) / "cpu-idle")):
                    pass

            anyio.run(idle)
            client.close()
        finally:
            server.stdin.close()  # type: ignore[union-attr]
            server.wait(30)
        mcp_cpu = float((Path(tmp) / "cpu-commits").read_text()) - float((Path(tmp) / "cpu-idle").read_text())
    calls = args.rounds * n
    differences = [m - s for m, s in zip(stdio.rounds, sdk.rounds, strict=True)]
    above = statistics.median(differences)
    print(f"{n} commits per mode and round, {args.rounds} rounds (one small put with expected_head), p50 / p90:")
    print(sdk.line())
    print(inproc.line("   (the tools without a transport)"))
    print(stdio.line())
    print(
        f"  CPU per commit      SDK client {sdk.cpu / calls * 1000:.2f} ms, MCP client {stdio.cpu / calls * 1000:.2f} ms,"
        f" trellis mcp {mcp_cpu / (calls + WARM_UP) * 1000:.2f} ms (user+sys; start-up excluded)"
    )
    print("  stdio above the SDK per round: " + " ".join(f"{d:+.2f}" for d in differences) + " ms")
    print(
        f"  MCP above the SDK   {above:+6.2f} ms at p50, median of the rounds"
        f" (goal <= 3 ms: {'met' if above <= 3 else 'NOT met'}), ratio {statistics.median(stdio.rounds) / statistics.median(sdk.rounds):.2f}x"
    )


if __name__ == "__main__":
    main()
