#!/usr/bin/env python3
"""Many writers on one branch: ``on_stale=REBASE`` against re-read-and-retry.

W writers (threads in two client processes, through the SDK) commit to the same branch of one
repository of a ``python -m trellis serve`` in its own process, each changing its own file, back
to back for S seconds per strategy:

- ``rebase``: Commit with ``expected_head`` = the head the writer last saw and
  ``on_stale=REBASE``; the server replays a stale change onto the actual head (clean here, as
  the writers touch different files) and lands it in the same call.
- ``retry``: Commit with ``expected_head`` and the default ``on_stale=FAIL``; on STALE_HEAD the
  writer re-reads the branch head (GetBranch) and sends the commit again, until it lands.

Printed per strategy: landed commits/s, calls per landed commit, p50 and p99 latency of a landed
commit (from its first attempt), and the ratio of the two throughputs. docs/api.md ("Many writers
on one branch") quotes the result.

    python benchmarks/bench_contention.py                     # 32 writers, 10 s per strategy
    python benchmarks/bench_contention.py --writers 8 --seconds 5 --json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_push import ServerProcess  # noqa: E402
from measure import cpu_model, pct  # noqa: E402

from trellis import vcs  # noqa: E402
from trellis.client import Client  # noqa: E402

REPOSITORY = "contended"
BRANCH = "main"
STRATEGIES = ("rebase", "retry")


def _writer(
    address: str, index: int, strategy: str, start_at: float, stop_at: float, out: list[dict[str, Any]]
) -> None:
    calls = landed = 0
    latencies: list[float] = []
    with Client(address, agent=f"w{index}") as client:
        head = client.get_branch(REPOSITORY, BRANCH).head_commit_id
        time.sleep(max(0.0, start_at - time.time()))
        n = 0
        while time.time() < stop_at:
            n += 1
            change = {f"writers/{index}.txt": f"{strategy} {n}\n"}
            first = time.perf_counter()
            while True:
                calls += 1
                try:
                    if strategy == "rebase":
                        reply = client.commit(
                            REPOSITORY,
                            BRANCH,
                            change,
                            f"w{index} #{n}",
                            expected_head=head,
                            on_stale=vcs.OnStale.REBASE,
                        )
                    else:
                        reply = client.commit(REPOSITORY, BRANCH, change, f"w{index} #{n}", expected_head=head)
                except vcs.StaleHead:
                    head = client.get_branch(REPOSITORY, BRANCH).head_commit_id
                    if time.time() >= stop_at:
                        break
                    continue
                head = reply.commit.commit_id
                if time.time() <= stop_at:
                    landed += 1
                    latencies.append((time.perf_counter() - first) * 1000)
                break
    out.append({"calls": calls, "landed": landed, "latencies_ms": latencies})


def _client_process(
    address: str, indices: list[int], strategy: str, start_at: float, stop_at: float, results: Any
) -> None:
    out: list[dict[str, Any]] = []
    threads = [threading.Thread(target=_writer, args=(address, i, strategy, start_at, stop_at, out)) for i in indices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(out)


def run_strategy(address: str, strategy: str, writers: int, seconds: float, procs: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    start_at = time.time() + 3.0  # time for every client to connect and read the head
    stop_at = start_at + seconds
    workers = [
        ctx.Process(
            target=_client_process, args=(address, list(range(writers))[p::procs], strategy, start_at, stop_at, results)
        )
        for p in range(procs)
    ]
    for w in workers:
        w.start()
    rows = [row for _ in workers for row in results.get(timeout=seconds + 120)]
    for w in workers:
        w.join()
    landed = sum(r["landed"] for r in rows)
    calls = sum(r["calls"] for r in rows)
    latencies = [x for r in rows for x in r["latencies_ms"]]
    return {
        "strategy": strategy,
        "writers": writers,
        "seconds": seconds,
        "landed": landed,
        "commits_per_s": landed / seconds,
        "calls_per_commit": calls / landed if landed else float("inf"),
        "p50_ms": pct(latencies, 0.5),
        "p99_ms": pct(latencies, 0.99),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--writers", type=int, default=32, help="writers on the one branch (default 32)")
    p.add_argument("--seconds", type=float, default=10.0, help="measured seconds per strategy (default 10)")
    p.add_argument("--client-procs", type=int, default=2, help="client processes the writers run in (default 2)")
    p.add_argument("--tmpdir", default=None, help="where the server's data directory goes (e.g. /dev/shm)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)

    results = []
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        for strategy in STRATEGIES:  # a fresh server and repository each, so neither inherits a longer history
            data = Path(tmp) / strategy / "data"
            data.mkdir(parents=True)
            server = ServerProcess(data).start()
            try:
                with Client(server.address, agent="setup") as client:
                    client.create_repository(REPOSITORY)
                results.append(run_strategy(server.address, strategy, args.writers, args.seconds, args.client_procs))
            finally:
                server.stop()
    by = {r["strategy"]: r for r in results}
    retry_rate = by["retry"]["commits_per_s"]
    ratio = by["rebase"]["commits_per_s"] / retry_rate if retry_rate else float("inf")
    if args.json:
        print(
            json.dumps(
                {
                    "results": results,
                    "rebase_over_retry": ratio,
                    "cpu": cpu_model(),
                    "cores": os.cpu_count(),
                    "loadavg": os.getloadavg(),
                },
                indent=2,
            )
        )
        return 0
    print(
        f"{args.writers} writers on one branch, {args.seconds:g} s per strategy; {cpu_model()}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'strategy':<8} {'commits':>8} {'commits/s':>10} {'calls/commit':>13} {'p50 ms':>8} {'p99 ms':>8}")
    for r in results:
        print(
            f"{r['strategy']:<8} {r['landed']:>8} {r['commits_per_s']:>10.1f} {r['calls_per_commit']:>13.2f} "
            f"{r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f}"
        )
    print(f"rebase / retry: {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
