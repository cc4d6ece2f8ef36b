"""Semantic diffs through the server: Diff RPC, Commit(wait_for_diff), the background differ, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from trellis import Client, vcs
from trellis.server import RunningServer
from trellis.v1 import diffs_pb2, diffs_pb2_grpc

from ..semantic_diff.fixtures import big_tree

MODELS_V1 = b"class User:\n    def save(self):\n        return 1\n\n\ndef parse(text):\n    a, op, b = text.split()\n    return float(a), op, float(b)\n"
MODELS_V2 = b"class User:\n    def save(self, force=False):\n        return 2\n"
UTIL_V2 = b"def parse_args(text):\n    a, op, b = text.split()\n    return float(a), op, float(b)\n"


def _seed(client: Client) -> tuple[str, str]:
    client.create_repository("app")
    first = client.commit("app", "main", {"app/models.py": MODELS_V1}, "models").commit.commit_id
    second = client.commit("app", "main", {"app/models.py": MODELS_V2, "app/util.py": UTIL_V2}, "refactor")
    return first, second.commit.commit_id


def _by_change(result: object) -> dict[str, list[tuple[str, str]]]:
    changes: dict[str, list[tuple[str, str]]] = {}
    for c in result.changes:  # type: ignore[attr-defined]
        changes.setdefault(c.change, []).append((c.old_qualname, c.qualname))
    return changes


def test_diff_rpc_between_revisions_finds_signature_change_and_cross_file_move(client: Client) -> None:
    first, second = _seed(client)
    diff = client.diff("app", second, first)
    changes = _by_change(diff.result)
    assert ("app.models.User.save", "app.models.User.save") in changes["modified"]
    assert changes["moved_renamed"] == [("app.models.parse", "app.util.parse_args")]
    save = next(c for c in diff.result.changes if c.qualname == "app.models.User.save")
    assert "signature" in save.details and "parameters_added:force" in save.details
    assert [f.path for f in diff.result.files] == ["app/models.py", "app/util.py"]
    # Default old revision = the first parent; same answer, deterministic.
    assert client.diff("app", "main").result == diff.result


def test_diff_with_line_diff_and_path_filter(client: Client) -> None:
    _, second = _seed(client)
    diff = client.diff("app", second, paths=["app/util.py"], line_diff=True)
    assert [f.path for f in diff.result.files] == ["app/util.py"]
    assert b"+def parse_args(text):" in diff.line_diffs["app/util.py"]


def test_line_diffs_come_only_with_include_line_diff(client: Client) -> None:
    client.create_repository("ld")
    client.commit("ld", "main", {"notes.txt": "a\n", "blob.bin": b"\x00\x01a", "m.py": "x = 1\n"}, "one")
    client.commit("ld", "main", {"notes.txt": "b\n", "blob.bin": b"\x00\x01b", "m.py": "x = 2\n"}, "two")
    plain = client.diff("ld", "main")
    assert {f.path: f.fallback_reason for f in plain.result.files} == {
        "blob.bin": "binary",
        "m.py": "",
        "notes.txt": "unsupported_language",
    }
    assert plain.line_diffs == {}  # not even for the files that fell back to line level
    full = client.diff("ld", "main", line_diff=True)
    assert b"-a\n+b\n" in full.line_diffs["notes.txt"] and b"-x = 1\n+x = 2\n" in full.line_diffs["m.py"]
    assert b"Binary files a/blob.bin and b/blob.bin differ" in full.line_diffs["blob.bin"]


LATIN1_V1 = "# caf\u00e9\nname = 'Jos\u00e9'\n".encode("latin-1")
LATIN1_V2 = "# caf\u00e9\nname = 'Ren\u00e9e'\n".encode("latin-1")


def test_line_diffs_carry_content_that_is_not_utf8_byte_for_byte(
    client: Client, tmp_path: Path, server: RunningServer
) -> None:
    client.create_repository("enc")
    client.commit("enc", "main", {"names.txt": LATIN1_V1, "shift_jis.txt": "\u65e5\u672c\n".encode("shift_jis")}, "one")
    client.commit("enc", "main", {"names.txt": LATIN1_V2, "shift_jis.txt": "\u8a9e\n".encode("shift_jis")}, "two")
    diff = client.diff("enc", "main", line_diff=True)
    assert b"-name = 'Jos\xe9'\n+name = 'Ren\xe9e'\n" in diff.line_diffs["names.txt"]  # no U+FFFD
    assert (
        b"-" + "\u65e5\u672c".encode("shift_jis") + b"\n+" + "\u8a9e".encode("shift_jis")
        in diff.line_diffs["shift_jis.txt"]
    )
    assert all(b"\xef\xbf\xbd" not in d for d in diff.line_diffs.values())
    # The CLI prints the same bytes (as git diff does), not a re-encoded copy.
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "trellis",
            "diff",
            "enc",
            "main",
            "--lines",
            "--path",
            "names.txt",
            "--server",
            server.address,
        ],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert shown.returncode == 0, shown.stderr
    assert b"+name = 'Ren\xe9e'\n" in shown.stdout and b"names.txt (modified" in shown.stdout


def test_a_new_repository_holds_its_empty_initial_commit(client: Client) -> None:
    repo = client.create_repository("fresh")
    initial = client.get_commit("fresh", repo.head_commit_id)
    assert (initial.parent_ids, initial.author.name) == ((), "alice")
    assert initial.tree_id == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's empty tree
    assert client.get_branch("fresh", "main").head_commit_id == repo.head_commit_id
    # A diff from "its parent" compares with the empty tree: nothing changed.
    assert client.diff("fresh", repo.head_commit_id).result.files == ()
    first = client.commit("fresh", "main", {"a.py": "x = 1\n"}, "first")
    assert first.commit.parent_ids == (repo.head_commit_id,)


def test_commit_can_wait_for_its_diff(client: Client) -> None:
    client.create_repository("w")
    reply = client.commit("w", "main", {"m.py": b"def f(a):\n    return a\n"}, "add", wait_for_diff=True)
    assert reply.diff is not None
    assert [(c.change, c.kind, c.qualname) for c in reply.diff.changes if c.kind == "function"] == [
        ("added", "function", "m.f")
    ]
    plain = client.commit("w", "main", {"m.py": b"def f(a):\n    return a + 1\n"}, "edit")
    assert plain.diff is None  # computed in the background instead


def test_every_commit_is_diffed_in_the_background(server: RunningServer, client: Client) -> None:
    _seed(client)
    assert server.index.wait_idle(60)
    assert server.differ.cache.stats().entries > 0  # the indexer parsed and cached both sides
    rows = client.query_rows("SELECT old_qualname, qualname FROM entity_changes WHERE change = 'moved_renamed'")
    assert rows == [{"old_qualname": "app.models.parse", "qualname": "app.util.parse_args"}]


def test_diff_errors(client: Client, channel: grpc.Channel) -> None:
    _seed(client)
    with pytest.raises(vcs.NotFound) as missing:
        client.diff("app", "no-such-branch")
    assert missing.value.reason == "REVISION_NOT_FOUND"
    with pytest.raises(vcs.InvalidArgument) as bad:
        client.diff("app", "main", paths=["../etc"])
    assert bad.value.reason == "INVALID_PATH"
    stub = diffs_pb2_grpc.DiffServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raw:
        stub.Diff(diffs_pb2.DiffRequest(parent="repos/app", new_revision="main"))
    assert raw.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _cli(*args: str, cwd: Path, env_data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trellis", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "TRELLIS_DATA": str(env_data), "HOME": str(cwd)},
    )


def test_cli_diff_on_plain_directories_and_files(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    (tmp_path / "old" / "models.py").write_bytes(MODELS_V1)
    (tmp_path / "new" / "models.py").write_bytes(MODELS_V2)
    (tmp_path / "new" / "util.py").write_bytes(UTIL_V2)
    human = _cli("diff", "old", "new", cwd=tmp_path, env_data=tmp_path / "none")
    assert human.returncode == 0, human.stderr
    assert "~ modified method models.User.save (signature, parameters_added:force, body)" in human.stdout
    assert "→ moved and renamed function models.parse → util.parse_args" in human.stdout
    as_json = _cli("diff", "old/models.py", "new/models.py", "--json", cwd=tmp_path, env_data=tmp_path / "none")
    assert as_json.returncode == 0, as_json.stderr
    changes = json.loads(as_json.stdout)
    assert {"path", "old_path", "kind", "qualname", "old_qualname", "change", "details"} <= set(changes[0])
    assert {c["change"] for c in changes} == {"modified", "removed"}
    assert not (tmp_path / "none").exists()  # no server, no data directory


def test_cli_diff_of_two_large_directories_is_the_same_in_several_processes(tmp_path: Path) -> None:
    for side, variant in (("old", 0), ("new", 1)):
        for rel, content in big_tree(variant).items():
            (tmp_path / side / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / side / rel).write_bytes(content)
    outputs = []
    for workers in ("1", "2"):
        done = _cli("diff", "old", "new", "--json", "--workers", workers, cwd=tmp_path, env_data=tmp_path / "none")
        assert done.returncode == 0, done.stderr
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1] and len(outputs[0]) > 20
    assert _cli("diff", "old", "new", "--workers", "0", cwd=tmp_path, env_data=tmp_path / "none").returncode == 2


def test_cli_diff_on_repository_revisions(tmp_path: Path, server: RunningServer, client: Client) -> None:
    first, second = _seed(client)
    data_dir = server.store.root
    result = _cli("diff", "app", first, second, "--json", cwd=tmp_path, env_data=data_dir)
    assert result.returncode == 0, result.stderr
    assert any(c["change"] == "moved_renamed" for c in json.loads(result.stdout))


SHAPES_V1 = b"class Shape:\n    def area(self):\n        return 0\n\n    def name(self):\n        return 'shape'\n"
SHAPES_V2 = b"class Figure:\n    def area(self):\n        return 1\n\n    def name(self):\n        return 'shape'\n"


def test_members_of_a_renamed_class_carry_follows_over_rpc_and_cli(
    tmp_path: Path, server: RunningServer, client: Client
) -> None:
    client.create_repository("shapes")
    first = client.commit("shapes", "main", {"shapes.py": SHAPES_V1}, "one").commit.commit_id
    second = client.commit("shapes", "main", {"shapes.py": SHAPES_V2}, "rename").commit.commit_id
    changes = {c.qualname: c for c in client.diff("shapes", second, first).result.changes}
    assert changes["shapes.Figure"].change == "renamed" and changes["shapes.Figure"].follows == ""
    assert (changes["shapes.Figure.area"].change, changes["shapes.Figure.area"].follows) == (
        "modified",
        "shapes.Figure",
    )
    assert "shapes.Figure.name" not in changes  # carried along, not a change of its own
    result = _cli("diff", "shapes", first, second, "--json", cwd=tmp_path, env_data=server.store.root)
    assert result.returncode == 0, result.stderr
    assert {c["qualname"]: c["follows"] for c in json.loads(result.stdout)} == {
        "shapes.Figure": "",
        "shapes.Figure.area": "shapes.Figure",
    }
