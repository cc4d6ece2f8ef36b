"""A plain ``trellis query`` command line, parsed without argparse.

``trellis query SQL`` on a local data directory is a whole process per question (one function's history, say),
and building argparse's parser for it (argparse, gettext, locale and shutil imported, the command's parser built)
costs ~4 ms of its ~50. :func:`parse_quickly` reads the command lines of ``query`` that use only its own options
and the common ones, each spelled out (``--format csv``, ``--format=csv``), and gives the namespace argparse would
give (``tests/cli/test_quick.py`` compares the two). Anything else it leaves to argparse (None): another command,
``--help``, an abbreviated or unknown option, a value that starts with ``-``, ``--``, a missing or invalid value,
a second positional argument. Argparse then parses, or reports the error, in its own words.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

__all__ = ["QUERY_FORMATS", "parse_quickly"]

QUERY_FORMATS = ("table", "json", "csv", "arrow")
"""``trellis query --format``'s choices (the parser's too)."""

# The common options (``context.add_common``) with a value, and their types; the flags; then query's own options.
_VALUES: dict[str, Any] = {
    "--server": str,
    "--data-dir": Path,
    "--token": str,
    "--agent": str,
    "--tls-ca": str,
    "--tls-cert": str,
    "--tls-key": str,
    "--tls-server-name": str,
}
_FLAGS = ("--json", "--tls")
_QUERY_VALUES: dict[str, Any] = {"--format": str, "--param": str, "--max-rows": int, "--timeout": int}


def parse_quickly(words: list[str]) -> SimpleNamespace | None:
    """The namespace argparse gives for ``words`` when they are a plain ``trellis query`` command line, else None."""
    values: dict[str, Any] = {
        "server": None,
        "data_dir": None,
        "token": None,
        "agent": None,
        "json": False,
        "tls": False,
        "tls_ca": None,
        "tls_cert": None,
        "tls_key": None,
        "tls_server_name": None,
    }
    sql: str | None = None
    command = False
    params: list[str] = []
    query = {"format": "table", "max_rows": 0, "timeout": 0}
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("-") or word == "-":
            if not command and word == "query":
                command = True
            elif command and sql is None and word != "-":
                sql = word
            else:
                return None
            continue
        name, equals, value = word.partition("=")
        if name in _FLAGS and not equals:
            values[name[2:]] = True
            continue
        kind = _VALUES.get(name) or (_QUERY_VALUES.get(name) if command else None)
        if kind is None:
            return None
        if not equals:
            if i == len(words) or words[i].startswith("-"):
                return None
            value = words[i]
            i += 1
        try:
            converted = kind(value)
        except ValueError:
            return None
        key = name[2:].replace("-", "_")
        if name == "--format" and converted not in QUERY_FORMATS:  # argparse checks each one given
            return None
        if name == "--param":
            params.append(converted)
        elif name in _QUERY_VALUES:
            query[key] = converted
        else:
            values[key] = converted
    if not command or sql is None:
        return None
    from .query import run_query

    return SimpleNamespace(**values, command="query", **query, param=params, run=run_query, sql=sql)
