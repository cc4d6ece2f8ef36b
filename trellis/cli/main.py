"""Entry point: parse, dispatch, and turn errors into friendly messages (the one place that does)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
from types import FrameType
from typing import Any

from .. import __version__
from .context import Output, add_common

# The modules that register commands, in the order ``trellis --help`` lists them, and the commands each
# registers. Parsing a command line imports and registers only the module of its command (a test checks
# this table against what the modules register): ``trellis query`` builds one subparser, not forty.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "serve": ("serve",),
    "demo": ("demo",),
    "token": ("token",),
    "repo": ("repo",),
    "commit": ("commit",),
    "read": ("log", "show", "cat", "ls"),
    "diff": ("diff",),
    "merge_file": ("merge-file",),
    "branch": ("branch",),
    "merge": ("merge",),
    "session": ("session",),
    "verify": ("verify", "runs", "watch", "pipeline", "review"),
    "query": ("query", "export"),
    "index": ("reindex", "check", "import"),
    "trajectory": ("import-trajectory",),
    "mcp": ("mcp",),
    "ui": ("ui",),
}
MODULE_OF = {command: module for module, commands in COMMAND_MODULES.items() for command in commands}


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


INTERRUPTED = 130  # 128 + SIGINT: the status a shell shows for a command stopped by Ctrl-C
STOP_WITHIN = 0.7  # seconds: past this after Ctrl-C, the process exits without finishing its clean-up


def _stop_promptly_on_ctrl_c() -> None:
    """Ctrl-C stops every command within a second, whatever it is doing.

    Python runs a signal handler only between bytecodes of the main thread, and clean-up can take long
    (an embedded server's grace period, a pool's workers, a long DuckDB statement). So the signal also
    wakes a watcher thread at once (``signal.set_wakeup_fd``: the C-level handler writes the signal's
    number to a pipe), which ends the process with status 130 if it is still there STOP_WITHIN seconds
    later. Ending so is safe: every write of Trellis survives a crash, and the index is derived from git.
    """
    import threading
    import time

    # Plain descriptors, open for the whole run (socket objects would warn when a test re-imports this module).
    reader, writer = os.pipe()
    os.set_blocking(writer, False)
    try:
        signal.set_wakeup_fd(writer, warn_on_full_buffer=False)
    except (OSError, ValueError):  # not the main thread (an embedding program): its own affair
        os.close(reader)
        os.close(writer)
        return

    def watch() -> None:
        while True:
            try:
                received = os.read(reader, 64)
            except OSError:
                return
            if signal.SIGINT in received:
                time.sleep(STOP_WITHIN)
                if not _stop_promptly_on_ctrl_c.reported:  # type: ignore[attr-defined]
                    os.write(2, b"error: interrupted\n")  # no lock taken: the main thread may hold stderr's
                os._exit(INTERRUPTED)

    _stop_promptly_on_ctrl_c.reported = False  # type: ignore[attr-defined]
    _stop_promptly_on_ctrl_c.wakeup_fds = (reader, writer)  # type: ignore[attr-defined]
    threading.Thread(target=watch, name="trellis-ctrl-c", daemon=True).start()
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """KeyboardInterrupt, except inside a callback of libgit2 (a fetch's progress): pygit2 would print it as an
    ignored exception with its traceback and go on; the watcher thread ends the process instead."""
    if frame is not None and f"{os.sep}pygit2{os.sep}" in frame.f_code.co_filename:
        return
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    parser = build_parser(words)
    args = parser.parse_args(words)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    out = Output(args)
    if argv is None and not hasattr(_stop_promptly_on_ctrl_c, "wakeup_fds"):  # the process's own command line
        _stop_promptly_on_ctrl_c()
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        _stop_promptly_on_ctrl_c.reported = True  # type: ignore[attr-defined]
        out.error("interrupted")
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`trellis log ... | head`): stop quietly, as cat does, and keep Python from
        # complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, the status a shell shows for a writer whose reader left
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence: no tracebacks for users
        from ..datadir import DataDirBusy, DataDirMissing

        # vcs and the server load only when a command uses them: an error of theirs means they are loaded.
        server = sys.modules.get("trellis.server")
        if _is_domain_error(exc):
            error: Any = (
                exc  # a VcsError, CiError, QueryError, SemanticDiffError or TrellisError: reason, message, metadata
            )
            if out.json:
                print(
                    json.dumps({"error": {"reason": error.reason, "message": error.message, **error.metadata}}),
                    file=sys.stderr,
                )
            else:
                out.error(f"{error.message} [{error.reason}]")
            return 1
        if isinstance(exc, (DataDirBusy, DataDirMissing, OSError)) or (
            server is not None and isinstance(exc, server.ConfigError)
        ):
            out.error(str(exc))
            return 1
        raise


def _is_domain_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an error a domain package raised on purpose (it has a reason and a message).

    The packages load only when a command uses them: an error of theirs means its module is loaded.
    """
    bases = [
        getattr(sys.modules.get(module), name, None)
        for module, name in (
            ("trellis.vcs.errors", "VcsError"),
            ("trellis.ci.errors", "CiError"),
            ("trellis.query.errors", "QueryError"),
            ("trellis.semantic_diff.errors", "SemanticDiffError"),
            ("trellis.errors", "TrellisError"),  # the SDK's, for a status no package's class stands for
        )
    ]
    return any(base is not None and isinstance(exc, base) for base in bases)
