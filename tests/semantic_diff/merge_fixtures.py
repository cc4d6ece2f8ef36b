"""Merge fixtures: a tiny model of a source file, rendered in every language of the engine.

A code file is imports + top-level blocks (functions, and classes holding
methods); a keyed document is sections holding keys. Each merge situation is a
pair of edits of the model (one per side); when the two edits are independent
the expected merge is both edits applied to the model and rendered — so the
expected text is never written by hand, and it is the same for every language.

What both sides add at the same place comes as "left then right", CURRENT's
first, as ``git merge-file`` orders it (and names are chosen so that sorted
imports stay sorted that way too: ``added_a`` < ``added_b``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

# --- the model -------------------------------------------------------------------------


@dataclass(frozen=True)
class Fn:
    name: str
    expr: str = "1"


@dataclass(frozen=True)
class Cls:
    name: str
    methods: tuple[Fn, ...] = ()


@dataclass(frozen=True)
class Code:
    imports: tuple[str, ...]
    blocks: tuple[Fn | Cls, ...]


def _blocks(code: Code, f: Callable[[Fn | Cls], Fn | Cls | None]) -> Code:
    return replace(code, blocks=tuple(b for b in (f(x) for x in code.blocks) if b is not None))


def add_fn(name: str, expr: str = "7") -> Callable[[Code], Code]:
    return lambda c: replace(c, blocks=c.blocks + (Fn(name, expr),))


def edit_fn(name: str, expr: str) -> Callable[[Code], Code]:
    return lambda c: _blocks(c, lambda b: Fn(name, expr) if isinstance(b, Fn) and b.name == name else b)


def delete_fn(name: str) -> Callable[[Code], Code]:
    return lambda c: _blocks(c, lambda b: None if isinstance(b, Fn) and b.name == name else b)


def _in_class(cls: str, f: Callable[[tuple[Fn, ...]], tuple[Fn, ...]]) -> Callable[[Code], Code]:
    return lambda c: _blocks(c, lambda b: Cls(b.name, f(b.methods)) if isinstance(b, Cls) and b.name == cls else b)


def add_method(cls: str, name: str, expr: str = "7") -> Callable[[Code], Code]:
    return _in_class(cls, lambda ms: ms + (Fn(name, expr),))


def edit_method(cls: str, name: str, expr: str) -> Callable[[Code], Code]:
    return _in_class(cls, lambda ms: tuple(Fn(name, expr) if m.name == name else m for m in ms))


def delete_method(cls: str, name: str) -> Callable[[Code], Code]:
    return _in_class(cls, lambda ms: tuple(m for m in ms if m.name != name))


def move_method(src: str, dst: str, name: str) -> Callable[[Code], Code]:
    def run(c: Code) -> Code:
        method = next(m for b in c.blocks if isinstance(b, Cls) and b.name == src for m in b.methods if m.name == name)
        c = delete_method(src, name)(c)
        return _in_class(dst, lambda ms: ms + (method,))(c)

    return run


def swap(a: str, b: str) -> Callable[[Code], Code]:
    """Swap the top-level blocks named ``a`` and ``b``."""

    def run(c: Code) -> Code:
        blocks = list(c.blocks)
        names = [x.name for x in blocks]
        i, j = names.index(a), names.index(b)
        blocks[i], blocks[j] = blocks[j], blocks[i]
        return replace(c, blocks=tuple(blocks))

    return run


def add_import(name: str) -> Callable[[Code], Code]:
    return lambda c: replace(c, imports=c.imports + (name,))


BASE_CODE = Code(
    imports=("base_one", "base_two"),
    blocks=(
        Fn("compute", "1"),
        Cls("Store", (Fn("save", "2"), Fn("size", "3"))),
        Cls("Archive", (Fn("load", "4"),)),
        Fn("helper", "5"),
    ),
)


# --- rendering, per language -------------------------------------------------------------


def _indent(text: str, prefix: str) -> str:
    return "".join(prefix + line if line.strip() else line for line in text.splitlines(keepends=True))


@dataclass(frozen=True)
class CodeLang:
    name: str
    path: str
    imp: Callable[[str], str]
    fn: Callable[[Fn], str]
    method: Callable[[str, Fn], str]  # (class name, method) -> text
    cls: Callable[[str, str], str]  # (name, rendered members) -> text
    top_sep: str = "\n"
    head: str = ""
    wrap: Callable[[str], str] = staticmethod(lambda body: body)  # type: ignore[assignment]
    imports_block: Callable[[list[str]], str] | None = None

    def render(self, code: Code) -> bytes:
        imports = [self.imp(n) for n in code.imports]
        if self.imports_block is not None:
            imp_text = self.imports_block(imports)
        else:
            imp_text = "".join(imports)
        blocks = []
        for b in code.blocks:
            if isinstance(b, Fn):
                blocks.append(self.fn(b))
            else:
                blocks.append(self.cls(b.name, "\n".join(self.method(b.name, m) for m in b.methods)))
        body = self.top_sep.join(blocks)
        return (self.head + imp_text + ("\n" if imp_text else "") + self.wrap(body)).encode()


PYTHON = CodeLang(
    name="python",
    path="pkg/mod.py",
    top_sep="\n\n",
    imp=lambda n: f"import {n}\n",
    fn=lambda f: f"def {f.name}(x):\n    return x + {f.expr}\n",
    method=lambda c, f: f"    def {f.name}(self, x):\n        return x + {f.expr}\n",
    cls=lambda n, body: f"class {n}:\n{body}",
)

JAVASCRIPT = CodeLang(
    name="javascript",
    path="pkg/mod.js",
    imp=lambda n: f'import {n} from "{n}";\n',
    fn=lambda f: f"function {f.name}(x) {{\n  return x + {f.expr};\n}}\n",
    method=lambda c, f: f"  {f.name}(x) {{\n    return x + {f.expr};\n  }}\n",
    cls=lambda n, body: f"class {n} {{\n{body}}}\n",
)

TYPESCRIPT = CodeLang(
    name="typescript",
    path="pkg/mod.ts",
    imp=lambda n: f'import {{ {n} }} from "./{n}";\n',
    fn=lambda f: f"export function {f.name}(x: number): number {{\n  return x + {f.expr};\n}}\n",
    method=lambda c, f: f"  {f.name}(x: number): number {{\n    return x + {f.expr};\n  }}\n",
    cls=lambda n, body: f"export class {n} {{\n{body}}}\n",
)

TSX = replace(TYPESCRIPT, name="tsx", path="pkg/mod.tsx")

GO = CodeLang(
    name="go",
    path="pkg/mod.go",
    head="package pkg\n\n",
    imp=lambda n: f'\t"{n}"\n',
    imports_block=lambda lines: "import (\n" + "".join(lines) + ")\n",
    fn=lambda f: f"func {f.name}(x int) int {{\n\treturn x + {f.expr}\n}}\n",
    # Go methods are top-level, named by their receiver type: a "class" is a struct and its methods.
    method=lambda c, f: f"func (r *{c}) {f.name}(x int) int {{\n\ty := x\n\treturn y + {f.expr}\n}}\n",
    cls=lambda n, body: f"type {n} struct{{}}\n" + ("\n" + body if body else ""),
)

RUST = CodeLang(
    name="rust",
    path="src/mod.rs",
    imp=lambda n: f"use {n};\n",
    fn=lambda f: f"pub fn {f.name}(x: i32) -> i32 {{\n    x + {f.expr}\n}}\n",
    method=lambda c, f: f"    pub fn {f.name}(&self, x: i32) -> i32 {{\n        x + {f.expr}\n    }}\n",
    cls=lambda n, body: f"impl {n} {{\n{body}}}\n",
)

JAVA = CodeLang(
    name="java",
    path="pkg/Mod.java",
    head="package pkg;\n\n",
    imp=lambda n: f"import pkg.{n};\n",
    fn=lambda f: f"static int {f.name}(int x) {{\n    return x + {f.expr};\n}}\n",
    method=lambda c, f: f"    int {f.name}(int x) {{\n        return x + {f.expr};\n    }}\n",
    cls=lambda n, body: f"static class {n} {{\n{body}}}\n",
    wrap=lambda body: "public class Mod {\n" + _indent(body, "    ") + "}\n",
)

CODE_LANGS = (PYTHON, JAVASCRIPT, TYPESCRIPT, TSX, GO, RUST, JAVA)


# --- keyed documents ----------------------------------------------------------------------


@dataclass(frozen=True)
class Doc:
    sections: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]


def _sections(doc: Doc, name: str, f: Callable[[tuple[tuple[str, str], ...]], tuple[tuple[str, str], ...]]) -> Doc:
    return Doc(tuple((n, f(keys)) if n == name else (n, keys) for n, keys in doc.sections))


def add_key(section: str, key: str, value: str = "new") -> Callable[[Doc], Doc]:
    return lambda d: _sections(d, section, lambda ks: ks + ((key, value),))


def set_key(section: str, key: str, value: str) -> Callable[[Doc], Doc]:
    return lambda d: _sections(d, section, lambda ks: tuple((k, value if k == key else v) for k, v in ks))


def delete_key(section: str, key: str) -> Callable[[Doc], Doc]:
    return lambda d: _sections(d, section, lambda ks: tuple((k, v) for k, v in ks if k != key))


def move_key(src: str, dst: str, key: str) -> Callable[[Doc], Doc]:
    def run(d: Doc) -> Doc:
        value = next(v for n, ks in d.sections if n == src for k, v in ks if k == key)
        return add_key(dst, key, value)(delete_key(src, key)(d))

    return run


def swap_sections(i: int, j: int) -> Callable[[Doc], Doc]:
    def run(d: Doc) -> Doc:
        s = list(d.sections)
        s[i], s[j] = s[j], s[i]
        return Doc(tuple(s))

    return run


def add_section(name: str, keys: tuple[tuple[str, str], ...] = (("enabled", "yes"),)) -> Callable[[Doc], Doc]:
    return lambda d: Doc(d.sections + ((name, keys),))


BASE_DOC = Doc(
    (
        ("project", (("name", "demo"), ("version", "one"))),
        ("deps", (("alpha", "first"), ("beta", "second"))),
        ("tools", (("lint", "ruff"),)),
    )
)


@dataclass(frozen=True)
class DocLang:
    name: str
    path: str
    render_fn: Callable[[Doc], str]

    def render(self, doc: Doc) -> bytes:
        return self.render_fn(doc).encode()


def _json(doc: Doc) -> str:
    sections = []
    for name, keys in doc.sections:
        body = ",\n".join(f'    "{k}": "{v}"' for k, v in keys)
        sections.append(f'  "{name}": {{\n{body}\n  }}')
    return "{\n" + ",\n".join(sections) + "\n}\n"


def _yaml(doc: Doc) -> str:
    return "".join(f"{name}:\n" + "".join(f"  {k}: {v}\n" for k, v in keys) for name, keys in doc.sections)


def _toml(doc: Doc) -> str:
    return "\n".join(f"[{name}]\n" + "".join(f'{k} = "{v}"\n' for k, v in keys) for name, keys in doc.sections)


DOC_LANGS = (
    DocLang("json", "conf/app.json", _json),
    DocLang("yaml", "conf/app.yaml", _yaml),
    DocLang("toml", "conf/app.toml", _toml),
)


# --- situations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Situation:
    """Two edits of the base; ``conflict`` names the entity (last segment) that must conflict, or ""."""

    name: str
    left: tuple[Callable, ...]  # type: ignore[type-arg]
    right: tuple[Callable, ...]  # type: ignore[type-arg]
    conflict: str = ""
    kind: str = ""
    langs: frozenset[str] = field(default_factory=frozenset)  # empty: every language


def apply(model: object, edits: tuple[Callable, ...]) -> object:  # type: ignore[type-arg]
    for edit in edits:
        model = edit(model)
    return model


CODE_SITUATIONS = (
    Situation("both_add_top", (add_fn("added_a"),), (add_fn("added_b"),)),
    Situation("both_add_member", (add_method("Store", "added_a"),), (add_method("Store", "added_b"),)),
    Situation("edit_vs_edit_elsewhere", (edit_fn("compute", "10"),), (edit_method("Archive", "load", "40"),)),
    Situation("edit_vs_reorder", (edit_fn("compute", "10"),), (swap("compute", "helper"),)),
    Situation("edit_vs_move", (edit_method("Store", "size", "30"),), (move_method("Store", "Archive", "size"),)),
    Situation("delete_vs_unchanged", (delete_fn("helper"),), (edit_fn("compute", "10"),)),
    Situation("imports", (add_import("extra_a"),), (add_import("extra_b"),)),
    Situation("imports_vs_edit", (add_import("extra_a"),), (edit_method("Store", "save", "20"),)),
    Situation(
        "add_vs_add_member_elsewhere",
        (add_method("Store", "added_a"), add_fn("added_c")),
        (add_method("Archive", "added_b"),),
    ),
    Situation(
        "delete_vs_edit", (delete_method("Store", "size"),), (edit_method("Store", "size", "30"),), conflict="size"
    ),
    Situation("same_entity", (edit_fn("helper", "50"),), (edit_fn("helper", "51"),), conflict="helper"),
    Situation(
        "same_member", (edit_method("Store", "save", "20"),), (edit_method("Store", "save", "21"),), conflict="save"
    ),
)

DOC_SITUATIONS = (
    Situation("both_add_key", (add_key("deps", "added_a"),), (add_key("deps", "added_b"),)),
    Situation("both_add_section", (add_section("added_a"),), (add_section("added_b"),)),
    Situation("edit_vs_add", (set_key("project", "version", "two"),), (add_key("deps", "gamma"),)),
    Situation("edit_vs_reorder", (set_key("deps", "beta", "changed"),), (swap_sections(0, 2),)),
    Situation("edit_vs_move", (set_key("deps", "beta", "changed"),), (move_key("deps", "tools", "beta"),)),
    Situation("delete_vs_edit", (delete_key("deps", "beta"),), (set_key("deps", "beta", "changed"),), conflict="beta"),
    Situation(
        "same_key",
        (set_key("project", "version", "two"),),
        (set_key("project", "version", "three"),),
        conflict="version",
    ),
)
