#!/usr/bin/env python3
"""The long hostile-input run: the fuzzer of tests/e2e/test_fuzz.py against ``trellis serve``.

The server runs in its own process (as in production), so a crash, a hang or a leaked
traceback shows as what it is. Every RPC of every ``trellis.v1`` service gets rounds of
``--examples`` hypothesis examples in turn until ``--minutes`` have passed; each call is judged
as in the test (no INTERNAL/UNKNOWN, no hang, nothing written by a failed or read-only call).
Between rounds the server must still answer the health check; at the end every repository
must pass ``git fsck --strict`` and the server log must hold no INTERNAL and no traceback.

    python scripts/fuzz.py --minutes 10
    python scripts/fuzz.py --minutes 2 --only Commit,CommitStream,Query

Exit status 0 when nothing was found, 1 otherwise (each finding is printed with the request
that caused it and hypothesis' reproduction blob).
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from tests.e2e import test_fuzz as fuzz  # noqa: E402
from trellis.datadir import running_server  # noqa: E402


def start_server(data_dir: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env["PYTHONFAULTHANDLER"] = "1"  # SIGABRT dumps every thread, for a hang
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trellis", "serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0"],
            stdout=log,
            stderr=log,
            env=env,
        )
    for _ in range(600):
        record = running_server(data_dir)
        if record and record.get("address") and record.get("pid") == proc.pid:
            return proc, str(record["address"])
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the server did not start:\n{log_path.read_text(errors='replace')[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to fuzz (default 10)")
    parser.add_argument("--examples", type=int, default=100, help="examples per RPC per round (default 100)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-call deadline in seconds (default 30)")
    parser.add_argument("--only", default="", help="comma-separated RPC names (default: every RPC)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the data directory and log here")
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="trellis-fuzz-"))
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir, log_path = workdir / "data", workdir / "server.log"
    targets = [r for r in fuzz.rpcs() if not args.only or r.name in args.only.split(",")]
    if not targets:
        parser.error(f"no RPC matches --only {args.only}")
    print(f"fuzzing {len(targets)} RPCs for {args.minutes:g} min; data and log in {workdir}", flush=True)

    proc, address = start_server(data_dir, log_path)
    world = fuzz.World(address, data_dir, workdir / "scratch")
    calls: collections.Counter[str] = collections.Counter()
    codes: collections.Counter[str] = collections.Counter()
    findings: list[str] = []
    deadline = time.monotonic() + args.minutes * 60
    rounds = 0
    try:
        with grpc.insecure_channel(address, options=fuzz.CHANNEL_OPTIONS) as channel:
            while time.monotonic() < deadline and proc.poll() is None:
                rounds += 1
                for rpc in targets:
                    if time.monotonic() >= deadline or proc.poll() is not None:
                        break

                    def count(outcome: fuzz.Outcome, rpc: fuzz.Rpc = rpc) -> None:
                        calls[str(rpc)] += 1
                        codes[outcome.code.name] += 1

                    try:
                        fuzz.fuzz_rpc(
                            world, channel, rpc, max_examples=args.examples, timeout=args.timeout, on_outcome=count
                        )
                    except Exception as exc:  # a finding: print it and go on with the next RPC
                        notes = "\n".join(getattr(exc, "__notes__", []))
                        findings.append(f"{rpc}: {exc}")
                        print(f"\nFINDING in {rpc}:\n{exc}\n{notes}\n", flush=True)
                    if proc.poll() is None:
                        try:
                            fuzz.assert_healthy_server(world)
                        except Exception as exc:
                            findings.append(f"after {rpc}: server unhealthy: {exc!r}")
                            print(f"\nFINDING: the server is unhealthy after {rpc}: {exc!r}\n", flush=True)
                print(f"round {rounds}: {sum(calls.values())} calls, {dict(codes.most_common())}", flush=True)
        if proc.poll() is not None:
            findings.append(f"the server exited with {proc.returncode}")
        else:
            try:
                fuzz.assert_healthy(world)
            except AssertionError as exc:
                findings.append(f"final check: {exc}")
    finally:
        world.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                findings.append("the server did not stop within 60 s of SIGTERM")
                proc.kill()
                proc.wait()
    log_text = log_path.read_text(errors="replace")
    internal = [line for line in log_text.splitlines() if " INTERNAL " in line or line.startswith("Traceback")]
    if internal:
        findings.append(f"{len(internal)} INTERNAL/traceback lines in {log_path}, first: {internal[0]}")
    if proc.returncode not in (0, None):
        findings.append(f"the server exited with {proc.returncode} on SIGTERM")

    print(
        f"\n{sum(calls.values())} calls over {len(targets)} RPCs in {rounds} rounds; status codes: "
        f"{dict(codes.most_common())}"
    )
    for name, n in sorted(calls.items()):
        print(f"  {name:40s} {n}")
    if findings:
        print(f"\n{len(findings)} findings:")
        for f in findings:
            print(f"  - {f.splitlines()[0][:300]}")
        return 1
    print("no findings: no INTERNAL/UNKNOWN, no hang, no partial write, fsck clean, server healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
