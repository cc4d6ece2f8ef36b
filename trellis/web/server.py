"""Serving the web viewer: uvicorn in a thread of the server's own process.

``start_http(running, address)`` serves the pages of a started
:class:`~trellis.server.RunningServer` (``trellis serve --http``,
``trellis ui``): the same store, index and verifier as its servicers, the
same tokens, and its pages spend the same per-identity request quota. With the server's TLS certificate the viewer speaks HTTPS (and,
with a client CA, asks browsers for a certificate); without TLS or without
tokens it listens on loopback only unless the operator passes
``--insecure-allow-remote``, as for gRPC.
"""

from __future__ import annotations

import logging
import ssl
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trellis import ci

from ..auth import TokenStore
from ..config import is_loopback
from ..indexing import Index
from ..listening import listen
from .app import build_app
from .pages import Services

if TYPE_CHECKING:
    from ..quotas import QuotaTracker
    from ..server import RunningServer

__all__ = ["WebServer", "start_http"]

log = logging.getLogger("trellis.web")


class WebServer:
    """The viewer on one socket, in a background thread; ``url`` is where it answers."""

    def __init__(
        self,
        services: Services,
        data_dir: Path,
        address: str,
        *,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        tls_client_ca: Path | None = None,
        insecure_allow_remote: bool = False,
        quotas: QuotaTracker | None = None,
    ) -> None:
        import uvicorn

        from ..server import ConfigError

        tokens = TokenStore(data_dir)
        tls = tls_cert is not None and tls_key is not None
        if not is_loopback(address) and not insecure_allow_remote:
            missing = [what for what, present in (("TLS", tls), ("tokens", tokens.active())) if not present]
            if missing:
                raise ConfigError(
                    f"refusing to serve the web viewer on {address} without {' and '.join(missing)}: tokens and "
                    "pages would cross the network readable, or anyone could read every repository. Serve it on "
                    "127.0.0.1, add what is missing, or pass --insecure-allow-remote if the network is trusted"
                )
        listening = listen(address, "the web viewer")
        self._socket = listening.socket
        self.url = f"{'https' if tls else 'http'}://{listening.origin}"
        self.port = listening.port
        app = build_app(services, tokens, require_tokens=tokens.active(), secure_cookie=tls, quotas=quotas)
        options: dict[str, Any] = {}  # uvicorn.Config's keyword arguments
        if tls:
            options.update(ssl_certfile=str(tls_cert), ssl_keyfile=str(tls_key))
            if tls_client_ca is not None:
                options.update(ssl_ca_certs=str(tls_client_ca), ssl_cert_reqs=ssl.CERT_REQUIRED)
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, **options)
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="trellis-web", daemon=True
        )

    def start(self) -> WebServer:
        self._thread.start()
        log.info("web viewer on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.ident is not None:  # started
            self._thread.join(10)
        self._socket.close()


def start_http(
    running: RunningServer,
    data_dir: Path,
    address: str,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    tls_client_ca: Path | None = None,
    insecure_allow_remote: bool = False,
) -> WebServer:
    """Serve the viewer of ``running`` on ``address`` (port 0 picks a free one)."""
    # The viewer runs where the index and the runs are (serve --workers: in the index process).
    assert isinstance(running.index, Index) and isinstance(running.verifier, ci.Verifier)
    services = Services(running.store, running.differ, running.index, running.verifier)
    return WebServer(
        services,
        data_dir,
        address,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
        insecure_allow_remote=insecure_allow_remote,
        quotas=getattr(running, "quotas", None),
    ).start()
