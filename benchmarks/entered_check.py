"""What narrowing selection by observed execution would give, and whether its premise holds (issue 17).

The idea measured: a test that statically reaches a changed function but whose recorded run (in the parent
tree) entered no changed function is left out, when only function bodies changed. This script records, at the
head of a history, the functions each test entered (``entered_probe.py``, a probe statement per function), then::

    python benchmarks/entered_check.py /work/bench/tk-history --python /work/bench/tk-venv/bin/python \\
        --isolate 60 --mutants 30 --commits 40 --out /tmp/tk-entered.json
    python benchmarks/entered_check.py /work/bench/ma-history --python /work/bench/ma-venv/bin/python \\
        --pythonpath src --isolate 40 --mutants 30 --force-mutant \\
        src/marshmallow/validate.py::URL.RegexMemoizer._regex_generator --out /tmp/ma-entered.json

- **cost**: the suite's CPU without and with the probes (``--repeat`` runs each, the least kept), the probes run
  (``entries``, a counting run), the instrumenting compilation and the per-test bookkeeping;
- **isolate**: a sample of tests run alone, each: a function it enters alone but not in the whole suite is one
  whose result an earlier test left in shared state (a memo, a cache) — the premise's weak point;
- **mutants**: one function body of the package made to raise (or return None) at its start, the suite run:
  every new failure must be a test that entered the function (or code nested in it) in the recorded run, or the
  function ran outside any test ("missed" otherwise); also with the *cumulative* rule (a test counts a function
  as entered once it ran anywhere in the process before the test ended), sound against any state left in the
  process, at a large cost in narrowing;
- **commits**: for each of the last N commits changing only function bodies (no header, docstring, generator,
  module or class code, added or removed definition), how many tests entered a changed function (per test and
  cumulative): an approximation (the record is at the head, not at each parent).

Works on a temporary clone of the repository (its files are changed for the mutants, then restored).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
_PYTEST = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-rfE", "--tb=no"]
_TIMEOUT_S = 240


def _run(clone: Path, args: argparse.Namespace, *extra: str, probe: bool, env: dict[str, str] | None = None) -> Any:
    """Run the suite (or ``extra``) in the clone; (failed ids, CPU seconds of the run)."""
    paths = [str(HERE)] if probe else []
    paths += [str(clone / p) for p in args.pythonpath]
    full = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), **(env or {}))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = [args.python, *_PYTEST, *(["-p", "entered_probe"] if probe else []), *extra]
    try:
        result = subprocess.run(command, cwd=clone, env=full, capture_output=True, text=True, timeout=_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, 0.0, "timed out"
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    failed = {
        line.split(" ", 1)[1].split(" - ")[0].strip()
        for line in result.stdout.splitlines()
        if line.startswith(("FAILED ", "ERROR "))
    }
    return failed, cpu, (result.stdout.strip().splitlines() or [""])[-1]


def _hit(names: set[str], function: str) -> bool:
    return function in names or any(n.startswith(function + ".<locals>.") for n in names)


def _covered(test: str, selected: set[str]) -> bool:
    """A failing id is covered by the selected tests: itself, its parametrised base, or (a file's collection
    error) any test of the file."""
    if "::" not in test:
        return any(s.startswith(test + "::") for s in selected)
    return test in selected or test.split("[")[0] in {s.split("[")[0] for s in selected}


def _functions(clone: Path, files: list[str]) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """(``path::qualname``, node) of every function of ``files`` that is not a generator or coroutine."""
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []

    def walk(node: ast.AST, path: str, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                walk(child, path, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                if not _suspends(child):
                    found.append((f"{path}::{prefix}{child.name}", child))
                walk(child, path, f"{prefix}{child.name}.<locals>.")

    for path in files:
        walk(ast.parse((clone / path).read_text()), path, "")
    return found


def _suspends(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A generator or coroutine: its body may resume in a later test, where its probe does not fire."""
    inner = (ast.Yield, ast.YieldFrom, ast.Await)
    return isinstance(node, ast.AsyncFunctionDef) or any(isinstance(n, inner) for n in ast.walk(node))


def _selected(record: dict[str, Any], functions: set[str]) -> tuple[set[str], set[str]]:
    """(tests that entered one of ``functions`` in the record, tests in whose process one ran by their end)."""
    order = list(record["tests"])
    if any(_hit(set(record["outside"]), f) for f in functions):
        return set(order), set(order)
    per = {t for t in order if any(_hit(set(record["tests"][t]), f) for f in functions)}
    first = min((i for i, t in enumerate(order) if t in per), default=len(order))
    return per, set(order[first:])


def cost(clone: Path, args: argparse.Namespace) -> dict[str, Any]:
    plain = min(_run(clone, args, probe=False)[1] for _ in range(args.repeat))
    probed = min(_run(clone, args, probe=True)[1] for _ in range(args.repeat))
    out = Path(tempfile.mkdtemp(prefix="entered-")) / "count.json"
    _run(clone, args, probe=True, env={"ENTERED_PROBE_COUNT": "1", "ENTERED_PROBE_OUT": str(out)})
    counted = json.loads(out.read_text())
    return {"plain_cpu_s": round(plain, 2), "probed_cpu_s": round(probed, 2), "entries": counted["entries"]}


def isolate(clone: Path, args: argparse.Namespace, record: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(args.seed)
    sample = rng.sample(sorted(record["tests"]), min(args.isolate, len(record["tests"])))
    hidden: dict[str, list[str]] = {}
    out = Path(tempfile.mkdtemp(prefix="entered-")) / "alone.json"
    for test in sample:
        _run(clone, args, test, probe=True, env={"ENTERED_PROBE_OUT": str(out)})
        alone = json.loads(out.read_text())
        if test not in alone["tests"]:
            continue
        more = set(alone["tests"][test]) - set(record["tests"][test]) - set(record["outside"])
        if more:
            hidden[test] = sorted(more)
            print(f"  alone, {test} enters {len(more)} more: {sorted(more)[:3]}", flush=True)
    return {"sampled": len(sample), "hidden": hidden}


def mutate(clone: Path, args: argparse.Namespace, record: dict[str, Any]) -> list[dict[str, Any]]:
    files = sorted({n.split("::")[0] for s in [*record["tests"].values(), record["outside"]] for n in s})
    entered = set(record["outside"]).union(*record["tests"].values())
    candidates = [(name, node) for name, node in _functions(clone, files) if name in entered]
    rng = random.Random(args.seed)
    forced = [c for c in candidates if c[0] in args.force_mutant]
    rest = [c for c in candidates if c[0] not in args.force_mutant]
    picked = forced + rng.sample(rest, max(0, min(args.mutants - len(forced), len(rest))))
    base, _, _ = _run(clone, args, probe=False)
    results = []
    for i, (name, node) in enumerate(picked):
        kind = "raise" if i % 2 == 0 else "return None"
        path = clone / name.split("::")[0]
        source = path.read_text()
        first = node.body[0]
        docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
        anchor = node.body[1] if docstring and len(node.body) > 1 else first
        lines = source.splitlines(keepends=True)
        statement = "raise RuntimeError('mutant')" if kind == "raise" else "return None"
        lines.insert(anchor.lineno - 1, " " * anchor.col_offset + statement + "\n")
        mutated = "".join(lines)
        if anchor.lineno <= node.lineno or not _parses(mutated):  # a one-line body (an overload's ``...``)
            continue
        path.write_text(mutated)
        try:
            failed, _, _ = _run(clone, args, probe=False)
        finally:
            path.write_text(source)
        if failed is None:  # a loop that no longer ends, say: nothing to compare
            print(f"  {name}: {kind} timed out", flush=True)
            continue
        new = failed - base
        per, cumulative = _selected(record, {name})
        result = {
            "function": name,
            "mutant": kind,
            "failed": len(new),
            "entered": len(per),
            "missed": sorted(t for t in new if not _covered(t, per)),
            "cumulative": len(cumulative),
            "missed_cumulative": sorted(t for t in new if not _covered(t, cumulative)),
        }
        print(f"  {json.dumps(result)[:300]}", flush=True)
        results.append(result)
    return results


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except SyntaxError:
        return False
    return True


def _defs(source: str) -> tuple[dict[str, ast.FunctionDef | ast.AsyncFunctionDef], list[str]]:
    """The functions of a module by qualname, and everything else it runs (module and class code, dumped)."""
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    rest: list[str] = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                functions[prefix + child.name] = child
            elif isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}{child.name}.")
                body = [
                    s for s in child.body if not isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                ]
                rest.append(ast.dump(ast.ClassDef(child.name, child.bases, child.keywords, body, child.decorator_list)))
            elif isinstance(child, ast.stmt) and isinstance(node, ast.Module):
                rest.append(ast.dump(child))

    walk(ast.parse(source), "")
    return functions, rest


def _header(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """What defining the function runs or shows without running it: name, arguments, decorators, returns, docstring."""
    doc = ast.get_docstring(node, clean=False)
    return ast.dump(
        ast.Tuple(
            [
                ast.Constant(node.name),
                node.args,
                *node.decorator_list,
                node.returns or ast.Constant(None),
                ast.Constant(doc),
            ],
            ast.Load(),
        )
    )


def commits(repo: Path, args: argparse.Namespace, record: dict[str, Any]) -> list[dict[str, Any]]:
    def git(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(repo), *a], capture_output=True, text=True)

    total = len(record["tests"])
    out = []
    for commit in reversed(git("log", "--format=%H", f"-{args.commits}").stdout.split()):
        names = [f for f in git("diff", "--name-only", f"{commit}^", commit).stdout.split() if f.endswith(".py")]
        why: list[str] = []
        changed: set[str] = set()
        test_modules = {path for path in names if _is_test_module(path)}  # their tests are kept, all of them
        for path in sorted(set(names) - test_modules):
            old, new = git("show", f"{commit}^:{path}"), git("show", f"{commit}:{path}")
            if old.returncode or new.returncode:
                why.append(f"{path} added or removed")
                continue
            (before, rest_before), (after, rest_after) = _defs(old.stdout), _defs(new.stdout)
            if rest_before != rest_after:
                why.append(f"module or class code of {path}")
            for qualname in sorted(set(before) | set(after)):
                a, b = before.get(qualname), after.get(qualname)
                if a is None or b is None:
                    why.append(f"{qualname} added or removed")
                elif ast.dump(a) == ast.dump(b):
                    continue
                elif _header(a) != _header(b):
                    why.append(f"header or docstring of {qualname}")
                elif _suspends(a) or _suspends(b):
                    why.append(f"{qualname} is a generator or coroutine")
                else:
                    changed.add(f"{path}::{qualname}")
        row: dict[str, Any] = {"commit": commit[:12], "changed": sorted(changed), "test_modules": sorted(test_modules)}
        if not names:
            row["not_narrowable"] = "no Python file"
        elif why or not changed:
            row["not_narrowable"] = "; ".join(why[:3]) or "test modules only"
        else:
            per, cumulative = _selected(record, changed)
            kept = {t for t in record["tests"] if t.split("::")[0] in test_modules}
            row.update(entered=len(per | kept), cumulative=len(cumulative | kept), total=total)
        print(f"  {json.dumps(row)[:300]}", flush=True)
        out.append(row)
    return out


def _is_test_module(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("repo", type=Path)
    parser.add_argument("--python", required=True, help="the interpreter of an environment with the project's tests")
    parser.add_argument("--pythonpath", nargs="*", default=[], help="paths of the clone to import from (src)")
    parser.add_argument("--repeat", type=int, default=0, help="cost: runs of the suite without and with probes")
    parser.add_argument("--isolate", type=int, default=0, help="tests to run alone")
    parser.add_argument("--mutants", type=int, default=0)
    parser.add_argument("--force-mutant", nargs="*", default=[], help="functions (path::qualname) to mutate first")
    parser.add_argument("--commits", type=int, default=0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--record", type=Path, help="a record entered_probe.py made at the head (not run again)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    clone = Path(tempfile.mkdtemp(prefix="entered-clone-")) / "repo"
    subprocess.run(["git", "clone", "-q", str(args.repo.resolve()), str(clone)], check=True)
    recorded = args.record or Path(tempfile.mkdtemp(prefix="entered-")) / "record.json"
    failed, cpu, summary = set(), 0.0, "(recorded before)"
    if args.record is None:
        failed, cpu, summary = _run(clone, args, probe=True, env={"ENTERED_PROBE_OUT": str(recorded)})
    record = json.loads(recorded.read_text())
    report: dict[str, Any] = {
        "summary": summary,
        "failed": sorted(failed),
        "functions": record["functions"],
        "tests": len(record["tests"]),
        "outside": len(record["outside"]),
        "compile_s": record["compile_s"],
        "record_s": record["record_s"],
        "find_s": record.get("find_s"),
        "probed_cpu_s": round(cpu, 2),
    }
    print(json.dumps(report)[:400], flush=True)
    if args.repeat:
        report["cost"] = cost(clone, args)
        print(json.dumps(report["cost"]), flush=True)
    if args.isolate:
        report["isolate"] = isolate(clone, args, record)
        print(f"isolate: {len(report['isolate']['hidden'])} of {report['isolate']['sampled']} enter more alone")
    if args.mutants:
        report["mutants"] = mutate(clone, args, record)
        rows = report["mutants"]
        print(
            f"mutants: {len(rows)}, {sum(1 for r in rows if r['failed'])} with a failure; missed (per test) "
            f"{sum(len(r['missed']) for r in rows)} tests in {sum(1 for r in rows if r['missed'])} mutants; "
            f"missed (cumulative) {sum(len(r['missed_cumulative']) for r in rows)}"
        )
    if args.commits:
        report["commits"] = commits(args.repo.resolve(), args, record)
    args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
