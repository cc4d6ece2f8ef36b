"""``getattr`` with a computed name, bounded by the names its calls were observed to fetch (``SiteCode.attrs``)."""

from __future__ import annotations

from collections.abc import Mapping

from trellis.ci.selection.index import ChangedEntity, TestIndex
from trellis.ci.selection.observed import Observations, SiteCode
from trellis.ci.selection.python_refs import NodeRefs, file_facts

FILES = {
    "pkg/__init__.py": b"",
    # lark's create_callback: a method of whatever object it is given, by a name computed at run time
    "pkg/dispatch.py": b"def call(obj, name):\n    return getattr(obj, name)()\n",
    "pkg/things.py": b"""\
class Runner:
    def launch(self):
        return 1

    def spare(self):
        return 2


class Stopper:
    def stop(self):
        return 3
""",
    "pkg/names.py": b"NAMES = {'a': 'lau' + 'nch'}  # no string names the method\n",
    "tests/test_run.py": b"from pkg.dispatch import call\nfrom pkg.names import NAMES\nfrom pkg.things import Runner, Stopper"
    b"\n\n\ndef test_run():\n    assert call(Runner(), NAMES['a']) == 1 and Stopper\n",
    "tests/test_stop.py": b"from pkg.things import Stopper\n\n\ndef test_stop():\n    assert Stopper().stop() == 3\n",
}
RUN, STOP = "tests/test_run.py::test_run", "tests/test_stop.py::test_stop"
FETCHED = SiteCode(kinds=frozenset({"getattr"}), attrs=frozenset({"launch"}))
SEEN = {"pkg/dispatch.py::call": FETCHED}


def selected(
    observed: Mapping[str, SiteCode] | None,
    qualname: str,
    *,
    files: Mapping[str, bytes] = FILES,
    seen: bool = True,
    path: str = "pkg/things.py",
) -> tuple[str, ...]:
    index = TestIndex.build(files, observed=observed)
    change = ChangedEntity(path=path, qualname=qualname)
    return index.select([change], old_index=index, observed=lambda tests: set(tests) if seen else set()).tests


def test_a_getattr_call_is_a_builtin_fetch_only_when_nothing_else_reads_a_computed_attribute() -> None:
    def fetches(source: str) -> bool:
        facts = file_facts("m.py", source.encode())
        return next(s for s in facts.scopes if s.qualname == "f").refs.fetches

    assert fetches("def f(obj, name):\n    return getattr(obj, name)\n")
    assert fetches("class C:\n    pass\n\n\ndef f(name):\n    return getattr(C, name, None)\n")
    assert not fetches("def f(obj, name):\n    return getattr(obj, 'x')\n")  # constant: read as obj.x
    assert not fetches("import inspect\n\n\ndef f(obj, name):\n    return inspect.getattr_static(obj, name)\n")
    both = "import inspect\n\n\ndef f(obj, name):\n    return getattr(obj, name), inspect.getattr_static(obj, name)\n"
    assert not fetches(both)
    # the file's own getattr: no call of the builtin, which the job hears
    assert not fetches(
        "def getattr(obj, name):\n    return obj\n\n\ndef f(obj, name):\n    return getattr(obj, name)\n"
    )


def test_a_getattr_of_any_expression_is_heard_as_the_builtin() -> None:
    """marshmallow's ``getattr(self.declared_fields[key], option_name, ())``: an attribute of an item, by the builtin
    ``getattr``, which the job hears as it hears ``getattr(obj, name)``."""
    files = {**FILES, "pkg/dispatch.py": b"def call(objs, name):\n    return getattr(objs[0], name)()\n"}
    files["tests/test_run.py"] = FILES["tests/test_run.py"].replace(b"call(Runner()", b"call([Runner()]")
    assert selected(None, "pkg.things.Runner.spare", files=files) == (RUN,)
    assert selected(SEEN, "pkg.things.Runner.spare", files=files) == ()
    assert selected(SEEN, "pkg.things.Runner.launch", files=files) == (RUN,)


def test_a_computed_getattr_reaches_the_attributes_it_was_observed_to_fetch() -> None:
    # Before any observation: any attribute of anything (the spare method, the other class's too)
    assert selected(None, "pkg.things.Runner.spare") == (RUN,)
    assert selected(None, "pkg.things.Stopper.stop") == (RUN, STOP)
    # Observed fetching "launch": what ``obj.launch`` reaches, no more
    assert selected(SEEN, "pkg.things.Runner.spare") == ()
    assert selected(SEEN, "pkg.things.Stopper.stop") == (STOP,)
    assert selected(SEEN, "pkg.things.Runner.launch") == (RUN,)
    # The name comes from code the test reaches: a change to it selects the test, which runs observed again
    assert selected(SEEN, "pkg.names.NAMES", path="pkg/names.py") == (RUN,)


# voluptuous's _iterate_object: vars(obj) of whatever object it validates, which may be a module's or a class's
# namespace: any attribute as the source says; bounded by the names the job heard it hand out.
LISTING = {
    **FILES,
    "pkg/listing.py": b"def listing(obj):\n    return dict(vars(obj))\n",
    "tests/test_list.py": b"from pkg.listing import listing\nfrom pkg.things import Runner, Stopper\n\n\n"
    b"def test_list():\n    assert listing(Runner()) == {} and Stopper\n",
}
LIST = "tests/test_list.py::test_list"


def test_vars_of_a_value_of_unknown_type_is_a_builtin_fetch() -> None:
    def refs(source: str, qualname: str = "f") -> NodeRefs:
        facts = file_facts("m.py", source.encode())
        return next(s for s in facts.scopes if s.qualname == qualname).refs

    found = refs("def f(obj):\n    return vars(obj)\n")
    assert found.fetches and "*" in found.attrs and not found.any_attr
    assert refs("def f(obj, name):\n    return vars(obj), getattr(obj, name)\n").fetches
    # the file's own vars, an instance's own namespace (what it stored), a module's: not a computed read heard
    assert not refs("def vars(x):\n    return {}\n\n\ndef f(obj):\n    return vars(obj)\n").fetches
    own = refs("class C:\n    def f(self):\n        return vars(self)\n", "C.f")
    assert not own.fetches and not own.any_attr and "*" not in own.attrs


def test_vars_reaches_the_attributes_it_was_observed_to_hand_out() -> None:
    heard = {"tests/test_stop.py::test_stop": SiteCode(kinds=frozenset({"getattr"}), attrs=frozenset({"x"}))}
    named = {**heard, "pkg/listing.py::listing": SiteCode(kinds=frozenset({"getattr"}), attrs=frozenset({"stop"}))}
    # Before any observation: any attribute of anything (the other class's method too)
    assert selected(None, "pkg.things.Stopper.stop", files=LISTING) == (LIST, RUN, STOP)
    # Heard, and no name handed out at that site: nothing through it
    assert selected(heard, "pkg.things.Stopper.stop", files=LISTING) == (STOP,)
    # A name handed out: what ``obj.stop`` reaches
    assert selected(named, "pkg.things.Stopper.stop", files=LISTING) == (LIST, STOP)
    assert selected(named, "pkg.things.Runner.spare", files=LISTING) == ()


def test_a_test_not_observed_in_this_tree_is_selected_by_any_change_of_code() -> None:
    index = TestIndex.build(FILES, observed=SEEN)
    change = [ChangedEntity(path="pkg/things.py", qualname="pkg.things.Stopper.stop")]
    selection = index.select(change, old_index=index, observed=lambda tests: set())
    assert selection.tests == (RUN, STOP)
    assert selection.reasons[RUN] == (
        "pkg/dispatch.py::call reads attributes under computed names (getattr), not observed for this test in this tree"
    )


def test_a_function_without_a_record_fetched_nothing_once_the_job_hears_getattr() -> None:
    other = {"tests/test_stop.py::test_stop": SiteCode(kinds=frozenset({"getattr"}), attrs=frozenset({"x"}))}
    assert selected(other, "pkg.things.Runner.launch") == ()  # the job heard every getattr call: none at this site
    assert selected({}, "pkg.things.Runner.launch") == (RUN,)  # no job heard any getattr: any attribute
    # A module body's getattr may run before the job wraps the builtin: without a record, any attribute
    body = {**FILES, "pkg/dispatch.py": FILES["pkg/dispatch.py"] + b"\nFIRST = getattr(__import__('os'), 'sep' + '')\n"}
    assert selected(other, "pkg.things.Runner.spare", files=body) == (RUN,)


def test_more_names_than_the_job_keeps_or_python_processes_of_the_tree_keep_any_attribute() -> None:
    many = {"pkg/dispatch.py::call": SiteCode(kinds=frozenset({"getattr"}), any_attr=True)}
    assert selected(many, "pkg.things.Runner.spare") == (RUN,)
    # A tree that runs its own modules in a Python process: no job hears the child's getattr calls
    spawning = {
        **FILES,
        "pkg/cli.py": b"import subprocess\nimport sys\n\n\ndef main():\n"
        b"    subprocess.run([sys.executable, '-m', 'pkg.dispatch'], check=True)\n",
    }
    assert selected(SEEN, "pkg.things.Runner.spare", files=spawning) == (RUN,)
    # ... or by a command observed (a process site whose command the source does not show)
    computed = {
        **FILES,
        "pkg/cli.py": b"import subprocess\nimport sys\n\n\ndef main(args):\n"
        b"    subprocess.run([sys.executable, *args], check=True)\n",
    }
    ran = {**SEEN, "pkg/cli.py::main": SiteCode(kinds=frozenset({"process"}), runs=frozenset({"pkg.dispatch"}))}
    assert selected(SEEN, "pkg.things.Runner.spare", files=computed) == ()
    assert selected(ran, "pkg.things.Runner.spare", files=computed) == (RUN,)


def test_a_constant_pickle_loaded_runs_no_process() -> None:
    """attrs' ``test_can_unpickle_25_3_attributes`` loads constant pickles of ``attr._make`` objects: the modules
    they name are imported in the test's own process, whose getattr calls the job hears. Read as modules run in a
    child process, they kept every getattr of attrs at any attribute."""
    blob = b"cpkg.things\nRunner\n)\x81."
    loading = {
        **FILES,
        "tests/test_load.py": b"import pickle\n\n\ndef test_load():\n    assert pickle.loads("
        + repr(blob).encode()
        + b")\n",
    }
    assert selected(SEEN, "pkg.things.Runner.spare", files=loading) == ()
    assert "tests/test_load.py::test_load" in selected(SEEN, "pkg.things.Runner", files=loading)  # (what it makes)


def test_fetched_names_are_kept_with_the_sites_observations(tmp_path) -> None:  # noqa: ANN001 - pytest's tmp_path
    store = Observations(tmp_path)
    lines = [
        '{"eval": "", "recording": 4}',
        '{"getattr": "pkg/dispatch.py::call", "name": "launch"}',
        '{"getattr": "pkg/dispatch.py::call", "name": "stop"}',
        '{"getattr": "pkg/other.py::many", "any": true}',
    ]
    assert store.add_code("repo", lines)
    sites = Observations(tmp_path).sites("repo")[1]
    assert sites["pkg/dispatch.py::call"] == SiteCode(kinds=frozenset({"getattr"}), attrs=frozenset({"launch", "stop"}))
    assert sites["pkg/other.py::many"].any_attr


def test_a_test_through_a_bounded_getattr_is_reused_by_the_files_of_its_import_closure() -> None:
    # Per-test result reuse keys a test by the files it may run; unobserved, a getattr call may read any entity of
    # the import closure: those files, not "unknown" (no reuse) as for exec/eval.
    index = TestIndex.build({**FILES, "pkg/unrelated.py": b"def other():\n    return 0\n"}, observed=SEEN)
    assert index.reached_files(RUN, observed=True) is not None
    assert index.reached_files(RUN) == {
        "pkg/__init__.py",
        "pkg/dispatch.py",
        "pkg/names.py",
        "pkg/things.py",
        "tests/test_run.py",
    }
    # A node of the closure that may run any code (or is bounded by another observation): no key, as before
    dynamic = {**FILES, "pkg/names.py": FILES["pkg/names.py"] + b"\n\ndef load(code):\n    return eval(code)\n"}
    assert TestIndex.build(dynamic, observed=SEEN).reached_files(RUN) is None
