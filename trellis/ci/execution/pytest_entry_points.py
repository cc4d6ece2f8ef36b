"""Inside a job: load the ``pytest11`` plugins of the project's environment as pytest's autoloading would.

Jobs run with ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` (the server's own plugins
must stay out), so pytest does not load the plugins the project's test
environment installs, nor the project's own (an installed project's
``pytest11`` entry point). This module, copied next to the job plugin and
named in ``PYTEST_PLUGINS``, is imported by pytest right where it would have
autoloaded them: after the command line's and the ini file's ``addopts``
``-p`` options were applied, before the conftests. Once registered, it loads
each entry point of ``entry_points.json`` (beside it: ``[[name, value], ...]``,
the environment's distributions' and the project's) as pluggy's
``load_setuptools_entrypoints`` does: not when a plugin of that name is
registered or the name is blocked (``-p no:NAME``, from the stage's args or
the project's own ``addopts``), nor when the object it names is registered
already (``-p MODULE`` loaded it). Standard library and pytest only.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))


def _entries() -> list[tuple[str, str, bool]]:
    try:
        with open(os.path.join(_HERE, "entry_points.json"), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return []
    return [(str(e[0]), str(e[1]), bool(e[2])) for e in data if isinstance(e, list) and len(e) == 3]


def pytest_plugin_registered(plugin: Any, manager: Any) -> None:
    if plugin is not sys.modules.get(__name__):
        return
    for name, value, rewrite in _entries():
        if manager.get_plugin(name) is not None or manager.is_blocked(name):
            continue
        module, _, attribute = value.split("[")[0].partition(":")  # "module:object [extra]"
        module = module.strip()
        if rewrite:  # pytest marks an installed distribution's modules for assertion rewriting
            manager.rewrite_hook.mark_rewrite(module.split(".")[0])
        loaded: Any = importlib.import_module(module)
        for part in attribute.strip().split(".") if attribute.strip() else ():
            loaded = getattr(loaded, part)
        if manager.is_registered(loaded):
            continue
        manager.register(loaded, name)
