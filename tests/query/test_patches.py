"""Applying unified diffs: the result equals what git made; bad patches fail clearly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from trellis import vcs
from trellis.query import PatchDoesNotApply, PatchError, apply_patch, parse_patch, patch_changes

from ..conftest import GIT_ENV

BEFORE = {
    "keep.txt": b"unchanged\n",
    "multi.py": b"".join(b"line %d\n" % i for i in range(1, 60)),
    "gone.txt": b"bye\n",
    "old_name.py": b"def f():\n    return 1\n" + b"# filler %d\n" * 0 + b"".join(b"# c%d\n" % i for i in range(10)),
    "tail.txt": b"no newline at the end",
    "script.sh": b"echo hi\n",
}
AFTER = {
    "keep.txt": b"unchanged\n",
    "multi.py": b"".join((b"LINE %d changed\n" % i if i in (3, 40) else b"line %d\n" % i) for i in range(1, 60))
    + b"appended\n",
    "new_name.py": b"def f():\n    return 2\n" + b"".join(b"# c%d\n" % i for i in range(10)),
    "tail.txt": b"still no newline, but different",
    "added/dir/new.txt": b"fresh\n",
    "script.sh": b"echo hi\n",
}


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True).stdout


def _git_diff(tmp_path: Path) -> str:
    work = tmp_path / "work"
    work.mkdir()
    _git(work, "init", "-q")
    for path, data in BEFORE.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(data)
    _git(work, "add", "-A")
    _git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    for path in BEFORE:
        if path not in AFTER:
            (work / path).unlink()
    for path, data in AFTER.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(data)
    (work / "script.sh").chmod(0o755)
    _git(work, "add", "-A")
    return _git(work, "diff", "--cached", "-M")


def test_applying_a_git_diff_gives_what_git_made(tmp_path: Path) -> None:
    patch = _git_diff(tmp_path)
    result = apply_patch(patch, BEFORE.get)
    expected = {p: AFTER.get(p) for p in set(BEFORE) | set(AFTER) if BEFORE.get(p) != AFTER.get(p)}
    expected["script.sh"] = AFTER["script.sh"]  # a mode change names the file with its content
    assert result == expected
    files = {fp.path: fp for fp in parse_patch(patch)}
    assert files["new_name.py"].old_path == "old_name.py"
    assert files["script.sh"].new_mode == 0o100755


def test_patch_changes_make_a_change_set(tmp_path: Path) -> None:
    patch = _git_diff(tmp_path)

    def read(path: str) -> vcs.FileContent | None:
        data = BEFORE.get(path)
        return None if data is None else vcs.FileContent(path, data, path == "multi.py", "0" * 40)

    changes = {getattr(c, "path", None): c for c in patch_changes(patch, read)}
    assert isinstance(changes["gone.txt"], vcs.DeleteFile)
    assert isinstance(changes["old_name.py"], vcs.DeleteFile)
    put = changes["new_name.py"]
    assert isinstance(put, vcs.PutFile) and put.content == AFTER["new_name.py"]
    multi = changes["multi.py"]
    assert isinstance(multi, vcs.PutFile) and multi.executable  # kept from the base file
    script = changes["script.sh"]
    assert isinstance(script, vcs.PutFile) and script.executable and script.content == b"echo hi\n"


def test_hunks_are_found_at_an_offset(tmp_path: Path) -> None:
    patch = _git_diff(tmp_path)
    shifted = dict(BEFORE, **{"multi.py": b"extra 1\nextra 2\n" + BEFORE["multi.py"]})
    result = apply_patch(patch, shifted.get)
    assert result["multi.py"] == b"extra 1\nextra 2\n" + AFTER["multi.py"]


def test_a_crlf_mangled_patch_still_applies(tmp_path: Path) -> None:
    patch = _git_diff(tmp_path).replace("\n", "\r\n")
    result = apply_patch(patch, BEFORE.get)
    assert result["multi.py"] == AFTER["multi.py"]


def test_a_patch_against_another_base_does_not_apply(tmp_path: Path) -> None:
    patch = _git_diff(tmp_path)
    other = dict(BEFORE, **{"multi.py": b"something else entirely\n"})
    with pytest.raises(PatchDoesNotApply) as caught:
        apply_patch(patch, other.get)
    assert caught.value.reason == "PATCH_DOES_NOT_APPLY" and "multi.py" in caught.value.message
    with pytest.raises(PatchDoesNotApply):
        apply_patch(patch, lambda path: None)


@pytest.mark.parametrize("patch", ["", "hello world\n", "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n-a\n"])
def test_malformed_patches_are_refused(patch: str) -> None:
    with pytest.raises(PatchError) as caught:
        apply_patch(patch, lambda path: b"a\nb\nc\n")
    assert caught.value.reason == "PATCH_INVALID"


def test_a_plain_unified_diff_applies() -> None:
    patch = "--- orig/x.txt\t2024-01-01\n+++ new/x.txt\t2024-01-02\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n"
    assert apply_patch(patch, {"x.txt": b"a\nb\n"}.get) == {"x.txt": b"a\nB\n"}


def test_a_plain_unified_diff_with_git_prefixes_applies() -> None:
    patch = "--- a/src/x.txt\n+++ b/src/x.txt\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n"
    assert apply_patch(patch, {"src/x.txt": b"a\nb\n"}.get) == {"src/x.txt": b"a\nB\n"}
