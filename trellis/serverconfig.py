"""The server's configuration (``ServerConfig``) and the redaction settings file, re-exported by :mod:`trellis.config`.

Apart from :mod:`trellis.config` so that reading the environment there imports no ``dataclasses``; nothing here
reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .config import DEFAULT_ADDRESS, INDEX_INTERVAL

if TYPE_CHECKING:
    from trellis.vcs import Durability, Limits, SecretPattern

    from .quotas import Quotas

__all__ = ["RedactionSettings", "ServerConfig", "load_redaction"]


# ServerConfig's defaults that live in vcs and quotas load when a configuration is built: every CLI command
# imports this module to read the environment, and most never build one.
def _default_limits() -> Limits:
    from trellis.vcs import Limits

    return Limits()


def _default_quotas() -> Quotas:
    from .quotas import Quotas

    return Quotas()


def _durable() -> Durability:
    from trellis.vcs import Durability

    return Durability.DURABLE


def _loose_limit() -> int:
    from trellis.vcs import LOOSE_LIMIT

    return LOOSE_LIMIT


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``build_server`` needs; defaults are the embedded ones."""

    data_dir: Path
    address: str = DEFAULT_ADDRESS
    limits: Limits = field(default_factory=_default_limits)
    max_workers: int = 128
    admission_slots: int = 2
    """Calls that run at once, at most half of them (at least one) heavy; the others (unary calls, CommitStream
    items and Query steps alike) queue, cheap calls first (:mod:`trellis.admission`). 0: no limit. Two, not
    more: every running call's thread contends for the GIL with the event loop that accepts calls, and gRPC
    accepts a method's calls one at a time, a few turns of that loop each. With eight the calls queued in gRPC,
    first come first served, before reaching this queue (benchmarks/RESULTS.md, "Cheap calls first"); with
    three a unary ``Commit``, the busiest method, still waited p90 150-390 ms to be accepted under
    ``bench_load.py``, with two 30-40 ms, at the same calls per second ("Work begun first")."""
    grace_seconds: float = 10.0
    max_message_bytes: int = 256 * 1024 * 1024
    executor: str = "local"  # where verification jobs run: "local" (warm process pool) or "ray"
    ci_workers: int = 0  # local executor slots; 0 means one per CPU
    ray_address: str | None = None  # the Ray cluster for executor "ray"; None starts a local Ray instance
    full_run_every: int = 0  # every N-th push to a branch runs every test (selection check); 0: never
    tls_cert: Path | None = None
    """PEM certificate chain of the server; with ``tls_key``, the server speaks only TLS."""
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    """PEM of the CA that signs client certificates: mutual TLS, clients without one are refused."""
    insecure_allow_remote: bool = False
    """Listen on a non-loopback address without TLS or without tokens (a trusted network only)."""
    quotas: Quotas = field(default_factory=_default_quotas)
    durability: Durability = field(default_factory=_durable)
    """When a write is acknowledged: DURABLE once it is synced to disk (power-loss safe, commits that arrive
    together share one sync), NONE as soon as the operating system has it (tmpfs, throwaway data, benchmarks)."""
    loose_objects_limit: int = field(default_factory=_loose_limit)
    """Loose objects a repository may gather before background maintenance packs them; 0 turns it off."""
    snapshot_interval: float = 2.0
    """Seconds between publications of the read-only index copy ``index-snapshot.duckdb`` after a change (at most
    a quarter of a core spent on it); 0 publishes none."""
    object_cache_mb: int = 64
    """MiB of git objects (commits, trees) each server process keeps in memory (libgit2's object cache; its own
    default is 256 MiB per process). Micro-commits read back little beyond the branch heads."""
    parse_cache_mb: int = 256
    """MiB of parsed files (tree-sitter trees and their entities, by the cache's own estimate) each server process
    keeps for semantic diffs, merges and indexing: the largest of a server's bounded caches under a diff load."""
    diff_cache_mb: int = 16
    """MiB of finished semantic diffs each server process keeps to answer a repeated ``Diff`` (estimated; a diff
    of a branch against its base holds every file the branch changed)."""
    front_malloc_arenas: int = 2
    """glibc malloc arenas the threads of each front process of ``serve --workers`` share (0: glibc's default, eight
    per core): each arena keeps its own free space, which grew without end with one per pool thread
    (:mod:`trellis.native_heap`). Not set in the index process, whose DuckDB allocates from threads of its own."""
    index_memory_mb: int = 512
    """MiB of memory the index database may use (DuckDB's ``memory_limit``: its buffer pool and the working memory
    of queries, which spill to its temp directory beyond it); in the index process, or the one process."""
    index_interval: float = INDEX_INTERVAL
    """Seconds from one background sync of the index to the next, gathering the writes in between into one sync
    (a write after a quiet spell is indexed at once); 0 indexes right after each write. A sync costs a fixed
    10-20 ms of CPU besides its commits' rows (the references read, a dozen DuckDB statements), which a busy
    server syncing after every write paid every few commits; an import command's embedded server spaces them
    out further."""


@dataclass(frozen=True)
class RedactionSettings:
    """``<data-dir>/redaction.toml``: whether credentials are redacted (default yes) and extra patterns.

    ::

        enabled = true                      # false stores steps as given (not recommended)
        [[pattern]]
        kind = "internal_token"             # the marker becomes [REDACTED:internal_token]
        regex = "itk_[0-9a-f]{32}"          # a named group `secret` limits what is replaced
    """

    enabled: bool = True
    patterns: tuple[SecretPattern, ...] = ()


def load_redaction(path: Path) -> RedactionSettings:
    """The redaction settings of ``path`` (defaults when it does not exist); ValueError when malformed."""
    import tomllib

    from trellis.vcs import SecretPattern

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return RedactionSettings()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read the redaction settings: {exc}") from None
    enabled = data.get("enabled", True)
    entries = data.get("pattern", [])
    if not isinstance(enabled, bool) or not isinstance(entries, list):
        raise ValueError("expected `enabled = true|false` and [[pattern]] tables with `kind` and `regex`")
    patterns = []
    for entry in entries:
        if not (isinstance(entry, dict) and isinstance(entry.get("kind"), str) and isinstance(entry.get("regex"), str)):
            raise ValueError("each [[pattern]] needs a `kind` and a `regex` string")
        patterns.append(SecretPattern(entry["kind"], entry["regex"]))
    return RedactionSettings(enabled, tuple(patterns))
