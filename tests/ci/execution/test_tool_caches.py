"""Tool caches kept between a stage's jobs: round trip, what the tree holds wins, and nothing the job
planted (links, hard links, oversized caches) is ever read by the server."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from trellis.ci.execution import tool_caches
from trellis.ci.execution.tool_caches import CacheStore

SCOPE = "repo\0tests\0"
PATHS = (".hypothesis/unicode_data", "build/cache")


def _workspace(tmp_path: Path, name: str) -> Path:
    ws = tmp_path / name
    ws.mkdir()
    return ws


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_what_one_job_leaves_the_next_job_finds(tmp_path: Path) -> None:
    store = CacheStore(tmp_path / "store")
    first = _workspace(tmp_path, "ws-0")
    assert store.restore(SCOPE, PATHS, first) == 0  # nothing kept yet
    cache = first / ".hypothesis" / "unicode_data"
    (cache / "15.0").mkdir(parents=True)
    (cache / "15.0" / "charmap.json.gz").write_bytes(b"\x1f\x8b tables")
    (cache / "codec").write_bytes(b"utf-8")
    store.save(SCOPE, PATHS, first)

    second = _workspace(tmp_path, "ws-1")
    assert store.restore(SCOPE, PATHS, second) == 2
    assert _files(second) == {
        ".hypothesis/unicode_data/15.0/charmap.json.gz": b"\x1f\x8b tables",
        ".hypothesis/unicode_data/codec": b"utf-8",
    }
    # Another scope (another repository, stage or environment) keeps its own.
    third = _workspace(tmp_path, "ws-2")
    assert store.restore("other\0tests\0", PATHS, third) == 0
    assert _files(third) == {}


def test_the_last_job_replaces_the_kept_copy_and_a_job_without_it_drops_it(tmp_path: Path) -> None:
    store = CacheStore(tmp_path / "store")
    for content in (b"one", b"two"):
        ws = _workspace(tmp_path, content.decode())
        (ws / "build" / "cache").mkdir(parents=True)
        (ws / "build" / "cache" / ("f-" + content.decode())).write_bytes(content)
        store.save(SCOPE, PATHS, ws)
    restored = _workspace(tmp_path, "restored")
    store.restore(SCOPE, PATHS, restored)
    assert _files(restored) == {"build/cache/f-two": b"two"}  # a whole copy from one job, not a union

    store.save(SCOPE, PATHS, _workspace(tmp_path, "empty"))  # a job that left no cache: nothing is kept
    again = _workspace(tmp_path, "again")
    assert store.restore(SCOPE, PATHS, again) == 0 and _files(again) == {}


def test_the_tree_wins_over_a_kept_cache(tmp_path: Path) -> None:
    store = CacheStore(tmp_path / "store")
    ws = _workspace(tmp_path, "ws")
    (ws / "build" / "cache").mkdir(parents=True)
    (ws / "build" / "cache" / "x").write_bytes(b"kept")
    store.save(SCOPE, PATHS, ws)
    tracked = _workspace(tmp_path, "tracked")
    (tracked / "build" / "cache").mkdir(parents=True)
    (tracked / "build" / "cache" / "y").write_bytes(b"from the tree")
    (tracked / ".hypothesis").write_bytes(b"a file where a directory would go")
    assert store.restore(SCOPE, PATHS, tracked) == 0
    assert _files(tracked) == {"build/cache/y": b"from the tree", ".hypothesis": b"a file where a directory would go"}


def test_nothing_the_job_planted_is_kept(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key").write_bytes(b"server secret")
    store = CacheStore(tmp_path / "store")
    ws = _workspace(tmp_path, "ws")
    cache = ws / "build" / "cache"
    cache.mkdir(parents=True)
    (cache / "ok").write_bytes(b"written by the job")
    (cache / "link").symlink_to(secret / "key")
    (cache / "dir-link").symlink_to(secret, target_is_directory=True)
    os.link(secret / "key", cache / "hard")  # a second name for a file the job did not write
    os.mkfifo(cache / "fifo")
    store.save(SCOPE, PATHS, ws)
    restored = _workspace(tmp_path, "restored")
    store.restore(SCOPE, PATHS, restored)
    assert _files(restored) == {"build/cache/ok": b"written by the job"}
    assert not any(p.is_symlink() for p in restored.rglob("*"))


def test_a_linked_directory_on_the_way_keeps_nothing(tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "cache"
    outside.mkdir(parents=True)
    (outside / "key").write_bytes(b"server secret")
    store = CacheStore(tmp_path / "store")
    ws = _workspace(tmp_path, "ws")
    (ws / "build").symlink_to(tmp_path / "outside", target_is_directory=True)  # build/cache -> outside/cache
    (ws / ".hypothesis").mkdir()
    (ws / ".hypothesis" / "unicode_data").symlink_to(outside, target_is_directory=True)
    store.save(SCOPE, PATHS, ws)
    restored = _workspace(tmp_path, "restored")
    assert store.restore(SCOPE, PATHS, restored) == 0
    assert _files(restored) == {}
    # Restoring never writes through a link the tree holds either.
    store_ws = _workspace(tmp_path, "kept")
    (store_ws / "build" / "cache").mkdir(parents=True)
    (store_ws / "build" / "cache" / "new").write_bytes(b"x")
    store.save(SCOPE, PATHS, store_ws)
    linked = _workspace(tmp_path, "linked")
    (linked / "build").symlink_to(tmp_path / "outside", target_is_directory=True)
    assert store.restore(SCOPE, PATHS, linked) == 0
    assert sorted(p.name for p in outside.iterdir()) == ["key"]


def test_a_cache_over_its_bounds_is_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = CacheStore(tmp_path / "store")
    ws = _workspace(tmp_path, "ws")
    (ws / "build" / "cache").mkdir(parents=True)
    (ws / "build" / "cache" / "small").write_bytes(b"x" * 10)
    store.save(SCOPE, PATHS, ws)
    monkeypatch.setattr(tool_caches, "MAX_BYTES", 100)
    (ws / "build" / "cache" / "big").write_bytes(b"x" * 200)
    store.save(SCOPE, PATHS, ws)
    restored = _workspace(tmp_path, "restored")
    assert store.restore(SCOPE, PATHS, restored) == 0  # dropped, not kept stale or cut short
    monkeypatch.setattr(tool_caches, "MAX_BYTES", 1 << 20)
    monkeypatch.setattr(tool_caches, "MAX_FILES", 3)
    for i in range(4):
        (ws / "build" / "cache" / f"f{i}").write_bytes(b"y")
    store.save(SCOPE, PATHS, ws)
    assert store.restore(SCOPE, PATHS, _workspace(tmp_path, "again")) == 0
    for i in range(4):  # directories count too
        (ws / "build" / "cache" / f"f{i}").unlink()
        (ws / "build" / "cache" / f"d{i}").mkdir()
    store.save(SCOPE, PATHS, ws)
    assert store.restore(SCOPE, PATHS, _workspace(tmp_path, "dirs")) == 0


def test_jobs_saving_at_once_leave_one_whole_copy(tmp_path: Path) -> None:
    store = CacheStore(tmp_path / "store")
    workspaces = []
    for i in range(6):
        ws = _workspace(tmp_path, f"ws-{i}")
        (ws / "build" / "cache").mkdir(parents=True)
        for j in range(20):
            (ws / "build" / "cache" / f"{j}").write_bytes(f"{i}".encode())
        workspaces.append(ws)
    threads = [threading.Thread(target=store.save, args=(SCOPE, PATHS, ws)) for ws in workspaces]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    restored = _workspace(tmp_path, "restored")
    assert store.restore(SCOPE, PATHS, restored) == 20
    assert len(set(_files(restored).values())) == 1  # every file from the same job
    assert not [p for p in store.root.rglob("*") if p.name.startswith(("new-", "old-"))]
