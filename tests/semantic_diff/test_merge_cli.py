"""``trellis merge-file``: git merge-file's contract (exit status, -p, -L, errors), ``--json``, and the
command as a git merge driver inside a real ``git merge``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE = b"def f(x):\n    return x + 1\n"
OURS = BASE + b"\n\ndef ours():\n    return 'ours'\n"
THEIRS = BASE + b"\n\ndef theirs():\n    return 'theirs'\n"
MERGED = BASE + b"\n\ndef ours():\n    return 'ours'\n\n\ndef theirs():\n    return 'theirs'\n"

# git must not pick up the user's configuration.
GIT_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "LC_ALL": "C",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def merge_file(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "trellis", "merge-file", *args], cwd=cwd, capture_output=True, timeout=120
    )


def write(tmp: Path, current: bytes, base: bytes, other: bytes) -> None:
    (tmp / "cur.py").write_bytes(current)
    (tmp / "base.py").write_bytes(base)
    (tmp / "other.py").write_bytes(other)


def test_clean_merge_writes_current_and_exits_0(tmp_path: Path) -> None:
    write(tmp_path, OURS, BASE, THEIRS)
    done = merge_file("cur.py", "base.py", "other.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cur.py").read_bytes() == MERGED and done.stdout == b""


def test_conflicts_exit_with_their_number_and_markers_named_like_git(tmp_path: Path) -> None:
    base = BASE + b"\n\ndef g():\n    return 2\n"
    write(
        tmp_path,
        base.replace(b"+ 1", b"+ 10").replace(b"2\n", b"20\n"),
        base,
        base.replace(b"+ 1", b"+ 11").replace(b"2\n", b"21\n"),
    )
    done = merge_file("-p", "cur.py", "base.py", "other.py", cwd=tmp_path)
    assert done.returncode == 2
    assert b"<<<<<<< cur.py\n" in done.stdout and b"||||||| base.py\n" in done.stdout
    assert b">>>>>>> other.py\n" in done.stdout
    assert b"2 conflict(s) in cur.py: function cur.f, function cur.g" in done.stderr
    labelled = merge_file(
        "-p", "-q", "-L", "mine", "-L", "old", "-L", "yours", "cur.py", "base.py", "other.py", cwd=tmp_path
    )
    assert labelled.returncode == 2 and labelled.stderr == b""
    assert b"<<<<<<< mine\n" in labelled.stdout and b"||||||| old\n" in labelled.stdout
    assert b">>>>>>> yours\n" in labelled.stdout


def test_p_prints_and_leaves_current_alone(tmp_path: Path) -> None:
    write(tmp_path, OURS, BASE, THEIRS)
    done = merge_file("-p", "cur.py", "base.py", "other.py", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == MERGED
    assert (tmp_path / "cur.py").read_bytes() == OURS


def test_json_reports_the_conflicts_as_data(tmp_path: Path) -> None:
    write(tmp_path, BASE.replace(b"+ 1", b"+ 2"), BASE, BASE.replace(b"+ 1", b"+ 3"))
    done = merge_file("--json", "--path", "pkg/calc.py", "cur.py", "base.py", "other.py", cwd=tmp_path)
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert (data["clean"], data["strategy"], data["language"]) == (False, "structured", "python")
    (c,) = data["conflicts"]
    assert (c["qualname"], c["kind"], c["left"], c["right"]) == (
        "pkg.calc.f",
        "function",
        "def f(x):\n    return x + 2",
        "def f(x):\n    return x + 3",
    )
    assert b"<<<<<<<" in (tmp_path / "cur.py").read_bytes() and "content" not in data
    with_content = merge_file("--json", "-p", "cur.py", "base.py", "other.py", cwd=tmp_path)
    assert "<<<<<<<" in json.loads(with_content.stdout)["content"]


@pytest.mark.parametrize(
    "args, message",
    [
        (("cur.py", "missing.py", "other.py"), b"cannot read missing.py"),
        (("-L", "a", "-L", "b", "-L", "c", "-L", "d", "cur.py", "base.py", "other.py"), b"at most three -L labels"),
    ],
)
def test_errors_exit_255_and_write_nothing(tmp_path: Path, args: tuple[str, ...], message: bytes) -> None:
    write(tmp_path, OURS, BASE, THEIRS)
    done = merge_file(*args, cwd=tmp_path)
    assert done.returncode == 255 and message in done.stderr
    assert (tmp_path / "cur.py").read_bytes() == OURS


# --- as a git merge driver ----------------------------------------------------------------------


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {done.stderr}")
    return done


def two_branches(repo: Path, base: bytes, ours: bytes, theirs: bytes, driver: str | None) -> None:
    """main (ours) and feature (theirs) forked from base, on calc.py."""
    git(repo, "init", "-q", "-b", "main")
    if driver is not None:
        git(repo, "config", "merge.trellis.name", "Trellis structured merge")
        git(repo, "config", "merge.trellis.driver", driver)
        (repo / ".gitattributes").write_text("*.py merge=trellis\n")
    (repo / "calc.py").write_bytes(base)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "calc.py").write_bytes(theirs)
    git(repo, "commit", "-q", "-am", "theirs")
    git(repo, "checkout", "-q", "main")
    (repo / "calc.py").write_bytes(ours)
    git(repo, "commit", "-q", "-am", "ours")


DRIVER = f"{sys.executable} -m trellis merge-file %A %O %B"


def test_git_merge_driver_merges_what_git_cannot(tmp_path: Path) -> None:
    plain, driven = tmp_path / "plain", tmp_path / "driven"
    plain.mkdir()
    driven.mkdir()
    two_branches(plain, BASE, OURS, THEIRS, driver=None)
    assert git(plain, "merge", "-q", "feature", "-m", "merge", check=False).returncode != 0  # git alone conflicts
    two_branches(driven, BASE, OURS, THEIRS, driver=DRIVER)
    done = git(driven, "merge", "-q", "feature", "-m", "merge", check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (driven / "calc.py").read_bytes() == MERGED
    assert git(driven, "status", "--porcelain").stdout == ""


def test_git_merge_driver_leaves_real_conflicts_to_the_user(tmp_path: Path) -> None:
    ours, theirs = BASE.replace(b"+ 1", b"+ 2"), BASE.replace(b"+ 1", b"+ 3")
    two_branches(tmp_path, BASE, ours, theirs, driver=f"{sys.executable} -m trellis merge-file --path %P %A %O %B")
    done = git(tmp_path, "merge", "feature", "-m", "merge", check=False)
    assert done.returncode != 0 and "CONFLICT" in done.stdout
    assert git(tmp_path, "diff", "--name-only", "--diff-filter=U").stdout.split() == ["calc.py"]
    text = (tmp_path / "calc.py").read_bytes()
    assert text == (
        b"def f(x):\n<<<<<<< ours\n    return x + 2\n||||||| base\n    return x + 1\n=======\n"
        b"    return x + 3\n>>>>>>> theirs\n"
    )
