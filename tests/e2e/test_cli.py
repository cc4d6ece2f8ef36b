"""The ``trellis`` command line, run as real subprocesses against real data directories."""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import assert_fsck_clean, git, repo_path
from trellis import vcs
from trellis.cli.main import build_parser, main
from trellis.client import Client
from trellis.server import RunningServer


def cli(
    data_dir: Path, *args: str, extra_env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env.update({"TRELLIS_DATA": str(data_dir), "COLUMNS": "200", **(extra_env or {})})
    return subprocess.run(
        [sys.executable, "-m", "trellis", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def ok_json(result: subprocess.CompletedProcess[str]) -> object:
    return json.loads(ok(result))


def failed(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result.stderr


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A small project on disk to commit from."""
    root = tmp_path / "work"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "mod.py").write_text("VALUE = 1\n")
    (root / "src" / "main.py").write_text("print('hi')\n")
    script = root / "run.sh"
    script.write_text("#!/bin/sh\necho run\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return root


def test_in_process_workflow(data_dir: Path, work: Path) -> None:
    created = ok_json(cli(data_dir, "repo", "create", "demo", "--description", "cli demo", "--json"))
    assert created["repository_id"] == "demo" and created["description"] == "cli demo"
    assert repo_path(data_dir, "demo").is_dir()

    commit = ok_json(
        cli(
            data_dir,
            "commit",
            "demo",
            "main",
            "src",
            "run.sh",
            "--root",
            str(work),
            "-m",
            "Add project",
            "--expected-head",
            created["head_commit_id"],
            "--json",
        )
    )
    cid = commit["commit"]["commit_id"]
    assert commit["commit"]["parent_ids"] == [created["head_commit_id"]]
    assert commit["commit"]["author"]["name"] == "local"

    log = ok_json(cli(data_dir, "log", "demo", "--json"))
    assert [c["commit_id"] for c in log] == [cid, created["head_commit_id"]]
    assert log[0]["message"].startswith("Add project")
    assert ok_json(cli(data_dir, "log", "demo", "--path", "run.sh", "--json"))[0]["commit_id"] == cid
    assert "Add project" in ok(cli(data_dir, "log", "demo"))

    shown = ok_json(cli(data_dir, "show", "demo", "main", "--json"))
    assert shown["commit_id"] == cid and shown["trailers"] == {"Trellis-Agent": "local"}
    text = ok(cli(data_dir, "show", "demo"))
    assert f"commit {cid}" in text and "Trellis-Agent: local" in text

    assert ok(cli(data_dir, "cat", "demo", "src/pkg/mod.py")) == "VALUE = 1\n"
    assert ok(cli(data_dir, "cat", "demo", "src/pkg/mod.py", "--rev", cid)) == "VALUE = 1\n"
    entries = ok_json(cli(data_dir, "ls", "demo", "-r", "--json"))
    assert [e["path"] for e in entries] == ["run.sh", "src", "src/main.py", "src/pkg", "src/pkg/mod.py"]
    assert [e["executable"] for e in entries if e["path"] == "run.sh"] == [True]
    assert "src" in ok(cli(data_dir, "ls", "demo"))

    # delete and rename in one commit
    ok(
        cli(
            data_dir,
            "commit",
            "demo",
            "main",
            "--delete",
            "src/main.py",
            "--rename",
            "run.sh",
            "bin/run.sh",
            "-m",
            "Tidy",
        )
    )
    entries = ok_json(cli(data_dir, "ls", "demo", "-r", "--json"))
    assert [e["path"] for e in entries] == ["bin", "bin/run.sh", "src", "src/pkg", "src/pkg/mod.py"]

    # branches
    branch = ok_json(cli(data_dir, "branch", "create", "demo", "feature", "--from", cid, "--json"))
    assert branch == {"branch_id": "feature", "head_commit_id": cid}
    listed = ok_json(cli(data_dir, "branch", "list", "demo", "--json"))
    assert [b["branch_id"] for b in listed] == ["feature", "main"]
    assert ok_json(cli(data_dir, "branch", "show", "demo", "feature", "--json"))["head_commit_id"] == cid
    ok(cli(data_dir, "branch", "delete", "demo", "feature", "--expected-head", cid))
    assert [b["branch_id"] for b in ok_json(cli(data_dir, "branch", "list", "demo", "--json"))] == ["main"]

    assert [r["repository_id"] for r in ok_json(cli(data_dir, "repo", "list", "--json"))] == ["demo"]
    assert_fsck_clean(repo_path(data_dir, "demo"))


def test_sessions_from_the_cli(data_dir: Path, work: Path) -> None:
    ok(cli(data_dir, "repo", "create", "demo"))
    session = ok_json(
        cli(data_dir, "session", "start", "demo", "--model", "m1", "--task", "do it", "--agent", "carol", "--json")
    )
    sid = session["session_id"]
    assert session["agent"] == "carol" and session["branch_id"] == f"agents/carol/{sid}"
    assert session["status"] == "active"
    step = ok_json(
        cli(
            data_dir,
            "session",
            "step",
            "demo",
            sid,
            "--thought",
            "look around",
            "--action",
            "ls",
            "--arguments",
            '{"dir": "."}',
            "--observation",
            "2 files",
            "--input-tokens",
            "100",
            "--output-tokens",
            "7",
            "--cost",
            "0.5",
            "--agent",
            "carol",
            "--json",
        )
    )
    assert step["index"] == 1 and step["input"]["arguments_json"] == '{"dir": "."}'
    commit = ok_json(
        cli(
            data_dir,
            "commit",
            "demo",
            session["branch_id"],
            "src",
            "--root",
            str(work),
            "--session",
            sid,
            "-m",
            "Code",
            "--agent",
            "carol",
            "--json",
        )
    )
    assert commit["step"]["index"] == 2
    assert commit["commit"]["trailers"] == {"Trellis-Agent": "carol", "Trellis-Session": sid, "Trellis-Step": "2"}
    # Another agent may not touch carol's session.
    err = failed(cli(data_dir, "session", "step", "demo", sid, "--thought", "x", "--agent", "dave"))
    assert "error:" in err and "NOT_SESSION_OWNER" in err
    shown = ok_json(cli(data_dir, "session", "show", "demo", sid, "--json"))
    assert shown["session"]["step_count"] == 2 and shown["session"]["commit_count"] == 1
    assert shown["session"]["input_tokens"] == 100
    assert [s["index"] for s in shown["steps"]] == [1, 2]
    assert shown["steps"][1]["commit_id"] == commit["commit"]["commit_id"]
    assert "look around" in ok(cli(data_dir, "session", "show", "demo", sid))
    ended = ok_json(
        cli(
            data_dir,
            "session",
            "end",
            "demo",
            sid,
            "--status",
            "failed",
            "--outcome",
            "tests red",
            "--agent",
            "carol",
            "--json",
        )
    )
    assert ended["status"] == "failed" and ended["outcome"] == "tests red" and ended["end_time"]
    listed = ok_json(cli(data_dir, "session", "list", "demo", "--json"))
    assert [s["session_id"] for s in listed] == [sid]
    assert ok_json(cli(data_dir, "session", "list", "demo", "--by", "nobody", "--json")) == []
    err = failed(cli(data_dir, "session", "step", "demo", sid, "--thought", "late", "--agent", "carol"))
    assert "SESSION_ENDED" in err
    path = repo_path(data_dir, "demo")
    assert json.loads(git(path, "show", f"refs/trellis/sessions/{sid}:session.json"))["status"] == "failed"


def test_errors_print_a_message_and_exit_1(data_dir: Path, tmp_path: Path) -> None:
    ok(cli(data_dir, "repo", "create", "demo"))
    err = failed(cli(data_dir, "cat", "demo", "missing.txt"))
    assert err.startswith("error:") and "PATH_NOT_FOUND" in err and "missing.txt" in err
    err = failed(cli(data_dir, "repo", "create", "bad name"))
    assert "error:" in err and "INVALID_REPOSITORY_NAME" in err
    err = failed(cli(data_dir, "repo", "create", "demo"))
    assert "REPOSITORY_EXISTS" in err
    err = failed(cli(data_dir, "commit", "demo", "main", "nowhere.txt", "--root", str(tmp_path)))
    assert "does not exist" in err
    err = failed(cli(data_dir, "commit", "demo", "main", "--delete", "../etc/passwd"))
    assert "INVALID_PATH" in err
    err = failed(cli(data_dir, "log", "nope"))
    assert "REPOSITORY_NOT_FOUND" in err
    err = failed(cli(data_dir, "branch", "delete", "demo", "main"))
    assert "DEFAULT_BRANCH" in err
    # With --json the error is machine-readable on stderr.
    result = cli(data_dir, "cat", "demo", "missing.txt", "--json")
    failed(result)
    assert json.loads(result.stderr)["error"]["reason"] == "PATH_NOT_FOUND"
    # Destructive commands want confirmation; usage errors are argparse's exit 2.
    assert "--yes" in failed(cli(data_dir, "repo", "delete", "demo"), code=2)
    assert repo_path(data_dir, "demo").is_dir()
    failed(cli(data_dir, "repo"), code=2)
    failed(cli(data_dir, "no-such-command"), code=2)
    ok(cli(data_dir, "repo", "delete", "demo", "--yes"))
    assert not repo_path(data_dir, "demo").exists()


def _command_paths() -> Iterator[list[str]]:
    """Every command and subcommand of the parser, e.g. ['branch', 'create']."""

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> Iterator[list[str]]:
        yield prefix
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, [*prefix, name])

    return walk(build_parser(), [])


COMMANDS = list(_command_paths())


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "trellis" for p in COMMANDS])
def test_every_command_answers_help(path: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*path, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: trellis")
    assert "--help" in out


def test_command_tree_is_complete() -> None:
    names = {" ".join(p) for p in COMMANDS}
    assert {
        "serve",
        "demo",
        "repo create",
        "repo list",
        "repo show",
        "repo delete",
        "commit",
        "log",
        "show",
        "cat",
        "ls",
        "branch list",
        "branch create",
        "branch show",
        "branch delete",
        "session start",
        "session list",
        "session show",
        "session end",
        "session step",
        "token create",
        "token list",
        "token revoke",
    } <= names


def test_help_as_a_subprocess(data_dir: Path) -> None:
    assert "usage: trellis" in ok(cli(data_dir, "--help"))
    assert "usage: trellis session step" in ok(cli(data_dir, "session", "step", "--help"))


def test_cli_finds_the_running_server_through_the_data_dir(server: RunningServer, data_dir: Path, work: Path) -> None:
    # In-process mode would fail with DataDirBusy: the server holds the directory.
    created = ok_json(cli(data_dir, "repo", "create", "team", "--json"))
    with Client(server.address, agent="alice") as client:
        assert client.get_repository("team").head_commit_id == created["head_commit_id"]
        client.commit("team", "main", {"from-sdk.txt": "sdk"})
    assert ok(cli(data_dir, "cat", "team", "from-sdk.txt")) == "sdk"
    result = ok_json(cli(data_dir, "commit", "team", "main", "src", "--root", str(work), "--agent", "erin", "--json"))
    assert result["commit"]["author"]["name"] == "erin"
    # --server and TRELLIS_SERVER name a server explicitly (here: the same one, from another data dir).
    elsewhere = data_dir.parent / "elsewhere"
    assert ok_json(cli(elsewhere, "--server", server.address, "repo", "list", "--json"))[0]["repository_id"] == ("team")
    listed = ok_json(cli(elsewhere, "repo", "list", "--json", extra_env={"TRELLIS_SERVER": server.address}))
    assert [r["repository_id"] for r in listed] == ["team"]
    assert not (elsewhere / "repos").exists()


def test_tokens_from_the_cli(server: RunningServer, data_dir: Path) -> None:
    ok(cli(data_dir, "repo", "create", "demo"))
    made = ok_json(cli(data_dir, "token", "create", "bot", "--description", "ci", "--json"))
    assert made["agent"] == "bot" and made["token"].startswith(f"trellis_{made['token_id']}_")
    listed = ok_json(cli(data_dir, "token", "list", "--json"))
    assert [(t["token_id"], t["agent"], t["revoked"], t["description"]) for t in listed] == [
        (made["token_id"], "bot", False, "ci")
    ]
    assert made["token"] not in (data_dir / "tokens.json").read_text()
    # The running server now requires the token.
    err = failed(cli(data_dir, "repo", "list"))
    assert "MISSING_TOKEN" in err
    repos = ok_json(cli(data_dir, "repo", "list", "--token", made["token"], "--json"))
    assert [r["repository_id"] for r in repos] == ["demo"]
    commit = ok_json(
        cli(
            data_dir,
            "session",
            "start",
            "demo",
            "--json",
            "--agent",
            "mallory",
            extra_env={"TRELLIS_TOKEN": made["token"]},
        )
    )
    assert commit["agent"] == "bot"
    revoked = ok_json(cli(data_dir, "token", "revoke", made["token_id"], "--json"))
    assert revoked == {"token_id": made["token_id"], "revoked": True}
    assert ok_json(cli(data_dir, "token", "list", "--json"))[0]["revoked"] is True
    failed(cli(data_dir, "token", "revoke", "nope"))
    # Text output shows the token once and the id in the note.
    text = cli(data_dir, "token", "create", "bot2")
    assert ok(text).strip().startswith("trellis_") and "shown once" in text.stderr


def test_demo_reports_its_commits_and_leaves_valid_git(tmp_path: Path) -> None:
    demo_dir = tmp_path / "demo-data"
    report = ok_json(
        cli(tmp_path / "unused", "demo", "--agents", "2", "--commits", "5", "--data-dir", str(demo_dir), "--json")
    )
    # 2 agents x 5 commits, plus the syntax error agent-2 pushes (and then fixes) to show a failed verdict.
    assert report["commits"] == 11
    assert report["data_dir"] == str(demo_dir)
    assert len(report["agents"]) == 2
    commits = {a["agent"]: a["commits"] for a in report["agents"]}
    assert commits == {"agent-1": 5, "agent-2": 6}
    assert all(a["steps"] >= 5 for a in report["agents"])
    path = repo_path(demo_dir, report["repository"])
    assert_fsck_clean(path)
    for agent in report["agents"]:
        record = json.loads(git(path, "show", f"refs/trellis/sessions/{agent['session_id']}:session.json"))
        assert record["status"] == "succeeded" and record["commit_count"] == commits[agent["agent"]]
    # Every branch head passed its pipeline; the branches merged into main, the second one structurally
    # (both appended to calc/ops.py: a line merge refuses), and main passed too.
    assert set(report["verdicts"].values()) == {"passed"}
    assert [strategy for _, strategy in report["merges"]["merged"]] == ["fast_forward", "structured"]
    assert len(report["merges"]["line_merge_refused"]) == 1 and report["merges"]["main_verdict"] == "passed"
    # The SQL answer agrees with the branch diffs (agent-2's syntax error and its fix included), and its
    # first/last columns follow time, not names: f4 came last, after f3 and test_f3 (f10 would sort before f2).
    added = {
        a["agent"]: sum(1 for c in a["entity_changes"] if c["change"] == "added" and c["kind"] == "function")
        for a in report["agents"]
    }
    functions = {row["agent"]: row for row in report["sql"][1]["rows"]}
    assert {agent: row["functions_added"] for agent, row in functions.items()} == added
    assert [(row["first"], row["last"]) for row in functions.values()] == [
        ("calc.agent1.f0", "calc.agent1.f4"),
        ("calc.agent2.f0", "calc.agent2.f4"),
    ]
    assert not (tmp_path / "unused").exists()
    # The kept data directory is explorable with the CLI afterwards.
    sessions = ok_json(cli(demo_dir, "session", "list", report["repository"], "--json"))
    assert len(sessions) == 2


def test_demo_rejects_nonsense_counts(tmp_path: Path) -> None:
    assert "at least 1" in failed(cli(tmp_path, "demo", "--agents", "0", "--data-dir", str(tmp_path / "d")), code=2)


def test_cli_and_sdk_agree_on_identity(data_dir: Path) -> None:
    ok(cli(data_dir, "repo", "create", "demo", "--agent", "zed"))
    commit = ok_json(cli(data_dir, "show", "demo", "--json"))
    assert commit["author"]["name"] == "zed"
    assert vcs.Identity("zed").email == commit["author"]["email"]


def test_unreachable_server_is_a_clean_error(tmp_path: Path) -> None:
    err = failed(cli(tmp_path / "data", "--server", "127.0.0.1:1", "repo", "list"))
    assert err.startswith("error:") and "UNAVAILABLE" in err


def test_serve_on_a_busy_data_dir_is_a_clean_error(server: RunningServer, data_dir: Path) -> None:
    err = failed(cli(data_dir, "serve", "--listen", "127.0.0.1:0"))
    assert err.startswith("error:") and "in use" in err and server.address in err


def test_serve_refuses_a_public_address_without_tokens(tmp_path: Path) -> None:
    err = failed(cli(tmp_path / "data", "serve", "--listen", "0.0.0.0:0"))
    assert "error:" in err and "token" in err


def test_the_cli_names_the_index_file_as_the_server_does() -> None:
    from trellis import datadir
    from trellis.cli import index
    from trellis.indexing import INDEX_FILE

    assert index.INDEX_FILE == datadir.INDEX_FILE == INDEX_FILE


# -- verification and merge commands -----------------------------------------------------------

CHECKED = (
    '[stages.syntax]\nkind = "syntax"\n\n[stages.size]\nrun = "test -s {path}"\nneeds = ["syntax"]\nscope = "file"\n'
)


def test_verify_runs_watch_and_pipeline_commands(server: RunningServer, tmp_path: Path) -> None:
    at = ("--server", server.address)
    with Client(server.address, agent="alice") as client:
        client.create_repository("demo")
        client.commit("demo", "main", {"trellis.toml": CHECKED, "a.py": "a = 1\n"}, "pipeline")
    run = ok_json(cli(tmp_path, *at, "verify", "demo", "main", "--json"))
    assert run["verdict"] == "passed" and {j["stage"] for j in run["jobs"]} == {"syntax", "size"}
    assert ok_json(cli(tmp_path, *at, "watch", "demo", run["run_id"], "--json"))["run_id"] == run["run_id"]
    assert run["run_id"] in {r["run_id"] for r in ok_json(cli(tmp_path, *at, "runs", "demo", "--json"))}
    with Client(server.address, agent="alice") as client:
        client.commit("demo", "main", {"b.py": "def f(:\n"}, "broken")
    broken = failed(cli(tmp_path, *at, "verify", "demo", "main"))  # exit 1: the run did not pass
    assert "Traceback" not in broken
    assert ok_json(cli(tmp_path, *at, "pipeline", "show", "demo", "--json"))["stages"] == ["syntax", "size"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[stages.x]\nkind = "nope"\n')
    assert "stages.x.kind" in failed(cli(tmp_path, "pipeline", "check", str(bad)))
    good = tmp_path / "good.toml"
    good.write_text('[stages.only]\nrun = "true"\n')
    assert ok_json(cli(tmp_path, *at, "pipeline", "set", "demo", str(good), "--json"))["stages"] == ["only"]
    assert failed(cli(tmp_path, *at, "pipeline", "set", "demo", str(bad))).count("stages.x.kind") == 1
    ok(cli(tmp_path, *at, "pipeline", "set", "demo", "--remove"))
    assert ok_json(cli(tmp_path, *at, "pipeline", "show", "demo", "--json"))["source"] != "repository"


def test_review_commands_list_waiting_chunks_and_post_verdicts(server: RunningServer, tmp_path: Path) -> None:
    at = ("--server", server.address)
    with Client(server.address, agent="alice") as client:
        client.create_repository("demo")
        client.commit(
            "demo",
            "main",
            {"trellis.toml": '[stages.review]\nkind = "external"\nscope = "file"\n', "pay.py": "x = 1\n"},
            "needs a review",
        )
    waiting = [
        json.loads(line) for line in ok(cli(tmp_path, *at, "review", "pending", "demo", "--json")).splitlines()
    ]  # prints, exits
    chunks = {w["chunk"] for w in waiting}
    assert "pay.py" in chunks
    run_id = waiting[0]["run_id"]
    for chunk in chunks:
        posted = ok_json(
            cli(
                tmp_path,
                *at,
                "review",
                "post",
                "demo",
                run_id,
                "review",
                chunk,
                "--verdict",
                "passed",
                "--summary",
                "LGTM",
                "--json",
            )
        )
        assert posted["verdict"] == "passed"
    again = failed(cli(tmp_path, *at, "review", "post", "demo", run_id, "review", "pay.py", "--verdict", "failed"))
    assert "VERDICT_FINAL" in again
    assert ok_json(cli(tmp_path, *at, "watch", "demo", run_id, "--json"))["verdict"] == "passed"
    assert ok(cli(tmp_path, *at, "review", "pending", "demo", "--once")) == ""  # --once: still accepted


def test_merge_command_reports_conflicts_with_exit_1_and_merges_cleanly(server: RunningServer, tmp_path: Path) -> None:
    at = ("--server", server.address)
    with Client(server.address, agent="alice") as client:
        client.create_repository("demo")
        client.commit("demo", "main", {"app.py": "def f():\n    return 1\n"}, "base")
        client.create_branch("demo", "side", "main")
        client.commit("demo", "side", {"app.py": "def f():\n    return 2\n"}, "side")
        client.commit("demo", "main", {"app.py": "def f():\n    return 3\n"}, "main")
        client.create_branch("demo", "other", "main")
        client.commit("demo", "other", {"more.py": "y = 1\n"}, "other")
    conflict = cli(tmp_path, *at, "merge", "demo", "main", "side", "--json")
    assert conflict.returncode == 1, conflict.stderr
    report = json.loads(conflict.stdout)
    assert not report["clean"] and report["conflicts"][0]["qualname"] == "app.f"
    preview = ok_json(cli(tmp_path, *at, "merge", "demo", "main", "other", "--preview", "--json"))
    assert preview["clean"] and preview["commit"] is None
    merged = ok_json(cli(tmp_path, *at, "merge", "demo", "main", "other", "--json"))
    assert merged["clean"] and merged["strategy"] == "fast_forward" and merged["commit"]["commit_id"]


def test_a_scripts_mode_survives_edits_from_the_cli_and_the_sdk(
    server: RunningServer, data_dir: Path, work: Path
) -> None:
    ok(cli(data_dir, "repo", "create", "demo"))
    ok(cli(data_dir, "commit", "demo", "main", "run.sh", "--root", str(work), "-m", "Add a script"))

    def executable() -> bool:
        entries = ok_json(cli(data_dir, "ls", "demo", "--json"))
        return next(e["executable"] for e in entries if e["path"] == "run.sh")

    assert executable()
    with Client(server.address, agent="alice") as client:  # the SDK's {path: bytes} shorthand sets no mode
        client.commit("demo", "main", {"run.sh": b"#!/bin/sh\necho edited\n"}, "Edit through the SDK")
    assert executable() and ok(cli(data_dir, "cat", "demo", "run.sh")).endswith("edited\n")
    # The CLI commits what is on disk: the mode of the file there.
    (work / "run.sh").write_text("#!/bin/sh\necho from disk\n")
    ok(cli(data_dir, "commit", "demo", "main", "run.sh", "--root", str(work), "-m", "Edit on disk"))
    assert executable()
    (work / "run.sh").chmod(0o644)
    ok(cli(data_dir, "commit", "demo", "main", "run.sh", "--root", str(work), "-m", "chmod -x"))
    assert not executable()


# -- small CLI defects (issue 15) ----------------------------------------------------------------


def test_options_may_follow_positionals_as_in_git(data_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("A = 1\n")
    (src / "b.py").write_text("B = 2\n")
    ok(cli(data_dir, "repo", "create", "REPO"))
    ok(cli(data_dir, "commit", "REPO", "main", "--root", str(src), "a.py", "b.py", "-m", "msg"))
    assert [e["path"] for e in ok_json(cli(data_dir, "ls", "REPO", "--json"))] == ["a.py", "b.py"]
    assert ok_json(cli(data_dir, "log", "REPO", "--limit", "1", "--json"))[0]["message"].startswith("msg")
    # The same with the options in between and after, and for a command with an optional positional.
    ok(cli(data_dir, "commit", "REPO", "--root", str(src), "main", "-m", "again", "--delete", "b.py"))
    assert ok_json(cli(data_dir, "show", "REPO", "--json", "main"))["message"].startswith("again")


def test_diff_of_paths_that_do_not_exist_says_so(tmp_path: Path) -> None:
    err = failed(cli(tmp_path, "diff", "/nonexistent1", "/nonexistent2"), code=2)
    assert "/nonexistent1 and /nonexistent2: no such file or directory" in err
    assert "INVALID_RESOURCE_NAME" not in err
    (tmp_path / "old.py").write_text("x = 1\n")
    err = failed(cli(tmp_path, "diff", str(tmp_path / "old.py"), str(tmp_path / "new.py")), code=2)
    assert f"{tmp_path / 'new.py'}: no such file or directory" in err and "old.py:" not in err


def test_import_prints_readable_counts_and_json(tmp_path: Path) -> None:
    source = tmp_path / "project"
    source.mkdir()
    (source / "app.py").write_text("def f():\n    return 1\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "app.py"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one"],
    ):
        subprocess.run(["git", "-C", str(source), *args], check=True, capture_output=True, timeout=60)
    data = tmp_path / "data"  # import creates data: a new directory is fine
    text = ok(cli(data, "import", str(source), "--name", "project"))
    assert "SyncStats" not in text and "=" not in text
    assert f"imported {source} as project: 1 branch, 0 tags; indexed 1 commit, " in text
    assert "1 entity change" in text or "entity changes" in text
    again = ok_json(cli(data, "import", str(source), "--name", "project", "--json"))
    assert again["repository"] == "project" and again["resumed"] is True and again["stats"]["commits_added"] == 0
    assert "nothing new" in ok(cli(data, "import", str(source), "--name", "project"))


def test_serve_on_a_busy_port_is_one_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        err = failed(cli(tmp_path / "data", "serve", "--listen", address))
    assert err.startswith(f"error: cannot listen on {address}: the port is already in use")
    assert len(err.strip().splitlines()) == 1, err  # no gRPC log lines (add_port.cc, GRPC_VERBOSITY)
    assert "GRPC" not in err and ".cc" not in err


def test_a_reader_that_stops_early_is_not_an_error(data_dir: Path) -> None:
    ok(cli(data_dir, "repo", "create", "demo"))  # the data directory exists: query runs in-process
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env["TRELLIS_DATA"] = str(data_dir)
    with subprocess.Popen(
        [sys.executable, "-m", "trellis", "query", "--json", "--max-rows", "50000", "SELECT * FROM range(50000)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as process:  # as `trellis query ... | head -1`
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline().strip() == b"["
        process.stdout.close()
        err = process.stderr.read().decode()
        assert process.wait(timeout=120) in (0, 141)
    assert "Broken pipe" not in err and "Traceback" not in err and "error" not in err, err


@pytest.mark.parametrize(
    "command",
    [
        ["log", "demo"],
        ["repo", "list"],
        ["query", "SELECT 1"],
        ["check"],
        ["token", "list"],
        ["session", "list", "demo"],
    ],
)
def test_read_only_commands_refuse_a_data_dir_that_does_not_exist(tmp_path: Path, command: list[str]) -> None:
    typo = tmp_path / "dtaa"
    err = failed(cli(tmp_path, "--data-dir", str(typo), *command))
    assert err.startswith("error: data directory") and "does not exist" in err and str(typo) in err
    assert not typo.exists()


def test_commands_that_create_data_still_create_the_directory(tmp_path: Path) -> None:
    ok(cli(tmp_path, "--data-dir", str(tmp_path / "new"), "repo", "create", "demo"))
    assert repo_path(tmp_path / "new", "demo").is_dir()
    ok(cli(tmp_path, "--data-dir", str(tmp_path / "tokens"), "token", "create", "bot"))
    assert (tmp_path / "tokens" / "tokens.json").is_file()


def test_review_pending_follow_keeps_waiting(server: RunningServer, tmp_path: Path) -> None:
    with Client(server.address, agent="alice") as client:
        client.create_repository("demo")
        client.commit(
            "demo",
            "main",
            {"trellis.toml": '[stages.review]\nkind = "external"\nscope = "file"\n', "pay.py": "x = 1\n"},
            "needs a review",
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trellis",
            "--server",
            server.address,
            "review",
            "pending",
            "demo",
            "--follow",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    ) as process:
        try:
            assert process.stdout is not None
            assert json.loads(process.stdout.readline())["chunk"] == "pay.py"
            assert process.poll() is None  # still following
        finally:
            process.kill()


def test_the_demo_prints_commands_that_run_from_the_shell_it_was_started_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from trellis.cli.demo import trellis_command

    venv_bin = Path(sys.executable).parent
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # README's install: the venv is not activated
    command = trellis_command()
    assert command in (str(venv_bin / "trellis"), f"{sys.executable} -m trellis")
    result = subprocess.run([*command.split(), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "usage: trellis" in result.stdout
    if (venv_bin / "trellis").exists():
        monkeypatch.setenv("PATH", f"{venv_bin}:/usr/bin:/bin")  # activated: the plain name finds it
        assert trellis_command() == "trellis"


AFFECTED = '[stages.tests]\nkind = "pytest"\nselect = "affected"\n'


def test_runs_and_watch_say_why_every_test_ran(server: RunningServer, tmp_path: Path) -> None:
    at = ("--server", server.address)
    with Client(server.address, agent="alice") as client:
        client.create_repository("demo")
        client.commit(
            "demo",
            "main",
            {
                "trellis.toml": AFFECTED,
                "app.py": "def f():\n    return 1\n",
                "test_app.py": "from app import f\n\ndef test_f():\n    assert f() == 1\n",
            },
            "app",
            wait_for_verdict=True,
        )
        reply = client.commit("demo", "main", {"data.json": "{}\n"}, "data", wait_for_verdict=True)
    assert reply.run is not None
    job = next(j for j in reply.run.jobs if j.stage == "tests")
    assert job.fallback.startswith("data-file: data.json changed"), job.fallback
    run_id = reply.run.run_id
    assert "every test ran, because data-file: data.json changed" in ok(cli(tmp_path, *at, "watch", "demo", run_id))
    assert "(all: data-file: data.json changed" in ok(cli(tmp_path, *at, "runs", "demo"))
    listed = ok_json(cli(tmp_path, *at, "runs", "demo", "--json"))
    assert any(j["fallback"].startswith("data-file:") for r in listed for j in r["jobs"] if r["run_id"] == run_id)


@pytest.mark.parametrize(
    ("flag", "size", "least"),
    [
        ("--object-cache-mb", "-1", "0"),
        ("--parse-cache-mb", "-1", "0"),
        ("--diff-cache-mb", "-1", "0"),
        ("--index-memory-mb", "0", "1"),
    ],
)
def test_serve_refuses_a_memory_bound_below_its_least_and_writes_nothing(
    tmp_path: Path, flag: str, size: str, least: str
) -> None:
    err = failed(cli(tmp_path / "data", "serve", "--listen", "127.0.0.1:0", "--workers", "0", flag, size))
    assert err.startswith("error:") and f"{flag} {size}" in err and f"{least} or more" in err
    assert not (tmp_path / "data").exists()
