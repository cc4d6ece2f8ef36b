"""The project's own command for the baselines: the checkout installed in editable mode, then ``pytest``.

``installed_python(checkout, python, directory)`` makes a virtual environment in
``directory`` layered on ``python``'s site directories (so it has the test
dependencies ``python`` has) and runs ``pip install --no-deps -e CHECKOUT`` into
it: the project's own build backend (fetched by pip's build isolation) writes
its metadata, version (setuptools_scm, hatch-vcs: from the checkout's git) and
entry points, as ``pip install -e '.[tests]'`` does. Returns its interpreter;
no ``PYTHONPATH`` is needed for a ``src`` layout.
"""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path


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
    subprocess.run(
        [python, "-m", "pip", "--python", own, "install", "--quiet", "--no-deps", "-e", str(checkout)],
        check=True,
        capture_output=True,
    )
    return own
