"""TLS and mutual TLS over real loopback connections, with certificates made by trustme."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from trellis import TLS, vcs
from trellis.auth import TokenStore
from trellis.client import Client
from trellis.config import ServerConfig
from trellis.datadir import running_server
from trellis.errors import Unauthenticated, Unavailable
from trellis.server import ConfigError, RunningServer, build_server


class Pki:
    """A CA, a server certificate for loopback, a client certificate, and a stranger CA's client certificate."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = trustme.CA()
        self.other_ca = trustme.CA()
        self.ca_pem = self._write("ca.pem", self.ca.cert_pem.bytes())
        self.other_ca_pem = self._write("other-ca.pem", self.other_ca.cert_pem.bytes())
        server = self.ca.issue_cert("127.0.0.1", "localhost", "trellis.test")
        self.server_cert = self._write("server.pem", b"".join(p.bytes() for p in server.cert_chain_pems))
        self.server_key = self._write("server.key", server.private_key_pem.bytes())
        client = self.ca.issue_cert("alice@agents.trellis.test")
        self.client_cert = self._write("client.pem", b"".join(p.bytes() for p in client.cert_chain_pems))
        self.client_key = self._write("client.key", client.private_key_pem.bytes())
        stranger = self.other_ca.issue_cert("mallory@agents.trellis.test")
        self.stranger_cert = self._write("stranger.pem", b"".join(p.bytes() for p in stranger.cert_chain_pems))
        self.stranger_key = self._write("stranger.key", stranger.private_key_pem.bytes())

    def _write(self, name: str, data: bytes) -> Path:
        path = self.root / name
        path.write_bytes(data)
        return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def _serve(
    data_dir: Path, pki: Pki, *, mutual: bool = False, address: str = "127.0.0.1:0", **options: object
) -> RunningServer:
    return build_server(
        ServerConfig(
            data_dir=data_dir,
            address=address,
            tls_cert=pki.server_cert,
            tls_key=pki.server_key,
            tls_client_ca=pki.ca_pem if mutual else None,
            **options,  # type: ignore[arg-type]
        )
    )


@pytest.fixture
def tls_server(data_dir: Path, pki: Pki) -> Iterator[RunningServer]:
    running = _serve(data_dir, pki)
    try:
        yield running
    finally:
        running.stop(grace=1)


@pytest.fixture
def mtls_server(data_dir: Path, pki: Pki) -> Iterator[RunningServer]:
    running = _serve(data_dir, pki, mutual=True)
    try:
        yield running
    finally:
        running.stop(grace=1)


def _refused(client: Client) -> None:
    with pytest.raises(Unavailable):
        client.list_repositories().__next__()


def test_tls_round_trip(tls_server: RunningServer, data_dir: Path, pki: Pki) -> None:
    with Client(tls_server.address, agent="alice", tls=TLS.from_files(ca=pki.ca_pem)) as client:
        client.create_repository("demo")
        assert client.commit("demo", "main", {"f": "x"}).commit.author.name == "alice"
    # The name in the certificate may differ from the address dialled.
    with Client(
        tls_server.address, agent="alice", timeout=5, tls=TLS.from_files(ca=pki.ca_pem, server_name="trellis.test")
    ) as client:
        assert client.get_repository("demo").repository_id == "demo"
    owner = running_server(data_dir)  # the CLI learns from the lock file that the server speaks TLS
    assert owner is not None and owner["tls"] is True and owner["address"] == tls_server.address


def test_a_plaintext_client_is_refused_by_a_tls_server(tls_server: RunningServer) -> None:
    with Client(tls_server.address, agent="alice", timeout=5) as plaintext:
        _refused(plaintext)


def test_a_client_that_does_not_trust_the_server_is_refused(tls_server: RunningServer, pki: Pki) -> None:
    with Client(tls_server.address, agent="alice", timeout=5, tls=TLS.from_files(ca=pki.other_ca_pem)) as client:
        _refused(client)
    with Client(
        tls_server.address, agent="alice", timeout=5, tls=TLS.from_files(ca=pki.ca_pem, server_name="elsewhere.test")
    ) as client:
        _refused(client)


def test_a_tls_client_is_refused_by_a_plaintext_server(server: RunningServer, pki: Pki) -> None:
    with Client(server.address, agent="alice", timeout=5, tls=TLS.from_files(ca=pki.ca_pem)) as client:
        _refused(client)


def test_mutual_tls_needs_a_client_certificate_from_the_ca(mtls_server: RunningServer, pki: Pki) -> None:
    good = TLS.from_files(ca=pki.ca_pem, cert=pki.client_cert, key=pki.client_key)
    with Client(mtls_server.address, agent="alice", tls=good) as client:
        client.create_repository("demo")
    with Client(mtls_server.address, agent="alice", timeout=5, tls=TLS.from_files(ca=pki.ca_pem)) as no_cert:
        _refused(no_cert)
    stranger = TLS.from_files(ca=pki.ca_pem, cert=pki.stranger_cert, key=pki.stranger_key)
    with Client(mtls_server.address, agent="alice", timeout=5, tls=stranger) as client:
        _refused(client)
    with Client(mtls_server.address, agent="alice", timeout=5) as plaintext:
        _refused(plaintext)


def test_mutual_tls_with_tokens(data_dir: Path, pki: Pki) -> None:
    _, token = TokenStore(data_dir).create("alice")
    running = _serve(data_dir, pki, mutual=True)
    try:
        tls = TLS.from_files(ca=pki.ca_pem, cert=pki.client_cert, key=pki.client_key)
        with Client(running.address, token=token, tls=tls) as client:
            assert list(client.list_repositories()) == []
        with Client(running.address, tls=tls) as anonymous:
            with pytest.raises(Unauthenticated) as info:
                list(anonymous.list_repositories())
            assert info.value.reason == "MISSING_TOKEN"
    finally:
        running.stop(grace=1)


def test_client_tls_options_are_checked(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(vcs.InvalidArgument) as info:
        TLS.from_files(ca=pki.ca_pem, cert=pki.client_cert)
    assert info.value.reason == "INVALID_TLS_OPTIONS"
    with pytest.raises(vcs.InvalidArgument) as info:
        TLS.from_files(ca=tmp_path / "missing.pem")
    assert info.value.reason == "INVALID_TLS_FILE"
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(vcs.InvalidArgument):
        TLS.from_files(ca=tmp_path / "junk.pem")


# -- what the server refuses to start with -----------------------------------------------------


def test_server_tls_options_are_checked(data_dir: Path, pki: Pki, tmp_path: Path) -> None:
    cases: list[tuple[dict[str, object], str]] = [
        ({"tls_cert": pki.server_cert}, "--tls-key"),
        ({"tls_key": pki.server_key}, "--tls-cert"),
        ({"tls_client_ca": pki.ca_pem}, "--tls-client-ca"),
        ({"tls_cert": tmp_path / "missing.pem", "tls_key": pki.server_key}, "missing.pem"),
    ]
    for options, word in cases:
        with pytest.raises(ConfigError) as info:
            build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0", **options))  # type: ignore[arg-type]
        assert word in str(info.value)
    build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0")).stop(grace=1)  # the lock was released


def test_a_public_address_needs_tls_and_tokens(data_dir: Path, pki: Pki) -> None:
    with pytest.raises(ConfigError) as info:
        build_server(ServerConfig(data_dir=data_dir, address="0.0.0.0:0"))
    message = str(info.value)
    assert "TLS (" in message and "bearer tokens" in message and "--insecure-allow-remote" in message
    _, token = TokenStore(data_dir).create("alice")
    with pytest.raises(ConfigError) as info:
        build_server(ServerConfig(data_dir=data_dir, address="0.0.0.0:0"))
    assert "TLS (" in str(info.value) and "bearer tokens" not in str(info.value)
    running = _serve(data_dir, pki, address="0.0.0.0:0")
    try:
        with Client(f"127.0.0.1:{running.port}", token=token, tls=TLS.from_files(ca=pki.ca_pem)) as client:
            assert list(client.list_repositories()) == []
    finally:
        running.stop(grace=1)
    build_server(ServerConfig(data_dir=data_dir, address="0.0.0.0:0", insecure_allow_remote=True)).stop(grace=1)


def test_tls_without_tokens_off_loopback_is_refused(data_dir: Path, pki: Pki) -> None:
    with pytest.raises(ConfigError) as info:
        _serve(data_dir, pki, address="0.0.0.0:0")
    assert "bearer tokens" in str(info.value) and "TLS (" not in str(info.value)


# -- the CLI -------------------------------------------------------------------------------------------


def _cli(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    base.update({"TRELLIS_DATA": str(data_dir), "COLUMNS": "200", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "trellis", *args], capture_output=True, text=True, env=base, timeout=120
    )


def test_the_cli_connects_over_tls(tls_server: RunningServer, data_dir: Path, pki: Pki) -> None:
    # Found through the data directory (the lock file says the server speaks TLS), CA from the environment.
    made = _cli(data_dir, "repo", "create", "demo", "--json", env={"TRELLIS_TLS_CA": str(pki.ca_pem)})
    assert made.returncode == 0, made.stderr
    # Named with --server, CA on the command line.
    listed = _cli(data_dir, "--server", tls_server.address, "--tls-ca", str(pki.ca_pem), "repo", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["repository_id"] for r in json.loads(listed.stdout)] == ["demo"]
    # Plaintext to a TLS server fails cleanly.
    plain = _cli(data_dir, "--server", tls_server.address, "repo", "list")
    assert plain.returncode == 1 and "UNAVAILABLE" in plain.stderr and "Traceback" not in plain.stderr


def test_the_cli_speaks_mutual_tls(mtls_server: RunningServer, data_dir: Path, pki: Pki) -> None:
    env = {
        "TRELLIS_TLS_CA": str(pki.ca_pem),
        "TRELLIS_TLS_CERT": str(pki.client_cert),
        "TRELLIS_TLS_KEY": str(pki.client_key),
    }
    assert _cli(data_dir, "repo", "list", env=env).returncode == 0
    flags = ["--tls-ca", str(pki.ca_pem), "--tls-cert", str(pki.client_cert), "--tls-key", str(pki.client_key)]
    assert _cli(data_dir, "repo", "list", *flags).returncode == 0
    missing_key = _cli(data_dir, "repo", "list", "--tls-ca", str(pki.ca_pem), "--tls-cert", str(pki.client_cert))
    assert missing_key.returncode == 1 and "INVALID_TLS_OPTIONS" in missing_key.stderr


def test_serve_refuses_a_public_address_from_the_cli(tmp_path: Path) -> None:
    result = _cli(tmp_path / "data", "serve", "--listen", "0.0.0.0:0")
    assert result.returncode == 1 and "--insecure-allow-remote" in result.stderr
    assert "Traceback" not in result.stderr
