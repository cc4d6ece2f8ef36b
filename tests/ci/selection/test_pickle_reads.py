"""Reading a pickle without loading it: every global a real load looks up is one the reading names (or a safe one).

:func:`trellis.ci.selection.python_calls.pickle_reads` bounds what unpickling constant bytes may run; these tests
load real pickles, of every protocol, with an unpickler that records what ``find_class`` hands out.
"""

from __future__ import annotations

import collections
import datetime
import importlib
import io
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trellis.ci.selection.python_calls import PICKLE_SAFE_GLOBALS, pickle_reads


class Plain:
    def __init__(self, x: Any) -> None:
        self.x = x


class Slotted:
    __slots__ = ("x",)

    def __init__(self, x: Any) -> None:
        self.x = x


def make_reduced(x: Any) -> Reduced:
    return Reduced(x)


class Reduced:
    def __init__(self, x: Any) -> None:
        self.x = x

    def __reduce__(self) -> tuple[Any, ...]:
        return (make_reduced, (self.x,))


class Stateful:
    def __init__(self, x: Any) -> None:
        self.x = x

    def __getstate__(self) -> dict[str, Any]:
        return {"x": self.x}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.x = state["x"]


class Bag(list[Any]):
    pass


class Table(dict[Any, Any]):
    pass


class Outer:
    class Inner:
        def __init__(self, x: Any) -> None:
            self.x = x


WRAPPERS = (Plain, Slotted, Reduced, Stateful, Outer.Inner)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.sampled_from([make_reduced, Plain, datetime.date(2020, 1, 2), collections.OrderedDict(a=1)]),
)


def _wrap(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=3),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=3), children, max_size=3),
        st.frozensets(st.integers(), max_size=3),
        st.sets(st.text(max_size=3), max_size=3),
        st.builds(lambda items: Bag(items), st.lists(children, max_size=3)),
        st.builds(lambda items: Table(items), st.dictionaries(st.text(max_size=3), children, max_size=3)),
        st.builds(bytearray, st.binary(max_size=3)),
        *(st.builds(wrapper, children) for wrapper in WRAPPERS),
    )


values = st.recursive(leaves, _wrap, max_leaves=8)


class _Recorder(pickle.Unpickler):
    """An unpickler that keeps every object ``find_class`` returns."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.found: list[Any] = []

    def find_class(self, module: str, name: str) -> Any:
        found = super().find_class(module, name)
        self.found.append(found)
        return found


def _resolve(dotted: str) -> Any:
    """The object a dotted ``module.qualname`` names (the longest importable prefix is the module)."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            target = getattr(target, part)
        return target
    raise LookupError(dotted)


SAFE = [_resolve(name) for name in sorted(PICKLE_SAFE_GLOBALS)]


@settings(max_examples=200, deadline=None)
@given(value=values, protocol=st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_every_global_a_load_looks_up_is_one_the_reading_names(value: Any, protocol: int) -> None:
    try:
        data = pickle.dumps(value, protocol=protocol)
    except TypeError:  # a slotted object without __getstate__ under protocols 0 and 1
        return
    reads = pickle_reads(data)
    if reads is None:  # protocols 0-3 spell a nested class getattr(Outer, "Inner"): a call that reads any attribute
        assert "getattr" in pickletools_text(data)
        return
    named = [_resolve(name) for name in reads.globals]
    recorder = _Recorder(data)
    recorder.load()
    for found in recorder.found:
        assert any(found is n for n in named) or any(found is s for s in SAFE), (found, reads)
    for module in reads.modules:
        assert any(name.startswith(f"{module}.") for name in reads.globals)


def pickletools_text(data: bytes) -> str:
    import pickletools

    out = io.StringIO()
    pickletools.dis(data, out)
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        b"not a pickle",
        b"P1\n.",  # a persistent id
        b"\x80\x02\x82\x01.",  # EXT1: the extension registry
        b"\x80\x04K\x01K\x02\x93.",  # STACK_GLOBAL of values that are not strings
        b"\x80\x04\x8c\x02os\x94\x8c\x06getcwd\x94\x93",  # no STOP
        b"\x80\x04\x8c\x05a.<b>\x8c\x01c\x93.",  # a module name no file can have
    ],
)
def test_pickles_that_cannot_be_bounded_read_as_none(data: bytes) -> None:
    assert pickle_reads(data) is None


def test_the_reading_follows_names_through_the_memo_and_python_2_names() -> None:
    # SHORT_BINUNICODE "app.m", MEMOIZE, SHORT_BINUNICODE "A", MEMOIZE, STACK_GLOBAL, then BINGET 0 + "B".
    data = b"\x80\x04\x8c\x05app.m\x94\x8c\x01A\x94\x93h\x00\x8c\x01B\x94\x93\x86."
    reads = pickle_reads(data)
    assert reads is not None and reads.globals == ("app.m.A", "app.m.B") and reads.modules == ("app.m",)
    # Protocol 0: ``__builtin__`` and ``copy_reg`` are Python 3's ``builtins`` and ``copyreg``: safe ones.
    assert pickle_reads(b"c__builtin__\nint\n(I1\ntR.") == pickle_reads(b"ccopy_reg\n_reconstructor\n.")
    # Any other global of the standard library (or ``__main__``) is the interpreter's, whatever the tree holds.
    assert pickle_reads(b"c__builtin__\neval\n(S'1'\ntR.") is None
    assert pickle_reads(b"cos.path\njoin\n.") is None
    assert pickle_reads(b"c__main__\nThing\n.") is None
