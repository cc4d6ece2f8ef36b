"""Refactoring commits in the shapes real Python, Java and TypeScript projects commit them.

A small code base per language is generated from one seed: modules holding classes (some
with a base class) and, in Python and TypeScript, functions; method bodies are plain
statements (assignments, conditions, loops, returns) over domain words, calling other
methods through ``self``/``this`` and fields, calling functions and constructing other
classes, with the imports that needs. Each case applies one refactoring from the usual
catalogue to that base and renders the base and the result in the language:

  rename_class, move_class, move_rename_class     (Java: the file is renamed or moved,
                                                   and its package line changes)
  rename_method, move_method, pull_up, push_down
  move_into_class   a module-level function becomes a method (Python, TypeScript)
  rename_function, move_function, move_rename_function
  rename_edited     a rename whose body also changed (a fifth to a third of it)
  rename_test       a test method renamed (nothing calls it) while a tenth to a third
                    of its statements changed: the most common rename in real histories
  rename_class_and_members   a class renamed with one or two of its methods
  move_class_rewritten       a class moved to another module while 40% of its methods changed
  move_rename_large_class    a class of 25-35 methods moved to another module and renamed while
                             half of its methods changed
  rename_chain      a→b while b→c, in one commit
  swap              two functions or methods exchange names
  pull_up_from_two  two subclasses each had a copy of a method (one copy sometimes edited),
                    the commit moves it into their base (half the time a new base inserted
                    between them and the old one): two refactorings, one per source
  push_down_to_two  a base's method moved into two of its subclasses (one copy sometimes
                    edited): two refactorings, one per target
  rename_documented a documented method renamed to an unrelated name (nothing calls it) while
                    a third to two fifths of its body changed; its docstring or doc comment kept

The call sites, imports and references follow the refactoring, as an IDE or a careful
developer leaves them. Most cases carry other edits in the same commit: another method's
body changed, a method added, an import added. Negative cases look like renames but are
not, and must report none:

  extract           part of a method moved into a new method that it calls
  inline            a method's body inlined into its only caller, the method removed
  replace           a function removed, a different one added, callers switched to it
  lookalike         a method removed and one of the same shape over other words added
  remove_override   a subclass's override of a base method deleted (the base's stays)

``expected`` lists the (change, kind, old qualname, new qualname) a semantic diff should
report as a rename or move; members that merely follow their class are not in it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from trellis.semantic_diff import module_name

__all__ = ["Case", "LANGUAGES", "TYPES", "NEGATIVE_TYPES", "make_cases"]

TYPES = (
    "rename_class",
    "move_class",
    "move_rename_class",
    "rename_method",
    "move_method",
    "pull_up",
    "push_down",
    "move_into_class",
    "rename_function",
    "move_function",
    "move_rename_function",
    "rename_edited",
    "rename_test",
    "rename_class_and_members",
    "move_class_rewritten",
    "move_rename_large_class",
    "rename_chain",
    "swap",
    "pull_up_from_two",
    "push_down_to_two",
    "rename_documented",
)
NEGATIVE_TYPES = ("extract", "inline", "replace", "lookalike", "remove_override")
ADDED_LATER = frozenset({"pull_up_from_two", "push_down_to_two", "rename_documented", "remove_override"})
LANGUAGES = ("python", "java", "typescript")

Stmt = tuple  # ("let", var, expr) | ("ret", expr) | ("expr", expr) | ("if", cond, [stmt]) | ("for", var, expr, [stmt])


@dataclass
class Fn:
    name: str
    params: list[str]
    body: list[Stmt]
    doc: str = ""  # a docstring (Python) or a doc comment above the method (Java, TypeScript)


@dataclass
class Cls:
    name: str
    base: str | None
    fields: list[str]
    methods: list[Fn]


@dataclass
class Module:
    package: str  # "billing.core" (a directory)
    stem: str  # "invoices" (Java: the class name)
    classes: list[Cls] = field(default_factory=list)
    functions: list[Fn] = field(default_factory=list)


@dataclass
class Case:
    kind: str
    language: str
    old: dict[str, bytes]
    new: dict[str, bytes]
    expected: set[tuple[str, str, str, str]]


NOUNS = [
    "order",
    "invoice",
    "customer",
    "item",
    "price",
    "total",
    "cache",
    "entry",
    "session",
    "token",
    "account",
    "payment",
    "report",
    "record",
    "batch",
    "window",
    "limit",
    "quota",
    "ticket",
    "route",
    "message",
    "channel",
    "buffer",
    "offset",
    "schema",
    "column",
    "filter",
    "event",
    "handler",
    "node",
]
VERBS = [
    "load",
    "save",
    "build",
    "parse",
    "render",
    "apply",
    "merge",
    "resolve",
    "compute",
    "collect",
    "validate",
    "refresh",
    "flush",
    "publish",
    "attach",
    "split",
    "encode",
    "decode",
    "expire",
    "index",
]
ATTRS = ["count", "size", "first", "keys", "values", "total", "status", "name", "created", "owner"]
CLASS_NOUNS = [
    "Registry",
    "Service",
    "Store",
    "Builder",
    "Planner",
    "Tracker",
    "Gateway",
    "Pool",
    "Index",
    "Cursor",
    "Queue",
    "Scheduler",
    "Ledger",
    "Catalog",
    "Router",
    "Monitor",
]
PACKAGES = ["billing", "catalog", "shipping", "accounts", "reports", "search"]


def _camel(words: list[str]) -> str:
    return words[0] + "".join(w.title() for w in words[1:])


class _Names:
    """Unique identifiers in the style of the language (snake_case or camelCase)."""

    def __init__(self, rng: random.Random, snake: bool) -> None:
        self.rng = rng
        self.snake = snake
        self.used: set[str] = set()

    def fresh(self, words: Callable[[], list[str]]) -> str:
        for _ in range(1000):
            w = words()
            name = "_".join(w) if self.snake else _camel(w)
            if name not in self.used:
                self.used.add(name)
                return name
        raise RuntimeError("out of names")

    def method(self) -> str:
        return self.fresh(lambda: [self.rng.choice(VERBS), self.rng.choice(NOUNS)])

    def cls(self) -> str:
        return self.fresh(lambda: [self.rng.choice(NOUNS).title() + self.rng.choice(CLASS_NOUNS)])


class _Bodies:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def expr(self, vars_: list[str], calls: list[str]) -> str:
        r = self.rng
        v = r.choice(vars_)
        roll = r.random()
        if calls and roll < 0.35:
            return f"{r.choice(calls)}({v})"
        if roll < 0.5:
            return f"{v}.{r.choice(ATTRS)} + {r.randint(1, 99)}"
        if roll < 0.65:
            return f'{v}.get("{r.choice(NOUNS)}")'
        if roll < 0.8:
            return f"{v}.{r.choice(ATTRS)} * {r.choice(vars_)}.{r.choice(ATTRS)}"
        return f"SELF.{r.choice(NOUNS)}s.{r.choice(VERBS)}({v}, {r.randint(0, 9)})"

    def body(self, params: list[str], calls: list[str], size: int) -> list[Stmt]:
        r = self.rng
        vars_ = list(params)
        out: list[Stmt] = []
        for i in range(size):
            roll = r.random()
            if roll < 0.4 or i == 0:
                name = r.choice(NOUNS)
                if name in vars_:
                    name = f"{name}_{i}"
                out.append(("let", name, self.expr(vars_, calls)))
                vars_.append(name)
            elif roll < 0.6:
                out.append(
                    (
                        "if",
                        f"{r.choice(vars_)}.{r.choice(ATTRS)} > {r.randint(0, 50)}",
                        [("ret", self.expr(vars_, calls))],
                    )
                )
            elif roll < 0.8:
                it = r.choice(NOUNS) + "_each"
                out.append(
                    (
                        "for",
                        it,
                        f"{r.choice(vars_)}.{r.choice(ATTRS)}",
                        [("expr", f"SELF.{r.choice(NOUNS)}s.{r.choice(VERBS)}({it})")],
                    )
                )
            else:
                out.append(("expr", self.expr(vars_, calls)))
        out.append(("ret", self.expr(vars_, calls)))
        return out


# -- rendering ------------------------------------------------------------------------------


def _expr(lang: str, e: str, classes: set[str]) -> str:
    def new(m: re.Match[str]) -> str:
        return m.group(0) if lang == "python" else "new " + m.group(0)

    e = e.replace("SELF.", "self." if lang == "python" else "this.")
    if classes:
        e = re.sub(r"\b(" + "|".join(sorted(classes)) + r")\(", new, e)
    return e


def _stmts(lang: str, body: list[Stmt], indent: str, classes: set[str]) -> list[str]:
    out: list[str] = []
    step = "    " if lang != "typescript" else "  "
    py = lang == "python"
    for s in body:
        if s[0] == "let":
            e = _expr(lang, s[2], classes)
            out.append(
                indent + (f"{s[1]} = {e}" if py else f"var {s[1]} = {e};" if lang == "java" else f"const {s[1]} = {e};")
            )
        elif s[0] == "ret":
            out.append(indent + f"return {_expr(lang, s[1], classes)}" + ("" if py else ";"))
        elif s[0] == "expr":
            out.append(indent + _expr(lang, s[1], classes) + ("" if py else ";"))
        elif s[0] == "if":
            cond = _expr(lang, s[1], classes)
            out.append(indent + (f"if {cond}:" if py else f"if ({cond}) {{"))
            out.extend(_stmts(lang, s[2], indent + step, classes))
            if not py:
                out.append(indent + "}")
        elif s[0] == "for":
            it = _expr(lang, s[2], classes)
            out.append(
                indent
                + (
                    f"for {s[1]} in {it}:"
                    if py
                    else f"for (var {s[1]} : {it}) {{"
                    if lang == "java"
                    else f"for (const {s[1]} of {it}) {{"
                )
            )
            out.extend(_stmts(lang, s[3], indent + step, classes))
            if not py:
                out.append(indent + "}")
    return out


def _fn(lang: str, fn: Fn, indent: str, method: bool, classes: set[str]) -> list[str]:
    step = "  " if lang == "typescript" else "    "
    if lang == "python":
        params = (["self"] if method else []) + fn.params
        doc = [f'{indent + step}"""{fn.doc}"""'] if fn.doc else []
        return [f"{indent}def {fn.name}({', '.join(params)}):", *doc, *_stmts(lang, fn.body, indent + step, classes)]
    doc = [f"{indent}/** {fn.doc} */"] if fn.doc else []
    if lang == "java":
        params = ", ".join(f"Object {p}" for p in fn.params)
        head = f"{indent}public Object {fn.name}({params}) {{"
    else:
        params = ", ".join(f"{p}: any" for p in fn.params)
        head = (
            f"{indent}{fn.name}({params}): any {{" if method else f"{indent}export function {fn.name}({params}): any {{"
        )
    return [*doc, head, *_stmts(lang, fn.body, indent + step, classes), indent + "}"]


def _cls(lang: str, c: Cls, classes: set[str]) -> list[str]:
    if lang == "python":
        out = [f"class {c.name}({c.base}):" if c.base else f"class {c.name}:"]
        out.append(f"    def __init__(self, {', '.join(c.fields)}):")
        out.extend(f"        self.{f} = {f}" for f in c.fields)
        for m in c.methods:
            out.append("")
            out.extend(_fn(lang, m, "    ", True, classes))
        return out
    ext = f" extends {c.base}" if c.base else ""
    if lang == "java":
        out = [f"public class {c.name}{ext} {{"]
        out.extend(f"    private Object {f};" for f in c.fields)
        out.append("")
        out.append(f"    public {c.name}({', '.join('Object ' + f for f in c.fields)}) {{")
        if c.base:
            out.append("        super();")
        out.extend(f"        this.{f} = {f};" for f in c.fields)
        out.append("    }")
    else:
        out = [f"export class {c.name}{ext} {{"]
        out.append(f"  constructor({', '.join('private ' + f + ': any' for f in c.fields)}) {{")
        if c.base:
            out.append("    super();")
        out.append("  }")
    step = "  " if lang == "typescript" else "    "
    for m in c.methods:
        out.append("")
        out.extend(_fn(lang, m, step, True, classes))
    out.append("}")
    return out


def path_of(lang: str, mod: Module) -> str:
    pkg = mod.package.replace(".", "/")
    if lang == "python":
        return f"src/{pkg}/{mod.stem}.py"
    if lang == "java":
        return f"src/main/java/com/acme/{pkg}/{mod.stem}.java"
    return f"src/{pkg}/{mod.stem}.ts"


def _render(lang: str, mods: list[Module]) -> dict[str, bytes]:
    where: dict[str, Module] = {}
    for mod in mods:
        for c in mod.classes:
            where[c.name] = mod
        for f in mod.functions:
            where[f.name] = mod
    classes = {c.name for mod in mods for c in mod.classes}
    out: dict[str, bytes] = {}
    for mod in mods:
        lines: list[str] = []
        if lang == "java":
            lines.append(f"package com.acme.{mod.package};")
            lines.append("")
        body: list[str] = []
        for c in mod.classes:
            body.extend(_cls(lang, c, classes))
            body.append("")
        for f in mod.functions:
            body.extend(_fn(lang, f, "", False, classes))
            body.append("")
        text = "\n".join(body)
        used = sorted(n for n, m in where.items() if m is not mod and re.search(rf"\b{n}\b", text))
        imports = []
        for n in used:
            m = where[n]
            if lang == "python":
                imports.append(f"from {m.package}.{m.stem} import {n}")
            elif lang == "java":
                if m.package != mod.package:
                    imports.append(f"import com.acme.{m.package}.{n};")
            else:
                imports.append(f'import {{ {n} }} from "@/{m.package.replace(".", "/")}/{m.stem}";')
        if lang == "python":
            imports.insert(0, "import logging")
        elif lang == "java":
            imports.insert(0, "import java.util.List;")
        else:
            imports.insert(0, 'import { log } from "@/util/log";')
        lines.extend(sorted(imports))
        lines.extend(["", "", text])
        out[path_of(lang, mod)] = ("\n".join(lines).rstrip() + "\n").encode()
    return out


# -- the base code and the refactorings --------------------------------------------------------


def _base(lang: str, rng: random.Random) -> tuple[list[Module], _Names, _Bodies]:
    names = _Names(rng, snake=lang == "python")
    bodies = _Bodies(rng)
    pkgs = rng.sample(PACKAGES, 3)
    mods: list[Module] = []
    all_methods: list[str] = []
    functions: list[str] = []
    for p in pkgs:
        for stem in rng.sample(NOUNS, 2):
            mods.append(Module(package=p, stem=stem + ("s" if lang != "java" else "")))
    for mod in mods:
        nclasses = 1 if lang == "java" else rng.randint(1, 2)
        for _ in range(nclasses):
            cname = names.cls()
            base = None
            prior = [c.name for m in mods for c in m.classes]
            if prior and rng.random() < 0.4:
                base = rng.choice(prior)
            c = Cls(cname, base, rng.sample(["repo", "clock", "config", "store", "limits"], 2), [])
            for _ in range(rng.randint(3, 6)):
                mname = names.method()
                params = rng.sample(NOUNS, rng.randint(1, 3))
                c.methods.append(Fn(mname, params, []))
                all_methods.append(mname)
            mod.classes.append(c)
        if lang == "java":
            mod.stem = mod.classes[0].name
        else:
            for _ in range(rng.randint(1, 3)):
                fname = names.method()
                mod.functions.append(Fn(fname, rng.sample(NOUNS, rng.randint(1, 2)), []))
                functions.append(fname)
    # bodies, with calls between them (the call sites a rename or move must update)
    for mod in mods:
        for c in mod.classes:
            for m in c.methods:
                calls = [f"SELF.{x.name}" for x in c.methods if x is not m][:3] + rng.sample(
                    functions, min(2, len(functions))
                )
                others = [x.name for mm in mods for x in mm.classes if x is not c]
                if others and rng.random() < 0.3:
                    calls.append(rng.choice(others))
                m.body = bodies.body(m.params, calls, rng.randint(3, 7))
        for f in mod.functions:
            calls = [x for x in functions if x != f.name][:2]
            f.body = bodies.body(f.params, calls, rng.randint(3, 6))
    return mods, names, bodies


def _rename(mods: list[Module], old: str, new: str) -> None:
    """Rename an identifier everywhere (definitions and every reference)."""
    pat = re.compile(rf"\b{re.escape(old)}\b")

    def fix_body(body: list[Stmt]) -> list[Stmt]:
        out: list[Stmt] = []
        for s in body:
            out.append(tuple(fix_body(x) if isinstance(x, list) else pat.sub(new, x) for x in s))
        return out

    for mod in mods:
        if mod.stem == old:
            mod.stem = new
        for c in mod.classes:
            if c.name == old:
                c.name = new
            if c.base == old:
                c.base = new
            for m in c.methods:
                m.name = new if m.name == old else m.name
                m.body = fix_body(m.body)
        for f in mod.functions:
            f.name = new if f.name == old else f.name
            f.body = fix_body(f.body)


def _copy(mods: list[Module]) -> list[Module]:
    return [
        Module(
            m.package,
            m.stem,
            [
                Cls(
                    c.name, c.base, list(c.fields), [Fn(f.name, list(f.params), list(f.body), f.doc) for f in c.methods]
                )
                for c in m.classes
            ],
            [Fn(f.name, list(f.params), list(f.body), f.doc) for f in m.functions],
        )
        for m in mods
    ]


def _q(lang: str, mod: Module, *names: str) -> str:
    return ".".join([module_name(path_of(lang, mod)), *names])


def _edit_body(fn: Fn, bodies: _Bodies, fraction: float) -> None:
    """Replace about ``fraction`` of a body's statements with new ones."""
    k = max(1, round(len(fn.body) * fraction))
    fresh = bodies.body(fn.params or ["fixture"], [], k + 1)[:k]
    for i, s in zip(bodies.rng.sample(range(len(fn.body)), min(k, len(fn.body))), fresh):
        fn.body[i] = s


def _noise(mods: list[Module], names: _Names, bodies: _Bodies, avoid: set[str]) -> None:
    """Other edits in the same commit: a body changed, a method added."""
    rng = bodies.rng
    methods = [
        (c, m) for mod in mods for c in mod.classes for m in c.methods if m.name not in avoid and c.name not in avoid
    ]
    if methods:
        _, m = rng.choice(methods)
        m.body = m.body + [("expr", f'SELF.{rng.choice(NOUNS)}s.{rng.choice(VERBS)}("{rng.choice(NOUNS)}")')]
    if methods and rng.random() < 0.6:
        c, _ = rng.choice(methods)
        params = rng.sample(NOUNS, 2)
        c.methods.append(Fn(names.method(), params, bodies.body(params, [], rng.randint(2, 5))))


def _pick_class(mods: list[Module], rng: random.Random, sub: bool | None = None) -> tuple[Module, Cls]:
    cands = [(mod, c) for mod in mods for c in mod.classes if sub is None or (c.base is not None) == sub]
    return rng.choice(cands)


def _ancestors(mods: list[Module], name: str) -> set[str]:
    bases = {c.name: c.base for mod in mods for c in mod.classes}
    out: set[str] = set()
    while bases.get(name) and bases[name] not in out:
        name = bases[name]  # type: ignore[assignment]
        out.add(name)
    return out


def _family_of_three(mods: list[Module], rng: random.Random) -> tuple[Cls, Cls, Cls] | None:
    """A class and two others made its subclasses (in the base code, so on both sides)."""
    classes = [c for mod in mods for c in mod.classes]
    rng.shuffle(classes)
    for base in classes:
        subs = [c for c in classes if c is not base and c.name not in _ancestors(mods, base.name)]
        if len(subs) >= 2:
            s1, s2 = subs[:2]
            s1.base = s2.base = base.name
            return base, s1, s2
    return None


def _case(kind: str, lang: str, rng: random.Random) -> Case | None:
    mods, names, bodies = _base(lang, rng)
    big: Cls | None = None
    if kind == "move_rename_large_class":
        # a class of 25-35 methods, as the ones real projects split, move and rename
        _, big = _pick_class(mods, rng)
        for _ in range(rng.randint(25, 35) - len(big.methods)):
            params = rng.sample(NOUNS, rng.randint(1, 3))
            big.methods.append(
                Fn(
                    names.method(),
                    params,
                    bodies.body(params, [f"SELF.{m.name}" for m in big.methods[-3:]], rng.randint(3, 8)),
                )
            )
    family = None
    if kind in ("pull_up_from_two", "push_down_to_two", "remove_override"):
        family = _family_of_three(mods, rng)
        if family is None:
            return None
        base, s1, s2 = family
        params = rng.sample(NOUNS, rng.randint(1, 3))
        shared = Fn(
            names.method(), params, bodies.body(params, [f"SELF.{m.name}" for m in base.methods[:2]], rng.randint(4, 8))
        )
        if kind == "pull_up_from_two":
            s1.methods.append(Fn(shared.name, list(params), list(shared.body)))
            s2.methods.insert(rng.randint(0, len(s2.methods)), Fn(shared.name, list(params), list(shared.body)))
            if rng.random() < 0.5:
                _edit_body(s2.methods[[m.name for m in s2.methods].index(shared.name)], bodies, 0.2)
        elif kind == "push_down_to_two":
            base.methods.append(shared)
        else:
            base.methods.append(shared)
            override = Fn(shared.name, list(params), list(shared.body))
            _edit_body(override, bodies, 0.25)
            s1.methods.append(override)
    old = _copy(mods)
    new = mods
    expected: set[tuple[str, str, str, str]] = set()
    avoid: set[str] = set()
    functional = lang != "java"
    if kind in ("rename_class", "move_class", "move_rename_class"):
        mod, c = _pick_class(new, rng)
        oq = _q(lang, mod, c.name)
        newname = names.cls() if kind != "move_class" else c.name
        target = mod
        if kind != "rename_class":
            target = rng.choice([m for m in new if m is not mod and m.package != mod.package])
        if lang == "java":
            # one public class per file: the file is renamed or moved with it
            new.remove(mod)
            target = Module(target.package, c.name, [c], [])
            new.append(target)
        else:
            mod.classes.remove(c)
            target.classes.append(c)
        if newname != c.name:
            _rename(new, c.name, newname)
        change = {"rename_class": "renamed", "move_class": "moved", "move_rename_class": "moved_renamed"}[kind]
        expected.add((change, "class", oq, _q(lang, target, newname)))
        avoid.add(newname)
        if rng.random() < 0.5:
            _edit_body(rng.choice(c.methods), bodies, 0.2)
    elif kind == "rename_test":
        mod, c = _pick_class(new, rng)
        test = Fn(
            names.fresh(lambda: ["test", rng.choice(VERBS), rng.choice(NOUNS)]),
            [],
            bodies.body(["fixture"], [f"SELF.{m.name}" for m in c.methods[:3]], rng.randint(4, 8)),
        )
        for mm in (old_mod for old_mod in old if old_mod.stem == mod.stem and old_mod.package == mod.package):
            next(cc for cc in mm.classes if cc.name == c.name).methods.append(Fn(test.name, [], list(test.body)))
        # mostly a sharper name built on the old one (test_x -> test_x_y), sometimes another one
        words = test.name.split("_") if lang == "python" else re.findall(r"[A-Z]?[a-z]+", test.name)
        words = [w.lower() for w in words]
        newname = names.fresh(
            lambda: (
                words + [rng.choice(ATTRS)]
                if rng.random() < 0.7
                else ["test", rng.choice(VERBS), rng.choice(NOUNS), rng.choice(ATTRS)]
            )
        )
        edited = Fn(newname, [], list(test.body))
        _edit_body(edited, bodies, rng.uniform(0.1, 0.34))
        c.methods.append(edited)
        expected.add(("renamed", "method", _q(lang, mod, c.name, test.name), _q(lang, mod, c.name, newname)))
        avoid.add(newname)
    elif kind in ("rename_class_and_members", "move_class_rewritten"):
        mod, c = _pick_class(new, rng)
        oq = _q(lang, mod, c.name)
        target = mod
        newname = c.name
        if kind == "rename_class_and_members":
            newname = names.cls()
            members = []
            for m in rng.sample(c.methods, min(2, len(c.methods) - 1)):
                members.append((m.name, names.method()))
                _rename(new, *members[-1])
            if lang == "java":
                new.remove(mod)
                target = Module(mod.package, newname, [c], [])
                new.append(target)
            _rename(new, c.name, newname)
            expected.add(("renamed", "class", oq, _q(lang, target, newname)))
            for a, b in members:
                expected.add(
                    ("renamed", "method", _q(lang, mod, oq.rsplit(".", 1)[-1], a), _q(lang, target, newname, b))
                )
        else:
            target = rng.choice([m for m in new if m is not mod and m.package != mod.package])
            if lang == "java":
                new.remove(mod)
                target = Module(target.package, c.name, [c], [])
                new.append(target)
            else:
                mod.classes.remove(c)
                target.classes.append(c)
            for m in rng.sample(c.methods, max(1, round(len(c.methods) * 0.4))):
                _edit_body(m, bodies, 0.5)
            expected.add(("moved", "class", oq, _q(lang, target, c.name)))
        avoid.add(newname)
    elif kind == "move_rename_large_class":
        assert big is not None
        mod = next(m for m in new if big in m.classes)
        oq = _q(lang, mod, big.name)
        target = rng.choice([m for m in new if m is not mod and m.package != mod.package])
        newname = names.cls()
        if lang == "java":
            new.remove(mod)
            target = Module(target.package, big.name, [big], [])
            new.append(target)
        else:
            mod.classes.remove(big)
            target.classes.append(big)
        _rename(new, big.name, newname)
        for m in rng.sample(big.methods, len(big.methods) // 2):
            _edit_body(m, bodies, 0.4)
        expected.add(("moved_renamed", "class", oq, _q(lang, target, newname)))
        avoid.add(newname)
    elif kind == "move_into_class":
        # a module-level function becomes a method of a class of the same module
        mods_ = [m for m in new if m.functions and m.classes]
        if not functional or not mods_:
            return None
        mod = rng.choice(mods_)
        f = rng.choice(mod.functions)
        c = rng.choice(mod.classes)
        mod.functions.remove(f)
        c.methods.append(f)
        expected.add(("moved", "method", _q(lang, mod, f.name), _q(lang, mod, c.name, f.name)))
        avoid.add(f.name)
    elif kind in ("rename_method", "move_method", "pull_up", "push_down", "rename_edited", "swap", "rename_chain"):
        if kind == "pull_up" or kind == "push_down":
            subs = [(mod, c) for mod in new for c in mod.classes if c.base]
            if not subs:
                return None
            smod, sub = rng.choice(subs)
            bmod, base = next((m, c) for m in new for c in m.classes if c.name == sub.base)
            src, dst = (sub, base) if kind == "pull_up" else (base, sub)
            smod_, dmod_ = (smod, bmod) if kind == "pull_up" else (bmod, smod)
            if not src.methods:
                return None
            m = rng.choice(src.methods)
            src.methods.remove(m)
            dst.methods.insert(rng.randint(0, len(dst.methods)), m)
            expected.add(("moved", "method", _q(lang, smod_, src.name, m.name), _q(lang, dmod_, dst.name, m.name)))
            avoid.add(m.name)
        elif kind == "move_method":
            mod, c = _pick_class(new, rng)
            others = [(mm, cc) for mm in new for cc in mm.classes if cc is not c]
            dmod, dst = rng.choice(others)
            m = rng.choice(c.methods)
            c.methods.remove(m)
            dst.methods.append(m)
            expected.add(("moved", "method", _q(lang, mod, c.name, m.name), _q(lang, dmod, dst.name, m.name)))
            avoid.add(m.name)
        else:
            mod, c = _pick_class(new, rng)
            use_fn = (
                functional
                and rng.random() < 0.5
                and len(mod.functions) >= (2 if kind in ("swap", "rename_chain") else 1)
            )
            pool = mod.functions if use_fn else c.methods
            path = [] if use_fn else [c.name]
            kind_name = "function" if use_fn else "method"
            if kind == "swap":
                if len(pool) < 2:
                    return None
                a, b = rng.sample(pool, 2)
                an, bn = a.name, b.name
                tmp = "tmp_swap_name"
                _rename(new, an, tmp)
                _rename(new, bn, an)
                _rename(new, tmp, bn)
                expected.add(("renamed", kind_name, _q(lang, mod, *path, an), _q(lang, mod, *path, bn)))
                expected.add(("renamed", kind_name, _q(lang, mod, *path, bn), _q(lang, mod, *path, an)))
                avoid.update({an, bn})
            elif kind == "rename_chain":
                if len(pool) < 2:
                    return None
                a, b = rng.sample(pool, 2)
                c_name = names.method()
                an, bn = a.name, b.name
                _rename(new, bn, c_name)
                _rename(new, an, bn)
                expected.add(("renamed", kind_name, _q(lang, mod, *path, an), _q(lang, mod, *path, bn)))
                expected.add(("renamed", kind_name, _q(lang, mod, *path, bn), _q(lang, mod, *path, c_name)))
                avoid.update({an, bn, c_name})
            else:
                m = rng.choice(pool)
                newname = names.method()
                oq = _q(lang, mod, *path, m.name)
                _rename(new, m.name, newname)
                if kind == "rename_edited":
                    _edit_body(m, bodies, rng.uniform(0.2, 0.34))
                expected.add(("renamed", kind_name, oq, _q(lang, mod, *path, newname)))
                avoid.add(newname)
    elif kind in ("rename_function", "move_function", "move_rename_function"):
        if not functional:
            return None
        mod = rng.choice([m for m in new if m.functions])
        f = rng.choice(mod.functions)
        oq = _q(lang, mod, f.name)
        target = mod
        if kind != "rename_function":
            target = rng.choice([m for m in new if m is not mod])
            mod.functions.remove(f)
            target.functions.append(f)
        newname = f.name
        if kind != "move_function":
            newname = names.method()
            _rename(new, f.name, newname)
        change = {"rename_function": "renamed", "move_function": "moved", "move_rename_function": "moved_renamed"}[kind]
        expected.add((change, "function", oq, _q(lang, target, newname)))
        avoid.add(newname)
    elif kind in ("pull_up_from_two", "push_down_to_two", "remove_override"):
        assert family is not None
        base, s1, s2 = family
        mod_of = {c.name: m for m in new for c in m.classes}
        name = shared.name
        avoid.add(name)
        if kind == "remove_override":
            s1.methods = [m for m in s1.methods if m.name != name]
        elif kind == "pull_up_from_two":
            copies = [next(m for m in c.methods if m.name == name) for c in (s1, s2)]
            for c in (s1, s2):
                c.methods = [m for m in c.methods if m.name != name]
            target, tmod = base, mod_of[base.name]
            if rng.random() < 0.5 and lang != "java":
                # a new base between them and the old one, in the first subclass's module
                target = Cls(names.cls(), base.name, list(base.fields), [])
                tmod = mod_of[s1.name]
                tmod.classes.insert(tmod.classes.index(s1), target)
                s1.base = s2.base = target.name
                avoid.add(target.name)
            target.methods.insert(rng.randint(0, len(target.methods)), copies[0])
            for c in (s1, s2):
                expected.add(
                    ("moved", "method", _q(lang, mod_of[c.name], c.name, name), _q(lang, tmod, target.name, name))
                )
        else:
            m = next(m for m in base.methods if m.name == name)
            base.methods.remove(m)
            s1.methods.insert(rng.randint(0, len(s1.methods)), m)
            copy = Fn(name, list(m.params), list(m.body))
            if rng.random() < 0.5:
                _edit_body(copy, bodies, 0.2)
            s2.methods.append(copy)
            for c in (s1, s2):
                expected.add(
                    (
                        "moved",
                        "method",
                        _q(lang, mod_of[base.name], base.name, name),
                        _q(lang, mod_of[c.name], c.name, name),
                    )
                )
        avoid.update({base.name, s1.name, s2.name})
    elif kind == "rename_documented":
        mod, c = _pick_class(new, rng)
        subject = [rng.choice(VERBS), "the", rng.choice(NOUNS), "of", "each", rng.choice(NOUNS)]
        doc = " ".join(subject).capitalize() + f", and return the {rng.choice(ATTRS)} it leaves."
        params = rng.sample(NOUNS, rng.randint(1, 3))
        documented = Fn(names.method(), params, bodies.body(params, [], rng.randint(5, 9)), doc)
        for om in old:
            for oc in om.classes:
                if oc.name == c.name:
                    oc.methods.append(Fn(documented.name, list(params), list(documented.body), doc))
        renamed = Fn(names.method(), list(params), list(documented.body), doc)
        _edit_body(renamed, bodies, rng.uniform(0.33, 0.4))
        c.methods.append(renamed)
        expected.add(("renamed", "method", _q(lang, mod, c.name, documented.name), _q(lang, mod, c.name, renamed.name)))
        avoid.add(renamed.name)
    elif kind == "extract":
        mod, c = _pick_class(new, rng)
        m = max(c.methods, key=lambda x: len(x.body))
        if len(m.body) < 4:
            return None
        k = len(m.body) // 2
        helper = Fn(names.method(), list(m.params), m.body[k:])
        m.body = m.body[:k] + [("ret", f"SELF.{helper.name}({', '.join(m.params)})")]
        c.methods.insert(c.methods.index(m) + 1, helper)
        avoid.update({m.name, helper.name})
    elif kind == "inline":
        mod, c = _pick_class(new, rng)
        if len(c.methods) < 2:
            return None
        callee, caller = rng.sample(c.methods, 2)
        caller.body = caller.body[:-1] + callee.body
        c.methods.remove(callee)
        _strip_calls(new, callee.name)
        avoid.update({callee.name, caller.name})
    elif kind == "replace":
        if not functional:
            mod, c = _pick_class(new, rng)
            pool = c.methods
        else:
            mod = rng.choice([m for m in new if m.functions])
            pool = mod.functions
        f = rng.choice(pool)
        params = rng.sample(NOUNS, len(f.params))
        g = Fn(names.method(), params, bodies.body(params, [], rng.randint(3, 6)))
        pool[pool.index(f)] = g
        _rename(new, f.name, g.name)
        g.body = bodies.body(params, [], rng.randint(3, 6))
        avoid.update({f.name, g.name})
    elif kind == "lookalike":
        mod, c = _pick_class(new, rng)
        m = rng.choice(c.methods)
        # same statement shapes over other words: another method written from the same mould
        twin = Fn(names.method(), [rng.choice(NOUNS) for _ in m.params], [_reword(s, rng) for s in m.body])
        c.methods[c.methods.index(m)] = twin
        _strip_calls(new, m.name)
        avoid.update({m.name, twin.name})
    else:
        raise ValueError(kind)
    if rng.random() < 0.7:
        _noise(new, names, bodies, avoid)
    return Case(kind, lang, _render(lang, old), _render(lang, new), expected)


def _reword(s: Stmt, rng: random.Random) -> Stmt:
    def word(m: re.Match[str]) -> str:
        w = m.group(0)
        if w in NOUNS:
            return rng.choice(NOUNS)
        if w in ATTRS:
            return rng.choice(ATTRS)
        if w in VERBS:
            return rng.choice(VERBS)
        return w

    return tuple(
        _reword(x, rng)
        if isinstance(x, tuple)
        else [_reword(y, rng) for y in x]
        if isinstance(x, list)
        else re.sub(r"[a-z]+", word, x)
        if i > 0
        else x
        for i, x in enumerate(s)
    )


def _strip_calls(mods: list[Module], name: str) -> None:
    """Drop the statements that call ``name`` (it no longer exists), keeping a return."""
    pat = re.compile(rf"\b{re.escape(name)}\b")

    def keep(body: list[Stmt]) -> list[Stmt]:
        out = []
        for s in body:
            if any(isinstance(x, str) and pat.search(x) for x in s[1:]):
                if s[0] == "ret":
                    out.append(("ret", "0"))
                continue
            out.append(tuple(keep(x) if isinstance(x, list) else x for x in s))
        return out

    for mod in mods:
        for c in mod.classes:
            for m in c.methods:
                m.body = keep(m.body)
        for f in mod.functions:
            f.body = keep(f.body)


def make_cases(seed: int = 1, per_type: int = 4) -> list[Case]:
    """``per_type`` cases of every type in every language where the type exists."""
    rng = random.Random(seed)
    cases: list[Case] = []
    # Types added later draw their seeds after the others, so that adding one leaves the
    # cases of the others as they were (and their figures comparable).
    first = [k for k in TYPES + NEGATIVE_TYPES if k not in ADDED_LATER]
    later = [k for k in TYPES + NEGATIVE_TYPES if k in ADDED_LATER]
    for lang, kind in [(lang, kind) for kinds in (first, later) for lang in LANGUAGES for kind in kinds]:
        made = tries = 0
        while made < per_type and tries < per_type * 5:
            tries += 1
            case = _case(kind, lang, random.Random(rng.random()))
            if case is not None:
                cases.append(case)
                made += 1
    return cases


def reported(changes: list) -> set[tuple[str, str, str, str]]:  # type: ignore[type-arg]
    """The renames and moves of a diff's changes, as ``expected`` spells them."""
    return {
        (c.change, c.kind, c.old_qualname, c.qualname)
        for c in changes
        if c.change in ("renamed", "moved", "moved_renamed") and c.kind not in ("module", "constructor")
    }
