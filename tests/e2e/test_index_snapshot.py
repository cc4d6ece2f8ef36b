"""While a server writes, another process reads the index through its published read-only copy."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from trellis import vcs
from trellis.client import Client
from trellis.config import ServerConfig
from trellis.indexing import SNAPSHOT_FILE
from trellis.server import RunningServer, build_server

# A researcher's own DuckDB, in its own process: one line per request on stdin, the answer on stdout.
READER = """
import sys, duckdb
path = sys.argv[1]
con = None
for line in sys.stdin:
    command = line.strip()
    if command == "reconnect" or con is None:
        if con is not None:
            con.close()
        try:
            con = duckdb.connect(path, read_only=True)
        except duckdb.Error as exc:
            con = None
            print("error", type(exc).__name__, flush=True)
            continue
    if command == "reconnect":
        command = "count"
    if command == "count":
        print(con.execute("SELECT count(*) FROM commits WHERE repository = 'snap'").fetchall()[0][0], flush=True)
"""


@pytest.fixture
def publishing_server(data_dir: Path) -> Iterator[RunningServer]:
    running = build_server(
        ServerConfig(data_dir=data_dir, address="127.0.0.1:0", durability=vcs.Durability.NONE, snapshot_interval=0.1)
    )
    try:
        yield running
    finally:
        running.stop(grace=1)


def _indexed_commits(client: Client) -> int:
    return int(client.query_rows("SELECT count(*) AS n FROM commits WHERE repository = 'snap'")[0]["n"])


def test_a_second_process_reads_the_snapshot_while_the_server_writes(
    publishing_server: RunningServer, data_dir: Path
) -> None:
    path = data_dir / SNAPSHOT_FILE
    with Client(publishing_server.address, agent="alice") as client:
        client.create_repository("snap")
        for i in range(3):
            client.commit("snap", "main", {"a.py": f"x = {i}\n".encode()}, f"commit {i}")
        assert publishing_server.index.wait_idle(60)
        expected = _indexed_commits(client)
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert reader.stdin is not None and reader.stdout is not None

        def ask(command: str) -> str:
            reader.stdin.write(command + "\n")  # type: ignore[union-attr]
            reader.stdin.flush()  # type: ignore[union-attr]
            return reader.stdout.readline().strip()  # type: ignore[union-attr]

        def until(count: int) -> str:
            deadline = time.monotonic() + 60  # a bound for a loaded machine, not a timing assertion
            answer = ask("reconnect")
            while answer != str(count) and time.monotonic() < deadline:
                time.sleep(0.05)
                answer = ask("reconnect")
            return answer

        try:
            assert until(expected) == str(expected)
            # The server keeps writing; the open connection keeps its snapshot, a new one sees the new commits.
            for i in range(3, 6):
                client.commit("snap", "main", {"a.py": f"x = {i}\n".encode()}, f"commit {i}")
            assert publishing_server.index.wait_idle(60)
            assert ask("count") == str(expected)
            assert until(_indexed_commits(client)) == str(expected + 3)
        finally:
            reader.stdin.close()
            status = reader.wait(60)
            reader.stdout.close()
        assert status == 0
    assert sorted(p.name for p in data_dir.iterdir() if "snapshot" in p.name) == [SNAPSHOT_FILE]


def test_the_index_itself_stays_locked_while_the_server_runs(publishing_server: RunningServer, data_dir: Path) -> None:
    """Why the copy exists: DuckDB lets no second process open the file that the server writes."""
    script = "import sys, duckdb; duckdb.connect(sys.argv[1], read_only=True)"
    done = subprocess.run(
        [sys.executable, "-c", script, str(data_dir / "index.duckdb")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "lock" in done.stderr.lower()
