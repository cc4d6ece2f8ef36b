"""Which pytest fixtures a test runs: fixtures resolved by name, as pytest resolves them.

pytest runs a fixture only when something names it: the test's parameters, the parameters of a fixture it
runs (at any depth), a ``usefixtures`` mark (on the test, its classes, its module's ``pytestmark``, in the ini
file), ``autouse=True``, a parametrization naming it (``indirect``), or code asking for it while the test runs
(``request.getfixturevalue("db")``). A name resolves through the levels that see the test, most specific
first: the test's classes (innermost first, each with its bases), its module, the ``conftest.py`` files of
its directory and of every ancestor (nearest first), then the plugins (``pytest_plugins``, ``-p``). The first
level defining the name wins; a name asked for while fixtures of that name are being set up (a fixture asking for
its own name, at any depth) gets the next definition down per such fixture. A level's
fixtures are what its namespace holds, as pytest reads it: its own ``@pytest.fixture`` definitions and the
ones it imports (under the name it binds them to, unless ``name=`` gave one).

Over-approximations, so that no fixture a test runs is left out: every definition of a name on one level
counts (pytest takes the last); a name read by code the test reaches through ``getfixturevalue`` with a
computed name, or through pytest's fixture machinery (``item.fixturenames.append(name)``), is any fixture the
test can see; the parameters of a function a decorator hands to other code (a plugin's step registry may fill
them with ``getfixturevalue``) count as asked for; a string of a test's decorators or of a ``pytestmark`` that
reads as fixture names (``"db"``, ``"a, b"``) counts as one, and so does every ``usefixtures(...)`` string of
a file the test's module imports (a mark bound to a name may be applied anywhere). Fixtures of plugins outside
the tree are outside the graph.

:meth:`FixtureModel.reach` gives each item its fixtures as roots besides its own (the graph's reach does the
rest: a fixture calling a helper reaches it as any function does), then adds what the code it reaches asks for
by name, until nothing new comes. :attr:`Graph.named_fixtures` holds the fixtures their definer does not reach.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .pytest_collect import TestItem, conftests
from .ref_graph import ENTITY, Graph

__all__ = ["FixtureModel"]

# The requests one closure follows (a name with the fixtures being set up when it is asked for) before it counts
# every definition instead.
_MAX_REQUESTS = 20_000
# A level: fixture name -> (the fixtures defined under it, other nodes the name holds there).
_Level = Mapping[str, tuple[frozenset[int], frozenset[int]]]


class FixtureModel:
    """The fixtures of one tree, by the level that defines them; what each test item runs."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._files: dict[str, _Level] = {}
        self._classes: dict[int, _Level] = {}
        self._marks: dict[int, frozenset[str]] = {}
        self._autouses: dict[int, frozenset[str]] = {}  # id(level) -> its autouse names (levels are kept)
        self._closures: dict[tuple[tuple[int, ...], frozenset[str], bool], frozenset[int]] = {}
        plugins = {*graph.config.plugins, *(p for facts in graph.facts.values() for p in facts.plugins)}
        plugin_files = sorted(
            {
                f
                for plugin in plugins
                for key in graph.module_keys("", 0, plugin)
                for f in graph.module_files.get(key, ())
            }
        )
        self._plugins = _merge([self._file(f) for f in plugin_files])
        self._usefixtures = [
            (graph.file_index[path], facts.usefixtures) for path, facts in graph.facts.items() if facts.usefixtures
        ]
        # Nodes asking pytest for fixtures while they run: by name, and whether by any name.
        self._asks: dict[int, tuple[tuple[str, ...], bool]] = {}
        for node, scope in enumerate(graph.node_scope):
            if scope.refs.fixtures or scope.refs.any_fixture:
                self._asks[node] = (scope.refs.fixtures, scope.refs.any_fixture)
            path = graph.node_path[node]
            for qualname in scope.refs.escapes:
                escaped = graph.node_of[(path, qualname)]
                target = graph.node_scope[escaped]
                handed = not target.fixture and target.args
                if handed and not (graph.config.is_test_file(path) and graph.config.is_test_function(target.name)):
                    names, anything = self._asks.get(escaped, ((), False))
                    self._asks[escaped] = ((*names, *target.args), anything)
        self.asking = 0
        for node in self._asks:
            self.asking |= 1 << node

    # -- levels -------------------------------------------------------------------------------

    def _file(self, path: str, busy: frozenset[str] = frozenset()) -> _Level:
        """The fixtures a module's namespace holds: its definitions, its imports, what it star-imports."""
        found = self._files.get(path)
        if found is not None:
            return found
        graph = self.graph
        facts = graph.facts[path]
        level: dict[str, tuple[set[int], set[int]]] = {}
        for name in {*facts.defs, *facts.bindings, *facts.values}:
            for kind, value in graph.file_symbol(path, name):
                if kind != ENTITY:
                    continue
                assert isinstance(value, int)
                scope = graph.node_scope[value]
                if scope.fixture:
                    level.setdefault(scope.fixture if scope.fixture_named else name, (set(), set()))[0].add(value)
                elif scope.kind == "name":
                    level.setdefault(name, (set(), set()))[1].add(value)
        own = _freeze(level)
        stars = [
            self._file(file, busy | {path})
            for star in facts.star_imports
            for key in graph.module_keys(path, star.level, star.module)
            for file in graph.module_files.get(key, ())
            if file not in busy and file != path
        ]
        bound = {*facts.defs, *facts.bindings, *facts.values}
        merged = dict(own)
        for star in stars:
            for name, entry in star.items():
                if name not in bound:
                    fixtures, others = merged.get(name, (frozenset(), frozenset()))
                    merged[name] = (fixtures | entry[0], others | entry[1])
        if not busy:
            self._files[path] = merged
        return merged

    def _class(self, cls: int) -> _Level:
        """The fixtures a test class holds: its methods' and its bases' (pytest reads the instance's attributes)."""
        found = self._classes.get(cls)
        if found is None:
            graph = self.graph
            level: dict[str, tuple[set[int], set[int]]] = {}
            for klass in [cls, *graph.ancestors(cls)]:
                for member, qualname in graph.node_scope[klass].members:
                    node = graph.node_of[(graph.node_path[klass], qualname)]
                    scope = graph.node_scope[node]
                    if scope.fixture:
                        level.setdefault(scope.fixture if scope.fixture_named else member, (set(), set()))[0].add(node)
            found = self._classes[cls] = _freeze(level)
        return found

    def levels(self, item: TestItem) -> list[_Level]:
        """Where a name asked for by ``item`` resolves, most specific first."""
        return [
            *(self._class(c) for c in reversed(item.classes)),
            self._file(item.path),
            *(self._file(c) for c in conftests(self.graph, item.path)),
            self._plugins,
        ]

    # -- what runs ----------------------------------------------------------------------------

    def asked(self, item: TestItem, levels: Sequence[_Level], files: int) -> set[str]:
        """The names ``item`` asks for before it runs: parameters, marks, usefixtures, autouse fixtures."""
        graph = self.graph
        names = {*graph.node_scope[item.function].args, *graph.node_scope[item.function].marks}
        for cls in item.classes:
            names.update(self._class_marks(cls))
        names.update(graph.facts[item.path].marks)
        names.update(graph.config.usefixtures)
        for index, words in self._usefixtures:
            if files >> index & 1:
                names.update(words)
        for level in levels:
            names.update(self._autouse(level))
        return names

    def _class_marks(self, cls: int) -> frozenset[str]:
        found = self._marks.get(cls)
        if found is None:
            graph = self.graph
            found = self._marks[cls] = frozenset(
                m for k in [cls, *graph.ancestors(cls)] for m in graph.node_scope[k].marks
            )
        return found

    def _autouse(self, level: _Level) -> frozenset[str]:
        found = self._autouses.get(id(level))
        if found is None:
            node_scope = self.graph.node_scope
            found = frozenset(
                name for name, (fixtures, _) in level.items() if any(node_scope[f].autouse for f in fixtures)
            )
            self._autouses[id(level)] = found
        return found

    def closure(self, levels: Sequence[_Level], names: Iterable[str], *, every_level: bool = False) -> frozenset[int]:
        """The fixtures these names run, and what they ask for in turn: as pytest resolves a name, the definition
        of the first level defining it, or, while fixtures of that name are being set up (a fixture asking for
        its own name, or for one that asks for it in turn), the next one down per fixture of that name on the
        stack of requests. ``every_level``: ``names`` are asked for where that stack is unknown (by code, while
        the test runs): every definition of them, and of what they ask for, counts."""
        key = (tuple(map(id, levels)), frozenset(names), every_level)
        found = self._closures.get(key)
        if found is None:
            found = self._closures[key] = frozenset(self._closure(levels, key[1], every_level))
        return found

    def _closure(self, levels: Sequence[_Level], names: Iterable[str], every_level: bool) -> set[int]:
        out: set[int] = set()
        # (name, the names of the fixtures being set up while it is asked for, each with how many are)
        todo: list[tuple[str, tuple[tuple[str, int], ...]]] = [(name, ()) for name in names]
        seen: set[tuple[str, tuple[tuple[str, int], ...]]] = set()
        while todo:
            name, stack = todo.pop()
            if (name, stack) in seen:
                continue
            seen.add((name, stack))
            if len(seen) > _MAX_REQUESTS:  # too many ways to ask: every definition of every level
                return {n for level in levels for fixtures, others in level.values() for n in (*fixtures, *others)}
            skip = dict(stack).get(name, 0)  # definitions of the name already being set up, nearest first
            for level in levels:
                entry = level.get(name)
                if entry is None:
                    continue
                fixtures, others = entry
                out |= others
                if not fixtures:
                    continue
                if skip and not every_level:
                    skip -= 1
                    continue
                below = dict(stack)
                below[name] = below.get(name, 0) + 1
                asking = tuple(sorted(below.items()))
                for fixture in fixtures:
                    out.add(fixture)
                    todo.extend((arg, asking) for arg in self.graph.node_scope[fixture].args)
                if not every_level:
                    break
        return out

    def reach(self, items: Sequence[TestItem], shared: Sequence[int], files: int) -> dict[str, int]:
        """Each item's reach (:meth:`Graph.reach`), its fixtures among its roots."""
        graph = self.graph
        levels = {item.nodeid: self.levels(item) for item in items}
        roots = {
            item.nodeid: (
                *item.roots,
                *sorted(self.closure(levels[item.nodeid], self.asked(item, levels[item.nodeid], files))),
            )
            for item in items
        }
        out = graph.reach(roots, shared, files)
        while True:
            again: dict[str, tuple[int, ...]] = {}
            for item in items:
                bits = out[item.nodeid] & self.asking
                if not bits:
                    continue
                names: set[str] = set()
                anything = False
                while bits:
                    low = bits & -bits
                    bits ^= low
                    asked, every = self._asks[low.bit_length() - 1]
                    names.update(asked)
                    anything = anything or every
                # Asked for while the test runs, maybe from a fixture of that name being set up: every definition.
                found = set(self.closure(levels[item.nodeid], names, every_level=True))
                if anything:
                    found |= {
                        n for level in levels[item.nodeid] for entry in level.values() for n in (*entry[0], *entry[1])
                    }
                # (A node already reached brings nothing new: the reach holds what it reaches.)
                new = {n for n in found if not out[item.nodeid] >> n & 1} - set(roots[item.nodeid])
                if new:
                    roots[item.nodeid] = again[item.nodeid] = (*roots[item.nodeid], *sorted(new))
            if not again:
                return out
            out.update(graph.reach(again, shared, files))


def _freeze(level: Mapping[str, tuple[set[int], set[int]]]) -> dict[str, tuple[frozenset[int], frozenset[int]]]:
    return {name: (frozenset(fixtures), frozenset(others)) for name, (fixtures, others) in level.items()}


def _merge(levels: Iterable[_Level]) -> _Level:
    out: dict[str, tuple[frozenset[int], frozenset[int]]] = {}
    for level in levels:
        for name, (fixtures, others) in level.items():
            old = out.get(name, (frozenset(), frozenset()))
            out[name] = (old[0] | fixtures, old[1] | others)
    return out
