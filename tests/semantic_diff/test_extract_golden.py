"""The entity extraction's output, pinned: every field of every entity (hashes included) of
one file per language, covering each language's constructs, as one digest per file.

A change that only makes the walk faster must leave every digest as it is. A deliberate
change to what is extracted updates them (print ``_digests()`` and paste).
"""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from trellis.semantic_diff import extract_entities

from .fixtures import CODE_LANGUAGES

_PYTHON_EXTRA = '''"""Module docstring."""
import os  # trailing comment

CONSTANT = 1 + \\
    2


# a comment that documents the decorated class
@dataclass(frozen=True)
@other . decorator(1, x="y")
class Outer(Base, metaclass=Meta):
    "Doc " 'concatenated'
    field: int = 0  # comment

    @staticmethod
    async def run(a, /, b: int = 2, *args, c, **kw) -> list[int]:
        r"""Raw docstring.

            indented
        """
        def inner(x):  # nested function
            return f"{x!r:>10}" + b"\\x00".decode()
        class Deep:
            def method(self): ...
        return [inner(i) for i in range(b)]

    def name_only(self): pass


def plain(x, *, y=lambda z: z + 1):
    # leading body comment
    return x  # trailing
'''

_RUST_EXTRA = """/// Documented, with attributes before it.
#[derive(Debug, Clone)]
#[cfg(test)]
pub struct Point<T> { x: T, y: T }

// plain comment
#[inline]
fn first(x: i32, (a, b): (i32, i32)) -> i32 { x + a + b }

impl<T: Copy> Point<T> {
    /// Getter.
    #[must_use]
    pub fn x(&self) -> T { self.x }
}
"""

_TS_EXTRA = """// leading comment
@Component({ selector: "x" })
export class Widget<T> extends Base implements Shape {
  @Input() name: string = "";

  /** Documented. */
  render(this: Widget<T>, x?: number, ...rest: T[]): void {
    const f = (a: number) => a * 2;
  }
}
"""

_DOCUMENTS = {
    "conf/settings.json": '{"a": 1, "b": {"c": [1, 2, {"d": null}]}, "e": "text"}\n',
    "conf/settings.yaml": "a: 1\nb:\n  c:\n    - 1\n    - d: null  # note\ne: text\n",
    "conf/settings.toml": '# top\n[a]\nb = 1\n[a.c]\nd = [1, 2]\n[[e]]\nf = "x"\n',
}


def _files() -> dict[str, str]:
    files = {}
    for lang in CODE_LANGUAGES:
        blocks = [("fn", lang.compute), ("fn", lang.other), ("type", lang.store), ("type", lang.archive)]
        text = lang.module("m", blocks)
        files[lang.path("m")] = text
        files[lang.path("reformatted")] = lang.reformat(text)
    files["pkg/extra.py"] = _PYTHON_EXTRA
    files["pkg/extra.rs"] = _RUST_EXTRA
    files["pkg/extra.ts"] = _TS_EXTRA
    files.update(_DOCUMENTS)
    return files


def _digest(path: str, text: str) -> str:
    parsed = extract_entities(path, text.encode())
    h = hashlib.sha256(parsed.fallback_reason.encode())
    for entity in parsed.entities:
        h.update(repr(dataclasses.astuple(entity)).encode())
    return f"{len(parsed.entities)}:{h.hexdigest()[:20]}"


def _digests() -> dict[str, str]:
    return {path: _digest(path, text) for path, text in _files().items()}


# Made with the walk before it was made faster (main at 2026-12-06 03:05 UTC).
GOLDEN: dict[str, str] = {
    "conf/settings.json": "7:30dc5140d3c1f7afc92a",
    "conf/settings.toml": "7:1934b706b2d718f062fd",
    "conf/settings.yaml": "7:2895cd2425dd2b832055",
    "pkg/M.java": "9:2979f126309267ea2d0a",
    "pkg/Reformatted.java": "9:99a50c43b4e9b3e14ceb",
    "pkg/extra.py": "8:e9e43fa98d075d594704",
    "pkg/extra.rs": "5:82012e0cfb4d4828d40b",
    "pkg/extra.ts": "4:d845a517e75c46dd0ac6",
    "pkg/m.go": "8:d3cb12047aea91144a27",
    "pkg/m.js": "8:31f504bba2358340a3ed",
    "pkg/m.py": "8:caa67082d38e4b51a15c",
    "pkg/m.rs": "9:9f2712d31afcc68bc8b8",
    "pkg/m.ts": "8:1dcd479caf4f106b071a",
    "pkg/m.tsx": "8:89ca0e658a83c32512ea",
    "pkg/reformatted.go": "8:3b7b8770d21021779cab",
    "pkg/reformatted.js": "8:7fddaf90e6d43bd51d21",
    "pkg/reformatted.py": "8:0060d525683bd443a076",
    "pkg/reformatted.rs": "9:c2ab509e76246be7dc62",
    "pkg/reformatted.ts": "8:c57f409f33f354fe6a3d",
    "pkg/reformatted.tsx": "8:aeb479dfd92a32ca73e0",
}


@pytest.mark.parametrize("path", sorted(_files()))
def test_extraction_is_unchanged(path: str) -> None:
    assert _digest(path, _files()[path]) == GOLDEN[path]
