"""What the job's ``getattr`` stand-in costs per call, against the builtin, in one run.

    python benchmarks/bench_getattr_standin.py [--rounds 9] [--calls 200000] [--names 500] [--json]

A pytest job that records what exec/eval ran replaces the builtin ``getattr`` with a stand-in
(``trellis.ci.execution.pytest_plugin``: ``_observe_getattr``, the wrapper ``make(recorder, original,
getframe, sites)``) that writes the name each call with a string name fetches, once per site and name.
This script installs it exactly as a job does (an ``EvalRecorder`` on a temporary root and stream, no
audit hook: the stand-in alone) and times, in one process, loops that call ``getattr`` from:

- a function of the tree (a file under the recorder's root) with a constant name: after the first call
  the site and name are known, every call finds them (``constant``);
- the same with a computed name, ``--names`` distinct names in turn, each written once on its first
  sight (``computed``; the steady state, every name already written);
- the same, every name seen for the first time (``first sight``: the recorder's memory of written names
  cleared before each round; each call writes one line to the stream);
- a function outside the tree (pytest's code, say), whose code object the stand-in knows to skip
  (``outside``).

Each loop is timed with the process's CPU clock, builtin and stand-in alternated round by round, and the
cost of the bare loop (the same loop without the call) subtracted; the report gives the median of the
rounds in ns per call and the ratio stand-in / builtin. The garbage collector is off while a loop runs.
"""

from __future__ import annotations

import argparse
import builtins
import gc
import importlib.util
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import cpu_model, load_average

from trellis.ci.execution import pytest_plugin

# The calling code: loaded once from a file under the recorder's root (a site of the tree), once from outside it.
SITE = """\
def loop(obj, names, repeat):
    for _ in range(repeat):
        for name in names:
            pass


def constant(obj, names, repeat):
    for _ in range(repeat):
        for name in names:
            getattr(obj, "a0")


def computed(obj, names, repeat):
    for _ in range(repeat):
        for name in names:
            getattr(obj, name)
"""


class Target:
    """The object whose attributes the calls fetch (``a0`` ... ``a<names-1>``)."""


def _load(path: Path, name: str, prefix: str = "") -> ModuleType:
    """``SITE`` as the module ``name`` of the file ``path``, its functions' names prefixed with ``prefix``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SITE.replace("def ", f"def {prefix}"))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cpu_ns(fn: Callable[[object, list[str], int], None], obj: object, names: list[str], repeat: int) -> int:
    gc.disable()
    try:
        t0 = time.process_time_ns()
        fn(obj, names, repeat)
        return time.process_time_ns() - t0
    finally:
        gc.enable()


def measure(rounds: int, calls: int, count: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-getattr-"))
    original_getattr, original_vars = builtins.getattr, builtins.vars
    try:
        root = work / "tree"
        tree = _load(root / "pkg" / "site.py", "bench_getattr_tree_site")
        # Other names: code objects of equal source compare (and hash) equal whatever their file, so the stand-in's
        # table of sites would take an identical function outside the tree for the tree's (see RESULTS.md).
        outside = _load(work / "elsewhere" / "site.py", "bench_getattr_outside_site", "outside_")
        stream = work / "stream.jsonl"
        recorder = pytest_plugin.EvalRecorder(str(root), str(stream), [])
        pytest_plugin._observe_getattr(recorder)  # as the job installs it (and vars on Python < 3.13)
        standin = builtins.getattr
        builtins.getattr, builtins.vars = original_getattr, original_vars
        assert standin is not original_getattr

        names = [f"a{i}" for i in range(count)]
        obj = Target()
        for name in names:
            setattr(obj, name, 1)
        repeat = max(1, calls // count)
        n = repeat * count

        def use(fn: Any) -> None:
            builtins.getattr = fn

        # Warm-up: every site and name written once, the outside code object known to be skipped.
        use(standin)
        for fn in (tree.constant, tree.computed, outside.outside_constant):
            fn(obj, names, 1)
        use(original_getattr)
        written = sum(1 for _ in stream.open())

        samples: dict[str, list[float]] = {
            k: []
            for k in (
                "builtin constant",
                "builtin computed",
                "stand-in constant",
                "stand-in computed",
                "stand-in outside",
                "builtin first sight",
                "stand-in first sight",
            )
        }
        for r in range(rounds):
            loop = min(_cpu_ns(tree.loop, obj, names, repeat) for _ in range(2))
            first_loop = _cpu_ns(tree.loop, obj, names, 1)
            order = [original_getattr, standin] if r % 2 == 0 else [standin, original_getattr]
            for fn in order:
                use(fn)
                label = "builtin" if fn is original_getattr else "stand-in"
                samples[f"{label} constant"].append((_cpu_ns(tree.constant, obj, names, repeat) - loop) / n)
                samples[f"{label} computed"].append((_cpu_ns(tree.computed, obj, names, repeat) - loop) / n)
                if fn is standin:
                    samples["stand-in outside"].append(
                        (_cpu_ns(outside.outside_constant, obj, names, repeat) - loop) / n
                    )
                    with recorder.lock:  # forget what was written: each name is seen for the first time again
                        recorder.seen.clear()
                    recorder.fetch_counts.clear()
                samples[f"{label} first sight"].append((_cpu_ns(tree.computed, obj, names, 1) - first_loop) / count)
                use(original_getattr)
        lines = [json.loads(line) for line in stream.open()]
    finally:
        builtins.getattr, builtins.vars = original_getattr, original_vars
        shutil.rmtree(work, ignore_errors=True)

    ns = {k: round(statistics.median(v), 1) for k, v in samples.items()}
    spread = {k: [round(min(v), 1), round(max(v), 1)] for k, v in samples.items()}
    return {
        "ns_per_call": ns,
        "min_max": spread,
        "ratio": {
            "constant": round(ns["stand-in constant"] / ns["builtin constant"], 2),
            "computed": round(ns["stand-in computed"] / ns["builtin computed"], 2),
            "outside": round(ns["stand-in outside"] / ns["builtin constant"], 2),
            "first sight": round(ns["stand-in first sight"] / ns["builtin first sight"], 2),
        },
        "calls_per_round": n,
        "names": count,
        "rounds": rounds,
        "stream_lines_after_warmup": written,
        "stream_lines": len(lines),
        "sites_written": sorted({line["getattr"] for line in lines if "getattr" in line}),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=9, help="rounds, builtin and stand-in alternated (median reported)")
    p.add_argument("--calls", type=int, default=200_000, help="getattr calls per timed loop")
    p.add_argument("--names", type=int, default=500, help="distinct computed names (under the 1,000 kept per site)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = p.parse_args(argv)
    if not 0 < args.names < pytest_plugin._FETCHES_KEPT:
        p.error(f"--names must be between 1 and {pytest_plugin._FETCHES_KEPT - 1}")
    before = load_average()
    report: dict[str, Any] = {
        "machine": cpu_model(),
        "python": platform.python_version(),
        "load_average_before": before,
        **measure(args.rounds, args.calls, args.names),
        "load_average_after": load_average(),
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    ns, ratio = report["ns_per_call"], report["ratio"]
    print(f"{report['machine']}, Python {report['python']}, load average {before} -> {report['load_average_after']}")
    print(f"{report['rounds']} rounds of {report['calls_per_round']:,} calls, {report['names']} computed names")
    print(f"{'calls':<34}{'builtin ns':>12}{'stand-in ns':>13}{'ratio':>8}")
    rows = (
        ("constant name, from the tree", "builtin constant", "stand-in constant", "constant"),
        ("computed names, from the tree", "builtin computed", "stand-in computed", "computed"),
        ("constant name, outside the tree", "builtin constant", "stand-in outside", "outside"),
        ("computed names, first sight", "builtin first sight", "stand-in first sight", "first sight"),
    )
    for label, base, wrapped, key in rows:
        print(f"{label:<34}{ns[base]:>12.1f}{ns[wrapped]:>13.1f}{ratio[key]:>7.2f}x")
    print(f"stream: {report['stream_lines']} lines, sites {', '.join(report['sites_written'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
