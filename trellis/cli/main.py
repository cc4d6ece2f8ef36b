"""Entry point: parse, dispatch, and turn errors into friendly messages (the one place that does).

Light to import: a ``trellis query`` on a local data directory is parsed without argparse when it can be
(:mod:`trellis.cli.quick`), and the parser of every other command line is built by :mod:`trellis.cli.parser`.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import FrameType

    from .parser import _command_of, _describe_commands, _Parser, _top_parser, build_parser  # noqa: F401

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


INTERRUPTED = 130  # 128 + SIGINT: the status a shell shows for a command stopped by Ctrl-C
STOP_WITHIN = 0.7  # seconds: past this after Ctrl-C, the process exits without finishing its clean-up


def _stop_promptly_on_ctrl_c() -> None:
    """Ctrl-C stops every command within a second, whatever it is doing.

    Python runs a signal handler only between bytecodes of the main thread, and clean-up can take long
    (an embedded server's grace period, a pool's workers, a long DuckDB statement). So the signal also
    wakes a watcher thread at once (``signal.set_wakeup_fd``: the C-level handler writes the signal's
    number to a pipe), which ends the process with status 130 if it is still there STOP_WITHIN seconds
    later. Ending so is safe: every write of Trellis survives a crash, and the index is derived from git.

    The watcher is a bare ``_thread`` thread (daemonic, as ``threading``'s daemon threads are): no ``threading``
    to import, and no waiting for the new thread to be scheduled (``Thread.start`` waits for it: under load,
    tens of ms of a ``trellis query``'s wall time).
    """
    # The signal module's C core: the same functions, without signal.py's enums of every signal (~0.5 ms).
    import _signal as signal  # type: ignore[import-not-found]  # (typeshed has signal.pyi only)
    import _thread
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
    _thread.start_new_thread(watch, ())
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """KeyboardInterrupt, except inside a callback of libgit2 (a fetch's progress): pygit2 would print it as an
    ignored exception with its traceback and go on; the watcher thread ends the process instead."""
    if frame is not None and f"{os.sep}pygit2{os.sep}" in frame.f_code.co_filename:
        return
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    from .quick import parse_quickly

    words = sys.argv[1:] if argv is None else argv
    args: Any = parse_quickly(words)  # a plain ``trellis query`` command line, without argparse; else None
    if args is None:
        from .parser import build_parser

        parser = build_parser(words)
        args = parser.parse_args(words)
        if not getattr(args, "run", None):
            parser.print_help()
            return 2
    from .context import Output

    out = Output(args)
    if argv is None:  # the process's own command line: a command that only read may end the process at once
        args.process_ends = True
        if not hasattr(_stop_promptly_on_ctrl_c, "wakeup_fds"):
            _stop_promptly_on_ctrl_c()
    try:
        status = int(args.run(args) or 0)
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
                import json

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
    if argv is None and getattr(args, "only_read", False):
        _end_now(status)
    return status


def _end_now(status: int) -> None:
    """End the process at once with ``status``, once its output is flushed, skipping the interpreter's tear-down.

    For a command that only read (``args.only_read``: ``trellis query`` answered from the index file, which it
    leaves open with the data directory's lock for the exit to release): nothing of it waits for the exit (no
    thread to join, no file to sync, no exit handler of ours), while tearing down costs ~6 ms of a ~50 ms process
    (Python's modules, DuckDB's database and its library). If a flush fails (the reader left), the usual exit
    reports it as it always has."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        return
    os._exit(status)


def __getattr__(name: str) -> Any:
    """The parser's functions, where they used to be (``trellis.cli.main.build_parser``): in :mod:`.parser`."""
    if name in ("build_parser", "_command_of", "_top_parser", "_describe_commands", "_Parser"):
        from . import parser

        return getattr(parser, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
