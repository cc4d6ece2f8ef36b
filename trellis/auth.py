"""Bearer tokens: created by the operator, stored hashed, mapped to an agent and its grants.

Tokens look like ``trellis_<id>_<secret>``. ``<data>/tokens.json`` keeps the
id, the agent name, the grants (``[repositories, role]`` pairs, see
:mod:`trellis.authz`) and the SHA-256 of the whole token, never the token;
the hash is compared in constant time. The server rereads the file when it
changes, so tokens made with ``trellis token create`` work at once and
revoked ones stop working at once. A record written before grants existed
(no ``grants`` key) counts as ``*:agent``, the default of a new token.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from trellis.vcs import Identity, NotFound
from trellis.vcs.validation import check_agent_name

from .authz import Grant, Principal, Role, parse_grants

__all__ = ["DEFAULT_GRANTS", "TokenRecord", "TokenStore"]

FILE_NAME = "tokens.json"

DEFAULT_GRANTS: tuple[Grant, ...] = (Grant("*", Role.AGENT),)
"""What a token holds unless created with other grants: agent on every repository."""


@dataclass(frozen=True, slots=True)
class TokenRecord:
    token_id: str
    agent: str
    sha256: str
    create_time: float
    revoked: bool = False
    description: str = ""
    grants: tuple[tuple[str, str], ...] = tuple((g.repositories, g.role.label) for g in DEFAULT_GRANTS)
    """``(repositories, role)`` pairs, as stored; :meth:`access` parses them."""

    def access(self) -> tuple[Grant, ...]:
        return parse_grants(self.grants)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class TokenStore:
    def __init__(self, root: Path) -> None:
        self.path = Path(root) / FILE_NAME
        self._cache: dict[str, TokenRecord] = {}
        self._stamp: tuple[int, int] | None = None
        self._principals: dict[TokenRecord, Principal] = {}
        self._guard = threading.Lock()

    # -- operator side (CLI) -------------------------------------------------

    def _load(self) -> dict[str, TokenRecord]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        records = {}
        for r in data.get("tokens", []):
            if "grants" in r:
                r = {**r, "grants": tuple(tuple(pair) for pair in r["grants"])}
            records[r["token_id"]] = TokenRecord(**r)
        return records

    def _save(self, records: dict[str, TokenRecord]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"tokens": [asdict(r) for r in records.values()]}, indent=2))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def _edit(self) -> _Edit:
        return _Edit(self)

    def create(
        self, agent: str, description: str = "", grants: tuple[Grant, ...] = DEFAULT_GRANTS
    ) -> tuple[TokenRecord, str]:
        """Make a token for ``agent`` holding ``grants``; returns the record and the token (shown once)."""
        check_agent_name(agent)
        token_id = secrets.token_hex(6)
        token = f"trellis_{token_id}_{secrets.token_urlsafe(32)}"
        pairs = tuple((g.repositories, g.role.label) for g in grants)
        record = TokenRecord(token_id, agent, _hash(token), time.time(), False, description, pairs)
        with self._edit() as records:
            records[token_id] = record
        return record, token

    def revoke(self, token_id: str) -> TokenRecord:
        with self._edit() as records:
            record = records.get(token_id)
            if record is None:
                raise NotFound(
                    f"no token with id {token_id!r}: list them with `trellis token list`", reason="TOKEN_NOT_FOUND"
                )
            records[token_id] = revoked = TokenRecord(**{**asdict(record), "revoked": True})
        return revoked

    def list(self) -> list[TokenRecord]:
        return sorted(self._load().values(), key=lambda r: r.create_time)

    # -- server side ---------------------------------------------------------

    def active(self) -> bool:
        """True when any unrevoked token exists (the server then requires one)."""
        return any(not r.revoked for r in self._current().values())

    def _current(self) -> dict[str, TokenRecord]:
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        with self._guard:
            if stamp != self._stamp:
                self._cache = self._load() if stamp else {}
                self._principals = {}
                self._stamp = stamp
            return self._cache

    def identify(self, token: str) -> Identity | None:
        """The identity a bearer token stands for, or None. Constant-time comparison."""
        principal = self.authenticate(token)
        return Identity(principal.name) if principal is not None else None

    def authenticate(self, token: str) -> Principal | None:
        """The caller a bearer token stands for (agent and grants), or None if unknown or revoked."""
        parts = token.split("_")
        if len(parts) < 3 or parts[0] != "trellis":
            return None
        record = self._current().get(parts[1])
        expected = record.sha256 if record is not None else "0" * 64
        if not hmac.compare_digest(expected, _hash(token)) or record is None or record.revoked:
            return None
        principal = self._principals.get(record)
        if principal is None:
            principal = self._principals[record] = Principal(record.agent, record.access(), token_id=record.token_id)
        return principal


class _Edit:
    """Read-modify-write of tokens.json under an exclusive file lock."""

    def __init__(self, store: TokenStore) -> None:
        self.store = store
        self.fd = -1
        self.records: dict[str, TokenRecord] = {}

    def __enter__(self) -> dict[str, TokenRecord]:
        self.store.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.store.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.records = self.store._load()
        return self.records

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if exc_type is None:
                self.store._save(self.records)
        finally:
            os.close(self.fd)
