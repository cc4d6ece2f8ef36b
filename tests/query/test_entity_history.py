"""The entity_history view follows an entity across renames and moves."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from trellis import vcs
from trellis.query import Indexer, default_entity_differ, run_query

from .conftest import toy_differ

ALICE = vcs.Identity("alice")


def _ordered(ix: Indexer, qualname: str, titles: list[str]) -> list[tuple[str, ...]]:
    rows = ix.connection.execute(
        "SELECT c.title, h.change, h.path, h.qualname FROM entity_history h "
        "JOIN commits c USING (repository, commit_id) "
        "WHERE h.lineage_id IN (SELECT lineage_id FROM entity_history WHERE qualname = ?) ",
        [qualname],
    ).fetchall()
    return sorted(rows, key=lambda r: (titles.index(r[0]), r[1]))


def _commit_steps(store: vcs.Store, steps: list[tuple[str, list[vcs.Change]]]) -> list[str]:
    """Commit each (title, changes) to demo's main in order; the titles."""
    for title, changes in steps:
        store.commit("demo", "main", changes, title, ALICE)
    return [title for title, _ in steps]


def test_history_follows_a_function_across_a_rename_and_a_move(store: vcs.Store, data_dir: Path) -> None:
    store.create_repository("demo", ALICE)
    steps: list[tuple[str, list[vcs.Change]]] = [
        ("add", [vcs.PutFile("pkg/a.py", b"def parse():\n    return 1\n")]),
        ("edit", [vcs.PutFile("pkg/a.py", b"def parse():\n    return 2\n")]),
        ("rename", [vcs.PutFile("pkg/a.py", b"def load():\n    return 2\n")]),
        ("move", [vcs.PutFile("pkg/a.py", b""), vcs.PutFile("pkg/b.py", b"def load():\n    return 2\n")]),
        ("edit again", [vcs.PutFile("pkg/b.py", b"def load():\n    return 3\n")]),
        ("unrelated", [vcs.PutFile("pkg/c.py", b"def parse():\n    return 99\n")]),
    ]
    titles = _commit_steps(store, steps)
    with Indexer(data_dir, entity_differ=toy_differ) as ix:
        ix.sync()
        history = _ordered(ix, "pkg.b.load", titles)
        assert history == [
            ("add", "added", "pkg/a.py", "pkg.a.parse"),
            ("edit", "modified", "pkg/a.py", "pkg.a.parse"),
            ("rename", "renamed", "pkg/a.py", "pkg.a.load"),
            ("move", "moved", "pkg/b.py", "pkg.b.load"),
            ("edit again", "modified", "pkg/b.py", "pkg.b.load"),
        ]
        # any of its names finds the same lineage, named after the first one
        assert _ordered(ix, "pkg.a.parse", titles) == history
        lineage = ix.connection.execute(
            "SELECT DISTINCT lineage_id FROM entity_history WHERE qualname = 'pkg.b.load'"
        ).fetchall()
        assert lineage == [("pkg/a.py::pkg.a.parse",)]
        # through the sandbox too
        result = run_query(
            ix,
            "SELECT count(*) AS n FROM entity_history WHERE lineage_id = 'pkg/a.py::pkg.a.parse'",
            max_rows=1,
            timeout_s=10,
        )
        assert result.table.column("n").to_pylist() == [5]


def test_history_survives_renaming_back_and_forth(store: vcs.Store, data_dir: Path) -> None:
    store.create_repository("demo", ALICE)
    for title, body in [
        ("add", b"def f():\n    return 1\n"),
        ("to g", b"def g():\n    return 1\n"),
        ("back to f", b"def f():\n    return 1\n"),
    ]:
        store.commit("demo", "main", [vcs.PutFile("m.py", body)], title, ALICE)
    with Indexer(data_dir, entity_differ=toy_differ) as ix:
        ix.sync()
        rows = ix.connection.execute("SELECT DISTINCT lineage_id FROM entity_history").fetchall()
        assert len(rows) == 1
        assert (
            ix.connection.execute("SELECT count(*) FROM entity_history").fetchall()
            == ix.connection.execute("SELECT count(*) FROM entity_changes").fetchall()
        )


@pytest.mark.skipif(
    importlib.util.find_spec("trellis.semantic_diff") is None or default_entity_differ() is None,
    reason="semantic_diff.diff_files is not importable yet (the semantic diff engine is built by another issue)",
)
def test_history_with_the_semantic_diff_engine(store: vcs.Store, data_dir: Path) -> None:
    store.create_repository("demo", ALICE)
    body = b"    total = 0\n    for x in items:\n        total += x * 2\n    return total\n"
    steps: list[tuple[str, list[vcs.Change]]] = [
        ("add", [vcs.PutFile("src/util.py", b"import os\n\n\ndef compute(items):\n" + body)]),
        ("edit", [vcs.PutFile("src/util.py", b"import os\n\n\ndef compute(items):\n" + body.replace(b"2", b"3"))]),
        ("rename", [vcs.PutFile("src/util.py", b"import os\n\n\ndef total(items):\n" + body.replace(b"2", b"3"))]),
        ("move file", [vcs.RenameFile("src/util.py", "src/maths.py")]),
        ("edit moved", [vcs.PutFile("src/maths.py", b"import os\n\n\ndef total(items):\n" + body.replace(b"2", b"4"))]),
    ]
    titles = _commit_steps(store, steps)
    with Indexer(data_dir) as ix:  # the real engine
        ix.sync()
        assert ix.check() == []
        history = _ordered(ix, "src.maths.total", titles)
        seen = [(title, change) for title, change, _, _ in history if title != "move file"]
        assert ("add", "added") in seen
        assert ("edit", "modified") in seen
        assert ("rename", "renamed") in seen
        assert ("edit moved", "modified") in seen
        assert {r[3] for r in history} >= {"src.util.compute", "src.util.total", "src.maths.total"}
        assert (
            len(
                {
                    lid
                    for (lid,) in ix.connection.execute(
                        "SELECT lineage_id FROM entity_history WHERE qualname IN "
                        "('src.util.compute', 'src.util.total', 'src.maths.total')"
                    ).fetchall()
                }
            )
            == 1
        )


_SHAPE = b'''import math


class Circle:
    """A circle in the plane."""

    def __init__(self, radius):
        self.radius = radius

    def area(self):
        return math.pi * self.radius ** 2

    def perimeter(self):
        return 2 * math.pi * self.radius

    def scale(self, factor):
        if factor <= 0:
            raise ValueError(factor)
        return Circle(self.radius * factor)
'''


@pytest.mark.skipif(default_entity_differ() is None, reason="semantic_diff is not installed")
def test_a_methods_history_crosses_its_class_rename_and_move(store: vcs.Store, data_dir: Path) -> None:
    store.create_repository("demo", ALICE)
    renamed = _SHAPE.replace(b"Circle", b"Disc")
    steps: list[tuple[str, list[vcs.Change]]] = [
        ("add", [vcs.PutFile("geo/shapes.py", _SHAPE)]),
        ("edit", [vcs.PutFile("geo/shapes.py", _SHAPE.replace(b"** 2", b"* self.radius"))]),
        (
            "rename class",
            [
                vcs.PutFile(
                    "geo/shapes.py", renamed.replace(b"** 2", b"* self.radius").replace(b"2 * math.pi", b"math.tau")
                )
            ],
        ),
        (
            "move class",
            [
                vcs.PutFile("geo/shapes.py", b"import math\n"),
                vcs.PutFile(
                    "geo/plane.py", renamed.replace(b"** 2", b"* self.radius").replace(b"2 * math.pi", b"math.tau")
                ),
            ],
        ),
        (
            "edit again",
            [vcs.PutFile("geo/plane.py", renamed.replace(b"** 2", b"** 2.0").replace(b"2 * math.pi", b"math.tau"))],
        ),
    ]
    titles = _commit_steps(store, steps)
    with Indexer(data_dir) as ix:  # the real engine
        ix.sync()
        assert ix.check() == []
        rows = ix.connection.execute(
            "SELECT c.title, h.change, h.qualname, h.follows FROM entity_history h "
            "JOIN commits c USING (repository, commit_id) "
            "WHERE h.lineage_id IN (SELECT lineage_id FROM entity_history WHERE qualname = 'geo.plane.Disc.area')"
        ).fetchall()
        history = sorted(rows, key=lambda r: titles.index(r[0]))
        assert history == [
            ("add", "added", "geo.shapes.Circle.area", None),
            ("edit", "modified", "geo.shapes.Circle.area", None),
            ("rename class", "moved", "geo.shapes.Disc.area", "geo.shapes.Disc"),
            ("move class", "moved", "geo.plane.Disc.area", "geo.plane.Disc"),
            ("edit again", "modified", "geo.plane.Disc.area", None),
        ]
        # a member that changed while its class was renamed is `modified`, marked as following too
        assert ix.connection.execute(
            "SELECT change, old_qualname, follows FROM entity_changes e JOIN commits c USING (repository, commit_id) "
            "WHERE c.title = 'rename class' AND e.qualname = 'geo.shapes.Disc.perimeter'"
        ).fetchall() == [("modified", "geo.shapes.Circle.perimeter", "geo.shapes.Disc")]
        # the class itself is the only refactoring of those two commits
        assert ix.connection.execute(
            "SELECT c.title, e.change, e.kind, e.old_qualname, e.qualname FROM entity_changes e "
            "JOIN commits c USING (repository, commit_id) "
            "WHERE e.change IN ('renamed', 'moved', 'moved_renamed') AND e.follows IS NULL ORDER BY c.title"
        ).fetchall() == [
            ("move class", "moved", "class", "geo.shapes.Disc", "geo.plane.Disc"),
            ("rename class", "renamed", "class", "geo.shapes.Circle", "geo.shapes.Disc"),
        ]


_REFRESH = b"""
    def refresh(self, *keys):
        with self._clock as now:
            for key in keys or list(self._slots):
                self._touch(key, now)
            return len(self._slots)
"""


def _boxes(base: bytes, inbox: bytes, outbox: bytes) -> bytes:
    return (
        b"class Box:\n    def __init__(self, clock):\n        self._clock = clock\n" + base + b"\n\n"
        b"class Inbox(Box):\n    def deliver(self, letter):\n        return letter.key\n" + inbox + b"\n\n"
        b"class Outbox(Box):\n    def send(self, letter):\n        return letter.send()\n" + outbox
    )


@pytest.mark.skipif(default_entity_differ() is None, reason="semantic_diff is not installed")
def test_history_of_a_method_pulled_up_from_two_classes(store: vcs.Store, data_dir: Path) -> None:
    store.create_repository("demo", ALICE)
    edited = _REFRESH.replace(b"return len", b"return 0 + len")
    steps: list[tuple[str, list[vcs.Change]]] = [
        ("add", [vcs.PutFile("box.py", _boxes(b"", _REFRESH, _REFRESH))]),
        ("edit outbox", [vcs.PutFile("box.py", _boxes(b"", _REFRESH, edited))]),
        ("pull up", [vcs.PutFile("box.py", _boxes(_REFRESH, b"", b""))]),
        ("edit base", [vcs.PutFile("box.py", _boxes(edited, b"", b""))]),
    ]
    titles = _commit_steps(store, steps)
    with Indexer(data_dir) as ix:  # the real engine
        ix.sync()
        assert ix.check() == []
        # one row per source: two refactorings
        assert ix.connection.execute(
            "SELECT c.title, e.change, e.old_qualname, e.qualname FROM entity_changes e "
            "JOIN commits c USING (repository, commit_id) "
            "WHERE e.change IN ('renamed', 'moved', 'moved_renamed') AND e.follows IS NULL "
            "ORDER BY c.title, e.old_qualname, e.qualname"
        ).fetchall() == [
            ("pull up", "moved", "box.Inbox.refresh", "box.Box.refresh"),
            ("pull up", "moved", "box.Outbox.refresh", "box.Box.refresh"),
        ]
        # the base's method continues the first source's lineage, and both arrivals are in it
        base = _ordered(ix, "box.Box.refresh", titles)
        assert [(t, ch, q) for t, ch, _, q in base] == [
            ("add", "added", "box.Inbox.refresh"),
            ("pull up", "moved", "box.Box.refresh"),
            ("pull up", "moved", "box.Box.refresh"),
            ("edit base", "modified", "box.Box.refresh"),
        ]
        # the other source's lineage holds its past; its move row is the target's, found by
        # its old name: both lineages together are the whole story, every row once
        rows = ix.connection.execute(
            "SELECT c.title, h.change, h.old_qualname, h.qualname FROM entity_history h "
            "JOIN commits c USING (repository, commit_id) WHERE h.lineage_id IN "
            "(SELECT lineage_id FROM entity_history WHERE qualname = 'box.Outbox.refresh' "
            "OR old_qualname = 'box.Outbox.refresh')"
        ).fetchall()
        assert sorted(rows, key=lambda r: (titles.index(r[0]), r[2])) == [
            ("add", "added", None, "box.Inbox.refresh"),
            ("add", "added", None, "box.Outbox.refresh"),
            ("edit outbox", "modified", "box.Outbox.refresh", "box.Outbox.refresh"),
            ("pull up", "moved", "box.Inbox.refresh", "box.Box.refresh"),
            ("pull up", "moved", "box.Outbox.refresh", "box.Box.refresh"),
            ("edit base", "modified", "box.Box.refresh", "box.Box.refresh"),
        ]


@pytest.mark.skipif(default_entity_differ() is None, reason="semantic_diff is not installed")
def test_history_of_a_method_pushed_down_to_two_classes(store: vcs.Store, data_dir: Path) -> None:
    store.create_repository("demo", ALICE)
    edited = _REFRESH.replace(b"return len", b"return 0 + len")
    steps: list[tuple[str, list[vcs.Change]]] = [
        ("add", [vcs.PutFile("box.py", _boxes(_REFRESH, b"", b""))]),
        ("push down", [vcs.PutFile("box.py", _boxes(b"", _REFRESH, edited))]),
        ("edit inbox", [vcs.PutFile("box.py", _boxes(b"", edited, edited))]),
    ]
    titles = _commit_steps(store, steps)
    with Indexer(data_dir) as ix:  # the real engine
        ix.sync()
        assert ix.check() == []
        assert ix.connection.execute(
            "SELECT e.change, e.old_qualname, e.qualname FROM entity_changes e "
            "WHERE e.change = 'moved' ORDER BY e.qualname"
        ).fetchall() == [
            ("moved", "box.Box.refresh", "box.Inbox.refresh"),
            ("moved", "box.Box.refresh", "box.Outbox.refresh"),
        ]
        # each copy continues the base method's lineage
        history = _ordered(ix, "box.Inbox.refresh", titles)
        assert sorted(((t, ch, q) for t, ch, _, q in history), key=lambda r: (titles.index(r[0]), r[2])) == [
            ("add", "added", "box.Box.refresh"),
            ("push down", "moved", "box.Inbox.refresh"),
            ("push down", "moved", "box.Outbox.refresh"),
            ("edit inbox", "modified", "box.Inbox.refresh"),
        ]
