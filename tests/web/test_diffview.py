"""Diff rendering without a server: colours never change or hide the text, rows pair the right lines."""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from trellis.vcs import unified_diff
from trellis.web.diffview import Highlighter, side_by_side
from trellis.web.highlight import highlight_lines

TAG = re.compile(r"<[^>]*>")


def plain(line: str) -> str:
    return html.unescape(TAG.sub("", line))


@settings(max_examples=80, deadline=None)
@given(
    text=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300),
    path=st.sampled_from(["a.py", "b.js", "c.go", "d.rs", "e.toml", "f.json", "g.md", "h.c", "noext", "i.yaml"]),
)
def test_highlighting_keeps_every_character_and_escapes_markup(text: str, path: str) -> None:
    content = text.replace("\r", "").encode()
    lines = highlight_lines(path, content)
    assert [plain(str(line)) for line in lines] == content.decode().split("\n")
    for line in lines:
        # only our own spans are markup: any '<' of the text arrives escaped
        assert re.sub(r'<span class="[a-z]+">|</span>', "", str(line)).count("<") == 0


def test_tree_sitter_colours_a_hunk_inside_a_docstring_as_a_string() -> None:
    content = b'def f():\n    """Line one\n    <b>line two</b>\n    """\n    return 1\n'
    lines = highlight_lines("m.py", content)
    assert lines[2] == '<span class="s">    &lt;b&gt;line two&lt;/b&gt;</span>'
    assert '<span class="k">def</span> <span class="nf">f</span>' in lines[0]
    assert '<span class="m">1</span>' in lines[4]


def test_side_by_side_pairs_removed_and_added_lines() -> None:
    old = b"a = 1\nb = 2\nc = 3\n"
    new = b"a = 1\nb = 20\nextra = 4\nc = 3\n"
    patch = unified_diff(old, new, "x.py", "x.py").decode()
    view = side_by_side("x.py", "", "modified", patch, old, new)
    body = [r for r in view.rows if not r.header]
    pairs = [(r.left.number, r.left.kind, r.right.number, r.right.kind) for r in body]
    assert pairs == [
        (1, "context", 1, "context"),
        (2, "removed", 2, "added"),
        (0, "empty", 3, "added"),
        (3, "context", 4, "context"),
    ]
    assert "20" in plain(str(body[1].right.html)) and 'class="mono added"' in view.table


def test_a_removed_line_that_looks_like_a_header_is_a_line() -> None:
    old = b"x = 1\n-- y\n"
    new = b"x = 1\n"
    patch = unified_diff(old, new, "q.sql", "q.sql").decode()
    view = side_by_side("q.sql", "", "modified", patch, old, new)
    assert [r.left.number for r in view.rows if r.left.kind == "removed"] == [2]


def test_binary_files_have_no_rows() -> None:
    view = side_by_side("x.bin", "", "modified", "", b"\0\1", b"\0\2")
    assert view.binary and view.rows == ()


def test_the_highlighter_keeps_lines_per_blob() -> None:
    colours = Highlighter()
    first = colours.lines("a.py", "blob1", b"x = 1\n")
    assert colours.lines("a.py", "blob1", b"ignored: the blob id names the content\n") is first
