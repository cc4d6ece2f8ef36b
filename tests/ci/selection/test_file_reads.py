"""Files of the tree tests were observed to read and directories they listed: what a change to one selects, beyond
the static rules (trellis.ci.selection.file_reads)."""

from __future__ import annotations

import json
from pathlib import Path

from trellis.ci.selection.file_reads import READS_KEPT, ReadIndex, SiteReads
from trellis.ci.selection.index import Change, ChangedEntity, ChangedPath, TestIndex
from trellis.ci.selection.observed import Observations
from trellis.ci.selection.reuse import closure_keys

# test_case names its data file; test_every lists the directory (a computed name: no word names it) and reads each;
# test_itself walks the package and reads its modules as text (one no code imports among them); test_load goes
# through a loader that caches what it read (only the first caller in a job reads).
FILES = {
    "pkg/__init__.py": b"",
    "pkg/core.py": b"def double(x):\n    return 2 * x\n",
    "pkg/spare.py": b"def unused():\n    return 1\n",
    "pkg/grammar.py": b"import os\n\n_CACHE = {}\n\n\ndef load(version):\n    if version not in _CACHE:\n"
    b"        with open(os.path.join(os.path.dirname(__file__), 'grammar%s.txt' % version)) as f:\n"
    b"            _CACHE[version] = f.read()\n    return _CACHE[version]\n",
    "pkg/grammar3.txt": b"file_input: stmt*\n",
    "data/case.txt": b"case\n",
    "tests/test_case.py": b"from pathlib import Path\n\n\ndef test_case():\n"
    b"    assert (Path(__file__).parent.parent / 'data' / 'case.txt').read_text()\n",
    "tests/test_every.py": b"from pathlib import Path\n\nWHERE = 'da' + 'ta'\n\n\ndef test_every():\n"
    b"    for p in (Path(__file__).parent.parent / WHERE).iterdir():\n        assert p.read_text()\n",
    "tests/test_itself.py": b"import os\n\n\ndef test_itself():\n    for root, _, names in os.walk('pkg'):\n"
    b"        for n in names:\n            open(os.path.join(root, n)).read()\n",
    "tests/test_load.py": b"from pkg.core import double\nfrom pkg.grammar import load\n\n\ndef test_first():\n"
    b"    assert load(3)\n\n\ndef test_second():\n    assert load(3) and double(1) == 2\n",
}
# What the job writes (pytest_plugin.EvalRecorder.read): per site, the innermost function of the tree on the stack.
RECORDS = [
    {"reads": "tests/test_case.py::test_case", "file": "data/case.txt"},
    {"reads": "tests/test_every.py::test_every", "dir": "data"},
    {"reads": "tests/test_every.py::test_every", "file": "data/case.txt"},
    {"reads": "tests/test_itself.py::test_itself", "dir": "pkg"},
    *({"reads": "tests/test_itself.py::test_itself", "file": f"pkg/{n}"} for n in ("core.py", "spare.py")),
    {"reads": "pkg/grammar.py::load", "file": "pkg/grammar3.txt"},  # in test_first only: test_second hit the cache
]


def reads_of(records: list[dict[str, object]], tmp_path: Path | None = None) -> ReadIndex:
    store = Observations(tmp_path)
    store.add_code("r", [json.dumps(r) for r in [{"eval": "", "recording": 4}, *records]])
    return store.reads("r")


def selected(changes: list[Change], reads: ReadIndex | None, files: dict[str, bytes] = FILES) -> tuple[str, ...]:
    before = TestIndex.build(FILES)
    after = TestIndex.build(files)
    selection = after.select(changes, old_index=before, file_reads=reads)
    assert not selection.run_all, selection.fallback
    return selection.tests


def test_a_file_read_selects_the_tests_reaching_its_reader_beside_the_static_rules() -> None:
    reads = reads_of(RECORDS)
    changed = [ChangedPath("data/case.txt")]
    assert selected(changed, None) == ("tests/test_case.py::test_case",)  # the static rules: the name
    assert selected(changed, reads) == ("tests/test_case.py::test_case", "tests/test_every.py::test_every")


def test_a_module_read_as_text_selects_its_reader_whether_imported_or_not() -> None:
    reads = reads_of(RECORDS)
    spare = [ChangedEntity("pkg/spare.py", "pkg.spare.unused")]
    files = {**FILES, "pkg/spare.py": b"def unused():\n    return 2\n"}
    assert selected(spare, None, files) == ()  # no code imports it: the hole
    assert selected(spare, reads, files) == ("tests/test_itself.py::test_itself",)
    core = [ChangedEntity("pkg/core.py", "pkg.core.double")]
    files = {**FILES, "pkg/core.py": b"def double(x):\n    return x + x\n"}
    assert selected(core, reads, files) == ("tests/test_itself.py::test_itself", "tests/test_load.py::test_second")


def test_a_file_added_to_or_removed_from_a_listed_directory_selects_the_lister() -> None:
    reads = reads_of(RECORDS)
    added = {**FILES, "pkg/extra.py": b"X = 1\n"}
    assert selected([ChangedPath("pkg/extra.py", "added")], reads, added) == ("tests/test_itself.py::test_itself",)
    removed = {k: v for k, v in FILES.items() if k != "pkg/spare.py"}
    assert selected([ChangedPath("pkg/spare.py", "deleted")], reads, removed) == ("tests/test_itself.py::test_itself",)


def test_a_file_added_in_a_new_directory_changes_the_listing_above_it() -> None:
    # pkg/sub/ did not exist: listing pkg/ gives a new entry (os.walk then descends into it).
    reads = reads_of(RECORDS)
    files = {**FILES, "pkg/sub/more.txt": b"x\n"}
    changes: list[Change] = [ChangedPath("pkg/sub/more.txt", "added")]
    before, after = TestIndex.build(FILES), TestIndex.build(files)
    assert "tests/test_itself.py::test_itself" in after.select(changes, old_index=before, file_reads=reads).tests


def test_a_cached_read_selects_every_test_reaching_the_reader_not_only_the_first_caller() -> None:
    reads = reads_of(RECORDS)
    files = {**FILES, "pkg/grammar3.txt": b"file_input: stmt+\n"}
    before, after = TestIndex.build(FILES), TestIndex.build(files)
    selection = after.select([ChangedPath("pkg/grammar3.txt")], old_index=before, file_reads=reads)
    assert {"tests/test_load.py::test_first", "tests/test_load.py::test_second"} <= set(selection.tests)


def test_past_the_cap_a_site_reads_everything_under_the_directory_holding_what_it_read(tmp_path: Path) -> None:
    many = [{"reads": "tests/test_every.py::test_every", "file": f"data/d{i % 7}/f{i}.txt"} for i in range(READS_KEPT)]
    reads = reads_of([*many, {"reads": "tests/test_every.py::test_every", "dir": "data"}], tmp_path)
    assert reads.sites["tests/test_every.py::test_every"] == SiteReads(whole=frozenset({"data"}))
    files = {**FILES, "data/new/x.txt": b"x\n"}
    changes: list[Change] = [ChangedPath("data/new/x.txt", "added")]
    before, after = TestIndex.build(FILES), TestIndex.build(files)
    assert "tests/test_every.py::test_every" in after.select(changes, old_index=before, file_reads=reads).tests
    # Kept across a restart, as a union with what later jobs read (more selection is always sound).
    again = Observations(tmp_path)
    again.add_code("r", [json.dumps({"reads": "pkg/grammar.py::load", "file": "pkg/grammar2.txt"})])
    assert again.reads("r").sites["tests/test_every.py::test_every"] == SiteReads(whole=frozenset({"data"}))
    assert again.reads("r").sites["pkg/grammar.py::load"].files == {"pkg/grammar2.txt"}


def test_a_reuse_key_holds_what_the_reached_readers_read_and_list() -> None:
    reads = reads_of(RECORDS)
    index = TestIndex.build(FILES)
    blobs = {path: f"blob-{i}" for i, path in enumerate(sorted(FILES))}
    tests = ["tests/test_itself.py::test_itself", "tests/test_case.py::test_case"]
    keys = closure_keys(index, blobs, tests, salt="s", inert=(), reads=reads)
    spare = closure_keys(index, {**blobs, "pkg/spare.py": "other"}, tests, salt="s", inert=(), reads=reads)
    assert spare["tests/test_itself.py::test_itself"] != keys["tests/test_itself.py::test_itself"]
    assert spare["tests/test_case.py::test_case"] == keys["tests/test_case.py::test_case"]
    listed = closure_keys(index, {**blobs, "pkg/new.txt": "n"}, tests, salt="s", inert=("pkg/new.txt",), reads=reads)
    unlisted = closure_keys(index, blobs, tests, salt="s", inert=("pkg/new.txt",), reads=reads)
    assert listed["tests/test_itself.py::test_itself"] != unlisted["tests/test_itself.py::test_itself"]


def test_a_read_at_import_time_selects_the_tests_importing_the_module() -> None:
    # A module body's read (``path::``): every test importing the module runs it.
    files = {**FILES, "VERSION": b"1\n", "pkg/__init__.py": b"import os\n\nV = open('VERSION').read()\n"}
    reads = reads_of([{"reads": "pkg/__init__.py::", "file": "VERSION"}])
    before, after = TestIndex.build(files), TestIndex.build({**files, "VERSION": b"2\n"})
    selection = after.select([ChangedPath("VERSION")], old_index=before, file_reads=reads)
    assert {"tests/test_load.py::test_first", "tests/test_load.py::test_second"} <= set(selection.tests)
    assert "tests/test_case.py::test_case" not in selection.tests


def test_a_finder_of_distributions_counts_only_entries_naming_a_distribution() -> None:
    # importlib.metadata.version() lists the checkout's root (and test directories pytest put on sys.path): a test
    # file added there changes nothing it looks at; a *.egg-info directory does.
    files = {
        **FILES,
        "pkg/__init__.py": b"from importlib.metadata import version\n\n\ndef v():\n    return version('x')\n",
    }
    files["tests/test_load.py"] = FILES["tests/test_load.py"] + b"\n\ndef test_v():\n    import pkg\n    pkg.v()\n"
    reads = reads_of([{"reads": "pkg/__init__.py::v", "dists": ""}, {"reads": "pkg/__init__.py::v", "dists": "tests"}])
    before = TestIndex.build(files)
    added = {**files, "tests/test_new.py": b"def test_new():\n    pass\n"}
    selection = TestIndex.build(added).select(
        [ChangedPath("tests/test_new.py", "added")], old_index=before, file_reads=reads
    )
    assert "tests/test_load.py::test_v" not in selection.tests
    egg = {**files, "pkg.egg-info/PKG-INFO": b"Name: pkg\n"}
    selection = TestIndex.build(egg).select(
        [ChangedPath("pkg.egg-info/PKG-INFO", "added")], old_index=before, file_reads=reads
    )
    assert "tests/test_load.py::test_v" in selection.tests, selection.fallback
    index = TestIndex.build(files)
    blobs = {path: f"blob-{i}" for i, path in enumerate(sorted(files))}
    test = ["tests/test_load.py::test_v"]
    key = closure_keys(index, blobs, test, salt="s", inert=("tests/new*",), reads=reads)
    assert key == closure_keys(
        index, {**blobs, "tests/new.txt": "n"}, test, salt="s", inert=("tests/new*",), reads=reads
    )
    assert key != closure_keys(
        index, {**blobs, "x.dist-info/METADATA": "m"}, test, salt="s", inert=("x.d*",), reads=reads
    )
