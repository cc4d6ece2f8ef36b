"""The warm pytest runner: one interpreter that has imported pytest, forking one child per job.

Run as ``python -s -P warm_server.py CONFINE_PATH SOCKET_FD [PLUGIN_NAME PLUGIN_PATH]`` (with an
environment of its own) by
:class:`trellis.ci.execution.warm.WarmPytestLauncher`. Standard library and pytest
only, loaded by path: the ``ci`` package is never imported here, so the job's
interpreter holds nothing of Trellis (a project under test may have its own
``ci`` package).

Protocol on the SOCK_SEQPACKET socket, one JSON message each way:

    -> {"spec": {...}} + SCM_RIGHTS [output fd, status fd]   <- {"pid": N}
    -> {"kill": N}                                            (no reply)

Each child is the sandbox *launcher* (:func:`confine.launch`): it enters the
namespaces, forks the job's init, and the command process — instead of
``execve(python -m pytest ...)`` — runs ``pytest.main(args)`` in the
already-warm interpreter, with the job's environment, arguments and working
directory, so the job sees what a fresh ``python -m pytest`` would. Commands
that are not ``<this python> -m pytest``, or whose environment sets
interpreter options (``PYTHON*`` other than ``PYTHONPATH``,
``PYTHONDONTWRITEBYTECODE`` and the ``PYTHONHASHSEED`` this interpreter started
with), are exec'd as usual. So is a job whose path (its working directory, its
``PYTHONPATH``) holds a module this interpreter imported after start-up: the
project under test is pytest or one of its dependencies (pluggy, iniconfig...).
A fresh ``python -m pytest`` would import the tree's copy, for the tests and for
pytest itself; the warm one holds site-packages' (see :func:`_shadowed`).

The job plugin (``PLUGIN_NAME`` at ``PLUGIN_PATH``: ``-p _trellis_pytest``) is
imported here too, once: a job whose arguments load it finds it imported (its
``job_started`` is called in the job, which the plugin's import would have
done), and pytest, told by the module's ``PYTEST_DONT_REWRITE`` that it would
not rewrite it anyway, neither compiles it again nor warns. A module without
that marker is not kept (pytest would rewrite it in the job), nor is one that
fails to import (the job then fails as it would have).
"""

from __future__ import annotations

import array
import importlib
import importlib.util
import json
import os
import select
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from types import ModuleType
from typing import Any

_IN_PROCESS_ENV = {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE"}
_PRELOADED: dict[str, ModuleType] = {}  # plugin modules imported before any job (see preload)
_WARMED: list[str] = []  # top-level modules imported after start-up by warm_up and preload (see _shadowed)


def _load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("_trellis_confine", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def warm_up() -> None:
    """Import what every pytest run imports, without running pytest (children start pristine)."""
    import pytest  # noqa: F401
    from _pytest import config

    for name in (*config.essential_plugins, *config.default_plugins):
        try:
            importlib.import_module(f"_pytest.{name}")
        except ImportError:
            pass
    for name in (
        "_pytest.junitxml",
        "_pytest.assertion.rewrite",
        "unittest",
        "xml.etree.ElementTree",
        "pdb",
        "doctest",
        "tempfile",
        "fnmatch",
        "inspect",
        "dataclasses",
        "tomllib",  # pytest reads pyproject.toml with it (~5 ms of every job's start-up otherwise)
    ):
        importlib.import_module(name)


def preload(name: str, path: str) -> None:
    """Import the job plugin ``name`` from ``path`` now, as every job would (see the module's docstring)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:  # noqa: BLE001 - the job imports it itself, and fails as it would have
        del sys.modules[name]
        return
    if "PYTEST_DONT_REWRITE" not in (module.__doc__ or "") or not callable(getattr(module, "job_started", None)):
        del sys.modules[name]  # pytest would rewrite it in the job: the job imports it itself
        return
    _PRELOADED[name] = module


def _shadowed(paths: list[str]) -> str | None:
    """A module this interpreter imported after start-up that ``paths`` (the directories a job puts first on
    ``sys.path``) hold a module or package of the same name for, as a fresh interpreter would find it; or None.

    A directory without ``__init__.py`` is a namespace portion, which a module found later on the path wins
    over: it shadows nothing."""
    import importlib.machinery

    for name in _WARMED:
        for path in paths:
            try:
                spec = importlib.machinery.PathFinder.find_spec(name, [path])
            except (ImportError, OSError, ValueError):
                return name  # unsure: a fresh interpreter decides
            if spec is not None and spec.loader is not None:
                return name
    return None


def _loads(args: list[str], name: str) -> bool:
    """Do pytest's arguments ``args`` load the plugin ``name`` (``-p name`` or ``-pname``)?"""
    return any(a == "-p" and b == name for a, b in zip(args, args[1:], strict=False)) or f"-p{name}" in args


def _in_process(spec: dict[str, Any]) -> Callable[[], None] | None:
    argv: list[str] = spec["argv"]
    env: dict[str, str] = spec["env"]
    if argv[:3] != [sys.executable, "-m", "pytest"]:
        return None
    if any(
        k.startswith("PYTHON")
        and k not in _IN_PROCESS_ENV
        and not (k == "PYTHONHASHSEED" and env[k] == os.environ.get("PYTHONHASHSEED"))
        for k in env
    ):
        return None

    def run() -> None:
        """Run the job here, in the sandbox; return only when it must be exec'd after all (the tree holds a
        module this interpreter has already imported from elsewhere)."""
        extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if _shadowed([os.getcwd(), *(os.path.join(os.getcwd(), p) for p in extra)]) is not None:
            return
        import pytest

        signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # what a fresh interpreter sets up
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # This process is about to *become* the job, as execve() would make it: it takes the
        # job's environment. (Writing the child's own environment; nothing is read from it.)
        os.environ.clear()
        os.environ.update(env)
        sys.path[0:0] = [os.getcwd(), *extra]  # `python -m` puts the working directory first
        sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
        sys.argv = [os.path.join(os.path.dirname(pytest.__file__), "__main__.py"), *argv[3:]]
        tempfile.tempdir = None  # re-read TMPDIR
        for name, module in _PRELOADED.items():
            if _loads(argv[3:], name):
                module.job_started()  # what importing it in the job would have done, in the job's setting
            else:
                del sys.modules[name]  # not this job's: as if never imported
        code = 1
        try:
            # What `python -m pytest` runs (pytest's own entry point, not the deprecated console_main).
            code = int(pytest.main(argv[3:]))
            sys.stdout.flush()
        except BrokenPipeError:  # as pytest's entry point: the reader went away; exit 1 without a traceback
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
        os._exit(code)

    return run


def _reap(children: set[int]) -> None:
    while children:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        children.discard(pid)


def serve(confine: ModuleType, sock: socket.socket) -> None:
    children: set[int] = set()
    fd_size = array.array("i").itemsize
    while True:
        ready, _, _ = select.select([sock], [], [], 1.0)
        _reap(children)
        if not ready:
            continue
        message, ancillary, _, _ = sock.recvmsg(1 << 20, socket.CMSG_SPACE(2 * fd_size))
        if not message:
            return  # the executor is gone
        request = json.loads(message)
        if "kill" in request:
            if request["kill"] in children:  # ours and not reaped: the pid cannot have been reused
                os.kill(request["kill"], signal.SIGKILL)
            continue
        fds = array.array("i")
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fd_size])
        output_fd, status_fd = fds[0], fds[1]
        spec = request["spec"]
        pid = os.fork()
        if pid == 0:
            sock.close()
            confine.launch(spec, status_fd=status_fd, output_fd=output_fd, run=_in_process(spec))
        os.close(output_fd)
        os.close(status_fd)
        children.add(pid)
        sock.send(json.dumps({"pid": pid}).encode())


def main(argv: list[str]) -> None:
    confine = _load(argv[1])
    sock = socket.socket(fileno=int(argv[2]))
    started = {name.partition(".")[0] for name in sys.modules}
    warm_up()
    if len(argv) >= 5:
        preload(argv[3], argv[4])
    # (The job plugin is left out: each job's plugin directory holds its own copy of the same source.)
    _WARMED.extend(sorted({name.partition(".")[0] for name in sys.modules} - started - set(_PRELOADED)))
    sock.send(b'{"ready": true}')
    serve(confine, sock)


if __name__ == "__main__":
    main(sys.argv)
