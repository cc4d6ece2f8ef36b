"""A change to a docstring, a comment or the formatting alone selects only the tests that may read it.

Its code is the same: a test sees the change only through the docstring's value (``__doc__``, ``inspect``,
``help``, an attribute under a computed name, the doctest examples) or through the source text and its line
numbers (``inspect.getsource``, ``traceback``, ``warnings``, ``logging``, frames). 19 of marshmallow's last 40
commits changed only docstrings or comments, and each selected nearly every test.
"""

from __future__ import annotations

from collections.abc import Mapping
from textwrap import dedent

import pytest

from trellis.ci.selection.index import Selection, TestIndex, changes_from_diff
from trellis.semantic_diff import diff_files

APP = {
    "app/__init__.py": "",
    "app/models.py": '''
        import logging
        import warnings

        LOG = logging.getLogger(__name__)


        class User:
            """A user."""

            def describe(self):
                """Describe the user."""
                # the plain word
                return "user"

            def old(self):
                warnings.warn("old", DeprecationWarning)
                return 1

            def logged(self):
                LOG.info("logged")
                return 2


        def plain():
            return 3
    ''',
    "app/cli.py": '''
        def command(f):
            """A click-style decorator: the help text is the function's docstring."""
            def run(argv):
                if "--help" in argv:
                    return f.__doc__
                return f()
            return run


        def hello():
            """Say hello."""
            return "hello"
    ''',
    "tests/test_models.py": """
        import inspect

        from app.models import User, plain


        def test_describe():
            assert inspect.isclass(User)  # (what of inspect looks at a type, not at a docstring or source)
            assert User().describe() == "user"


        def test_getdoc():
            assert inspect.getdoc(User.describe) == "Describe the user."


        def test_dunder_doc():
            assert User.describe.__doc__.startswith("Describe")


        def test_source():
            assert "plain word" in inspect.getsource(User.describe)


        def call(obj, name):
            return getattr(obj, name)()


        def test_getattr():
            assert call(User(), "describe")


        def test_old():
            assert User().old() == 1


        def test_logged():
            assert User().logged() == 2


        def test_plain():
            assert plain() == 3
    """,
    "tests/test_cli.py": """
        from app.cli import command, hello


        def test_hello():
            assert hello() == "hello"


        def test_help():
            assert command(hello)(["--help"]) == "Say hello."
    """,
}
APP = {path: dedent(text).lstrip("\n") for path, text in APP.items()}


def build(files: Mapping[str, str], args: tuple[str, ...] = ()) -> TestIndex:
    return TestIndex.build({path: text.encode() for path, text in files.items()})


def push(new: Mapping[str, str], old: Mapping[str, str] = APP, args: tuple[str, ...] = ()) -> Selection:
    """What a push of ``new`` on top of ``old`` selects: the semantic diff of the files that differ."""
    changed = {path for path in old.keys() | new.keys() if old.get(path) != new.get(path)}
    diff = diff_files({p: old[p].encode() for p in changed}, {p: new[p].encode() for p in changed})
    selection = build(new).select(changes_from_diff(diff), old_index=build(old), args=args)
    assert not selection.run_all, selection.reason
    return selection


def names(selection: Selection) -> set[str]:
    return {nodeid.rpartition("::")[2] for nodeid in selection.tests}


def edited(path: str, old: str, new: str) -> dict[str, str]:
    assert old in APP[path]
    return {**APP, path: APP[path].replace(old, new)}


# The tests that read a docstring or source text of what they reach; test_describe only calls the method.
READERS = {"test_getdoc", "test_dunder_doc", "test_source", "test_getattr"}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"""Describe the user."""', '"""Describe the person."""'),  # the docstring
        ("# the plain word", "# the plain words"),  # a comment
        ('return "user"', 'return  "user"'),  # the formatting
    ],
)
def test_a_text_change_selects_the_tests_reading_docstrings_or_source(old: str, new: str) -> None:
    """A docstring's change is seen by what reads docstrings or the source; a comment's or the formatting's alone
    only by what reads the source text or line numbers (``inspect.getsource``): ``__doc__``, ``getdoc`` and an
    attribute read under a computed name see the same docstring (pyflakes: a comment in a message class's
    ``__init__`` selected every test through the checker's ``getattr(self, name)``)."""
    selection = push(edited("app/models.py", old, new))
    if "Describe" in old:
        assert names(selection) == READERS
        assert selection.reasons["tests/test_models.py::test_getdoc"].endswith(", and reads docstrings")
    else:
        # (test_getattr reaches every method of User: ``old`` warns, and a warning carries a line)
        assert names(selection) == {"test_source", "test_getattr"}
        assert "reads source text or line numbers" in selection.reasons["tests/test_models.py::test_source"]


def test_a_docstring_read_by_a_decorator_of_the_tree_selects_its_tests() -> None:
    """click's ``--help`` prints the command function's docstring: the test asking for help sees it."""
    assert names(push(edited("app/cli.py", '"""Say hello."""', '"""Say hi."""'))) == {"test_help"}
    # A package installed beside the tree (click itself) may read it too.
    click = "import click\nfrom app.cli import hello\n\n\ndef test_click():\n    assert click.command()(hello).help\n"
    files = {**APP, "tests/test_click.py": click}
    new = {**files, "app/cli.py": files["app/cli.py"].replace('"""Say hello."""', '"""Say hi."""')}
    assert names(push(new, old=files)) == {"test_help", "test_click"}


def test_line_numbers_read_by_warnings_and_logging_count() -> None:
    """A warning's or a log record's line number moves when a line is added above the call."""
    found = names(push(edited("app/models.py", "    def old(self):\n", "    def old(self):\n        # why\n")))
    assert found == {"test_old", "test_getattr"}  # (getattr under a computed name reaches every method)
    logged = edited("app/models.py", "    def logged(self):\n", "    def logged(self):\n        # why\n")
    assert "test_logged" in names(push(logged))


def test_a_class_docstring_selects_its_readers() -> None:
    # (test_old and test_logged emit a warning and a log record: what they carry is the line of the statement
    # emitting them, no docstring; only what captures or formats them reads a line, as for lines)
    assert names(push(edited("app/models.py", '"""A user."""', '"""A person."""'))) == READERS


EMITTING = {
    "app/__init__.py": "",
    "app/greet.py": dedent(
        """
        import logging
        import warnings

        LOG = logging.getLogger(__name__)


        def greet():
            \"\"\"Greet.\"\"\"
            LOG.info("hi")
            warnings.warn("greeted", UserWarning)
            return "hi"
        """
    ).lstrip(),
    "tests/test_greet.py": "import pytest\n\nfrom app.greet import greet\n\n\ndef test_greet():\n"
    "    with pytest.warns(UserWarning):\n        assert greet() == 'hi'\n\n\n"
    "def test_logged(caplog):\n    greet()\n    assert caplog.records[0].lineno > 0\n",
}


def test_a_docstring_alone_is_no_line_a_module_emitting_warnings_or_log_records_reads() -> None:
    """Most modules of many projects emit log records (``LOG = logging.getLogger(__name__)``) or warnings: read as
    readers of docstrings, every test reaching a function that logs or warns was selected by the change of any
    docstring it reaches. A record emitted carries the line of the statement emitting it, which no docstring is;
    what captures or formats one (``caplog``, ``catch_warnings``, a ``Formatter``) still counts, as for lines."""
    doc = {**EMITTING, "app/greet.py": EMITTING["app/greet.py"].replace('"""Greet."""', '"""Say\n    hi."""')}
    # (pytest.warns captures the warning: the test reads the record, which holds a line of the code, moved)
    assert names(push(doc, old=EMITTING)) == {"test_greet", "test_logged"}
    quiet = {**EMITTING, "tests/test_greet.py": "from app.greet import greet\n\n\ndef test_greet():\n    greet()\n"}
    doc = {**quiet, "app/greet.py": doc["app/greet.py"]}
    assert names(push(doc, old=quiet)) == set()
    # A comment on the line emitting the warning: the warning displayed shows that line's text.
    text = {**quiet, "app/greet.py": quiet["app/greet.py"].replace("UserWarning)", "UserWarning)  # once")}
    assert names(push(text, old=quiet)) == {"test_greet"}


def test_a_body_change_still_selects_every_test_reaching_it() -> None:
    assert names(push(edited("app/models.py", 'return "user"', 'return "person"'))) == READERS | {"test_describe"}


def test_a_docstring_change_still_selects_the_doctests_of_its_module() -> None:
    files = {
        **APP,
        "pytest.ini": "[pytest]\naddopts = --doctest-modules\n",
        "app/text.py": 'def shout(s):\n    """Shout.\n\n    >>> shout("a")\n    \'A\'\n    """\n    return s.upper()\n',
    }
    new = {**files, "app/text.py": files["app/text.py"].replace('"""Shout.', '"""Shout it.')}
    assert "app/text.py" in push(new, old=files).tests


def test_a_class_docstring_a_metaclass_sees_selects_the_class_users() -> None:
    """A metaclass gets the class's namespace, docstring included, as a plain dict: what it makes of it is seen
    by every user of the class."""
    meta = (
        "class Meta(type):\n    def __new__(mcs, name, bases, attrs):\n"
        "        attrs['texts'] = [v for v in attrs.values() if isinstance(v, str)]\n"
        "        return super().__new__(mcs, name, bases, attrs)\n\n\n"
        'class Doc(metaclass=Meta):\n    """A doc."""\n'
    )
    test = "from app.meta import Doc\n\n\ndef test_texts():\n    assert Doc.texts\n"
    files = {**APP, "app/meta.py": meta, "tests/test_meta.py": test}
    new = {**files, "app/meta.py": meta.replace("A doc.", "A text.")}
    assert "test_texts" in names(push(new, old=files))
    # A comment in the class leaves every value of its namespace as it was (cachetools' comment in ``Cache``)
    commented = {**files, "app/meta.py": meta.replace('"""A doc."""\n', '"""A doc."""\n\n    # a comment\n')}
    assert "test_texts" not in names(push(commented, old=files))


def test_nearly_every_test_reading_a_changed_docstring_is_reported_through_it() -> None:
    """A docstring-only change that nearly every test may read is a ``nearly-all`` selection naming the entity."""
    readers = "".join(f"\n\ndef test_doc_{i}():\n    assert inspect.getdoc(User.describe)\n" for i in range(12))
    files = {**APP, "tests/test_models.py": "import inspect\n\nfrom app.models import User" + readers}
    files = {path: text for path, text in files.items() if path != "tests/test_cli.py"}
    new = {**files, "app/models.py": files["app/models.py"].replace("Describe the user.", "Describe it.")}
    selection = push(new, old=files)
    assert selection.rule == "nearly-all"
    assert "app.models.User.describe (modified: docstring)" in selection.reason


def test_a_docstring_read_inside_the_standard_library_selects_its_tests() -> None:
    """``cmd.Cmd`` answers ``help greet`` with ``do_greet``'s docstring, read inside the standard library."""
    shell = (
        "import cmd\n\n\nclass Shell(cmd.Cmd):\n"
        '    def do_greet(self, arg):\n        """Greet someone."""\n        print("hi")\n'
    )
    test = (
        "import io\n\nfrom app.shell import Shell\n\n\ndef test_help():\n    out = io.StringIO()\n"
        '    Shell(stdout=out).onecmd("help greet")\n    assert "Greet someone" in out.getvalue()\n'
    )
    files = {**APP, "app/shell.py": shell, "tests/test_shell.py": test}
    new = {**files, "app/shell.py": shell.replace("Greet someone", "Greet anyone")}
    assert "tests/test_shell.py::test_help" in push(new, old=files).tests


# Tests that read the line numbers of what they reach: a warning's, a log record's (pytest's ``caplog`` text
# carries them), a traceback's.
LINES = {
    **APP,
    "tests/test_lines.py": """
import traceback

from app.models import User, plain


def test_warning_line(recwarn):
    User().old()
    assert recwarn.pop().lineno > 0


def test_log_line(caplog):
    User().logged()
    assert "models.py:" in caplog.text


def test_traceback_line():
    assert plain() == 3
    assert "line" in "".join(traceback.format_stack())
""".lstrip(),
}


def test_definitions_moved_down_by_a_change_above_them_select_their_line_number_readers() -> None:
    """A line added to ``describe`` moves ``old``, ``logged`` and ``plain`` down: the line numbers their
    warning, log record and frames carry change, though their code does not. Only the tests that read a line
    number run: emitting a warning or a log record is not reading its line (``test_old``, ``test_logged``)."""
    grown = {
        **LINES,
        "app/models.py": LINES["app/models.py"].replace('return "user"', 'name = "user"\n        return name'),
    }
    selection = push(grown, old=LINES)
    found = names(selection)
    assert {"test_warning_line", "test_log_line", "test_traceback_line"} <= found
    assert found.isdisjoint({"test_old", "test_logged", "test_plain", "test_hello"})
    reason = selection.reasons["tests/test_lines.py::test_warning_line"]
    assert "moved from line" in reason and "reads line numbers" in reason


def test_a_blank_line_between_definitions_moves_the_ones_below() -> None:
    """A blank line between two definitions changes no entity, yet every definition below it moves."""
    above_plain = {**LINES, "app/models.py": LINES["app/models.py"].replace("\n\ndef plain():", "\n\n\ndef plain():")}
    found = names(push(above_plain, old=LINES))  # (test_getattr may reach any attribute: a reader among them)
    assert "test_traceback_line" in found and found.isdisjoint({"test_warning_line", "test_log_line", "test_plain"})
    above_user = {**LINES, "app/models.py": LINES["app/models.py"].replace("\n\nclass User:", "\n\n\nclass User:")}
    found = names(push(above_user, old=LINES))
    assert {"test_warning_line", "test_log_line", "test_traceback_line"} <= found
    assert found.isdisjoint({"test_old", "test_logged", "test_plain", "test_describe"})


def test_what_gets_a_frame_or_emits_a_warning_reads_no_line_number() -> None:
    """Getting a frame for its globals, warning, logging or calling a package installed beside the tree is not
    reading a line number: those tests stay out when the definitions they reach only moved."""
    compat = (
        "import sys\nimport warnings\n\nimport six\n\n\ndef first():\n    return 1\n\n\n"
        "def caller():\n    warnings.warn('x')\n    return six.moves.range(sys._getframe(1).f_globals['__name__'])\n"
    )
    test = "from app.compat import caller\n\n\ndef test_caller():\n    assert caller()\n"
    files = {**APP, "app/compat.py": compat, "tests/test_compat.py": test}
    new = {**files, "app/compat.py": compat.replace("    return 1\n", "    one = 1\n    return one\n")}
    assert "test_caller" not in names(push(new, old=files))
    with_lines = {
        **files,
        "tests/test_compat.py": test.replace(
            "assert caller()", "assert caller()\n    import inspect\n    assert inspect.getsourcelines(caller)[1] == 11"
        ),
    }
    new = {**with_lines, "app/compat.py": new["app/compat.py"]}
    assert "test_caller" in names(push(new, old=with_lines))


def test_a_test_that_may_run_any_code_counts_for_moved_definitions_only_through_what_it_reaches() -> None:
    """``eval`` may run any code: every code change selects its test, but a blank line that only moves the
    definitions below it changes no code, and the test reaches none of them."""
    test = "def test_eval():\n    assert eval('1 + 1') == 2\n"
    files = {**APP, "tests/test_eval.py": test}
    moved = {**files, "app/models.py": files["app/models.py"].replace("\n\ndef plain():", "\n\n\ndef plain():")}
    assert "test_eval" not in names(push(moved, old=files))
    changed = {**files, "app/models.py": files["app/models.py"].replace("return 3", "return 4")}
    assert "test_eval" in names(push(changed, old=files))


def test_a_variable_named_like_a_reader_reads_nothing() -> None:
    """simplejson's ``errors.linecol`` computes the line of a JSON document in a local ``lineno``, which every
    decoding error reaches: a name of the code's own (a local, a parameter) is not the reader it is named like,
    so a function added above the others in ``encoder.py`` selected every test (``nearly-all``). Where the module
    binds a reader of that name (an import, a module global, a star import) the function still reads its local; code
    reading the module's name (``decode``'s) still counts."""
    errors = (
        "def linecol(doc, pos):\n    lineno = doc.count('\\n', 0, pos) + 1\n    return lineno, pos\n\n\n"
        "def first():\n    return 1\n\n\ndef decode(doc):\n    return linecol(doc, 0)\n"
    )
    test = "from app.errors import decode\n\n\ndef test_decode():\n    assert decode('x') == (1, 0)\n"
    files = {**APP, "app/errors.py": errors, "tests/test_errors.py": test}
    moved = {**files, "app/errors.py": errors.replace("    return 1\n", "    one = 1\n    return one\n")}
    assert "test_decode" not in names(push(moved, old=files))
    for reader in ("from inspect import getsourcelines as lineno", "lineno = 0", "from os import *"):
        bound = {**files, "app/errors.py": f"{reader}\n\n\n" + errors}
        grown = {
            **bound,
            "app/errors.py": bound["app/errors.py"].replace("    return 1\n", "    one = 1\n    return one\n"),
        }
        assert "test_decode" not in names(push(grown, old=bound)), reader  # linecol's lineno is its local
        reads = {
            path: text.replace("return linecol(doc, 0)", "return linecol(doc, 0), lineno")
            for path, text in bound.items()
        }
        grown = {
            **reads,
            "app/errors.py": reads["app/errors.py"].replace("    return 1\n", "    one = 1\n    return one\n"),
        }
        assert "test_decode" in names(push(grown, old=reads)), reader


def test_an_attribute_only_stored_into_reads_nothing() -> None:
    """simplejson's ``JSONDecodeError.__init__`` stores the JSON document's line (``self.lineno, self.colno =
    linecol(doc, pos)``), and every decoding error runs it: storing an attribute named like a line reader is not
    reading one. Storing what a frame's line is (``f_lineno``) still counts, and so does reading it (``err.lineno``)
    where a line of the code may enter a value (a stack extracted)."""
    errors = (
        "class DecodeError(ValueError):\n    def __init__(self, pos):\n        ValueError.__init__(self, 'bad')\n"
        "        self.lineno, self.colno = 1, pos\n\n\n"
        "def first():\n    return 1\n\n\ndef decode(doc):\n    return DecodeError(0)\n"
    )
    test = "from app.errors import decode\n\n\ndef test_decode():\n    assert decode('x')\n"
    files = {**APP, "app/errors.py": errors, "tests/test_errors.py": test}
    moved = {**files, "app/errors.py": errors.replace("    return 1\n", "    one = 1\n    return one\n")}
    assert "test_decode" not in names(push(moved, old=files))
    for reads in (
        "import traceback\n\n\n"
        + errors.replace("return DecodeError(0)", "return DecodeError(0).lineno, traceback.extract_stack()"),
        errors.replace("= 1, pos", "= __import__('sys')._getframe().f_lineno, pos"),
    ):
        bound = {**files, "app/errors.py": reads}
        grown = {**bound, "app/errors.py": reads.replace("    return 1\n", "    one = 1\n    return one\n")}
        assert "test_decode" in names(push(grown, old=bound)), reads


def test_a_lineno_read_from_a_value_of_unknown_type_counts_where_a_line_of_the_code_may_enter_a_value() -> None:
    """pyflakes reads ``node.lineno`` of the ``ast`` it checks on every path, and every moved definition (a blank
    line above a class) selected every test (``nearly-all``): such a line is the checked text's, not the tree's
    code's. A ``lineno`` read from a value of unknown type counts only in a test that also reaches where a line of
    the code may enter a value — a warning captured (``recwarn``), a traceback, a frame. Also not a logging
    ``Formatter``: ``string.Formatter``, a name of another standard module."""
    lint = (
        "import ast\nimport string\n\nparse_format = string.Formatter().parse\n\n\n"
        "def first():\n    return 1\n\n\n"
        "def lines(text):\n    return [getattr(n, 'lineno', 0) + n.lineno for n in ast.walk(ast.parse(text))"
        " if hasattr(n, 'end_lineno')]\n"
    )
    test = (
        "import warnings\n\nfrom app.lint import lines\n\n\ndef test_lines():\n    assert lines('x = 1') == [2]\n"
        "\n\ndef test_warned(recwarn):\n    lines('x = 1')\n    warnings.warn('w')\n"
        "    assert recwarn.pop().lineno\n"
    )
    files = {**APP, "app/lint.py": lint, "tests/test_lint.py": test}
    moved = {**files, "app/lint.py": lint.replace("    return 1\n", "    one = 1\n    return one\n")}
    found = names(push(moved, old=files))
    assert "test_warned" in found and "test_lines" not in found
    # A warning captured where the code runs: its ``lineno`` is a line of the code.
    captured = lint.replace("import ast\n", "import ast\nimport warnings\n").replace(
        "    return [", "    warnings.catch_warnings(record=True)\n    return ["
    )
    sourced = {**files, "app/lint.py": captured}
    grown = {**sourced, "app/lint.py": captured.replace("    return 1\n", "    one = 1\n    return one\n")}
    assert "test_lines" in names(push(grown, old=sourced))


@pytest.mark.parametrize(
    ("formatter", "counts"),
    [
        ("import string\n\nparse = string.Formatter().parse\n", False),
        ("from string import Formatter\n\nparse = Formatter().parse\n", False),
        ("from string import Formatter as F\n\nparse = F().parse\n", False),
        ("import logging\n\nparse = logging.Formatter().format\n", True),
        ("from logging import Formatter\n\nparse = Formatter().format\n", True),
    ],
)
def test_a_name_imported_from_a_module_owning_no_reader_is_that_modules(formatter: str, counts: bool) -> None:
    """``from string import Formatter`` is string's, as ``string.Formatter`` is: no logging ``Formatter``, which
    formats a record's line (pyflakes binds ``string.Formatter().parse`` at its module's top, which every test
    imports). Imported from ``logging`` it still counts."""
    code = f"{formatter}\n\ndef first():\n    return 1\n\n\ndef second():\n    return 2\n"
    test = "from app.fmt import second\n\n\ndef test_second():\n    assert second() == 2\n"
    files = {**APP, "app/fmt.py": code, "tests/test_fmt.py": test}
    moved = {**files, "app/fmt.py": code.replace("    return 1\n", "    one = 1\n    return one\n")}
    assert ("test_second" in names(push(moved, old=files))) is counts, formatter


def test_importing_a_module_that_makes_lines_is_not_using_it() -> None:
    """pyflakes' ``test_api.py`` imports ``subprocess`` for its integration tests: the other tests of the file,
    which read ``lineno`` of the messages of checked strings, started no process; a definition moved in the code
    they reach selected them. The uses of such a module count (a test starting a process, one getting a
    traceback), and importing a package installed beside the tree (its own code may install a hook)."""
    checker = (
        "import ast\n\n\ndef first():\n    return 1\n\n\n"
        "def lines(source):\n    return [n.lineno for n in ast.walk(ast.parse(source)) if hasattr(n, 'lineno')]\n"
    )
    test = (
        "import subprocess\nimport traceback\n\nfrom app.checker import lines\n\n\n"
        "def test_lines():\n    assert lines('x = 1') == [1, 1, 1]\n\n\n"
        "def test_process():\n    lines('x = 1')\n    assert subprocess.run(['python', '-m', 'app.checker'])\n\n\n"
        "def test_stack():\n    assert lines('x = 1') and traceback.extract_stack()\n"
    )
    files = {**APP, "app/checker.py": checker, "tests/test_checker.py": test}
    moved = {**files, "app/checker.py": checker.replace("    return 1\n", "    one = 1\n    return one\n")}
    assert names(push(moved, old=files)) == {"test_process", "test_stack"}


ACCESS = {
    "app/__init__.py": "",
    "app/models.py": '''
        class User:
            """A user."""

            def __init__(self, name):
                self.name = name
    ''',
    "app/access.py": """
        def get_value(obj, key, default=None):
            return getattr(obj, key, default)
    """,
    "tests/test_access.py": """
        from app.access import get_value
        from app.models import User


        def test_value():
            assert get_value(User("a"), "name") == "a"
    """,
}
ACCESS = {path: dedent(text).lstrip("\n") for path, text in ACCESS.items()}


def _redocumented(files: Mapping[str, str]) -> set[str]:
    new = {**files, "app/models.py": files["app/models.py"].replace('"""A user."""', '"""A person."""')}
    return names(push(new, old=files))


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("app/meta.py", 'COPIED = ("__name__", "__doc__")\n'),  # the name as a string
        ("app/meta.py", "import functools\n\nCOPIED = functools.WRAPPER_ASSIGNMENTS\n"),  # the standard library's
        ("app/meta.py", 'def dunder(part):\n    return "__%s__" % part\n'),  # built around a computed part
        ("app/meta.py", 'def dunder(part):\n    return f"__{part}__"\n'),
        ("app/meta.py", 'def dunder(part):\n    return "__" + part + "__"\n'),
        ("tests/data/keys.json", '["name", "__doc__"]\n'),  # a data file the tests may read keys from
    ],
)
def test_a_computed_attribute_name_reads_a_docstring_only_if_the_tree_may_make_that_name(path: str, text: str) -> None:
    """marshmallow's ``getattr(obj, key)`` reads fields by the names a schema declares: a docstring's change
    selected every test through it, though no string of the tree is ``__doc__``."""
    assert _redocumented(ACCESS) == set()
    assert _redocumented({**ACCESS, path: text}) == {"test_value"}


def test_listing_a_namespace_reads_its_docstring() -> None:
    listing = "def values(obj):\n    return [getattr(obj, name) for name in dir(obj)]\n"
    files = {
        **ACCESS,
        "app/access.py": ACCESS["app/access.py"] + "\n\n" + listing,
        "tests/test_access.py": ACCESS["tests/test_access.py"]
        .replace("get_value", "values")
        .replace('values(User("a"), "name") == "a"', 'values(User("a"))'),
    }
    assert _redocumented(files) == {"test_value"}


QUIET = {
    "app/__init__.py": '__all__ = ["__doc__", "greet"]\n\nfrom app.greet import greet\n',
    "app/greet.py": dedent(
        """
        def greet(name):
            \"\"\"Greet.\"\"\"
            import inspect

            inspect.signature(greet)
            return "hi " + name


        def source():
            import inspect

            return inspect.getsource(greet)
        """
    ).lstrip(),
    "tests/test_greet.py": "from app import greet\n\n\ndef test_greet():\n    assert greet('a') == 'hi a'\n",
    "tests/test_source.py": "from app.greet import source\n\n\ndef test_source():\n    assert source()\n",
}


def test_a_docstring_is_read_neither_by_an_export_list_naming_doc_nor_by_inspect_s_signature() -> None:
    """attrs' ``__all__`` names ``"__doc__"`` (its ``from attrs import *`` hands the package's docstring out): a
    name a star import binds, no format string; ``inspect.signature`` reads no docstring, whether ``inspect`` is
    imported at the top of the module or in the function."""
    doc = {**QUIET, "app/greet.py": QUIET["app/greet.py"].replace('"""Greet."""', '"""Say hi."""')}
    assert names(push(doc, old=QUIET)) == {"test_source"}


PLACED = {
    "app/__init__.py": "",
    "app/where.py": dedent(
        """
        import sys
        import traceback


        def here():
            \"\"\"Where it is.\"\"\"
            return sys._getframe().f_lineno


        def failing():
            try:
                raise ValueError("no")
            except ValueError:
                return traceback.format_exc()


        def doc():
            return here.__doc__


        def line():
            return "%(lineno)d" % {"lineno": here()}
        """
    ).lstrip(),
    "tests/test_where.py": "from app.where import doc, failing, here, line\n\n\n"
    "def test_here():\n    assert here() == 6\n\n\n"
    "def test_failing():\n    assert failing() and here()\n\n\n"
    "def test_doc():\n    assert doc()\n\n\n"
    "def test_line():\n    assert line() == '6'\n",
}


def test_a_docstring_changed_in_place_is_no_line_a_frame_or_a_traceback_shows() -> None:
    """A docstring edited within its lines (a typo fixed) moves no line of its function nor below it: what reads
    a frame's line or formats a traceback sees nothing change; what reads the docstring does. One that grows moves
    the lines below it: the readers of lines count again."""
    fixed = {**PLACED, "app/where.py": PLACED["app/where.py"].replace("Where it is.", "Where it stands.")}
    assert names(push(fixed, old=PLACED)) == {"test_doc"}
    grown = {**PLACED, "app/where.py": PLACED["app/where.py"].replace("Where it is.", "Where\n    it is.\n    ")}
    assert names(push(grown, old=PLACED)) == {"test_doc", "test_here", "test_failing", "test_line"}


LOOKED = {
    "app/__init__.py": "",
    "app/plugins.py": dedent(
        '''
        class Plugin:
            """Plugin docs."""

            def __init__(self):
                self.name = "p"

            def same(self, other):
                return self.__dict__ == {"name": other.name}


        def looks(cls):
            return BODY
        '''
    ).lstrip(),
    "tests/test_plugins.py": "from app.plugins import Plugin, looks\n\n\n"
    "def test_looks():\n    looks(Plugin)\n\n\n"
    "def test_same():\n    assert Plugin().same(Plugin())\n",
}


@pytest.mark.parametrize(
    ("body", "reads"),
    [
        ('[k for k, v in cls.__dict__.items() if v == "Plugin docs."]', True),
        ("[len(v) for v in cls.__dict__.values() if isinstance(v, str)]", True),
        ("[k for k, v in cls.__dict__.items() if v]", True),
        ('[k for k in dir(cls) if cls.__dict__.get(k, "").startswith("P")]', True),
        ("cls.__dict__ == object.__dict__", True),
        ('[k for k in cls.__dict__ if k.startswith("_")]', False),
        ('"x" in cls.__dict__', False),
        ("[k for k, v in cls.__dict__.items() if v is looks]", True),
    ],
)
def test_values_of_a_class_namespace_looked_into_read_its_docstring(body: str, reads: bool) -> None:
    """A class's ``__dict__`` holds its docstring under ``__doc__``: code comparing, testing or measuring the
    values it reads from one reads the docstring's text (or whether there is one), though reading them runs no
    code. Before, such a read counted as reading nothing (or, from a parameter's, only where the tree may make the
    name ``__doc__``). Its keys alone read no text. An ordinary method's ``self.__dict__`` holds what the instance stored. (``vars``
    counts by its name alone.)"""
    tree = {**LOOKED, "app/plugins.py": LOOKED["app/plugins.py"].replace("BODY", body)}
    doc = {**tree, "app/plugins.py": tree["app/plugins.py"].replace("Plugin docs.", "Plugin notes.")}
    assert names(push(doc, old=tree)) == ({"test_looks"} if reads else set())
