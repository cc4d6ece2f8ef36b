"""Benchmark: cold entity extraction (issue 13), this tree against another revision, and their identity.

Corpus: the Python standard library's modules (``bench_semantic_diff.corpus()``).
Cold: ``extract_entities(path, content)`` with no cache, every file once per
round (parse + walk + entities); the bare tree-sitter parse of the same files
and a bare cursor walk over each tree (every node visited, every token sliced,
nothing else: what any walk written in Python pays) are timed in the same
process. Goal (issue 13): >= 250,000 lines/s on one core.

Each round runs in its own process; with ``--against REV`` the rounds
alternate between that revision (its ``trellis/`` from ``git archive``) and
this tree, so both see the same load. CPU is the process time of the
extraction alone; the machine's load average is printed with every round.

``--check REV`` compares the output instead: every field of every entity that
``extract_entities`` returns, and every field of the records and cores behind
them, on the stdlib corpus plus every file of a supported language under the
``--extra`` directories (e.g. ``../shared/data/merge-scenarios``) and 3,000
generated Python sources (random nesting, decorators, comments, docstrings,
strings, line continuations; seeded), old vs new. Exit 1 on any difference.

``--parallel`` measures cold extraction across worker processes (``semantic_diff.extract_many`` with an
``ExtractionPool`` of ``--processes`` workers, default: the usable cores) against the in-process loop, in
the same process, rounds alternating: wall-clock lines/s of both, their CPU (the pool's: the caller's plus
its workers', start-up and shutdown included: each round starts a pool and closes it), the number of
processes, and the ratio. The parallel output is checked equal to the serial one.

``--import REPO`` times whole ``trellis import`` processes of REPO (a git repository or bundle, e.g.
``../shared/data/repos/attrs.bundle``; ``stdlib``: a repository whose one commit adds the corpus, a tree's first
import) with ``--workers N`` (default: the CLI's), this tree against ``--against REV``, rounds alternating: wall,
CPU (the process and its workers), the load, and the entity changes each found (they must be equal).

Run: ``python benchmarks/bench_extract.py [--against REV] [--rounds N]``,
``python benchmarks/bench_extract.py --check REV [--extra DIR ...]``,
``python benchmarks/bench_extract.py --parallel [--processes N] [--rounds N]``,
``python benchmarks/bench_extract.py --import REPO|stdlib --against REV [--workers N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from measure import timed

ROOT = Path(__file__).resolve().parent.parent


_PIECES = (
    "x = 1\n",
    "# a comment\n",
    "'''loose string'''\n",
    '"""Doc.\n\n    indented\n    """\n',
    "y = (1 +  # inside\n     2)\n",
    "z = 1 + \\\n    2\n",
    "s = f'{x!r:>{w}} {y}' + rb'\\d' + 'a' 'b'\n",
    "t = '''multi\nline'''\n",
    "@decorator\n",
    "@dec.attr(1, k=[2])  # deco comment\n",
    "def {name}(a, /, b: int = 2, *args, c, **kw) -> 'R':\n",
    "async def {name}(self, x=lambda q: q):\n",
    "def {name}[T](x: T) -> T:  # typed\n",
    "def {name}(\n    a,  # first\n    b,\n):\n",
    "class {name}(Base, metaclass=M):\n",
    "class {name}:\n",
    "if x:\n",
    "match x:\n    case [1, *rest]:\n        pass\n",
    "for i in range(3):  # loop\n",
    "return x\n",
    "pass\n",
    "...\n",
    "\n",
    "  \n",
    "global g\n",
    "x = [\n",  # unclosed: some files do not parse
)


def _generated(seed: int, count: int) -> list[tuple[str, bytes]]:
    """Python sources made of random statements, nesting, comments, decorators and docstrings
    (seeded: both trees of a check see the same files). Some do not parse: their fallback is
    compared too."""
    import random

    rng = random.Random(seed)
    out = []
    for k in range(count):
        lines: list[str] = []
        depth = 0
        for _ in range(rng.randint(1, 60)):
            piece = rng.choice(_PIECES[:-1] if rng.random() < 0.98 else _PIECES)
            if piece.startswith("@"):  # a decorator decorates
                piece += rng.choice([p for p in _PIECES if p.startswith(("def", "async", "class"))])
            piece = piece.replace("{name}", f"n{rng.randint(0, 5)}")
            indent = "    " * depth
            lines.extend(indent + line if line.strip() else line for line in piece.splitlines(keepends=True))
            if piece.rstrip().endswith(":") and not piece.startswith("match"):
                depth += 1
                if rng.random() < 0.5:
                    lines.append("    " * depth + rng.choice(("'''Doc.'''\n", "# c\n", "\"d\" 'e'\n", "r'''x'''\n")))
            elif depth and rng.random() < 0.3:
                depth -= rng.randint(1, depth)
        while depth:
            depth -= 1
            lines.append("    " * depth + "    pass\n")
        out.append((f"gen/m{k}.py", "".join(lines).encode()))
    return out


def _files(extra: list[str]) -> list[tuple[str, bytes]]:
    from bench_semantic_diff import corpus

    files = corpus()
    from trellis.semantic_diff.languages.registry import spec_for

    for d in extra:
        for p in sorted(Path(d).rglob("*")):
            if p.is_file() and spec_for(p.name) is not None:
                files.append((str(p.relative_to(d)), p.read_bytes()))
    return files


def _bare_walk(tree: Any, content: bytes) -> list[bytes]:
    """What any walk written in Python pays at least: visit every node with a cursor, read its
    kind, slice every token. No entities, no buckets, no hashes."""
    cursor = tree.walk()
    tokens: list[bytes] = []
    seen = bytearray(65536)  # as a walk's table of what each kind is
    while True:
        node = cursor.node
        seen[node.kind_id] = 1
        if cursor.goto_first_child():
            continue
        start, end = node.start_byte, node.end_byte
        if end > start:
            tokens.append(content[start:end])
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return tokens


def _measure() -> dict[str, float]:
    from trellis.semantic_diff import extract_entities
    from trellis.semantic_diff.languages.registry import parser_for, spec_for

    files = _files([])
    parser = parser_for(spec_for("x.py"))  # type: ignore[arg-type]
    lines = sum(d.count(b"\n") for _, d in files)
    extract_entities(*files[0])  # grammar and tables loaded outside the timing
    t_ts = t_sem = c_sem = c_bare = 0.0
    for path, data in files:
        c0 = time.process_time()
        tree = parser.parse(data)
        t_ts += time.process_time() - c0
        c_bare += timed(_bare_walk, tree, data)[1]
        wall, cpu = timed(extract_entities, path, data)
        t_sem += wall
        c_sem += cpu
    return {
        "files": len(files),
        "lines": lines,
        "wall": lines / t_sem,
        "cpu": lines / c_sem,
        "parse": lines / t_ts,
        "bare_walk_s": c_bare,
        "extract_s": c_sem,
        "parse_s": t_ts,
        "load": os.getloadavg()[0],
    }


def _measure_parallel(processes: int, rounds: int) -> list[dict[str, float]]:
    """Rounds of (in-process loop, pool of ``processes``), alternating, in this process."""
    import resource

    from trellis.semantic_diff import extract_entities
    from trellis.semantic_diff.pool import ExtractionPool, extract_many

    files = _files([])
    lines = sum(d.count(b"\n") for _, d in files)
    serial_out = [extract_entities(p, d) for p, d in files]  # warm: grammar, tables, the files' pages
    out = []
    for r in range(rounds):
        for mode in ("serial", "parallel") if r % 2 == 0 else ("parallel", "serial"):
            kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0, c0 = time.perf_counter(), time.process_time()
            method = ""
            if mode == "serial":
                got = [extract_entities(p, d) for p, d in files]
                n = 1
            else:
                with ExtractionPool(processes or None) as pool:
                    got = extract_many(files, pool=pool)
                    method, n = pool.start_method, pool.workers
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            workers_cpu = (kids1.ru_utime - kids0.ru_utime) + (kids1.ru_stime - kids0.ru_stime)
            if got != serial_out:
                raise SystemExit(f"round {r + 1}: the {mode} output differs from the in-process output")
            out.append(
                {
                    "round": r + 1,
                    "mode": mode,
                    "processes": n,
                    "start": method,
                    "files": len(files),
                    "lines": lines,
                    "wall_s": wall,
                    "caller_cpu_s": cpu,
                    "workers_cpu_s": workers_cpu,
                    "load": os.getloadavg()[0],
                }
            )
    return out


def _report_parallel(rows: list[dict[str, Any]]) -> None:
    lines = rows[0]["lines"]
    for m in rows:
        cpu = m["caller_cpu_s"] + m["workers_cpu_s"]
        print(
            f"round {m['round']} {m['mode']:8} ({m['processes']} process{'es' if m['processes'] > 1 else ''}"
            f"{', ' + m['start'] if m['start'] else ''}): {lines / m['wall_s']:,.0f} lines/s wall, "
            f"{m['wall_s']:.2f} s wall, {cpu:.2f} s CPU ({m['caller_cpu_s']:.2f} caller + {m['workers_cpu_s']:.2f} "
            f"workers) = {lines / cpu:,.0f} lines per CPU second (load {m['load']:.2f})",
            flush=True,
        )
    if any(m["start"] not in ("", "fork") for m in rows):
        print("NOTE: some pools were not forked: their workers' CPU is not counted (a fork server reaps them).")
    by = {mode: [m for m in rows if m["mode"] == mode] for mode in ("serial", "parallel")}
    print(f"\n{rows[0]['files']} stdlib modules, {lines:,} lines, {len(by['serial'])} rounds of each, alternating.\n")
    print("| path | processes | lines/s wall (median) | wall s | CPU s (median) | lines per CPU second | load |")
    print("|---|---|---|---|---|---|---|")
    med: dict[str, float] = {}
    for mode, ms in by.items():
        wall = statistics.median(m["wall_s"] for m in ms)
        cpu = statistics.median(m["caller_cpu_s"] + m["workers_cpu_s"] for m in ms)
        med[mode] = wall
        loads = [m["load"] for m in ms]
        print(
            f"| {mode} | {ms[0]['processes']} | {lines / wall:,.0f} | {wall:.2f} | {cpu:.2f} | {lines / cpu:,.0f} | "
            f"{min(loads):.1f}-{max(loads):.1f} |"
        )
    ratios = [s["wall_s"] / p["wall_s"] for s, p in zip(by["serial"], by["parallel"], strict=False)]
    print(
        f"\nparallel / serial, wall: {med['serial'] / med['parallel']:.2f}x (per round: "
        f"{', '.join(f'{x:.2f}' for x in ratios)})"
    )
    best = lines / med["parallel"]
    print(
        f"Goal (issue 13): >= 250,000 lines/s cold: {best:,.0f} lines/s wall with {by['parallel'][0]['processes']} processes"
    )


def _import_source(spec: str, into: Path) -> Path:
    """A git repository to import: ``stdlib`` (one commit adding the corpus), else a bundle or repository cloned."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b"}
    env |= {"GIT_COMMITTER_EMAIL": "b@b", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z"}
    env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"]
    source = into / "source"
    if spec == "stdlib":
        from bench_semantic_diff import corpus

        source.mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main", str(source)], check=True, env=env)
        for rel, data in corpus():
            (source / "lib" / rel).parent.mkdir(parents=True, exist_ok=True)
            (source / "lib" / rel).write_bytes(data)
        subprocess.run(["git", "-C", str(source), "add", "-A"], check=True, env=env)
        subprocess.run(["git", "-C", str(source), "commit", "-qm", "the standard library"], check=True, env=env)
    else:
        subprocess.run(["git", "clone", "-q", "--mirror", spec, str(source)], check=True, env=env)
    return source


def _reap_descendants() -> None:
    """Wait for every process left to this one (a subreaper): a fork server outlives the process that started it
    for a moment, and its CPU (its workers') counts only once it is waited for."""
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


def _time_imports(spec: str, trees: list[tuple[str, str]], workers: int | None, rounds: int) -> None:
    import ctypes
    import resource

    from measure import installed_env

    # PR_SET_CHILD_SUBREAPER: orphaned descendants (a fork server and its workers) come to this process, so that
    # their CPU is counted in RUSAGE_CHILDREN once reaped.
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    env = installed_env()
    with tempfile.TemporaryDirectory() as tmp:
        source = _import_source(spec, Path(tmp))
        rows: dict[str, list[tuple[float, float, float, int]]] = {}
        for r in range(rounds):
            for name, root in trees if r % 2 == 0 else list(reversed(trees)):
                import compileall

                compileall.compile_dir(str(Path(root) / "trellis"), quiet=1)
                data = Path(tmp) / f"data-{r}-{len(rows.get(name, []))}-{name[:3]}"
                argv = [sys.executable, "-m", "trellis", "import", str(source), "--name", "x", "--data-dir", str(data)]
                argv += ["--json"] + (["--workers", str(workers)] if workers else [])
                load = os.getloadavg()[0]
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                done = subprocess.run(argv, capture_output=True, text=True, env={**env, "PYTHONPATH": root}, cwd=tmp)
                wall = time.perf_counter() - t0
                _reap_descendants()
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if done.returncode:
                    raise SystemExit(f"{name}: trellis import failed:\n{done.stderr}")
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                entities = json.loads(done.stdout)["stats"]["entity_changes_added"]
                rows.setdefault(name, []).append((wall, cpu, load, entities))
                print(
                    f"round {r + 1} {name}: {wall:.2f} s wall, {cpu:.2f} s CPU, {entities:,} entity changes "
                    f"(load before {load:.2f})",
                    flush=True,
                )
                shutil.rmtree(data, ignore_errors=True)
        print(f"\n`trellis import` of {spec}{f' --workers {workers}' if workers else ''}, {rounds} rounds per tree:\n")
        print("| tree | wall s (median, range) | CPU s (median) | entity changes | load |")
        print("|---|---|---|---|---|")
        for name, ms in rows.items():
            walls = [m[0] for m in ms]
            print(
                f"| {name} | {statistics.median(walls):.2f} ({min(walls):.2f}-{max(walls):.2f}) | "
                f"{statistics.median(m[1] for m in ms):.2f} | {ms[0][3]:,} | "
                f"{min(m[2] for m in ms):.1f}-{max(m[2] for m in ms):.1f} |"
            )
        counts = {m[3] for ms in rows.values() for m in ms}
        if len(counts) > 1:
            raise SystemExit(f"the trees found different numbers of entity changes: {sorted(counts)}")


def _digest(extra: list[str]) -> dict[str, str]:
    """path -> digest of everything extract_entities returns and the records behind it."""
    import dataclasses

    from trellis.semantic_diff import extract_entities
    from trellis.semantic_diff.parse import analyze

    out: dict[str, str] = {}
    for i, (path, data) in enumerate(_files(extra) + _generated(13, 3000)):
        pf = extract_entities(path, data)
        parsed = analyze(path, data)
        recs = []
        for r in parsed.records:
            c = r.core
            core = tuple(getattr(c, s) for s in type(c).__slots__) if c is not None else None
            recs.append((core, tuple(getattr(r, s) for s in type(r).__slots__ if s != "core")))
        # repr, not pickle: pickle's output depends on which equal strings are one object
        blob = repr((dataclasses.astuple(pf), parsed.fallback_reason, recs)).encode()
        out[f"{i}:{path}"] = f"{len(pf.entities)}:{hashlib.sha256(blob).hexdigest()}"
    return out


def _tree_of(rev: str, into: str) -> str:
    archive = subprocess.run(["git", "archive", rev, "trellis"], cwd=ROOT, check=True, capture_output=True).stdout
    tar = Path(into) / "t.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(into, filter="data")
    return into


def _run(root: str, mode: str, extra: list[str]) -> dict:  # type: ignore[type-arg]
    cmd = [sys.executable, __file__, "--worker", mode, "--root", root] + [a for d in extra for a in ("--extra", d)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", help="a git revision to measure alternately with this tree")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per tree")
    ap.add_argument("--check", metavar="REV", help="compare the output with REV's instead of timing")
    ap.add_argument("--extra", action="append", default=[], help="with --check: more files (every language)")
    ap.add_argument("--parallel", action="store_true", help="the pool against the in-process loop, same process")
    ap.add_argument("--processes", type=int, help="with --parallel: worker processes (default: the usable cores)")
    ap.add_argument("--import", dest="import_", metavar="REPO", help="time trellis import of REPO (or stdlib)")
    ap.add_argument("--workers", type=int, help="with --import: trellis import --workers N")
    ap.add_argument("--worker", choices=("measure", "digest"), help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        sys.path.insert(0, args.root)
        result = _measure() if args.worker == "measure" else _digest(args.extra)
        print(json.dumps(result))
        return 0
    here = str(ROOT)
    if args.parallel:
        sys.path.insert(0, here)
        _report_parallel(_measure_parallel(args.processes or 0, args.rounds))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        if args.import_:
            trees = [("new", here)]
            if args.against:
                trees.insert(0, (f"old ({args.against})", _tree_of(args.against, tmp)))
            _time_imports(args.import_, trees, args.workers, args.rounds)
            return 0
        if args.check:
            old = _run(_tree_of(args.check, tmp), "digest", args.extra)
            new = _run(here, "digest", args.extra)
            differ = sorted(p for p in old.keys() | new.keys() if old.get(p) != new.get(p))
            entities = sum(int(v.split(":")[0]) for v in new.values())
            print(f"{len(new)} files, {entities:,} entities: {len(differ)} differ from {args.check}")
            for p in differ[:20]:
                print("  ", p, old.get(p), new.get(p))
            return 1 if differ else 0
        trees = [("new", here)]
        if args.against:
            trees.insert(0, (f"old ({args.against})", _tree_of(args.against, tmp)))
        rows: dict[str, list[dict[str, float]]] = {}
        for r in range(args.rounds):
            for name, root in trees:
                m = _run(root, "measure", [])
                rows.setdefault(name, []).append(m)
                print(
                    f"round {r + 1} {name}: {m['cpu']:,.0f} lines per CPU second, {m['wall']:,.0f} lines/s wall, "
                    f"bare parse {m['parse']:,.0f} lines per CPU second (load {m['load']:.2f})",
                    flush=True,
                )
        m0 = rows["new"][0]
        print(f"\n{m0['files']:.0f} stdlib modules, {m0['lines']:,.0f} lines, {args.rounds} rounds per tree.\n")
        parse_s = statistics.median(m["parse_s"] for ms in rows.values() for m in ms)
        bare_s = statistics.median(m["bare_walk_s"] for ms in rows.values() for m in ms)
        print(
            f"Ceiling of a walk written in Python: the bare parse ({parse_s:.2f} s of CPU) plus a bare cursor walk that "
            f"visits every node and slices every token ({bare_s:.2f} s of CPU) = "
            f"{m0['lines'] / (parse_s + bare_s):,.0f} lines/s, before any entity, bucket or hash.\n"
        )
        print(
            "| tree | lines per CPU second (median) | lines/s wall (median) | bare parse, lines per CPU second (median) | load |"
        )
        print("|---|---|---|---|---|")
        for name, ms in rows.items():
            loads = [m["load"] for m in ms]
            print(
                f"| {name} | {statistics.median(m['cpu'] for m in ms):,.0f} | "
                f"{statistics.median(m['wall'] for m in ms):,.0f} | {statistics.median(m['parse'] for m in ms):,.0f} | "
                f"{min(loads):.1f}-{max(loads):.1f} |"
            )
        if args.against:
            ratio = statistics.median(m["cpu"] for m in rows["new"]) / statistics.median(
                m["cpu"] for m in rows[trees[0][0]]
            )
            print(f"\nnew / old (CPU): {ratio:.2f}x")
        best = statistics.median(m["cpu"] for m in rows["new"])
        print(f"Goal (issue 13): >= 250,000 lines/s cold on one core: {'met' if best >= 250_000 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
