"""Sharding on one machine: what the numbers of docs/scaling.md rest on.

    python benchmarks/bench_shards.py [--duration 8] [--agents 16] [--tmpdir /dev/shm]

Three measurements, each against its baseline in the same run:

1. **Throughput.** One ``trellis serve`` with ``2 x agents`` CommitStream agents on one repository
   (the baseline), then two servers (shards, each its own process and data directory) with
   ``agents`` agents each on their own repository, at the same time. Prints commits/s and the ratio.
   The clients run in their own processes (bench_push's load generator).
2. **Routing.** ``RoutingTable.server_for`` for tables of 1, 100 and 1,000 routes, and one commit
   through a ``RoutedClient`` against the same commit through a plain ``Client`` (p50 of a few hundred).
3. **Federation.** Each shard exports its index as Parquet (``Export``) into its own directory; one
   DuckDB query then spans both exports (``read_parquet`` over a glob, Hive partitions) and is timed
   against the same question asked of each shard through ``Query`` and added up.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_push import LoadSpec, ServerProcess, run_load, seed_trellis_repository
from measure import cpu_model, load_average, pct

QUESTION = (
    "SELECT repository, count(*) AS commits, count(DISTINCT author) AS agents "
    "FROM {commits} GROUP BY repository ORDER BY repository"
)


def _load(
    address: str, repository: str, agents: int, args: argparse.Namespace, server: ServerProcess, out: dict[str, Any]
) -> None:
    spec = LoadSpec(address, repository, "stream", False, args.warmup, args.duration, agents=agents)
    commits, seconds, latencies, _client_cpu, server_cpu = run_load(spec, agents, args.client_procs, server)
    out.update(
        commits=commits,
        seconds=seconds,
        p50_ms=pct(latencies, 0.5),
        p99_ms=pct(latencies, 0.99),
        server_cpu_ms_per_commit=(server_cpu or 0) * 1000 / max(1, commits),
    )


def throughput(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    single = ServerProcess(work / "single", durability=args.durability).start()
    try:
        seed_trellis_repository(single.address, "one")
        baseline: dict[str, Any] = {}
        _load(single.address, "one", 2 * args.agents, args, single, baseline)
    finally:
        single.stop()
    shards = [ServerProcess(work / f"shard-{i}", durability=args.durability).start() for i in range(2)]
    try:
        for i, shard in enumerate(shards):
            seed_trellis_repository(shard.address, f"repo-{i}")
        outs: list[dict[str, Any]] = [{}, {}]
        threads = [
            threading.Thread(target=_load, args=(s.address, f"repo-{i}", args.agents, args, s, outs[i]))
            for i, s in enumerate(shards)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for shard in shards:
            shard.stop()
    one = baseline["commits"] / baseline["seconds"]
    two = sum(o["commits"] / o["seconds"] for o in outs)
    return {
        "one_server": baseline,
        "two_shards": outs,
        "one_server_commits_per_s": round(one, 1),
        "two_shards_commits_per_s": round(two, 1),
        "ratio": round(two / one, 2),
    }


def routing(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from trellis import Client
    from trellis.routing import RoutedClient, RoutingTable

    lookups = {}
    for size in (1, 100, 1000):
        text = "".join(
            f'[[routes]]\nrepositories = ["team-{i}-*"]\nserver = "127.0.0.1:{7000 + i % 8}"\n' for i in range(size)
        )
        table = RoutingTable.parse(text)
        table.server_for(f"team-{size - 1}-warm")  # (fnmatch compiles each pattern once per process)
        names = [f"team-{size - 1}-web{i}" for i in range(200)]  # matched by the last route: the worst case
        t0 = time.perf_counter()
        for name in names:
            table.server_for(name)
        first = (time.perf_counter() - t0) / len(names) * 1e6
        t0 = time.perf_counter()
        for _ in range(10):
            for name in names:
                table.server_for(name)
        again = (time.perf_counter() - t0) / (10 * len(names)) * 1e6
        lookups[size] = {"first_us": round(first, 1), "remembered_us": round(again, 2)}
    server = ServerProcess(work / "routing", durability=args.durability).start()
    try:
        table = RoutingTable.parse(f'[[routes]]\nrepositories = ["r"]\nserver = "{server.address}"\n')
        with Client(server.address, agent="bench") as plain, RoutedClient(table, agent="bench") as routed:
            plain.create_repository("r")
            times: dict[str, list[float]] = {"plain": [], "routed": []}
            for i in range(args.routing_commits):
                for label, client in (("plain", plain), ("routed", routed)):
                    t0 = time.perf_counter()
                    client.commit("r", "main", {f"{label}.txt": f"{i}\n"}, "m")
                    times[label].append((time.perf_counter() - t0) * 1000)
    finally:
        server.stop()
    return {
        "server_for_us_by_routes": lookups,
        "commit_p50_ms": {k: round(statistics.median(v), 3) for k, v in times.items()},
    }


def federation(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    import duckdb

    from trellis import Client

    shards = [ServerProcess(work / f"fed-{i}", durability=args.durability).start() for i in range(2)]
    exports = work / "exports"
    try:
        clients = [Client(s.address, agent=f"agent-{i}") for i, s in enumerate(shards)]
        per_repo = args.federation_commits // (2 * args.federation_repos)
        for i, client in enumerate(clients):
            with client.commit_stream() as stream:
                for r in range(args.federation_repos):
                    name = f"s{i}-r{r}"
                    client.create_repository(name)
                    for c in range(per_repo):
                        stream.send(name, "main", {f"m{c % 20}.py": f"def f{c}():\n    return {c}\n"}, f"c{c}")
                    for _ in range(per_repo):
                        stream.receive()
        for client, _shard in zip(clients, shards):  # let each index catch up: Query waits for nothing
            expected = per_repo * args.federation_repos
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                n = client.query_rows("SELECT count(*) AS n FROM commits WHERE title LIKE 'c%'")[0]["n"]
                if n >= expected:
                    break
                time.sleep(0.5)
        export_s, files = [], 0
        for i, client in enumerate(clients):
            t0 = time.perf_counter()
            files += len(client.export(str(exports / f"shard={i}")))
            export_s.append(time.perf_counter() - t0)
        parquet_bytes = sum(p.stat().st_size for p in exports.rglob("*.parquet"))
        con = duckdb.connect()
        glob = f"read_parquet('{exports}/*/commits/**/*.parquet', hive_partitioning = true)"
        federated = []
        for _ in range(5):
            t0 = time.perf_counter()
            rows = con.execute(QUESTION.format(commits=glob)).fetchall()
            federated.append((time.perf_counter() - t0) * 1000)
        commits_exported = sum(r[1] for r in rows)
        per_shard = []
        for _ in range(5):
            t0 = time.perf_counter()
            for client in clients:
                client.query_rows(QUESTION.format(commits="commits"))
            per_shard.append((time.perf_counter() - t0) * 1000)
        for client in clients:
            client.close()
    finally:
        for shard in shards:
            shard.stop()
    return {
        "repositories": len(rows),
        "commits": commits_exported,
        "files": files,
        "export_s": [round(s, 2) for s in export_s],
        "parquet_bytes": parquet_bytes,
        "parquet_bytes_per_commit": round(parquet_bytes / max(1, commits_exported)),
        "federated_query_p50_ms": round(statistics.median(federated), 1),
        "query_each_shard_p50_ms": round(statistics.median(per_shard), 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=8.0, help="seconds of each measured push phase")
    p.add_argument("--warmup", type=int, default=5, help="untimed commits per agent first")
    p.add_argument("--agents", type=int, default=16, help="CommitStream agents per shard (the baseline has twice)")
    p.add_argument("--client-procs", type=int, default=2, help="client processes per load")
    p.add_argument("--routing-commits", type=int, default=300)
    p.add_argument("--federation-commits", type=int, default=4000)
    p.add_argument("--federation-repos", type=int, default=4, help="repositories per shard")
    p.add_argument("--durability", default="none", choices=["durable", "none"])
    p.add_argument("--tmpdir", default=None)
    p.add_argument("--only", default="throughput,routing,federation")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-shards-", dir=args.tmpdir))
    report: dict[str, Any] = {"machine": f"{cpu_model()}, load average {load_average()}"}
    try:
        for part in args.only.split(","):
            print(f"-- {part}", file=sys.stderr, flush=True)
            report[part] = {"throughput": throughput, "routing": routing, "federation": federation}[part](work, args)
            print(json.dumps({part: report[part]}, indent=1), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["load_average_after"] = load_average()
    print(json.dumps({"machine": report["machine"], "load_average_after": report["load_average_after"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
