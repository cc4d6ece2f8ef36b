"""What a repository's references say, as one digest, read from the files alone (no pygit2).

Everything an index derives from a repository hangs off its references: the
commits they reach (immutable), the sessions and verification runs they name,
and ``HEAD`` and the configuration (default branch, description). Two equal
digests of :func:`refs_state` mean the same references, ``HEAD`` and
configuration, so a follower that recorded the digest of the state it caught
up with can skip the repository without opening it (``trellis query`` on an
up-to-date index never loads pygit2).

The digest covers ``HEAD``, ``config``, ``packed-refs`` and every loose
reference under ``refs/`` (path and content). A reference is updated by
writing a lock file and renaming it into place, so a reader sees the old or
the new content, never half of one; lock files themselves are left out. A
repository keeping its references in another format (reftable) gives
``None``: the caller then reads it as usual.
"""

from __future__ import annotations

import os
from pathlib import Path

try:  # hashlib's own BLAKE2 (``hashlib.blake2b`` is this object), without hashlib's import of OpenSSL (~2 ms)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - an interpreter without the module: hashlib's
    from hashlib import blake2b

__all__ = ["refs_state"]

_FILES = ("HEAD", "config", "packed-refs")


def refs_state(path: Path | str) -> str | None:
    """The digest of the references, ``HEAD`` and configuration of the bare repository at ``path``;
    None when it cannot be read from the files alone (no such repository, a reftable)."""
    root = Path(path)
    if (root / "reftable").exists():
        return None
    digest = blake2b(digest_size=20)
    for name in _FILES:
        try:
            data = (root / name).read_bytes()
        except FileNotFoundError:
            if name == "HEAD":
                return None
            data = None
        except OSError:
            return None
        _add(digest, name, data)
    refs = root / "refs"
    loose: list[str] = []
    for directory, subdirs, files in os.walk(refs):
        subdirs.sort()
        loose.extend(os.path.join(directory, f) for f in files if not f.endswith(".lock"))
    for file in sorted(loose):
        try:
            data = Path(file).read_bytes()
        except FileNotFoundError:  # deleted (packed) meanwhile: what packed-refs says was read before
            data = None
        except OSError:
            return None
        _add(digest, os.path.relpath(file, root), data)
    return digest.hexdigest()


def _add(digest: blake2b, name: str, data: bytes | None) -> None:
    digest.update(name.encode() + b"\0")
    if data is None:
        digest.update(b"-\0")
    else:
        digest.update(b"%d\0" % len(data) + data)
