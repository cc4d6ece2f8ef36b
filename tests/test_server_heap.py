"""A served process leaves what start-up made out of the garbage collector's full passes (``settle_heap``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_SERVE = """
import gc, os, signal, sys
from pathlib import Path
from trellis import vcs
from trellis.config import ServerConfig
from trellis.server import serve

def started(running):
    print("frozen", gc.get_freeze_count(), "tracked", len(gc.get_objects()), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
    return lambda: None

config = ServerConfig(data_dir=Path(sys.argv[1]), address="127.0.0.1:0", durability=vcs.Durability.NONE,
                      snapshot_interval=0)
serve(config, started)
"""


def test_a_served_process_freezes_what_start_up_made(tmp_path: Path) -> None:
    """A full pass of the collector holds the GIL for every tracked object: 80-130 ms with start-up's objects
    in it, every call waiting it out. Once serving, they are frozen and the passes leave them out."""
    out = subprocess.run(
        [sys.executable, "-c", _SERVE, str(tmp_path / "data")], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    words = out.stdout.split()
    frozen, tracked = int(words[words.index("frozen") + 1]), int(words[words.index("tracked") + 1])
    assert frozen > 10 * tracked  # start-up's objects frozen; the few left are the callback's own
