"""Which values the analysis knows to be of an exact builtin type (an attribute of theirs runs no code of the tree).

Each case is a function whose last line returns ``v``: the type inferred for that read of ``v`` (None: not
certain). The uncertain cases are the ways a subclass of a builtin, or any object, can reach ``v``.
"""

from __future__ import annotations

import ast
from textwrap import dedent

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from trellis.ci.selection.builtin_values import BuiltinValues, after_builtin


def inferred(source: str) -> str | None:
    """The type inferred for the name the last ``return NAME`` of ``source`` returns."""
    tree = ast.parse(dedent(source))
    values = BuiltinValues(tree)
    reads = [n for n in ast.walk(tree) if isinstance(n, ast.Return) and isinstance(n.value, ast.Name)]
    assert reads, source
    return values.type_of(max(reads, key=lambda r: r.lineno).value)  # type: ignore[arg-type]


CERTAIN = {
    "literal": ('v = "a/b"', "str"),
    "split": ('v = "a/b".split("/")', "list"),
    "split item": ('v = "a/b".split("/")[0]', "str"),
    "method chain": ('v = " a ".strip().lower().replace("a", "b")', "str"),
    "join of anything": ('v = "-".join(p)', "str"),
    "f-string of two parts": ('v = f"x{p}"', "str"),
    "f-string of a certain value": ('v = f"{len(p)}"', "str"),
    "str of a certain value": ("v = str(3)", "str"),
    "format of certain values": ('v = "{}-{}".format(1, "a")', "str"),
    "percent of certain values": ('v = "%s/%d" % ("a", 2)', "str"),
    "concatenation": ('v = "a" + "b"', "str"),
    "len": ("v = len(p)", "int"),
    "list of a string": ('v = list("ab")', "list"),
    "tuple of strings": ('v = tuple("ab")', "tuple:str"),
    "item of a tuple variable": ('t = ("a", "b")\n    v = t[0]', "str"),
    "sorted split": ('v = sorted("a b".split())[0]', "str"),
    "dict display": ("v = {p: q}", "dict"),
    "items": ("d = {}\n    v = d.items()", "view"),
    "comprehension": ('v = [c.upper() for c in "ab"][0]', "str"),
    "loop over a split": ('for v in "a b".split():\n        pass', "str"),
    "enumerate": ('for i, v in enumerate("a b".split()):\n        pass', "str"),
    "unpacking": ('v, w = "a:b".split(":")', "str"),
    "starred": ('w, *v = "a:b".split(":")', "list"),
    "tuple unpacking": ('v, w = "a", p', "str"),
    "rebound in a loop": ('v = ""\n    while p:\n        v = v.strip() + "x"', "str"),
    "augmented": ('v = "a"\n    v += "b"', "str"),
    "walrus": ('if (v := "a".strip()):\n        pass', "str"),
    "two types": ('v = "a" if p else [1]', "object"),
    "closure read": ('v = "a"\n    def g():\n        return v\n    return g', "str"),
    "difference": ('v = frozenset("ab").difference(p)', "frozenset:str"),
    "union (the argument's elements)": ('v = frozenset("ab").union(p)', "frozenset"),
    "intersection (either's elements)": ('v = frozenset("ab").intersection(p)', "frozenset"),
    "not": ("v = not p", "bool"),
    "deleted": ('v = "a"\n    del v\n    v = "b"', "str"),
}

UNCERTAIN = {
    "parameter": ("v = p", None),
    "annotated parameter": ("v: str = p", None),
    "a call of the tree": ("v = make()", None),
    "one binding of the tree": ('v = "a"\n    if p:\n        v = make()', None),
    "str of anything (__str__ may return a subclass)": ("v = str(p)", None),
    "repr of anything": ("v = repr(p)", None),
    "f-string of one part": ('v = f"{p}"', None),
    "format of anything": ('v = "{}".format(p)', None),
    "percent of anything": ('v = "%s" % p', None),
    "percent of a tuple of anything": ('v = "%s" % (p,)', None),
    "concatenation with anything (__radd__)": ('v = "a" + p', None),
    "partition by anything (the separator itself)": ('v = "a/b".partition(p)[1]', None),
    "an item of a dict": ('v = {"a": p}["a"]', None),
    "get": ('v = {"a": p}.get("a")', None),
    "an item of a list of anything": ("v = [p][0]", None),
    "loop over anything": ("for v in p:\n        pass", None),
    "an element of a list variable (changed in place)": ('ps = "a".split()\n    ps.append(p)\n    v = ps[0]', None),
    "an element of a set variable": ('ps = {"a"}\n    ps.add(p)\n    for v in ps:\n        pass', None),
    "an element of a list in a tuple": ('t = (["a"],)\n    t[0].append(p)\n    v = t[0][0]', None),
    "with target": ('with open("f") as v:\n        pass', None),
    "except target": ("try:\n        pass\n    except Exception as v:\n        pass", None),
    "import": ("import os as v", None),
    "augmented with anything": ('v = "a"\n    v += p', None),
    "global": ('global v\n    v = "a"', None),
    "rebound by a nested nonlocal": ('v = "a"\n    def g():\n        nonlocal v\n        v = p\n    g()', None),
    "locals() read": ('v = "a"\n    locals()', None),
    "self-bound only": ("v = v.strip()", None),
    "lambda": ("v = lambda: 1", None),
}


@pytest.mark.parametrize(("case", "expected"), [(k, v[1]) for k in CERTAIN for v in [CERTAIN[k]]])
def test_certain_values(case: str, expected: str) -> None:
    body = CERTAIN[case][0]
    assert inferred(f"def f(p, q):\n    {body}\n    return v\n") == expected


@pytest.mark.parametrize("case", sorted(UNCERTAIN))
def test_values_a_subclass_or_any_object_may_reach_are_not_certain(case: str) -> None:
    body = UNCERTAIN[case][0]
    assert inferred(f"def f(p, q):\n    {body}\n    return v\n") is None


def test_a_comprehension_variable_is_its_own_and_the_shadowed_name_keeps_its_type() -> None:
    source = "def f(p):\n    v = 'a'\n    w = [v.save() for v in p]\n    return v\n"
    assert inferred(source) == "str"
    tree = ast.parse(source)
    values = BuiltinValues(tree)
    inside = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "save"][0]
    assert values.type_of(inside.value) is None


@pytest.mark.parametrize(
    "binding",
    [
        "str = MyStr",
        "from lib import str",
        "from lib import *",
        "def str(x):\n    return x",
        "import str",
        'globals()["str"] = MyStr',
        'setattr(sys.modules[__name__], "str", MyStr)',
        'setattr(me, "str", MyStr)',
        "me.str = MyStr",
    ],
)
def test_a_builtin_name_the_file_binds_is_not_the_builtin(binding: str) -> None:
    source = f"{binding}\n\ndef f(p):\n    v = str(3)\n    w = list(p)\n    return v\n"
    assert inferred(source) is None


def test_module_and_class_names_are_never_certain() -> None:
    assert inferred('v = "a"\n\ndef f():\n    return v\n') is None
    assert inferred('class C:\n    v = "a"\n    def m(self):\n        return v\n') is None
    # a class body reads its namespace first (a metaclass's __prepare__ may have filled it), then the function's
    assert (
        inferred('def f():\n    v = "a"\n    class C(metaclass=M):\n        w = v.save()\n        return v\n') is None
    )


def test_what_a_chain_still_reads_of_unknown_objects() -> None:
    assert after_builtin("str", ("split", "()", "count", "()")) == ()
    assert after_builtin("dict", ("get", "()", "save", "()")) == ("save",)
    assert after_builtin("list", ("pop", "()", "save")) == ("save",)
    assert after_builtin("list:str", ("pop", "()", "strip")) == ()  # a new list: "a b".split().pop().strip()
    assert after_builtin("str", ("__class__", "__subclasses__")) is None  # classes of the tree handed out


# -- the inference against what CPython makes ------------------------------------------------------------------

HELPERS = """\
class MyStr(str):
    def split(self, *args):
        return ["mine"]


class MyList(list):
    pass


class Shown:
    def __str__(self):
        return MyStr("shown")

    def __format__(self, spec):
        return MyStr("formatted")


def make():
    return MyStr("made")
"""
ATOMS = ['"a/b"', 'b"a/b"', "3", "2.5", "None", "True", "p", 'MyStr("/")', "Shown()", "make()", 'MyList(["x"])']
FORMS = [
    "{0}.strip()",
    '{0}.split("/")',
    "{0}[0]",
    "{0}[1:]",
    "str({0})",
    "repr({0})",
    'f"{{{0}}}"',
    'f"x{{{0}}}"',
    '"%s" % {0}',
    '"%s" % ({0},)',
    '"{{}}".format({0})',
    "{0} + {1}",
    "{0} * 2",
    "[{0}, {1}]",
    "({0}, {1})",
    "[{0}][0]",
    "({0}, {1})[1]",
    "{{{0}}}",
    "len({0})",
    "list({0})",
    "tuple({0})",
    "frozenset({0})",
    "sorted({0})",
    '{0}.partition("/")',
    "{0}.partition({1})",
    '"-".join({0})',
    "{0} or {1}",
    "({0} if p else {1})",
    "not {0}",
    "[x for x in {0}]",
    '{{"k": {0}}}["k"]',
    "frozenset({0}).union({1})",
    "frozenset({0}).intersection({1})",
    "{0}.lower().split()[0]",
]
BINDINGS = [
    "v = {0}",
    "v += {0}",
    "for v in {0}:\n        pass",
    "v, *w = {0}",
    "if (v := {0}) is None:\n        pass",
    "w = {0}\n    w.append(p)\n    v = w[-1]",  # a list changed in place
]
_EXACT = {"str", "bytes", "int", "float", "complex", "bool", "NoneType", "list", "tuple", "dict", "set"}
_EXACT |= {"frozenset", "range", "dict_keys", "dict_values", "dict_items", "builtin_function_or_method"}


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    if depth >= 2 or draw(st.booleans()):
        return draw(st.sampled_from(ATOMS))
    form = draw(st.sampled_from(FORMS))
    return form.format(f"({draw(expressions(depth + 1))})", f"({draw(expressions(depth + 1))})")


@st.composite
def functions(draw: st.DrawFn) -> str:
    lines = [draw(st.sampled_from(BINDINGS)).format(draw(expressions())) for _ in range(draw(st.integers(1, 3)))]
    return HELPERS + "\n\ndef f(p):\n" + "".join(f"    {line}\n" for line in lines) + "    return v\n"


def _matches(kind: str, value: object) -> bool:
    """Is ``value`` of the exact builtin type ``kind`` names (elements included)?"""
    name = type(value).__name__
    if name not in _EXACT or type(value).__module__ != "builtins":
        return False
    base, _, items = kind.partition(":")
    if base == "view":
        return name.startswith("dict_")
    if base != "object" and name != base:
        return False
    return not items or all(_matches(items, item) for item in value)  # type: ignore[attr-defined]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=functions(), argument=st.sampled_from(['"a/b"', 'MyStr("a/b")', 'MyList(["x"])', "Shown()", "[1]"]))
def test_what_is_inferred_certain_is_what_cpython_makes(source: str, argument: str) -> None:
    """Run the generated function (CPython itself decides): a value inferred of an exact builtin type is one."""
    namespace: dict[str, object] = {}
    try:
        exec(compile(source, "<generated>", "exec"), namespace)  # noqa: S102
        value = eval(f"f({argument})", namespace)  # noqa: S307
    except Exception:  # noqa: BLE001 - the program raised: no value to compare
        assume(False)
        return
    kind = inferred(source)
    if kind is not None:
        assert _matches(kind, value), (kind, type(value), value, source, argument)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expression=expressions(), argument=st.sampled_from(['"a/b"', 'MyStr("a/b")', "Shown()", "[1]"]))
def test_every_subexpression_inferred_certain_is_what_cpython_makes(expression: str, argument: str) -> None:
    """Each part of a generated expression that the inference calls certain, evaluated alone, is of that type."""
    source = f"{HELPERS}\n\ndef f(p):\n    return {expression}\n"
    try:
        tree = ast.parse(source)
    except SyntaxError:
        assume(False)
        return
    values = BuiltinValues(tree)
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "f")
    returned = function.body[-1]
    assert isinstance(returned, ast.Return) and returned.value is not None
    for part in ast.walk(returned.value):
        if not isinstance(part, ast.expr):
            continue
        kind = values.type_of(part)
        if kind is None:
            continue
        namespace: dict[str, object] = {}
        try:
            exec(compile(f"{HELPERS}\n\ndef g(p):\n    return {ast.unparse(part)}\n", "<part>", "exec"), namespace)  # noqa: S102
            value = eval(f"g({argument})", namespace)  # noqa: S307
        except Exception:  # noqa: BLE001 - raises (or reads a comprehension's variable): nothing to compare
            continue
        assert _matches(kind, value), (kind, type(value), ast.unparse(part), argument)
