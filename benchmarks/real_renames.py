"""Renames and moves in a real project's history: what the semantic diff reports, against hand labels.

``bench_semantic_diff.py --repo PATH`` runs :func:`trellis.semantic_diff.diff_files` over every
non-merge commit of a git repository (or bundle) that changes Python files, and lists the renames and
moves of classes, functions and methods it reports (members that follow their class aside, as in
``refactorings.reported``). It also lists *candidates*: an entity removed and one of the same kind
added in one commit whose bodies are alike (token similarity >= 0.5) or whose name appears in the
commit message, so that a rename the diff missed shows up for a human to judge.

With ``--labels FILE`` (JSON: ``{"<commit>:<old qualname>-><new qualname>": true | false}``) it
prints precision (reported renames labelled true / all labelled reported ones) and recall (labelled
true ones that were reported / all labelled true ones, candidates included). Unlabelled entries are
printed so they can be labelled; they count in neither figure.
"""

from __future__ import annotations

import difflib
import json
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from trellis.semantic_diff import ParseCache, diff_files

KINDS = ("renamed", "moved", "moved_renamed")


@dataclass(frozen=True)
class Found:
    commit: str
    subject: str
    change: str  # renamed | moved | moved_renamed | candidate
    kind: str
    old: str  # old path:qualname
    new: str

    @property
    def key(self) -> str:
        return f"{self.commit[:10]}:{self.old}->{self.new}"


def _git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True).stdout


def clone(source: str, into: Path) -> Path:
    subprocess.run(["git", "clone", "-q", source, str(into)], check=True)
    return into


def commits(repo: Path, limit: int) -> list[tuple[str, str]]:
    refs = _git(repo, "for-each-ref", "--format=%(refname)", "refs/remotes/origin/").decode().split()
    tip = next((r for r in refs if not r.endswith("/HEAD")), "HEAD")  # a bundle's HEAD may name no branch
    out = _git(repo, "log", "--no-merges", "--format=%H%x00%s", f"-n{limit}", tip).decode()
    return [tuple(line.split("\0", 1)) for line in out.splitlines() if line]  # type: ignore[misc]


def _changed(repo: Path, commit: str) -> tuple[dict[str, bytes], dict[str, bytes]]:
    out = _git(
        repo, "diff-tree", "-r", "--no-renames", "--root", "-z", f"{commit}^!" if _has_parent(repo, commit) else commit
    )
    fields = out.split(b"\0")
    old: dict[str, bytes] = {}
    new: dict[str, bytes] = {}
    i = 0
    while i + 1 < len(fields):
        meta, path = fields[i].decode(), fields[i + 1].decode()
        i += 2
        if not meta.startswith(":"):
            continue
        _, _, old_id, new_id, status = meta[1:].split(" ")
        if not path.endswith(".py"):
            continue
        if status != "A":
            old[path] = _git(repo, "cat-file", "blob", old_id)
        if status != "D":
            new[path] = _git(repo, "cat-file", "blob", new_id)
    return old, new


def _has_parent(repo: Path, commit: str) -> bool:
    return len(_git(repo, "rev-list", "--parents", "-n1", commit).split()) > 1


def _candidates(commit: str, subject: str, result, old: dict[str, bytes], new: dict[str, bytes]) -> Iterator[Found]:  # type: ignore[no-untyped-def]
    removed = [c for c in result.changes if c.change == "removed" and c.kind not in ("module", "constructor")]
    added = [c for c in result.changes if c.change == "added" and c.kind not in ("module", "constructor")]

    def text(files: dict[str, bytes], path: str, start: int, end: int) -> list[str]:
        return files[path].decode(errors="replace").splitlines()[start - 1 : end][1:]  # the body: no def line

    scored = []
    for r in removed:
        rt = text(old, r.old_path or r.path, r.old_start_line, r.old_end_line)
        for a in added:
            if a.kind != r.kind:
                continue
            at = text(new, a.path, a.new_start_line, a.new_end_line)
            ratio = difflib.SequenceMatcher(None, rt, at, autojunk=False).ratio() if rt and at else 0.0
            named = r.old_qualname.rsplit(".", 1)[-1] in subject and a.qualname.rsplit(".", 1)[-1] in subject
            if ratio >= 0.5 or named:
                scored.append((-ratio, r.old_path or r.path, r.old_qualname or r.qualname, a.path, a.qualname, r.kind))
    used_old: set[tuple[str, str]] = set()
    used_new: set[tuple[str, str]] = set()
    for _, op, oq, np_, nq, kind in sorted(scored):  # best pairs first, each entity in one pair
        if (op, oq) in used_old or (np_, nq) in used_new:
            continue
        used_old.add((op, oq))
        used_new.add((np_, nq))
        yield Found(commit, subject, "candidate", kind, f"{op}:{oq}", f"{np_}:{nq}")


def scan(repo: Path, limit: int) -> list[Found]:
    cache = ParseCache()
    found: list[Found] = []
    for commit, subject in commits(repo, limit):
        old, new = _changed(repo, commit)
        if not old and not new:
            continue
        result = diff_files(old, new, cache=cache)
        for c in result.changes:
            if c.change in KINDS and c.kind not in ("module", "constructor"):
                found.append(
                    Found(commit, subject, c.change, c.kind, f"{c.old_path}:{c.old_qualname}", f"{c.path}:{c.qualname}")
                )
        found.extend(_candidates(commit, subject, result, old, new))
    unique: dict[str, Found] = {}
    for f in found:  # an entity defined twice under one name (if/else branches) pairs twice: once is enough
        unique.setdefault(f.key, f)
    return list(unique.values())


def report(source: str, limit: int, labels_path: str | None) -> int:
    labels: dict[str, bool] = json.loads(Path(labels_path).read_text()) if labels_path else {}
    with tempfile.TemporaryDirectory() as tmp:
        found = scan(clone(source, Path(tmp) / "repo"), limit)
    reported = [f for f in found if f.change in KINDS]
    candidates = [f for f in found if f.change == "candidate"]
    tp = sum(1 for f in reported if labels.get(f.key) is True)
    fp = sum(1 for f in reported if labels.get(f.key) is False)
    fn = sum(1 for f in candidates if labels.get(f.key) is True)
    unlabelled = [f for f in found if f.key not in labels]
    print(f"### Renames and moves in a real history: {Path(source).name}, last {limit} non-merge commits\n")
    print(f"- reported renames/moves: {len(reported)} ({tp} right, {fp} wrong by the labels)")
    print(f"- candidates not reported (removed + added alike): {len(candidates)} ({fn} labelled as missed renames)")
    if tp + fp:
        print(f"- precision {tp / (tp + fp):.2f}" + (f", recall {tp / (tp + fn):.2f}" if tp + fn else ""))
    if unlabelled:
        print(f"\nUnlabelled ({len(unlabelled)}):\n")
        for f in unlabelled:
            print(f'  "{f.key}": ?,   # {f.change} {f.kind} | {f.subject[:70]}')
    return 0
