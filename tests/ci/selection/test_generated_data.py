"""Code handed to exec/eval that differs from run to run only in its data (lark's standalone parser: the same code
each time, with tables serialized in an order the hash seed decides), and code at a site that may run any code
already: what reading them gives, and that merging a job's records does not read the same code again."""

from __future__ import annotations

import json

from trellis.ci.selection.observed import FORMAT, Observations, SiteCode, from_source, split_data

SITE = "tests/test_tools.py::TestStandalone._create_standalone"
RECORDING = json.dumps({"eval": "", "recording": FORMAT})
CODE = """\
import os


class Loader:
    def load(self, data):
        return {key: getattr(self, "load_" + kind)(value) for key, (kind, value) in data.items()}

    def load_rule(self, value):
        return open(os.path.join("grammars", value)).read()


def make():
    return Loader().load(DATA)


"""


def table(order: list[str]) -> str:
    """A serialized table, its entries in ``order`` (as a hash seed orders a set), long enough to count as data."""
    entries = ", ".join(f"{name!r}: ('rule', 'rules/{name}.lark')" for name in order)
    return "DATA = {" + entries + "}\n"


NAMES = [f"rule_{n:02}" for n in range(12)]


def test_a_long_literal_of_constants_assigned_at_the_top_level_is_read_apart() -> None:
    source = CODE + table(NAMES)
    code, data = split_data(source)
    assert data == [table(NAMES).removeprefix("DATA = ").rstrip("\n")]
    assert "DATA = (__trellis_data__)" in code and "rule_00" not in code
    # What is not data: short literals, anything computed, a literal no top-level statement assigns.
    assert split_data("X = {'a': 1}\n") == ("X = {'a': 1}\n", [])
    computed = "X = {" + ", ".join(f"'k{n}': f({n})" for n in range(40)) + "}\n"
    assert split_data(computed) == (computed, [])
    nested = "def f():\n    return " + table(NAMES).removeprefix("DATA = ")
    assert split_data(nested) == (nested, [])
    assert split_data("__trellis_data__ = 1\n" + table(NAMES))[1] == []  # the stand-in name taken: read whole
    assert split_data("def (:\n" + table(NAMES)) == ("def (:\n" + table(NAMES), [])


def test_code_read_apart_from_its_data_bounds_what_the_whole_reads() -> None:
    store = Observations()
    for source in (
        CODE + table(NAMES),
        CODE + table(NAMES) + "getattr(Loader(), DATA['rule_00'][0])\n",  # a name computed from the data
        CODE + table(NAMES) + "import importlib\nimportlib.import_module(DATA['rule_01'][1])\n",
        CODE + table(NAMES) + "exec(DATA['rule_02'][1])\n",
    ):
        whole, apart = from_source(source), store.read_source(source)
        for field in ("names", "strings", "words", "imports", "attrs", "modules", "globals"):
            assert getattr(whole, field) <= getattr(apart, field), field
        assert apart.any_attr >= whole.any_attr and bool(apart.dynamic) >= bool(whole.dynamic)
        assert "__trellis_data__" not in apart.names
    read = store.read_source(CODE + table(NAMES))
    assert {"rules", "rule_03.lark", "grammars"} <= read.words  # the data's file names, read as in place
    assert {"load", "load_rule"} <= read.names and not read.dynamic


def test_sources_that_differ_only_in_their_data_read_the_code_once() -> None:
    store = Observations()
    first = store.read_source(CODE + table(NAMES))
    reordered = store.read_source(CODE + table(NAMES[::-1]))
    assert reordered == first
    grown = store.read_source(CODE + table([*NAMES, "rule_new"]))
    assert "rule_new.lark" in grown.words and grown.names == first.names
    assert len(store._code) == 1  # one reading of the code for the three sources


def record(source: str) -> str:
    return json.dumps({"eval": SITE, "sha": str(hash(source)), "source": source})


def test_a_site_that_may_run_any_code_reads_no_more_code() -> None:
    store = Observations()
    assert store.add_code("r", [RECORDING, record("import pickle\npickle.loads(blob)\n")])
    version, sites = store.sites("r")
    assert "pickle.loads" in sites[SITE].dynamic
    # Later jobs' code there (new code every run) reads nothing the site's "any code" does not hold already.
    assert store.add_code("r", [RECORDING, record("class New:\n    def fresh_name(self):\n        pass\n")])
    assert store.sites("r") == (version, sites)
    # A bounded site still takes what new code reads, and one job's code that may run anything widens it.
    assert store.add_code("r", [RECORDING, json.dumps({"eval": "lib/x.py::f", "sha": "1", "source": "a.b\n"})])
    assert store.sites("r")[1]["lib/x.py::f"] == SiteCode(names=frozenset({"a", "b"}))
    lines = [json.dumps({"eval": "lib/x.py::f", "sha": str(n), "source": s}) for n, s in ((2, "exec(c)\n"), (3, "q\n"))]
    assert store.add_code("r", [RECORDING, *lines])
    widened = store.sites("r")[1]["lib/x.py::f"]
    assert widened.dynamic and "q" not in widened.names
