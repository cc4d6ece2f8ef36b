"""DuckDB's engine, without the Python package's relational layer where that is not needed.

The ``duckdb`` package re-exports its C++ extension module ``_duckdb``
(connections with ``execute`` / ``fetch*``, ``extract_statements``,
``tokenize``, the exception classes: the very same objects), then adds a
relational API in Python, Arrow streaming and a version lookup through
package metadata: about 55 ms of imports, against 9 ms for the engine alone.
A short-lived process that runs one checked SELECT and reads rows
(``trellis query`` on a local data directory, :mod:`trellis.query.readonly`)
needs the engine only. Anything that streams Arrow or uses relations imports
``duckdb`` itself (which loads this same engine).

``duckdb`` here is the engine module where the distribution has one, else the
package (a layout without ``_duckdb``); tests check that every name used
through it is the package's own object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb
else:
    try:
        import _duckdb as duckdb
    except ImportError:  # pragma: no cover - a DuckDB whose engine is not a module of its own
        import duckdb

__all__ = ["duckdb"]
