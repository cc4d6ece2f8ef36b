"""Which repositories the index has caught up with, as :meth:`Indexer.sync` records it (no pygit2, no writes).

``sync`` records, per repository, the digest of its references, ``HEAD`` and
configuration that it caught up with (``index_info`` rows
``caught_up:<name>``, :func:`trellis.vcs.refstate.refs_state`). An index is
current for a data directory when the repositories it holds rows of are all
still there and every repository there has the digest it was caught up
with: a sync would then change nothing. Both the indexer and the read-only
path of :mod:`trellis.query.readonly` decide with these functions; the
latter also asks whether the index was written by this schema version
(:mod:`trellis.query.stamp`), in the same statement.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from trellis.vcs.refstate import refs_state

from .stamp import STAMP_KEYS, stamped

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "CAUGHT_UP",
    "caught_up_states",
    "holds_others",
    "index_current",
    "indexed_repositories",
    "repository_names",
]

CAUGHT_UP = "caught_up:"
"""``index_info`` key prefix: the ``refs_state`` a repository's rows were last synced with."""


def repository_names(repos_dir: Path) -> list[str]:
    """Repositories present in a data directory's ``repos`` directory, sorted."""
    if not repos_dir.is_dir():
        return []
    return sorted(
        entry.name.removesuffix(".git")
        for entry in repos_dir.iterdir()
        if entry.name.endswith(".git") and not entry.name.startswith(".") and entry.is_dir()
    )


def caught_up_states(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = con.execute("SELECT key, value FROM index_info WHERE starts_with(key, ?)", [CAUGHT_UP]).fetchall()
    return {key.removeprefix(CAUGHT_UP): value for key, value in rows}


_HOLDING = ("repositories", "refs", "commits")
"""The tables whose ``repository`` values name every repository the index holds rows of."""


def indexed_repositories(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Repositories the index holds rows of."""
    rows = con.execute(" UNION ".join(f"SELECT repository FROM {t}" for t in _HOLDING)).fetchall()
    return [r[0] for r in rows]


def holds_others(con: duckdb.DuckDBPyConnection, names: list[str]) -> bool:
    """Whether the index holds rows of a repository not in ``names``. Asked as a filter, not as the list of
    repositories: the row groups' statistics answer it for a table of one repository without reading rows."""
    sql, params = _others(names)
    return bool(con.execute(sql, params).fetchall())


def _others(names: list[str]) -> tuple[str, list[str]]:
    """A statement with a row if the index holds rows of a repository not in ``names``, and its parameters."""
    where = f" WHERE repository NOT IN ({', '.join('?' * len(names))})" if names else ""
    return " UNION ALL ".join(f"SELECT 1 FROM {t}{where}" for t in _HOLDING) + " LIMIT 1", names * len(_HOLDING)


def index_current(con: duckdb.DuckDBPyConnection, repos_dir: Path) -> bool:
    """Whether the index behind ``con`` was written by this schema version and a sync of it with ``repos_dir``
    would change nothing. One statement reads the stamp, the recorded states and whether other repositories'
    rows are there (a row with a NULL key)."""
    names = repository_names(repos_dir)
    others, others_params = _others(names)
    rows = con.execute(
        f"SELECT key, value FROM index_info WHERE key IN ({', '.join('?' * len(STAMP_KEYS))}) OR starts_with(key, ?) "
        f"UNION ALL SELECT NULL, NULL FROM ({others})",
        [*STAMP_KEYS, CAUGHT_UP, *others_params],
    ).fetchall()
    info = dict(rows)
    if None in info or not stamped(info):
        return False
    for name in names:
        state = info.get(CAUGHT_UP + name)
        if state is None or refs_state(repos_dir / f"{name}.git") != state:
            return False
    return True
