"""Mine real three-way merge scenarios from git histories, for ``bench_merge.py --corpus``.

For every two-parent merge commit of the given repositories (or bundles), each file that both parents
changed since their merge base, with different results, becomes a scenario: Base (the merge base's
version), Left (the first parent's: CURRENT, the branch merged into), Right (the second parent's: OTHER)
and Expected (what the maintainers committed). Only files of the formats the benchmark reports
(Python, JavaScript, TypeScript, Go, Rust, Java, JSON, YAML, TOML) are kept. The output folder has the
layout of ``../shared/data/merge-scenarios`` (``index.jsonl``, ``LANGUAGE/ID/{Base,Left,Right,Expected}.EXT``)::

    python benchmarks/mine_merges.py ../shared/data/repos/*.bundle --out /tmp/history-merges
    python benchmarks/bench_merge.py --corpus /tmp/history-merges
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path, PurePosixPath

LANGUAGES = {
    ".py": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".json": "json",
    ".yml": "yaml",
    ".yaml": "yaml",
    ".toml": "toml",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repos", nargs="+", type=Path, help="git repositories or bundles")
    parser.add_argument("--out", type=Path, required=True, help="the corpus folder to write (must not exist)")
    args = parser.parse_args()
    args.out.mkdir(parents=True)
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="mine-merges-") as tmp:
        for repo in args.repos:
            if repo.is_file():  # a bundle
                clone = Path(tmp) / repo.stem
                subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(clone)], check=True)
                repo = clone
            rows.extend(mine(repo, args.out, repo.stem if repo.suffix else repo.name))
    with (args.out / "index.jsonl").open("w") as index:
        for row in rows:
            index.write(json.dumps(row) + "\n")
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row["language"])] = counts.get(str(row["language"]), 0) + 1
    print(json.dumps({"scenarios": len(rows), "per_language": counts}))
    return 0


def mine(repo: Path, out: Path, name: str) -> list[dict[str, object]]:
    def git(*args: str) -> bytes:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True).stdout

    rows: list[dict[str, object]] = []
    for line in git("rev-list", "--merges", "--parents", "--all").decode().splitlines():
        merge, *parents = line.split()
        if len(parents) != 2:
            continue
        left, right = parents
        try:
            base = git("merge-base", left, right).decode().strip()
        except subprocess.CalledProcessError:
            continue  # unrelated histories
        changed_left = set(git("diff", "--name-only", "--no-renames", base, left).decode().splitlines())
        changed_right = set(git("diff", "--name-only", "--no-renames", base, right).decode().splitlines())
        for number, path in enumerate(sorted(changed_left & changed_right), start=1):
            language = LANGUAGES.get(PurePosixPath(path).suffix)
            if language is None:
                continue
            try:
                versions = {
                    k: git("show", f"{c}:{path}") for k, c in (("Base", base), ("Left", left), ("Right", right))
                }
                versions["Expected"] = git("show", f"{merge}:{path}")
            except subprocess.CalledProcessError:
                continue  # added or deleted on a side: not a three-way file merge
            if versions["Left"] == versions["Right"]:
                continue
            scenario = f"{name}__{merge[:10]}__{number}"
            folder = out / language / scenario
            folder.mkdir(parents=True)
            for kind, content in versions.items():
                (folder / f"{kind}{PurePosixPath(path).suffix}").write_bytes(content)
            rows.append(
                {
                    "id": scenario,
                    "language": language,
                    "repository": name,
                    "merge_commit": merge,
                    "left_commit": left,
                    "right_commit": right,
                    "base_commit": base,
                    "path": path,
                }
            )
    return rows


if __name__ == "__main__":
    sys.exit(main())
