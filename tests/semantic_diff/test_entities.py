"""Entity extraction: kinds, qualified names, spans, signatures, parameters, docstrings, per language."""

from __future__ import annotations

import pytest

from trellis.semantic_diff import Entity, extract_entities, language_for, languages, module_name


def _entities(path: str, src: str) -> dict[str, Entity]:
    parsed = extract_entities(path, src.encode())
    assert parsed.fallback_reason == "", parsed.fallback_reason
    return {e.qualname: e for e in parsed.entities}


def _kinds(path: str, src: str) -> list[tuple[str, str]]:
    return [(e.kind, e.qualname) for e in extract_entities(path, src.encode()).entities]


def test_language_registry() -> None:
    assert language_for("a/b.py") == "python"
    assert language_for("x.pyi") == "python"
    assert language_for("x.JS") == "javascript"
    assert language_for("x.ts") == "typescript"
    assert language_for("x.tsx") == "tsx"
    assert language_for("x.go") == "go"
    assert language_for("x.rs") == "rust"
    assert language_for("X.java") == "java"
    assert language_for("x.json") == "json"
    assert language_for("x.yml") == "yaml"
    assert language_for("pyproject.toml") == "toml"
    assert language_for("README.md") is None
    assert language_for("Makefile") is None
    assert set(languages()) >= {
        "python",
        "javascript",
        "typescript",
        "tsx",
        "go",
        "rust",
        "java",
        "json",
        "yaml",
        "toml",
    }


@pytest.mark.parametrize(
    ("path", "module"),
    [
        ("app/models.py", "app.models"),
        ("app/__init__.py", "app"),
        ("models.py", "models"),
        ("src/utils/parse.ts", "src.utils.parse"),
        ("__init__.py", "__init__"),
        ("./a/b.go", "a.b"),
    ],
)
def test_module_names(path: str, module: str) -> None:
    assert module_name(path) == module


def test_a_paths_module_and_language_are_worked_out_once() -> None:
    """The index asks them for every file of every commit (a diff asks ``spec_for`` six times a file)."""
    from trellis.semantic_diff.languages.registry import spec_for

    path = "pkg/sub/remembered_once.py"
    assert module_name(path) == "pkg.sub.remembered_once" and spec_for(path) is not None
    hits = module_name.cache_info().hits, spec_for.cache_info().hits  # type: ignore[attr-defined]
    assert module_name(path) == "pkg.sub.remembered_once" and spec_for(path) is not None
    assert (module_name.cache_info().hits, spec_for.cache_info().hits) == (hits[0] + 1, hits[1] + 1)  # type: ignore[attr-defined]


def test_python_entities() -> None:
    src = '''"""Module doc."""
import os


@decorator(1)
def top(a, b: int = 2, *args, key, **kwargs) -> int:
    """Top doc.

    More.
    """
    def nested(x):
        return x
    return nested(a)


class User(Base, metaclass=Meta):
    """A user."""

    def save(self, force=False):
        pass

    async def load(self):
        pass
'''
    ents = _entities("app/models.py", src)
    assert list(ents) == [
        "app.models",
        "app.models.top",
        "app.models.top.nested",
        "app.models.User",
        "app.models.User.save",
        "app.models.User.load",
    ]
    module = ents["app.models"]
    assert (module.kind, module.name, module.docstring, module.start_line, module.parent_qualname) == (
        "module",
        "models",
        "Module doc.",
        1,
        "",
    )
    top = ents["app.models.top"]
    assert top.kind == "function" and top.name == "top"
    assert top.start_line == 5 and top.end_line == 13  # decorators belong to the entity
    assert top.parameters == ("a", "b", "args", "key", "kwargs")
    assert top.signature == "(a, b: int = 2, *args, key, **kwargs) -> int"
    assert top.docstring == "Top doc.\n\nMore."
    assert src.encode()[top.start_byte : top.end_byte].startswith(b"@decorator(1)")
    assert ents["app.models.top.nested"].kind == "function"
    assert ents["app.models.top.nested"].parent_qualname == "app.models.top"
    user = ents["app.models.User"]
    assert (user.kind, user.signature, user.docstring) == ("class", "(Base, metaclass=Meta)", "A user.")
    assert ents["app.models.User.save"].kind == "method"
    assert ents["app.models.User.save"].parameters == ("self", "force")
    assert ents["app.models.User.load"].kind == "method"


def test_javascript_entities() -> None:
    src = """/** Adds. */
export function add(a, b = 1, ...rest) { return a + b; }
export const mul = (a, b) => a * b;
const value = 3;
class Shape extends Base {
  area() { return 0; }
  static create = (kind) => new Shape(kind);
}
"""
    assert _kinds("lib/math.js", src) == [
        ("module", "lib.math"),
        ("function", "lib.math.add"),
        ("function", "lib.math.mul"),
        ("class", "lib.math.Shape"),
        ("method", "lib.math.Shape.area"),
        ("method", "lib.math.Shape.create"),
    ]
    ents = _entities("lib/math.js", src)
    assert ents["lib.math.add"].docstring == "Adds."
    assert ents["lib.math.add"].parameters == ("a", "b", "rest")
    assert ents["lib.math.Shape"].signature == "extends Base"


def test_typescript_entities() -> None:
    src = """export interface Repo<T> extends Base { get(id: string): T; }
export type Id = string | number;
export enum Color { Red, Green }
export namespace Util { export function f(x: number): number { return x; } }
export abstract class Store<T> implements Repo<T> {
  abstract get(id: string): T;
  @logged
  put(id: string, value?: T): void {}
}
"""
    for path in ("src/repo.ts", "src/repo.tsx"):
        assert _kinds(path, src) == [
            ("module", "src.repo"),
            ("interface", "src.repo.Repo"),
            ("method", "src.repo.Repo.get"),
            ("type", "src.repo.Id"),
            ("enum", "src.repo.Color"),
            ("namespace", "src.repo.Util"),
            ("function", "src.repo.Util.f"),
            ("class", "src.repo.Store"),
            ("method", "src.repo.Store.get"),
            ("method", "src.repo.Store.put"),
        ]
    ents = _entities("src/repo.ts", src)
    assert ents["src.repo.Store.put"].parameters == ("id", "value")
    assert ents["src.repo.Store.put"].signature == "(id: string, value?: T): void"


def test_tsx_parses_jsx() -> None:
    src = 'export function App(props: Props) { return <div className="x">{props.name}</div>; }\n'
    assert _kinds("ui/App.tsx", src) == [("module", "ui.App"), ("function", "ui.App.App")]


def test_go_entities() -> None:
    src = """package repo

// Repo stores things.
type Repo struct {
\tname string
}

type Reader interface {
\tRead(p []byte) (int, error)
}

type ID = string

// Save saves.
func (r *Repo) Save(ctx context.Context, a, b int) error {
\treturn nil
}

func New(name string) *Repo { return &Repo{name: name} }
"""
    ents = _entities("pkg/repo/repo.go", src)
    assert [(e.kind, q) for q, e in ents.items()] == [
        ("module", "pkg.repo.repo"),
        ("struct", "pkg.repo.repo.Repo"),
        ("interface", "pkg.repo.repo.Reader"),
        ("type", "pkg.repo.repo.ID"),
        ("method", "pkg.repo.repo.Repo.Save"),
        ("function", "pkg.repo.repo.New"),
    ]
    save = ents["pkg.repo.repo.Repo.Save"]
    assert save.name == "Save" and save.docstring == "Save saves."
    assert save.parameters == ("ctx", "a", "b")
    assert ents["pkg.repo.repo.Repo"].docstring == "Repo stores things."


def test_rust_entities() -> None:
    src = """/// A point.
#[derive(Debug, Clone)]
pub struct Point { x: f64, y: f64 }

pub enum Shape { Circle(f64), Square(f64) }

pub trait Area { fn area(&self) -> f64; }

impl Point {
    pub fn new(x: f64, y: f64) -> Self { Point { x, y } }
}

impl Area for Point {
    fn area(&self) -> f64 { 0.0 }
}

mod inner { pub fn helper() {} }

macro_rules! square { ($x:expr) => { $x * $x }; }
"""
    assert _kinds("src/geo.rs", src) == [
        ("module", "src.geo"),
        ("struct", "src.geo.Point"),
        ("enum", "src.geo.Shape"),
        ("trait", "src.geo.Area"),
        ("method", "src.geo.Area.area"),
        ("impl", "src.geo.Point"),
        ("method", "src.geo.Point.new"),
        ("impl", "src.geo.<Point as Area>"),
        ("method", "src.geo.<Point as Area>.area"),
        ("mod", "src.geo.inner"),
        ("function", "src.geo.inner.helper"),
        ("macro", "src.geo.square"),
    ]
    ents = {(e.kind, e.qualname): e for e in extract_entities("src/geo.rs", src.encode()).entities}
    point = ents[("struct", "src.geo.Point")]
    assert point.docstring == "A point."
    assert point.start_line == 3  # the node; attributes are in its byte range's prefix
    assert ents[("method", "src.geo.Point.new")].parameters == ("x", "y")
    assert ents[("method", "src.geo.Point.new")].signature == "(x: f64, y: f64) -> Self"


def test_rust_attribute_change_belongs_to_the_item() -> None:
    from trellis.semantic_diff import diff_files

    old = b"#[derive(Debug)]\nstruct P { x: i32 }\n\nfn f() -> i32 { 1 }\n"
    new = b"#[derive(Debug, Clone)]\nstruct P { x: i32 }\n\nfn f() -> i32 { 1 }\n"
    result = diff_files({"a.rs": old}, {"a.rs": new})
    assert [(c.kind, c.qualname, c.details) for c in result.changes] == [("struct", "a.P", ("decorators",))]


def test_java_entities() -> None:
    src = """package a.b;

/** A user. */
@Entity
public class User extends Base implements Named {
    public User(String name) { this.name = name; }
    /** Saves. */
    @Override
    public void save(int x, String... rest) throws IOException {}
    interface Listener { void on(); }
    enum Kind { A, B }
    record Pair(int a, int b) {}
}
"""
    ents = _entities("src/a/b/User.java", src)
    assert [(e.kind, q.removeprefix("src.a.b.")) for q, e in ents.items()] == [
        ("module", "User"),
        ("class", "User.User"),
        ("constructor", "User.User.User"),
        ("method", "User.User.save"),
        ("interface", "User.User.Listener"),
        ("method", "User.User.Listener.on"),
        ("enum", "User.User.Kind"),
        ("record", "User.User.Pair"),
    ]
    save = ents["src.a.b.User.User.save"]
    assert save.parameters == ("x", "rest") and save.docstring == "Saves."
    assert save.signature == "void save(int x, String... rest) throws IOException"
    assert ents["src.a.b.User.User"].docstring == "A user."


def test_spans_are_consistent() -> None:
    src = "x = 1\n\n\ndef f():\n    return 1\n\n\nclass A:\n    def m(self):\n        pass\n"
    data = src.encode()
    for e in extract_entities("a.py", data).entities:
        assert 0 <= e.start_byte < e.end_byte <= len(data)
        assert 1 <= e.start_line <= e.end_line <= src.count("\n")
        assert data.count(b"\n", 0, e.start_byte) + 1 == e.start_line


def test_hashes_ignore_whitespace_and_comments_but_text_hash_does_not() -> None:
    a = extract_entities("a.py", b"def f(x):\n    return x + 1\n").entities[1]
    b = extract_entities("a.py", b"def f(x):\n        # note\n        return x+1\n").entities[1]
    assert a.normalized_hash == b.normalized_hash and a.body_hash == b.body_hash
    assert a.text_hash != b.text_hash
    c = extract_entities("a.py", b"def g(x):\n    return x + 1\n").entities[1]
    assert c.normalized_hash == a.normalized_hash  # the name is not part of the normalised body
