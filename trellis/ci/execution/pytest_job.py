"""Pytest jobs: the command line that keeps the host's plugins out, and the junit report read back."""

from __future__ import annotations

import os
import stat
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from .jobs import TestOutcome, TestResult

__all__ = ["FIXED_FLAGS", "HASH_SEED", "PLUGINS_OFF", "PYTEST_ENV", "parse_junit", "pytest_argv", "read_report"]

# One hash seed for every job, wherever it runs (a warm runner's fork, a cold start, another host's Ray worker): the
# shards of a job then order a set of strings alike (``parametrize("name", {"a", "b"})``), so they collect the same
# items in the same order, as one process does; and a verdict does not depend on the process's draw.
HASH_SEED = "2026"
# The host's plugins must not leak into a job: no entry-point plugins, no cache, no xdist.
PYTEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": HASH_SEED}
_REPORT_LIMIT = 64 << 20


PLUGINS_OFF = ("cacheprovider", "xdist")  # every job's: no cache written into the tree, our own sharding
# pytest alone stops at a module that does not import and runs no test: a module already broken at the parent (a
# test committed before the name it imports) would hide every failure a later commit makes. The job runs the rest,
# as pytest-xdist does; the module is an error of its path (the plugin's ``pytest_collectreport``).
FIXED_FLAGS = ("--continue-on-collection-errors",)


def pytest_argv(args: tuple[str, ...], junit_path: Path, *, python: str = sys.executable) -> list[str]:
    """``python -m pytest`` with our fixed flags first, then the job's ``args``."""
    return [
        python,
        "-m",
        "pytest",
        *(word for name in PLUGINS_OFF for word in ("-p", f"no:{name}")),
        *FIXED_FLAGS,
        "-o",
        "junit_family=xunit1",  # xunit1 keeps each test's file, so node ids can be rebuilt
        f"--junitxml={junit_path}",
        *args,
    ]


def read_report(path: Path) -> bytes | None:
    """The report the job wrote, read without following a symlink the job may have planted."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a fifo or device planted by the job
            return None
        return f.read(_REPORT_LIMIT)


def _nodeid(case: ET.Element) -> str:
    name = case.get("name", "")
    classname = case.get("classname", "")
    file = case.get("file")
    if not file:
        return f"{classname}::{name}" if classname else name
    module = file[:-3] if file.endswith(".py") else file
    module = module.replace("/", ".").replace("\\", ".")
    rest = classname[len(module) :].lstrip(".") if classname.startswith(module) else ""
    return "::".join([file, *([p for p in rest.split(".") if p]), name])


def parse_junit(data: bytes) -> tuple[TestOutcome, ...]:
    """Per-test outcomes of a pytest junit report (``junit_family=xunit1``)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return ()
    found = []
    for case in root.iter("testcase"):
        outcome: TestResult = "passed"
        message = ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]  # type: ignore[assignment]
                message = child.get("message") or (child.text or "").strip()
                break
        try:
            duration = float(case.get("time", "0"))
        except ValueError:
            duration = 0.0
        found.append(TestOutcome(_nodeid(case), outcome, duration, message[:4000]))
    return tuple(found)
