"""The project a tree declares, read from its files (never run) as its build backend would install it."""

from __future__ import annotations

import pytest

from trellis.ci.project import FALLBACK_VERSION, read_project


def _project(files: dict[str, str], dirs: tuple[str, ...] = ()) -> tuple[str, str, tuple[str, ...]]:
    found = read_project(lambda p: files[p].encode() if p in files else None, lambda p: p in dirs)
    assert found is not None
    return found.name, found.version, found.roots


@pytest.mark.parametrize(
    ("files", "dirs", "expected"),
    [
        ({"pyproject.toml": '[project]\nname = "a"\nversion = "1"\n'}, ("src",), ("a", "1", ("src",))),
        ({"pyproject.toml": '[project]\nname = "a"\nversion = "1"\n'}, ("src", "a"), ("a", "1", ("",))),
        (
            {
                "pyproject.toml": '[project]\nname = "a-b"\ndynamic = ["version"]\n[tool.hatch.version]\n'
                'path = "lib/a_b/__about__.py"\n[tool.hatch.build.targets.wheel]\npackages = ["lib/a_b"]\n',
                "lib/a_b/__about__.py": '__version__ = "2.0.1"\n',
            },
            (),
            ("a-b", "2.0.1", ("lib",)),
        ),
        (
            {
                "pyproject.toml": '[project]\nname = "s"\ndynamic = ["version"]\n[tool.setuptools_scm]\n'
                'version_file = "src/s/_version.py"\n',
                "src/s/_version.py": "__version__ = version = '7.1.dev3'\n",
            },
            ("src",),
            ("s", "7.1.dev3", ("src",)),
        ),
        (
            {"pyproject.toml": '[project]\nname = "v"\ndynamic = ["version"]\n[tool.hatch.version]\nsource = "vcs"\n'},
            ("src",),
            ("v", FALLBACK_VERSION, ("src",)),
        ),
        (
            {
                "setup.cfg": "[metadata]\nname = python-dateutil\n",
                "setup.py": "from setuptools import setup\nsetup(use_scm_version={'write_to': 'src/dateutil/_version.py'})\n",
                "src/dateutil/_version.py": "version = '2.8.2'\n",
            },
            ("src",),
            ("python-dateutil", "2.8.2", ("src",)),
        ),
        (
            {"setup.py": 'from setuptools import setup\nsetup(name="old", version="0.9", package_dir={"": "py"})\n'},
            (),
            ("old", "0.9", ("py",)),
        ),
        (
            {
                "pyproject.toml": '[tool.poetry]\nname = "po"\nversion = "3.2"\n'
                'packages = [{ include = "po", from = "source" }]\n'
            },
            (),
            ("po", "3.2", ("source",)),
        ),
    ],
)
def test_the_project_is_read_statically_as_its_build_backend_declares_it(
    files: dict[str, str], dirs: tuple[str, ...], expected: tuple[str, str, tuple[str, ...]]
) -> None:
    assert _project(files, dirs) == expected


SIMPLEJSON_SETUP = """\
from setuptools import setup, Extension

def run_setup(with_binary):
    kw = dict(ext_modules=[Extension("simplejson._speedups", sources=["simplejson/_speedups.c"])]) if with_binary else {}
    setup(name="simplejson", packages=["simplejson"], **kw)

try:
    run_setup(True)
except BuildFailed:
    run_setup(False)
"""


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"setup.py": SIMPLEJSON_SETUP}, ("simplejson._speedups",)),
        ({"setup.py": "from setuptools import setup\nsetup(name='a', ext_modules=cythonize('a/*.pyx'))\n"}, ("*",)),
        ({"setup.py": "from setuptools import setup\nsetup(name='a', ext_modules=[])\n"}, ()),
        ({"setup.py": "from setuptools import setup\nsetup(name='a', packages=['a'])\n"}, ()),
        (
            {
                "pyproject.toml": '[build-system]\nbuild-backend = "setuptools.build_meta"\n[project]\nname = "a"\n'
                '[[tool.setuptools.ext-modules]]\nname = "a._fast"\nsources = ["a/_fast.c"]\n'
            },
            ("a._fast",),
        ),
        (
            {
                "pyproject.toml": '[build-system]\nbuild-backend = "mesonpy"\n[project]\nname = "a"\n',
                "setup.py": SIMPLEJSON_SETUP.replace('name="simplejson", ', 'name="a", '),
            },
            (),
        ),
    ],
    ids=["in-a-function", "cythonize", "empty", "none", "pyproject", "meson"],
)
def test_the_compiled_extensions_setuptools_builds_are_read_without_running_setup_py(
    files: dict[str, str], expected: tuple[str, ...]
) -> None:
    """simplejson builds its extension in a function it retries without it: any ``Extension(...)`` call counts; a
    backend other than setuptools (meson-python, scikit-build-core...) builds through tools a job does not run."""
    found = read_project(lambda p: files[p].encode() if p in files else None, lambda p: False)
    assert found is not None and found.extensions == expected
