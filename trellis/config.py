"""Server configuration and the environment: the only module that reads ``os.environ``."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vcs import Limits

__all__ = [
    "DEFAULT_ADDRESS",
    "ServerConfig",
    "default_data_dir",
    "env_server",
    "env_token",
    "is_loopback",
]

DEFAULT_ADDRESS = "127.0.0.1:7433"


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``build_server`` needs; defaults are the embedded ones."""

    data_dir: Path
    address: str = DEFAULT_ADDRESS
    limits: Limits = field(default_factory=Limits)
    max_workers: int = 128
    grace_seconds: float = 10.0
    max_message_bytes: int = 256 * 1024 * 1024


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$TRELLIS_DATA``, else ``$XDG_DATA_HOME/trellis``, else ``~/.local/share/trellis``."""
    env = os.environ if environ is None else environ
    if env.get("TRELLIS_DATA"):
        return Path(env["TRELLIS_DATA"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "trellis"


def env_server(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return env.get("TRELLIS_SERVER") or None


def env_token(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return env.get("TRELLIS_TOKEN") or None


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def env_data_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    return Path(env["TRELLIS_DATA"]).expanduser() if env.get("TRELLIS_DATA") else None
