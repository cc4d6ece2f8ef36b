"""``trellis ui`` and ``trellis serve --http`` as a user runs them: a process, a URL, pages, a clean stop."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from trellis.client import Client
from trellis.config import ServerConfig
from trellis.server import build_server

URL = re.compile(r"web viewer on (https?://127\.0\.0\.1:\d+)")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    return {**env, "TRELLIS_DURABILITY": "none", "COLUMNS": "200", "NO_COLOR": "1"}


def _seed(data_dir: Path) -> None:
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    try:
        with Client(running.address) as client:
            repo = client.create_repository("demo")
            client.commit(
                "demo", "main", {"a.py": "def f():\n    return 1\n"}, "seed", expected_head=repo.head_commit_id
            )
        running.index.wait_idle(30)
    finally:
        running.stop()


def _url_from(process: subprocess.Popen[str], stream: str) -> str:
    """The first URL the process prints on ``stream`` (read by a thread: a buffered pipe defeats select)."""
    pipe = process.stdout if stream == "stdout" else process.stderr
    assert pipe is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in pipe], daemon=True).start()
    seen = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        seen += line
        found = URL.search(line)
        if found:
            return found.group(1)
    raise AssertionError(f"no URL printed; output so far:\n{seen}")


def _stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    """Stop with ``sig``: SIGTERM is a clean stop (0), Ctrl-C's SIGINT ends a command with 130."""
    process.send_signal(sig)
    try:
        return process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def test_ui_serves_a_local_data_directory(tmp_path: Path) -> None:
    _seed(tmp_path)
    with subprocess.Popen(
        [sys.executable, "-m", "trellis", "ui", "--data-dir", str(tmp_path), "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    ) as process:
        try:
            url = _url_from(process, "stdout")
            with urllib.request.urlopen(url + "/repositories/demo", timeout=30) as response:
                assert response.status == 200 and "main" in response.read().decode()
        finally:
            assert _stop(process, signal.SIGINT) == 130


def test_ui_refuses_a_non_loopback_address(tmp_path: Path) -> None:
    _seed(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "trellis", "ui", "--data-dir", str(tmp_path), "--listen", "0.0.0.0:0"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert result.returncode == 1 and "loopback" in result.stderr


@pytest.mark.parametrize("extra", [[], ["--mcp", "127.0.0.1:0"]])
def test_serve_http_beside_grpc(tmp_path: Path, extra: list[str]) -> None:
    if extra:
        pytest.importorskip("mcp")
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trellis",
            "serve",
            "--data-dir",
            str(tmp_path),
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    ) as process:
        try:
            url = _url_from(process, "stderr")  # the server logs through rich, on stderr
            with urllib.request.urlopen(url + "/repositories", timeout=30) as response:
                assert response.status == 200
        finally:
            assert _stop(process) == 0


def test_demo_serves_the_viewer_and_prints_a_session_and_a_merge(tmp_path: Path) -> None:
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trellis",
            "demo",
            "--agents",
            "2",
            "--commits",
            "3",
            "--data-dir",
            str(tmp_path),
            "--http",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    ) as process:
        try:
            assert process.stdout is not None
            lines: queue.Queue[str] = queue.Queue()
            threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
            urls: dict[str, str] = {}
            deadline = time.monotonic() + 240
            while "sessions" not in urls and time.monotonic() < deadline and process.poll() is None:
                try:
                    line = lines.get(timeout=1)
                except queue.Empty:
                    continue
                found = re.match(r"\s+(session|merge commit|merge preview|sessions):\s+(http://\S+)", line)
                if found:
                    urls[found.group(1)] = found.group(2)
            assert set(urls) == {"session", "merge commit", "merge preview", "sessions"}, urls
            for what, address in urls.items():
                with urllib.request.urlopen(address, timeout=60) as response:
                    assert response.status == 200, what
            assert "/repositories/" in urls["session"] and "/sessions/" in urls["session"]
            assert "/merge?target=main&source=" in urls["merge preview"]
        finally:
            assert _stop(process) == 0
