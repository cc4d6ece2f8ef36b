"""The web viewer over HTTPS with the server's own certificate, and with client certificates (mutual TLS)."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.test_tls import Pki
from trellis import vcs
from trellis.auth import TokenStore
from trellis.authz import Grant, Role
from trellis.config import ServerConfig
from trellis.server import ConfigError, build_server
from trellis.web import COOKIE, start_http


def _get(url: str, context: ssl.SSLContext, token: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return response.status, response.headers.get("set-cookie", "")
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, ""


@pytest.mark.parametrize("mutual", [False, True])
def test_https_with_the_servers_certificate(tmp_path: Path, mutual: bool) -> None:
    pki = Pki(tmp_path)
    data_dir = tmp_path / "data"
    token = TokenStore(data_dir).create("reader", grants=(Grant("*", Role.READER),))[1]
    running = build_server(
        ServerConfig(
            data_dir=data_dir,
            address="127.0.0.1:0",
            tls_cert=pki.server_cert,
            tls_key=pki.server_key,
            tls_client_ca=pki.ca_pem if mutual else None,
            durability=vcs.Durability.NONE,
        )
    )
    try:
        web = start_http(
            running,
            data_dir,
            "127.0.0.1:0",
            tls_cert=pki.server_cert,
            tls_key=pki.server_key,
            tls_client_ca=pki.ca_pem if mutual else None,
        )
        try:
            assert web.url.startswith("https://")
            trusting = ssl.create_default_context(cafile=str(pki.ca_pem))
            if mutual:
                with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
                    _get(web.url + "/repositories", trusting, token)  # no client certificate: refused
                trusting.load_cert_chain(str(pki.client_cert), str(pki.client_key))
            assert _get(web.url + "/repositories", trusting, token)[0] == 200
            assert _get(web.url + "/repositories", trusting, "trellis_x_forged")[0] == 401
            untrusting = ssl.create_default_context()  # the system's CAs do not know the test CA
            with pytest.raises(urllib.error.URLError):
                _get(web.url + "/repositories", untrusting, token)
        finally:
            web.stop()
    finally:
        running.stop(grace=1)


def test_the_sign_in_cookie_is_secure_over_https(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    data_dir = tmp_path / "data"
    token = TokenStore(data_dir).create("reader", grants=(Grant("*", Role.READER),))[1]
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0", durability=vcs.Durability.NONE))
    try:
        web = start_http(running, data_dir, "127.0.0.1:0", tls_cert=pki.server_cert, tls_key=pki.server_key)
        try:
            context = ssl.create_default_context(cafile=str(pki.ca_pem))

            class Keep(urllib.request.HTTPRedirectHandler):
                def redirect_request(self, *args: object, **kwargs: object) -> None:
                    return None

            opener = urllib.request.build_opener(Keep, urllib.request.HTTPSHandler(context=context))
            with pytest.raises(urllib.error.HTTPError) as caught:
                opener.open(
                    urllib.request.Request(web.url + "/login", data=f"token={token}".encode(), method="POST"),
                    timeout=30,
                )
            caught.value.close()
            cookie = caught.value.headers["set-cookie"]
            assert caught.value.code == 303 and cookie.startswith(COOKIE) and "Secure" in cookie
        finally:
            web.stop()
    finally:
        running.stop(grace=1)


def test_off_loopback_without_tls_is_refused(tmp_path: Path) -> None:
    running = build_server(ServerConfig(data_dir=tmp_path, address="127.0.0.1:0", durability=vcs.Durability.NONE))
    try:
        with pytest.raises(ConfigError, match="without TLS and tokens"):
            start_http(running, tmp_path, "0.0.0.0:0")
    finally:
        running.stop(grace=1)
