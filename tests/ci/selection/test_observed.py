"""Code exec/eval ran, observed while tests ran: how it bounds a site, and for which tests it counts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from trellis.ci.selection.index import ChangedEntity, TestIndex
from trellis.ci.selection.observed import (
    FORMAT,
    KEYS_KEPT,
    Observations,
    SiteCode,
    from_bytecode,
    from_source,
    from_started,
)
from trellis.ci.selection.reuse import closure_keys

FILES = {
    "lib/__init__.py": b"",
    "lib/gen.py": b"""\
def make(fields):
    source = "def __init__(self):\\n" + "".join(f"    self.{f} = self.default_{f}()\\n" for f in fields)
    namespace = {}
    exec(source, {}, namespace)
    return type("Made", (Base,), namespace)


class Base:
    def default_x(self):
        return 1

    def default_y(self):
        return 2


class Holder:
    value = eval("1 + 1")
""",
    "lib/other.py": b"def helper():\n    return 2\n",
    "tests/test_gen.py": b"from lib.gen import make\n\n\ndef test_make():\n    assert make(['x'])().x == 1\n",
    "tests/test_other.py": b"from lib.other import helper\n\n\ndef test_helper():\n    assert helper() == 2\n",
}
BLOBS = {p: hashlib.sha1(c).hexdigest() for p, c in FILES.items()}
MAKE, HELPER = "tests/test_gen.py::test_make", "tests/test_other.py::test_helper"
RECORDING = json.dumps({"eval": "", "recording": FORMAT})  # the job's recorder ran (its first line)
OBSERVED = {
    "lib/gen.py::make": from_source("def __init__(self):\n    self.x = self.default_x()\n"),
    "lib/gen.py::Holder": from_source("1 + 1"),  # a class body runs in the module's node: it bounds the module's
}


def change(path: str, qualname: str) -> ChangedEntity:
    return ChangedEntity(path=path, qualname=qualname)


def test_generated_code_is_read_like_the_tree() -> None:
    code = from_source("def __init__(self, x):\n    self.x = x\n    self.__post_init__()\n    getattr(self, 'y')\n")
    assert {"x", "__post_init__", "y", "__init__"} <= code.names and not code.any_attr and not code.dynamic
    assert from_source("def f(self, name):\n    return getattr(self, name)\n").any_attr
    assert from_source("__import__('attr._make')._make.C\n").imports == {"attr._make"}  # attrs' cache_hash code
    assert not from_source("import os\n").dynamic
    assert from_source("from . import x\n").dynamic and from_source("__import__(name)\n").dynamic
    assert "exec/eval" in from_source("exec(code)\n").dynamic
    assert not from_source("exec('x = 1')\n").dynamic  # constant code: read as written there
    assert from_source("def (:\n").dynamic  # unreadable: unbounded
    # a constant pickle loaded there imports what it names: not bounded by the site's names
    assert "unpickles" in from_source("import pickle\npickle.loads(b'cpkg.things\\nRunner\\n)\\x81.')\n").dynamic
    assert from_bytecode(["a", "b"], imports=False) == SiteCode(names=frozenset({"a", "b"}))
    assert from_bytecode(["a"], imports=True).dynamic and from_bytecode(["__import__"], imports=False).dynamic
    assert from_bytecode(["getattr"], imports=False).any_attr


def test_a_site_stays_any_code_until_observed() -> None:
    index = TestIndex.build(FILES)
    selection = index.select([change("lib/other.py", "lib.other.helper")], old_index=index)
    assert selection.tests == (MAKE, HELPER)
    assert "may run any code (exec/eval)" in selection.reasons[MAKE]
    assert index.reached_files(MAKE) is None


def test_an_observed_site_reaches_what_its_code_names_for_the_tests_observed() -> None:
    index = TestIndex.build(FILES, observed=OBSERVED)
    observed = {MAKE}
    old = TestIndex.build(FILES, observed=OBSERVED)

    def select(qualname: str, path: str = "lib/gen.py") -> tuple[str, ...]:
        return index.select([change(path, qualname)], old_index=old, observed=lambda tests: set(tests) & observed).tests

    assert select("lib.other.helper", "lib/other.py") == (HELPER,)  # observed: the unrelated change is not its
    assert select("lib.gen.Base.default_x") == (MAKE,)  # named by the generated code
    assert select("lib.gen.Base.default_y") == ()  # named by none of it
    observed.clear()  # not observed in this tree (another branch's record, or none): any code again
    selection = index.select([change("lib/gen.py", "lib.gen.Base.default_y")], old_index=old, observed=lambda t: set())
    assert selection.tests == (MAKE,)
    assert "not observed for this test" in selection.reasons[MAKE]
    # Reuse never keys a test through observed code; the observation's own key exists.
    assert index.reached_files(MAKE) is None and index.reached_files(MAKE, observed=True) is not None


def test_code_that_imports_or_an_unobserved_class_body_stays_any_code() -> None:
    helper = [change("lib/other.py", "lib.other.helper")]
    everyone = lambda tests: set(tests)  # noqa: E731
    without_body = TestIndex.build(FILES, observed={"lib/gen.py::make": OBSERVED["lib/gen.py::make"]})
    assert without_body.select(helper, old_index=without_body, observed=everyone).tests == (MAKE, HELPER)
    # Importing a module the site's file does not import: names read from it could be missed.
    imports = TestIndex.build(FILES, observed={**OBSERVED, "lib/gen.py::make": from_source("import lib.other\n")})
    assert imports.select(helper, old_index=imports, observed=everyone).tests == (MAKE, HELPER)
    own = TestIndex.build(FILES, observed={**OBSERVED, "lib/gen.py::make": from_source("import lib.gen\n")})
    assert own.select(helper, old_index=own, observed=everyone).tests == (HELPER,)
    bounded = TestIndex.build(FILES, observed=OBSERVED)
    assert bounded.select(helper, old_index=bounded, observed=everyone).tests == (HELPER,)


def keys_of(store: Observations, sites: Mapping[str, SiteCode]) -> dict[str, str]:
    index = TestIndex.build(FILES, observed=sites)
    return closure_keys(index, BLOBS, [MAKE], salt="stage", inert=(), observed=True)


def test_observations_persist_and_count_under_their_closure_key(tmp_path: Path) -> None:
    store = Observations(tmp_path)
    site = "lib/gen.py::make"
    line = json.dumps({"eval": site, "sha": "s1", "source": "def __init__(self):\n    self.x = self.default_x()\n"})
    body = json.dumps({"eval": "lib/gen.py::Holder", "sha": "s2", "source": "1 + 1"})
    assert store.add_code("repo", [RECORDING, line, body, "not json", json.dumps({"eval": "no site"})])
    assert not store.add_code("repo", [RECORDING, json.dumps({"eval": "", "lost": "AttributeError"})])  # incomplete
    assert not store.add_code("repo", [line])  # no recorder said it ran: nothing heard, processes included
    version, sites = store.sites("repo")
    assert version and sites[site].names >= {"default_x", "x"}
    assert store.known_sources("repo") == {"s1", "s2"} and keys_of(store, sites)
    checked = json.dumps({"eval": site, "sha": "s1", "pair": "s1/f9"})  # read before, checked against new code
    assert store.add_code("repo", [RECORDING, checked]) and store.sites("repo") == (version, sites)
    assert store.known_sources("repo") == {"s1", "s2", "s1/f9"}
    keys = keys_of(store, sites)
    store.add_keys("repo", keys)
    reopened = Observations(tmp_path)
    assert reopened.sites("repo") == (version, sites)
    assert reopened.observed("repo", keys) == {MAKE}
    edited = {**FILES, "lib/gen.py": FILES["lib/gen.py"] + b"\nX = 1\n"}  # a file of its closure changed
    moved = closure_keys(
        TestIndex.build(edited, observed=sites),
        {**BLOBS, "lib/gen.py": "other"},
        [MAKE],
        salt="stage",
        inert=(),
        observed=True,
    )
    assert reopened.observed("repo", moved) == set()
    for k in range(KEYS_KEPT + 1):
        reopened.add_keys("repo", {MAKE: f"key{k}"})
    assert reopened.observed("repo", {MAKE: "key0"}) == set() and reopened.observed("repo", {MAKE: "key1"}) == {MAKE}
    (next(tmp_path.iterdir())).write_text("{broken")
    assert Observations(tmp_path).sites("repo") == ("", {})  # lost: costs runs, never soundness


def test_an_observation_key_counts_docs_and_configuration_as_selection_does() -> None:
    files = {**FILES, "README.md": b"hello\n", "pyproject.toml": b'[project]\nname = "lib"\nversion = "1"\n'}
    files["lib/other.py"] = b"def helper():\n    return open('NOTES.txt').read()\n"  # names a docs file

    def key(changed: dict[str, bytes], test: str = MAKE) -> str:
        tree = {**files, **changed}
        index = TestIndex.build(tree, observed=OBSERVED)
        blobs = {p: hashlib.sha1(c).hexdigest() for p, c in tree.items()}
        return closure_keys(index, blobs, [test], salt="stage", inert=(), observed=True)[test]

    before = key({})
    assert key({"README.md": b"changed\n"}) == before  # docs no code of its reach names
    assert key({"pyproject.toml": b'[project]\nname = "lib"\nversion = "1"\nreadme = "x.md"\n'}) == before
    pytest_section = b'[project]\nname = "lib"\nversion = "1"\n[tool.pytest.ini_options]\nxfail_strict = true\n'
    assert key({"pyproject.toml": pytest_section}) != before
    assert key({"data.json": b"{}\n"}) != before  # a file any test may read
    files["tests/test_other.py"] += (
        b"\n\ndef test_make():\n    from lib.gen import make\n    make(['x'])\n    helper()\n"
    )
    both = "tests/test_other.py::test_make"
    assert key({"NOTES.txt": b"a\n"}, both) != key({"NOTES.txt": b"b\n"}, both)  # named by code it reaches


def test_an_index_stands_for_observations_that_add_only_names_no_entity_has() -> None:
    index = TestIndex.build(FILES, observed=OBSERVED)
    make = OBSERVED["lib/gen.py::make"]
    assert index.observed_alike(dict(OBSERVED))
    assert index.observed_alike({**OBSERVED, "lib/gen.py::make": make | SiteCode(names=frozenset({"no_such_x"}))})
    assert not index.observed_alike({**OBSERVED, "lib/gen.py::make": make | SiteCode(names=frozenset({"default_y"}))})
    assert not index.observed_alike({**OBSERVED, "lib/gen.py::make": make | SiteCode(names=frozenset({"__dict__"}))})
    assert not index.observed_alike({**OBSERVED, "lib/gen.py::make": make | SiteCode(any_attr=True)})
    assert not index.observed_alike({"lib/gen.py::make": make})  # a site less


# Computed imports and unpickling: bounded by what a run observed them import and look up.
LOADED = {
    "pkg/__init__.py": b"",
    "pkg/loader.py": b"import importlib\n\n\ndef load(name):\n    return importlib.import_module(f'pkg.{name}')\n",
    "pkg/a.py": b"def run():\n    return 1\n",
    "pkg/b.py": b"VALUE = 2\n\n\ndef run():\n    return VALUE\n",
    "pkg/things.py": b"""\
class Thing:
    def __init__(self, x):
        self.x = x

    def __setstate__(self, state):
        self.__dict__.update(state)


class Other:
    def __setstate__(self, state):
        self.__dict__.update(state)
""",
    "pkg/store.py": b"""\
import pickle
import tempfile


def round_trip(obj):
    with tempfile.TemporaryFile() as f:
        pickle.dump(obj, f)
        f.seek(0)
        return pickle.load(f)
""",
    "tests/test_load.py": b"from pkg.loader import load\n\n\ndef test_a():\n    assert load('a').run() == 1\n",
    "tests/test_thing.py": b"from pkg.store import round_trip\nfrom pkg.things import Thing\n\n\n"
    b"def test_thing():\n    assert round_trip(Thing(1)).x == 1\n",
    "tests/test_b.py": b"from pkg import b\n\n\ndef test_b():\n    assert b.run() == 2\n",
}
LOAD, THING, B = "tests/test_load.py::test_a", "tests/test_thing.py::test_thing", "tests/test_b.py::test_b"
SEEN = {
    "pkg/loader.py::load": SiteCode(kinds=frozenset({"import"}), modules=frozenset({"pkg.a"})),
    "pkg/store.py::round_trip": SiteCode(kinds=frozenset({"unpickle"}), globals=frozenset({"pkg.things Thing"})),
}


def selected(observed: Mapping[str, SiteCode] | None, path: str, qualname: str, seen: bool = True) -> tuple[str, ...]:
    index = TestIndex.build(LOADED, observed=observed)
    return index.select(
        [change(path, qualname)], old_index=index, observed=lambda tests: set(tests) if seen else set()
    ).tests


def test_a_computed_import_reaches_the_modules_it_was_observed_to_import() -> None:
    assert selected(None, "pkg/b.py", "pkg.b.run") == (B, LOAD)  # any module; unpickling that found nothing: none
    assert selected(SEEN, "pkg/b.py", "pkg.b.run") == (B,)
    assert selected(SEEN, "pkg/b.py", "pkg.b.VALUE") == (B,)  # its module code is not the load's
    assert selected(SEEN, "pkg/a.py", "pkg.a.run") == (LOAD,)
    unseen = selected(SEEN, "pkg/b.py", "pkg.b.run", seen=False)
    assert unseen == (B, LOAD, THING)  # not observed in this tree: the observation does not count
    index = TestIndex.build(LOADED, observed=SEEN)
    reasons = index.select([change("pkg/b.py", "pkg.b.run")], old_index=index, observed=lambda tests: set()).reasons
    assert reasons[LOAD] == "pkg/loader.py::load imports computed names, not observed for this test in this tree"
    assert reasons[THING] == "pkg/store.py::round_trip unpickles, not observed for this test in this tree"
    # A call the job does not record (``__import__``) keeps the site any module.
    dunder = {**LOADED, "pkg/loader.py": LOADED["pkg/loader.py"].replace(b"importlib.import_module", b"__import__")}
    index = TestIndex.build(dunder, observed=SEEN)
    assert LOAD in index.select([change("pkg/b.py", "pkg.b.run")], old_index=index, observed=set).tests


def test_unpickling_reaches_the_globals_it_was_observed_to_look_up() -> None:
    assert selected(SEEN, "pkg/things.py", "pkg.things.Other.__setstate__") == ()
    assert selected(SEEN, "pkg/things.py", "pkg.things.Thing.__setstate__") == (THING,)
    outside = {
        **SEEN,
        "pkg/store.py::round_trip": SEEN["pkg/store.py::round_trip"]
        | SiteCode(kinds=frozenset({"unpickle"}), globals=frozenset({"os system"})),
    }
    assert THING in selected(outside, "pkg/things.py", "pkg.things.Other.__setstate__")  # any code
    safe = {
        **SEEN,
        "pkg/store.py::round_trip": SEEN["pkg/store.py::round_trip"]
        | SiteCode(kinds=frozenset({"unpickle"}), globals=frozenset({"copy_reg _reconstructor", "__builtin__ object"})),
    }
    assert selected(safe, "pkg/things.py", "pkg.things.Other.__setstate__") == ()
    # The job hears every lookup: a site without an unpickling record looked up nothing (builtin values only).
    imports_only = {"pkg/store.py::round_trip": SiteCode(kinds=frozenset({"import"}))}
    assert selected(imports_only, "pkg/things.py", "pkg.things.Other.__setstate__") == ()
    assert selected(imports_only, "pkg/things.py", "pkg.things.Other.__setstate__", seen=False) == (THING,)


def test_import_and_unpickling_records_are_kept(tmp_path: Path) -> None:
    store = Observations(tmp_path)
    lines = [
        json.dumps({"import": "pkg/loader.py::load", "module": "pkg.a"}),
        json.dumps({"unpickle": "pkg/store.py::round_trip", "global": "pkg.things Thing"}),
    ]
    assert store.add_code("repo", [RECORDING, *lines])
    _, sites = Observations(tmp_path).sites("repo")
    assert sites == SEEN
    assert SiteCode.from_json({"names": ["x"]}).kinds == {"eval"}  # a record from before kinds: exec/eval's


def test_nearly_every_test_selected_through_one_node_that_may_run_any_code_is_a_fallback() -> None:
    many = {**LOADED}
    for k in range(20):  # tests that all unpickle
        many[f"tests/test_many_{k}.py"] = LOADED["tests/test_thing.py"]
    index = TestIndex.build(many)
    selection = index.select([change("pkg/b.py", "pkg.b.run")], old_index=index, observed=lambda tests: set())
    assert not selection.run_all and len(selection.tests) == selection.total == 23  # what it selects still runs
    assert selection.rule == "any-code" and selection.path == "pkg/store.py"
    assert selection.fallback == (
        "any-code: pkg/store.py::round_trip unpickles, not observed for this test in this tree: 23 of 23 tests "
        "selected, 21 through it"
    )
    # Selected as reaching the change (the unpickling found no global in an observed run: it runs nothing).
    thing = index.select([change("pkg/things.py", "pkg.things.Thing.__init__")], old_index=index, observed=set)
    assert len(thing.tests) == 21 and set(thing.reasons.values()) == {"reaches pkg.things.Thing.__init__ (modified)"}
    assert thing.rule == "nearly-all"
    bounded = TestIndex.build(many, observed=SEEN)
    assert not bounded.select([change("pkg/b.py", "pkg.b.run")], old_index=bounded, observed=set).fallback
    # Nearly every test still reaches the change, through its class: said so, not as code that may run anything.
    reached = bounded.select([change("pkg/things.py", "pkg.things.Thing.__init__")], old_index=bounded)
    assert reached.rule == "nearly-all" and reached.reason == (
        "22 of 23 tests selected; 21 reach pkg.things.Thing.__init__ (modified), 21 by the route of "
        "tests/test_many_0.py::test_thing: tests/test_many_0.py::test_thing -> pkg/things.py::Thing -> "
        "pkg/things.py::Thing.__init__"
    )
    small = TestIndex.build(LOADED)  # 3 of 3: not more than a handful
    assert not small.select([change("pkg/b.py", "pkg.b.run")], old_index=small, observed=set).fallback


STARTED = {
    "pkg/__init__.py": b"",
    "pkg/run.py": b"import subprocess\n\n\ndef run(cmd):\n    return subprocess.run(cmd, check=True)\n",
    "pkg/cli.py": b"def main():\n    return 1\n\n\nif __name__ == '__main__':\n    main()\n",
    "pkg/lib.py": b"def f():\n    return 1\n",
    "tests/test_git.py": b"from pkg.run import run\n\n\ndef test_git():\n    run(['git', '--version'])\n",
    "tests/test_never.py": b"from pkg import run\n\n\ndef test_never():\n    assert run.run\n",
    "tests/test_lib.py": b"from pkg.lib import f\n\n\ndef test_f():\n    assert f() == 1\n",
}
GIT, NEVER, LIB = "tests/test_git.py::test_git", "tests/test_never.py::test_never", "tests/test_lib.py::test_f"
RUN = "pkg/run.py::run"


def started(observed: Mapping[str, SiteCode], path: str, qualname: str, seen: bool = True) -> tuple[str, ...]:
    index = TestIndex.build(STARTED, observed=observed)
    return index.select(
        [change(path, qualname)], old_index=index, observed=lambda tests: set(tests) if seen else set()
    ).tests


def test_a_process_started_with_a_computed_command_is_bounded_by_what_it_was_observed_to_run() -> None:
    git = from_started({"started": "git"})
    assert git == SiteCode(kinds=frozenset({"process"}))
    assert started({RUN: git}, "pkg/lib.py", "pkg.lib.f") == (LIB,)  # git runs no Python code of the tree
    assert started({}, "pkg/lib.py", "pkg.lib.f") == (LIB,)  # no record: no observed run started a process
    assert started({RUN: git}, "pkg/run.py", "pkg.run.run") == (GIT, NEVER)  # the helper itself
    assert started({RUN: git}, "pkg/lib.py", "pkg.lib.f", seen=False) == (GIT, LIB, NEVER)  # not observed
    index = TestIndex.build(STARTED, observed={RUN: git})
    reasons = index.select([change("pkg/lib.py", "pkg.lib.f")], old_index=index, observed=lambda tests: set()).reasons
    assert reasons[GIT] == "pkg/run.py::run starts processes, not observed for this test in this tree"
    # A Python interpreter: ``-m`` a module of the tree runs it (its main block too); other code, any code.
    cli = from_started({"python": ["python", "-m", "pkg.cli"]})
    assert cli.runs == {"pkg.cli"} and not cli.spawns
    assert started({RUN: git | cli}, "pkg/cli.py", "pkg.cli.main") == (GIT, NEVER)
    assert started({RUN: git | cli}, "pkg/lib.py", "pkg.lib.f") == (LIB,)
    assert not from_started({"python": ["python", "-c", "import json"]}).spawns  # the standard library only
    for record in (
        {"python": ["python", "-c", "import pkg.lib"]},
        {"python": ["python", "-m", "pytest"]},  # not a module of the tree: it runs the tree's tests
        {"python": ["python", "/elsewhere/x.py"]},
        {"any": "pytest (a script: #!/venv/bin/python)"},
    ):
        assert started({RUN: git | from_started(record)}, "pkg/lib.py", "pkg.lib.f") == (GIT, LIB, NEVER), record
    index = TestIndex.build(STARTED, observed={RUN: git | from_started({"any": "sh (a shell)"})})
    selection = index.select([change("pkg/lib.py", "pkg.lib.f")], old_index=index, observed=lambda tests: set(tests))
    assert selection.reasons[GIT] == (
        "pkg/run.py::run may run any code (subprocess.run of a command the analysis cannot read, which started "
        "sh (a shell))"
    )
    # os.startfile, os.exec*, os.posix_spawn: heard too (click's open_url calls os.startfile on Windows only).
    opens = {
        **STARTED,
        "pkg/run.py": STARTED["pkg/run.py"] + b"\n\ndef open_url(url):\n    import os\n\n    os.startfile(url)\n",
    }
    opens["tests/test_git.py"] += b"\n\ndef test_open():\n    from pkg.run import open_url\n\n    assert open_url\n"
    index = TestIndex.build(opens, observed={RUN: git})
    assert index.select([change("pkg/lib.py", "pkg.lib.f")], old_index=index, observed=set).tests == (LIB,)
    assert "tests/test_git.py::test_open" in index.select([change("pkg/lib.py", "pkg.lib.f")], old_index=index).tests
    # Generated code that starts a process is not bounded by the names it reads.
    assert from_source("import subprocess\nsubprocess.run(cmd)\n").dynamic


SCRIPTS = {
    **STARTED,
    "examples/run-it.py": b"import sys\n\nsys.path.insert(0, '.')\nfrom pkg.cli import main\n\nif __name__ == '__main__':\n    main()\n",
    "tests/test_script.py": b"import subprocess, sys\n\n\ndef test_script():\n"
    b"    subprocess.run([sys.executable, 'examples/run-it.py'], check=True)\n",
}


def test_a_python_script_whose_file_name_is_no_module_name_runs_that_file() -> None:
    """``python examples/c-to-c.py`` (pycparser's examples, run by its tests) runs that file of the tree, as
    ``python examples/cdecl.py`` does: a hyphen in a script's name makes it no module name, not any code."""
    record = from_started({"python": ["python", "examples/run-it.py"]})
    assert record.runs == {"examples.run-it"} and not record.spawns
    git = from_started({"started": "git"})

    def chosen(observed: Mapping[str, SiteCode], path: str, qualname: str) -> tuple[str, ...]:
        index = TestIndex.build(SCRIPTS, observed=observed)
        return index.select([change(path, qualname)], old_index=index, observed=set).tests

    script = "tests/test_script.py::test_script"
    assert chosen({RUN: git | record}, "pkg/lib.py", "pkg.lib.f") == (LIB,)  # the script does not reach it
    assert chosen({RUN: git | record}, "pkg/cli.py", "pkg.cli.main") == (GIT, NEVER, script)  # what it runs
    # A constant command reads the same: the test running the script reaches what the script runs.
    assert chosen({RUN: git}, "pkg/cli.py", "pkg.cli.main") == (script,)
    assert chosen({RUN: git}, "pkg/lib.py", "pkg.lib.f") == (LIB,)
    # Paths that name no file of the tree in a word Python reads as one: any code, as before.
    for words in (["python", "../x.py"], ["python", "/elsewhere/run-it.py"], ["python", "examples/run it.py"]):
        assert from_started({"python": words}).spawns, words


def test_process_records_are_kept_and_keys_of_jobs_that_did_not_hear_processes_do_not_count(tmp_path: Path) -> None:
    store = Observations(tmp_path)
    lines = [
        json.dumps({"process": RUN, "started": "git"}),
        json.dumps({"process": RUN, "python": ["python", "-m", "pkg.cli"]}),
    ]
    assert store.add_code("repo", [RECORDING, *lines])
    assert Observations(tmp_path).sites("repo")[1] == {
        RUN: SiteCode(kinds=frozenset({"process"}), runs=frozenset({"pkg.cli"}))
    }
    store.add_keys("repo", {GIT: "k1"})
    assert Observations(tmp_path).observed("repo", {GIT: "k1"}) == {GIT}
    path = next(tmp_path.iterdir())
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({key: value for key, value in raw.items() if key != "format"}))  # an older job's
    reopened = Observations(tmp_path)
    assert reopened.observed("repo", {GIT: "k1"}) == set() and reopened.sites("repo")[1]


def test_unpickling_that_looked_up_no_global_runs_nothing() -> None:
    """The job hears every global a pickle looks up (``pickle.find_class``): a site with no record made builtin values
    only in every observed run (Jinja's bytecode cache unpickles a checksum string), and runs no code of the tree."""
    assert selected({}, "pkg/things.py", "pkg.things.Other.__setstate__") == ()
    assert selected({}, "pkg/things.py", "pkg.things.Other.__setstate__", seen=False) == (THING,)  # not observed


def test_a_computed_attribute_of_a_module_imported_by_a_computed_name_is_a_top_level_name_of_an_observed_module() -> (
    None
):
    """``getattr(import_module(name), attr)`` (Python-Markdown's ``build_extension("pkg.mod:Class")``): a top-level
    name of the modules the site was observed to import, not any attribute of what the loader's module imports."""
    files = {
        **LOADED,
        "pkg/loader.py": b"import importlib\n\nfrom pkg import c\n\n\ndef load(name, attr):\n"
        b"    module = importlib.import_module(f'pkg.{name}')\n    return getattr(module, attr)\n",
        "pkg/a.py": b"class Runner:\n    def run(self):\n        return 1\n\n\ndef spare():\n    return 0\n",
        "pkg/c.py": b"def other():\n    return 3\n",
        "tests/test_load.py": b"from pkg.loader import load\n\n\ndef test_a():\n    assert load('a', 'Runner')().run() == 1\n",
        "tests/test_c.py": b"from pkg import c\n\n\ndef test_c():\n    assert c.other() == 3\n",
    }
    index = TestIndex.build(files, observed=SEEN)

    def select(path: str, qualname: str) -> tuple[str, ...]:
        return index.select([change(path, qualname)], old_index=index, observed=set).tests

    assert select("pkg/c.py", "pkg.c.other") == ("tests/test_c.py::test_c",)  # before: any attribute, test_a too
    assert select("pkg/a.py", "pkg.a.Runner.run") == (LOAD,)
    assert select("pkg/a.py", "pkg.a.spare") == (LOAD,)  # any top-level name of pkg.a
    unseen = TestIndex.build(files, observed=None)
    assert LOAD in unseen.select([change("pkg/c.py", "pkg.c.other")], old_index=unseen, observed=set).tests


def test_a_function_no_observed_run_entered_evaluated_nothing() -> None:
    """The job hears every exec/eval a function of the tree calls: a function site without a record evaluated
    nothing in the observed runs (lark's ``TestNearley.test_css``, never collected, reached by every test through
    a computed attribute). Module and class bodies may run before the recorder: unobserved, they stay any code."""
    files = {
        **{p: c for p, c in FILES.items() if p != "lib/gen.py"},
        "lib/gen.py": FILES["lib/gen.py"].split(b"\n\nclass Holder")[0] + b"\n",
        "lib/other.py": b"from lib.gen import make\n\n\ndef helper(made=False):\n    if made:\n"
        b"        return make(['x'])\n    return 2\n\n\ndef unrelated():\n    return 3\n",
        "tests/test_more.py": b"from lib.other import unrelated\n\n\ndef test_unrelated():\n    assert unrelated() == 3\n",
    }
    index = TestIndex.build(files, observed={})
    unrelated = [change("lib/other.py", "lib.other.unrelated")]
    everyone = lambda tests: set(tests)  # noqa: E731
    more = "tests/test_more.py::test_unrelated"
    assert index.select(unrelated, old_index=index, observed=everyone).tests == (more,)
    selection = index.select(unrelated, old_index=index, observed=lambda tests: set())
    assert set(selection.tests) == {MAKE, HELPER, more}  # not observed in this tree: any code, as before
    assert "runs code exec/eval made, not observed for this test" in selection.reasons[HELPER]
    # the same exec at module level: the module may be imported before the recorder
    body = files["lib/gen.py"] + b"\nVALUE = eval('1 + 1')\n"
    module = TestIndex.build({**files, "lib/gen.py": body}, observed={})
    assert set(module.select(unrelated, old_index=module, observed=everyone).tests) == {MAKE, HELPER, more}
