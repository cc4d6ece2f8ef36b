"""Static test selection over a real history: how many tests each of the last N commits selects.

For each of the last ``--commits`` first-parent commits of a git repository (or bundle): the semantic diff
against its parent and ``TestIndex.select`` with the parent's index, exactly what a push asks, without
running any test. Prints one line per commit (``sha selected/total [fallback rule]``) and a summary: the
median selected, the commits that select no test, the whole-suite fallbacks. Cheap (seconds of CPU per
commit), so it shows what a change to the analysis does to selection before a replay times it.
It runs no test, and every test counts as observed in every tree, which a server grants only to tests it saw run
there: a site no record names ran nothing (a function's ``exec``/``eval``, a process, an unpickling), while code
``exec``/``eval`` ran in a module or class body "may run any code" — unless ``--observed FILE`` gives what a server
observed (``<data>/cache/observed/<digest>.json``) — an upper bound of what observation gives::

    python benchmarks/selection_static.py ../shared/data/repos/cachetools.bundle --commits 40
    python benchmarks/selection_static.py ../shared/data/repos/toolz.bundle --pytest-args "--doctest-modules"
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trellis.ci.selection.index import FactCache, TestIndex, changes_from_diff  # noqa: E402
from trellis.ci.selection.observed import SiteCode  # noqa: E402
from trellis.semantic_diff import diff_files  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", help="a git repository or bundle")
    parser.add_argument("--commits", type=int, default=40)
    parser.add_argument("--pytest-args", default="", help="the stage's pytest arguments (--doctest-modules...)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--load-tests", action="store_true", help="the stage sets load_tests = true")
    parser.add_argument("--observed", type=Path, help="a server's observations of exec/eval (JSON, see above)")
    args = parser.parse_args()
    sites = {}
    if args.observed:
        raw = json.loads(args.observed.read_bytes())
        sites = {str(k): SiteCode.from_json(v) for k, v in raw.get("sites", {}).items()}
    with tempfile.TemporaryDirectory(prefix="selection-static-") as tmp:
        repo = Path(args.repo)
        if repo.is_file():  # a bundle
            subprocess.run(["git", "clone", "-q", "--bare", str(repo), f"{tmp}/repo"], check=True)
            repo = Path(tmp) / "repo"
        rows = replay(repo, args.commits, shlex.split(args.pytest_args), sites, load_tests=args.load_tests)
    selected = [r["selected"] for r in rows]
    summary = {
        "commits": len(rows),
        "median_selected": statistics.median(selected) if selected else None,
        "no_test": sum(1 for n in selected if n == 0),
        "fallbacks": [f"{r['commit']}: {r['rule']}" for r in rows if r["rule"]],
        "selected": selected,
        "total_selected": sum(selected),
    }
    print(json.dumps(summary, indent=None if not args.json else 2))
    return 0


def replay(
    repo: Path, commits: int, pytest_args: list[str], sites: Mapping[str, SiteCode], *, load_tests: bool = False
) -> list[dict[str, object]]:
    def git(*a: str) -> bytes:
        return subprocess.run(["git", "-C", str(repo), *a], capture_output=True, check=True).stdout

    branches = git("for-each-ref", "--format=%(refname)", "refs/heads").decode().split()
    head = git("symbolic-ref", "-q", "HEAD").decode().strip() or "HEAD"
    if head not in branches and branches:  # a bundle whose HEAD names a branch it does not hold
        head = branches[0]
    shas = git("rev-list", "--first-parent", f"-{commits}", head).decode().split()[::-1]
    blobs: dict[str, bytes] = {}

    def tree(commit: str) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for line in git("ls-tree", "-r", commit).decode().splitlines():
            meta, path = line.split("\t", 1)
            kind, sha = meta.split()[1:3]
            if kind != "blob":
                continue
            if sha not in blobs:
                blobs[sha] = git("cat-file", "blob", sha)
            out[path] = blobs[sha]
        return out

    cache = FactCache()
    rows: list[dict[str, object]] = []
    for sha in shas:
        before, after = tree(f"{sha}^"), tree(sha)
        changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
        old = TestIndex.build(before, cache=cache, observed=sites, args=pytest_args)
        new = TestIndex.build(after, cache=cache, observed=sites, args=pytest_args)
        diff = diff_files({p: before[p] for p in changed if p in before}, {p: after[p] for p in changed if p in after})
        # observed=set: every test asked about counts as observed (set(tests) is all of them)
        selection = new.select(
            changes_from_diff(diff), old_index=old, args=pytest_args, load_tests=load_tests, observed=set
        )
        row = {
            "commit": sha[:12],
            "selected": len(selection.tests),
            "total": selection.total,
            "rule": selection.rule,
        }
        rows.append(row)
        why = f" ({selection.reason[:300]})" if selection.rule else ""
        print(f"{row['commit']} {row['selected']}/{row['total']} {row['rule']}{why}", file=sys.stderr, flush=True)
    return rows


if __name__ == "__main__":
    sys.exit(main())
