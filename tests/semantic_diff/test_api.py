"""The public surface: JSON format, human-readable lines, determinism, the parse cache."""

from __future__ import annotations

import json
import random
import sysconfig
import threading
from pathlib import Path

from trellis import semantic_diff
from trellis.semantic_diff import (
    CHANGE_KINDS,
    EntityChange,
    ParseCache,
    change_to_json,
    describe,
    diff_files,
    extract_entities,
    result_to_json,
)
from trellis.semantic_diff.parse import analyze

OLD = b"""import os


def parse(text):
    return text.split()


class User:
    def save(self, force=False):
        self.saved = True
        return self.saved
"""
NEW = b"""import os


def parse_args(text):
    return text.split()


class User:
    def save(self, force=False, sync=True):
        self.saved = True
        return self.saved
"""


def test_all_is_the_public_api() -> None:
    for name in semantic_diff.__all__:
        assert hasattr(semantic_diff, name), name
    assert {
        "diff_files",
        "extract_entities",
        "language_for",
        "ParseCache",
        "change_to_json",
        "Entity",
        "EntityChange",
        "FileDiff",
        "DiffResult",
    } <= set(semantic_diff.__all__)


def test_json_format() -> None:
    result = diff_files({"util.py": OLD}, {"util.py": NEW})
    payload = [change_to_json(c) for c in result.changes]
    assert payload == [
        {
            "path": "util.py",
            "old_path": "util.py",
            "kind": "function",
            "qualname": "util.parse_args",
            "old_qualname": "util.parse",
            "change": "renamed",
            "details": [],
            "old_lines": [4, 5],
            "new_lines": [4, 5],
            "similarity": 1.0,
            "follows": "",
        },
        {
            "path": "util.py",
            "old_path": "util.py",
            "kind": "method",
            "qualname": "util.User.save",
            "old_qualname": "util.User.save",
            "change": "modified",
            "details": ["signature", "parameters_added:sync"],
            "old_lines": [9, 11],
            "new_lines": [9, 11],
            "similarity": 1.0,
            "follows": "",
        },
    ]
    doc = result_to_json(result)
    assert json.loads(json.dumps(doc)) == doc
    assert doc["files"] == [
        {
            "path": "util.py",
            "old_path": "util.py",
            "status": "modified",
            "language": "python",
            "additions": 2,
            "deletions": 2,
            "binary": False,
            "fallback_reason": "",
        }
    ]
    for change in payload:
        assert {"path", "old_path", "kind", "qualname", "old_qualname", "change", "details"} <= set(change)
        assert change["change"] in CHANGE_KINDS


def test_describe() -> None:
    result = diff_files({"util.py": OLD}, {"util.py": NEW})
    assert [describe(c) for c in result.changes] == [
        "→ renamed function util.parse → util.parse_args",
        "~ modified method util.User.save (signature, parameters_added:sync)",
    ]
    moved = EntityChange("b.py", "a.py", "function", "b.f", "a.f", "moved", (), 1, 2, 3, 4, 1.0)
    assert describe(moved) == "→ moved function a.f → b.f (a.py → b.py)"
    added = EntityChange("b.py", "", "class", "b.C", "", "added", (), 0, 0, 3, 4, 0.0)
    assert describe(added) == "+ added class b.C"


def _stdlib(name: str) -> bytes:
    return (Path(sysconfig.get_paths()["stdlib"]) / name).read_bytes()


def test_deterministic_across_runs_and_input_order() -> None:
    a, b = _stdlib("textwrap.py"), _stdlib("shlex.py")
    old = {"x/textwrap.py": a, "x/shlex.py": b, "x/gone.py": b"def gone():\n    return 1\n"}
    new = {
        "x/shlex.py": b.replace(b"def ", b"def _", 3),
        "x/textwrap.py": a.replace(b"width=70", b"width=80"),
        "y/moved.py": a[: len(a) // 3],
    }
    first = diff_files(old, new)
    shuffled_old = dict(sorted(old.items(), reverse=True))
    shuffled_new = dict(sorted(new.items(), reverse=True))
    for _ in range(3):
        assert diff_files(shuffled_old, shuffled_new, cache=ParseCache()) == first
    assert first.changes and [f.path for f in first.files] == sorted(f.path for f in first.files)


def test_cache_serves_the_old_side_and_parses_the_new_side_incrementally() -> None:
    src = _stdlib("argparse.py")
    new = src.replace(
        b"def _get_optional_kwargs(self, *args, **kwargs):",
        b"def _get_optional_kwargs(self, *args, extra=None, **kwargs):",
    )
    cache = ParseCache()
    extract_entities("argparse.py", src, cache=cache, blob_id="old")
    before = cache.stats()
    result = diff_files(
        {"argparse.py": src},
        {"argparse.py": new},
        cache=cache,
        old_ids={"argparse.py": "old"},
        new_ids={"argparse.py": "new"},
    )
    after = cache.stats()
    assert after.hits == before.hits + 1 and after.entries == 2
    assert [(c.qualname, c.details) for c in result.changes] == [
        ("argparse._ActionsContainer._get_optional_kwargs", ("signature", "parameters_added:extra"))
    ]
    parsed = cache.get(("python", "new"))
    assert parsed is not None and parsed.how == "region"  # only the changed method was parsed
    # An edit that a region cannot hold (a new top-level class) takes the incremental path.
    newer = new + b"\n\nclass Extra:\n    pass\n"
    diff_files(
        {"argparse.py": new},
        {"argparse.py": newer},
        cache=cache,
        old_ids={"argparse.py": "new"},
        new_ids={"argparse.py": "newer"},
    )
    parsed = cache.get(("python", "newer"))
    assert parsed is not None and parsed.how in ("incremental", "full")


def test_incremental_path_copies_unchanged_entities() -> None:
    src = _stdlib("argparse.py")
    base = analyze("argparse.py", src)
    new = src.replace(b"import os as _os", b"import os as _os\nimport io")
    parsed = analyze("argparse.py", new, base=base)
    assert parsed.how == "incremental" and len(parsed.origin) > 100  # copied, not walked


def test_cache_is_bounded_by_bytes() -> None:
    cache = ParseCache(max_bytes=2_000_000)
    for i in range(30):
        analyze("m.py", b"x = %d\n" % i * 2000, cache=cache, blob_id=str(i))
    stats = cache.stats()
    assert stats.bytes <= 2_000_000 and 0 < stats.entries < 30
    assert ("python", "29") in cache and ("python", "0") not in cache
    tiny = ParseCache(max_bytes=10)
    analyze("m.py", b"x = 1\n", cache=tiny, blob_id="a")
    assert len(tiny) == 0


def test_cache_is_thread_safe() -> None:
    cache = ParseCache(max_bytes=20_000_000)
    sources = [b"def f%d(x):\n    return x + %d\n" % (i, i) * 20 for i in range(40)]
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(60):
                i = rng.randrange(len(sources) - 1)
                r = diff_files({"m.py": sources[i]}, {"m.py": sources[i + 1]}, cache=cache)
                assert r.files[0].fallback_reason == ""
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert cache.stats().hits > 0


def test_same_content_under_another_blob_id_is_not_confused() -> None:
    cache = ParseCache()
    analyze("m.py", b"def f():\n    return 1\n", cache=cache, blob_id="same")
    # A (wrong) id reused for other content must not return the other content's entities.
    parsed = analyze("m.py", b"def g():\n    return 2\n", cache=cache, blob_id="same")
    assert [r.lqual for r in parsed.records] == ["", "g"]
