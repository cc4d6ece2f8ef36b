"""Trellis query layer: the DuckDB index derived from git, the SQL sandbox, export and imports.

Plain library: no gRPC, no environment, no printing. The pieces::

    indexer = Indexer(data_dir)                  # opens <data>/index.duckdb, locked down
    indexer.sync()                               # catch up with every repository
    indexer.sync_repository("demo")              # after each acknowledged commit, or:
    background = BackgroundIndexer(indexer).start(); background.notify("demo")
    result = run_query(indexer, "SELECT …", max_rows=1000, timeout_s=10)
    with stream_query(indexer, sql) as stream:   # Arrow record batches
        for batch in stream: ...
    export_parquet(indexer, dest)                # Parquet, partitioned by repository (and month)
    import_history(data_dir, source, "name", indexer=indexer)
    trajectory = load_trajectory(path)           # an agent's log (6 formats) → session + StepInputs + patch
    land_trajectory(store, "demo", trajectory, identity, base_revision="main")

Pass the ``Indexer`` (not its writer ``connection``) to ``run_query`` /
``stream_query`` / ``export_parquet``: each call then reads through its own
cursor, safe while another thread indexes.

Errors derive from :class:`trellis.query.errors.QueryError`, each with a stable ``reason``
(``trellis.errors`` maps them to status codes).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .background import BackgroundIndexer
    from .changes import EntityDiffer, SemanticDiffer, default_entity_differ
    from .checks import QueryParams, check_params, check_query, requested_bounds
    from .database import DatabaseSettings, open_database
    from .errors import (
        HistoryImportError,
        InvalidQuery,
        PatchDoesNotApply,
        PatchError,
        QueryError,
        QueryFailed,
        QueryNotAllowed,
        QueryParamError,
        QueryResourceExhausted,
        QuerySyntaxError,
        QueryTimeout,
        RepositoryNotIndexed,
        TrajectoryFormatError,
    )
    from .export import EXPORT_TABLES, export_parquet
    from .formats import json_dicts, json_rows
    from .history_import import ImportResult, import_history
    from .indexer import Indexer, ProgressCallback, SyncStats
    from .patches import FilePatch, apply_patch, parse_patch, patch_changes
    from .readonly import QueryValues, read_current
    from .sandbox import QueryLimits, QueryRows, QueryStream, run_query, stream_query
    from .schema import SCHEMA_VERSION, TABLES, VIEWS, schema_markdown
    from .trajectories import (
        LandedTrajectory,
        Trajectory,
        TrajectorySession,
        content_key,
        detect_format,
        land_trajectory,
        load_trajectory,
        parse_trajectory,
        to_atif,
        to_otlp,
    )

# Each name loads its module on first use: ``trellis query`` on a local data directory needs the indexer and
# the sandbox, not Parquet export, trajectories or patches (each import costs tens of milliseconds).
_LAZY = {
    "BackgroundIndexer": "background",
    "DatabaseSettings": "database",
    "EXPORT_TABLES": "export",
    "EntityDiffer": "changes",
    "FilePatch": "patches",
    "HistoryImportError": "errors",
    "ImportResult": "history_import",
    "Indexer": "indexer",
    "InvalidQuery": "errors",
    "LandedTrajectory": "trajectories",
    "PatchDoesNotApply": "errors",
    "PatchError": "errors",
    "ProgressCallback": "indexer",
    "QueryError": "errors",
    "QueryFailed": "errors",
    "QueryLimits": "sandbox",
    "QueryNotAllowed": "errors",
    "QueryParamError": "errors",
    "QueryParams": "checks",
    "QueryResourceExhausted": "errors",
    "QueryRows": "sandbox",
    "QueryStream": "sandbox",
    "QuerySyntaxError": "errors",
    "QueryTimeout": "errors",
    "QueryValues": "readonly",
    "RepositoryNotIndexed": "errors",
    "SCHEMA_VERSION": "schema",
    "SemanticDiffer": "changes",
    "SyncStats": "indexer",
    "TABLES": "schema",
    "Trajectory": "trajectories",
    "TrajectoryFormatError": "errors",
    "TrajectorySession": "trajectories",
    "VIEWS": "schema",
    "apply_patch": "patches",
    "check_params": "checks",
    "check_query": "checks",
    "content_key": "trajectories",
    "default_entity_differ": "changes",
    "detect_format": "trajectories",
    "export_parquet": "export",
    "import_history": "history_import",
    "json_dicts": "formats",
    "json_rows": "formats",
    "read_current": "readonly",
    "land_trajectory": "trajectories",
    "load_trajectory": "trajectories",
    "open_database": "database",
    "parse_patch": "patches",
    "parse_trajectory": "trajectories",
    "patch_changes": "patches",
    "requested_bounds": "checks",
    "run_query": "sandbox",
    "schema_markdown": "schema",
    "stream_query": "sandbox",
    "to_atif": "trajectories",
    "to_otlp": "trajectories",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'trellis.query' has no attribute {name!r}")


__all__ = [
    "EXPORT_TABLES",
    "SCHEMA_VERSION",
    "TABLES",
    "VIEWS",
    "BackgroundIndexer",
    "DatabaseSettings",
    "EntityDiffer",
    "FilePatch",
    "HistoryImportError",
    "ImportResult",
    "Indexer",
    "InvalidQuery",
    "LandedTrajectory",
    "PatchDoesNotApply",
    "PatchError",
    "ProgressCallback",
    "QueryError",
    "QueryFailed",
    "QueryLimits",
    "QueryNotAllowed",
    "QueryParamError",
    "QueryResourceExhausted",
    "QueryRows",
    "QueryParams",
    "QueryStream",
    "QuerySyntaxError",
    "QueryTimeout",
    "QueryValues",
    "RepositoryNotIndexed",
    "SemanticDiffer",
    "SyncStats",
    "Trajectory",
    "TrajectoryFormatError",
    "TrajectorySession",
    "apply_patch",
    "check_query",
    "default_entity_differ",
    "export_parquet",
    "import_history",
    "json_dicts",
    "json_rows",
    "content_key",
    "detect_format",
    "land_trajectory",
    "load_trajectory",
    "open_database",
    "parse_patch",
    "parse_trajectory",
    "to_atif",
    "to_otlp",
    "patch_changes",
    "requested_bounds",
    "check_params",
    "read_current",
    "run_query",
    "schema_markdown",
    "stream_query",
]
