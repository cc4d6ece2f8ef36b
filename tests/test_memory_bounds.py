"""The server's memory bounds (``serve --parse-cache-mb``, ``--diff-cache-mb``, ``--index-memory-mb``) reach the caches they bound,
through the functions that open them in one process and in the index process of ``--workers``."""

from __future__ import annotations

from pathlib import Path

import pytest

from trellis.config import ServerConfig
from trellis.server import open_differ, open_index, open_store
from trellis.vcs import sync_filesystems


def _memory_limit(config: ServerConfig) -> tuple[int, int, str]:
    store = open_store(config, sync_filesystems, recover=False)
    differ = open_differ(config, store)
    index = open_index(config, differ)
    try:
        cursor = index.indexer.cursor()
        try:
            row = cursor.execute("SELECT current_setting('memory_limit')").fetchone()
        finally:
            cursor.close()
    finally:
        index.close()
    assert row is not None
    return differ.cache.max_bytes, differ.max_results_bytes, str(row[0])


@pytest.mark.parametrize(("parse_cache_mb", "diff_cache_mb", "index_memory_mb"), [(3, 2, 64), (0, 0, 1)])
def test_the_caches_and_the_index_database_get_the_configured_bounds(
    tmp_path: Path, parse_cache_mb: int, diff_cache_mb: int, index_memory_mb: int
) -> None:
    config = ServerConfig(
        data_dir=tmp_path / "data",
        parse_cache_mb=parse_cache_mb,
        diff_cache_mb=diff_cache_mb,
        index_memory_mb=index_memory_mb,
    )
    assert _memory_limit(config) == (parse_cache_mb << 20, diff_cache_mb << 20, f"{index_memory_mb}.0 MiB")


def test_the_index_database_is_not_left_at_duckdbs_default_of_most_of_the_machine(tmp_path: Path) -> None:
    assert _memory_limit(ServerConfig(data_dir=tmp_path / "data")) == (256 << 20, 16 << 20, "512.0 MiB")
