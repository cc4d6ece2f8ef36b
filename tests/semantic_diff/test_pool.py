"""Cold extraction in worker processes (``semantic_diff.pool``): exactly the in-process output, errors raised as
in-process, small inputs kept in-process, no process left behind.

The pools here take every input (``min_bytes=0``), so each test's files really cross the process boundary.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trellis.semantic_diff import InvalidInput, ParseCache, SemanticDiffError, diff_files, extract_entities
from trellis.semantic_diff.pool import ExtractionPool, chunks, extract_many

from .fixtures import CODE_LANGUAGES, PYTHON
from .test_properties import PROPS, programs, render

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pool() -> Iterator[ExtractionPool]:
    with ExtractionPool(2, min_bytes=0) as p:
        yield p


def _fixture_files() -> list[tuple[str, bytes]]:
    """Every code language (its base modules and an edited version), keyed documents, and every fallback."""
    files: list[tuple[str, bytes]] = []
    for lang in CODE_LANGUAGES:
        base, _, _ = lang.base()
        files.extend(base.items())
        old, new = lang.body_edit
        edited = {p: c.replace(old.encode(), new.encode()) for p, c in base.items()}
        files.extend((f"edited/{p}", c) for p, c in edited.items())
    files += [
        ("conf/settings.json", b'{"name": "x", "deps": {"a": 1, "b": [1, 2]}}\n'),
        ("conf/ci.yaml", b"jobs:\n  test:\n    runs-on: linux\n    steps: [a, b]\n"),
        ("pyproject.toml", b'[project]\nname = "x"\n\n[tool.ruff]\nline-length = 120\n'),
        ("broken.py", b"def f(:\n    return 1\n"),  # parse_error
        ("broken.js", b"function (\n"),
        ("blob.py", b"x = 1\x00\x01\x02"),  # binary
        ("latin1.py", b"s = '\xe9'\n"),  # invalid_utf8
        ("notes.txt", b"plain text\n"),  # unsupported_language
        ("empty.py", b""),
        ("big.py", b"x = 1\n" * 50_000),  # too_large with the limit below
    ]
    return files


def test_extract_many_is_extract_entities_file_by_file(pool: ExtractionPool) -> None:
    files = _fixture_files()
    for limit in (2 * 1024 * 1024, 100_000):
        serial = [extract_entities(p, c, max_file_bytes=limit) for p, c in files]
        assert extract_many(files, pool=pool, max_file_bytes=limit) == serial
    assert pool.started and pool.processes()
    reasons = {pf.fallback_reason for pf in serial}
    assert {"", "parse_error", "binary", "invalid_utf8", "unsupported_language", "too_large"} <= reasons


@PROPS
@given(st.lists(st.tuples(programs, st.integers(0, 3)), min_size=1, max_size=12))
def test_extract_many_equals_serial_on_generated_programs(
    pool: ExtractionPool, sources: list[tuple[tuple[object, ...], int]]
) -> None:
    files = []
    for i, (program, damage) in enumerate(sources):
        text = render(program)  # type: ignore[arg-type]
        if damage == 1:
            text = text.replace(b"):", b"(:", 1)  # no longer parses
        elif damage == 2:
            text = text + b"\x00"
        files.append((f"pkg/m{i}.py", text))
    assert extract_many(files, pool=pool) == [extract_entities(p, c) for p, c in files]


@PROPS
@given(st.lists(st.tuples(programs, programs, st.sampled_from(["pair", "added", "deleted", "broken"])), max_size=8))
def test_diff_files_with_a_pool_equals_serial_on_generated_programs(
    pool: ExtractionPool, changes: list[tuple[tuple[object, ...], tuple[object, ...], str]]
) -> None:
    old: dict[str, bytes] = {}
    new: dict[str, bytes] = {}
    for i, (before, after, how) in enumerate(changes):
        a, b = render(before), render(after)  # type: ignore[arg-type]
        if how != "added":
            old[f"pkg/m{i}.py"] = a
        if how != "deleted":
            new[f"pkg/m{i}.py"] = b.replace(b"):", b"(:", 1) if how == "broken" else b
    old, new = _changed(old, new)
    assert diff_files(old, new, pool=pool) == diff_files(old, new)


def _tree(variant: int) -> dict[str, bytes]:
    files = dict(_fixture_files())
    files.pop("big.py")
    if variant:
        for lang in CODE_LANGUAGES:
            old, new = lang.doc_edit
            path = lang.path("m")
            files[path] = files[path].replace(old.encode(), new.encode())
        files["broken.py"] = b"def f():\n    return 1\n"  # now parses
        files["moved/" + PYTHON.path("n")] = files.pop(PYTHON.path("n"))  # a rename
        files["pkg/added.py"] = b"def added():\n    return 2\n"
        del files["conf/ci.yaml"]
        files["edited/" + PYTHON.path("m")] += b"\ndef tail(:\n"  # no longer parses
    return files


def _changed(old: dict[str, bytes], new: dict[str, bytes]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    return {p: c for p, c in old.items() if new.get(p) != c}, {p: c for p, c in new.items() if old.get(p) != c}


def test_diff_files_with_a_pool_is_the_serial_diff(pool: ExtractionPool) -> None:
    empty: dict[str, bytes] = {}
    steps = [(empty, _tree(0)), (_tree(0), _tree(1)), (_tree(1), empty)]
    serial_cache, pooled_cache = ParseCache(), ParseCache()
    for before, after in steps:
        old, new = _changed(before, after)
        serial = diff_files(old, new, cache=serial_cache)
        assert diff_files(old, new, pool=pool) == serial  # a cold diff
        # and with a cache that the pool filled, as the next diff of an import sees it
        assert diff_files(old, new, cache=pooled_cache, pool=pool) == serial
    assert serial.changes


def test_the_next_diff_after_a_pooled_one_is_the_serial_one(pool: ExtractionPool) -> None:
    """Versions parsed in a worker carry no tree: a later incremental parse from them makes one again."""
    a, b = _tree(0), _tree(1)
    c = {p: v.replace(b"return", b"return  ", 1) if p.endswith((".py", ".go")) else v for p, v in b.items()}
    serial_cache, pooled_cache = ParseCache(), ParseCache()
    for cache, use in ((serial_cache, None), (pooled_cache, pool)):
        diff_files(*_changed(a, b), cache=cache, pool=use)
    assert diff_files(*_changed(b, c), cache=pooled_cache) == diff_files(*_changed(b, c), cache=serial_cache)


def test_small_inputs_stay_in_process() -> None:
    with ExtractionPool(2) as small:
        files = list(PYTHON.base()[0].items())
        assert extract_many(files, pool=small) == [extract_entities(p, c) for p, c in files]
        diff_files({}, dict(files), pool=small)
        assert not small.started
    with ExtractionPool(1, min_bytes=0) as one:
        extract_many(_fixture_files(), pool=one)
        assert not one.started


def test_bad_input_raises_as_in_process(pool: ExtractionPool) -> None:
    with pytest.raises(InvalidInput) as serial:
        [extract_entities(p, c) for p, c in [("a.py", b"x = 1\n"), ("b.py", "text")]]  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as pooled:
        extract_many([("a.py", b"x = 1\n"), ("b.py", "text")], pool=pool)  # type: ignore[list-item]
    assert str(pooled.value) == str(serial.value) and pooled.value.reason == serial.value.reason


def _fails(task: tuple[str, int]) -> int:
    kind, n = task
    if kind == "semantic" and n == 3:
        raise SemanticDiffError("worker says no", reason="TEST_REASON", path=f"f{n}.py")
    if kind == "value" and n == 3:
        raise ValueError(f"bad task {n}")
    return n * n


def test_an_error_in_a_worker_is_raised_as_it_is(pool: ExtractionPool) -> None:
    tasks = [("semantic", n) for n in range(6)]
    with pytest.raises(SemanticDiffError) as caught:
        pool.run(_fails, tasks)
    assert type(caught.value) is SemanticDiffError
    assert (caught.value.message, caught.value.reason, caught.value.metadata) == (
        "worker says no",
        "TEST_REASON",
        {"path": "f3.py"},
    )
    with pytest.raises(ValueError, match="bad task 3"):
        pool.run(_fails, [("value", n) for n in range(6)])
    assert pool.run(_fails, [("ok", n) for n in range(6)]) == [n * n for n in range(6)]  # the pool goes on


def _dies_in_a_worker(task: tuple[int, int]) -> int:
    parent, n = task
    if os.getpid() != parent and n == 2:
        os._exit(3)  # as a worker killed by the OOM killer
    return n + 1


def test_a_worker_that_dies_leaves_its_tasks_to_the_caller() -> None:
    with ExtractionPool(2, min_bytes=0) as p:
        assert p.run(_dies_in_a_worker, [(os.getpid(), n) for n in range(8)]) == list(range(1, 9))
        assert not p.started  # closed: what is left runs in-process
        assert p.run(_dies_in_a_worker, [(os.getpid(), n) for n in range(3)]) == [1, 2, 3]


def test_chunks_cover_every_item_in_order() -> None:
    sizes = [10, 300_000, 5, 5, 5, 70_000, 0, 1]
    ranges = chunks(sizes, 2)
    assert [i for r in ranges for i in r] == list(range(len(sizes)))
    assert all(len(r) for r in ranges) and len(ranges) > 2
    assert chunks([], 2) == []


_AGAIN = """
import sys
sys.path.insert(0, {root!r})
from trellis.semantic_diff.pool import ExtractionPool
from tests.semantic_diff.test_pool import _fails
methods = []
for _ in range(4):
    with ExtractionPool(2, min_bytes=0) as pool:
        assert pool.run(_fails, [("ok", n) for n in range(4)]) == [0, 1, 4, 9]
        methods.append(pool.start_method)
print(" ".join(methods))
"""


def test_a_process_forks_its_workers_again_after_a_pool_is_closed() -> None:
    """Closing a pool leaves no thread behind: the next pool of a single-threaded process forks its workers too."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_AGAIN.format(root=str(ROOT)))], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["fork"] * 4


_CALLER = """
import signal, sys, threading, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal (a CI job may inherit SIGINT ignored)
sys.path.insert(0, {root!r})
from trellis.semantic_diff.pool import ExtractionPool
from tests.semantic_diff.test_pool import _sleeps
pool = ExtractionPool(2, min_bytes=0, start_method={method!r})

def report():
    while len(pool.processes()) < 2:
        time.sleep(0.05)
    print(" ".join(map(str, pool.processes())), flush=True)

threading.Thread(target=report, daemon=True).start()
pool.run(_sleeps, [60, 60, 60, 60])
"""


def _sleeps(seconds: int) -> int:
    time.sleep(seconds)
    return seconds


def _gone(pids: list[int], within: float = 20.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
                alive.append(pid)
            except ProcessLookupError:
                pass
        if not alive:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("method", ["fork", "forkserver"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_stopped_caller_leaves_no_worker_behind(sig: signal.Signals, method: str) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CALLER.format(root=str(ROOT), method=method))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as caller:
        try:
            assert caller.stdout is not None
            pids = [int(p) for p in caller.stdout.readline().split()]
            assert len(pids) == 2
            time.sleep(0.5)  # the tasks are running
            if sig == signal.SIGINT:
                os.killpg(caller.pid, sig)  # Ctrl-C at a terminal: the whole group
            else:
                os.kill(caller.pid, sig)  # the caller alone is killed: its workers must notice
            _, err = caller.communicate(timeout=30)
            assert _gone(pids), f"workers {pids} outlived their caller"
            if sig == signal.SIGINT:
                assert "KeyboardInterrupt" in err
        finally:
            if caller.poll() is None:
                caller.kill()
