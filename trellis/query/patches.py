"""Applying a unified diff (``git diff`` or plain ``diff -u``) to files, without a work tree.

Used to land an agent's submitted patch as a commit: :func:`patch_changes`
turns the patch plus a reader of the base revision's files into the change
set :meth:`trellis.vcs.Store.commit` takes. Hunks are placed like ``patch`` does: at
the stated line, else at the nearest offset where the context matches
exactly, else ignoring line-ending differences (agents' terminals often turn
``\\n`` into ``\\r\\n``). No fuzz: a hunk whose context is not in the file
fails with :class:`~trellis.query.errors.PatchDoesNotApply`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from trellis import vcs

from .errors import PatchDoesNotApply, PatchError

__all__ = ["FilePatch", "Hunk", "apply_patch", "parse_patch", "patch_changes"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_GIT_HEADER = re.compile(r"^diff --git (\"?a/.*?\"?) (\"?b/.*\"?)$")
_EXECUTABLE = 0o100755


@dataclass(slots=True)
class Hunk:
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    # (tag, text) with tag in " ", "-", "+"; text keeps its line ending ("" at a missing final newline)
    lines: list[tuple[str, str]] = field(default_factory=list)

    @property
    def header(self) -> str:
        return f"@@ -{self.old_start},{self.old_count} +{self.new_start},{self.new_count} @@"


@dataclass(slots=True)
class FilePatch:
    old_path: str | None  # None: the file is created
    new_path: str | None  # None: the file is deleted
    hunks: list[Hunk] = field(default_factory=list)
    old_mode: int | None = None
    new_mode: int | None = None
    binary: bool = False

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


def _strip_prefix(path: str) -> str | None:
    path = path.split("\t", 1)[0].rstrip()
    if path.startswith('"') and path.endswith('"'):
        path = (
            path[1:-1]
            .encode("latin-1", "backslashreplace")
            .decode("unicode_escape")
            .encode("latin-1")
            .decode("utf-8", "surrogateescape")
        )
    if path == "/dev/null":
        return None
    if path.startswith(("a/", "b/")):
        return path[2:]
    return path


def _strip_component(path: str | None) -> str | None:
    """A plain ``diff -u`` names ``dir/path``: drop the first component, like ``patch -p1``."""
    if path is None or "/" not in path:
        return path
    return path.split("/", 1)[1]


def _normalise(patch: str) -> list[str]:
    lines = patch.splitlines(keepends=True)
    ended = [line for line in lines if line.endswith("\n")]
    if ended and all(line.endswith("\r\n") for line in ended):
        lines = [line[:-2] + "\n" if line.endswith("\r\n") else line for line in lines]
    return lines


def parse_patch(patch: str) -> list[FilePatch]:
    """The files of a unified diff, in order (raise :class:`PatchError` if it has none or is malformed)."""
    lines = _normalise(patch)
    files: list[FilePatch] = []
    current: FilePatch | None = None
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\n")
        header = _GIT_HEADER.match(line)
        if header:
            current = FilePatch(_strip_prefix(header.group(1)), _strip_prefix(header.group(2)))
            files.append(current)
        elif line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            old_path = _strip_prefix(line[4:])
            new_path = _strip_prefix(lines[i + 1].rstrip("\n")[4:])
            if current is None or current.hunks:
                raw_old, raw_new = line[4:], lines[i + 1][4:]
                if not (raw_old.startswith(("a/", "/dev/null")) and raw_new.startswith(("b/", "/dev/null"))):
                    old_path, new_path = _strip_component(old_path), _strip_component(new_path)
                current = FilePatch(old_path, new_path)
                files.append(current)
            else:
                current.old_path, current.new_path = old_path, new_path
            i += 1
        elif current is not None and line.startswith("new file mode "):
            current.old_path, current.new_mode = None, int(line.split()[-1], 8)
        elif current is not None and line.startswith("deleted file mode "):
            current.new_path, current.old_mode = None, int(line.split()[-1], 8)
        elif current is not None and line.startswith("old mode "):
            current.old_mode = int(line.split()[-1], 8)
        elif current is not None and line.startswith("new mode "):
            current.new_mode = int(line.split()[-1], 8)
        elif current is not None and line.startswith("rename from "):
            current.old_path = line[len("rename from ") :]
        elif current is not None and line.startswith("rename to "):
            current.new_path = line[len("rename to ") :]
        elif current is not None and (line.startswith("Binary files ") or line == "GIT binary patch"):
            current.binary = True
        elif line.startswith("@@"):
            if current is None:
                raise PatchError("the patch has a hunk before any file header", reason="PATCH_INVALID")
            i = _read_hunk(lines, i, current)
            continue
        i += 1
    if not files:
        raise PatchError("the patch names no file: expected a unified diff", reason="PATCH_INVALID")
    return files


def _read_hunk(lines: list[str], i: int, fp: FilePatch) -> int:
    m = _HUNK.match(lines[i])
    if m is None:
        raise PatchError(f"malformed hunk header: {lines[i].rstrip()!r}", reason="PATCH_INVALID")
    hunk = Hunk(int(m.group(1)), int(m.group(2) or 1), int(m.group(3)), int(m.group(4) or 1))
    old_left, new_left = hunk.old_count, hunk.new_count
    i += 1
    while i < len(lines) and (old_left > 0 or new_left > 0):
        line = lines[i]
        tag = line[:1]
        if line in ("\n", "") and old_left > 0 and new_left > 0:
            tag, line = " ", " \n"  # an empty context line whose space was stripped
        if tag == "\\":
            _drop_final_newline(hunk)
            i += 1
            continue
        if tag not in (" ", "-", "+"):
            raise PatchError(
                f"hunk {hunk.header} of {fp.path} ends early (at {line.rstrip()!r})", reason="PATCH_INVALID"
            )
        hunk.lines.append((tag, line[1:]))
        if tag in (" ", "-"):
            old_left -= 1
        if tag in (" ", "+"):
            new_left -= 1
        i += 1
    if i < len(lines) and lines[i].startswith("\\"):
        _drop_final_newline(hunk)
        i += 1
    if old_left > 0 or new_left > 0:
        raise PatchError(f"hunk {hunk.header} of {fp.path} is truncated", reason="PATCH_INVALID")
    fp.hunks.append(hunk)
    return i


def _drop_final_newline(hunk: Hunk) -> None:
    if hunk.lines:
        tag, text = hunk.lines[-1]
        hunk.lines[-1] = (tag, text[:-1] if text.endswith("\n") else text)


def _bare(line: str) -> str:
    return line.rstrip("\r\n")


def _find(old: list[str], want: list[str], expected: int, exact: bool) -> int | None:
    if not want:
        return max(0, min(expected, len(old)))
    n = len(want)
    same = (lambda a, b: a == b) if exact else (lambda a, b: _bare(a) == _bare(b))
    for delta in range(0, len(old) + 1):
        for pos in (expected + delta, expected - delta) if delta else (expected,):
            if 0 <= pos <= len(old) - n and all(same(old[pos + k], want[k]) for k in range(n)):
                return pos
    return None


def _apply_file(text: str, fp: FilePatch) -> str:
    old = text.splitlines(keepends=True)
    out: list[str] = []
    cursor = 0
    offset = 0
    for hunk in fp.hunks:
        want = [t for tag, t in hunk.lines if tag != "+"]
        stated = hunk.old_start - 1 if hunk.old_count else hunk.old_start
        expected = max(0, stated + offset)
        exact = True
        pos = _find(old, want, expected, exact=True)
        if pos is None:
            exact = False
            pos = _find(old, want, expected, exact=False)
        if pos is None or pos < cursor:
            raise PatchDoesNotApply(
                f"hunk {hunk.header} of {fp.path} does not apply: its context is not in the file "
                "(is the base revision the one the patch was made against?)",
                reason="PATCH_DOES_NOT_APPLY",
                path=fp.path,
            )
        out.extend(old[cursor:pos])
        crlf = not exact and any(line.endswith("\r\n") for line in old[pos : pos + len(want)])
        k = pos
        for tag, t in hunk.lines:
            if tag == " ":
                out.append(old[k])
                k += 1
            elif tag == "-":
                k += 1
            else:
                out.append(t[:-1] + "\r\n" if crlf and t.endswith("\n") and not t.endswith("\r\n") else t)
        cursor = k
        offset = pos - stated
    out.extend(old[cursor:])
    return "".join(out)


def apply_patch(patch: str, read: Callable[[str], bytes | None]) -> dict[str, bytes | None]:
    """The files ``patch`` changes: ``{path: new content}``, ``None`` for a deleted (or renamed-away) path.

    ``read(path)`` returns a file's content at the base revision (``None`` if it does not exist).
    """
    result: dict[str, bytes | None] = {}
    for fp in parse_patch(patch):
        if fp.binary:
            raise PatchError(f"{fp.path}: binary patches are not supported", reason="PATCH_BINARY", path=fp.path)
        if fp.old_path is None:
            if fp.new_path is None:
                raise PatchError("a file patch names neither an old nor a new path", reason="PATCH_INVALID")
            base = ""
        else:
            current = result[fp.old_path] if fp.old_path in result else read(fp.old_path)
            if current is None:
                raise PatchDoesNotApply(
                    f"{fp.old_path} does not exist at the base revision",
                    reason="PATCH_DOES_NOT_APPLY",
                    path=fp.old_path,
                )
            base = current.decode("utf-8", "surrogateescape")
        new_text = _apply_file(base, fp)
        if fp.new_path is None:
            result[fp.old_path or ""] = None
            continue
        if fp.old_path is not None and fp.old_path != fp.new_path:
            result[fp.old_path] = None
        result[fp.new_path] = new_text.encode("utf-8", "surrogateescape")
    return result


def patch_changes(patch: str, read: Callable[[str], vcs.FileContent | None]) -> list[vcs.Change]:
    """The change set that lands ``patch`` on the revision ``read`` reads from (for :meth:`trellis.vcs.Store.commit`)."""
    files = {fp.new_path: fp for fp in parse_patch(patch) if fp.new_path is not None}
    contents: dict[str, vcs.FileContent | None] = {}

    def read_bytes(path: str) -> bytes | None:
        if path not in contents:
            contents[path] = read(path)
        found = contents[path]
        return None if found is None else found.content

    changes: list[vcs.Change] = []
    for path, content in sorted(apply_patch(patch, read_bytes).items()):
        if content is None:
            changes.append(vcs.DeleteFile(path))
            continue
        fp = files.get(path)
        executable = False
        if fp is not None and fp.new_mode is not None:
            executable = fp.new_mode == _EXECUTABLE
        else:
            source = fp.old_path if fp is not None and fp.old_path else path
            before = contents.get(source) or (read(source) if source not in contents else None)
            executable = bool(before and before.executable)
        changes.append(vcs.PutFile(path, content, executable))
    return changes
