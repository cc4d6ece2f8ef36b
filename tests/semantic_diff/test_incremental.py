"""Incremental parsing on real code: random line edits to standard-library modules give exactly
the records of a full parse, and unchanged entities are copied rather than walked."""

from __future__ import annotations

import ast
import dataclasses
import random
import sysconfig
from pathlib import Path

import pytest

import trellis.semantic_diff.parse as parse_module
from trellis.semantic_diff.languages.python import PYTHON
from trellis.semantic_diff.languages.registry import parser_for
from trellis.semantic_diff.parse import Parsed, analyze, text_delta
from trellis.semantic_diff.region import reparse_region


def _records(parsed: Parsed) -> list[tuple[object, ...]]:
    return [
        (
            r.lqual,
            r.core.kind,
            r.parent,
            r.end,
            r.depth,
            r.start_byte,
            r.end_byte,
            r.ext_start,
            r.start_line,
            r.end_line,
            r.core.norm_hash,
            r.core.text_hash,
            r.core.sig_hash,
            r.core.params,
            r.core.docstring,
            r.core.tokens,
        )
        for r in parsed.records
    ]


def _edit(lines: list[bytes], rng: random.Random) -> bytes:
    out = list(lines)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(out))
        op = rng.choice(["dup", "del", "mod", "ins"])
        if op == "dup":
            out.insert(i, out[i])
        elif op == "del":
            del out[i]
        elif op == "mod":
            out[i] = out[i].replace(b"self", b"this", 1).replace(b" = ", b" == ", 1)
        else:
            out.insert(i, b" " * rng.choice([0, 4, 8]) + b"zz = 1  # c\n")
    return b"".join(out)


@pytest.mark.parametrize("region", [True, False], ids=["region", "incremental"])
@pytest.mark.parametrize("name", ["argparse.py", "textwrap.py", "json/decoder.py", "dataclasses.py"])
def test_incremental_equals_full_on_stdlib(name: str, region: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not region:  # force the whole-file incremental path
        spec = dataclasses.replace(PYTHON, region_reparse=False)
        monkeypatch.setattr(parse_module, "spec_for", lambda path: spec)
    src = (Path(sysconfig.get_paths()["stdlib"]) / name).read_bytes()
    base = analyze(name, src)
    lines = src.splitlines(keepends=True)
    rng = random.Random(name)
    checked = reused = 0
    for _ in range(25):
        new = _edit(lines, rng)
        incremental, full = analyze(name, new, base=base), analyze(name, new)
        assert incremental.fallback_reason == full.fallback_reason
        if full.fallback_reason:
            continue
        checked += 1
        reused += incremental.how == ("region" if region else "incremental")
        assert _records(incremental) == _records(full)
    assert checked >= 10 and reused >= checked * (0.3 if region else 0.7)


def test_text_delta_counts_like_git_and_splits_hunks() -> None:
    old = b"".join(b"line %d\n" % i for i in range(100))
    new = old.replace(b"line 3\n", b"line three\n").replace(b"line 90\n", b"line 90\nextra\n")
    delta = text_delta(old, new)
    assert (delta.additions, delta.deletions) == (2, 1)
    assert len(delta.edits) == 2
    for e in delta.edits:
        assert old[: e.old_start] == new[: e.new_start] or e.new_start != e.old_start
    assert text_delta(old, old).edits == ()
    assert (text_delta(b"", b"a\nb").additions, text_delta(b"a\nb", b"").deletions) == (2, 2)


@pytest.mark.parametrize("name", ["textwrap.py", "json/decoder.py"])
def test_a_sequence_of_micro_commits_stays_exact(name: str) -> None:
    """Each version parsed from the previous one (region, incremental, or a tree rebuilt from a
    chain of region versions) always equals a full parse."""
    src = (Path(sysconfig.get_paths()["stdlib"]) / name).read_bytes()
    rng = random.Random(name + "seq")
    prev = analyze(name, src)
    hows = set()
    for _ in range(40):
        lines = prev.content.splitlines(keepends=True)
        new = _edit(lines, rng)
        if rng.random() < 0.2:  # an edit no single entity holds: needs the whole-file path
            new = b"import zz_extra\n" + new + b"\nzz_tail = 1\n"
        current = analyze(name, new, base=prev)
        full = analyze(name, new)
        assert current.fallback_reason == full.fallback_reason
        if full.fallback_reason:
            continue
        assert _records(current) == _records(full)
        hows.add(current.how)
        prev = current
    assert hows >= {"region", "incremental"}


def _structural_edit(src: bytes, rng: random.Random) -> bytes:
    """Delete, duplicate or move a whole definition; or insert a line, comment or dedent."""
    lines = src.splitlines(keepends=True)
    defs = [n for n in ast.walk(ast.parse(src)) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    d = rng.choice(defs)
    a, b = min([d.lineno] + [x.lineno for x in d.decorator_list]) - 1, d.end_lineno or d.lineno
    op = rng.choice(["delete", "duplicate", "move", "insert", "comment", "dedent"])
    if op == "delete":
        del lines[a:b]
    elif op == "duplicate":
        lines[b:b] = [b"\n"] + lines[a:b]
    elif op == "move":
        block = lines[a:b]
        del lines[a:b]
        at = rng.randrange(len(lines))
        lines[at:at] = [b"\n"] + block
    else:
        i = rng.randrange(len(lines))
        if op == "insert":
            lines.insert(i, b" " * rng.choice([0, 4, 8]) + rng.choice([b"x = 1\n", b"def q():\n    pass\n", b"@d\n"]))
        elif op == "comment":
            lines.insert(i, b" " * rng.choice([0, 4, 8]) + b"# note\n")
        else:
            lines[i] = lines[i].lstrip(b" ")
    return b"".join(lines)


@pytest.mark.parametrize("name", ["textwrap.py", "dataclasses.py", "functools.py"])
def test_structural_edits_stay_exact(name: str) -> None:
    src = (Path(sysconfig.get_paths()["stdlib"]) / name).read_bytes()
    base = analyze(name, src)
    rng = random.Random(name + "structural")
    hows = set()
    for _ in range(40):
        new = _structural_edit(src, rng)
        current, full = analyze(name, new, base=base), analyze(name, new)
        assert current.fallback_reason == full.fallback_reason
        if not full.fallback_reason:
            assert _records(current) == _records(full)
            hows.add(current.how)
    assert "region" in hows


def test_an_edit_joining_the_next_line_is_not_region_parsed() -> None:
    old = b"class S:\n    def a(self):\n        return x * 18\n\n    def b(self, y):\n        return y\n"
    new = old.replace(b" * 18\n\n  ", b"  ")
    base = analyze("m.py", old)
    assert analyze("m.py", new, base=base).fallback_reason == analyze("m.py", new).fallback_reason == "parse_error"


def test_a_dedented_insertion_is_not_region_parsed() -> None:
    old = b"class S:\n    def a(self):\n        return 1\n\n    def b(self):\n        return 2\n"
    new = old.replace(b"        return 1\n", b"        return 1\ndef top():\n    pass\n")
    base = analyze("m.py", old)
    assert _records(analyze("m.py", new, base=base)) == _records(analyze("m.py", new))


class _CountingParser:
    """A tree-sitter parser that counts its parses (the type cannot be subclassed)."""

    def __init__(self) -> None:
        self.parser = parser_for(PYTHON)
        self.parses = 0

    @property
    def included_ranges(self) -> object:
        return self.parser.included_ranges

    @included_ranges.setter
    def included_ranges(self, value: object) -> None:
        self.parser.included_ranges = value

    def parse(self, *args: object) -> object:
        self.parses += 1
        return self.parser.parse(*args)


@pytest.mark.parametrize(
    "edit",
    [b"\n# edit 7\n", b"\n\n# two\n# lines\n", b"\nx = 1  # edit\n"],
    ids=["comment", "comments", "statement"],
)
def test_a_line_that_is_no_entity_after_the_last_function_costs_no_region_parse(edit: bytes) -> None:
    """A micro-commit's usual edit, a comment after a module's last function: the region (that function and the
    comment) is refused before it is parsed, as the parse would refuse it; the file is parsed incrementally."""
    old = b'"""Doc."""\n\nimport math\n\n\ndef f(x):\n    return x\n\n\ndef g(y):\n    return math.sqrt(y)\n'
    new = old + edit
    base = analyze("m.py", old)
    delta = text_delta(old, new)
    counting = _CountingParser()
    lo, hi = delta.edits[0].old_start, delta.edits[-1].old_end
    line_delta = sum(e.line_delta for e in delta.edits)
    assert reparse_region(PYTHON, counting, base.records, old, new, lo, hi, line_delta) is None  # type: ignore[arg-type]
    assert counting.parses == (1 if edit.startswith(b"\nx") else 0)  # (a statement is refused after the parse)
    assert _records(analyze("m.py", new, base=base)) == _records(analyze("m.py", new))


def test_a_tree_made_by_another_thread_midway_is_taken_as_it_is() -> None:
    """Versions in the parse cache are shared: while one thread makes the tree of a region-parsed version
    (following its chain of region parses back to a tree), another may make a tree of the same chain first.
    The first thread takes the tree the other made (it asserted the link was still there)."""
    src = (Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py").read_bytes()
    versions = [analyze("textwrap.py", src)]
    for n in range(3):
        content = versions[-1].content.replace(b"        return", b"        return  " + b" " * n, 1)
        versions.append(analyze("textwrap.py", content, base=versions[-1]))
    assert [v.how for v in versions[1:]] == ["region"] * 3 and all(v.tree is None for v in versions[1:])
    real = parser_for(PYTHON)

    class Interleaved:  # the other thread runs while this one is inside its first parse
        def __init__(self) -> None:
            self.first = True

        def parse(self, content: bytes, old: object = None) -> object:
            if self.first:
                self.first = False
                parse_module.tree_of(versions[2], real)
            return real.parse(content, old) if old is not None else real.parse(content)

    tree = parse_module.tree_of(versions[3], Interleaved())  # type: ignore[arg-type]
    assert tree is not None and str(tree.root_node) == str(real.parse(versions[3].content).root_node)
