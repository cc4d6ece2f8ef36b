"""The project's own command for the baselines: the checkout installed in editable mode, then ``pytest``.

``installed_python(checkout, python, directory)`` makes a virtual environment in
``directory`` layered on ``python``'s site directories (so it has the test
dependencies ``python`` has) and runs ``pip install --no-deps -e CHECKOUT`` into
it: the project's own build backend (fetched by pip's build isolation) writes
its metadata, version (setuptools_scm, hatch-vcs: from the checkout's git) and
entry points, as ``pip install -e '.[tests]'`` does. Returns its interpreter;
no ``PYTHONPATH`` is needed for a ``src`` layout. A ``.pyx`` whose C file Cython
generated (msgpack's ``_cmsgpack.c``) is run through ``python -m cython`` first,
as the project's own build does (``make cython``), when ``python`` has Cython;
the tracked C file is put back afterwards (the built module stays).
"""

from __future__ import annotations

import importlib.machinery
import json
import subprocess
import venv
from pathlib import Path

from trellis.ci.execution.extensions import cython_sources


def installed_python(checkout: Path, python: str, directory: Path) -> str:
    sites = json.loads(
        subprocess.run(
            # every site directory, those another layer's .pth file added too (a .pth is read in site dirs only)
            [python, "-c", "import json, sys; print(json.dumps([p for p in sys.path if p.endswith('-packages')]))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    venv.EnvBuilder(with_pip=False, clear=True).create(directory)
    site = next((directory / "lib").glob("python*/site-packages"))
    (site / "_layered.pth").write_text("".join(f"{s}\n" for s in sites))
    own = str(directory / "bin" / "python")
    has_cython = subprocess.run([python, "-c", "import Cython"], capture_output=True).returncode == 0
    sources = cython_sources(checkout) if has_cython else ()
    for source in sources:
        subprocess.run(source.command(python), cwd=checkout, check=True, capture_output=True)
    # Built afresh, as a job builds them: setuptools skips a module newer than its sources, a header it is not
    # told it depends on (msgpack's unpack.h) changing or not.
    tracked = set(
        subprocess.run(["git", "-C", str(checkout), "ls-files"], capture_output=True, text=True).stdout.split()
    )
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for module in checkout.rglob(f"*{suffix}"):
            if ".git" not in module.parts and str(module.relative_to(checkout)) not in tracked:
                module.unlink()
    subprocess.run(
        [python, "-m", "pip", "--python", own, "install", "--quiet", "--no-deps", "-e", str(checkout)],
        check=True,
        capture_output=True,
    )
    if sources:  # the generated files as the tree has them (the next checkout would otherwise see a change)
        outputs = [s.output for s in sources]
        subprocess.run(["git", "-C", str(checkout), "checkout", "-q", "--", *outputs], capture_output=True)
    return own
