"""The whole command line's parser (argparse): every command, or only the one a command line names.

``trellis query`` on a local data directory is parsed without it when it can be (:mod:`trellis.cli.quick`): argparse
and the command's parser cost a few ms of a ~50 ms process.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from .. import __version__
from .context import add_common
from .main import COMMAND_MODULES, MODULE_OF

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    """Options anywhere, as git takes them: ``trellis commit REPO main --root src a.py b.py -m msg``.

    A command without subcommands parses its arguments intermixed (options between and after its
    positionals); ``parse_known_intermixed_args`` itself calls back into ``parse_known_args``, hence the flag.
    """

    _intermixing = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[Any, list[str]]:
        if self._intermixing or self._subparsers is not None:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def _top_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="trellis",
        description="Trellis: version control and CI for AI coding agents. "
        "Commands talk to --server / $TRELLIS_SERVER, else to the server that the routing table in "
        "$TRELLIS_ROUTES names for the command's repository (docs/scaling.md), else to the server owning the data "
        "directory, else open the data directory in-process.",
    )
    parser.add_argument(
        "--version", action="version", version=f"trellis {__version__}", help="print the version and exit"
    )
    add_common(parser, top=True)
    return parser


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line's parser; given the command line ``argv``, only what parsing it needs: the top level
    and the module of its command, when the command can be told without parsing (else every command)."""
    parser = _top_parser()
    command = None if argv is None else _command_of(parser, argv)
    modules = [MODULE_OF[command]] if command is not None else list(COMMAND_MODULES)
    common = argparse.ArgumentParser(add_help=False)
    add_common(common)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules:
        importlib.import_module(f"{__package__}.{name}").register(sub, common)
    _describe_commands(parser)
    return parser


def _command_of(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """The command word of ``argv`` when it is certain: the first word that is not a top-level option or its
    value, if it names a command. None (build every command) for help, an abbreviated or unknown option,
    ``--`` or an unknown command, so argparse's own messages stay whole."""
    options = parser._option_string_actions
    i = 0
    while i < len(argv):
        word = argv[i]
        if not word.startswith("-") or word == "-":
            return word if word in MODULE_OF else None
        name, has_value, _ = word.partition("=")
        action = options.get(name)
        if action is None or action.nargs == 0 and (has_value or action.dest in ("help", "version")):
            return None
        i += 1 if has_value or action.nargs == 0 else 2
    return None


def _describe_commands(parser: argparse.ArgumentParser) -> None:
    """A command's ``--help`` opens with its one-line help when it has no longer description."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, command in action.choices.items():
                if command.description is None and helps.get(name):
                    command.description = str(helps[name])[:1].upper() + str(helps[name])[1:] + "."
                _describe_commands(command)
