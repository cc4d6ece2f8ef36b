"""Items collected: Trellis's pytest stage against the project's own runners, at one commit of a repository.

    python benchmarks/collect_count.py --repo /work/bench/mi-history [--rev HEAD] [--load-tests]
    python benchmarks/collect_count.py --repo DIR --pytest-args "--doctest-modules pkg tests" \
        --environment '{ groups = ["dev"] }' --python VENV/bin/python
    python benchmarks/collect_count.py --repo DIR --environment '{ groups = ["tests"] }' --install

Commits the tree of ``--rev`` into a server in this process whose pipeline has
one pytest stage (``select = "all"``, with ``load_tests = true`` when asked, the
project's ``--pytest-args`` and ``--environment``), and prints how many items that
stage ran, next to what ``python -m unittest`` runs (its "Ran N tests") and what
``pytest`` with the same arguments collects in a checkout (``--python``: the
interpreter with the project's test dependencies). A ``src`` layout runs with
``PYTHONPATH=src`` on both sides, unless ``--install``: then the checkout is
installed as the project's own command installs it (``pip install --no-deps -e``
into an environment layered on ``--python``, see ``editable.py``) and the stage
installs it into its jobs (into its ``--environment``'s, or without one on the
server's interpreter); no ``PYTHONPATH`` anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from editable import installed_python
from replay import unittest_commands

from trellis.client import Client
from trellis.config import ServerConfig
from trellis.server import build_server

PIPELINE = '[stages.tests]\nkind = "pytest"\nselect = "all"\ntimeout = "10m"\ntest_timeout = "off"\n'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repo", required=True, help="a git repository (path)")
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--load-tests", action="store_true", help="the stage sets load_tests = true")
    parser.add_argument("--pytest-args", default="", help="the project's own pytest arguments (stage and checkout)")
    parser.add_argument("--environment", default="", help="a TOML inline table for the stage's environment")
    parser.add_argument("--python", default=sys.executable, help="the checkout's interpreter (the project's deps)")
    parser.add_argument(
        "--install", action="store_true", help="install the project (pip install -e) instead of PYTHONPATH=src"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="collect-count-", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        checkout = work / "checkout"
        subprocess.run(["git", "clone", "-q", args.repo, str(checkout)], check=True)
        subprocess.run(["git", "-C", str(checkout), "checkout", "-q", args.rev], check=True)
        listed = subprocess.run(
            ["git", "-C", str(checkout), "ls-files", "-z"], check=True, capture_output=True
        ).stdout.split(b"\0")
        files = {
            p.decode(): (checkout / p.decode()).read_bytes() for p in listed if p and (checkout / p.decode()).is_file()
        }
        pytest_args = shlex.split(args.pytest_args)
        pipeline = PIPELINE + ("load_tests = true\n" if args.load_tests else "")
        pipeline += f"args = {json.dumps(pytest_args)}\n" if pytest_args else ""
        pipeline += f"environment = {args.environment}\n" if args.environment else ""
        env = dict(os.environ)
        python = args.python
        if args.install:
            python = installed_python(checkout, args.python, work / "own-venv")
        elif (checkout / "src").is_dir():  # a src layout: PYTHONPATH=src on both sides, as bench_ci.py --repo does
            pipeline += 'env = { PYTHONPATH = "src" }\n'
            env["PYTHONPATH"] = "src"
        files["trellis.toml"] = pipeline.encode()
        owns = [
            subprocess.run([python, *command], cwd=checkout, capture_output=True, text=True, env=env)
            for command in unittest_commands(checkout)
        ]
        ran = [re.search(r"Ran (\d+) tests?", own.stderr) for own in owns]
        found = sum(int(r.group(1)) for r in ran if r) if any(ran) else None
        own = max(owns, key=lambda o: len(o.stderr))
        plain = subprocess.run(
            # --verbosity=-1, not -q: a project whose addopts already say -q (lark's "-ra -q") would print
            # "-qq"'s per-file counts, without the ids or the total
            [python, "-m", "pytest", "--collect-only", "--verbosity=-1", "-p", "no:cacheprovider", *pytest_args],
            cwd=checkout,
            capture_output=True,
            text=True,
            env=env,
        )
        # "12 tests collected", or "10/12 tests collected (2 deselected)": the items that run
        collected = re.search(r"(\d+)(?:/\d+)? tests? collected", plain.stdout)
        (work / "data").mkdir()
        running = build_server(ServerConfig(data_dir=work / "data", address="127.0.0.1:0"))
        try:
            with Client(running.address, agent="bench", timeout=3600) as client:
                client.create_repository("project")
                reply = client.commit("project", "main", files, "seed", wait_for_verdict=True)
                assert reply.run is not None
                job = next(j for j in reply.run.jobs if j.stage == "tests")
        finally:
            running.stop(grace=5)
    print(f"{Path(args.repo).name} at {args.rev}:")
    print(
        f"  Trellis pytest stage{' (load_tests = true)' if args.load_tests else ''}: {len(job.tests)} items, "
        f"verdict {reply.run.verdict.value} ({job.summary}; job {job.duration_ms / 1000:.1f} s)"
    )
    print(f"  python -m unittest: {'?' if found is None else found} tests ({own.stderr.strip().splitlines()[-1]})")
    print(f"  pytest {shlex.join(pytest_args)}: {collected.group(1) if collected else '?'} collected")
    # node ids: a path before the first "::" (not pytest's warning text quoting one, "Test: t.py::test_e2e, ...")
    theirs = {
        line.strip() for line in plain.stdout.splitlines() if "::" in line and " " not in line.strip().split("::")[0]
    }
    ours = {t.test_id for t in job.tests}
    for label, ids in (("only in Trellis", ours - theirs), ("only in the checkout", theirs - ours)):
        if ids and theirs:
            print(f"  {label}: {len(ids)}: {', '.join(sorted(ids)[:5])}")
    for test in job.tests:
        if test.verdict.value in ("failed", "error"):
            print(f"  {test.verdict.value} in Trellis: {test.test_id}: {test.message.strip()[:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
