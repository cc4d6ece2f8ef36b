"""pytest fixtures resolved by name: a change to a fixture selects the tests that run it.

A tree whose conftest files and test modules define fixtures, requested in every way pytest allows
(parameters, other fixtures, ``usefixtures``, ``pytestmark``, ``autouse``, ``name=``, overrides in a module
or a class, ``getfixturevalue``); a change to each fixture must select exactly the tests that run it. The
property test generates fixture dependency chains over the levels (conftests, module, class), runs them
under real pytest, recording which fixtures each test set up, and checks selection against that.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from textwrap import dedent

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis.ci.selection.index import ChangedEntity, ChangedPath, Selection, TestIndex


def build(files: Mapping[str, str]) -> TestIndex:
    return TestIndex.build({path: dedent(text).encode() for path, text in files.items()})


def select(files: Mapping[str, str], *changes: ChangedEntity | ChangedPath) -> Selection:
    """What a change that leaves the tree as it is selects (the parent's index is the same tree)."""
    index = build(files)
    return index.select(changes, old_index=index)


def body(path: str, qualname: str) -> ChangedEntity:
    return ChangedEntity(path, qualname, "modified", ("body",))


TREE: dict[str, str] = {
    "app/__init__.py": "",
    "app/db.py": "def connect():\n    return 1\n",
    "app/cache.py": "class Cache:\n    def get(self):\n        return 2\n",
    "conftest.py": """
        import pytest
        from app.db import connect
        from app.cache import Cache

        @pytest.fixture
        def db():
            return connect()

        @pytest.fixture
        def cache():
            return Cache()

        @pytest.fixture
        def both(db, cache):
            return db, cache

        @pytest.fixture(name="client")
        def client_fixture(db):
            return ("client", db)

        def pytest_configure(config):
            config.addinivalue_line("markers", "slow")
    """,
    "tests/test_db.py": "def test_db(db): assert db\n",
    "tests/test_cache.py": "def test_cache(cache): assert cache\n",
    "tests/test_both.py": "def test_both(both): assert both\n",
    "tests/test_use.py": """
        import pytest

        @pytest.mark.usefixtures("cache")
        def test_use(): pass
    """,
    "tests/test_mark.py": """
        import pytest

        pytestmark = pytest.mark.usefixtures("db")

        def test_mark(): pass
    """,
    "tests/test_alias.py": "def test_client(client): assert client\n",
    "tests/test_override.py": """
        import pytest

        @pytest.fixture
        def db():
            return "fake"

        @pytest.fixture
        def cache(cache):
            return cache

        def test_fake(db): assert db
        def test_wrapped(cache): assert cache
    """,
    "tests/test_lookup.py": """
        def test_literal(request): assert request.getfixturevalue("cache")
        def test_computed(request): assert request.getfixturevalue(request.node.name)
    """,
    "tests/test_class.py": """
        import pytest

        class TestLocal:
            @pytest.fixture
            def local(self, db):
                return db

            def test_local(self, local): assert local

        class TestOther:
            def test_other(self): pass
    """,
    "tests/test_plain.py": "def test_plain(): pass\n",
    "tests/auto/conftest.py": """
        import pytest

        @pytest.fixture(autouse=True)
        def auto():
            yield
    """,
    "tests/auto/test_auto.py": "def test_auto(): pass\n",
}
DB_USERS = {
    "tests/test_db.py::test_db",
    "tests/test_both.py::test_both",
    "tests/test_mark.py::test_mark",
    "tests/test_alias.py::test_client",
    "tests/test_class.py::TestLocal::test_local",
}
COMPUTED = "tests/test_lookup.py::test_computed"


@pytest.mark.parametrize(
    ("path", "qualname", "tests"),
    [
        ("conftest.py", "conftest.db", DB_USERS | {COMPUTED}),
        (
            "conftest.py",
            "conftest.cache",
            {
                "tests/test_cache.py::test_cache",
                "tests/test_both.py::test_both",
                "tests/test_use.py::test_use",
                "tests/test_override.py::test_wrapped",  # the override asks for the conftest's cache
                "tests/test_lookup.py::test_literal",
                COMPUTED,
            },
        ),
        ("conftest.py", "conftest.both", {"tests/test_both.py::test_both", COMPUTED}),
        ("conftest.py", "conftest.client_fixture", {"tests/test_alias.py::test_client", COMPUTED}),
        ("tests/test_override.py", "tests.test_override.db", {"tests/test_override.py::test_fake"}),
        ("tests/test_override.py", "tests.test_override.cache", {"tests/test_override.py::test_wrapped"}),
        ("tests/test_class.py", "tests.test_class.TestLocal.local", {"tests/test_class.py::TestLocal::test_local"}),
        ("tests/auto/conftest.py", "tests.auto.conftest.auto", {"tests/auto/test_auto.py::test_auto"}),
    ],
)
def test_a_change_to_a_fixture_selects_the_tests_that_run_it(path: str, qualname: str, tests: set[str]) -> None:
    selection = select(TREE, body(path, qualname))
    assert not selection.run_all, selection.reason
    assert set(selection.tests) == tests
    name = qualname.rpartition(".")[2].replace("client_fixture", "client")
    assert all(f"fixture {name!r}" in selection.reasons[t] for t in tests), selection.reasons


def test_code_only_a_fixture_calls_is_reached_by_the_tests_running_the_fixture() -> None:
    assert set(select(TREE, body("app/db.py", "app.db.connect")).tests) == DB_USERS | {COMPUTED}
    assert set(select(TREE, body("app/cache.py", "app.cache.Cache.get")).tests) == {
        "tests/test_cache.py::test_cache",
        "tests/test_both.py::test_both",
        "tests/test_use.py::test_use",
        "tests/test_override.py::test_wrapped",
        "tests/test_lookup.py::test_literal",
        COMPUTED,
    }


def test_what_is_not_a_fixture_in_the_root_conftest_still_runs_every_test() -> None:
    hook = select(TREE, body("conftest.py", "conftest.pytest_configure"))
    assert hook.run_all and hook.rule == "root-conftest" and "conftest.py" in hook.reason
    module = select(TREE, ChangedEntity("conftest.py", "conftest"))
    assert module.run_all and module.rule == "root-conftest"
    # A directory's conftest: its module code or a whole-file change still selects every test below it.
    below = select(TREE, ChangedPath("tests/auto/conftest.py"))
    assert set(below.tests) == {"tests/auto/test_auto.py::test_auto"}


def test_an_added_or_removed_fixture_selects_the_tests_whose_name_resolves_to_it() -> None:
    # A module fixture added: the tests of that module asking for the name now run it, not the conftest's.
    added = {
        **TREE,
        "tests/test_db.py": "import pytest\n\n@pytest.fixture\ndef db():\n    return 3\n\ndef test_db(db): pass\n",
    }
    selection = build(added).select(
        [ChangedEntity("tests/test_db.py", "tests.test_db.db", "added")], old_index=build(TREE)
    )
    assert set(selection.tests) == {"tests/test_db.py::test_db"}
    # The conftest's db removed: every test that ran it (the old tree's reach), and not the override's.
    removed = {**TREE, "conftest.py": TREE["conftest.py"].replace("@pytest.fixture\n        def db():", "def _db():")}
    selection = build(removed).select([ChangedEntity("conftest.py", "conftest.db", "removed")], old_index=build(TREE))
    assert not selection.run_all, selection.reason
    assert set(selection.tests) == DB_USERS | {COMPUTED}


def test_a_fixture_decorator_change_selects_the_tests_running_it_before_or_after() -> None:
    # autouse=True added: every test that can see the fixture runs it now.
    old = {**TREE, "tests/sub/conftest.py": "import pytest\n\n@pytest.fixture\ndef quiet():\n    return 1\n"}
    old["tests/sub/test_sub.py"] = "def test_sub(): pass\n"
    new = {**old, "tests/sub/conftest.py": old["tests/sub/conftest.py"].replace("fixture\n", "fixture(autouse=True)\n")}
    selection = build(new).select(
        [ChangedEntity("tests/sub/conftest.py", "tests.sub.conftest.quiet")], old_index=build(old)
    )
    assert not selection.run_all, selection.reason
    assert "tests/sub/test_sub.py::test_sub" in selection.tests
    assert "tests/test_plain.py::test_plain" not in selection.tests


def test_fixtures_imported_into_a_conftest_or_named_by_a_plugin_resolve_by_name() -> None:
    files = {
        "app/__init__.py": "",
        "app/db.py": "def connect():\n    return 1\n",
        "tests/helpers.py": "import pytest\nfrom app.db import connect\n\n@pytest.fixture\ndef db():\n    return connect()\n",
        "tests/plug.py": "import pytest\n\n@pytest.fixture\ndef plugged():\n    return 2\n",
        "tests/conftest.py": "from tests.helpers import db as database\n\npytest_plugins = ['tests.plug']\n",
        "tests/test_a.py": "def test_database(database): pass\n",
        "tests/test_b.py": "def test_plugged(plugged): pass\n",
        "tests/test_c.py": "def test_none(): pass\n",
    }
    assert "tests/test_a.py::test_database" in select(files, body("app/db.py", "app.db.connect")).tests
    plugged = select(files, body("tests/plug.py", "tests.plug.plugged"))
    assert set(plugged.tests) == {"tests/test_b.py::test_plugged"}


def test_a_mark_bound_to_a_name_and_a_decorator_handing_a_function_to_a_plugin_count_as_asking() -> None:
    files = {
        "tests/conftest.py": """
            import pytest

            @pytest.fixture
            def db():
                return 1

            @pytest.fixture
            def step_value():
                return 2
        """,
        "tests/marks.py": "import pytest\n\nneeds_db = pytest.mark.usefixtures('db')\n",
        "tests/test_marked.py": "from tests.marks import needs_db\n\n@needs_db\ndef test_marked(): pass\n",
        "tests/steps.py": "from somewhere import given\n\n@given('a step')\ndef step(step_value):\n    pass\n",
        "tests/test_steps.py": "from tests.steps import step\n\ndef test_scenario(): pass\n",
        "tests/test_plain.py": "def test_plain(): pass\n",
    }
    assert set(select(files, body("tests/conftest.py", "tests.conftest.db")).tests) == {
        "tests/test_marked.py::test_marked"
    }
    assert set(select(files, body("tests/conftest.py", "tests.conftest.step_value")).tests) == {
        "tests/test_steps.py::test_scenario"
    }


def test_a_fixture_is_not_a_candidate_of_an_attribute_read_by_name() -> None:
    # pytest refuses a direct call of a fixture: getattr(obj, name) cannot run one, only pytest can.
    files = {
        **TREE,
        "tests/test_reflect.py": "def test_reflect():\n    import conftest\n    getattr(conftest, input())()\n",
    }
    assert "tests/test_reflect.py::test_reflect" not in select(files, body("conftest.py", "conftest.db")).tests
    assert "tests/test_reflect.py::test_reflect" in select(files, body("app/db.py", "app.db.connect")).tests


def test_a_fixture_asked_for_while_its_name_is_being_set_up_is_the_one_it_overrides() -> None:
    """pytest hands a name already being set up the next definition up, however deep the request: the module's
    ``db(cache)`` asks for ``cache``, which asks for ``db``: the conftest's ``db`` runs there too."""
    files = {
        "conftest.py": """
            import pytest

            @pytest.fixture
            def db():
                return 1

            @pytest.fixture
            def cache(db):
                return 1
        """,
        "tests/test_over.py": """
            import pytest

            @pytest.fixture
            def db(cache):
                return 2

            def test_over(db):
                assert db == 2
        """,
        "tests/test_plain.py": "def test_plain():\n    pass\n",
    }
    assert select(files, body("conftest.py", "conftest.db")).tests == ("tests/test_over.py::test_over",)
    assert select(files, body("tests/test_over.py", "tests.test_over.db")).tests == ("tests/test_over.py::test_over",)


def test_a_tree_registering_plugins_at_run_time_keeps_every_fixture_reached() -> None:
    files = {
        **TREE,
        "tests/conftest.py": "import tests.extra\n\ndef pytest_configure(config):\n    config.pluginmanager.register(tests.extra)\n",
        "tests/extra.py": "",
    }
    selection = select(files, body("app/db.py", "app.db.connect"))
    assert "tests/test_plain.py::test_plain" in selection.tests


# -- generated fixture chains, checked against real pytest ----------------------------------------------

LEVELS = ("conftest", "sub-conftest", "module", "class")


@st.composite
def fixture_trees(draw: st.DrawFn) -> tuple[dict[str, str], list[str]]:
    """Fixtures f0..fn over the levels, each asking for some earlier ones (its own name: the level below);
    tests asking for some by parameter, usefixtures or getfixturevalue; some autouse."""
    count = draw(st.integers(2, 6))
    defs: dict[str, list[str]] = {level: [] for level in LEVELS}
    ids: list[str] = []
    for i in range(count):
        level = draw(st.sampled_from(LEVELS))
        name = f"f{draw(st.integers(0, i))}"  # an earlier name again: an override (on another level)
        if any(f"def {name}(" in d for d in defs[level]):
            name = f"f{i}"
        asks = sorted(set(draw(st.lists(st.sampled_from([f"f{j}" for j in range(i + 1)]), max_size=2))))
        autouse = draw(st.booleans()) and draw(st.booleans())
        ident = f"{level}-{i}"
        ids.append(ident)
        indent = "    " if level == "class" else ""
        params = ", ".join([*(["self"] if level == "class" else []), *asks])
        defs[level].append(
            f"{indent}@pytest.fixture(autouse={autouse})\n"
            f"{indent}def {name}({params}):\n"
            f"{indent}    _record({ident!r})\n"
            f"{indent}    return 1\n"
        )
    record = (
        "import os\n\n\ndef _record(ident):\n"
        "    with open(os.environ['FIXTURE_LOG'], 'a') as log:\n"
        "        log.write(ident + ' ' + os.environ['PYTEST_CURRENT_TEST'].split(' ')[0] + '\\n')\n"
    )
    tests: list[str] = []
    for t in range(draw(st.integers(1, 4))):
        asks = sorted(set(draw(st.lists(st.sampled_from([f"f{j}" for j in range(count)]), max_size=2))))
        how = draw(st.sampled_from(("params", "usefixtures", "getfixturevalue")))
        if how == "params":
            tests.append(f"    def test_{t}(self, {', '.join(asks)}):\n        pass\n")
        elif how == "usefixtures":
            names = ", ".join(repr(a) for a in asks)
            tests.append(f"    @pytest.mark.usefixtures({names})\n    def test_{t}(self):\n        pass\n")
        else:
            lookups = "".join(f"        request.getfixturevalue({a!r})\n" for a in asks)
            tests.append(f"    def test_{t}(self, request):\n{lookups}        pass\n")
    files = {
        "record.py": record,
        "conftest.py": "import pytest\nfrom record import _record\n\n\n" + "\n\n".join(defs["conftest"]),
        "tests/__init__.py": "",
        "tests/conftest.py": "import pytest\nfrom record import _record\n\n\n" + "\n\n".join(defs["sub-conftest"]),
        "tests/test_gen.py": "import pytest\nfrom record import _record\n\n\n"
        + "\n\n".join(defs["module"])
        + "\n\nclass TestGen:\n"
        + "\n".join(defs["class"])
        + "\n"
        + "\n".join(tests),
        "tests/test_other.py": "def test_other():\n    pass\n",
    }
    return files, ids


def _ran(tmp: Path, files: Mapping[str, str]) -> tuple[dict[str, set[str]], bool]:
    """Run the tree under pytest: which tests set up each fixture (by its id); whether every test passed."""
    for path, text in files.items():
        (tmp / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp / path).write_text(text)
    log = tmp / "fixtures.log"
    log.write_text("")
    env = {**os.environ, "FIXTURE_LOG": str(log), "PYTHONPATH": str(tmp), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:xdist"],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 1: a lookup of a fixture no one defines
    ran: dict[str, set[str]] = {}
    for line in log.read_text().splitlines():
        ident, test = line.split(" ", 1)
        ran.setdefault(ident, set()).add(test)
    return ran, result.returncode == 0


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(tree=fixture_trees())
def test_a_change_to_any_fixture_selects_every_test_that_set_it_up(
    tree: tuple[dict[str, str], list[str]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    files, ids = tree
    ran, passed = _ran(tmp_path_factory.mktemp("tree"), files)
    index = TestIndex.build({path: text.encode() for path, text in files.items()})
    where = {"conftest": "conftest.py", "sub-conftest": "tests/conftest.py", "module": "tests/test_gen.py"}
    # A name asked for while the test runs (getfixturevalue) may be asked from a fixture of that name being set up,
    # which gets the next definition down: the model counts every definition of such a name (and of what it asks
    # for), an over-approximation, exact only when no fixture name is defined twice.
    defined = [
        line.split("def ", 1)[1].split("(", 1)[0]
        for text in files.values()
        for line in text.splitlines()
        if line.lstrip().startswith("def f")
    ]
    exact = "getfixturevalue" not in files["tests/test_gen.py"] or len(defined) == len(set(defined))
    for ident in ids:
        level = ident.rpartition("-")[0]
        path = where.get(level, "tests/test_gen.py")
        source = files[path].splitlines()
        line = source.index(next(s for s in source if f"_record({ident!r})" in s)) - 1
        name = source[line].split("def ", 1)[1].split("(", 1)[0]
        module = path[:-3].replace("/", ".").removesuffix(".__init__")
        qualname = f"{module}.{'TestGen.' if level == 'class' else ''}{name}"
        selection = index.select([body(path, qualname)], old_index=index)
        assert not selection.run_all, selection.reason
        assert ran.get(ident, set()) <= set(selection.tests), (ident, files)
        if passed and exact:  # every test set up all it asked for: the model is exact here
            assert ran.get(ident, set()) == set(selection.tests), (ident, files)
