#!/usr/bin/env python3
"""Importing agents' logs: ``trellis import-trajectory`` on a directory of many files of mixed formats.

Builds N files (default 1,000) from the project's own samples
(tests/fixtures/trajectories: SWE-agent 0.x/1.x/history-only, mini-swe-agent,
OpenHands, Claude Code, Codex, ATIF), each made unique (its task and every
observation carry the file's number, and its steps are repeated ``--repeat``
times so a file has tens of steps, as real runs do), plus the two real
SWE-agent runs in ../shared/data/trajectories when present. Then, each as a
whole ``trellis`` process on a fresh data directory (no server running: the
command opens the data directory in-process):

    (a) import the directory: files/s (goal >= 50 files/s);
    (b) import the same directory again: seconds (goal <= 2 s) and sessions
        added (goal: 0 duplicates);
    (c) SELECT count(*) FROM sessions: exactly N sessions.

Usage:
    python benchmarks/bench_trajectories.py                # 1,000 files
    python benchmarks/bench_trajectories.py --files 200    # quicker
    python benchmarks/bench_trajectories.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "fixtures" / "trajectories"
SHARED = ROOT.parent / "shared" / "data" / "trajectories"


def _grow(fmt: str, data: Any, repeat: int) -> Any:
    """The sample with its steps repeated ``repeat`` times (ids kept unique where a format pairs by id)."""
    if repeat <= 1:
        return data
    if fmt == "swe-agent" and isinstance(data, dict) and data.get("trajectory"):
        data["trajectory"] = data["trajectory"] * repeat
    elif fmt == "swe-agent" and isinstance(data, dict):
        data["history"] = data["history"][:2] + data["history"][2:] * repeat
    elif fmt == "mini-swe-agent":
        data["messages"] = data["messages"][:2] + data["messages"][2:] * repeat
    elif fmt == "atif":
        agent = [s for s in data["steps"] if s["source"] == "agent"]
        head = [s for s in data["steps"] if s["source"] != "agent"]
        data["steps"] = head + [dict(s) for _ in range(repeat) for s in agent]
        for i, step in enumerate(data["steps"], 1):
            step["step_id"] = i
    elif fmt == "openhands":
        body = data[2:]
        out = data[:2]
        for _ in range(repeat):
            shift = len(out)
            for event in body:
                event = dict(event, id=event["id"] + shift - 2)
                if "cause" in event:
                    event["cause"] = event["cause"] + shift - 2
                out.append(event)
        data = out
    elif fmt in ("claude-code", "codex"):
        head, body = data[:2], data[2:]
        out = list(head)
        for r in range(repeat):
            for line in body:
                out.append(
                    json.loads(
                        json.dumps(line)
                        .replace('"toolu_0', f'"toolu_{r}x0')
                        .replace('"call_A', f'"call_{r}A')
                        .replace('"msg_0', f'"msg_{r}x0')
                    )
                )
        data = out
    return data


def build(directory: Path, count: int, repeat: int) -> Counter[str]:
    sys.path.insert(0, str(ROOT))
    from trellis.query import detect_format

    sources = [p for p in sorted(SAMPLES.iterdir()) if p.name != "README.md"]
    sources += sorted(SHARED.glob("*.traj")) if SHARED.is_dir() else []
    formats: Counter[str] = Counter()
    for i in range(count):
        source = sources[i % len(sources)]
        text = source.read_text()
        fmt = detect_format(text)
        formats[fmt] += 1
        lines = source.suffix == ".jsonl"
        data = [json.loads(line) for line in text.splitlines() if line.strip()] if lines else json.loads(text)
        data = _grow(fmt, data, repeat)
        if isinstance(data, dict):  # every file its own content (a re-used real log has no marker to vary)
            data = {**data, "bench_run": i}
        out = "".join(json.dumps(line) + "\n" for line in data) if lines else json.dumps(data)
        out = out.replace("wordcount counts empty words", f"wordcount counts empty words (run {i})")
        out = out.replace("HOME=/root", f"HOME=/root RUN={i}")
        (directory / f"run-{i:05d}__{source.name}").write_text(out)
    return formats


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def trellis(*args: str, data: Path) -> tuple[float, dict[str, Any], float]:
    """(wall seconds, the JSON output, CPU seconds: user + system of the process and its children)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from measure import installed_env

    env = {**installed_env(), "TRELLIS_DATA": str(data)}
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "trellis", *args, "--json"], capture_output=True, text=True, env=env, timeout=3600
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"trellis {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed, json.loads(done.stdout), _children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5, help="repeat each sample's steps this many times")
    parser.add_argument("--tmpdir", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.tmpdir, prefix="trellis-bench-traj-") as tmp:
        logs, data = Path(tmp) / "logs", Path(tmp) / "data"
        logs.mkdir()
        formats = build(logs, args.files, args.repeat)
        size = sum(p.stat().st_size for p in logs.iterdir())
        start = time.perf_counter()  # the floor of any whole command on this machine now: start, parse, print help
        subprocess.run([sys.executable, "-m", "trellis", "--help"], capture_output=True, check=True)
        startup_s = time.perf_counter() - start
        first_s, first, first_cpu = trellis("import-trajectory", str(logs), data=data)
        again_s, again, _ = trellis("import-trajectory", str(logs), data=data)
        _, rows, _ = trellis(
            "query", "SELECT count(*) AS sessions, sum(steps) AS steps FROM session_summary", data=data
        )
        steps = sum(f["steps"] for f in first["files"])
        result = {
            "files": args.files,
            "formats": dict(formats),
            "bytes": size,
            "steps": steps,
            "import_s": round(first_s, 2),
            "import_cpu_s": round(first_cpu, 2),
            "files_per_s": round(args.files / first_s, 1),
            "steps_per_s": round(steps / first_s, 1),
            "imported": first["imported"],
            "failed": first["failed"],
            "reimport_s": round(again_s, 2),
            "reimport_imported": again["imported"],
            "reimport_duplicates_skipped": again["duplicate"],
            "sessions": rows[0]["sessions"],
            "startup_s": round(startup_s, 2),
            "machine": f"{platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{args.files} files ({', '.join(f'{k} {v}' for k, v in sorted(formats.items()))}), "
        f"{size / 1e6:.1f} MB, {steps} steps"
    )
    print(
        f"(a) import:    {result['import_s']:.2f} s = {result['files_per_s']} files/s, "
        f"{result['steps_per_s']} steps/s   goal >= 50 files/s: "
        f"{'PASS' if result['files_per_s'] >= 50 else 'FAIL'}; CPU {first_cpu:.2f} s = "
        f"{first_cpu / args.files * 1000:.1f} ms per file"
    )
    print(
        f"(b) re-import: {result['reimport_s']:.2f} s, {again['imported']} new sessions   goal <= 2 s and 0: "
        f"{'PASS' if again_s <= 2 and again['imported'] == 0 else 'FAIL'}"
    )
    print(
        f"(c) sessions:  {result['sessions']} (expected {args.files}): "
        f"{'PASS' if result['sessions'] == args.files else 'FAIL'}"
    )
    print(f"trellis --help: {startup_s:.2f} s (process start-up on this machine now)")
    print(f"machine: {result['machine']}")


if __name__ == "__main__":
    main()
