"""trellis.cli.quick: a plain ``trellis query`` command line parsed without argparse gives argparse's namespace, and
anything else is left to argparse; the other pieces of the lean ``trellis query`` process against the full path's."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trellis.cli.context import to_jsonable
from trellis.cli.parser import build_parser
from trellis.cli.quick import parse_quickly

WORDS = [
    "query",
    "log",
    "SELECT 1",
    "",
    "-",
    "--",
    "-1",
    "5",
    "1_000",
    " 7 ",
    "x",
    "csv",
    "json",
    "table",
    "arrow",
    "tsv",
    "/d",
    "--format",
    "--format=csv",
    "--format=",
    "--form",
    "--param",
    "--param=a=b",
    "--max-rows",
    "--max-rows=-1",
    "--max-rows=x",
    "--timeout",
    "--data-dir",
    "--data-dir=",
    "--data",
    "--server",
    "--token",
    "--agent",
    "--json",
    "--json=1",
    "--tls",
    "--tls-ca",
    "--tls-cert=c.pem",
    "--tls-key",
    "--tls-server-name",
    "-h",
    "--help",
    "--version",
    "--unknown",
]


def _full(words: list[str]) -> dict[str, Any] | None:
    """What argparse makes of ``words`` (None: it refuses them, or prints help)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return vars(build_parser(words).parse_args(words))
    except SystemExit:
        return None


@settings(max_examples=600, deadline=None)
@given(words=st.lists(st.sampled_from(WORDS), max_size=7).map(lambda w: w if "query" in w[:3] else ["query", *w]))
@example(["query", "SELECT 1"])
@example(["query", "x", "--format", "/d", "--format=csv"])  # an invalid value, then a valid one: argparse refuses
@example(["--data-dir", "query", "query", "SELECT 1", "--format", "csv", "--param", "3", "--param", "x"])
@example(["query", "--format=csv", "SELECT 1", "--max-rows", " 7 ", "--timeout", "1_000", "--json", "--tls"])
@example(["--json", "--data-dir=/d", "query", "x", "--data-dir", "/e", "--server", "h:1", "--tls-cert=c.pem"])
def test_a_command_line_it_reads_gives_argparses_namespace(words: list[str]) -> None:
    quick = parse_quickly(words)
    full = _full(words)
    if quick is not None:
        assert full is not None, words
        assert vars(quick) == full, words


@pytest.mark.parametrize(
    "words",
    [
        ["query", "SELECT 1", "--help"],
        ["query", "-h"],
        ["--version", "query", "x"],
        ["query", "SELECT 1", "SELECT 2"],  # two positionals
        ["query"],  # none
        ["query", "SELECT 1", "--format", "tsv"],
        ["query", "SELECT 1", "--form", "csv"],  # abbreviated: argparse decides
        ["query", "SELECT 1", "--max-rows", "-1"],  # a value starting with -: argparse decides
        ["query", "SELECT 1", "--max-rows", "x"],
        ["query", "SELECT 1", "--json=1"],
        ["query", "--", "SELECT 1"],
        ["--format", "csv", "query", "x"],  # query's option before the command
        ["log", "demo"],
        ["export", "--parquet", "/d"],
        [],
    ],
)
def test_anything_else_is_left_to_argparse(words: list[str]) -> None:
    assert parse_quickly(words) is None


@dataclasses.dataclass
class _Value:
    a: int
    b: list[Any]


class _Pair(NamedTuple):
    x: int
    y: str


@pytest.mark.parametrize(
    "value", [_Value(1, [_Value(2, [])]), _Value, _Pair(1, "a"), {"k": _Value(3, [b"x", Path("/p")])}, "s", 4, None]
)
def test_to_jsonable_tells_dataclasses_as_dataclasses_does(value: Any) -> None:
    """to_jsonable asks for ``__dataclass_fields__`` instead of importing dataclasses for values that are none."""

    def reference(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: reference(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [reference(x) for x in v]
        if isinstance(v, dict):
            return {str(k): reference(x) for k, x in v.items()}
        return to_jsonable(v)  # the leaves, which this test is not about

    assert to_jsonable(value) == reference(value)


def test_parsing_a_query_imports_no_argparse() -> None:
    import subprocess

    probe = "import sys; from trellis.cli.quick import parse_quickly; parse_quickly(['query', 'SELECT 1']); "
    probe += "print(sorted(m for m in ('argparse', 'dataclasses', 'threading') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_the_ctrl_c_watcher_uses_what_the_signal_module_wraps() -> None:
    """main's watcher calls ``_signal`` (no enums of every signal to build): the functions ``signal`` re-exports
    or wraps without changing what they do for SIGINT and a Python handler."""
    import _signal  # type: ignore[import-not-found]
    import signal

    assert signal.set_wakeup_fd is _signal.set_wakeup_fd
    assert signal.default_int_handler is _signal.default_int_handler
    assert _signal.SIGINT == signal.SIGINT == 2
    # (``signal`` gives SIG_IGN/SIG_DFL as enums of the same values: a CI job may inherit SIGINT ignored)
    assert _signal.getsignal(_signal.SIGINT) == signal.getsignal(signal.SIGINT)
