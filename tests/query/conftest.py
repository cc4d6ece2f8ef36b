"""Fixtures of the query tests: an indexer over the test's own data directory, a toy entity differ."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from trellis.query import Indexer

_DEF = re.compile(r"^def (\w+)\(\):\n((?:    .*\n)*)", re.MULTILINE)


@dataclass(frozen=True)
class ToyChange:
    """Shaped like ``semantic_diff.EntityChange``."""

    path: str
    old_path: str | None
    kind: str
    qualname: str | None
    old_qualname: str | None
    change: str
    details: tuple[str, ...] = field(default_factory=tuple)
    old_start_line: int | None = None
    old_end_line: int | None = None
    new_start_line: int | None = None
    new_end_line: int | None = None
    similarity: float | None = None


def _functions(files: Mapping[str, bytes]) -> dict[tuple[str, str], str]:
    out = {}
    for path, data in files.items():
        if path.endswith(".py"):
            module = path.removesuffix(".py").replace("/", ".")
            for m in _DEF.finditer(data.decode()):
                out[(path, f"{module}.{m.group(1)}")] = m.group(2)
    return out


def toy_differ(
    old: Mapping[str, bytes],
    new: Mapping[str, bytes],
    *,
    old_ids: Mapping[str, str],
    new_ids: Mapping[str, str],
    renames: Mapping[str, str],
) -> Sequence[ToyChange]:
    """Top-level ``def f():`` functions; renames and moves matched by identical bodies."""
    before, after = _functions(old), _functions(new)
    changes: list[ToyChange] = []
    gone = {k: v for k, v in before.items() if k not in after}
    came = {k: v for k, v in after.items() if k not in before}
    for key in sorted(set(before) & set(after)):
        if before[key] != after[key]:
            changes.append(ToyChange(key[0], key[0], "function", key[1], key[1], "modified", ("body",)))
    for (path, name), body in sorted(came.items()):
        match = next((k for k, v in sorted(gone.items()) if v == body), None)
        if match is None:
            changes.append(ToyChange(path, None, "function", name, None, "added"))
            continue
        del gone[match]
        kind = (
            ("moved_renamed" if match[1].rsplit(".", 1)[-1] != name.rsplit(".", 1)[-1] else "moved")
            if match[0] != path
            else "renamed"
        )
        changes.append(ToyChange(path, match[0], "function", name, match[1], kind, (), similarity=1.0))
    for path, name in sorted(gone):
        changes.append(ToyChange(path, path, "function", None, name, "removed"))
    return changes


@pytest.fixture
def indexer(data_dir: Path) -> Iterator[Indexer]:
    ix = Indexer(data_dir, entity_differ=None)
    try:
        yield ix
    finally:
        ix.close()


def dump(ix: Indexer) -> dict[str, list[str]]:
    """Every row of every table, as sorted reprs: equal dumps = identical indexes."""
    from trellis.query.schema import TABLES

    out = {}
    for t in TABLES:
        rows = ix.connection.execute(f"SELECT * FROM {t.name}").fetchall()
        out[t.name] = sorted(repr(r) for r in rows)
    return out
