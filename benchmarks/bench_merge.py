"""Benchmark: structured three-way merge (``merge_files``) vs ``git merge-file`` on real code.

Corpus: the Python standard library's own modules (present on every machine),
~200 picked deterministically. On each, two sides make independent edits, as
two agents working on the same file would:

  append         both append a different new function at the end of the module
  body_vs_add    one edits a function body; the other adds a function right after it
  imports        one reorders two imports and adds one; the other adds another
                 import at the same place and edits a method
  move_vs_edit   one moves a top-level function to the end of the module; the other
                 edits the definition that followed it
  rename_vs_edit one renames a function; the other edits that function's body
  same_line      control: both change the same statement differently (a real conflict)

Every edit is a line edit of the base, so the *ideal* merge is both sides'
edits applied to the base. A merge is **correct** when it is clean, parses
with Python's own ``ast``, and has the ideal's definitions (every function and
class, by qualified name, compared as ``ast.dump``) and top-level statements
(as a multiset: the order of imports added on both sides is free). For
``same_line`` the correct answer is a conflict.

Timed: ``merge_files(path, base, left, right)`` in-process, and ``git merge-file
-p`` on the same three files (a subprocess: the way git runs a merge; the
files are written beforehand). Goal (issue 7): Trellis p50 <= 20 ms per file.

Run: ``python benchmarks/bench_merge.py [--quick] [--files N] [--seed N]``.
Prints a Markdown section (append it to benchmarks/RESULTS.md).

Corpus mode, ``--corpus DIR [--language L] [--out FILE]``: real merge scenarios
(a folder like ``../shared/data/merge-scenarios``: ``index.jsonl`` and
``<language>/<id>/{Base,Left,Right,Expected}.<ext>``, Left being CURRENT and
Right OTHER). Each is merged by Trellis and by ``git merge-file -p``, and the
result compared with Expected, the file the maintainers committed: clean and
equal ignoring whitespace, clean and byte-exact, conflicts, clean but
different, clean results that do not parse (tree-sitter, the language's
grammar), and time per file, per language. ``--out`` writes one JSON line per
scenario (both tools' outcome) for looking at the failures. Expected can hold
the maintainers' own extra edits, so no tool reaches 100% there.
"""

from __future__ import annotations

import argparse
import ast
import json
import platform
import random
import re
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from measure import cpu_model, pct  # noqa: E402

from trellis.semantic_diff import merge_files  # noqa: E402

SKIP_PARTS = {"test", "tests", "site-packages", "idlelib", "lib2to3", "__pycache__", "turtledemo"}

Op = tuple[int, int, list[bytes]]  # (line index, lines replaced, new lines)


@dataclass
class Case:
    scenario: str
    path: str
    base: bytes
    left: bytes
    right: bytes
    ideal: bytes | None  # None: the right answer is a conflict


@dataclass
class Outcome:
    clean: bool = False
    correct: bool = False
    wrong: bool = False  # clean but not the ideal: a silently wrong merge
    conflicts: int = 0
    strategy: str = ""
    ms: float = 0.0
    cpu_ms: float = 0.0  # this process's CPU time (Trellis only): steadier on a busy machine


@dataclass
class Row:
    n: int = 0
    trellis: list[Outcome] = field(default_factory=list)
    git: list[Outcome] = field(default_factory=list)


# --- corpus and edits ------------------------------------------------------------------------


def corpus() -> list[tuple[str, bytes]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root)
        if SKIP_PARTS & set(rel.parts) or rel.name.startswith("_sysconfigdata"):
            continue
        try:
            data = p.read_bytes()
            ast.parse(data)
        except (OSError, SyntaxError, ValueError):
            continue
        lines = data.count(b"\n")
        if 80 <= lines <= 4000 and b"\r" not in data:
            files.append((str(rel), data))
    return files


def apply(lines: list[bytes], ops: list[Op]) -> bytes:
    """Apply line edits (left's first at equal positions), from the end so indexes stay valid."""
    out = list(lines)
    for i, n, new in sorted(ops, key=lambda op: op[0], reverse=True):
        out[i : i + n] = new
    return b"".join(out)


def _defs(
    tree: ast.Module,
) -> tuple[list[ast.FunctionDef | ast.AsyncFunctionDef], list[ast.FunctionDef | ast.AsyncFunctionDef]]:
    top = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    methods = [
        m
        for c in tree.body
        if isinstance(c, ast.ClassDef)
        for m in c.body
        if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    return top, methods


def _start(node: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators]) - 1


def _statement_after(fn: ast.FunctionDef | ast.AsyncFunctionDef, k: int, text: bytes) -> Op | None:
    stmt = fn.body[k]
    if stmt.end_lineno is None or isinstance(stmt, (ast.If, ast.For, ast.While, ast.With, ast.Try)) and k == 0:
        return None
    indent = b" " * fn.body[0].col_offset
    return stmt.end_lineno, 0, [indent + text + b"\n"]


def _editable(
    fns: list[ast.FunctionDef | ast.AsyncFunctionDef], min_body: int = 2
) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [
        f
        for f in fns
        if len(f.body) >= min_body
        and f.body[0].lineno > f.lineno
        and f.end_lineno is not None
        and f.end_lineno - f.lineno >= 3
    ]


def _ends_with_newline(lines: list[bytes]) -> list[Op]:
    return [] if lines[-1].endswith(b"\n") else [(len(lines) - 1, 1, [lines[-1] + b"\n"])]


def s_append(lines: list[bytes], tree: ast.Module, rng: random.Random) -> tuple[list[Op], list[Op]] | None:
    fix = _ends_with_newline(lines)
    end = len(lines)
    left = [(end, 0, [b"\n", b"\n", b"def _bench_left_helper(value):\n", b"    return value * 2\n"])]
    right = [(end, 0, [b"\n", b"\n", b"def _bench_right_helper(value):\n", b"    return value + 3\n"])]
    return fix + left, right


def s_body_vs_add(lines: list[bytes], tree: ast.Module, rng: random.Random) -> tuple[list[Op], list[Op]] | None:
    top, methods = _defs(tree)
    cands = _editable(top + methods)
    if not cands:
        return None
    f = rng.choice(cands)
    edit = _statement_after(f, 0, b"_bench_marker = len(())")
    if edit is None or f.end_lineno is None:
        return None
    pad = b" " * f.col_offset
    self_ = b"self, " if f in methods else b""
    add = (
        f.end_lineno,
        0,
        [
            b"\n" * (1 if f in methods else 2),
            pad + b"def _bench_added(" + self_ + b"value):\n",
            pad + b"    return value\n",
        ],
    )
    if f.end_lineno < len(lines) and lines[f.end_lineno].strip():
        add[2].append(b"\n")
    return [edit], [add]


def _import_block(tree: ast.Module) -> list[ast.stmt]:
    block: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) and node.end_lineno == node.lineno:
            block.append(node)
        elif block:
            break
    return block


def s_imports(lines: list[bytes], tree: ast.Module, rng: random.Random) -> tuple[list[Op], list[Op]] | None:
    block = [n for n in _import_block(tree) if not (isinstance(n, ast.ImportFrom) and n.module == "__future__")]
    _, methods = _defs(tree)
    cands = [m for m in _editable(methods) if block and m.lineno > block[-1].lineno]
    if len(block) < 2 or not cands:
        return None
    pairs = [(a, b) for a, b in zip(block, block[1:]) if b.lineno == a.lineno + 1]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    after = block[-1].lineno  # insert after the last import of the block
    left: list[Op] = [(a.lineno - 1, 2, [lines[b.lineno - 1], lines[a.lineno - 1]])]
    if after == b.lineno:  # the swap covers the insertion point: insert within it
        left = [(a.lineno - 1, 2, [lines[b.lineno - 1], lines[a.lineno - 1], b"import _bench_left_mod\n"])]
    else:
        left.append((after, 0, [b"import _bench_left_mod\n"]))
    edit = _statement_after(rng.choice(cands), 0, b"_bench_marker = len(())")
    if edit is None:
        return None
    return left, [(after, 0, [b"import _bench_right_mod\n"]), edit]


def s_move_vs_edit(lines: list[bytes], tree: ast.Module, rng: random.Random) -> tuple[list[Op], list[Op]] | None:
    body = tree.body
    cands = []
    for k, node in enumerate(body[:-1]):
        nxt = body[k + 1]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno:
            target = nxt if isinstance(nxt, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
            if isinstance(nxt, ast.ClassDef):
                target = next((m for m in nxt.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
            if target is not None and _editable([target]) and node.end_lineno < _start(nxt):
                cands.append((node, target))
    if not cands:
        return None
    f, g = rng.choice(cands)
    start, end = _start(f), f.end_lineno or 0
    # the function and the blank lines after it (up to the next definition) move together
    stop = end
    while stop < len(lines) and not lines[stop].strip():
        stop += 1
    block = lines[start:end]
    fix = _ends_with_newline(lines)
    left = fix + [(start, stop - start, []), (len(lines), 0, [b"\n", b"\n"] + block)]
    edit = _statement_after(g, len(g.body) - 1 if len(g.body) > 1 else 0, b"_bench_marker = len(())")
    if edit is None:
        return None
    return left, [edit]


def s_rename_vs_edit(lines: list[bytes], tree: ast.Module, rng: random.Random) -> tuple[list[Op], list[Op]] | None:
    top, methods = _defs(tree)
    cands = [f for f in _editable(top + methods, 3) if not f.name.startswith("__")]
    if not cands:
        return None
    f = rng.choice(cands)
    i = f.lineno - 1
    needle = b"def " + f.name.encode() + b"("
    if needle not in lines[i]:
        return None
    rename = (i, 1, [lines[i].replace(needle, b"def " + f.name.encode() + b"_renamed(", 1)])
    edit = _statement_after(f, len(f.body) - 2, b"_bench_marker = len(())")
    if edit is None or edit[0] <= i + 1:
        return None
    return [rename], [edit]


def s_same_line(lines: list[bytes], tree: ast.Module, rng: random.Random) -> tuple[list[Op], list[Op]] | None:
    top, methods = _defs(tree)
    cands = [
        f
        for f in _editable(top + methods)
        if isinstance(f.body[-1], ast.Return)
        and f.body[-1].lineno == f.body[-1].end_lineno
        and f.body[-1].value is not None
    ]
    if not cands:
        return None
    ret = rng.choice(cands).body[-1]
    i = ret.lineno - 1
    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
    return [(i, 1, [indent + b"return None  # left\n"])], [(i, 1, [indent + b"return 0  # right\n"])]


SCENARIOS: dict[str, Callable[[list[bytes], ast.Module, random.Random], tuple[list[Op], list[Op]] | None]] = {
    "append": s_append,
    "body_vs_add": s_body_vs_add,
    "imports": s_imports,
    "move_vs_edit": s_move_vs_edit,
    "rename_vs_edit": s_rename_vs_edit,
    "same_line": s_same_line,
}


def make_cases(files: list[tuple[str, bytes]], rng: random.Random) -> list[Case]:
    cases = []
    for path, data in files:
        lines = data.splitlines(keepends=True)
        tree = ast.parse(data)
        for name, build in SCENARIOS.items():
            ops = build(lines, tree, rng)
            if ops is None:
                continue
            left_ops, right_ops = ops
            left, right = apply(lines, left_ops), apply(lines, right_ops)
            ideal = None if name == "same_line" else apply(lines, left_ops + right_ops)
            try:
                ast.parse(left)
                ast.parse(right)
                if ideal is not None:
                    ast.parse(ideal)
            except SyntaxError:
                continue  # an edit the generator got wrong for this file: skip it
            cases.append(Case(name, path, data, left, right, ideal))
    return cases


# --- judging ------------------------------------------------------------------------------


def shape(source: bytes) -> Counter[tuple[str, str]] | None:
    """Definitions (qualified name -> ast.dump, a class without its methods) and top-level
    statements, as a multiset; None when the text does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    out: Counter[tuple[str, str]] = Counter()
    stack: list[tuple[str, list[ast.stmt]]] = [("", tree.body)]
    while stack:
        prefix, body = stack.pop()
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                q = f"{prefix}{node.name}"
                if isinstance(node, ast.ClassDef):
                    own = [
                        n for n in node.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    ]
                    out[
                        (q, ast.dump(ast.ClassDef(node.name, node.bases, node.keywords, own, node.decorator_list)))
                    ] += 1
                    stack.append((q + ".", node.body))
                else:
                    out[(q, ast.dump(node))] += 1
            elif not prefix:
                out[("<module>", ast.dump(node))] += 1
    return out


def judge(case: Case, clean: bool, content: bytes) -> tuple[bool, bool]:
    """(correct, wrong): wrong is a clean merge that is not the ideal one."""
    if case.ideal is None:
        return not clean, clean
    if not clean:
        return False, False
    got = shape(content)
    ok = got is not None and got == shape(case.ideal)
    return ok, not ok


def run_trellis(case: Case) -> Outcome:
    c0, t0 = time.process_time(), time.perf_counter()
    result = merge_files(case.path, case.base, case.left, case.right)
    ms = (time.perf_counter() - t0) * 1000
    cpu = (time.process_time() - c0) * 1000
    correct, wrong = judge(case, result.clean, result.content or b"")
    return Outcome(result.clean, correct, wrong, len(result.conflicts), result.strategy, ms, cpu)


def run_git(case: Case, tmp: Path) -> Outcome:
    names = [tmp / "current.py", tmp / "base.py", tmp / "other.py"]
    for p, data in zip(names, (case.left, case.base, case.right)):
        p.write_bytes(data)
    t0 = time.perf_counter()
    done = subprocess.run(["git", "merge-file", "-p", *map(str, names)], capture_output=True)
    ms = (time.perf_counter() - t0) * 1000
    clean = done.returncode == 0
    correct, wrong = judge(case, clean, done.stdout)
    return Outcome(clean, correct, wrong, max(done.returncode, 0), "line", ms)


# --- report ---------------------------------------------------------------------------------


def share(outcomes: list[Outcome], what: Callable[[Outcome], bool]) -> str:
    return f"{100.0 * sum(1 for o in outcomes if what(o)) / max(1, len(outcomes)):.0f}%"


# --- corpus mode: real merge scenarios -----------------------------------------------------

_SPACE = re.compile(rb"\s+")


@dataclass
class Verdict:
    clean: bool
    equal_ws: bool
    exact: bool
    unparsable: bool
    conflicts: int
    ms: float
    strategy: str = ""
    reason: str = ""

    @property
    def different(self) -> bool:
        return self.clean and not self.equal_ws


def _parses(path: str, content: bytes) -> bool:
    from trellis.semantic_diff.parse import analyze  # noqa: PLC0415

    return analyze(path, content).fallback_reason != "parse_error"


def _verdict(
    path: str,
    clean: bool,
    content: bytes | None,
    expected: bytes,
    expected_parses: bool,
    ms: float,
    conflicts: int,
    strategy: str = "",
    reason: str = "",
) -> Verdict:
    """``unparsable``: clean, but does not parse where Expected does (where the grammar cannot parse
    the maintainers' own file, not parsing says nothing about the merge)."""
    got = content or b""
    equal_ws = clean and _SPACE.sub(b"", got) == _SPACE.sub(b"", expected)
    unparsable = clean and content is not None and expected_parses and not _parses(path, got)
    return Verdict(clean, equal_ws, clean and got == expected, unparsable, conflicts, ms, strategy, reason)


def _scenario_files(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in folder.iterdir() if p.stem in ("Base", "Left", "Right", "Expected")}


def corpus_main(root: Path, languages: set[str], out: Path | None) -> int:
    index = [json.loads(line) for line in (root / "index.jsonl").read_text().splitlines() if line.strip()]
    if languages:
        index = [row for row in index if row["language"] in languages]
    merge_files("warm.py", b"x = 1\n", b"x = 2\n", b"x = 1\ny = 1\n")
    results: dict[str, list[tuple[Verdict, Verdict]]] = {}
    sink = out.open("w") if out is not None else None
    unparsed_expected = 0
    cpu: list[float] = []
    for row in index:
        lang = row["language"]
        files = _scenario_files(root / lang / row["id"])
        base, left, right, expected = (files[k].read_bytes() for k in ("Base", "Left", "Right", "Expected"))
        path = row["path"]
        expected_parses = _parses(path, expected)
        unparsed_expected += not expected_parses
        c0, t0 = time.process_time(), time.perf_counter()
        m = merge_files(path, base, left, right, labels=("Left", "Base", "Right"))
        ms = (time.perf_counter() - t0) * 1000
        cpu.append((time.process_time() - c0) * 1000)
        tv = _verdict(
            path, m.clean, m.content, expected, expected_parses, ms, len(m.conflicts), m.strategy, m.fallback_reason
        )
        t0 = time.perf_counter()
        done = subprocess.run(
            ["git", "merge-file", "-p", str(files["Left"]), str(files["Base"]), str(files["Right"])],
            capture_output=True,
        )
        ms = (time.perf_counter() - t0) * 1000
        gv = _verdict(path, done.returncode == 0, done.stdout, expected, expected_parses, ms, max(done.returncode, 0))
        results.setdefault(lang, []).append((tv, gv))
        if sink is not None:
            sink.write(
                json.dumps(
                    {
                        "id": row["id"],
                        "language": lang,
                        "path": path,
                        "expected_parses": expected_parses,
                        "trellis": _outcome(tv),
                        "git": _outcome(gv),
                        "trellis_conflicts": [c.qualname for c in m.conflicts],
                    }
                )
                + "\n"
            )
    if sink is not None:
        sink.close()
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print("## Structured merge on real merge scenarios (`benchmarks/bench_merge.py --corpus`)\n")
    print(
        f"Machine: {cpu_model()}, {__import__('os').cpu_count()} vCPU, Python {platform.python_version()}, "
        f"{git_version}. Corpus: {root.name}, {sum(len(v) for v in results.values())} scenarios.\n"
    )
    print(
        "Each cell: Trellis / git merge-file. *equal*: clean and equal to Expected ignoring whitespace; "
        "*exact*: byte for byte; *different*: clean but not equal; *unparsable*: clean but does not parse "
        "(counted where Expected parses: "
        f"{len(index) - unparsed_expected} of {len(index)}).\n"
    )
    print("| language | n | equal | exact | conflict | different | unparsable | p50 / p95 ms |")
    print("|---|---|---|---|---|---|---|---|")
    every: list[tuple[Verdict, Verdict]] = []
    for lang in sorted(results):
        rows = results[lang]
        every += rows
        print(_corpus_row(lang, rows))
    print(_corpus_row("**all**", every))
    te = sum(t.equal_ws for t, _ in every)
    ge = sum(g.equal_ws for _, g in every)
    worse = [
        lang for lang, rows in results.items() if sum(t.equal_ws for t, _ in rows) < sum(g.equal_ws for _, g in rows)
    ]
    strategies = Counter(f"{t.strategy}{'/' + t.reason if t.reason else ''}" for t, _ in every)
    print()
    print(
        f"- Equal to Expected (ignoring whitespace): Trellis {te}, git merge-file {ge} "
        f"({'more' if te > ge else 'not more'} overall; languages where Trellis is behind: {', '.join(worse) or 'none'})."
    )
    print(
        f"- Trellis clean but different: {sum(t.different for t, _ in every)}; git: {sum(g.different for _, g in every)}. "
        f"Unparsable clean results: Trellis {sum(t.unparsable for t, _ in every)}, git {sum(g.unparsable for _, g in every)}."
    )
    print(f"- Trellis strategies: {', '.join(f'{k} {v}' for k, v in sorted(strategies.items()))}.")
    print(
        f"- Trellis CPU time per file (process time): p50 {pct(cpu, 0.5):.1f} ms, p95 {pct(cpu, 0.95):.1f} ms. "
        f"Load average at the end: {', '.join(f'{x:.1f}' for x in __import__('os').getloadavg())}."
    )
    return 0


def _outcome(v: Verdict) -> str:
    if not v.clean:
        return "conflict"
    if v.unparsable:
        return "unparsable"
    return "exact" if v.exact else "equal" if v.equal_ws else "different"


def _corpus_row(name: str, rows: list[tuple[Verdict, Verdict]]) -> str:
    def pair(what: Callable[[Verdict], bool]) -> str:
        return f"{sum(what(t) for t, _ in rows)} / {sum(what(g) for _, g in rows)}"

    tm = [t.ms for t, _ in rows]
    gm = [g.ms for _, g in rows]
    return (
        f"| {name} | {len(rows)} | {pair(lambda v: v.equal_ws)} | {pair(lambda v: v.exact)} "
        f"| {pair(lambda v: not v.clean)} | {pair(lambda v: v.different)} | {pair(lambda v: v.unparsable)} "
        f"| {pct(tm, 0.5):.1f} / {pct(tm, 0.95):.1f} vs {pct(gm, 0.5):.1f} / {pct(gm, 0.95):.1f} |"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="40 files instead of 200")
    ap.add_argument("--files", type=int, default=0, help="number of stdlib files (default 200, 40 with --quick)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corpus", type=Path, help="a folder of real merge scenarios (index.jsonl; see the docstring)")
    ap.add_argument("--language", action="append", default=[], help="corpus mode: only this language (repeatable)")
    ap.add_argument("--out", type=Path, help="corpus mode: write one JSON line per scenario here")
    args = ap.parse_args()
    if args.corpus is not None:
        return corpus_main(args.corpus, set(args.language), args.out)
    n_files = args.files or (40 if args.quick else 200)
    rng = random.Random(args.seed)
    files = corpus()
    picked = sorted(rng.sample(files, min(n_files, len(files))))
    cases = make_cases(picked, rng)
    merge_files("warm.py", b"x = 1\n", b"x = 2\n", b"x = 1\ny = 1\n")  # load the grammar once
    rows: dict[str, Row] = {name: Row() for name in SCENARIOS}
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            row = rows[case.scenario]
            row.n += 1
            row.trellis.append(run_trellis(case))
            row.git.append(run_git(case, Path(tmp)))
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    import tree_sitter  # noqa: PLC0415

    print("## Structured merge (`benchmarks/bench_merge.py`)\n")
    print(
        f"Machine: {cpu_model()}, {__import__('os').cpu_count()} vCPU, Python {platform.python_version()}, "
        f"tree-sitter {getattr(tree_sitter, '__version__', '?')}, {git_version}."
    )
    print(f"Corpus: {len(picked)} stdlib modules (of {len(files)}, seed {args.seed}); {len(cases)} merges.\n")
    print(
        "| scenario | n | Trellis correct | git correct | Trellis conflict | git conflict | Trellis wrong "
        "| git wrong | Trellis p50 / p95 ms | git p50 / p95 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    all_t: list[Outcome] = []
    all_g: list[Outcome] = []
    for name, row in rows.items():
        if not row.n:
            continue
        all_t += row.trellis
        all_g += row.git
        tm = [o.ms for o in row.trellis]
        gm = [o.ms for o in row.git]
        print(
            f"| {name} | {row.n} | {share(row.trellis, lambda o: o.correct)} | {share(row.git, lambda o: o.correct)} "
            f"| {share(row.trellis, lambda o: not o.clean)} | {share(row.git, lambda o: not o.clean)} "
            f"| {sum(o.wrong for o in row.trellis)} | {sum(o.wrong for o in row.git)} "
            f"| {pct(tm, 0.5):.1f} / {pct(tm, 0.95):.1f} | {pct(gm, 0.5):.1f} / {pct(gm, 0.95):.1f} |"
        )
    independent_t = [o for name, r in rows.items() if name != "same_line" for o in r.trellis]
    independent_g = [o for name, r in rows.items() if name != "same_line" for o in r.git]
    tc = sum(o.correct for o in independent_t)
    gc = sum(o.correct for o in independent_g)
    tms = [o.ms for o in all_t]
    strategies = Counter(o.strategy for o in all_t)
    print()
    print(
        f"- Independent edits resolved cleanly and correctly: Trellis {tc}/{len(independent_t)} "
        f"({100.0 * tc / max(1, len(independent_t)):.1f}%), git merge-file {gc}/{len(independent_g)} "
        f"({100.0 * gc / max(1, len(independent_g)):.1f}%); ratio {tc / max(1, gc):.2f}x."
    )
    print(
        f"- Silently wrong merges (clean, not the ideal): Trellis {sum(o.wrong for o in all_t)}, "
        f"git {sum(o.wrong for o in all_g)}."
    )
    print(f"- Trellis strategies: {', '.join(f'{k} {v}' for k, v in sorted(strategies.items()))}.")
    print(
        f"- Time per file, all merges: Trellis p50 {pct(tms, 0.5):.1f} ms, p95 {pct(tms, 0.95):.1f} ms "
        f"(goal p50 <= 20 ms: {'PASS' if pct(tms, 0.5) <= 20 else 'FAIL'}); git merge-file p50 "
        f"{pct([o.ms for o in all_g], 0.5):.1f} ms (a process per merge). Mean file: "
        f"{statistics.mean(len(c.base) for c in cases) / 1024:.1f} KiB."
    )
    cpu = [o.cpu_ms for o in all_t]
    print(
        f"- Trellis CPU time per file (process time; what a busy machine inflates least): p50 "
        f"{pct(cpu, 0.5):.1f} ms, p95 {pct(cpu, 0.95):.1f} ms. Load average at the end: "
        f"{', '.join(f'{x:.1f}' for x in __import__('os').getloadavg())}."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
