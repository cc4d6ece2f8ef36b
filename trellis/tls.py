"""TLS for the server and the SDK: certificates in, gRPC credentials out.

The server gets its certificate and key (``trellis serve --tls-cert --tls-key``)
and, for mutual TLS, the CA that signs client certificates
(``--tls-client-ca``): a client without a certificate from that CA is refused
during the handshake, before any RPC. The SDK takes a :class:`TLS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from trellis.vcs import InvalidArgument

__all__ = ["TLS", "server_credentials"]


def _read(path: str | Path | None, what: str) -> bytes | None:
    if path is None or path == "":
        return None
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise InvalidArgument(
            f"cannot read the {what} {str(path)!r}: {exc.strerror}", reason="INVALID_TLS_FILE"
        ) from None
    if b"-----BEGIN " not in data:
        raise InvalidArgument(f"the {what} {str(path)!r} is not in PEM format", reason="INVALID_TLS_FILE")
    return data


@dataclass(frozen=True, slots=True)
class TLS:
    """How a client connects over TLS. ``TLS()`` trusts the system's certificate authorities.

    Client("trellis.example:7433", token=..., tls=TLS.from_files(ca="ca.pem"))
    Client(..., tls=TLS.from_files(ca="ca.pem", cert="me.pem", key="me.key"))   # mutual TLS
    """

    root_certificates: bytes | None = None
    """PEM of the CA(s) that signed the server's certificate; None: the system's."""

    certificate_chain: bytes | None = None
    """PEM of the client's certificate (mutual TLS); needs ``private_key``."""

    private_key: bytes | None = None
    """PEM of the client certificate's key."""

    server_name: str | None = None
    """The name to check the server's certificate against, when it differs from the target's host."""

    def __post_init__(self) -> None:
        if (self.certificate_chain is None) != (self.private_key is None):
            raise InvalidArgument(
                "a client certificate needs its key and a key needs its certificate (--tls-cert with --tls-key)",
                reason="INVALID_TLS_OPTIONS",
            )

    @classmethod
    def from_files(
        cls,
        ca: str | Path | None = None,
        cert: str | Path | None = None,
        key: str | Path | None = None,
        server_name: str | None = None,
    ) -> TLS:
        return cls(
            _read(ca, "CA certificate"),
            _read(cert, "client certificate"),
            _read(key, "client key"),
            server_name or None,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.root_certificates, self.private_key, self.certificate_chain)

    def channel_options(self) -> list[tuple[str, str]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def server_credentials(
    cert: str | Path, key: str | Path, client_ca: str | Path | None = None
) -> grpc.ServerCredentials:
    """Server credentials; with ``client_ca``, clients must present a certificate it signed."""
    chain = _read(cert, "server certificate")
    private_key = _read(key, "server key")
    roots = _read(client_ca, "client CA certificate")
    assert chain is not None and private_key is not None
    return grpc.ssl_server_credentials(
        [(private_key, chain)], root_certificates=roots, require_client_auth=roots is not None
    )
