"""Server configuration and the environment: the only module that reads ``os.environ``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trellis.vcs import Durability

    from .serverconfig import RedactionSettings, ServerConfig, load_redaction

__all__ = [
    "DEFAULT_ADDRESS",
    "INDEX_INTERVAL",
    "REDACTION_FILE",
    "RedactionSettings",
    "ServerConfig",
    "default_data_dir",
    "env_durability",
    "git_env",
    "env_server",
    "env_tls",
    "env_token",
    "is_loopback",
    "load_redaction",
]

REDACTION_FILE = "redaction.toml"

DEFAULT_ADDRESS = "127.0.0.1:7433"

INDEX_INTERVAL = 0.5
"""Seconds between the server's background syncs of the index while writes keep coming (``ServerConfig``)."""


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$TRELLIS_DATA``, else ``$XDG_DATA_HOME/trellis``, else ``~/.local/share/trellis``."""
    env = os.environ if environ is None else environ
    if env.get("TRELLIS_DATA"):
        return Path(env["TRELLIS_DATA"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "trellis"


def env_durability(environ: Mapping[str, str] | None = None) -> Durability:
    """``$TRELLIS_DURABILITY`` (``durable`` or ``none``); durable when unset. InvalidArgument for another value."""
    from trellis.vcs import Durability, InvalidArgument

    env = os.environ if environ is None else environ
    value = env.get("TRELLIS_DURABILITY") or Durability.DURABLE.value
    try:
        return Durability(value)
    except ValueError:
        choices = ", ".join(d.value for d in Durability)
        raise InvalidArgument(f"TRELLIS_DURABILITY={value!r}: use one of {choices}") from None


def git_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for the git processes the server runs (maintenance): the user's, without ``GIT_*``."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if not k.startswith("GIT_")}


def env_server(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return env.get("TRELLIS_SERVER") or None


def env_routes(environ: Mapping[str, str] | None = None) -> Path | None:
    """The routing table of sharded servers that the CLI follows (trellis.routing), if set."""
    env = os.environ if environ is None else environ
    value = env.get("TRELLIS_ROUTES")
    return Path(value).expanduser() if value else None


def env_token(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return env.get("TRELLIS_TOKEN") or None


def env_tls(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Client TLS options from ``TRELLIS_TLS`` (any non-empty value but ``0``: TLS with the system's CAs),
    ``TRELLIS_TLS_CA``, ``TRELLIS_TLS_CERT``, ``TRELLIS_TLS_KEY`` and ``TRELLIS_TLS_SERVER_NAME``; only those set."""
    env = os.environ if environ is None else environ
    names = {
        "tls": "TRELLIS_TLS",
        "ca": "TRELLIS_TLS_CA",
        "cert": "TRELLIS_TLS_CERT",
        "key": "TRELLIS_TLS_KEY",
        "server_name": "TRELLIS_TLS_SERVER_NAME",
    }
    found = {key: env[var] for key, var in names.items() if env.get(var)}
    if found.get("tls") == "0":
        del found["tls"]
    return found


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def env_data_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    return Path(env["TRELLIS_DATA"]).expanduser() if env.get("TRELLIS_DATA") else None


_LAZY = ("RedactionSettings", "ServerConfig", "load_redaction")


def __getattr__(name: str) -> Any:
    """``ServerConfig``, ``RedactionSettings`` and ``load_redaction`` load on first use (:mod:`trellis.serverconfig`):
    every CLI command reads the environment here, most never build a configuration, and ``dataclasses`` would cost
    each ~6 ms of imports (a ``trellis query`` process takes ~50 ms in all)."""
    if name in _LAZY:
        from . import serverconfig

        return getattr(serverconfig, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
