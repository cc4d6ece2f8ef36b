"""Opening the index database with the settings that make it safe to share.

The server opens ``<data>/index.duckdb`` once. One connection writes (the
indexer); every query runs on its own cursor of the same database. DuckDB
does not allow a read-only and a read-write connection to one file in one
process, so the guards that a read-only open would give are applied to the
whole database instead, then locked:

``enable_external_access = false``
    no file or network access from SQL: ``read_csv``, ``COPY``, ``ATTACH``,
    ``INSTALL`` … fail with a permission error. The database's own file, its
    WAL and its temp directory stay usable. (Parquet export goes through
    pyarrow, not ``COPY``, for this reason.)
``autoinstall_known_extensions`` / ``autoload_known_extensions = false``
    nothing is fetched or loaded behind the sandbox's back.
``allow_community_extensions = false``
    no third-party extensions, even if one were installed.
``python_enable_replacements = false``
    DuckDB's Python client would otherwise resolve an unknown table name to a
    Python variable of the calling frame (a DataFrame, an Arrow table…).
``memory_limit``, ``threads``, ``max_temp_directory_size``
    caps for the whole database.
``disabled_compression_methods = 'fsst'``
    identifier-like strings (paths, qualified names) stay dictionary-encoded
    or plain, which makes grouping by them about twice as fast.
``lock_configuration = true`` (last)
    no statement can change any of the above any more (``SET`` fails).

The SQL sandbox (:mod:`trellis.query.sandbox`) adds its own checks on top.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .engine import duckdb as engine

if TYPE_CHECKING:
    import duckdb

__all__ = ["DatabaseSettings", "open_database", "open_reader"]


class DatabaseSettings:
    """Resource caps of the index database (shared by the indexer and every query); immutable, compared by value.

    A plain class, not a frozen dataclass or a NamedTuple: this module is on the path of a ``trellis query``
    process (:func:`open_reader`), where importing ``dataclasses`` would cost ~6 ms of its ~50, and a NamedTuple
    with this module's string annotations ~1 ms (typing compiles each)."""

    __slots__ = ("max_temp_directory_size", "memory_limit", "threads")
    memory_limit: str
    threads: int
    max_temp_directory_size: str

    def __init__(self, memory_limit: str = "2GB", threads: int = 2, max_temp_directory_size: str = "8GB") -> None:
        object.__setattr__(self, "memory_limit", memory_limit)
        object.__setattr__(self, "threads", threads)
        object.__setattr__(self, "max_temp_directory_size", max_temp_directory_size)

    def _fields(self) -> tuple[str, int, str]:
        return (self.memory_limit, self.threads, self.max_temp_directory_size)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"DatabaseSettings is immutable: cannot set {name}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatabaseSettings) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __reduce__(self) -> tuple[type[DatabaseSettings], tuple[str, int, str]]:
        return (DatabaseSettings, self._fields())

    def __repr__(self) -> str:
        return "DatabaseSettings(memory_limit={!r}, threads={!r}, max_temp_directory_size={!r})".format(*self._fields())


def open_database(path: Path | None, settings: DatabaseSettings | None = None) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the index at ``path`` (``None``: in memory) and lock it down.

    Returns the trusted writer connection; take ``.cursor()`` for each reader
    thread. The tables and views of :mod:`trellis.query.schema` exist afterwards.
    """
    import duckdb  # the package: the indexer and the Arrow streams use its relations on these connections

    from .schema import create_schema

    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path) if path is not None else ":memory:", config=_locked_down(settings))
    try:
        # Identifier-like strings (paths, names) aggregate ~2x faster without FSST, in dictionaries.
        con.execute("SET disabled_compression_methods = 'fsst'")
        con.execute("SET enable_progress_bar = false")  # a library never draws on the terminal
        create_schema(con)
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _locked_down(settings: DatabaseSettings | None) -> dict[str, str | bool | int | float | list[str]]:
    settings = settings or DatabaseSettings()
    return {
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "python_enable_replacements": False,
        "memory_limit": settings.memory_limit,
        "threads": settings.threads,
        "max_temp_directory_size": settings.max_temp_directory_size,
    }


def open_reader(path: Path, settings: DatabaseSettings | None = None) -> duckdb.DuckDBPyConnection:
    """Open the index at ``path`` read-only (it must exist), locked down as :func:`open_database` locks it.

    For a process that only reads, and only while no process writes the file (DuckDB refuses a read-only open
    next to a writer in another process): it writes nothing, so closing it neither checkpoints nor syncs. The
    connection comes from the engine module (``trellis.query.engine``): rows, not relations. No DDL runs: the
    caller checks the schema it needs (``schema.schema_current``)."""
    con = engine.connect(str(path), read_only=True, config=_locked_down(settings))
    try:
        con.execute("SET enable_progress_bar = false")  # a library never draws on the terminal
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con
