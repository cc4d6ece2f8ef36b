"""Every way out of the sandbox is stopped, quickly, and reported; normal commands just run.

Real processes, real namespaces, cgroups and Landlock on this machine. Tests that
need a mechanism the machine lacks say so and skip.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from trellis.ci.execution.workspace import DEFAULT_UID_BASE
from trellis.ci.sandbox import JobLimits, SandboxError, SandboxResult, run_sandboxed

FAST = JobLimits(timeout_s=20, cpu_s=20, memory_bytes=256 << 20, processes=64, output_bytes=64 << 10)
PY = sys.executable


def run(command: str | list[str], workspace: Path, *, limits: JobLimits = FAST, **options: object) -> SandboxResult:
    # No wall-clock assertion (a loaded machine is slow): each test checks the status and the
    # reason, so a job that ran into FAST's 20 s timeout instead of the limit under test fails.
    return run_sandboxed(command, workspace, env=options.pop("env", {}), limits=limits, **options)  # type: ignore[arg-type]


@pytest.fixture(params=["root-owned", "own-uid"])
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A job's workspace; "own-uid" is owned by a workspace uid, as the pool makes it when root."""
    ws = tmp_path / "ws"
    ws.mkdir()
    if request.param == "own-uid":
        if os.geteuid() != 0:
            pytest.skip("workspace uids need root")
        os.chown(ws, DEFAULT_UID_BASE + 77, DEFAULT_UID_BASE + 77)
    return ws


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def isolation(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    """What this machine gives a job."""
    return run_sandboxed("true", tmp_path_factory.mktemp("probe"), env={}, limits=FAST).isolation


def needs(isolation: tuple[str, ...], *mechanisms: str) -> None:
    missing = [m for m in mechanisms if m not in isolation]
    if missing:
        pytest.skip(f"this machine lacks {', '.join(missing)}")


# --- normal commands ----------------------------------------------------------------------------


def test_a_command_passes_with_its_output(workspace: Path) -> None:
    (workspace / "data.txt").write_text("from the tree\n")
    result = run("cat data.txt; echo to-stderr >&2; echo done", workspace)
    assert result.status == "passed" and result.exit_code == 0 and result.reason is None
    assert result.output == b"from the tree\nto-stderr\ndone\n"
    assert result.duration_s > 0 and result.cpu_s >= 0 and result.max_rss > 0


def test_a_failing_command_reports_its_exit_code(ws: Path) -> None:
    result = run([PY, "-c", "import sys; print('bad'); sys.exit(3)"], ws)
    assert (result.status, result.exit_code, result.output) == ("failed", 3, b"bad\n")


def test_a_command_that_does_not_exist_fails_127(ws: Path) -> None:
    result = run(["no-such-program-anywhere"], ws)
    assert (result.status, result.exit_code) == ("failed", 127)
    assert b"no-such-program-anywhere" in result.output


def test_a_signal_is_reported(ws: Path) -> None:
    result = run("kill -SEGV $$", ws)
    assert (result.status, result.exit_code, result.reason) == ("failed", -11, "terminated by SIGSEGV")


def test_the_job_may_write_inside_its_workspace_and_temp_dir(workspace: Path) -> None:
    result = run('mkdir -p out && echo x > out/f && echo y > "$TMPDIR/t" && cat out/f "$TMPDIR/t"', workspace)
    assert (result.status, result.output) == ("passed", b"x\ny\n")
    assert (workspace / "out" / "f").read_text() == "x\n"


def test_only_the_given_environment_is_visible(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRELLIS_SERVER_SECRET", "hunter2")
    result = run("env | sort", ws, env={"GIVEN": "yes", "LANG": "C"})
    assert result.status == "passed"
    env = dict(line.split("=", 1) for line in result.output.decode().splitlines())
    assert "TRELLIS_SERVER_SECRET" not in env and b"hunter2" not in result.output
    assert env["GIVEN"] == "yes" and env["LANG"] == "C"  # the given env wins
    assert env["HOME"] == str(ws) and env["TMPDIR"].startswith(str(ws) + "/")
    assert set(env) <= {"GIVEN", "LANG", "HOME", "TMPDIR", "PATH", "USER", "LOGNAME", "PWD", "SHLVL", "_"}


def test_output_keeps_head_and_tail_with_a_marker(ws: Path) -> None:
    limits = JobLimits(timeout_s=20, output_bytes=1000)
    result = run([PY, "-c", "print('HEAD'); print('x' * 20000); print('TAIL')"], ws, limits=limits)
    assert result.status == "passed"
    assert result.output.startswith(b"HEAD\n") and result.output.endswith(b"TAIL\n")
    assert b"bytes of output omitted" in result.output and len(result.output) < 1100
    assert result.output_size == len(b"HEAD\n") + 20001 + len(b"TAIL\n")


# --- escapes ------------------------------------------------------------------------------------


def test_an_infinite_loop_times_out(ws: Path) -> None:
    result = run("while :; do :; done", ws, limits=JobLimits(timeout_s=1))
    assert (result.status, result.reason) == ("timed_out", "timeout 1s exceeded")
    assert 1 <= result.duration_s < 3


def test_cpu_time_is_limited(ws: Path, isolation: tuple[str, ...]) -> None:
    result = run("while :; do :; done", ws, limits=JobLimits(timeout_s=20, cpu_s=1))
    assert (result.status, result.reason) == ("killed", "cpu limit 1s exceeded")
    # The kernel's rlimit and the cgroup's accounting differ: by ~10% on a loaded machine (0.897 s seen in CI).
    assert result.cpu_s >= 0.75


@pytest.mark.parametrize(
    "bomb",
    [
        "f() { f | f; }; f",  # every level waits for the two below it: nothing ever exits
        f"{PY} -c 'import os\nwhile True:\n  try: os.fork()\n  except OSError: pass'",
    ],
)
def test_a_fork_bomb_is_stopped(workspace: Path, bomb: str, isolation: tuple[str, ...]) -> None:
    needs(isolation, "cgroup-pids")
    result = run(bomb, workspace)
    assert (result.status, result.reason) == ("killed", "process limit 64 reached")


def test_a_memory_eater_is_killed(ws: Path, isolation: tuple[str, ...]) -> None:
    needs(isolation, "cgroup-memory")
    eat = "x = []\nwhile True: x.append(b'x' * (16 << 20))"
    result = run([PY, "-c", eat], ws, limits=JobLimits(timeout_s=20, memory_bytes=128 << 20))
    assert (result.status, result.reason) == ("killed", "memory limit 128 MiB exceeded")
    assert result.max_rss > 64 << 20


def test_an_output_flood_is_cut_and_killed(ws: Path) -> None:
    result = run("yes", ws, limits=JobLimits(timeout_s=20, output_bytes=64 << 10))
    assert result.status == "killed" and result.reason is not None
    assert result.reason.startswith("output limit exceeded")
    assert len(result.output) < (64 << 10) + 200 and result.output_size > 64 << 10


@pytest.mark.parametrize(
    "without", [(), ("landlock",), ("landlock", "mntns")], ids=["landlock", "readonly-root", "uid-only"]
)
def test_writes_outside_the_workspace_are_refused(
    workspace: Path, without: tuple[str, ...], isolation: tuple[str, ...]
) -> None:
    needs(isolation, "landlock", "mntns")
    if without == ("landlock", "mntns") and workspace.stat().st_uid == 0:
        pytest.skip("without Landlock or a read-only root, only a workspace uid stops writes")
    # A directory the job can reach (pytest's own temp root is closed to other uids); world-writable,
    # except for the uid alone, which stops only writes that file permissions would stop.
    with tempfile.TemporaryDirectory(prefix="trellis-outside-") as d:
        outside = Path(d)
        outside.chmod(0o755 if without == ("landlock", "mntns") else 0o777)
        _assert_writes_refused(workspace, outside, without)


def _assert_writes_refused(workspace: Path, outside: Path, without: tuple[str, ...]) -> None:
    script = f"echo pwned > {outside}/file; echo rc=$?; mkdir {outside}/dir; ln -s /etc {outside}/l; exit 0"
    result = run(script, workspace, without=without)
    assert result.status == "passed"
    assert os.listdir(outside) == []
    assert b"rc=2" in result.output  # the shell reports its failed redirection
    assert b"Permission denied" in result.output or b"Read-only file system" in result.output
    expected = {"landlock"} if not without else {"readonly-root"} if without == ("landlock",) else {"unprivileged-uid"}
    assert expected <= set(result.isolation)


@pytest.mark.skipif(not os.access("/dev/shm", os.W_OK), reason="no writable /dev/shm on this machine")
def test_a_workspace_on_tmpfs_gets_a_private_dev_shm_for_semaphores(isolation: tuple[str, ...]) -> None:
    """A data directory on /dev/shm (the workspace and what the job reads live there): multiprocessing's locks and
    pools still work (toolz's test_fold failed with the data directory on tmpfs, and passed elsewhere), the
    rest of /dev/shm stays out of sight and what the job reads there stays read-only."""
    needs(isolation, "mntns", "landlock")
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="trellis-shm-") as d:
        root = Path(d)
        (root / "ws").mkdir()
        (root / "env").mkdir()
        (root / "env" / "tool").write_text("read me\n")
        (root / "data").mkdir()
        (root / "data" / "repo").write_text("secret\n")
        script = (
            f"{PY} -c 'import multiprocessing; multiprocessing.Lock(); print(\"lock ok\")'; "
            f"cat {root}/env/tool; echo changed > {root}/env/tool; echo write-rc=$?; "
            f"cat {root}/data/repo; echo read-rc=$?; echo mine > {root}/ws/out"
        )
        result = run(script, root / "ws", readable=[str(root / "env")])
        assert result.status == "passed", result.output
        assert b"lock ok" in result.output and b"read me" in result.output, result.output
        assert b"write-rc=2" in result.output and b"read-rc=1" in result.output, result.output
        assert b"secret" not in result.output
        assert (root / "env" / "tool").read_text() == "read me\n" and (root / "ws" / "out").read_text() == "mine\n"
        assert "private-shm" in result.isolation


def test_no_network_even_to_a_loopback_port_of_the_host(ws: Path, isolation: tuple[str, ...]) -> None:
    needs(isolation, "netns")
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        server.settimeout(0.2)
        connect = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2); print('connected')"
        result = run([PY, "-c", connect], ws)
        assert result.status == "failed" and b"ConnectionRefusedError" in result.output
        with pytest.raises(TimeoutError):
            server.accept()
        allowed = run([PY, "-c", connect], ws, network=True)  # the control: the namespace is what blocked it
        assert (allowed.status, allowed.output) == ("passed", b"connected\n")
        assert "netns" not in allowed.isolation
        server.accept()[0].close()


def test_the_job_has_its_own_working_loopback(ws: Path, isolation: tuple[str, ...]) -> None:
    needs(isolation, "netns")
    script = (
        "import socket\ns = socket.create_server(('127.0.0.1', 0))\n"
        "c = socket.create_connection(s.getsockname()); s.accept()[0].sendall(b'hi'); print(c.recv(2))"
    )
    assert run([PY, "-c", script], ws).output == b"b'hi'\n"


def test_a_daemon_that_leaves_its_parent_dies_with_the_job(workspace: Path) -> None:
    script = "setsid sh -c 'sleep 0.5; touch late; sleep 600' >/dev/null 2>&1 & echo started"
    result = run(script, workspace)
    assert (result.status, result.output) == ("passed", b"started\n")
    time.sleep(1.0)
    assert not (workspace / "late").exists()
    survivors = []
    for process in psutil.process_iter(["cwd", "cmdline"]):
        try:
            if process.info["cwd"] == str(workspace):
                survivors.append(process.info["cmdline"])
        except (psutil.Error, TypeError):
            pass
    assert survivors == []


def test_the_server_is_out_of_reach(ws: Path, isolation: tuple[str, ...]) -> None:
    needs(isolation, "pidns", "nocaps")
    me = os.getpid()
    result = run(
        f"kill -9 {me}; echo kill=$?; echo procs=$(ls /proc | grep -c '^[0-9]'); hostname sandboxed; echo host=$?", ws
    )
    lines = dict(line.split("=", 1) for line in result.output.decode().splitlines() if "=" in line)
    assert lines["kill"] == "1"  # no such process in the job's pid namespace
    assert int(lines["procs"]) < 10  # it sees only its own few processes
    assert lines["host"] == "1"  # no capabilities
    assert psutil.pid_exists(me)


def test_isolation_can_be_turned_off_one_mechanism_at_a_time(ws: Path, isolation: tuple[str, ...]) -> None:
    needs(isolation, "pidns", "netns", "landlock")
    result = run("true", ws, without=("pidns", "netns", "landlock", "cgroups"))
    assert result.status == "passed"
    assert not {"pidns", "netns", "landlock", "cgroup-pids", "cgroup-memory"} & set(result.isolation)
    assert "readonly-root" in result.isolation  # the fallback stepped in for Landlock


def test_a_missing_workspace_is_a_sandbox_error(tmp_path: Path) -> None:
    with pytest.raises(SandboxError):
        run_sandboxed("true", tmp_path / "nope", env={}, limits=FAST)


@pytest.fixture(autouse=True)
def _no_leftover_cgroups() -> Iterator[None]:
    yield
    mine = f"job-{os.getpid()}-"
    for controller in ("pids", "memory", "cpuacct"):
        # os.walk, not rglob: other xdist workers' job cgroups vanish while we look (walk skips them).
        for parent, dirs, _ in os.walk(f"/sys/fs/cgroup/{controller}"):
            if os.path.basename(parent) == "trellis":
                left = [d for d in dirs if d.startswith(mine)]
                if left:
                    pytest.fail(f"cgroup left behind: {parent}/{left[0]}")


def test_a_tracked_symlink_named_like_the_temp_dir_is_not_followed(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(target, ws / ".trellis-tmp")  # as a tree may contain it
    owner = (DEFAULT_UID_BASE + 78, DEFAULT_UID_BASE + 78)
    if os.geteuid() == 0:
        os.chown(ws, *owner)
    result = run('echo x > "$TMPDIR/f" && echo ok', ws)
    assert result.output == b"ok\n"
    assert (ws / ".trellis-tmp").is_dir() and not (ws / ".trellis-tmp").is_symlink()
    assert os.listdir(target) == [] and target.stat().st_uid == os.geteuid()
