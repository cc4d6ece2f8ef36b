"""How much of a package every test reaches, at one revision (no test run).

Builds the ``TestIndex`` of a revision of a git repository and prints: the tests, how many "may run any code",
the package's functions and methods (under ``--package``, a path prefix), how many every test reaches, the
(test, function) pairs reached and the functions reached by the most tests. Two experiments measure what a class
of over-approximation costs (both unsound; measurement only): ``--no-shared`` turns conftest fixtures and hooks
off as every test's roots and ``importlib.resources`` calls off as imports of any module; ``--drop-builtin-names``
drops every method name of ``str``/``bytes``/``list``/``dict``/``set``/``tuple``/``int``/``float`` read from any
object (the most that knowing the builtin type of every receiver could remove)::

    python benchmarks/reach_probe.py /work/bench/du-history --package src/dateutil/
    python benchmarks/reach_probe.py /work/bench/du-history --package src/dateutil/ --no-shared --drop-builtin-names
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trellis.ci.selection import index as index_module  # noqa: E402
from trellis.ci.selection import python_refs, ref_graph  # noqa: E402

_BUILTIN_NAMES = frozenset(
    n for t in (str, bytes, list, dict, set, tuple, int, float) for n in dir(t) if not n.startswith("__")
)


def _experiments(no_shared: bool, drop_builtin_names: bool) -> None:
    if no_shared:
        setattr(index_module, "shared_roots", lambda graph, path, **_: ())  # noqa: B010 - an experiment's patch
        setattr(python_refs, "RESOURCE_CALLS", frozenset())  # noqa: B010
    if drop_builtin_names:
        edges = ref_graph.Graph._edges
        unknown = python_refs._Extractor.unknown_attrs

        def _edges(self: ref_graph.Graph, node: int) -> tuple[set[int], set[str], str]:
            found, names, why = edges(self, node)
            return found, names - _BUILTIN_NAMES, why

        def _unknown(self: python_refs._Extractor, chain: tuple[str, ...], *, named: bool = False) -> None:
            unknown(self, tuple(a for a in chain if a not in _BUILTIN_NAMES), named=named)

        ref_graph.Graph._edges = _edges  # type: ignore[method-assign]
        python_refs._Extractor.unknown_attrs = _unknown  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo")
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--package", required=True, help="path prefix of the package's files (src/dateutil/)")
    parser.add_argument("--no-shared", action="store_true")
    parser.add_argument("--drop-builtin-names", action="store_true")
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    _experiments(args.no_shared, args.drop_builtin_names)

    def git(*a: str) -> bytes:
        return subprocess.run(["git", "-C", args.repo, *a], capture_output=True, check=True).stdout

    files: dict[str, bytes] = {}
    for line in git("ls-tree", "-r", args.rev).decode().splitlines():
        meta, path = line.split("\t", 1)
        if meta.split()[1] == "blob":
            files[path] = git("cat-file", "blob", meta.split()[2])
    index = index_module.TestIndex.build(files)
    graph = index._graph
    reach = index._known()
    functions = [
        n
        for n, s in enumerate(graph.node_scope)
        if s.kind in ("function", "method") and graph.node_path[n].startswith(args.package)
    ]
    every = ~0
    for bits in reach.values():
        every &= bits
    per_function = sorted(
        ((sum(1 for bits in reach.values() if bits >> n & 1), graph.describe(n)) for n in functions), reverse=True
    )
    pairs = sum(count for count, _ in per_function)
    print(
        f"tests {len(reach)}; may run any code {sum(1 for b in reach.values() if b & graph.dyn_bit)}; "
        f"package functions {len(functions)}; reached by every test {sum(1 for n in functions if every >> n & 1)}; "
        f"(test, function) pairs {pairs} (mean {pairs / max(1, len(reach)):.1f} per test); "
        f"median tests reaching a function {statistics.median(c for c, _ in per_function) if per_function else 0}"
    )
    for count, name in per_function[: args.top]:
        print(f"  {count} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
