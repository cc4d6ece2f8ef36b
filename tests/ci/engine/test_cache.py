"""The result cache: verdicts about the code, kept by key on disk with an LRU in front."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from trellis.ci.engine.cache import ResultCache, cache_key
from trellis.ci.runs import JobResult, Verdict
from trellis.ci.runs import TestCase as Case

RESULT = JobResult(
    "lint",
    "file",
    "a.py",
    "a.py",
    verdict=Verdict.FAILED,
    summary="1 problem",
    output=b"a.py:1\n",
    exit_code=1,
    tests=(Case("t::x", Verdict.FAILED, 3, "boom"),),
    start_time=1.0,
    end_time=2.0,
    cached=True,
)


def test_a_put_result_comes_back_from_memory_and_from_disk(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    cache.put("ab" * 32, RESULT)
    expected = JobResult(
        "lint",
        "file",
        "a.py",
        "a.py",
        verdict=Verdict.FAILED,
        summary="1 problem",
        output=b"a.py:1\n",
        exit_code=1,
        tests=RESULT.tests,
    )  # no times, not marked cached
    assert cache.get("ab" * 32) == expected
    assert ResultCache(tmp_path).get("ab" * 32) == expected  # a new process reads the file
    assert ResultCache(tmp_path).get("cd" * 32) is None


@given(st.sampled_from(list(Verdict)))
def test_only_verdicts_about_the_code_are_kept(verdict: Verdict) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        cache = ResultCache(Path(root))
        cache.put("ef" * 32, JobResult("lint", "commit", "", verdict=verdict))
        found = cache.get("ef" * 32)
        assert (found is not None) == (verdict in (Verdict.PASSED, Verdict.FAILED))


def test_memory_is_bounded_and_disk_still_answers(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path, memory_entries=2)
    keys = [f"{i:02x}" * 32 for i in range(4)]
    for key in keys:
        cache.put(key, JobResult("lint", "commit", "", verdict=Verdict.PASSED))
    assert len(cache._memory) == 2
    assert all(cache.get(key) is not None for key in keys)
    assert cache.hits == 4 and cache.misses == 0


def test_a_corrupt_entry_is_a_miss(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    key = "12" * 32
    (tmp_path / key[:2]).mkdir()
    (tmp_path / key[:2] / f"{key}.json").write_text("{not json")
    assert cache.get(key) is None and cache.misses == 1


def test_the_key_depends_on_the_definition_and_every_input() -> None:
    base = cache_key("def", ("tree", "t1", "", "cmd"))
    assert base == cache_key("def", ("tree", "t1", "", "cmd"))
    assert (
        len(
            {
                base,
                cache_key("def2", ("tree", "t1", "", "cmd")),
                cache_key("def", ("tree", "t2", "", "cmd")),
                cache_key("def", ("tree", "t1", "", "cmd2")),
            }
        )
        == 4
    )
